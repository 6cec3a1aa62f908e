"""Staff sign-in needs a second factor; sessions time out when idle.

Over HTTP with Django's plain test client (``django.test.Client``: no shortcut past the
second factor), against the project's own URLs.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken

from lightway.application.identity.profiles import profile_create
from lightway.application.staff.accounts import role_grant, role_revoke
from lightway.data.audit.models import AuditRecord
from lightway.data.identity.models import Realm
from lightway.interfaces.panels.common import SESSION_LAST_SEEN, SESSION_STARTED
from lightway.security.mfa.models import TotpDevice
from lightway.security.mfa.totp import totp_key
from lightway.security.policy import Role

pytestmark = pytest.mark.django_db

PASSWORD = "Staff-password-2026!"


def staff(username: str = "ops", *, realm: str = Realm.LIGHTWAY, superuser: bool = True) -> User:
    user = User.objects.create_user(
        username, password=PASSWORD, is_staff=realm == Realm.LIGHTWAY, is_superuser=superuser
    )
    profile_create(user_id=user.pk, realm=realm, now=datetime.now(UTC))
    role = Role.LW_ADMIN if realm == Realm.LIGHTWAY else Role.MTN_MONITORING
    role_grant(user_id=user.pk, role=role, actor="system", now=datetime.now(UTC))
    return user


def sign_in(client: Client, username: str = "ops", password: str = PASSWORD, next_: str = ""):
    url = "/staff/login/" + (f"?next={next_}" if next_ else "")
    return client.post(url, {"username": username, "password": password})


def code_for(device: TotpDevice, *, ahead: int = 0) -> str:
    """The device's current code (``ahead`` time steps later: still within tolerance)."""
    value = totp(totp_key(device), device.step, device.t0, device.digits, device.drift + ahead)
    return f"{value:0{device.digits}d}"


def enrol(client: Client, user: User) -> list[str]:
    """Sign in with the password, enrol TOTP from the QR page, return the backup codes."""
    response = sign_in(client, user.username)
    assert response.status_code == 302 and response["Location"].startswith("/staff/mfa/enrol/")
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b'src="data:image/svg+xml' in page.content  # the QR code, CSP-compatible
    device = TotpDevice.objects.get(user=user, confirmed=False)
    done = client.post("/staff/mfa/enrol/", {"code": code_for(device)})
    assert done.status_code == 200
    codes = re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", done.content.decode())
    assert len(codes) == 10
    return codes


@pytest.mark.parametrize("path", ["/admin/", "/admin/auth/user/", "/staff/", "/mtn/"])
def test_a_password_alone_reaches_nothing(path):
    user = staff()
    client = Client()
    response = sign_in(client)
    assert response.status_code == 302
    assert response["Location"] == "/staff/mfa/enrol/"  # no device yet: enrol first
    blocked = client.get(path)
    assert blocked.status_code == 302
    assert blocked["Location"].startswith("/staff/mfa/")
    assert not TotpDevice.objects.filter(user=user, confirmed=True).exists()


def test_anonymous_admin_goes_to_the_staff_login():
    response = Client().get("/admin/")
    assert response.status_code == 302
    follow = Client().get(response["Location"])
    assert follow.status_code == 302
    assert follow["Location"] == "/staff/login/?next=%2Fadmin%2F"


def test_totp_enrolment_opens_staff_pages_and_the_admin():
    user = staff()
    client = Client()
    enrol(client, user)
    assert TotpDevice.objects.get(user=user).confirmed
    assert client.get("/staff/").status_code == 200
    assert client.get("/admin/").status_code == 200
    assert client.get("/mtn/").status_code == 403  # MTN's page: not a LightWay admin's action
    actions = list(
        AuditRecord.objects.filter(actor=f"user:{user.pk}").values_list("action", flat=True)
    )
    for expected in ("auth.login", "mfa.totp.enrol_start", "mfa.totp.confirm"):
        assert expected in actions
    assert "mfa.backup_codes.generate" in actions


def test_next_sign_in_asks_for_a_code_and_a_code_works_once():
    user = staff()
    enrol(Client(), user)
    device = TotpDevice.objects.get(user=user)

    client = Client()
    response = sign_in(client, next_="/admin/")
    assert response["Location"] == "/staff/mfa/?next=/admin/"
    assert client.get("/admin/").status_code == 302
    code = code_for(device, ahead=1)
    verified = client.post("/staff/mfa/", {"code": code, "next": "/admin/"})
    assert verified.status_code == 302 and verified["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200

    # The same code again, in another session: refused (one use per time step).
    other = Client()
    sign_in(other)
    again = other.post("/staff/mfa/", {"code": code})
    assert again.status_code == 400
    assert b"not right" in again.content
    assert other.get("/staff/").status_code == 302


def test_a_backup_code_works_once():
    user = staff()
    codes = enrol(Client(), user)
    first = Client()
    sign_in(first)
    ok = first.post("/staff/mfa/", {"code": codes[0].upper()})  # case does not matter
    assert ok.status_code == 302 and ok["Location"] == "/staff/"
    assert first.get("/staff/").status_code == 200
    assert StaticToken.objects.filter(device__user=user).count() == 9
    record = AuditRecord.objects.filter(action="mfa.verify").latest("id")
    assert record.data == {"method": "backup_code", "purpose": "login", "backup_codes_left": 9}

    second = Client()
    sign_in(second)
    assert second.post("/staff/mfa/", {"code": codes[0]}).status_code == 400
    assert second.post("/staff/mfa/", {"code": codes[1]}).status_code == 302
    # Codes are stored hashed, not as typed.
    stored = set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))
    assert not stored & {c.replace("-", "") for c in codes} and not stored & set(codes)


