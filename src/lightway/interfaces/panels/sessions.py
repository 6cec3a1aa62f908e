"""Web sessions of the panels: start (password step), second factor, end.

Django's ``login`` cycles the session key; verifying the second factor cycles it again, so
a session id seen before a factor is never the one that carries it. The session holds the
realm and whether a second factor is required (read by the middleware), never personal
data.
"""

from __future__ import annotations

import time

from django.contrib.auth import login as django_login
from django.contrib.auth import logout as django_logout
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from django_otp import login as otp_login
from django_otp.models import Device

from lightway.application.authentication.login import login_record, logout_record, user_realm
from lightway.application.authentication.mfa import mfa_required
from lightway.interfaces.panels.common import (
    SESSION_LAST_SEEN,
    SESSION_MFA_REQUIRED,
    SESSION_REALM,
    now,
)

BACKEND = "django.contrib.auth.backends.ModelBackend"


def session_start(request: HttpRequest, user: AbstractBaseUser) -> bool:
    """Sign ``user`` in after the password step; returns whether a second factor is due."""
    realm = user_realm(user)
    required = mfa_required(user=user)
    django_login(request, user, backend=BACKEND)  # type: ignore[arg-type]
    request.session[SESSION_REALM] = realm
    request.session[SESSION_MFA_REQUIRED] = required
    request.session[SESSION_LAST_SEEN] = int(time.time())
    login_record(user_id=int(user.pk), realm=realm, second_factor=required, now=now())
    return required


def session_verified(request: HttpRequest, device: Device) -> None:
    """Mark the session as verified by ``device`` (TOTP, backup code or passkey)."""
    request.session.cycle_key()
    otp_login(request, device)
    request.session[SESSION_MFA_REQUIRED] = True
    request.session[SESSION_LAST_SEEN] = int(time.time())


def session_end(request: HttpRequest, *, reason: str) -> None:
    user = request.user
    if user.is_authenticated:
        logout_record(user_id=int(user.pk), reason=reason, now=now())
    django_logout(request)
