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
from lightway.application.authentication.web_sessions import (
    web_session_closed,
    web_session_opened,
    web_session_rekeyed,
)
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
    session_record(request, user_id=int(user.pk), realm=realm)
    return required


def session_record(request: HttpRequest, *, user_id: int, realm: str) -> None:
    """List this browser session on the owner's security page (``web_sessions``)."""
    if not request.session.session_key:
        request.session.save()
    web_session_opened(
        user_id=user_id,
        session_key=str(request.session.session_key),
        realm=realm,
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        now=now(),
    )


def session_verified(request: HttpRequest, device: Device) -> None:
    """Mark the session as verified by ``device`` (TOTP, backup code or passkey)."""
    old_key = request.session.session_key
    request.session.cycle_key()
    web_session_rekeyed(old_key=old_key, new_key=str(request.session.session_key), now=now())
    otp_login(request, device)
    request.session[SESSION_MFA_REQUIRED] = True
    request.session[SESSION_LAST_SEEN] = int(time.time())


def session_end(request: HttpRequest, *, reason: str) -> None:
    user = request.user
    if user.is_authenticated:
        logout_record(user_id=int(user.pk), reason=reason, now=now())
    web_session_closed(session_key=request.session.session_key, reason=reason, now=now())
    django_logout(request)
