"""Reading FX rates."""

from __future__ import annotations

from datetime import datetime

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
