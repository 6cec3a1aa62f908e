"""Reads for the audit viewer (/staff/audit/): filtered keyset pages, one record, the
distinct actions, and a bounded export stream.

Order: newest first by ``(occurred_at, id)``. Each filter has an index that ends with those
two columns (migrations/0005): time range only ``audit_record_time``; actor
``audit_record_actor_time``; action ``audit_record_action_time``; object type (and id)
``audit_record_object_time``. A page is one index range scan of ``limit + 1`` rows from the
cursor, with no sort, whatever the table's size (tests/test_audit_viewer.py checks the plan
of every combination).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL

from lightway.data.audit.models import AuditRecord
from lightway.infrastructure.db import index_order


@dataclass(frozen=True)
class AuditFilter:
    """Exact matches (empty = any) and a half-open time range ``[since, until)``."""

    actor: str = ""
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def as_dict(self) -> dict[str, str]:
        """The filters as references for an audit record (no personal data in them)."""
        out = {
            "actor": self.actor,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }
        return {k: v for k, v in out.items() if v}


Cursor = tuple[datetime, int]


def _filtered(filters: AuditFilter) -> QuerySet[AuditRecord]:
    records = AuditRecord.objects.all()
    if filters.actor:
        records = records.filter(actor=filters.actor)
    if filters.action:
        records = records.filter(action=filters.action)
    if filters.object_type:
        records = records.filter(object_type=filters.object_type)
        if filters.object_id:
            records = records.filter(object_id=filters.object_id)
    if filters.since is not None:
        records = records.filter(occurred_at__gte=filters.since)
    if filters.until is not None:
        records = records.filter(occurred_at__lt=filters.until)
    return records


def _before(
    records: QuerySet[AuditRecord], cursor: Cursor | None, filters_until: datetime | None
) -> QuerySet[AuditRecord]:
    if cursor is None:
        return records
    at, record_id = cursor
    if filters_until is not None and at >= filters_until:
        return records  # every row before `until` is before the cursor: one bound is enough
    # A row comparison: the B-tree serves it as one range bound of (…, occurred_at, id).
    older = RawSQL(
        '("audit_record"."occurred_at", "audit_record"."id") < (%s, %s)',
        (at, record_id),
        output_field=BooleanField(),
    )
    return records.filter(older)


def audit_query(filters: AuditFilter, cursor: Cursor | None = None) -> QuerySet[AuditRecord]:
    """The filtered records older than ``cursor``, newest first (not yet sliced)."""
    return _before(_filtered(filters), cursor, filters.until).order_by("-occurred_at", "-id")


@dataclass(frozen=True)
class AuditPage:
    records: list[AuditRecord]
    next_cursor: Cursor | None  # where the next (older) page starts, None on the last


def audit_page(filters: AuditFilter, cursor: Cursor | None = None, *, limit: int = 50) -> AuditPage:
    """One page of at most ``limit`` records older than ``cursor``."""
    with index_order():
        rows = list(audit_query(filters, cursor)[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = (rows[-1].occurred_at, int(rows[-1].pk)) if more and rows else None
    return AuditPage(records=rows, next_cursor=nxt)


def audit_record_get(record_id: int) -> AuditRecord | None:
    return AuditRecord.objects.filter(pk=record_id).first()


def audit_actions(limit: int = 500) -> list[str]:
    """The distinct actions in the trail, read as a skip scan of ``audit_record_action_time``
    (one index probe per distinct action, not a scan of the table)."""
    sql = """
        WITH RECURSIVE a(action) AS (
            (SELECT action FROM audit_record ORDER BY action LIMIT 1)
            UNION ALL
            SELECT (SELECT r.action FROM audit_record r WHERE r.action > a.action
                    ORDER BY r.action LIMIT 1)
              FROM a WHERE a.action IS NOT NULL
        )
        SELECT action FROM a WHERE action IS NOT NULL LIMIT %s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [limit])
        return [row[0] for row in cursor.fetchall()]


def audit_action_exists(action: str) -> bool:
    """One index probe: does any record carry ``action``?"""
    return AuditRecord.objects.filter(action=action).exists()


def audit_stream(
    filters: AuditFilter, *, max_rows: int, chunk: int = 2000
) -> Iterator[AuditRecord]:
    """The filtered records newest first, at most ``max_rows``, read in keyset chunks (each
    chunk a short query; flat memory)."""
    cursor: Cursor | None = None
    sent = 0
    while sent < max_rows:
        want = min(chunk, max_rows - sent)
        with index_order():
            rows = list(audit_query(filters, cursor)[:want])
        yield from rows
        sent += len(rows)
        if len(rows) < want:
            return
        cursor = (rows[-1].occurred_at, int(rows[-1].pk))
