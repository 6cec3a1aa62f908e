"""Wallet-to-wallet (P2P) transfers: validation and pricing; the payment skeleton records.

``transfer_create`` is the use case behind ``POST /api/v1/transfers``. It builds a
:class:`~lightway.application.payments.skeleton.PaymentPlan` and hands it to
``payment_create``, which looks the Idempotency-Key up first (a retry replays the stored
transfer without validating or posting anything again), records refusals (insufficient
funds, a limit, an inactive account) as a failed transfer, and on success posts one journal
entry: principal and fee from the sender, principal to the receiver, and one posting per
fee split (LightWay revenue, MTN and partner commission payable), with the commission
records and the audit record. Request errors (unknown wallet, currency mismatch, bad amount)
raise without recording anything.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from lightway.application.errors import NotFound, PaymentRefused, RequestRefused, ValidationFailed
from lightway.application.payments.skeleton import (
    PaymentOutcome,
    PaymentPlan,
    PostEntry,
    insufficient_funds,
    payment_create,
    request_digest,
)
from lightway.application.transactions.commission import FeeQuote, fee_quote
from lightway.data.ledger.models import AccountStatus
from lightway.data.ledger.services import Leg
from lightway.data.money import Money, MoneyError, currency
from lightway.data.wallets.models import Transfer, TransferKind, TransferStatus
from lightway.data.wallets.selectors import WalletState, wallet_states


@dataclass(frozen=True, slots=True)
class TransferRequest:
    source_wallet_id: uuid.UUID
    destination_wallet_id: uuid.UUID
    amount: int
    currency: str
    description: str = ""

    def digest(self) -> str:
        return request_digest(
            source=str(self.source_wallet_id),
            destination=str(self.destination_wallet_id),
            amount=self.amount,
            currency=self.currency,
            description=self.description,
        )


_FUNDS = "the source wallet's available balance does not cover the amount and fee"


def transfer_create(
    *, client_id: int, idempotency_key: str, request: TransferRequest, now: datetime
) -> PaymentOutcome:
    """Create a P2P transfer once per (client, Idempotency-Key)."""
    return payment_create(
        client_id=client_id,
        idempotency_key=idempotency_key,
        digest=request.digest(),
        build=lambda: _plan(client_id, request, now),
        now=now,
    )


def _validate(client_id: int, request: TransferRequest) -> tuple[WalletState, WalletState, Money]:
    try:
        money = Money(request.amount, currency(request.currency))
    except MoneyError as exc:
        raise ValidationFailed(str(exc), details={"field": "currency"}) from None
    if request.amount <= 0:
        raise ValidationFailed("amount must be greater than zero", details={"field": "amount"})
    if request.source_wallet_id == request.destination_wallet_id:
        raise RequestRefused(
            "same_wallet",
            "source and destination wallets are the same",
            details={"field": "destination_wallet_id"},
        )
    wallets = wallet_states(first=request.source_wallet_id, second=request.destination_wallet_id)
    source = wallets.get(request.source_wallet_id)
    if source is None or source.owner_id != client_id:
        raise NotFound("source wallet not found", details={"field": "source_wallet_id"})
    destination = wallets.get(request.destination_wallet_id)
    if destination is None:
        raise NotFound("destination wallet not found", details={"field": "destination_wallet_id"})
    for field, wallet in (("source_wallet_id", source), ("destination_wallet_id", destination)):
        if wallet.currency != request.currency:
            raise RequestRefused(
                "currency_mismatch",
                f"{field.split('_')[0]} wallet holds {wallet.currency}, not {request.currency}",
                details={"field": field, "wallet_currency": wallet.currency},
            )
    return source, destination, money


def _refusal(
    source: WalletState, destination: WalletState, money: Money, quote: FeeQuote
) -> PaymentRefused | None:
    """What can be refused before anything moves. Limits are checked once the payment is
    recorded, in its transaction (``payments.limits``): that is where payments are ordered."""
    if source.status != AccountStatus.ACTIVE:
        return PaymentRefused("account_not_active", f"your wallet is {source.status}")
    if destination.status != AccountStatus.ACTIVE:
        # Say no more than that: the sender is not told the state of someone else's wallet.
        return PaymentRefused(
            "account_not_active", "the destination wallet cannot receive payments"
        )
    needed = money.amount + quote.fee.amount
    if source.available < needed:
        return insufficient_funds(needed, _FUNDS)
    return None


def _plan(client_id: int, request: TransferRequest, now: datetime) -> PaymentPlan:
    source, destination, money = _validate(client_id, request)
    quote = fee_quote(kind=TransferKind.P2P, amount=money, now=now)
    return PaymentPlan(
        kind=TransferKind.P2P,
        client_id=client_id,
        money=money,
        fee=quote,
        commission_kind=TransferKind.P2P,
        movement=PostEntry(
            legs=(
                Leg(source.account_id, -money.amount, "principal"),
                Leg(destination.account_id, money.amount, "principal"),
            ),
            fee_account_id=source.account_id,
        ),
        status=TransferStatus.SUCCEEDED,
        source_wallet_id=source.id,
        destination_wallet_id=destination.id,
        description=request.description,
        recipient_id=destination.owner_id,
        refusal=_refusal(source, destination, money, quote),
        funds_message=_FUNDS,
    )


def transfer_get(*, client_id: int, transfer_id: uuid.UUID) -> Transfer:
    """A transfer the customer sent, or received into one of their wallets."""
    transfer = (
        Transfer.objects.filter(id=transfer_id)
        .filter(Q(client_id=client_id) | Q(destination_wallet__owner_id=client_id))
        .first()
    )
    if transfer is None:
        raise NotFound("transfer not found", details={"transfer_id": str(transfer_id)})
    return transfer
