"""Money: currencies, rounding and the one allocation helper (property tests)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightway.data.money import (
    CURRENCY_CODES,
    Money,
    MoneyError,
    Rounding,
    allocate,
    currency,
    to_minor,
)

amounts = st.integers(min_value=-(10**15), max_value=10**15)
weights = st.lists(
    st.decimals(min_value=0, max_value=1000, places=4, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=8,
).filter(lambda ws: any(w > 0 for w in ws))


def test_minor_unit_exponents():
    expected = {"UGX": 0, "XAF": 0, "XOF": 0, "RWF": 0, "GHS": 2, "ZMW": 2, "NGN": 2}
    expected |= {"KES": 2, "EUR": 2, "USD": 2, "GBP": 2}
    for code, exponent in expected.items():
        assert currency(code).exponent == exponent
    assert set(expected) <= set(CURRENCY_CODES)


@pytest.mark.parametrize("code", ["ugx", "XXX", "", "US", None])
def test_unknown_currency_is_refused(code):
    with pytest.raises(MoneyError):
        currency(code)


def test_amounts_are_integers():
    with pytest.raises(MoneyError):
        Money(Decimal("1.5"), currency("UGX"))  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        Money(True, currency("UGX"))
    with pytest.raises(MoneyError, match="currency mismatch"):
        Money.of(1, "UGX") + Money.of(1, "GHS")


def test_major_units_and_formatting():
    assert Money.from_major("12.345", "GHS", Rounding.HALF_EVEN).amount == 1234
    assert Money.from_major("12.355", "GHS", Rounding.HALF_EVEN).amount == 1236
    assert Money.from_major("12.345", "GHS", Rounding.HALF_UP).amount == 1235
    assert Money.from_major("1500.6", "UGX", Rounding.DOWN).amount == 1500
    assert Money.of(123456, "GHS").format() == "GHS 1,234.56"
    assert Money.of(1500000, "UGX").format() == "UGX 1,500,000"
    with pytest.raises(MoneyError):
        Money.from_major("abc", "GHS", Rounding.HALF_EVEN)


@pytest.mark.parametrize(
    ("value", "mode", "expected"),
    [
        ("2.5", Rounding.HALF_EVEN, 2),
        ("3.5", Rounding.HALF_EVEN, 4),
        ("2.5", Rounding.HALF_UP, 3),
        ("-2.5", Rounding.HALF_UP, -3),
        ("2.1", Rounding.UP, 3),
        ("2.9", Rounding.DOWN, 2),
        ("-2.1", Rounding.FLOOR, -3),
        ("-2.9", Rounding.CEILING, -2),
    ],
)
def test_rounding_modes_are_explicit(value, mode, expected):
    assert to_minor(Decimal(value), mode) == expected


@given(total=amounts, ws=weights)
def test_allocation_parts_sum_to_the_whole(total, ws):
    parts = allocate(total, ws)
    assert sum(parts) == total
    assert len(parts) == len(ws)


@given(total=st.integers(min_value=0, max_value=10**15), ws=weights)
def test_allocation_is_fair(total, ws):
    """Each part is within one unit of its exact share; zero weights get nothing."""
    parts = allocate(total, ws)
    whole = sum(ws)
    for part, w in zip(parts, ws, strict=True):
        exact = Decimal(total) * w / whole
        assert abs(Decimal(part) - exact) < 1
        if w == 0:
            assert part == 0
        assert part >= 0


@given(total=amounts, ws=weights)
def test_allocation_of_negative_mirrors_positive(total, ws):
    assert allocate(-total, ws) == [-p for p in allocate(total, ws)]


def test_allocation_refuses_bad_weights():
    for ws in ([], [0, 0], [-1, 2]):
        with pytest.raises(MoneyError):
            allocate(10, ws)


@given(a=amounts, b=amounts, rate=st.decimals(min_value=0, max_value=1, places=6))
def test_money_arithmetic_conserves(a, b, rate):
    ugx = currency("UGX")
    assert (Money(a, ugx) + Money(b, ugx) - Money(b, ugx)).amount == a
    fee = Money(abs(a), ugx).times(rate, Rounding.HALF_EVEN)
    assert 0 <= fee.amount <= abs(a)
