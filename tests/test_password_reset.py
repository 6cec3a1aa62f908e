""" "Forgot your password?" (docs/panels.md): a code by SMS, then a new password.

The SMS really reach the notify simulator (``outbox``). The pages never tell whether a
number has an account; wrong codes lock out with backoff like the phone verification; a
weak password does not burn the code; success ends every other session (web and API),
sends an SMS notice and is audited.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from lightway.application.authentication.login import (
    LoginRefused,
    TooManyAttempts,
    password_login,
)
from lightway.application.errors import TooManyRequests, ValidationFailed
from lightway.application.onboarding import registration
from lightway.application.onboarding.password_reset import (
    password_reset_finish,
    password_reset_start,
)
from lightway.data.audit.models import AuditRecord
from lightway.security.apiauth.models import RefreshToken

pytestmark = pytest.mark.django_db

PHONE = "+256772123456"
OTHER = "+256772654321"  # a valid number nobody registered
PASSWORD = "Kampala-sunrise-2026"
NEW_PASSWORD = "Entebbe-evening-2027"
CLIENT = "192.0.2.7"


def verified_customer(now, outbox, phone=PHONE) -> int:
    uid = registration.registration_start(
        phone=phone,
        country="UG",
        password=PASSWORD,
        language="en",
        accept_terms=True,
        client=CLIENT,
        now=now,
    )
    registration.phone_verify(user_id=uid, code=outbox.latest_code(phone), now=now)
    return uid


def test_the_answer_is_the_same_whether_or_not_the_number_has_an_account(outbox):
    verified_customer(timezone.now(), outbox)
    sent = len(outbox.sms_to(PHONE))
    pages = []
    for number in ("0772 123 456", "0772 654 321"):
        client = Client()
        response = client.post("/app/password/forgot/", {"country": "UG", "phone": number})
        assert response.status_code == 302 and response["Location"] == "/app/password/reset/"
        page = client.get("/app/password/reset/").content.decode()
        pages.append(page.replace(client.cookies["csrftoken"].value, "").split("<main")[1])
    assert len({p.split('name="csrfmiddlewaretoken" value="')[0] for p in pages}) == 1
    assert "If this number has a LightWay account, we sent it a code by SMS" in pages[0]
    # only the real account's number got a code
    assert len(outbox.sms_to(PHONE)) == sent + 1
    assert "password reset code" in outbox.latest_sms(PHONE)
    assert outbox.sms_to(OTHER) == []


def test_bad_input_is_refused_beside_the_field_and_kept():
    client = Client()
    response = client.post("/app/password/forgot/", {"country": "UG", "phone": "+233241234567"})
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_phone_error"' in html and "not a UG number" in html
    assert 'value="+233241234567"' in html
    # the reset page without a request first goes back to the start
    assert Client().get("/app/password/reset/")["Location"] == "/app/password/forgot/"


def test_a_customer_resets_the_password_and_every_other_session_ends(outbox):
    now = timezone.now()
    uid = verified_customer(now, outbox)
    user = get_user_model().objects.get(pk=uid)
    elsewhere = Client()
    elsewhere.force_login(user)  # a session signed in with the old password
    assert elsewhere.get("/app/").status_code == 200
    RefreshToken_count = RefreshToken.objects.filter(device__user_id=uid).count()

    client = Client()
    client.post("/app/password/forgot/", {"country": "UG", "phone": "0772123456"})
    code = outbox.latest_code(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    response = client.post("/app/password/reset/", {"code": wrong, "new_password": NEW_PASSWORD})
    assert response.status_code == 400
    assert 'id="id_code_error"' in response.content.decode()
    # a weak password is refused before the code is used
    response = client.post("/app/password/reset/", {"code": code, "new_password": "password"})
    assert response.status_code == 400 and 'id="id_new_password_error"' in response.content.decode()
    response = client.post("/app/password/reset/", {"code": code, "new_password": NEW_PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/app/login/"

    assert password_login(login=PHONE, password=NEW_PASSWORD, country="UG", now=now).pk == uid
    with pytest.raises(LoginRefused):
        password_login(login=PHONE, password=PASSWORD, country="UG", now=now)
    # the old session is over (Django's session hash follows the password)
    assert elsewhere.get("/app/")["Location"].startswith("/app/login/")
    assert AuditRecord.objects.filter(action="session.revoke_all", object_id=str(uid)).exists()
    assert (
        RefreshToken.objects.filter(device__user_id=uid, revoked_at__isnull=True).count()
        == 0
        <= RefreshToken_count
    )
    notice = outbox.latest_sms(PHONE)
    assert "reset with a code sent to this number" in notice
    record = AuditRecord.objects.get(action="auth.password_reset")
    assert record.actor == f"user:{uid}" and record.data["method"] == "sms_code"
    # the code is used up
    with pytest.raises(ValidationFailed):
        password_reset_finish(
            ticket=_ticket(), code=code, new_password="Another-long-pass-9", now=now
        )


def _ticket() -> str:
    from lightway.security.crypto import blind_index

    return blind_index("phone", PHONE)


@pytest.mark.parametrize("known", [True, False])
def test_wrong_codes_lock_out_with_backoff_known_number_or_not(now, outbox, known):
    if known:
        verified_customer(now, outbox)
        ticket = password_reset_start(phone=PHONE, country="UG", client=CLIENT, now=now)
    else:
        ticket = password_reset_start(phone=OTHER, country="UG", client=CLIENT, now=now)
    # five free wrong guesses, the sixth starts the lock (as for the phone verification)
    for _ in range(6):
        with pytest.raises(ValidationFailed) as exc:
            password_reset_finish(ticket=ticket, code="999999", new_password=NEW_PASSWORD, now=now)
        assert exc.value.details["field"] == "code"
    with pytest.raises(TooManyAttempts) as locked:
        password_reset_finish(ticket=ticket, code="999999", new_password=NEW_PASSWORD, now=now)
    assert locked.value.retry_after > 0
    later = now + timedelta(seconds=locked.value.retry_after + 1)
    with pytest.raises(ValidationFailed):  # after the wait: one more guess, then a longer lock
        password_reset_finish(ticket=ticket, code="999999", new_password=NEW_PASSWORD, now=later)


def test_the_sms_limits_count_every_request_alike(now, outbox, settings):
    settings.LIGHTWAY_RATE_SMS_PER_PHONE_HOUR = 2
    verified_customer(now, outbox)  # the registration's code counted once for this number
    password_reset_start(phone=PHONE, country="UG", client="", now=now)
    with pytest.raises(TooManyRequests):
        password_reset_start(phone=PHONE, country="UG", client="", now=now)
    password_reset_start(phone=OTHER, country="UG", client="", now=now)
    password_reset_start(phone=OTHER, country="UG", client="", now=now)
    with pytest.raises(TooManyRequests):  # the same limit for a number without an account
        password_reset_start(phone=OTHER, country="UG", client="", now=now)


def test_the_login_page_links_to_it():
    html = Client().get("/app/login/").content.decode()
    assert 'href="/app/password/forgot/"' in html
