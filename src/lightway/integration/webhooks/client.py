"""The httpx webhook sender: one POST per attempt, within a hard time budget.

- Only ``http://`` and ``https://`` URLs are ever requested (anything else is refused
  before a socket is opened); redirects are not followed (a 3xx is an answer, not an
  acknowledgement); TLS certificates are always verified.
- ``timeout_seconds`` (5 by default) bounds connect, write and each read, and the whole
  attempt: an answer that completes later than that is ``too_slow``, whatever its status.
- The answer's body is read only up to ``SNIPPET_BYTES`` (for the delivery log), then the
  connection is dropped: a partner cannot make us read or keep a large or endless body.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx

from lightway.integration.webhooks.port import WebhookResponse, WebhookSendError

SNIPPET_BYTES = 1024
USER_AGENT = "LightWay-Webhooks/1"


def _ms(started: float) -> int:
    return max(0, int((time.monotonic() - started) * 1000))


def _is_tls_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class HttpWebhookSender:
    """A :class:`~lightway.integration.webhooks.port.WebhookSender` over httpx."""

    def __init__(
        self, *, timeout_seconds: float = 5.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.timeout_seconds = float(timeout_seconds)
        self._client = httpx.Client(
            timeout=httpx.Timeout(self.timeout_seconds),
            verify=True,
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment decides where webhooks go
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def post(self, *, url: str, body: bytes, headers: Mapping[str, str]) -> WebhookResponse:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise WebhookSendError("invalid_url", "the webhook URL is not an http(s) URL")
        started = time.monotonic()
        try:
            with self._client.stream("POST", url, content=body, headers=dict(headers)) as resp:
                chunks: list[bytes] = []
                size = 0
                for chunk in resp.iter_raw():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= SNIPPET_BYTES or time.monotonic() - started > self.timeout_seconds:
                        break
                status = resp.status_code
        except httpx.TimeoutException:
            raise WebhookSendError(
                "timeout",
                f"no answer within {self.timeout_seconds:g} s",
                latency_ms=_ms(started),
            ) from None
        except httpx.ConnectError as exc:
            kind = "tls" if _is_tls_error(exc) else "connect"
            message = "TLS handshake failed" if kind == "tls" else "could not connect"
            raise WebhookSendError(kind, message, latency_ms=_ms(started)) from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise WebhookSendError(
                "protocol", f"the connection broke ({type(exc).__name__})", latency_ms=_ms(started)
            ) from None
        except httpx.HTTPError as exc:
            raise WebhookSendError(
                "protocol", f"HTTP error ({type(exc).__name__})", latency_ms=_ms(started)
            ) from None
        latency = _ms(started)
        if latency > self.timeout_seconds * 1000:
            raise WebhookSendError(
                "too_slow",
                f"answered {status} after {latency} ms (limit {self.timeout_seconds:g} s)",
                latency_ms=latency,
            )
        snippet = b"".join(chunks)[:SNIPPET_BYTES].decode("utf-8", errors="replace")
        return WebhookResponse(status_code=status, latency_ms=latency, snippet=snippet)