def test_wrong_codes_lock_the_second_step_with_backoff():
    user = staff()
    codes = enrol(Client(), user)
    client = Client()
    sign_in(client)
    for _ in range(5):
        response = client.post("/staff/mfa/", {"code": "000000"})
        assert response.status_code == 400 and b"not right" in response.content
    locked = client.post("/staff/mfa/", {"code": "000000"})
    assert b"Try again in 30 s" in locked.content
    # Even a good code waits for the lock to pass.
    still = client.post("/staff/mfa/", {"code": codes[0]})
    assert b"Try again in" in still.content
    assert client.get("/staff/").status_code == 302
    assert AuditRecord.objects.filter(action="mfa.verify_failed").count() == 6


def test_password_lockout_and_the_same_answer_for_unknown_staff():
    staff()
    client = Client()
    unknown = sign_in(client, username="nobody")
    wrong = sign_in(client, password="wrong-password-1")
    assert b"The username or password is not right." in unknown.content
    assert b"The username or password is not right." in wrong.content
    for _ in range(5):
        sign_in(client, password="wrong-password-1")
    locked = sign_in(client)  # the right password, but locked
    assert locked.status_code == 400 and b"Try again in 30 s" in locked.content


def test_a_customer_cannot_use_the_staff_login():
    user = User.objects.create_user("sub_customer", password=PASSWORD)
    profile_create(user_id=user.pk, realm=Realm.CUSTOMER, now=datetime.now(UTC), country="UG")
    response = sign_in(Client(), username="sub_customer")
    assert response.status_code == 400


def test_a_password_cannot_add_a_device_when_one_exists():
    user = staff()
    enrol(Client(), user)
    client = Client()
    sign_in(client)
    response = client.get("/staff/mfa/enrol/")
    assert response.status_code == 302 and response["Location"].startswith("/staff/mfa/?")
    assert TotpDevice.objects.filter(user=user).count() == 1


def test_mtn_staff_land_on_the_mtn_page_and_not_in_the_admin():
    user = staff("mtn_ops", realm=Realm.MTN, superuser=False)
    client = Client()
    enrol(client, user)
    assert client.get("/staff/")["Location"] == "/mtn/"
    page = client.get("/mtn/")
    assert page.status_code == 200 and b"No MoMo transfers yet" in page.content
    assert client.get("/admin/").status_code in (302, 403)
    assert client.get("/admin/login/?next=/admin/").status_code == 403


def test_staff_sessions_end_after_the_idle_time(settings):
    settings.LIGHTWAY_STAFF_IDLE_SECONDS = 900
    user = staff()
    client = Client()
    enrol(client, user)
    session = client.session
    session[SESSION_LAST_SEEN] = int(time.time()) - 600
    session.save()
    assert client.get("/staff/").status_code == 200  # 10 minutes: still signed in
    session = client.session
    session[SESSION_LAST_SEEN] = int(time.time()) - 901
    session.save()
    response = client.get("/staff/")
    assert response.status_code == 302
    assert response["Location"] == "/staff/login/?next=%2Fstaff%2F"
    assert client.get("/staff/").status_code == 302  # signed out for good
    record = AuditRecord.objects.filter(action="auth.logout").latest("id")
    assert record.data == {"reason": "idle"} and record.actor == f"user:{user.pk}"


def test_sessions_end_after_their_maximum_age_even_when_active(settings):
    settings.SESSION_COOKIE_AGE = 12 * 3600
    user = staff()
    client = Client()
    enrol(client, user)
    session = client.session
    session[SESSION_STARTED] = int(time.time()) - 11 * 3600  # active, 11 h old: still in
    session.save()
    assert client.get("/staff/").status_code == 200
    session = client.session
    session[SESSION_STARTED] = int(time.time()) - 12 * 3600 - 1
    session.save()
    response = client.get("/staff/")
    assert (response.status_code, response["Location"]) == (302, "/staff/login/")
    assert client.get("/staff/").status_code == 302  # signed out for good
    record = AuditRecord.objects.filter(action="auth.logout").latest("id")
    assert record.data == {"reason": "max_age"}


