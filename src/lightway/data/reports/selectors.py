"""Reads of report runs: the staff list in keyset pages (the ``reports_run_recent`` index,
one range per page, whatever the number of runs), one run, a run's file."""

from __future__ import annotations

from datetime import datetime

from lightway.data.reports.models import ReportFile, ReportRun

_PAGE_SQL = """
SELECT * FROM reports_run
 WHERE (%s::timestamptz IS NULL OR (requested_at, id) < (%s::timestamptz, %s::bigint))
 ORDER BY requested_at DESC, id DESC LIMIT %s
"""


def report_runs_page(
    *, before: tuple[datetime, int] | None = None, limit: int = 25
) -> list[ReportRun]:
    """Runs newest first, after the keyset ``before`` (requested_at, id) of the previous
    page's last run."""
    at, pk = before if before is not None else (None, 0)
    return list(ReportRun.objects.raw(_PAGE_SQL, [at, at, pk, limit]))


def report_run_get(*, run_id: int) -> ReportRun | None:
    return ReportRun.objects.filter(pk=run_id).first()


def report_run_by_schedule_key(*, key: str) -> ReportRun | None:
    return ReportRun.objects.filter(schedule_key=key).first()


def report_file_content(*, run_id: int) -> bytes | None:
    row = ReportFile.objects.filter(run_id=run_id).values_list("content", flat=True).first()
    return bytes(row) if row is not None else None
