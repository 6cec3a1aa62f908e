"""Partner quotes, beneficiary validations, remittances and per-partner limits.

A partner (IMTO) prices a payout with a **quote** (rate locked until ``expires_at``), may
check the beneficiary's MoMo account with a **beneficiary validation**, then creates a
**remittance** against the quote (one remittance per quote), confirms it (its prefund is
reserved and the payout handed to MoMo) and follows it to a final state.

What PostgreSQL enforces (migration 0002, each rule with a test in
tests/test_remittance_integrity.py):

- a quote's terms never change; its state moves once, ACTIVE -> USED or EXPIRED;
- a beneficiary validation is a fact: never updated or deleted;
- a remittance's identity, amounts, parties and quote never change; its state moves only
  along ``TRANSITIONS`` (this list; the trigger is generated from it); ``version`` rises by
  exactly one on every change; its transfer and its FX entry are set once; nothing is
  deleted;
- one remittance per quote, per (partner, external_id) and per (partner, Idempotency-Key);
- limits and daily usage are never negative; usage is per partner, currency and UTC day.

Amounts are integers in the minor unit of their currency (``lightway.data.money``).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Q

from lightway.data.identity.models import Partner
from lightway.data.ledger.models import CURRENCY_CHOICES, JournalEntry
from lightway.data.wallets.models import Transfer


class QuoteState(models.TextChoices):
    ACTIVE = "ACTIVE", "Active (rate locked)"
    USED = "USED", "Used by a remittance"
    EXPIRED = "EXPIRED", "Expired"


class AmountType(models.TextChoices):
    SEND = "SEND", "The sent amount is fixed"
    RECEIVE = "RECEIVE", "The received amount is fixed"


class Quote(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+")
    external_id = models.CharField(max_length=64, blank=True, default="")
    amount_type = models.CharField(max_length=7, choices=AmountType.choices)
    send_currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    send_amount = models.BigIntegerField()
    receive_currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    receive_amount = models.BigIntegerField()
    receive_country = models.CharField(max_length=2, blank=True, default="")
    # The fee, in the send currency, charged to the prefund on top of send_amount.
    fee = models.BigIntegerField()
    fee_schedule_id = models.BigIntegerField(null=True, blank=True)
    # The customer's rate (receive per one send) and the mid rate, as quoted.
    rate = models.DecimalField(max_digits=30, decimal_places=12)
    mid_rate = models.DecimalField(max_digits=30, decimal_places=12)
    # What the rate's distance from mid earns, in the receive currency (FX revenue).
    spread = models.BigIntegerField(default=0)
    rate_source = models.CharField(max_length=32)
    rate_timestamp = models.DateTimeField()
    rate_id = models.BigIntegerField(null=True, blank=True)
    rounding = models.CharField(max_length=200)
    state = models.CharField(max_length=8, choices=QuoteState.choices, default=QuoteState.ACTIVE)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "remittances_quote"
        indexes = [
            # The expiry job: one range read of the active quotes due.
            models.Index(
                fields=["expires_at"],
                name="remittances_quote_due",
                condition=Q(state="ACTIVE"),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "external_id"],
                name="remittances_quote_external_id",
                condition=~Q(external_id=""),
            ),
            models.CheckConstraint(
                condition=Q(send_amount__gt=0) & Q(receive_amount__gt=0) & Q(fee__gte=0),
                name="remittances_quote_amounts",
            ),
            models.CheckConstraint(condition=Q(spread__gte=0), name="remittances_quote_spread"),
            models.CheckConstraint(
                condition=~Q(send_currency=F("receive_currency"))
                | (Q(send_amount=F("receive_amount")) & Q(spread=0)),
                name="remittances_quote_same_currency",
            ),
            models.CheckConstraint(
                condition=Q(state__in=QuoteState.values), name="remittances_quote_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(amount_type__in=AmountType.values),
                name="remittances_quote_amount_type_valid",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")), name="remittances_quote_expiry"
            ),
        ]

    def __str__(self) -> str:
        return f"quote {self.id} {self.send_currency}->{self.receive_currency} {self.state}"


class AccountStatus(models.TextChoices):
    ACTIVE = "ACTIVE", "Active"
    NOT_FOUND = "NOT_FOUND", "Not found"
    BARRED = "BARRED", "Barred (registered, not active)"
    UNAVAILABLE = "UNAVAILABLE", "MoMo could not be asked"


class NameMatch(models.TextChoices):
    MATCH = "MATCH", "Match"
    PARTIAL = "PARTIAL", "Partial match"
    NO_MATCH = "NO_MATCH", "No match"
    NOT_CHECKED = "NOT_CHECKED", "Not checked"


class BeneficiaryValidation(models.Model):
    """One check of a MoMo number (and optionally a name) for a partner. The number and
    the names are sealed (AES-256-GCM, ``security.crypto``); ``msisdn_token`` finds it in
    logs and joins without revealing it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+")
    msisdn_ct = models.BinaryField()
    msisdn_token = models.CharField(max_length=80)
    expected_name_ct = models.BinaryField(null=True, blank=True)
    holder_name_ct = models.BinaryField(null=True, blank=True)
    account_status = models.CharField(max_length=12, choices=AccountStatus.choices)
    name_match = models.CharField(max_length=12, choices=NameMatch.choices)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField()

    class Meta:
        db_table = "remittances_beneficiary_validation"
        constraints = [
            models.CheckConstraint(
                condition=Q(account_status__in=AccountStatus.values),
                name="remittances_bv_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(name_match__in=NameMatch.values), name="remittances_bv_match_valid"
            ),
            # Never a name verdict without an answer from MoMo to base it on.
            models.CheckConstraint(
                condition=Q(name_match="NOT_CHECKED") | Q(holder_name_ct__isnull=False),
                name="remittances_bv_match_needs_holder",
            ),
        ]


