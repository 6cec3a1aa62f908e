"""Authorization at the edge: every view and API operation declares the action it needs.

The policy (``lightway.security.policy``) says which roles may do which action; this module
applies it to requests.

Django views: ``@requires("customers.view")``. The decorator

- lets ``public`` through;
- sends an anonymous visitor to the login page (``/app/login/`` for ``self.*`` actions,
  ``/staff/login/`` for staff ones), with ``?next=``;
- answers 403 (``panels/forbidden.html``) to a signed-in user without the permission;
- sends a staff member whose session has no verified second factor yet
  (``request.user.is_verified()``, django-otp) to ``/staff/mfa/``, whatever the page, but
  for the pages of ``staff.sign_in`` (enrolling and verifying that factor);
- records the action on the view (``view.lightway_action``) so the matrix test can find
  each URL's action (``view_action``).

API operations (django-ninja): tag the operation with ``**api_action("self.wallets")``
(an ``x-lightway-action`` in the OpenAPI document) and call ``api_requires(request,
"self.wallets")`` first thing in the handler: a principal without the permission gets a
403 ``forbidden`` in the API's error shape.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render

from lightway.application.errors import DomainError
from lightway.security.policy import (
    IMPLICIT_ROLES,
    INTEGRATION_DATA_ROLES,
    STAFF_REALMS,
    Action,
    Role,
    allows,
    integration_allows,
    roles_for_user_id,
    user_realm_of,
    user_roles,
)
from lightway.security.signatures import IntegrationPrincipal

View = TypeVar("View", bound=Callable[..., HttpResponseBase])

CUSTOMER_LOGIN_URL = "/app/login/"
STAFF_LOGIN_URL = "/staff/login/"
STAFF_VERIFY_URL = "/staff/mfa/"
ACTION_ATTR = "lightway_action"
OPENAPI_ACTION_KEY = "x-lightway-action"
FORBIDDEN_TEMPLATE = "panels/forbidden.html"
FORBIDDEN_MESSAGE = "You do not have access to this page."

_KNOWN_ACTIONS = frozenset(a.value for a in Action)


def _known(action: str) -> str:
    if action not in _KNOWN_ACTIONS:
        raise ValueError(f"unknown action {action!r}: add it to lightway.security.policy.Action")
    return action


def is_customer_action(action: str) -> bool:
    return action.startswith("self.")


def session_verified(request: HttpRequest) -> bool:
    """Has this session passed a second factor (django-otp's ``OTPMiddleware`` sets
    ``user.is_verified``)? Without the middleware: no."""
    is_verified = getattr(request.user, "is_verified", None)
    return bool(is_verified is not None and is_verified())


def login_url(action: str, next_path: str) -> str:
    base = CUSTOMER_LOGIN_URL if is_customer_action(action) else STAFF_LOGIN_URL
    return f"{base}?{urlencode({'next': next_path})}"


def forbidden_response(request: HttpRequest, message: str = "") -> HttpResponse:
    return render(
        request, FORBIDDEN_TEMPLATE, {"message": message or FORBIDDEN_MESSAGE}, status=403
    )


def refusal(request: HttpRequest, action: str) -> HttpResponse | None:
    """The response refusing ``request`` for ``action``, or None when it may go ahead."""
    if action == Action.PUBLIC:
        return None
    user = request.user
    if not user.is_authenticated:
        return HttpResponseRedirect(login_url(action, request.get_full_path()))
    roles = user_roles(user)
    if (
        user_realm_of(user) in STAFF_REALMS
        and action != Action.STAFF_SIGN_IN
        and not session_verified(request)
    ):
        target = request.get_full_path() if request.method == "GET" else ""
        query = f"?{urlencode({'next': target})}" if target else ""
        return HttpResponseRedirect(STAFF_VERIFY_URL + query)
    if not allows(roles, action):
        return forbidden_response(request)
    return None


def requires(action: str) -> Callable[[View], View]:
    """Decorate a Django view with the action it needs (see the module docstring)."""
    _known(action)

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            refused = refusal(request, action)
            if refused is not None:
                return refused
            return view(request, *args, **kwargs)

        setattr(wrapper, ACTION_ATTR, action)
        return cast(View, wrapper)

    return decorate


def public(view: View) -> View:
    """Mark a view open to everyone (probes, webhooks, static files, sign-in pages):
    ``requires("public")`` for views one cannot decorate (a thin wrapper: the view itself is
    left untouched)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return view(request, *args, **kwargs)

    setattr(wrapper, ACTION_ATTR, Action.PUBLIC.value)
    return cast(View, wrapper)


