"""SMS over an HTTP provider API (the simulator speaks the same API).

``POST {NOTIFY_BASE_URL}/v1/messages`` with JSON ``{to, text, sender, reference}`` and the
key in the ``X-API-Key`` header; the provider answers ``202 {"id", "status"}``. TLS
certificates are always verified; plain ``http://`` is accepted only for a loopback host
(the local simulator). Every call has explicit connect/read/write/pool timeouts.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

import httpx

from lightway.integration.notify.port import (
    NotifyNotConfigured,
    NotifyPermanentError,
    NotifyTemporaryError,
    SmsResult,
    is_loopback_host,
)

logger = logging.getLogger(__name__)

API_KEY_HEADER = "X-API-Key"
_CODE_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")


def _base_url_check(base_url: str) -> str:
    if not base_url:
        raise NotifyNotConfigured("SMS gateway not configured", code="not_configured")
    parts = urlsplit(base_url)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise NotifyNotConfigured(
            "NOTIFY_BASE_URL must be an https:// URL", code="bad_configuration"
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise NotifyNotConfigured(
            "NOTIFY_BASE_URL must use https:// (http:// is allowed for loopback hosts only)",
            code="bad_configuration",
        )
    return base_url.rstrip("/")


def _provider_code(response: httpx.Response) -> str:
    """The provider's error code (a short identifier), never its free-text message."""
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else error
    return code if isinstance(code, str) and _CODE_RE.fullmatch(code) else ""


class HttpSmsGateway:
    """An :class:`~lightway.integration.notify.port.SmsGateway` over HTTP (httpx)."""

    name = "lightway"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        sender: str,
        timeout_seconds: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = _base_url_check(base_url)
        self.sender = sender
        self._client = httpx.Client(
            base_url=self.base_url,
            headers={API_KEY_HEADER: api_key, "User-Agent": "lightway-notify/1"},
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 5.0)),
            verify=True,
            follow_redirects=False,
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def send(self, *, to: str, text: str, reference: str, country: str = "") -> SmsResult:
        payload = {"to": to, "text": text, "sender": self.sender, "reference": reference}
        try:
            response = self._client.post("/v1/messages", json=payload)
        except httpx.TimeoutException:
            raise NotifyTemporaryError("SMS provider timed out", code="timeout") from None
        except httpx.TransportError as exc:
            raise NotifyTemporaryError(
                f"SMS provider unreachable ({type(exc).__name__})", code="unreachable"
            ) from None
        status = response.status_code
        if status in (200, 201, 202):
            try:
                body = response.json()
                return SmsResult(provider_id=str(body["id"]), status=str(body.get("status", "")))
            except (ValueError, KeyError, TypeError):
                raise NotifyTemporaryError(
                    f"SMS provider answered {status} without a message id", code="bad_response"
                ) from None
        code = _provider_code(response)
        suffix = f" {code}" if code else ""
        if status == 429 or status >= 500:
            raise NotifyTemporaryError(
                f"SMS provider answered {status}{suffix}", code=code or f"http_{status}"
            )
        if status in (401, 403):
            raise NotifyPermanentError(
                f"SMS provider refused the API key ({status})", code="unauthorized"
            )
        raise NotifyPermanentError(
            f"SMS provider refused the message ({status}{suffix})", code=code or f"http_{status}"
        )