class RemittanceState(models.TextChoices):
    CREATED = "CREATED", "Created"
    CONFIRMED = "CONFIRMED", "Confirmed (prefund reserved)"
    SUBMITTED = "SUBMITTED", "Submitted to MoMo"
    COMPLETED = "COMPLETED", "Completed"
    FAILED = "FAILED", "Failed"
    CANCELLED = "CANCELLED", "Cancelled"
    EXPIRED = "EXPIRED", "Expired"
    REVERSED = "REVERSED", "Reversed"


FINAL_STATES = frozenset(
    {
        RemittanceState.COMPLETED,
        RemittanceState.FAILED,
        RemittanceState.CANCELLED,
        RemittanceState.EXPIRED,
        RemittanceState.REVERSED,
    }
)

# The single list of allowed transitions (the database trigger is generated from it).
# CONFIRMED -> SUBMITTED happens when the payout is first sent to MoMo: from then on MoMo may
# pay it, so it can no longer be cancelled, and a timeout leaves it SUBMITTED until a status
# read decides. A CONFIRMED remittance does not expire: its rate and its funds are locked.
TRANSITIONS: dict[str, frozenset[str]] = {
    "CREATED": frozenset({"CONFIRMED", "CANCELLED", "EXPIRED"}),
    "CONFIRMED": frozenset({"SUBMITTED", "CANCELLED"}),
    "SUBMITTED": frozenset({"COMPLETED", "FAILED"}),
    "COMPLETED": frozenset({"REVERSED"}),
    "FAILED": frozenset(),
    "CANCELLED": frozenset(),
    "EXPIRED": frozenset(),
    "REVERSED": frozenset(),
}


