"""Reads from the ledger: balances and statements (the full verification is ``verify``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from lightway.data.ledger.models import Account
from lightway.data.ledger.rollups import (
    BALANCE_BEFORE_SQL,
    NO_BOUND,
    account_archive_boundary,
    account_balance_before,
    archived_postings_check,
)


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
# costs the same on the first day and after millions of postings. The page of postings is
# taken first (an index range on (account_id, id) that stops after the page), then each
# line's entry by id (LATERAL: one lookup per line, whatever the statistics say; a plan
# that hashed or materialised the entries would read them all).
_STATEMENT_SQL = f"""
SELECT p.id, p.entry_id, e.kind, p.leg, e.reference, e.description, p.amount, p.created_at,
  {BALANCE_BEFORE_SQL} AS balance_before_page
FROM (
  SELECT id, entry_id, leg, amount, created_at FROM ledger_posting
  WHERE account_id = %(account)s AND id < %(before)s AND id > %(floor)s
  ORDER BY id DESC LIMIT %(limit)s
) p CROSS JOIN LATERAL (
  SELECT kind, reference, description FROM ledger_journal_entry
  WHERE id = p.entry_id LIMIT 1
) e
ORDER BY p.id DESC
"""


def account_statement(
    *, account: Account, before_id: int | None = None, limit: int = 50
) -> list[StatementLine]:
    """Postings newest first, each with the balance after it; page with ``before_id``.

    While months of postings are archived, the statement ends at the account's archive
    boundary (its balance there comes from the boundary snapshot); a page before it
    raises ``PostingsArchived`` naming the month to restore."""
    before = before_id or NO_BOUND
    boundary = account_archive_boundary(account_id=account.pk)
    floor = 0
    if boundary is not None:
        archived_postings_check(account_id=account.pk, before_id=before)
        floor = boundary[1]
    params = {"account": account.pk, "before": before, "limit": limit, "floor": floor}
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


# An account's postings in a posting-id range (after, upto], each with its entry, and the
# balance before the range, in one statement (one snapshot): the range is an index range on
# ledger_posting (account_id, id), materialised first so that no plan joins the whole
# posting table to its entries before filtering; the opening balance is the nearest
# balance checkpoint plus the few postings after it (``rollups.py``). One row with NULL
# postings when the range has none.
_RANGE_SQL = f"""
WITH span AS MATERIALIZED (
  SELECT p.id, p.created_at, p.entry_id, p.leg, p.amount FROM ledger_posting p
  WHERE p.account_id = %(account)s AND p.id > %(after)s AND p.id <= %(upto)s
)
SELECT d.id, d.created_at, e.kind, d.leg, d.amount, e.reference, e.description, o.opening
FROM (SELECT {BALANCE_BEFORE_SQL} AS opening) AS o
LEFT JOIN (span d JOIN ledger_journal_entry e ON e.id = d.entry_id) ON true
ORDER BY d.id
"""


@dataclass(frozen=True, slots=True)
class RangePosting:
    posting_id: int
    created_at: datetime
    kind: str
    leg: str
    amount: int
    reference: str
    description: str


def account_postings_range(
    *, account_id: int, after: int, upto: int | None
) -> tuple[int, list[RangePosting]]:
    """(the balance before the range, the account's postings with ``after < id <= upto``
    in id order); ``upto`` None: up to the newest posting. Its cost is the range's
    postings plus at most ``CHECKPOINT_EVERY`` before it, whatever the ledger holds.
    Raises ``PostingsArchived`` when ``after`` lies below the account's archive boundary
    (at the boundary itself the opening balance is its snapshot)."""
    archived_postings_check(account_id=account_id, before_id=after + 1)
    params = {
        "account": account_id,
        "after": after,
        "upto": NO_BOUND if upto is None else upto,
        "before": after + 1,
    }
    with connection.cursor() as cur:
        cur.execute(_RANGE_SQL, params)
        rows = cur.fetchall()
    opening = int(rows[0][7]) if rows else 0
    postings = [
        RangePosting(int(r[0]), r[1], str(r[2]), str(r[3]), int(r[4]), str(r[5]), str(r[6]))
        for r in rows
        if r[0] is not None
    ]
    return opening, postings
