"""goAML regulatory export page of the LightWay back office (docs/goaml.md).

``/staff/compliance/goaml/`` (``goaml.export``, compliance officers only): the released
files newest first (keyset pages), a form to generate a CTR, the STRs due, or a CSV return
for a period, and an audited download of each file.

Thin: each view reads a form and makes one application call. Generating validates every
file against the FIU's XSD before anything is stored; a file that does not validate is
shown as the form's error with its violations, and nothing is released.
"""

from __future__ import annotations

import base64
from datetime import date
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from lightway.application.errors import DomainError, NotFound
from lightway.application.goaml.config import fiu_names
from lightway.application.goaml.returns import goaml_return
from lightway.application.goaml.service import (
    MAX_PERIOD_DAYS,
    goaml_export_ctr,
    goaml_export_strs,
    goaml_file_open,
    goaml_files_page,
)
from lightway.data.goaml.models import FileKind
from lightway.interfaces.panels.common import now
from lightway.interfaces.panels.forms import AccessibleForm
from lightway.interfaces.web.authz import requires
from lightway.security.policy import Action

BASE = "/staff/compliance/goaml/"
TEMPLATE = "panels/staff/goaml.html"
WHAT = [
    ("CTR", "CTR: large transactions at or above the FIU's threshold (goAML XML)"),
    ("STR", "STR: the filings approved in the period (goAML XML)"),
    (FileKind.RETURN_LARGE.value, "Large-transactions return for the central bank (CSV)"),
    (FileKind.RETURN_STR.value, "STR register for the central bank (CSV)"),
]
KIND_LABELS = {k.value: k.label for k in FileKind}


def _input(**extra: str) -> dict[str, str]:
    return {"class": "input", **extra}


class GenerateForm(AccessibleForm):
    what = forms.ChoiceField(
        label="What",
        choices=WHAT,
        widget=forms.Select(attrs=_input()),
        error_messages={"required": "Choose what to generate.", "invalid_choice": "Choose one."},
    )
    fiu = forms.ChoiceField(
        label="FIU",
        widget=forms.Select(attrs=_input()),
        error_messages={"required": "Choose the FIU.", "invalid_choice": "Choose a known FIU."},
    )
    start = forms.DateField(
        label="From (the FIU's local day)",
        widget=forms.DateInput(attrs=_input(type="date"), format="%Y-%m-%d"),
        error_messages={
            "required": "Enter the first day.",
            "invalid": "Enter a date (YYYY-MM-DD).",
        },
    )
    end = forms.DateField(
        label="To (local day, included)",
        widget=forms.DateInput(attrs=_input(type="date"), format="%Y-%m-%d"),
        error_messages={"required": "Enter the last day.", "invalid": "Enter a date (YYYY-MM-DD)."},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["fiu"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(name, name) for name in fiu_names()]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if isinstance(start, date) and isinstance(end, date):
            if end < start:
                self.add_error("end", "The last day must not be before the first.")
            elif (end - start).days + 1 > MAX_PERIOD_DAYS:
                self.add_error("end", f"At most {MAX_PERIOD_DAYS} days at a time.")
        return data


def _page(request: HttpRequest, form: GenerateForm, status: int = 200) -> HttpResponse:
    page = goaml_files_page(before=str(request.GET.get("before", ""))[:40])
    context = {"form": form, "page": page, "kind_labels": KIND_LABELS, "base": BASE}
    response = render(request, TEMPLATE, context, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _generate(data: dict[str, Any], actor: str) -> tuple[int, int]:
    """(files, transactions or rows) released for the form's choice."""
    what, fiu, start, end = data["what"], data["fiu"], data["start"], data["end"]
    if what == "CTR":
        released = goaml_export_ctr(fiu=fiu, start=start, end=end, actor=actor, now=now())
    elif what == "STR":
        released = goaml_export_strs(fiu=fiu, start=start, end=end, actor=actor, now=now())
    else:
        one = goaml_return(kind=what, fiu=fiu, start=start, end=end, actor=actor, now=now())
        released = [one] if one is not None else []
    return len(released), sum(r.transactions for r in released)


@requires(Action.GOAML_EXPORT)
@require_http_methods(["GET", "POST"])
def goaml_page(request: HttpRequest) -> HttpResponseBase:
    if request.method != "POST":
        return _page(request, GenerateForm())
    form = GenerateForm(request.POST)
    if form.is_valid():
        try:
            files, items = _generate(form.cleaned_data, f"staff:{int(request.user.pk or 0)}")
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            if files:
                messages.success(
                    request,
                    f"Released {files} file(s) with {items} transaction(s) or row(s), each"
                    " validated, sealed and recorded with its SHA-256.",
                )
            else:
                messages.info(request, "No data in that period: no file was released.")
            return HttpResponseRedirect(BASE)
    return _page(request, form, status=400)


@requires(Action.GOAML_EXPORT)
@require_GET
def goaml_download(request: HttpRequest, file_id: int) -> HttpResponseBase:
    try:
        row, content = goaml_file_open(
            file_id=file_id, actor=f"staff:{int(request.user.pk or 0)}", now=now()
        )
    except NotFound:
        response = render(request, "panels/staff/goaml_missing.html", {"base": BASE}, status=404)
        response["Cache-Control"] = "no-store"
        return response
    response = HttpResponse(content, content_type=row.content_type)
    response["Content-Disposition"] = f'attachment; filename="{row.filename}"'
    response["Cache-Control"] = "no-store"
    digest = base64.b64encode(bytes.fromhex(row.sha256)).decode()
    response["Repr-Digest"] = f"sha-256=:{digest}:"
    return response
