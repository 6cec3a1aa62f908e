"""Unauthenticated intake (webhooks): rate limits per client address and the bounded,
aggregated record of refused deliveries (issue 11 finding 6, docs/security.md).

- :func:`webhook_admit` counts a request against its source's per-address limit
  (``LIGHTWAY_WEBHOOK_RATE_<SOURCE>``, e.g. ``600/60``; the platform's one rate limiter,
  ``security/ratelimit.py``); over it, it raises ``RateLimited``, the view answers 429 and
  nothing but the count is kept.
- :func:`intake_reject` is what a refused delivery leaves: one more in its (source, reason,
  minute) row with the keyed digest of the body, never the body.
- :func:`intake_housekeeping` (periodic task, every minute): one audit record per closed
  minute with its count, and old rejection rows pruned.
"""

from __future__ import annotations

import logging
from datetime import datetime

from lightway.data.intake.services import intake_rejection_count, intake_rejections_audit
from lightway.security.crypto import payload_digest
from lightway.security.ratelimit import WEBHOOK_LIMITS, rate_limit_hit

logger = logging.getLogger("lightway.intake")


def webhook_admit(*, source: str, client: str, now: datetime) -> None:
    """Count one request from ``client`` to ``source``'s webhook; ``RateLimited`` beyond its
    limit (an unknown client address counts under one shared subject)."""
    rate_limit_hit(limit=WEBHOOK_LIMITS[source], subject=client or "-", now=now)


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
    """Audit the closed minutes of refused deliveries. Returns the number of minutes
    audited. (Rate counters are pruned by ``rate_counters_prune``.)"""
    return intake_rejections_audit(now=now)
