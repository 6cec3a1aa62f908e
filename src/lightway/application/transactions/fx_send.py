"""Sending to a LightWay customer whose wallet is in another currency, at a quoted price.

Made of two payments of the one payment skeleton, recorded in ONE database transaction so
that either both happen or neither does:

1. an exchange between the payer's own wallets at an FX quote (``fx/exchange.py``: the
   quote used once, race-free, before it expires), from the payer's wallet in the send
   currency into their wallet in the recipient's currency (opened if they have none);
2. a wallet-to-wallet transfer in the recipient's currency (``transfers.py``), with its
   own fee, limits and the recipient's maximum balance.

The quote prices what the exchange must deliver: the amount the recipient gets plus the
P2P fee in that currency (``fx_send_quote``, the receive side fixed), so the payer's
wallet in the recipient's currency ends where it started. Both legs are in the history (an
exchange and a payment sent) and ``ledger verify`` checks each by its own rules: no new
kind of entry.

The step-up rules are the transfer's (a first payment to the wallet, an amount above the
threshold in its currency): the code is asked for before anything moves. A refusal of
either leg (funds, a limit, the quote used or expired) undoes both and records nothing:
the quote stays usable until it expires, and the same form can be sent again. Idempotency:
the legs' keys are ``<key>:fx`` and ``<key>:p2p``; a second submit of a sent form replays
both and lands on the same payment.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext as _

from lightway.application.authentication.step_up import StepUpProof, transfer_step_up
from lightway.application.errors import PaymentRefused, RequestRefused
from lightway.application.fx.exchange import exchange_create
from lightway.application.fx.quotes import fx_quote_create, fx_quote_get
from lightway.application.transactions.commission import FeeQuote, fee_quote
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.application.transactions.wallets import wallet_open
from lightway.data.fx.models import FxQuote, QuoteState
from lightway.data.money import Money
from lightway.data.wallets.models import Transfer, TransferKind, TransferStatus
from lightway.data.wallets.selectors import transfer_by_key


@dataclass(frozen=True)
class FxSendPrice:
    quote: FxQuote
    fee: FeeQuote  # the P2P fee, in the receive currency
    amount: int  # what the recipient gets, minor units of the receive currency


def fx_send_quote(
    *, client_id: int, send_currency: str, receive_currency: str, amount: int, now: datetime
) -> FxSendPrice:
    """The price of sending ``amount`` (receive currency) from the payer's
    ``send_currency`` wallet: an FX quote for the amount plus its P2P fee."""
    fee = fee_quote(kind=TransferKind.P2P, amount=Money.of(amount, receive_currency), now=now)
    quote = fx_quote_create(
        customer_id=client_id,
        send_currency=send_currency,
        receive_currency=receive_currency,
        amount=amount + fee.fee.amount,
        fixed="receive",
        now=now,
    )
    return FxSendPrice(quote=quote, fee=fee, amount=amount)


class _Undo(Exception):
    def __init__(self, transfer: Transfer) -> None:
        super().__init__(transfer.failure_code)
        self.transfer = transfer


def fx_send(
    *,
    client_id: int,
    idempotency_key: str,
    quote_id: uuid.UUID,
    destination_wallet_id: uuid.UUID,
    amount: int,
    description: str,
    proof: StepUpProof | None,
    now: datetime,
    interactive: bool = True,
) -> Transfer:
    """Send ``amount`` (the quote's receive currency, minor units) to
    ``destination_wallet_id`` at quote ``quote_id`` (module docstring); returns the P2P
    leg. Raises StepUpRequired / StepUpRejected / TooManyAttempts before anything moves,
    RequestRefused ``quote_expired`` / ``quote_used``, PaymentRefused for a refused leg.
    ``interactive``: a person in a session (the step-up rules apply), as for the API."""
    p2p_key, fx_key = f"{idempotency_key}:p2p", f"{idempotency_key}:fx"
    done = transfer_by_key(client_id=client_id, idempotency_key=p2p_key)
    if done is not None and done.status != TransferStatus.FAILED:
        return done  # a resubmitted form: the payment it made
    quote = fx_quote_get(customer_id=client_id, quote_id=quote_id)
    if quote.state == QuoteState.USED or quote.expires_at <= now:
        used = quote.state == QuoteState.USED
        raise RequestRefused(
            "quote_used" if used else "quote_expired",
            _("This price was already used. Get a new price.")
            if used
            else _("This price has expired. Get a new price to send."),
            details={"quote_id": str(quote.id)},
        )
    if amount <= 0 or amount > quote.receive_amount:
        raise RequestRefused(
            "quote_mismatch",
            _("This price is for another amount. Get a new price."),
            details={"field": "amount"},
        )
    own = wallet_open(
        owner_id=client_id,
        currency_code=quote.receive_currency,
        now=now,
        actor=f"user:{client_id}",
    )
    request = TransferRequest(
        source_wallet_id=own.id,
        destination_wallet_id=destination_wallet_id,
        amount=amount,
        currency=quote.receive_currency,
        description=description,
    )
    transfer_step_up(
        client_id=client_id,
        idempotency_key=p2p_key,
        request=request,
        interactive=interactive,
        proof=proof,
        now=now,
    )
    try:
        with transaction.atomic():
            exchanged = exchange_create(
                client_id=client_id, idempotency_key=fx_key, quote_id=quote.id, now=now
            )
            if exchanged.transfer.status != TransferStatus.SUCCEEDED:
                raise _Undo(exchanged.transfer)
            sent = transfer_create(
                client_id=client_id, idempotency_key=p2p_key, request=request, now=now
            )
            if sent.transfer.status != TransferStatus.SUCCEEDED:
                raise _Undo(sent.transfer)
    except _Undo as undo:
        raise PaymentRefused(undo.transfer.failure_code, undo.transfer.failure_message) from None
    return sent.transfer
