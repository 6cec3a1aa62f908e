"""Report runs and their files (``application/reports/runs.py``, ``docs/reports.md``).

A :class:`ReportRun` is one request for a report: its kind, parameters (JSON), who asked
(a staff user id, or ``schedule`` for the periodic jobs), its state and progress, and, once
done, the file's format, size and SHA-256. The file's bytes are in :class:`ReportFile`
(``bytea``, one row per finished run) rather than under the var directory: web servers and
workers run as separate, stateless processes against one PostgreSQL (a file written by a
worker on its own disk would not be readable by the web server that serves the download),
the database's backups carry the files with their runs, and reports are aggregates (kilo-
to a few megabytes), well within what a ``bytea`` holds comfortably. The list of runs never
reads the file table.

What PostgreSQL enforces (migration 0002, tests in ``tests/test_reports.py``):

- the state machine ``queued -> running -> done | failed`` (and ``queued -> failed`` when a
  run cannot start): no other transition, ``done`` and ``failed`` are final;
- ``done`` has its finish time, format, size and a 64-hex SHA-256, and a file row whose
  bytes have that size and digest (checked at commit); ``failed`` has its error;
- progress never goes backwards and never exceeds its total;
- a file is written once (no UPDATE), and neither runs nor files are deleted.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

SCHEDULE = "schedule"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ReportRun(models.Model):
    kind = models.CharField(max_length=32)
    params = models.JSONField()  # {"from": "YYYY-MM-DD", "to": ..., "format": ..., filters}
    requested_by = models.CharField(max_length=40)  # "staff:<user id>", "schedule", "system:cli"
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.QUEUED)
    error = models.CharField(max_length=500, blank=True, default="")
    progress_done = models.IntegerField(default=0)
    progress_total = models.IntegerField(default=0)
    requested_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    format = models.CharField(max_length=4)
    filename = models.CharField(max_length=120, blank=True, default="")
    size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, null=True, blank=True)
    # The periodic jobs' runs: "<kind>:<period>" (e.g. "volumes:2026-12-06"), unique, so a
    # retried or doubled schedule never makes a second run of one period.
    schedule_key = models.CharField(max_length=64, null=True, blank=True, unique=True)

    class Meta:
        db_table = "reports_run"
        indexes = [
            # The staff list, newest first, in keyset pages: one index range per page.
            models.Index(fields=["-requested_at", "-id"], name="reports_run_recent"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=RunStatus.values), name="reports_run_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(schedule_key__isnull=True) | Q(requested_by=SCHEDULE),
                name="reports_run_schedule_key_scheduled",
            ),
            models.CheckConstraint(
                condition=Q(format__in=["csv", "xlsx", "pdf"]), name="reports_run_format_valid"
            ),
            models.CheckConstraint(
                condition=Q(progress_done__gte=0)
                & Q(progress_total__gte=0)
                & Q(progress_done__lte=models.F("progress_total")),
                name="reports_run_progress_bounded",
            ),
            models.CheckConstraint(
                condition=~Q(status="done")
                | (
                    Q(sha256__regex=r"^[0-9a-f]{64}$")
                    & Q(size__gte=0)
                    & Q(finished_at__isnull=False)
                    & Q(started_at__isnull=False)
                    & ~Q(filename="")
                ),
                name="reports_run_done_has_file",
            ),
            models.CheckConstraint(
                condition=~Q(status="failed") | (~Q(error="") & Q(finished_at__isnull=False)),
                name="reports_run_failed_has_error",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["done", "failed"]) | Q(finished_at__isnull=True),
                name="reports_run_open_not_finished",
            ),
            models.CheckConstraint(
                condition=Q(status="queued") | Q(started_at__isnull=False) | Q(status="failed"),
                name="reports_run_started_at",
            ),
        ]

    def __str__(self) -> str:
        return f"report run {self.pk} {self.kind} {self.status}"


class ReportFile(models.Model):
    """The bytes of a finished run's file (written once, in the transaction that marks the
    run done)."""

    run = models.OneToOneField(
        ReportRun, on_delete=models.PROTECT, primary_key=True, related_name="file"
    )
    content = models.BinaryField()

    class Meta:
        db_table = "reports_file"
