"""MoMo reconciliation: compare the platform's records with MoMo's, per time window
(docs/momo.md, "Reconciliation").

Three sources meet in :func:`reconcile`:

1. the platform: the :class:`MomoRequest` rows created in the window, with their transfers;
2. MoMo's own view of each reference: a status read (``GET .../{referenceId}``) for every
   request that is not final, is flagged for review, has no statement line, or whose line
   disagrees with it (bounded per run);
3. the float account's statement: :class:`StatementLine` rows in the window, imported from
   the file MTN's portal exports (``statements.statement_import``).

Lines are paired with requests by X-Reference-Id, else financialTransactionId, else
externalId (only when exactly one request carries it: MoMo does not make it unique). Each
pair, and each line no request claims, becomes one :class:`ReconItem` in one category:

- ``matched``: both sides agree (both successful with the same signed amount and currency,
  both failed, or both still pending);
- ``missing_at_momo``: the platform says successful or pending but MoMo has no record (no
  line and the status read answers 404, or absent from a statement that covers its time);
- ``missing_on_platform``: a statement line no request claims (a "ghost");
- ``amount_mismatch``: MoMo's amount or currency differs (amounts are signed from the
  float's point of view: collections +, payouts -);
- ``status_mismatch``: final outcomes differ, or one side is final and the other pending.

Safe cases resolve themselves: a request still pending on the platform while MoMo's status
read is final is a lost callback, so the read result goes through the flows' own
exactly-once path (``flows.momo_apply``; ``flows.momo_poll`` when only the statement showed
it) and the item is marked ``auto_polled``. Reconciliation never moves money any other way.
Everything else that is not matched opens a :class:`ReconCase` (one open case per
reference: a later run reuses it).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction

from lightway.application.errors import DomainError, NotFound, ValidationFailed
from lightway.data.audit.services import audit_record
from lightway.data.momo.models import MomoRequest, RequestStatus
from lightway.data.money import Money, MoneyError, currency
from lightway.data.reconciliation.models import (
    Category,
    ReconCase,
    ReconItem,
    ReconRun,
    Resolution,
    StatementLine,
)
from lightway.data.reconciliation.selectors import (
    Coverage,
    momo_requests_created_between,
    momo_requests_matching,
    recon_item_counts,
    recon_items,
    recon_run_get,
    recon_runs_recent,
    statement_coverage,
    statement_lines_between,
    statement_lines_matching,
)
from lightway.data.reconciliation.services import (
    CaseNotOpen,
    recon_case_assign,
    recon_case_open,
    recon_case_resolve,
    recon_item_create,
    recon_run_finish,
    recon_run_start,
)
from lightway.integration.momo.port import (
    OPERATIONS,
    MomoError,
    MomoNotFound,
    MomoResult,
    MomoTarget,
    Operation,
)
from lightway.security.crypto import CryptoError, decrypt
from lightway.security.masking import mask_email, mask_id_number, mask_phone

log = logging.getLogger(__name__)

Progress = Callable[..., None]

MAX_STATUS_READS = 1000
FINAL = frozenset({"SUCCESSFUL", "FAILED"})
PENDING = RequestStatus.NEW, RequestStatus.ACCEPTED
CATEGORIES: tuple[str, ...] = tuple(Category.values)
UNVERIFIED = "unverified"
LOST_CALLBACK = "lost callback, resolved by status read"


# --- what each side says ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Read:
    """The outcome of one status read: ``ok`` (``result`` set), ``not_found`` (404),
    ``error`` (the read failed) or ``skipped`` (not needed, or over the run's bound)."""

    kind: str
    result: MomoResult | None = None
    error: str = ""

    @property
    def status(self) -> str | None:
        return self.result.status if self.kind == "ok" and self.result is not None else None


NOT_READ = Read("skipped")


@dataclass(frozen=True, slots=True)
class Verdict:
    category: str | None  # None: could not be verified (no item)
    action: str  # "none" | "case" | "auto"
    detail: str
    momo_status: str = ""
    momo_amount: int | None = None


def inbound(operation: str, product: str) -> bool:
    """Does money come into the float (collections) for this operation?"""
    try:
        return OPERATIONS[Operation(operation)].inbound
    except ValueError:
        return product == "collection"


def signed_amount(request: MomoRequest) -> int:
    return request.amount if inbound(request.operation, request.product) else -request.amount


def _read_amount(result: MomoResult, request: MomoRequest) -> tuple[int | None, str]:
    """MoMo's amount in a status read as signed minor units (None when absent/unreadable)."""
    code = (result.currency or request.currency or "").upper()
    if result.amount is None:
        return None, code
    try:
        exponent = currency(code).exponent
        value = Decimal(str(result.amount).strip())
    except (MoneyError, InvalidOperation):
        return None, code
    if not value.is_finite():
        return None, code
    minor = value.scaleb(exponent)
    if minor != minor.to_integral_value():
        return None, code
    amount = abs(int(minor))
    return (amount if inbound(request.operation, request.product) else -amount), code


def classify(
    *,
    request: MomoRequest,
    line: StatementLine | None,
    read: Read,
    covered: bool,
    within_grace: bool,
) -> Verdict:
    """The category of one (request, MoMo) pair and what to do about it. Pure."""
    plat = request.status
    pending = plat in PENDING
    line_status = line.status if line is not None else None
    read_status = read.status
    if line_status in FINAL and read_status in FINAL and line_status != read_status:
        return Verdict(
            Category.STATUS_MISMATCH,
            "case",
            f"the statement says {line_status} but the status read says {read_status}",
            f"{line_status}/{read_status}",
            line.amount_minor if line is not None else None,
        )
    if read_status in FINAL:
        momo_final: str | None = read_status
    elif line_status in FINAL:
        momo_final = line_status
    else:
        momo_final = None
    shown = read_status or line_status or ("NOT_FOUND" if read.kind == "not_found" else "")
    if momo_final:
        shown = momo_final
    momo_amount: int | None = None
    momo_currency = request.currency
    if line is not None:
        momo_amount, momo_currency = line.amount_minor, line.currency
    elif read.kind == "ok" and read.result is not None:
        momo_amount, momo_currency = _read_amount(read.result, request)

    def verdict(category: str | None, action: str, detail: str) -> Verdict:
        return Verdict(category, action, detail, shown, momo_amount)

    if momo_final == "SUCCESSFUL" and plat != RequestStatus.FAILED and momo_amount is not None:
        expected = signed_amount(request)
        if momo_currency != request.currency or momo_amount != expected:
            return verdict(
                Category.AMOUNT_MISMATCH,
                "case",
                f"MoMo shows {_money(momo_amount, momo_currency)}, the platform "
                f"{_money(expected, request.currency)}",
            )
    if momo_final is not None:
        source = "status read" if read_status in FINAL else "statement"
        if pending:
            return verdict(
                Category.STATUS_MISMATCH,
                "auto",
                f"platform {plat}, MoMo {momo_final} ({source})",
            )
        if plat == RequestStatus.SUCCESSFUL and momo_final == "SUCCESSFUL":
            if line is None and covered:
                return verdict(
                    Category.MISSING_AT_MOMO,
                    "case",
                    "not on the float statement for its period, although the status read "
                    "says SUCCESSFUL",
                )
            how = "statement line" if line is not None else "status read (no statement line)"
            return verdict(Category.MATCHED, "none", f"successful at both ({how})")
        if plat == RequestStatus.FAILED and momo_final == "FAILED":
            return verdict(Category.MATCHED, "none", "failed at both")
        return verdict(
            Category.STATUS_MISMATCH, "case", f"platform {plat}, MoMo {momo_final} ({source})"
        )
    if read.kind == "not_found" and (line is None or line_status not in FINAL):
        if plat == RequestStatus.FAILED:
            return verdict(Category.MATCHED, "none", "failed; MoMo has no record of it")
        if plat == RequestStatus.NEW:
            return verdict(
                Category.MATCHED, "none", "not yet created at MoMo (the flow is still submitting)"
            )
        if plat == RequestStatus.ACCEPTED and within_grace:
            return verdict(
                Category.MATCHED, "none", "accepted moments ago; MoMo may not show it yet"
            )
        return verdict(
            Category.MISSING_AT_MOMO, "case", f"platform {plat}, MoMo answers 404 (no record)"
        )
    if read_status is not None or line_status is not None:  # MoMo: pending / in progress
        if pending:
            return verdict(Category.MATCHED, "none", "pending at both")
        return verdict(
            Category.STATUS_MISMATCH, "case", f"platform {plat}, MoMo still {shown or 'pending'}"
        )
    if plat == RequestStatus.FAILED:
        return verdict(Category.MATCHED, "none", "failed; no statement line")
    reason = read.error or "status not read (the run's bound was reached)"
    return verdict(None, "none", f"could not verify: {reason}")


def _money(amount: int, code: str) -> str:
    try:
        return Money.of(amount, code).format()
    except MoneyError:
        return f"{code} {amount} (minor units)"


# --- the run ----------------------------------------------------------------------------


@dataclass
class _Pair:
    request: MomoRequest
    line: StatementLine | None = None
    read: Read = NOT_READ


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
    pairs, ghosts = _pair(requests, lines)
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


def _pair(
    requests: list[MomoRequest], lines: list[StatementLine]
) -> tuple[list[_Pair], list[StatementLine]]:
    """Pair window requests and window lines; pull in requests (lines) outside the window
    that window lines (requests) refer to. Returns the pairs and the unclaimed lines."""
    pairs: dict[int, _Pair] = {r.pk: _Pair(r) for r in requests}
    index = _RequestIndex(requests)
    unclaimed: list[StatementLine] = []
    for line in lines:
        request = index.find(line)
        if request is None:
            unclaimed.append(line)
        else:
            index.claim(request)
            pairs[request.pk].line = line
    if unclaimed:  # requests created before (or after) the window
        outside = momo_requests_matching(
            reference_ids=[ln.reference_id for ln in unclaimed],
            financial_ids=[ln.financial_transaction_id for ln in unclaimed],
            external_ids=[ln.external_id for ln in unclaimed if not ln.reference_id],
        )
        index.add([r for r in outside if r.pk not in pairs])
        ghosts = []
        for line in unclaimed:
            request = index.find(line)
            if request is None:
                ghosts.append(line)
                continue
            index.claim(request)
            pairs.setdefault(request.pk, _Pair(request)).line = line
        unclaimed = ghosts
    lonely = [p.request for p in pairs.values() if p.line is None]
    if lonely:  # their lines may sit outside the window (MoMo's time differs from ours)
        used = {p.line.pk for p in pairs.values() if p.line is not None} | {
            ln.pk for ln in unclaimed
        }
        candidates = [
            ln
            for ln in statement_lines_matching(
                reference_ids=[str(r.reference_id) for r in lonely],
                financial_ids=[r.financial_transaction_id for r in lonely],
                external_ids=[r.external_id for r in lonely],
            )
            if ln.pk not in used
        ]
        line_index = _LineIndex(candidates)
        for request in lonely:
            found = line_index.find(request)
            if found is not None:
                line_index.claim(found)
                pairs[request.pk].line = found
    ordered = sorted(pairs.values(), key=lambda p: (p.request.created_at, p.request.pk))
    return ordered, unclaimed


class _RequestIndex:
    def __init__(self, requests: Iterable[MomoRequest]):
        self.by_ref: dict[str, MomoRequest] = {}
        self.by_fin: dict[str, MomoRequest] = {}
        self.by_ext: dict[str, list[MomoRequest]] = {}
        self.claimed: set[int] = set()
        self.add(requests)

    def add(self, requests: Iterable[MomoRequest]) -> None:
        for r in requests:
            self.by_ref[str(r.reference_id)] = r
            if r.financial_transaction_id:
                self.by_fin[r.financial_transaction_id] = r
            if r.external_id:
                self.by_ext.setdefault(r.external_id, []).append(r)

    def claim(self, request: MomoRequest) -> None:
        self.claimed.add(request.pk)

    def _free(self, request: MomoRequest | None) -> MomoRequest | None:
        return request if request is not None and request.pk not in self.claimed else None

    def find(self, line: StatementLine) -> MomoRequest | None:
        if line.reference_id:
            found = self._free(self.by_ref.get(line.reference_id))
            if found is not None:
                return found
        found = self._free(self.by_fin.get(line.financial_transaction_id))
        if found is not None:
            return found
        if line.external_id and not line.reference_id:
            candidates = [
                r
                for r in self.by_ext.get(line.external_id, [])
                if r.pk not in self.claimed
                and r.financial_transaction_id in ("", line.financial_transaction_id)
            ]
            if len(candidates) == 1:
                return candidates[0]
        return None


class _LineIndex:
    def __init__(self, lines: Iterable[StatementLine]):
        self.by_ref: dict[str, StatementLine] = {}
        self.by_fin: dict[str, StatementLine] = {}
        self.by_ext: dict[str, list[StatementLine]] = {}
        self.claimed: set[int] = set()
        for ln in lines:
            if ln.reference_id:
                self.by_ref.setdefault(ln.reference_id, ln)
            self.by_fin.setdefault(ln.financial_transaction_id, ln)
            if ln.external_id and not ln.reference_id:
                self.by_ext.setdefault(ln.external_id, []).append(ln)

    def claim(self, line: StatementLine) -> None:
        self.claimed.add(line.pk)

    def find(self, request: MomoRequest) -> StatementLine | None:
        for line in (
            self.by_ref.get(str(request.reference_id)),
            self.by_fin.get(request.financial_transaction_id)
            if request.financial_transaction_id
            else None,
        ):
            if line is not None and line.pk not in self.claimed:
                return line
        candidates = [
            ln for ln in self.by_ext.get(request.external_id, []) if ln.pk not in self.claimed
        ]
        return candidates[0] if len(candidates) == 1 else None


# --- recording --------------------------------------------------------------------------


def _item_fields(pair: _Pair, verdict: Verdict) -> dict[str, Any]:
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


def _record(run: ReconRun, tally: _Tally, pair: _Pair, verdict: Verdict, *, now: datetime) -> None:
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


def _auto_resolve(pair: _Pair, *, now: datetime) -> tuple[bool, str]:
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


# --- the operations work-queue --------------------------------------------------------------


def case_assign(
    *, case_id: int, assignee_id: int | None, actor_id: int, now: datetime
) -> ReconCase:
    """Assign a case (or hand it back to the queue with ``None``); audited."""
    return _case_change(
        case_id,
        lambda: recon_case_assign(case_id=case_id, assignee_id=assignee_id, now=now),
        action="assign",
        audit=lambda case: {"assignee": assignee_id, "key": case.key},
        actor_id=actor_id,
        now=now,
    )


def case_resolve(*, case_id: int, note: str, actor_id: int, now: datetime) -> ReconCase:
    """Resolve a case with a note saying what was done; audited. Resolving never moves
    money: corrections go through the ledger's own (maker-checker) paths."""
    note = (note or "").strip()
    if len(note) < 5:
        raise ValidationFailed(
            "write a note of at least 5 characters saying what was done",
            details={"field": "note"},
        )
    if len(note) > 500:
        raise ValidationFailed("the note is longer than 500 characters", details={"field": "note"})
    return _case_change(
        case_id,
        lambda: recon_case_resolve(case_id=case_id, note=note, resolved_by_id=actor_id, now=now),
        action="resolve",
        audit=lambda case: {"key": case.key, "category": case.category, "note_length": len(note)},
        actor_id=actor_id,
        now=now,
    )


def _case_change(
    case_id: int,
    change: Callable[[], ReconCase],
    *,
    action: str,
    audit: Callable[[ReconCase], dict[str, object]],
    actor_id: int,
    now: datetime,
) -> ReconCase:
    """Apply ``change`` to an open case and audit it (``momo.recon_case.<action>``, with
    ``audit(case)`` as its data), in one transaction."""
    with transaction.atomic():
        try:
            case = change()
        except ReconCase.DoesNotExist:
            raise NotFound("no such case", details={"case_id": case_id}) from None
        except CaseNotOpen:
            raise ValidationFailed(
                "this case is resolved already", details={"field": "case"}
            ) from None
        audit_record(
            actor=f"staff:{actor_id}",
            action=f"momo.recon_case.{action}",
            object_type="recon.case",
            object_id=str(case.pk),
            data=audit(case),
            now=now,
        )
    return case


# --- reports ----------------------------------------------------------------------------

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
        return "•••"
    kind = (request.party_id_type or "MSISDN").upper()
    if kind == "MSISDN":
        digits = "".join(ch for ch in value if ch.isdigit())
        return mask_phone(f"+{digits}") if digits else ""
    if kind == "EMAIL":
        return mask_email(value)
    return mask_id_number(value)


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


# --- scheduled runs and the simulator's statement (development, demo) ---------------------

SCHEDULE_WINDOW = timedelta(hours=2)


def schedule_window(now: datetime) -> tuple[datetime, datetime]:
    """The window the hourly job reconciles: the two whole hours before ``now`` (each
    request is looked at twice, once an hour after the other, so late outcomes are seen)."""
    end = now.replace(minute=0, second=0, microsecond=0)
    return end - SCHEDULE_WINDOW, end


@dataclass(frozen=True, slots=True)
class FetchNote:
    account: str  # "collection/mtnuganda"
    message: str
    ok: bool


def statements_fetch_simulator(
    *, window_start: datetime, window_end: datetime, now: datetime, imported_by: int | None = None
) -> list[FetchNote]:
    """Import the window's statement of every MoMo account the window's requests used,
    from the **simulator**'s export (MTN has no statement API: production imports the
    portal's file). A failed fetch is reported, never raised: reconciliation goes on."""
    from lightway.application.momo.statements import (
        StatementDuplicate,
        statement_fetch_simulator,
        statement_import,
    )

    accounts = sorted(
        set(
            MomoRequest.objects.filter(created_at__gte=window_start, created_at__lt=window_end)
            .values_list("base_url", "product", "target_environment")
            .distinct()
        )
    )
    notes: list[FetchNote] = []
    for base_url, product, environment in accounts:
        name = f"{product}/{environment}"
        try:
            data = statement_fetch_simulator(
                base_url=base_url,
                product=product,
                environment=environment,
                start=window_start,
                end=window_end,
            )
            result = statement_import(
                data=data,
                filename=f"sim-{product}-{environment}-{window_start:%Y%m%dT%H%M}.csv",
                product=product,
                environment=environment,
                imported_by=imported_by,
                actor=f"staff:{imported_by}" if imported_by else "system",
                period_start=window_start,
                period_end=window_end,
                now=now,
            )
        except StatementDuplicate:
            notes.append(FetchNote(name, "this statement was imported already", True))
            continue
        except Exception as exc:  # a demo convenience: report, do not stop the run
            log.warning(
                "momo simulator statement fetch failed",
                extra={"account": name, "error": type(exc).__name__},
            )
            notes.append(FetchNote(name, f"not fetched: {type(exc).__name__}: {exc}"[:200], False))
            continue
        notes.append(
            FetchNote(
                name,
                f"{result.imported} line(s) imported, {result.skipped} already known",
                True,
            )
        )
    return notes


def reconcile_job(
    *,
    now: datetime,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    started_by: int | None = None,
    fetch_statement: bool = False,
) -> int | None:
    """What the ``momo_reconcile`` task runs: the given window (default: the schedule's),
    optionally after fetching the simulator's statements. Returns the run id, or None when
    MoMo is not configured (nothing to compare with)."""
    from lightway.application.momo.gateway import momo_configured

    if not momo_configured():
        log.info("momo reconciliation skipped: MoMo is not configured")
        return None
    if window_start is None or window_end is None:
        window_start, window_end = schedule_window(now)
    if fetch_statement:
        statements_fetch_simulator(
            window_start=window_start, window_end=window_end, now=now, imported_by=started_by
        )
    run = reconcile(
        window_start=window_start, window_end=window_end, now=now, started_by=started_by
    )
    return run.pk


def case_assignees() -> list[tuple[int, str]]:
    """(user id, username) of the active staff who may work the case queue."""
    from django.contrib.auth import get_user_model

    from lightway.security.models import RoleAssignment
    from lightway.security.policy import MATRIX, Action

    roles = [role for role, actions in MATRIX.items() if Action.RECON_MANAGE in actions]
    ids = RoleAssignment.objects.filter(role__in=roles).values_list("user_id", flat=True)
    users = get_user_model().objects.filter(pk__in=ids, is_active=True).order_by("username")
    return [(int(u.pk), u.get_username()) for u in users]
