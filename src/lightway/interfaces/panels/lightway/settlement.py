"""Settlement pages of the LightWay back office (``/staff/settlement/...``, docs/settlement.md).

``settlement.view`` (finance, operations): windows per market (keyset pages), a window's
positions per counterparty, its instructions and their states, statement downloads (CSV,
JSON) per counterparty, bank statements and their reconciliation, top-ups.
``settlement.manage`` (finance): close a window, abort a closed one (with a reason),
re-issue a rejected instruction, reconcile a day's camt.053 (fetched or uploaded).

Thin: each view checks its action (``requires``), reads a form and makes one application
call. No personal data appears: counterparties, references and amounts only.
"""

from __future__ import annotations

import json
from datetime import date

from django import forms
from django.contrib import messages
from django.core.serializers.json import DjangoJSONEncoder
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from lightway.application.audit.access import audit_data_access, audited_export, sha256_hex
from lightway.application.errors import DomainError, NotFound
from lightway.application.settlement.config import markets
from lightway.application.settlement.instructions import instruction_reissue
from lightway.application.settlement.reconciliation import (
    statement_fetch_reconcile,
    statement_get,
    statement_reconcile,
)
from lightway.application.settlement.statements import (
    bank_statements_recent,
    recon_items,
    statement_csv,
    statement_json,
    topups_recent,
    window_counterparties,
    window_get,
    window_instructions,
    window_positions_list,
    window_statement,
    windows_page,
)
from lightway.application.settlement.windows import window_abort, window_close
from lightway.data.money import Money, MoneyError
from lightway.integration.settlement.port import SettlementError
from lightway.interfaces.panels.common import now
from lightway.interfaces.panels.forms import AccessibleForm
from lightway.interfaces.web.authz import requires
from lightway.security.policy import Action, allows, user_roles

BASE = "/staff/settlement"
MAX_XML_BYTES = 5 * 1024 * 1024


def _actor(request: HttpRequest) -> str:
    return f"staff:{request.user.pk}"


def _money(amount: int | None, code: str) -> str:
    if amount is None:
        return "—"
    try:
        return Money.of(amount, code).format()
    except MoneyError:
        return f"{amount} {code}"


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def _can_manage(request: HttpRequest) -> bool:
    return allows(user_roles(request.user), Action.SETTLEMENT_MANAGE)


class AbortForm(AccessibleForm):
    reason = forms.CharField(
        label="Reason",
        min_length=3,
        max_length=300,
        widget=forms.TextInput(attrs={"class": "input", "autocomplete": "off"}),
        error_messages={
            "required": "Give a reason (3 to 300 characters) to abort a window.",
            "min_length": "Give a reason (3 to 300 characters) to abort a window.",
        },
    )


