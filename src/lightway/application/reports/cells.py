"""Cells of generated reports: amounts in major units, text safe in a spreadsheet."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from lightway.data.money import Money, MoneyError, currency


def major(amount: int, code: str) -> str:
    """``amount`` minor units as a plain decimal in major units, with the currency's
    exponent: UGX 1500 -> "1500", GHS 1234 -> "12.34", GHS -5 -> "-0.05"."""
    try:
        cur = currency(code)
    except MoneyError:
        return str(amount)
    return f"{Money(amount, cur).to_major():.{cur.exponent}f}"


def money_text(amount: int, code: str) -> str:
    """``amount`` for people: "UGX 1,500", "GHS 12.34" (``Money.format``)."""
    try:
        return Money.of(amount, code).format()
    except MoneyError:
        return f"{amount} {code}"


def csv_safe(value: object) -> object:
    """Neutralise spreadsheet formulas in text cells (CSV injection): a text starting with
    ``= + - @``, a tab or a carriage return gets a leading apostrophe, unless it is a number
    (a negative amount stays a number)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        try:
            Decimal(value)
        except InvalidOperation:
            return "'" + value
    return value
