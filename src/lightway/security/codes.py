"""One-time codes: numeric codes for SMS, long tokens for email links.

Codes are stored as HMAC-SHA256 (keyed with the blind-index key, so a database dump does
not reveal them even for six digits), expire, allow ``LIGHTWAY_OTP_MAX_ATTEMPTS`` wrong
guesses, are single-use, and a new code for the same purpose and user replaces the old one.
Every guess also counts, before it is checked, against the user's throttle key
``otp:<purpose>:<user>`` (a right one clears it).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from lightway.security.crypto import blind_key
from lightway.security.models import OneTimeCode
from lightway.security.throttle import throttle_attempt, throttle_clear


class CodeRejected(Exception):
    """The code is wrong, expired, used or superseded (one message for all: no oracle)."""

    def __init__(self, message: str = "the code is wrong or has expired") -> None:
        super().__init__(message)


@dataclass(frozen=True)
class IssuedCode:
    id: int
    code: str  # in clear: hand it to the SMS/email template, never log or store it
    expires_at: datetime


def _owner(user_id: int | None) -> dict[str, Any]:
    """Lookup for the code's owner (``user_id=None`` matches codes sent before an account)."""
    return {"user_id": user_id} if user_id is not None else {"user__isnull": True}


def _hash(code: str) -> str:
    return hmac.new(blind_key(), f"otp\x00{code}".encode(), hashlib.sha256).hexdigest()


def code_issue(
    *,
    purpose: str,
    user_id: int | None,
    now: datetime,
    target_bidx: str = "",
    context: str = "",
    link: bool = False,
    ttl_seconds: int | None = None,
) -> IssuedCode:
    code = secrets.token_urlsafe(32) if link else f"{secrets.randbelow(10**6):06d}"
    ttl = ttl_seconds or (
        int(getattr(settings, "LIGHTWAY_EMAIL_LINK_TTL_SECONDS", 86400))
        if link
        else int(getattr(settings, "LIGHTWAY_OTP_TTL_SECONDS", 300))
    )
    with transaction.atomic():
        # A new code replaces any live one for the same purpose and user.
        OneTimeCode.objects.filter(purpose=purpose, used_at__isnull=True, **_owner(user_id)).update(
            used_at=now
        )
        row = OneTimeCode.objects.create(
            purpose=purpose,
            user_id=user_id,
            target_bidx=target_bidx,
            code_hash=_hash(code),
            context=context,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )
    return IssuedCode(id=row.pk, code=code, expires_at=row.expires_at)


def code_verify(
    *, purpose: str, user_id: int | None, code: str, now: datetime, context: str = ""
) -> OneTimeCode:
    """Consume the live code for (purpose, user) if ``code`` matches; else raise.

    Raises :class:`CodeRejected` or :class:`lightway.security.throttle.Locked`.
    """
    key = f"otp:{purpose}:{user_id}"
    throttle_attempt(key=key, now=now)  # counted before the check (raises Locked)
    max_attempts = int(getattr(settings, "LIGHTWAY_OTP_MAX_ATTEMPTS", 5))
    with transaction.atomic():
        row = (
            OneTimeCode.objects.select_for_update()
            .filter(purpose=purpose, used_at__isnull=True, **_owner(user_id))
            .order_by("-created_at")
            .first()
        )
        ok = (
            row is not None
            and row.expires_at > now
            and row.attempts < max_attempts
            and row.context == context
            and hmac.compare_digest(row.code_hash, _hash(code.strip()))
        )
        if row is not None and not ok:
            row.attempts += 1
            row.save(update_fields=["attempts"])
        if ok and row is not None:
            row.used_at = now
            row.save(update_fields=["used_at"])
    if not ok or row is None:
        raise CodeRejected()
    throttle_clear(key=key)
    return row


def code_verify_link(*, purpose: str, token: str, now: datetime) -> OneTimeCode:
    """Consume an email-link token (looked up by its hash; no user needed)."""
    with transaction.atomic():
        row = (
            OneTimeCode.objects.select_for_update()
            .filter(purpose=purpose, code_hash=_hash(token.strip()), used_at__isnull=True)
            .first()
        )
        if row is None or row.expires_at <= now:
            raise CodeRejected("the link is not valid or has expired; ask for a new one")
        row.used_at = now
        row.save(update_fields=["used_at"])
    return row
