"""The figures the dashboards show, read from the rollups only (never from the transfer or
MoMo tables): volumes and success rates, breakdowns, time series, provider error rates by
reason, latency percentiles and the job queue.

A window picks its grain: up to two hours reads minute rows, up to three days hour rows,
beyond that day rows. The buckets of a window are those that *start* inside it; the
current minute, hour and day are included as far as they have been counted (the rollup
job runs every 10 s, samples are flushed every 5 s).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lightway.application.analytics.formats import duration, rate
from lightway.application.analytics.percentiles import histogram_quantile
from lightway.data.analytics.buckets import BOUNDS_MS
from lightway.data.analytics.models import Grain, LatencySource
from lightway.data.analytics.selectors import (
    latency_buckets,
    provider_sums,
    queue_latest,
    queue_rows,
    rollup_last_run,
    transfer_sums,
)
from lightway.data.money import Money
from lightway.data.wallets.models import TransferKind

MOMO_KINDS = (
    TransferKind.DEPOSIT.value,
    TransferKind.WITHDRAWAL.value,
    TransferKind.PAYOUT.value,
    TransferKind.REMITTANCE.value,
)
KIND_LABELS = dict(TransferKind.choices)
STEP: dict[str, timedelta] = {
    Grain.MINUTE: timedelta(minutes=1),
    Grain.HOUR: timedelta(hours=1),
    Grain.DAY: timedelta(days=1),
}


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime
    grain: str

    @property
    def label(self) -> str:
        span = self.until - self.since
        if span <= timedelta(hours=2):
            return f"last {round(span.total_seconds() / 60)} minutes"
        if span <= timedelta(days=3):
            return f"last {round(span.total_seconds() / 3600)} hours"
        return f"last {span.days} days"


def window_of(*, now: datetime, span: timedelta) -> Window:
    """The window of length ``span`` ending with the current bucket of its grain."""
    if span <= timedelta(hours=2):
        grain = Grain.MINUTE
    elif span <= timedelta(days=3):
        grain = Grain.HOUR
    else:
        grain = Grain.DAY
    until = _floor(now, grain) + STEP[grain]
    return Window(since=until - span, until=until, grain=grain)


def window_between(*, start: datetime, end: datetime) -> Window:
    """The window of whole buckets covering ``start`` to ``end``."""
    span = max(end - start, timedelta(minutes=1))
    grain = Grain.MINUTE if span <= timedelta(hours=2) else Grain.HOUR
    if span > timedelta(days=3):
        grain = Grain.DAY
    return Window(since=_floor(start, grain), until=_floor(end, grain) + STEP[grain], grain=grain)


def _floor(at: datetime, grain: str) -> datetime:
    at = at.astimezone(UTC).replace(second=0, microsecond=0)
    if grain in (Grain.HOUR, Grain.DAY):
        at = at.replace(minute=0)
    if grain == Grain.DAY:
        at = at.replace(hour=0)
    return at


# --- transfers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class VolumeRow:
    """One currency's transfers in a window."""

    currency: str
    succeeded: int
    failed: int
    reversed: int
    value_minor: int  # succeeded only
    fee_minor: int

    @property
    def value(self) -> str:
        return Money.of(self.value_minor, self.currency).format()

    @property
    def fees(self) -> str:
        return Money.of(self.fee_minor, self.currency).format()

    @property
    def total(self) -> int:
        return self.succeeded + self.failed

    @property
    def success_rate(self) -> str:
        return rate(self.succeeded, self.total)


@dataclass(frozen=True)
class BreakdownRow:
    key: str
    label: str
    succeeded: int
    failed: int

    @property
    def total(self) -> int:
        return self.succeeded + self.failed

    @property
    def failure_rate(self) -> str:
        return rate(self.failed, self.total)


@dataclass(frozen=True)
class Series:
    """Counts per bucket of a window: ``labels`` (UTC times) and one list per name."""

    starts: list[datetime]
    values: dict[str, list[int]]

    @property
    def labels(self) -> list[str]:
        fmt = (
            "%H:%M"
            if len(self.starts) < 2 or self.starts[1] - self.starts[0] < timedelta(days=1)
            else "%d %b"
        )
        return [s.strftime(fmt) for s in self.starts]

    def rows(self) -> list[tuple[str, list[int]]]:
        names = list(self.values)
        return [(label, [self.values[n][i] for n in names]) for i, label in enumerate(self.labels)]


