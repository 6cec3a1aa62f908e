"""Fee schedules, their bands and splits, and the commission records written per transaction.

A ``FeeSchedule`` prices one scope: transaction kind + currency, optionally narrowed to a
corridor ("GB-UG") and/or a KYC tier. It is versioned by its effective period
``[effective_from, effective_to)``; a change of pricing is a new schedule with a later
``effective_from``, never an edit of one that has started or been used.

What PostgreSQL enforces (check constraints below, triggers in ``migrations/0002_invariants.py``,
``0005_freeze_schedules_in_effect.py`` and ``0006_freeze_without_settings_or_locks.py``; each
rule has a test in ``tests/test_commission.py`` or ``tests/test_commission_freeze.py``):

- amounts are non-negative minor units, percentages lie in [0, 1], ``min_fee <= max_fee``,
  ``effective_from < effective_to``, choices are valid, split weights are positive and a
  party has at most one split per schedule;
- a flat schedule uses only ``flat_amount``, a percentage schedule only ``percentage``, a
  tiered schedule only its bands;
- at commit, every schedule has at least one split, and a tiered schedule's bands cover
  ``[0, infinity)`` without gap or overlap (any other schedule has no bands);
- two schedules of the same scope never have overlapping effective periods;
- a commission record is dated at most ``RECORD_CLOCK_SKEW`` ahead of the database clock,
  for a schedule in effect at its ``created_at``, of the same kind and currency, for a party
  that the schedule splits to; records are append-only;
- a schedule is *frozen* once its period has started, or starts within
  ``SCHEDULE_CHANGE_LEAD``, by the database clock. A frozen schedule cannot be deleted, and
  neither its bands and splits nor any column but ``effective_to`` can change; its period
  can only be ended (set, or moved earlier) at least ``SCHEDULE_CHANGE_LEAD`` ahead of the
  database clock. A schedule that is not frozen keeps its start that far ahead too. All of
  this is checked when the row changes and again at commit, so a transaction held open
  cannot outrun it. Since a record is never dated ahead of the clock by more than the
  skew, a schedule with records is frozen, and no record can fall after a new end: no
  lock on ``commission_record`` is needed, and payments never wait for an admin;
- the transaction that creates a schedule may still complete it (bands, splits,
  corrections) until it commits, since nobody else can see it, unless it has written
  records for it. "Created by this transaction" is the column ``created_txid``, stamped by
  the database with ``txid_current()`` and never changed; it is not in this model, the
  application never reads or writes it.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db import models
from django.db.models import F, Q

from lightway.data.ledger.models import JournalEntry
from lightway.data.money import CURRENCY_CODES, Rounding

CURRENCY_CHOICES = [(c, c) for c in CURRENCY_CODES]

# Corridors are "<sending country>-<receiving country>" in ISO 3166-1 alpha-2, e.g. "GB-UG".
CORRIDOR_PATTERN = r"^([A-Z]{2}-[A-Z]{2})?$"
MAX_KYC_TIER = 9

# The clock rules of the freeze, the values of the SQL functions commission_record_clock_skew()
# and commission_schedule_lead() (migrations/0006_freeze_without_settings_or_locks.py; a
# test checks that they agree). The admin's own lead is larger (interfaces/admin/commission.py).
RECORD_CLOCK_SKEW = timedelta(seconds=5)
SCHEDULE_CHANGE_LEAD = timedelta(seconds=30)


class TransactionKind(models.TextChoices):
    P2P = "p2p", "P2P transfer"
    P2P_FX = "p2p_fx", "Cross-currency P2P transfer"
    DEPOSIT = "deposit", "Deposit from MoMo"
    WITHDRAWAL = "withdrawal", "Withdrawal to MoMo"
    PAYOUT = "payout", "Payout to a MoMo number"
    REMITTANCE = "remittance", "Inbound remittance"


class FeeMethod(models.TextChoices):
    FLAT = "flat", "Flat amount"
    PERCENTAGE = "percentage", "Percentage of the amount"
    TIERED = "tiered", "Tiered bands"


class RoundingMode(models.TextChoices):
    """Names of ``lightway.data.money.Rounding`` members."""

    HALF_UP = "HALF_UP", "Half up"
    HALF_EVEN = "HALF_EVEN", "Half even (banker's)"
    DOWN = "DOWN", "Down (towards zero)"
    UP = "UP", "Up (away from zero)"
    FLOOR = "FLOOR", "Floor"
    CEILING = "CEILING", "Ceiling"


assert {m.value for m in RoundingMode} == {r.name for r in Rounding}


class Party(models.TextChoices):
    LIGHTWAY = "lightway", "LightWay"
    MTN = "mtn", "MTN"
    PARTNER = "partner", "Partner (IMTO)"


PARTY_ORDER: dict[str, int] = {Party.LIGHTWAY: 0, Party.MTN: 1, Party.PARTNER: 2}


class FeeSchedule(models.Model):
    name = models.CharField(max_length=120)
    transaction_kind = models.CharField(max_length=20, choices=TransactionKind.choices)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    corridor = models.CharField(
        max_length=5,
        blank=True,
        default="",
        help_text='Sending-receiving country codes, e.g. "GB-UG". Blank applies to any corridor.',
    )
    kyc_tier = models.PositiveSmallIntegerField(
        "KYC tier", null=True, blank=True, help_text="Blank applies to every KYC tier."
    )
    effective_from = models.DateTimeField()
    effective_to = models.DateTimeField(
        null=True, blank=True, help_text="Exclusive end. Blank means open-ended."
    )
    method = models.CharField(max_length=10, choices=FeeMethod.choices)
    flat_amount = models.BigIntegerField(
        default=0, help_text="Flat fee in minor units (flat schedules only)."
    )
    percentage = models.DecimalField(
        default=Decimal(0),
        help_text="Fraction of the amount, 0.015 = 1.5% (percentage schedules only).",
        max_digits=9,
        decimal_places=6,
    )
    min_fee = models.BigIntegerField(default=0, help_text="Minimum fee in minor units.")
    max_fee = models.BigIntegerField(
        null=True, blank=True, help_text="Maximum fee in minor units. Blank means no cap."
    )
    rounding = models.CharField(
        max_length=10, choices=RoundingMode.choices, default=RoundingMode.HALF_UP
    )
    version = models.PositiveIntegerField(default=1)
    notes = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        db_table = "commission_fee_schedule"
        ordering = ["transaction_kind", "currency", "corridor", "kyc_tier", "-effective_from"]
        indexes = [
            models.Index(
                fields=["transaction_kind", "currency", "effective_from"],
                name="commission_schedule_scope",
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(transaction_kind__in=TransactionKind.values),
                name="commission_schedule_kind_valid",
                violation_error_message="Choose a valid transaction kind.",
            ),
            models.CheckConstraint(
                condition=Q(currency__in=CURRENCY_CODES),
                name="commission_schedule_currency_iso",
                violation_error_message="Choose a supported ISO 4217 currency.",
            ),
            models.CheckConstraint(
                condition=Q(corridor__regex=CORRIDOR_PATTERN),
                name="commission_schedule_corridor_format",
                violation_error_message='A corridor is two country codes like "GB-UG", or blank.',
            ),
            models.CheckConstraint(
                condition=Q(kyc_tier__isnull=True) | Q(kyc_tier__lte=MAX_KYC_TIER),
                name="commission_schedule_kyc_tier_range",
                violation_error_message="KYC tier must be between 0 and 9, or blank for any.",
            ),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gt=F("effective_from")),
                name="commission_schedule_period_valid",
                violation_error_message="Effective-to must be later than effective-from.",
            ),
            models.CheckConstraint(
                condition=Q(method__in=FeeMethod.values),
                name="commission_schedule_method_valid",
                violation_error_message="Choose a valid fee method.",
            ),
            models.CheckConstraint(
                condition=Q(rounding__in=RoundingMode.values),
                name="commission_schedule_rounding_valid",
                violation_error_message="Choose a valid rounding mode.",
            ),
            models.CheckConstraint(
                condition=Q(flat_amount__gte=0),
                name="commission_schedule_flat_nonneg",
                violation_error_message="The flat amount cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(percentage__gte=0) & Q(percentage__lte=1),
                name="commission_schedule_percentage_range",
                violation_error_message="The percentage is a fraction from 0 to 1 (0.015 = 1.5%).",
            ),
            models.CheckConstraint(
                condition=Q(min_fee__gte=0),
                name="commission_schedule_min_nonneg",
                violation_error_message="The minimum fee cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(max_fee__isnull=True) | Q(max_fee__gte=F("min_fee")),
                name="commission_schedule_min_le_max",
                violation_error_message="The maximum fee must be at least the minimum fee.",
            ),
            models.CheckConstraint(
                condition=(Q(method=FeeMethod.FLAT) & Q(percentage=0))
                | (Q(method=FeeMethod.PERCENTAGE) & Q(flat_amount=0))
                | (Q(method=FeeMethod.TIERED) & Q(flat_amount=0) & Q(percentage=0)),
                name="commission_schedule_method_fields",
                violation_error_message=(
                    "A flat schedule uses only the flat amount, a percentage schedule only the "
                    "percentage, a tiered schedule only its bands."
                ),
            ),
            models.CheckConstraint(
                condition=Q(version__gte=1),
                name="commission_schedule_version_positive",
                violation_error_message="Versions start at 1.",
            ),
        ]

    def __str__(self) -> str:
        scope = "/".join(
            p
            for p in (
                self.transaction_kind,
                self.currency,
                self.corridor,
                "" if self.kyc_tier is None else f"tier {self.kyc_tier}",
            )
            if p
        )
        return f"{self.name} ({scope}, v{self.version})"

    @property
    def rounding_mode(self) -> Rounding:
        return Rounding[self.rounding]


class FeeBand(models.Model):
    """One band of a tiered schedule: applies to amounts in ``[lower_bound, upper_bound)``."""

    schedule = models.ForeignKey(FeeSchedule, on_delete=models.CASCADE, related_name="bands")
    lower_bound = models.BigIntegerField(help_text="Inclusive, minor units.")
    upper_bound = models.BigIntegerField(
        null=True, blank=True, help_text="Exclusive, minor units. Blank means no upper bound."
    )
    flat_amount = models.BigIntegerField(default=0, help_text="Flat part in minor units.")
    percentage = models.DecimalField(
        default=Decimal(0),
        help_text="Fraction of the amount, 0.01 = 1%.",
        max_digits=9,
        decimal_places=6,
    )

    class Meta:
        db_table = "commission_fee_band"
        ordering = ["schedule", "lower_bound"]
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "lower_bound"],
                name="commission_band_unique_lower",
                violation_error_message="Two bands of a schedule cannot start at the same amount.",
            ),
            models.CheckConstraint(
                condition=Q(lower_bound__gte=0),
                name="commission_band_lower_nonneg",
                violation_error_message="A band's lower bound cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(upper_bound__isnull=True) | Q(upper_bound__gt=F("lower_bound")),
                name="commission_band_bounds_ordered",
                violation_error_message="A band's upper bound must be above its lower bound.",
            ),
            models.CheckConstraint(
                condition=Q(flat_amount__gte=0),
                name="commission_band_flat_nonneg",
                violation_error_message="A band's flat amount cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(percentage__gte=0) & Q(percentage__lte=1),
                name="commission_band_percentage_range",
                violation_error_message="A band's percentage is a fraction from 0 to 1 (0.01 = 1%)",
            ),
        ]

    def __str__(self) -> str:
        upper = "" if self.upper_bound is None else str(self.upper_bound)
        return f"[{self.lower_bound}, {upper or '∞'})"

    def contains(self, amount: int) -> bool:
        return self.lower_bound <= amount and (
            self.upper_bound is None or amount < self.upper_bound
        )


class FeeSplit(models.Model):
    """A party's share of a schedule's fee, in proportion to its weight among the splits."""

    schedule = models.ForeignKey(FeeSchedule, on_delete=models.CASCADE, related_name="splits")
    party = models.CharField(max_length=10, choices=Party.choices)
    weight = models.DecimalField(max_digits=12, decimal_places=6)

    class Meta:
        db_table = "commission_fee_split"
        ordering = ["schedule", "party"]
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "party"],
                name="commission_split_unique_party",
                violation_error_message="A party can have only one split per schedule.",
            ),
            models.CheckConstraint(
                condition=Q(party__in=Party.values),
                name="commission_split_party_valid",
                violation_error_message="Choose LightWay, MTN or partner.",
            ),
            models.CheckConstraint(
                condition=Q(weight__gt=0),
                name="commission_split_weight_pos",
                violation_error_message="A split's weight must be greater than zero.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.party}: {self.weight}"


class CommissionRecord(models.Model):
    """One party's share of one transaction's fee; the source of commission statements."""

    entry = models.ForeignKey(
        JournalEntry, on_delete=models.PROTECT, related_name="commission_records"
    )
    # Indexed by ("schedule", "created_at") below, which the versioning triggers use. No
    # foreign-key constraint: its check would lock the schedule row (FOR KEY SHARE) in every
    # priced transaction. Instead the record trigger refuses an unknown schedule, and a
    # schedule with records can never be deleted (migrations/0002_invariants.py).
    schedule = models.ForeignKey(
        FeeSchedule,
        on_delete=models.PROTECT,
        related_name="commission_records",
        db_index=False,
        db_constraint=False,
    )
    reference = models.CharField(max_length=64)
    transaction_kind = models.CharField(max_length=20, choices=TransactionKind.choices)
    party = models.CharField(max_length=10, choices=Party.choices)
    party_ref = models.CharField(max_length=64)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    amount = models.BigIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        db_table = "commission_record"
        ordering = ["-created_at", "-id"]
        indexes = [
            # A party's statement in its exact order ((created_at, id): the keyset), so the
            # planner never prefers walking every party's records by time (commission 0008).
            models.Index(
                fields=["party", "party_ref", "created_at", "id"], name="commission_rec_statement"
            ),
            models.Index(fields=["reference"], name="commission_rec_reference"),
            models.Index(fields=["schedule", "created_at"], name="commission_rec_schedule_time"),
            # The admin list, newest first, and its date filter (it sorted every record).
            models.Index(fields=["created_at", "id"], name="commission_rec_created"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["entry", "reference", "party"], name="commission_rec_entry_ref_party"
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=0),
                name="commission_rec_amount_pos",
                violation_error_message="A commission record's amount must be positive.",
            ),
            models.CheckConstraint(
                condition=Q(transaction_kind__in=TransactionKind.values),
                name="commission_rec_kind_valid",
                violation_error_message="Invalid transaction kind.",
            ),
            models.CheckConstraint(
                condition=Q(currency__in=CURRENCY_CODES),
                name="commission_rec_currency_iso",
                violation_error_message="Invalid currency.",
            ),
            models.CheckConstraint(
                condition=(Q(party=Party.LIGHTWAY) & Q(party_ref="lightway"))
                | (Q(party=Party.MTN) & Q(party_ref="mtn"))
                | (Q(party=Party.PARTNER) & ~Q(party_ref__in=["", "lightway", "mtn"])),
                name="commission_rec_party_ref",
                violation_error_message=(
                    'party_ref is "lightway" for LightWay, "mtn" for MTN, else a partner code.'
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.party_ref} {self.currency} {self.amount}"
