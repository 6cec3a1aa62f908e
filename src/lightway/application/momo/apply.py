"""``momo_apply``: the one place where a MoMo outcome moves money.

Everything that learns an outcome (the submission's 409 read, a poll, a confirmed callback,
the sweep) ends here with a :class:`MomoResult` that came from a status read. In one
database transaction the request row is locked (``SELECT ... FOR UPDATE``); a request that
is already final is left alone. Otherwise:

- SUCCESSFUL: the amount and currency MoMo reports must be the request's (else the request
  is flagged for review and no money moves); the journal entry is posted with the
  idempotency key ``momo:<reference_id>`` (unique in the database) and the transfer id as
  reference; an outbound payment's hold is committed by that entry; request successful,
  transfer succeeded.
- FAILED: request failed with MoMo's reason (unknown codes kept verbatim), the hold voided,
  transfer failed with ``momo_<reason>``.
- either way, for a customer's own deposit, withdrawal or payout (not a partner's
  remittance), the customer is notified (``momo_payment_succeeded`` / ``_failed``, SMS and
  email per their preferences) in the same transaction: the message is queued exactly once,
  with the outcome, and never for a call that finds the request already final.
- anything else (PENDING, CREATED, unknown strings): still open; next status read scheduled.

A duplicate callback, a concurrent poll or a job retried after a worker died therefore
waits for the lock, finds the request final and does nothing; and even without the lock the
entry's unique key refuses a second posting.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction

from lightway.application.errors import DomainError
from lightway.application.momo.common import (
    CONFIG_PREFIX,
    amount_parse,
    count_outcome,
    customer_message,
    failure_code,
    fee_for,
    flag_review,
    log_fields,
    next_poll_at,
    poll_max,
)
from lightway.application.notifications.service import DEFAULT_LANGUAGE, LANGUAGES, notify
from lightway.application.payments.skeleton import RECEIVE_ENTRY_KEY, fee_legs, payment_audit
from lightway.application.remittances.outcome import (
    remittance_on_failure,
    remittance_on_success,
    remittance_payout_plan,
)
from lightway.application.transactions.commission import (
    FeeError,
    FeeQuote,
    commission_records_create,
)
from lightway.data.identity.models import Profile
from lightway.data.ledger.errors import HoldNotActive, LedgerError
from lightway.data.ledger.models import AccountKind, Hold, HoldStatus, JournalEntry
from lightway.data.ledger.services import Leg, entry_post, hold_commit, hold_void, house_account_id
from lightway.data.momo.models import MomoRequest, RequestStatus
from lightway.data.momo.services import (
    momo_request_lock,
    momo_request_save,
    momo_transfer_lock,
    momo_transfer_move,
)
from lightway.data.money import Money, currency
from lightway.data.wallets.models import Transfer, TransferKind, TransferStatus
from lightway.infrastructure.db import retry_transient
from lightway.integration.momo.port import MomoResult

logger = logging.getLogger("lightway.momo")


class _NeedsReview(Exception):
    """Raised inside the money transaction to roll it back and flag the request instead."""


def momo_apply(*, request_id: int, result: MomoResult, now: datetime) -> bool:
    """Apply a status read's result; True when this call gave the request its final
    outcome (money moved or the failure recorded), False otherwise (already final, still
    pending, or flagged for review)."""
    try:
        return retry_transient(lambda: _apply(request_id, result, now))
    except (LedgerError, DomainError) as exc:
        # Not expected (a ledger or fee refusal the checks above did not foresee): nothing
        # was written; keep the request open and tell an operator.
        logger.exception("momo apply refused", extra={"momo_request": request_id})
        _flag(request_id, f"could not apply {result.status}: {exc}", now)
        return False


def _flag(request_id: int, reason: str, now: datetime) -> None:
    with transaction.atomic():
        request = momo_request_lock(request_id=request_id)
        if request is not None and not request.terminal:
            flag_review(request, reason, now, next_check=now + poll_max())


def _apply(request_id: int, result: MomoResult, now: datetime) -> bool:
    with transaction.atomic():
        request = momo_request_lock(request_id=request_id)
        if request is None or request.terminal:
            return False
        if result.successful:
            return _succeed(request, result, now)
        if result.failed:
            reason = result.reason
            request_fail(
                request,
                code=reason.code if reason else "UNSPECIFIED",
                message=reason.message if reason else "",
                momo_status=result.status,
                now=now,
            )
            return True
        _still_open(request, result.status, now)
        return False


def _still_open(request: MomoRequest, momo_status: str, now: datetime) -> None:
    fields = ["momo_status", "next_check_at"]
    request.momo_status = momo_status[:24]
    if request.status == RequestStatus.NEW:
        # MoMo knows it (a callback or a 409 read got here before the 202 was recorded).
        request_accept(request, now)
        return
    request.next_check_at = next_poll_at(request, now)
    momo_request_save(request=request, fields=fields, now=now)


def request_accept(request: MomoRequest, now: datetime) -> None:
    """new → accepted for a locked request; its transfer goes pending."""
    request.status = RequestStatus.ACCEPTED
    request.accepted_at = now
    request.next_check_at = next_poll_at(request, now)
    fields = ["status", "accepted_at", "next_check_at", "momo_status"]
    if request.needs_review and request.last_error.startswith(CONFIG_PREFIX):
        request.needs_review = False  # the configuration problem is fixed: MoMo took it
        fields.append("needs_review")
    momo_request_save(request=request, fields=fields, now=now)
    if request.transfer_id:
        momo_transfer_move(transfer_id=request.transfer_id, status=TransferStatus.PENDING, now=now)


# --- success ---------------------------------------------------------------------------------


def _disagreement(request: MomoRequest, result: MomoResult) -> str:
    if result.currency is not None and result.currency.strip().upper() != request.currency:
        return f"currency {result.currency[:8]!r}, not {request.currency}"
    if result.amount is not None:
        reported = amount_parse(result.amount, request.currency)
        if reported != request.amount:
            return f"amount {result.amount[:24]!r}, not {request.amount} minor units"
    return ""


def _succeed(request: MomoRequest, result: MomoResult, now: datetime) -> bool:
    fin_id = (result.financial_transaction_id or "")[:64]
    problem = _disagreement(request, result)
    if problem:
        request.momo_status = result.status[:24]
        request.financial_transaction_id = fin_id
        momo_request_save(
            request=request, fields=["momo_status", "financial_transaction_id"], now=now
        )
        flag_review(
            request,
            f"MoMo reports SUCCESSFUL with {problem}: no money moved, reconcile by hand",
            now,
            next_check=now + poll_max(),
        )
        return False
    if request.transfer_id is None:
        raise LedgerError(f"momo request {request.pk} carries no transfer")
    transfer = momo_transfer_lock(transfer_id=request.transfer_id)
    try:
        with transaction.atomic():  # a savepoint: a review leaves no half-posted payment
            entry, fx_entry = _post(request, transfer, now)
    except _NeedsReview as exc:
        request.momo_status = result.status[:24]
        request.financial_transaction_id = fin_id
        momo_request_save(
            request=request, fields=["momo_status", "financial_transaction_id"], now=now
        )
        flag_review(request, str(exc), now, next_check=now + poll_max())
        return False
    request.status = RequestStatus.SUCCESSFUL
    request.momo_status = result.status[:24]
    request.financial_transaction_id = fin_id
    request.completed_at = now
    request.next_check_at = None
    request.reason_code = ""
    request.reason_message = ""
    momo_request_save(
        request=request,
        fields=[
            "status",
            "momo_status",
            "financial_transaction_id",
            "completed_at",
            "next_check_at",
            "reason_code",
            "reason_message",
        ],
        now=now,
    )
    if not momo_transfer_move(
        transfer_id=transfer.id, status=TransferStatus.SUCCEEDED, now=now, entry_id=entry.pk
    ):
        raise LedgerError(f"transfer {transfer.id} is {transfer.status}: cannot succeed it")
    if transfer.kind == TransferKind.REMITTANCE:
        remittance_on_success(transfer_id=transfer.id, fx_entry_id=fx_entry, now=now)
    _audit_transfer(transfer, TransferStatus.SUCCEEDED, now, entry=entry.pk, request=request)
    _notify_customer(transfer, request, now)
    count_outcome(request.operation, "successful")
    logger.info("momo request successful", extra=log_fields(request, entry=entry.pk))
    return True


def _legs(
    request: MomoRequest, transfer: Transfer, now: datetime
) -> tuple[list[Leg], str, FeeQuote, int | None]:
    """(legs, commission kind, fee quote, debited account) of a successful request."""
    if transfer.kind == TransferKind.REMITTANCE and request.hold_id is not None:
        held = Hold.objects.values_list("account_id", flat=True).get(pk=request.hold_id)
        plan = remittance_payout_plan(
            transfer=transfer, product=request.product, held_account=held, now=now
        )
        if plan is not None:
            if plan.fee.fee.amount != transfer.fee:
                raise FeeError(
                    f"remittance transfer {transfer.id} was priced {transfer.fee}, the schedule"
                    f" of its confirm now says {plan.fee.fee.amount}"
                )
            return plan.legs, plan.fee_kind, plan.fee, held
    code = transfer.currency
    money = Money(transfer.amount, currency(code))
    float_id = house_account_id(
        kind=AccountKind.MOMO_FLOAT, currency=code, now=now, owner_ref=request.product
    )
    # The fee is priced as it was when the customer asked (the schedule then in effect).
    fee_kind, quote = fee_for(transfer.kind, money, transfer.created_at)
    if quote.fee.amount != transfer.fee:
        raise FeeError(
            f"transfer {transfer.id} was priced {transfer.fee}, the schedule now says "
            f"{quote.fee.amount}"
        )
    if transfer.kind == TransferKind.DEPOSIT:
        if transfer.destination_wallet_id is None:
            raise LedgerError(f"deposit {transfer.id} has no wallet")
        wallet = transfer.destination_wallet.account_id  # type: ignore[union-attr]
        legs = [
            Leg(float_id, -transfer.amount, "principal"),
            Leg(wallet, transfer.amount, "principal"),
        ]
        return [*legs, *fee_legs(wallet, quote, code, now)], fee_kind, quote, None
    if request.hold_id is None:
        raise LedgerError(f"outbound momo request {request.pk} has no hold")
    held_account = Hold.objects.values_list("account_id", flat=True).get(pk=request.hold_id)
    legs = [
        Leg(held_account, -transfer.amount, "principal"),
        Leg(float_id, transfer.amount, "principal"),
    ]
    return [*legs, *fee_legs(held_account, quote, code, now)], fee_kind, quote, held_account


def _post(
    request: MomoRequest, transfer: Transfer, now: datetime
) -> tuple[JournalEntry, int | None]:
    """The payment's entry (committing its hold, if any) and, for a cross-currency
    remittance, the id of its receive-currency entry (keyed ``fx:<transfer id>``,
    ``RECEIVE_ENTRY_KEY``, as an exchange's: the one way to find a transfer's second entry,
    which settlement positions and ``ledger verify`` rely on)."""
    legs, fee_kind, quote, _held = _legs(request, transfer, now)
    key = f"momo:{request.reference_id}"
    reference = str(transfer.id)
    if request.hold_id is None:
        try:
            with transaction.atomic():
                entry = entry_post(
                    kind=transfer.kind,
                    currency=transfer.currency,
                    legs=legs,
                    now=now,
                    idempotency_key=key,
                    reference=reference,
                    description=f"MoMo {request.operation}",
                )
        except LedgerError as exc:
            # e.g. the wallet was frozen meanwhile: MoMo has the customer's money.
            raise _NeedsReview(
                f"MoMo collected the money but the wallet cannot be credited: {exc}"
            ) from exc
    else:
        try:
            with transaction.atomic():
                entry = hold_commit(
                    hold_id=request.hold_id,
                    kind=transfer.kind,
                    currency=transfer.currency,
                    legs=legs,
                    now=now,
                    idempotency_key=key,
                    reference=reference,
                )
        except HoldNotActive as exc:
            entry = _post_past_hold(request, transfer, legs, key, now, exc)
    if quote.fee.amount:
        commission_records_create(
            entry_id=entry.pk,
            reference=reference,
            kind=fee_kind,
            quote=quote,
            now=transfer.created_at,
        )
    fx_entry: int | None = None
    if request.currency != transfer.currency and transfer.kind == TransferKind.REMITTANCE:
        fx_entry = _post_fx(request, transfer, now)
    return entry, fx_entry


def _post_fx(request: MomoRequest, transfer: Transfer, now: datetime) -> int:
    """A cross-currency remittance's receive-currency entry: FX position -> MoMo float, the
    spread to FX revenue (``remittances.outcome.remittance_payout_plan``)."""
    assert request.hold_id is not None
    held = Hold.objects.values_list("account_id", flat=True).get(pk=request.hold_id)
    plan = remittance_payout_plan(
        transfer=transfer, product=request.product, held_account=held, now=now
    )
    if plan is None or plan.fx_currency != request.currency:
        raise LedgerError(f"momo request {request.pk} pays {request.currency}: no FX legs for it")
    try:
        with transaction.atomic():
            return entry_post(
                kind=transfer.kind,
                currency=plan.fx_currency,
                legs=plan.fx_legs,
                now=now,
                idempotency_key=RECEIVE_ENTRY_KEY.format(transfer_id=transfer.id),
                reference=str(transfer.id),
                description=f"MoMo {request.operation}: {plan.fx_currency} leg",
            ).pk
    except LedgerError as exc:
        raise _NeedsReview(f"MoMo paid but the FX entry cannot be posted: {exc}") from exc


def _post_past_hold(
    request: MomoRequest,
    transfer: Transfer,
    legs: list[Leg],
    key: str,
    now: datetime,
    why: HoldNotActive,
) -> JournalEntry:
    """MoMo paid, but the hold is gone (it expired before the outcome was known): debit the
    account directly if it still holds the money, else leave it to an operator."""
    logger.error(
        "momo success after its hold ended",
        extra=log_fields(request, hold=request.hold_id, reason=str(why)),
    )
    hold_id = request.hold_id
    assert hold_id is not None
    try:
        with transaction.atomic():
            if Hold.objects.filter(pk=hold_id, status=HoldStatus.ACTIVE).exists():
                hold_void(hold_id=hold_id, now=now)
            return entry_post(
                kind=transfer.kind,
                currency=transfer.currency,
                legs=legs,
                now=now,
                idempotency_key=key,
                reference=str(transfer.id),
                description=f"MoMo {request.operation} (hold had ended)",
            )
    except LedgerError as exc:
        raise _NeedsReview(
            f"MoMo paid but the hold had ended ({why}) and the account cannot be debited "
            f"({exc}): settle by hand"
        ) from exc


# --- failure -------------------------------------------------------------------------------


def request_fail(
    request: MomoRequest, *, code: str, message: str, momo_status: str, now: datetime
) -> None:
    """Give a locked, open request the outcome failed: void its hold, fail its transfer."""
    code = (code or "UNSPECIFIED").strip()[:64] or "UNSPECIFIED"
    request.status = RequestStatus.FAILED
    request.reason_code = code
    request.reason_message = (message or "")[:300]
    request.momo_status = (momo_status or "")[:24]
    request.completed_at = now
    request.next_check_at = None
    momo_request_save(
        request=request,
        fields=[
            "status",
            "reason_code",
            "reason_message",
            "momo_status",
            "completed_at",
            "next_check_at",
        ],
        now=now,
    )
    if request.hold_id is not None:
        try:
            with transaction.atomic():
                hold_void(hold_id=request.hold_id, now=now)
        except HoldNotActive:
            pass  # expired already: the funds are released either way
    if request.transfer_id is not None:
        transfer = momo_transfer_lock(transfer_id=request.transfer_id)
        moved = momo_transfer_move(
            transfer_id=transfer.id,
            status=TransferStatus.FAILED,
            now=now,
            failure_code=failure_code(code),
            failure_message=customer_message(code),
        )
        if moved:
            transfer.failure_code = failure_code(code)
            if transfer.kind == TransferKind.REMITTANCE:
                remittance_on_failure(transfer=transfer, code=code, now=now)
            _audit_transfer(transfer, TransferStatus.FAILED, now, request=request)
            _notify_customer(transfer, request, now, reason_code=code)
    count_outcome(request.operation, "failed", code)
    logger.info(
        "momo request failed", extra=log_fields(request, reason=code, momo_status=momo_status)
    )


# --- the customer's notification ----------------------------------------------------------

# A remittance's recipient is not our customer (the partner's client): no message.
NOTIFIED_KINDS = frozenset({TransferKind.DEPOSIT, TransferKind.WITHDRAWAL, TransferKind.PAYOUT})


def _notify_customer(
    transfer: Transfer, request: MomoRequest, now: datetime, *, reason_code: str | None = None
) -> None:
    """Queue the customer's "succeeded" / "failed" message (``reason_code`` given) for a
    transfer that has just become final, in the caller's transaction. A notification
    problem never undoes the outcome: it is logged and the message is lost."""
    if transfer.kind not in NOTIFIED_KINDS:
        return
    try:
        with transaction.atomic():  # a savepoint: a failure here leaves the outcome intact
            language = (
                Profile.objects.filter(user_id=transfer.client_id)
                .values_list("language", flat=True)
                .first()
            )
            language = language if language in LANGUAGES else DEFAULT_LANGUAGE
            context: dict[str, object] = {
                "kind": str(transfer.kind),
                "amount": Money(transfer.amount, currency(transfer.currency)).format(),
            }
            template = "momo_payment_succeeded"
            if reason_code is not None:
                template = "momo_payment_failed"
                context["reason"] = customer_message(reason_code, language)
            notify(
                template=template,
                context=context,
                user_id=transfer.client_id,
                language=language,
                channels=("sms", "email"),
                now=now,
            )
    except Exception:
        logger.exception(
            "momo outcome notification not queued", extra=log_fields(request, kind=transfer.kind)
        )


def _audit_transfer(
    transfer: Transfer,
    status: str,
    now: datetime,
    *,
    request: MomoRequest,
    entry: int | None = None,
) -> None:
    payment_audit(
        transfer,
        now,
        actor="system:momo",
        status=status,
        data={
            "entry": entry,
            "failure_code": transfer.failure_code if status == TransferStatus.FAILED else "",
            "reference_id": str(request.reference_id),
            "momo_reason": request.reason_code,
        },
    )
