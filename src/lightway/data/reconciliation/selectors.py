"""Reads of the reconciliation tables and of the MoMo records reconciliation compares.

Object scoping (which items a partner may see) is the caller's: pass the transfer filter
from ``lightway.security.policy.transfer_scope`` as ``transfer_scope``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, QuerySet

from lightway.data.momo.models import MomoRequest
from lightway.data.reconciliation.models import (
    CaseStatus,
    ReconCase,
    ReconItem,
    ReconRun,
    StatementImport,
    StatementLine,
)
from lightway.data.wallets.models import Transfer


def momo_requests_created_between(*, start: datetime, end: datetime) -> QuerySet[MomoRequest]:
    """MoMo requests created in ``[start, end)``, oldest first, with their transfers."""
    return (
        MomoRequest.objects.filter(created_at__gte=start, created_at__lt=end)
        .select_related("transfer")
        .order_by("created_at", "pk")
    )


def statement_lines_between(*, start: datetime, end: datetime) -> QuerySet[StatementLine]:
    """Statement lines whose MoMo time falls in ``[start, end)``, oldest first."""
    return StatementLine.objects.filter(transacted_at__gte=start, transacted_at__lt=end).order_by(
        "transacted_at", "pk"
    )


def _uuids(values: Iterable[str]) -> list[uuid.UUID]:
    out = []
    for value in values:
        try:
            out.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    return out


def momo_requests_matching(
    *, reference_ids: Iterable[str], financial_ids: Iterable[str], external_ids: Iterable[str]
) -> list[MomoRequest]:
    """Requests with any of these X-Reference-Ids, financial transaction ids or external ids."""
    refs, fins = _uuids(reference_ids), [f for f in financial_ids if f]
    exts = [e for e in external_ids if e]
    if not (refs or fins or exts):
        return []
    query = (
        Q(reference_id__in=refs) | Q(financial_transaction_id__in=fins) | Q(external_id__in=exts)
    )
    return list(MomoRequest.objects.filter(query).select_related("transfer"))


def statement_lines_matching(
    *, reference_ids: Iterable[str], financial_ids: Iterable[str], external_ids: Iterable[str]
) -> list[StatementLine]:
    """Lines (of any import, any time) carrying any of these references."""
    refs = [r for r in reference_ids if r]
    fins = [f for f in financial_ids if f]
    exts = [e for e in external_ids if e]
    if not (refs or fins or exts):
        return []
    query = (
        Q(reference_id__in=refs) | Q(financial_transaction_id__in=fins) | Q(external_id__in=exts)
    )
    return list(StatementLine.objects.filter(query).order_by("pk"))


@dataclass(frozen=True, slots=True)
class Coverage:
    """A period a statement of one (product, environment) account covers."""

    product: str
    target_environment: str
    start: datetime
    end: datetime

    def covers(self, *, product: str, environment: str, at: datetime) -> bool:
        return (
            self.product == product
            and self.target_environment == environment
            and self.start <= at <= self.end
        )


def statement_coverage(*, start: datetime, end: datetime) -> list[Coverage]:
    """The periods imported statements cover that overlap ``[start, end]``; only imports
    that name their product and environment count (a statement of unknown account proves
    nothing about what is absent from it)."""
    rows = (
        StatementImport.objects.exclude(product="")
        .exclude(target_environment="")
        .filter(period_start__isnull=False, period_end__isnull=False)
        .filter(period_start__lte=end, period_end__gte=start)
        .values_list("product", "target_environment", "period_start", "period_end")
    )
    return [Coverage(p, e, s, t) for p, e, s, t in rows if s is not None and t is not None]


# --- runs, items, cases, imports ---------------------------------------------------------


def recon_runs_recent(*, limit: int = 50, offset: int = 0) -> list[ReconRun]:
    return list(ReconRun.objects.order_by("-started_at", "-pk")[offset : offset + limit])


def recon_run_get(*, run_id: int) -> ReconRun | None:
    return ReconRun.objects.filter(pk=run_id).first()


def recon_items(
    *,
    run_id: int,
    category: str | None = None,
    transfer_scope: Q | None = None,
) -> QuerySet[ReconItem]:
    """A run's items in order; ``transfer_scope`` keeps only items of transfers in that
    scope (items without a platform transfer, such as ghosts, are then left out)."""
    items = ReconItem.objects.filter(run_id=run_id).select_related(
        "request", "request__transfer", "statement_line"
    )
    if category:
        items = items.filter(category=category)
    if transfer_scope is not None:
        items = items.filter(request__transfer__in=Transfer.objects.filter(transfer_scope))
    return items.order_by("pk")


def recon_item_counts(
    *, run_ids: Iterable[int], transfer_scope: Q | None = None
) -> dict[int, dict[str, int]]:
    """{run id: {category: n}} computed from the items (for scoped views)."""
    items = ReconItem.objects.filter(run_id__in=list(run_ids))
    if transfer_scope is not None:
        items = items.filter(request__transfer__in=Transfer.objects.filter(transfer_scope))
    out: dict[int, dict[str, int]] = {}
    for row in items.values("run_id", "category").annotate(n=Count("id")):
        out.setdefault(row["run_id"], {})[row["category"]] = row["n"]
    return out


OPEN_STATUSES = (CaseStatus.OPEN, CaseStatus.IN_PROGRESS)


def recon_cases(*, statuses: Iterable[str] = OPEN_STATUSES, limit: int = 200) -> list[ReconCase]:
    """Cases in the given states, oldest open first (a queue), with their items."""
    return list(
        ReconCase.objects.filter(status__in=list(statuses))
        .select_related("item", "item__run", "assignee", "resolved_by")
        .order_by("opened_at", "pk")[:limit]
    )


def recon_cases_recently_resolved(*, limit: int = 50) -> list[ReconCase]:
    return list(
        ReconCase.objects.filter(status=CaseStatus.RESOLVED)
        .select_related("item", "assignee", "resolved_by")
        .order_by("-resolved_at", "-pk")[:limit]
    )


def recon_case_get(*, case_id: int) -> ReconCase | None:
    return ReconCase.objects.filter(pk=case_id).select_related("item").first()


def recon_open_case_keys(*, keys: Iterable[str]) -> dict[str, int]:
    """{key: case id} of the unresolved cases among ``keys``."""
    rows = (
        ReconCase.objects.filter(key__in=list(keys))
        .exclude(status=CaseStatus.RESOLVED)
        .values_list("key", "pk")
    )
    return dict(rows)


def statement_imports_recent(*, limit: int = 20) -> list[StatementImport]:
    return list(
        StatementImport.objects.select_related("imported_by").order_by("-imported_at", "-pk")[
            :limit
        ]
    )