@dataclass(frozen=True)
class TransferFigures:
    window: Window
    volumes: list[VolumeRow]
    kinds: list[BreakdownRow]
    markets: list[BreakdownRow]
    partners: list[BreakdownRow]
    series: Series

    @property
    def succeeded(self) -> int:
        return sum(v.succeeded for v in self.volumes)

    @property
    def failed(self) -> int:
        return sum(v.failed for v in self.volumes)

    @property
    def success_rate(self) -> str:
        return rate(self.succeeded, self.succeeded + self.failed)

    @property
    def error_rate(self) -> str:
        return rate(self.failed, self.succeeded + self.failed)


def _buckets(window: Window) -> list[datetime]:
    step = STEP[window.grain]
    out, at = [], window.since
    while at < window.until:
        out.append(at)
        at += step
    return out


def transfer_figures(
    *, window: Window, series_window: Window | None = None, kinds: Sequence[str] | None = None
) -> TransferFigures:
    """Transfers in ``window`` (``kinds`` only, when given): per currency, kind, market and
    partner, and a series of succeeded / failed counts per bucket of ``series_window``."""
    w = window
    rows = transfer_sums(
        grain=w.grain,
        since=w.since,
        until=w.until,
        by=("kind", "market", "currency", "partner", "outcome"),
        kinds=kinds,
    )
    volumes: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    breakdown: dict[str, dict[str, list[int]]] = {
        "kind": defaultdict(lambda: [0, 0]),
        "market": defaultdict(lambda: [0, 0]),
        "partner": defaultdict(lambda: [0, 0]),
    }
    for r in rows:
        v = volumes[r["currency"]]
        n = int(r["n"] or 0)
        if r["outcome"] == "succeeded":
            v[0] += n
            v[3] += int(r["value"] or 0)
            v[4] += int(r["fees"] or 0)
        elif r["outcome"] == "failed":
            v[1] += n
        elif r["outcome"] == "reversed":
            v[2] += n
        if r["outcome"] in ("succeeded", "failed"):
            column = 0 if r["outcome"] == "succeeded" else 1
            breakdown["kind"][r["kind"]][column] += n
            breakdown["market"][r["market"] or "—"][column] += n
            if r["partner"]:
                breakdown["partner"][r["partner"]][column] += n

    def rows_of(name: str, labels: dict[str, str] | None = None) -> list[BreakdownRow]:
        out = [
            BreakdownRow(key, (labels or {}).get(key, key), ok, bad)
            for key, (ok, bad) in breakdown[name].items()
        ]
        return sorted(out, key=lambda b: (-b.total, b.key))

    sw = series_window or w
    counted = transfer_sums(
        grain=sw.grain,
        since=sw.since,
        until=sw.until,
        by=("bucket_start", "outcome"),
        kinds=kinds,
    )
    per: dict[tuple[datetime, str], int] = {
        (r["bucket_start"].astimezone(UTC), r["outcome"]): int(r["n"] or 0) for r in counted
    }
    starts = _buckets(sw)
    series = Series(
        starts=starts,
        values={
            "succeeded": [per.get((s, "succeeded"), 0) for s in starts],
            "failed": [per.get((s, "failed"), 0) for s in starts],
        },
    )
    return TransferFigures(
        window=w,
        volumes=[
            VolumeRow(code, *values)
            for code, values in sorted(volumes.items(), key=lambda kv: kv[0])
        ],
        kinds=rows_of("kind", KIND_LABELS),
        markets=rows_of("market"),
        partners=rows_of("partner"),
        series=series,
    )


# --- provider operations (MoMo) ---------------------------------------------------------------


@dataclass(frozen=True)
class OperationRow:
    product: str
    operation: str
    created: int
    successful: int
    failed: int

    @property
    def ended(self) -> int:
        return self.successful + self.failed

    @property
    def success_rate(self) -> str:
        return rate(self.successful, self.ended)

    @property
    def error_rate(self) -> str:
        return rate(self.failed, self.ended)


