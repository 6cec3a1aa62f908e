"""Settlement records (docs/settlement.md).

- :class:`SettlementWindow`: one per market (a currency: UGX is Uganda) and period; states
  and transitions listed once in :data:`WINDOW_TRANSITIONS`, enforced by a trigger
  generated from it (migration 0002); at most one OPEN window per market (partial unique
  index).
- :class:`PositionDelta`: what one payment changed on a counterparty-facing ledger account
  (MoMo floats, commission payable, partner prefunds), appended by the database itself when
  the payment's transfer becomes ``succeeded`` or ``reversed`` (trigger on
  ``wallets_transfer``); one row per (entry, account), so no payment counts twice and no
  row is hot. Summed per window at close, never over history.
- :class:`Position`: a window's sums per counterparty and account, written once at close.
- :class:`Instruction`: the settlement of one counterparty's net position in one window,
  sent to the LightWay Finance Settlement API (ISO 20022 names).
- :class:`Topup`, :class:`BankNotification`, :class:`BankStatement`, :class:`ReconItem`:
  the bank side: partner top-ups, camt.054 notifications and camt.053 statements as
  received, and the reconciliation of a statement against the instructions.
- :class:`SettlementParty`: a counterparty's bank account per currency (creditor or
  debtor of its instructions).

Every table here is append-only or changes only along its state machine; the triggers
that say so are in migration 0002 and ``infrastructure/db_roles.py`` mirrors them.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from lightway.data.ledger.models import CURRENCY_CHOICES

MTN = "mtn"
PARTNER_PREFIX = "partner:"
LIGHTWAY = "lightway"


def partner_counterparty(code: str) -> str:
    """The counterparty key of a partner (IMTO): ``partner:<code>``."""
    return f"{PARTNER_PREFIX}{code}"


class WindowState(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"
    PENDING_SETTLEMENT = "pending_settlement", "Pending settlement"
    SETTLED = "settled", "Settled"
    ABORTED = "aborted", "Aborted"


# The single list of allowed window transitions (the database trigger is generated from it).
# A window with nothing to settle goes from closed straight to settled; abort is possible
# until an instruction has been accepted (the service checks that part).
WINDOW_TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"closed"}),
    "closed": frozenset({"pending_settlement", "settled", "aborted"}),
    "pending_settlement": frozenset({"settled", "aborted"}),
    "settled": frozenset(),
    "aborted": frozenset(),
}


class SettlementWindow(models.Model):
    market = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    state = models.CharField(max_length=20, choices=WindowState.choices)
    opened_at = models.DateTimeField()
    cutoff_at = models.DateTimeField(null=True, blank=True)  # the cut-off that closed it
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.CharField(max_length=64, blank=True, default="")
    settled_at = models.DateTimeField(null=True, blank=True)
    aborted_at = models.DateTimeField(null=True, blank=True)
    aborted_by = models.CharField(max_length=64, blank=True, default="")
    abort_reason = models.CharField(max_length=300, blank=True, default="")
    # Filled once at close: how many deltas the window summed, and when positions were made.
    deltas = models.BigIntegerField(default=0)
    positions_at = models.DateTimeField(null=True, blank=True)
    close_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        db_table = "settlement_window"
        indexes = [models.Index(fields=["market", "-id"], name="settlement_window_market")]
        constraints = [
            models.UniqueConstraint(
                fields=["market"],
                condition=Q(state="open"),
                name="settlement_window_one_open",
            ),
            models.CheckConstraint(
                condition=Q(state__in=WindowState.values), name="settlement_window_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(state="open") | Q(closed_at__isnull=False),
                name="settlement_window_closed_at",
            ),
        ]

    def __str__(self) -> str:
        return f"window {self.pk} {self.market} {self.state}"


# Ledger account kinds whose postings are positions against a counterparty, and whether
# the window settles them in cash (an instruction) or they were funded already.
POSITION_ACCOUNT_KINDS = ("momo_float", "commission_payable", "imto_prefund")


class PositionDelta(models.Model):
    """One payment's effect on one counterparty-facing account (see the module docstring).

    ``amount`` is the posting's amount: what LightWay owes the counterparty more (positive)
    or less (negative) because of the payment. No foreign keys: their checks would lock the
    window and account rows in every payment (the triggers check instead)."""

    window_id = models.BigIntegerField()
    counterparty = models.CharField(max_length=72)
    account_id = models.BigIntegerField()
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    amount = models.BigIntegerField()
    entry_id = models.BigIntegerField(null=True, blank=True)
    transfer_id = models.UUIDField(null=True, blank=True)
    carried_from = models.BigIntegerField(null=True, blank=True)  # an aborted window
    created_at = models.DateTimeField()

    class Meta:
        db_table = "settlement_position_delta"
        indexes = [models.Index(fields=["window_id"], name="settlement_delta_window")]
        constraints = [
            models.UniqueConstraint(
                fields=["entry_id", "account_id"],
                condition=Q(entry_id__isnull=False),
                name="settlement_delta_once",
            ),
            models.UniqueConstraint(
                fields=["carried_from", "account_id"],
                condition=Q(carried_from__isnull=False),
                name="settlement_delta_carried_once",
            ),
            models.CheckConstraint(condition=~Q(amount=0), name="settlement_delta_nonzero"),
            models.CheckConstraint(
                condition=Q(entry_id__isnull=False) | Q(carried_from__isnull=False),
                name="settlement_delta_has_source",
            ),
        ]


class Position(models.Model):
    """A window's sum of deltas for one counterparty and account (written at close)."""

    window = models.ForeignKey(SettlementWindow, on_delete=models.PROTECT, related_name="positions")
    counterparty = models.CharField(max_length=72)
    account_id = models.BigIntegerField()
    account_kind = models.CharField(max_length=32)
    component = models.CharField(max_length=64)  # e.g. momo_float:collection, commission
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    amount = models.BigIntegerField()
    deltas = models.BigIntegerField()
    cash = models.BooleanField()  # settled by an instruction (False: funded from prefund)

    class Meta:
        db_table = "settlement_position"
        ordering = ["window", "counterparty", "component"]
        constraints = [
            models.UniqueConstraint(
                fields=["window", "account_id"], name="settlement_position_once"
            ),
        ]


