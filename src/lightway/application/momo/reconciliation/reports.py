"""Reconciliation reports: a run's items as rows (the party masked), as CSV (amounts in
minor and major units, spreadsheet formulas neutralised) and JSON, and the runs list; a
partner sees only the items of its own transfers, without case details."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from lightway.application.errors import NotFound, ValidationFailed
from lightway.application.momo.reconciliation.classification import CATEGORIES
from lightway.data.momo.models import MomoRequest
from lightway.data.money import Money, MoneyError, currency
from lightway.data.reconciliation.models import ReconCase, ReconItem, ReconRun, Resolution
from lightway.data.reconciliation.selectors import (
    recon_item_counts,
    recon_items,
    recon_run_get,
    recon_runs_recent,
)
from lightway.security.crypto import CryptoError, decrypt
from lightway.security.masking import DOT, mask_party

REPORT_COLUMNS = (
    "item_id",
    "category",
    "resolution",
    "reference_id",
    "financial_transaction_id",
    "external_id",
    "transfer_id",
    "operation",
    "currency",
    "platform_amount",
    "momo_amount",
    "platform_status",
    "momo_status",
    "party",
    "detail",
    "case_id",
    "case_status",
)


@dataclass(frozen=True, slots=True)
class ReportRow:
    item_id: int
    category: str
    resolution: str
    reference_id: str
    financial_transaction_id: str
    external_id: str
    transfer_id: str | None
    operation: str
    currency: str
    platform_amount: int | None  # signed minor units, float's point of view
    momo_amount: int | None
    platform_status: str
    momo_status: str
    party: str  # masked
    detail: str
    case_id: int | None
    case_status: str | None

    def as_dict(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in REPORT_COLUMNS}


@dataclass(frozen=True, slots=True)
class Report:
    run: ReconRun
    counts: dict[str, int]
    rows: list[ReportRow]
    scoped: bool  # restricted to one partner's transfers


def party_masked(request: MomoRequest | None) -> str:
    """The request's payer/payee, masked (never the clear value)."""
    if request is None or not request.party_ct:
        return ""
    try:
        value = decrypt(bytes(request.party_ct), context="momo.party")
    except CryptoError:
        return DOT * 3
    return mask_party(request.party_id_type or "MSISDN", value)


def _partner_scope(partner_id: int | None) -> Any:
    if partner_id is None:
        return None
    from lightway.security.policy import Role, transfer_scope

    return transfer_scope(roles={Role.PARTNER.value}, user_id=None, partner_id=partner_id)


def recon_runs(
    *, limit: int = 50, offset: int = 0, partner_id: int | None = None
) -> list[tuple[ReconRun, dict[str, int]]]:
    """Recent runs with their counts (a partner's: counted over its own transfers only)."""
    runs = recon_runs_recent(limit=limit, offset=offset)
    if partner_id is None:
        return [(run, {c: int(run.counts.get(c, 0)) for c in CATEGORIES}) for run in runs]
    scoped = recon_item_counts(
        run_ids=[r.pk for r in runs], transfer_scope=_partner_scope(partner_id)
    )
    return [(run, {c: scoped.get(run.pk, {}).get(c, 0) for c in CATEGORIES}) for run in runs]


def recon_report(
    *, run_id: int, category: str | None = None, partner_id: int | None = None
) -> Report:
    """A run's items as report rows; with ``partner_id``, only items of that partner's
    transfers (and no case details)."""
    run = recon_run_get(run_id=run_id)
    if run is None:
        raise NotFound("no such reconciliation run", details={"run_id": run_id})
    if category and category not in CATEGORIES:
        raise ValidationFailed(
            f"category must be one of {', '.join(CATEGORIES)}", details={"field": "category"}
        )
    scope = _partner_scope(partner_id)
    items = list(recon_items(run_id=run.pk, category=category or None, transfer_scope=scope))
    cases = _cases_of(items) if partner_id is None else {}
    rows = [_row(item, cases.get(item.pk), partner_id is not None) for item in items]
    if partner_id is None and not category:
        counts = {c: int(run.counts.get(c, 0)) for c in CATEGORIES}
    else:
        all_counts = recon_item_counts(run_ids=[run.pk], transfer_scope=scope).get(run.pk, {})
        counts = {c: all_counts.get(c, 0) for c in CATEGORIES}
    return Report(run=run, counts=counts, rows=rows, scoped=partner_id is not None)


