"""The customer panel (/app/): registration, phone and email verification, sign-in with
an optional second factor, dashboard, wallets, basic identity, security, notifications.

Each view parses the form, makes one application call and renders or redirects; domain
errors are shown beside the fields they concern.
"""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, update_session_auth_hash
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext, ngettext
from django.views.decorators.http import require_http_methods, require_POST

from lightway.application.authentication import mfa, web_sessions
from lightway.application.authentication.login import TooManyAttempts, password_login, user_realm
from lightway.application.authentication.sessions import device_list
from lightway.application.authentication.web_sessions import web_sessions_open
from lightway.application.errors import DomainError, ValidationFailed
from lightway.application.onboarding import registration
from lightway.application.transactions.wallets import wallet_list
from lightway.data.identity.models import Realm
from lightway.interfaces.panels.access import public, requires
from lightway.interfaces.panels.common import (
    SESSION_MFA_REQUIRED,
    SESSION_REALM,
    apply_errors,
    now,
    safe_next,
)
from lightway.interfaces.panels.customer_labels import (
    CHANNEL_NAMES,
    NOTIFICATION_TOPICS,
    tier_label,
)
from lightway.interfaces.panels.forms import (
    CodeForm,
    EmailForm,
    LoginForm,
    PasswordChangeForm,
    ProfileForm,
    RegisterForm,
    SecondFactorForm,
    TotpCodeForm,
)
from lightway.interfaces.panels.sessions import session_record, session_start
from lightway.interfaces.panels.shared_views import (
    backup_codes_page,
    logout_page,
    second_factor_page,
    totp_enrol_confirmed,
)
from lightway.interfaces.web.client import client_address

log = logging.getLogger(__name__)

HOME = "/app/"


def _uid(request: HttpRequest) -> int:
    return int(request.user.pk or 0)


# --- registration and phone verification ---------------------------------------------------


