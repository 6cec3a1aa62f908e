"""A plain-text dump of the database holds no customer phone number, email or ID number."""

from __future__ import annotations

import os
import re
import subprocess

import phonenumbers
import pytest
from django.db import connection

from lightway.application import demo
from lightway.application.users.profiles import profile_find, profile_pii
from lightway.data.identity.models import Profile
from lightway.infrastructure.embedded_pg import pg_tool

pytestmark = [pytest.mark.slow]


def _dump() -> str:
    cfg = connection.settings_dict
    env = {**os.environ, "PGPASSWORD": cfg.get("PASSWORD") or ""}
    out = subprocess.run(
        [
            pg_tool("pg_dump"),
            "--no-owner",
            "--data-only",
            "-h",
            cfg.get("HOST") or "127.0.0.1",
            "-p",
            str(cfg.get("PORT") or 5432),
            "-U",
            cfg.get("USER") or "postgres",
            cfg["NAME"],
        ],
        env=env,
        capture_output=True,
        check=True,
        timeout=120,
    )
    return out.stdout.decode("utf-8", "replace")


def _forms(kind: str, value: str) -> set[str]:
    """The ways a value could appear in clear: as given, case-folded, and for phones the
    national and digits-only forms."""
    forms = {value, value.lower()}
    if kind == "phone":
        number = phonenumbers.parse(value, None)
        forms |= {
            value.lstrip("+"),
            str(number.national_number),
            phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL),
            phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
        }
    if kind == "id_number":
        forms.add(re.sub(r"[^A-Za-z0-9]", "", value))
    return forms


def test_demo_seed_leaves_no_personal_data_in_clear_in_a_dump(tx_db, now):
    demo.demo_seed(now=now)
    # The seed really stored the values (encrypted) and they can be found and opened.
    for username, (_c, phone, email, _t, id_number, _tier) in demo.IDENTITIES.items():
        profile = profile_find(kind="phone", value=phone)
        assert profile is not None and profile.user.username == username
        pii = profile_pii(profile)
        assert (pii.phone, pii.email, pii.id_number) == (phone, email, id_number)
    assert Profile.objects.filter(realm="customer").count() == len(demo.IDENTITIES)

    dump = _dump()
    assert "COPY public.identity_profile" in dump  # the dump really covers the profiles
    leaks = [
        (username, kind, form)
        for username, (_c, phone, email, _t, id_number, _tier) in demo.IDENTITIES.items()
        for kind, value in (("phone", phone), ("email", email), ("id_number", id_number))
        for form in _forms(kind, value)
        if form in dump
    ]
    assert leaks == []
