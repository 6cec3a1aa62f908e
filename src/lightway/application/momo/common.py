"""What the MoMo flow modules share: timing rules, the stored request as MoMo sees it,
reason codes and the messages customers get, fee quotes, audit and log fields.

Timing (all from settings, see docs/momo.md "Callbacks and the status sweep"):

- a create that failed transiently is retried with the same reference after
  ``submit_backoff(attempts)`` (5 s, 10 s, 20 s ... up to MOMO_POLL_MAX_SECONDS);
- an accepted request is read first MOMO_POLL_FIRST_SECONDS after acceptance, then at
  doubling intervals up to MOMO_POLL_MAX_SECONDS (``poll_interval(polls)``), never later than
  its deadline, so every request is looked at again by its deadline.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction

from lightway.application.transactions.commission import FeeQuote, fee_quote
from lightway.data.audit.services import audit_record
from lightway.data.commission.models import TransactionKind
from lightway.data.momo.models import MomoRequest
from lightway.data.momo.services import momo_request_save
from lightway.data.money import Money, currency
from lightway.infrastructure import metrics
from lightway.integration.momo.client import clean_message, requesttopay_body, transfer_body
from lightway.integration.momo.port import MomoTarget, Operation, Party
from lightway.security.crypto import decrypt

logger = logging.getLogger("lightway.momo")

ACTOR = "system:momo"
# Associated data of MomoRequest.party_ct (the model's contract).
PARTY_CONTEXT = "momo.party"
# A submission in progress keeps its request out of the sweep for MOMO_TIMEOUT_SECONDS plus
# this margin; a worker killed mid-submission is retried by the sweep after it. (A sweep that
# overtakes a slow submission is harmless: the same reference gets a 409 and is read.)
SUBMIT_LEASE_MARGIN_SECONDS = 10
# The sweep hands a due request to a job and leaves it alone this long meanwhile.
SWEEP_LEASE_SECONDS = 60
SUBMIT_BACKOFF_FIRST_SECONDS = 5
# needs_review reasons that an operator fixes in settings (cleared once MoMo accepts).
CONFIG_PREFIX = "configuration: "


def setting(name: str) -> int:
    return int(getattr(settings, name))


def submit_backoff(attempts: int) -> timedelta:
    """Wait before create attempt ``attempts + 1`` (after ``attempts`` transient failures)."""
    seconds = SUBMIT_BACKOFF_FIRST_SECONDS * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, setting("MOMO_POLL_MAX_SECONDS")))


def submit_lease() -> timedelta:
    return timedelta(seconds=setting("MOMO_TIMEOUT_SECONDS") + SUBMIT_LEASE_MARGIN_SECONDS)


def poll_interval(polls: int) -> timedelta:
    first = setting("MOMO_POLL_FIRST_SECONDS")
    cap = setting("MOMO_POLL_MAX_SECONDS")
    return timedelta(seconds=min(first * 2 ** min(polls, 20), cap))


def poll_max() -> timedelta:
    return timedelta(seconds=setting("MOMO_POLL_MAX_SECONDS"))


def not_found_grace() -> timedelta:
    return timedelta(seconds=setting("MOMO_NOT_FOUND_GRACE_SECONDS"))


def next_poll_at(request: MomoRequest, now: datetime) -> datetime:
    """When to read the status of an open request next: backing off, but by its deadline."""
    due = now + poll_interval(request.polls)
    if now < request.deadline_at:
        return min(due, request.deadline_at)
    return now + poll_max()


def deadline_for(operation: Operation, now: datetime) -> datetime:
    name = (
        "MOMO_COLLECTION_DEADLINE_SECONDS"
        if operation.spec.inbound
        else "MOMO_DISBURSEMENT_DEADLINE_SECONDS"
    )
    return now + timedelta(seconds=setting(name))


# --- the stored request as MoMo sees it ----------------------------------------------


def operation_of(request: MomoRequest) -> Operation:
    return Operation(request.operation)


def target_of(request: MomoRequest) -> MomoTarget:
    """Where the request was sent: status reads go to the same host and environment."""
    return MomoTarget(base_url=request.base_url, environment=request.target_environment)


def party_of(request: MomoRequest) -> str:
    """The payer/payee id (MSISDN digits), decrypted. Never log it."""
    return decrypt(bytes(request.party_ct), context=PARTY_CONTEXT)


def amount_text(amount: int, code: str) -> str:
    """Minor units as the decimal string MoMo wants ("1000", "12.50")."""
    return format(Money(amount, currency(code)).to_major(), "f")


def amount_parse(text: str, code: str) -> int | None:
    """MoMo's decimal amount in minor units, or None when it is not an exact amount."""
    try:
        value = Decimal(str(text).strip()) * (Decimal(10) ** currency(code).exponent)
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite() or value != value.to_integral_value():
        return None
    return int(value)


