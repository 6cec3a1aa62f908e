"""Quotes: a payout priced and locked for ``REMITTANCE_QUOTE_SECONDS`` (30 minutes).

``quote_create`` prices ``amount`` (minor units of the fixed side) from the send currency
to the receive currency: the rate from ``fx_rate_for`` (the pair's approved rate, refused
when missing or stale) and ``fx_price`` (receive rounded down, send rounded up: the
rounding is stated in the quote), the fee from the ``remittance`` fee schedules in the send
currency, charged on top of the send amount. The send currency must be enabled for the
partner (it has limits in it, ``limits.py``) and MoMo must serve the receive currency.

States: ACTIVE -> USED (a remittance was created with it; one per quote, unique in the
database) or EXPIRED. Expiry is decided by ``expires_at <= now``: when a remittance is
created with it (the quote is then marked EXPIRED and the create refused ``quote_expired``)
and by the periodic ``remittances_expire`` job. A read shows an ACTIVE quote past its
expiry as EXPIRED.

A quote with an ``external_id`` is idempotent on it: the same terms again return the first
quote, other terms are a 409 ``idempotency_conflict``.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from lightway.application.errors import (
    IdempotencyConflict,
    NotFound,
    RequestRefused,
    ValidationFailed,
)
from lightway.application.fx.pricing import FxPricingError, fx_price
from lightway.application.fx.rates import fx_rate_for
from lightway.application.momo.gateway import momo_configured, momo_target
from lightway.application.remittances.limits import currency_enabled, per_transaction_check
from lightway.application.remittances.partners import partner_active
from lightway.application.remittances.pricing import remittance_fee
from lightway.data.money import Money, MoneyError, currency
from lightway.data.remittances.models import AmountType, Quote, QuoteState
from lightway.data.remittances.selectors import quote_of_partner
from lightway.integration.momo.port import MomoConfigError

EXTERNAL_ID_RE = re.compile(r"^[A-Za-z0-9._:/\-]{1,64}$")


class IdempotencyConflictPartner(IdempotencyConflict):
    """The partner API's 409: the same Idempotency-Key or external_id with another body."""

    code = "idempotency_conflict"


@dataclass(frozen=True)
class QuoteRequest:
    send_currency: str
    receive_currency: str
    amount: int
    amount_type: str  # AmountType
    external_id: str = ""
    receive_country: str = ""


def quote_lifetime() -> timedelta:
    return timedelta(seconds=int(settings.REMITTANCE_QUOTE_SECONDS))


def external_id_check(value: str, *, field: str = "external_id") -> str:
    text = str(value or "").strip()
    if not EXTERNAL_ID_RE.match(text):
        raise ValidationFailed(
            "external_id must be 1 to 64 letters, digits or . _ : / -", details={"field": field}
        )
    return text


def _same_terms(quote: Quote, ask: QuoteRequest) -> bool:
    fixed = quote.send_amount if quote.amount_type == AmountType.SEND else quote.receive_amount
    return (
        quote.send_currency == ask.send_currency
        and quote.receive_currency == ask.receive_currency
        and quote.amount_type == ask.amount_type
        and fixed == ask.amount
        and quote.receive_country == ask.receive_country
    )


def _receive_served(code: str) -> None:
    if not momo_configured():
        raise RequestRefused("momo_unavailable", "MoMo payouts are not available on this platform")
    try:
        momo_target(code)
    except MomoConfigError:
        raise RequestRefused(
            "currency_unavailable",
            f"MoMo payouts in {code} are not available",
            details={"field": "receive_currency"},
        ) from None


