"""``{% load l10n_money %}``: amounts, numbers and dates in the page's language, with Babel.

- ``{{ minor|money:currency }}``: an amount in minor units ("UGX 1,500,000" in English,
  "1 500 000 UGX" in French; GHS 12.50 / "12,50 GHS"). The number of decimals is the
  currency's exponent from ``lightway.data.money`` (never Babel's own idea of it), and the
  currency is shown by its ISO code, so XOF and XAF are never confused. English gives
  exactly what ``Money.format`` gives.
- ``{{ minor|limit:currency }}``: the same, or "No limit" for ``None``.
- ``{{ value|number }}``: a plain number (``format_decimal``), e.g. a count or a rate
  (an FX rate goes through ``fx_format.fx_rate`` first, to drop its trailing zeros).
- ``{{ when|when }}`` / ``{{ when|when:"short" }}``: a date and time in the site's time zone.
- ``{{ day|day }}``: a date.

Python code (views, PDFs) calls :func:`money_text` and friends directly.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from functools import cache

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from django import template
from django.utils import timezone, translation
from django.utils.translation import gettext

from lightway.data.money import MoneyError, currency
from lightway.interfaces.panels.templatetags.fx_format import fx_rate

register = template.Library()


@cache
def _locale(language: str) -> Locale:
    try:
        return Locale.parse((language or "en").replace("-", "_"))
    except (ValueError, TypeError):
        return Locale.parse("en")


def _language(language: str | None) -> str:
    return language or translation.get_language() or "en"


@cache
def _pattern(language: str, exponent: int) -> str:
    """The locale's currency pattern with the ISO code (``¤¤``), a space between code and
    number, and exactly ``exponent`` decimals."""
    standard = _locale(language).currency_formats["standard"].pattern.split(";")[0]
    digits = "0." + "0" * exponent if exponent else "0"
    number = "#,##" + digits
    if standard.strip().startswith("¤"):
        return "¤¤ " + number
    return number + "\xa0¤¤"


def money_text(minor: int, code: str, language: str | None = None) -> str:
    """``minor`` units of ``code`` for a reader of ``language`` (default: the active one)."""
    cur = currency(code)
    lang = _language(language)
    major = Decimal(int(minor)).scaleb(-cur.exponent)
    return format_currency(
        major,
        cur.code,
        format=_pattern(lang, cur.exponent),
        locale=_locale(lang),
        currency_digits=False,
    )


def number_text(value: object, language: str | None = None) -> str:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return format_decimal(number, locale=_locale(_language(language)), decimal_quantization=False)


def datetime_text(value: dt.datetime, size: str = "medium", language: str | None = None) -> str:
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return format_datetime(value, size, locale=_locale(_language(language)))


@register.filter
def money(value: object, code: str) -> str:
    if value in (None, ""):
        return ""
    try:
        return money_text(int(value), str(code))  # type: ignore[call-overload]
    except (MoneyError, TypeError, ValueError):
        return f"{code} {value}"


@register.filter
def limit(value: object, code: str) -> str:
    return gettext("No limit") if value is None else money(value, code)


@register.filter
def number(value: object) -> str:
    if value in (None, ""):
        return ""
    if isinstance(value, Decimal):
        value = fx_rate(value)
    return number_text(value)


@register.filter
def when(value: object, size: str = "medium") -> str:
    if not isinstance(value, dt.datetime):
        return "" if value in (None, "") else str(value)
    return datetime_text(value, size)


@register.filter
def day(value: object, size: str = "medium") -> str:
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    if not isinstance(value, dt.date):
        return "" if value in (None, "") else str(value)
    return format_date(value, size, locale=_locale(_language(None)))
