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


_NO_BOUND = 2**63 - 1

# One statement, so the balance and the page come from one snapshot even while postings
# land concurrently (READ COMMITTED gives each statement its own snapshot).
_STATEMENT_SQL = """
SELECT p.id, p.entry_id, e.kind, p.leg, e.reference, e.description, p.amount, p.created_at,
  (SELECT CASE WHEN a.derived_balance
            THEN (SELECT COALESCE(sum(amount), 0) FROM ledger_posting WHERE account_id = a.id)
            ELSE a.balance END
     FROM ledger_account a WHERE a.id = %(account)s)
  - (SELECT COALESCE(sum(amount), 0) FROM ledger_posting
      WHERE account_id = %(account)s AND id >= %(before)s) AS balance_before_page
FROM ledger_posting p JOIN ledger_journal_entry e ON e.id = p.entry_id
WHERE p.account_id = %(account)s AND p.id < %(before)s
ORDER BY p.id DESC LIMIT %(limit)s
"""


def account_statement(
    *, account: Account, before_id: int | None = None, limit: int = 50
) -> list[StatementLine]:
    """Postings newest first, each with the balance after it; page with ``before_id``."""
    params = {"account": account.pk, "before": before_id or _NO_BOUND, "limit": limit}
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


@dataclass
class LedgerVerifyResult:
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# Every trigger that carries a ledger, transfer or commission invariant: verify reports any
# that is missing or disabled.
_TRIGGERS = (
    ("ledger_journal_entry", "ledger_entry_append_only"),
    ("ledger_journal_entry", "ledger_entry_no_truncate"),
    ("ledger_journal_entry", "ledger_entry_balanced"),
    ("ledger_posting", "ledger_posting_append_only"),
    ("ledger_posting", "ledger_posting_no_truncate"),
    ("ledger_posting", "ledger_posting_apply"),
    ("ledger_posting", "ledger_posting_balanced"),
    ("ledger_hold", "ledger_hold_apply"),
    ("ledger_hold", "ledger_hold_no_truncate"),
    ("ledger_account", "ledger_account_guard"),
    ("ledger_account", "ledger_account_insert_guard"),
    ("ledger_account", "ledger_account_no_truncate"),
    ("wallets_transfer", "wallets_transfer_transition"),
    ("wallets_transfer", "wallets_transfer_entry_check"),
    ("wallets_transfer", "wallets_transfer_no_truncate"),
    ("wallets_wallet", "wallets_wallet_guard"),
    ("wallets_wallet", "wallets_wallet_no_truncate"),
    ("commission_record", "commission_record_append_only"),
    ("commission_record", "commission_record_no_truncate"),
    ("commission_record", "commission_record_check"),
    ("commission_fee_schedule", "commission_schedule_guard"),
    ("commission_fee_split", "commission_split_guard"),
    ("commission_fee_band", "commission_band_guard"),
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
        "postings point at existing accounts",
        """SELECT p.id, p.account_id FROM ledger_posting p
           LEFT JOIN ledger_account a ON a.id = p.account_id WHERE a.id IS NULL""",
        lambda r: f"posting {r[0]}: account {r[1]} does not exist",
    ),
    (
        "customer accounts keep stored, non-negative balances",
        """SELECT code FROM ledger_account WHERE kind IN ('wallet', 'imto_prefund')
           AND (allow_negative OR derived_balance)""",
        lambda r: f"account {r[0]}: a customer account that may go negative or has no balance",
    ),
    (
        "commission records cite existing fee schedules",
        """SELECT c.id, c.schedule_id FROM commission_record c
           LEFT JOIN commission_fee_schedule s ON s.id = c.schedule_id WHERE s.id IS NULL""",
        lambda r: f"commission record {r[0]}: fee schedule {r[1]} does not exist",
    ),
    (
        "succeeded wallet-to-wallet transfers match their entries",
        """SELECT t.id, t.amount, t.fee, p.src, p.dst FROM wallets_transfer t
           JOIN wallets_wallet s ON s.id = t.source_wallet_id
           JOIN wallets_wallet d ON d.id = t.destination_wallet_id
           CROSS JOIN LATERAL (
             SELECT COALESCE(sum(amount) FILTER (WHERE account_id = s.account_id), 0) AS src,
                    COALESCE(sum(amount) FILTER (WHERE account_id = d.account_id), 0) AS dst
             FROM ledger_posting WHERE entry_id = t.entry_id) p
           WHERE t.kind = 'p2p' AND t.status = 'succeeded'
             AND (p.src <> -(t.amount + t.fee) OR p.dst <> t.amount)""",
        lambda r: (
            f"transfer {r[0]}: amount {r[1]} + fee {r[2]}, but its entry moved {r[3]} / {r[4]}"
        ),
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
            " JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal"
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
