"""The rate a quote may use now: the pair's latest approved rate, direct or inverse, refused
when it is older than the source's maximum age (quoting stops for that pair)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from lightway.application.errors import PaymentRefused
from lightway.application.fx.pricing import RateView
from lightway.data.fx.models import FxRate
from lightway.data.fx.selectors import fx_rate_latest

# How old a rate may be, per source, before quoting stops for its pair (settings
# FX_MAX_AGE_SECONDS overrides per source; docs/operations.md). ECB publishes once a TARGET
# working day at about 16:00 CET: a Friday rate must last the weekend and a holiday Monday.
DEFAULT_MAX_AGE = {
    "ecb": timedelta(days=4),
    "peg": None,  # a fixed parity does not age
}
FALLBACK_MAX_AGE = timedelta(hours=26)


class FxUnavailable(PaymentRefused):
    """No usable rate for a pair (missing or stale): quoting stops for it."""


def rate_max_age(source: str) -> timedelta | None:
    configured = getattr(settings, "FX_MAX_AGE_SECONDS", {}) or {}
    if source in configured:
        seconds = configured[source]
        return None if seconds is None else timedelta(seconds=int(seconds))
    return DEFAULT_MAX_AGE.get(source, FALLBACK_MAX_AGE)


def _view(row: FxRate) -> RateView:
    return RateView(
        base=row.base,
        quote=row.quote,
        mid=row.mid,
        bid=row.bid,
        ask=row.ask,
        source=row.source,
        as_of=row.as_of,
        rate_id=row.pk,
    )


def fx_rate_for(*, send: str, receive: str, now: datetime) -> RateView | None:
    """The rate that prices ``send`` to ``receive`` now (None for one currency): the pair's
    latest approved rate either way round (the newer one if both exist). Raises
    ``FxUnavailable`` when there is none or it is older than its source's maximum age."""
    if send == receive:
        return None
    rows = [
        r
        for r in (
            fx_rate_latest(base=send, quote=receive, now=now),
            fx_rate_latest(base=receive, quote=send, now=now),
        )
        if r is not None
    ]
    if not rows:
        raise FxUnavailable(
            "fx_rate_unavailable",
            f"no exchange rate is available for {send} to {receive}",
            details={"pair": f"{send}/{receive}"},
        )
    row = max(rows, key=lambda r: (r.approved_at, r.pk))
    limit = rate_max_age(row.source)
    if limit is not None and now - row.as_of > limit:
        raise FxUnavailable(
            "fx_rate_stale",
            f"the {send}/{receive} exchange rate is out of date; quoting is paused",
            details={"pair": f"{send}/{receive}", "as_of": row.as_of.isoformat()},
        )
    return _view(row)
