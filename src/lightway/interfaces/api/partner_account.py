"""The partner's own account, under /api/v1/partner (signed requests, docs/partner-webhooks.md):

- ``GET /events?after=<seq>&limit=``: the catch-up feed of the events webhooks deliver;
- ``GET /balances``: balance, reserved and available per prefund currency;
- ``GET /balances/{currency}/movements?cursor=``: the prefund's postings, newest first;
- ``GET /statements?date=YYYY-MM-DD&currency=&format=json|csv``: a UTC day's statement.

Amounts are integers in the currency's minor unit. Handlers translate HTTP and make one
application call.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Path, Query, Router, Schema
from pydantic import BeforeValidator

from lightway.application.partners.account import (
    Statement,
    partner_balances,
    partner_events_page,
    partner_movements,
    partner_statement,
    statement_csv,
)
from lightway.interfaces.api.partner import PartnerSignature
from lightway.interfaces.api.schemas import (
    CURRENCY_PATTERN,
    CURSOR_PATTERN,
    CanonicalInt,
    ErrorOut,
)
from lightway.interfaces.web.authz import api_action, api_requires
from lightway.security.policy import Action

router = Router(tags=["partner"], auth=PartnerSignature())

ERRORS: dict[int, type[ErrorOut]] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    422: ErrorOut,
}
MAX_SEQ = 2**63 - 1
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
A = Action.PARTNER_ACCOUNT


# --- schemas --------------------------------------------------------------------------------


class PartnerEventOut(Schema):
    event_id: uuid.UUID = Field(description="The same on every delivery of the event: dedupe by it")
    seq: int = Field(description="The event's position in your feed (pass as ?after=)")
    type: str = Field(examples=["remittance.status_changed"])
    object_type: str = Field(examples=["remittance"])
    object_id: str
    occurred_at: datetime = Field(description="When the change happened (UTC)")
    data: dict[str, Any] = Field(
        description="The change; remittance events carry a `version` that rises on every "
        "change: keep the highest you have seen"
    )


class PartnerEventsOut(Schema):
    events: list[PartnerEventOut]
    next_after: int = Field(description="Pass as ?after= for the next page")


class BalanceOut(Schema):
    currency: str
    balance: int = Field(description="Minor units: the prefund's balance")
    reserved: int = Field(description="Minor units: held for remittances on their way")
    available: int = Field(description="Minor units: balance - reserved, what you can send")


class BalancesOut(Schema):
    balances: list[BalanceOut]


class MovementOut(Schema):
    id: int = Field(description="The posting id; pass the last one as ?cursor= for older ones")
    occurred_at: datetime
    type: str = Field(description="PAYOUT, FEE, TOPUP, REVERSAL, ...", examples=["PAYOUT"])
    amount: int = Field(description="Signed minor units: + in, - out")
    balance_after: int
    reference: str = Field(description="LightWay's reference of the movement (a transfer id)")
    external_id: str = Field(description="Your own reference, where known")
    description: str


class MovementsOut(Schema):
    currency: str
    movements: list[MovementOut]
    next_cursor: str | None = Field(
        pattern=CURSOR_PATTERN, description="Pass as ?cursor= for the next (older) page"
    )


class StatementEntryOut(Schema):
    posting_id: int
    occurred_at: datetime
    type: str
    amount: int
    balance_after: int
    reference: str
    external_id: str
    description: str


class PartnerStatementOut(Schema):
    partner: str
    currency: str
    date: dt.date
    opening_balance: int
    closing_balance: int = Field(description="opening_balance + the sum of the entries")
    total_in: int
    total_out: int
    entries: list[StatementEntryOut]


# --- helpers --------------------------------------------------------------------------------


def _partner_id(request: HttpRequest) -> int:
    return int(request.auth.partner_id)  # type: ignore[attr-defined]


def _strict_date(value: Any) -> Any:
    """A date parameter is exactly YYYY-MM-DD (pydantic alone would also take a unix
    time or a datetime at midnight)."""
    if isinstance(value, str) and not re.fullmatch(DATE_PATTERN, value):
        raise ValueError("must be a calendar date, YYYY-MM-DD")
    return value


StrictDate = BeforeValidator(_strict_date)


def _statement_json(s: Statement) -> dict[str, Any]:
    return {
        "partner": s.partner,
        "currency": s.currency,
        "date": s.day,
        "opening_balance": s.opening_balance,
        "closing_balance": s.closing_balance,
        "total_in": s.total_in,
        "total_out": s.total_out,
        "entries": s.entries,
    }


CSV_RESPONSE = {"responses": {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}}


# --- operations -----------------------------------------------------------------------------


@router.get(
    "/events",
    response={200: PartnerEventsOut, **ERRORS},
    summary="Your events after a position: catch up on anything a webhook did not bring",
    description="Events in `seq` order, at most `limit`. Start with `after=0` (or the "
    "highest `seq` you have stored) and call again with `next_after` until `events` is "
    "empty. The feed never skips an event: one committed late gets a later `seq`.",
    **api_action(A),
)
def partner_events(
    request: HttpRequest,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ), CanonicalInt] = 0,
    limit: Annotated[int, Query(ge=1, le=500), CanonicalInt] = 100,
) -> Any:
    api_requires(request, A)
    page = partner_events_page(partner_id=_partner_id(request), after=after, limit=limit)
    return {"events": page.events, "next_after": page.next_after}


@router.get(
    "/balances",
    response={200: BalancesOut, **ERRORS},
    summary="Your prefund balances: balance, reserved and available per currency",
    **api_action(A),
)
def partner_balances_get(request: HttpRequest) -> Any:
    api_requires(request, A)
    return {"balances": partner_balances(partner_id=_partner_id(request))}


@router.get(
    "/balances/{currency}/movements",
    response={200: MovementsOut, **ERRORS},
    summary="Your prefund's movements in a currency, newest first",
    **api_action(A),
)
def partner_movements_get(
    request: HttpRequest,
    currency: Annotated[str, Path(pattern=CURRENCY_PATTERN)],
    cursor: Annotated[
        str | None,
        Query(pattern=CURSOR_PATTERN, description="next_cursor of the previous page, as it came"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200), CanonicalInt] = 50,
) -> Any:
    api_requires(request, A)
    lines = partner_movements(
        partner_id=_partner_id(request),
        currency=currency,
        before=int(cursor) if cursor else None,
        limit=limit,
    )
    return {
        "currency": currency,
        "movements": lines,
        "next_cursor": str(lines[-1].id) if len(lines) == limit else None,
    }


@router.get(
    "/statements",
    response={200: PartnerStatementOut, **ERRORS},
    summary="Your prefund statement of one UTC day (JSON, or CSV with format=csv)",
    description="Opening balance, every movement of the day, closing balance; the closing "
    "balance is the opening one plus the entries, and the next day opens with it. A day's "
    "statement is ready shortly after the day ends (UTC): before that, 409 "
    "`statement_not_ready`.",
    openapi_extra={**api_action(A)["openapi_extra"], **CSV_RESPONSE},
)
def partner_statement_get(
    request: HttpRequest,
    date: Annotated[dt.date, Query(description="The UTC day, YYYY-MM-DD"), StrictDate],
    currency: Annotated[str, Query(pattern=CURRENCY_PATTERN)],
    format: Annotated[Literal["json", "csv"], Query(description="json (default) or csv")] = "json",
) -> Any:
    api_requires(request, A)
    statement = partner_statement(partner_id=_partner_id(request), currency=currency, day=date)
    if format == "csv":
        response = HttpResponse(statement_csv(statement), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="statement-{statement.partner}-{statement.currency}-'
            f'{statement.day.isoformat()}.csv"'
        )
        response["Cache-Control"] = "no-store"
        return response
    return _statement_json(statement)
