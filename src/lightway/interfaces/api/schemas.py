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
