"""MoMo transaction status and reconciliation reports (docs/momo.md, "Status and
reconciliation API").

Two routers with the same operations, each scoped by who calls:

- ``router`` (mounted at ``/api/v1/momo``, requests signed with an integration key): the
  reporting systems of MTN and LightWay (staff hold no API credential; issue 11, finding
  9). The status of a transaction needs the scope ``transactions.view_momo`` (MoMo-routed
  transfers, personal data masked, as the MTN panel shows); reports need ``reports.view``.
- ``partner_router`` (mounted at ``/api/v1/partner/momo``, signed requests): a partner
  sees only its own transfers and the report items about them. Someone else's reference
  is a 404, never a 403.

Handlers translate HTTP and make one application call.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Path, Query, Router, Schema

from lightway.application.momo.lookup import (
    REFERENCE_PATTERN,
    MomoTransactionView,
    momo_transaction_find,
)
from lightway.application.momo.reconciliation.classification import CATEGORIES
from lightway.application.momo.reconciliation.reports import (
    recon_report,
    recon_runs,
    report_csv,
    report_json,
    run_json,
)
from lightway.interfaces.api.partner import PartnerSignature, SignedRequest
from lightway.interfaces.api.schemas import CanonicalInt, ErrorOut
from lightway.interfaces.web.authz import api_action, api_requires, api_roles
from lightway.security.policy import Action
from lightway.security.signatures import (
    integration_signature_verify,
)


class IntegrationSignature(SignedRequest):
    """An integration key (machine credential of MTN's or LightWay's reporting system),
    signed exactly as partner requests are."""

    openapi_description = (
        "Integration key id (ik_live_...), issued by a LightWay administrator to MTN's or "
        "LightWay's reporting system. Every request also carries X-LW-Timestamp, X-LW-Nonce "
        "and X-LW-Signature, made exactly as for partner requests (HMAC-SHA256 of "
        "METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nSHA256HEX(body)). See the API guide."
    )
    verify = staticmethod(integration_signature_verify)


router = Router(tags=["momo status and reconciliation"], auth=IntegrationSignature())
partner_router = Router(tags=["partner"], auth=PartnerSignature())

ERRORS: dict[int, type[ErrorOut]] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    422: ErrorOut,
}
REFERENCE_DOC = (
    "Any reference of the transaction: the transfer id, the X-Reference-Id sent to MoMo, "
    "MoMo's financialTransactionId or the externalId."
)
CategoryName = Literal[
    "matched", "missing_at_momo", "missing_on_platform", "amount_mismatch", "status_mismatch"
]
assert set(CategoryName.__args__) == set(CATEGORIES)  # type: ignore[attr-defined]


# --- schemas --------------------------------------------------------------------------------


class MomoTransactionOut(Schema):
    transfer_id: uuid.UUID | None
    kind: str = Field(description="deposit, withdrawal, payout or remittance")
    transfer_status: str = Field(description="The platform transfer's state")
    currency: str
    amount: int = Field(description="Minor units")
    fee: int = Field(description="Minor units")
    failure_code: str
    reference_id: uuid.UUID = Field(description="The X-Reference-Id sent to MoMo")
    external_id: str
    financial_transaction_id: str = Field(description="MoMo's id, once it has processed it")
    product: str
    operation: str
    status: str = Field(description="new, accepted, successful or failed")
    momo_status: str = Field(description="The last status MoMo reported, verbatim")
    reason_code: str
    reason_message: str
    needs_review: bool
    party: str = Field(description="The payer or payee, masked")
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    accepted_at: datetime | None
    completed_at: datetime | None


class CountsOut(Schema):
    matched: int
    missing_at_momo: int
    missing_on_platform: int
    amount_mismatch: int
    status_mismatch: int


class ReconRunOut(Schema):
    id: int
    status: str
    window_start: datetime
    window_end: datetime
    started_at: datetime
    finished_at: datetime | None
    counts: CountsOut
    auto_resolved: int
    cases_opened: int
    error: str


class ReconItemOut(Schema):
    item_id: int
    category: str
    resolution: str = Field(description="none, auto_polled or case_opened")
    reference_id: str
    financial_transaction_id: str
    external_id: str
    transfer_id: str | None
    operation: str
    currency: str
    platform_amount: int | None = Field(
        description="Signed minor units from the float's point of view (collections +, "
        "payouts -); null for a line no platform transaction claims"
    )
    momo_amount: int | None = Field(description="Signed minor units as MoMo shows it")
    platform_status: str
    momo_status: str
    party: str = Field(description="The payer or payee, masked")
    detail: str
    case_id: int | None = None
    case_status: str | None = None


class ReconReportOut(Schema):
    run: ReconRunOut
    items: list[ReconItemOut]


# --- handlers shared by both routers -------------------------------------------------------


def _status_out(view: MomoTransactionView) -> dict[str, Any]:
    return {
        "transfer_id": view.transfer_id,
        "kind": view.kind,
        "transfer_status": view.transfer_status,
        "currency": view.currency,
        "amount": view.amount,
        "fee": view.fee,
        "failure_code": view.failure_code,
        "reference_id": view.reference_id,
        "external_id": view.external_id,
        "financial_transaction_id": view.financial_transaction_id,
        "product": view.product,
        "operation": view.operation,
        "status": view.status,
        "momo_status": view.momo_status,
        "reason_code": view.reason_code,
        "reason_message": view.reason_message,
        "needs_review": view.needs_review,
        "party": view.party,
        "created_at": view.created_at,
        "updated_at": view.updated_at,
        "submitted_at": view.submitted_at,
        "accepted_at": view.accepted_at,
        "completed_at": view.completed_at,
    }


def _user_id(request: HttpRequest) -> int | None:
    return getattr(getattr(request, "auth", None), "user_id", None)


def _partner_id(request: HttpRequest) -> int:
    return int(request.auth.partner_id)  # type: ignore[attr-defined]


def _report(
    request: HttpRequest, run_id: int, fmt: str, category: str | None, partner_id: int | None
) -> Any:
    report = recon_report(run_id=run_id, category=category, partner_id=partner_id)
    if fmt == "csv":
        response = HttpResponse(report_csv(report), content_type="text/csv; charset=utf-8")
        suffix = f"-{category}" if category else ""
        response["Content-Disposition"] = (
            f'attachment; filename="momo-reconciliation-{run_id}{suffix}.csv"'
        )
        response["Cache-Control"] = "no-store"
        return response
    return report_json(report)


def _runs(limit: int, offset: int, partner_id: int | None) -> list[dict[str, Any]]:
    return [
        run_json(run, counts)
        for run, counts in recon_runs(limit=limit, offset=offset, partner_id=partner_id)
    ]


Limit = Annotated[int, Query(ge=1, le=200), CanonicalInt]
Offset = Annotated[int, Query(ge=0, le=100_000), CanonicalInt]
Reference = Annotated[str, Path(pattern=REFERENCE_PATTERN, description=REFERENCE_DOC)]
Format = Annotated[Literal["json", "csv"], Query(description="json (default) or csv")]
CategoryQuery = Annotated[CategoryName | None, Query(description="Only the items of this category")]
CSV_RESPONSE = {
    "responses": {
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
    }
}


def _csv_action(action: str) -> dict[str, Any]:
    """``api_action`` plus the CSV response in the OpenAPI document."""
    extra = api_action(action)
    extra["openapi_extra"] = {**extra["openapi_extra"], **CSV_RESPONSE}
    return extra


# --- MTN's and LightWay's reporting systems (integration keys) -------------------------------


@router.get(
    "/transactions/{reference}",
    response={200: MomoTransactionOut, **ERRORS},
    summary="A MoMo transaction's status by any of its references",
    description=REFERENCE_DOC
    + " MoMo-routed transfers; personal data is always masked. A reference outside what you "
    "may see is a 404.",
    **api_action(Action.TRANSACTIONS_VIEW_MOMO),
)
def momo_transaction_status(request: HttpRequest, reference: Reference) -> Any:
    api_requires(request, Action.TRANSACTIONS_VIEW_MOMO)
    view = momo_transaction_find(
        reference=reference, roles=api_roles(request), user_id=_user_id(request)
    )
    return _status_out(view)


@router.get(
    "/reconciliation/runs",
    response={200: list[ReconRunOut], **ERRORS},
    summary="Reconciliation runs, newest first, with counts per category",
    **api_action(Action.REPORTS_VIEW),
)
def momo_recon_runs(request: HttpRequest, limit: Limit = 50, offset: Offset = 0) -> Any:
    api_requires(request, Action.REPORTS_VIEW)
    return _runs(limit, offset, None)


@router.get(
    "/reconciliation/runs/{int:run_id}",
    response={200: ReconReportOut, **ERRORS},
    summary="One reconciliation run's report (JSON, or CSV with ?format=csv)",
    description="Every classified item of the run. Amounts are signed minor units from the "
    "float's point of view. `?format=csv` (or the `.csv` URL) gives the same as CSV.",
    **_csv_action(Action.REPORTS_VIEW),
)
def momo_recon_report(
    request: HttpRequest,
    run_id: int,
    format: Format = "json",
    category: CategoryQuery = None,
) -> Any:
    api_requires(request, Action.REPORTS_VIEW)
    return _report(request, run_id, format, category, None)


@router.get(
    "/reconciliation/runs/{int:run_id}.csv",
    response={**ERRORS},  # 200: text/csv (openapi_extra)
    summary="One reconciliation run's report as CSV",
    **_csv_action(Action.REPORTS_VIEW),
)
def momo_recon_report_csv(request: HttpRequest, run_id: int, category: CategoryQuery = None) -> Any:
    api_requires(request, Action.REPORTS_VIEW)
    return _report(request, run_id, "csv", category, None)


# --- partners (signed requests) -------------------------------------------------------------


@partner_router.get(
    "/transactions/{reference}",
    response={200: MomoTransactionOut, **ERRORS},
    summary="Your MoMo transaction's status by any of its references",
    description=REFERENCE_DOC + " Only your own transfers; any other reference is a 404.",
    **api_action(Action.PARTNER_TRANSFERS),
)
def partner_momo_transaction_status(request: HttpRequest, reference: Reference) -> Any:
    api_requires(request, Action.PARTNER_TRANSFERS)
    view = momo_transaction_find(
        reference=reference,
        roles=api_roles(request),
        user_id=None,
        partner_id=_partner_id(request),
    )
    return _status_out(view)


@partner_router.get(
    "/reconciliation/runs",
    response={200: list[ReconRunOut], **ERRORS},
    summary="Reconciliation runs with counts over your own transfers",
    **api_action(Action.PARTNER_TRANSFERS),
)
def partner_recon_runs(request: HttpRequest, limit: Limit = 50, offset: Offset = 0) -> Any:
    api_requires(request, Action.PARTNER_TRANSFERS)
    return _runs(limit, offset, _partner_id(request))


@partner_router.get(
    "/reconciliation/runs/{int:run_id}",
    response={200: ReconReportOut, **ERRORS},
    summary="A reconciliation run's items about your transfers (JSON, or CSV)",
    **_csv_action(Action.PARTNER_TRANSFERS),
)
def partner_recon_report(
    request: HttpRequest,
    run_id: int,
    format: Format = "json",
    category: CategoryQuery = None,
) -> Any:
    api_requires(request, Action.PARTNER_TRANSFERS)
    return _report(request, run_id, format, category, _partner_id(request))


@partner_router.get(
    "/reconciliation/runs/{int:run_id}.csv",
    response={**ERRORS},  # 200: text/csv (openapi_extra)
    summary="A reconciliation run's items about your transfers, as CSV",
    **_csv_action(Action.PARTNER_TRANSFERS),
)
def partner_recon_report_csv(
    request: HttpRequest, run_id: int, category: CategoryQuery = None
) -> Any:
    api_requires(request, Action.PARTNER_TRANSFERS)
    return _report(request, run_id, "csv", category, _partner_id(request))
