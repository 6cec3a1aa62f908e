"""Talking to MoMo about one request: ``momo_submit`` (the create call) and ``momo_poll``
(a status read). Neither holds a database transaction open across an HTTP call: each
claims or re-reads the row in a short transaction, calls MoMo, then records the answer in
another short transaction guarded by the row's status, and every outcome goes through
:func:`lightway.application.momo.apply.momo_apply`.

Submission (reference note §14.3): the ``X-Reference-Id`` was stored with the request
before the first call and is sent on every retry. 202 → accepted (first status read
MOMO_POLL_FIRST_SECONDS later). 409 → MoMo already has it (an earlier attempt whose answer
was lost): accepted, and its status is read at once. A definite refusal → failed, hold
voided (nothing exists at MoMo). A timeout, 5xx or 429 → still ``new``, retried with the
same reference after a back-off; after MOMO_SUBMIT_MAX_ATTEMPTS attempts the request is only
ever *read*: found → accepted (or its outcome); 404 for MOMO_NOT_FOUND_GRACE_SECONDS after
the last attempt → failed ``NOT_CREATED``. A configuration error (subscription key, API
user, target environment, callback host) never fails a payment: the request stays ``new``,
flagged for review, and is tried again every MOMO_POLL_MAX_SECONDS until an operator fixes
the settings.

Status reads: 404 within the grace period after acceptance → still pending (§14.5); 404
after it → a collection failed ``NOT_FOUND`` (the customer was never asked), an outbound
payment flagged for review (it must not be re-sent: that could pay twice). Past its
deadline a collection still pending fails ``EXPIRED`` (the customer never approved); an
outbound payment still pending is flagged for review and polled every
MOMO_POLL_MAX_SECONDS, never failed (MoMo may still pay it, §14.6).
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction

from lightway.application.momo.apply import momo_apply, request_accept, request_fail
from lightway.application.momo.common import (
    CONFIG_PREFIX,
    flag_review,
    log_fields,
    next_poll_at,
    not_found_grace,
    operation_of,
    poll_max,
    request_body,
    setting,
    submit_backoff,
    submit_lease,
    target_of,
)
from lightway.application.momo.gateway import callback_url, momo_gateway
from lightway.application.remittances.outcome import PARTNER_SUSPENDED, remittance_on_submit
from lightway.data.momo.models import MomoRequest, RequestStatus
from lightway.data.momo.selectors import momo_request_get
from lightway.data.momo.services import momo_request_count, momo_request_lock, momo_request_save
from lightway.integration.momo.port import (
    MomoAuthError,
    MomoConfigError,
    MomoDuplicate,
    MomoError,
    MomoNotFound,
    MomoRejected,
    MomoResult,
    Operation,
)

logger = logging.getLogger("lightway.momo")

# What momo_submit / momo_poll did (task results, logs, tests).
SKIPPED = "skipped"
ACCEPTED = "accepted"
FINAL = "final"
FAILED = "failed"
RETRY = "retry"
PENDING = "pending"
REVIEW = "review"


def _is_config(exc: MomoError) -> bool:
    return isinstance(exc, (MomoConfigError, MomoAuthError))


# --- submission ----------------------------------------------------------------------------


def momo_submit(*, request_id: int, now: datetime) -> str:
    """Send (or re-send, same reference) a ``new`` request to MoMo; see the module doc."""
    claimed = _claim(request_id, now)
    if claimed is None:
        return SKIPPED
    request, read_only = claimed
    if read_only:
        return _read_unconfirmed(request, now)
    try:
        momo_gateway().create(
            operation_of(request),
            reference_id=request.reference_id,
            body=request_body(request),
            target=target_of(request),
            callback_url=callback_url(request.reference_id),
        )
    except MomoDuplicate:
        logger.info("momo create answered 409: already at MoMo", extra=log_fields(request))
        _accepted(request_id, now)
        return momo_poll(request_id=request_id, now=now)
    except MomoRejected as exc:
        _fail_new(request_id, exc.code or "REQUEST_REJECTED", str(exc), now)
        return FAILED
    except MomoError as exc:
        if _is_config(exc):
            _config_problem(request_id, exc, now, refund_attempt=True)
            return REVIEW
        _retry_later(request_id, exc, now)
        return RETRY
    _accepted(request_id, now)
    return ACCEPTED


def _claim(request_id: int, now: datetime) -> tuple[MomoRequest, bool] | None:
    """Lock a ``new`` request (skipping one another worker holds), count the attempt and
    lease it from the sweep; (request, read_only) where read_only means the create attempts
    are used up and MoMo may only be asked what it has."""
    with transaction.atomic():
        request = momo_request_lock(request_id=request_id, skip_locked=True)
        if request is None or request.status != RequestStatus.NEW:
            return None
        read_only = request.attempts >= setting("MOMO_SUBMIT_MAX_ATTEMPTS")
        if request.attempts == 0 and not _may_send(request, now):
            return None
        if read_only:
            request.polls += 1
            request.next_check_at = now + submit_lease()
            momo_request_save(request=request, fields=["polls", "next_check_at"], now=now)
        else:
            request.attempts += 1
            request.submitted_at = now  # the latest attempt (the 404 grace counts from it)
            request.next_check_at = now + submit_lease() + submit_backoff(request.attempts)
            momo_request_save(
                request=request, fields=["attempts", "submitted_at", "next_check_at"], now=now
            )
        return request, read_only


def _may_send(request: MomoRequest, now: datetime) -> bool:
    """Before a payout's first send (nothing of it can be at MoMo yet): a partner's
    remittance goes SUBMITTED, or, when the partner was suspended meanwhile, is not sent at
    all (failed ``PARTNER_SUSPENDED``: its hold voided, the remittance cancelled)."""
    if request.operation != Operation.REMITTANCE_TRANSFER or request.transfer_id is None:
        return True
    if remittance_on_submit(transfer_id=request.transfer_id, now=now):
        return True
    request_fail(
        request,
        code=PARTNER_SUSPENDED,
        message="the partner was suspended before the payout was sent",
        momo_status="",
        now=now,
    )
    return False


def _accepted(request_id: int, now: datetime) -> None:
    with transaction.atomic():
        request = momo_request_lock(request_id=request_id)
        if request is None or request.status != RequestStatus.NEW:
            return  # a callback or a poll recorded it first
        request_accept(request, now)
        request.last_error = ""
        momo_request_save(request=request, fields=["last_error"], now=now)
    logger.info("momo request accepted", extra=log_fields(request))


def _fail_new(request_id: int, code: str, message: str, now: datetime) -> None:
    with transaction.atomic():
        request = momo_request_lock(request_id=request_id)
        if request is None or request.status != RequestStatus.NEW:
            return
        request_fail(request, code=code, message=message, momo_status="", now=now)


def _config_problem(
    request_id: int, exc: MomoError, now: datetime, *, refund_attempt: bool = False
) -> None:
    """Our settings are wrong: nothing reached MoMo as a payment. Flag, retry later."""
    with transaction.atomic():
        request = momo_request_lock(request_id=request_id)
        if request is None or request.terminal:
            return
        if refund_attempt and request.attempts > 0:
            request.attempts -= 1  # not an attempt at MoMo: keep the retries for real ones
            momo_request_save(request=request, fields=["attempts"], now=now)
        flag_review(request, f"{CONFIG_PREFIX}{exc}", now, next_check=now + poll_max())
    logger.error(
        "MoMo configuration error: fix the MOMO_* settings",
        extra=log_fields(request, code=exc.code, http_status=exc.http_status, error=str(exc)),
    )


def _retry_later(request_id: int, exc: MomoError, now: datetime) -> None:
    with transaction.atomic():
        request = momo_request_lock(request_id=request_id)
        if request is None or request.status != RequestStatus.NEW:
            return
        request.last_error = str(exc)[:300]
        request.next_check_at = now + submit_backoff(request.attempts)
        momo_request_save(request=request, fields=["last_error", "next_check_at"], now=now)
        if now >= request.deadline_at and not request.needs_review:
            flag_review(
                request,
                f"not accepted by MoMo by its deadline: {exc}",
                now,
                next_check=request.next_check_at,
            )
    logger.warning(
        "momo create failed; will retry with the same reference",
        extra=log_fields(request, attempts=request.attempts, code=exc.code),
    )


def _read_unconfirmed(request: MomoRequest, now: datetime) -> str:
    """Create attempts used up and none answered: ask MoMo whether it has the request."""
    try:
        result = _status(request)
    except MomoNotFound:
        last = request.submitted_at or request.created_at
        if now - last >= not_found_grace():
            _fail_new(
                request.pk,
                "NOT_CREATED",
                f"MoMo has no record of it after {request.attempts} attempts",
                now,
            )
            return FAILED
        _reschedule(request.pk, last + not_found_grace(), now, "not visible at MoMo yet")
        return PENDING
    except MomoError as exc:
        if _is_config(exc):
            _config_problem(request.pk, exc, now)
            return REVIEW
        _retry_later(request.pk, exc, now)  # flags it once past its deadline
        return RETRY
    return _record(request, result, now)


# --- status reads -------------------------------------------------------------------------


def _status(request: MomoRequest) -> MomoResult:
    return momo_gateway().status(
        operation_of(request), reference_id=request.reference_id, target=target_of(request)
    )


def momo_poll(*, request_id: int, now: datetime) -> str:
    """Read an accepted request's status at MoMo and apply it (a ``new`` one is submitted)."""
    request = momo_request_get(request_id=request_id)
    if request is None or request.terminal:
        return FINAL
    if request.status == RequestStatus.NEW:
        return momo_submit(request_id=request_id, now=now)
    momo_request_count(request_id=request_id, field="polls", now=now)
    request.polls += 1
    try:
        result = _status(request)
    except MomoNotFound:
        return _not_found(request, now)
    except MomoError as exc:
        if _is_config(exc):
            _config_problem(request.pk, exc, now)
            return REVIEW
        _reschedule(request.pk, next_poll_at(request, now), now, str(exc))
        return _past_deadline(request_id, now, read=False) or RETRY
    return _record(request, result, now)