# URLs whose views belong to a library and cannot carry ``requires``: their action by URL
# name. Every other page of the admin site (namespace ``admin``) needs ``staff.admin_site``
# plus, per model, the Django permissions of the policy (``ADMIN_PERMISSIONS``).
URL_NAME_ACTIONS: dict[str, str] = {
    # The admin's sign-in step (panels.admin_site): it shows nothing, only forwards
    # (anonymous visitors to /staff/login/, everyone else to where they may go).
    "admin:login": Action.PUBLIC,
    "admin:logout": Action.PUBLIC,  # signing out is open to whoever is signed in
    "api-v1:openapi-json": Action.PUBLIC,  # the API's own description
    "api-v1:openapi-view": Action.PUBLIC,
    "api-v1:api-root": Action.PUBLIC,
}


def url_declared_action(url_name: str) -> str | None:
    return URL_NAME_ACTIONS.get(url_name)


def view_action(callback: Any) -> str | None:
    """The action a URL's view declared (through ``requires``/``public``), or None."""
    for candidate in (callback, getattr(callback, "view_class", None)):
        if candidate is None:
            continue
        action = getattr(candidate, ACTION_ATTR, None)
        if isinstance(action, str):
            return action
    return None


# --- API ----------------------------------------------------------------------------------


class Forbidden(DomainError):
    """An authenticated API principal without the permission: 403 ``forbidden``."""

    code = "forbidden"


def api_action(action: str) -> dict[str, Any]:
    """Keyword arguments for a ninja route decorator recording its action in OpenAPI:
    ``@api.get("/wallets", **api_action("self.wallets"))``."""
    return {"openapi_extra": {OPENAPI_ACTION_KEY: _known(action)}}


def api_roles(request: HttpRequest) -> frozenset[str]:
    """The roles of an API request's principal (a user's token, or a partner's signature),
    for the selectors that scope data by role. An integration key's requests get the view
    ``policy.INTEGRATION_DATA_ROLES`` (what the MTN panel shows); what they may *do* is
    decided by the key's scopes alone (``api_requires``)."""
    principal = getattr(request, "auth", None)
    if isinstance(principal, IntegrationPrincipal):
        return INTEGRATION_DATA_ROLES
    if principal is None:
        user = getattr(request, "user", None)
        return user_roles(user) if user is not None else frozenset()
    if isinstance(principal, int):
        return roles_for_user_id(principal)
    if getattr(principal, "partner_id", None) is not None and not hasattr(principal, "user_id"):
        return frozenset({Role.PARTNER.value})
    user_id = getattr(principal, "user_id", None)
    implicit = IMPLICIT_ROLES.get(getattr(principal, "realm", ""))
    if implicit is not None:  # customers: the realm the token query read decides
        return implicit
    if isinstance(user_id, int):
        return roles_for_user_id(user_id)
    return frozenset()


def api_requires(request: HttpRequest, action: str) -> None:
    """Raise ``Forbidden`` (403 ``forbidden``) unless the request's principal may ``action``:
    by its roles, or for an integration key by its scopes (``policy.integration_allows``)."""
    principal = getattr(request, "auth", None)
    if isinstance(principal, IntegrationPrincipal):
        if not integration_allows(principal.scopes, _known(action)):
            raise Forbidden(
                "this integration key's scopes do not include this operation",
                details={"action": action, "scopes": sorted(principal.scopes)},
            )
        return
    if not allows(api_roles(request), _known(action)):
        raise Forbidden("you may not do this", details={"action": action})
