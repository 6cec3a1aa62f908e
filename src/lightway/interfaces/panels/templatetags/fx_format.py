"""``{% load fx_format %}``: ``{{ rate.mid|fx_rate }}`` shows a stored rate (twelve decimal
places) without its trailing zeros, never in exponent form."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template

register = template.Library()


@register.filter
def fx_rate(value: object) -> str:
    if value in (None, ""):
        return ""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
