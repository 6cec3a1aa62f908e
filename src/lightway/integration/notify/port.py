"""The ports the application sends notifications through, and their typed errors.

A sender either returns a result or raises one of two errors, which decide what the
application does next:

- :class:`NotifyTemporaryError` — worth trying again later (timeouts, connection failures,
  HTTP 5xx and 429, SMTP 4xx replies);
- :class:`NotifyPermanentError` — trying again cannot help (an invalid number, a refused
  API key, an SMTP 5xx reply, a sender that is not configured).

Error messages never contain the recipient, the message text or a provider's response
body: they are stored in the delivery log and logged as they are.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Protocol


class NotifyError(Exception):
    """A notification could not be handed to its provider."""

    retryable = False

    def __init__(self, message: str, *, code: str = "error") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class NotifyTemporaryError(NotifyError):
    """Timeouts, connection failures, HTTP 5xx/429, SMTP 4xx: try again later."""

    retryable = True


class NotifyPermanentError(NotifyError):
    """Invalid recipient, refused credentials, SMTP 5xx, not configured: do not retry."""


class NotifyNotConfigured(NotifyPermanentError):
    """The channel has no provider configured (e.g. NOTIFY_BASE_URL is empty)."""


@dataclass(frozen=True)
class SmsResult:
    provider_id: str
    status: str


@dataclass(frozen=True)
class EmailResult:
    provider_id: str  # the Message-ID we sent
    status: str = "accepted"


class SmsGateway(Protocol):
    def send(self, *, to: str, text: str, reference: str) -> SmsResult:
        """Hand one SMS to the provider; ``reference`` is stable across retries of the
        same delivery so that a provider can drop a duplicate."""
        ...


class EmailSender(Protocol):
    def send(self, *, to: str, subject: str, text: str, reference: str) -> EmailResult:
        """Send one plain-text email; ``reference`` becomes part of its Message-ID."""
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
