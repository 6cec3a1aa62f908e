"""Wallet-to-wallet (P2P) transfers: validation, fee and commission, idempotency.

``transfer_create`` is the use case behind ``POST /api/v1/transfers``. Request errors
(unknown wallet, currency mismatch, bad amount) raise without recording anything. Payment
refusals (insufficient funds, a limit, an inactive account) are recorded as a failed
transfer, so a retry with the same Idempotency-Key returns the same answer. A success posts
one journal entry: principal and fee from the sender, principal to the receiver, and one
posting per fee split (LightWay revenue, MTN and partner commission payable).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q

from lightway.application.errors import (
    DomainError,
    IdempotencyConflict,
    NotFound,
    PaymentRefused,
    ValidationFailed,
)
from lightway.application.transactions.commission import (
    FeeQuote,
    commission_records_create,
    fee_quote,
)
from lightway.application.transactions.limits import limits_policy
from lightway.data.audit.services import audit_record
from lightway.data.ledger.errors import AccountNotActive, InsufficientFunds
from lightway.data.ledger.models import AccountKind, AccountStatus
from lightway.data.ledger.services import Leg, entry_post, house_account_id
from lightway.data.money import Money, MoneyError, currency
from lightway.data.wallets.models import Transfer, TransferKind, TransferStatus
from lightway.data.wallets.selectors import WalletState, wallet_states
from lightway.data.wallets.services import transfer_insert
from lightway.infrastructure.db import retry_transient
from lightway.infrastructure.metrics import transfers_total

MAX_KEY_LENGTH = 200


@dataclass(frozen=True, slots=True)
class TransferRequest:
    source_wallet_id: uuid.UUID
    destination_wallet_id: uuid.UUID
    amount: int
    currency: str
    description: str = ""

    def digest(self) -> str:
        body = json.dumps(
            {
                "source": str(self.source_wallet_id),
                "destination": str(self.destination_wallet_id),
                "amount": self.amount,
                "currency": self.currency,
                "description": self.description,
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TransferOutcome:
    transfer: Transfer
    replayed: bool


def transfer_create(
    *, client_id: int, idempotency_key: str, request: TransferRequest, now: datetime
) -> TransferOutcome:
    """Create a P2P transfer once per (client, Idempotency-Key)."""
    if (
        not idempotency_key
        or len(idempotency_key) > MAX_KEY_LENGTH
        or not idempotency_key.isprintable()
    ):
        raise ValidationFailed(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters",
            details={"header": "Idempotency-Key"},
        )
    digest = request.digest()
    try:
        transfer = retry_transient(
            lambda: _execute(client_id, idempotency_key, digest, request, now)
        )
    except IntegrityError as exc:
        diag = getattr(exc.__cause__, "diag", None)
        if getattr(diag, "constraint_name", None) != "transfer_idempotency":
            raise
        transfer = _replay(client_id, idempotency_key, digest)
        return TransferOutcome(transfer, replayed=True)
    except DomainError:
        # A retry of a request that was already answered gets the first answer, even if
        # validating it again would now fail (the wallets or the fee schedule changed).
        if not Transfer.objects.filter(
            client_id=client_id, idempotency_key=idempotency_key
        ).exists():
            raise
        return TransferOutcome(_replay(client_id, idempotency_key, digest), replayed=True)
    transfers_total.labels(outcome=transfer.status, currency=transfer.currency).inc()
    return TransferOutcome(transfer, replayed=False)


def _replay(client_id: int, key: str, digest: str) -> Transfer:
    existing = Transfer.objects.get(client_id=client_id, idempotency_key=key)
    if existing.request_hash != digest:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used with a different request",
            details={"transfer_id": str(existing.id)},
        )
    return existing


def _validate(client_id: int, request: TransferRequest) -> tuple[WalletState, WalletState, Money]:
    try:
        money = Money(request.amount, currency(request.currency))
    except MoneyError as exc:
        raise ValidationFailed(str(exc), details={"field": "currency"}) from None
    if request.amount <= 0:
        raise ValidationFailed("amount must be greater than zero", details={"field": "amount"})
    if request.source_wallet_id == request.destination_wallet_id:
        raise ValidationFailed(
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
            raise ValidationFailed(
                f"{field.split('_')[0]} wallet holds {wallet.currency}, not {request.currency}",
                details={"field": field, "wallet_currency": wallet.currency},
            )
    return source, destination, money


def _refusal(
    source: WalletState, destination: WalletState, money: Money, quote: FeeQuote
) -> PaymentRefused | None:
    """What can be refused before posting. Limits are checked after the postings, in
    their transaction (see ``limits``): that is where concurrent payments are ordered."""
    if source.status != AccountStatus.ACTIVE:
        return PaymentRefused("account_not_active", f"your wallet is {source.status}")
    if destination.status != AccountStatus.ACTIVE:
        # Say no more than that: the sender is not told the state of someone else's wallet.
        return PaymentRefused(
            "account_not_active", "the destination wallet cannot receive payments"
        )
    needed = money.amount + quote.fee.amount
    if source.available < needed:
        return _insufficient(needed)
    return None


def _insufficient(needed: int) -> PaymentRefused:
    return PaymentRefused(
        "insufficient_funds",
        "the source wallet's available balance does not cover the amount and fee",
        details={"needed": needed},
    )


def _party_account_id(party: str, party_ref: str, code: str, now: datetime) -> int:
    if party == "lightway":
        return house_account_id(kind=AccountKind.FEE_REVENUE, currency=code, now=now)
    return house_account_id(
        kind=AccountKind.COMMISSION_PAYABLE, currency=code, owner_ref=party_ref, now=now
    )


def _execute(
    client_id: int, key: str, digest: str, request: TransferRequest, now: datetime
) -> Transfer:
    source, destination, money = _validate(client_id, request)
    quote = fee_quote(kind=TransferKind.P2P, amount=money, now=now)
    transfer_id = uuid.uuid4()
    fields: dict[str, Any] = {
        "transfer_id": transfer_id,
        "kind": TransferKind.P2P,
        "client_id": client_id,
        "idempotency_key": key,
        "request_hash": digest,
        "source_wallet_id": source.id,
        "destination_wallet_id": destination.id,
        "currency": request.currency,
        "amount": request.amount,
        "fee": quote.fee.amount,
        "description": request.description,
        "now": now,
    }
    refused = _refusal(source, destination, money, quote)
    if refused is None:
        legs = [
            Leg(source.account_id, -money.amount, "principal"),
            Leg(destination.account_id, money.amount, "principal"),
        ]
        if quote.fee.amount:
            legs.append(Leg(source.account_id, -quote.fee.amount, "fee"))
            legs.extend(
                Leg(
                    _party_account_id(s.party, s.party_ref, request.currency, now),
                    s.amount,
                    f"fee:{s.party}",
                )
                for s in quote.splits
                if s.amount
            )
        try:
            with transaction.atomic():
                entry = entry_post(
                    kind=TransferKind.P2P,
                    currency=request.currency,
                    legs=legs,
                    now=now,
                    reference=str(transfer_id),
                    description=request.description,
                )
                limits_policy().check(
                    customer_id=client_id,
                    kind=TransferKind.P2P,
                    amount=money,
                    now=now,
                    recipient_id=destination.owner_id,
                    transfer_id=transfer_id,
                )
                transfer = transfer_insert(
                    status=TransferStatus.SUCCEEDED, entry_id=entry.pk, **fields
                )
                if quote.fee.amount:
                    commission_records_create(
                        entry_id=entry.pk,
                        reference=str(transfer_id),
                        kind=TransferKind.P2P,
                        quote=quote,
                        now=now,
                    )
                _audit(transfer, now)
                return transfer
        except InsufficientFunds:
            refused = _insufficient(money.amount + quote.fee.amount)
        except AccountNotActive:
            # frozen or closed between the read and the posting (the database refused it)
            refused = PaymentRefused(
                "account_not_active", "a wallet of this transfer cannot take part in payments"
            )
        except PaymentRefused as limit:
            refused = limit  # a limit (the postings were rolled back)
    with transaction.atomic():
        transfer = transfer_insert(
            status=TransferStatus.FAILED,
            failure_code=refused.code,
            failure_message=refused.message[:300],
            **fields,
        )
        _audit(transfer, now)
    return transfer


def transfer_audit(
    transfer: Transfer, now: datetime, *, actor: str, data: dict[str, object], status: str = ""
) -> None:
    """Audit ``transfer`` reaching ``status`` (its own status unless given): its kind and
    money, then ``data``. Wallet transfers and MoMo payments write the same record."""
    audit_record(
        actor=actor,
        action=f"transfer.{status or transfer.status}",
        object_type="transfer",
        object_id=str(transfer.id),
        data={
            "kind": transfer.kind,
            "currency": transfer.currency,
            "amount": transfer.amount,
            "fee": transfer.fee,
            **data,
        },
        now=now,
    )


def _audit(transfer: Transfer, now: datetime) -> None:
    transfer_audit(
        transfer,
        now,
        actor=f"user:{transfer.client_id}",
        data={"entry": transfer.entry_id, "failure_code": transfer.failure_code},
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