class Direction(models.TextChoices):
    PAY = "pay", "LightWay pays the counterparty"
    COLLECT = "collect", "The counterparty pays LightWay"


class InstructionStatus(models.TextChoices):
    NEW = "new", "New (not yet accepted by the Settlement API)"
    SENT = "sent", "Accepted, waiting for confirmation"
    SETTLED = "settled", "Settled (confirmed, posted)"
    REJECTED = "rejected", "Rejected"


INSTRUCTION_TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"sent", "settled", "rejected"}),
    "sent": frozenset({"settled", "rejected"}),
    "settled": frozenset(),
    "rejected": frozenset(),
}


class Instruction(models.Model):
    window = models.ForeignKey(
        SettlementWindow, on_delete=models.PROTECT, related_name="instructions"
    )
    counterparty = models.CharField(max_length=72)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    amount = models.BigIntegerField()  # minor units, positive; the direction says who pays
    direction = models.CharField(max_length=8, choices=Direction.choices)
    instr_id = models.CharField(max_length=35, unique=True)  # InstrId, our idempotency key
    end_to_end_id = models.CharField(max_length=35, unique=True)  # EndToEndId
    uetr = models.UUIDField(unique=True)  # UETR
    status = models.CharField(max_length=10, choices=InstructionStatus.choices)
    requested_date = models.DateField()  # ReqdExctnDt
    # The parties as sent (a later change of bank details does not rewrite history).
    debtor_name = models.CharField(max_length=140)
    debtor_account = models.CharField(max_length=34)
    debtor_agent = models.CharField(max_length=11, blank=True, default="")
    creditor_name = models.CharField(max_length=140)
    creditor_account = models.CharField(max_length=34)
    creditor_agent = models.CharField(max_length=11, blank=True, default="")
    remittance_info = models.CharField(max_length=140)  # RmtInf/Ustrd
    pain001 = models.TextField(blank=True, default="")  # the validated pain.001 (pay only)
    # What the Settlement API said.
    reject_code = models.CharField(max_length=8, blank=True, default="")
    reject_reason = models.CharField(max_length=300, blank=True, default="")
    bank_reference = models.CharField(max_length=35, blank=True, default="")  # AcctSvcrRef
    settlement_date = models.DateField(null=True, blank=True)  # IntrBkSttlmDt
    entry_id = models.BigIntegerField(null=True, blank=True, unique=True)
    attempts = models.IntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True, default="")
    next_check_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "settlement_instruction"
        ordering = ["window", "counterparty"]
        indexes = [
            models.Index(
                fields=["next_check_at"],
                name="settlement_instr_due",
                condition=Q(status__in=["new", "sent"]),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["window", "counterparty", "currency"],
                condition=~Q(status="rejected"),
                name="settlement_instr_one_live",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="settlement_instr_positive"),
            models.CheckConstraint(
                condition=Q(status__in=InstructionStatus.values),
                name="settlement_instr_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status="settled") | Q(entry_id__isnull=False),
                name="settlement_instr_settled_has_entry",
            ),
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(reject_code=""),
                name="settlement_instr_rejected_has_code",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.instr_id} {self.status}"

    @property
    def signed_amount(self) -> int:
        """What leaves LightWay's bank account (+) or arrives in it (-)."""
        return self.amount if self.direction == Direction.PAY else -self.amount


