"""Writes of the remittances app that are more than saving a row: the partner usage
counters (kept incrementally, read under their row lock)."""

from __future__ import annotations

from datetime import date

from django.db import connection

# One round trip, run after the confirm's prefund hold (under the prefund row's lock): the
# day's counter raised by the send amount, and the prefund's held amount (which the hold
# just raised) read back for the outstanding limit.
_USAGE_ADD_SQL = """
WITH usage AS (
  INSERT INTO remittances_partner_usage (partner_id, currency, day, amount)
  VALUES (%s, %s, %s, %s)
  ON CONFLICT (partner_id, currency, day)
  DO UPDATE SET amount = remittances_partner_usage.amount + EXCLUDED.amount
  RETURNING amount
)
SELECT (SELECT amount FROM usage), (SELECT held FROM ledger_account WHERE id = %s)
"""


def partner_usage_add(
    *, partner_id: int, currency: str, day: date, amount: int, prefund_account_id: int
) -> tuple[int, int]:
    """Add ``amount`` to the partner's usage of ``day``; returns (the day's usage now, the
    prefund account's held amount now). The counter row stays locked until commit, so
    concurrent confirms of the partner are checked one after the other."""
    with connection.cursor() as cur:
        cur.execute(_USAGE_ADD_SQL, [partner_id, currency, day, amount, prefund_account_id])
        used, held = cur.fetchone()
    return int(used), int(held)


def partner_usage_give_back(*, partner_id: int, currency: str, day: date, amount: int) -> None:
    """A confirmed remittance that failed or was cancelled: its send amount no longer counts
    toward the day it was confirmed in."""
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE remittances_partner_usage SET amount = GREATEST(amount - %s, 0)"
            " WHERE partner_id = %s AND currency = %s AND day = %s",
            [amount, partner_id, currency, day],
        )
