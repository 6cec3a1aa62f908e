"""Request and response schemas of the public API (they define the OpenAPI document)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Field, Header, Schema
from ninja.parser import Parser
from pydantic import BeforeValidator, ConfigDict, StrictInt

from lightway.application.identity.phones import MARKETS
from lightway.application.text import printable_pattern
from lightway.data.money import currency_codes
from lightway.infrastructure.jsonsafe import json_loads_bounded

MAX_AMOUNT = 10**15


# --- exact formats, shared by the document and the server (docs/api.md, "Requests") -----

# A currency the platform knows (ISO 4217); whether a wallet or MoMo serves it is a
# business answer (422 currency_mismatch / currency_unavailable), not a format error.
CURRENCY_PATTERN = "^(" + "|".join(sorted(currency_codes())) + ")$"
# A market, as ISO 3166 alpha-2: exactly the markets served, nothing else.
COUNTRY_PATTERN = "^(" + "|".join(sorted(MARKETS)) + ")$"
# A statement page cursor: the id of the last line of the previous page, in decimal (at
# most 18 digits, so it always fits the database's 64-bit ids). Pass next_cursor as is.
CURSOR_PATTERN = r"^[1-9][0-9]{0,17}$"
# A MoMo number: the country code and number, 8 to 15 digits, an optional leading "+" and
# single spaces between digits ("+256 772 123 402").
MSISDN_PATTERN = r"^\+?(?:[0-9] ?){7,14}[0-9]$"
_CANONICAL_INT = re.compile(r"^-?(0|[1-9][0-9]*)$")


def _canonical_int(value: Any) -> Any:
    """A query or path integer is written in plain decimal digits: "5", never "5.0",
    "+5", " 5", "05" or "5_0" (which Python's int() and pydantic's lax mode would take)."""
    if isinstance(value, str) and not _CANONICAL_INT.match(value):
        raise ValueError("must be a whole number in decimal digits")
    return value


# Put after ``Query(...)`` on every integer query parameter:
# ``limit: Annotated[int, Query(ge=1, le=200), CanonicalInt] = 50``.
CanonicalInt = BeforeValidator(_canonical_int)


# The Idempotency-Key header of a create call: 1 to 200 printable characters.
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=printable_pattern(min_length=1, max_length=200),
        description="Your unique key for this request; a retry repeats it",
    ),
]


class ExactJsonParser(Parser):
    """Request bodies as JSON whose numbers with a fraction or an exponent are read as
    ``Decimal``, never as a float that may already have rounded them; nesting is bounded
    (issue 11 finding 8): too deep, not UTF-8 or a number too long is ``malformed_json``
    (400), never a RecursionError."""

    def parse_body(self, request: HttpRequest) -> Any:
        return json_loads_bounded(request.body, parse_float=Decimal)


def _exact_integer(value: Any) -> Any:
    """JSON Schema's integer is any number without a fractional part: ``5``, ``5.0`` and
    ``5e0`` are all the integer 5, and so are they here. ``5.5`` (or ``1e-1``) is refused,
    and so is a number too large to be an amount, before it is turned into an int."""
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise ValueError("must be a whole number")
        if value.adjusted() > 18:
            raise ValueError("is too large")
        return int(value)
    return value


# An amount in minor units in a JSON body: an integer (see _exact_integer), never a string.
MinorUnits = Annotated[StrictInt, BeforeValidator(_exact_integer)]


class ErrorDetail(Schema):
    code: str = Field(examples=["insufficient_funds"], description="Stable, snake_case")
    category: str = Field(
        examples=["payer"],
        description=(
            "Who the error is about: client (the request), payer (the paying account: funds,"
            " limits), payee (the beneficiary), server (our side), communication (a system we"
            " depend on)"
        ),
        pattern="^(client|payer|payee|server|communication)$",
    )
    message: str = Field(description="For people; may change")
    path: str | None = Field(
        description="The request field the error is about (dotted path), or null"
    )
    retryable: bool = Field(description="Whether the same request may succeed if sent again later")
    details: dict[str, object]


class ErrorOut(Schema):
    error: ErrorDetail


class TransferIn(Schema):
    model_config = ConfigDict(extra="forbid")

    source_wallet_id: uuid.UUID = Field(description="Your wallet to debit")
    destination_wallet_id: uuid.UUID = Field(description="The wallet to credit")
    amount: MinorUnits = Field(
        gt=0, le=MAX_AMOUNT, description="Integer amount in the currency's minor unit"
    )
    currency: str = Field(pattern=CURRENCY_PATTERN, examples=["UGX"])
    description: str = Field(
        default="",
        max_length=140,
        pattern=printable_pattern(max_length=140),
        description="Printable text: no control or invisible formatting characters",
    )


class TransferOut(Schema):
    id: uuid.UUID
    kind: str
    status: str
    source_wallet_id: uuid.UUID | None
    destination_wallet_id: uuid.UUID | None
    currency: str
    amount: int = Field(description="Minor units")
    fee: int = Field(description="Minor units, paid by the sender on top of the amount")
    description: str
    failure_code: str
    created_at: datetime


class WalletOut(Schema):
    id: uuid.UUID
    currency: str
    balance: int = Field(description="Minor units")
    held: int = Field(description="Minor units reserved by pending payments")
    available: int = Field(description="balance - held")
    status: str


class StatementLineOut(Schema):
    posting_id: int
    entry_id: int
    kind: str
    leg: str
    reference: str
    description: str
    amount: int
    balance_after: int
    created_at: datetime


class StatementOut(Schema):
    wallet: WalletOut
    lines: list[StatementLineOut]
    next_cursor: str | None = Field(
        pattern=CURSOR_PATTERN, description="Pass as ?cursor= for the next (older) page"
    )


# --- authentication (interfaces/api/auth.py, partner.py) -------------------------------

DEVICE_ID_PATTERN = r"^[A-Za-z0-9._:-]{8,200}$"


class LoginIn(Schema):
    model_config = ConfigDict(extra="forbid")

    login: str = Field(
        min_length=1,
        max_length=120,
        pattern=printable_pattern(min_length=1, max_length=120),
        description="Phone number (international form, or national with `country`) or username",
        examples=["+256772123401"],
    )
    password: str = Field(min_length=1, max_length=256)
    device_id: str = Field(
        pattern=DEVICE_ID_PATTERN,
        description="A random id the app generates once per install and keeps (e.g. a UUID)",
        examples=["0b6f3c7e-1d2a-4f59-9c1e-5a7d2b8e4f10"],
    )
    device_name: str = Field(
        default="",
        max_length=80,
        pattern=printable_pattern(max_length=80),
        description="Shown in the device list, e.g. the phone's model",
    )
    country: str | None = Field(
        default=None,
        pattern=COUNTRY_PATTERN,
        description=(
            "The market of a phone number given in national form (ISO 3166 alpha-2): "
            + ", ".join(sorted(MARKETS))
        ),
    )
    totp: str | None = Field(
        default=None,
        pattern=r"^[0-9]{6,8}$",
        description="The authenticator app's current code, for accounts that set one up",
    )


class LoginVerifyIn(Schema):
    model_config = ConfigDict(extra="forbid")

    challenge_id: str = Field(min_length=1, max_length=1024)
    code: str = Field(pattern=r"^[0-9]{4,8}$", description="The code received by SMS")


class RefreshIn(Schema):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=200)
    device_id: str = Field(
        pattern=DEVICE_ID_PATTERN, description="The same device id as at sign-in"
    )


class TokensOut(Schema):
    token_type: str = Field(examples=["Bearer"])
    access_token: str = Field(description="Send as `Authorization: Bearer <access_token>`")
    expires_in: int = Field(description="Seconds the access token is valid")
    access_expires_at: datetime
    refresh_token: str = Field(description="Single use: each refresh returns the next one")
    refresh_expires_at: datetime
    device_id: uuid.UUID = Field(description="This device in GET /auth/devices")


class LoginChallengeOut(Schema):
    challenge_id: str = Field(description="Send back to POST /auth/login/verify with the code")
    channel: str = Field(examples=["sms"])
    sent_to: str = Field(description="The masked phone number the code went to")
    expires_at: datetime


class DeviceOut(Schema):
    id: uuid.UUID
    name: str
    first_seen_at: datetime
    last_seen_at: datetime
    trusted_at: datetime | None = Field(description="When a sign-in from it was confirmed by SMS")
    signed_in: bool = Field(description="It has a live session")
    current: bool = Field(description="The device of the token making this request")


class PartnerWhoAmIOut(Schema):
    partner: str = Field(description="The partner's code", examples=["acme-remit"])
    key_id: str = Field(description="The API key that signed the request")
