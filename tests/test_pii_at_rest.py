"""A plain-text dump of the database holds no customer phone number, email or ID number."""

from __future__ import annotations

import base64
import binascii
import codecs
import json
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
    return searchable(out.stdout.decode("utf-8", "replace"))


_HEX = re.compile(r"\\{1,2}x((?:[0-9a-fA-F]{2}){4,})")  # a bytea value in COPY text: \\x4c57...
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_ESCAPED = re.compile(r"\\(?:u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|[0-7]{3}|[\\/\"bfnrt])")


def _decodings(text: str) -> list[str]:
    """What ``text`` may hide: bytea hex, base64 (standard and URL-safe) and backslash
    escapes (JSON ``\\u002b``, COPY's ``\\053`` octal), each decoded as UTF-8."""
    out: list[str] = []
    for match in _HEX.finditer(text):
        out.append(bytes.fromhex(match.group(1)).decode("utf-8", "replace"))
    for match in _BASE64.finditer(text):
        chunk = match.group(0)
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                raw = decode(chunk + "=" * (-len(chunk) % 4))
            except (binascii.Error, ValueError):
                continue
            out.append(raw.decode("utf-8", "replace"))
    if _ESCAPED.search(text):
        try:
            out.append(codecs.decode(text.encode("latin-1", "replace"), "unicode_escape"))
        except UnicodeDecodeError:
            pass
        try:
            out.append(json.loads(f'"{text}"'))
        except ValueError:
            pass
    return out


def searchable(dump: str, depth: int = 3) -> str:
    """The dump followed by everything decoded out of it (decodings of decodings too, to
    ``depth`` levels): a value stored hex-encoded in a bytea, base64-wrapped or
    JSON-escaped is then found by a plain substring search."""
    layers, current = [dump], [dump]
    for _ in range(depth):
        found = [d for text in current for line in text.splitlines() for d in _decodings(line)]
        found = [f for f in found if f]
        if not found:
            break
        layers.extend(found)
        current = found
    return "\n".join(layers)


def test_the_dump_search_decodes_bytea_base64_and_escapes() -> None:
    """The search itself: each encoding of a number is found (a search that cannot fail
    proves nothing)."""
    secret = "+256772000111"
    hexed = "\\\\x" + json.dumps({"partyId": secret}).encode().hex()
    b64 = base64.b64encode(f"payer={secret}".encode()).decode()
    escaped = "".join(f"\\u{ord(c):04x}" for c in secret)
    for encoded in (hexed, b64, escaped, f"\\\\x{base64.b64encode(secret.encode()).hex()}"):
        line = f"1\t{encoded}\t2026-01-01"
        assert secret not in line
        assert secret in searchable(line), encoded


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
    # ... and the two former customers of the retention demo (closed accounts, names only)
    # and the goAML demo's two customers (their names need transliteration).
    from lightway.application.goaml.demo import DEMO_CUSTOMERS as GOAML_CUSTOMERS

    assert Profile.objects.filter(realm="customer").count() == len(demo.IDENTITIES) + len(
        demo.DEMO_FORMER
    ) + len(GOAML_CUSTOMERS)

    dump = _dump(owner_db)
    assert "COPY public.identity_profile" in dump  # the dump really covers the profiles
    leaks = [
        (username, kind, form)
        for username, (_c, phone, email, _t, id_number, _tier) in demo.IDENTITIES.items()
        for kind, value in (("phone", phone), ("email", email), ("id_number", id_number))
        for form in _forms(kind, value)
        if form in dump
    ]
    leaks += [name for _username, name in demo.DEMO_FORMER if name in dump]
    for _username, name, phone, _birth, id_number, _balance in GOAML_CUSTOMERS:
        leaks += [value for value in (name, phone, phone[4:], id_number) if value in dump]
    assert leaks == []


