"""A customer's exchange between their own wallets at a quote's price (docs/fx.md,
"Exchange"): ``POST /api/v1/wallets/exchange``.

``exchange_create`` is a payment plan of the one payment skeleton, not a copy of it: the
Idempotency-Key is looked up first (a retry replays the stored transfer), the plan's
movement is a :class:`~lightway.application.payments.skeleton.PostFx` (one entry per
currency through the FX position accounts, the spread to FX revenue: ``fx_legs``), the
limits policy checks the send side against the payer's limits and the receive side against
the receiving wallet's maximum balance, and a refusal is recorded as a failed transfer of
kind ``exchange`` with its code.

The quote is used once, race-free: ``build`` refuses a quote that is already used
(``quote_used``) or expired (``quote_expired``) before anything is recorded; inside the
payment's transaction the plan's own row step claims it with one conditional UPDATE
(``state = active AND expires_at > now``). Of two exchanges racing for one quote the second
waits on the first's row lock, finds the quote used and is refused (``quote_used``),
its movement rolled back and its refusal recorded. The database also refuses a quote used
after its expiry (trigger ``fx_quote_guard``).

No fee: the spread is the price of an exchange, stated in the quote.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from lightway.application.errors import NotFound, PaymentRefused, RequestRefused
from lightway.application.fx.postings import fx_legs
from lightway.application.payments.skeleton import (
    PaymentOutcome,
    PaymentPlan,
    PostFx,
    Recorded,
    insufficient_funds,
    payment_create,
    request_digest,
)
from lightway.application.transactions.commission import fee_compute
from lightway.data.commission.models import TransactionKind
from lightway.data.fx.models import FxQuote, QuoteState
from lightway.data.ledger.models import AccountStatus
from lightway.data.money import Money, currency
from lightway.data.wallets.models import Transfer, TransferKind, TransferStatus, Wallet

_FUNDS = "your wallet's available balance does not cover the amount of this exchange"


@dataclass(frozen=True)
class ExchangeOutcome:
    transfer: Transfer
    quote: FxQuote | None  # the quote the request named (None when it does not exist)
    replayed: bool


def exchange_create(
    *, client_id: int, idempotency_key: str, quote_id: uuid.UUID, now: datetime
) -> ExchangeOutcome:
    """Exchange at quote ``quote_id``, once per (client, Idempotency-Key)."""
    outcome: PaymentOutcome = payment_create(
        client_id=client_id,
        idempotency_key=idempotency_key,
        digest=request_digest(kind="exchange", quote=str(quote_id)),
        build=lambda: _plan(client_id, quote_id, now),
        now=now,
    )
    quote = FxQuote.objects.filter(id=quote_id, customer_id=client_id).first()
    return ExchangeOutcome(outcome.transfer, quote, outcome.replayed)


def _quote_refusal(quote: FxQuote, now: datetime) -> RequestRefused | None:
    if quote.state == QuoteState.USED:
        return RequestRefused(
            "quote_used",
            "this quote was already used: ask for a new quote",
            details={"quote_id": str(quote.id)},
        )
    if quote.state == QuoteState.EXPIRED or quote.expires_at <= now:
        return RequestRefused(
            "quote_expired",
            "this quote has expired: ask for a new quote",
            details={"quote_id": str(quote.id), "expires_at": quote.expires_at.isoformat()},
        )
    return None


def _plan(client_id: int, quote_id: uuid.UUID, now: datetime) -> PaymentPlan:
    quote = FxQuote.objects.filter(id=quote_id, customer_id=client_id).first()
    if quote is None:
        raise NotFound("quote not found", details={"field": "quote_id"})
    refused = _quote_refusal(quote, now)
    if refused is not None:
        if refused.code == "quote_expired" and quote.state == QuoteState.ACTIVE:
            FxQuote.objects.filter(id=quote.id, state=QuoteState.ACTIVE).update(
                state=QuoteState.EXPIRED
            )
        raise refused
    wallets = {
        w.currency: w
        for w in Wallet.objects.select_related("account").filter(
            owner_id=client_id, currency__in=[quote.send_currency, quote.receive_currency]
        )
    }
    for field, code in (("send", quote.send_currency), ("receive", quote.receive_currency)):
        if code not in wallets:
            raise RequestRefused(
                "wallet_missing",
                f"you have no {code} wallet: open one before exchanging",
                details={"field": f"{field}_currency", "currency": code},
            )
    source, destination = wallets[quote.send_currency], wallets[quote.receive_currency]
    send = Money(quote.send_amount, currency(quote.send_currency))
    receive = Money(quote.receive_amount, currency(quote.receive_currency))
    spread = Money(quote.spread_amount, currency(quote.receive_currency))
    legs = fx_legs(
        send=send,
        receive=receive,
        spread=spread,
        payer_account_id=source.account_id,
        payee_account_id=destination.account_id,
        now=now,
    )
    refusal: PaymentRefused | None = None
    for wallet in (source, destination):
        if wallet.account.status != AccountStatus.ACTIVE:
            refusal = PaymentRefused(
                "account_not_active", f"your {wallet.currency} wallet is {wallet.account.status}"
            )
    if refusal is None and source.account.balance - source.account.held < send.amount:
        refusal = insufficient_funds(send.amount, _FUNDS)

    def claim(transfer: Transfer, recorded: Recorded, at: datetime) -> Mapping[str, object]:
        return _quote_claim(quote, transfer, at)

    return PaymentPlan(
        kind=TransferKind.EXCHANGE,
        client_id=client_id,
        money=send,
        # No fee schedule applies: the spread is the price (stated in the quote).
        fee=fee_compute(schedule=None, amount=send),
        commission_kind=TransactionKind.P2P_FX,
        movement=PostFx(
            send_currency=legs.send_currency,
            send_legs=legs.send_legs,
            receive_currency=legs.receive_currency,
            receive_legs=legs.receive_legs,
            fee_account_id=source.account_id,
            lock_account_ids=(source.account_id, destination.account_id),
        ),
        status=TransferStatus.SUCCEEDED,
        source_wallet_id=source.id,
        destination_wallet_id=destination.id,
        description=f"Exchange {send.currency.code} to {receive.currency.code}",
        recipient_id=client_id,
        credit=receive,
        refusal=refusal,
        funds_message=_FUNDS,
        audit={
            "quote": str(quote.id),
            "receive_currency": receive.currency.code,
            "receive_amount": receive.amount,
            "spread": spread.amount,
            "rate": str(quote.rate),
            "mid_rate": str(quote.mid_rate),
            "rate_source": quote.rate_source,
        },
        record=claim,
    )


def _quote_claim(quote: FxQuote, transfer: Transfer, now: datetime) -> Mapping[str, object]:
    """Use the quote for ``transfer`` in the payment's transaction, or refuse (the payment
    is then rolled back and recorded as failed with the code)."""
    with transaction.atomic():
        claimed = FxQuote.objects.filter(
            id=quote.id, state=QuoteState.ACTIVE, expires_at__gt=now
        ).update(state=QuoteState.USED, used_at=now, transfer_id=transfer.id)
    if claimed == 1:
        return {"quote_claimed": True}
    state = FxQuote.objects.filter(id=quote.id).values_list("state", flat=True).first()
    if state == QuoteState.USED:
        raise PaymentRefused("quote_used", "this quote was already used: ask for a new quote")
    raise PaymentRefused("quote_expired", "this quote has expired: ask for a new quote")
