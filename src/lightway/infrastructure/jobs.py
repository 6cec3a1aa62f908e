"""Enqueue background jobs inside the caller's database transaction.

``job_enqueue`` writes the job row through Django's own connection, so inside
``transaction.atomic()`` the job commits or rolls back together with the state change that
needs it: no job without the change, no change without its job. The worker sees the job
only after the commit (procrastinate's NOTIFY is delivered on commit too).

It always uses a connector bound to Django's connection, even inside a running worker
(whose app swaps in its own pooled connector), so a task that calls a use case that
enqueues a follow-up job keeps the same guarantee.

Task names are the explicit ``name=`` given in ``lightway.interfaces.tasks``.
"""

from __future__ import annotations

import logging
from functools import cache

from django.db import connection, transaction
from procrastinate import exceptions as procrastinate_exceptions
from procrastinate import manager
from procrastinate import tasks as procrastinate_tasks
from procrastinate.contrib.django.django_connector import DjangoConnector
from procrastinate.jobs import JobDeferrer

from lightway.infrastructure import metrics

logger = logging.getLogger(__name__)

JSONValue = str | int | float | bool | None | list["JSONValue"] | dict[str, "JSONValue"]


@cache
def _job_manager() -> manager.JobManager:
    return manager.JobManager(DjangoConnector(alias="default"))


def job_enqueue(task_name: str, *, queueing_lock: str | None = None, **kwargs: JSONValue) -> int:
    """Enqueue ``task_name(**kwargs)`` in the current transaction and return the job id.

    ``kwargs`` must be JSON values: pass identifiers, never model instances or personal
    data. With ``queueing_lock``, at most one job holding that lock waits in the queue: if
    one is already waiting, nothing is added and its id is returned (the caller's
    transaction stays usable, the attempt runs in a savepoint).
    """
    deferrer = procrastinate_tasks.configure_task(
        name=task_name, job_manager=_job_manager(), queueing_lock=queueing_lock
    )
    if queueing_lock is None:
        job_id, created = int(deferrer.defer(**kwargs)), True
    else:
        job_id, created = _defer_locked(deferrer, task_name, queueing_lock, kwargs)
    if created:
        # Counted once the job really exists: at commit (at once outside a transaction).
        transaction.on_commit(metrics.jobs_enqueued_total.labels(task=task_name).inc)
    logger.debug(
        "job enqueued" if created else "job already queued",
        extra={"task": task_name, "job_id": job_id},
    )
    return job_id


def _defer_locked(
    deferrer: JobDeferrer, task_name: str, queueing_lock: str, kwargs: dict[str, JSONValue]
) -> tuple[int, bool]:
    for _attempt in range(3):
        try:
            with transaction.atomic():  # a savepoint: a lock conflict leaves the caller usable
                return int(deferrer.defer(**kwargs)), True
        except procrastinate_exceptions.AlreadyEnqueued:
            existing = _queued_job_with_lock(queueing_lock)
            if existing is not None:
                return existing, False
            # The waiting job was picked up between our insert and the lookup: try again.
    raise procrastinate_exceptions.AlreadyEnqueued(
        f"could not enqueue {task_name!r}: queueing lock {queueing_lock!r} kept changing hands"
    )


def _queued_job_with_lock(queueing_lock: str) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM procrastinate_jobs WHERE queueing_lock = %s AND status = 'todo'",
            [queueing_lock],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else None
