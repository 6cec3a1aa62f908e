"""The customer panel's language: English or French (docs/panels.md, "Languages").

``PanelLanguageMiddleware`` activates a language for each request under ``/app/``:

1. a signed-in customer's own choice (``Profile.language``, chosen at sign-up, changed with
   the language switch), kept in the session after the first look-up;
2. else the language switch's cookie (``LANGUAGE_COOKIE_NAME``), set before sign-in;
3. else the browser's ``Accept-Language``;
4. else English.

Every other page (staff, MTN, admin) stays English, and the language is reset to English
when the request ends, so nothing leaks into the API or the worker on the same thread.
``language_switch`` (POST ``/app/language/``) sets the cookie and, for a signed-in customer,
saves the choice to the profile (audited ``user.language_set``); SMS then follow it too.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from lightway.application.authentication.login import realm_is_staff, user_realm
from lightway.application.errors import DomainError
from lightway.application.onboarding.registration import (
    LANGUAGES,
    profile_language,
    profile_language_set,
)
from lightway.interfaces.panels.access import public
from lightway.interfaces.panels.common import SESSION_LANGUAGE, now, safe_next

CUSTOMER_PREFIX = "/app/"
DEFAULT = "en"

Handler = Callable[[HttpRequest], HttpResponseBase]


def _supported(code: str | None) -> str | None:
    code = (code or "").lower()[:2]
    return code if code in LANGUAGES else None


def _customer_choice(request: HttpRequest) -> str | None:
    """The signed-in customer's saved language (session first, then the profile)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    stored = _supported(request.session.get(SESSION_LANGUAGE))
    if stored:
        return stored
    if realm_is_staff(user_realm(user)):
        return None
    saved = _supported(profile_language(user_id=int(user.pk)))
    if saved:
        request.session[SESSION_LANGUAGE] = saved
    return saved


def request_language(request: HttpRequest) -> str:
    """The language a customer page is shown in (see the module docstring)."""
    if not request.path.startswith(CUSTOMER_PREFIX):
        return DEFAULT
    return (
        _customer_choice(request)
        or _supported(request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME))
        or _supported(translation.get_language_from_request(request))
        or DEFAULT
    )


class PanelLanguageMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        language = request_language(request)
        translation.activate(language)
        request.LANGUAGE_CODE = language
        try:
            response = self.get_response(request)
        finally:
            translation.deactivate()
        if request.path.startswith(CUSTOMER_PREFIX):
            response.headers.setdefault("Content-Language", language)
            patch_vary_headers(response, ("Accept-Language", "Cookie"))
        return response


@require_POST
@public
def language_switch(request: HttpRequest) -> HttpResponse:
    """Switch the customer panel's language; back to the page it was asked from."""
    language = _supported(request.POST.get("language")) or DEFAULT
    response = HttpResponseRedirect(safe_next(request, CUSTOMER_PREFIX))
    user = request.user
    if user.is_authenticated and not realm_is_staff(user_realm(user)):
        try:
            profile_language_set(user_id=int(user.pk), language=language, now=now())
        except DomainError:
            pass  # an account without a profile: the cookie still applies
        request.session[SESSION_LANGUAGE] = language
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path="/app/",
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite="Lax",
    )
    return response
