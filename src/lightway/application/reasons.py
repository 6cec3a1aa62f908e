"""The reason staff give for a sensitive step (revealing personal data, freezing an
account): checked the same way wherever one is asked for, and kept in the audit record."""

from __future__ import annotations

from lightway.application.errors import ValidationFailed

MIN_REASON_LENGTH = 10
MAX_REASON_LENGTH = 300


def reason_clean(reason: str | None, *, purpose: str) -> str:
    """``reason`` with its white space folded. Refused (``ValidationFailed`` on the field
    ``reason``) when shorter than ``MIN_REASON_LENGTH`` characters (the message asks for a
    ticket number and ``purpose``) or longer than ``MAX_REASON_LENGTH``."""
    cleaned = " ".join((reason or "").split())
    if len(cleaned) < MIN_REASON_LENGTH:
        raise ValidationFailed(
            f"give a reason of at least {MIN_REASON_LENGTH} characters (a ticket number and "
            f"{purpose})",
            details={"field": "reason"},
        )
    if len(cleaned) > MAX_REASON_LENGTH:
        raise ValidationFailed(
            f"the reason must be at most {MAX_REASON_LENGTH} characters",
            details={"field": "reason"},
        )
    return cleaned
