"""Typed domain errors. Interfaces map ``code`` to an HTTP status and one error shape."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.utils.translation import gettext

from lightway.data.ledger.errors import PostingsArchived

logger = logging.getLogger(__name__)


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, message: str, *, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ValidationFailed(DomainError):
    code = "validation_failed"


class RequestRefused(DomainError):
    """A request that matches the API's document but cannot be carried out as asked: its
    parts do not fit together (the same wallet on both sides, a wallet in another currency)
    or it asks for something this platform or this customer cannot do yet (a currency MoMo
    does not serve here, an unverified phone). Answered 422 with its own ``code``, never
    ``validation_failed``, which says the request does not match the document."""

    code = "request_refused"

    def __init__(self, code: str, message: str, *, details: dict[str, object] | None = None):
        super().__init__(message, details=details)
        self.code = code


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class TooManyRequests(DomainError):
    """A rate limit (per client address, phone number or user) is used up: 429 with
    ``details.retry_after_seconds``."""

    code = "too_many_requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            gettext("Too many requests. Try again in %(seconds)d s.") % {"seconds": retry_after},
            details={"retry_after_seconds": retry_after},
        )
        self.retry_after = retry_after


class IdempotencyConflict(Conflict):
    code = "idempotency_key_reused"


class PaymentRefused(DomainError):
    """The request was valid but the payment cannot be made (funds, limits, account state)."""

    code = "payment_refused"

    def __init__(self, code: str, message: str, *, details: dict[str, object] | None = None):
        super().__init__(message, details=details)
        self.code = code


class PeriodArchived(DomainError):
    """A statement or balance needs postings of an archived (detached) month: restore it
    first (``lightway archive restore --month``; docs/partitions.md). Answered 410."""

    code = "period_archived"


@contextmanager
def postings_archived_refused() -> Iterator[None]:
    """Turn the ledger's ``PostingsArchived`` into ``PeriodArchived`` (one error shape)."""
    try:
        yield
    except PostingsArchived as exc:
        # what the ledger says (account, posting id, the restore command) is for operations
        logger.info("statement refused: postings archived", extra={"month": exc.month})
        message = gettext(
            "The records of %(month)s are archived. Ask support to restore them to see this period."
        ) % {"month": exc.month}
        raise PeriodArchived(message, details={"month": exc.month}) from exc
