"""The MoMo status sweep (periodic task ``momo_sweep``, every ~10 s).

Callbacks are hints that may never come (reference note §14.1), so the request rows are
the source of truth: every open request (``new`` or ``accepted``) has a ``next_check_at``
and the sweep hands each due one to a job: ``momo_submit`` for a ``new`` request (a
retry after a transient error, or a worker killed before or during its submission),
``momo_poll`` for an accepted one. The rows are taken ``FOR UPDATE SKIP LOCKED`` in batches
of MOMO_SWEEP_BATCH, so several sweeps never hand out the same request, and each is leased
(``next_check_at`` moved SWEEP_LEASE_SECONDS on) while its job waits; one queueing lock per
request keeps at most one of its jobs waiting. Deadlines are acted on by the poll itself
(see ``status.py``), and ``next_check_at`` is never later than the deadline, so every
request is final or flagged for review within its deadline plus one sweep.

Callbacks whose processing job was lost or failed are queued again (within a day).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction

from lightway.application.momo.callbacks import CALLBACK_TASK
from lightway.application.momo.common import SWEEP_LEASE_SECONDS, setting
from lightway.data.momo.models import RequestStatus
from lightway.data.momo.selectors import momo_callbacks_stale
from lightway.data.momo.services import momo_requests_due_lock, momo_requests_postpone
from lightway.infrastructure.jobs import job_enqueue

SUBMIT_TASK = "momo_submit"
POLL_TASK = "momo_poll"
MAX_BATCHES = 20
CALLBACK_STALE_AFTER = timedelta(seconds=60)
CALLBACK_GIVE_UP_AFTER = timedelta(days=1)


def request_job_lock(request_id: int) -> str:
    """The queueing lock of a request's submit/poll job (at most one waits)."""
    return f"momo_request:{request_id}"


def momo_sweep(*, now: datetime) -> int:
    """Queue a submit or poll job for every due open request; return how many."""
    batch = max(setting("MOMO_SWEEP_BATCH"), 1)
    lease_until = now + timedelta(seconds=SWEEP_LEASE_SECONDS)
    handed = 0
    for _ in range(MAX_BATCHES):
        with transaction.atomic():
            due = momo_requests_due_lock(now=now, limit=batch)
            for request_id, status in due:
                job_enqueue(
                    SUBMIT_TASK if status == RequestStatus.NEW else POLL_TASK,
                    queueing_lock=request_job_lock(request_id),
                    request_id=request_id,
                )
            momo_requests_postpone(ids=[r for r, _s in due], until=lease_until, now=now)
        handed += len(due)
        if len(due) < batch:
            break
    _requeue_callbacks(now, batch)
    return handed


def _requeue_callbacks(now: datetime, limit: int) -> None:
    stale = momo_callbacks_stale(
        received_before=now - CALLBACK_STALE_AFTER,
        received_after=now - CALLBACK_GIVE_UP_AFTER,
        limit=limit,
    )
    if not stale:
        return
    with transaction.atomic():
        for callback_id in stale:
            job_enqueue(
                CALLBACK_TASK, queueing_lock=f"momo_callback:{callback_id}", callback_id=callback_id
            )
