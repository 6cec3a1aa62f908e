"""Where you are signed in: the customer's browser sessions on the security page.

Each sign-in through the panel is listed (browser, when, last active, "this browser"); the
owner can sign out any other one or all others, a password change ends the others, and the
session key is never stored in clear. (Issue 13: security page with second factor, devices
and sessions.)
"""

from __future__ import annotations

import hashlib

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, transaction
from django.utils import timezone

from lightway.application.authentication.web_sessions import browser_label
from lightway.application.identity.profiles import profile_create
from lightway.data.audit.models import AuditRecord
from lightway.data.identity.models import Profile, Realm
from lightway.security.apiauth.models import WebSession
from tests.conftest import VerifiedClient

pytestmark = pytest.mark.django_db

PASSWORD = "amber-Lantern-2026"
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def make_customer(name: str, phone: str):
    now = timezone.now()
    user = get_user_model().objects.create_user(username=name, password=PASSWORD)
    profile_create(user_id=user.pk, realm=Realm.CUSTOMER, now=now, country="UG", phone=phone)
    Profile.objects.filter(user_id=user.pk).update(phone_verified_at=now)
    return user


def signed_in(phone: str, agent: str) -> VerifiedClient:
    client = VerifiedClient(HTTP_USER_AGENT=agent)
    resp = client.post(
        "/app/login/", {"country": "UG", "phone": phone.removeprefix("+256"), "password": PASSWORD}
    )
    assert resp.status_code == 302, resp.content.decode()[:500]
    assert client.get("/app/").status_code == 200
    return client


def test_each_sign_in_is_listed_with_its_browser_and_this_one_marked():
    user = make_customer("amara", "+256772123411")
    phone = signed_in("+256772123411", ANDROID)
    signed_in("+256772123411", IPHONE)
    page = phone.get("/app/security/").content.decode()
    assert "Where you are signed in" in page
    assert "Chrome Mobile on Android" in page and "Mobile Safari on iOS" in page
    assert page.count("this browser") == 1
    rows = WebSession.objects.filter(user=user, ended_at__isnull=True)
    assert rows.count() == 2
    key = phone.session.session_key
    # the bearer key only as a digest and sealed, never as typed
    assert {r.key_digest for r in rows} >= {hashlib.sha256(key.encode()).hexdigest()}
    for r in rows:
        assert key.encode() not in bytes(r.key_ct)


def test_the_owner_signs_out_another_browser_and_it_is_signed_out():
    user = make_customer("amara", "+256772123412")
    phone = signed_in("+256772123412", ANDROID)
    laptop = signed_in("+256772123412", IPHONE)
    other = WebSession.objects.get(user=user, browser="Mobile Safari on iOS")
    resp = phone.post(f"/app/security/sessions/{other.pk}/end/")
    assert resp.status_code == 302
    # the other browser's next request is signed out
    assert laptop.get("/app/").status_code == 302
    other.refresh_from_db()
    assert other.ended_at is not None and other.end_reason == "ended_by_owner"
    assert phone.get("/app/").status_code == 200
    assert AuditRecord.objects.filter(action="session.web_end", object_id=str(user.pk)).exists()
    # an ended session stays ended (database rule)
    with pytest.raises(DatabaseError), transaction.atomic():
        WebSession.objects.filter(pk=other.pk).update(ended_at=None, end_reason="")


def test_the_current_session_and_another_customers_cannot_be_ended_from_here():
    make_customer("amara", "+256772123413")
    kato = make_customer("kato", "+256772123414")
    phone = signed_in("+256772123413", ANDROID)
    signed_in("+256772123414", IPHONE)
    theirs = WebSession.objects.get(user=kato)
    page = phone.post(f"/app/security/sessions/{theirs.pk}/end/", follow=True).content.decode()
    assert "already ended" in page
    theirs.refresh_from_db()
    assert theirs.ended_at is None
    mine = WebSession.objects.get(user__username="amara")
    page = phone.post(f"/app/security/sessions/{mine.pk}/end/", follow=True).content.decode()
    assert "use Log out" in page
    assert phone.get("/app/").status_code == 200


def test_sign_out_everywhere_else_keeps_this_browser():
    user = make_customer("amara", "+256772123415")
    phone = signed_in("+256772123415", ANDROID)
    others = [signed_in("+256772123415", IPHONE) for _ in range(2)]
    page = phone.post("/app/security/sessions/end-others/", follow=True).content.decode()
    assert "Signed out 2 other sessions." in page
    assert all(c.get("/app/").status_code == 302 for c in others)
    assert WebSession.objects.filter(user=user, ended_at__isnull=True).count() == 1
    assert phone.get("/app/").status_code == 200


def test_a_password_change_ends_the_others_and_lists_this_one_again():
    user = make_customer("amara", "+256772123416")
    phone = signed_in("+256772123416", ANDROID)
    laptop = signed_in("+256772123416", IPHONE)
    resp = phone.post(
        "/app/security/password/",
        {
            "old_password": PASSWORD,
            "new_password": "cobalt-Harbour-2027",
            "new_password_again": "cobalt-Harbour-2027",
        },
    )
    assert resp.status_code == 302, resp.content.decode()[:800]
    assert laptop.get("/app/").status_code == 302
    open_rows = WebSession.objects.filter(user=user, ended_at__isnull=True)
    assert [r.browser for r in open_rows] == ["Chrome Mobile on Android"]
    assert open_rows[0].key_digest == hashlib.sha256(phone.session.session_key.encode()).hexdigest()
    assert phone.get("/app/security/").content.decode().count("this browser") == 1


def test_log_out_ends_the_listed_session():
    user = make_customer("amara", "+256772123417")
    phone = signed_in("+256772123417", ANDROID)
    phone.post("/app/logout/")
    row = WebSession.objects.get(user=user)
    assert row.ended_at is not None and row.end_reason == "user"


def test_browser_labels():
    assert browser_label(ANDROID) == "Chrome Mobile on Android"
    assert browser_label("") == ""
    assert browser_label("curl/8.0") == "curl"
    assert len(browser_label("x" * 5000)) <= 120
