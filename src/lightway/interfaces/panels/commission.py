"""Commission statement pages of the staff panels (docs/commission.md).

- ``/staff/commission/`` (LightWay back office, ``commission.statements``): pick the party
  (LightWay, MTN, any partner), the period (a month, or from/to days) and the format; the
  statement downloads.
- ``/mtn/commission/`` (MTN portal, ``reports.view``): MTN's own statement only, the party
  fixed by the page.

Thin: the form is read, then one application call writes the file (recorded in the audit
trail with its SHA-256, the person who generated it and the parameters); the response
carries the same digest in ``Repr-Digest``. Generating a file writes an audit record, so it
is a POST.
"""

from __future__ import annotations

import base64
import tempfile
from datetime import date
from typing import Any

from django import forms
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from lightway.application.errors import DomainError
from lightway.application.reports.commission import (
    LIGHTWAY,
    MAX_PERIOD_DAYS,
    MTN,
    StatementParty,
    commission_statement_generate,
    statement_month,
    statement_party,
    statement_period,
)
from lightway.data.identity.models import Partner
from lightway.interfaces.panels.common import now
from lightway.interfaces.panels.forms import AccessibleForm
from lightway.interfaces.web.authz import requires
from lightway.security.policy import Action

TEMPLATE = "panels/staff/commission.html"
SPOOL_BYTES = 8 * 1024 * 1024  # statements larger than this are spooled to a temporary file
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}


def _input(**extra: str) -> dict[str, str]:
    return {"class": "input", **extra}


class StatementForm(AccessibleForm):
    month = forms.CharField(
        label="Month",
        required=False,
        help_text="A calendar month, or leave empty and give the first and last day.",
        widget=forms.DateInput(attrs=_input(type="month", placeholder="YYYY-MM")),
    )
    start = forms.DateField(
        label="From (UTC day)",
        required=False,
        widget=forms.DateInput(attrs=_input(type="date"), format="%Y-%m-%d"),
        error_messages={"invalid": "Enter a date (YYYY-MM-DD)."},
    )
    end = forms.DateField(
        label="To (UTC day, included)",
        required=False,
        widget=forms.DateInput(attrs=_input(type="date"), format="%Y-%m-%d"),
        error_messages={"invalid": "Enter a date (YYYY-MM-DD)."},
    )
    format = forms.ChoiceField(
        label="Format",
        choices=[("pdf", "PDF (summary, chart, lines)"), ("csv", "CSV (every line)")],
        initial="pdf",
        widget=forms.Select(attrs=_input()),
        error_messages={"required": "Choose a format.", "invalid_choice": "Choose PDF or CSV."},
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        month = (data.get("month") or "").strip()
        start, end = data.get("start"), data.get("end")
        try:
            if month:
                if start or end:
                    self.add_error("month", "Give a month or the first and last day, not both.")
                    return data
                data["period"] = statement_month(text=month)
            elif isinstance(start, date) and isinstance(end, date):
                data["period"] = statement_period(start=start, end=end)
            elif "start" not in self.errors and "end" not in self.errors:
                self.add_error("month", "Give a month, or the first and last day.")
        except DomainError as exc:
            field = str(exc.details.get("field") or "month")
            self.add_error({"from": "start", "to": "end"}.get(field, field), exc.message)
        return data


class PartyStatementForm(StatementForm):
    party = forms.ChoiceField(
        label="Party",
        widget=forms.Select(attrs=_input()),
        error_messages={"required": "Choose a party.", "invalid_choice": "Choose a party."},
    )

    field_order = ["party", "month", "start", "end", "format"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        partners = Partner.objects.order_by("code").values_list("code", "name")
        field = self.fields["party"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [
            (LIGHTWAY.key, "LightWay"),
            (MTN.key, "MTN (its share)"),
            *[(f"partner:{code}", f"{name} ({code})") for code, name in partners],
        ]


def _download(
    request: HttpRequest, party: StatementParty, data: dict[str, Any]
) -> HttpResponseBase:
    start, end = data["period"]
    # Large statements go to a temporary file; FileResponse closes it once sent.
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    try:
        result = commission_statement_generate(
            party=party,
            start=start,
            end=end,
            fmt=data["format"],
            out=spool,
            actor=f"staff:{int(request.user.pk or 0)}",
            now=now(),
        )
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    response = FileResponse(
        spool,
        as_attachment=True,
        filename=result.filename,
        content_type=CONTENT_TYPES[result.format],
    )
    digest = base64.b64encode(bytes.fromhex(result.sha256)).decode()
    response["Repr-Digest"] = f"sha-256=:{digest}:"
    response["Cache-Control"] = "no-store"
    return response


def _page(request: HttpRequest, form: StatementForm, base: str, status: int = 200) -> HttpResponse:
    context = {
        "form": form,
        "base": base,
        "mtn": base == "/mtn",
        "max_days": MAX_PERIOD_DAYS,
    }
    response = render(request, TEMPLATE, context, status=status)
    response["Cache-Control"] = "no-store"
    return response


@requires(Action.COMMISSION_STATEMENTS)
@require_http_methods(["GET", "POST"])
def staff_statement(request: HttpRequest) -> HttpResponseBase:
    if request.method != "POST":
        return _page(request, PartyStatementForm(initial={"format": "pdf"}), "/staff")
    form = PartyStatementForm(request.POST)
    if form.is_valid():
        try:
            party = statement_party(text=form.cleaned_data["party"])
        except DomainError as exc:
            form.add_error("party", exc.message)
        else:
            return _download(request, party, form.cleaned_data)
    return _page(request, form, "/staff", status=422)


@requires(Action.REPORTS_VIEW)
@require_http_methods(["GET", "POST"])
def mtn_statement(request: HttpRequest) -> HttpResponseBase:
    if request.method != "POST":
        return _page(request, StatementForm(initial={"format": "pdf"}), "/mtn")
    form = StatementForm(request.POST)
    if form.is_valid():
        return _download(request, MTN, form.cleaned_data)  # MTN's own, whatever is posted
    return _page(request, form, "/mtn", status=422)
