"""Phone numbers: parsed and validated per market with ``phonenumbers``, stored as E.164."""

from __future__ import annotations

import phonenumbers
from django.utils.translation import gettext

from lightway.application.errors import ValidationFailed

# Markets the platform serves (ISO 3166 alpha-2) and their currencies.
MARKETS: dict[str, str] = {
    "UG": "UGX",
    "GH": "GHS",
    "RW": "RWF",
    "ZM": "ZMW",
    "CI": "XOF",
    "CM": "XAF",
}


def phone_normalise(raw: str, *, country: str, field: str = "phone") -> str:
    """``raw`` (national or international form) as E.164, or ValidationFailed saying why."""
    country = (country or "").upper()
    if country not in MARKETS:
        raise ValidationFailed(
            f"country must be one of {', '.join(sorted(MARKETS))}", details={"field": "country"}
        )
    text = (raw or "").strip()
    if not text:
        raise ValidationFailed(gettext("phone number is required"), details={"field": field})
    try:
        number = phonenumbers.parse(text, country)
    except phonenumbers.NumberParseException:
        raise ValidationFailed(
            gettext("phone number is not a phone number"), details={"field": field}
        ) from None
    region = phonenumbers.region_code_for_number(number)
    if region != country:
        raise ValidationFailed(
            gettext("phone number is not a %(country)s number") % {"country": country},
            details={"field": field},
        )
    if not phonenumbers.is_valid_number(number):
        raise ValidationFailed(
            gettext("phone number is not a valid %(country)s number") % {"country": country},
            details={"field": field},
        )
    if phonenumbers.number_type(number) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise ValidationFailed(
            gettext("phone number must be a mobile number"), details={"field": field}
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
