"""The retention job: plan (dry run) and run.

Per data class and country, what the policies in force make due:

- ``personal_data``: erasure of customers due (``erasure.py``), one transaction each;
- ``web_sessions``: panel sessions expired longer ago than the period, deleted in bounded
  batches through the ``expire_date`` index;
- ``notification_log``: final deliveries older than the period, deleted in bounded batches
  walking the primary key from the oldest (ids grow with time), a held person's kept;
- every other class is kept: ledger rows, transfers, audit records and MoMo callbacks are
  append-only by trigger and archived by month (the archival job), AML and KYC records are
  kept by the erasure horizon above. The plan lists them with what happens to them.

Each plan or run is recorded (``RetentionRun``) and audited with its counts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import Exists, OuterRef

from lightway.application.retention.erasure import erasure_due, erasure_due_counts, person_erase
from lightway.application.retention.policies import policy_cutoff, policy_in_force
from lightway.data.audit.services import audit_record
from lightway.data.notify.models import FINAL_STATUSES, Delivery
from lightway.data.retention.models import DataClass, LegalHold, RetentionRun, RunMode

logger = logging.getLogger(__name__)

KEPT = {
    DataClass.LEDGER: "kept (append-only; archived by month)",
    DataClass.TRANSACTIONS: "kept (append-only; archived by month)",
    DataClass.AUDIT_RECORDS: "kept (hash chain; archived by month)",
    DataClass.MOMO_CALLBACKS: "kept (append-only; archived by month)",
    DataClass.AML_RECORDS: "kept (sets the erasure horizon)",
    DataClass.KYC: "kept (sets the erasure horizon)",
}

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class PlanLine:
    data_class: str
    country: str  # "*" = every country (or the default's)
    action: str
    count: int


def _session_cutoff(now: datetime) -> datetime | None:
    policy = policy_in_force(data_class=DataClass.WEB_SESSIONS, country="", on=now.date())
    return None if policy is None else policy_cutoff(policy, now=now)


def _notify_cutoff(now: datetime) -> datetime | None:
    policy = policy_in_force(data_class=DataClass.NOTIFICATION_LOG, country="", on=now.date())
    return None if policy is None else policy_cutoff(policy, now=now)


def _deliveries_due(cutoff: datetime):  # type: ignore[no-untyped-def]
    held = LegalHold.objects.filter(user_id=OuterRef("user_id"), released_at__isnull=True)
    return Delivery.objects.filter(created_at__lt=cutoff, status__in=FINAL_STATUSES).exclude(
        Exists(held)
    )


def retention_plan(*, now: datetime) -> list[PlanLine]:
    """What a run would do now, by class and country (counts; nothing changes)."""
    lines = [
        PlanLine(DataClass.PERSONAL_DATA, country, "erase (destroy the person's key)", count)
        for country, count in erasure_due_counts(now=now).items()
    ]
    cutoff = _session_cutoff(now)
    lines.append(
        PlanLine(
            DataClass.WEB_SESSIONS,
            "*",
            "delete",
            0 if cutoff is None else Session.objects.filter(expire_date__lt=cutoff).count(),
        )
    )
    cutoff = _notify_cutoff(now)
    lines.append(
        PlanLine(
            DataClass.NOTIFICATION_LOG,
            "*",
            "delete",
            0 if cutoff is None else _deliveries_due(cutoff).count(),
        )
    )
    lines.extend(PlanLine(dc, "*", what, 0) for dc, what in KEPT.items())
    return lines


def _purge_sessions(cutoff: datetime, batch: int, progress: Progress | None) -> int:
    done = 0
    while True:
        with transaction.atomic():
            keys = list(
                Session.objects.filter(expire_date__lt=cutoff)
                .order_by("expire_date")
                .values_list("session_key", flat=True)[:batch]
            )
            if not keys:
                return done
            Session.objects.filter(session_key__in=keys, expire_date__lt=cutoff).delete()
        done += len(keys)
        if progress:
            progress(done, 0, "web_sessions")


def _purge_deliveries(cutoff: datetime, batch: int, progress: Progress | None) -> int:
    done, last = 0, 0
    while True:
        window = list(
            Delivery.objects.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", "created_at")[:batch]
        )
        if not window:
            return done
        last = int(window[-1][0])
        ids = [pk for pk, _ in window]
        with transaction.atomic():
            deleted, _ = _deliveries_due(cutoff).filter(pk__in=ids).delete()
        done += int(deleted)
        if progress:
            progress(done, 0, "notification_log")
        if min(created for _, created in window) >= cutoff:
            return done  # the rest is newer (ids grow with time)


def retention_run(
    *,
    now: datetime,
    actor: str = "system",
    mode: str = RunMode.RUN,
    batch: int = 200,
    progress: Progress | None = None,
) -> RetentionRun:
    """Plan (``mode="plan"``) or run retention now; the run is recorded and audited."""
    run = RetentionRun.objects.create(mode=mode, actor=actor, as_of=now, started_at=now)
    try:
        if mode == RunMode.PLAN:
            lines = retention_plan(now=now)
        else:
            lines = _run(now=now, actor=actor, batch=batch, progress=progress)
    except Exception as exc:
        run.error = f"{type(exc).__name__}"[:300]
        run.save(update_fields=["error"])
        raise
    run.counts = [asdict(line) for line in lines]
    run.total = sum(line.count for line in lines)
    run.finished_at = now
    with transaction.atomic():
        run.save(update_fields=["counts", "total", "finished_at"])
        audit_record(
            actor=actor,
            action=f"retention.{mode}",
            object_type="retention.run",
            object_id=str(run.pk),
            data={"total": run.total},
            now=now,
        )
    logger.info("retention %s", mode, extra={"run_id": run.pk, "total": run.total})
    return run


def _run(*, now: datetime, actor: str, batch: int, progress: Progress | None) -> list[PlanLine]:
    erased: dict[str, int] = {}
    total = sum(erasure_due_counts(now=now).values())
    done = 0
    for country, ids in erasure_due(now=now, batch=batch):
        for user_id in ids:
            if person_erase(user_id=user_id, actor=actor, now=now, reason="retention elapsed"):
                erased[country] = erased.get(country, 0) + 1
            done += 1
            if progress:
                progress(done, total, "personal_data")
    lines = [
        PlanLine(DataClass.PERSONAL_DATA, country, "erased", count)
        for country, count in sorted(erased.items())
    ]
    cutoff = _session_cutoff(now)
    if cutoff is not None:
        lines.append(
            PlanLine(
                DataClass.WEB_SESSIONS, "*", "deleted", _purge_sessions(cutoff, batch, progress)
            )
        )
    cutoff = _notify_cutoff(now)
    if cutoff is not None:
        count = _purge_deliveries(cutoff, batch, progress)
        lines.append(PlanLine(DataClass.NOTIFICATION_LOG, "*", "deleted", count))
    return lines


def retention_runs_recent(*, limit: int = 10) -> list[RetentionRun]:
    return list(RetentionRun.objects.order_by("-id")[:limit])
