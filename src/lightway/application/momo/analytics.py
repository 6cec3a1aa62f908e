"""MoMo analytics for the staff panels, derived from the database (docs/momo.md).

The Prometheus counters (``lightway_momo_*``) are incremented by the client and the flows
as things happen and reset when a process restarts; the panels instead count the stored
:class:`MomoRequest` and :class:`MomoCallback` rows over a window, so the figures are
exact and the same on every process:

- per operation: requests made, how many ended successful / failed / are still open,
  how many wait for review, the success rate of those that ended, and latency: to MoMo's
  acceptance (``accepted_at - created_at``) and to the outcome (``completed_at -
  created_at``), 50th and 95th percentile (PostgreSQL ``percentile_cont``);
- failures by operation and reason code;
- callbacks by what processing made of them;
- requests per day (or per hour for a one-day window) and outcome, for the chart.

A request belongs to the window it was *created* in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection

from lightway.data.momo.models import CallbackOutcome, RequestStatus

WINDOWS: dict[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
DEFAULT_WINDOW = "7d"
OPEN_STATUSES = (RequestStatus.NEW.value, RequestStatus.ACCEPTED.value)


@dataclass(frozen=True)
class OperationStats:
    operation: str
    product: str
    requests: int
    successful: int
    failed: int
    open: int
    needs_review: int
    accept_p50_ms: int | None
    accept_p95_ms: int | None
    complete_p50_ms: int | None
    complete_p95_ms: int | None

    @property
    def accept_p50(self) -> str:
        return duration(self.accept_p50_ms)

    @property
    def accept_p95(self) -> str:
        return duration(self.accept_p95_ms)

    @property
    def complete_p50(self) -> str:
        return duration(self.complete_p50_ms)

    @property
    def complete_p95(self) -> str:
        return duration(self.complete_p95_ms)

    @property
    def finished(self) -> int:
        return self.successful + self.failed

    @property
    def success_rate(self) -> str:
        """Successful share of the requests that ended, as "97.5%" ("" when none ended)."""
        return rate(self.successful, self.finished)


@dataclass(frozen=True)
class ReasonCount:
    operation: str
    reason: str
    count: int


@dataclass(frozen=True)
class Bucket:
    start: datetime
    successful: int
    failed: int
    open: int

    @property
    def total(self) -> int:
        return self.successful + self.failed + self.open


@dataclass(frozen=True)
class MomoAnalytics:
    since: datetime
    until: datetime
    window: str
    bucket: str  # "hour" or "day"
    operations: list[OperationStats] = field(default_factory=list)
    reasons: list[ReasonCount] = field(default_factory=list)
    callbacks: list[tuple[str, str, int]] = field(default_factory=list)  # outcome, label, n
    buckets: list[Bucket] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(o.requests for o in self.operations)

    @property
    def successful(self) -> int:
        return sum(o.successful for o in self.operations)

    @property
    def failed(self) -> int:
        return sum(o.failed for o in self.operations)

    @property
    def open(self) -> int:
        return sum(o.open for o in self.operations)

    @property
    def needs_review(self) -> int:
        return sum(o.needs_review for o in self.operations)

    @property
    def success_rate(self) -> str:
        return rate(self.successful, self.successful + self.failed)

    @property
    def callbacks_total(self) -> int:
        return sum(n for _, _, n in self.callbacks)


def rate(part: int, whole: int) -> str:
    """``part / whole`` as a percentage with one decimal ("97.5%"), rounded half up, in
    integers; "" when ``whole`` is 0."""
    if whole <= 0:
        return ""
    permille = (part * 1000 + whole // 2) // whole
    return f"{permille // 10}.{permille % 10}%"


def duration(ms: int | None) -> str:
    """A latency for people: "850 ms", "4.2 s", "3 min 20 s" ("" when unknown)."""
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        tenths = (ms + 50) // 100
        return f"{tenths // 10}.{tenths % 10} s"
    seconds = (ms + 500) // 1000
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(float(seconds) * 1000)


_OPERATIONS_SQL = """
SELECT operation, product, count(*),
       count(*) FILTER (WHERE status = 'successful'),
       count(*) FILTER (WHERE status = 'failed'),
       count(*) FILTER (WHERE status IN ('new', 'accepted')),
       count(*) FILTER (WHERE needs_review),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM accepted_at - created_at))
         FILTER (WHERE accepted_at IS NOT NULL),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM accepted_at - created_at))
         FILTER (WHERE accepted_at IS NOT NULL),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - created_at))
         FILTER (WHERE completed_at IS NOT NULL),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - created_at))
         FILTER (WHERE completed_at IS NOT NULL)
