"""goAML export use cases: generate, validate, seal, record, list, download.

- :func:`goaml_export` builds the STR (from a :class:`SuspicionInput`) or the CTRs of a
  period (transfers at or above the FIU's threshold, one report per ``ctr_batch_size``
  transactions), validates **every** file against the FIU's XSD and only then releases
  them: all files of one export are stored in one transaction, so a period is released
  whole or not at all. A file that does not validate raises :class:`SchemaInvalid` with
  the violations; nothing is stored.
- Stored files are sealed at rest (AES-256-GCM envelope of ``lightway.security.crypto``,
  associated data ``goaml.file:<reference>``); their SHA-256 (of the clear bytes) is in
  the row and in the ``goaml.file.create`` audit record.
- A CTR day is reported once: every complete local day of a CTR export is recorded in
  ``goaml_ctr_day`` (unique per FIU and day) with its files, in the files' transaction. An
  export of one day already released returns that day's files; a longer period that
  includes one is refused (:class:`CtrDaysReleased`). A day not over yet (FIU-local) is not
  recorded: its export is preliminary, the daily job still reports the whole day.
- :func:`goaml_ctr_daily` (the periodic job ``goaml_ctr_daily``) exports, for every FIU
  whose configuration in force opts in (``ctr_daily``), each complete local day of the last
  :data:`CTR_DAILY_LOOKBACK_DAYS` not recorded yet; a day with nothing to report is
  recorded too (no file), so it is not tried again.
- :func:`goaml_file_open` unseals a file for download, checks its SHA-256 again and writes
  a ``goaml.file.download`` audit record (only the compliance role reaches it: the
  ``goaml.export`` permission).
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import Q

from lightway.application.datakeys.rotation import EncryptedColumn, encrypted_column_register
from lightway.application.errors import Conflict, DomainError, NotFound, ValidationFailed
from lightway.application.goaml.build import Header, Txn, report_xml
from lightway.application.goaml.config import fiu_config_in_force, fiu_names
from lightway.application.goaml.facts import (
    ctr_transfers,
    period_bounds,
    transactions_resolve,
    transfers_by_id,
)
from lightway.application.goaml.schema import schema_validate
from lightway.application.suspicion import SuspicionInput
from lightway.data.audit.services import audit_record
from lightway.data.goaml.models import CtrDay, FileKind, FiuConfig, GoamlFile
from lightway.data.wallets.models import Transfer
from lightway.security.crypto import seal, unseal

logger = logging.getLogger(__name__)

MAX_PERIOD_DAYS = 366
CTR_DAILY_ACTOR = "system:goaml-ctr-daily"
# How many past local days each run of the daily job looks at: a worker stopped for up to
# this long catches up; days already recorded cost one lookup.
CTR_DAILY_LOOKBACK_DAYS = 3
PROGRESS_EVERY = 500  # transfers read between two progress reports
XML_TYPE = "application/xml"
CSV_TYPE = "text/csv; charset=utf-8"

Progress = Callable[[int], None]


def file_context(reference: str) -> str:
    return f"goaml.file:{reference}"


# Key rotation (``lightway keys rotate``) re-seals the files too (the guard of migration
# goaml 0002 lets exactly that column change).
encrypted_column_register(
    EncryptedColumn("goaml.GoamlFile", "content_ct", lambda row: file_context(row.reference))
)


@dataclass(frozen=True)
class Released:
    id: int
    reference: str
    kind: str
    filename: str
    transactions: int
    size: int
    sha256: str
    content: bytes

    @classmethod
    def of(cls, row: GoamlFile, *, sha256: str, content: bytes | None = None) -> Released:
        """A stored file as released; ``content`` unsealed from the row when not given."""
        if content is None:
            content = unseal(bytes(row.content_ct), context=file_context(row.reference))
        return cls(
            id=row.pk,
            reference=row.reference,
            kind=row.kind,
            filename=row.filename,
            transactions=row.transactions,
            size=row.size,
            sha256=sha256,
            content=content,
        )


@dataclass(frozen=True)
class _Pending:
    reference: str
    kind: str
    filename: str
    content_type: str
    content: bytes
    transactions: int
    amount_total: int
    case_reference: str = ""


def period_check(*, start: date, end: date) -> None:
    if end < start:
        raise ValidationFailed(
            f"the period ends ({end.isoformat()}) before it starts ({start.isoformat()})",
            details={"field": "end"},
        )
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise ValidationFailed(
            f"at most {MAX_PERIOD_DAYS} days at a time", details={"field": "end"}
        )


def _reference(report: str, fiu: str, middle: str) -> str:
    return f"LW-{report}-{fiu}-{middle}-{secrets.token_hex(3).upper()}"[:100]


class CtrDaysReleased(Conflict):
    code = "ctr_days_released"


def _days_taken(fiu: str, days: Sequence[date]) -> CtrDaysReleased:
    shown = ", ".join(d.isoformat() for d in days[:10])
    return CtrDaysReleased(
        f"the CTRs of {fiu} for {shown} were released already (a day is reported once):"
        " export the other days, or each of these days alone for its files",
        details={"field": "start", "days": [d.isoformat() for d in days[:31]]},
    )


def _store(
    *,
    pending: Sequence[_Pending],
    config: FiuConfig,
    start: date,
    end: date,
    actor: str,
    now: datetime,
    ctr_days: Sequence[date] = (),
) -> list[Released]:
    """Store the files of one export in one transaction; with ``ctr_days``, record those
    days as released with these files (:class:`CtrDaysReleased` when one already is)."""
    released: list[Released] = []
    with transaction.atomic():
        for item in pending:
            digest = hashlib.sha256(item.content).hexdigest()
            row = GoamlFile.objects.create(
                reference=item.reference,
                fiu=config.fiu,
                config=config,
                kind=item.kind,
                content_type=item.content_type,
                filename=item.filename,
                period_start=start,
                period_end=end,
                case_reference=item.case_reference,
                transactions=item.transactions,
                currency=config.currency_code_local,
                amount_total=item.amount_total,
                size=len(item.content),
                sha256=digest,
                content_ct=seal(item.content, context=file_context(item.reference)),
                created_at=now,
                created_by=actor,
            )
            audit_record(
                actor=actor,
                action="goaml.file.create",
                object_type="goaml.file",
                object_id=str(row.pk),
                data={
                    "reference": row.reference,
                    "fiu": row.fiu,
                    "config": config.pk,
                    "kind": row.kind,
                    "period": [start.isoformat(), end.isoformat()],
                    "transactions": row.transactions,
                    "size": row.size,
                    "sha256": digest,
                    "case_reference": row.case_reference,
                },
                now=now,
            )
            released.append(Released.of(row, sha256=digest, content=item.content))
        if ctr_days:
            ids = [r.id for r in released]
            try:
                with transaction.atomic():  # a savepoint: the unique key decides a race
                    CtrDay.objects.bulk_create(
                        CtrDay(
                            fiu=config.fiu,
                            day=day,
                            config=config,
                            files=ids,
                            created_at=now,
                            created_by=actor,
                        )
                        for day in ctr_days
                    )
            except IntegrityError:
                raise _days_taken(config.fiu, list(ctr_days)) from None
            audit_record(
                actor=actor,
                action="goaml.ctr.days",
                object_type="goaml.fiu",
                object_id=config.fiu,
                data={
                    "days": [d.isoformat() for d in ctr_days],
                    "files": [r.reference for r in released],
                },
                now=now,
            )
    return released


def _released_files(ids: Sequence[int]) -> list[Released]:
    """The stored files ``ids`` (unsealed), oldest first: a day's CTRs exported again."""
    out: list[Released] = []
    for row in GoamlFile.objects.filter(pk__in=list(ids)).order_by("id"):
        out.append(Released.of(row, sha256=row.sha256))
    return out


