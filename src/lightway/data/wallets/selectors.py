"""Reads of wallets on the transfer hot path (plain SQL: one query, no ORM compilation)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import connection


@dataclass(frozen=True, slots=True)
class WalletState:
    id: uuid.UUID
    owner_id: int
    currency: str
    account_id: int
    status: str
    balance: int
    held: int

    @property
    def available(self) -> int:
        return self.balance - self.held


_WALLETS_SQL = """
SELECT w.id, w.owner_id, w.currency, w.account_id, a.status, a.balance, a.held
FROM wallets_wallet w JOIN ledger_account a ON a.id = w.account_id
WHERE w.id IN (%s, %s)
"""


def wallet_states(*, first: uuid.UUID, second: uuid.UUID) -> dict[uuid.UUID, WalletState]:
    """Two wallets with their account state (unlocked read), keyed by wallet id."""
    with connection.cursor() as cur:
        cur.execute(_WALLETS_SQL, [first, second])
        return {row[0]: WalletState(*row) for row in cur.fetchall()}
