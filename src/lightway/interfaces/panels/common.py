"""Helpers shared by the panel views: the clock, safe redirects, form errors, 403 pages."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from lightway.application.errors import DomainError

# Session keys (the values are ids, flags and times; never personal data)
SESSION_REALM = "lw_realm"
SESSION_MFA_REQUIRED = "lw_mfa_required"
SESSION_LAST_SEEN = "lw_last_seen"
SESSION_STARTED = "lw_started_at"  # absolute session lifetime (LIGHTWAY_SESSION_MAX_SECONDS)
SESSION_WEBAUTHN = "lw_webauthn"
SESSION_PHONE_USER = "lw_verify_user"  # a registration waiting for its SMS code
SESSION_LANGUAGE = "lw_language"  # the signed-in customer's language ("en", "fr")
SESSION_PASSWORD_RESET = "lw_password_reset"  # the reset's ticket: a blind index, no number


def now() -> datetime:
    return timezone.now()


def safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def apply_errors(form: forms.Form, exc: DomainError, *, default_field: str | None = None) -> None:
    """Put a domain error's messages beside the form fields they belong to."""
    errors = exc.details.get("errors")
    pairs: Mapping[str, Any] = (
        errors
        if isinstance(errors, Mapping)
        else {str(exc.details.get("field") or default_field or ""): exc.message}
    )
    for field, message in pairs.items():
        form.add_error(field if field in form.fields else None, str(message))


def forbidden(request: HttpRequest, message: str = "") -> HttpResponse:
    return render(
        request,
        "panels/forbidden.html",
        {"message": message or "You do not have access to this page."},
        status=403,
    )