def _ctr_days_released(fiu: str, start: date, end: date) -> list[CtrDay]:
    return list(CtrDay.objects.filter(fiu=fiu, day__gte=start, day__lte=end).order_by("day"))


def _local_total(txns: Sequence[Txn], code: str) -> int:
    return sum(t.amount for t in txns if t.currency == code)


def _indicators(config: FiuConfig, platform: Sequence[str]) -> tuple[str, ...]:
    mapping: dict[str, list[str]] = dict(config.indicator_codes)
    missing = [code for code in platform if code not in mapping]
    if missing:
        raise ValidationFailed(
            f"FIU {config.fiu!r} has no indicator code for {', '.join(missing)}: add them to"
            " its indicator mapping (a new configuration version)",
            details={"unmapped": missing},
        )
    out: list[str] = []
    for code in platform:
        for fiu_code in mapping[code]:
            if fiu_code not in out:
                out.append(fiu_code)
    return tuple(out)


def _require_indicators(config: FiuConfig, indicators: Sequence[str], report: str) -> None:
    if config.schema_version.startswith("5.") and not indicators:
        raise ValidationFailed(
            f"FIU {config.fiu!r} ({config.xsd_file}) requires report indicators and the {report}"
            " has none: map its indicators (or set the CTR indicators) in the configuration"
        )


