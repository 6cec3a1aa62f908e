"""Reads of the remittances app (keyset pages, lookups by the partner's references)."""

from __future__ import annotations

import uuid
from datetime import datetime

from lightway.data.remittances.models import (
    BeneficiaryValidation,
    PartnerLimit,
    Quote,
    Remittance,
    RemittanceReversal,
    ReversalState,
)

MAX_PAGE = 200


def quote_of_partner(*, partner_id: int, quote_id: uuid.UUID) -> Quote | None:
    return Quote.objects.filter(partner_id=partner_id, pk=quote_id).first()


def validation_of_partner(
    *, partner_id: int, validation_id: uuid.UUID
) -> BeneficiaryValidation | None:
    return BeneficiaryValidation.objects.filter(partner_id=partner_id, pk=validation_id).first()


def remittance_of_partner(*, partner_id: int, remittance_id: uuid.UUID) -> Remittance | None:
    return Remittance.objects.filter(partner_id=partner_id, pk=remittance_id).first()


def remittance_by_external_id(*, partner_id: int, external_id: str) -> Remittance | None:
    return Remittance.objects.filter(partner_id=partner_id, external_id=external_id).first()


def remittance_by_key(*, partner_id: int, idempotency_key: str) -> Remittance | None:
    return Remittance.objects.filter(partner_id=partner_id, idempotency_key=idempotency_key).first()


def remittance_of_transfer(*, transfer_id: uuid.UUID) -> Remittance | None:
    return Remittance.objects.filter(transfer_id=transfer_id).first()


def remittances_page(
    *,
    partner_id: int,
    state: str | None,
    updated_since: datetime | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Remittance]:
    """The partner's remittances in (updated_at, id) order, after the keyset ``after``:
    one range read of ``remittances_changed`` (or ``remittances_state_changed``) whatever
    the table holds."""
    rows = Remittance.objects.filter(partner_id=partner_id)
    if state:
        rows = rows.filter(state=state)
    if updated_since is not None:
        rows = rows.filter(updated_at__gte=updated_since)
    if after is not None:
        at, last_id = after
        rows = rows.filter(updated_at__gte=at).exclude(updated_at=at, id__lte=last_id)
    limit = max(1, min(limit, MAX_PAGE))
    return list(rows.order_by("updated_at", "id")[:limit])


def partner_limit_for(*, partner_id: int, currency: str) -> PartnerLimit | None:
    return PartnerLimit.objects.filter(partner_id=partner_id, currency=currency).first()


def partner_limits(*, partner_id: int | None = None) -> list[PartnerLimit]:
    rows = PartnerLimit.objects.select_related("partner")
    if partner_id is not None:
        rows = rows.filter(partner_id=partner_id)
    return list(rows.order_by("partner__code", "currency"))


def remittance_get(*, remittance_id: uuid.UUID) -> Remittance | None:
    """Any partner's remittance (staff pages)."""
    return Remittance.objects.select_related("partner").filter(pk=remittance_id).first()


def remittance_by_partner_reference(*, partner_code: str, external_id: str) -> Remittance | None:
    """A remittance by its partner's code and ``external_id`` (unique per partner)."""
    return (
        Remittance.objects.select_related("partner")
        .filter(partner__code=partner_code, external_id=external_id)
        .first()
    )


def remittance_reversals_of(*, remittance_id: uuid.UUID) -> list[RemittanceReversal]:
    """A remittance's reversal requests, newest first (a handful at most)."""
    return list(RemittanceReversal.objects.filter(remittance_id=remittance_id).order_by("-id"))


def remittance_reversals_pending(*, limit: int) -> list[RemittanceReversal]:
    """Reversal requests waiting for a decision, oldest first: one range read of the
    partial index ``remittances_reversal_pending`` (only pending rows are in it)."""
    return list(
        RemittanceReversal.objects.select_related("remittance__partner")
        .filter(state=ReversalState.PENDING)
        .order_by("requested_at", "id")[: max(1, min(limit, MAX_PAGE))]
    )
