"""Customer FX endpoints (docs/fx.md, "Quotes" and "Exchange"), mounted on /api/v1:

- ``POST /fx/quotes``: a price for an amount fixed on either side, locked until
  ``expires_at``;
- ``POST /wallets/exchange``: use a quote to move money between two of your own wallets
  (``Idempotency-Key`` required: a retry with the same key and body returns the first
  result with ``Idempotent-Replayed: true``; another body under the key is a 409).

Handlers translate HTTP and make one application call (``application.fx``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, Router, Schema
from ninja.responses import Status
from pydantic import ConfigDict

from lightway.application.fx.exchange import exchange_create
from lightway.application.fx.quotes import fx_quote_create
from lightway.data.fx.models import FxQuote
from lightway.data.wallets.models import TransferStatus
from lightway.interfaces.api.errors import STATUS_BY_CODE, error_response
from lightway.interfaces.api.schemas import (
    CURRENCY_PATTERN,
    MAX_AMOUNT,
    ErrorOut,
    IdempotencyKey,
    MinorUnits,
)
from lightway.interfaces.web.authz import api_action, api_requires
from lightway.security.apiauth.access import ApiPrincipal

router = Router(tags=["fx"])

ERRORS: dict[int, type[ErrorOut]] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    422: ErrorOut,
    503: ErrorOut,
}


class FxQuoteIn(Schema):
    model_config = ConfigDict(extra="forbid")

    send_currency: str = Field(pattern=CURRENCY_PATTERN, examples=["UGX"])
    receive_currency: str = Field(pattern=CURRENCY_PATTERN, examples=["USD"])
    amount: MinorUnits = Field(
        gt=0, le=MAX_AMOUNT, description="Minor units of the fixed side's currency"
    )
    fixed: Literal["send", "receive"] = Field(
        default="send", description="Which side's amount is fixed; the other is priced"
    )


class FxQuoteOut(Schema):
    id: uuid.UUID
    state: str = Field(description="active, used or expired")
    send_currency: str
    send_amount: int = Field(description="Minor units")
    receive_currency: str
    receive_amount: int = Field(description="Minor units")
    fixed: str
    rate: Decimal = Field(description="Your rate: receive units per one send unit")
    mid_rate: Decimal = Field(description="The mid-market rate the same way round")
    spread_amount: int = Field(
        description="What the rate keeps against the mid, receive minor units"
    )
    rate_source: str = Field(description="ecb, regional, treasury, peg or cross:<leg>+<leg>")
    rate_as_of: datetime
    rounding: str
    created_at: datetime
    expires_at: datetime


class ExchangeIn(Schema):
    model_config = ConfigDict(extra="forbid")

    quote_id: uuid.UUID = Field(description="An active quote of yours (POST /fx/quotes)")


class ExchangeOut(Schema):
    id: uuid.UUID = Field(description="The transfer (kind exchange)")
    kind: str
    status: str
    quote_id: uuid.UUID
    source_wallet_id: uuid.UUID | None
    destination_wallet_id: uuid.UUID | None
    send_currency: str
    send_amount: int
    receive_currency: str
    receive_amount: int
    rate: Decimal
    created_at: datetime


def quote_out(quote: FxQuote) -> dict[str, Any]:
    return {
        "id": quote.id,
        "state": quote.state,
        "send_currency": quote.send_currency,
        "send_amount": quote.send_amount,
        "receive_currency": quote.receive_currency,
        "receive_amount": quote.receive_amount,
        "fixed": quote.fixed,
        "rate": quote.rate,
        "mid_rate": quote.mid_rate,
        "spread_amount": quote.spread_amount,
        "rate_source": quote.rate_source,
        "rate_as_of": quote.rate_as_of,
        "rounding": quote.rounding,
        "created_at": quote.created_at,
        "expires_at": quote.expires_at,
    }


@router.post(
    "/fx/quotes",
    response={201: FxQuoteOut, **ERRORS},
    summary="Get a price to exchange between two currencies, locked for a short time",
    description=(
        "Prices `amount` (minor units of the fixed side) at the current rate and locks the "
        "price until `expires_at` (about a minute). The received amount is rounded down, the "
        "sent amount (when the received amount is fixed) rounded up. 503 "
        "`fx_rate_unavailable` or `fx_rate_stale` when quoting is stopped for the pair."
    ),
    **api_action("self.transfer"),
)
def create_quote(request: HttpRequest, payload: FxQuoteIn) -> Any:
    api_requires(request, "self.transfer")
    principal: ApiPrincipal = request.auth  # type: ignore[attr-defined]
    quote = fx_quote_create(
        customer_id=principal.user_id,
        send_currency=payload.send_currency,
        receive_currency=payload.receive_currency,
        amount=payload.amount,
        fixed=payload.fixed,
        now=timezone.now(),
    )
    return Status(201, quote_out(quote))


@router.post(
    "/wallets/exchange",
    response={201: ExchangeOut, 200: ExchangeOut, **ERRORS},
    summary="Exchange between two of your own wallets at a quote's price",
    description=(
        "Requires an `Idempotency-Key` header. Debits your wallet in the quote's send "
        "currency and credits your wallet in its receive currency, at the quote's amounts. "
        "A quote is used once: a second use is a 409 `quote_used`, a use after `expires_at` "
        "a 409 `quote_expired` (ask for a new quote). A refused exchange (insufficient "
        "funds, a limit) is recorded and returned as a 422 whose details carry the transfer "
        "id. Retrying with the same key and body returns the first result (200, header "
        "`Idempotent-Replayed: true`)."
    ),
    **api_action("self.transfer"),
)
def create_exchange(
    request: HttpRequest, payload: ExchangeIn, idempotency_key: IdempotencyKey
) -> Any:
    api_requires(request, "self.transfer")
    principal: ApiPrincipal = request.auth  # type: ignore[attr-defined]
    outcome = exchange_create(
        client_id=principal.user_id,
        idempotency_key=idempotency_key,
        quote_id=payload.quote_id,
        now=timezone.now(),
    )
    transfer, quote = outcome.transfer, outcome.quote
    response: HttpResponse
    if transfer.status == TransferStatus.FAILED or quote is None:
        response = error_response(
            STATUS_BY_CODE.get(transfer.failure_code, 422),
            transfer.failure_code or "exchange_failed",
            transfer.failure_message or "the exchange did not go through",
            {"transfer_id": str(transfer.id)},
        )
    else:
        body: dict[str, Any] = {
            "id": transfer.id,
            "kind": transfer.kind,
            "status": transfer.status,
            "quote_id": quote.id,
            "source_wallet_id": transfer.source_wallet_id,
            "destination_wallet_id": transfer.destination_wallet_id,
            "send_currency": quote.send_currency,
            "send_amount": quote.send_amount,
            "receive_currency": quote.receive_currency,
            "receive_amount": quote.receive_amount,
            "rate": quote.rate,
            "created_at": transfer.created_at,
        }
        response = HttpResponse(
            ExchangeOut.model_validate(body).model_dump_json(),
            status=200 if outcome.replayed else 201,
            content_type="application/json",
        )
    if outcome.replayed:
        response["Idempotent-Replayed"] = "true"
    return response