def goaml_export_ctr(
    *,
    fiu: str,
    start: date,
    end: date,
    actor: str,
    now: datetime,
    progress: Progress | None = None,
) -> list[Released]:
    """The CTRs of [start, end] (local days of the FIU, end included); [] when no transfer
    reached the threshold. Each day is reported once (see the module docstring): one day
    released before returns its files again; a period including one is refused."""
    period_check(start=start, end=end)
    config = fiu_config_in_force(fiu=fiu, on=end)
    done = _ctr_days_released(fiu, start, end)
    if done and start == end:
        return _released_files(done[0].files)
    if done:
        raise _days_taken(fiu, [d.day for d in done])
    local = config.currency_code_local
    thresholds: dict[str, int] = dict(config.ctr_thresholds)
    if local not in thresholds:
        raise ValidationFailed(f"FIU {fiu!r} has no CTR threshold for its currency {local}")
    indicators = tuple(config.ctr_indicators)
    _require_indicators(config, indicators, "CTR")
    tz = ZoneInfo(config.timezone)
    lo, hi = period_bounds(start=start, end=end, tz=tz)
    pending: list[_Pending] = []
    batch: list[Transfer] = []
    seen = 0

    def flush() -> None:
        txns = transactions_resolve(batch)
        batch.clear()
        if not txns:
            return
        n = len(pending) + 1
        reference = _reference("CTR", fiu, f"{start:%Y%m%d}-{end:%Y%m%d}-{n:03d}")
        header = Header(report="CTR", reference=reference, submitted_at=now, indicators=indicators)
        content = report_xml(config=config, header=header, transactions=txns)
        schema_validate(xsd_file=config.xsd_file, document=content)
        pending.append(
            _Pending(
                reference=reference,
                kind=FileKind.CTR,
                filename=f"{reference}.xml",
                content_type=XML_TYPE,
                content=content,
                transactions=len(txns),
                amount_total=_local_total(txns, local),
            )
        )

    for transfer in ctr_transfers(currency=local, threshold=thresholds[local], start=lo, end=hi):
        batch.append(transfer)
        seen += 1
        if progress is not None and seen % PROGRESS_EVERY == 0:
            progress(seen)
        if len(batch) >= config.ctr_batch_size:
            flush()
    if batch:
        flush()
    today = now.astimezone(tz).date()
    complete = [
        start + timedelta(days=n)
        for n in range((end - start).days + 1)
        if start + timedelta(days=n) < today
    ]
    if not pending and not complete:
        return []
    try:
        return _store(
            pending=pending,
            config=config,
            start=start,
            end=end,
            actor=actor,
            now=now,
            ctr_days=complete,
        )
    except CtrDaysReleased:
        # another export of the same day committed first: its files, not a second set
        done = _ctr_days_released(fiu, start, end)
        if done and start == end:
            return _released_files(done[0].files)
        raise


@dataclass(frozen=True)
class CtrDayRun:
    fiu: str
    day: date
    files: int
    error: str = ""