def read_and_apply(*, request: MomoRequest, now: datetime) -> MomoResult | None:
    """A status read applied (callback processing); None when MoMo could not be read (the
    request is rescheduled so the sweep reads it again soon)."""
    momo_request_count(request_id=request.pk, field="polls", now=now)
    try:
        result = _status(request)
    except MomoNotFound:
        _not_found(request, now)
        return None
    except MomoError as exc:
        if _is_config(exc):
            _config_problem(request.pk, exc, now)
        else:
            _reschedule(request.pk, now + submit_backoff(1), now, str(exc))
        return None
    momo_apply(request_id=request.pk, result=result, now=now)
    return result


def _record(request: MomoRequest, result: MomoResult, now: datetime) -> str:
    if momo_apply(request_id=request.pk, result=result, now=now):
        return FINAL
    if result.terminal:
        # Final already (a callback or another poll applied it), or flagged for review.
        current = momo_request_get(request_id=request.pk)
        return FINAL if current is None or current.terminal else REVIEW
    return _past_deadline(request.pk, now, read=True) or PENDING


def _not_found(request: MomoRequest, now: datetime) -> str:
    since = request.accepted_at or request.submitted_at or request.created_at
    if now - since < not_found_grace():
        # Just accepted: MoMo's read side may not see it yet (§14.5).
        _reschedule(request.pk, since + not_found_grace(), now, "404 just after acceptance")
        return PENDING
    if operation_of(request).spec.inbound:
        with transaction.atomic():
            locked = momo_request_lock(request_id=request.pk)
            if locked is None or locked.terminal:
                return FINAL
            request_fail(
                locked,
                code="NOT_FOUND",
                message="MoMo answers 404 for this request-to-pay: the customer was never asked",
                momo_status=locked.momo_status,
                now=now,
            )
        return FAILED
    with transaction.atomic():
        locked = momo_request_lock(request_id=request.pk)
        if locked is None or locked.terminal:
            return FINAL
        flag_review(
            locked,
            "MoMo answers 404 for an accepted outbound payment: never re-sent (it could pay "
            "twice); reconcile",
            now,
            next_check=now + poll_max(),
        )
    return REVIEW


