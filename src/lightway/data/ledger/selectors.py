"""Reads from the ledger: balances, statements, and the full verification."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.db.models import Sum

from lightway.data.ledger.models import Account, Posting


def account_balance(*, account: Account) -> int:
    """Balance in minor units: stored for ordinary accounts, summed for derived ones."""
    if not account.derived_balance:
        return account.balance
    total = Posting.objects.filter(account_id=account.pk).aggregate(t=Sum("amount"))["t"]
    return int(total or 0)


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


def account_statement(
    *, account: Account, before_id: int | None = None, limit: int = 50
) -> list[StatementLine]:
    """Postings newest first, each with the balance after it; page with ``before_id``."""
    balance = account_balance(account=account)
    with connection.cursor() as cur:
        if before_id is not None:
            cur.execute(
                "SELECT COALESCE(sum(amount), 0) FROM ledger_posting"
                " WHERE account_id = %s AND id >= %s",
                [account.pk, before_id],
            )
            balance -= int(cur.fetchone()[0])
            bound, params = "AND p.id < %s", [account.pk, before_id, limit]
        else:
            bound, params = "", [account.pk, limit]
        cur.execute(
            "SELECT p.id, p.entry_id, e.kind, p.leg, e.reference, e.description, p.amount,"
            " p.created_at FROM ledger_posting p JOIN ledger_journal_entry e ON e.id = p.entry_id"
            f" WHERE p.account_id = %s {bound} ORDER BY p.id DESC LIMIT %s",
            params,
        )
        rows = cur.fetchall()
    lines: list[StatementLine] = []
    for pid, eid, kind, leg, ref, desc, amount, created in rows:
        lines.append(StatementLine(pid, eid, kind, leg, ref, desc, amount, balance, created))
        balance -= amount
    return lines


@dataclass
class LedgerVerifyResult:
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


_TRIGGERS = (
    ("ledger_journal_entry", "ledger_entry_append_only"),
    ("ledger_journal_entry", "ledger_entry_balanced"),
    ("ledger_posting", "ledger_posting_append_only"),
    ("ledger_posting", "ledger_posting_apply"),
    ("ledger_posting", "ledger_posting_balanced"),
    ("ledger_hold", "ledger_hold_apply"),
    ("ledger_account", "ledger_account_guard"),
)

# (name, query returning offending rows, how to describe a row)
_CHECKS: tuple[tuple[str, str, Callable[[tuple[object, ...]], str]], ...] = (
    (
        "stored balances equal the sum of postings",
        """SELECT a.code, a.balance, COALESCE(s.total, 0) FROM ledger_account a
           LEFT JOIN (SELECT account_id, sum(amount) AS total FROM ledger_posting
                      GROUP BY account_id) s ON s.account_id = a.id
           WHERE NOT a.derived_balance AND a.balance <> COALESCE(s.total, 0)""",
        lambda r: f"account {r[0]}: stored balance {r[1]} but postings sum to {r[2]}",
    ),
    (
        "held amounts equal the sum of active holds",
        """SELECT a.code, a.held, COALESCE(h.total, 0) FROM ledger_account a
           LEFT JOIN (SELECT account_id, sum(amount) AS total FROM ledger_hold
                      WHERE status = 'active' GROUP BY account_id) h ON h.account_id = a.id
           WHERE a.held <> COALESCE(h.total, 0)""",
        lambda r: f"account {r[0]}: held {r[1]} but active holds sum to {r[2]}",
    ),
    (
        "every entry has its declared number of postings",
        """SELECT e.id, e.posting_count, COALESCE(p.n, 0) FROM ledger_journal_entry e
           LEFT JOIN (SELECT entry_id, count(*) AS n FROM ledger_posting GROUP BY entry_id) p
             ON p.entry_id = e.id
           WHERE e.posting_count <> COALESCE(p.n, 0)""",
        lambda r: f"entry {r[0]}: declares {r[1]} postings, has {r[2]}",
    ),
    (
        "every entry sums to zero per currency",
        """SELECT entry_id, currency, sum(amount) FROM ledger_posting
           GROUP BY entry_id, currency HAVING sum(amount) <> 0""",
        lambda r: f"entry {r[0]}: {r[1]} postings sum to {r[2]}, not 0",
    ),
    (
        "postings carry their account's currency",
        """SELECT p.id, p.currency, a.currency FROM ledger_posting p
           JOIN ledger_account a ON a.id = p.account_id WHERE p.currency <> a.currency""",
        lambda r: f"posting {r[0]}: currency {r[1]} on a {r[2]} account",
    ),
    (
        "no overdraft where it is not allowed",
        """SELECT a.code, bal, a.held FROM (
             SELECT a.id, CASE WHEN a.derived_balance
               THEN (SELECT COALESCE(sum(amount), 0) FROM ledger_posting WHERE account_id = a.id)
               ELSE a.balance END AS bal
             FROM ledger_account a WHERE NOT a.allow_negative) b
           JOIN ledger_account a ON a.id = b.id WHERE bal - a.held < 0""",
        lambda r: f"account {r[0]}: balance {r[1]} with {r[2]} held is overdrawn",
    ),
    (
        "all balances of a currency sum to zero",
        """SELECT currency, sum(amount) FROM ledger_posting
           GROUP BY currency HAVING sum(amount) <> 0""",
        lambda r: f"currency {r[0]}: postings sum to {r[1]}, not 0",
    ),
)


def ledger_verify(*, progress: Callable[[str], None] | None = None) -> LedgerVerifyResult:
    """Recompute every balance from postings and check every ledger invariant."""
    result = LedgerVerifyResult()
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname, t.tgname, t.tgenabled FROM pg_trigger t"
            " JOIN pg_class c ON c.oid = t.tgrelid WHERE t.tgname LIKE 'ledger_%%'"
        )
        present = {(rel, name): enabled for rel, name, enabled in cur.fetchall()}
        for table, trigger in _TRIGGERS:
            state = present.get((table, trigger))
            if state is None:
                result.problems.append(f"trigger {trigger} on {table} is missing")
            elif state == "D":
                result.problems.append(f"trigger {trigger} on {table} is disabled")
        if progress:
            progress("invariant triggers installed")
        for name, sql, describe in _CHECKS:
            cur.execute(sql)
            rows = cur.fetchall()
            result.problems.extend(describe(row) for row in rows[:20])
            if len(rows) > 20:
                result.problems.append(f"... and {len(rows) - 20} more: {name}")
            if progress:
                progress(name)
        cur.execute("SELECT count(*) FROM ledger_posting")
        result.checked = int(cur.fetchone()[0])
    return result
