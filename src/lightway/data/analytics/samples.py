"""Latency samples, counted in the process and flushed to the minute rollups.

Every API request (``RequestMetricsMiddleware``) and every HTTP call to MoMo (the MoMo
client) calls :func:`latency_record`. The sample is added to a small in-memory histogram
keyed by (source, operation, result, minute, bucket); about every
``LIGHTWAY_ANALYTICS_FLUSH_SECONDS`` (5 s) the process writes what it holds with one
``INSERT ... ON CONFLICT DO UPDATE`` (``services.latency_rollup_add``), rows in a stable
order. So a request pays for a dictionary update, not a database write, and no payment's
transaction ever holds a rollup row: the flush never runs inside an open transaction (it
waits for the next sample recorded outside one, or for the rollup job, which flushes its
own process each run). A process that dies loses at most the last few seconds of samples,
as its Prometheus histograms would.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection

from lightway.data.analytics.buckets import bucket_le

logger = logging.getLogger(__name__)

# Samples held while the database cannot be reached are capped: beyond this many distinct
# keys new samples are dropped (and counted in the log) rather than growing without end.
MAX_KEYS = 50_000


@dataclass(frozen=True, order=True)
class SampleKey:
    minute: datetime
    source: str
    operation: str
    result: str
    le_ms: int


_lock = threading.Lock()
_pending: dict[SampleKey, list[float]] = {}  # key -> [count, sum_ms]
_last_flush = time.monotonic()
_dropped = 0


def _flush_interval() -> float:
    return float(getattr(settings, "LIGHTWAY_ANALYTICS_FLUSH_SECONDS", 5.0))


def latency_record(
    *, source: str, operation: str, result: str, at: datetime, elapsed_ms: float
) -> None:
    """Count one sample of ``elapsed_ms`` taken at ``at``; flush if one is due."""
    global _dropped
    minute = at.astimezone(UTC).replace(second=0, microsecond=0)
    key = SampleKey(minute, source, operation[:100], result[:16], bucket_le(source, elapsed_ms))
    with _lock:
        slot = _pending.get(key)
        if slot is None:
            if len(_pending) >= MAX_KEYS:
                _dropped += 1
                return
            slot = _pending[key] = [0, 0.0]
        slot[0] += 1
        slot[1] += max(elapsed_ms, 0.0)
    latency_flush_if_due()


def latency_flush_if_due() -> None:
    """Flush when the interval has passed and this thread is not inside a transaction;
    never raises (a failed flush keeps the samples for the next one)."""
    if time.monotonic() - _last_flush < _flush_interval():
        return
    try:
        if connection.in_atomic_block:
            return
        latency_flush()
    except Exception as exc:  # the caller is a request or a MoMo call: never fail it
        logger.warning("analytics: latency flush failed", extra={"error": type(exc).__name__})


def latency_pending() -> int:
    """How many samples wait to be flushed in this process."""
    with _lock:
        return int(sum(slot[0] for slot in _pending.values()))


def latency_flush() -> int:
    """Write this process's samples to the rollups now; returns how many samples."""
    global _last_flush, _dropped
    from lightway.data.analytics.services import latency_rollup_add

    with _lock:
        taken = dict(_pending)
        _pending.clear()
        _last_flush = time.monotonic()
        dropped, _dropped = _dropped, 0
    if dropped:
        logger.warning("analytics: latency samples dropped", extra={"count": dropped})
    if not taken:
        return 0
    try:
        latency_rollup_add(sorted(taken.items()))
    except BaseException:
        _put_back(taken.items())
        raise
    return int(sum(slot[0] for slot in taken.values()))


def _put_back(items: Iterable[tuple[SampleKey, list[float]]]) -> None:
    with _lock:
        for key, (count, total) in items:
            slot = _pending.setdefault(key, [0, 0.0])
            slot[0] += count
            slot[1] += total


def latency_discard() -> None:
    """Forget unflushed samples (tests)."""
    with _lock:
        _pending.clear()
