"""The Django admin behind the staff sign-in: password, then a second factor.

``admin.site.login`` redirects to ``/staff/login/?next=...`` (or ``/staff/mfa/`` for a staff
session without its second factor yet) and ``has_permission`` requires a session verified
by a second factor (django-otp), the LightWay staff realm and the ``staff.admin_site``
action of the authorization policy.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from lightway.application.authentication.login import realm_is_staff, user_realm
from lightway.data.identity.models import Realm
from lightway.security.policy import allows, user_roles


def _verified(request: HttpRequest) -> bool:
    is_verified = getattr(request.user, "is_verified", None)
    return bool(is_verified is not None and is_verified())


def _admin_login(request: HttpRequest, extra_context: object = None) -> HttpResponse:
    target = request.GET.get("next") or "/admin/"
    if not target.startswith("/") or target.startswith("//"):
        target = "/admin/"
    user = request.user
    if not user.is_authenticated:
        return HttpResponseRedirect("/staff/login/?" + urlencode({"next": target}))
    if realm_is_staff(user_realm(user)) and not _verified(request):
        return HttpResponseRedirect("/staff/mfa/?" + urlencode({"next": target}))
    if admin_has_permission(request):
        return HttpResponseRedirect(target)
    if "next" not in request.GET:
        # Opened directly by someone signed in who cannot use the admin: their own start page.
        return HttpResponseRedirect("/staff/" if realm_is_staff(user_realm(user)) else "/app/")
    # Signed in (with both factors) and still refused: a permission problem, not a sign-in
    # one (sending them to a login page again would loop).
    from lightway.interfaces.panels.common import forbidden

    return forbidden(request, "Your account cannot use the administration site.")


def _admin_logout(request: HttpRequest, extra_context: object = None) -> HttpResponse:
    from lightway.interfaces.panels.staff import staff_logout

    return staff_logout(request)


def admin_has_permission(request: HttpRequest) -> bool:
    """Active Django staff of the LightWay realm, verified by a second factor in this
    session, whose roles allow ``staff.admin_site``."""
    user = request.user
    if not (user.is_active and user.is_staff):
        return False
    if not _verified(request) or user_realm(user) != Realm.LIGHTWAY:
        return False
    return allows(user_roles(user), "staff.admin_site")


def admin_site_secure(site: admin.AdminSite | None = None) -> None:
    site = site or admin.site
    site.login = _admin_login  # type: ignore[method-assign]
    site.logout = _admin_logout  # type: ignore[method-assign, assignment]
    site.has_permission = admin_has_permission  # type: ignore[method-assign]