def request_body(request: MomoRequest) -> dict[str, Any]:
    """The JSON body of the create call, rebuilt from the stored row on every attempt."""
    spec = operation_of(request).spec
    party = Party(party_id=party_of(request), party_id_type=request.party_id_type)
    common: dict[str, Any] = {
        "amount": amount_text(request.amount, request.currency),
        "currency": request.currency,
        "external_id": request.external_id,
        "payer_message": request.payer_message,
        "payee_note": request.payee_note,
    }
    if spec.party_field == "payer":
        return requesttopay_body(payer=party, **common)
    return transfer_body(payee=party, **common)


def momo_text(value: str, fallback: str) -> str:
    """Free text MoMo accepts (§14.13): no apostrophe, ampersand, quotes or control
    characters, at most 160 characters."""
    return clean_message(value) or clean_message(fallback)


# --- reasons ---------------------------------------------------------------------------

# MoMo's documented reason codes (§8.2) and ours; anything else is counted as "other".
KNOWN_REASONS = frozenset(
    {
        "PAYEE_NOT_FOUND",
        "PAYER_NOT_FOUND",
        "NOT_ALLOWED",
        "NOT_ALLOWED_TARGET_ENVIRONMENT",
        "INVALID_CALLBACK_URL_HOST",
        "INVALID_CURRENCY",
        "SERVICE_UNAVAILABLE",
        "INTERNAL_PROCESSING_ERROR",
        "NOT_ENOUGH_FUNDS",
        "PAYER_LIMIT_REACHED",
        "PAYEE_NOT_ALLOWED_TO_RECEIVE",
        "PAYMENT_NOT_APPROVED",
        "RESOURCE_NOT_FOUND",
        "APPROVAL_REJECTED",
        "EXPIRED",
        "TRANSACTION_CANCELED",
        "RESOURCE_ALREADY_EXIST",
        "COULD_NOT_PERFORM_TRANSACTION",
        # ours: MoMo never had it / answered 404 after the grace period
        "NOT_CREATED",
        "NOT_FOUND",
        "UNSPECIFIED",
    }
)

# What a customer is told (the raw code stays on the request for staff).
_CUSTOMER_MESSAGES = {
    "APPROVAL_REJECTED": "The payment was declined on the phone.",
    "PAYMENT_NOT_APPROVED": "The payment was not approved on the phone.",
    "EXPIRED": "The payment was not approved in time.",
    "COULD_NOT_PERFORM_TRANSACTION": "The payment was not approved in time.",
    "PAYER_NOT_FOUND": "This phone number has no active MoMo account.",
    "PAYEE_NOT_FOUND": "This phone number has no active MoMo account.",
    "NOT_ENOUGH_FUNDS": "The MoMo account does not have enough money for this payment.",
    "PAYER_LIMIT_REACHED": "The MoMo account has reached its limit.",
    "PAYEE_NOT_ALLOWED_TO_RECEIVE": "This MoMo account cannot receive this payment.",
    "NOT_ALLOWED": "MoMo does not allow this payment for this account.",
}
GENERIC_MESSAGE = "MoMo could not complete the payment. No money was moved; you can try again."


def reason_label(code: str) -> str:
    return code if code in KNOWN_REASONS else "other"


def failure_code(reason_code: str) -> str:
    """The transfer's failure code: ``momo_`` + MoMo's reason in lower case."""
    slug = re.sub(r"[^a-z0-9]+", "_", (reason_code or "unspecified").lower()).strip("_")
    return f"momo_{slug or 'unspecified'}"[:64]