class SettlementParty(models.Model):
    """A counterparty's bank account in one currency (``lightway``: our own)."""

    counterparty = models.CharField(max_length=72)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    name = models.CharField(max_length=140)
    account = models.CharField(max_length=34)  # IBAN or the bank's own account number
    agent_bic = models.CharField(max_length=11, blank=True, default="")
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "settlement_party"
        constraints = [
            models.UniqueConstraint(
                fields=["counterparty", "currency"], name="settlement_party_once"
            ),
        ]


class CallbackStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored (unknown instruction)"


class SettlementCallback(models.Model):
    """A confirmation the Settlement API posted to us, stored as received (signature
    checked first; settlement bodies carry no personal data)."""

    instr_id = models.CharField(max_length=35)
    key_id = models.CharField(max_length=64)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=CallbackStatus.choices)
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        db_table = "settlement_callback"
        indexes = [models.Index(fields=["instr_id"], name="settlement_callback_instr")]


class BankNotification(models.Model):
    """A camt.054 debit/credit notification as received (validated against its XSD)."""

    account = models.CharField(max_length=34)  # LightWay's account the notification is for
    notification_id = models.CharField(max_length=64)  # the API's id (its cursor)
    msg_id = models.CharField(max_length=35)
    xml = models.TextField()
    entries = models.IntegerField()
    received_at = models.DateTimeField()

    class Meta:
        db_table = "settlement_bank_notification"
        constraints = [
            models.UniqueConstraint(
                fields=["account", "notification_id"], name="settlement_notification_once"
            ),
        ]


class Topup(models.Model):
    """A partner's transfer into LightWay's bank account, credited to its prefund once."""

    partner_code = models.CharField(max_length=40)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    amount = models.BigIntegerField()
    bank_reference = models.CharField(max_length=35, unique=True)  # AcctSvcrRef
    end_to_end_id = models.CharField(max_length=35, blank=True, default="")
    booked_on = models.DateField()
    notification = models.ForeignKey(
        BankNotification, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    entry_id = models.BigIntegerField(unique=True)
    recorded_by = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "settlement_topup"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="settlement_topup_positive"),
        ]


class BankStatement(models.Model):
    """A camt.053 end-of-day statement as received (.001.08 or .001.02)."""

    stmt_id = models.CharField(max_length=35, unique=True)  # Stmt/Id
    msg_id = models.CharField(max_length=35)
    version = models.CharField(max_length=20)  # camt.053.001.08 / camt.053.001.02
    account = models.CharField(max_length=34)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    statement_date = models.DateField()
    xml = models.TextField()
    lines = models.IntegerField()
    imported_at = models.DateTimeField()
    imported_by = models.CharField(max_length=64)

    class Meta:
        db_table = "settlement_bank_statement"
        ordering = ["-id"]


class ReconCategory(models.TextChoices):
    MATCHED = "matched", "Matched"
    MISSING = "missing", "Missing from the statement"
    UNEXPECTED = "unexpected", "Unexpected statement line"
    AMOUNT_MISMATCH = "amount_mismatch", "Amount mismatch"


class ReconItem(models.Model):
    statement = models.ForeignKey(BankStatement, on_delete=models.PROTECT, related_name="items")
    category = models.CharField(max_length=16, choices=ReconCategory.choices)
    instruction = models.ForeignKey(
        Instruction, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    topup = models.ForeignKey(
        Topup, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reference = models.CharField(max_length=64, blank=True, default="")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    expected = models.BigIntegerField(null=True, blank=True)  # signed, bank view (+ = in)
    booked = models.BigIntegerField(null=True, blank=True)
    detail = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        db_table = "settlement_recon_item"
        ordering = ["statement", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(category__in=ReconCategory.values),
                name="settlement_recon_category_valid",
            ),
        ]
