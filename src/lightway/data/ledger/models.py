"""Double-entry ledger: accounts, journal entries, postings and holds.

Sign convention: every account's balance is the sum of its postings, and the postings of
an entry sum to zero per currency, so all balances of a currency sum to zero. A customer
wallet holding UGX 5,000 has balance +5000; the MoMo float account that received the money
is at -5000 (asset accounts may go negative, liability accounts may not).

What PostgreSQL enforces (see migrations/0002_invariants.py, each with a test):
- postings of an entry sum to zero per currency and their count matches the entry;
- a posting's account exists and has the posting's currency (posting trigger);
- ``balance - held >= 0`` unless the account ``allow_negative``;
- entries and postings are append-only (UPDATE, DELETE, TRUNCATE refused);
- idempotency keys are unique; holds only move from ``active`` to a terminal state.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from lightway.data.money import CURRENCY_CODES

CURRENCY_CHOICES = [(c, c) for c in CURRENCY_CODES]


class AccountKind(models.TextChoices):
    WALLET = "wallet", "Customer wallet"
    IMTO_PREFUND = "imto_prefund", "IMTO prefund balance"
    MOMO_FLOAT = "momo_float", "MoMo float"
    SETTLEMENT_BANK = "settlement_bank", "Settlement bank account"
    COLLECTION_IN_FLIGHT = "collection_in_flight", "Collections in flight"
    DISBURSEMENT_IN_FLIGHT = "disbursement_in_flight", "Disbursements in flight"
    FEE_REVENUE = "fee_revenue", "Fee revenue"
    FX_REVENUE = "fx_revenue", "FX spread revenue"
    COMMISSION_PAYABLE = "commission_payable", "Commission payable"
    FX_POSITION = "fx_position", "FX position"
    EQUITY = "equity", "Equity / opening balances"


# Accounts holding customers' and partners' money.
CUSTOMER_KINDS = (AccountKind.WALLET, AccountKind.IMTO_PREFUND)


class AccountStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    FROZEN = "frozen", "Frozen"
    CLOSED = "closed", "Closed"


class Account(models.Model):
    code = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=32, choices=AccountKind.choices)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    owner_ref = models.CharField(max_length=64, blank=True, default="")
    allow_negative = models.BooleanField(default=False)
    # House accounts credited by most transactions keep no running balance: their balance is
    # the sum of their postings, so crediting them takes no row lock (no hot spot).
    derived_balance = models.BooleanField(default=False)
    balance = models.BigIntegerField(default=0)
    held = models.BigIntegerField(default=0)
    status = models.CharField(
        max_length=10, choices=AccountStatus.choices, default=AccountStatus.ACTIVE
    )
    created_at = models.DateTimeField()

    class Meta:
        db_table = "ledger_account"
        indexes = [models.Index(fields=["owner_ref"], name="ledger_account_owner")]  # admin search
        constraints = [
            models.UniqueConstraint(fields=["id", "currency"], name="ledger_account_id_currency"),
            models.CheckConstraint(
                condition=Q(allow_negative=True) | Q(balance__gte=models.F("held")),
                name="ledger_account_no_overdraft",
            ),
            models.CheckConstraint(condition=Q(held__gte=0), name="ledger_account_held_nonneg"),
            models.CheckConstraint(
                condition=Q(derived_balance=False) | (Q(balance=0) & Q(held=0)),
                name="ledger_account_derived_has_no_stored_balance",
            ),
            models.CheckConstraint(
                condition=Q(currency__in=CURRENCY_CODES), name="ledger_account_currency_iso"
            ),
            models.CheckConstraint(
                condition=Q(status__in=AccountStatus.values), name="ledger_account_status_valid"
            ),
            # Money owed to customers and partners: stored balance, never below zero.
            models.CheckConstraint(
                condition=~Q(kind__in=CUSTOMER_KINDS)
                | (Q(allow_negative=False) & Q(derived_balance=False)),
                name="ledger_account_customer_policy",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.currency})"


class JournalEntry(models.Model):
    kind = models.CharField(max_length=32)
    idempotency_key = models.CharField(max_length=200, unique=True, null=True, blank=True)
    reference = models.CharField(max_length=64, blank=True, default="")
    description = models.CharField(max_length=200, blank=True, default="")
    posting_count = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        db_table = "ledger_journal_entry"
        verbose_name_plural = "journal entries"
        indexes = [
            # The admin's search by transfer id and its kind filter, newest first
            # (interfaces/admin/ledger.py): index probes, not scans of every entry.
            models.Index(fields=["reference"], name="ledger_entry_reference"),
            models.Index(fields=["kind", "id"], name="ledger_entry_kind"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(posting_count__gte=2), name="ledger_entry_two_postings"
            ),
        ]

    def __str__(self) -> str:
        return f"entry {self.pk} {self.kind}"


class Posting(models.Model):
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="postings")
    # No foreign-key constraint: its check would lock the account row (FOR KEY SHARE) in
    # every transaction, and house accounts are in almost all of them. The posting trigger
    # checks that the account exists and has the posting's currency; accounts are never
    # deleted and their id and currency never change (ledger_account_guard).
    # No index of its own either: ledger_posting_account_id (account_id, id) serves every
    # lookup by account, and a second, single-column index let the planner read an
    # account's whole history to find a range of it (ledger 0007).
    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="postings",
        db_constraint=False,
        db_index=False,
    )
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    amount = models.BigIntegerField()
    leg = models.CharField(max_length=32, blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        db_table = "ledger_posting"
        indexes = [models.Index(fields=["account", "id"], name="ledger_posting_account_id")]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_posting_nonzero"),
        ]


class HoldStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMMITTED = "committed", "Committed"
    VOIDED = "voided", "Voided"
    EXPIRED = "expired", "Expired"


class Hold(models.Model):
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="holds")
    amount = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=HoldStatus.choices, default=HoldStatus.ACTIVE)
    reference = models.CharField(max_length=64, blank=True, default="")
    idempotency_key = models.CharField(max_length=200, unique=True, null=True, blank=True)
    entry = models.ForeignKey(JournalEntry, null=True, blank=True, on_delete=models.PROTECT)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "ledger_hold"
        indexes = [
            models.Index(fields=["reference"], name="ledger_hold_reference"),  # admin search
            models.Index(
                fields=["expires_at"],
                name="ledger_hold_active_expiry",
                condition=Q(status="active"),
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_hold_positive"),
            models.CheckConstraint(
                condition=Q(status__in=HoldStatus.values), name="ledger_hold_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status="active", resolved_at__isnull=True)
                | (~Q(status="active") & Q(resolved_at__isnull=False)),
                name="ledger_hold_resolved_at",
            ),
        ]


class BalanceCheckpoint(models.Model):
    """An account's balance rolled up to one of its postings (``data/ledger/rollups.py``).

    ``balance`` is the sum of the account's postings with ``id <= posting_id`` and
    ``postings`` how many there are, so a balance at any point is the nearest checkpoint
    before it plus the few postings after it: reads stay constant however long the ledger
    grows. Appended by the periodic ``ledger_checkpoints_advance`` job; the database refuses
    a checkpoint that does not follow from the previous one and the postings in between,
    and refuses UPDATE, DELETE and TRUNCATE (migration ``0005_balance_checkpoints``).
    No foreign keys (their checks would lock posting and account rows); the insert trigger
    checks that the posting exists and belongs to the account.
    """

    posting_id = models.BigIntegerField(primary_key=True)
    account_id = models.BigIntegerField()
    balance = models.BigIntegerField()
    postings = models.BigIntegerField()

    class Meta:
        db_table = "ledger_balance_checkpoint"
        indexes = [
            models.Index(
                fields=["account_id", "-posting_id"],
                name="ledger_checkpoint_account",
                include=["balance", "postings"],
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(postings__gte=1), name="ledger_checkpoint_postings_positive"
            ),
        ]


class PostingSnapshot(models.Model):
    """An account's balance at the boundary of an archived month of postings (ledger 0010).

    Written once per archived month and account that has postings in it, from the rows
    before they leave (``ledger_posting_snapshot_take``): ``last_posting_id`` is the
    account's last posting in the month, ``balance`` and ``postings`` the sum and count of
    all the account's postings with ``id <= last_posting_id`` (like a balance checkpoint).
    While the month is detached, balances, statements and ``lightway ledger verify`` start
    from it (the view ``ledger_posting_boundary``); a restored month's rows stay as history
    and are re-checked when it is detached again. Append-only; only the owner's functions
    write it.
    """

    month = models.DateField()
    account_id = models.BigIntegerField()
    last_posting_id = models.BigIntegerField()
    balance = models.BigIntegerField()
    postings = models.BigIntegerField()

    class Meta:
        db_table = "ledger_posting_snapshot"
        constraints = [
            models.UniqueConstraint(
                fields=["month", "account_id"], name="ledger_posting_snapshot_once"
            ),
            models.CheckConstraint(
                condition=Q(postings__gte=1), name="ledger_posting_snapshot_postings_positive"
            ),
        ]
        indexes = [
            models.Index(fields=["account_id", "-last_posting_id"], name="ledger_snapshot_account")
        ]


class PostingSnapshotEntry(models.Model):
    """The part of an entry that an archived month holds when the entry's postings straddle
    the month's end (its other postings are in another month): count and sum, so
    ``lightway ledger verify`` still checks the entry while the month is detached."""

    month = models.DateField()
    entry_id = models.BigIntegerField()
    postings = models.BigIntegerField()
    amount = models.BigIntegerField()

    class Meta:
        db_table = "ledger_posting_snapshot_entry"
        constraints = [
            models.UniqueConstraint(
                fields=["month", "entry_id"], name="ledger_posting_snapshot_entry_once"
            ),
        ]
        indexes = [models.Index(fields=["entry_id"], name="ledger_snapshot_entry_id")]
