"""Percentiles from fixed histogram buckets, the Prometheus way.

The rollups keep, per bucket upper bound ``le``, how many samples fell at or below it and
above the previous bound. A quantile is found as Prometheus' ``histogram_quantile`` does:
walk the cumulative counts to the bucket holding rank ``q * total`` and interpolate
linearly inside it (between the previous bound, 0 for the first bucket, and ``le``). When
the rank falls in the last, unbounded bucket, the answer is the highest finite bound (the
estimate cannot be higher than what the buckets can tell). So p50/p95/p99 are estimates
whose error is bounded by the bucket widths, and they agree with a ``histogram_quantile``
over the same Prometheus histograms (same bounds, ``lightway.infrastructure.metrics``).
"""

from __future__ import annotations

from collections.abc import Iterable

from lightway.data.analytics.models import INF_MS


def histogram_quantile(
    q: float, buckets: Iterable[tuple[int, int]], *, bounds: Iterable[int] = ()
) -> float | None:
    """The ``q``-quantile (0..1) of the samples in ``buckets``: (upper bound in ms, count
    in that bucket, not cumulative; empty buckets may be left out). ``bounds`` are every
    finite bound of the histogram (a bucket's lower edge is the bound before it, even when
    that bucket is empty). None when there is no sample."""
    counts: dict[int, int] = {le: 0 for le in bounds}
    for le, count in buckets:
        counts[le] = counts.get(le, 0) + count
    ordered = sorted(counts.items())
    total = sum(count for _, count in ordered)
    if total <= 0:
        return None
    rank = q * total
    cumulative = 0
    lower = 0.0
    finite = [le for le, _ in ordered if le != INF_MS]
    for le, count in ordered:
        if count <= 0:
            lower = float(le)
            continue
        if cumulative + count >= rank:
            if le == INF_MS:
                return float(max(finite)) if finite else None
            inside = (rank - cumulative) / count
            return lower + (le - lower) * inside
        cumulative += count
        lower = float(le)
    return float(max(finite)) if finite else None


def merge(histograms: Iterable[Iterable[tuple[int, int]]]) -> list[tuple[int, int]]:
    """Several histograms of the same bounds added bucket by bucket."""
    added: dict[int, int] = {}
    for histogram in histograms:
        for le, count in histogram:
            added[le] = added.get(le, 0) + count
    return sorted(added.items())
