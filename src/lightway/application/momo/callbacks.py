"""MoMo callbacks: stored sealed first, then confirmed by a status read (reference note §10).

``callback_receive`` (the webhook view's one call) stores the body byte for byte but sealed
with the data keys (it carries the payer's or payee's number: ``callback_body`` opens it),
whatever it is (an unparseable body, nesting of any depth), and queues
``momo_callback_process`` in the same transaction; the view answers 200 at once. A callback
for a reference no request has, or beyond ``LIGHTWAY_MOMO_CALLBACKS_PER_REFERENCE`` for one
request, is not stored: it only counts in the refused-intake record (size and keyed digest).

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

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction

from lightway.application.datakeys.rotation import EncryptedColumn, encrypted_column_register
from lightway.application.intake import intake_reject
from lightway.application.momo.common import log_fields
from lightway.application.momo.status import read_and_apply
from lightway.data.intake.models import RejectionReason
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
    momo_callback_next_id,
    momo_callbacks_for_request,
    momo_request_count,
)
from lightway.infrastructure import metrics
from lightway.infrastructure.jobs import job_enqueue
from lightway.infrastructure.jsonsafe import json_loads_bounded
from lightway.integration.momo.port import MomoStatus
from lightway.security.crypto import seal, unseal

logger = logging.getLogger("lightway.momo")

CALLBACK_TASK = "momo_callback_process"
REFERENCE_MAX = 64
TERMINAL_CLAIMS = frozenset({MomoStatus.SUCCESSFUL.value, MomoStatus.FAILED.value})
SOURCE = "momo"
DEFAULT_CALLBACKS_PER_REFERENCE = 10


def callback_context(callback_id: int) -> str:
    return f"momo.callback.body:{callback_id}"


# Key rotation (``lightway keys rotate``) re-seals the callback bodies too.
encrypted_column_register(
    EncryptedColumn(
        "momo.MomoCallback", "body", lambda row: callback_context(row.pk), seals_clear=True
    )
)


def callback_body(callback: MomoCallback) -> bytes:
    """The body as MoMo (or whoever) sent it, opened from its sealed column."""
    return unseal(bytes(callback.body), context=callback_context(callback.pk))


def callbacks_per_reference() -> int:
    return int(
        getattr(settings, "LIGHTWAY_MOMO_CALLBACKS_PER_REFERENCE", DEFAULT_CALLBACKS_PER_REFERENCE)
    )


def _payload(body: bytes) -> dict[str, Any] | None:
    try:
        data = json_loads_bounded(bytes(body))
    except ValueError:  # not JSON, not UTF-8, nested too deep, a number too long
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
) -> MomoCallback | None:
    """Store one callback, its body sealed, and queue its processing (one transaction).
    None when it was refused (unknown reference, or the request has its callbacks already):
    then only its size and keyed digest are counted."""
    parsed = reference_parse(str(reference_id or "")[:REFERENCE_MAX])
    reference = _text(reference_id, REFERENCE_MAX)
    request_id = (
        MomoRequest.objects.filter(reference_id=parsed).values_list("id", flat=True).first()
        if parsed is not None
        else None
    )
    cap = callbacks_per_reference()
    refused = ""
    if request_id is None:
        refused = RejectionReason.UNKNOWN_REFERENCE
    elif momo_callbacks_for_request(request_id=request_id, limit=cap) >= cap:
        refused = RejectionReason.TOO_MANY_CALLBACKS
    if refused:
        intake_reject(source=SOURCE, reason=refused, body=body, now=now)
        return None
    with transaction.atomic():
        callback_id = momo_callback_next_id()
        callback = momo_callback_insert(
            id=callback_id,
            reference_id=reference,
            request_id=request_id,
            method=_text(method, 8).upper(),
            content_type=_text(content_type, 120),
            body=seal(bytes(body), context=callback_context(callback_id)),
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
    payload = _payload(callback_body(callback))
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