@dataclass(frozen=True)
class ReasonRow:
    operation: str
    reason: str
    count: int
    share: str  # of the operation's ended requests


@dataclass(frozen=True)
class ProviderFigures:
    window: Window
    operations: list[OperationRow]
    reasons: list[ReasonRow]
    callbacks: list[tuple[str, int]]
    series: Series

    @property
    def created(self) -> int:
        return sum(o.created for o in self.operations)

    @property
    def successful(self) -> int:
        return sum(o.successful for o in self.operations)

    @property
    def failed(self) -> int:
        return sum(o.failed for o in self.operations)

    @property
    def success_rate(self) -> str:
        return rate(self.successful, self.successful + self.failed)

    @property
    def error_rate(self) -> str:
        return rate(self.failed, self.successful + self.failed)

    @property
    def callbacks_total(self) -> int:
        return sum(n for _, n in self.callbacks)


def provider_figures(*, window: Window, series_window: Window | None = None) -> ProviderFigures:
    """MoMo requests in ``window``: per operation created / successful / failed, failures
    per reason code, callbacks per processing outcome, and a series per bucket."""
    w = window
    rows = provider_sums(
        grain=w.grain,
        since=w.since,
        until=w.until,
        by=("product", "operation", "outcome", "reason"),
    )
    ops: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    reasons: dict[tuple[str, str], int] = defaultdict(int)
    callbacks: dict[str, int] = defaultdict(int)
    for r in rows:
        n = int(r["n"] or 0)
        if r["operation"] == "callback":
            callbacks[r["outcome"]] += n
            continue
        slot = ops[(r["product"], r["operation"])]
        if r["outcome"] == "created":
            slot[0] += n
        elif r["outcome"] == "successful":
            slot[1] += n
        elif r["outcome"] == "failed":
            slot[2] += n
            reasons[(r["operation"], r["reason"] or "UNSPECIFIED")] += n
    operations = sorted(
        (OperationRow(p, o, *v) for (p, o), v in ops.items()),
        key=lambda o: (-o.created, o.operation),
    )
    ended = {o.operation: 0 for o in operations}
    for o in operations:
        ended[o.operation] += o.ended
    sw = series_window or w
    counted = provider_sums(
        grain=sw.grain, since=sw.since, until=sw.until, by=("bucket_start", "operation", "outcome")
    )
    per: dict[tuple[datetime, str], int] = defaultdict(int)
    for r in counted:
        if r["operation"] != "callback":
            per[(r["bucket_start"].astimezone(UTC), r["outcome"])] += int(r["n"] or 0)
    starts = _buckets(sw)
    return ProviderFigures(
        window=w,
        operations=operations,
        reasons=sorted(
            (
                ReasonRow(op, reason, n, rate(n, ended.get(op, 0)))
                for (op, reason), n in reasons.items()
            ),
            key=lambda r: (-r.count, r.operation, r.reason),
        ),
        callbacks=sorted(callbacks.items(), key=lambda kv: (-kv[1], kv[0])),
        series=Series(
            starts=starts,
            values={
                name: [per.get((s, name), 0) for s in starts]
                for name in ("created", "successful", "failed")
            },
        ),
    )


# --- latency ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LatencyRow:
    """Percentiles of one operation's samples, estimated from its histogram buckets."""

    operation: str
    count: int
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @staticmethod
    def _text(ms: float | None) -> str:
        return duration(None if ms is None else round(ms)) or "—"

    @property
    def p50(self) -> str:
        return self._text(self.p50_ms)

    @property
    def p95(self) -> str:
        return self._text(self.p95_ms)

    @property
    def p99(self) -> str:
        return self._text(self.p99_ms)

    @property
    def mean(self) -> str:
        return self._text(self.mean_ms)