def _past_deadline(request_id: int, now: datetime, *, read: bool) -> str | None:
    """After a status read (``read``) or a failed one: act on a request past its deadline
    that is still open. None when nothing applied."""
    with transaction.atomic():
        request = momo_request_lock(request_id=request_id)
        if request is None or request.terminal or now < request.deadline_at:
            return None
        inbound = operation_of(request).spec.inbound
        if inbound and read and request.status == RequestStatus.ACCEPTED:
            request_fail(
                request,
                code="EXPIRED",
                message=(
                    f"still {request.momo_status or 'PENDING'} at MoMo past the deadline: "
                    "the customer never approved"
                ),
                momo_status=request.momo_status,
                now=now,
            )
            return FAILED
        reason = (
            f"still {request.momo_status or 'unconfirmed'} at MoMo past its deadline"
            if read
            else "MoMo could not be read past the deadline"
        )
        if not inbound and read:
            reason += ": never failed automatically (MoMo may still pay); reconcile"
        flag_review(request, reason, now, next_check=now + poll_max())
        return REVIEW


def _reschedule(request_id: int, when: datetime, now: datetime, note: str) -> None:
    with transaction.atomic():
        request = momo_request_lock(request_id=request_id)
        if request is None or request.terminal:
            return
        request.next_check_at = when
        request.last_error = note[:300]
        momo_request_save(request=request, fields=["next_check_at", "last_error"], now=now)
