"""A plain-text dump of the database holds no customer phone number, email or ID number."""

from __future__ import annotations

import os
import re
import subprocess

import phonenumbers
import psycopg
import pytest
from django.db import connection

from lightway.application import demo
from lightway.application.identity.profiles import profile_find, profile_pii
from lightway.data.identity.models import Profile
from lightway.infrastructure.embedded_pg import pg_tool

pytestmark = [pytest.mark.slow]


def _dump(owner: psycopg.Connection) -> str:
    """A plain-text dump of the test database, as a backup takes it: as the owner."""
    cfg = {
        "HOST": owner.info.host,
        "PORT": owner.info.port,
        "USER": owner.info.user,
        "PASSWORD": owner.info.password,
        "NAME": connection.settings_dict["NAME"],
    }
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
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr.decode("utf-8", "replace")
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


def test_demo_seed_leaves_no_personal_data_in_clear_in_a_dump(owner_db, now):
    demo.demo_seed(now=now)
    # The seed really stored the values (encrypted) and they can be found and opened.
    for username, (_c, phone, email, _t, id_number, _tier) in demo.IDENTITIES.items():
        profile = profile_find(kind="phone", value=phone)
        assert profile is not None and profile.user.username == username
        pii = profile_pii(profile)
        assert (pii.phone, pii.email, pii.id_number) == (phone, email, id_number)
    assert Profile.objects.filter(realm="customer").count() == len(demo.IDENTITIES)

    dump = _dump(owner_db)
    assert "COPY public.identity_profile" in dump  # the dump really covers the profiles
    leaks = [
        (username, kind, form)
        for username, (_c, phone, email, _t, id_number, _tier) in demo.IDENTITIES.items()
        for kind, value in (("phone", phone), ("email", email), ("id_number", id_number))
        for form in _forms(kind, value)
        if form in dump
    ]
    assert leaks == []


def test_a_registration_leaves_no_personal_data_or_code_in_clear_in_a_dump(owner_db, now, outbox):
    """The whole onboarding path: profile, one-time codes, notification deliveries (recipient
    and body), queued jobs and audit records all stay free of the person's data."""
    from lightway.application.onboarding.registration import (
        email_add,
        phone_verify,
        profile_update,
        registration_start,
    )

    phone, email, id_number = "+256772987654", "newcomer.person@example.org", "CF77665544XYZA"
    user_id = registration_start(
        phone="0772 987654",
        country="UG",
        password="a-long-passphrase-2026",
        language="en",
        accept_terms=True,
        client="192.0.2.10",
        now=now,
    )
    code = outbox.latest_code(phone)
    phone_verify(user_id=user_id, code=code, now=now)
    email_add(user_id=user_id, email=email, now=now)
    link = outbox.latest_link(email)
    profile_update(
        user_id=user_id,
        name="Newcomer Person",
        birth_date="1990-04-01",
        id_type="national_id",
        id_number=id_number,
        now=now,
    )
    assert Profile.objects.get(pk=user_id).kyc_tier == 2

    dump = _dump(owner_db)
    assert "COPY public.notify_delivery" in dump
    secrets = (
        _forms("phone", phone)
        | _forms("email", email)
        | _forms("id_number", id_number)
        | {code, link.rsplit("/", 2)[-2] if link.endswith("/") else link.rsplit("/", 1)[-1]}
    )
    assert sorted(s for s in secrets if s in dump) == []
