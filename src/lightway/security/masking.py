"""Masking helpers: the default way personal data is shown on screen and in exports.

Each keeps just enough to recognise a value you already know and never enough to learn it:

- phone ``+256700123401`` → ``+256 70•••••01`` (country code, two leading and two last digits)
- email ``amara.n@example.com`` → ``a•••••@e••••••.com``
- ID number ``CM12345678AB`` → ``••••••••••AB`` (last two characters)
- name ``Amara Nakato`` → ``A•••• N•••••``

Revealing the clear value needs the ``pii.reveal`` permission and a reason, and is audited
(``lightway.application.identity.pii.pii_reveal``).
"""

from __future__ import annotations

import phonenumbers

DOT = "•"


def mask_phone(value: str | None) -> str:
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, None)
        national = str(number.national_number)
        prefix = f"+{number.country_code} "
    except phonenumbers.NumberParseException:
        national = "".join(ch for ch in value if ch.isdigit())
        prefix = ""
    if len(national) <= 4:
        return prefix + DOT * len(national)
    return prefix + national[:2] + DOT * (len(national) - 4) + national[-2:]


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


MASKERS = {
    "phone": mask_phone,
    "email": mask_email,
    "id_number": mask_id_number,
    "name": mask_name,
}


def mask(kind: str, value: str | None) -> str:
    return MASKERS[kind](value)
