"""Lockout with backoff for passwords, one-time codes and TOTP.

Every check of a secret (password, TOTP or backup code, SMS code) goes
``throttle_attempt(key=..., now=...)`` -> check -> ``throttle_clear(key=...)`` on success:

- :func:`throttle_attempt` locks the key's row (``FOR UPDATE``), raises :class:`Locked`
  while the key is locked, and otherwise counts the attempt as a failure *before* the
  secret is checked, committing the count (and the lock it may start) at once. Parallel
  guesses therefore queue on the row and each sees the ones before it: with 5 free
  failures, exactly 6 guesses are checked however many arrive at once (issue 11,
  finding 7). Checking first and counting afterwards let 40 parallel guesses through
  11 to 13 checks.
- :func:`throttle_clear` forgets the key after a success (the attempt counted in advance
  goes with it).

The first ``LIGHTWAY_LOCKOUT_FREE_ATTEMPTS`` failures are free; failure n beyond that locks
the key for ``base * 2**(n-1)`` seconds, capped at ``LIGHTWAY_LOCKOUT_MAX_SECONDS``.
:func:`throttle_attempt` is called outside any outer transaction (its count has to be
committed, and seen by parallel attempts, before the check; a refusal must not roll it
back).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Attempt:
    """An attempt counted in advance: the lock it starts if the check fails (else None)."""

    key: str
    failures: int
    locked_until: datetime | None


def throttle_attempt(*, key: str, now: datetime) -> Attempt:
    """Count one attempt under the key's row lock, before the secret is checked.

    Raises :class:`Locked` (and counts nothing) while the key is locked. The count is
    committed on return; call :func:`throttle_clear` when the check succeeds.
    """
    with transaction.atomic():
        row, _ = Throttle.objects.select_for_update().get_or_create(key=key)
        if row.locked_until is not None and row.locked_until > now:
            raise Locked(key, row.locked_until, now)
        row.failures += 1
        row.last_failure_at = now
        seconds = _lock_seconds(row.failures)
        row.locked_until = now + timedelta(seconds=seconds) if seconds else None
        row.save()
    if row.locked_until:
        log.warning(
            "throttle locked", extra={"throttle": key.split(":")[0], "failures": row.failures}
        )
    return Attempt(key=key, failures=row.failures, locked_until=row.locked_until)


def throttle_clear(*, key: str) -> None:
    Throttle.objects.filter(key=key).delete()


def throttle_failures(*, key: str) -> int:
    row = Throttle.objects.filter(key=key).only("failures").first()
    return row.failures if row else 0
