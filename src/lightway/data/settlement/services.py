"""Writes of the settlement records; callers pass ``now`` and hold the transaction.

Lock order (docs/settlement.md, "Closing a window"): the market's advisory lock, then the
window row, then instruction rows, then ledger account rows (the settlement entry). A
payment takes its account rows first and the market's advisory lock in shared mode last
(migration 0002); it never locks a window row, so the two orders cannot meet in a cycle.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection

from lightway.data.settlement.models import Position, SettlementWindow, WindowState

# The class key of pg_advisory_xact_lock(int, int) for settlement windows ("LWST").
LOCK_CLASS = 0x4C575354


def market_lock(*, market: str) -> None:
    """The market's advisory lock, exclusive, until the transaction ends: no payment can
    pick the market's open window meanwhile (they take it shared)."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [LOCK_CLASS, market])


def window_open_id(*, market: str, now: datetime) -> int:
    """The market's open window, opened now when there is none (the payments' function)."""
    with connection.cursor() as cur:
        cur.execute("SELECT settlement_window_for(%s, %s)", [market, now])
        return int(cur.fetchone()[0])


def window_lock(*, window_id: int) -> SettlementWindow | None:
    return SettlementWindow.objects.select_for_update().filter(pk=window_id).first()


def window_open_lock(*, market: str) -> SettlementWindow | None:
    return (
        SettlementWindow.objects.select_for_update()
        .filter(market=market, state=WindowState.OPEN)
        .first()
    )


def window_insert_open(*, market: str, now: datetime) -> SettlementWindow:
    return SettlementWindow.objects.create(market=market, state=WindowState.OPEN, opened_at=now)


# One pass over the window's deltas (its index): the sums per counterparty and account,
# labelled by the account's kind; prefund positions were funded when the payment was made.
_POSITIONS_SQL = """
WITH s AS (
  SELECT counterparty, account_id, currency, sum(amount) AS total, count(*) AS n
  FROM settlement_position_delta WHERE window_id = %(w)s
  GROUP BY counterparty, account_id, currency
)
INSERT INTO settlement_position
  (window_id, counterparty, account_id, account_kind, component, currency, amount, deltas, cash)
SELECT %(w)s, s.counterparty, s.account_id, a.kind,
       CASE a.kind WHEN 'momo_float' THEN 'momo_float:' || a.owner_ref
                   WHEN 'commission_payable' THEN 'commission'
                   ELSE 'prefund' END,
       s.currency, s.total, s.n, a.kind <> 'imto_prefund'
FROM s JOIN ledger_account a ON a.id = s.account_id
ORDER BY s.counterparty, s.account_id
"""


def positions_insert(*, window_id: int) -> list[Position]:
    """Sum the window's deltas into its positions (once: the unique index refuses twice)."""
    with connection.cursor() as cur:
        cur.execute(_POSITIONS_SQL, {"w": window_id})
    return list(Position.objects.filter(window_id=window_id).order_by("counterparty", "component"))


_CARRY_SQL = """
INSERT INTO settlement_position_delta
  (window_id, counterparty, account_id, currency, amount, entry_id, transfer_id, carried_from,
   created_at)
SELECT %(to)s, counterparty, account_id, currency, sum(amount), NULL, NULL, %(from)s, %(now)s
FROM settlement_position_delta WHERE window_id = %(from)s
GROUP BY counterparty, account_id, currency
HAVING sum(amount) <> 0
"""


def deltas_carry(*, from_window_id: int, to_window_id: int, now: datetime) -> int:
    """Move an aborted window's sums into the open window (one row per account)."""
    with connection.cursor() as cur:
        cur.execute(_CARRY_SQL, {"from": from_window_id, "to": to_window_id, "now": now})
        return int(cur.rowcount)
