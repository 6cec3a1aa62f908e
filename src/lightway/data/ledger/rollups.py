"""Balance checkpoints: balances and statements whose cost does not grow with the ledger.

An account's balance is the sum of its postings. House accounts keep no stored balance
(``derived_balance``, so posting to them locks no row), and a statement needs the balance
at any point in the past; summing the postings for either reads the account's whole
history. Instead, ``ledger_balance_checkpoint`` holds the balance of an account rolled up
to one of its postings, and a balance at any point is

    the latest checkpoint before that point + the account's postings after it.

That is exact (a checkpoint is a sum, not an estimate), and the tail is bounded: the
periodic ``ledger_checkpoints_advance`` job (``interfaces/tasks.py``, every 10 s) writes a
checkpoint

- every ``CHECKPOINT_EVERY`` postings of an account (so a statement page deep in the past
  sums at most that many postings),
- at the last posting of each run for derived-balance accounts (so their current balance
  sums only the postings since the last run),
- at the last posting of each run (that is the job's horizon: the next run starts after
  the highest rolled-up posting).

**The horizon.** A checkpoint at posting X claims that no posting of the account with an
id below X will ever appear. Posting ids come from a sequence in the order postings are
inserted, not committed: a transaction can hold posting 100 uncommitted while 101 is
visible. So the job takes X = the highest *committed* posting id together with the
snapshot it was read in, waits until every transaction that was in progress in that
snapshot has ended, and only then rolls up to X. A posting with a lower id that was still
invisible belonged to one of those transactions: its entry row was inserted before its
postings in the same statement (``services.entry_post``), so the transaction had its id
before the posting had its own, which was before X was allocated and committed. If the
wait times out (a long writer), the run rolls up nothing and the next one tries again;
balances stay exact, the tail is just longer for a while.

The database refuses a checkpoint that does not follow from the previous checkpoint of its
account and the postings in between, and any UPDATE, DELETE or TRUNCATE of the table
(migration ``0005_balance_checkpoints``, tests in ``tests/test_ledger_rollups.py``).
``ledger_checkpoints_verify`` recomputes every checkpoint from the postings.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date

from django.db import connection, transaction
from django.db.models import BigIntegerField
from django.db.models.expressions import RawSQL

from lightway.data.ledger.errors import PostingsArchived

logger = logging.getLogger(__name__)

CHECKPOINT_EVERY = 1000
ADVANCE_BATCH = 50_000
ADVANCE_MAX_BATCHES = 20
HORIZON_WAIT_SECONDS = 5.0
# pg_advisory_xact_lock key that serializes concurrent runs of the job ("ledgrcp").
_ADVANCE_LOCK_KEY = 0x6C6564677263


# The balance of account %(account)s from its postings with id < %(before)s: the latest
# checkpoint below that bound, or the account's archive boundary (``ledger_posting_boundary``,
# ledger 0010: its snapshot at its last posting of the newest detached month) if that is
# later, plus the postings after it (an index range on ledger_posting (account_id, id), at
# most CHECKPOINT_EVERY rows plus the unrolled tail). It never sums a posting at or below
# the boundary; a bound at or below it is refused by the callers (``selectors.py``). A
# scalar subquery, so callers embed it and read page and balance in one snapshot.
BALANCE_BEFORE_SQL = """(
  SELECT COALESCE(c.balance, 0) + COALESCE((
      SELECT sum(p.amount) FROM ledger_posting p
      WHERE p.account_id = %(account)s AND p.id > COALESCE(c.posting_id, 0)
        AND p.id < %(before)s), 0)
  FROM (SELECT 1) AS one LEFT JOIN LATERAL (
    SELECT k.posting_id, k.balance FROM (
      (SELECT posting_id, balance FROM ledger_balance_checkpoint
       WHERE account_id = %(account)s AND posting_id < %(before)s
       ORDER BY posting_id DESC LIMIT 1)
      UNION ALL
      SELECT last_posting_id, balance FROM ledger_posting_boundary
      WHERE account_id = %(account)s AND last_posting_id < %(before)s
    ) k ORDER BY k.posting_id DESC LIMIT 1) c ON true
)"""

# An account's archive boundary: (month, last posting id) of its snapshot in the newest
# detached month, if any (ledger 0010).
_BOUNDARY_SQL = """
SELECT month, last_posting_id FROM ledger_posting_boundary WHERE account_id = %s
"""


def account_archive_boundary(*, account_id: int) -> tuple[date, int] | None:
    """(month, last posting id) below which the account's postings are archived, or None."""
    with connection.cursor() as cur:
        cur.execute(_BOUNDARY_SQL, [account_id])
        row = cur.fetchone()
    return None if row is None else (row[0], int(row[1]))


