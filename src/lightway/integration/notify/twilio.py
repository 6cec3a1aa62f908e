"""SMS through Twilio's Messages API, spoken over HTTP with httpx, and the
``X-Twilio-Signature`` of its status callbacks.

``POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`` with HTTP basic
authentication (Account SID, Auth Token), form-encoded ``To``, ``From`` (a number or an
alphanumeric sender id per country) or ``MessagingServiceSid``, ``Body`` and
``StatusCallback`` (where Twilio posts the message's later statuses). The answer is
``201`` with the message resource (``sid``, ``status``, ``price``, ``price_unit``...);
a refusal is ``4xx/5xx {"code", "message", "more_info", "status"}``.

Error codes (Twilio's error dictionary) the platform tells apart:

======  ============================================  ====================================
code    meaning                                       what the platform does
======  ============================================  ====================================
20003   authentication failed                         permanent, provably unsent: failover
20429   too many requests                             temporary, provably unsent: failover
21211   invalid 'To' number                           permanent, the number: no failover
21408   no permission to send to that region          permanent, provably unsent: failover
21602   message body required                         permanent (a bug)
21606   'From' is not a valid sender for this account permanent, provably unsent: failover
21610   recipient unsubscribed (replied STOP)         permanent, the recipient: no failover
21612   'To' not reachable from this sender           temporary, provably unsent: failover
21614   'To' is not a mobile number                   permanent, the number: no failover
30001   queue overflow                                temporary, provably unsent: failover
30002   account suspended                             permanent, provably unsent: failover
======  ============================================  ====================================

Why not the ``twilio`` package: its client retries and times out on its own terms
(``requests`` or ``aiohttp`` underneath) and raises ``TwilioRestException`` for every
answer; the port needs explicit timeouts and the temporary/permanent/unsent split above.
The tests use the package against the simulator, which proves the simulator speaks the
wire format the package speaks, and use its ``RequestValidator`` to check the signature
code here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from lightway.integration.notify.africastalking import base_url_check, form_post
from lightway.integration.notify.port import (
    NotifyNotConfigured,
    NotifyPermanentError,
    NotifyTemporaryError,
    SmsResult,
)

LIVE_URL = "https://api.twilio.com"
SIGNATURE_HEADER = "X-Twilio-Signature"
ACCOUNT_SID_RE = re.compile(r"AC[0-9a-f]{32}")

# error code → (log code, temporary?, provably unsent?, recipient's fault?)
ERRORS: dict[int, tuple[str, bool, bool, bool]] = {
    20003: ("unauthorized", False, True, False),
    20429: ("rate_limited", True, True, False),
    21211: ("invalid_number", False, True, True),
    21408: ("region_not_enabled", False, True, False),
    21602: ("empty_body", False, True, False),
    21606: ("invalid_sender", False, True, False),
    21610: ("unsubscribed", False, True, True),
    21612: ("could_not_route", True, True, False),
    21614: ("not_a_mobile_number", False, True, True),
    30001: ("queue_overflow", True, True, False),
    30002: ("account_suspended", False, True, False),
}
ACCEPTED_STATUSES = {"accepted", "queued", "sending", "sent", "scheduled"}


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's request signature: base64 of HMAC-SHA1, keyed with the Auth Token, over the
    full URL the callback was posted to followed by every POST parameter's name and value,
    sorted by name (Twilio's "Webhooks security" documentation)."""
    data = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_valid(auth_token: str, url: str, params: Mapping[str, str], given: str) -> bool:
    """Constant-time comparison of ``given`` with the signature of ``url`` + ``params``."""
    if not auth_token or not given:
        return False
    return hmac.compare_digest(twilio_signature(auth_token, url, params), given)


def price_micros(price: object, unit: object) -> tuple[int | None, str]:
    """Twilio's ``price`` (negative: a charge, e.g. ``"-0.00750"``) in millionths."""
    if price is None or not isinstance(unit, str):
        return None, ""
    try:
        micros = abs(Decimal(str(price))) * 1_000_000
    except InvalidOperation:
        return None, ""
    return int(micros), unit.upper()


class TwilioSmsGateway:
    """An :class:`~lightway.integration.notify.port.SmsGateway` for Twilio."""

    name = "twilio"

    def __init__(
        self,
        *,
        base_url: str,
        account_sid: str,
        auth_token: str,
        senders: dict[str, str] | None = None,
        messaging_service_sid: str = "",
        status_callback: str = "",
        timeout_seconds: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not ACCOUNT_SID_RE.fullmatch(account_sid or "") or not auth_token:
            raise NotifyNotConfigured(
                "Twilio needs TWILIO_ACCOUNT_SID (AC + 32 hex digits) and TWILIO_AUTH_TOKEN",
                code="not_configured",
            )
        self.base_url = base_url_check(base_url, setting="TWILIO_BASE_URL")
        self.account_sid = account_sid
        self.senders = dict(senders or {})
        self.messaging_service_sid = messaging_service_sid
        self.status_callback = status_callback
        if not self.senders and not messaging_service_sid:
            raise NotifyNotConfigured(
                "Twilio needs TWILIO_SENDERS or TWILIO_MESSAGING_SERVICE_SID",
                code="not_configured",
            )
        self._client = httpx.Client(
            base_url=self.base_url,
            auth=(account_sid, auth_token),
            headers={"Accept": "application/json", "User-Agent": "lightway-notify/1"},
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 5.0)),
            verify=True,
            follow_redirects=False,
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    @property
    def path(self) -> str:
        return f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    def send(self, *, to: str, text: str, reference: str, country: str = "") -> SmsResult:
        form = {"To": to, "Body": text}
        sender = self.senders.get(country) or self.senders.get("*")
        if self.messaging_service_sid and not sender:
            form["MessagingServiceSid"] = self.messaging_service_sid
        elif sender:
            form["From"] = sender
        if self.status_callback:
            form["StatusCallback"] = self.status_callback
        return self._result(form_post(self._client, self.path, form, provider="Twilio"))

    def _result(self, response: httpx.Response) -> SmsResult:
        status = response.status_code
        body = _json(response)
        if status in (200, 201):
            sid = body.get("sid")
            state = body.get("status")
            if not isinstance(sid, str) or not sid or state not in ACCEPTED_STATUSES:
                raise NotifyTemporaryError(
                    f"Twilio answered {status} without a message sid", code="bad_response"
                )
            micros, currency = price_micros(body.get("price"), body.get("price_unit"))
            return SmsResult(
                provider_id=sid,
                status=str(state),
                cost_micros=micros,
                cost_currency=currency,
                provider=self.name,
            )
        code = body.get("code")
        known = ERRORS.get(code) if isinstance(code, int) else None
        if known is not None:
            name, temporary, unsent, recipient_fault = known
            error = NotifyTemporaryError if temporary else NotifyPermanentError
            raise error(
                f"Twilio refused the message ({status}, error {code} {name})",
                code=name,
                unsent=unsent,
                recipient_fault=recipient_fault,
            )
        suffix = f", error {code}" if isinstance(code, int) else ""
        if status == 429 or status >= 500:
            raise NotifyTemporaryError(
                f"Twilio answered {status}{suffix}", code=f"http_{status}", unsent=True
            )
        raise NotifyPermanentError(
            f"Twilio refused the message ({status}{suffix})", code=f"http_{status}", unsent=True
        )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
