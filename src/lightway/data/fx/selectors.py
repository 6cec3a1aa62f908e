"""Reading FX rates."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q

from lightway.data.fx.models import FxRate, RateStatus


def fx_rate_latest(*, base: str, quote: str, now: datetime) -> FxRate | None:
    """The pair's latest rate approved at or before ``now`` (one probe of
    ``fx_rate_current``), or None. Staleness is the caller's judgement."""
    return (
        FxRate.objects.filter(
            base=base, quote=quote, status=RateStatus.APPROVED, approved_at__lte=now
        )
        .order_by("-approved_at")
        .first()
    )


def fx_rate_latest_from(*, base: str, quote: str, source: str) -> FxRate | None:
    """The pair's latest approved rate from one source (``fx_rate_source_current``)."""
    return (
        FxRate.objects.filter(base=base, quote=quote, source=source, status=RateStatus.APPROVED)
        .order_by("-approved_at")
        .first()
    )


def fx_rates_pending(*, limit: int = 100) -> list[FxRate]:
    """Proposed rates waiting for a decision, oldest first (``fx_rate_pending``)."""
    return list(FxRate.objects.filter(status=RateStatus.PROPOSED).order_by("created_at")[:limit])


def fx_rate_history(
    *, base: str, quote: str, before: tuple[datetime, int] | None, limit: int
) -> list[FxRate]:
    """The pair's rates (every status), newest first, keyset paged by (created_at, id):
    ``before`` is the last row of the previous page (``fx_rate_history``)."""
    rows = FxRate.objects.filter(base=base, quote=quote)
    if before is not None:
        at, pk = before
        rows = rows.filter(Q(created_at__lt=at) | Q(created_at=at, pk__lt=pk))
    return list(rows.order_by("-created_at", "-id")[:limit])
