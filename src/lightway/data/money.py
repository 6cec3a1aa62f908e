"""Money: ISO 4217 currencies, integer minor units, explicit rounding, exact allocation.

Amounts are always integers in the currency's minor unit (UGX 1500 is ``Money(1500, UGX)``,
EUR 12.34 is ``Money(1234, EUR)``). Rates and percentages are ``Decimal`` and every
conversion from a ``Decimal`` to minor units names its rounding mode. ``allocate`` is the
single helper that splits an amount; its parts always sum to the whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from enum import Enum
from typing import Final


@dataclass(frozen=True, slots=True)
class Currency:
    code: str
    exponent: int
    name: str

    def __str__(self) -> str:
        return self.code


_CURRENCIES: Final[dict[str, Currency]] = {
    c.code: c
    for c in (
        Currency("UGX", 0, "Ugandan shilling"),
        Currency("GHS", 2, "Ghanaian cedi"),
        Currency("XAF", 0, "Central African CFA franc"),
        Currency("XOF", 0, "West African CFA franc"),
        Currency("RWF", 0, "Rwandan franc"),
        Currency("ZMW", 2, "Zambian kwacha"),
        Currency("NGN", 2, "Nigerian naira"),
        Currency("KES", 2, "Kenyan shilling"),
        Currency("ZAR", 2, "South African rand"),
        Currency("TZS", 2, "Tanzanian shilling"),
        Currency("EUR", 2, "Euro"),
        Currency("USD", 2, "US dollar"),
        Currency("GBP", 2, "Pound sterling"),
    )
}

CURRENCY_CODES: Final[tuple[str, ...]] = tuple(sorted(_CURRENCIES))


class MoneyError(ValueError):
    """Invalid currency, amount or operation on money."""


class Rounding(Enum):
    """Rounding modes allowed when a Decimal becomes minor units."""

    HALF_EVEN = ROUND_HALF_EVEN
    HALF_UP = "ROUND_HALF_UP"
    DOWN = "ROUND_DOWN"
    UP = "ROUND_UP"
    FLOOR = "ROUND_FLOOR"
    CEILING = "ROUND_CEILING"


def currency_codes() -> frozenset[str]:
    """The ISO 4217 codes the platform knows."""
    return frozenset(_CURRENCIES)


def currency(code: str) -> Currency:
    try:
        return _CURRENCIES[code]
    except (KeyError, AttributeError):
        raise MoneyError(f"unsupported currency {code!r}") from None


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: Currency

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise MoneyError("money amounts are integers in minor units")

    @classmethod
    def of(cls, amount: int, code: str) -> Money:
        return cls(amount, currency(code))

    @classmethod
    def from_major(cls, major: Decimal | str, code: str, rounding: Rounding) -> Money:
        cur = currency(code)
        try:
            value = Decimal(major)
        except InvalidOperation:
            raise MoneyError(f"not a number: {major!r}") from None
        return cls(to_minor(value * (Decimal(10) ** cur.exponent), rounding), cur)

    def to_major(self) -> Decimal:
        return Decimal(self.amount).scaleb(-self.currency.exponent)

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise MoneyError(f"currency mismatch: {self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def times(self, rate: Decimal, rounding: Rounding) -> Money:
        """Multiply by a Decimal rate (a percentage as 0.015, an FX rate) with explicit rounding."""
        return Money(to_minor(Decimal(self.amount) * rate, rounding), self.currency)

    def allocate(self, weights: Sequence[Decimal | int]) -> list[Money]:
        return [Money(p, self.currency) for p in allocate(self.amount, weights)]

    def format(self) -> str:
        if self.currency.exponent == 0:
            return f"{self.currency.code} {self.amount:,}"
        return f"{self.currency.code} {self.to_major():,.{self.currency.exponent}f}"

    def __str__(self) -> str:
        return self.format()


def to_minor(value: Decimal, rounding: Rounding) -> int:
    """Round a Decimal number of minor units to an integer with the given mode."""
    if not value.is_finite():
        raise MoneyError("amount is not finite")
    return int(value.quantize(Decimal(1), rounding=rounding.value))


def allocate(total: int, weights: Sequence[Decimal | int]) -> list[int]:
    """Split ``total`` minor units in proportion to ``weights``; the parts sum to ``total``.

    Largest-remainder method: each part gets the floor of its exact share, then the units
    left over go one by one to the parts with the largest remainders (ties to the earlier
    part). Works for negative totals by symmetry. Weights must be non-negative and not all 0.
    """
    if not weights:
        raise MoneyError("allocate needs at least one weight")
    ws = [Decimal(w) for w in weights]
    if any(w < 0 for w in ws) or not any(w > 0 for w in ws):
        raise MoneyError("weights must be non-negative and not all zero")
    if total < 0:
        return [-p for p in allocate(-total, weights)]
    whole = sum(ws)
    exact = [Decimal(total) * w / whole for w in ws]
    parts = [int(e.to_integral_value(rounding="ROUND_FLOOR")) for e in exact]
    left = total - sum(parts)
    order = sorted(range(len(ws)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[:left]:
        parts[i] += 1
    return parts
