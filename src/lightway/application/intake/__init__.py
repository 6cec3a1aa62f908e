"""Unauthenticated intake (webhooks): rate limits per client address and the bounded,
aggregated record of refused deliveries (issue 11 finding 6, docs/security.md).

- :func:`webhook_admit` counts a request against its source's per-address limit
  (``LIGHTWAY_WEBHOOK_RATE_<SOURCE>``, e.g. ``600/60``); over it, the view answers 429 and
  nothing but the count is kept.
- :func:`intake_reject` is what a refused delivery leaves: one more in its (source, reason,
  minute) row with the keyed digest of the body, never the body.
- :func:`intake_housekeeping` (periodic task, every minute): one audit record per closed
  minute with its count, and old rate windows pruned.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings

from lightway.data.intake.services import (
    intake_prune,
    intake_rejection_count,
    intake_rejections_audit,
)
from lightway.security.crypto import payload_digest
from lightway.security.ratelimit import RateDecision, rate_limit_hit, rate_limit_parse

logger = logging.getLogger("lightway.intake")

DEFAULT_RATES = {"momo": "600/60", "sumsub": "120/60"}
RATE_WINDOWS_KEPT = timedelta(hours=1)


def webhook_rate(source: str) -> tuple[int, int]:
    """(requests, seconds) allowed per client address for ``source``."""
    name = f"LIGHTWAY_WEBHOOK_RATE_{source.upper()}"
    return rate_limit_parse(str(getattr(settings, name, DEFAULT_RATES.get(source, "120/60"))))


def webhook_admit(*, source: str, client: str, now: datetime) -> RateDecision:
    limit, window = webhook_rate(source)
    key = f"webhook:{source}:{str(client or '-')[:64]}"
    return rate_limit_hit(key=key, limit=limit, window_seconds=window, now=now)


def intake_reject(*, source: str, reason: str, body: bytes, now: datetime) -> None:
    """Count one refused delivery; only its size and keyed digest are kept."""
    raw = bytes(body)
    intake_rejection_count(
        source=source, reason=reason, size=len(raw), digest=payload_digest(raw), now=now
    )
    logger.warning(
        "webhook delivery refused", extra={"source": source, "reason": reason, "bytes": len(raw)}
    )


def intake_housekeeping(*, now: datetime) -> int:
    """Audit the closed minutes of refused deliveries; prune rate windows over an hour old.
    Returns the number of minutes audited."""
    audited = intake_rejections_audit(now=now)
    intake_prune(now=now, rate_windows_after=RATE_WINDOWS_KEPT)
    return audited