class Remittance(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+")
    external_id = models.CharField(max_length=64)
    idempotency_key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    quote = models.OneToOneField(Quote, on_delete=models.PROTECT, related_name="remittance")
    # Copied from the quote (which never changes) so the payout reads one row.
    send_currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    send_amount = models.BigIntegerField()
    fee = models.BigIntegerField()
    receive_currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    receive_amount = models.BigIntegerField()
    spread = models.BigIntegerField(default=0)
    # The beneficiary and the sender, sealed; the number's token for joins and logs.
    beneficiary_msisdn_ct = models.BinaryField()
    beneficiary_msisdn_token = models.CharField(max_length=80)
    beneficiary_name_ct = models.BinaryField()
    beneficiary_validation = models.ForeignKey(
        BeneficiaryValidation, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    sender_ct = models.BinaryField()
    purpose = models.CharField(max_length=64, blank=True, default="")
    note = models.CharField(max_length=140, blank=True, default="")
    state = models.CharField(
        max_length=10, choices=RemittanceState.choices, default=RemittanceState.CREATED
    )
    version = models.PositiveIntegerField(default=1)
    reason_code = models.CharField(max_length=64, blank=True, default="")
    # The payment (the prefund hold, the MoMo request) once confirmed.
    transfer = models.OneToOneField(
        Transfer, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A cross-currency payout's receive-currency entry (FX position -> MoMo float, spread to
    # FX revenue), posted when MoMo reports success; the send-currency entry is the
    # transfer's.
    fx_entry = models.OneToOneField(
        JournalEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    fx_reversal_entry = models.OneToOneField(
        JournalEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "remittances_remittance"
        indexes = [
            # GET /remittances?updated_since=&cursor=: keyset on (updated_at, id).
            models.Index(fields=["partner", "updated_at", "id"], name="remittances_changed"),
            models.Index(
                fields=["partner", "state", "updated_at", "id"], name="remittances_state_changed"
            ),
            # The expiry job: CREATED remittances only.
            models.Index(
                fields=["created_at"],
                name="remittances_created_open",
                condition=Q(state="CREATED"),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "external_id"], name="remittances_external_id"
            ),
            models.UniqueConstraint(
                fields=["partner", "idempotency_key"], name="remittances_idempotency"
            ),
            models.CheckConstraint(
                condition=Q(send_amount__gt=0)
                & Q(receive_amount__gt=0)
                & Q(fee__gte=0)
                & Q(spread__gte=0),
                name="remittances_amounts",
            ),
            models.CheckConstraint(
                condition=Q(state__in=RemittanceState.values), name="remittances_state_valid"
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="remittances_version"),
            models.CheckConstraint(
                condition=Q(state__in=["CREATED", "CANCELLED", "EXPIRED"])
                | Q(transfer__isnull=False),
                name="remittances_confirmed_has_transfer",
            ),
            models.CheckConstraint(
                condition=~Q(state="FAILED") | ~Q(reason_code=""),
                name="remittances_failed_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"remittance {self.id} {self.state} v{self.version}"

    @property
    def cross_currency(self) -> bool:
        return self.send_currency != self.receive_currency


class PartnerLimit(models.Model):
    """What one partner may send in one currency. A currency without a row is not enabled
    for the partner: quotes and remittances in it are refused."""

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    # The send amount of one remittance.
    per_transaction_max = models.BigIntegerField()
    # The send amounts confirmed in one UTC day (failed and cancelled ones given back).
    daily_max = models.BigIntegerField()
    # What the partner's prefund may have reserved at once (send + fee of every CONFIRMED
    # or SUBMITTED remittance): the prefund account's held amount.
    outstanding_max = models.BigIntegerField()
    updated_at = models.DateTimeField()
    updated_by = models.CharField(max_length=64)

    class Meta:
        db_table = "remittances_partner_limit"
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "currency"], name="remittances_partner_limit_key"
            ),
            models.CheckConstraint(
                condition=Q(per_transaction_max__gte=0)
                & Q(daily_max__gte=0)
                & Q(outstanding_max__gte=0),
                name="remittances_partner_limit_nonneg",
            ),
        ]

    def __str__(self) -> str:
        return f"limits of partner {self.partner_id} in {self.currency}"


class PartnerDailyUsage(models.Model):
    """The send amounts a partner confirmed in one currency and UTC day, kept incrementally
    by the confirm (and given back when a payout fails or is cancelled): the daily limit
    reads one row under its lock, never a sum over remittances."""

    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    day = models.DateField()
    amount = models.BigIntegerField(default=0)

    class Meta:
        db_table = "remittances_partner_usage"
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "currency", "day"], name="remittances_partner_usage_key"
            ),
            models.CheckConstraint(
                condition=Q(amount__gte=0), name="remittances_partner_usage_nonneg"
            ),
        ]


