"""A partner's own commission statement, mounted at /api/v1/partner (signed requests;
docs/commission.md, docs/api.md "Partner signatures").

``GET /api/v1/partner/commission-statements?from=DATE&to=DATE&format=json|csv``: the
partner's share of the fees of its transactions over whole UTC days ``from`` to ``to``
(both included, at most a year). Only the calling partner's records, whatever is asked: the
party comes from the signature, never from the request. Each statement served is recorded
in the audit trail with the SHA-256 of the exact bytes sent, also given in the response's
``Repr-Digest`` header.

The handler translates HTTP and makes one application call.
"""

from __future__ import annotations

import base64
import io
from datetime import date, datetime
from typing import Annotated, Any, Literal

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, Query, Router, Schema

from lightway.application.reports.commission import (
    commission_statement_generate,
    statement_partner,
)
from lightway.interfaces.api.partner import PartnerSignature
from lightway.interfaces.api.schemas import ErrorOut
from lightway.interfaces.web.authz import api_action, api_requires
from lightway.security.policy import Action
from lightway.security.signatures import PartnerPrincipal

router = Router(tags=["partner"], auth=PartnerSignature())

ERRORS: dict[int, type[ErrorOut]] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    422: ErrorOut,
}
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


class CommissionStatementLineOut(Schema):
    created_at: datetime = Field(description="When the transaction was priced (UTC)")
    reference: str = Field(description="The transaction's reference (the transfer id)")
    transaction_kind: str = Field(description="remittance, payout, deposit, ...")
    currency: str
    fee: int = Field(description="The transaction's whole fee, minor units")
    party_share: int = Field(description="Your share of that fee, minor units")
    schedule_id: int = Field(description="The fee schedule that priced it")


class StatementSummaryOut(Schema):
    transaction_kind: str
    currency: str
    count: int = Field(description="Transactions")
    fee: int = Field(description="Fee total, minor units")
    party_share: int = Field(description="Your share total, minor units")


class CommissionStatementOut(Schema):
    party: str = Field(description="partner:<your code>")
    period_from: date = Field(alias="from", description="First day (UTC), included")
    period_to: date = Field(alias="to", description="Last day (UTC), included")
    generated_at: datetime
    line_count: int
    lines: list[CommissionStatementLineOut] = Field(description="One per transaction, oldest first")
    summary: list[StatementSummaryOut] = Field(description="Per transaction kind and currency")


From = Annotated[date, Query(alias="from", description="First day (UTC, YYYY-MM-DD)")]
To = Annotated[date, Query(alias="to", description="Last day (UTC, YYYY-MM-DD), included")]
Format = Annotated[Literal["json", "csv"], Query(description="json (default) or csv")]


def _statement_action() -> dict[str, Any]:
    """``api_action`` plus the CSV answer in the OpenAPI document."""
    extra = api_action(Action.PARTNER_TRANSFERS)
    extra["openapi_extra"] = {
        **extra["openapi_extra"],
        "responses": {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    }
    return extra


@router.get(
    "/commission-statements",
    response={200: CommissionStatementOut, **ERRORS},
    by_alias=True,
    summary="Your commission statement over a period (JSON, or CSV with ?format=csv)",
    description="Your share of the fees of your transactions, one line per transaction, "
    "over whole UTC days `from` to `to` (both included, at most 366 days), with totals per "
    "transaction kind and currency. Amounts are minor units in JSON; the CSV has them in "
    "major units too. The response's `Repr-Digest` header is the SHA-256 of the body, "
    "which is recorded in LightWay's audit trail.",
    **_statement_action(),
)
def partner_commission_statement(
    request: HttpRequest, start: From, end: To, format: Format = "json"
) -> Any:
    api_requires(request, Action.PARTNER_TRANSFERS)
    principal: PartnerPrincipal = request.auth  # type: ignore[attr-defined]
    buffer = io.BytesIO()
    result = commission_statement_generate(
        party=statement_partner(partner_id=principal.partner_id),
        start=start,
        end=end,
        fmt=format,
        out=buffer,
        actor=f"partner:{principal.partner_code}",
        now=timezone.now(),
    )
    response = HttpResponse(buffer.getvalue(), content_type=CONTENT_TYPES[format])
    digest = base64.b64encode(bytes.fromhex(result.sha256)).decode()
    response["Repr-Digest"] = f"sha-256=:{digest}:"
    response["Cache-Control"] = "no-store"
    if format == "csv":
        response["Content-Disposition"] = f'attachment; filename="{result.filename}"'
    return response
