"""Mobile sign-in over the API: passwords with lockout, new-device SMS challenge, access
tokens, refresh-token rotation with theft detection, devices, logout, staff refused."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from django_otp.oath import TOTP

from lightway.application.authentication.errors import LoginFailed, TooManyAttempts
from lightway.application.authentication.sessions import login_start
from lightway.application.errors import ValidationFailed
from lightway.application.identity.profiles import profile_create
from lightway.data.audit.models import AuditRecord
from lightway.data.identity.models import Profile, Realm
from lightway.security.apiauth.access import TokenInvalid, access_principal
from lightway.security.apiauth.models import Device, RefreshToken
from lightway.security.mfa.totp import totp_device_new, totp_key
from tests.factories import funded_wallet

pytestmark = pytest.mark.django_db

PHONE = "+256772123401"
PASSWORD = "amber-Lantern-2026"
DEVICE = "7c1d2e3f-aaaa-4bbb-8ccc-000000000001"
OTHER_DEVICE = "7c1d2e3f-aaaa-4bbb-8ccc-000000000002"


def make_customer(username="amara", phone=PHONE, realm=Realm.CUSTOMER, **user_fields):
    now = timezone.now()
    user = get_user_model().objects.create_user(username=username, password=PASSWORD, **user_fields)
    profile_create(user_id=user.pk, realm=realm, now=now, country="UG", phone=phone)
    Profile.objects.filter(user_id=user.pk).update(phone_verified_at=now)
    return user


def login(client, login=PHONE, password=PASSWORD, device=DEVICE, **extra):
    body = {"login": login, "password": password, "device_id": device, **extra}
    return client.post("/api/v1/auth/login", data=json.dumps(body), content_type="application/json")


def post(client, path, body, token=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.post(path, data=json.dumps(body), content_type="application/json", **headers)


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def error(resp, status, code):
    assert resp.status_code == status, resp.content
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {
        "code",
        "category",
        "message",
        "path",
        "retryable",
        "details",
    }
    assert body["error"]["code"] == code, body
    return body["error"]


def sign_in(client, outbox, device=DEVICE, **extra):
    """The full first sign-in on a device: password, SMS code, tokens."""
    resp = login(client, device=device, device_name="Pixel 7", **extra)
    assert resp.status_code == 202, resp.content
    challenge = resp.json()["challenge_id"]
    resp = post(
        client,
        "/api/v1/auth/login/verify",
        {"challenge_id": challenge, "code": outbox.latest_code(PHONE)},
    )
    assert resp.status_code == 200, resp.content
    return resp.json()


def test_new_device_is_confirmed_by_sms_then_trusted(client, outbox):
    user = make_customer()
    wallet = funded_wallet(user.pk, "UGX", 5000, timezone.now())
    resp = login(client, device_name="Pixel 7")
    assert resp.status_code == 202, resp.content
    challenge = resp.json()
    assert challenge["channel"] == "sms" and challenge["sent_to"] != PHONE
    assert challenge["sent_to"].endswith("01")
    assert "access_token" not in challenge

    code = outbox.latest_code(PHONE)
    # a wrong code first: refused, the right one still works afterwards
    wrong = "000000" if code != "000000" else "111111"
    error(
        post(
            client,
            "/api/v1/auth/login/verify",
            {"challenge_id": challenge["challenge_id"], "code": wrong},
        ),
        401,
        "code_invalid",
    )
    resp = post(
        client,
        "/api/v1/auth/login/verify",
        {"challenge_id": challenge["challenge_id"], "code": code},
    )
    assert resp.status_code == 200, resp.content
    tokens = resp.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 300
    assert tokens["access_token"].startswith("lwa1.") and tokens["refresh_token"].startswith("lwr_")
    # the access token works on the API
    wallets = client.get("/api/v1/wallets", **bearer(tokens["access_token"]))
    assert wallets.status_code == 200 and wallets.json()[0]["id"] == str(wallet.id)
    # the customer is told about the new device
    assert "new device" in outbox.latest_sms(PHONE) and "Pixel 7" in outbox.latest_sms(PHONE)
    # the code (and its challenge) are single-use
    error(
        post(
            client,
            "/api/v1/auth/login/verify",
            {"challenge_id": challenge["challenge_id"], "code": code},
        ),
        401,
        "challenge_invalid",
    )
    # next sign-in from the same device: tokens at once, no SMS
    sent = len(outbox.sms_to(PHONE))
    resp = login(client)
    assert resp.status_code == 200 and resp.json()["device_id"] == tokens["device_id"]
    assert len(outbox.sms_to(PHONE)) == sent
    # audited without secrets
    actions = list(AuditRecord.objects.values_list("action", flat=True))
    assert {"session.device_challenge", "session.device_trust", "session.login"} <= set(actions)
    dumped = json.dumps(list(AuditRecord.objects.values_list("data", flat=True)))
    assert PASSWORD not in dumped and code not in dumped and PHONE not in dumped


def test_login_by_username_and_national_phone(client, outbox):
    make_customer()
    sign_in(client, outbox)
    assert login(client, login="amara").status_code == 200
    assert login(client, login="0772 123401", country="UG").status_code == 200
    # national form without country: a refusal that says why, not an account oracle
    error(login(client, login="0772123401"), 422, "phone_invalid")


def test_wrong_password_and_unknown_user_get_the_same_answer(client):
    make_customer()
    answers = [
        login(client, password="not-the-password"),
        login(client, login="+256772999999"),
        login(client, login="nobody-here"),
    ]
    bodies = [error(r, 401, "login_failed") for r in answers]
    assert bodies[0] == bodies[1] == bodies[2]
    assert AuditRecord.objects.filter(action="session.login_failed").count() == 1  # known user


def test_lockout_with_backoff_and_retry_after(client, settings):
    make_customer()
    settings.LIGHTWAY_LOCKOUT_FREE_ATTEMPTS = 5
    settings.LIGHTWAY_LOCKOUT_BASE_SECONDS = 30
    for _ in range(6):  # 5 free failures, the 6th locks for 30 s
        error(login(client, password="wrong-password-1"), 401, "login_failed")
    resp = login(client)  # even the right password is refused while locked
    err = error(resp, 429, "too_many_attempts")
    # the real clock runs between the lock and this request (a second or more on a loaded
    # machine); the exact value is checked with a passed clock below
    assert resp["Retry-After"] == str(err["details"]["retry_after_seconds"])
    assert 25 <= err["details"]["retry_after_seconds"] <= 30
    # unknown logins are throttled too
    for _ in range(6):
        error(login(client, login="+256772999999"), 401, "login_failed")
    error(login(client, login="+256772999999"), 429, "too_many_attempts")


def test_backoff_doubles_with_the_passed_clock(settings, now):
    make_customer()
    settings.LIGHTWAY_LOCKOUT_FREE_ATTEMPTS = 2
    settings.LIGHTWAY_LOCKOUT_BASE_SECONDS = 30
    args = {"login": PHONE, "device_id": DEVICE, "device_name": "", "country": None}
    for _ in range(3):
        with pytest.raises(LoginFailed):
            login_start(password="wrong-password", now=now, **args)
    with pytest.raises(TooManyAttempts) as locked:
        login_start(password=PASSWORD, now=now + timedelta(seconds=10), **args)
    assert locked.value.retry_after == 20
    later = now + timedelta(seconds=31)
    with pytest.raises(LoginFailed):  # unlocked: a wrong guess is judged, and locks longer
        login_start(password="wrong-password", now=later, **args)
    with pytest.raises(TooManyAttempts) as locked:
        login_start(password=PASSWORD, now=later, **args)
    assert locked.value.retry_after == 60


def test_staff_and_partner_accounts_get_no_tokens(client, now):
    make_customer("ops", phone=None, realm=Realm.LIGHTWAY)
    make_customer("root", phone=None, realm=Realm.CUSTOMER, is_staff=True)
    for name in ("ops", "root"):
        err = error(login(client, login=name), 403, "staff_not_allowed")
        assert "staff panel" in err["message"]
        # a wrong password says nothing about the account being staff
        error(login(client, login=name, password="wrong-password"), 401, "login_failed")
    from lightway.data.identity.models import Partner

    partner = Partner.objects.create(code="acme", name="Acme", created_at=now)
    user = get_user_model().objects.create_user(username="acme-api", password=PASSWORD)
    profile_create(user_id=user.pk, realm=Realm.PARTNER, now=now, partner_id=partner.pk)
    error(login(client, login="acme-api"), 403, "login_not_allowed")
    assert not Device.objects.exists()


def test_authenticator_app_accounts_need_the_totp_code(client, outbox):
    user = make_customer()
    device = totp_device_new(user_id=user.pk, name="phone", now=timezone.now(), confirmed=True)
    error(login(client), 401, "totp_required")
    error(login(client, totp="000000"), 401, "totp_invalid")
    totp = TOTP(totp_key(device), device.step, device.t0, device.digits, device.drift)
    totp.time = timezone.now().timestamp()
    tokens = sign_in(client, outbox, totp=f"{totp.token():06d}")
    assert tokens["access_token"]
    # the same TOTP code cannot be used twice
    error(login(client, totp=f"{totp.token():06d}"), 401, "totp_invalid")


def test_refresh_rotates_and_reuse_revokes_the_family(client, outbox):
    make_customer()
    first = sign_in(client, outbox)
    resp = post(
        client,
        "/api/v1/auth/refresh",
        {"refresh_token": first["refresh_token"], "device_id": DEVICE},
    )
    assert resp.status_code == 200, resp.content
    second = resp.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert client.get("/api/v1/wallets", **bearer(second["access_token"])).status_code == 200
    used = RefreshToken.objects.get(used_at__isnull=False)
    assert used.replaced_by_id is not None

    # the first refresh token again: someone copied it; the whole session ends
    err = error(
        post(
            client,
            "/api/v1/auth/refresh",
            {"refresh_token": first["refresh_token"], "device_id": DEVICE},
        ),
        401,
        "refresh_invalid",
    )
    assert "sign in again" in err["message"]
    error(
        post(
            client,
            "/api/v1/auth/refresh",
            {"refresh_token": second["refresh_token"], "device_id": DEVICE},
        ),
        401,
        "refresh_invalid",
    )
    error(client.get("/api/v1/wallets", **bearer(second["access_token"])), 401, "session_revoked")
    assert RefreshToken.objects.filter(revoked_at__isnull=True).count() == 0
    assert AuditRecord.objects.filter(action="session.revoke", data__reason="reuse").exists()
    # signing in again on the (still trusted) device starts a new session
    assert login(client).status_code == 200


def test_refresh_token_is_bound_to_its_device(client, outbox):
    make_customer()
    tokens = sign_in(client, outbox)
    error(
        post(
            client,
            "/api/v1/auth/refresh",
            {"refresh_token": tokens["refresh_token"], "device_id": OTHER_DEVICE},
        ),
        401,
        "refresh_invalid",
    )
    # the stolen token is now useless on its own device too
    error(
        post(
            client,
            "/api/v1/auth/refresh",
            {"refresh_token": tokens["refresh_token"], "device_id": DEVICE},
        ),
        401,
        "refresh_invalid",
    )
    error(client.get("/api/v1/wallets", **bearer(tokens["access_token"])), 401, "session_revoked")
    assert AuditRecord.objects.filter(
        action="session.revoke", data__reason="device_mismatch"
    ).exists()
    error(
        post(
            client, "/api/v1/auth/refresh", {"refresh_token": "lwr_nonsense", "device_id": DEVICE}
        ),
        401,
        "refresh_invalid",
    )


def test_expired_refresh_token(client, outbox, settings):
    make_customer()
    settings.LIGHTWAY_REFRESH_TOKEN_SECONDS = 60
    tokens = sign_in(client, outbox)
    RefreshToken.objects.update(
        issued_at=timezone.now() - timedelta(seconds=61),
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    error(
        post(
            client,
            "/api/v1/auth/refresh",
            {"refresh_token": tokens["refresh_token"], "device_id": DEVICE},
        ),
        401,
        "refresh_invalid",
    )


def test_device_list_and_revoke_kills_its_access(client, outbox):
    make_customer()
    phone = sign_in(client, outbox, device=DEVICE)
    tablet = sign_in(client, outbox, device=OTHER_DEVICE)
    devices = client.get("/api/v1/auth/devices", **bearer(tablet["access_token"])).json()
    assert {d["id"] for d in devices} == {phone["device_id"], tablet["device_id"]}
    current = [d for d in devices if d["current"]]
    assert current[0]["id"] == tablet["device_id"] and current[0]["name"] == "Pixel 7"
    assert all(d["trusted_at"] and d["signed_in"] for d in devices)
    # a sign-in without a device name keeps the name
    assert login(client, device=OTHER_DEVICE).status_code == 200
    tablet = login(client, device=OTHER_DEVICE).json()
    names = [
        d["name"]
        for d in client.get("/api/v1/auth/devices", **bearer(tablet["access_token"])).json()
    ]
    assert names == ["Pixel 7", "Pixel 7"]
    # the device name is not stored in clear
    assert all(b"Pixel" not in bytes(d.name_ct) for d in Device.objects.all())

    resp = client.delete(
        f"/api/v1/auth/devices/{phone['device_id']}", **bearer(tablet["access_token"])
    )
    assert resp.status_code == 204, resp.content
    err = error(
        client.get("/api/v1/wallets", **bearer(phone["access_token"])), 401, "session_revoked"
    )
    assert err["message"]
    error(
        post(
            client,
            "/api/v1/auth/refresh",
            {"refresh_token": phone["refresh_token"], "device_id": DEVICE},
        ),
        401,
        "refresh_invalid",
    )
    assert client.get("/api/v1/wallets", **bearer(tablet["access_token"])).status_code == 200
    # a revoked device must be confirmed by SMS again
    assert login(client, device=DEVICE).status_code == 202
    # an unknown device, or someone else's, is not found
    error(
        client.delete(f"/api/v1/auth/devices/{uuid.uuid4()}", **bearer(tablet["access_token"])),
        404,
        "not_found",
    )
    make_customer("kofi", phone="+256772123402")
    kofi_device = Device.objects.create(
        user=get_user_model().objects.get(username="kofi"),
        device_id_hash="x" * 64,
        first_seen_at=timezone.now(),
        last_seen_at=timezone.now(),
    )
    error(
        client.delete(f"/api/v1/auth/devices/{kofi_device.pk}", **bearer(tablet["access_token"])),
        404,
        "not_found",
    )
    assert AuditRecord.objects.filter(action="session.device_revoke").count() == 1


def test_logout_ends_the_session(client, outbox):
    make_customer()
    tokens = sign_in(client, outbox)
    resp = client.post("/api/v1/auth/logout", **bearer(tokens["access_token"]))
    assert resp.status_code == 204, resp.content
    error(client.get("/api/v1/wallets", **bearer(tokens["access_token"])), 401, "session_revoked")
    error(
        post(
            client,
            "/api/v1/auth/refresh",
            {"refresh_token": tokens["refresh_token"], "device_id": DEVICE},
        ),
        401,
        "refresh_invalid",
    )
    # the device stays trusted: the next sign-in needs no SMS
    assert login(client).status_code == 200


def test_logout_needs_a_session_token(client, now):
    from tests.factories import customer

    _, legacy = customer("bot", now)
    error(client.post("/api/v1/auth/logout", **bearer(legacy)), 400, "session_required")
    assert client.get("/api/v1/auth/devices", **bearer(legacy)).json() == []


def test_access_token_expiry_and_forgery(client, outbox):
    user = make_customer()
    tokens = sign_in(client, outbox)
    access = tokens["access_token"]
    issued = timezone.now()
    assert access_principal(raw=access, now=issued + timedelta(seconds=250)).user_id == user.pk
    with pytest.raises(TokenInvalid) as err:
        access_principal(raw=access, now=issued + timedelta(seconds=301))
    assert err.value.code == "token_expired"
    # a token issued 10 minutes ago is refused over HTTP, telling the app to refresh
    past = timezone.now() - timedelta(minutes=10)
    old = login_start(
        login=PHONE,
        password=PASSWORD,
        device_id=DEVICE,
        device_name="",
        country=None,
        now=past,
    ).tokens
    assert old is not None
    resp = client.get("/api/v1/wallets", **bearer(old.access_token))
    error(resp, 401, "token_expired")
    assert "invalid_token" in resp["WWW-Authenticate"]
    # tampered payload, tampered signature, garbage
    head, payload, signature = old.access_token.split(".")
    forged = [
        f"{head}.{payload[:-2]}xx.{signature}",
        f"{head}.{payload}.{signature[:-2]}AA",
        "lwa1.garbage",
        "lwa1." + "a" * 2000,
    ]
    for token in forged:
        error(client.get("/api/v1/wallets", **bearer(token)), 401, "unauthenticated")


def test_access_token_key_from_settings(client, outbox, settings):
    make_customer()
    tokens = sign_in(client, outbox)
    settings.LIGHTWAY_ACCESS_TOKEN_KEY = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="
    error(client.get("/api/v1/wallets", **bearer(tokens["access_token"])), 401, "unauthenticated")
    resp = post(
        client,
        "/api/v1/auth/refresh",
        {"refresh_token": tokens["refresh_token"], "device_id": DEVICE},
    )
    assert client.get("/api/v1/wallets", **bearer(resp.json()["access_token"])).status_code == 200


def test_deactivated_user_loses_access(client, outbox):
    user = make_customer()
    tokens = sign_in(client, outbox)
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    error(client.get("/api/v1/wallets", **bearer(tokens["access_token"])), 401, "session_revoked")
    error(
        post(
            client,
            "/api/v1/auth/refresh",
            {"refresh_token": tokens["refresh_token"], "device_id": DEVICE},
        ),
        401,
        "refresh_invalid",
    )
    error(login(client), 401, "login_failed")


def test_a_superseded_challenge_does_not_spend_the_new_code(client, outbox):
    make_customer()
    first = login(client).json()["challenge_id"]
    second = login(client).json()["challenge_id"]
    code = outbox.latest_code(PHONE)
    error(
        post(client, "/api/v1/auth/login/verify", {"challenge_id": first, "code": code}),
        401,
        "challenge_invalid",
    )
    resp = post(client, "/api/v1/auth/login/verify", {"challenge_id": second, "code": code})
    assert resp.status_code == 200, resp.content


def test_challenge_is_signed_and_code_attempts_are_limited(client, outbox, settings):
    make_customer()
    resp = login(client)
    challenge = resp.json()["challenge_id"]
    head, payload, signature = challenge.split(".")
    error(
        post(
            client,
            "/api/v1/auth/login/verify",
            {"challenge_id": f"{head}.{payload}x.{signature}", "code": "123456"},
        ),
        401,
        "challenge_invalid",
    )
    settings.LIGHTWAY_LOCKOUT_FREE_ATTEMPTS = 3
    code = outbox.latest_code(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(4):
        error(
            post(client, "/api/v1/auth/login/verify", {"challenge_id": challenge, "code": wrong}),
            401,
            "code_invalid",
        )
    resp = post(client, "/api/v1/auth/login/verify", {"challenge_id": challenge, "code": code})
    error(resp, 429, "too_many_attempts")
    assert int(resp["Retry-After"]) > 0


def test_auth_routes_in_the_openapi_document(client):
    doc = client.get("/api/v1/openapi.json").json()
    login_op = doc["paths"]["/api/v1/auth/login"]["post"]
    assert {"200", "202", "401", "403", "429"} <= set(login_op["responses"])
    assert "security" not in login_op or login_op["security"] == []
    assert "/api/v1/auth/devices/{device_id}" in doc["paths"]
    assert "/api/v1/partner/whoami" in doc["paths"]
    assert "PartnerSignature" in doc["components"]["securitySchemes"]
    transfer = doc["paths"]["/api/v1/transfers"]["post"]
    names = {p["name"] for p in transfer["parameters"]}
    assert {"X-Step-Up-Challenge", "X-Step-Up-Code"} <= names


@pytest.mark.parametrize("bad", ["nul\x00byte", "tab\there", "x" * 121])
def test_unprintable_logins_are_validation_errors(client, bad, now):
    error(login(client, login=bad), 422, "validation_failed")
    with pytest.raises(ValidationFailed):
        login_start(
            login=bad, password="x", device_id=DEVICE, device_name="", country=None, now=now
        )