class ReversalReason(models.TextChoices):
    """Why a completed payout is undone (the remittance's ``reason_code`` once REVERSED)."""

    MOMO_RECALLED = "momo_recalled", "MTN recalled the payout from the beneficiary's wallet"
    PAID_IN_ERROR = "paid_in_error", "Paid in error (wrong beneficiary or amount), recovered"
    FRAUD = "fraud_recovered", "Fraud confirmed, the funds recovered"


class ReversalState(models.TextChoices):
    PENDING = "PENDING", "Waiting for approval"
    APPROVED = "APPROVED", "Approved (the remittance is reversed)"
    REJECTED = "REJECTED", "Rejected"


class RemittanceReversal(models.Model):
    """A maker-checker request to reverse a COMPLETED remittance (docs/partner-api.md,
    "Reversals"). One member of staff asks with a reason (``requested_by``); another
    decides (``decided_by``): approval posts the reversal and the remittance becomes
    REVERSED in the same transaction (``application/remittances/reversals.py``).

    What PostgreSQL enforces (migration 0003, tests in tests/test_remittance_reversal.py):
    a request is born PENDING for a COMPLETED remittance; it is decided once, APPROVED or
    REJECTED, by someone other than its requester; nothing but the decision is ever
    written; nothing is deleted; a remittance has at most one PENDING and at most one
    APPROVED request; at commit an APPROVED request's remittance is REVERSED and a
    REVERSED remittance has its APPROVED request (so no code path reverses without a
    second person)."""

    remittance = models.ForeignKey(Remittance, on_delete=models.PROTECT, related_name="+")
    reason_code = models.CharField(max_length=32, choices=ReversalReason.choices)
    # The requester's explanation (no personal data: staff are told so on the form).
    reason = models.CharField(max_length=500)
    # MTN's reference of the recall (its financial transaction id or case number), if any.
    momo_reference = models.CharField(max_length=64, blank=True, default="")
    state = models.CharField(
        max_length=8, choices=ReversalState.choices, default=ReversalState.PENDING
    )
    requested_by = models.CharField(max_length=64)  # "staff:<user id>"
    requested_at = models.DateTimeField()
    decided_by = models.CharField(max_length=64, blank=True, default="")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        db_table = "remittances_reversal"
        indexes = [
            # The staff list of requests waiting for a decision: the pending rows only.
            models.Index(
                fields=["requested_at", "id"],
                name="remittances_reversal_pending",
                condition=Q(state="PENDING"),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["remittance"],
                condition=Q(state="PENDING"),
                name="remittances_reversal_one_pending",
            ),
            models.UniqueConstraint(
                fields=["remittance"],
                condition=Q(state="APPROVED"),
                name="remittances_reversal_one_approved",
            ),
            models.CheckConstraint(
                condition=Q(state__in=ReversalState.values), name="remittances_reversal_state"
            ),
            models.CheckConstraint(
                condition=Q(reason_code__in=ReversalReason.values),
                name="remittances_reversal_reason_code",
            ),
            models.CheckConstraint(
                condition=~Q(reason="") & ~Q(requested_by=""),
                name="remittances_reversal_requested",
            ),
            # Maker-checker: undecided, or decided by another person, with the time.
            models.CheckConstraint(
                condition=(Q(state="PENDING") & Q(decided_by="") & Q(decided_at__isnull=True))
                | (
                    ~Q(state="PENDING")
                    & ~Q(decided_by="")
                    & ~Q(decided_by=F("requested_by"))
                    & Q(decided_at__isnull=False)
                ),
                name="remittances_reversal_maker_checker",
            ),
        ]

    def __str__(self) -> str:
        return f"reversal request {self.pk} of remittance {self.remittance_id} {self.state}"
