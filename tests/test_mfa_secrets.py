"""Second-factor secrets are neither readable nor plantable (issue 11, finding 2).

Before the fix django-otp's admin pages showed any user's TOTP key and QR code and let an
administrator add confirmed devices, unaudited, and the keys sat in clear in
``otp_totp_totpdevice``. Now: no admin page for any second-factor model; TOTP keys are
sealed with the data keys (and rotate with them) and codes still verify; a staff member's
second factor is reset only by two different administrators (maker-checker), audited; every
device change writes an audit record.
"""

from __future__ import annotations

import base64
import os
import subprocess
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django_otp.models import Device
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice

from lightway.application.authentication import mfa
from lightway.application.authentication.mfa_reset import (
    ResetForbidden,
    mfa_reset_approve,
    mfa_reset_request,
)
from lightway.application.datakeys.rotation import keys_rotate, keys_status
from lightway.data.audit.models import AuditRecord
from lightway.infrastructure.embedded_pg import pg_tool
from lightway.security import crypto
from lightway.security.mfa.models import MfaResetRequest, PasskeyCredential, TotpDevice
from lightway.security.policy import Role
from tests.conftest import VerifiedClient
from tests.factories import staff

PASSWORD = "amber-Lantern-2026"


def _code(key: bytes, at) -> str:
    totp = TOTP(key)
    totp.time = at.timestamp()
    return f"{totp.token():06d}"


def _enrolled(username: str, now, role=Role.LW_OPERATIONS) -> tuple[int, bytes]:
    """A staff member with a confirmed authenticator app; returns (user id, key)."""
    user_id = staff(username, [role], now)
    enrolment = mfa.totp_enrol_start(user_id=user_id, now=now)
    secret = enrolment.secret.replace(" ", "")
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    mfa.totp_enrol_confirm(user_id=user_id, code=_code(key, now), now=now)
    return user_id, key


# --- no admin page ------------------------------------------------------------------------


@pytest.mark.django_db
def test_no_admin_page_shows_or_adds_a_second_factor(admin_client):
    from lightway.interfaces.web import urls  # noqa: F401 - the admin pages as served

    registered = [m for m in admin.site._registry if issubclass(m, Device)]
    assert registered == []
    assert not [m for m in admin.site._registry if m._meta.app_label.startswith("otp_")]
    for path in (
        "/admin/otp_totp/totpdevice/",
        "/admin/otp_totp/totpdevice/add/",
        "/admin/otp_totp/totpdevice/1/change/",
        "/admin/otp_totp/totpdevice/1/config/",
        "/admin/otp_totp/totpdevice/1/qrcode/",
        "/admin/otp_static/staticdevice/",
        "/admin/otp_static/staticdevice/add/",
        "/admin/mfa/totpdevice/",
        "/admin/mfa/passkeycredential/",
        "/admin/mfa/mfaresetrequest/",
    ):
        assert admin_client.get(path).status_code == 404, path


# --- sealed keys --------------------------------------------------------------------------