def latency_figures(
    *, window: Window, source: str, operations: Sequence[str] | None = None, top: int = 0
) -> list[LatencyRow]:
    """Per operation of ``source``, and "all" first: sample count, mean, p50, p95, p99.
    ``top`` keeps the busiest operations only."""
    rows = latency_buckets(
        grain=window.grain, since=window.since, until=window.until, source=source
    )
    per: dict[str, list[tuple[int, int]]] = defaultdict(list)
    sums: dict[str, float] = defaultdict(float)
    for r in rows:
        if operations is not None and r["operation"] not in operations:
            continue
        per[r["operation"]].append((int(r["le_ms"]), int(r["n"] or 0)))
        sums[r["operation"]] += float(r["total_ms"] or 0)
    bounds = BOUNDS_MS[LatencySource(source)]

    def row(name: str, buckets: list[tuple[int, int]], total_ms: float) -> LatencyRow:
        count = sum(n for _, n in buckets)
        return LatencyRow(
            operation=name,
            count=count,
            mean_ms=(total_ms / count) if count else None,
            p50_ms=histogram_quantile(0.5, buckets, bounds=bounds),
            p95_ms=histogram_quantile(0.95, buckets, bounds=bounds),
            p99_ms=histogram_quantile(0.99, buckets, bounds=bounds),
        )

    out = [row(op, b, sums[op]) for op, b in per.items()]
    out.sort(key=lambda r: (-r.count, r.operation))
    if top:
        out = out[:top]
    if per:
        everything = [pair for b in per.values() for pair in b]
        out.insert(0, row("all", everything, sum(sums.values())))
    return out


# --- the job queue ----------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFigures:
    todo: int | None
    lag_ms: int | None
    as_of: datetime | None
    series: Series = field(default_factory=lambda: Series([], {}))

    @property
    def lag(self) -> str:
        return duration(self.lag_ms) if self.lag_ms is not None else "—"


def queue_figures(*, now: datetime, series_window: Window | None = None) -> QueueFigures:
    latest = queue_latest(grain=Grain.MINUTE, since=now - timedelta(minutes=10))
    series = Series([], {})
    if series_window is not None:
        rows = {
            r.bucket_start.astimezone(UTC): r
            for r in queue_rows(
                grain=series_window.grain, since=series_window.since, until=series_window.until
            )
        }
        starts = _buckets(series_window)
        series = Series(
            starts=starts,
            values={
                "waiting": [rows[s].todo_max if s in rows else 0 for s in starts],
                "lag_s": [round(rows[s].lag_max_ms / 1000) if s in rows else 0 for s in starts],
            },
        )
    if latest is None:
        return QueueFigures(None, None, None, series)
    return QueueFigures(latest.todo_last, latest.lag_last_ms, latest.bucket_start, series)


def figures_as_of() -> datetime | None:
    """When the rollup job last ran (how fresh the counted figures are)."""
    return rollup_last_run()


# --- running totals (the Prometheus counters) ---------------------------------------------------


@dataclass(frozen=True)
class Totals:
    """Everything counted since the start (the ``all`` grain): labels and values only."""

    transfers: list[dict[str, Any]]
    provider: list[dict[str, Any]]
    latency: dict[tuple[str, str, str], list[tuple[int, int, float]]]  # -> (le, count, sum)
    outbox_oldest_at: datetime | None


def totals() -> Totals:
    from lightway.data.analytics.services import EPOCH, outbox_oldest_at

    grain, since, until = Grain.ALL.value, EPOCH, EPOCH + timedelta(seconds=1)
    labels = ("kind", "market", "currency", "partner", "outcome")
    transfers = transfer_sums(grain=grain, since=since, until=until, by=labels)
    provider = provider_sums(
        grain=grain, since=since, until=until, by=("product", "operation", "outcome", "reason")
    )
    latency: dict[tuple[str, str, str], list[tuple[int, int, float]]] = defaultdict(list)
    for source in (LatencySource.MOMO_ACCEPT, LatencySource.MOMO_OUTCOME):
        for r in latency_buckets(
            grain=grain, since=since, until=until, source=source, by=("operation", "result")
        ):
            latency[(source.value, r["operation"], r["result"])].append(
                (int(r["le_ms"]), int(r["n"] or 0), float(r["total_ms"] or 0))
            )
    return Totals(transfers, provider, dict(latency), outbox_oldest_at())
