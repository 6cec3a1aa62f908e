"""``requires(action)`` for panel views.

Uses the authorization policy's decorator (``lightway.interfaces.web.authz.requires``)
when it is installed; otherwise a local stand-in with the same contract: unauthenticated
-> the right login page, authenticated without the permission -> the 403 page.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from lightway.application.authentication.login import user_realm
from lightway.data.identity.models import Realm
from lightway.interfaces.panels.common import forbidden

View = Callable[..., HttpResponse]

# What the stand-in allows, by action prefix and realm.
_REALMS: dict[str, frozenset[str]] = {
    "self.": frozenset({Realm.CUSTOMER}),
    "staff.panel": frozenset({Realm.LIGHTWAY, Realm.MTN}),
    "transactions.view_momo": frozenset({Realm.LIGHTWAY, Realm.MTN}),
}


def login_url_for(path: str) -> str:
    base = "/staff/login/" if path.startswith(("/staff", "/mtn", "/admin")) else "/app/login/"
    return base + "?" + urlencode({"next": path})


def _fallback(action: str) -> Callable[[View], View]:
    def decorate(view: View) -> View:
        if action == "public":
            return view

        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return HttpResponseRedirect(login_url_for(request.get_full_path()))
            realms = next((r for p, r in _REALMS.items() if action.startswith(p)), None)
            if realms is None or user_realm(request.user) not in realms:
                return forbidden(request)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def public(view: View) -> View:
    """Open to everyone as far as the policy goes: sign-in steps (which check the session
    themselves), logout, the app manifest, service worker and icons."""
    try:
        from lightway.interfaces.web.authz import public as policy_public
    except ImportError:
        return view
    return policy_public(view)


def requires(action: str) -> Callable[[View], View]:
    try:
        from lightway.interfaces.web.authz import requires as policy_requires
    except ImportError:
        return _fallback(action)
    return policy_requires(action)