def archived_postings_check(*, account_id: int, before_id: int) -> None:
    """Raise ``PostingsArchived`` when the balance before ``before_id`` needs postings of a
    detached month (exactly at the boundary, ``before_id`` = last id + 1, the snapshot
    answers)."""
    boundary = account_archive_boundary(account_id=account_id)
    if boundary is not None and before_id <= boundary[1]:
        month = f"{boundary[0]:%Y-%m}"
        raise PostingsArchived(
            f"account {account_id}: its postings up to {boundary[1]} are in the archived"
            f" month {month}; restore it first: lightway archive restore --month {month}",
            month=month,
        )


NO_BOUND = 2**63 - 1

# The current balance of the ledger_account row of the outer query: stored, or for a
# derived-balance account its latest checkpoint plus the postings after it.
_ACCOUNT_BALANCE_EXPRESSION = """CASE WHEN ledger_account.derived_balance THEN (
  SELECT COALESCE(c.balance, 0) + COALESCE((
      SELECT sum(p.amount) FROM ledger_posting p
      WHERE p.account_id = ledger_account.id AND p.id > COALESCE(c.posting_id, 0)), 0)
  FROM (SELECT 1) AS one LEFT JOIN LATERAL (
    SELECT posting_id, balance FROM ledger_balance_checkpoint
    WHERE account_id = ledger_account.id ORDER BY posting_id DESC LIMIT 1) c ON true
) ELSE ledger_account.balance END"""


def account_balance_expression() -> RawSQL:
    """The current balance as an annotation on ``Account`` querysets (one query for a
    whole admin page instead of one sum over the postings per row)."""
    # A constant SQL text with no parameters: nothing from outside reaches it.
    return RawSQL(_ACCOUNT_BALANCE_EXPRESSION, (), output_field=BigIntegerField())  # noqa: S611


def account_balance_before(*, account_id: int, before_id: int | None = None) -> int:
    """Sum of the account's postings with ``id < before_id`` (all of them when None)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT " + BALANCE_BEFORE_SQL,
            {"account": account_id, "before": before_id or NO_BOUND},
        )
        return int(cur.fetchone()[0])


# --- the job ---------------------------------------------------------------------------------

_HORIZON_SQL = """
SELECT COALESCE(max(id), 0), pg_current_snapshot()::text FROM ledger_posting
"""

# Transactions of that snapshot still running. Not counted: our own (a caller inside a
# transaction sees its own postings, and they roll back together with its checkpoints),
# and those positively seen running in another database of the server (they cannot write
# this ledger). A transaction whose database cannot be seen (pg_stat_activity hides other
# roles' sessions from a role without pg_read_all_stats) is waited for.
_STILL_RUNNING_SQL = """
SELECT count(*) FROM pg_snapshot_xip(%s::pg_snapshot) AS x
WHERE pg_xact_status(x) = 'in progress'
  AND x IS DISTINCT FROM pg_current_xact_id_if_assigned()
  AND NOT EXISTS (
    SELECT 1 FROM pg_stat_activity a
    WHERE a.backend_xid::text = (x::text::numeric %% 4294967296)::text
      AND a.datid <> (SELECT oid FROM pg_database WHERE datname = current_database()))
