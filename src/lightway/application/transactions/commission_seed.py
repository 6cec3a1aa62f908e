"""Demo fee schedules, created once (the demo seeding command calls this).

Figures are illustrative, not MTN's tariff. Amounts are minor units: UGX and XAF have none,
GHS has two (GHS 0.50 is 50).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from django.db import transaction

from lightway.data.commission.models import (
    FeeBand,
    FeeMethod,
    FeeSchedule,
    FeeSplit,
    Party,
    RoundingMode,
    TransactionKind,
)

P2P_SPLIT = ((Party.LIGHTWAY, Decimal(60)), (Party.MTN, Decimal(40)))
CASH_SPLIT = ((Party.LIGHTWAY, Decimal(50)), (Party.MTN, Decimal(50)))
REMITTANCE_SPLIT = (
    (Party.LIGHTWAY, Decimal(50)),
    (Party.MTN, Decimal(30)),
    (Party.PARTNER, Decimal(20)),
)


@dataclass(frozen=True)
class _Demo:
    name: str
    kind: str
    currency: str
    method: str
    splits: tuple[tuple[str, Decimal], ...]
    corridor: str = ""
    flat_amount: int = 0
    percentage: Decimal = Decimal(0)
    min_fee: int = 0
    max_fee: int | None = None
    # (lower, upper or None, flat, percentage)
    bands: tuple[tuple[int, int | None, int, Decimal], ...] = field(default=())


DEMO_SCHEDULES: tuple[_Demo, ...] = (
    _Demo(
        name="P2P Uganda",
        kind=TransactionKind.P2P,
        currency="UGX",
        method=FeeMethod.TIERED,
        splits=P2P_SPLIT,
        max_fee=10_000,
        bands=(
            (0, 5_000, 100, Decimal(0)),
            (5_000, 50_000, 250, Decimal("0.005")),
            (50_000, 500_000, 500, Decimal("0.01")),
            (500_000, None, 0, Decimal("0.0075")),
        ),
    ),
    _Demo(
        name="P2P Ghana",
        kind=TransactionKind.P2P,
        currency="GHS",
        method=FeeMethod.PERCENTAGE,
        splits=P2P_SPLIT,
        percentage=Decimal("0.01"),
        min_fee=50,
        max_fee=2_000,
    ),
    _Demo(
        name="P2P Cameroon",
        kind=TransactionKind.P2P,
        currency="XAF",
        method=FeeMethod.FLAT,
        splits=P2P_SPLIT,
        flat_amount=150,
    ),
    _Demo(
        name="Withdrawal Uganda",
        kind=TransactionKind.WITHDRAWAL,
        currency="UGX",
        method=FeeMethod.PERCENTAGE,
        splits=CASH_SPLIT,
        percentage=Decimal("0.01"),
        min_fee=500,
        max_fee=15_000,
    ),
    _Demo(
        name="Withdrawal Ghana",
        kind=TransactionKind.WITHDRAWAL,
        currency="GHS",
        method=FeeMethod.PERCENTAGE,
        splits=CASH_SPLIT,
        percentage=Decimal("0.0075"),
        min_fee=25,
        max_fee=1_000,
    ),
    _Demo(
        name="Remittance Uganda",
        kind=TransactionKind.REMITTANCE,
        currency="UGX",
        method=FeeMethod.PERCENTAGE,
        splits=REMITTANCE_SPLIT,
        percentage=Decimal("0.015"),
        min_fee=1_000,
    ),
    _Demo(
        name="Remittance UK to Uganda",
        kind=TransactionKind.REMITTANCE,
        currency="UGX",
        corridor="GB-UG",
        method=FeeMethod.PERCENTAGE,
        splits=REMITTANCE_SPLIT,
        percentage=Decimal("0.01"),
        min_fee=1_000,
    ),
    _Demo(
        name="Remittance from US dollars",
        kind=TransactionKind.REMITTANCE,
        currency="USD",
        method=FeeMethod.FLAT,
        splits=REMITTANCE_SPLIT,
        flat_amount=299,
    ),
    _Demo(
        name="Remittance Ghana",
        kind=TransactionKind.REMITTANCE,
        currency="GHS",
        method=FeeMethod.PERCENTAGE,
        splits=REMITTANCE_SPLIT,
        percentage=Decimal("0.01"),
        min_fee=100,
        max_fee=5_000,
    ),
)


def _demo_start(now: datetime) -> datetime:
    """1 January of the year before ``now``, so back-dated demo history is priced too."""
    return datetime(now.year - 1, 1, 1, tzinfo=UTC)


def fee_schedules_seed_defaults(*, now: datetime) -> int:
    """Create the demo schedules whose scope has no schedule yet; return how many were made.

    Idempotent: a scope (kind, currency, corridor, any KYC tier) that already has a
    schedule, demo or staff-made, is left alone.
    """
    created = 0
    start = _demo_start(now)
    with transaction.atomic():
        for demo in DEMO_SCHEDULES:
            exists = FeeSchedule.objects.filter(
                transaction_kind=demo.kind,
                currency=demo.currency,
                corridor=demo.corridor,
                kyc_tier__isnull=True,
            ).exists()
            if exists:
                continue
            schedule = FeeSchedule.objects.create(
                name=demo.name,
                transaction_kind=demo.kind,
                currency=demo.currency,
                corridor=demo.corridor,
                kyc_tier=None,
                effective_from=start,
                effective_to=None,
                method=demo.method,
                flat_amount=demo.flat_amount,
                percentage=demo.percentage,
                min_fee=demo.min_fee,
                max_fee=demo.max_fee,
                rounding=RoundingMode.HALF_UP,
                version=1,
                notes="Demo schedule (seeded).",
                created_at=now,
            )
            FeeBand.objects.bulk_create(
                FeeBand(
                    schedule=schedule,
                    lower_bound=lower,
                    upper_bound=upper,
                    flat_amount=flat,
                    percentage=pct,
                )
                for lower, upper, flat, pct in demo.bands
            )
            FeeSplit.objects.bulk_create(
                FeeSplit(schedule=schedule, party=party, weight=weight)
                for party, weight in demo.splits
            )
            created += 1
    return created
