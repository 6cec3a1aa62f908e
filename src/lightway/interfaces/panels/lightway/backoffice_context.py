"""What the back office adds to the customer page (``views._customer_page``): the overview
(wallets, devices, history, notes, requests), the forms and what the viewer may do."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from lightway.application.backoffice.customers import customer_overview
from lightway.application.backoffice.limits import customer_limit_currencies
from lightway.application.identity.pii import CustomerView
from lightway.interfaces.panels.lightway.backoffice_forms import (
    CustomerActionForm,
    DecisionForm,
    LimitOverrideForm,
    SupportNoteForm,
)
from lightway.security.policy import Action, allows, user_roles


def limit_override_form(customer: CustomerView, data: Any = None) -> LimitOverrideForm:
    codes = customer_limit_currencies(user_id=customer.user_id, country=customer.country)
    return LimitOverrideForm(data, currencies=codes)


def customer_backoffice_context(
    request: HttpRequest, customer: CustomerView, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    roles = user_roles(request.user)
    customer_id = customer.user_id
    context: dict[str, Any] = {
        "overview": customer_overview(
            customer_id=customer_id, before=str(request.GET.get("before", ""))[:80]
        ),
        "can_note": allows(roles, Action.CUSTOMERS_NOTES),
        "can_request": allows(roles, Action.BACKOFFICE_REQUEST),
        "can_approve": allows(roles, Action.BACKOFFICE_APPROVE),
        "can_resend": allows(roles, Action.CUSTOMERS_CODE_RESEND),
        "can_transactions": allows(roles, Action.TRANSACTIONS_VIEW),
        "note_form": SupportNoteForm(),
        "action_form": CustomerActionForm(),
        "can_override": allows(roles, Action.CUSTOMERS_LIMITS_OVERRIDE),
        "limits_form": limit_override_form(customer),
        "decision_form": DecisionForm(),
        "me": request.user.pk,
    }
    context.update(extra or {})
    return context
