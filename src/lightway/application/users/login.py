"""Password sign-in for the web panels, with lockout and backoff.

Customers sign in with their phone number (and market), staff with their username. A
wrong password and an unknown account get the same answer, and both count against a
throttle key (``password:<user id>``, or a keyed hash of what was typed), so guessing is
slowed down just the same whether or not the account exists.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction

from lightway.application.errors import DomainError
from lightway.application.users.phones import phone_normalise
from lightway.application.users.profiles import profile_find
from lightway.data.audit.services import audit_record
from lightway.data.identity.models import Profile, Realm
from lightway.security.crypto import blind_index
from lightway.security.policy import STAFF_REALMS
from lightway.security.throttle import Locked, throttle_check, throttle_clear, throttle_fail

log = logging.getLogger(__name__)

WRONG_CUSTOMER = "The phone number or password is not right."
WRONG_STAFF = "The username or password is not right."


class LoginRefused(DomainError):
    code = "login_refused"


class TooManyAttempts(DomainError):
    """Too many failures: the message says how long to wait."""

    code = "locked"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many failed attempts. Try again in {retry_after} s.",
            details={"retry_after": retry_after},
        )
        self.retry_after = retry_after


def user_realm(user: AbstractBaseUser | AnonymousUser | object) -> str:
    """The realm of a user: its profile's, else LightWay staff for Django staff accounts
    without a profile (the bootstrap administrator), else customer."""
    if not getattr(user, "is_authenticated", False):
        return ""
    try:
        profile = user.profile  # type: ignore[union-attr]
    except (Profile.DoesNotExist, AttributeError):
        profile = None
    if profile is not None:
        return str(profile.realm)
    if getattr(user, "is_staff", False) or getattr(user, "is_superuser", False):
        return str(Realm.LIGHTWAY)
    return str(Realm.CUSTOMER)


def realm_is_staff(realm: str) -> bool:
    return realm in STAFF_REALMS


def _find(login: str, *, country: str, staff: bool) -> AbstractBaseUser | None:
    User = get_user_model()
    if staff:
        user = User.objects.filter(username=login.strip()).select_related("profile").first()
        if user is None or not realm_is_staff(user_realm(user)):
            return None
        return user
    profile = profile_find(kind="phone", value=login)
    if profile is None or profile.realm != Realm.CUSTOMER:
        return None
    return User.objects.filter(pk=profile.user_id).first()


def password_login(
    *, login: str, password: str, country: str = "", now: datetime, staff: bool = False
) -> AbstractBaseUser:
    """The user whose phone (customers) or username (staff) and password match.

    Raises :class:`ValidationFailed` for a malformed phone number, :class:`LoginRefused`
    (same message for an unknown account and a wrong password) and :class:`TooManyAttempts`.
    """
    if staff:
        key_login = login.strip()
        wrong = WRONG_STAFF
    else:
        key_login = phone_normalise(login, country=country)
        wrong = WRONG_CUSTOMER
    user = _find(key_login, country=country, staff=staff)
    key = (
        f"password:{user.pk}"
        if user is not None
        else f"password:unknown:{blind_index('login', key_login)[:40]}"
    )
    try:
        throttle_check(key=key, now=now)
    except Locked as exc:
        raise TooManyAttempts(exc.retry_after) from None
    if user is None:
        make_password(password)  # the same work as a real check: no timing oracle
        ok = False
    else:
        ok = user.check_password(password) and bool(getattr(user, "is_active", False))
    if not ok:
        throttle_fail(key=key, now=now)
        if user is not None:
            with transaction.atomic():
                audit_record(
                    actor=f"user:{user.pk}",
                    action="auth.login_failed",
                    object_type="auth.user",
                    object_id=str(user.pk),
                    data={"factor": "password"},
                    now=now,
                )
        log.info("login refused", extra={"staff": staff})
        raise LoginRefused(wrong, details={"field": "password"})
    throttle_clear(key=key)
    assert user is not None
    return user


def login_record(*, user_id: int, realm: str, second_factor: bool, now: datetime) -> None:
    """Audit a password sign-in (``auth.login``); the second factor is audited as ``mfa.*``."""
    with transaction.atomic():
        audit_record(
            actor=f"user:{user_id}",
            action="auth.login",
            object_type="auth.user",
            object_id=str(user_id),
            data={"realm": realm, "second_factor_required": second_factor},
            now=now,
        )


def logout_record(*, user_id: int, reason: str, now: datetime) -> None:
    """Audit a sign-out (``auth.logout``; reason ``user`` or ``idle``)."""
    with transaction.atomic():
        audit_record(
            actor=f"user:{user_id}",
            action="auth.logout",
            object_type="auth.user",
            object_id=str(user_id),
            data={"reason": reason},
            now=now,
        )
