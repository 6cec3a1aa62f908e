"""Rate limits on what costs money or tells something (SMS, registrations), as domain errors.

Every use case that sends an SMS a caller can trigger at will (registration, a new phone
code, a login code for a new device, a step-up code, the notice to a number's owner) calls
:func:`sms_rate_check` before it sends: per client address (when the interface knows it) and
per phone number, limits in settings (``security/ratelimit.py``). A used-up limit is
:class:`~lightway.application.errors.TooManyRequests` (429 with Retry-After).
"""

from __future__ import annotations

from datetime import datetime

from lightway.application.errors import TooManyRequests
from lightway.security.ratelimit import (
    REGISTER_CLIENT,
    SMS_CLIENT,
    SMS_PHONE,
    Limit,
    RateLimited,
    rate_limit_hit,
)

__all__ = ["REGISTER_CLIENT", "rate_check", "sms_rate_check"]


def rate_check(limit: Limit, *, subject: str, now: datetime) -> None:
    try:
        rate_limit_hit(limit=limit, subject=subject, now=now)
    except RateLimited as exc:
        raise TooManyRequests(exc.retry_after) from None


def sms_rate_check(*, client: str, phone: str, now: datetime) -> None:
    """Count one SMS to ``phone`` asked for from ``client`` ("" = not known)."""
    rate_check(SMS_CLIENT, subject=client, now=now)
    rate_check(SMS_PHONE, subject=phone, now=now)
