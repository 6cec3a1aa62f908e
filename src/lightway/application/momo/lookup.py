"""A MoMo-routed transaction's status, found by any of its references (the status API,
docs/momo.md "Status and reconciliation API").

A reference may be the platform's transfer id, the ``X-Reference-Id`` LightWay sent MoMo,
MoMo's ``financialTransactionId`` or the ``externalId``. The caller sees only what the
policy lets it see (``scope_transfers``): MTN staff MoMo-routed transfers, LightWay staff
per their roles, a partner its own transfers. Anything outside that scope is "not found",
exactly like a reference that does not exist, so existence never leaks. The payer/payee is
always shown masked.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from lightway.application.errors import Conflict, NotFound, ValidationFailed
from lightway.application.momo.reconciliation.reports import party_masked
from lightway.application.text import UNPRINTABLE, text_printable
from lightway.data.momo.models import MomoRequest
from lightway.data.wallets.models import Transfer
from lightway.security.policy import Action, allows, transfer_scope


class AmbiguousReference(Conflict):
    """An externalId several transactions in scope carry (MoMo does not make it unique):
    409 ``conflict`` with ``details.matches``."""


@dataclass(frozen=True, slots=True)
class MomoTransactionView:
    transfer_id: str | None
    kind: str
    transfer_status: str
    currency: str
    amount: int
    fee: int
    failure_code: str
    created_at: datetime
    updated_at: datetime
    reference_id: str
    external_id: str
    financial_transaction_id: str
    product: str
    operation: str
    status: str
    momo_status: str
    reason_code: str
    reason_message: str
    needs_review: bool
    party: str  # masked
    submitted_at: datetime | None
    accepted_at: datetime | None
    completed_at: datetime | None


REFERENCE_MAX = 100
# A reference as the API takes it in a URL path: printable (lightway.application.text),
# no spaces and no "/" (the path's separator).
REFERENCE_PATTERN = f"^[^{UNPRINTABLE} /]{{1,{REFERENCE_MAX}}}$"


def _reference(raw: str) -> tuple[str, uuid.UUID | None]:
    value = raw or ""
    if not text_printable(value, min_length=1, max_length=REFERENCE_MAX) or not re.fullmatch(
        REFERENCE_PATTERN, value
    ):
        raise ValidationFailed(
            f"reference must be 1 to {REFERENCE_MAX} printable characters without spaces "
            "or slashes",
            details={"field": "reference"},
        )
    try:
        return value, uuid.UUID(value)
    except ValueError:
        return value, None


def momo_transaction_find(
    *, reference: str, roles: Iterable[str], user_id: int | None, partner_id: int | None = None
) -> MomoTransactionView:
    """The MoMo transaction ``reference`` names, within what ``roles`` may see.

    Raises :class:`NotFound` (also when it exists but is out of scope) or
    :class:`AmbiguousReference` when an externalId names several transactions in scope.
    """
    roles = frozenset(roles)
    value, as_uuid = _reference(reference)
    match = Q(financial_transaction_id=value) | Q(external_id=value)
    if as_uuid is not None:
        match |= Q(reference_id=as_uuid) | Q(transfer_id=as_uuid)
    visible = Q(
        transfer__in=Transfer.objects.filter(
            transfer_scope(roles=roles, user_id=user_id, partner_id=partner_id)
        )
    )
    if allows(roles, Action.TRANSACTIONS_VIEW) or allows(roles, Action.TRANSACTIONS_VIEW_MOMO):
        visible |= Q(transfer__isnull=True)  # a staff-visible request without a transfer
    found = list(
        MomoRequest.objects.filter(match)
        .filter(visible)
        .select_related("transfer")
        .order_by("-created_at")[:5]
    )
    if not found:
        raise NotFound("no MoMo transaction with this reference", details={"reference": value})
    exact = [
        r
        for r in found
        if (as_uuid is not None and (r.reference_id == as_uuid or r.transfer_id == as_uuid))
        or r.financial_transaction_id == value
    ]
    if len(exact) == 1:
        found = exact
    if len(found) > 1:
        raise AmbiguousReference(
            "this reference names several MoMo transactions; use the transfer id or the "
            "X-Reference-Id",
            details={"reference": value, "matches": len(found)},
        )
    return _view(found[0])


def _view(request: MomoRequest) -> MomoTransactionView:
    transfer: Transfer | None = request.transfer
    return MomoTransactionView(
        transfer_id=str(transfer.id) if transfer is not None else None,
        kind=transfer.kind if transfer is not None else "",
        transfer_status=transfer.status if transfer is not None else "",
        currency=request.currency,
        amount=request.amount,
        fee=transfer.fee if transfer is not None else 0,
        failure_code=transfer.failure_code if transfer is not None else "",
        created_at=request.created_at,
        updated_at=request.updated_at,
        reference_id=str(request.reference_id),
        external_id=request.external_id,
        financial_transaction_id=request.financial_transaction_id,
        product=request.product,
        operation=request.operation,
        status=request.status,
        momo_status=request.momo_status,
        reason_code=request.reason_code,
        reason_message=request.reason_message,
        needs_review=request.needs_review,
        party=party_masked(request),
        submitted_at=request.submitted_at,
        accepted_at=request.accepted_at,
        completed_at=request.completed_at,
    )
