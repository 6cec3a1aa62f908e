"""FX pricing (application/fx/pricing.py): rounding never creates value, the spread is
never negative, and a round trip loses no more than the stated spreads and rounding."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightway.application.fx.pricing import FxPricingError, RateView, fx_price, rate_sides
from lightway.data.money import currency

AS_OF = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


def _rate(base: str, quote: str, mid: str, bps: int) -> RateView:
    bid, ask = rate_sides(Decimal(mid), bps)
    return RateView(base, quote, Decimal(mid), bid, ask, "treasury", AS_OF)


def test_fixed_send_rounds_the_received_amount_down():
    rate = _rate("USD", "UGX", "3700.5", 100)  # bid 3663.495
    price = fx_price(
        rate=rate, send_currency="USD", receive_currency="UGX", amount=10_001, fixed="send"
    )
    # 100.01 USD * 3663.495 = 366386.13... -> 366386 UGX
    assert price.receive.amount == 366_386
    assert price.rate == Decimal("3663.495000000000")
    # at mid: 100.01 * 3700.5 = 370087.005 -> 370087; the spread is the difference
    assert price.spread.amount == 370_087 - 366_386


def test_fixed_receive_rounds_the_sent_amount_up():
    rate = _rate("USD", "UGX", "3700", 0)
    price = fx_price(
        rate=rate, send_currency="USD", receive_currency="UGX", amount=100_000, fixed="receive"
    )
    # 100000 / 3700 = 27.027... USD -> 27.03 USD (2703 cents)
    assert price.send.amount == 2703
    assert price.receive.amount == 100_000


def test_an_inverse_rate_prices_the_other_way_at_the_ask():
    rate = _rate("EUR", "XOF", "655.957", 50)
    price = fx_price(
        rate=rate, send_currency="XOF", receive_currency="EUR", amount=655_957, fixed="send"
    )
    # the customer buys EUR at the ask (655.957 * 1.005 = 659.236785 XOF per EUR)
    assert price.receive.amount == 99_502  # 655957 / 659.236785 = 995.02... EUR
    assert price.spread.amount == 100_000 - 99_502  # 655957 XOF at mid is exactly 1000 EUR


def test_same_currency_is_one_to_one_without_a_rate():
    price = fx_price(
        rate=None, send_currency="UGX", receive_currency="UGX", amount=5000, fixed="send"
    )
    assert price.send == price.receive and price.spread.amount == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"amount": 0}, "positive whole number"),
        ({"amount": 1.5}, "positive whole number"),
        ({"fixed": "both"}, "fixed must be"),
        ({"send_currency": "ABC"}, "unsupported currency"),
        ({"rate": None}, "no rate prices"),
        (
            {"amount": 1, "send_currency": "UGX", "receive_currency": "USD", "fixed": "send"},
            "too small",
        ),
    ],
)
def test_bad_input_is_refused_with_a_message(kwargs, message):
    base = {
        "rate": _rate("USD", "UGX", "3700", 100),
        "send_currency": "USD",
        "receive_currency": "UGX",
        "amount": 1000,
        "fixed": "send",
    }
    if kwargs.get("send_currency") == "UGX":
        base["rate"] = _rate("USD", "UGX", "3700", 100)
    with pytest.raises(FxPricingError, match=message):
        fx_price(**{**base, **kwargs})


def test_a_rate_for_another_pair_is_refused():
    with pytest.raises(FxPricingError, match="cannot price"):
        fx_price(
            rate=_rate("EUR", "XOF", "655.957", 0),
            send_currency="USD",
            receive_currency="UGX",
            amount=100,
            fixed="send",
        )


PAIRS = [
    ("USD", "UGX"),
    ("EUR", "XOF"),
    ("GBP", "GHS"),
    ("EUR", "ZMW"),
    ("USD", "RWF"),
    ("EUR", "USD"),
]
mids = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("20000"), places=6)


@settings(max_examples=300, deadline=None)
@given(
    pair=st.sampled_from(PAIRS),
    mid=mids,
    bps=st.integers(min_value=0, max_value=500),
    amount=st.integers(min_value=1, max_value=10**12),
    fixed=st.sampled_from(["send", "receive"]),
    inverse=st.booleans(),
)
def test_no_value_is_created_and_rounding_keeps_under_one_minor_unit(
    pair, mid, bps, amount, fixed, inverse
):
    base, quote = pair
    rate = _rate(base, quote, str(mid), bps)
    send, receive = (quote, base) if inverse else (base, quote)
    try:
        price = fx_price(
            rate=rate, send_currency=send, receive_currency=receive, amount=amount, fixed=fixed
        )
    except FxPricingError as exc:
        assert "too small" in str(exc)
        return
    with localcontext() as ctx:
        ctx.prec = 60
        num, den = (rate.bid, Decimal(1)) if not inverse else (Decimal(1), rate.ask)
        scale = Decimal(10) ** (currency(receive).exponent - currency(send).exponent)
        exact = price.send.amount * scale * num / den  # what the customer's rate allows
        assert price.receive.amount <= exact  # never more than the rate allows
        if fixed == "send":
            assert exact - price.receive.amount < 1  # rounding keeps under one minor unit
        else:
            # one minor unit less of send would not have bought the fixed receive amount
            assert (price.send.amount - 1) * scale * num / den < price.receive.amount
    assert price.spread.amount >= 0


@settings(max_examples=200, deadline=None)
@given(
    mid=mids,
    bps=st.integers(min_value=0, max_value=300),
    amount=st.integers(min_value=100, max_value=10**10),
)
def test_a_round_trip_loses_no_more_than_the_spreads_and_rounding(mid, bps, amount):
    rate = _rate("USD", "UGX", str(mid), bps)
    try:
        there = fx_price(
            rate=rate, send_currency="USD", receive_currency="UGX", amount=amount, fixed="send"
        )
    except FxPricingError:
        return  # too small to go
    try:
        back = fx_price(
            rate=rate,
            send_currency="UGX",
            receive_currency="USD",
            amount=there.receive.amount,
            fixed="send",
        )
    except FxPricingError:
        return  # too small to come back
    assert back.receive.amount <= amount  # no value created by the round trip
    # what is lost is the two spreads plus at most one minor unit of rounding each way
    share = Decimal(bps) / 10_000
    allowed = (
        amount * (1 - (1 - share) / (1 + share)) + 1 + (Decimal(1) / (mid * (1 - share)) * 100)
    )
    assert amount - back.receive.amount <= allowed


@pytest.mark.django_db
def test_fx_legs_balance_per_currency_through_the_position_accounts():
    from lightway.application.fx.postings import fx_legs
    from lightway.data.ledger.models import Account
    from lightway.data.money import Money

    rate = _rate("USD", "UGX", "3700", 100)
    price = fx_price(
        rate=rate, send_currency="USD", receive_currency="UGX", amount=10_000, fixed="send"
    )
    legs = fx_legs(
        send=price.send,
        receive=price.receive,
        spread=price.spread,
        payer_account_id=10**9,
        payee_account_id=10**9 + 1,
        now=AS_OF,
    )
    assert sum(leg.amount for leg in legs.send_legs) == 0
    assert sum(leg.amount for leg in legs.receive_legs) == 0
    kinds = {
        Account.objects.get(pk=leg.account_id).kind
        for leg in legs.receive_legs
        if leg.account_id < 10**9
    }
    assert kinds == {"fx_position", "fx_revenue"}
    with pytest.raises(ValueError, match="same-currency"):
        fx_legs(
            send=Money.of(5, "UGX"),
            receive=Money.of(5, "UGX"),
            spread=Money.of(0, "UGX"),
            payer_account_id=1,
            payee_account_id=2,
            now=AS_OF,
        )
