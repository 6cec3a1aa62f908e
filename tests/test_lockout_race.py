"""Lockout cannot be raced (issue 11, finding 7).

Many wrong guesses sent at once, each in its own thread with its own database connection
(as parallel requests are), against real PostgreSQL: with 5 free failures exactly 6 of them
are checked and every other one is refused as locked, for the web sign-in of customers and
staff, the API sign-in and the second factor. Before the fix the throttle was read, the
password hashed, and only then the failure counted, so 11 to 13 of 40 were checked.
"""

from __future__ import annotations

from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django_otp.plugins.otp_static.models import StaticDevice

from lightway.application.authentication import errors as api_errors
from lightway.application.authentication.login import (
    LoginRefused,
    TooManyAttempts,
    password_login,
)
from lightway.application.authentication.mfa import SecondFactorRejected, second_factor_verify
from lightway.application.authentication.sessions import login_start
from lightway.application.identity.profiles import profile_create
from lightway.data.audit.models import AuditRecord
from lightway.data.identity.models import Profile, Realm
from lightway.security.policy import Role
from lightway.security.throttle import throttle_failures
from tests.concurrency import run_concurrently
from tests.factories import staff

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = "+256772123401"
PASSWORD = "amber-Lantern-2026"
GUESSES = 24  # parallel requests (each holds a database connection)
CHECKED = 6  # 5 free failures, the 6th starts the lock


@pytest.fixture(autouse=True)
def _lockout(settings):
    settings.LIGHTWAY_LOCKOUT_FREE_ATTEMPTS = 5
    settings.LIGHTWAY_LOCKOUT_BASE_SECONDS = 30


def _customer(now) -> int:
    user = get_user_model().objects.create_user(username="amara", password=PASSWORD)
    profile_create(user_id=user.pk, realm=Realm.CUSTOMER, now=now, country="UG", phone=PHONE)
    Profile.objects.filter(user_id=user.pk).update(phone_verified_at=now)
    return int(user.pk)


def _outcome(call) -> str:
    try:
        call()
    except (LoginRefused, api_errors.LoginFailed, SecondFactorRejected):
        return "checked"
    except (TooManyAttempts, api_errors.TooManyAttempts):
        return "locked"
    return "signed_in"


def _race(call) -> Counter[str]:
    outcomes = run_concurrently(lambda i: _outcome(lambda: call(i)), [(i,) for i in range(GUESSES)])
    connection.close()
    return Counter(outcomes)


EXPECTED = Counter({"checked": CHECKED, "locked": GUESSES - CHECKED})


def test_parallel_wrong_passwords_on_the_web_sign_in_check_exactly_six(now):
    user_id = _customer(now)
    outcomes = _race(
        lambda i: password_login(login=PHONE, password=f"wrong-{i}", country="UG", now=now)
    )
    assert outcomes == EXPECTED
    assert throttle_failures(key=f"password:{user_id}") == CHECKED
    assert AuditRecord.objects.filter(action="auth.login_failed").count() == CHECKED


def test_parallel_wrong_passwords_on_the_api_sign_in_check_exactly_six(now):
    user_id = _customer(now)
    outcomes = _race(
        lambda i: login_start(
            login=PHONE,
            password=f"wrong-{i}",
            device_id="7c1d2e3f-aaaa-4bbb-8ccc-000000000001",
            device_name="",
            country=None,
            now=now,
        )
    )
    assert outcomes == EXPECTED
    assert throttle_failures(key=f"password:{user_id}") == CHECKED


def test_parallel_wrong_passwords_on_the_staff_sign_in_check_exactly_six(now):
    user_id = staff("ops-race", [Role.LW_OPERATIONS], now)
    user = get_user_model().objects.get(pk=user_id)
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    outcomes = _race(
        lambda i: password_login(login="ops-race", password=f"wrong-{i}", now=now, staff=True)
    )
    assert outcomes == EXPECTED
    # the right password is refused while locked
    with pytest.raises(TooManyAttempts):
        password_login(login="ops-race", password=PASSWORD, now=now, staff=True)


def test_parallel_unknown_logins_are_throttled_alike(now):
    outcomes = _race(
        lambda i: password_login(login="nobody-here", password=f"wrong-{i}", now=now, staff=True)
    )
    assert outcomes == EXPECTED


def test_parallel_wrong_second_factor_codes_check_exactly_six(now):
    user_id = staff("mfa-race", [Role.LW_OPERATIONS], now)
    StaticDevice.objects.create(user_id=user_id, name="Backup codes", confirmed=True)
    outcomes = _race(
        lambda i: second_factor_verify(user_id=user_id, code=f"wrong-code{i:02d}", now=now)
    )
    # every checked code is audited; the sixth is answered "locked" at once
    assert AuditRecord.objects.filter(action="mfa.verify_failed").count() == CHECKED
    assert outcomes == Counter({"checked": CHECKED - 1, "locked": GUESSES - CHECKED + 1})
