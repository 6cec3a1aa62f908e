"""SMS delivery reports (issue 15, docs/notifications.md "Delivery reports").

- ``POST /webhooks/sms/africastalking/<token>``: Africa's Talking signs nothing, so the
  callback URL set in its dashboard carries a secret path token
  (``AFRICASTALKING_WEBHOOK_TOKEN``, compared in constant time); a wrong token is 404, as
  if the address did not exist.
- ``POST /webhooks/sms/twilio``: verified with ``X-Twilio-Signature`` over
  ``TWILIO_STATUS_CALLBACK_URL`` (the exact URL Twilio was given) and the form; a missing
  or wrong signature is 403.

Both answer 200 for an applied, stale (duplicate, out of order) or unknown report, so the
provider stops resending; 400 for a form without the fields the provider always sends;
413 over 16 KiB; 429 over ``LIGHTWAY_WEBHOOK_RATE_SMS`` per client address.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from lightway.application.errors import ValidationFailed
from lightway.application.intake import intake_reject
from lightway.application.notifications.reports import sms_report_receive
from lightway.integration.notify.twilio import SIGNATURE_HEADER, signature_valid
from lightway.interfaces.api.errors import error_response
from lightway.interfaces.web.authz import public
from lightway.interfaces.web.middleware import raw_body_intake
from lightway.interfaces.web.webhooks import _over_rate

SMS_REPORT_MAX_BYTES = 16 * 1024


def _form(request: HttpRequest) -> dict[str, str] | HttpResponse:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > SMS_REPORT_MAX_BYTES or len(request.body) > SMS_REPORT_MAX_BYTES:
        return error_response(413, "payload_too_large", "the report body is too large")
    content_type = str(request.META.get("CONTENT_TYPE") or "").lower()
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return error_response(
            400,
            "bad_request",
            "a delivery report is form-encoded (application/x-www-form-urlencoded)",
        )
    return {key: request.POST.get(key, "") for key in request.POST}


def _receive(provider: str, form: dict[str, str]) -> HttpResponse:
    now = timezone.now()
    try:
        result = sms_report_receive(provider=provider, form=form, now=now)
    except ValidationFailed as exc:
        return error_response(400, "bad_request", exc.message)
    return JsonResponse({"ok": True, "result": result})


@public
@raw_body_intake
@csrf_exempt
@require_POST
def africastalking_report(request: HttpRequest, token: str) -> HttpResponse:
    expected = str(settings.AFRICASTALKING_WEBHOOK_TOKEN or "")
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        return error_response(404, "not_found", "no such page")
    if (refused := _over_rate(request, "sms")) is not None:
        return refused
    form = _form(request)
    if isinstance(form, HttpResponse):
        return form
    return _receive("africastalking", form)


@public
@raw_body_intake
@csrf_exempt
@require_POST
def twilio_report(request: HttpRequest) -> HttpResponse:
    if (refused := _over_rate(request, "sms")) is not None:
        return refused
    form = _form(request)
    if isinstance(form, HttpResponse):
        return form
    url = str(settings.TWILIO_STATUS_CALLBACK_URL or "")
    given = str(request.headers.get(SIGNATURE_HEADER) or "")
    if not url or not signature_valid(str(settings.TWILIO_AUTH_TOKEN), url, form, given):
        intake_reject(source="sms", reason="bad_digest", body=b"", now=timezone.now())
        return error_response(403, "invalid_signature", f"{SIGNATURE_HEADER} does not match")
    return _receive("twilio", form)