def test_sanctions_hits_leave_no_subject_name_in_clear_in_a_dump(owner_db, now):
    """Issue 14 review finding 2: a sanctions hit kept the matched subject's normalised name
    in clear (``aml_sanctions_hit.subject_normalised``). On the demo's list: a customer and
    a remittance beneficiary, each with a misspelt listed name (so the list's own public
    names, which the dump holds, are not the subject's), hit; neither name is in the dump."""
    from lightway.application.aml import sanctions
    from lightway.application.identity.profiles import profile_set_pii
    from lightway.data.aml.models import SanctionsEntry, SanctionsHit
    from tests.factories import customer

    demo.demo_seed(now=now)
    user_id, _ = customer("sanctions.near", now)
    profile_set_pii(user_id=user_id, now=now, name="Boris Kovalenka")
    assert sanctions.customer_screen(user_id=user_id, now=now) == 1
    assert sanctions.beneficiary_screen(
        name="Hassan Ibrahim Al-Demuni", subject_ref="remittance:dump:1", now=now
    )
    assert SanctionsHit.objects.count() == 2
    names = {sanctions.name_normalise(n) for n in ("Boris Kovalenka", "Hassan Ibrahim Al-Demuni")}
    listed = " ".join(str(n["normalised"]) for e in SanctionsEntry.objects.all() for n in e.names)
    assert not [n for n in names if n in listed]  # the list itself cannot leak them

    dump = _dump(owner_db)
    assert "COPY public.aml_sanctions_hit" in dump
    assert sorted(n for n in names if n in dump) == []


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


def test_provider_payloads_leave_no_personal_data_in_clear_in_a_dump(
    owner_db, now, momo, client, settings
):
    """Every raw payload a provider (or anyone) sends is stored sealed: MoMo callbacks (a
    real deposit's, one for an unknown reference, one that is not JSON) and Sumsub webhooks
    (authentic and with a wrong digest), each carrying a phone number, an email address
    and an ID number."""
    from lightway.application.momo import flows
    from tests.momo_flow_support import momo_customer, run_momo_jobs, wait_final
    from tests.sumsub_support import WEBHOOK_SECRET, signed

    settings.SUMSUB_WEBHOOK_SECRET = WEBHOOK_SECRET
    payer, email, id_number = "256772555123", "payload.person@example.org", "CM55667788QRST"
    uid = momo_customer("payload", now, phone="+256772000999", wallet=0)
    transfer = flows.deposit_start(
        customer_id=uid,
        currency="UGX",
        amount_minor=10_000,
        msisdn=payer,
        idempotency_key="pii-dump",
        now=now,
    )
    run_momo_jobs(now)
    request = flows.momo_request_for_transfer(transfer.id)
    assert request is not None
    wait_final(momo.sim, request.reference_id)
    (answer,) = momo.deliver_callbacks(client, wait_for=1)
    assert answer.status_code == 200
    run_momo_jobs(now)
    request.refresh_from_db()
    assert request.status == "successful"  # processing read the sealed body

    hostile = json.dumps({"payer": {"partyId": payer}, "email": email, "id": id_number})
    for path, body, kind in (
        (f"/webhooks/momo/{request.reference_id}", hostile.encode(), "application/json"),
        ("/webhooks/momo/00000000-0000-4000-8000-000000000000", hostile.encode(), "text/plain"),
        (f"/webhooks/momo/{request.reference_id}", f"not json {payer}".encode(), "text/plain"),
    ):
        assert client.put(path, data=body, content_type=kind).status_code == 200
    payload = {
        "applicantId": "a" * 24,
        "type": "applicantCreated",
        "createdAtMs": "2026-01-01 10:00:00.000",
        "externalUserId": payer,
        "info": {"phone": f"+{payer}", "email": email, "idDocs": [{"number": id_number}]},
    }
    body, headers = signed(payload)
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    extra.pop("HTTP_CONTENT_TYPE")
    assert (
        client.post(
            "/webhooks/sumsub", data=body, content_type="application/json", **extra
        ).status_code
        == 200
    )
    extra["HTTP_X_PAYLOAD_DIGEST"] = "0" * 64
    assert (
        client.post(
            "/webhooks/sumsub", data=body, content_type="application/json", **extra
        ).status_code
        == 401
    )

    dump = _dump(owner_db)
    assert "COPY public.momo_callback" in dump and "COPY public.kyc_sumsub_webhook_event" in dump
    secrets = _forms("phone", f"+{payer}") | _forms("email", email) | _forms("id_number", id_number)
    assert sorted(s for s in secrets if s in dump) == []
