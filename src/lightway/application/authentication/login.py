"""Password sign-in for the web panels, with lockout and backoff.

Customers sign in with their phone number (and market), staff with their username. A
wrong password and an unknown account get the same answer, and both count against a
throttle key (``password:<user id>``, or a keyed hash of what was typed), so guessing is
slowed down just the same whether or not the account exists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils.translation import gettext, gettext_noop

from lightway.application.errors import DomainError
from lightway.application.identity.phones import phone_normalise
from lightway.application.identity.profiles import profile_find
from lightway.data.audit.services import audit_record
from lightway.data.identity.models import Realm
from lightway.security.crypto import blind_index
from lightway.security.policy import STAFF_REALMS, user_realm_of
from lightway.security.throttle import Locked, throttle_attempt, throttle_clear

log = logging.getLogger(__name__)

WRONG_CUSTOMER = gettext_noop("The phone number or password is not right.")
WRONG_STAFF = "The username or password is not right."


class LoginRefused(DomainError):
    code = "login_refused"


class TooManyAttempts(DomainError):
    """Too many failures: the message says how long to wait."""

    code = "locked"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            gettext("Too many failed attempts. Try again in %(seconds)d s.")
            % {"seconds": retry_after},
            details={"retry_after": retry_after},
        )
        self.retry_after = retry_after


def user_realm(user: AbstractBaseUser | AnonymousUser | object) -> str:
    """The realm of a user: its profile's, else LightWay staff for Django staff accounts
    without a profile (the bootstrap administrator), else customer."""
    return user_realm_of(user)


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


@dataclass(frozen=True)
class PasswordCheck:
    """What :func:`password_verify` found: ``ok``, or a counted failure (and the lock it
    started, if any)."""

    ok: bool
    locked_until: datetime | None = None


def password_verify(
    *, user: AbstractBaseUser | None, login_key: str, password: str, now: datetime
) -> PasswordCheck:
    """Check a password against its lockout key, for the web panels and the API alike.

    The key is ``password:<user id>``, or for an unknown account (``user`` None) a keyed
    hash of ``login_key`` (what was typed, normalised); an unknown account costs the same
    hashing work as a real check, so timing does not tell whether it exists. Every attempt
    is counted before the check (``throttle_attempt``); a success clears the key.
    Raises :class:`~lightway.security.throttle.Locked` while the key is locked out.
    """
    key = (
        f"password:{user.pk}"
        if user is not None
        else f"password:unknown:{blind_index('login', login_key)[:40]}"
    )
    # Counted (under the throttle row's lock) before the check: parallel guesses cannot
    # all slip past the count while their passwords are being hashed.
    attempt = throttle_attempt(key=key, now=now)
    if user is None:
        make_password(password)  # the same work as a real check: no timing oracle
        ok = False
    else:
        ok = user.check_password(password) and bool(getattr(user, "is_active", False))
    if not ok:
        return PasswordCheck(ok=False, locked_until=attempt.locked_until)
    throttle_clear(key=key)
    return PasswordCheck(ok=True)


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
        wrong = gettext(WRONG_CUSTOMER)
    user = _find(key_login, country=country, staff=staff)
    try:
        check = password_verify(user=user, login_key=key_login, password=password, now=now)
    except Locked as exc:
        raise TooManyAttempts(exc.retry_after) from None
    if not check.ok or user is None:
        if user is not None:
            auth_event_record(
                user_id=user.pk, action="auth.login_failed", data={"factor": "password"}, now=now
            )
        log.info("login refused", extra={"staff": staff})
        raise LoginRefused(wrong, details={"field": "password"})
    return user


def auth_event_record(*, user_id: int, action: str, data: dict[str, Any], now: datetime) -> None:
    """Audit a sign-in event of an account (object ``auth.user``, the user as actor): a
    refused factor (``auth.login_failed`` from the panels, ``session.login_failed`` from
    the API), a sign-in or a sign-out."""
    with transaction.atomic():
        audit_record(
            actor=f"user:{user_id}",
            action=action,
            object_type="auth.user",
            object_id=str(user_id),
            data=data,
            now=now,
        )


def login_record(*, user_id: int, realm: str, second_factor: bool, now: datetime) -> None:
    """Audit a password sign-in (``auth.login``); the second factor is audited as ``mfa.*``."""
    auth_event_record(
        user_id=user_id,
        action="auth.login",
        data={"realm": realm, "second_factor_required": second_factor},
        now=now,
    )


def logout_record(*, user_id: int, reason: str, now: datetime) -> None:
    """Audit a sign-out (``auth.logout``; reason ``user`` or ``idle``)."""
    auth_event_record(user_id=user_id, action="auth.logout", data={"reason": reason}, now=now)
