"""Refused deliveries of the unauthenticated endpoints (webhooks). (Their rate limits are
the platform's one limiter, ``security/ratelimit.py``.)

``IntakeRejection`` is the only trace a refused delivery leaves (a Sumsub webhook with a
wrong digest, a MoMo callback for an unknown reference or over its reference's cap, a
request over the rate limit): one row per source, reason and minute with a count, the bytes
received and the keyed digest of the last body, never the body itself. A flood therefore
grows one counter, not the database; a closed minute is audited once with its count.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class RejectionReason(models.TextChoices):
    BAD_DIGEST = "bad_digest", "Digest missing or wrong"
    UNKNOWN_REFERENCE = "unknown_reference", "No request has this reference"
    TOO_MANY_CALLBACKS = "too_many_callbacks", "The reference already has its callbacks"
    RATE_LIMITED = "rate_limited", "Over the rate limit"


class IntakeRejection(models.Model):
    source = models.CharField(max_length=32)  # "momo", "sumsub"
    reason = models.CharField(max_length=24, choices=RejectionReason.choices)
    minute = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)
    bytes_total = models.BigIntegerField(default=0)
    last_digest = models.CharField(max_length=64, blank=True, default="")
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    audited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "intake_rejection"
        constraints = [
            models.UniqueConstraint(
                fields=["source", "reason", "minute"], name="intake_rejection_per_minute"
            ),
            models.CheckConstraint(
                condition=Q(reason__in=[r.value for r in RejectionReason]),
                name="intake_rejection_reason_known",
            ),
        ]
        indexes = [
            models.Index(
                fields=["minute"],
                name="intake_rejection_unaudited",
                condition=Q(audited_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.reason} {self.minute:%Y-%m-%d %H:%M} x{self.count}"
