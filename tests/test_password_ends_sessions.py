"""A new password ends every API session of the account (issue 11, finding 3).

Before the fix, the access and refresh tokens of a phone kept working after the password
was changed on the web: whoever had the old password kept the account. Now a password
change (the customer panel), a reset (the admin site's password form) and any other change
of the hash (``set_password`` from a shell: the database trigger) end them all, and the
customer's security alert says the devices were signed out.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from lightway.application.identity.profiles import profile_create
from lightway.data.audit.models import AuditRecord
from lightway.data.identity.models import Profile, Realm
from lightway.security.apiauth.models import Device, RefreshToken
from tests.conftest import VerifiedClient

pytestmark = pytest.mark.django_db

PHONE = "+256772123401"
PASSWORD = "amber-Lantern-2026"
NEW_PASSWORD = "cobalt-Harbour-2027"
DEVICES = ("7c1d2e3f-aaaa-4bbb-8ccc-000000000001", "7c1d2e3f-aaaa-4bbb-8ccc-000000000002")


def make_customer():
    now = timezone.now()
    user = get_user_model().objects.create_user(username="amara", password=PASSWORD)
    profile_create(user_id=user.pk, realm=Realm.CUSTOMER, now=now, country="UG", phone=PHONE)
    Profile.objects.filter(user_id=user.pk).update(phone_verified_at=now)
    return user


def post(client, path, body):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def sign_in_on_phone(client, outbox, device):
    """The first sign-in of a phone: password, SMS code, tokens."""
    resp = post(
        client,
        "/api/v1/auth/login",
        {"login": PHONE, "password": PASSWORD, "device_id": device, "device_name": "Pixel"},
    )
    assert resp.status_code == 202, resp.content
    resp = post(
        client,
        "/api/v1/auth/login/verify",
        {"challenge_id": resp.json()["challenge_id"], "code": outbox.latest_code(PHONE)},
    )
    assert resp.status_code == 200, resp.content
    return resp.json()


def access_works(client, tokens) -> bool:
    resp = client.get("/api/v1/wallets", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert resp.status_code in (200, 401), resp.content
    return resp.status_code == 200


def refresh_works(client, tokens, device) -> bool:
    resp = post(
        client,
        "/api/v1/auth/refresh",
        {"refresh_token": tokens["refresh_token"], "device_id": device},
    )
    assert resp.status_code in (200, 401), resp.content
    return resp.status_code == 200


def sessions(client, outbox):
    pairs = [(sign_in_on_phone(client, outbox, d), d) for d in DEVICES]
    assert all(access_works(client, t) for t, _ in pairs)
    return pairs


def assert_all_ended(client, pairs):
    for tokens, device in pairs:
        assert not access_works(client, tokens)
        assert not refresh_works(client, tokens, device)
    user_devices = Device.objects.filter(user__username="amara")
    assert not user_devices.filter(session_family__isnull=False).exists()
    assert not RefreshToken.objects.filter(
        device__in=user_devices, revoked_at__isnull=True, used_at__isnull=True
    ).exists()


def test_a_password_change_on_the_web_ends_every_api_session(client, outbox):
    user = make_customer()
    pairs = sessions(client, outbox)
    web = VerifiedClient()
    web.force_login(user)
    resp = web.post(
        "/app/security/password/", {"old_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert resp.status_code == 302, resp.content[:2000]
    assert_all_ended(client, pairs)
    (record,) = AuditRecord.objects.filter(action="session.revoke_all")
    assert (record.actor, record.object_id) == (f"user:{user.pk}", str(user.pk))
    assert record.data == {"reason": "password_change", "refresh_tokens": 2}
    alert = outbox.latest_sms(PHONE)
    assert "password was changed" in alert and "devices were signed out" in alert
    # the new password signs in again (the phone stays trusted: no SMS code needed)
    resp = post(
        client,
        "/api/v1/auth/login",
        {"login": PHONE, "password": NEW_PASSWORD, "device_id": DEVICES[0]},
    )
    assert resp.status_code == 200, resp.content
    assert access_works(client, resp.json())


def test_a_password_reset_by_an_administrator_ends_every_api_session(
    client, outbox, admin_client, admin_user
):
    user = make_customer()
    pairs = sessions(client, outbox)
    resp = admin_client.post(
        f"/admin/auth/user/{user.pk}/password/",
        {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert resp.status_code == 302, resp.content[:2000]
    assert_all_ended(client, pairs)
    (record,) = AuditRecord.objects.filter(action="session.revoke_all")
    assert record.actor == f"staff:{admin_user.pk}"
    assert record.data == {"reason": "password_reset", "refresh_tokens": 2}
    alert = outbox.latest_sms(PHONE)
    assert "reset by support" in alert and "devices were signed out" in alert


def test_any_change_of_the_password_hash_ends_the_sessions_in_the_database(client, outbox):
    """``manage.py changepassword`` or a shell: no service runs, the trigger still does."""
    user = make_customer()
    pairs = sessions(client, outbox)
    user.set_password(NEW_PASSWORD)
    user.save(update_fields=["password"])
    for tokens, device in pairs:
        assert not access_works(client, tokens)
        assert not refresh_works(client, tokens, device)


def test_other_changes_of_the_account_leave_the_sessions_alone(client, outbox):
    user = make_customer()
    pairs = sessions(client, outbox)
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    assert all(access_works(client, t) for t, _ in pairs)
