"""Writes to the analytics rollups: take the outbox, add deltas, prune old minutes.

Every write is an ``INSERT ... SELECT FROM unnest(...) ON CONFLICT DO UPDATE`` adding the
deltas of a batch to its rows, the rows in key order (two writers meeting on the same rows
take them in the same order). Each delta goes to its minute, hour, day and ``all`` rows at
once (``grain_buckets``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.db import connection

from lightway.data.analytics.models import Grain

if TYPE_CHECKING:
    from lightway.data.analytics.samples import SampleKey

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def grain_buckets(at: datetime) -> tuple[tuple[str, datetime], ...]:
    """The (grain, bucket start) rows a fact at ``at`` counts in."""
    at = at.astimezone(UTC)
    minute = at.replace(second=0, microsecond=0)
    hour = minute.replace(minute=0)
    day = hour.replace(hour=0)
    return (
        (Grain.MINUTE.value, minute),
        (Grain.HOUR.value, hour),
        (Grain.DAY.value, day),
        (Grain.ALL.value, EPOCH),
    )


def _upsert(
    table: str,
    keys: Sequence[tuple[str, str]],
    adds: Sequence[tuple[str, str]],
    rows: Sequence[tuple[Any, ...]],
    *,
    extra_set: str = "",
) -> None:
    """Add ``rows`` (key values then added values, one tuple each) to ``table``.
    ``keys`` / ``adds`` are (column, PostgreSQL array type) pairs."""
    if not rows:
        return
    columns = [c for c, _ in (*keys, *adds)]
    types = [t for _, t in (*keys, *adds)]
    arrays = [list(col) for col in zip(*sorted(rows), strict=True)]
    unnest = ", ".join(f"%s::{t}[]" for t in types)
    sets = ", ".join(f"{c} = {table}.{c} + EXCLUDED.{c}" for c, _ in adds)
    if extra_set:
        sets += ", " + extra_set
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"SELECT * FROM unnest({unnest}) "
        f"ON CONFLICT ({', '.join(c for c, _ in keys)}) DO UPDATE SET {sets}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)


# --- the outbox --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    id: int
    source: str
    ref: str
    kind: str
    product: str
    currency: str
    amount: int
    fee: int
    client_id: int | None
    outcome: str
    reason: str
    accept_ms: int | None
    complete_ms: int | None
    at: datetime


def outbox_take(*, batch: int) -> list[Event]:
    """Delete and return up to ``batch`` committed outbox events, oldest id first. Rows
    another run holds are skipped; rows not yet committed are invisible and stay for a
    later run. Call inside the transaction that also writes their rollups."""
    with connection.cursor() as cursor:
        cursor.execute(
            """DELETE FROM analytics_outbox WHERE id IN (
                   SELECT id FROM analytics_outbox ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)
               RETURNING id, source, ref, kind, product, currency, amount, fee, client_id,
                         outcome, reason, accept_ms, complete_ms, at""",
            [batch],
        )
        rows = cursor.fetchall()
    events = [Event(*row) for row in rows]
    events.sort(key=lambda e: e.id)
    return events


def outbox_oldest_at() -> datetime | None:
    """When the oldest event still waiting to be counted happened (None: none waits)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT at FROM analytics_outbox ORDER BY id LIMIT 1")
        row = cursor.fetchone()
    return row[0] if row else None


@dataclass(frozen=True)
class ClientFacts:
    country: str
    realm: str
    partner: str


