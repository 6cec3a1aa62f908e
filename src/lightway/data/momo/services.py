"""Writes of MoMo requests, callbacks and the transfers they carry.

Callers pass ``now`` and run these inside their own ``transaction.atomic()``. The database
(migration 0002) refuses what must never happen: a changed identity, a transition outside
``new → accepted → successful|failed``, a changed final outcome, a changed raw callback.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import F

from lightway.data.momo.models import (
    CallbackOutcome,
    MomoCallback,
    MomoRequest,
    RequestStatus,
)
from lightway.data.wallets.models import Transfer, TransferStatus


def momo_request_insert(
    *,
    reference_id: uuid.UUID,
    product: str,
    operation: str,
    transfer_id: uuid.UUID,
    hold_id: int | None,
    external_id: str,
    target_environment: str,
    base_url: str,
    currency: str,
    amount: int,
    party_id_type: str,
    party_ct: bytes,
    party_token: str,
    payer_message: str,
    payee_note: str,
    deadline_at: datetime,
    next_check_at: datetime,
    now: datetime,
) -> MomoRequest:
    """A new request (status ``new``), written before MoMo is ever called."""
    return MomoRequest.objects.create(
        reference_id=reference_id,
        product=product,
        operation=operation,
        transfer_id=transfer_id,
        hold_id=hold_id,
        external_id=external_id,
        target_environment=target_environment,
        base_url=base_url,
        currency=currency,
        amount=amount,
        party_id_type=party_id_type,
        party_ct=party_ct,
        party_token=party_token,
        payer_message=payer_message,
        payee_note=payee_note,
        status=RequestStatus.NEW,
        deadline_at=deadline_at,
        next_check_at=next_check_at,
        created_at=now,
        updated_at=now,
    )


def momo_request_lock(*, request_id: int, skip_locked: bool = False) -> MomoRequest | None:
    """The request, locked ``FOR UPDATE`` until the caller's transaction ends (None when it
    does not exist, or is locked by someone else and ``skip_locked``)."""
    return (
        MomoRequest.objects.select_for_update(skip_locked=skip_locked).filter(pk=request_id).first()
    )


def momo_request_save(*, request: MomoRequest, fields: Iterable[str], now: datetime) -> None:
    """Write the listed fields of a request the caller has locked."""
    request.updated_at = now
    request.save(update_fields=sorted({*fields, "updated_at"}))


def momo_request_count(*, request_id: int, field: str, now: datetime) -> None:
    """Add one to a counter (``attempts``, ``polls``, ``callbacks``) without a lock."""
    if field not in ("attempts", "polls", "callbacks"):
        raise ValueError(f"{field} is not a counter")
    MomoRequest.objects.filter(pk=request_id).update(**{field: F(field) + 1, "updated_at": now})


def momo_requests_due_lock(*, now: datetime, limit: int) -> list[tuple[int, str]]:
    """(id, status) of open requests whose next check is due, locked ``FOR UPDATE SKIP
    LOCKED`` (two sweeps never take the same rows), most overdue first."""
    return list(
        MomoRequest.objects.select_for_update(skip_locked=True)
        .filter(
            status__in=(RequestStatus.NEW, RequestStatus.ACCEPTED),
            next_check_at__lte=now,
        )
        .order_by("next_check_at", "id")
        .values_list("id", "status")[:limit]
    )


def momo_requests_postpone(*, ids: Sequence[int], until: datetime, now: datetime) -> None:
    """Move the next check of still-open requests to ``until`` (the sweep's lease)."""
    MomoRequest.objects.filter(
        pk__in=list(ids), status__in=(RequestStatus.NEW, RequestStatus.ACCEPTED)
    ).update(next_check_at=until, updated_at=now)


def momo_callback_next_id() -> int:
    """The id the next callback row will have (its body's sealing context names it)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('momo_callback', 'id'))")
        return int(cursor.fetchone()[0])


def momo_callback_insert(
    *,
    id: int,
    reference_id: str,
    request_id: int | None,
    method: str,
    content_type: str,
    body: bytes,
    remote_addr: str,
    claimed_status: str,
    now: datetime,
) -> MomoCallback:
    """Store a callback as received (``outcome`` ``received``); ``body`` is the sealed body."""
    return MomoCallback.objects.create(
        id=id,
        reference_id=reference_id,
        request_id=request_id,
        method=method,
        content_type=content_type,
        body=body,
        remote_addr=remote_addr,
        claimed_status=claimed_status,
        outcome=CallbackOutcome.RECEIVED,
        received_at=now,
    )


def momo_callbacks_for_request(*, request_id: int, limit: int) -> int:
    """How many callbacks are stored for a request, counting at most ``limit`` (an index
    range scan bounded by the limit, however many arrive)."""
    return MomoCallback.objects.filter(request_id=request_id).values("id")[:limit].count()


def momo_callback_lock(*, callback_id: int) -> MomoCallback | None:
    return MomoCallback.objects.select_for_update().filter(pk=callback_id).first()


def momo_callback_finish(
    *, callback: MomoCallback, outcome: str, request_id: int | None, now: datetime
) -> None:
    """Record what processing made of a callback (its raw fields never change)."""
    callback.outcome = CallbackOutcome(outcome)
    callback.request_id = request_id
    callback.processed_at = now
    callback.save(update_fields=["outcome", "request", "processed_at"])


# --- the transfer a request carries ------------------------------------------------------

OPEN_TRANSFER = (TransferStatus.SUBMITTED.value, TransferStatus.PENDING.value)


def momo_transfer_lock(*, transfer_id: uuid.UUID) -> Transfer:
    return Transfer.objects.select_for_update().get(pk=transfer_id)


def momo_transfer_move(
    *,
    transfer_id: uuid.UUID,
    status: str,
    now: datetime,
    entry_id: int | None = None,
    failure_code: str = "",
    failure_message: str = "",
) -> bool:
    """Move a MoMo transfer that is still open (submitted/pending) to ``status``; False
    when it is not open any more. The wallets trigger checks the transition, that a success
    carries its entry (posted with the transfer id as reference) and a failure its code."""
    fields: dict[str, Any] = {"status": status, "updated_at": now}
    if entry_id is not None:
        fields["entry_id"] = entry_id
    if status == TransferStatus.FAILED:
        fields["failure_code"] = failure_code[:64]
        fields["failure_message"] = failure_message[:300]
    return (
        Transfer.objects.filter(pk=transfer_id, status__in=OPEN_TRANSFER)
        .exclude(status=status)
        .update(**fields)
        == 1
    )
