"""Builders for FX tests: approved feed rates, a customer with UGX and USD wallets."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from lightway.application.fx.pricing import rate_sides
from lightway.application.kyc.tiers import kyc_limit_add
from lightway.data.fx.models import FxRate, RateStatus
from tests.factories import customer, funded_wallet


def feed_rate(
    base: str,
    quote: str,
    mid: str,
    bps: int,
    now: datetime,
    *,
    source: str = "regional",
    as_of: datetime | None = None,
) -> FxRate:
    """A rate as a feed stores it: approved by the feed itself at ``now``."""
    bid, ask = rate_sides(Decimal(mid), bps)
    return FxRate.objects.create(
        base=base,
        quote=quote,
        mid=Decimal(mid),
        bid=bid,
        ask=ask,
        source=source,
        as_of=as_of or now,
        status=RateStatus.APPROVED,
        proposed_by=f"feed:{source}",
        decided_by=f"feed:{source}",
        approved_at=now,
        created_at=now,
    )


def usd_limits(now: datetime, *, max_balance: int = 1_000_000) -> None:
    """KYC tier 3 limits for USD in Uganda (a market lets its customers hold USD by giving
    the currency limits; without them, exchanging into USD is refused as undefined)."""
    kyc_limit_add(
        country="UG",
        tier=3,
        currency_code="USD",
        effective_from=now - timedelta(hours=1),
        actor="system:test",
        now=now - timedelta(days=1),
        per_transaction=500_000,
        daily=1_000_000,
        monthly=5_000_000,
        max_balance=max_balance,
    )


def fx_customer(name: str, now: datetime, *, ugx: int = 1_000_000, usd: int = 0):
    """A tier 3 Ugandan customer with a funded UGX wallet and a USD wallet; returns
    (user id, bearer token, UGX wallet, USD wallet)."""
    user_id, token = customer(name, now)
    return (
        user_id,
        token,
        funded_wallet(user_id, "UGX", ugx, now),
        funded_wallet(user_id, "USD", usd, now),
    )
