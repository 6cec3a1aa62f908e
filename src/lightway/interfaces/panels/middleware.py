"""Session rules of the panels: idle timeout and the second-factor gate.

``IdleTimeoutMiddleware`` signs out a session idle for longer than
``LIGHTWAY_STAFF_IDLE_SECONDS`` (staff, default 15 minutes) or
``LIGHTWAY_CUSTOMER_IDLE_SECONDS`` (customers, default 30 minutes) and sends the browser to
its login page.

``SecondFactorMiddleware`` (after django-otp's ``OTPMiddleware``): a signed-in user who
needs a second factor (every staff member; customers who turned one on) and whose session
is not verified yet reaches only the enrolment / verification pages and logout;
everything else redirects there.

Machine endpoints (API, webhooks, probes, static files) have their own authentication and
are left alone by both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.utils.translation import gettext

from lightway.application.authentication.login import realm_is_staff, user_realm
from lightway.application.authentication.mfa import mfa_required
from lightway.application.authentication.web_sessions import web_session_seen
from lightway.interfaces.panels.common import (
    SESSION_LAST_SEEN,
    SESSION_MFA_REQUIRED,
    SESSION_REALM,
    SESSION_STARTED,
    now,
)
from lightway.interfaces.panels.sessions import session_end

EXEMPT_PREFIXES = (
    "/static/",
    "/api/",
    "/webhooks/",
    "/healthz",
    "/readyz",
    "/metrics",
    "/favicon.ico",
    "/app/manifest.webmanifest",
    "/app/sw.js",
    "/app/icons/",
    "/app/offline/",
)
STAFF_OPEN = ("/staff/login/", "/staff/mfa/", "/staff/logout/")
CUSTOMER_OPEN = ("/app/login/", "/app/logout/", "/app/language/")
# Write the "last seen" time at most this often (each write saves the session).
TOUCH_EVERY_SECONDS = 10

Handler = Callable[[HttpRequest], HttpResponseBase]


# Sent by the HTMX elements that refresh a page on a timer (hx-headers), so the idle
# timeout can tell a person's request from the page's own polling.
POLL_HEADER = "X-Lightway-Poll"


def is_poll(request: HttpRequest) -> bool:
    return request.headers.get(POLL_HEADER) == "1"


def _exempt(path: str) -> bool:
    return path.startswith(EXEMPT_PREFIXES)


def _realm(request: HttpRequest) -> str:
    realm = request.session.get(SESSION_REALM)
    if not realm:
        realm = user_realm(request.user)
        request.session[SESSION_REALM] = realm
    return str(realm)


def idle_limit_seconds(realm: str) -> int:
    if realm_is_staff(realm):
        return int(getattr(settings, "LIGHTWAY_STAFF_IDLE_SECONDS", 900))
    return int(getattr(settings, "LIGHTWAY_CUSTOMER_IDLE_SECONDS", 1800))


def _login_page(realm: str) -> str:
    return "/staff/login/" if realm_is_staff(realm) else "/app/login/"


class IdleTimeoutMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if _exempt(request.path) or not request.user.is_authenticated:
            return self.get_response(request)
        realm = _realm(request)
        clock = int(time.time())
        last = request.session.get(SESSION_LAST_SEEN)
        started = request.session.get(SESSION_STARTED)
        if not isinstance(started, int):
            request.session[SESSION_STARTED] = started = clock
        max_age = int(settings.SESSION_COOKIE_AGE)
        if clock - started > max_age:
            # An absolute lifetime: activity does not extend it (Django's cookie age counts
            # from the last save, which the idle stamp below renews).
            session_end(request, reason="max_age")
            messages.info(
                request,
                gettext("You were signed out after %(hours)d hours; sign in again.")
                % {"hours": max(1, max_age // 3600)},
            )
            return HttpResponseRedirect(_login_page(realm))
        limit = idle_limit_seconds(realm)
        poll = is_poll(request)
        if isinstance(last, int) and clock - last > limit:
            session_end(request, reason="idle")
            messages.info(
                request,
                gettext("You were signed out after %(minutes)d minutes without activity.")
                % {"minutes": max(1, limit // 60)},
            )
            target = request.get_full_path() if request.method == "GET" else ""
            if poll:  # the page that polls, not the fragment, is where to come back to
                target = urlsplit(request.headers.get("HX-Current-URL", "")).path or ""
            query = "?" + urlencode({"next": target}) if target else ""
            if poll:  # HTMX navigates the whole page (a redirect would fill the fragment)
                response = HttpResponse(status=200)
                response["HX-Redirect"] = _login_page(realm) + query
                return response
            return HttpResponseRedirect(_login_page(realm) + query)
        # A dashboard refreshing itself is not activity: it must not keep a session alive.
        if not poll and (not isinstance(last, int) or clock - last >= TOUCH_EVERY_SECONDS):
            request.session[SESSION_LAST_SEEN] = clock
            web_session_seen(session_key=request.session.session_key, now=now())
        return self.get_response(request)


class SecondFactorMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if _exempt(request.path) or not request.user.is_authenticated:
            return self.get_response(request)
        required = request.session.get(SESSION_MFA_REQUIRED)
        if required is None:
            required = mfa_required(user=request.user)
            request.session[SESSION_MFA_REQUIRED] = required
        is_verified = getattr(request.user, "is_verified", None)
        if not required or (is_verified is not None and is_verified()):
            return self.get_response(request)
        realm = _realm(request)
        if realm_is_staff(realm):
            if request.path.startswith(STAFF_OPEN):
                return self.get_response(request)
            target = "/staff/mfa/"
        else:
            if request.path.startswith(CUSTOMER_OPEN):
                return self.get_response(request)
            target = "/app/login/2fa/"
        query = urlencode({"next": request.get_full_path()}) if request.method == "GET" else ""
        return _redirect(target + ("?" + query if query else ""))


def _redirect(url: str) -> HttpResponse:
    return HttpResponseRedirect(url)
