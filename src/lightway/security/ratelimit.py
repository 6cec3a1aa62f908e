"""Rate limits per subject (a client address, a phone number, a user) and window.

``rate_limit_hit(limit=..., subject=..., now=...)`` counts one request against the limit and
raises :class:`RateLimited` once the subject has used more than the limit allows in the
current window. Counting is one ``INSERT ... ON CONFLICT DO UPDATE`` statement, so
concurrent requests cannot slip past the count; a window starts with the first request and
lasts ``window_seconds``. Refused requests count too: a client that keeps hammering stays
refused until its window ends. Keys hold a keyed hash of the subject, never the value.

The limits come from settings (docs/operations.md, "Rate limits"): a number per hour, or a
``"requests/seconds"`` text (``"600/60"``):

=====================  ===============================================================
``register_client``    registrations from one client address
``sms_client``         SMS-sending requests from one client address
``sms_phone``          SMS sent to one phone number (codes and notices)
``webhook_momo``       MoMo callbacks from one client address (``WEBHOOK_LIMITS``)
``webhook_sumsub``     Sumsub webhooks from one client address
``webhook_settlement`` Settlement API confirmations from one client address
=====================  ===============================================================
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection

from lightway.security.crypto import blind_index

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    name: str
    # requests allowed per window (0 = no limit): a number (per ``window_seconds``) or a
    # "requests/seconds" text
    setting: str
    default: int | str
    window_seconds: int = 3600

    def rule(self) -> tuple[int, int]:
        """(requests allowed, window in seconds)."""
        raw = getattr(settings, self.setting, self.default)
        if isinstance(raw, str):
            return rate_limit_parse(raw)
        return int(raw), self.window_seconds

    def allowed(self) -> int:
        return self.rule()[0]


def rate_limit_parse(text: str) -> tuple[int, int]:
    """``"600/60"`` -> (600 requests, per 60 seconds); ``ValueError`` naming the problem."""
    count, sep, seconds = str(text).strip().partition("/")
    try:
        limit, window = int(count), int(seconds) if sep else 60
    except ValueError:
        raise ValueError(
            f"rate limit {text!r} must look like '600/60' (requests/seconds)"
        ) from None
    if limit < 0 or window <= 0:
        raise ValueError(f"rate limit {text!r}: requests >= 0 and seconds > 0")
    return limit, window


REGISTER_CLIENT = Limit("register_client", "LIGHTWAY_RATE_REGISTER_PER_CLIENT_HOUR", 10)
SMS_CLIENT = Limit("sms_client", "LIGHTWAY_RATE_SMS_PER_CLIENT_HOUR", 20)
SMS_PHONE = Limit("sms_phone", "LIGHTWAY_RATE_SMS_PER_PHONE_HOUR", 5)
# Unauthenticated intake, per client address (issue 11 finding 6).
WEBHOOK_LIMITS = {
    "momo": Limit("webhook_momo", "LIGHTWAY_WEBHOOK_RATE_MOMO", "600/60"),
    "sumsub": Limit("webhook_sumsub", "LIGHTWAY_WEBHOOK_RATE_SUMSUB", "120/60"),
    "settlement": Limit("webhook_settlement", "LIGHTWAY_WEBHOOK_RATE_SETTLEMENT", "120/60"),
    # SMS delivery reports (issue 15): one or two per message sent, in bursts
    "sms": Limit("webhook_sms", "LIGHTWAY_WEBHOOK_RATE_SMS", "1200/60"),
}


class RateLimited(Exception):
    def __init__(self, limit: str, retry_after: int) -> None:
        self.limit = limit
        self.retry_after = retry_after
        super().__init__(f"too many requests; try again in {retry_after} s")


_HIT_SQL = """
INSERT INTO security_rate_counter AS c (key, window_start, hits) VALUES (%s, %s, 1)
ON CONFLICT (key) DO UPDATE SET
    window_start = CASE WHEN c.window_start <= %s THEN EXCLUDED.window_start
                        ELSE c.window_start END,
    hits = CASE WHEN c.window_start <= %s THEN 1 ELSE c.hits + 1 END
RETURNING window_start, hits
"""


def rate_key(limit: Limit, subject: str) -> str:
    return f"{limit.name}:{blind_index('rate', f'{limit.name}:{subject}')[:40]}"


def rate_limit_hit(*, limit: Limit, subject: str, now: datetime) -> None:
    """Count one request by ``subject``; raise :class:`RateLimited` beyond the limit.

    An empty subject (no client address known) is not counted."""
    allowed, window = limit.rule()
    if allowed <= 0 or not subject:
        return
    expired = now - timedelta(seconds=window)
    with connection.cursor() as cursor:
        cursor.execute(_HIT_SQL, [rate_key(limit, subject), now, expired, expired])
        window_start, hits = cursor.fetchone()
    if hits > allowed:
        retry_after = max(1, int((window_start + timedelta(seconds=window) - now).total_seconds()))
        if hits == allowed + 1:
            log.warning("rate limit reached", extra={"limit": limit.name})
        raise RateLimited(limit.name, retry_after)


def rate_counters_prune(*, now: datetime, older_than_seconds: int = 86400) -> int:
    """Forget counters whose window ended long ago (periodic job)."""
    from lightway.security.models import RateCounter

    cutoff = now - timedelta(seconds=older_than_seconds)
    deleted, _ = RateCounter.objects.filter(window_start__lt=cutoff).delete()
    return int(deleted)
