"""A reconciliation run: :func:`reconcile` compares one time window and records it.

Three sources meet:

1. the platform: the :class:`MomoRequest` rows created in the window, with their transfers;
2. MoMo's own view of each reference: a status read (``GET .../{referenceId}``) for every
   request that is not final, is flagged for review, has no statement line, or whose line
   disagrees with it (bounded per run, spent where it matters most);
3. the float account's statement: :class:`StatementLine` rows in the window, imported from
   the file MTN's portal exports (``statements.statement_import``).

Lines are paired with requests (:mod:`.matching`); each pair, and each line no request
claims, becomes one :class:`ReconItem` in the category :mod:`.classification` gives it.
Safe cases resolve themselves: a request still pending on the platform while MoMo's status
read is final is a lost callback, so the read result goes through the flows' own
exactly-once path (``flows.momo_apply``; ``flows.momo_poll`` when only the statement showed
it) and the item is marked ``auto_polled``. Reconciliation never moves money any other way.
Everything else that is not matched opens a :class:`ReconCase` (one open case per
reference: a later run reuses it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from lightway.application.errors import DomainError, ValidationFailed
from lightway.application.momo.reconciliation.classification import (
    CATEGORIES,
    PENDING,
    UNVERIFIED,
    Read,
    Verdict,
    classify,
    signed_amount,
)
from lightway.application.momo.reconciliation.matching import Pair, requests_match
from lightway.data.audit.services import audit_record
from lightway.data.momo.models import MomoRequest, RequestStatus
from lightway.data.reconciliation.models import Category, ReconRun, Resolution, StatementLine
from lightway.data.reconciliation.selectors import (
    Coverage,
    momo_requests_created_between,
    statement_coverage,
    statement_lines_between,
)
from lightway.data.reconciliation.services import (
    recon_case_open,
    recon_item_create,
    recon_run_finish,
    recon_run_start,
)
from lightway.integration.momo.port import MomoError, MomoNotFound, MomoTarget, Operation

log = logging.getLogger(__name__)

Progress = Callable[..., None]

MAX_STATUS_READS = 1000
LOST_CALLBACK = "lost callback, resolved by status read"


@dataclass
class _Tally:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    auto_resolved: int = 0
    cases_opened: int = 0
    status_reads: int = 0
    read_errors: int = 0

    def add(self, category: str) -> None:
        self.counts[category] = self.counts.get(category, 0) + 1


def _window(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValidationFailed("the window's times need a time zone", details={"field": "window"})
    if end <= start:
        raise ValidationFailed("the window must end after it starts", details={"field": "window"})
    if end - start > timedelta(days=93):
        raise ValidationFailed(
            "the window is longer than 93 days; reconcile it in parts", details={"field": "window"}
        )


def reconcile(
    *,
    window_start: datetime,
    window_end: datetime,
    now: datetime,
    started_by: int | None = None,
    progress: Progress | None = None,
    max_status_reads: int = MAX_STATUS_READS,
) -> ReconRun:
    """Reconcile ``[window_start, window_end)`` and return the finished run (audited).

    Each item and case is written in its own short transaction (status reads are HTTP
    calls and must not hold a transaction open). A crash marks the run ``failed`` with the
    reason and re-raises.
    """
    _window(window_start, window_end)
    run = recon_run_start(
        window_start=window_start, window_end=window_end, started_by_id=started_by, now=now
    )
    log.info(
        "momo reconciliation started",
        extra={"run_id": run.pk, "from": window_start.isoformat(), "to": window_end.isoformat()},
    )
    tally = _Tally()
    try:
        _run(run, tally, now=now, progress=progress, max_reads=max_status_reads)
    except Exception as exc:
        recon_run_finish(
            run=run,
            counts=tally.counts,
            auto_resolved=tally.auto_resolved,
            cases_opened=tally.cases_opened,
            now=now,
            error=f"{type(exc).__name__}: {exc}"[:300],
            failed=True,
        )
        log.exception("momo reconciliation failed", extra={"run_id": run.pk})
        raise
    counts = dict(tally.counts)
    error = ""
    if tally.counts.get(UNVERIFIED):
        error = (
            f"{tally.counts[UNVERIFIED]} request(s) could not be verified (status reads failed "
            "or the run's bound was reached); run again later"
        )
    with transaction.atomic():
        recon_run_finish(
            run=run,
            counts=counts,
            auto_resolved=tally.auto_resolved,
            cases_opened=tally.cases_opened,
            now=now,
            error=error,
        )
        audit_record(
            actor=f"staff:{started_by}" if started_by else "system",
            action="momo.reconcile",
            object_type="recon.run",
            object_id=str(run.pk),
            data={
                "from": window_start.isoformat(),
                "to": window_end.isoformat(),
                "counts": counts,
                "auto_resolved": tally.auto_resolved,
                "cases_opened": tally.cases_opened,
                "status_reads": tally.status_reads,
            },
            now=now,
        )
    log.info(
        "momo reconciliation finished",
        extra={
            "run_id": run.pk,
            "counts": counts,
            "auto_resolved": tally.auto_resolved,
            "cases_opened": tally.cases_opened,
            "status_reads": tally.status_reads,
        },
    )
    return run


def _run(
    run: ReconRun, tally: _Tally, *, now: datetime, progress: Progress | None, max_reads: int
) -> None:
    requests = list(momo_requests_created_between(start=run.window_start, end=run.window_end))
    lines = list(statement_lines_between(start=run.window_start, end=run.window_end))
    pairs, ghosts = requests_match(requests=requests, lines=lines)
    coverage = statement_coverage(start=run.window_start - timedelta(days=1), end=run.window_end)
    grace = timedelta(seconds=int(getattr(settings, "MOMO_NOT_FOUND_GRACE_SECONDS", 60)))
    total = len(pairs) + len(ghosts)
    # The bounded reads go where they matter most (see ``_read_priority``).
    wanted = sorted(
        (p for p in pairs if _read_priority(p.request, p.line) is not None),
        key=lambda p: (_read_priority(p.request, p.line), p.request.created_at, p.request.pk),
    )
    to_read = {p.request.pk for p in wanted[:max_reads]}
    done = 0
    for pair in pairs:
        request = pair.request
        if request.pk in to_read:
            pair.read = _status_read(request)
            tally.status_reads += 1
            if pair.read.kind == "error":
                tally.read_errors += 1
        verdict = classify(
            request=request,
            line=pair.line,
            read=pair.read,
            covered=_covered(request, coverage),
            within_grace=request.accepted_at is not None and now - request.accepted_at < grace,
        )
        _record(run, tally, pair, verdict, now=now)
        done += 1
        if progress is not None:
            progress(done, total, verdict.category or UNVERIFIED)
    for line in ghosts:
        _record_ghost(run, tally, line, now=now)
        done += 1
        if progress is not None:
            progress(done, total, Category.MISSING_ON_PLATFORM.value)


def _read_priority(request: MomoRequest, line: StatementLine | None) -> int | None:
    """Whether the request needs a status read, and how urgently (lower first): the
    platform still waits or flagged it (a lost callback moves money once resolved), then
    the statement disagrees with the platform, then a successful request the statement does
    not show, then a failed one (MoMo may have taken the money after all). None: the
    statement line already agrees."""
    if request.status in PENDING or request.needs_review:
        return 0
    expected: dict[str, str] = {"successful": "SUCCESSFUL", "failed": "FAILED"}
    if line is not None:
        return None if expected.get(str(request.status), "") == line.status else 1
    return 2 if request.status == RequestStatus.SUCCESSFUL else 3


def _status_read(request: MomoRequest) -> Read:
    from lightway.application.momo.gateway import momo_gateway

    try:
        operation = Operation(request.operation)
    except ValueError:
        return Read("error", error=f"unknown operation {request.operation!r}")
    target = MomoTarget(base_url=request.base_url, environment=request.target_environment)
    try:
        result = momo_gateway().status(operation, reference_id=request.reference_id, target=target)
    except MomoNotFound:
        return Read("not_found")
    except MomoError as exc:
        log.warning(
            "momo reconciliation status read failed",
            extra={"reference_id": str(request.reference_id), "code": exc.code},
        )
        return Read("error", error=f"status read failed ({exc.code or type(exc).__name__})")
    return Read("ok", result=result)


def _covered(request: MomoRequest, coverage: list[Coverage]) -> bool:
    """Is the whole life of the request inside a statement period of its account?"""
    first = request.created_at
    last = request.completed_at or request.created_at
    return any(
        c.covers(product=request.product, environment=request.target_environment, at=first)
        and c.covers(product=request.product, environment=request.target_environment, at=last)
        for c in coverage
    )


# --- recording --------------------------------------------------------------------------


def _item_fields(pair: Pair, verdict: Verdict) -> dict[str, Any]:
    request, line = pair.request, pair.line
    fin = request.financial_transaction_id or (line.financial_transaction_id if line else "")
    return {
        "category": verdict.category,
        "request": request,
        "statement_line": line,
        "reference_id": str(request.reference_id),
        "financial_transaction_id": fin,
        "external_id": request.external_id,
        "operation": request.operation,
        "currency": request.currency,
        "platform_amount": signed_amount(request),
        "momo_amount": verdict.momo_amount,
        "platform_status": request.status,
        "momo_status": verdict.momo_status[:24],
        "detail": verdict.detail,
    }


def _record(run: ReconRun, tally: _Tally, pair: Pair, verdict: Verdict, *, now: datetime) -> None:
    if verdict.category is None:
        tally.add(UNVERIFIED)
        return
    fields = _item_fields(pair, verdict)
    action = verdict.action
    if action == "auto":
        resolved, detail = _auto_resolve(pair, now=now)
        if resolved:
            fields["detail"] = detail
            fields["resolution"] = Resolution.AUTO_POLLED
            with transaction.atomic():
                recon_item_create(run=run, now=now, **fields)
            tally.add(verdict.category)
            tally.auto_resolved += 1
            return
        fields["detail"] = f"{verdict.detail}; {detail}"
        action = "case"
    tally.add(verdict.category)
    if action != "case":
        with transaction.atomic():
            recon_item_create(run=run, now=now, **fields)
        return
    fields["resolution"] = Resolution.CASE_OPENED
    with transaction.atomic():
        item = recon_item_create(run=run, now=now, **fields)
        _, created = recon_case_open(
            key=f"ref:{pair.request.reference_id}", category=verdict.category, item=item, now=now
        )
    if created:
        tally.cases_opened += 1


def _record_ghost(run: ReconRun, tally: _Tally, line: StatementLine, *, now: datetime) -> None:
    tally.add(Category.MISSING_ON_PLATFORM)
    fields: dict[str, Any] = {
        "category": Category.MISSING_ON_PLATFORM,
        "statement_line": line,
        "reference_id": line.reference_id,
        "financial_transaction_id": line.financial_transaction_id,
        "external_id": line.external_id,
        "currency": line.currency,
        "momo_amount": line.amount_minor,
        "momo_status": line.status,
    }
    with transaction.atomic():
        if line.status == "FAILED":
            recon_item_create(
                run=run,
                now=now,
                detail="on the statement as FAILED, unknown to the platform: no money moved",
                **fields,
            )
            return
        item = recon_item_create(
            run=run,
            now=now,
            resolution=Resolution.CASE_OPENED,
            detail="on the float statement but unknown to the platform",
            **fields,
        )
        _, created = recon_case_open(
            key=f"fin:{line.financial_transaction_id}",
            category=Category.MISSING_ON_PLATFORM,
            item=item,
            now=now,
        )
    if created:
        tally.cases_opened += 1


def _auto_resolve(pair: Pair, *, now: datetime) -> tuple[bool, str]:
    """A lost callback: apply MoMo's final status read through the flows' exactly-once
    path (or let the flow read it itself when only the statement showed it)."""
    from lightway.application.momo import flows

    request = pair.request
    read = pair.read
    try:
        if read.kind == "ok" and read.result is not None and read.result.terminal:
            flows.momo_apply(request_id=request.pk, result=read.result, now=now)
        else:
            flows.momo_poll(request_id=request.pk, now=now)
    except (DomainError, MomoError) as exc:
        log.warning(
            "momo reconciliation could not resolve a request",
            extra={"reference_id": str(request.reference_id), "error": type(exc).__name__},
        )
        return False, f"automatic resolution failed ({type(exc).__name__})"
    request.refresh_from_db()
    if request.status in PENDING:
        return False, "the status read did not settle it"
    return True, f"{LOST_CALLBACK} (now {request.status})"