FROM momo_request
WHERE created_at >= %s AND created_at < %s
GROUP BY operation, product
ORDER BY count(*) DESC, operation
"""

_REASONS_SQL = """
SELECT operation, reason_code, count(*)
FROM momo_request
WHERE created_at >= %s AND created_at < %s AND status = 'failed'
GROUP BY operation, reason_code
ORDER BY count(*) DESC, operation, reason_code
"""

_CALLBACKS_SQL = """
SELECT outcome, count(*)
FROM momo_callback
WHERE received_at >= %s AND received_at < %s
GROUP BY outcome
ORDER BY count(*) DESC, outcome
"""

_BUCKETS_SQL = """
SELECT date_trunc(%s, created_at AT TIME ZONE 'UTC') AS bucket,
       count(*) FILTER (WHERE status = 'successful'),
       count(*) FILTER (WHERE status = 'failed'),
       count(*) FILTER (WHERE status IN ('new', 'accepted'))
FROM momo_request
WHERE created_at >= %s AND created_at < %s
GROUP BY bucket
ORDER BY bucket
"""


def momo_analytics(*, now: datetime, window: str = DEFAULT_WINDOW) -> MomoAnalytics:
    """Figures for the window ``window`` ("24h", "7d", "30d") ending at ``now``."""
    if window not in WINDOWS:
        window = DEFAULT_WINDOW
    since, until = now - WINDOWS[window], now
    bucket = "hour" if WINDOWS[window] <= timedelta(days=1) else "day"
    operations: list[OperationStats] = []
    reasons: list[ReasonCount] = []
    callbacks: list[tuple[str, str, int]] = []
    counted: dict[datetime, tuple[int, int, int]] = {}
    labels = dict(CallbackOutcome.choices)
    with connection.cursor() as cursor:
        cursor.execute(_OPERATIONS_SQL, [since, until])
        for row in cursor.fetchall():
            operations.append(
                OperationStats(
                    operation=row[0],
                    product=row[1],
                    requests=int(row[2]),
                    successful=int(row[3]),
                    failed=int(row[4]),
                    open=int(row[5]),
                    needs_review=int(row[6]),
                    accept_p50_ms=_ms(row[7]),
                    accept_p95_ms=_ms(row[8]),
                    complete_p50_ms=_ms(row[9]),
                    complete_p95_ms=_ms(row[10]),
                )
            )
        cursor.execute(_REASONS_SQL, [since, until])
        reasons = [ReasonCount(op, code or "UNSPECIFIED", int(n)) for op, code, n in cursor]
        cursor.execute(_CALLBACKS_SQL, [since, until])
        callbacks = [(outcome, labels.get(outcome, outcome), int(n)) for outcome, n in cursor]
        cursor.execute(_BUCKETS_SQL, [bucket, since, until])
        for start, ok, failed, still_open in cursor.fetchall():
            counted[start.replace(tzinfo=UTC)] = (int(ok), int(failed), int(still_open))
    return MomoAnalytics(
        since=since,
        until=until,
        window=window,
        bucket=bucket,
        operations=operations,
        reasons=reasons,
        callbacks=callbacks,
        buckets=_fill(counted, since, until, bucket),
    )


def _fill(
    counted: dict[datetime, tuple[int, int, int]], since: datetime, until: datetime, bucket: str
) -> list[Bucket]:
    """One bucket per hour/day of the window, empty ones included (a chart needs them)."""
    step = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
    start = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if bucket == "day":
        start = start.replace(hour=0)
    out: list[Bucket] = []
    while start < until:
        ok, failed, still_open = counted.get(start, (0, 0, 0))
        out.append(Bucket(start, ok, failed, still_open))
        start += step
    return out
