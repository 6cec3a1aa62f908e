"""Customer quotes (docs/fx.md, "Quotes"): a price locked for ``LIGHTWAY_FX_QUOTE_SECONDS``.

``fx_quote_create`` prices the request with the rate ``fx_rate_for`` gives now (refused
with ``fx_rate_unavailable`` / ``fx_rate_stale`` when quoting is stopped for the pair) and
stores the price: amounts on both sides, the customer's rate and the mid rate, the spread
the platform earns, which side was fixed, the rate's source and time, the rounding rule,
and ``expires_at``. The quote is ACTIVE until one exchange uses it (USED) or it expires
(EXPIRED); ``exchange.py`` makes that single use race-free.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings

from lightway.application.errors import NotFound, RequestRefused, ValidationFailed
from lightway.application.fx.pricing import FixedSide, FxPricingError, fx_price
from lightway.application.fx.rates import fx_rate_for
from lightway.data.fx.models import FxQuote, QuoteState
from lightway.data.money import MoneyError, currency

# Amounts beyond this many minor units are refused (a bigint column holds 9.2e18; an
# amount this size priced at any real rate stays below it).
MAX_AMOUNT = 10**15


def quote_seconds() -> int:
    return max(int(getattr(settings, "FX_QUOTE_SECONDS", 60)), 1)


def fx_quote_create(
    *,
    customer_id: int,
    send_currency: str,
    receive_currency: str,
    amount: int,
    fixed: FixedSide,
    now: datetime,
) -> FxQuote:
    """Price ``amount`` (minor units of the ``fixed`` side) and lock it for the customer."""
    try:
        send, receive = currency(send_currency).code, currency(receive_currency).code
    except MoneyError as exc:
        raise ValidationFailed(str(exc), details={"field": "currency"}) from None
    if send == receive:
        raise RequestRefused(
            "same_currency",
            "an exchange needs two different currencies",
            details={"field": "receive_currency"},
        )
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
        raise ValidationFailed(
            f"amount must be 1 to {MAX_AMOUNT} minor units", details={"field": "amount"}
        )
    rate = fx_rate_for(send=send, receive=receive, now=now)
    try:
        price = fx_price(
            rate=rate, send_currency=send, receive_currency=receive, amount=amount, fixed=fixed
        )
    except FxPricingError as exc:
        raise ValidationFailed(str(exc), details={"field": "amount"}) from None
    if max(price.send.amount, price.receive.amount) > 2**62:  # beyond any bigint column
        raise ValidationFailed("the amount is too large", details={"field": "amount"})
    assert rate is not None
    return FxQuote.objects.create(
        id=uuid.uuid4(),
        customer_id=customer_id,
        send_currency=send,
        receive_currency=receive,
        send_amount=price.send.amount,
        receive_amount=price.receive.amount,
        spread_amount=price.spread.amount,
        rate=price.rate,
        mid_rate=price.mid_rate,
        fixed=fixed,
        rate_source=rate.source,
        rate_as_of=rate.as_of,
        fx_rate_id=rate.rate_id,
        cross_rate_id=rate.cross_rate_id,
        rounding=price.rounding,
        state=QuoteState.ACTIVE,
        created_at=now,
        expires_at=now + timedelta(seconds=quote_seconds()),
    )


def fx_quote_get(*, customer_id: int, quote_id: uuid.UUID) -> FxQuote:
    """One of the customer's quotes (NotFound for anyone else's)."""
    quote = FxQuote.objects.filter(id=quote_id, customer_id=customer_id).first()
    if quote is None:
        raise NotFound("quote not found", details={"quote_id": str(quote_id)})
    return quote
