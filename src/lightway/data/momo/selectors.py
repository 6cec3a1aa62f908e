"""Reads of MoMo requests and callbacks (no locks; the services lock what they change)."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db.models import QuerySet

from lightway.data.momo.models import (
    CallbackOutcome,
    FloatReading,
    MomoCallback,
    MomoRequest,
    RequestStatus,
)
from lightway.data.wallets.models import Transfer, TransferKind, TransferStatus, Wallet
from lightway.infrastructure.db import index_order

OPEN_STATUSES = (RequestStatus.NEW.value, RequestStatus.ACCEPTED.value)


def reference_parse(value: str) -> uuid.UUID | None:
    """``value`` as a UUID, or None when it is not one (callback paths are untrusted)."""
    try:
        return uuid.UUID(str(value).strip())
    except (ValueError, AttributeError, TypeError):
        return None


def momo_request_get(*, request_id: int) -> MomoRequest | None:
    return MomoRequest.objects.filter(pk=request_id).first()


def momo_request_by_reference(*, reference_id: str | uuid.UUID) -> MomoRequest | None:
    ref = reference_id if isinstance(reference_id, uuid.UUID) else reference_parse(reference_id)
    if ref is None:
        return None
    return MomoRequest.objects.filter(reference_id=ref).first()


def momo_request_of_transfer(*, transfer_id: uuid.UUID | str) -> MomoRequest | None:
    return MomoRequest.objects.filter(transfer_id=transfer_id).first()


def momo_requests_open(*, needs_review: bool | None = None) -> QuerySet[MomoRequest]:
    """Requests without a final outcome (new or accepted), oldest first."""
    qs = MomoRequest.objects.filter(status__in=OPEN_STATUSES)
    if needs_review is not None:
        qs = qs.filter(needs_review=needs_review)
    return qs.order_by("created_at", "id")


def momo_callbacks_of(*, request_id: int) -> QuerySet[MomoCallback]:
    return MomoCallback.objects.filter(request_id=request_id).order_by("received_at", "id")


def momo_callbacks_stale(
    *, received_before: datetime, received_after: datetime, limit: int
) -> list[int]:
    """Ids of callbacks still waiting for processing, received in the time window."""
    return list(
        MomoCallback.objects.filter(
            outcome=CallbackOutcome.RECEIVED,
            received_at__lt=received_before,
            received_at__gte=received_after,
        )
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )


def momo_payout_succeeded_to(*, client_id: int, party_token: str) -> bool:
    """Whether ``client_id`` has a succeeded MoMo payout to the number whose
    ``pii_token("msisdn", ...)`` is ``party_token``."""
    return MomoRequest.objects.filter(
        party_token=party_token,
        transfer__client_id=client_id,
        transfer__kind=TransferKind.PAYOUT,
        transfer__status=TransferStatus.SUCCEEDED,
    ).exists()


def transfers_recent_of(*, customer_id: int, limit: int) -> list[Transfer]:
    """The customer's ``limit`` newest transfers, newest first: those they made and those
    paid into one of their wallets, each with its MoMo request (if any) and destination
    wallet loaded.

    The ``limit`` newest of each side come from its own index (``transfer_client_keyset``,
    and ``transfer_incoming_keyset`` per wallet: one per currency), then the newest
    ``limit`` of those are loaded: a few bounded reads, where one query with ``client OR
    destination owner`` could use neither index and read every transfer."""
    newest = Transfer.objects.order_by("-created_at", "-id")
    wallets = list(Wallet.objects.filter(owner_id=customer_id).values_list("id", flat=True))
    # Each read walks its index from the newest end whatever the statistics say: with stale
    # ones the planner took a bitmap scan of every match and a sort (650 rows for 50).
    with index_order():
        found = set(newest.filter(client_id=customer_id).values_list("created_at", "id")[:limit])
        for wallet_id in wallets:
            incoming = newest.filter(destination_wallet_id=wallet_id)
            found.update(incoming.values_list("created_at", "id")[:limit])
    keep = [pk for _, pk in sorted(found, reverse=True)[:limit]]
    # Loaded by primary key and put in order here: with ORDER BY in the query, the planner
    # (statistics saying the table is small) walked transfer_created from the newest end
    # filtering on the ids, reading every transfer newer than the oldest kept (600 for 50).
    rows = {
        t.id: t
        for t in Transfer.objects.filter(id__in=keep).select_related(
            "momo_request", "destination_wallet"
        )
    }
    return [rows[pk] for pk in keep if pk in rows]


# One index probe (``momo_float_recent``) per account, all in one round trip: a LATERAL
# ``LIMIT 1`` per (product, environment) pair. A DISTINCT ON over the readings would walk
# every reading ever taken (one per account every few minutes, for years).
_LATEST_READINGS_SQL = """
SELECT r.* FROM unnest(%s::text[], %s::text[]) AS k(product, environment)
CROSS JOIN LATERAL (
    SELECT * FROM momo_float_reading r
    WHERE r.product = k.product AND r.target_environment = k.environment
      AND r.read_at <= %s {good}
    ORDER BY r.read_at DESC, r.id DESC
    LIMIT 1
) r
"""


def float_readings_latest(
    *, keys: list[tuple[str, str]], now: datetime, good: bool = False
) -> dict[tuple[str, str], FloatReading]:
    """The latest reading at or before ``now`` of each (product, environment) in ``keys``
    (only readings with a balance when ``good``); accounts never read are absent."""
    if not keys:
        return {}
    sql = _LATEST_READINGS_SQL.format(good="AND r.available_minor IS NOT NULL" if good else "")
    rows = FloatReading.objects.raw(sql, [[k[0] for k in keys], [k[1] for k in keys], now])
    return {(r.product, r.target_environment): r for r in rows}
