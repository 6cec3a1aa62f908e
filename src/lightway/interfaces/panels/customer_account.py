"""More of the customer panel (/app/): "Forgot your password?", the message inbox, the
offline page of the installable app and the language switch's URL.

Thin views: each parses its form and makes one application call
(``onboarding.password_reset``, ``notifications.service.inbox_page``).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_http_methods

from lightway.application.authentication.login import TooManyAttempts
from lightway.application.errors import DomainError, TooManyRequests
from lightway.application.notifications.service import inbox_page
from lightway.application.onboarding.password_reset import (
    password_reset_finish,
    password_reset_start,
)
from lightway.application.onboarding.registration import LANGUAGES
from lightway.interfaces.panels.access import public, requires
from lightway.interfaces.panels.common import SESSION_PASSWORD_RESET, apply_errors, now
from lightway.interfaces.panels.customer_labels import CHANNEL_NAMES
from lightway.interfaces.panels.forms import PasswordForgotForm, PasswordResetForm
from lightway.interfaces.web.client import client_address

INBOX_PAGE_SIZE = 20


# --- forgot password --------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@requires("public")
def password_forgot(request: HttpRequest) -> HttpResponse:
    form = PasswordForgotForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            ticket = password_reset_start(
                phone=form.cleaned_data["phone"],
                country=form.cleaned_data["country"],
                client=client_address(request),
                now=now(),
            )
        except TooManyRequests as exc:
            form.add_error(None, exc.message)
        except DomainError as exc:
            apply_errors(form, exc, default_field="phone")
        else:
            request.session[SESSION_PASSWORD_RESET] = ticket
            # The same words whether or not the number has an account.
            messages.info(
                request,
                gettext(
                    "If this number has a LightWay account, we sent it a code by SMS. "
                    "It works for a few minutes."
                ),
            )
            return HttpResponseRedirect("/app/password/reset/")
    return render(
        request,
        "panels/customer/password_forgot.html",
        {"form": form},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@requires("public")
def password_reset(request: HttpRequest) -> HttpResponse:
    ticket = str(request.session.get(SESSION_PASSWORD_RESET) or "")
    if not ticket:
        return HttpResponseRedirect("/app/password/forgot/")
    form = PasswordResetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            password_reset_finish(
                ticket=ticket,
                code=form.cleaned_data["code"],
                new_password=form.cleaned_data["new_password"],
                now=now(),
            )
        except TooManyAttempts as exc:
            form.add_error("code", exc.message)
        except DomainError as exc:
            apply_errors(form, exc, default_field="code")
        else:
            request.session.pop(SESSION_PASSWORD_RESET, None)
            messages.success(
                request,
                gettext(
                    "Your password is changed and every device was signed out. "
                    "Log in with the new password."
                ),
            )
            return HttpResponseRedirect("/app/login/")
    return render(
        request,
        "panels/customer/password_reset.html",
        {"form": form},
        status=400 if form.errors else 200,
    )


# --- the message inbox ------------------------------------------------------------------------


def _cursor(request: HttpRequest) -> int | None:
    raw = request.GET.get("before", "")
    return int(raw) if raw.isdigit() and 0 < len(raw) <= 18 else None


@require_GET
@requires("self.security")
def inbox(request: HttpRequest) -> HttpResponse:
    page = inbox_page(
        user_id=int(request.user.pk or 0), before_id=_cursor(request), limit=INBOX_PAGE_SIZE
    )
    return render(
        request,
        "panels/customer/inbox.html",
        {
            "page": page,
            "rows": [(m, CHANNEL_NAMES.get(m.channel, m.channel)) for m in page.messages],
            "first_page": _cursor(request) is None,
        },
    )


# --- the offline page --------------------------------------------------------------------------


@require_GET
@public
@cache_control(max_age=0, no_cache=True)
def offline(request: HttpRequest) -> HttpResponse:
    """What the service worker shows when a page cannot be reached (it caches this page in
    the visitor's language when it installs). Nothing personal on it: no navigation, no
    form, no token. ``?lang=fr`` asks for a language (the worker keeps one per language)."""
    language = request.GET.get("lang", "")
    if language not in LANGUAGES:
        language = translation.get_language() or "en"
    with translation.override(language):
        response = render(request, "panels/customer/offline.html", {"language": language})
    response["Content-Language"] = language
    return response
