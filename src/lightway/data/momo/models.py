"""MTN MoMo requests, the raw callbacks MoMo sends about them, and float monitoring.

A :class:`MomoRequest` is one call to a MoMo money operation (request-to-pay, transfer,
deposit, refund, ...). Its ``reference_id`` (the ``X-Reference-Id`` UUID) is written here
*before* the first HTTP attempt and reused on every retry, so a timeout never creates a
second payment (reference note §14.1). The row moves ``new → accepted → successful|failed``;
once terminal its outcome never changes (trigger in migration 0002). A request whose
outcome cannot be decided safely (an outbound payment MoMo still reports PENDING after its
deadline) keeps ``accepted`` and is flagged ``needs_review``; reconciliation decides it.

A :class:`MomoCallback` stores the body MoMo posted exactly as received, before anything
else happens; callbacks are unsigned, so a callback only ever triggers a status read.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from lightway.data.ledger.models import CURRENCY_CHOICES, Hold
from lightway.data.wallets.models import Transfer


class Product(models.TextChoices):
    COLLECTION = "collection", "Collection"
    DISBURSEMENT = "disbursement", "Disbursement"
    REMITTANCE = "remittance", "Remittance"


class RequestStatus(models.TextChoices):
    NEW = "new", "Not yet accepted by MoMo"
    ACCEPTED = "accepted", "Accepted, outcome pending"
    SUCCESSFUL = "successful", "Successful"
    FAILED = "failed", "Failed"


REQUEST_TERMINAL = frozenset({RequestStatus.SUCCESSFUL, RequestStatus.FAILED})


class MomoRequest(models.Model):
    reference_id = models.UUIDField(unique=True)
    product = models.CharField(max_length=16, choices=Product.choices)
    # lightway.integration.momo.port.Operation value, e.g. "requesttopay", "transfer".
    operation = models.CharField(max_length=24)
    transfer = models.OneToOneField(
        Transfer, null=True, blank=True, on_delete=models.PROTECT, related_name="momo_request"
    )
    # Ledger hold backing an outbound payment (withdrawal, payout, remittance payout).
    hold = models.OneToOneField(
        Hold, null=True, blank=True, on_delete=models.PROTECT, related_name="momo_request"
    )
    external_id = models.CharField(max_length=64)
    target_environment = models.CharField(max_length=32)
    # The base URL the request was sent to: status reads go to the same host (§14.13).
    base_url = models.CharField(max_length=200)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    amount = models.BigIntegerField()
    party_id_type = models.CharField(max_length=16, default="MSISDN")
    # The payer/payee id, encrypted (context "momo.party"); party_token is its keyed hash
    # so requests can be found by number without decrypting.
    party_ct = models.BinaryField()
    party_token = models.CharField(max_length=80, db_index=True)
    payer_message = models.CharField(max_length=160, blank=True, default="")
    payee_note = models.CharField(max_length=160, blank=True, default="")
    status = models.CharField(
        max_length=12, choices=RequestStatus.choices, default=RequestStatus.NEW
    )
    needs_review = models.BooleanField(default=False)
    # Last status MoMo reported (PENDING, SUCCESSFUL, FAILED, CREATED, ...), verbatim.
    momo_status = models.CharField(max_length=24, blank=True, default="")
    financial_transaction_id = models.CharField(max_length=64, blank=True, default="")
    reason_code = models.CharField(max_length=64, blank=True, default="")
    reason_message = models.CharField(max_length=300, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    polls = models.PositiveIntegerField(default=0)
    callbacks = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True, default="")
    next_check_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField()
    created_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "momo_request"
        indexes = [
            models.Index(
                fields=["next_check_at"],
                name="momo_request_due",
                condition=Q(status__in=["new", "accepted"]),
            ),
            models.Index(fields=["financial_transaction_id"], name="momo_request_fin_id"),
            models.Index(fields=["external_id"], name="momo_request_external_id"),
            models.Index(fields=["-created_at"], name="momo_request_recent"),
            # The staff list's filters, each newest first (docs/performance.md).
            models.Index(fields=["status", "-created_at"], name="momo_request_status_recent"),
            models.Index(fields=["operation", "-created_at"], name="momo_request_operation_recent"),
            models.Index(
                fields=["-created_at"], name="momo_request_review", condition=Q(needs_review=True)
            ),
            # Search by the first characters of the X-Reference-Id or the transfer id uses
            # two expression indexes, momo_request_ref_prefix and _transfer_prefix, on
            # ((reference_id::text) text_pattern_ops) and ((transfer_id::text) ...): made
            # by SQL in migration 0003 (Django cannot render an operator class on a cast).
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="momo_request_amount_positive"),
            models.CheckConstraint(
                condition=Q(status__in=RequestStatus.values), name="momo_request_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(product__in=Product.values), name="momo_request_product_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="failed") | ~Q(reason_code=""),
                name="momo_request_failed_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["successful", "failed"]) | Q(completed_at__isnull=False),
                name="momo_request_terminal_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"momo {self.operation} {self.reference_id} {self.status}"

    @property
    def terminal(self) -> bool:
        return self.status in REQUEST_TERMINAL


class CallbackOutcome(models.TextChoices):
    RECEIVED = "received", "Stored, not yet processed"
    APPLIED = "applied", "Confirmed by a status read and applied"
    DUPLICATE = "duplicate", "Request already final"
    STILL_PENDING = "pending", "Status read still pending"
    UNKNOWN_REFERENCE = "unknown", "No request with this reference"
    MISMATCH = "mismatch", "Callback disagreed with the status read"
    INVALID = "invalid", "Body could not be read"


class MomoCallback(models.Model):
    # Taken from the callback URL path; MoMo's body carries no reference (§10).
    reference_id = models.CharField(max_length=64, db_index=True)
    request = models.ForeignKey(
        MomoRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="callback_rows"
    )
    method = models.CharField(max_length=8)
    content_type = models.CharField(max_length=120, blank=True, default="")
    body = models.BinaryField()
    remote_addr = models.CharField(max_length=64, blank=True, default="")
    # What the body claimed (informational only: never trusted without a status read).
    claimed_status = models.CharField(max_length=24, blank=True, default="")
    outcome = models.CharField(
        max_length=12, choices=CallbackOutcome.choices, default=CallbackOutcome.RECEIVED
    )
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "momo_callback"
        indexes = [models.Index(fields=["-received_at"], name="momo_callback_recent")]

    def __str__(self) -> str:
        return f"momo callback {self.reference_id} {self.outcome}"


class FloatThreshold(models.Model):
    """Low-balance threshold for one (product, target environment) MoMo account."""

    product = models.CharField(max_length=16, choices=Product.choices)
    target_environment = models.CharField(max_length=32)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    low_minor = models.BigIntegerField()
    # ok | low | unknown: alerts are sent on the transition into "low" only.
    alert_state = models.CharField(max_length=8, default="unknown")
    alerted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "momo_float_threshold"
        constraints = [
            models.UniqueConstraint(
                fields=["product", "target_environment"], name="momo_float_threshold_unique"
            ),
            models.CheckConstraint(condition=Q(low_minor__gte=0), name="momo_float_low_nonneg"),
        ]


class FloatReading(models.Model):
    """One balance read (or failed read) of a MoMo account."""

    product = models.CharField(max_length=16, choices=Product.choices)
    target_environment = models.CharField(max_length=32)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    available_minor = models.BigIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True, default="")
    read_at = models.DateTimeField()

    class Meta:
        db_table = "momo_float_reading"
        indexes = [
            models.Index(
                fields=["product", "target_environment", "-read_at"], name="momo_float_recent"
            )
        ]
