"""Inbound webhooks. ``/webhooks/sumsub``: Sumsub KYC events (docs/kyc.md).
``/webhooks/momo/<reference_id>``: MTN MoMo callbacks (docs/momo.md, see below).

The view hands the raw bytes and headers to one use case, which verifies the digest,
stores the delivery first (also a rejected one) and queues its processing. Answers:
200 ``{"ok": true}`` for an accepted, duplicate or out-of-order event (Sumsub must not
re-send it); 401 for a missing or wrong digest or an unknown algorithm; 400 for an
authentic body that is not a usable event; 413 for a body over the size limit; 429 (with
``Retry-After``) for a client address over its rate limit (``LIGHTWAY_WEBHOOK_RATE_SUMSUB``,
``LIGHTWAY_WEBHOOK_RATE_MOMO``): only the refusal is counted, nothing is read or stored.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from lightway.application.intake import intake_reject, webhook_admit
from lightway.application.kyc.verification import WebhookOutcome, kyc_webhook_receive
from lightway.application.momo.flows import callback_receive
from lightway.interfaces.api.errors import error_response
from lightway.interfaces.web.authz import public
from lightway.interfaces.web.client import client_address
from lightway.interfaces.web.middleware import raw_body_intake
from lightway.security.ratelimit import RateLimited


def _over_rate(request: HttpRequest, source: str) -> HttpResponse | None:
    """429 when the client address is over ``source``'s rate limit (the body unread)."""
    now = timezone.now()
    try:
        webhook_admit(source=source, client=client_address(request), now=now)
    except RateLimited as limited:
        intake_reject(source=source, reason="rate_limited", body=b"", now=now)
        response = error_response(
            429, "too_many_requests", f"too many requests; try again in {limited.retry_after} s"
        )
        response["Retry-After"] = str(limited.retry_after)
        return response
    return None


# Sumsub's payloads are a few kilobytes (no personal data, no documents).
SUMSUB_WEBHOOK_MAX_BYTES = 256 * 1024


@public
@raw_body_intake
@csrf_exempt
@require_POST
def sumsub_webhook(request: HttpRequest) -> HttpResponse:
    if (refused := _over_rate(request, "sumsub")) is not None:
        return refused
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > SUMSUB_WEBHOOK_MAX_BYTES:
        return error_response(413, "payload_too_large", "the webhook body is too large")
    raw_body = request.body
    if len(raw_body) > SUMSUB_WEBHOOK_MAX_BYTES:
        return error_response(413, "payload_too_large", "the webhook body is too large")
    receipt = kyc_webhook_receive(
        raw_body=raw_body, headers=dict(request.headers), now=timezone.now()
    )
    if receipt.outcome == WebhookOutcome.REJECTED:
        return error_response(
            401,
            "invalid_signature",
            "X-Payload-Digest does not match the body under X-Payload-Digest-Alg",
        )
    if receipt.outcome == WebhookOutcome.INVALID:
        return error_response(400, "bad_request", "the body is not a usable Sumsub event")
    return JsonResponse({"ok": True})


# MoMo callbacks carry the same JSON as a status read (a few hundred bytes); no signature.
MOMO_CALLBACK_MAX_BYTES = 64 * 1024


@public
@raw_body_intake
@csrf_exempt
@require_http_methods(["PUT", "POST"])
def momo_callback(request: HttpRequest, reference_id: str) -> HttpResponse:
    """A MoMo callback (PUT or POST, §10.2) for ``reference_id`` (our X-Reference-Id in the
    callback URL's path). Stored byte for byte (sealed), whatever it holds (a body that is
    not JSON, nested to any depth), its processing queued, answered 200 at once: the
    body is never trusted, processing confirms it with a status read. 413 over the size
    limit; other methods 405; 429 over the rate limit. A callback for an unknown reference
    (or beyond its reference's cap) is answered the same 200 but only counted, not stored."""
    if (refused := _over_rate(request, "momo")) is not None:
        return refused
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MOMO_CALLBACK_MAX_BYTES:
        return error_response(413, "payload_too_large", "the callback body is too large")
    raw_body = request.body
    if len(raw_body) > MOMO_CALLBACK_MAX_BYTES:
        return error_response(413, "payload_too_large", "the callback body is too large")
    callback_receive(
        reference_id=reference_id,
        method=request.method or "",
        body=raw_body,
        content_type=str(request.META.get("CONTENT_TYPE") or ""),
        remote_addr=str(request.META.get("REMOTE_ADDR") or ""),
        now=timezone.now(),
    )
    return JsonResponse({"ok": True})
