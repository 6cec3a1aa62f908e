"""Lockout with backoff for passwords, one-time codes and TOTP.

``throttle_check(key=..., now=...)`` raises :class:`Locked` while a key is locked;
``throttle_fail`` records a failure and returns the new lock (if any); ``throttle_clear``
forgets the key after a success. The first ``LIGHTWAY_LOCKOUT_FREE_ATTEMPTS`` failures are
free; failure n beyond that locks the key for ``base * 2**(n-1)`` seconds, capped at
``LIGHTWAY_LOCKOUT_MAX_SECONDS``. The row is locked (``FOR UPDATE``) while counting, so
parallel guesses cannot slip past the count.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from lightway.security.models import Throttle

log = logging.getLogger(__name__)


class Locked(Exception):
    def __init__(self, key: str, until: datetime, now: datetime) -> None:
        self.key = key
        self.until = until
        self.retry_after = max(1, int((until - now).total_seconds() + 0.999))
        super().__init__(f"too many failed attempts; try again in {self.retry_after} s")


def _free() -> int:
    return int(getattr(settings, "LIGHTWAY_LOCKOUT_FREE_ATTEMPTS", 5))


def _lock_seconds(failures: int) -> int:
    beyond = failures - _free()
    if beyond <= 0:
        return 0
    base = int(getattr(settings, "LIGHTWAY_LOCKOUT_BASE_SECONDS", 30))
    cap = int(getattr(settings, "LIGHTWAY_LOCKOUT_MAX_SECONDS", 3600))
    return int(min(cap, base * 2 ** min(beyond - 1, 20)))


def throttle_check(*, key: str, now: datetime) -> None:
    row = Throttle.objects.filter(key=key).only("locked_until").first()
    if row and row.locked_until and row.locked_until > now:
        raise Locked(key, row.locked_until, now)


def throttle_fail(*, key: str, now: datetime) -> datetime | None:
    """Count one failure; returns the time the key is locked until, if it now is."""
    with transaction.atomic():
        row, _ = Throttle.objects.select_for_update().get_or_create(key=key)
        row.failures += 1
        row.last_failure_at = now
        seconds = _lock_seconds(row.failures)
        row.locked_until = now + timedelta(seconds=seconds) if seconds else None
        row.save()
    if row.locked_until:
        log.warning(
            "throttle locked", extra={"throttle": key.split(":")[0], "failures": row.failures}
        )
    return row.locked_until


def throttle_clear(*, key: str) -> None:
    Throttle.objects.filter(key=key).delete()


def throttle_failures(*, key: str) -> int:
    row = Throttle.objects.filter(key=key).only("failures").first()
    return row.failures if row else 0
