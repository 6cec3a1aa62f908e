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