class ReconcileForm(AccessibleForm):
    currency = forms.ChoiceField(label="Account currency", choices=())
    day = forms.DateField(label="Statement date (YYYY-MM-DD)", required=False)
    file = forms.FileField(label="or a camt.053 file", required=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["currency"].choices = [(m, m) for m in markets()]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if not data.get("file") and not data.get("day"):
            raise forms.ValidationError("Give a statement date or upload a camt.053 file.")
        return data


# --- windows ---------------------------------------------------------------------------------


@requires(Action.SETTLEMENT_VIEW)
@require_GET
def windows(request: HttpRequest) -> HttpResponse:
    market = request.GET.get("market", "")
    if market not in markets():
        market = ""
    before_raw = request.GET.get("before", "")
    before = int(before_raw) if before_raw.isdigit() and len(before_raw) < 19 else None
    page = windows_page(market=market, before=before)
    rows = [{"window": w, "can_close": w.state == "open"} for w in page]
    return _no_store(
        render(
            request,
            "panels/staff/settlement/windows.html",
            {
                "base": BASE,
                "rows": rows,
                "markets": markets(),
                "market": market,
                "next_before": page[-1].pk if len(page) == 50 else None,
                "manage": _can_manage(request),
                "topups": [
                    {"topup": t, "amount": _money(t.amount, t.currency)}
                    for t in topups_recent(limit=10)
                ],
            },
        )
    )


@requires(Action.SETTLEMENT_VIEW)
@require_GET
def window_detail(request: HttpRequest, window_id: int) -> HttpResponse:
    return _window_page(request, window_id)


def _window_page(
    request: HttpRequest, window_id: int, abort_form: AbortForm | None = None, status: int = 200
) -> HttpResponse:
    """A window's page; with the abort form as submitted (its mistakes beside the field)."""
    try:
        window = window_get(window_id=window_id)
    except NotFound:
        return _no_store(render(request, "panels/staff/settlement/missing.html", status=404))
    positions = window_positions_list(window_id=window.pk)
    nets: dict[str, int] = {}
    for p in positions:
        if p.cash:
            nets[p.counterparty] = nets.get(p.counterparty, 0) + p.amount
    return _no_store(
        render(
            request,
            "panels/staff/settlement/window.html",
            {
                "base": BASE,
                "window": window,
                "positions": [{"p": p, "amount": _money(p.amount, p.currency)} for p in positions],
                "nets": [
                    {"counterparty": c, "amount": _money(n, window.market), "net": n}
                    for c, n in sorted(nets.items())
                ],
                "instructions": [
                    {"i": i, "amount": _money(i.amount, i.currency)}
                    for i in window_instructions(window_id=window.pk)
                ],
                "counterparties": window_counterparties(window_id=window.pk),
                "manage": _can_manage(request),
                "abort_form": abort_form or AbortForm(),
            },
            status=status,
        )
    )


@requires(Action.SETTLEMENT_MANAGE)
@require_POST
def window_close_view(request: HttpRequest, window_id: int) -> HttpResponse:
    try:
        result = window_close(window_id=window_id, now=now(), actor=_actor(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if result.already:
            messages.info(request, f"Window {window_id} was already closed: nothing changed.")
        else:
            messages.success(
                request,
                f"Window {window_id} closed: {len(result.instructions)} instruction(s) made.",
            )
    return HttpResponseRedirect(f"{BASE}/windows/{window_id}/")


@requires(Action.SETTLEMENT_MANAGE)
@require_POST
def window_abort_view(request: HttpRequest, window_id: int) -> HttpResponse:
    form = AbortForm(request.POST)
    if not form.is_valid():
        return _window_page(request, window_id, abort_form=form, status=400)
    try:
        window_abort(
            window_id=window_id,
            reason=form.cleaned_data["reason"],
            actor=_actor(request),
            now=now(),
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Window {window_id} aborted; its positions moved on.")
    return HttpResponseRedirect(f"{BASE}/windows/{window_id}/")


@requires(Action.SETTLEMENT_MANAGE)
@require_POST
def instruction_reissue_view(request: HttpRequest, instruction_id: int) -> HttpResponse:
    try:
        made = instruction_reissue(instruction_id=instruction_id, actor=_actor(request), now=now())
    except DomainError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(f"{BASE}/")
    messages.success(request, f"Instruction {made.instr_id} made; it is being sent.")
    return HttpResponseRedirect(f"{BASE}/windows/{made.window_id}/")


@requires(Action.SETTLEMENT_VIEW)
@require_GET
def statement_download(
    request: HttpRequest, window_id: int, counterparty: str, fmt: str
) -> HttpResponse | StreamingHttpResponse:
    try:
        statement = window_statement(window_id=window_id, counterparty=counterparty)
    except NotFound:
        return _no_store(render(request, "panels/staff/settlement/missing.html", status=404))
    name = f"settlement-{window_id}-{counterparty.replace(':', '-')}"
    actor, ref = _actor(request), {"counterparty": counterparty}
    if fmt == "json":
        body = json.dumps(statement_json(statement), cls=DjangoJSONEncoder, indent=2)
        response: HttpResponse | StreamingHttpResponse = HttpResponse(
            body, content_type="application/json"
        )
        audit_data_access(
            actor=actor,
            kind="export",
            what="settlement.statement.json",
            rows=None,
            sha256=sha256_hex(body),
            object_type="settlement.window",
            object_id=str(window_id),
            details=ref,
            now=now(),
        )
        response["Content-Disposition"] = f'attachment; filename="{name}.json"'
    else:
        lines = audited_export(
            statement_csv(statement),
            actor=actor,
            what="settlement.statement.csv",
            clock=now,
            object_type="settlement.window",
            object_id=str(window_id),
            details=ref,
        )
        response = StreamingHttpResponse(lines, content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    response["Cache-Control"] = "no-store"
    return response


# --- bank statements and reconciliation -----------------------------------------------------------


def _statements_page(
    request: HttpRequest, form: ReconcileForm | None = None, status: int = 200
) -> HttpResponse:
    return _no_store(
        render(
            request,
            "panels/staff/settlement/statements.html",
            {
                "base": BASE,
                "statements": bank_statements_recent(),
                "manage": _can_manage(request),
                "form": form or ReconcileForm(initial={"day": date.today()}),  # noqa: DTZ011
            },
            status=status,
        )
    )


@requires(Action.SETTLEMENT_VIEW)
@require_GET
def statements(request: HttpRequest) -> HttpResponse:
    return _statements_page(request)


@requires(Action.SETTLEMENT_MANAGE)
@require_POST
def statement_reconcile_view(request: HttpRequest) -> HttpResponse:
    form = ReconcileForm(request.POST, request.FILES)
    if not form.is_valid():
        return _statements_page(request, form, status=422)
    data = form.cleaned_data
    try:
        if data.get("file"):
            upload = data["file"]
            if upload.size > MAX_XML_BYTES:
                form.add_error("file", "The file is too large (5 MB at most).")
                return _statements_page(request, form, status=422)
            xml = upload.read().decode("utf-8", "replace")
            result = statement_reconcile(xml=xml, actor=_actor(request), now=now())
        else:
            result = statement_fetch_reconcile(
                currency_code=data["currency"], on=data["day"], actor=_actor(request), now=now()
            )
    except (DomainError, SettlementError) as exc:
        form.add_error(None, getattr(exc, "message", "") or str(exc))
        return _statements_page(request, form, status=422)
    return HttpResponseRedirect(f"{BASE}/statements/{result.statement.pk}/")


@requires(Action.SETTLEMENT_VIEW)
@require_GET
def statement_detail(request: HttpRequest, statement_id: int) -> HttpResponse:
    try:
        statement = statement_get(statement_id=statement_id)
    except NotFound:
        return _no_store(render(request, "panels/staff/settlement/missing.html", status=404))
    items = recon_items(statement_id=statement.pk)
    counts: dict[str, int] = {}
    for item in items:
        counts[item.get_category_display()] = counts.get(item.get_category_display(), 0) + 1
    return _no_store(
        render(
            request,
            "panels/staff/settlement/statement.html",
            {
                "base": BASE,
                "statement": statement,
                "counts": sorted(counts.items()),
                "items": [
                    {
                        "item": i,
                        "expected": _money(i.expected, i.currency),
                        "booked": _money(i.booked, i.currency),
                    }
                    for i in items
                ],
            },
        )
    )
