"""Small builders for tests: customers with funded wallets."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model

from lightway.application.transactions.wallets import wallet_open
from lightway.data.ledger.models import AccountKind
from lightway.data.ledger.services import Leg, entry_post, house_account
from lightway.data.wallets.models import Wallet
from lightway.security.tokens import token_issue


def customer(username: str, now: datetime) -> tuple[int, str]:
    user = get_user_model().objects.create_user(username=username, password="x-Unused-123")
    return user.pk, token_issue(user_id=user.pk, now=now)


def funded_wallet(owner_id: int, currency: str, amount: int, now: datetime) -> Wallet:
    wallet = wallet_open(owner_id=owner_id, currency_code=currency, now=now)
    if amount:
        equity = house_account(kind=AccountKind.EQUITY, currency=currency, now=now)
        entry_post(
            kind="opening_balance",
            currency=currency,
            legs=[Leg(equity.pk, -amount), Leg(wallet.account_id, amount)],
            now=now,
        )
    return wallet
