"""Which tables are partitioned by month, and what was archived of them.

``PartitionedTable`` is the registry the partition functions trust (written by the
migration that partitions a table, read-only to the runtime role). ``ArchiveManifest`` is
one table's month on its way out: exported to a file (``exported``), the file re-read and
compared with the database rows (``verified``), the partition detached (``detached``),
dropped after the grace period (``dropped``), or re-attached from the file (``restored``).
The database refuses to detach a partition whose manifest is not ``verified`` or whose
rows no longer match it (``archive_partition_detach`` in migration 0001).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class PartitionedTable(models.Model):
    table_name = models.CharField(max_length=63, primary_key=True)
    time_column = models.CharField(max_length=63)
    # False: the months are partitioned and exported, but never detached (``reason`` says why).
    detachable = models.BooleanField()
    reason = models.CharField(max_length=300, blank=True, default="")
    # A database function (month) -> text that archive_partition_detach calls under its
    # lock; a text refuses the detach with that reason (archive 0003). "" = none.
    detach_check = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        db_table = "archive_partitioned_table"
        # Rows are written by the migrations that partition a table (data, not state):
        # unmanaged, so a test database's flush (TRUNCATE of every managed table between
        # transactional tests) never empties the registry the database functions read.
        managed = False

    def __str__(self) -> str:
        return self.table_name


class ManifestState(models.TextChoices):
    EXPORTED = "exported", "Exported"
    VERIFIED = "verified", "Verified"
    DETACHED = "detached", "Detached"
    DROPPED = "dropped", "Dropped"
    RESTORED = "restored", "Restored"


class ArchiveManifest(models.Model):
    table_name = models.CharField(max_length=63)
    month = models.DateField()  # the first day of the month (UTC)
    state = models.CharField(max_length=10, choices=ManifestState.choices)
    row_count = models.BigIntegerField()
    min_id = models.BigIntegerField(null=True, blank=True)
    max_id = models.BigIntegerField(null=True, blank=True)
    columns = models.JSONField()
    file_name = models.CharField(max_length=200)  # relative to the archive directory
    file_sha256 = models.CharField(max_length=64)  # of the compressed file
    content_sha256 = models.CharField(max_length=64)  # of the canonical row text (CSV)
    exported_at = models.DateTimeField()
    verified_at = models.DateTimeField(null=True, blank=True)
    detached_at = models.DateTimeField(null=True, blank=True)
    dropped_at = models.DateTimeField(null=True, blank=True)
    restored_at = models.DateTimeField(null=True, blank=True)
    # archive_month_fingerprint of the rows at export (archive 0004): the detach and the
    # re-attach refuse rows that changed since, which neither the count nor the id range shows
    rows_fingerprint = models.DecimalField(max_digits=40, decimal_places=0, null=True, blank=True)

    class Meta:
        db_table = "archive_manifest"
        ordering = ["month", "table_name"]
        constraints = [
            models.UniqueConstraint(fields=["table_name", "month"], name="archive_manifest_once"),
            models.CheckConstraint(
                condition=Q(state__in=ManifestState.values), name="archive_manifest_state_valid"
            ),
            models.CheckConstraint(condition=Q(row_count__gte=0), name="archive_manifest_rows"),
        ]

    def __str__(self) -> str:
        return f"{self.table_name} {self.month:%Y-%m} ({self.state})"
