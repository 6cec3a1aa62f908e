"""``POST /webhooks/settlement``: confirmations from the LightWay Finance Settlement API
(docs/settlement.md, "Confirmations").

The view hands the raw bytes and headers to one use case, which checks the signature
(HMAC-SHA256 over the timestamp and the raw body, ``X-LWF-*`` headers), stores the
confirmation and queues its processing. Answers: 200 ``{"ok": true}`` for an accepted one
(also a duplicate: it is applied once); 401 for a missing or wrong signature or a stale
timestamp; 400 for an authentic body that is not a status document; 413 over the size
limit; 429 over the rate limit (``LIGHTWAY_WEBHOOK_RATE_SETTLEMENT``).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from lightway.application.settlement.instructions import (
    MAX_CALLBACK_BYTES,
    CallbackOutcome,
    settlement_callback_receive,
)
from lightway.interfaces.api.errors import error_response
from lightway.interfaces.web.authz import public
from lightway.interfaces.web.middleware import raw_body_intake
from lightway.interfaces.web.webhooks import _over_rate


@public
@raw_body_intake
@csrf_exempt
@require_POST
def settlement_webhook(request: HttpRequest) -> HttpResponse:
    if (refused := _over_rate(request, "settlement")) is not None:
        return refused
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_CALLBACK_BYTES or len(request.body) > MAX_CALLBACK_BYTES:
        return error_response(413, "payload_too_large", "the callback body is too large")
    receipt = settlement_callback_receive(
        raw_body=request.body, headers=dict(request.headers), now=timezone.now()
    )
    if receipt.outcome == CallbackOutcome.REJECTED:
        return error_response(
            401, "invalid_signature", "X-LWF-Signature does not match the timestamp and body"
        )
    if receipt.outcome == CallbackOutcome.INVALID:
        return error_response(400, "bad_request", "the body is not a settlement status")
    return JsonResponse({"ok": True})
