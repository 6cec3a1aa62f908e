"""Request and response schemas of the public API (they define the OpenAPI document)."""

from __future__ import annotations

import uuid
from datetime import datetime

from ninja import Field, Schema
from pydantic import ConfigDict, StrictInt

MAX_AMOUNT = 10**15


class ErrorDetail(Schema):
    code: str = Field(examples=["insufficient_funds"])
    message: str
    details: dict[str, object]


class ErrorOut(Schema):
    error: ErrorDetail


class TransferIn(Schema):
    model_config = ConfigDict(extra="forbid")

    source_wallet_id: uuid.UUID = Field(description="Your wallet to debit")
    destination_wallet_id: uuid.UUID = Field(description="The wallet to credit")
    amount: StrictInt = Field(
        gt=0, le=MAX_AMOUNT, description="Integer amount in the currency's minor unit"
    )
    currency: str = Field(pattern=r"^[A-Z]{3}$", examples=["UGX"])
    description: str = Field(
        default="",
        max_length=140,
        pattern=r"^[^\x00-\x1f\x7f]*$",
        description="No control characters",
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
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next (older) page")


# --- authentication (interfaces/api/auth.py, partner.py) -------------------------------

DEVICE_ID_PATTERN = r"^[A-Za-z0-9._:-]{8,200}$"


class LoginIn(Schema):
    model_config = ConfigDict(extra="forbid")

    login: str = Field(
        min_length=1,
        max_length=120,
        pattern=r"^[^\x00-\x1f\x7f]+$",
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
        pattern=r"^[^\x00-\x1f\x7f]*$",
        description="Shown in the device list, e.g. the phone's model",
    )
    country: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{2}$",
        description="ISO 3166 alpha-2 market of a phone number given in national form",
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
