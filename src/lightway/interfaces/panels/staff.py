"""Staff sign-in (/staff/login/) with a mandatory second factor, staff landings (/staff/,
/mtn/), staff security settings and the passkey (WebAuthn) endpoints.

A staff member without a confirmed device is sent to TOTP enrolment first and shown
backup codes once; until the session is verified (TOTP, backup code or passkey) the
``SecondFactorMiddleware`` lets them reach only /staff/login/, /staff/mfa/... and
/staff/logout/.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_POST

from lightway.application.authentication import mfa
from lightway.application.authentication.login import password_login, realm_is_staff, user_realm
from lightway.application.errors import DomainError
from lightway.data.identity.models import Realm
from lightway.infrastructure.jsonsafe import json_loads_bounded
from lightway.interfaces.panels.access import public, requires
from lightway.interfaces.panels.common import (
    SESSION_WEBAUTHN,
    now,
    safe_next,
)
from lightway.interfaces.panels.forms import (
    PasskeyNameForm,
    StaffLoginForm,
    TotpCodeForm,
)
from lightway.interfaces.panels.sessions import session_start, session_verified
from lightway.interfaces.panels.shared_views import (
    backup_codes_page,
    logout_page,
    second_factor_page,
    totp_enrol_confirmed,
)

T = TypeVar("T")

CHALLENGE_TTL_SECONDS = 300


def _uid(request: HttpRequest) -> int:
    return int(request.user.pk or 0)


def landing_for(request: HttpRequest) -> str:
    return "/mtn/" if user_realm(request.user) == Realm.MTN else "/staff/"


def _is_staff_session(request: HttpRequest) -> bool:
    return request.user.is_authenticated and realm_is_staff(user_realm(request.user))


def _verified(request: HttpRequest) -> bool:
    check = getattr(request.user, "is_verified", None)
    return bool(check and check())


# --- sign-in ------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@requires("public")
def staff_login(request: HttpRequest) -> HttpResponse:
    if _is_staff_session(request):
        target = safe_next(request, landing_for(request))
        return HttpResponseRedirect(target if _verified(request) else "/staff/mfa/?next=" + target)
    form = StaffLoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = password_login(
                login=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
                now=now(),
                staff=True,
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            session_start(request, user)
            target = safe_next(request, "")
            has_device = mfa.mfa_status(user_id=int(user.pk)).any
            step = "/staff/mfa/" if has_device else "/staff/mfa/enrol/"
            return HttpResponseRedirect(step + ("?next=" + target if target else ""))
    return render(
        request, "panels/staff/login.html", {"form": form}, status=400 if form.errors else 200
    )


def _needs_staff_session(request: HttpRequest) -> HttpResponse | None:
    """The sign-in steps are for a staff session after its password: anyone else is sent
    to their own start (these pages are public as far as the policy goes)."""
    if not request.user.is_authenticated:
        return HttpResponseRedirect("/staff/login/")
    if not realm_is_staff(user_realm(request.user)):
        return HttpResponseRedirect("/app/")
    return None


@require_http_methods(["GET", "POST"])
@public
def staff_mfa(request: HttpRequest) -> HttpResponse:
    """The second step: a TOTP code, a backup code or a passkey."""
    refused = _needs_staff_session(request)
    if refused:
        return refused
    target = safe_next(request, landing_for(request))
    if _verified(request):
        return HttpResponseRedirect(target)
    status = mfa.mfa_status(user_id=_uid(request))
    if not status.any:
        return HttpResponseRedirect("/staff/mfa/enrol/?next=" + target)
    return second_factor_page(
        request, target=target, template="panels/staff/mfa.html", extra={"status": status}
    )


@require_http_methods(["GET", "POST"])
@public
def staff_mfa_enrol(request: HttpRequest) -> HttpResponse:
    """First sign-in: set up an authenticator app (QR code), then see the backup codes."""
    refused = _needs_staff_session(request)
    if refused:
        return refused
    target = safe_next(request, landing_for(request))
    status = mfa.mfa_status(user_id=_uid(request))
    if status.any:
        # A device exists: prove it first (a password alone must not add a new one).
        return HttpResponseRedirect(
            "/staff/security/" if _verified(request) else "/staff/mfa/?next=" + target
        )
    form = TotpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        shown = totp_enrol_confirmed(request, form, then=target)
        if shown is not None:
            return shown
    enrolment = mfa.totp_pending(user_id=_uid(request))
    if enrolment is None:
        enrolment = mfa.totp_enrol_start(user_id=_uid(request), now=now())
    return render(
        request,
        "panels/staff/enrol.html",
        {"form": form, "enrolment": enrolment, "next": target},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@public
def staff_logout(request: HttpRequest) -> HttpResponse:
    return logout_page(request, login_url="/staff/login/", template="panels/staff/logout.html")


# --- landings ------------------------------------------------------------------------------------


# The landings /staff/ (the home dashboard) and /mtn/ (the MTN portal) are in
# ``dashboards.py``.


# --- security: backup codes and passkeys --------------------------------------------------------


@requires("staff.panel")
def staff_security(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "panels/staff/security.html",
        {"status": mfa.mfa_status(user_id=_uid(request)), "name_form": PasskeyNameForm()},
    )


@require_POST
@requires("staff.panel")
def staff_backup_codes(request: HttpRequest) -> HttpResponse:
    return backup_codes_page(request, back="/staff/security/")


@require_POST
@requires("staff.panel")
def staff_passkey_remove(request: HttpRequest, passkey_id: int) -> HttpResponse:
    try:
        mfa.passkey_remove(user_id=_uid(request), passkey_id=passkey_id, now=now())
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "The passkey is removed.")
    return HttpResponseRedirect("/staff/security/")


def _challenge_put(request: HttpRequest, kind: str, challenge: str) -> None:
    request.session[SESSION_WEBAUTHN] = {"kind": kind, "challenge": challenge, "at": time.time()}


def _challenge_take(request: HttpRequest, kind: str) -> str | None:
    """The pending challenge of this kind, used once and only while fresh."""
    value = request.session.pop(SESSION_WEBAUTHN, None)
    if not isinstance(value, dict) or value.get("kind") != kind:
        return None
    if time.time() - float(value.get("at", 0)) > CHALLENGE_TTL_SECONDS:
        return None
    challenge = value.get("challenge")
    return challenge if isinstance(challenge, str) else None


def _json_error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": {"message": message}}, status=status)


def _ceremony_finish(
    request: HttpRequest, kind: str, finish: Callable[[str, str, dict[str, Any]], T]
) -> T | JsonResponse:
    """Finish a passkey ceremony of ``kind``: ``finish(challenge, credential_json, body)``
    with the pending challenge and the browser's JSON answer. A JSON error instead when
    the challenge has expired, the answer is not understood or it is refused."""
    challenge = _challenge_take(request, kind)
    if challenge is None:
        return _json_error("The request expired. Try again.")
    try:
        body = json_loads_bounded(request.body or b"{}")  # any content type, any depth
        return finish(challenge, json.dumps(body.get("credential") or {}), body)
    except (ValueError, AttributeError):
        return _json_error("The browser's answer was not understood.")
    except DomainError as exc:
        return _json_error(exc.message)


@require_POST
@requires("staff.panel")
def passkey_register_options(request: HttpRequest) -> HttpResponse:
    ceremony = mfa.passkey_register_begin(user_id=_uid(request))
    _challenge_put(request, "register", ceremony.challenge)
    return HttpResponse(ceremony.options_json, content_type="application/json")


@require_POST
@requires("staff.panel")
def passkey_register(request: HttpRequest) -> HttpResponse:
    credential = _ceremony_finish(
        request,
        "register",
        lambda challenge, response_json, body: mfa.passkey_register_finish(
            user_id=_uid(request),
            response_json=response_json,
            challenge=challenge,
            name=str(body.get("name") or ""),
            now=now(),
        ),
    )
    if isinstance(credential, JsonResponse):
        return credential
    messages.success(request, f"Passkey “{credential.name}” added.")
    return JsonResponse({"ok": True, "redirect": "/staff/security/"})


@require_POST
@public
def passkey_auth_options(request: HttpRequest) -> HttpResponse:
    refused = _needs_staff_session(request)
    if refused:
        return _json_error("Sign in with your staff password first.", 401)
    try:
        ceremony = mfa.passkey_auth_begin(user_id=_uid(request))
    except DomainError as exc:
        return _json_error(exc.message)
    _challenge_put(request, "auth", ceremony.challenge)
    return HttpResponse(ceremony.options_json, content_type="application/json")


@require_POST
@public
def passkey_auth(request: HttpRequest) -> HttpResponse:
    refused = _needs_staff_session(request)
    if refused:
        return _json_error("Sign in with your staff password first.", 401)
    finished = _ceremony_finish(
        request,
        "auth",
        lambda challenge, response_json, body: (
            mfa.passkey_auth_finish(
                user_id=_uid(request), response_json=response_json, challenge=challenge, now=now()
            ),
            body.get("next"),
        ),
    )
    if isinstance(finished, JsonResponse):
        return finished
    device, nxt = finished
    session_verified(request, device)
    target = safe_next(request, landing_for(request))
    if isinstance(nxt, str) and nxt.startswith("/") and not nxt.startswith("//"):
        target = nxt
    return JsonResponse({"ok": True, "redirect": target})