def quote_create(*, partner_id: int, ask: QuoteRequest, now: datetime) -> tuple[Quote, bool]:
    """(the quote, replayed): a new ACTIVE quote, or the one already made with this
    ``external_id`` and the same terms."""
    partner = partner_active(partner_id=partner_id)
    if ask.external_id:
        external_id_check(ask.external_id)
        existing = Quote.objects.filter(partner_id=partner_id, external_id=ask.external_id).first()
        if existing is not None:
            if not _same_terms(existing, ask):
                raise IdempotencyConflictPartner(
                    "this external_id was already used for a quote with other terms",
                    details={"quote_id": str(existing.id)},
                )
            return existing, True
    if ask.amount_type not in AmountType.values:
        raise ValidationFailed(
            "amount_type must be SEND or RECEIVE", details={"field": "amount_type"}
        )
    try:
        send_ccy, receive_ccy = currency(ask.send_currency), currency(ask.receive_currency)
    except MoneyError as exc:
        raise ValidationFailed(str(exc), details={"field": "send_currency"}) from None
    limit = currency_enabled(
        partner_id=partner.pk, currency_code=send_ccy.code, field="send_currency"
    )
    _receive_served(receive_ccy.code)
    rate = fx_rate_for(send=send_ccy.code, receive=receive_ccy.code, now=now)
    try:
        price = fx_price(
            rate=rate,
            send_currency=send_ccy.code,
            receive_currency=receive_ccy.code,
            amount=ask.amount,
            fixed="send" if ask.amount_type == AmountType.SEND else "receive",
        )
    except FxPricingError as exc:
        raise RequestRefused("amount_too_small", str(exc), details={"field": "amount"}) from None
    per_transaction_check(limit, price.send)
    fee = remittance_fee(partner_code=partner.code, send=price.send, now=now)
    try:
        with transaction.atomic():
            quote = Quote.objects.create(
                id=uuid.uuid4(),
                partner_id=partner.pk,
                external_id=ask.external_id,
                amount_type=ask.amount_type,
                send_currency=send_ccy.code,
                send_amount=price.send.amount,
                receive_currency=receive_ccy.code,
                receive_amount=price.receive.amount,
                receive_country=ask.receive_country,
                fee=fee.fee.amount,
                fee_schedule_id=fee.schedule_id,
                rate=price.rate,
                mid_rate=price.mid_rate,
                spread=price.spread.amount,
                rate_source=rate.source if rate is not None else "none",
                rate_timestamp=rate.as_of if rate is not None else now,
                rate_id=rate.rate_id if rate is not None else None,
                rounding=price.rounding,
                state=QuoteState.ACTIVE,
                expires_at=now + quote_lifetime(),
                created_at=now,
                updated_at=now,
            )
    except IntegrityError:
        if not ask.external_id:
            raise
        # A concurrent request with the same external_id won: answer as its replay.
        return quote_create(partner_id=partner_id, ask=ask, now=now)
    return quote, False


def quote_get(*, partner_id: int, quote_id: uuid.UUID) -> Quote:
    quote = quote_of_partner(partner_id=partner_id, quote_id=quote_id)
    if quote is None:
        raise NotFound("quote not found", details={"quote_id": str(quote_id)})
    return quote


def quote_state_at(quote: Quote, now: datetime) -> str:
    """The state to show: an ACTIVE quote past its expiry is EXPIRED (the job will say so)."""
    if quote.state == QuoteState.ACTIVE and quote.expires_at <= now:
        return QuoteState.EXPIRED
    return quote.state


def quote_total(quote: Quote) -> Money:
    """What the prefund pays: send amount + fee."""
    return Money(quote.send_amount + quote.fee, currency(quote.send_currency))


def quotes_expire(*, now: datetime, batch: int = 500) -> int:
    """Mark ACTIVE quotes past their expiry EXPIRED (periodic job): batches of one
    statement each over the partial index ``remittances_quote_due``."""
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                """UPDATE remittances_quote SET state = 'EXPIRED', updated_at = %s
                    WHERE id IN (SELECT id FROM remittances_quote
                                  WHERE state = 'ACTIVE' AND expires_at <= %s
                                  ORDER BY expires_at LIMIT %s FOR UPDATE SKIP LOCKED)""",
                [now, now, batch],
            )
            done = cur.rowcount or 0
        total += done
        if done < batch:
            return total