# The same, in French (customer notifications follow the customer's language).
_CUSTOMER_MESSAGES_FR = {
    "APPROVAL_REJECTED": "Le paiement a été refusé sur le téléphone.",
    "PAYMENT_NOT_APPROVED": "Le paiement n'a pas été approuvé sur le téléphone.",
    "EXPIRED": "Le paiement n'a pas été approuvé à temps.",
    "COULD_NOT_PERFORM_TRANSACTION": "Le paiement n'a pas été approuvé à temps.",
    "PAYER_NOT_FOUND": "Ce numéro n'a pas de compte MoMo actif.",
    "PAYEE_NOT_FOUND": "Ce numéro n'a pas de compte MoMo actif.",
    "NOT_ENOUGH_FUNDS": "Le compte MoMo n'a pas assez d'argent pour ce paiement.",
    "PAYER_LIMIT_REACHED": "Le compte MoMo a atteint sa limite.",
    "PAYEE_NOT_ALLOWED_TO_RECEIVE": "Ce compte MoMo ne peut pas recevoir ce paiement.",
    "NOT_ALLOWED": "MoMo n'autorise pas ce paiement pour ce compte.",
}
GENERIC_MESSAGE_FR = (
    "MoMo n'a pas pu effectuer le paiement. Aucun argent n'a été transféré ; vous pouvez réessayer."
)


def customer_message(reason_code: str, language: str = "en") -> str:
    """What the customer is told about a failure, in ``language`` ("en" or "fr")."""
    if language == "fr":
        return _CUSTOMER_MESSAGES_FR.get(reason_code, GENERIC_MESSAGE_FR)
    return _CUSTOMER_MESSAGES.get(reason_code, GENERIC_MESSAGE)


# --- fees ------------------------------------------------------------------------------


def fee_for(kind: str, amount: Money, now: datetime) -> tuple[str, FeeQuote]:
    """(commission kind, quote) of a MoMo transfer of ``kind`` priced at ``now``.

    Payouts use a PAYOUT schedule when one applies, else the WITHDRAWAL one (the same cash
    out to MoMo); remittance payouts carry no fee here (the partner's price is its own)."""
    if kind == TransactionKind.PAYOUT:
        quote = fee_quote(kind=TransactionKind.PAYOUT, amount=amount, now=now)
        if quote.schedule_id is not None:
            return TransactionKind.PAYOUT, quote
        return TransactionKind.WITHDRAWAL, fee_quote(
            kind=TransactionKind.WITHDRAWAL, amount=amount, now=now
        )
    if kind in (TransactionKind.DEPOSIT, TransactionKind.WITHDRAWAL):
        return kind, fee_quote(kind=kind, amount=amount, now=now)
    return kind, FeeQuote(fee=Money(0, amount.currency), schedule_id=None, splits=())


# --- audit, review flags, metrics, logs --------------------------------------------------


def log_fields(request: MomoRequest, **extra: object) -> dict[str, object]:
    """Structured log fields of a request: references only, never the party's number."""
    return {
        "momo_request": request.pk,
        "reference_id": str(request.reference_id),
        "transfer_id": str(request.transfer_id) if request.transfer_id else "",
        "operation": request.operation,
        "party": request.party_token,
        **extra,
    }


def audit_request(request: MomoRequest, action: str, now: datetime, **data: object) -> None:
    audit_record(
        actor=ACTOR,
        action=action,
        object_type="momo.request",
        object_id=str(request.reference_id),
        data={
            "transfer": str(request.transfer_id) if request.transfer_id else "",
            "operation": request.operation,
            "status": request.status,
            **data,
        },
        now=now,
    )


def flag_review(request: MomoRequest, reason: str, now: datetime, *, next_check: datetime) -> None:
    """Mark a locked, open request for an operator (audited once per reason), keep it open
    and look at it again at ``next_check``."""
    fields = ["next_check_at", "last_error"]
    first = not request.needs_review or request.last_error != reason[:300]
    request.needs_review = True
    request.last_error = reason[:300]
    request.next_check_at = next_check
    momo_request_save(request=request, fields=[*fields, "needs_review"], now=now)
    if first:
        audit_request(request, "momo.needs_review", now, reason=reason[:200])
        logger.error("momo request needs review", extra=log_fields(request, reason=reason))


def count_outcome(operation: str, status: str, reason: str = "") -> None:
    """Count a final outcome once the transaction that recorded it commits."""
    label = reason_label(reason) if reason else ""
    transaction.on_commit(
        metrics.momo_outcomes_total.labels(operation=operation, status=status, reason=label).inc
    )