@require_http_methods(["GET", "POST"])
@requires("public")
def register(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and user_realm(request.user) == Realm.CUSTOMER:
        return HttpResponseRedirect(HOME)
    form = RegisterForm(
        request.POST or None, initial={"language": getattr(request, "LANGUAGE_CODE", "en")}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user_id = registration.registration_start(
                phone=data["phone"],
                country=data["country"],
                password=data["password"],
                language=data["language"],
                accept_terms=bool(data["accept_terms"]),
                client=client_address(request),
                now=now(),
            )
        except DomainError as exc:
            apply_errors(form, exc)
        else:
            session_start(request, get_user_model().objects.get(pk=user_id))
            messages.success(
                request, gettext("Your account is open. We sent a code to your phone.")
            )
            return HttpResponseRedirect("/app/verify-phone/")
    return render(
        request,
        "panels/customer/register.html",
        {"form": form, "terms_version": registration.terms_version()},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@requires("self.profile")
def verify_phone(request: HttpRequest) -> HttpResponse:
    account = registration.account_overview(user_id=_uid(request))
    if account.phone_verified:
        return HttpResponseRedirect(HOME)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            tier = registration.phone_verify(
                user_id=_uid(request), code=form.cleaned_data["code"], now=now()
            )
        except TooManyAttempts as exc:
            form.add_error("code", exc.message)
        except DomainError as exc:
            apply_errors(form, exc, default_field="code")
        else:
            messages.success(
                request,
                gettext("Your phone number is verified. Your account is now at tier %(tier)s.")
                % {"tier": tier},
            )
            return HttpResponseRedirect(HOME)
    return render(
        request,
        "panels/customer/verify_phone.html",
        {"form": form, "account": account, "demo_inbox": _demo_inbox_url()},
        status=400 if form.errors else 200,
    )


def _demo_inbox_url() -> str:
    """The notify simulator's inbox when SMS go to it (a local demo), else empty."""
    from urllib.parse import urlsplit

    base = str(getattr(settings, "AFRICASTALKING_BASE_URL", "") or "")
    host = urlsplit(base).hostname or ""
    return f"{base.rstrip('/')}/inbox" if host in {"127.0.0.1", "localhost", "::1"} else ""


@require_POST
@requires("self.profile")
def verify_phone_resend(request: HttpRequest) -> HttpResponse:
    try:
        registration.phone_code_resend(
            user_id=_uid(request), client=client_address(request), now=now()
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, gettext("We sent you a new code."))
    return HttpResponseRedirect("/app/verify-phone/")


# --- sign-in ----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@requires("public")
def login(request: HttpRequest) -> HttpResponse:
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = password_login(
                login=data["phone"], password=data["password"], country=data["country"], now=now()
            )
        except ValidationFailed as exc:
            apply_errors(form, exc, default_field="phone")
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            target = safe_next(request, HOME)
            if session_start(request, user):
                return HttpResponseRedirect("/app/login/2fa/?next=" + target)
            return HttpResponseRedirect(target)
    return render(
        request, "panels/customer/login.html", {"form": form}, status=400 if form.errors else 200
    )


@require_http_methods(["GET", "POST"])
@public
def login_second_factor(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return HttpResponseRedirect("/app/login/")
    target = safe_next(request, HOME)
    verified = getattr(request.user, "is_verified", lambda: False)()
    if verified or not request.session.get(SESSION_MFA_REQUIRED):
        return HttpResponseRedirect(target)
    return second_factor_page(request, target=target, template="panels/customer/login_2fa.html")


@require_http_methods(["GET", "POST"])
@public
def logout(request: HttpRequest) -> HttpResponse:
    return logout_page(request, login_url="/app/login/", template="panels/customer/logout.html")


# --- dashboard and wallets -------------------------------------------------------------------


def _limits(user_id: int) -> tuple[list[object], str]:
    try:
        from lightway.application.kyc.tiers import kyc_limits_for
    except ImportError:
        return [], gettext("Limits are not available yet.")
    return list(kyc_limits_for(user_id=user_id, now=now())), ""


def _wallet_rows(user_id: int) -> list[dict[str, object]]:
    """Amounts in minor units: the templates format them for the reader (``money``)."""
    return [
        {
            "currency": w.wallet.currency,
            "balance": w.balance,
            "available": w.available,
            "held": w.held,
        }
        for w in wallet_list(owner_id=user_id)
    ]


@requires("self.wallets")
def home(request: HttpRequest) -> HttpResponse:
    uid = _uid(request)
    account = registration.account_overview(user_id=uid)
    limits, limits_note = _limits(uid)
    return render(
        request,
        "panels/customer/home.html",
        {
            "account": account,
            "wallets": _wallet_rows(uid),
            "limits": limits,
            "limits_note": limits_note,
            "tier_label": tier_label(account.tier),
            "next_tier": tier_label(account.tier + 1) if account.tier < 3 else "",
        },
    )


@requires("self.wallets")
def wallets(request: HttpRequest) -> HttpResponse:
    return render(request, "panels/customer/wallets.html", {"wallets": _wallet_rows(_uid(request))})


# --- identity and email ------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@requires("self.profile")
def profile(request: HttpRequest) -> HttpResponse:
    uid = _uid(request)
    identity = registration.identity_get(user_id=uid)
    initial = {
        "name": identity.name,
        "birth_date": identity.birth_date,
        "id_type": identity.id_type,
    }
    form = ProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        before = registration.account_overview(user_id=uid).tier
        try:
            tier = registration.profile_update(
                user_id=uid,
                name=data["name"],
                birth_date=data["birth_date"] or None,
                id_type=data["id_type"],
                id_number=data["id_number"],
                now=now(),
            )
        except DomainError as exc:
            apply_errors(form, exc)
        else:
            if tier > before:
                messages.success(
                    request,
                    gettext("Thank you. Your account is now at tier %(tier)s.") % {"tier": tier},
                )
            else:
                messages.success(request, gettext("Your details are saved."))
            return HttpResponseRedirect("/app/profile/")
    return render(
        request,
        "panels/customer/profile.html",
        {
            "form": form,
            "identity": identity,
            "account": registration.account_overview(user_id=uid),
        },
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@requires("self.profile")
def email(request: HttpRequest) -> HttpResponse:
    uid = _uid(request)
    form = EmailForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            registration.email_add(user_id=uid, email=form.cleaned_data["email"], now=now())
        except DomainError as exc:
            apply_errors(form, exc, default_field="email")
        else:
            messages.success(
                request, gettext("We sent a link to your email address. Open it to confirm.")
            )
            return HttpResponseRedirect("/app/email/")
    return render(
        request,
        "panels/customer/email.html",
        {"form": form, "account": registration.account_overview(user_id=uid)},
        status=400 if form.errors else 200,
    )


@requires("public")
def email_verify(request: HttpRequest, token: str) -> HttpResponse:
    if request.method == "POST":
        try:
            registration.email_verify(token=token, now=now())
        except DomainError as exc:
            return render(
                request, "panels/customer/email_verified.html", {"error": exc.message}, status=400
            )
        return render(request, "panels/customer/email_verified.html", {"ok": True})
    # A GET only shows a button: mail scanners that open links do not use the token up.
    return render(request, "panels/customer/email_verified.html", {"confirm": True})


# --- security ---------------------------------------------------------------------------------


def _security_page(request: HttpRequest, status: int = 200, **extra: object) -> HttpResponse:
    uid = _uid(request)
    context: dict[str, object] = {
        "mfa": mfa.mfa_status(user_id=uid),
        "pending": mfa.totp_pending(user_id=uid),
        "code_form": TotpCodeForm(),
        "disable_form": SecondFactorForm(),
        "password_form": PasswordChangeForm(),
        "devices": _devices(uid),
        "web_sessions": web_sessions_open(
            user_id=uid, current_key=request.session.session_key, now=now()
        ),
        **extra,
    }
    return render(request, "panels/customer/security.html", context, status=status)


def _devices(user_id: int) -> list[object]:
    return list(device_list(user_id=user_id))


@requires("self.security")
def security(request: HttpRequest) -> HttpResponse:
    return _security_page(request)


@require_POST
@requires("self.security")
def totp_start(request: HttpRequest) -> HttpResponse:
    try:
        mfa.totp_enrol_start(user_id=_uid(request), now=now())
    except DomainError as exc:
        messages.error(request, exc.message)
    return HttpResponseRedirect("/app/security/#totp")


@require_POST
@requires("self.security")
def totp_confirm(request: HttpRequest) -> HttpResponse:
    form = TotpCodeForm(request.POST)
    if form.is_valid():
        shown = totp_enrol_confirmed(request, form, then=HOME)
        if shown is not None:
            return shown
    return _security_page(request, status=400, code_form=form)


@require_POST
@requires("self.security")
def totp_disable(request: HttpRequest) -> HttpResponse:
    form = SecondFactorForm(request.POST)
    if form.is_valid():
        try:
            mfa.totp_disable(user_id=_uid(request), code=form.cleaned_data["code"], now=now())
        except DomainError as exc:
            form.add_error("code", exc.message)
        else:
            request.session[SESSION_MFA_REQUIRED] = False
            messages.success(request, gettext("Two-step sign-in is off."))
            return HttpResponseRedirect("/app/security/")
    return _security_page(request, status=400, disable_form=form)


@require_POST
@requires("self.security")
def backup_codes(request: HttpRequest) -> HttpResponse:
    return backup_codes_page(request, back="/app/security/")


@require_POST
@requires("self.security")
def password(request: HttpRequest) -> HttpResponse:
    form = PasswordChangeForm(request.POST)
    if form.is_valid():
        try:
            registration.password_change(
                user_id=_uid(request),
                old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["new_password"],
                now=now(),
            )
        except DomainError as exc:
            apply_errors(form, exc, default_field="old_password")
        else:
            user = get_user_model().objects.get(pk=_uid(request))
            update_session_auth_hash(request, user)
            # the change ended every listed session; this one goes on under a new key
            session_record(request, user_id=int(user.pk), realm=str(request.session[SESSION_REALM]))
            messages.success(request, gettext("Your password is changed."))
            return HttpResponseRedirect("/app/security/")
    return _security_page(request, status=400, password_form=form)


@require_POST
@requires("self.security")
def web_session_end(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    try:
        web_sessions.web_session_end(
            user_id=_uid(request),
            session_id=session_id,
            current_key=request.session.session_key,
            now=now(),
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, gettext("That session is signed out."))
    return HttpResponseRedirect("/app/security/#sessions")


@require_POST
@requires("self.security")
def web_sessions_end_others(request: HttpRequest) -> HttpResponse:
    ended = web_sessions.web_sessions_end_others(
        user_id=_uid(request), current_key=request.session.session_key, now=now()
    )
    messages.success(
        request,
        ngettext(
            "Signed out %(count)d other session.", "Signed out %(count)d other sessions.", ended
        )
        % {"count": ended}
        if ended
        else gettext("No other session was open."),
    )
    return HttpResponseRedirect("/app/security/#sessions")


# --- notification preferences -------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@requires("self.security")
def notifications(request: HttpRequest) -> HttpResponse:
    from lightway.application.notifications.service import (
        notification_preference_set,
        notification_preferences,
    )

    uid = _uid(request)
    # Security alerts and sign-in codes are always sent, so they are not offered as a choice.
    prefs = [p for p in notification_preferences(user_id=uid) if p.category != "security"]
    if request.method == "POST":
        changed = 0
        for pref in prefs:
            wanted = request.POST.get(f"{pref.channel}:{pref.category}") == "on"
            if wanted != pref.enabled:
                try:
                    notification_preference_set(
                        user_id=uid,
                        channel=pref.channel,
                        category=pref.category,
                        enabled=wanted,
                        now=now(),
                    )
                except DomainError as exc:
                    messages.error(request, exc.message)
                    break
                changed += 1
        messages.success(
            request, gettext("Your choices are saved.") if changed else gettext("Nothing changed.")
        )
        return HttpResponseRedirect("/app/notifications/")
    channels = sorted({p.channel for p in prefs}, key=lambda c: (c != "sms", c))
    rows = []
    for category in dict.fromkeys(p.category for p in prefs):
        cells = {p.channel: p for p in prefs if p.category == category}
        rows.append(
            {
                "category": category,
                "label": str(NOTIFICATION_TOPICS.get(category, category.title())),
                "cells": [cells[c] for c in channels if c in cells],
            }
        )
    return render(
        request,
        "panels/customer/notifications.html",
        {"channels": [(c, str(CHANNEL_NAMES.get(c, c))) for c in channels], "rows": rows},
    )