"""

# One batch: the next postings after the highest checkpoint, up to the horizon; a
# checkpoint every CHECKPOINT_EVERY postings of an account, at each derived-balance
# account's last posting of the batch, and at the batch's last posting (the next start).
_ADVANCE_SQL = """
WITH start AS (
  SELECT COALESCE(max(posting_id), 0) AS after FROM ledger_balance_checkpoint
), batch AS (
  SELECT p.id, p.account_id, p.amount FROM ledger_posting p, start
  WHERE p.id > start.after AND p.id <= %(horizon)s
  ORDER BY p.id LIMIT %(batch)s
), last AS (
  SELECT max(id) AS id FROM batch
), numbered AS (
  SELECT b.id, b.account_id,
         sum(b.amount) OVER w AS running,
         row_number() OVER w AS n,
         count(*) OVER (PARTITION BY b.account_id) AS total
  FROM batch b
  WINDOW w AS (PARTITION BY b.account_id ORDER BY b.id)
), prev AS (
  -- where the account stood before this batch: its latest checkpoint plus its postings
  -- after that one up to the start (earlier runs rolled them up without a checkpoint of
  -- this account; fewer than %(every)s of them, an index range on (account_id, id))
  SELECT acc.account_id, a.derived_balance,
         COALESCE(c.balance, 0) + COALESCE(t.amount, 0) AS balance,
         COALESCE(c.postings, 0) + t.n AS postings
  FROM (SELECT DISTINCT account_id FROM batch) acc
  CROSS JOIN start
  JOIN ledger_account a ON a.id = acc.account_id
  LEFT JOIN LATERAL (
    SELECT posting_id, balance, postings FROM ledger_balance_checkpoint k
    WHERE k.account_id = acc.account_id ORDER BY k.posting_id DESC LIMIT 1) c ON true
  CROSS JOIN LATERAL (
    SELECT sum(p.amount) AS amount, count(*) AS n FROM ledger_posting p
    WHERE p.account_id = acc.account_id AND p.id > COALESCE(c.posting_id, 0)
      AND p.id <= start.after) t
), written AS (
  INSERT INTO ledger_balance_checkpoint (posting_id, account_id, balance, postings)
  SELECT n.id, n.account_id, prev.balance + n.running, prev.postings + n.n
  FROM numbered n JOIN prev USING (account_id) CROSS JOIN last
  WHERE (prev.postings + n.n) %% %(every)s = 0
     OR (n.n = n.total AND prev.derived_balance)
     OR n.id = last.id
  ORDER BY n.id
  RETURNING 1
)
SELECT (SELECT count(*) FROM batch), (SELECT count(*) FROM written)
"""


@dataclass(frozen=True, slots=True)
class AdvanceResult:
    postings: int  # postings rolled up by this run
    checkpoints: int  # checkpoints written
    horizon: int  # the highest posting id the run could roll up to
    waited: bool  # False when in-flight transactions did not end in time (nothing done)


def ledger_horizon_wait(*, timeout_seconds: float = HORIZON_WAIT_SECONDS) -> tuple[int, bool]:
    """(X, ready): the highest committed posting id, and whether every transaction that
    could still add a posting below it has ended within ``timeout_seconds``."""
    with connection.cursor() as cur:
        cur.execute(_HORIZON_SQL)
        horizon, snapshot = cur.fetchone()
        deadline = time.monotonic() + timeout_seconds
        delay = 0.01
        while True:
            cur.execute(_STILL_RUNNING_SQL, [snapshot])
            if int(cur.fetchone()[0]) == 0:
                return int(horizon), True
            if time.monotonic() >= deadline:
                return int(horizon), False
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def ledger_checkpoints_advance(
    *,
    batch: int = ADVANCE_BATCH,
    max_batches: int = ADVANCE_MAX_BATCHES,
    every: int = CHECKPOINT_EVERY,
    wait_seconds: float = HORIZON_WAIT_SECONDS,
) -> AdvanceResult:
    """Roll balances up to the current horizon (at most ``batch * max_batches`` postings)."""
    horizon, ready = ledger_horizon_wait(timeout_seconds=wait_seconds)
    if not ready:
        logger.warning("ledger checkpoints: in-flight transactions outlived the wait")
        return AdvanceResult(0, 0, horizon, False)
    postings = checkpoints = 0
    for _ in range(max_batches):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVANCE_LOCK_KEY])
            cur.execute(_ADVANCE_SQL, {"horizon": horizon, "batch": batch, "every": every})
            rolled, written = (int(v) for v in cur.fetchone())
        postings += rolled
        checkpoints += written
        if rolled < batch:
            break
    if postings:
        logger.info(
            "ledger checkpoints advanced",
            extra={"postings": postings, "checkpoints": checkpoints, "horizon": horizon},
        )
    return AdvanceResult(postings, checkpoints, horizon, True)


# --- verification (reads everything: for `lightway ledger verify`, never a request) ----------

# While months of postings are archived, a checkpoint is recomputed from the account's
# boundary snapshot (ledger 0010) plus the postings after it; checkpoints below the
# boundary are not compared (their postings left with the month).
_VERIFY_SQL = """
SELECT c.posting_id, c.account_id, c.balance, c.postings, s.balance, s.postings
FROM ledger_balance_checkpoint c
LEFT JOIN ledger_posting_boundary b ON b.account_id = c.account_id
JOIN LATERAL (
  SELECT COALESCE(b.balance, 0) + COALESCE(sum(p.amount), 0) AS balance,
         COALESCE(b.postings, 0) + count(*) AS postings
  FROM ledger_posting p
  WHERE p.account_id = c.account_id AND p.id > COALESCE(b.last_posting_id, 0)
    AND p.id <= c.posting_id) s ON true
WHERE c.posting_id >= COALESCE(b.last_posting_id, 0)
  AND (c.balance <> s.balance OR c.postings <> s.postings)
ORDER BY c.posting_id
LIMIT 20
"""


def ledger_checkpoints_verify() -> list[str]:
    """Every checkpoint recomputed from the postings; one line per one that is wrong."""
    with connection.cursor() as cur:
        cur.execute(_VERIFY_SQL)
        return [
            f"checkpoint at posting {pid} of account {acc}: {bal} over {n} postings, "
            f"but the postings sum to {real_bal} over {real_n}"
            for pid, acc, bal, n, real_bal, real_n in cur.fetchall()
        ]
