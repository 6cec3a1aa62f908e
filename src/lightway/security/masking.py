"""Masking helpers: the default way personal data is shown on screen and in exports.

Each keeps just enough to recognise a value you already know and never enough to learn it:

- phone ``+256700123401`` → ``+256 •••••••01``, ``+2250707123456`` → ``+225 ••••••••56``
  (country code and the last two digits of the parsed number; every other digit hidden)
- email ``amara.n@example.com`` → ``a•••••@e••••••.com``
- ID number ``CM12345678AB`` → ``••••••••••AB`` (last two characters)
- name ``Amara Nakato`` → ``A•••• N•••••``

Revealing the clear value needs the ``pii.reveal`` permission and a reason, and is audited
(``lightway.application.identity.pii.pii_reveal``).
"""

from __future__ import annotations

import phonenumbers

DOT = "•"
# What stands for a one-time code or other secret in a kept copy of a message (the inbox).
SECRET_MASK = DOT * 6


def mask_phone(value: str | None) -> str:
    """A phone number as staff, partners, exports and logs see it: the country code and the
    last two digits, every other digit of the national number hidden (``+256 •••••••01``).

    The number is parsed (``phonenumbers``), so the national number keeps a leading zero
    that is part of it (Côte d'Ivoire's ``07 07 12 34 56``) and the country code is never
    guessed from a digit count. A value written without ``+`` is read as international
    digits (MoMo's MSISDN form, ``256772123401``). What is not a possible number shows only
    its last two digits. Every phone number on screen, in the API and in exports goes through here.
    """
    if not value:
        return ""
    text = value.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    if not digits:
        return DOT * 3
    try:
        number = phonenumbers.parse(text if text.startswith("+") else "+" + digits, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_possible_number(number):
        return _hide_all_but_last_two(digits)
    return f"+{number.country_code} " + _hide_all_but_last_two(
        phonenumbers.national_significant_number(number)
    )


def _hide_all_but_last_two(digits: str) -> str:
    if len(digits) <= 4:
        return DOT * len(digits)
    return DOT * (len(digits) - 2) + digits[-2:]


def mask_email(value: str | None) -> str:
    if not value:
        return ""
    local, at, domain = value.partition("@")
    if not at:
        return DOT * max(len(value), 3)
    host, dot, tld = domain.rpartition(".")
    if not dot:
        host, tld = domain, ""
    masked_host = (host[:1] + DOT * max(len(host) - 1, 1)) if host else ""
    return f"{local[:1]}{DOT * max(len(local) - 1, 1)}@{masked_host}{dot}{tld}"


def mask_id_number(value: str | None) -> str:
    if not value:
        return ""
    keep = 2 if len(value) > 4 else 0
    return DOT * (len(value) - keep) + value[len(value) - keep :]


def mask_name(value: str | None) -> str:
    if not value:
        return ""
    return " ".join(word[:1] + DOT * max(len(word) - 1, 1) for word in value.split())


def mask_party(party_id_type: str | None, value: str | None) -> str:
    """A MoMo party id (payer or payee), masked by its kind: an MSISDN (international digits,
    no plus) as a phone number, an e-mail address as one, anything else as an ID number."""
    if not value:
        return ""
    kind = (party_id_type or "").upper()
    if kind == "EMAIL" or "@" in value:
        return mask_email(value)
    if kind == "MSISDN" or value.lstrip("+").isdigit():
        return mask_phone(value)
    return mask_id_number(value)


MASKERS = {
    "phone": mask_phone,
    "email": mask_email,
    "id_number": mask_id_number,
    "name": mask_name,
}


def mask(kind: str, value: str | None) -> str:
    return MASKERS[kind](value)
