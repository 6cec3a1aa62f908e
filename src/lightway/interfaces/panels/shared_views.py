"""View bodies the customer panel (/app/) and the staff panel (/staff/) share: the second
factor step, confirming an authenticator app, new backup codes and signing out.

The views in ``customer.py`` and ``staff.py`` keep their own access rules and say where
to go next; the work is done here once.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext

from lightway.application.authentication import mfa
from lightway.application.errors import DomainError
from lightway.interfaces.panels.common import now
from lightway.interfaces.panels.forms import SecondFactorForm, TotpCodeForm
from lightway.interfaces.panels.sessions import session_end, session_verified


def _uid(request: HttpRequest) -> int:
    return int(request.user.pk or 0)


def second_factor_page(
    request: HttpRequest, *, target: str, template: str, extra: dict[str, Any] | None = None
) -> HttpResponse:
    """The second sign-in step: a TOTP or backup code verifies the session, which then
    goes on to ``target``; otherwise the form is shown (again, with its error)."""
    form = SecondFactorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = mfa.second_factor_verify(
                user_id=_uid(request), code=form.cleaned_data["code"], now=now()
            )
        except DomainError as exc:
            form.add_error("code", exc.message)
        else:
            session_verified(request, device)
            return HttpResponseRedirect(target)
    return render(
        request,
        template,
        {"form": form, "next": target, **(extra or {})},
        status=400 if form.errors else 200,
    )


def totp_enrol_confirmed(
    request: HttpRequest, form: TotpCodeForm, *, then: str
) -> HttpResponse | None:
    """Confirm the pending authenticator app with the code in ``form`` (already valid):
    the session counts as verified and the new backup codes are shown once, with a link
    on to ``then``. None (the error put on the form) when the code is refused."""
    try:
        device, codes = mfa.totp_enrol_confirm(
            user_id=_uid(request), code=form.cleaned_data["code"], now=now()
        )
    except DomainError as exc:
        form.add_error("code", exc.message)
        return None
    session_verified(request, device)
    return render(request, "panels/backup_codes.html", {"codes": codes, "next": then})


def backup_codes_page(request: HttpRequest, *, back: str) -> HttpResponse:
    """New backup codes (the old ones stop working), shown once with a link back to the
    security page ``back``; a refusal is a message there."""
    try:
        codes = mfa.backup_codes_regenerate(user_id=_uid(request), now=now())
    except DomainError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(back)
    return render(request, "panels/backup_codes.html", {"codes": codes, "next": back})


def logout_page(request: HttpRequest, *, login_url: str, template: str) -> HttpResponse:
    """Sign out on POST (back to ``login_url``); a GET shows the confirmation page."""
    if request.method == "POST":
        session_end(request, reason="user")
        messages.info(request, gettext("You are signed out."))
        return HttpResponseRedirect(login_url)
    return render(request, template)