def goaml_ctr_daily(
    *, now: datetime, lookback_days: int = CTR_DAILY_LOOKBACK_DAYS
) -> list[CtrDayRun]:
    """The daily CTR export: for every FIU, each complete local day of the last
    ``lookback_days`` whose configuration in force opts in (``ctr_daily``) and that is not
    recorded yet is exported (actor ``system:goaml-ctr-daily``); a day with nothing to
    report is recorded with no file. A day that fails (the FIU's configuration cannot make
    a valid file) is logged and tried again by the next run; other FIUs go on."""
    runs: list[CtrDayRun] = []
    for fiu in fiu_names():
        current = (
            FiuConfig.objects.filter(fiu=fiu, effective_from__lte=now.date())
            .order_by("-effective_from")
            .first()
        )
        if current is None:
            continue
        today = now.astimezone(ZoneInfo(current.timezone)).date()
        for back in range(lookback_days, 0, -1):
            day = today - timedelta(days=back)
            config = (
                FiuConfig.objects.filter(fiu=fiu, effective_from__lte=day)
                .order_by("-effective_from")
                .first()
            )
            if config is None or not config.ctr_daily:
                continue
            if CtrDay.objects.filter(fiu=fiu, day=day).exists():
                continue
            try:
                released = goaml_export_ctr(
                    fiu=fiu, start=day, end=day, actor=CTR_DAILY_ACTOR, now=now
                )
            except DomainError as exc:
                logger.warning(
                    "goaml daily CTR export failed",
                    extra={"fiu": fiu, "day": day.isoformat(), "code": exc.code},
                )
                runs.append(CtrDayRun(fiu, day, 0, exc.message[:300]))
                continue
            runs.append(CtrDayRun(fiu, day, len(released)))
    return runs


def goaml_export_str(*, fiu: str, suspicion: SuspicionInput, actor: str, now: datetime) -> Released:
    """The STR of one approved filing (its transactions, reason, action and indicators).
    Idempotent per (FIU, case): a case filed before returns the file released then (the
    database allows one STR per case and FIU)."""
    if not suspicion.transfer_ids:
        raise ValidationFailed(
            f"case {suspicion.case_reference} lists no transaction: an STR without"
            " transactions (goAML <activity>) is not supported yet"
        )
    if suspicion.proposed_by == suspicion.approved_by:
        raise ValidationFailed(
            f"case {suspicion.case_reference}: the filing was approved by the person who"
            " proposed it"
        )
    case = suspicion.case_reference[:40]
    filed = GoamlFile.objects.filter(fiu=fiu, kind=FileKind.STR, case_reference=case).first()
    if filed is not None:  # the case was filed already: the same file, not a second STR
        return Released.of(filed, sha256=filed.sha256)
    transfers = transfers_by_id(list(suspicion.transfer_ids))
    config = fiu_config_in_force(fiu=fiu, on=now.astimezone(ZoneInfo("UTC")).date())
    tz = ZoneInfo(config.timezone)
    indicators = _indicators(config, suspicion.indicators)
    _require_indicators(config, indicators, "STR")
    txns = transactions_resolve(transfers)
    reference = _reference("STR", fiu, suspicion.case_reference)
    header = Header(
        report="STR",
        reference=reference,
        submitted_at=now,
        reason=suspicion.reason,
        action=suspicion.action,
        indicators=indicators,
    )
    content = report_xml(config=config, header=header, transactions=txns)
    schema_validate(xsd_file=config.xsd_file, document=content)
    days = [t.at.astimezone(tz).date() for t in txns]
    released = _store(
        pending=[
            _Pending(
                reference=reference,
                kind=FileKind.STR,
                filename=f"{reference}.xml",
                content_type=XML_TYPE,
                content=content,
                transactions=len(txns),
                amount_total=_local_total(txns, config.currency_code_local),
                case_reference=case,
            )
        ],
        config=config,
        start=min(days),
        end=max(days),
        actor=actor,
        now=now,
    )
    return released[0]


SUSPICION_SOURCE = "lightway.application.aml.filing"


