"""The delivery log and notification preferences.

A :class:`Delivery` is one message on one channel to one recipient, and its life:

``queued`` → ``sending`` (claimed by a worker, one attempt counted) → ``sent``; or back to
``queued`` with a later ``next_attempt_at`` after a temporary error; ``failed`` after a
permanent error (invalid number, not configured); ``dead`` when the attempts ran out.

The recipient and the body (which may hold a one-time code) are stored only as
ciphertexts sealed by ``lightway.security.crypto`` in the application layer; this layer
stores bytes. ``recipient_masked`` is what staff pages show; ``recipient_bidx`` is a keyed
blind index to find someone's deliveries without decrypting. ``last_error`` never holds
personal data. The body is erased once the delivery is final.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Channel(models.TextChoices):
    SMS = "sms", "SMS"
    EMAIL = "email", "Email"


class Category(models.TextChoices):
    SECURITY = "security", "Security"
    TRANSACTIONS = "transactions", "Transactions"
    KYC = "kyc", "Identity verification"
    MARKETING = "marketing", "News and offers"


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    DEAD = "dead", "Gave up"


FINAL_STATUSES = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.DEAD)


class Delivery(models.Model):
    channel = models.CharField(max_length=8, choices=Channel.choices)
    template = models.CharField(max_length=40)
    category = models.CharField(max_length=16, choices=Category.choices)
    language = models.CharField(max_length=2)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notification_deliveries",
    )
    recipient_ct = models.BinaryField()
    recipient_bidx = models.CharField(max_length=64)
    recipient_masked = models.CharField(max_length=80)
    body_ct = models.BinaryField(null=True, blank=True)
    # The customer's inbox copy (issue 13): the text with one-time codes and links masked,
    # sealed like the body but kept when the delivery is final (the body is erased).
    inbox_ct = models.BinaryField(null=True, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    provider_id = models.CharField(max_length=255, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "notify_delivery"
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="queued"),
                name="notify_delivery_due",
            ),
            models.Index(
                fields=["last_attempt_at"],
                condition=Q(status="sending"),
                name="notify_delivery_sending",
            ),
            models.Index(fields=["user", "-created_at"], name="notify_delivery_user"),
            # the inbox: one customer's messages, newest first, keyset on the id
            models.Index(
                fields=["user", "-id"],
                condition=Q(user__isnull=False),
                name="notify_delivery_inbox",
            ),
            models.Index(fields=["recipient_bidx"], name="notify_delivery_recipient"),
            models.Index(fields=["-created_at"], name="notify_delivery_created"),
            # the staff delivery log (/staff/notifications/): newest first by id, filtered
            # by status, channel or both; each filter a range of one of these (notify 0006)
            models.Index(fields=["status", "id"], name="notify_delivery_status_id"),
            models.Index(fields=["channel", "id"], name="notify_delivery_channel_id"),
            models.Index(fields=["channel", "status", "id"], name="notify_delivery_chan_stat_id"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in DeliveryStatus]),
                name="notify_delivery_status_known",
            ),
            models.CheckConstraint(
                condition=Q(channel__in=[c.value for c in Channel]),
                name="notify_delivery_channel_known",
            ),
            models.CheckConstraint(
                condition=Q(category__in=[c.value for c in Category]),
                name="notify_delivery_category_known",
            ),
            models.CheckConstraint(
                condition=~Q(status=DeliveryStatus.QUEUED) | Q(next_attempt_at__isnull=False),
                name="notify_delivery_queued_has_due_time",
            ),
            models.CheckConstraint(
                condition=~Q(status=DeliveryStatus.SENDING) | Q(last_attempt_at__isnull=False),
                name="notify_delivery_sending_has_start",
            ),
            models.CheckConstraint(
                condition=~Q(status=DeliveryStatus.SENT) | Q(sent_at__isnull=False),
                name="notify_delivery_sent_has_time",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENDING])
                | Q(attempts__gte=1)
                | Q(status=DeliveryStatus.FAILED),
                name="notify_delivery_final_after_attempt",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.template} #{self.pk} ({self.status})"


class NotificationPreference(models.Model):
    """A user's choice for one channel and category. No row = the default (on, except
    marketing, which is opt-in)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    category = models.CharField(max_length=16, choices=Category.choices)
    enabled = models.BooleanField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "notify_preference"
        ordering = ["user_id", "channel", "category"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "channel", "category"], name="notify_preference_one_per_kind"
            ),
            models.CheckConstraint(
                condition=Q(channel__in=[c.value for c in Channel]),
                name="notify_preference_channel_known",
            ),
            models.CheckConstraint(
                condition=Q(category__in=[c.value for c in Category]),
                name="notify_preference_category_known",
            ),
        ]

    def __str__(self) -> str:
        state = "on" if self.enabled else "off"
        return f"user {self.user_id} {self.channel}/{self.category} {state}"


# --- SMS providers (issue 15) --------------------------------------------------------------


class SmsOutcome(models.TextChoices):
    PENDING = "pending", "Being handed over"  # written before the call: a crash leaves this
    ACCEPTED = "accepted", "Accepted by the provider"
    REFUSED = "refused", "Refused (provably not sent)"
    UNKNOWN = "unknown", "Unknown (timed out: may have been sent)"


