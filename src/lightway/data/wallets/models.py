"""Customer wallets and the transfers (payments) that move money between them.

A transfer is a state machine; its allowed states and transitions are listed once in
``TRANSITIONS`` and enforced by a PostgreSQL trigger (migration 0002).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from lightway.data.ledger.models import CURRENCY_CHOICES, Account, JournalEntry


class Wallet(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="wallets"
    )
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="wallet")
    created_at = models.DateTimeField()

    class Meta:
        db_table = "wallets_wallet"
        constraints = [
            models.UniqueConstraint(fields=["owner", "currency"], name="wallet_one_per_currency"),
        ]

    def __str__(self) -> str:
        return f"wallet {self.id} ({self.currency})"


class TransferKind(models.TextChoices):
    P2P = "p2p", "Wallet to wallet"
    DEPOSIT = "deposit", "Deposit from MoMo"
    WITHDRAWAL = "withdrawal", "Withdrawal to MoMo"
    PAYOUT = "payout", "Payout to a MoMo number"
    REMITTANCE = "remittance", "Inbound remittance"
    REVERSAL = "reversal", "Reversal"
    # Between two of one customer's own wallets in different currencies, at a quote's price
    # (application/fx/exchange.py): two entries, one per currency (ledger/kinds.py).
    EXCHANGE = "exchange", "Currency exchange between own wallets"


class TransferStatus(models.TextChoices):
    CREATED = "created", "Created"
    VALIDATED = "validated", "Validated"
    HELD = "held", "Funds held"
    SUBMITTED = "submitted", "Submitted"
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    REVERSED = "reversed", "Reversed"


TERMINAL = frozenset({TransferStatus.SUCCEEDED, TransferStatus.FAILED, TransferStatus.REVERSED})

# The single list of allowed transitions (the database trigger is generated from it).
TRANSITIONS: dict[str, frozenset[str]] = {
    "created": frozenset({"validated", "held", "succeeded", "failed"}),
    "validated": frozenset({"held", "submitted", "succeeded", "failed"}),
    "held": frozenset({"submitted", "succeeded", "failed"}),
    "submitted": frozenset({"pending", "succeeded", "failed"}),
    "pending": frozenset({"succeeded", "failed"}),
    "succeeded": frozenset({"reversed"}),
    "failed": frozenset(),
    "reversed": frozenset(),
}
# A transfer may also be created directly in any non-terminal state or, when validation
# and posting happen in one transaction, directly as succeeded or failed.


class Transfer(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=TransferKind.choices)
    status = models.CharField(max_length=16, choices=TransferStatus.choices)
    # Indexed by transfer_client_keyset and transfer_idempotency (both lead with it).
    client = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    idempotency_key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    source_wallet = models.ForeignKey(
        Wallet, null=True, blank=True, on_delete=models.PROTECT, related_name="outgoing"
    )
    # Indexed with created_at below (a customer's incoming transfers, newest first).
    destination_wallet = models.ForeignKey(
        Wallet,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="incoming",
        db_index=False,
    )
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    amount = models.BigIntegerField()
    fee = models.BigIntegerField(default=0)
    description = models.CharField(max_length=140, blank=True, default="")
    entry = models.ForeignKey(JournalEntry, null=True, blank=True, on_delete=models.PROTECT)
    # The entry that undid this transfer (maker-checker reversal): required for "reversed".
    reversal_entry = models.ForeignKey(
        JournalEntry,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # transfer_reversal_entry: only the few reversed transfers
    )
    failure_code = models.CharField(max_length=64, blank=True, default="")
    failure_message = models.CharField(max_length=300, blank=True, default="")
    # The payer's local calendar day the amount counts in (daily and monthly limits): set by
    # the database on insert for a customer's outgoing payment, NULL otherwise; never changes.
    usage_day = models.DateField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "wallets_transfer"
        indexes = [
            # A customer's payments and the payments into a wallet, newest first, in the
            # exact order of the history's keyset pages ((created_at, id): equal timestamps
            # included), so a page is one index range that stops at its LIMIT (migration
            # 0011; they replace the (client, created_at) and (wallet, created_at) ones).
            models.Index(fields=["client", "-created_at", "-id"], name="transfer_client_keyset"),
            # Every transfer newest first and by date range (the admin list and its date
            # filter, the back office's transaction list): a range of this index, however
            # many transfers there are.
            models.Index(fields=["created_at", "id"], name="transfer_created"),
            models.Index(fields=["status", "created_at"], name="transfer_status_age"),
            models.Index(
                fields=["reversal_entry"],
                name="transfer_reversal_entry",
                condition=Q(reversal_entry__isnull=False),
            ),
            models.Index(
                fields=["destination_wallet", "-created_at", "-id"],
                name="transfer_incoming_keyset",
            ),
            # The MoMo-routed transfers newest first (the MTN panel), without indexing the
            # wallet-to-wallet transfers that are most of the table and of its inserts.
            # (id too: the list's exact order, so on monthly partitions each month's walk
            # needs no sort and the Merge Append of the months stops after a page)
            models.Index(
                fields=["-created_at", "-id"],
                name="transfer_momo_recent",
                condition=Q(kind__in=["deposit", "payout", "remittance", "withdrawal"]),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "idempotency_key"], name="transfer_idempotency"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="transfer_amount_positive"),
            models.CheckConstraint(condition=Q(fee__gte=0), name="transfer_fee_nonneg"),
            models.CheckConstraint(
                condition=Q(status__in=TransferStatus.values), name="transfer_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="succeeded") | Q(entry__isnull=False),
                name="transfer_succeeded_has_entry",
            ),
            models.CheckConstraint(
                condition=~Q(status="failed") | ~Q(failure_code=""),
                name="transfer_failed_has_code",
            ),
            models.CheckConstraint(
                condition=Q(status="reversed", reversal_entry__isnull=False)
                | (~Q(status="reversed") & Q(reversal_entry__isnull=True)),
                name="transfer_reversed_has_reversal_entry",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} {self.status}"


class UsagePeriod(models.TextChoices):
    DAY = "day", "Local calendar day"
    MONTH = "month", "Local calendar month"


class UsageCounter(models.Model):
    """What a customer has sent in one currency in one local day or month: the sum of the
    amounts of their outgoing payments (P2P, withdrawals, payouts) that succeeded or are
    still in flight. Kept by the database (triggers on ``wallets_transfer``, migration 0005)
    in the transaction that records or fails the payment, so the limits check reads one row
    under that row's lock instead of summing the month's payments (docs/architecture.md,
    "Limits")."""

    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    period = models.CharField(max_length=5, choices=UsagePeriod.choices)
    period_start = models.DateField()
    amount = models.BigIntegerField(default=0)

    class Meta:
        db_table = "wallets_usage_counter"
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "currency", "period", "period_start"],
                name="wallets_usage_counter_key",
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="wallets_usage_nonneg"),
            models.CheckConstraint(
                condition=Q(period__in=UsagePeriod.values), name="wallets_usage_period_valid"
            ),
        ]


class InboundPending(models.Model):
    """Money on its way into a customer's wallet (deposits MoMo has not completed yet): the
    credit of every open deposit, kept by the database like ``UsageCounter``. The maximum
    balance counts it, so headroom is reserved when a deposit starts and the final credit can
    never breach the maximum."""

    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    amount = models.BigIntegerField(default=0)

    class Meta:
        db_table = "wallets_inbound_pending"
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "currency"], name="wallets_inbound_pending_key"
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="wallets_inbound_nonneg"),
        ]
