""" "Forgot your password?": a 6-digit code by SMS, then a new password.

``password_reset_start`` takes a phone number and its market. When a customer verified that
number, a code goes to it (template ``password_reset_code``, critical); otherwise nothing is
sent. The caller is told the same either way, the SMS rate limits (per client address and
per number) count every request alike, and the answer is a *ticket* (the number's blind
index: no personal data) that the reset step needs, so the panel can keep it in the session.

``password_reset_finish`` takes the ticket, the code and the new password. The password
goes through Django's validators before the code is used, so a weak password does not burn
the code. Codes are checked like the phone verification's (``registration.code_check``):
five wrong guesses per code, and wrong guesses lock the step out with backoff. A ticket
that belongs to no account gets the same answers and the same lockout (its own throttle
key). Success saves the password (every web session ends with the old password hash),
ends every API session and sends the customer an SMS notice
(``passwords.password_changed``, event ``password_forgot``), audited
``auth.password_reset``. The lockout of the password sign-in is lifted.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext

from lightway.application.authentication.login import TooManyAttempts
from lightway.application.authentication.passwords import password_changed
from lightway.application.errors import ValidationFailed
from lightway.application.identity.phones import phone_normalise
from lightway.application.notifications.service import notify
from lightway.application.onboarding.registration import code_check, password_problems
from lightway.application.ratelimits import sms_rate_check
from lightway.data.audit.services import audit_record
from lightway.data.identity.models import Profile, Realm
from lightway.security.codes import code_issue
from lightway.security.crypto import blind_index
from lightway.security.throttle import Locked, throttle_attempt, throttle_clear

log = logging.getLogger(__name__)

PURPOSE = "password_reset"


def _fail(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details={"field": field, "errors": {field: message}})


def _holder(ticket: str) -> Profile | None:
    """The customer who verified the number behind ``ticket`` (an active account)."""
    if not ticket:
        return None
    return (
        Profile.objects.filter(
            phone_bidx=ticket,
            phone_verified_at__isnull=False,
            realm=Realm.CUSTOMER,
            user__is_active=True,
        )
        .only("user_id", "language")
        .first()
    )


def _minutes() -> int:
    return max(1, int(getattr(settings, "LIGHTWAY_OTP_TTL_SECONDS", 300)) // 60)


def password_reset_start(*, phone: str, country: str, client: str, now: datetime) -> str:
    """Text a reset code to ``phone`` if a customer verified it; return the ticket.

    Raises ``ValidationFailed`` for a number that is not a mobile number of ``country`` and
    ``TooManyRequests`` when the SMS limits are used up, whether or not the number has an
    account."""
    e164 = phone_normalise(phone, country=country)
    sms_rate_check(client=client, phone=e164, now=now)
    ticket = blind_index("phone", e164)
    profile = _holder(ticket)
    if profile is None:
        log.info("password reset asked for a number without an account")
        return ticket
    with transaction.atomic():
        issued = code_issue(purpose=PURPOSE, user_id=profile.user_id, now=now, target_bidx=ticket)
        notify(
            template="password_reset_code",
            context={"code": issued.code, "minutes": _minutes()},
            now=now,
            user_id=profile.user_id,
            phone=e164,
            language=profile.language,
            critical=True,
        )
        audit_record(
            actor="public",
            action="auth.password_reset_request",
            object_type="auth.user",
            object_id=str(profile.user_id),
            data={"channel": "sms"},
            now=now,
        )
    return ticket


def password_reset_finish(*, ticket: str, code: str, new_password: str, now: datetime) -> int:
    """Set the new password if ``code`` is the live reset code of the ticket's account;
    returns the user id. Field errors (``code``, ``new_password``) as ``ValidationFailed``,
    ``TooManyAttempts`` while locked out."""
    if not (code or "").strip():
        raise _fail("code", gettext("Enter the code we sent you."))
    if not new_password:
        raise _fail("new_password", gettext("Choose a new password."))
    problems = password_problems(new_password)
    if problems:
        raise _fail("new_password", problems)
    profile = _holder(ticket)
    if profile is None:
        # No account behind the number: the same answer and the same lockout as a wrong code.
        try:
            throttle_attempt(key=f"otp:{PURPOSE}:unknown:{(ticket or '-')[:40]}", now=now)
        except Locked as exc:
            raise TooManyAttempts(exc.retry_after) from None
        raise _fail(
            "code", gettext("That code is wrong or has expired. Check it, or ask for a new one.")
        )
    user_id = int(profile.user_id)
    code_check(purpose=PURPOSE, user_id=user_id, code=code, now=now)
    with transaction.atomic():
        user = get_user_model().objects.select_for_update().get(pk=user_id)
        user.set_password(new_password)
        user.save(update_fields=["password"])
        audit_record(
            actor=f"user:{user_id}",
            action="auth.password_reset",
            object_type="auth.user",
            object_id=str(user_id),
            data={"fields": ["password"], "method": "sms_code"},
            now=now,
        )
        password_changed(user_id=user_id, actor=f"user:{user_id}", event="password_forgot", now=now)
    throttle_clear(key=f"password:{user_id}")
    return user_id