class ReportStatus(models.TextChoices):
    """A delivery report's status, normalised across providers, with its rank: a report
    never moves a message to a lower rank, and nothing moves it off a final one."""

    QUEUED = "queued", "Queued at the provider"  # rank 1
    SENT = "sent", "Sent to the network"  # rank 2
    DELIVERED = "delivered", "Delivered"  # rank 3, final
    FAILED = "failed", "Not delivered"  # rank 3, final


REPORT_RANK = {
    ReportStatus.QUEUED: 1,
    ReportStatus.SENT: 2,
    ReportStatus.DELIVERED: 3,
    ReportStatus.FAILED: 3,
}


class SmsAttempt(models.Model):
    """One hand-over of an SMS delivery to one provider, and what its delivery reports said.

    The routing (``application/notifications/routing.py``) writes the row ``pending``
    before it calls the provider, so a worker that dies mid-call leaves evidence that the
    message may have left; an ``unknown`` or ``pending`` attempt pins the delivery to that
    provider (a one-time code never goes out twice through two providers unless the first
    provably failed)."""

    # No database foreign key: notify_delivery is partitioned by month (archive app), and a
    # partitioned table's unique keys include the month, so ``id`` alone cannot be
    # referenced; delivery ids stay unique across months by trigger, and attempts are only
    # ever written by the routing for a delivery it holds.
    delivery = models.ForeignKey(
        Delivery, on_delete=models.PROTECT, related_name="sms_attempts", db_constraint=False
    )
    provider = models.CharField(max_length=20)
    country = models.CharField(max_length=2, blank=True)
    outcome = models.CharField(max_length=8, choices=SmsOutcome.choices)
    error_code = models.CharField(max_length=40, blank=True)
    provider_message_id = models.CharField(max_length=100, null=True, blank=True)
    cost_micros = models.BigIntegerField(null=True, blank=True)
    cost_currency = models.CharField(max_length=3, blank=True)
    started_at = models.DateTimeField()
    report_status = models.CharField(
        max_length=9, choices=ReportStatus.choices, null=True, blank=True
    )
    report_final = models.BooleanField(default=False)
    report_error = models.CharField(max_length=60, blank=True)  # provider's reason code
    network_code = models.CharField(max_length=10, blank=True)
    report_at = models.DateTimeField(null=True, blank=True)
    reports = models.PositiveIntegerField(default=0)  # reports received (duplicates too)

    class Meta:
        db_table = "notify_sms_attempt"
        ordering = ["delivery_id", "id"]
        indexes = [models.Index(fields=["delivery", "id"], name="notify_sms_attempt_delivery")]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_message_id"],
                condition=Q(provider_message_id__isnull=False),
                name="notify_sms_attempt_message_once",
            ),
            models.CheckConstraint(
                condition=Q(outcome__in=[o.value for o in SmsOutcome]),
                name="notify_sms_attempt_outcome_known",
            ),
            models.CheckConstraint(
                condition=Q(report_status__isnull=True)
                | Q(report_status__in=[s.value for s in ReportStatus]),
                name="notify_sms_attempt_report_known",
            ),
            models.CheckConstraint(
                condition=~Q(outcome=SmsOutcome.ACCEPTED) | Q(provider_message_id__isnull=False),
                name="notify_sms_attempt_accepted_has_id",
            ),
            models.CheckConstraint(
                condition=Q(report_final=False)
                | Q(report_status__in=[ReportStatus.DELIVERED, ReportStatus.FAILED]),
                name="notify_sms_attempt_final_is_final_status",
            ),
            models.CheckConstraint(
                condition=Q(cost_micros__isnull=True) | Q(cost_micros__gte=0),
                name="notify_sms_attempt_cost_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"sms attempt #{self.pk} {self.provider} {self.outcome}"


class SmsProviderCircuit(models.Model):
    """A provider's circuit breaker: ``failures`` consecutive temporary failures; open
    (skipped) until ``open_until``; after that one trial call is let through (half-open)."""

    provider = models.CharField(max_length=20, primary_key=True)
    failures = models.PositiveIntegerField(default=0)
    open_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "notify_sms_circuit"

    def __str__(self) -> str:
        return f"{self.provider}: {self.failures} failures"


class SmsUnknownReport(models.Model):
    """A delivery report for a message id the platform never sent (bounded evidence: the
    newest ``UNKNOWN_REPORTS_KEPT`` are kept; no personal data: the number is masked)."""

    provider = models.CharField(max_length=20)
    provider_message_id = models.CharField(max_length=100)
    status = models.CharField(max_length=30)
    recipient_masked = models.CharField(max_length=40, blank=True)
    received_at = models.DateTimeField()

    class Meta:
        db_table = "notify_sms_unknown_report"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"unknown {self.provider} report {self.provider_message_id}"


class SmsCostDay(models.Model):
    """What the providers said the SMS cost, per day, provider and currency; kept by the
    attempt's own transaction (an analytics rollup, read without scanning attempts)."""

    day = models.DateField()
    provider = models.CharField(max_length=20)
    currency = models.CharField(max_length=3)
    messages = models.PositiveIntegerField(default=0)
    cost_micros = models.BigIntegerField(default=0)

    class Meta:
        db_table = "notify_sms_cost_day"
        ordering = ["-day", "provider", "currency"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "provider", "currency"], name="notify_sms_cost_day_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.provider} {self.currency}: {self.messages}"
