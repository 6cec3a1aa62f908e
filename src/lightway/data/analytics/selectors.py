"""Reads of the analytics rollups. Every read is a range of one grain's buckets (the leading
columns of each table's key), so its cost depends on the window and the number of labels,
never on how much history the platform holds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import Max, Sum

from lightway.data.analytics.models import (
    LatencyRollup,
    ProviderRollup,
    QueueRollup,
    RollupState,
    TransferRollup,
)


def transfer_sums(
    *,
    grain: str,
    since: datetime,
    until: datetime,
    by: Sequence[str],
    kinds: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Transfers per ``by`` columns (of kind, market, currency, partner, outcome, and
    ``bucket_start``): count, amount and fee summed over the window."""
    rows = TransferRollup.objects.filter(
        grain=grain, bucket_start__gte=since, bucket_start__lt=until
    )
    if kinds is not None:
        rows = rows.filter(kind__in=list(kinds))
    return list(
        rows.values(*by)
        .annotate(n=Sum("count"), value=Sum("amount"), fees=Sum("fee"))
        .order_by(*by)
    )


def provider_sums(
    *,
    grain: str,
    since: datetime,
    until: datetime,
    by: Sequence[str],
    operations: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Provider operations per ``by`` columns (product, operation, outcome, reason,
    currency, ``bucket_start``): count and amount summed over the window."""
    rows = ProviderRollup.objects.filter(
        grain=grain, bucket_start__gte=since, bucket_start__lt=until
    )
    if operations is not None:
        rows = rows.filter(operation__in=list(operations))
    return list(rows.values(*by).annotate(n=Sum("count"), value=Sum("amount")).order_by(*by))


def latency_buckets(
    *,
    grain: str,
    since: datetime,
    until: datetime,
    source: str,
    by: Sequence[str] = ("operation",),
) -> list[dict[str, Any]]:
    """Histogram bucket counts of ``source`` per ``by`` columns and ``le_ms``."""
    return list(
        LatencyRollup.objects.filter(
            grain=grain, bucket_start__gte=since, bucket_start__lt=until, source=source
        )
        .values(*by, "le_ms")
        .annotate(n=Sum("count"), total_ms=Sum("sum_ms"))
        .order_by(*by, "le_ms")
    )


def queue_rows(*, grain: str, since: datetime, until: datetime, queue: str = "all") -> list[Any]:
    """The queue samples of ``queue`` per bucket, oldest first."""
    return list(
        QueueRollup.objects.filter(
            grain=grain, bucket_start__gte=since, bucket_start__lt=until, queue=queue
        ).order_by("bucket_start")
    )


def queue_latest(*, grain: str, since: datetime) -> QueueRollup | None:
    """The newest queue bucket of every queue together (queue "all") since ``since``."""
    return (
        QueueRollup.objects.filter(grain=grain, bucket_start__gte=since, queue="all")
        .order_by("-bucket_start")
        .first()
    )


def rollup_last_run() -> datetime | None:
    """When the rollup job last counted events of any source."""
    at: datetime | None = RollupState.objects.aggregate(at=Max("last_run_at"))["at"]
    return at
