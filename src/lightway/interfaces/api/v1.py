"""REST API v1 (django-ninja). Handlers translate HTTP and make one application call."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Header, Query
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer

from lightway.application.authentication.step_up import StepUpProof, transfer_create_with_step_up
from lightway.application.errors import DomainError, ValidationFailed
from lightway.application.transactions.transfers import (
    TransferRequest,
    transfer_get,
)
from lightway.application.transactions.wallets import (
    WalletView,
    wallet_list,
    wallet_statement,
)
from lightway.data.wallets.models import Transfer, TransferStatus
from lightway.interfaces.api.auth import router as auth_router
from lightway.interfaces.api.errors import (
    STATUS_BY_CODE,
    error_response,
    validation_details,
)
from lightway.interfaces.api.fx import router as fx_router
from lightway.interfaces.api.momo import partner_router as momo_partner_router
from lightway.interfaces.api.momo import router as momo_status_router
from lightway.interfaces.api.momo_customer import router as momo_customer_router
from lightway.interfaces.api.openapi import DocumentedNinjaAPI
from lightway.interfaces.api.partner import router as partner_router
from lightway.interfaces.api.partner_account import router as partner_account_router
from lightway.interfaces.api.partner_commission import router as partner_commission_router
from lightway.interfaces.api.partner_remittances import router as partner_remittances_router
from lightway.interfaces.api.schemas import (
    CURSOR_PATTERN,
    CanonicalInt,
    ErrorOut,
    ExactJsonParser,
    IdempotencyKey,
    StatementOut,
    TransferIn,
    TransferOut,
    WalletOut,
)
from lightway.interfaces.web.authz import api_action, api_requires
from lightway.security.apiauth.access import (
    ApiPrincipal,
    TokenInvalid,
    access_principal,
    is_access_token,
)
from lightway.security.signatures import SignatureRejected
from lightway.security.tokens import token_user

log = logging.getLogger(__name__)


class BearerToken(HttpBearer):
    """A mobile access token (``lwa1.``, from /auth/login) or a legacy API token (``lw_``)."""

    def authenticate(self, request: HttpRequest, token: str) -> ApiPrincipal | None:
        if is_access_token(token):
            return access_principal(raw=token, now=timezone.now())  # raises TokenInvalid
        found = token_user(raw=token)
        if found is None:
            return None
        return ApiPrincipal(user_id=found[0], kind="api_token", realm=found[1])


api = DocumentedNinjaAPI(
    title="LightWay MoMo API",
    version="1.0.0",
    description=(
        "Wallets and transfers for the LightWay MoMo platform. Amounts are integers in the "
        "currency's minor unit. Every error is "
        '`{"error": {"code", "category", "message", "path", "retryable", "details"}}`.'
    ),
    auth=BearerToken(),
    parser=ExactJsonParser(),
    urls_namespace="api-v1",
)

ERRORS: dict[int, type[ErrorOut]] = {
    400: ErrorOut,
    401: ErrorOut,
    404: ErrorOut,
    403: ErrorOut,
    409: ErrorOut,
    422: ErrorOut,
}
api.add_router("/auth", auth_router)
api.add_router("/partner", partner_router)
# The partner's events feed, balances, movements and statements (api/partner_account.py)
api.add_router("/partner", partner_account_router)
# Quotes, beneficiary validations, remittances (interfaces/api/partner_remittances.py)
api.add_router("/partner", partner_remittances_router)
# MoMo status by any reference and reconciliation reports (interfaces/api/momo.py)
api.add_router("/momo", momo_status_router)
api.add_router("/partner/momo", momo_partner_router)
# A partner's own commission statement (api/partner_commission.py)
api.add_router("/partner", partner_commission_router)
# Customers' MoMo deposits, withdrawals, payouts and their status (api/momo_customer.py)
api.add_router("/momo", momo_customer_router)
# FX quotes and exchanges between a customer's own wallets (api/fx.py): /fx/quotes and
# /wallets/exchange
api.add_router("", fx_router)
if settings.LIGHTWAY_BENCH_FLOOR:
    # Benchmark only, off by default and refused in production (docs/performance.md):
    # the HTTP floor of POST /transfers, kept out of the OpenAPI document.
    from lightway.interfaces.api.bench_floor import router as bench_floor_router

    api.add_router("/bench", bench_floor_router)


@api.exception_handler(DomainError)
def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    details = dict(exc.details)
    if isinstance(exc, ValidationFailed):
        # the same shape as schema errors: {"fields": [{"field", "problem"}]}
        field = details.pop("field", None) or details.pop("header", None) or "body"
        details["fields"] = [{"field": field, "problem": exc.message}]
    response = error_response(STATUS_BY_CODE.get(exc.code, 422), exc.code, exc.message, details)
    retry_after = details.get("retry_after_seconds")
    if response.status_code == 429 and isinstance(retry_after, int):
        response["Retry-After"] = str(retry_after)
    return response


@api.exception_handler(TokenInvalid)
def _token_invalid(request: HttpRequest, exc: TokenInvalid) -> HttpResponse:
    response = error_response(401, exc.code, exc.message)
    response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


@api.exception_handler(SignatureRejected)
def _signature_rejected(request: HttpRequest, exc: SignatureRejected) -> HttpResponse:
    response = error_response(exc.status, exc.code, exc.message, dict(exc.details))
    if exc.status == 401:
        response["WWW-Authenticate"] = "LW-HMAC-SHA256"
    return response


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = list(exc.errors)
    if any(e.get("type") == "json_invalid" or "JSON" in str(e.get("msg", "")) for e in errors):
        return error_response(400, "malformed_json", "the request body is not valid JSON")
    return error_response(
        422, "validation_failed", "the request is not valid", validation_details(errors)
    )


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = error_response(401, "unauthenticated", "missing or invalid bearer token")
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return error_response(413, "payload_too_large", "the request body is too large")


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    # A bug, not bad input: log it (no request body: it may carry personal data) and answer
    # in the API's error shape instead of Django's HTML page.
    log.exception("unhandled API error", extra={"path": request.path, "method": request.method})
    return error_response(500, "internal_error", "something went wrong on our side")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400 and "parse request body" in str(exc):  # ninja's JSON parse error
        return error_response(400, "malformed_json", "the request body is not valid JSON")
    return error_response(exc.status_code, "bad_request", str(exc))


def _uid(request: HttpRequest) -> int:
    """The authenticated customer's id (BearerToken sets ``request.auth``)."""
    principal: ApiPrincipal = request.auth  # type: ignore[attr-defined]
    return principal.user_id


