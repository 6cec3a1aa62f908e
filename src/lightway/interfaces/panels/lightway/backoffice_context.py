"""What the back office adds to the customer page (``views._customer_page``): the overview
(wallets, devices, history, notes, requests), the forms and what the viewer may do."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from lightway.application.backoffice.customers import customer_overview
from lightway.interfaces.panels.lightway.backoffice_forms import (
    CustomerActionForm,
    DecisionForm,
    SupportNoteForm,
)
from lightway.security.policy import Action, allows, user_roles


def customer_backoffice_context(
    request: HttpRequest, customer_id: int, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    roles = user_roles(request.user)
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
        "decision_form": DecisionForm(),
        "me": request.user.pk,
    }
    context.update(extra or {})
    return context