def goaml_export_strs(
    *, fiu: str, start: date, end: date, actor: str, now: datetime
) -> list[Released]:
    """The STRs of the filings approved in the period, from the AML case workflow
    (``lightway.application.aml.filing.suspicion_inputs``, imported when needed: the case
    workflow is its own package); [] when none is due."""
    period_check(start=start, end=end)
    config = fiu_config_in_force(fiu=fiu, on=end)  # an unknown FIU fails before any work
    try:
        source = importlib.import_module(SUSPICION_SOURCE)
    except ImportError:
        raise ValidationFailed(
            "STR export needs the AML case workflow (lightway.application.aml), which is not"
            " installed here"
        ) from None
    # the FIU's local days as [first day 00:00, day after the last 00:00)
    lo, hi = period_bounds(start=start, end=end, tz=ZoneInfo(config.timezone))
    suspicions: list[SuspicionInput] = list(source.suspicion_inputs(start=lo, end=hi))
    return [
        goaml_export_str(fiu=fiu, suspicion=suspicion, actor=actor, now=now)
        for suspicion in suspicions
    ]


def goaml_store_return(
    *,
    fiu: str,
    kind: str,
    start: date,
    end: date,
    content: bytes,
    rows: int,
    actor: str,
    now: datetime,
) -> Released:
    """Seal and record a CSV return (built by :mod:`lightway.application.goaml.returns`)."""
    config = fiu_config_in_force(fiu=fiu, on=end)
    reference = _reference("RET", fiu, f"{kind}-{start:%Y%m%d}-{end:%Y%m%d}")
    return _store(
        pending=[
            _Pending(
                reference=reference,
                kind=kind,
                filename=f"{reference}.csv",
                content_type=CSV_TYPE,
                content=content,
                transactions=rows,
                amount_total=0,
            )
        ],
        config=config,
        start=start,
        end=end,
        actor=actor,
        now=now,
    )[0]


def goaml_file_open(*, file_id: int, actor: str, now: datetime) -> tuple[GoamlFile, bytes]:
    """A released file's clear bytes for download, its SHA-256 checked; audited."""
    with transaction.atomic():
        row = GoamlFile.objects.filter(pk=file_id).first()
        if row is None:
            raise NotFound(f"no goAML file {file_id}")
        content = unseal(bytes(row.content_ct), context=file_context(row.reference))
        digest = hashlib.sha256(content).hexdigest()
        if digest != row.sha256:
            raise ValidationFailed(f"goAML file {row.reference} does not match its SHA-256")
        audit_record(
            actor=actor,
            action="goaml.file.download",
            object_type="goaml.file",
            object_id=str(row.pk),
            data={"reference": row.reference, "sha256": digest},
            now=now,
        )
    return row, content


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def files_cursor_text(created_at: datetime, file_id: int) -> str:
    """A page cursor safe in a URL: microseconds since the epoch and the id."""
    return f"{(created_at - _EPOCH) // _MICRO}-{file_id}"


def files_cursor_parse(text: str) -> tuple[datetime, int] | None:
    """The cursor's position, or None for anything that is not one (a bad link shows the
    first page rather than an error)."""
    micros, sep, file_id = (text or "").partition("-")
    if not sep or not micros.isdigit() or not file_id.isdigit() or len(text) > 40:
        return None
    try:
        return _EPOCH + int(micros) * _MICRO, int(file_id)
    except OverflowError:
        return None


@dataclass(frozen=True)
class FilesPage:
    rows: list[GoamlFile]
    next_cursor: str  # "" on the last page
    first: bool


def goaml_files_page(*, before: str = "", limit: int = 25) -> FilesPage:
    """Released files newest first, one keyset page after ``before`` (an index range of
    ``goaml_file_recent``: the same cost on the first page and the thousandth)."""
    rows = GoamlFile.objects.defer("content_ct").order_by("-created_at", "-id")
    position = files_cursor_parse(before) if before else None
    if position is not None:
        at, pk = position
        rows = rows.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=pk))
    page = list(rows[: limit + 1])
    more = len(page) > limit
    shown = page[:limit]
    return FilesPage(
        rows=shown,
        next_cursor=files_cursor_text(shown[-1].created_at, shown[-1].pk) if more else "",
        first=position is None,
    )
