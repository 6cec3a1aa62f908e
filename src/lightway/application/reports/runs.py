"""Report runs: request, produce (in a job, or at once from the CLI), download
(``docs/reports.md``).

- :func:`report_params` checks what was asked (kind, period, format, filters) and says
  precisely what is wrong (``ValidationFailed`` / ``RequestRefused`` naming the field).
- :func:`report_run_request` records a queued run and enqueues its ``report_run`` job in
  the same transaction (audited ``report.request``).
- :func:`report_run_execute` is the job's work: ``running``, the figures (progress recorded
  after each step, so the panel and the CLI can show it), the file in the asked format, its
  SHA-256, then the file and ``done`` in one transaction. Any error marks the run
  ``failed`` with its reason; nothing half-written is kept.
- :func:`report_download` returns a done run's file after checking its bytes against the
  SHA-256 recorded when it was made, and records the download in the audit trail with
  that digest (``report.download``); a mismatch refuses the download and is audited too
  (``report.download_refused``).
- :func:`report_schedule_daily` / :func:`report_schedule_monthly`: the periodic jobs'
  runs (yesterday's volumes, last month's commission), at most one per period
  (``schedule_key`` is unique).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction

from lightway.application.errors import DomainError, NotFound, RequestRefused, ValidationFailed
from lightway.application.identity.phones import MARKETS
from lightway.application.reports.kinds import KINDS, Filters
from lightway.application.reports.render import CONTENT_TYPES, FORMATS, report_bytes
from lightway.data.audit.services import audit_record
from lightway.data.identity.models import Partner
from lightway.data.money import CURRENCY_CODES
from lightway.data.reports.models import SCHEDULE, ReportRun, RunStatus
from lightway.data.reports.selectors import (
    report_file_content,
    report_run_by_schedule_key,
    report_run_get,
)
from lightway.data.reports.services import (
    report_run_create,
    report_run_fail,
    report_run_finish,
    report_run_progress,
    report_run_start,
)
from lightway.infrastructure.jobs import job_enqueue

logger = logging.getLogger(__name__)

MAX_PERIOD_DAYS = 366
PERIOD_INVALID = "period_invalid"
JOB = "report_run"
DAILY_KIND, DAILY_FORMAT = "volumes", "xlsx"
MONTHLY_KIND, MONTHLY_FORMAT = "commission", "pdf"
RENDER_STEPS = 2  # writing the file, storing it

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ReportParams:
    kind: str
    start: date
    end: date
    format: str
    filters: Filters

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "format": self.format,
        }
        for name in ("market", "currency", "partner"):
            value = getattr(self.filters, name)
            if value:
                data[name] = value
        return data

    @property
    def filename(self) -> str:
        parts = [self.kind, self.start.isoformat(), self.end.isoformat()]
        parts += [
            v for v in (self.filters.market, self.filters.currency, self.filters.partner) if v
        ]
        return "-".join(parts) + f".{self.format}"


def report_params(
    *,
    kind: str,
    start: date,
    end: date,
    fmt: str,
    market: str = "",
    currency: str = "",
    partner: str = "",
) -> ReportParams:
    """What was asked, checked. Raises :class:`ValidationFailed` (an unknown kind, format,
    market, currency or partner; a filter the kind does not take) or
    :class:`RequestRefused` ``period_invalid`` (``to`` before ``from``, more than
    :data:`MAX_PERIOD_DAYS` days), each naming its field in ``details``."""
    kind = (kind or "").strip().lower()
    info = KINDS.get(kind)
    if info is None:
        raise ValidationFailed(
            f"unknown report kind {kind!r}: one of {', '.join(KINDS)}", details={"field": "kind"}
        )
    fmt = (fmt or "").strip().lower()
    if fmt not in FORMATS:
        raise ValidationFailed(
            f"format must be one of {', '.join(FORMATS)}, not {fmt!r}", details={"field": "format"}
        )
    if end < start:
        raise RequestRefused(
            PERIOD_INVALID,
            f"the period ends ({end.isoformat()}) before it starts ({start.isoformat()})",
            details={"field": "to"},
        )
    days = (end - start).days + 1
    if days > MAX_PERIOD_DAYS:
        raise RequestRefused(
            PERIOD_INVALID,
            f"a report covers at most {MAX_PERIOD_DAYS} days; this period has {days}",
            details={"field": "to"},
        )
    market = (market or "").strip().upper()
    currency = (currency or "").strip().upper()
    partner = (partner or "").strip()
    if market and market not in MARKETS:
        raise ValidationFailed(
            f"market must be one of {', '.join(sorted(MARKETS))}, not {market!r}",
            details={"field": "market"},
        )
    if currency and currency not in CURRENCY_CODES:
        raise ValidationFailed(f"unknown currency {currency!r}", details={"field": "currency"})
    if partner and not Partner.objects.filter(code=partner).exists():
        raise ValidationFailed(f"no partner with code {partner!r}", details={"field": "partner"})
    for name, value in (("market", market), ("currency", currency), ("partner", partner)):
        if value and name not in info.filters:
            raise ValidationFailed(
                f"the {kind} report takes no {name} filter", details={"field": name}
            )
    return ReportParams(kind, start, end, fmt, Filters(market, currency, partner))


def params_of(run: ReportRun) -> ReportParams:
    p = run.params
    return ReportParams(
        run.kind,
        date.fromisoformat(p["from"]),
        date.fromisoformat(p["to"]),
        run.format,
        Filters(p.get("market", ""), p.get("currency", ""), p.get("partner", "")),
    )


def report_run_request(
    *, params: ReportParams, requested_by: str, now: datetime, enqueue: bool = True
) -> ReportRun:
    """Record a queued run of ``params`` for ``requested_by`` (``staff:<id>``,
    ``system:cli``) and, with ``enqueue``, its job, in one transaction (audited)."""
    with transaction.atomic():
        run = report_run_create(
            kind=params.kind,
            params=params.as_json(),
            fmt=params.format,
            requested_by=requested_by,
            now=now,
        )
        if enqueue:
            job_enqueue(JOB, run_id=int(run.pk))
        audit_record(
            actor=requested_by,
            action="report.request",
            object_type="report.run",
            object_id=str(run.pk),
            data={"kind": params.kind, **params.as_json()},
            now=now,
        )
    return run


def report_run_execute(
    *,
    run_id: int,
    clock: Callable[[], datetime],
    progress: Progress | None = None,
) -> ReportRun:
    """Produce run ``run_id``'s file (the ``report_run`` job; the CLI calls it directly).
    ``clock`` gives the start and finish times; ``progress(done, total)`` is called after
    each step besides being recorded on the run. Returns the run as it ended."""
    run = report_run_get(run_id=run_id)
    if run is None:
        raise NotFound(f"no report run {run_id}")
    if run.status in (RunStatus.DONE, RunStatus.FAILED):
        return run
    params = params_of(run)
    info = KINDS[params.kind]
    started = clock()
    total = RENDER_STEPS + 1

    def mark(done: int) -> None:
        report_run_progress(run_id=run_id, done=done, total=total)
        if progress is not None:
            progress(done, total)

    def step(done: int, steps: int) -> None:  # the builder's steps, then writing, storing
        nonlocal total
        total = max(total, steps + RENDER_STEPS)
        mark(done)

    if not report_run_start(run_id=run_id, total=total, now=started):
        return run
    try:
        data = info.builder(
            start=params.start,
            end=params.end,
            filters=params.filters,
            now=started,
            progress=step,
        )
        mark(total - RENDER_STEPS)
        content = report_bytes(data, params.format, now=started)
        mark(total - 1)
        sha256 = hashlib.sha256(content).hexdigest()
        report_run_finish(
            run_id=run_id,
            content=content,
            sha256=sha256,
            filename=params.filename,
            now=clock(),
        )
        if progress is not None:
            progress(total, total)
        logger.info(
            "report run done",
            extra={"run_id": run_id, "kind": params.kind, "bytes": len(content)},
        )
    except DomainError as exc:
        report_run_fail(run_id=run_id, error=exc.message, now=clock())
    except Exception as exc:  # recorded on the run; the worker log has the traceback
        logger.exception("report run failed", extra={"run_id": run_id, "kind": params.kind})
        report_run_fail(
            run_id=run_id,
            error=f"internal error ({type(exc).__name__}); the worker log has the details",
            now=clock(),
        )
    ended = report_run_get(run_id=run_id)
    assert ended is not None
    return ended


@dataclass(frozen=True)
class Download:
    filename: str
    content_type: str
    content: bytes
    sha256: str


def report_download(*, run_id: int, actor: str, now: datetime) -> Download:
    """The file of done run ``run_id``, its bytes checked against the recorded SHA-256,
    the download audited with that digest. Raises :class:`NotFound` (no such run, or not
    done) or :class:`RequestRefused` ``report_integrity`` (the bytes changed)."""
    run = report_run_get(run_id=run_id)
    if run is None or run.status != RunStatus.DONE:
        raise NotFound(f"report run {run_id} has no file (it is not done)")
    content = report_file_content(run_id=run_id) or b""
    digest = hashlib.sha256(content).hexdigest()
    data: dict[str, object] = {
        "kind": run.kind,
        "format": run.format,
        "sha256": run.sha256,
        "bytes": run.size,
    }
    if digest != run.sha256:
        with transaction.atomic():
            audit_record(
                actor=actor,
                action="report.download_refused",
                object_type="report.run",
                object_id=str(run.pk),
                data={**data, "found_sha256": digest},
                now=now,
            )
        logger.error("report file does not match its SHA-256", extra={"run_id": run_id})
        raise RequestRefused(
            "report_integrity",
            "this report's file no longer matches the SHA-256 recorded when it was made;"
            " it is not served (the refusal is in the audit trail)",
        )
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="report.download",
            object_type="report.run",
            object_id=str(run.pk),
            data=data,
            now=now,
        )
    return Download(run.filename, CONTENT_TYPES[run.format], content, digest)


# --- the schedule -------------------------------------------------------------------------


def _scheduled(*, key: str, params: ReportParams, now: datetime) -> ReportRun | None:
    if report_run_by_schedule_key(key=key) is not None:
        return None
    try:
        with transaction.atomic():
            run = report_run_create(
                kind=params.kind,
                params=params.as_json(),
                fmt=params.format,
                requested_by=SCHEDULE,
                now=now,
                schedule_key=key,
            )
            job_enqueue(JOB, run_id=int(run.pk))
    except IntegrityError:  # another worker made it first
        return None
    return run


def report_schedule_daily(*, now: datetime) -> ReportRun | None:
    """Yesterday's (UTC) volumes report, once (None when it exists already)."""
    day = now.astimezone(UTC).date() - timedelta(days=1)
    params = report_params(kind=DAILY_KIND, start=day, end=day, fmt=DAILY_FORMAT)
    return _scheduled(key=f"{DAILY_KIND}:{day.isoformat()}", params=params, now=now)


def report_schedule_monthly(*, now: datetime) -> ReportRun | None:
    """Last month's commission report, once (None when it exists already)."""
    first_this = now.astimezone(UTC).date().replace(day=1)
    last = first_this - timedelta(days=1)
    first = last.replace(day=1)
    params = report_params(kind=MONTHLY_KIND, start=first, end=last, fmt=MONTHLY_FORMAT)
    return _scheduled(key=f"{MONTHLY_KIND}:{first.strftime('%Y-%m')}", params=params, now=now)
