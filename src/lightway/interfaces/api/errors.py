"""One error shape for every error of the API:
{"error": {"code", "category", "message", "path", "retryable", "details"}}."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

STATUS_BY_CODE = {
    "validation_failed": 422,  # the request does not match the OpenAPI document
    # a request that matches the document but cannot be carried out as asked (RequestRefused)
    "same_wallet": 422,
    "currency_mismatch": 422,
    "currency_unavailable": 422,
    "phone_unverified": 422,
    "amount_below_fee": 422,
    "phone_invalid": 422,
    "period_invalid": 422,  # a statement's from/to do not fit together (reports/commission.py)
    "not_found": 404,
    "conflict": 409,
    "idempotency_key_reused": 409,
    "insufficient_funds": 422,
    "limit_exceeded": 422,
    "account_not_active": 422,
    # AML (docs/aml.md): an inline rule refused the payment / a sanctioned beneficiary
    "aml_refused": 422,
    "beneficiary_refused": 422,
    "fee_unavailable": 503,  # our fee configuration is incomplete: not the client's fault
    "forbidden": 403,  # authenticated, but the policy does not allow it (web/authz.py)
    # authentication (interfaces/api/auth.py, partner.py) and step-up
    "login_failed": 401,
    "totp_required": 401,
    "totp_invalid": 401,
    "challenge_invalid": 401,
    "code_invalid": 401,
    "refresh_invalid": 401,
    "unauthenticated": 401,
    "token_expired": 401,
    "session_revoked": 401,
    "signature_malformed": 401,
    "signature_algorithm_unsupported": 401,
    "signature_invalid": 401,
    "key_unknown": 401,
    "key_revoked": 401,
    "key_expired": 401,
    "timestamp_stale": 401,
    "nonce_replayed": 401,
    "partner_suspended": 403,  # signed correctly, but the partner may not use the API now
    "partner_closed": 403,
    "staff_not_allowed": 403,
    "login_not_allowed": 403,
    "session_required": 400,
    "step_up_required": 403,
    "step_up_invalid": 403,
    "too_many_attempts": 429,  # with Retry-After
    "too_many_requests": 429,  # a rate limit (security/ratelimit.py), with Retry-After
    # MTN MoMo (interfaces/api/momo_customer.py)
    "momo_unavailable": 503,  # MoMo is not configured on this platform
    "beneficiary_name_mismatch": 422,
    # FX quotes and exchanges (interfaces/api/fx.py)
    "same_currency": 422,
    "wallet_missing": 422,
    "quote_used": 409,  # a quote prices one exchange
    "quote_expired": 409,  # ask for a new quote
    "fx_rate_unavailable": 503,  # quoting is stopped for the pair: not the client's fault
    "fx_rate_stale": 503,
    # partner account (interfaces/api/partner_account.py)
    "statement_not_ready": 409,  # the day has not ended and been cut yet: ask again later
    "statement_unavailable": 404,  # before the first statement day
    # the postings a statement needs are in an archived month (docs/partitions.md)
    "period_archived": 410,
    # the partner API: quotes, beneficiaries, remittances (docs/partner-api.md)
    "idempotency_conflict": 409,
    "currency_not_enabled": 422,
    "fee_changed": 422,
    "beneficiary_not_found": 422,
    "beneficiary_barred": 422,
    "beneficiary_validation_mismatch": 422,
    "beneficiary_validation_expired": 422,
    "receive_currency_required": 422,
    "amount_too_small": 422,
    "cursor_invalid": 422,
    "remittance_not_confirmable": 409,
    "remittance_not_cancellable": 409,
    # staff reversals (application/remittances/reversals.py): no API operation yet
    "remittance_not_reversible": 409,
    "reversal_pending": 409,
    "reversal_decided": 409,
}

# Who an error is about, as Mojaloop groups its error codes (reference notes, §1): the
# client (its request), the payer (the partner's prefund and limits), the payee (the
# beneficiary), the server (our side) or communication (a system we depend on). A code not
# listed takes the category of its HTTP status (5xx server, else client).
CATEGORY_BY_CODE = {
    "insufficient_funds": "payer",
    "limit_exceeded": "payer",
    "account_not_active": "payer",
    "partner_suspended": "payer",
    "currency_not_enabled": "payer",
    "beneficiary_not_found": "payee",
    "beneficiary_barred": "payee",
    "beneficiary_name_mismatch": "payee",
    "aml_refused": "payer",
    "beneficiary_refused": "payee",
    "fee_unavailable": "server",
    "fx_rate_unavailable": "server",
    "fx_rate_stale": "server",
    "internal_error": "server",
    "momo_unavailable": "communication",
}
# Whether sending the very same request again later may succeed (a new quote, a new
# Idempotency-Key or a top-up is a different request): rate limits and our side's
# temporary problems.
RETRYABLE_CODES = frozenset(
    {
        "too_many_attempts",
        "too_many_requests",
        "fee_unavailable",
        "fx_rate_unavailable",
        "fx_rate_stale",
        "momo_unavailable",
        "internal_error",
    }
)

_DEFAULT_CODES = {
    400: ("bad_request", "the request could not be understood"),
    401: ("unauthenticated", "missing or invalid bearer token"),
    403: ("forbidden", "you may not do this"),
    404: ("not_found", "no such resource"),
    405: ("method_not_allowed", "this method is not allowed on this resource"),
    406: ("not_acceptable", "only application/json is served"),
    409: ("conflict", "conflict"),
    413: ("payload_too_large", "the request body is too large"),
    415: ("unsupported_media_type", "send application/json"),
    422: ("validation_failed", "the request is not valid"),
    429: ("too_many_requests", "slow down"),
}


def error_category(code: str, status: int) -> str:
    return CATEGORY_BY_CODE.get(code) or ("server" if status >= 500 else "client")


def error_path(details: dict[str, Any]) -> str | None:
    """The request field an error is about (``details.field``, the first of
    ``details.fields``, or ``details.header``), as a dotted path; None when none is."""
    field = details.get("field")
    if isinstance(field, str) and field:
        return field
    fields = details.get("fields")
    if isinstance(fields, list) and fields and isinstance(fields[0], dict):
        first = fields[0].get("field")
        if isinstance(first, str) and first:
            return first
    header = details.get("header")
    if isinstance(header, str) and header:
        return f"header.{header}"
    return None


def error_body(
    code: str, message: str, details: dict[str, Any] | None = None, *, status: int = 422
) -> dict[str, Any]:
    """The one error shape: ``code`` (stable, snake_case), ``category`` (client, payer,
    payee, server, communication), ``message`` (for people), ``path`` (the field, or
    null), ``retryable`` (may the same request succeed later) and ``details``."""
    details = details or {}
    return {
        "error": {
            "code": code,
            "category": error_category(code, status),
            "message": message,
            "path": error_path(details),
            "retryable": code in RETRYABLE_CODES or status in (429, 502, 503, 504),
            "details": details,
        }
    }


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JsonResponse:
    return JsonResponse(error_body(code, message, details, status=status), status=status)


def validation_details(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """Pydantic/ninja errors as a list of {field, problem}; field is a dotted path."""
    fields = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "payload")]
        fields.append({"field": ".".join(loc) or "body", "problem": err.get("msg", "invalid")})
    return {"fields": fields}


class ApiErrorShapeMiddleware:
    """Rewrites any 4xx under /api/ that is not already in the error shape (Django's 404,
    405 from the router, CSRF, ...) so clients see one shape everywhere."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith("/api/") or not 400 <= response.status_code < 500:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            try:
                body = json.loads(response.content or b"null")
            except ValueError:
                body = None
            if isinstance(body, dict) and isinstance(body.get("error"), dict):
                return response
        code, message = _DEFAULT_CODES.get(response.status_code, ("client_error", "client error"))
        shaped = error_response(response.status_code, code, message)
        for header in ("Allow", "WWW-Authenticate", "Retry-After"):
            if header in response:
                shaped[header] = response[header]
        return shaped
