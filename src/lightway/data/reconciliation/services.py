"""Writes of the reconciliation tables: statement imports, runs, items and cases.

Callers pass ``now`` and run these inside their own transaction where several writes must
commit together. The use cases (``lightway.application.momo.reconciliation`` and
``.statements``) decide *what* to write; this module only knows *how*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from lightway.data.reconciliation.models import (
    CaseStatus,
    ReconCase,
    ReconItem,
    ReconRun,
    ReconRunStatus,
    StatementImport,
    StatementLine,
)


class DuplicateStatement(Exception):
    """A file with this SHA-256 was imported before (``existing`` is that import)."""

    def __init__(self, existing: StatementImport):
        super().__init__(f"statement already imported as #{existing.pk}")
        self.existing = existing


class CaseNotOpen(Exception):
    """The case is already resolved: it cannot be assigned or resolved again."""


@dataclass(frozen=True, slots=True)
class LineRow:
    """One validated statement line, ready to store (amount signed, in minor units)."""

    line_no: int
    financial_transaction_id: str
    external_id: str
    reference_id: str
    currency: str
    amount_minor: int
    status: str
    transacted_at: datetime


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    statement: StatementImport
    imported: int
    skipped: int  # lines whose financialTransactionId an earlier import already holds


def statement_import_create(
    *,
    filename: str,
    sha256: str,
    product: str,
    target_environment: str,
    lines: Sequence[LineRow],
    period_start: datetime | None,
    period_end: datetime | None,
    imported_by_id: int | None,
    now: datetime,
) -> ImportOutcome:
    """Store a statement file and its lines in one transaction.

    A file seen before (same SHA-256) raises :class:`DuplicateStatement`. Lines whose
    financial transaction id is already stored (an overlapping export) are skipped and
    counted; the database's unique index decides, so two imports racing cannot both
    store a line.
    """
    existing = StatementImport.objects.filter(sha256=sha256).first()
    if existing is not None:
        raise DuplicateStatement(existing)
    try:
        with transaction.atomic():
            statement = StatementImport.objects.create(
                filename=filename[:200],
                sha256=sha256,
                product=product,
                target_environment=target_environment,
                line_count=len(lines),
                period_start=period_start,
                period_end=period_end,
                imported_by_id=imported_by_id,
                imported_at=now,
            )
            fin_ids = [row.financial_transaction_id for row in lines]
            known = set(
                StatementLine.objects.filter(financial_transaction_id__in=fin_ids).values_list(
                    "financial_transaction_id", flat=True
                )
            )
            fresh = [
                StatementLine(
                    statement=statement,
                    line_no=row.line_no,
                    financial_transaction_id=row.financial_transaction_id,
                    external_id=row.external_id,
                    reference_id=row.reference_id,
                    currency=row.currency,
                    amount_minor=row.amount_minor,
                    status=row.status,
                    transacted_at=row.transacted_at,
                )
                for row in lines
                if row.financial_transaction_id not in known
            ]
            # A concurrent import of an overlapping file: the unique index wins quietly.
            StatementLine.objects.bulk_create(fresh, batch_size=1000, ignore_conflicts=True)
            imported = StatementLine.objects.filter(statement=statement).count()
    except IntegrityError as exc:
        existing = StatementImport.objects.filter(sha256=sha256).first()
        if existing is None:
            raise
        raise DuplicateStatement(existing) from exc
    return ImportOutcome(statement, imported=imported, skipped=len(lines) - imported)


def recon_run_start(
    *, window_start: datetime, window_end: datetime, started_by_id: int | None, now: datetime
) -> ReconRun:
    return ReconRun.objects.create(
        window_start=window_start,
        window_end=window_end,
        started_by_id=started_by_id,
        status=ReconRunStatus.RUNNING,
        started_at=now,
    )


def recon_run_finish(
    *,
    run: ReconRun,
    counts: dict[str, int],
    auto_resolved: int,
    cases_opened: int,
    now: datetime,
    error: str = "",
    failed: bool = False,
) -> ReconRun:
    run.status = ReconRunStatus.FAILED if failed else ReconRunStatus.COMPLETED
    run.counts = dict(counts)
    run.auto_resolved = auto_resolved
    run.cases_opened = cases_opened
    run.error = error[:300]
    run.finished_at = now
    run.save(
        update_fields=[
            "status",
            "counts",
            "auto_resolved",
            "cases_opened",
            "error",
            "finished_at",
        ]
    )
    return run


def recon_item_create(*, run: ReconRun, now: datetime, **fields: Any) -> ReconItem:
    """One classified pair; ``fields`` are :class:`ReconItem` columns."""
    detail = str(fields.pop("detail", "") or "")[:300]
    return ReconItem.objects.create(run=run, created_at=now, detail=detail, **fields)


def recon_item_set_resolution(*, item: ReconItem, resolution: str, detail: str = "") -> None:
    item.resolution = resolution
    fields = ["resolution"]
    if detail:
        item.detail = detail[:300]
        fields.append("detail")
    item.save(update_fields=fields)


def recon_case_open(
    *, key: str, category: str, item: ReconItem, now: datetime
) -> tuple[ReconCase, bool]:
    """The open case for ``key``, opened now for ``item`` unless one is already open.

    Returns ``(case, created)``. The partial unique index (one unresolved case per key)
    decides between two runs racing: the loser reuses the winner's case.
    """
    for _ in range(3):
        existing = ReconCase.objects.filter(key=key).exclude(status=CaseStatus.RESOLVED).first()
        if existing is not None:
            ReconCase.objects.filter(pk=existing.pk).update(updated_at=now)
            return existing, False
        try:
            with transaction.atomic():
                case = ReconCase.objects.create(
                    key=key,
                    category=category,
                    item=item,
                    status=CaseStatus.OPEN,
                    opened_at=now,
                    updated_at=now,
                )
            return case, True
        except IntegrityError:
            continue  # another run opened it between our read and our insert
    raise RuntimeError(f"could not open or find the case for {key}")


def recon_case_assign(*, case_id: int, assignee_id: int | None, now: datetime) -> ReconCase:
    """Give the case to ``assignee_id`` (None: back to the queue). Locks the row."""
    case = ReconCase.objects.select_for_update().get(pk=case_id)
    if case.status == CaseStatus.RESOLVED:
        raise CaseNotOpen(f"case {case_id} is resolved")
    case.assignee_id = assignee_id
    case.status = CaseStatus.IN_PROGRESS if assignee_id is not None else CaseStatus.OPEN
    case.updated_at = now
    case.save(update_fields=["assignee", "status", "updated_at"])
    return case


def recon_case_resolve(*, case_id: int, note: str, resolved_by_id: int, now: datetime) -> ReconCase:
    """Close the case with a note (the database refuses a resolution without one)."""
    case = ReconCase.objects.select_for_update().get(pk=case_id)
    if case.status == CaseStatus.RESOLVED:
        raise CaseNotOpen(f"case {case_id} is already resolved")
    case.status = CaseStatus.RESOLVED
    case.resolution_note = note[:500]
    case.resolved_by_id = resolved_by_id
    case.resolved_at = now
    case.updated_at = now
    case.save(
        update_fields=["status", "resolution_note", "resolved_by", "resolved_at", "updated_at"]
    )
    return case