def _cases_of(items: list[ReconItem]) -> dict[int, ReconCase]:
    """item id -> the case each case-routed item went to: the one it opened, else (a case
    an earlier run opened and this run reused) the latest case of its key opened by then."""
    routed = [i for i in items if i.resolution == Resolution.CASE_OPENED and _case_key(i)]
    if not routed:
        return {}
    by_key: dict[str, list[ReconCase]] = {}
    keys = {_case_key(i) for i in routed}
    for case in ReconCase.objects.filter(key__in=keys).order_by("opened_at", "pk"):
        by_key.setdefault(case.key, []).append(case)
    out: dict[int, ReconCase] = {}
    for item in routed:
        cases = by_key.get(_case_key(item), [])
        own = [c for c in cases if c.item_id == item.pk]
        earlier = [c for c in cases if c.opened_at <= item.created_at]
        chosen = own[0] if own else (earlier[-1] if earlier else None)
        if chosen is not None:
            out[item.pk] = chosen
    return out


def _case_key(item: ReconItem) -> str:
    if item.request_id is not None and item.reference_id:
        return f"ref:{item.reference_id}"
    if item.financial_transaction_id:
        return f"fin:{item.financial_transaction_id}"
    return ""


def _row(item: ReconItem, case: ReconCase | None, partner: bool) -> ReportRow:
    request = item.request
    transfer_id = str(request.transfer_id) if request is not None and request.transfer_id else None
    return ReportRow(
        item_id=item.pk,
        category=item.category,
        resolution=item.resolution,
        reference_id=item.reference_id,
        financial_transaction_id=item.financial_transaction_id,
        external_id=item.external_id,
        transfer_id=transfer_id,
        operation=item.operation,
        currency=item.currency,
        platform_amount=item.platform_amount,
        momo_amount=item.momo_amount,
        platform_status=item.platform_status,
        momo_status=item.momo_status,
        party=party_masked(request),
        detail=item.detail,
        case_id=None if partner or case is None else case.pk,
        case_status=None if partner or case is None else case.status,
    )


def _major(amount: int | None, code: str) -> str:
    if amount is None:
        return ""
    try:
        cur = currency(code)
    except MoneyError:
        return str(amount)
    value = Money(amount, cur).to_major()
    return f"{value:.{cur.exponent}f}"


def report_csv(report: Report) -> str:
    """The report as CSV: one header, one line per item. Amounts appear twice: signed
    minor units (``*_minor``) and decimal major units."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    header = [
        c
        for c in REPORT_COLUMNS
        if c not in ("platform_amount", "momo_amount")
        and not (report.scoped and c in ("case_id", "case_status"))
    ]
    insert_at = header.index("platform_status")
    header[insert_at:insert_at] = [
        "platform_amount_minor",
        "momo_amount_minor",
        "platform_amount",
        "momo_amount",
    ]
    writer.writerow(header)
    for row in report.rows:
        values = row.as_dict()
        values.update(
            platform_amount_minor="" if row.platform_amount is None else row.platform_amount,
            momo_amount_minor="" if row.momo_amount is None else row.momo_amount,
            platform_amount=_major(row.platform_amount, row.currency),
            momo_amount=_major(row.momo_amount, row.currency),
        )
        writer.writerow(["" if values[c] is None else _csv_safe(values[c]) for c in header])
    return buffer.getvalue()


def _csv_safe(value: Any) -> Any:
    """Neutralise spreadsheet formulas in text cells (CSV injection)."""
    if (
        isinstance(value, str)
        and value[:1] in ("=", "+", "-", "@", "\t", "\r")
        and not _numeric(value)
    ):
        return "'" + value
    return value


def _numeric(value: str) -> bool:
    try:
        Decimal(value)
    except InvalidOperation:
        return False
    return True


def report_json(report: Report) -> dict[str, Any]:
    run = report.run
    return {
        "run": run_json(run, report.counts),
        "items": [
            {k: v for k, v in row.as_dict().items() if not (report.scoped and k.startswith("case"))}
            for row in report.rows
        ],
    }


def run_json(run: ReconRun, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "id": run.pk,
        "status": run.status,
        "window_start": run.window_start,
        "window_end": run.window_end,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "counts": counts,
        "auto_resolved": run.auto_resolved,
        "cases_opened": run.cases_opened,
        "error": run.error,
    }
