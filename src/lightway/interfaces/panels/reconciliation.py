"""MoMo reconciliation pages of the staff panels (docs/momo.md, "Reconciliation").

LightWay staff with ``reconciliation.manage`` (``/staff/reconciliation/...``): the runs
with their counts and a chart of categories, a run's report (items filterable by category,
CSV and JSON downloads), "run now", the float statement upload and the case work-queue
(assign, resolve with a note; both audited). MTN staff with ``reports.view``
(``/mtn/reconciliation/...``): the runs, the reports and the downloads, read-only.

Thin: each view declares its action, reads a form and makes one application call.
Nothing personal appears: references, amounts and masked numbers only.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lightway.application.audit.access import audit_data_access, sha256_hex
from lightway.application.errors import DomainError, NotFound
from lightway.application.momo.reconciliation.cases import case_assign, case_assignees, case_resolve
from lightway.application.momo.reconciliation.classification import CATEGORIES
from lightway.application.momo.reconciliation.reports import (
    Report,
    ReportRow,
    recon_report,
    recon_runs,
    report_csv,
    report_json,
)
from lightway.application.momo.reconciliation.schedule import schedule_window
from lightway.application.momo.statements import (
    MAX_BYTES,
    StatementDuplicate,
    StatementInvalid,
    statement_import,
)
from lightway.data.money import Money, MoneyError
from lightway.data.reconciliation.models import CaseStatus, Category, ReconCase
from lightway.data.reconciliation.selectors import (
    recon_cases,
    recon_cases_recently_resolved,
    statement_imports_recent,
)
from lightway.infrastructure.jobs import job_enqueue
from lightway.interfaces.panels.chart_config import bar_chart
from lightway.interfaces.panels.common import now
from lightway.interfaces.panels.forms import AccessibleForm
from lightway.interfaces.web.authz import requires
from lightway.security.policy import Action

STAFF = "/staff/reconciliation"
MTN = "/mtn/reconciliation"
CHART_RUNS = 20
MAX_ROWS = 500
CATEGORY_LABELS = {c.value: c.label for c in Category}
OPERATION_LABELS = {
    "requesttopay": "Deposit (request to pay)",
    "requesttowithdraw": "Request to withdraw",
    "transfer": "Payout (transfer)",
    "deposit": "Deposit to wallet",
    "refund": "Refund",
    "remittance_transfer": "Remittance",
    "cashtransfer": "Cash transfer",
}
RECONCILE_TASK = "momo_reconcile"


def _input(**extra: str) -> dict[str, str]:
    return {"class": "input", **extra}


def _uid(request: HttpRequest) -> int:
    return int(request.user.pk or 0)


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def _money(amount: int | None, code: str) -> str:
    if amount is None:
        return "—"
    try:
        return Money.of(amount, code).format()
    except MoneyError:
        return f"{amount} {code}"


# --- forms --------------------------------------------------------------------------------


class RunForm(AccessibleForm):
    start = forms.DateTimeField(
        label="From (UTC)",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs=_input(type="datetime-local"), format="%Y-%m-%dT%H:%M"),
        error_messages={"required": "Enter the start.", "invalid": "Enter a date and time."},
    )
    end = forms.DateTimeField(
        label="To (UTC, not included)",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs=_input(type="datetime-local"), format="%Y-%m-%dT%H:%M"),
        error_messages={"required": "Enter the end.", "invalid": "Enter a date and time."},
    )
    fetch_statement = forms.BooleanField(
        label="First fetch the window's statement from the MoMo simulator (demo only)",
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "check"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if isinstance(start, datetime) and isinstance(end, datetime):
            start, end = _utc(start), _utc(end)
            data["start"], data["end"] = start, end
            if end <= start:
                self.add_error("end", "The end must be after the start.")
            elif end - start > timedelta(days=93):
                self.add_error("end", "At most 93 days at a time.")
        return data


def _utc(value: datetime) -> datetime:
    """The form's times are UTC (the labels say so), whatever the server's zone."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StatementForm(AccessibleForm):
    file = forms.FileField(
        label="Statement file (CSV)",
        help_text="The float account's statement as MTN's partner portal exports it: "
        "Id, External Transaction Id, Reference Id, Date, Status, Type, Amount, Fee, "
        f"Currency, Balance. At most {MAX_BYTES // 1024 // 1024} MB.",
        widget=forms.ClearableFileInput(attrs=_input(accept=".csv,text/csv")),
        error_messages={"required": "Choose a file.", "empty": "The file is empty."},
    )
    product = forms.ChoiceField(
        label="Account (product)",
        required=False,
        choices=[
            ("", "Not given"),
            ("collection", "Collection"),
            ("disbursement", "Disbursement"),
            ("remittance", "Remittance"),
        ],
        help_text="With the product and the environment, a transaction missing from the "
        "statement's period is flagged as missing at MoMo.",
        widget=forms.Select(attrs=_input()),
    )
    environment = forms.CharField(
        label="Target environment",
        required=False,
        max_length=32,
        help_text="e.g. mtnuganda, mtnghana, sandbox",
        widget=forms.TextInput(attrs=_input(autocomplete="off")),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data.get("file")
        if upload is not None and upload.size > MAX_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_BYTES // 1024 // 1024} MB.")
        return upload


class CaseFilterForm(forms.Form):
    status = forms.ChoiceField(
        label="Cases",
        required=False,
        choices=[("", "Open and in progress"), ("resolved", "Recently resolved")],
        widget=forms.Select(attrs=_input()),
    )
    category = forms.ChoiceField(
        label="Category",
        required=False,
        choices=[("", "Any category"), *Category.choices],
        widget=forms.Select(attrs=_input()),
    )


class AssignForm(forms.Form):
    assignee = forms.IntegerField(required=False, min_value=0)


class ResolveForm(AccessibleForm):
    note = forms.CharField(
        label="What was done",
        min_length=5,
        max_length=500,
        widget=forms.Textarea(attrs=_input(rows="2")),
        error_messages={
            "required": "Write what was done.",
            "min_length": "Write at least 5 characters.",
        },
    )


# --- runs ---------------------------------------------------------------------------------


def _runs_context(base: str) -> dict[str, Any]:
    runs = recon_runs(limit=50)
    recent = list(reversed(runs[:CHART_RUNS]))
    chart = bar_chart(
        [f"#{run.pk}" for run, _ in recent],
        {c: (CATEGORY_LABELS[c], [counts.get(c, 0) for _, counts in recent]) for c in CATEGORIES},
    )
    totals = {c: sum(counts.get(c, 0) for _, counts in runs) for c in CATEGORIES}
    return {
        "base": base,
        "runs": [
            {
                "run": run,
                "counts": [(c, CATEGORY_LABELS[c], counts.get(c, 0)) for c in CATEGORIES],
                "problems": sum(counts.get(c, 0) for c in CATEGORIES if c != Category.MATCHED),
            }
            for run, counts in runs
        ],
        "chart": chart,
        "legend": [(c, CATEGORY_LABELS[c], totals[c]) for c in CATEGORIES],
    }


def _run_form(data: Any = None) -> RunForm:
    start, end = schedule_window(now())
    return RunForm(data, initial={"start": start, "end": end})


@requires(Action.RECON_MANAGE)
@require_GET
def staff_runs(request: HttpRequest) -> HttpResponse:
    context = _runs_context(STAFF)
    context.update(form=_run_form(), manage=True, open_cases=len(recon_cases(limit=1000)))
    return _no_store(render(request, "panels/staff/reconciliation/runs.html", context))


@requires(Action.REPORTS_VIEW)
@require_GET
def mtn_runs(request: HttpRequest) -> HttpResponse:
    context = _runs_context(MTN)
    context.update(manage=False)
    return _no_store(render(request, "panels/staff/reconciliation/runs.html", context))


@requires(Action.RECON_MANAGE)
@require_POST
def staff_run_start(request: HttpRequest) -> HttpResponse:
    form = RunForm(request.POST)
    if not form.is_valid():
        context = _runs_context(STAFF)
        context.update(form=form, manage=True, open_cases=len(recon_cases(limit=1000)))
        return _no_store(
            render(request, "panels/staff/reconciliation/runs.html", context, status=422)
        )
    data = form.cleaned_data
    with transaction.atomic():
        job_enqueue(
            RECONCILE_TASK,
            window_start=data["start"].isoformat(),
            window_end=data["end"].isoformat(),
            started_by=_uid(request),
            fetch_statement=bool(data.get("fetch_statement")),
        )
    messages.success(
        request,
        f"Reconciliation of {data['start']:%Y-%m-%d %H:%M} to {data['end']:%Y-%m-%d %H:%M} UTC "
        "queued: the worker runs it in a moment. Reload this page to see it.",
    )
    return HttpResponseRedirect(f"{STAFF}/")


# --- a run's report -------------------------------------------------------------------------


def _category(request: HttpRequest) -> str | None:
    value = request.GET.get("category") or ""
    return value if value in CATEGORIES else None


def _row_view(row: ReportRow) -> dict[str, Any]:
    return {
        "row": row,
        "label": CATEGORY_LABELS.get(row.category, row.category),
        "platform_amount": _money(row.platform_amount, row.currency),
        "momo_amount": _money(row.momo_amount, row.currency),
        "short_ref": row.reference_id[:8] if row.reference_id else "",
        "operation": OPERATION_LABELS.get(row.operation, row.operation) or "—",
    }


def _report_page(request: HttpRequest, run_id: int, base: str, manage: bool) -> HttpResponse:
    category = _category(request)
    try:
        report = recon_report(run_id=run_id, category=category)
    except NotFound:
        return _no_store(
            render(
                request,
                "panels/staff/reconciliation/report.html",
                {"missing": run_id, "base": base},
                status=404,
            )
        )
    full = recon_report(run_id=run_id) if category else report
    context = {
        "base": base,
        "manage": manage,
        "report": report,
        "run": report.run,
        "category": category,
        "category_label": CATEGORY_LABELS.get(category or "", ""),
        "chips": [(c, CATEGORY_LABELS[c], full.counts.get(c, 0)) for c in CATEGORIES],
        "total": len(full.rows),
        "rows": [_row_view(r) for r in report.rows[:MAX_ROWS]],
        "truncated": len(report.rows) > MAX_ROWS,
        "max_rows": MAX_ROWS,
        "query": f"?category={category}" if category else "",
        "momo_base": "/mtn/momo" if base == MTN else "/staff/momo",
    }
    return _no_store(render(request, "panels/staff/reconciliation/report.html", context))


def _download(request: HttpRequest, run_id: int, kind: str, category: str | None) -> HttpResponse:
    try:
        report: Report = recon_report(run_id=run_id, category=category)
    except NotFound:
        return HttpResponse("No such reconciliation run.", status=404, content_type="text/plain")
    suffix = f"-{category}" if category else ""
    name = f"momo-reconciliation-{run_id}{suffix}.{kind}"
    if kind == "csv":
        body = report_csv(report)
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    else:
        body = json.dumps(report_json(report), cls=DjangoJSONEncoder, indent=2)
        response = HttpResponse(body, content_type="application/json")
    audit_data_access(
        actor=f"staff:{request.user.pk}",
        kind="export",
        what=f"reconciliation.report.{kind}",
        rows=len(report.rows),
        sha256=sha256_hex(response.content),
        object_type="momo.recon_run",
        object_id=str(run_id),
        details={"category": category or ""},
        now=now(),
    )
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return _no_store(response)


@requires(Action.RECON_MANAGE)
@require_GET
def staff_report(request: HttpRequest, run_id: int) -> HttpResponse:
    return _report_page(request, run_id, STAFF, manage=True)


@requires(Action.REPORTS_VIEW)
@require_GET
def mtn_report(request: HttpRequest, run_id: int) -> HttpResponse:
    return _report_page(request, run_id, MTN, manage=False)


@requires(Action.RECON_MANAGE)
@require_GET
def staff_report_csv(request: HttpRequest, run_id: int) -> HttpResponse:
    return _download(request, run_id, "csv", _category(request))


@requires(Action.RECON_MANAGE)
@require_GET
def staff_report_json(request: HttpRequest, run_id: int) -> HttpResponse:
    return _download(request, run_id, "json", _category(request))


@requires(Action.REPORTS_VIEW)
@require_GET
def mtn_report_csv(request: HttpRequest, run_id: int) -> HttpResponse:
    return _download(request, run_id, "csv", _category(request))


@requires(Action.REPORTS_VIEW)
@require_GET
def mtn_report_json(request: HttpRequest, run_id: int) -> HttpResponse:
    return _download(request, run_id, "json", _category(request))


# --- statement upload ----------------------------------------------------------------------


@requires(Action.RECON_MANAGE)
@require_http_methods(["GET", "POST"])
def staff_statements(request: HttpRequest) -> HttpResponse:
    form = (
        StatementForm(request.POST, request.FILES) if request.method == "POST" else StatementForm()
    )
    line_errors: list[Any] = []
    more = 0
    status = 200
    if request.method == "POST":
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                result = statement_import(
                    data=upload.read(),
                    filename=upload.name or "statement.csv",
                    product=form.cleaned_data.get("product") or "",
                    environment=form.cleaned_data.get("environment") or "",
                    imported_by=_uid(request),
                    actor=f"staff:{_uid(request)}",
                    now=now(),
                )
            except StatementInvalid as exc:
                line_errors = exc.errors[:200]
                more = len(exc.errors) - len(line_errors)
                form.add_error(
                    "file",
                    f"{len(exc.errors)} problem(s) in the file; nothing was imported. "
                    "Fix them and upload it again.",
                )
            except StatementDuplicate as exc:
                form.add_error("file", exc.message)
            except DomainError as exc:
                field = str(exc.details.get("field") or "")
                form.add_error(field if field in form.fields else None, exc.message)
            else:
                messages.success(
                    request,
                    f"Statement #{result.import_id} imported: {result.imported} line(s) "
                    f"stored, {result.skipped} already known (skipped), "
                    f"{result.lines_total} in the file.",
                )
                return HttpResponseRedirect(f"{STAFF}/statements/")
        status = 422
    context = {
        "form": form,
        "line_errors": line_errors,
        "more_errors": more,
        "imports": statement_imports_recent(limit=20),
        "base": STAFF,
    }
    return _no_store(
        render(request, "panels/staff/reconciliation/statements.html", context, status=status)
    )


# --- the case work-queue --------------------------------------------------------------------


def _case_view(case: ReconCase) -> dict[str, Any]:
    item = case.item
    return {
        "case": case,
        "item": item,
        "label": CATEGORY_LABELS.get(case.category, case.category),
        "platform_amount": _money(item.platform_amount, item.currency),
        "momo_amount": _money(item.momo_amount, item.currency),
        "reference": case.key.partition(":")[2],
        "kind": "X-Reference-Id" if case.key.startswith("ref:") else "Financial transaction id",
    }


@requires(Action.RECON_MANAGE)
@require_GET
def staff_cases(request: HttpRequest) -> HttpResponse:
    form = CaseFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    resolved = data.get("status") == "resolved"
    cases = (
        recon_cases_recently_resolved(limit=100)
        if resolved
        else recon_cases(statuses=(CaseStatus.OPEN, CaseStatus.IN_PROGRESS), limit=200)
    )
    category = data.get("category") or ""
    if category:
        cases = [c for c in cases if c.category == category]
    context = {
        "form": form,
        "cases": [_case_view(c) for c in cases],
        "resolved": resolved,
        "assignees": case_assignees(),
        "me": _uid(request),
        "resolve_form": ResolveForm(),
        "base": STAFF,
    }
    return _no_store(render(request, "panels/staff/reconciliation/cases.html", context))


def _back_to_cases(request: HttpRequest) -> HttpResponseRedirect:
    target = request.POST.get("next") or ""
    if not target.startswith(f"{STAFF}/cases/") or "//" in target:
        target = f"{STAFF}/cases/"
    return HttpResponseRedirect(target)


@requires(Action.RECON_MANAGE)
@require_POST
def staff_case_assign(request: HttpRequest, case_id: int) -> HttpResponse:
    form = AssignForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose who takes the case.")
        return _back_to_cases(request)
    assignee = form.cleaned_data.get("assignee") or None
    allowed = {uid for uid, _ in case_assignees()}
    if assignee is not None and assignee not in allowed:
        messages.error(request, "That person cannot work reconciliation cases.")
        return _back_to_cases(request)
    try:
        case_assign(case_id=case_id, assignee_id=assignee, actor_id=_uid(request), now=now())
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Case #{case_id} assigned." if assignee else f"Case #{case_id} is back in the queue.",
        )
    return _back_to_cases(request)


@requires(Action.RECON_MANAGE)
@require_POST
def staff_case_resolve(request: HttpRequest, case_id: int) -> HttpResponse:
    form = ResolveForm(request.POST)
    if not form.is_valid():
        errors = form.errors.get("note") or ["Write what was done."]
        messages.error(request, f"Case #{case_id} not resolved: {errors[0]}")
        return _back_to_cases(request)
    try:
        case_resolve(
            case_id=case_id, note=form.cleaned_data["note"], actor_id=_uid(request), now=now()
        )
    except DomainError as exc:
        messages.error(request, f"Case #{case_id} not resolved: {exc.message}")
    else:
        messages.success(request, f"Case #{case_id} resolved.")
    return _back_to_cases(request)
