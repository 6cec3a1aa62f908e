"""Reads of wallets on the transfer hot path (plain SQL: one query, no ORM compilation)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import connection

from lightway.data.wallets.models import Transfer


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


_TRANSFER_FIELDS = [f.attname for f in Transfer._meta.concrete_fields]
_BY_KEY_SQL = (
    f"SELECT {', '.join(f.column for f in Transfer._meta.concrete_fields)} FROM wallets_transfer"
    " WHERE client_id = %s AND idempotency_key = %s"
)


def transfer_by_key(*, client_id: int, idempotency_key: str) -> Transfer | None:
    """The transfer a client recorded under an Idempotency-Key (one unique-index read)."""
    with connection.cursor() as cur:
        cur.execute(_BY_KEY_SQL, [client_id, idempotency_key])
        row = cur.fetchone()
    if row is None:
        return None
    return Transfer.from_db(connection.alias, _TRANSFER_FIELDS, row)


# ``ledger verify``: the usage counters and pending inbound amounts recomputed from the
# transfers (set-based: one grouped pass over wallets_transfer each).
USAGE_CHECKS: tuple[tuple[str, str], ...] = (
    (
        "transfers count in their payer's local day",
        # The rule of wallets_usage_day, recomputed set-based (one join, not a function call
        # per transfer: 3.5 s -> well under 1 s over a million transfers).
        """SELECT t.id, t.usage_day, x.day
           FROM wallets_transfer t
           LEFT JOIN identity_profile p ON p.user_id = t.client_id AND p.realm = 'customer'
           CROSS JOIN LATERAL (SELECT CASE
             WHEN t.kind IN ('p2p', 'withdrawal', 'payout') AND p.user_id IS NOT NULL
             THEN (t.created_at AT TIME ZONE wallets_market_tz(p.country))::date END AS day) x
           WHERE t.usage_day IS DISTINCT FROM x.day""",
    ),
    (
        "usage counters equal the payments they count",
        """WITH counted AS (
             SELECT client_id, currency, usage_day, amount FROM wallets_transfer
             WHERE usage_day IS NOT NULL AND status NOT IN ('failed', 'reversed')
           ), expected AS (
             SELECT client_id AS customer_id, currency, 'day' AS period,
                    usage_day AS period_start, sum(amount) AS amount
             FROM counted GROUP BY client_id, currency, usage_day
             UNION ALL
             SELECT client_id, currency, 'month', date_trunc('month', usage_day)::date,
                    sum(amount)
             FROM counted GROUP BY client_id, currency, date_trunc('month', usage_day)
           )
           SELECT coalesce(e.customer_id, u.customer_id), coalesce(e.currency, u.currency),
                  coalesce(e.period, u.period), coalesce(e.period_start, u.period_start),
                  coalesce(u.amount, 0), coalesce(e.amount, 0)
           FROM expected e FULL JOIN wallets_usage_counter u
             ON u.customer_id = e.customer_id AND u.currency = e.currency
            AND u.period = e.period AND u.period_start = e.period_start
           WHERE coalesce(u.amount, 0) <> coalesce(e.amount, 0)
             -- a period some of whose payments are in an archived month of transfers (a
             -- local day is within a day of its UTC month): they cannot be recounted
             AND NOT EXISTS (
               SELECT 1 FROM archive_manifest am
               WHERE am.table_name = 'wallets_transfer' AND am.state IN ('detached', 'dropped')
                 AND am.month < coalesce(e.period_start, u.period_start)
                                + CASE coalesce(e.period, u.period) WHEN 'day' THEN 2 ELSE 33 END
                 AND (am.month + interval '1 month')::date
                     > coalesce(e.period_start, u.period_start) - 1)""",
    ),
    (
        "pending inbound amounts equal the open deposits",
        """WITH expected AS (
             SELECT client_id AS customer_id, currency, sum(amount - fee) AS amount
             FROM wallets_transfer
             WHERE kind = 'deposit' AND amount > fee
               AND status IN ('created', 'validated', 'held', 'submitted', 'pending')
             GROUP BY client_id, currency
           )
           SELECT coalesce(e.customer_id, i.customer_id), coalesce(e.currency, i.currency),
                  coalesce(i.amount, 0), coalesce(e.amount, 0)
           FROM expected e FULL JOIN wallets_inbound_pending i
             ON i.customer_id = e.customer_id AND i.currency = e.currency
           WHERE coalesce(i.amount, 0) <> coalesce(e.amount, 0)""",
    ),
)


def usage_counters_problems(*, limit: int = 20) -> list[str]:
    """What is wrong with the usage counters and pending inbound amounts (empty: nothing)."""
    problems: list[str] = []
    with connection.cursor() as cur:
        for name, sql in USAGE_CHECKS:
            cur.execute(sql)
            rows = cur.fetchall()
            problems.extend(f"{name}: {', '.join(str(v) for v in row)}" for row in rows[:limit])
            if len(rows) > limit:
                problems.append(f"... and {len(rows) - limit} more: {name}")
    return problems
