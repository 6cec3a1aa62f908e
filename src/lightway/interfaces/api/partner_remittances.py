"""The partner API's quotes, beneficiary validations and remittances, mounted at
/api/v1/partner (signed requests, docs/partner-api.md). Handlers translate HTTP and make one
application call; the use cases are ``lightway.application.remittances``.

Amounts are integers in the currency's minor unit, as everywhere in this API (docs/api.md,
"Amounts and currencies"); rates are decimal strings.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from ninja import Field, Header, Path, Query, Router, Schema
from ninja.responses import NinjaJSONEncoder
from pydantic import BeforeValidator, ConfigDict

from lightway.application.errors import NotFound
from lightway.application.fx.pricing import RATE_PLACES
from lightway.application.remittances.beneficiaries import (
    ValidationView,
    beneficiary_validate,
    beneficiary_validation_get,
)
from lightway.application.remittances.quotes import (
    QuoteRequest,
    quote_create,
    quote_get,
    quote_state_at,
)
from lightway.application.remittances.remittances import (
    RemittanceRequest,
    RemittanceView,
    remittance_cancel,
    remittance_confirm,
    remittance_create,
    remittance_get,
    remittance_get_by_external_id,
    remittance_view,
    remittances_list,
)
from lightway.application.text import printable_pattern
from lightway.data.remittances.models import Quote
from lightway.interfaces.api.partner import PartnerSignature
from lightway.interfaces.api.schemas import (
    COUNTRY_PATTERN,
    CURRENCY_PATTERN,
    MAX_AMOUNT,
    MSISDN_PATTERN,
    CanonicalInt,
    ErrorOut,
    IdempotencyKey,
    MinorUnits,
)
from lightway.interfaces.web.authz import api_action, api_requires
from lightway.security.signatures import PartnerPrincipal

ACTION = "partner.remittances"
router = Router(tags=["partner remittances"], auth=PartnerSignature())

EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9._:/\-]{1,64}$"
ANY_COUNTRY_PATTERN = r"^[A-Z]{2}$"
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{1,80}$"
STATE_PATTERN = "^(CREATED|CONFIRMED|SUBMITTED|COMPLETED|FAILED|CANCELLED|EXPIRED|REVERSED)$"
ERRORS: dict[int, type[ErrorOut]] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    422: ErrorOut,
    503: ErrorOut,
}


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _rfc3339(value: Any) -> Any:
    """A query date-time is RFC 3339 text with an offset, as the document says: never a
    number (which pydantic would take as a unix time) or a time without its zone."""
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-12-07T09:00:00Z")
    return value


# --- schemas --------------------------------------------------------------------------------


class QuoteIn(Schema):
    model_config = ConfigDict(extra="forbid")

    external_id: str | None = Field(
        default=None,
        pattern=EXTERNAL_ID_PATTERN,
        description="Your reference: the same terms again return the same quote",
    )
    send_currency: str = Field(pattern=CURRENCY_PATTERN, examples=["USD"])
    receive_currency: str = Field(pattern=CURRENCY_PATTERN, examples=["UGX"])
    amount: MinorUnits = Field(
        gt=0, le=MAX_AMOUNT, description="Minor units of the fixed side's currency"
    )
    amount_type: Literal["SEND", "RECEIVE"] = Field(
        description="SEND: amount is what your prefund pays (before the fee); RECEIVE: what"
        " the beneficiary gets"
    )
    receive_country: str | None = Field(default=None, pattern=COUNTRY_PATTERN)


class QuoteOut(Schema):
    id: uuid.UUID
    external_id: str | None
    state: str = Field(description="ACTIVE, USED or EXPIRED")
    amount_type: str
    send_currency: str
    send_amount: int = Field(description="Minor units of send_currency")
    fee: int = Field(description="Minor units of send_currency, charged on top of send_amount")
    total_debit: int = Field(description="send_amount + fee: what your prefund pays")
    receive_currency: str
    receive_amount: int = Field(description="Minor units of receive_currency")
    receive_country: str | None
    rate: str = Field(description="receive per one send (major units), 12 decimal places")
    mid_rate: str
    rate_source: str
    rate_timestamp: datetime
    rounding: str
    expires_at: datetime
    created_at: datetime


class ValidationIn(Schema):
    model_config = ConfigDict(extra="forbid")

    msisdn: str = Field(pattern=MSISDN_PATTERN, examples=["+256772123456"])
    expected_name: str | None = Field(
        default=None, min_length=1, max_length=120, pattern=printable_pattern(max_length=120)
    )
    receive_currency: str | None = Field(
        default=None,
        pattern=CURRENCY_PATTERN,
        description="The payout's currency (its MoMo market); by default the number's country's",
    )


class ValidationOut(Schema):
    id: uuid.UUID
    account_status: str = Field(description="ACTIVE, NOT_FOUND, BARRED or UNAVAILABLE")
    name_match: str = Field(description="MATCH, PARTIAL, NO_MATCH or NOT_CHECKED")
    masked_holder_name: str
    expires_at: datetime
    created_at: datetime


class BeneficiaryIn(Schema):
    model_config = ConfigDict(extra="forbid")

    msisdn: str = Field(pattern=MSISDN_PATTERN)
    name: str = Field(
        min_length=1, max_length=120, pattern=printable_pattern(min_length=1, max_length=120)
    )


class SenderIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1, max_length=120, pattern=printable_pattern(min_length=1, max_length=120)
    )
    country: str = Field(pattern=ANY_COUNTRY_PATTERN, description="ISO 3166 alpha-2")
    id_type: str | None = Field(
        default=None, max_length=32, pattern=printable_pattern(max_length=32)
    )
    id_number: str | None = Field(
        default=None, max_length=64, pattern=printable_pattern(max_length=64)
    )
    date_of_birth: str | None = Field(default=None, pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    address: str | None = Field(
        default=None, max_length=200, pattern=printable_pattern(max_length=200)
    )


class RemittanceIn(Schema):
    model_config = ConfigDict(extra="forbid")

    external_id: str = Field(pattern=EXTERNAL_ID_PATTERN, description="Your unique reference")
    quote_id: uuid.UUID
    beneficiary: BeneficiaryIn
    beneficiary_validation_id: uuid.UUID | None = None
    sender: SenderIn
    purpose: str = Field(default="", max_length=64, pattern=printable_pattern(max_length=64))
    note: str = Field(default="", max_length=140, pattern=printable_pattern(max_length=140))


class BeneficiaryOut(Schema):
    msisdn: str = Field(description="Masked")
    name: str = Field(description="Masked")


class RemittanceOut(Schema):
    id: uuid.UUID
    external_id: str
    quote_id: uuid.UUID
    state: str = Field(
        description="CREATED, CONFIRMED, SUBMITTED, COMPLETED, FAILED, CANCELLED, EXPIRED or"
        " REVERSED"
    )
    version: int = Field(description="Rises by one on every change")
    reason_code: str | None
    send_currency: str
    send_amount: int
    fee: int
    receive_currency: str
    receive_amount: int
    rate: str
    beneficiary: BeneficiaryOut
    beneficiary_validation_id: uuid.UUID | None
    purpose: str
    created_at: datetime
    updated_at: datetime


class RemittancePageOut(Schema):
    items: list[RemittanceOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page")


# --- helpers ----------------------------------------------------------------------------------


def _partner(request: HttpRequest) -> int:
    api_requires(request, ACTION)
    principal: PartnerPrincipal = request.auth  # type: ignore[attr-defined]
    return principal.partner_id


def _rate(value: Decimal) -> str:
    """A rate as a decimal string with its 12 stored places."""
    return format(Decimal(value).quantize(RATE_PLACES), "f")


def _quote_out(quote: Quote) -> dict[str, Any]:
    return {
        "id": quote.id,
        "external_id": quote.external_id or None,
        "state": quote_state_at(quote, timezone.now()),
        "amount_type": quote.amount_type,
        "send_currency": quote.send_currency,
        "send_amount": quote.send_amount,
        "fee": quote.fee,
        "total_debit": quote.send_amount + quote.fee,
        "receive_currency": quote.receive_currency,
        "receive_amount": quote.receive_amount,
        "receive_country": quote.receive_country or None,
        "rate": _rate(quote.rate),
        "mid_rate": _rate(quote.mid_rate),
        "rate_source": quote.rate_source,
        "rate_timestamp": quote.rate_timestamp,
        "rounding": quote.rounding,
        "expires_at": quote.expires_at,
        "created_at": quote.created_at,
    }


def _validation_out(view: ValidationView) -> dict[str, Any]:
    v = view.validation
    return {
        "id": v.id,
        "account_status": v.account_status,
        "name_match": v.name_match,
        "masked_holder_name": view.masked_holder_name,
        "expires_at": v.expires_at,
        "created_at": v.created_at,
    }


def _remittance_out(view: RemittanceView) -> dict[str, Any]:
    r = view.remittance
    return {
        "id": r.id,
        "external_id": r.external_id,
        "quote_id": r.quote_id,
        "state": r.state,
        "version": r.version,
        "reason_code": r.reason_code or None,
        "send_currency": r.send_currency,
        "send_amount": r.send_amount,
        "fee": r.fee,
        "receive_currency": r.receive_currency,
        "receive_amount": r.receive_amount,
        "rate": view.rate,
        "beneficiary": {"msisdn": view.masked_msisdn, "name": view.masked_name},
        "beneficiary_validation_id": r.beneficiary_validation_id,
        "purpose": r.purpose,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    }


def _answer(
    request: HttpRequest, schema: type[Schema], body: dict[str, Any], *, replayed: bool
) -> HttpResponse:
    """201 for something new; 200 + ``Idempotent-Replayed: true`` for a replay."""
    response = JsonResponse(
        schema.model_validate(body).model_dump(),
        encoder=NinjaJSONEncoder,
        status=200 if replayed else 201,
        content_type="application/json; charset=utf-8",
    )
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return response


# --- quotes -------------------------------------------------------------------------------------


@router.post(
    "/quotes",
    response={201: QuoteOut, 200: QuoteOut, **ERRORS},
    summary="Price a payout: rate, fee and the amounts, locked until expires_at",
    **api_action(ACTION),
)
def create_quote(request: HttpRequest, payload: QuoteIn) -> Any:
    quote, replayed = quote_create(
        partner_id=_partner(request),
        ask=QuoteRequest(
            send_currency=payload.send_currency,
            receive_currency=payload.receive_currency,
            amount=payload.amount,
            amount_type=payload.amount_type,
            external_id=payload.external_id or "",
            receive_country=payload.receive_country or "",
        ),
        now=timezone.now(),
    )
    return _answer(request, QuoteOut, _quote_out(quote), replayed=replayed)


@router.get(
    "/quotes/{uuid:quote_id}",
    response={200: QuoteOut, **ERRORS},
    summary="A quote of yours",
    **api_action(ACTION),
)
def get_quote(request: HttpRequest, quote_id: uuid.UUID) -> Any:
    return _quote_out(quote_get(partner_id=_partner(request), quote_id=quote_id))


# --- beneficiary validations --------------------------------------------------------------


@router.post(
    "/beneficiary-validations",
    response={201: ValidationOut, **ERRORS},
    summary="Check a MoMo number's account and, optionally, the holder's name",
    **api_action(ACTION),
)
def create_validation(request: HttpRequest, payload: ValidationIn) -> Any:
    view = beneficiary_validate(
        partner_id=_partner(request),
        msisdn=payload.msisdn,
        expected_name=payload.expected_name,
        receive_currency=payload.receive_currency,
        now=timezone.now(),
    )
    return _answer(request, ValidationOut, _validation_out(view), replayed=False)


@router.get(
    "/beneficiary-validations/{uuid:validation_id}",
    response={200: ValidationOut, **ERRORS},
    summary="A beneficiary validation of yours",
    **api_action(ACTION),
)
def get_validation(request: HttpRequest, validation_id: uuid.UUID) -> Any:
    view = beneficiary_validation_get(partner_id=_partner(request), validation_id=validation_id)
    return _validation_out(view)


# --- remittances ----------------------------------------------------------------------------


@router.post(
    "/remittances",
    response={201: RemittanceOut, 200: RemittanceOut, **ERRORS},
    summary="Create a remittance against an active quote (idempotent)",
    description=(
        "Requires an `Idempotency-Key` header. The same key (or the same external_id) with the"
        " same body returns the remittance as it is now (200, `Idempotent-Replayed: true`),"
        " also after its quote expired or it finished; with another body it is a 409"
        " `idempotency_conflict`."
    ),
    **api_action(ACTION),
)
def create_remittance(
    request: HttpRequest, payload: RemittanceIn, idempotency_key: IdempotencyKey
) -> Any:
    sender = {k: v for k, v in payload.sender.dict().items() if v is not None}
    remittance, replayed = remittance_create(
        partner_id=_partner(request),
        idempotency_key=idempotency_key,
        request=RemittanceRequest(
            external_id=payload.external_id,
            quote_id=payload.quote_id,
            beneficiary_msisdn=payload.beneficiary.msisdn,
            beneficiary_name=payload.beneficiary.name,
            sender=sender,
            beneficiary_validation_id=payload.beneficiary_validation_id,
            purpose=payload.purpose,
            note=payload.note,
        ),
        now=timezone.now(),
    )
    return _answer(
        request, RemittanceOut, _remittance_out(remittance_view(remittance)), replayed=replayed
    )


@router.get(
    "/remittances",
    response={200: RemittancePageOut, **ERRORS},
    summary="Your remittances, oldest change first (keyset pages)",
    **api_action(ACTION),
)
def list_remittances(
    request: HttpRequest,
    state: Annotated[str | None, Query(pattern=STATE_PATTERN)] = None,
    updated_since: Annotated[
        datetime | None,
        Query(description="RFC 3339 date-time with its offset: changes at or after it"),
        BeforeValidator(_rfc3339),
    ] = None,
    external_id: Annotated[str | None, Query(pattern=EXTERNAL_ID_PATTERN)] = None,
    cursor: Annotated[
        str | None, Query(pattern=CURSOR_PATTERN, description="next_cursor of the last page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200), CanonicalInt] = 50,
) -> Any:
    partner_id = _partner(request)
    if external_id is not None:
        try:
            view = remittance_get_by_external_id(partner_id=partner_id, external_id=external_id)
        except NotFound:
            return {"items": [], "next_cursor": None}
        return {"items": [_remittance_out(view)], "next_cursor": None}
    views, next_cursor = remittances_list(
        partner_id=partner_id,
        state=state,
        updated_since=updated_since,
        cursor=cursor,
        limit=limit,
    )
    return {"items": [_remittance_out(v) for v in views], "next_cursor": next_cursor}


@router.get(
    "/remittances/ext-{external_id}",
    response={200: RemittanceOut, **ERRORS},
    summary="A remittance of yours by your external_id",
    **api_action(ACTION),
)
def get_remittance_by_external_id(
    request: HttpRequest, external_id: Annotated[str, Path(pattern=EXTERNAL_ID_PATTERN)]
) -> Any:
    view = remittance_get_by_external_id(partner_id=_partner(request), external_id=external_id)
    return _remittance_out(view)


@router.get(
    "/remittances/{uuid:remittance_id}",
    response={200: RemittanceOut, **ERRORS},
    summary="A remittance of yours",
    **api_action(ACTION),
)
def get_remittance(request: HttpRequest, remittance_id: uuid.UUID) -> Any:
    return _remittance_out(
        remittance_get(partner_id=_partner(request), remittance_id=remittance_id)
    )


@router.post(
    "/remittances/{uuid:remittance_id}/confirm",
    response={201: RemittanceOut, 200: RemittanceOut, **ERRORS},
    summary="Confirm: reserve the prefund (send amount + fee) and hand the payout to MoMo",
    description=(
        "Requires an `Idempotency-Key` header. A refusal (insufficient_funds, limit_exceeded)"
        " leaves the remittance CREATED with nothing reserved; the same key replays the"
        " refusal, a new key tries again. A remittance confirmed already is returned as it is"
        " (200)."
    ),
    **api_action(ACTION),
)
def confirm_remittance(
    request: HttpRequest, remittance_id: uuid.UUID, idempotency_key: IdempotencyKey
) -> Any:
    remittance, replayed = remittance_confirm(
        partner_id=_partner(request),
        remittance_id=remittance_id,
        idempotency_key=idempotency_key,
        now=timezone.now(),
    )
    return _answer(
        request, RemittanceOut, _remittance_out(remittance_view(remittance)), replayed=replayed
    )


@router.post(
    "/remittances/{uuid:remittance_id}/cancel",
    response={200: RemittanceOut, **ERRORS},
    summary="Cancel before the payout is sent to MoMo (CREATED or CONFIRMED)",
    **api_action(ACTION),
)
def cancel_remittance(
    request: HttpRequest,
    remittance_id: uuid.UUID,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=200,
            pattern=printable_pattern(min_length=1, max_length=200),
            description="Optional: a cancel is idempotent by itself",
        ),
    ] = None,
) -> Any:
    remittance = remittance_cancel(
        partner_id=_partner(request), remittance_id=remittance_id, now=timezone.now()
    )
    return _remittance_out(remittance_view(remittance))
