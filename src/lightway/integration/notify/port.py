"""The ports the application sends notifications through, and their typed errors.

A sender either returns a result or raises one of two errors, which decide what the
application does next:

- :class:`NotifyTemporaryError` — worth trying again later (timeouts, connection failures,
  HTTP 5xx and 429, SMTP 4xx replies);
- :class:`NotifyPermanentError` — trying again cannot help (an invalid number, a refused
  API key, an SMTP 5xx reply, a sender that is not configured).

Error messages never contain the recipient, the message text or a provider's response
body: they are stored in the delivery log and logged as they are.

An SMS error also says whether the message **provably did not leave** through that
provider (``unsent``): the provider answered with a refusal, or could not be reached at
all. Only then may the platform try another provider with the same one-time code; after a
timeout nobody knows, and the code must not go out twice (issue 15). ``recipient_fault``
marks refusals about the number itself (invalid, blacklisted, not a mobile), which no other
provider can fix either.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Protocol


class NotifyError(Exception):
    """A notification could not be handed to its provider."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        code: str = "error",
        unsent: bool = False,
        recipient_fault: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.unsent = unsent  # the provider provably did not take the message
        self.recipient_fault = recipient_fault  # the number itself was refused


class NotifyTemporaryError(NotifyError):
    """Timeouts, connection failures, HTTP 5xx/429, SMTP 4xx: try again later."""

    retryable = True


class NotifyPermanentError(NotifyError):
    """Invalid recipient, refused credentials, SMTP 5xx, not configured: do not retry."""


class NotifyNotConfigured(NotifyPermanentError):
    """The channel has no provider configured (e.g. no SMS provider for a country)."""


@dataclass(frozen=True)
class SmsResult:
    provider_id: str
    status: str
    # what the provider says the message cost, in millionths of ``cost_currency``'s major
    # unit (Africa's Talking reports "UGX 25.0000", Twilio a price once known)
    cost_micros: int | None = None
    cost_currency: str = ""
    provider: str = ""  # the provider's name in the routing table ("africastalking", ...)


@dataclass(frozen=True)
class EmailResult:
    provider_id: str  # the Message-ID we sent
    status: str = "accepted"


class SmsGateway(Protocol):
    name: str

    def send(self, *, to: str, text: str, reference: str, country: str = "") -> SmsResult:
        """Hand one SMS to the provider; ``reference`` is stable across retries of the
        same delivery so that a provider can drop a duplicate; ``country`` (ISO 3166
        alpha-2 of the number) picks the sender id."""
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
