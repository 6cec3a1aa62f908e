"""SMS through Africa's Talking's messaging API (the usual aggregator in the platform's
markets), spoken over HTTP with httpx.

``POST {base}/version1/messaging``, form-encoded ``username``, ``to``, ``message``,
``from`` (the sender id: alphanumeric or short code, per country) and ``bulkSMSMode=1``;
the key in the ``apiKey`` header and ``Accept: application/json``. The live host is
``https://api.africastalking.com``, the sandbox ``https://api.sandbox.africastalking.com``
(username ``sandbox``); both come from configuration (docs/notifications.md).

The answer is ``201 {"SMSMessageData": {"Message", "Recipients": [{"statusCode",
"number", "status", "cost", "messageId"}]}}``; one recipient per call here, so its entry
decides. Status codes (Africa's Talking's documentation):

=====  ======================  =====================================================
code   status                  what the platform does
=====  ======================  =====================================================
100    Processed               accepted ("queued")
101    Sent                    accepted ("sent")
102    Queued                  accepted ("queued")
401    RiskHold                permanent, provably unsent: another provider may try
402    InvalidSenderId         permanent, provably unsent (configuration): failover
403    InvalidPhoneNumber      permanent, the number itself: no failover
404    UnsupportedNumberType   permanent, the number itself: no failover
405    InsufficientBalance     temporary, provably unsent: failover
406    UserInBlacklist         permanent, the recipient opted out: no failover
407    CouldNotRoute           temporary, provably unsent: failover
409    DoNotDisturbRejection   permanent, the recipient's choice: no failover
500    InternalServerError     temporary, provably unsent: failover
501    GatewayError            temporary, provably unsent: failover
502    RejectedByGateway       temporary, provably unsent: failover
=====  ======================  =====================================================

Why not the ``africastalking`` package: it uses ``requests`` with a fixed timeout pair, no
connection reuse and exceptions without a status, and its base URL is not configurable;
the tests use it against the simulator to prove the simulator speaks the real wire format.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import httpx

from lightway.integration.notify.port import (
    NotifyNotConfigured,
    NotifyPermanentError,
    NotifyTemporaryError,
    SmsResult,
    is_loopback_host,
)

LIVE_URL = "https://api.africastalking.com"
SANDBOX_URL = "https://api.sandbox.africastalking.com"
PATH = "/version1/messaging"

ACCEPTED = {100: "queued", 101: "sent", 102: "queued"}
# code → (error code for the log, temporary?, recipient's fault?)
REFUSED: dict[int, tuple[str, bool, bool]] = {
    401: ("risk_hold", False, False),
    402: ("invalid_sender_id", False, False),
    403: ("invalid_number", False, True),
    404: ("unsupported_number_type", False, True),
    405: ("insufficient_balance", True, False),
    406: ("blacklisted", False, True),
    407: ("could_not_route", True, False),
    409: ("do_not_disturb", False, True),
    500: ("provider_internal_error", True, False),
    501: ("gateway_error", True, False),
    502: ("rejected_by_gateway", True, False),
}
_COST_RE = re.compile(r"([A-Z]{3})\s+([0-9]+(?:\.[0-9]+)?)")


def base_url_check(base_url: str, *, setting: str) -> str:
    """``base_url`` without its trailing slash: https, or http on a loopback host only."""
    parts = urlsplit(base_url)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise NotifyNotConfigured(f"{setting} must be an https:// URL", code="bad_configuration")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise NotifyNotConfigured(
            f"{setting} must use https:// (http:// is allowed for loopback hosts only)",
            code="bad_configuration",
        )
    return base_url.rstrip("/")


def form_post(
    client: httpx.Client, path: str, form: dict[str, str], *, provider: str
) -> httpx.Response:
    """POST a form to an SMS provider; transport failures become the port's errors: a
    connection never made is provably unsent, a timeout or a broken exchange is not (the
    provider may have taken the message)."""
    try:
        return client.post(path, data=form)
    except httpx.ConnectError:
        raise NotifyTemporaryError(
            f"{provider} unreachable (connect)", code="unreachable", unsent=True
        ) from None
    except httpx.TimeoutException:
        raise NotifyTemporaryError(f"{provider} timed out", code="timeout") from None
    except httpx.TransportError as exc:
        raise NotifyTemporaryError(
            f"{provider} unreachable ({type(exc).__name__})", code="unreachable"
        ) from None


def cost_parse(text: object) -> tuple[int | None, str]:
    """``"UGX 25.0000"`` → ``(25_000_000, "UGX")`` (millionths); anything else → None."""
    if not isinstance(text, str):
        return None, ""
    match = _COST_RE.fullmatch(text.strip())
    if match is None:
        return None, ""
    try:
        micros = Decimal(match.group(2)) * 1_000_000
    except InvalidOperation:
        return None, ""
    return int(micros), match.group(1)


class AfricasTalkingSmsGateway:
    """An :class:`~lightway.integration.notify.port.SmsGateway` for Africa's Talking."""

    name = "africastalking"

    def __init__(
        self,
        *,
        base_url: str,
        username: str,
        api_key: str,
        sender_ids: dict[str, str] | None = None,
        timeout_seconds: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not username or not api_key:
            raise NotifyNotConfigured(
                "Africa's Talking needs AFRICASTALKING_USERNAME and AFRICASTALKING_API_KEY",
                code="not_configured",
            )
        self.base_url = base_url_check(base_url, setting="AFRICASTALKING_BASE_URL")
        self.username = username
        self.sender_ids = dict(sender_ids or {})
        self._client = httpx.Client(
            base_url=self.base_url,
            headers={
                "apiKey": api_key,
                "Accept": "application/json",
                "User-Agent": "lightway-notify/1",
            },
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 5.0)),
            verify=True,
            follow_redirects=False,
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def sender_for(self, country: str) -> str | None:
        """The sender id for a country (ISO 3166 alpha-2), else the default ``*``, else
        none (the account's default sender)."""
        return self.sender_ids.get(country) or self.sender_ids.get("*") or None

    def send(self, *, to: str, text: str, reference: str, country: str = "") -> SmsResult:
        form = {"username": self.username, "to": to, "message": text, "bulkSMSMode": "1"}
        sender = self.sender_for(country)
        if sender:
            form["from"] = sender
        return self._result(form_post(self._client, PATH, form, provider="Africa's Talking"))

    def _result(self, response: httpx.Response) -> SmsResult:
        status = response.status_code
        if status in (401, 403):
            raise NotifyPermanentError(
                f"Africa's Talking refused the credentials ({status})",
                code="unauthorized",
                unsent=True,
            )
        if status == 429 or status >= 500:
            raise NotifyTemporaryError(
                f"Africa's Talking answered {status}", code=f"http_{status}", unsent=True
            )
        if status not in (200, 201):
            raise NotifyPermanentError(
                f"Africa's Talking refused the request ({status})",
                code=f"http_{status}",
                unsent=True,
            )
        recipient = _first_recipient(response)
        code = recipient.get("statusCode")
        if isinstance(code, int) and code in ACCEPTED:
            message_id = recipient.get("messageId")
            if not isinstance(message_id, str) or not message_id or message_id == "None":
                raise NotifyTemporaryError(
                    "Africa's Talking accepted the message without a message id",
                    code="bad_response",
                )
            micros, currency = cost_parse(recipient.get("cost"))
            return SmsResult(
                provider_id=message_id,
                status=ACCEPTED[code],
                cost_micros=micros,
                cost_currency=currency,
                provider=self.name,
            )
        name, temporary, recipient_fault = REFUSED.get(
            code if isinstance(code, int) else -1, ("refused", False, False)
        )
        error = NotifyTemporaryError if temporary else NotifyPermanentError
        raise error(
            f"Africa's Talking refused the message (statusCode {code} {name})",
            code=name,
            unsent=True,
            recipient_fault=recipient_fault,
        )


def _first_recipient(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
        recipients = body["SMSMessageData"]["Recipients"]
    except (ValueError, KeyError, TypeError):
        raise NotifyTemporaryError(
            f"Africa's Talking answered {response.status_code} without SMSMessageData",
            code="bad_response",
        ) from None
    if not isinstance(recipients, list) or not recipients or not isinstance(recipients[0], dict):
        # Africa's Talking answers an empty list when it refuses every number outright
        # (its Message then says why, e.g. "InvalidPhoneNumber")
        raise NotifyPermanentError(
            "Africa's Talking accepted no recipient",
            code="invalid_number",
            unsent=True,
            recipient_fault=True,
        )
    return recipients[0]
