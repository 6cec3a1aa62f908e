"""Small builders for tests: customers (with profiles and KYC tiers) and funded wallets."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model

from lightway.application.identity.profiles import profile_create
from lightway.application.kyc.tiers import kyc_limits_seed_defaults
from lightway.application.transactions.wallets import wallet_open
from lightway.data.identity.models import Realm
from lightway.data.ledger.kinds import OPENING_BALANCE
from lightway.data.ledger.models import AccountKind
from lightway.data.ledger.services import Leg, entry_post, house_account
from lightway.data.wallets.models import Wallet
from lightway.security.tokens import token_issue


def customer(
    username: str,
    now: datetime,
    *,
    tier: int = 3,
    country: str = "UG",
    phone: str | None = None,
    language: str = "en",
) -> tuple[int, str]:
    """A customer (with a profile of ``tier`` in ``country``, optionally a phone number and
    a language) and a bearer token.

    The regulator's default KYC tier limits are seeded too (idempotent), so payments are
    checked against them as in production.
    """
    user = get_user_model().objects.create_user(username=username, password="x-Unused-123")
    extra = {"phone": phone} if phone else {}
    profile = profile_create(
        user_id=user.pk, realm=Realm.CUSTOMER, now=now, country=country, language=language, **extra
    )
    if tier:
        profile.kyc_tier = tier
        profile.phone_verified_at = now
        profile.save(update_fields=["kyc_tier", "phone_verified_at"])
    kyc_limits_seed_defaults(now=now)
    return user.pk, token_issue(user_id=user.pk, now=now)


def funded_wallet(owner_id: int, currency: str, amount: int, now: datetime) -> Wallet:
    wallet = wallet_open(owner_id=owner_id, currency_code=currency, now=now)
    if amount:
        equity = house_account(kind=AccountKind.EQUITY, currency=currency, now=now)
        entry_post(
            kind=OPENING_BALANCE,
            currency=currency,
            legs=[Leg(equity.pk, -amount), Leg(wallet.account_id, amount)],
            now=now,
        )
    return wallet


def staff(
    username: str, roles: tuple[str, ...] | list[str], now: datetime, *, realm: str | None = None
) -> int:
    """A staff account holding ``roles`` (its realm is the roles' realm unless given)."""
    from lightway.application.staff.accounts import staff_create
    from lightway.security.policy import ROLE_REALM

    realm = realm or (ROLE_REALM[roles[0]] if roles else Realm.LIGHTWAY)
    return staff_create(
        username=username, realm=realm, roles=list(roles), actor="system:test", now=now
    )
