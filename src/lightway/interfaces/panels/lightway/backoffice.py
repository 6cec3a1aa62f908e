"""The back office's customers (actions, notes, code resend beside the customer page of
``views.py``), transactions (/staff/transactions/) and approvals (/staff/approvals/).
Thin: each view checks its action (``requires``), reads its form and makes one call into
``application/backoffice``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from lightway.application.audit.access import audited_export
from lightway.application.backoffice.actions import (
    action_approve,
    action_reject,
    action_request,
    actions_pending,
)
from lightway.application.backoffice.customers import customer_code_resend
from lightway.application.backoffice.limits import OverrideProposal, limit_override_request
from lightway.application.backoffice.notes import support_note_add
from lightway.application.backoffice.transactions import (
    TransferFilter,
    transaction_detail,
    transaction_search,
    transactions_csv,
    transactions_list,
)
from lightway.application.errors import DomainError, NotFound
from lightway.application.identity.pii import customer_get
from lightway.interfaces.panels.common import apply_errors, safe_next
from lightway.interfaces.panels.lightway.backoffice_context import limit_override_form
from lightway.interfaces.panels.lightway.backoffice_forms import (
    CustomerActionForm,
    DecisionForm,
    SupportNoteForm,
    TransactionFilterForm,
    TransferActionForm,
)
from lightway.interfaces.panels.lightway.views import _customer_page
from lightway.interfaces.web.authz import requires
from lightway.security.policy import Action, allows, user_roles

TRANSACTIONS_URL = "/staff/transactions/"
APPROVALS_URL = "/staff/approvals/"


def _uid(request: HttpRequest) -> int:
    return int(str(request.user.pk))


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def _customer_url(subject: str) -> str:
    return f"/staff/customers/{subject}/"


# --- customers: notes, maker-checker requests, code resend ----------------------------------


@requires(Action.CUSTOMERS_NOTES)
@require_POST
def customer_note(request: HttpRequest, subject: str) -> HttpResponse:
    form = SupportNoteForm(request.POST)
    if form.is_valid():
        try:
            support_note_add(
                subject=subject,
                body=form.cleaned_data["body"],
                author_id=_uid(request),
                now=timezone.now(),
            )
        except NotFound:
            return _customer_page(request, subject)
        except DomainError as exc:
            apply_errors(form, exc, default_field="body")
        else:
            messages.success(request, "Note added.")
            return HttpResponseRedirect(_customer_url(subject) + "#notes-title")
    return _customer_page(request, subject, status=400, extra={"note_form": form})


@requires(Action.BACKOFFICE_REQUEST)
@require_POST
def customer_action(request: HttpRequest, subject: str) -> HttpResponse:
    form = CustomerActionForm(request.POST)
    if form.is_valid():
        try:
            action_request(
                kind=form.cleaned_data["kind"],
                reason=form.cleaned_data["reason"],
                subject=subject,
                actor_id=_uid(request),
                now=timezone.now(),
            )
        except NotFound:
            return _customer_page(request, subject)
        except DomainError as exc:
            apply_errors(form, exc, default_field="kind")
        else:
            messages.success(request, "Requested. A colleague must approve it before it is done.")
            return HttpResponseRedirect(_customer_url(subject) + "#actions-title")
    return _customer_page(request, subject, status=400, extra={"action_form": form})


@requires(Action.CUSTOMERS_LIMITS_OVERRIDE)
@require_POST
def customer_limits(request: HttpRequest, subject: str) -> HttpResponse:
    """Propose a limit override; a colleague approves it on /staff/approvals/."""
    try:
        form = limit_override_form(customer_get(subject=subject), request.POST)
    except NotFound:
        return _customer_page(request, subject)
    if form.is_valid():
        data = form.cleaned_data
        last_day = data.get("last_day")
        expires = (
            datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=UTC)
            if last_day
            else None
        )
        try:
            limit_override_request(
                subject=subject,
                proposal=OverrideProposal(
                    currency=data["currency"],
                    per_transaction=data["per_transaction"],
                    daily=data["daily"],
                    monthly=data["monthly"],
                    max_balance=data["max_balance"],
                    expires_at=expires,
                ),
                reason=data["reason"],
                actor_id=_uid(request),
                now=timezone.now(),
            )
        except NotFound:
            return _customer_page(request, subject)
        except DomainError as exc:
            apply_errors(form, exc, default_field="per_transaction")
        else:
            messages.success(
                request, "Limit override requested. A colleague must approve it before it applies."
            )
            return HttpResponseRedirect(_customer_url(subject) + "#limits-title")
    return _customer_page(request, subject, status=400, extra={"limits_form": form})


@requires(Action.CUSTOMERS_CODE_RESEND)
@require_POST
def customer_resend(request: HttpRequest, subject: str) -> HttpResponse:
    try:
        customer_code_resend(subject=subject, actor_id=_uid(request), now=timezone.now())
    except NotFound:
        return _customer_page(request, subject)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "A new code was sent to the customer's phone by SMS.")
    return HttpResponseRedirect(_customer_url(subject))


# --- transactions --------------------------------------------------------------------------


def _filters(form: TransactionFilterForm) -> TransferFilter:
    data = form.cleaned_data
    return TransferFilter(
        kind=data.get("kind") or "",
        status=data.get("status") or "",
        currency=data.get("currency") or "",
        date_from=data.get("date_from"),
        date_to=data.get("date_to"),
    )


def _query(form: TransactionFilterForm) -> str:
    """The filters as a query string (for the next page and the export)."""
    return urlencode({k: v for k, v in _filters(form).as_dict().items() if v})


@requires(Action.TRANSACTIONS_VIEW)
@require_GET
def transactions(request: HttpRequest) -> HttpResponse:
    form = TransactionFilterForm(request.GET if request.GET else None)
    context: dict[str, Any] = {"form": form, "found": None, "page": None, "query": ""}
    status = 200
    if form.is_bound and not form.is_valid():
        status = 400
    elif form.is_bound and form.cleaned_data["q"]:
        context["found"] = transaction_search(query=form.cleaned_data["q"])
        if not context["found"]:
            form.add_error("q", "No payment has this reference.")
            status = 404
    else:
        filters = _filters(form) if form.is_bound else TransferFilter()
        context["page"] = transactions_list(
            filters=filters, before=str(request.GET.get("before", ""))[:80]
        )
        context["query"] = _query(form) if form.is_bound else ""
    context["can_export"] = allows(user_roles(request.user), Action.TRANSACTIONS_EXPORT)
    return _no_store(render(request, "panels/staff/transactions/list.html", context, status=status))


@requires(Action.TRANSACTIONS_EXPORT)
@require_GET
def transactions_export(request: HttpRequest) -> HttpResponse:
    form = TransactionFilterForm(request.GET)
    if not form.is_valid():
        return _no_store(
            render(
                request,
                "panels/staff/transactions/list.html",
                {"form": form, "found": None, "page": None, "query": "", "can_export": True},
                status=400,
            )
        )
    actor = f"staff:{_uid(request)}"
    lines = transactions_csv(filters=_filters(form), actor=actor, now=timezone.now())
    # When the stream ends: one more record with the rows sent and their SHA-256.
    audited = audited_export(lines, actor=actor, what="transactions.csv", clock=timezone.now)
    response = StreamingHttpResponse(audited, content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="transactions.csv"'
    response["Cache-Control"] = "no-store"
    return response  # type: ignore[return-value]


def _transaction_page(
    request: HttpRequest,
    transfer_id: uuid.UUID,
    *,
    action_form: TransferActionForm | None = None,
    status: int = 200,
) -> HttpResponse:
    try:
        detail = transaction_detail(transfer_id=transfer_id)
    except NotFound:
        return _no_store(
            render(
                request,
                "panels/staff/transactions/detail.html",
                {"missing": str(transfer_id)},
                status=404,
            )
        )
    roles = user_roles(request.user)
    context = {
        "detail": detail,
        "action_form": action_form or TransferActionForm(),
        "decision_form": DecisionForm(),
        "can_request": allows(roles, Action.BACKOFFICE_REQUEST),
        "can_approve": allows(roles, Action.BACKOFFICE_APPROVE),
        "me": request.user.pk,
    }
    return _no_store(
        render(request, "panels/staff/transactions/detail.html", context, status=status)
    )


@requires(Action.TRANSACTIONS_VIEW)
@require_GET
def transaction(request: HttpRequest, transfer_id: uuid.UUID) -> HttpResponse:
    return _transaction_page(request, transfer_id)


@requires(Action.BACKOFFICE_REQUEST)
@require_POST
def transaction_action(request: HttpRequest, transfer_id: uuid.UUID) -> HttpResponse:
    form = TransferActionForm(request.POST)
    if form.is_valid():
        try:
            action_request(
                kind=form.cleaned_data["kind"],
                reason=form.cleaned_data["reason"],
                transfer_id=transfer_id,
                actor_id=_uid(request),
                now=timezone.now(),
            )
        except NotFound:
            return _transaction_page(request, transfer_id)
        except DomainError as exc:
            apply_errors(form, exc, default_field="kind")
        else:
            messages.success(request, "Requested. A colleague must approve it before it is done.")
            return HttpResponseRedirect(f"{TRANSACTIONS_URL}{transfer_id}/")
    return _transaction_page(request, transfer_id, action_form=form, status=400)


# --- approvals -----------------------------------------------------------------------------


@requires(Action.BACKOFFICE_APPROVE)
@require_GET
def approvals(request: HttpRequest) -> HttpResponse:
    return _no_store(
        render(
            request,
            "panels/staff/approvals.html",
            {
                "pending": actions_pending(),
                "decision_form": DecisionForm(),
                "me": request.user.pk,
                "can_approve": True,  # the page's own action
            },
        )
    )


def _decide(request: HttpRequest, request_id: int, verb: str) -> HttpResponse:
    back = safe_next(request, APPROVALS_URL)
    form = DecisionForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        if verb == "approve":
            said = action_approve(
                request_id=request_id, actor_id=_uid(request), note=note, now=timezone.now()
            )
        else:
            action_reject(
                request_id=request_id, actor_id=_uid(request), note=note, now=timezone.now()
            )
            said = "Rejected: nothing was changed."
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, said)
    return HttpResponseRedirect(back)


@requires(Action.BACKOFFICE_APPROVE)
@require_POST
def approve(request: HttpRequest, request_id: int) -> HttpResponse:
    return _decide(request, request_id, "approve")


@requires(Action.BACKOFFICE_APPROVE)
@require_POST
def reject(request: HttpRequest, request_id: int) -> HttpResponse:
    return _decide(request, request_id, "reject")
