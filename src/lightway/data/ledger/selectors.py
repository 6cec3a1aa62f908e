"""Reads from the ledger: balances and statements (the full verification is ``verify``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from lightway.data.ledger.models import Account
from lightway.data.ledger.rollups import BALANCE_BEFORE_SQL, NO_BOUND, account_balance_before


def account_balance(*, account: Account) -> int:
    """Balance in minor units: stored for ordinary accounts; for derived ones the latest
    balance checkpoint plus the postings after it (``rollups.py``), not all postings."""
    if not account.derived_balance:
        return account.balance
    return account_balance_before(account_id=account.pk)


@dataclass(frozen=True, slots=True)
class StatementLine:
    posting_id: int
    entry_id: int
    kind: str
    leg: str
    reference: str
    description: str
    amount: int
    balance_after: int
    created_at: datetime


# One statement, so the balance and the page come from one snapshot even while postings
# land concurrently (READ COMMITTED gives each statement its own snapshot). The balance
# after the page's newest line is the sum of the postings before the cursor: the nearest
# balance checkpoint below it plus the few postings in between (``rollups.py``), so a page
# costs the same on the first day and after millions of postings.
_STATEMENT_SQL = f"""
SELECT p.id, p.entry_id, e.kind, p.leg, e.reference, e.description, p.amount, p.created_at,
  {BALANCE_BEFORE_SQL} AS balance_before_page
FROM ledger_posting p JOIN ledger_journal_entry e ON e.id = p.entry_id
WHERE p.account_id = %(account)s AND p.id < %(before)s
ORDER BY p.id DESC LIMIT %(limit)s
"""


def account_statement(
    *, account: Account, before_id: int | None = None, limit: int = 50
) -> list[StatementLine]:
    """Postings newest first, each with the balance after it; page with ``before_id``."""
    params = {"account": account.pk, "before": before_id or NO_BOUND, "limit": limit}
    with connection.cursor() as cur:
        cur.execute(_STATEMENT_SQL, params)
        rows = cur.fetchall()
    lines: list[StatementLine] = []
    for pid, eid, kind, leg, ref, desc, amount, created, balance_before_page in rows:
        balance = (
            int(balance_before_page) if not lines else lines[-1].balance_after - lines[-1].amount
        )
        lines.append(StatementLine(pid, eid, kind, leg, ref, desc, amount, balance, created))
    return lines
