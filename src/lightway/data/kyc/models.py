"""Sumsub applicants and webhook events.

``KycApplicant`` mirrors the review state of a user's Sumsub applicant as last learnt from an
applied webhook (checked against ``GET .../status`` before any decision is applied).
``last_event_at_ms`` is the ``createdAtMs`` of the newest applied event as epoch
milliseconds: an event older than it is ignored, so state never regresses.

``SumsubWebhookEvent`` keeps every delivery's raw body and its ``X-Payload-*`` and
``Content-Type`` headers, stored before anything else happens (also when the digest is
wrong). ``dedupe_key`` (``applicantId|type|createdAtMs``, else ``sha256:<hex of body>``) is
unique, so a duplicate delivery is recognised and processed once; rejected deliveries have
none. The stored body, headers, digest verdict and dedupe key never change (trigger).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class ReviewAnswer(models.TextChoices):
    NONE = "", "None"
    GREEN = "GREEN", "Approved"
    RED = "RED", "Rejected"


class RejectType(models.TextChoices):
    NONE = "", "None"
    RETRY = "RETRY", "Resubmission requested"
    FINAL = "FINAL", "Rejected (final)"


class KycApplicant(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="kyc_applicant"
    )
    applicant_id = models.CharField(max_length=64, unique=True)
    level_name = models.CharField(max_length=100)
    review_status = models.CharField(max_length=24, default="init")
    review_answer = models.CharField(
        max_length=8, blank=True, default="", choices=ReviewAnswer.choices
    )
    reject_type = models.CharField(max_length=8, blank=True, default="", choices=RejectType.choices)
    reject_labels = models.JSONField(default=list, blank=True)
    # Sumsub's comment meant for the applicant (shown on RETRY); never the internal comment.
    moderation_comment = models.TextField(blank=True, default="")
    last_event_at_ms = models.BigIntegerField(
        null=True, blank=True, help_text="createdAtMs of the newest applied event (epoch ms)"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    final_rejected_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "kyc_applicant"
        constraints = [
            models.CheckConstraint(
                condition=Q(review_answer__in=[a.value for a in ReviewAnswer]),
                name="kyc_applicant_answer_known",
            ),
            models.CheckConstraint(
                condition=Q(reject_type__in=[t.value for t in RejectType]),
                name="kyc_applicant_reject_type_known",
            ),
            models.CheckConstraint(
                condition=Q(reject_type="") | Q(review_answer=ReviewAnswer.RED),
                name="kyc_applicant_reject_type_only_when_red",
            ),
        ]

    def __str__(self) -> str:
        return f"applicant {self.applicant_id} ({self.review_status})"


class WebhookStatus(models.TextChoices):
    RECEIVED = "received", "Received, waiting to be processed"
    PROCESSED = "processed", "Processed"
    IGNORED_OUT_OF_ORDER = "ignored_out_of_order", "Ignored: older than the applied state"
    REJECTED = "rejected", "Rejected: digest missing or wrong"
    ERROR = "error", "Error"


class SumsubWebhookEvent(models.Model):
    raw_body = models.BinaryField()
    headers = models.JSONField(default=dict, help_text="X-Payload-* and Content-Type only")
    received_at = models.DateTimeField()
    digest_ok = models.BooleanField()
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    status = models.CharField(max_length=24, choices=WebhookStatus.choices)
    event_type = models.CharField(max_length=64, blank=True, default="")
    applicant_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    created_at_ms = models.BigIntegerField(null=True, blank=True)
    deliveries = models.PositiveIntegerField(default=1)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        db_table = "kyc_sumsub_webhook_event"
        ordering = ["-received_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in WebhookStatus]),
                name="kyc_webhook_status_known",
            ),
            # A delivery whose digest failed is rejected, and only such a delivery.
            models.CheckConstraint(
                condition=(
                    Q(digest_ok=True, dedupe_key__isnull=False) & ~Q(status=WebhookStatus.REJECTED)
                )
                | Q(digest_ok=False, status=WebhookStatus.REJECTED, dedupe_key__isnull=True),
                name="kyc_webhook_rejected_iff_digest_failed",
            ),
        ]

    def __str__(self) -> str:
        return f"sumsub webhook {self.pk} {self.event_type or '?'} ({self.status})"
