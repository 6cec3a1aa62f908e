"""Phone masking: one function, one style, the parsed number, every market.

A masked phone number keeps the country code and the last two digits of the national
number and hides every other digit, whatever the market's numbering plan (Côte d'Ivoire's
ten-digit numbers start with a zero that is part of the number).
"""

from __future__ import annotations

import re
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lightway.security.masking import DOT, mask_party, mask_phone

MARKETS = ("UG", "GH", "RW", "ZM", "CI", "CM")
SRC = Path(__file__).resolve().parents[1] / "src" / "lightway"


@st.composite
def valid_numbers(draw: st.DrawFn) -> phonenumbers.PhoneNumber:
    """A valid number of one of the markets: an example number of a mobile or fixed-line
    type with its trailing digits replaced."""
    region = draw(st.sampled_from(MARKETS))
    kind = draw(
        st.sampled_from(
            [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]
        )
    )
    example = phonenumbers.example_number_for_type(region, kind)
    assert example is not None
    national = phonenumbers.national_significant_number(example)
    tail = draw(st.integers(min_value=1, max_value=min(6, len(national) - 2)))
    digits = draw(st.text(alphabet="0123456789", min_size=tail, max_size=tail))
    number = phonenumbers.parse(f"+{example.country_code}{national[:-tail]}{digits}", None)
    assume(phonenumbers.is_valid_number(number))
    return number


# No deadline: phonenumbers' first parse of a region loads its metadata, and a loaded
# machine (CI runs two workers) made a single example exceed the default 200 ms.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_numbers())
def test_a_masked_number_shows_the_country_code_and_last_two_digits_only(number):
    national = phonenumbers.national_significant_number(number)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    masked = mask_phone(e164)
    assert masked == f"+{number.country_code} " + DOT * (len(national) - 2) + national[-2:]
    # Never more than the country code and the last two digits: no other digit shows.
    assert re.sub(r"\D", "", masked) == f"{number.country_code}{national[-2:]}"
    # The same number written any other way (MoMo's digits, spaces) masks the same.
    assert mask_phone(e164.lstrip("+")) == masked
    international = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    assert mask_phone(international) == masked
    assert mask_party("MSISDN", e164.lstrip("+")) == masked


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+2250707123456", "+225 ••••••••56"),  # the zero is part of the national number
        ("+256772123401", "+256 •••••••01"),
        ("+233241234567", "+233 •••••••67"),
        ("+250788123456", "+250 •••••••56"),
        ("+260971234567", "+260 •••••••67"),
        ("+237670123456", "+237 •••••••56"),
    ],
)
def test_each_market_masks_from_the_parsed_number(number, masked):
    assert mask_phone(number) == masked


def test_what_cannot_be_parsed_shows_at_most_its_last_two_digits():
    assert mask_phone("0772123456") == DOT * 8 + "56"
    assert mask_phone("+999123456789") == DOT * 10 + "89"
    assert mask_phone("1234") == DOT * 4
    assert mask_phone("no digits") == DOT * 3
    assert mask_phone("") == "" and mask_phone(None) == ""


def test_no_other_code_masks_phone_numbers():
    """One masking function: no module but security/masking.py writes its own dots."""
    writers = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.name != "masking.py" and re.search(r"[\"'][^\"'\n]*•", path.read_text())
    ]
    assert writers == []
