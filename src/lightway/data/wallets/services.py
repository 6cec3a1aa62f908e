"""Writes of transfers on the hot path (plain SQL: one statement, no ORM compilation)."""

from __future__ import annotations

import uuid
from datetime import datetime

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
    transfer = Transfer(
        id=transfer_id,
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
        entry_id=entry_id,
        failure_code=failure_code,
        failure_message=failure_message,
        created_at=now,
        updated_at=now,
    )
    with connection.cursor() as cur:
        cur.execute(_INSERT_SQL, [getattr(transfer, c) for c in _COLUMNS])
    transfer._state.adding = False
    return transfer