def test_customer_sessions_get_a_longer_idle_time(settings):
    settings.LIGHTWAY_CUSTOMER_IDLE_SECONDS = 1800
    user = User.objects.create_user("sub_idle", password=PASSWORD)
    profile_create(
        user_id=user.pk,
        realm=Realm.CUSTOMER,
        now=datetime.now(UTC),
        country="UG",
        phone="+256772555666",
    )
    client = Client()
    client.force_login(user)
    session = client.session
    session[SESSION_LAST_SEEN] = int(time.time()) - 1200  # 20 minutes
    session.save()
    assert client.get("/app/").status_code == 200
    session = client.session
    session[SESSION_LAST_SEEN] = int(time.time()) - 1801
    session.save()
    response = client.get("/app/wallets/")
    assert response["Location"] == "/app/login/?next=%2Fapp%2Fwallets%2F"


def test_staff_logout_is_audited_and_ends_the_session():
    user = staff()
    client = Client()
    enrol(client, user)
    response = client.post("/staff/logout/")
    assert response["Location"] == "/staff/login/"
    assert client.get("/staff/").status_code == 302
    assert AuditRecord.objects.filter(action="auth.logout", data__reason="user").exists()


def test_the_session_key_changes_at_each_factor():
    user = staff()
    client = Client()
    sign_in(client)
    after_password = client.cookies["sessionid"].value
    device = TotpDevice.objects.filter(user=user).first()
    if device is None:
        client.get("/staff/mfa/enrol/")
        device = TotpDevice.objects.get(user=user)
    client.post("/staff/mfa/enrol/", {"code": code_for(device)})
    assert client.cookies["sessionid"].value != after_password


def test_customers_who_turn_on_totp_need_it_to_sign_in(now):
    from lightway.application.onboarding.registration import registration_start

    user_id = registration_start(
        phone="+256772444555",
        country="UG",
        password=PASSWORD,
        language="en",
        accept_terms=True,
        client="192.0.2.10",
        now=now,
    )
    client = Client()
    login = {"country": "UG", "phone": "0772444555", "password": PASSWORD}
    assert client.post("/app/login/", login)["Location"] == "/app/"
    assert client.post("/app/security/totp/")["Location"] == "/app/security/#totp"
    page = client.get("/app/security/")
    assert b'src="data:image/svg+xml' in page.content
    device = TotpDevice.objects.get(user_id=user_id, confirmed=False)
    confirmed = client.post("/app/security/totp/confirm/", {"code": code_for(device)})
    assert confirmed.status_code == 200 and b"backup codes" in confirmed.content.lower()
    assert client.get("/app/wallets/").status_code == 200  # this session is verified

    other = Client()
    response = other.post("/app/login/", login)
    assert response["Location"] == "/app/login/2fa/?next=/app/"
    assert other.get("/app/wallets/")["Location"].startswith("/app/login/2fa/")
    done = other.post("/app/login/2fa/", {"code": code_for(device, ahead=1), "next": "/app/"})
    assert done["Location"] == "/app/"
    assert other.get("/app/wallets/").status_code == 200


def test_the_mtn_page_lists_momo_routed_transfers_only_newest_first(now):
    from lightway.data.wallets.models import Transfer

    customer = User.objects.create_user("sub_payer", password=PASSWORD)
    profile = profile_create(user_id=customer.pk, realm=Realm.CUSTOMER, now=now, country="UG")

    def transfer(kind: str, minutes: int, amount: int) -> Transfer:
        at = now.replace(minute=minutes)
        return Transfer.objects.create(
            kind=kind,
            status="pending",
            client=customer,
            idempotency_key=f"k-{kind}-{minutes}",
            request_hash="0" * 64,
            currency="UGX",
            amount=amount,
            created_at=at,
            updated_at=at,
        )

    older = transfer("deposit", 1, 50_000)
    newer = transfer("withdrawal", 2, 20_000)
    transfer("p2p", 3, 7_777)
    user = staff("mtn_watch", realm=Realm.MTN, superuser=False)
    client = Client()
    enrol(client, user)
    page = client.get("/mtn/").content.decode()
    assert page.index(str(newer.id)[:8]) < page.index(str(older.id)[:8])
    assert "UGX 50,000" in page and "UGX 20,000" in page
    assert "7,777" not in page  # wallet-to-wallet: not MoMo-routed
    assert profile.subject in page  # the customer by opaque reference, nothing personal


def test_staff_navigation_offers_only_what_the_roles_allow():
    admin = staff("boss")  # lw_admin: staff and roles, the admin site; not customer data
    client = Client()
    enrol(client, admin)
    page = client.get("/staff/").content.decode()
    assert 'href="/staff/roles/"' in page and 'href="/admin/"' in page
    assert 'href="/staff/customers/"' not in page
    assert client.get("/staff/customers/").status_code == 403

    support = staff("helpdesk")
    role_revoke(user_id=support.pk, role=Role.LW_ADMIN, actor="system", now=datetime.now(UTC))
    role_grant(user_id=support.pk, role=Role.LW_SUPPORT, actor="system", now=datetime.now(UTC))
    other = Client()
    enrol(other, support)
    page = other.get("/staff/").content.decode()
    assert 'href="/staff/customers/"' in page
    assert 'href="/staff/roles/"' not in page and 'href="/admin/"' not in page
