"""Wallet use cases: open a wallet, list wallets, read a statement."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction

from lightway.application.errors import NotFound, ValidationFailed, postings_archived_refused
from lightway.data.audit.services import audit_record
from lightway.data.ledger.models import AccountKind
from lightway.data.ledger.selectors import StatementLine, account_balance, account_statement
from lightway.data.ledger.services import account_open
from lightway.data.money import MoneyError, currency
from lightway.data.wallets.models import Wallet


def wallet_open(
    *, owner_id: int, currency_code: str, now: datetime, actor: str = "system"
) -> Wallet:
    """The owner's wallet in ``currency_code``, opened if it does not exist yet (idempotent)."""
    try:
        currency(currency_code)
    except MoneyError as exc:
        raise ValidationFailed(str(exc), details={"field": "currency"}) from None
    existing = Wallet.objects.filter(owner_id=owner_id, currency=currency_code).first()
    if existing:
        return existing
    wallet_id = uuid.uuid4()
    try:
        with transaction.atomic():
            account = account_open(
                code=f"wallet:{wallet_id}",
                kind=AccountKind.WALLET,
                currency=currency_code,
                owner_ref=f"user:{owner_id}",
                now=now,
            )
            wallet = Wallet.objects.create(
                id=wallet_id,
                owner_id=owner_id,
                currency=currency_code,
                account=account,
                created_at=now,
            )
            audit_record(
                actor=actor,
                action="wallet.open",
                object_type="wallet",
                object_id=str(wallet_id),
                data={"owner": f"user:{owner_id}", "currency": currency_code},
                now=now,
            )
            return wallet
    except IntegrityError:
        # Opened concurrently by another request: return that one.
        return Wallet.objects.get(owner_id=owner_id, currency=currency_code)


@dataclass(frozen=True, slots=True)
class WalletView:
    wallet: Wallet
    balance: int
    held: int

    @property
    def available(self) -> int:
        return self.balance - self.held


def wallet_list(*, owner_id: int) -> list[WalletView]:
    wallets = (
        Wallet.objects.filter(owner_id=owner_id).select_related("account").order_by("currency")
    )
    return [WalletView(w, w.account.balance, w.account.held) for w in wallets]


def wallet_get(*, owner_id: int, wallet_id: uuid.UUID) -> WalletView:
    wallet = (
        Wallet.objects.select_related("account").filter(id=wallet_id, owner_id=owner_id).first()
    )
    if wallet is None:
        raise NotFound("wallet not found", details={"wallet_id": str(wallet_id)})
    return WalletView(wallet, account_balance(account=wallet.account), wallet.account.held)


def wallet_statement(
    *, owner_id: int, wallet_id: uuid.UUID, before: int | None, limit: int
) -> tuple[WalletView, list[StatementLine]]:
    view = wallet_get(owner_id=owner_id, wallet_id=wallet_id)
    with postings_archived_refused():
        lines = account_statement(account=view.wallet.account, before_id=before, limit=limit)
    return view, lines
