"""MoMo callbacks: stored raw first, then confirmed by a status read (reference note §10).

``callback_receive`` (the webhook view's one call) stores the body exactly as received,
whatever it is (unknown reference, unparseable body), and queues
``momo_callback_process`` in the same transaction; the view answers 200 at once.

``callback_process`` never trusts the body (callbacks are unsigned): it reads the
request's status from MoMo and applies *that* through ``momo_apply``. Its outcome on the
callback row:

- ``unknown``: no request has that reference;
- ``duplicate``: the request was already final (a repeated or late callback);
- ``applied``: the status read was final and applied by this callback;
- ``pending``: the status read says not final yet (or MoMo could not be read: the sweep
  reads it again soon);
- ``mismatch``: the callback claimed a final status the status read contradicts;
- ``invalid``: the body is not a JSON object; the request's status is still read when the
  reference is known.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from django.db import transaction

from lightway.application.momo.common import log_fields
from lightway.application.momo.status import read_and_apply
from lightway.data.momo.models import CallbackOutcome, MomoCallback, MomoRequest
from lightway.data.momo.selectors import (
    momo_request_by_reference,
    momo_request_get,
    reference_parse,
)
from lightway.data.momo.services import (
    momo_callback_finish,
    momo_callback_insert,
    momo_callback_lock,
    momo_request_count,
)
from lightway.infrastructure import metrics
from lightway.infrastructure.jobs import job_enqueue
from lightway.integration.momo.port import MomoStatus

logger = logging.getLogger("lightway.momo")

CALLBACK_TASK = "momo_callback_process"
REFERENCE_MAX = 64
TERMINAL_CLAIMS = frozenset({MomoStatus.SUCCESSFUL.value, MomoStatus.FAILED.value})


def _payload(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(bytes(body).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _text(value: object, limit: int) -> str:
    """``value`` as text PostgreSQL can store (a NUL byte becomes U+FFFD), at most ``limit``
    characters: whatever the caller put in the URL, headers or body, the callback is stored."""
    return str(value or "").replace("\x00", "\ufffd")[:limit]


def _claimed(payload: dict[str, Any] | None) -> str:
    if payload is None:
        return ""
    return _text(str(payload.get("status") or "").strip().upper(), 24)


def callback_receive(
    *,
    reference_id: str,
    method: str,
    body: bytes,
    content_type: str,
    remote_addr: str,
    now: datetime,
) -> MomoCallback:
    """Store one callback as received and queue its processing (one transaction)."""
    parsed = reference_parse(str(reference_id or "")[:REFERENCE_MAX])
    reference = _text(reference_id, REFERENCE_MAX)
    request_id = (
        MomoRequest.objects.filter(reference_id=parsed).values_list("id", flat=True).first()
        if parsed is not None
        else None
    )
    with transaction.atomic():
        callback = momo_callback_insert(
            reference_id=reference,
            request_id=request_id,
            method=_text(method, 8).upper(),
            content_type=_text(content_type, 120),
            body=bytes(body),
            remote_addr=_text(remote_addr, 64),
            claimed_status=_claimed(_payload(body)),
            now=now,
        )
        job_enqueue(CALLBACK_TASK, callback_id=callback.pk)
    logger.info(
        "momo callback received",
        extra={
            "callback": callback.pk,
            "reference_id": reference,
            "momo_request": request_id,
            "bytes": len(body),
        },
    )
    return callback


def callback_process(*, callback_id: int, now: datetime) -> str:
    """Confirm one stored callback with a status read and apply it (idempotent: a
    processed callback is left alone). Returns the callback's outcome."""
    callback = MomoCallback.objects.filter(pk=callback_id).first()
    if callback is None:
        return "missing"
    if callback.outcome != CallbackOutcome.RECEIVED:
        return str(callback.outcome)
    payload = _payload(bytes(callback.body))
    claimed = _claimed(payload)
    request = momo_request_by_reference(reference_id=callback.reference_id)
    outcome: str
    if request is None:
        outcome = CallbackOutcome.UNKNOWN_REFERENCE
    else:
        momo_request_count(request_id=request.pk, field="callbacks", now=now)
        outcome = _confirm(request, payload is not None, claimed, now)
    finished = _finish(callback_id, outcome, request.pk if request else None, now)
    if finished:
        extra: dict[str, object] = {"callback": callback_id, "outcome": str(outcome)}
        if request is not None:
            extra = log_fields(request, **extra)
        logger.info("momo callback processed", extra=extra)
    return str(outcome)


def _confirm(request: MomoRequest, parsed: bool, claimed: str, now: datetime) -> str:
    if request.terminal:
        return CallbackOutcome.INVALID if not parsed else CallbackOutcome.DUPLICATE
    result = read_and_apply(request=request, now=now)
    if not parsed:
        return CallbackOutcome.INVALID
    if result is None:
        return CallbackOutcome.STILL_PENDING
    if claimed in TERMINAL_CLAIMS and claimed != result.status:
        logger.warning(
            "momo callback contradicts the status read",
            extra=log_fields(request, claimed=claimed, read=result.status),
        )
        return CallbackOutcome.MISMATCH
    if result.terminal:
        current = momo_request_get(request_id=request.pk)
        if current is not None and current.terminal:
            return CallbackOutcome.APPLIED
        return CallbackOutcome.STILL_PENDING  # flagged for review: money not moved
    return CallbackOutcome.STILL_PENDING


def _finish(callback_id: int, outcome: str, request_id: int | None, now: datetime) -> bool:
    with transaction.atomic():
        callback = momo_callback_lock(callback_id=callback_id)
        if callback is None or callback.outcome != CallbackOutcome.RECEIVED:
            return False  # processed concurrently (a retried job)
        momo_callback_finish(callback=callback, outcome=outcome, request_id=request_id, now=now)
        transaction.on_commit(metrics.momo_callbacks_total.labels(outcome=str(outcome)).inc)
    return True
