"""Writes of report runs: each state change is one UPDATE the database checks
(``migrations/0002_guards.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest

from lightway.data.reports.models import ReportFile, ReportRun, RunStatus


def report_run_create(
    *,
    kind: str,
    params: dict[str, Any],
    fmt: str,
    requested_by: str,
    now: datetime,
    schedule_key: str | None = None,
) -> ReportRun:
    return ReportRun.objects.create(
        kind=kind,
        params=params,
        format=fmt,
        requested_by=requested_by,
        requested_at=now,
        status=RunStatus.QUEUED,
        schedule_key=schedule_key,
    )


def report_run_start(*, run_id: int, total: int, now: datetime) -> bool:
    """``queued -> running`` (or a retried ``running`` run continues); False when the run
    is already done or failed."""
    with transaction.atomic():
        run = ReportRun.objects.select_for_update().get(pk=run_id)
        if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
            return False
        ReportRun.objects.filter(pk=run_id).update(
            status=RunStatus.RUNNING,
            started_at=run.started_at or now,
            progress_total=Greatest(F("progress_total"), total),
        )
    return True


def report_run_progress(*, run_id: int, done: int, total: int) -> None:
    """Record ``done`` of ``total`` steps (never fewer than already recorded)."""
    ReportRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
        progress_done=Greatest(F("progress_done"), done),
        progress_total=Greatest(F("progress_total"), total),
    )


def report_run_finish(
    *, run_id: int, content: bytes, sha256: str, filename: str, now: datetime
) -> None:
    """Store the file and mark the run done, in one transaction (the database checks the
    file's size and digest at commit)."""
    with transaction.atomic():
        ReportFile.objects.create(run_id=run_id, content=content)
        ReportRun.objects.filter(pk=run_id).update(
            status=RunStatus.DONE,
            progress_done=F("progress_total"),
            finished_at=now,
            size=len(content),
            sha256=sha256,
            filename=filename,
        )


def report_run_fail(*, run_id: int, error: str, now: datetime) -> None:
    ReportRun.objects.filter(pk=run_id, status__in=(RunStatus.QUEUED, RunStatus.RUNNING)).update(
        status=RunStatus.FAILED, error=error[:500] or "failed", finished_at=now
    )