def client_facts(client_ids: Iterable[int]) -> dict[int, ClientFacts]:
    """Country, realm and partner code of each client (one indexed read)."""
    ids = sorted(set(client_ids))
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT p.user_id, p.country, p.realm, coalesce(pa.code, '')
                 FROM identity_profile p LEFT JOIN identity_partner pa ON pa.id = p.partner_id
                WHERE p.user_id = ANY(%s)""",
            [ids],
        )
        return {int(u): ClientFacts(c or "", r or "", code) for u, c, r, code in cursor}


# --- adding deltas -----------------------------------------------------------------------------

TransferKey = tuple[str, datetime, str, str, str, str, str]  # grain .. outcome
ProviderKey = tuple[str, datetime, str, str, str, str, str, str]
LatencyKey = tuple[str, datetime, str, str, str, int]


def transfer_rollup_add(deltas: dict[TransferKey, list[int]]) -> None:
    """Add (count, amount, fee) per (grain, bucket, kind, market, currency, partner, outcome)."""
    _upsert(
        "analytics_transfer_rollup",
        [
            ("grain", "text"),
            ("bucket_start", "timestamptz"),
            ("kind", "text"),
            ("market", "text"),
            ("currency", "text"),
            ("partner", "text"),
            ("outcome", "text"),
        ],
        [("count", "bigint"), ("amount", "bigint"), ("fee", "bigint")],
        [(*k, *v) for k, v in deltas.items()],
    )


def provider_rollup_add(deltas: dict[ProviderKey, list[int]]) -> None:
    """Add (count, amount) per (grain, bucket, provider, product, operation, outcome,
    reason, currency)."""
    _upsert(
        "analytics_provider_rollup",
        [
            ("grain", "text"),
            ("bucket_start", "timestamptz"),
            ("provider", "text"),
            ("product", "text"),
            ("operation", "text"),
            ("outcome", "text"),
            ("reason", "text"),
            ("currency", "text"),
        ],
        [("count", "bigint"), ("amount", "bigint")],
        [(*k, *v) for k, v in deltas.items()],
    )


def latency_deltas_add(deltas: dict[LatencyKey, list[float]]) -> None:
    """Add (count, sum_ms) per (grain, bucket, source, operation, result, le_ms)."""
    _upsert(
        "analytics_latency_rollup",
        [
            ("grain", "text"),
            ("bucket_start", "timestamptz"),
            ("source", "text"),
            ("operation", "text"),
            ("result", "text"),
            ("le_ms", "bigint"),
        ],
        [("count", "bigint"), ("sum_ms", "float8")],
        [(k[0], k[1], k[2], k[3], k[4], k[5], int(v[0]), float(v[1])) for k, v in deltas.items()],
    )


def latency_rollup_add(samples: Iterable[tuple[SampleKey, list[float]]]) -> None:
    """Add flushed in-process samples (``samples.py``) to every grain of their minute."""
    deltas: dict[LatencyKey, list[float]] = defaultdict(lambda: [0, 0.0])
    for key, (count, total) in samples:
        for grain, start in grain_buckets(key.minute):
            slot = deltas[(grain, start, key.source, key.operation, key.result, key.le_ms)]
            slot[0] += count
            slot[1] += total
    latency_deltas_add(deltas)


def queue_rollup_add(*, at: datetime, depths: dict[str, tuple[int, int]]) -> None:
    """One sample of the job queue: per queue, (jobs waiting, oldest due job's age in ms)."""
    rows = []
    for queue, (todo, lag_ms) in depths.items():
        for grain, start in grain_buckets(at):
            rows.append((grain, start, queue, 1, todo, todo, lag_ms, todo, lag_ms))
    if not rows:
        return
    rows.sort()
    arrays = [list(col) for col in zip(*rows, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO analytics_queue_rollup
                   (grain, bucket_start, queue, samples, todo_sum, todo_max, lag_max_ms,
                    todo_last, lag_last_ms)
               SELECT * FROM unnest(%s::text[], %s::timestamptz[], %s::text[], %s::bigint[],
                                    %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[],
                                    %s::bigint[])
               ON CONFLICT (grain, bucket_start, queue) DO UPDATE SET
                   samples = analytics_queue_rollup.samples + EXCLUDED.samples,
                   todo_sum = analytics_queue_rollup.todo_sum + EXCLUDED.todo_sum,
                   todo_max = greatest(analytics_queue_rollup.todo_max, EXCLUDED.todo_max),
                   lag_max_ms = greatest(analytics_queue_rollup.lag_max_ms, EXCLUDED.lag_max_ms),
                   todo_last = EXCLUDED.todo_last,
                   lag_last_ms = EXCLUDED.lag_last_ms""",
            arrays,
        )


def queue_depths(*, now: datetime) -> dict[str, tuple[int, int]]:
    """Per queue with jobs waiting: how many are ``todo`` and the age (ms) of the oldest
    one that is due. procrastinate's index on (queue_name, status) keeps this to the
    waiting jobs; queues with none report zero through the ``all`` queue row."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT queue_name, count(*),
                      coalesce(max(extract(epoch FROM %s - scheduled_at) * 1000)
                               FILTER (WHERE scheduled_at IS NOT NULL AND scheduled_at <= %s), 0)
                 FROM procrastinate_jobs WHERE status = 'todo' GROUP BY queue_name""",
            [now, now],
        )
        rows = cursor.fetchall()
        # Jobs deferred without a schedule are due at once; their age is that of their
        # "deferred" event (the oldest such job has the smallest id).
        cursor.execute(
            """SELECT j.queue_name, extract(epoch FROM %s - min(e.at)) * 1000
                 FROM (SELECT DISTINCT ON (queue_name) id, queue_name FROM procrastinate_jobs
                        WHERE status = 'todo' AND scheduled_at IS NULL
                        ORDER BY queue_name, id) j
                 JOIN procrastinate_events e ON e.job_id = j.id
                GROUP BY j.queue_name""",
            [now],
        )
        unscheduled = {q: float(age or 0) for q, age in cursor.fetchall()}
    out: dict[str, tuple[int, int]] = {}
    total, oldest = 0, 0
    for queue, todo, lag in rows:
        age = max(float(lag or 0), unscheduled.get(queue, 0.0), 0.0)
        out[str(queue)] = (int(todo), int(age))
        total += int(todo)
        oldest = max(oldest, int(age))
    out["all"] = (total, oldest)
    return out


def rollup_state_advance(
    *, source: str, counted: int, now: datetime, newest_event_at: datetime | None
) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO analytics_rollup_state (source, counted, last_run_at, newest_event_at)
               VALUES (%s, %s, %s, %s)
               ON CONFLICT (source) DO UPDATE SET
                   counted = analytics_rollup_state.counted + EXCLUDED.counted,
                   last_run_at = EXCLUDED.last_run_at,
                   newest_event_at = greatest(analytics_rollup_state.newest_event_at,
                                              EXCLUDED.newest_event_at)""",
            [source, counted, now, newest_event_at],
        )


ROLLUP_TABLES = (
    "analytics_transfer_rollup",
    "analytics_provider_rollup",
    "analytics_latency_rollup",
    "analytics_queue_rollup",
)


def rollups_prune(*, grain: str, before: datetime) -> int:
    """Delete the ``grain`` rows of buckets that started before ``before`` (the key's
    leading columns make it an index range)."""
    deleted = 0
    with connection.cursor() as cursor:
        for table in ROLLUP_TABLES:
            cursor.execute(
                f"DELETE FROM {table} WHERE grain = %s AND bucket_start < %s", [grain, before]
            )
            deleted += cursor.rowcount or 0
    return deleted
