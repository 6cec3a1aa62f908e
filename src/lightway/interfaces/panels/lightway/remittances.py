"""Partners' remittances in the LightWay back office (/staff/remittances/): find a remittance
(its id, or ``<partner code>/<external id>``), its page (state timeline from its partner
events, its transfer, its MoMo request, its reversal requests) with a "Request a reversal"
form for a COMPLETED one, and the reversal requests waiting for a decision with approve and
reject (the requester sees no buttons on their own). Maker-checker: operations ask
(``remittances.reversal_request``), finance decides (``remittances.reversal_approve``);
``application/remittances/reversals.py`` does the work. Thin: each view checks its
action, reads the form and makes one application call."""

from __future__ import annotations

import re
import uuid

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from lightway.application.errors import DomainError, NotFound
from lightway.application.remittances.reversals import (
    REASON_MAX,
    REASON_MIN,
    remittance_reversal_approve,
    remittance_reversal_reject,
    remittance_reversal_request,
    remittance_reversals_waiting,
    remittance_staff_detail,
    remittance_staff_find,
)
from lightway.data.remittances.models import ReversalReason
from lightway.interfaces.panels.common import apply_errors
from lightway.interfaces.panels.forms import AccessibleForm
from lightway.interfaces.web.authz import requires
from lightway.security.policy import Action, allows, user_roles

LIST_URL = "/staff/remittances/"
# Where a decision may send the browser back to: this list or a remittance's page.
_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_BACK = re.compile(rf"/staff/remittances/({_UUID}/)?")


def _actor(request: HttpRequest) -> str:
    return f"staff:{request.user.pk}"


class FindForm(AccessibleForm):
    q = forms.CharField(
        label="Remittance id, or partner code / external id",
        max_length=120,
        help_text="For example 5b7d0a2e-9c1f-4e8b-a3d6-7f2e1b0c9d84 or acme-remit/ACME-2026-000123",
    )


class ReversalRequestForm(AccessibleForm):
    reason_code = forms.ChoiceField(label="Why", choices=ReversalReason.choices)
    momo_reference = forms.CharField(
        label="MTN's reference of the recall",
        max_length=64,
        required=False,
        help_text="Required when MTN recalled the payout: its financial transaction id or case.",
    )
    reason = forms.CharField(
        label="Explanation",
        min_length=REASON_MIN,
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=f"{REASON_MIN} to {REASON_MAX} characters. No names or phone numbers.",
    )


class ReversalDecisionForm(AccessibleForm):
    note = forms.CharField(max_length=REASON_MAX, required=False)


def _list_page(
    request: HttpRequest, form: FindForm | None = None, status: int = 200
) -> HttpResponse:
    roles = user_roles(request.user)
    response = render(
        request,
        "panels/staff/remittances/list.html",
        {
            "form": form or FindForm(),
            "pending": remittance_reversals_waiting(),
            "me": _actor(request),
            "can_approve": allows(roles, Action.REMITTANCE_REVERSAL_APPROVE),
        },
        status=status,
    )
    response["Cache-Control"] = "no-store"
    return response


@requires(Action.REMITTANCES_VIEW)
@require_GET
def remittances(request: HttpRequest) -> HttpResponse:
    if "q" not in request.GET:
        return _list_page(request)
    form = FindForm(request.GET)
    if not form.is_valid():
        return _list_page(request, form, status=422)
    try:
        found = remittance_staff_find(query=form.cleaned_data["q"])
    except DomainError as exc:
        apply_errors(form, exc, default_field="q")
        return _list_page(request, form, status=404 if isinstance(exc, NotFound) else 422)
    return HttpResponseRedirect(f"{LIST_URL}{found}/")


def _detail_page(
    request: HttpRequest,
    remittance_id: uuid.UUID,
    form: ReversalRequestForm | None = None,
    status: int = 200,
) -> HttpResponse:
    try:
        detail = remittance_staff_detail(remittance_id=remittance_id)
    except NotFound:
        messages.error(request, "No remittance has that id.")
        return HttpResponseRedirect(LIST_URL)
    roles = user_roles(request.user)
    response = render(
        request,
        "panels/staff/remittances/detail.html",
        {
            "d": detail,
            "r": detail.remittance,
            "form": form or ReversalRequestForm(),
            "me": _actor(request),
            "can_request": allows(roles, Action.REMITTANCE_REVERSAL_REQUEST),
            "can_approve": allows(roles, Action.REMITTANCE_REVERSAL_APPROVE),
        },
        status=status,
    )
    response["Cache-Control"] = "no-store"
    return response


@requires(Action.REMITTANCES_VIEW)
@require_GET
def remittance_detail(request: HttpRequest, remittance_id: uuid.UUID) -> HttpResponse:
    return _detail_page(request, remittance_id)


@requires(Action.REMITTANCE_REVERSAL_REQUEST)
@require_POST
def reversal_request(request: HttpRequest, remittance_id: uuid.UUID) -> HttpResponse:
    form = ReversalRequestForm(request.POST)
    if not form.is_valid():
        return _detail_page(request, remittance_id, form, status=422)
    data = form.cleaned_data
    try:
        remittance_reversal_request(
            remittance_id=remittance_id,
            reason_code=data["reason_code"],
            reason=data["reason"],
            momo_reference=data["momo_reference"],
            actor=_actor(request),
            now=timezone.now(),
        )
    except DomainError as exc:
        apply_errors(form, exc, default_field="reason")
        return _detail_page(request, remittance_id, form, status=422)
    messages.success(
        request,
        "Reversal requested. A member of finance must approve it before anything moves.",
    )
    return HttpResponseRedirect(f"{LIST_URL}{remittance_id}/")


def _decide(request: HttpRequest, reversal_id: int, approve: bool) -> HttpResponse:
    form = ReversalDecisionForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    back = request.POST.get("back", "")
    target = back if _BACK.fullmatch(back) else LIST_URL
    try:
        if approve:
            decision = remittance_reversal_approve(
                reversal_id=reversal_id, actor=_actor(request), note=note, now=timezone.now()
            )
        else:
            decision = remittance_reversal_reject(
                reversal_id=reversal_id, actor=_actor(request), note=note, now=timezone.now()
            )
    except DomainError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(target)
    remittance = decision.reversal.remittance_id
    if not decision.changed:
        messages.info(request, f"That request was already {decision.reversal.state.lower()}.")
    elif approve:
        messages.success(
            request,
            f"Remittance {remittance} reversed: the partner's prefund is credited back and"
            " the partner is notified.",
        )
    else:
        messages.success(request, f"Reversal of remittance {remittance} rejected.")
    return HttpResponseRedirect(target)


@requires(Action.REMITTANCE_REVERSAL_APPROVE)
@require_POST
def reversal_approve(request: HttpRequest, reversal_id: int) -> HttpResponse:
    return _decide(request, reversal_id, approve=True)


@requires(Action.REMITTANCE_REVERSAL_APPROVE)
@require_POST
def reversal_reject(request: HttpRequest, reversal_id: int) -> HttpResponse:
    return _decide(request, reversal_id, approve=False)
