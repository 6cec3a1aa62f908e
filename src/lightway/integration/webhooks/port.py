"""The port use cases deliver partner webhooks through, and what it answers.

``WebhookSender.post`` makes one attempt: it returns a :class:`WebhookResponse` whenever
the partner's server answered in time (any status: the caller decides that only a 2xx is
an acknowledgement), and raises :class:`WebhookSendError` otherwise, with an
``error_class`` the delivery log shows:

- ``invalid_url``: not an http(s) URL (nothing is sent);
- ``connect``: the connection could not be made (refused, DNS, unreachable);
- ``tls``: the TLS handshake or certificate check failed;
- ``timeout``: no complete answer within the timeout (connect, write or read);
- ``too_slow``: an answer came, but later than the timeout allows in total;
- ``protocol``: the server hung up or answered something that is not HTTP.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

ERROR_CLASSES = ("invalid_url", "connect", "tls", "timeout", "too_slow", "protocol")


@dataclass(frozen=True)
class WebhookResponse:
    status_code: int
    latency_ms: int
    snippet: str  # the start of the answer's body, bounded, decoded leniently


class WebhookSendError(Exception):
    def __init__(self, error_class: str, message: str, *, latency_ms: int = 0) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.message = message
        self.latency_ms = latency_ms


class WebhookSender(Protocol):
    def post(self, *, url: str, body: bytes, headers: Mapping[str, str]) -> WebhookResponse:
        """One POST of ``body`` to ``url``; see the module docstring."""
        ...


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_private_address(host: str | None) -> bool:
    """True for a literal IP address that is private, loopback, link-local, multicast,
    reserved or unspecified: not somewhere a partner's public endpoint lives."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return bool(
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )
