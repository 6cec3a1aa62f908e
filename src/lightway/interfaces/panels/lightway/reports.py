"""The platform's reports in the LightWay back office (/staff/reports/, ``reports.run``;
docs/reports.md).

- ``/staff/reports/``: the runs, newest first in keyset pages (``?after=<run id>``), and a
  form to request a report (kind, period, format, optional market / currency / partner).
  A valid request records a queued run and its job, then goes to the run's page; bad input
  answers 400 with the form as typed and the reason beside the field.
- ``/staff/reports/<id>/``: the run: what was asked, by whom; its progress, refreshed by
  HTMX from ``status/`` every two seconds until it is done or failed; then the download.
- ``/staff/reports/<id>/download/``: the file, after its bytes were checked against the
  recorded SHA-256 (``Repr-Digest`` carries it), the download audited with that digest.

Thin: each view checks its action, reads the form and makes one application call.
"""

from __future__ import annotations

import base64
from typing import Any

from django import forms
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from lightway.application.errors import DomainError, NotFound
from lightway.application.identity.phones import MARKETS
from lightway.application.reports.kinds import KINDS
from lightway.application.reports.runs import (
    MAX_PERIOD_DAYS,
    params_of,
    report_download,
    report_params,
    report_run_request,
)
from lightway.data.identity.models import Partner
from lightway.data.reports.selectors import report_run_get, report_runs_page
from lightway.interfaces.panels.common import now
from lightway.interfaces.panels.forms import AccessibleForm
from lightway.interfaces.web.authz import requires
from lightway.security.policy import Action

PAGE_SIZE = 25
POLL_SECONDS = 2


def _input(**extra: str) -> dict[str, str]:
    return {"class": "input", **extra}


class ReportForm(AccessibleForm):
    kind = forms.ChoiceField(
        label="Report",
        choices=[(k.key, f"{k.label}: {k.description}") for k in KINDS.values()],
        widget=forms.Select(attrs=_input()),
        error_messages={"required": "Choose a report.", "invalid_choice": "Choose a report."},
    )
    start = forms.DateField(
        label="From (UTC day)",
        widget=forms.DateInput(attrs=_input(type="date"), format="%Y-%m-%d"),
        error_messages={"required": "Give the first day.", "invalid": "Enter a date (YYYY-MM-DD)."},
    )
    end = forms.DateField(
        label="To (UTC day, included)",
        widget=forms.DateInput(attrs=_input(type="date"), format="%Y-%m-%d"),
        error_messages={"required": "Give the last day.", "invalid": "Enter a date (YYYY-MM-DD)."},
    )
    format = forms.ChoiceField(
        label="Format",
        choices=[
            ("pdf", "PDF (tables and charts)"),
            ("xlsx", "XLSX (spreadsheet)"),
            ("csv", "CSV"),
        ],
        initial="pdf",
        widget=forms.Select(attrs=_input()),
        error_messages={"required": "Choose a format.", "invalid_choice": "Choose a format."},
    )
    market = forms.ChoiceField(
        label="Market (optional)",
        required=False,
        choices=[("", "Every market"), *[(m, f"{m} ({c})") for m, c in sorted(MARKETS.items())]],
        widget=forms.Select(attrs=_input()),
        error_messages={"invalid_choice": "Choose a market from the list."},
    )
    currency = forms.CharField(
        label="Currency (optional)",
        required=False,
        max_length=3,
        help_text="An ISO 4217 code such as UGX; empty for every currency.",
        widget=forms.TextInput(attrs=_input(autocomplete="off")),
    )
    partner = forms.ChoiceField(
        label="Partner (optional)",
        required=False,
        widget=forms.Select(attrs=_input()),
        error_messages={"invalid_choice": "Choose a partner from the list."},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["partner"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [
            ("", "Every partner"),
            *Partner.objects.order_by("code").values_list("code", "name"),
        ]


def _actor(request: HttpRequest) -> str:
    return f"staff:{int(request.user.pk or 0)}"


def _list(request: HttpRequest, form: ReportForm, status: int = 200) -> HttpResponse:
    raw = request.GET.get("after", "")
    after = report_run_get(run_id=int(raw)) if raw.isdigit() and len(raw) < 19 else None
    if raw and after is None:
        status = 400 if status == 200 else status
    page = report_runs_page(
        before=(after.requested_at, int(after.pk)) if after is not None else None,
        limit=PAGE_SIZE + 1,
    )
    more = len(page) > PAGE_SIZE
    rows = page[:PAGE_SIZE]
    context = {
        "form": form,
        "runs": rows,
        "kinds": KINDS,
        "first": after is None,
        "next_after": rows[-1].pk if more else None,
        "bad_cursor": bool(raw) and after is None,
        "max_days": MAX_PERIOD_DAYS,
    }
    response = render(request, "panels/staff/reports/list.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return response


@requires(Action.REPORTS_RUN)
@require_http_methods(["GET", "POST"])
def reports(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _list(request, ReportForm(initial={"format": "pdf"}))
    form = ReportForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            params = report_params(
                kind=data["kind"],
                start=data["start"],
                end=data["end"],
                fmt=data["format"],
                market=data["market"],
                currency=data["currency"],
                partner=data["partner"],
            )
        except DomainError as exc:
            field = str(exc.details.get("field") or "kind")
            field = {"from": "start", "to": "end"}.get(field, field)
            form.add_error(field if field in form.fields else None, exc.message)
        else:
            run = report_run_request(params=params, requested_by=_actor(request), now=now())
            return HttpResponseRedirect(f"/staff/reports/{run.pk}/")
    return _list(request, form, status=400)


def _run_context(run_id: int) -> dict[str, Any]:
    run = report_run_get(run_id=run_id)
    if run is None:
        raise Http404("no such report run")
    params = params_of(run)
    percent = (100 * run.progress_done // run.progress_total) if run.progress_total else 0
    return {
        "run": run,
        "params": params,
        "kind_label": KINDS[run.kind].label,
        "percent": percent,
        "open": run.status in ("queued", "running"),
        "poll_seconds": POLL_SECONDS,
    }


@requires(Action.REPORTS_RUN)
@require_GET
def run_page(request: HttpRequest, run_id: int) -> HttpResponse:
    response = render(request, "panels/staff/reports/run.html", _run_context(run_id))
    response["Cache-Control"] = "no-store"
    return response


@requires(Action.REPORTS_RUN)
@require_GET
def run_status(request: HttpRequest, run_id: int) -> HttpResponse:
    response = render(request, "panels/staff/reports/_status.html", _run_context(run_id))
    response["Cache-Control"] = "no-store"
    return response


@requires(Action.REPORTS_RUN)
@require_GET
def run_download(request: HttpRequest, run_id: int) -> HttpResponse:
    try:
        download = report_download(run_id=run_id, actor=_actor(request), now=now())
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except DomainError as exc:  # the bytes no longer match their SHA-256
        context = {**_run_context(run_id), "refused": exc.message}
        return render(request, "panels/staff/reports/run.html", context, status=409)
    response = HttpResponse(download.content, content_type=download.content_type)
    response["Content-Disposition"] = f'attachment; filename="{download.filename}"'
    digest = base64.b64encode(bytes.fromhex(download.sha256)).decode()
    response["Repr-Digest"] = f"sha-256=:{digest}:"
    response["Cache-Control"] = "no-store"
    return response
