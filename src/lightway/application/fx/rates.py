"""The rate a quote may use now (docs/fx.md, "Which rate prices a quote").

``fx_rate_for(send=, receive=, now=)``:

1. the pair's latest approved rate, direct (``send/receive``) or inverse
   (``receive/send``), the newer if both exist, whatever its source (a treasury entry made
   after the feed's last publication wins until the feed publishes again);
2. with neither, a cross through a pivot currency (``LIGHTWAY_FX_CROSS_VIA``, by default EUR
   then USD): USD -> XOF = EUR/XOF / EUR/USD. Each leg is the pivot's latest rate against
   the currency, either way round. The cross's bid divides the bid by the ask and its ask
   the ask by the bid, so its spread is at least the sum of both legs' (never narrower);
   its ``as_of`` is the older leg's, its source ``cross:<send leg>+<receive leg>``
   (e.g. ``cross:ecb+peg``);
3. every rate used must be younger than its maximum age (per pair, else per source:
   ``LIGHTWAY_FX_MAX_AGE_SECONDS``, else ``DEFAULT_MAX_AGE``); an older one stops quoting
   for the pair: ``FxUnavailable`` ``fx_rate_stale`` (``fx_rate_unavailable`` when there is
   no rate at all). The watch (``watch.py``) alerts on it.

Cost: at most two index probes per leg (``fx_rate_current``), whatever the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, localcontext

from django.conf import settings

from lightway.application.errors import PaymentRefused
from lightway.application.fx.pricing import RATE_PLACES, RateView
from lightway.data.fx.models import FxRate
from lightway.data.fx.selectors import fx_rate_latest

# How old a rate may be, per source, before quoting stops for its pair (settings
# FX_MAX_AGE_SECONDS overrides per source or pair; docs/operations.md). ECB publishes once a
# TARGET working day at about 16:00 CET: a Friday rate must last the weekend and a holiday
# Monday. The regional feed publishes hourly; staff entries last a day and a bit.
DEFAULT_MAX_AGE: dict[str, timedelta | None] = {
    "ecb": timedelta(days=4),
    "regional": timedelta(hours=6),
    "treasury": timedelta(hours=26),
    "peg": None,  # a fixed parity does not age
}
FALLBACK_MAX_AGE = timedelta(hours=26)


class FxUnavailable(PaymentRefused):
    """No usable rate for a pair (missing or stale): quoting stops for it."""


def rate_max_age(source: str, pair: str | None = None) -> timedelta | None:
    """The maximum age of a ``source`` rate of ``pair`` ("EUR/USD"): the pair's setting,
    else the source's, else the default; None: it never ages."""
    configured = getattr(settings, "FX_MAX_AGE_SECONDS", {}) or {}
    for key in (pair, source):
        if key and key in configured:
            seconds = configured[key]
            return None if seconds is None else timedelta(seconds=int(seconds))
    return DEFAULT_MAX_AGE.get(source, FALLBACK_MAX_AGE)


@dataclass(frozen=True, slots=True)
class _Leg:
    """One rate as "units of ``quote`` per one ``base``", at full precision (an inverse is
    not rounded until the final rate is)."""

    base: str
    quote: str
    mid: Decimal
    bid: Decimal
    ask: Decimal
    row: FxRate


def _leg(row: FxRate, base: str) -> _Leg:
    if row.base == base:
        return _Leg(row.base, row.quote, row.mid, row.bid, row.ask, row)
    one = Decimal(1)
    # The inverse: what the platform pays for one unit of the other side is 1 / its ask.
    return _Leg(row.quote, row.base, one / row.mid, one / row.ask, one / row.bid, row)


def _latest(a: str, b: str, now: datetime) -> FxRate | None:
    """The latest approved rate between ``a`` and ``b``, either way round."""
    rows = [
        r
        for r in (
            fx_rate_latest(base=a, quote=b, now=now),
            fx_rate_latest(base=b, quote=a, now=now),
        )
        if r is not None
    ]
    return max(rows, key=lambda r: (r.approved_at, r.pk)) if rows else None


def _pair(row: FxRate) -> str:
    return f"{row.base}/{row.quote}"


def _fresh(row: FxRate, now: datetime, send: str, receive: str) -> None:
    limit = rate_max_age(row.source, _pair(row))
    if limit is not None and now - row.as_of > limit:
        raise FxUnavailable(
            "fx_rate_stale",
            f"the {send}/{receive} exchange rate is out of date; quoting is paused",
            details={
                "pair": f"{send}/{receive}",
                "as_of": row.as_of.isoformat(),
                "rate_pair": _pair(row),
                "source": row.source,
            },
        )


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


def cross_view(send_leg: _Leg, receive_leg: _Leg) -> RateView:
    """``send -> receive`` through the pivot both legs are based on: pivot/send and
    pivot/receive. Oriented so that the stored figure is at least 1 (twelve decimal places
    keep at least twelve significant digits), bid rounded down and ask rounded up, so the
    spread is never narrower than the legs' together."""
    with localcontext() as ctx:
        ctx.prec = 50
        # units of receive per one send
        mid = receive_leg.mid / send_leg.mid
        bid = receive_leg.bid / send_leg.ask
        ask = receive_leg.ask / send_leg.bid
        base, quote = send_leg.quote, receive_leg.quote
        if mid < 1:
            one = Decimal(1)
            mid, bid, ask = one / mid, one / ask, one / bid
            base, quote = quote, base
        q_bid = bid.quantize(RATE_PLACES, rounding=ROUND_FLOOR)
        q_ask = ask.quantize(RATE_PLACES, rounding=ROUND_CEILING)
        q_mid = min(max(mid.quantize(RATE_PLACES, rounding=ROUND_HALF_EVEN), q_bid), q_ask)
    # The older leg, among those that age (a peg's 1999 as_of says nothing of freshness).
    ageing = [
        leg.row.as_of
        for leg in (send_leg, receive_leg)
        if rate_max_age(leg.row.source, _pair(leg.row)) is not None
    ]
    older = min(ageing or [send_leg.row.as_of, receive_leg.row.as_of])
    return RateView(
        base=base,
        quote=quote,
        mid=q_mid,
        bid=q_bid,
        ask=q_ask,
        source=f"cross:{send_leg.row.source}+{receive_leg.row.source}"[:32],
        as_of=older,
        rate_id=send_leg.row.pk,
        cross_rate_id=receive_leg.row.pk,
    )


def fx_rate_for(*, send: str, receive: str, now: datetime) -> RateView | None:
    """The rate that prices ``send`` to ``receive`` now (None for one currency): see the
    module docstring. Raises ``FxUnavailable`` when there is none or it is too old."""
    if send == receive:
        return None
    row = _latest(send, receive, now)
    if row is not None:
        _fresh(row, now, send, receive)
        return _view(row)
    for pivot in getattr(settings, "FX_CROSS_VIA", ["EUR"]):
        if pivot in (send, receive):
            continue
        send_row = _latest(pivot, send, now)
        receive_row = _latest(pivot, receive, now) if send_row is not None else None
        if send_row is None or receive_row is None:
            continue
        _fresh(send_row, now, send, receive)
        _fresh(receive_row, now, send, receive)
        return cross_view(_leg(send_row, pivot), _leg(receive_row, pivot))
    raise FxUnavailable(
        "fx_rate_unavailable",
        f"no exchange rate is available for {send} to {receive}",
        details={"pair": f"{send}/{receive}"},
    )
