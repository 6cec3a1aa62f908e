"""Writes of transfers on the hot path (plain SQL: one statement, no ORM compilation)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import connection

from lightway.data.wallets.models import Transfer

_COLUMNS = (
    "id",
    "kind",
    "status",
    "client_id",
    "idempotency_key",
    "request_hash",
    "source_wallet_id",
    "destination_wallet_id",
    "currency",
    "amount",
    "fee",
    "description",
    "entry_id",
    "failure_code",
    "failure_message",
    "created_at",
    "updated_at",
)
_INSERT_SQL = (
    f"INSERT INTO wallets_transfer ({', '.join(_COLUMNS)})"
    f" VALUES ({', '.join(['%s'] * len(_COLUMNS))})"
)


def transfer_insert(
    *,
    transfer_id: uuid.UUID,
    kind: str,
    status: str,
    client_id: int,
    idempotency_key: str,
    request_hash: str,
    source_wallet_id: uuid.UUID | None,
    destination_wallet_id: uuid.UUID | None,
    currency: str,
    amount: int,
    fee: int,
    description: str,
    now: datetime,
    entry_id: int | None = None,
    failure_code: str = "",
    failure_message: str = "",
) -> Transfer:
    """Insert a transfer row; the database enforces idempotency, amounts and states."""
    transfer = transfer_new(
        transfer_id=transfer_id,
        kind=kind,
        status=status,
        client_id=client_id,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        source_wallet_id=source_wallet_id,
        destination_wallet_id=destination_wallet_id,
        currency=currency,
        amount=amount,
        fee=fee,
        description=description,
        now=now,
        entry_id=entry_id,
        failure_code=failure_code,
        failure_message=failure_message,
    )
    with connection.cursor() as cur:
        cur.execute(_INSERT_SQL, [getattr(transfer, c) for c in _COLUMNS])
    transfer._state.adding = False
    return transfer


def transfer_new(*, transfer_id: uuid.UUID, now: datetime, **values: Any) -> Transfer:
    """A transfer row not yet written (``created_at`` and ``updated_at`` are ``now``)."""
    return Transfer(id=transfer_id, created_at=now, updated_at=now, **values)


def transfer_posted_record(
    transfer: Transfer,
    *,
    entry_description: str,
    legs: Sequence[tuple[int, int, str]],
    limits: Mapping[str, object] | None,
    commission: Mapping[str, object] | None,
    audit: Mapping[str, object] | None,
) -> Transfer:
    """Record ``transfer`` (not yet written, no entry) as a posted payment in one statement
    (``payments_record``, wallets migration 0008): the journal entry with ``legs`` (account
    id order), the transfer row, the limits (``limits``: what ``payments_limits_check``
    needs besides the payment, or None for no check), the commission records
    (``commission``: schedule, kind and parties, or None) and the audit record (``audit``:
    its normalised data, to which the entry id is added; None for none). Raises what the
    database raises; nothing is left of the payment then."""
    t = transfer
    with connection.cursor() as cur:
        cur.execute(
            _POSTED_SQL,
            [
                t.id,
                t.kind,
                t.status,
                t.client_id,
                t.idempotency_key,
                t.request_hash,
                t.source_wallet_id,
                t.destination_wallet_id,
                t.currency,
                t.amount,
                t.fee,
                entry_description,
                t.created_at,
                json.dumps([list(leg) for leg in legs]),
                _json(limits),
                _json(commission),
                _json(audit),
            ],
        )
        t.entry_id = cur.fetchone()[0]
    t._state.adding = False
    return t


_POSTED_SQL = (
    "SELECT payments_record("
    "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s::jsonb,"
    " %s::jsonb)"
)


def _json(value: Mapping[str, object] | None) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def transfer_reverse(*, transfer_id: uuid.UUID, reversal_entry_id: int, now: datetime) -> bool:
    """``succeeded`` -> ``reversed`` with the entry that undid it; False when the transfer is
    not ``succeeded`` (already reversed, or never paid). The wallets trigger checks the
    entry was posted for this transfer (``reference``); the settlement trigger books the
    reversal entry's position deltas in the open window (data/settlement)."""
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE wallets_transfer SET status = 'reversed', reversal_entry_id = %s,"
            " updated_at = %s WHERE id = %s AND status = 'succeeded'",
            [reversal_entry_id, now, transfer_id],
        )
        return bool(cur.rowcount == 1)
