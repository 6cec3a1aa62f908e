"""Writes for the intake table: one upsert per refused delivery, so parallel ones count
exactly."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection, transaction

from lightway.data.audit.services import audit_record
from lightway.data.intake.models import IntakeRejection


def minute_of(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


def intake_rejection_count(
    *, source: str, reason: str, size: int, digest: str, now: datetime
) -> None:
    """Add one refused delivery to its (source, reason, minute) row."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO intake_rejection"
            " (source, reason, minute, count, bytes_total, last_digest, first_at, last_at)"
            " VALUES (%s, %s, %s, 1, %s, %s, %s, %s)"
            " ON CONFLICT (source, reason, minute) DO UPDATE SET"
            " count = intake_rejection.count + 1,"
            " bytes_total = intake_rejection.bytes_total + EXCLUDED.bytes_total,"
            " last_digest = EXCLUDED.last_digest,"
            " last_at = GREATEST(intake_rejection.last_at, EXCLUDED.last_at)",
            [source[:32], reason, minute_of(now), size, digest[:64], now, now],
        )


def intake_rejections_audit(*, now: datetime, batch: int = 500) -> int:
    """One audit record per closed minute (source, reason, count, bytes); the minute's row
    is marked audited in the same transaction, so each is audited exactly once. A minute is
    closed one minute after it ends (a request that read its clock just before the minute
    turned still counts in it)."""
    done = 0
    with transaction.atomic():
        rows = list(
            IntakeRejection.objects.select_for_update(skip_locked=True)
            .filter(audited_at__isnull=True, minute__lt=minute_of(now) - timedelta(minutes=1))
            .order_by("minute", "id")[:batch]
        )
        for row in rows:
            audit_record(
                actor=f"intake:{row.source}",
                action="intake.rejected",
                object_type="intake.source",
                object_id=row.source,
                data={
                    "reason": row.reason,
                    "minute": row.minute.isoformat(),
                    "count": row.count,
                    "bytes": row.bytes_total,
                },
                now=now,
            )
            done += 1
        IntakeRejection.objects.filter(pk__in=[r.pk for r in rows]).update(audited_at=now)
    return done
