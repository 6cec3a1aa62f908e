"""Pricing an amount across two currencies: pure functions, no clock, no database.

Conventions (docs/fx.md, "Pricing"):

- A rate ``base/quote`` says how many ``quote`` one ``base`` is worth (major units), with
  ``bid <= mid <= ask`` (``data/fx/models.py``).
- The customer sends ``send`` currency and the beneficiary receives ``receive`` currency.
  The customer's rate (receive per send) is the side that favours the platform: ``bid`` of
  a ``send/receive`` rate, or ``1 / ask`` of a ``receive/send`` rate. The mid rate, the
  same way round, prices the spread.
- Rounding, stated in every quote: the received amount is rounded DOWN to the receive
  currency's minor unit; when the received amount is fixed, the sent amount is rounded UP.
  So the platform never pays out more than the customer's rate allows, and what rounding
  keeps is less than one minor unit of either currency.
- ``spread`` is what the difference between the mid and the customer's rate earns, in the
  receive currency: the sent amount at mid, rounded down, minus the received amount. It is
  never negative. The ledger books it as FX spread revenue.

Arithmetic runs on ``Decimal`` at 50 significant digits (amounts are at most 18 digits and
rates 30), and each conversion to minor units names its rounding mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from typing import Literal

from lightway.data.money import Money, MoneyError, currency

FixedSide = Literal["send", "receive"]
RATE_PLACES = Decimal("0.000000000001")  # 12 decimal places, as stored
ROUNDING_RULE = "receive rounded down to its minor unit; send rounded up when receive is fixed"
MAX_SPREAD_BPS = 5000


class FxPricingError(ValueError):
    """An amount or rate the pricing cannot take (the message says which)."""


@dataclass(frozen=True, slots=True)
class RateView:
    """One pair's rate as pricing needs it."""

    base: str
    quote: str
    mid: Decimal
    bid: Decimal
    ask: Decimal
    source: str
    as_of: datetime
    rate_id: int | None = None
    # A cross rate (application/fx/rates.py): ``rate_id`` is its send-side leg, this the other.
    cross_rate_id: int | None = None


@dataclass(frozen=True, slots=True)
class FxPrice:
    send: Money
    receive: Money
    rate: Decimal  # the customer's rate: receive per one send, 12 decimal places
    mid_rate: Decimal  # the mid rate the same way round
    spread: Money  # in the receive currency, >= 0
    fixed: FixedSide
    rounding: str = ROUNDING_RULE


def rate_sides(mid: Decimal, spread_bps: int) -> tuple[Decimal, Decimal]:
    """Bid and ask ``spread_bps`` basis points either side of ``mid``: bid rounded down,
    ask rounded up to the stored 12 places, so the spread is never narrower than asked."""
    if mid <= 0:
        raise FxPricingError("the mid rate must be positive")
    if not 0 <= spread_bps <= MAX_SPREAD_BPS:
        raise FxPricingError(f"the spread must be 0 to {MAX_SPREAD_BPS} basis points")
    with localcontext() as ctx:
        ctx.prec = 50
        share = Decimal(spread_bps) / Decimal(10_000)
        bid = (mid * (1 - share)).quantize(RATE_PLACES, rounding=ROUND_FLOOR)
        ask = (mid * (1 + share)).quantize(RATE_PLACES, rounding=ROUND_CEILING)
    if bid <= 0:
        raise FxPricingError("the spread leaves no positive bid")
    return bid, ask


def _customer_and_mid(
    rate: RateView, send: str, receive: str
) -> tuple[tuple[Decimal, Decimal], tuple[Decimal, Decimal]]:
    """(customer rate, mid rate) as receive per one send, each as a fraction (numerator,
    denominator) so an inverse rate is divided by once, at the end, not rounded first."""
    one = Decimal(1)
    if (rate.base, rate.quote) == (send, receive):
        return (rate.bid, one), (rate.mid, one)
    if (rate.base, rate.quote) == (receive, send):
        return (one, rate.ask), (one, rate.mid)
    raise FxPricingError(f"a {rate.base}/{rate.quote} rate cannot price {send} to {receive}")


def fx_price(
    *,
    rate: RateView | None,
    send_currency: str,
    receive_currency: str,
    amount: int,
    fixed: FixedSide,
) -> FxPrice:
    """Price ``amount`` (minor units of the fixed side's currency) from ``send_currency``
    to ``receive_currency`` at ``rate`` (None only when both currencies are the same)."""
    try:
        send_ccy, receive_ccy = currency(send_currency), currency(receive_currency)
    except MoneyError as exc:
        raise FxPricingError(str(exc)) from None
    if fixed not in ("send", "receive"):
        raise FxPricingError("fixed must be 'send' or 'receive'")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise FxPricingError("the amount must be a positive whole number of minor units")
    if send_ccy == receive_ccy:
        same = Money(amount, send_ccy)
        return FxPrice(same, same, Decimal(1), Decimal(1), Money(0, receive_ccy), fixed)
    if rate is None:
        raise FxPricingError(f"no rate prices {send_currency} to {receive_currency}")
    with localcontext() as ctx:
        ctx.prec = 50
        (c_num, c_den), (m_num, m_den) = _customer_and_mid(rate, send_ccy.code, receive_ccy.code)
        # receive minor = send minor * rate * 10^(exp_receive - exp_send)
        scale = Decimal(10) ** (receive_ccy.exponent - send_ccy.exponent)
        if fixed == "send":
            send_minor = amount
            receive_minor = int((send_minor * scale * c_num / c_den).to_integral_value(ROUND_FLOOR))
        else:
            receive_minor = amount
            send_minor = int(
                (receive_minor * c_den / (c_num * scale)).to_integral_value(ROUND_CEILING)
            )
        at_mid = int((send_minor * scale * m_num / m_den).to_integral_value(ROUND_FLOOR))
        shown_rate = (c_num / c_den).quantize(RATE_PLACES, rounding=ROUND_FLOOR)
        shown_mid = (m_num / m_den).quantize(RATE_PLACES, rounding=ROUND_FLOOR)
    if receive_minor <= 0:
        raise FxPricingError(
            f"the amount is too small: it buys less than one minor unit of {receive_ccy.code}"
        )
    return FxPrice(
        send=Money(send_minor, send_ccy),
        receive=Money(receive_minor, receive_ccy),
        rate=shown_rate,
        mid_rate=shown_mid,
        spread=Money(max(at_mid - receive_minor, 0), receive_ccy),
        fixed=fixed,
    )
