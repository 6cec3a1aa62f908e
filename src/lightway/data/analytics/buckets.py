"""Fixed histogram buckets (upper bounds in milliseconds) per latency source.

The same bounds as the Prometheus histograms of ``lightway.infrastructure.metrics`` (HTTP
requests, MoMo calls), so the percentiles on the pages and a ``histogram_quantile`` over
``/metrics`` agree. A sample falls in the first bucket whose bound is at or above it
(Prometheus' ``le``); beyond the last bound it falls in ``INF_MS`` ("+Inf").
"""

from __future__ import annotations

from bisect import bisect_left

from lightway.data.analytics.models import INF_MS, LatencySource
from lightway.infrastructure import metrics


def _ms(seconds: tuple[float, ...]) -> tuple[int, ...]:
    return tuple(round(s * 1000) for s in seconds)


BOUNDS_MS: dict[str, tuple[int, ...]] = {
    LatencySource.API: _ms(metrics.HTTP_BUCKETS),
    LatencySource.MOMO_CALL: _ms(metrics.MOMO_CALL_BUCKETS),
    # From creation to acceptance / outcome: seconds to the 15-minute deadline and beyond.
    LatencySource.MOMO_ACCEPT: _ms(metrics.MOMO_OUTCOME_BUCKETS),
    LatencySource.MOMO_OUTCOME: _ms(metrics.MOMO_OUTCOME_BUCKETS),
}


def bucket_le(source: str, value_ms: float) -> int:
    """The upper bound of the bucket ``value_ms`` falls in for ``source``."""
    bounds = BOUNDS_MS[source]
    i = bisect_left(bounds, value_ms)
    return bounds[i] if i < len(bounds) else INF_MS