def _dump(owner) -> str:
    env = {**os.environ, "PGPASSWORD": owner.info.password or ""}
    out = subprocess.run(
        [
            pg_tool("pg_dump"),
            "--no-owner",
            "--data-only",
            "-h",
            owner.info.host or "127.0.0.1",
            "-p",
            str(owner.info.port or 5432),
            "-U",
            owner.info.user or "postgres",
            connection.settings_dict["NAME"],
        ],
        env=env,
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr.decode("utf-8", "replace")
    return out.stdout.decode("utf-8", "replace").lower()


def test_no_clear_totp_key_in_a_database_dump_and_codes_still_verify(owner_db, now):
    user_id, key = _enrolled("ops-dump", now)
    b32 = base64.b32encode(key).decode().rstrip("=")
    dump = _dump(owner_db)
    for form in (key.hex(), b32, b32.encode().hex(), key.hex().encode().hex()):
        assert form.lower() not in dump, form
    assert "mfa_totp_device" in dump  # the device is there, sealed
    later = now + timedelta(seconds=60)
    device = mfa.second_factor_verify(user_id=user_id, code=_code(key, later), now=later)
    assert isinstance(device, TotpDevice)


@pytest.mark.django_db
def test_totp_keys_rotate_with_the_data_keys(settings, now):
    k1, k2 = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    settings.LIGHTWAY_DATA_KEYS = f"v1:{k1}"
    crypto.keyring_cache_clear()
    try:
        user_id, key = _enrolled("ops-rotate", now)
        settings.LIGHTWAY_DATA_KEYS = f"v2:{k2},v1:{k1}"
        crypto.keyring_cache_clear()
        assert keys_status()["mfa.TotpDevice.key_ct"] == {"v1": 1}
        result = keys_rotate(now=now)
        assert result.by_column["mfa.TotpDevice.key_ct"] == 1
        assert keys_status()["mfa.TotpDevice.key_ct"] == {"v2": 1}
        settings.LIGHTWAY_DATA_KEYS = f"v2:{k2}"  # the old key is gone: codes still verify
        crypto.keyring_cache_clear()
        later = now + timedelta(seconds=60)
        mfa.second_factor_verify(user_id=user_id, code=_code(key, later), now=later)
    finally:
        crypto.keyring_cache_clear()


@pytest.mark.django_db
def test_a_sealed_key_copied_to_another_account_does_not_open(now):
    a, _ = _enrolled("ops-a", now)
    b, _ = _enrolled("ops-b", now)
    TotpDevice.objects.filter(user_id=b).update(key_ct=TotpDevice.objects.get(user_id=a).key_ct)
    with pytest.raises(crypto.CryptoError):
        mfa.second_factor_verify(user_id=b, code="123456", now=now)


# --- maker-checker reset ------------------------------------------------------------------


def _admin(username, now):
    user_id = staff(username, [Role.LW_ADMIN], now)
    client = VerifiedClient()
    client.force_login(get_user_model().objects.get(pk=user_id))
    return user_id, client


@pytest.mark.django_db
def test_a_reset_needs_a_second_administrator_and_is_audited(now):
    target, _ = _enrolled("ops-lost-phone", now)
    PasskeyCredential.objects.create(
        user_id=target, name="key", credential_id="cred-1", public_key=b"k", created_at=now
    )
    maker, maker_client = _admin("admin-maker", now)
    checker, checker_client = _admin("admin-checker", now)
    ops = get_user_model().objects.get(pk=staff("ops-other", [Role.LW_OPERATIONS], now))
    operations_client = VerifiedClient()
    operations_client.force_login(ops)

    # the target's own session, verified by the old device
    target_client = VerifiedClient()
    target_client.force_login(get_user_model().objects.get(pk=target))
    assert target_client.get("/staff/").status_code == 200

    # only an administrator asks, with a reason
    assert (
        operations_client.post(
            "/staff/roles/mfa-reset/", {"user_id": target, "reason": "ticket 42: lost phone"}
        ).status_code
        == 403
    )
    # too short a reason: 400, the message beside that member's field, the reason as typed
    short = maker_client.post("/staff/roles/mfa-reset/", {"user_id": target, "reason": "short"})
    html = short.content.decode()
    assert short.status_code == 400 and 'class="error-summary"' in html
    assert f'id="reset-{target}_error"' in html and "at least 10 characters" in html
    assert f'id="reset-{target}" class="input"' in html and 'value="short"' in html
    assert not MfaResetRequest.objects.exists()
    resp = maker_client.post(
        "/staff/roles/mfa-reset/", {"user_id": target, "reason": "ticket 42: lost phone"}
    )
    assert resp.status_code == 302
    (pending,) = MfaResetRequest.objects.all()
    assert pending.status == "pending" and pending.requested_by_id == maker
    page = checker_client.get("/staff/roles/")
    assert b"ticket 42: lost phone" in page.content

    # the one who asked cannot approve it; nothing changes
    maker_client.post(f"/staff/roles/mfa-reset/{pending.pk}/approve/")
    with pytest.raises(ResetForbidden):
        mfa_reset_approve(actor_id=maker, request_id=pending.pk, now=now)
    assert TotpDevice.objects.filter(user_id=target).exists()

    # a second administrator approves: every device of the target goes
    resp = checker_client.post(f"/staff/roles/mfa-reset/{pending.pk}/approve/")
    assert resp.status_code == 302
    pending.refresh_from_db()
    assert (pending.status, pending.decided_by_id) == ("approved", checker)
    assert not TotpDevice.objects.filter(user_id=target).exists()
    assert not StaticDevice.objects.filter(user_id=target).exists()
    assert not PasskeyCredential.objects.filter(user_id=target).exists()
    # the target's session is no longer verified: it must enrol again
    resp = target_client.get("/staff/")
    assert resp.status_code == 302 and resp["Location"].startswith("/staff/mfa/")

    asked = AuditRecord.objects.get(action="mfa.reset.request")
    assert (asked.actor, asked.object_id) == (f"staff:{maker}", str(target))
    assert asked.data["reason"] == "ticket 42: lost phone"
    done = AuditRecord.objects.get(action="mfa.reset.approve")
    assert (done.actor, done.object_id) == (f"staff:{checker}", str(target))
    # backup codes: the real ones and the test client's sign-in device
    assert done.data["removed"] == {"totp": 1, "backup_codes": 2, "passkeys": 1}
    assert done.data["requested_by"] == f"staff:{maker}"


@pytest.mark.django_db
def test_nobody_asks_for_their_own_reset_and_the_database_holds_four_eyes(now):
    admin_id, _ = _admin("admin-self", now)
    target, _ = _enrolled("ops-target", now)
    with pytest.raises(Exception, match="your own"):
        mfa_reset_request(actor_id=admin_id, target_user_id=admin_id, reason="x" * 12, now=now)
    row = mfa_reset_request(actor_id=admin_id, target_user_id=target, reason="x" * 12, now=now)
    with pytest.raises(Exception, match="already waiting"):
        mfa_reset_request(actor_id=admin_id, target_user_id=target, reason="y" * 12, now=now)
    for forged in (
        {"decided_by_id": admin_id},  # the requester decides
        {"decided_by_id": target},  # the target decides
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            MfaResetRequest.objects.filter(pk=row.pk).update(
                status="approved", decided_at=now, **forged
            )
    with pytest.raises(IntegrityError), transaction.atomic():
        MfaResetRequest.objects.create(
            target_id=admin_id, requested_by_id=admin_id, reason="x" * 12, requested_at=now
        )


# --- every device change is audited -------------------------------------------------------


@pytest.mark.django_db
def test_every_device_change_writes_an_audit_record(now):
    user_id, _ = _enrolled("ops-audit", now)
    later = now + timedelta(minutes=5)
    mfa.backup_codes_regenerate(user_id=user_id, now=later)
    passkey = PasskeyCredential.objects.create(
        user_id=user_id, name="key", credential_id="cred-2", public_key=b"k", created_at=now
    )
    mfa.passkey_remove(user_id=user_id, passkey_id=passkey.pk, now=later)
    actions = list(
        AuditRecord.objects.filter(object_id=str(user_id), action__startswith="mfa.")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "mfa.totp.enrol_start",
        "mfa.totp.confirm",
        "mfa.backup_codes.generate",
        "mfa.backup_codes.generate",
        "mfa.passkey.remove",
    ]
    start = AuditRecord.objects.get(action="mfa.totp.enrol_start")
    assert set(start.data) == {"device", "replaced"}  # names, never the key


def test_the_migration_seals_the_old_clear_keys_and_drops_their_table(owner_db, now):
    """An existing database: django-otp's table with a clear key moves into the sealed one."""
    import importlib
    from types import SimpleNamespace

    move = importlib.import_module("lightway.security.mfa.migrations.0002_totp_device_sealed")
    user_id = staff("ops-legacy", [Role.LW_OPERATIONS], now)
    key = os.urandom(20)
    owner_db.execute(
        """
        CREATE TABLE otp_totp_totpdevice (
            id serial PRIMARY KEY, user_id integer NOT NULL, name varchar(64) NOT NULL,
            confirmed boolean NOT NULL, key varchar(80) NOT NULL, step smallint NOT NULL,
            t0 bigint NOT NULL, digits smallint NOT NULL, tolerance smallint NOT NULL,
            drift smallint NOT NULL, last_t bigint NOT NULL, created_at timestamptz,
            last_used_at timestamptz)
        """
    )
    owner_db.execute(
        "INSERT INTO otp_totp_totpdevice (user_id, name, confirmed, key, step, t0, digits,"
        " tolerance, drift, last_t) VALUES (%s, 'app', true, %s, 30, 0, 6, 1, 0, -1)",
        [user_id, key.hex()],
    )
    move._totp_move(None, SimpleNamespace(connection=owner_db))
    assert owner_db.execute("SELECT to_regclass('otp_totp_totpdevice')").fetchone()[0] is None
    assert key.hex() not in _dump(owner_db)
    later = now + timedelta(seconds=60)
    mfa.second_factor_verify(user_id=user_id, code=_code(key, later), now=later)


@pytest.mark.django_db
def test_the_demo_staff_codes_come_from_their_sealed_demo_key(now):
    """``lightway demo-totp``: the seeded device holds the demo key, sealed, and its code
    verifies."""
    from lightway.application import demo
    from lightway.security.mfa.totp import totp_code, totp_key

    demo._demo_staff(demo.DemoSeedResult(), "ops", Role.LW_OPERATIONS, now)
    device = TotpDevice.objects.get(user__username="ops", name="demo", confirmed=True)
    assert totp_key(device) == bytes.fromhex(demo.demo_totp_key("ops"))
    assert demo.demo_totp_key("ops") not in bytes(device.key_ct).hex()
    mfa.second_factor_verify(user_id=device.user_id, code=totp_code(device, now=now), now=now)