def _transfer_out(t: Transfer) -> dict[str, Any]:
    return {
        "id": t.id,
        "kind": t.kind,
        "status": t.status,
        "source_wallet_id": t.source_wallet_id,
        "destination_wallet_id": t.destination_wallet_id,
        "currency": t.currency,
        "amount": t.amount,
        "fee": t.fee,
        "description": t.description,
        "failure_code": t.failure_code,
        "created_at": t.created_at,
    }


def _wallet_out(view: WalletView) -> dict[str, Any]:
    return {
        "id": view.wallet.id,
        "currency": view.wallet.currency,
        "balance": view.balance,
        "held": view.held,
        "available": view.available,
        "status": view.wallet.account.status,
    }


@api.post(
    "/transfers",
    response={201: TransferOut, 200: TransferOut, **ERRORS, 429: ErrorOut},
    summary="Send money from one of your wallets to another wallet",
    **api_action("self.transfer"),
    description=(
        "Requires an `Idempotency-Key` header. Retrying with the same key and body returns the "
        "first result (200, header `Idempotent-Replayed: true`); the same key with a different "
        "body is a 409. A refused payment (insufficient funds, a limit) is recorded and returned "
        "as a 422 whose details carry the transfer id. With a mobile access token, a large "
        "amount or a first payment to a wallet needs an SMS code: 403 `step_up_required` "
        "(details.challenge_id), then the same request again with `X-Step-Up-Challenge` and "
        "`X-Step-Up-Code`."
    ),
)
def create_transfer(
    request: HttpRequest,
    payload: TransferIn,
    idempotency_key: IdempotencyKey,
    step_up_challenge: Annotated[
        str | None, Header(alias="X-Step-Up-Challenge", max_length=1024)
    ] = None,
    step_up_code: Annotated[str | None, Header(alias="X-Step-Up-Code", max_length=12)] = None,
) -> Any:
    api_requires(request, "self.transfer")
    principal: ApiPrincipal = request.auth  # type: ignore[attr-defined]
    outcome = transfer_create_with_step_up(
        client_id=principal.user_id,
        idempotency_key=idempotency_key,
        request=TransferRequest(
            source_wallet_id=payload.source_wallet_id,
            destination_wallet_id=payload.destination_wallet_id,
            amount=payload.amount,
            currency=payload.currency,
            description=payload.description,
        ),
        interactive=principal.kind == "session",
        proof=(
            StepUpProof(challenge_id=step_up_challenge, code=step_up_code)
            if step_up_challenge and step_up_code
            else None
        ),
        now=timezone.now(),
    )
    transfer = outcome.transfer
    response: HttpResponse
    if transfer.status == TransferStatus.FAILED:
        response = error_response(
            STATUS_BY_CODE.get(transfer.failure_code, 422),
            transfer.failure_code,
            transfer.failure_message,
            {"transfer_id": str(transfer.id)},
        )
    else:
        response = api.create_response(
            request, _transfer_out(transfer), status=200 if outcome.replayed else 201
        )
    if outcome.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


@api.get(
    "/transfers/{transfer_id}",
    response={200: TransferOut, **ERRORS},
    summary="Get a transfer",
    **api_action("self.transfer"),
)
def get_transfer(request: HttpRequest, transfer_id: uuid.UUID) -> Any:
    api_requires(request, "self.transfer")
    return _transfer_out(transfer_get(client_id=_uid(request), transfer_id=transfer_id))


@api.get(
    "/wallets",
    response={200: list[WalletOut], **ERRORS},
    summary="List your wallets",
    **api_action("self.wallets"),
)
def list_wallets(request: HttpRequest) -> Any:
    api_requires(request, "self.wallets")
    return [_wallet_out(v) for v in wallet_list(owner_id=_uid(request))]


def _decode_cursor(cursor: str | None) -> int | None:
    """The ``before`` posting id of a page (the query's pattern has checked its form)."""
    return int(cursor) if cursor else None


def _encode_cursor(posting_id: int) -> str:
    return str(posting_id)


@api.get(
    "/wallets/{wallet_id}/statement",
    response={200: StatementOut, **ERRORS},
    summary="Your wallet's postings, newest first, with the balance after each",
    **api_action("self.wallets"),
)
def get_statement(
    request: HttpRequest,
    wallet_id: uuid.UUID,
    cursor: Annotated[
        str | None,
        Query(
            pattern=CURSOR_PATTERN,
            description="next_cursor of the previous page, as it came",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200), CanonicalInt] = 50,
) -> Any:
    api_requires(request, "self.wallets")
    view, lines = wallet_statement(
        owner_id=_uid(request), wallet_id=wallet_id, before=_decode_cursor(cursor), limit=limit
    )
    return {
        "wallet": _wallet_out(view),
        "lines": lines,
        "next_cursor": _encode_cursor(lines[-1].posting_id) if len(lines) == limit else None,
    }
