"""Monthly partitions and archival of closed months (docs/operations.md, "Partitions and
archival"; schema and guards in ``lightway.data.archive``).

A month of a partitioned table leaves the database in four steps, each recorded in its
``ArchiveManifest`` row and in the month's ``manifest.json``:

1. **export**: the month's rows, read in one snapshot through the partitioned table (the
   planner prunes to that month's partition), ordered by id, as CSV (PostgreSQL's own
   ``COPY ... CSV HEADER`` with the session's output settings pinned, so the same rows
   always give the same bytes), gzip-compressed to ``<archive dir>/YYYY-MM/<table>.csv.gz``.
   The manifest keeps the row count, the id range, the columns, the SHA-256 of the file and
   the SHA-256 of the uncompressed CSV (the canonical row text);
2. **verify**: the file is re-read: its SHA-256, its decompressed text's SHA-256, its
   header against the columns, every row parsed (count, id range); and while the month is
   still in the database, the rows are exported again and must give the same text;
3. **detach**: ``archive_partition_detach`` (database function) detaches the partition only
   if the manifest is verified and the partition still has exactly those rows;
4. **drop**: after the grace period (``LIGHTWAY_ARCHIVE_DROP_GRACE_DAYS``) the detached
   table is dropped (``archive_partition_drop``).

``archive_month_restore`` brings a month back: re-attaches the detached table, or (after
a drop) loads the verified file into a new table and attaches it.

A table may also name its own condition (registry ``detach_check``, a database function):
``audit_record`` detaches a month only when a signed chain checkpoint covers it, and
``ledger_posting`` only once its boundary snapshot (taken here just before the detach,
``ledger_posting_snapshot_take``) matches the rows and a balance checkpoint covers every
account of the month, so the nightly run keeps such a month attached until then.

Tables whose months must stay attached (``detachable`` false in the registry, e.g. because
balances or a hash chain are computed from their rows) are exported and verified only.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from psycopg import sql

from lightway.application.errors import DomainError
from lightway.data.archive.models import ArchiveManifest, ManifestState, PartitionedTable

logger = logging.getLogger(__name__)

Progress = Callable[..., None]
CHUNK = 1 << 16
# Output settings that make COPY's text the same on every server and session.
PINNED_SETTINGS = (
    ("TimeZone", "UTC"),
    ("DateStyle", "ISO, YMD"),
    ("IntervalStyle", "postgres"),
    ("bytea_output", "hex"),
    ("extra_float_digits", "1"),
)
MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


class ArchiveError(DomainError):
    code = "archive_error"


def _noop(*_: object) -> None:
    return None


# --- months ------------------------------------------------------------------------------


def month_parse(raw: str) -> date:
    """``YYYY-MM`` → the first day of that month; a clear error otherwise."""
    match = MONTH_RE.match((raw or "").strip())
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise ArchiveError(f"month must look like 2026-01 (year-month), not {raw!r}")
    return date(int(match.group(1)), int(match.group(2)), 1)


def month_of(moment: datetime) -> date:
    utc = moment.astimezone(UTC)
    return date(utc.year, utc.month, 1)


def month_add(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    end_month = month_add(month, 1)
    return start, datetime(end_month.year, end_month.month, 1, tzinfo=UTC)


def month_label(month: date) -> str:
    return f"{month:%Y-%m}"


# --- partitions --------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionInfo:
    table: str
    name: str
    month: date | None  # None: the default partition
    rows_estimate: int


@dataclass(frozen=True)
class TableStatus:
    table: str
    detachable: bool
    reason: str
    partitions: list[PartitionInfo]
    default_rows: int


def partitioned_tables() -> list[PartitionedTable]:
    """Every partitioned table, a table whose rows name another's before that one (a month of
    MoMo requests leaves before its transfers, postings before their entries: the database
    refuses a month that attached rows still name), otherwise by name."""
    tables = list(PartitionedTable.objects.order_by("table_name"))
    names = {t.table_name for t in tables}
    referrers: dict[str, set[str]] = {name: set() for name in names}
    with connection.cursor() as cur:
        cur.execute(
            "SELECT k.table_name, c.conrelid::regclass::text FROM archive_key_table k"
            " JOIN pg_constraint c ON c.confrelid = to_regclass(k.key_table)"
            " AND c.contype = 'f' AND c.conparentid = 0"
        )
        for table, referrer in cur.fetchall():
            if table in referrers and referrer in names and referrer != table:
                referrers[table].add(referrer)
    ordered: list[PartitionedTable] = []
    while len(ordered) < len(tables):
        placed = {t.table_name for t in ordered}
        ready = [
            t for t in tables if t.table_name not in placed and referrers[t.table_name] <= placed
        ]
        if not ready:  # a cycle (none today): the rest by name
            ordered += [t for t in tables if t.table_name not in placed]
            break
        ordered.append(ready[0])
    return ordered


def _table(name: str) -> PartitionedTable:
    found = PartitionedTable.objects.filter(table_name=name).first()
    if found is None:
        known = ", ".join(t.table_name for t in partitioned_tables()) or "none"
        raise ArchiveError(f"{name!r} is not partitioned by month (partitioned: {known})")
    return found


def partitions_status() -> list[TableStatus]:
    """Every partitioned table's attached partitions and its default partition's rows."""
    out = []
    with connection.cursor() as cur:
        for table in partitioned_tables():
            cur.execute(
                "SELECT c.relname, GREATEST(c.reltuples, 0)::bigint FROM pg_inherits i"
                " JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = %s::regclass ORDER BY c.relname",
                [table.table_name],
            )
            parts = []
            for name, estimate in cur.fetchall():
                suffix = name[len(table.table_name) + 2 :]
                month = None if suffix == "default" else month_parse(suffix.replace("_", "-"))
                parts.append(PartitionInfo(table.table_name, name, month, int(estimate)))
            cur.execute("SELECT archive_default_rows(%s)", [table.table_name])
            out.append(
                TableStatus(
                    table=table.table_name,
                    detachable=table.detachable,
                    reason=table.reason,
                    partitions=parts,
                    default_rows=int(cur.fetchone()[0]),
                )
            )
    return out


def partitions_ensure(*, now: datetime, months_ahead: int | None = None) -> int:
    """Create this month's and the next ``months_ahead`` months' partitions of every
    partitioned table (those missing); returns how many were made."""
    ahead = settings.LIGHTWAY_PARTITIONS_AHEAD_MONTHS if months_ahead is None else months_ahead
    if not 0 <= ahead <= 119:
        raise ArchiveError(f"months ahead must be 0 to 119, not {ahead}")
    made = 0
    with transaction.atomic(), connection.cursor() as cur:
        for table in partitioned_tables():
            cur.execute(
                "SELECT archive_partitions_ensure(%s, %s, %s)",
                [table.table_name, month_of(now), ahead + 1],
            )
            made += int(cur.fetchone()[0])
    if made:
        logger.info("partitions created", extra={"count": made})
    return made


def default_partition_strays() -> dict[str, int]:
    """Tables whose default partition holds rows (a time no month partition covers)."""
    return {s.table: s.default_rows for s in partitions_status() if s.default_rows}


# --- files -------------------------------------------------------------------------------


def archive_dir() -> Path:
    return Path(settings.LIGHTWAY_ARCHIVE_DIR)


def _file_name(table: str, month: date) -> str:
    return f"{month_label(month)}/{table}.csv.gz"


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _pin_settings(cur: Any) -> None:
    for name, value in PINNED_SETTINGS:
        cur.execute("SELECT set_config(%s, %s, true)", [name, value])


def _month_query(table: PartitionedTable, month: date) -> sql.Composed:
    start, end = month_bounds(month)
    return sql.SQL(
        "COPY (SELECT * FROM {table} WHERE {time} >= {start} AND {time} < {end} ORDER BY id)"
        " TO STDOUT WITH (FORMAT csv, HEADER true)"
    ).format(
        table=sql.Identifier(table.table_name),
        time=sql.Identifier(table.time_column),
        start=sql.Literal(start),
        end=sql.Literal(end),
    )


def _copy_out(table: PartitionedTable, month: date) -> Iterator[bytes]:
    """The month's canonical CSV, chunk by chunk (inside the caller's transaction)."""
    with connection.cursor() as wrapper:
        raw = wrapper.cursor
        _pin_settings(raw)
        with raw.copy(_month_query(table, month)) as copy:
            for chunk in copy:
                yield bytes(chunk)


def _month_facts(table: PartitionedTable, month: date) -> tuple[int, int | None, int | None]:
    """Row count and id range (integer ids; a table with UUID ids has none) of the month."""
    start, end = month_bounds(month)
    with connection.cursor() as cur:
        # the database's own rule (archive 0004), the one its detach compares against
        cur.execute("SELECT archive_id_range(%s)", [table.table_name])
        id_range = sql.SQL(cur.fetchone()[0])
        cur.execute(
            sql.SQL("SELECT count(*), {r} FROM {t} WHERE {c} >= %s AND {c} < %s").format(
                r=id_range,
                t=sql.Identifier(table.table_name),
                c=sql.Identifier(table.time_column),
            ),
            [start, end],
        )
        n, lo, hi = cur.fetchone()
    return int(n), lo, hi


def _month_fingerprint(table: str, month: date) -> Decimal:
    """The database's fingerprint of the month's rows (``archive_month_fingerprint``)."""
    with connection.cursor() as cur:
        cur.execute("SELECT archive_month_fingerprint(%s, %s)", [table, month])
        return Decimal(cur.fetchone()[0])


def _columns(table: PartitionedTable) -> list[str]:
    with connection.cursor() as cur:
        cur.execute(
            sql.SQL("SELECT * FROM {t} WHERE false").format(t=sql.Identifier(table.table_name))
        )
        return [c.name for c in cur.description]


def _one_snapshot() -> None:
    """Counts, id range and rows read in one snapshot: REPEATABLE READ when this block
    started the transaction (inside a caller's transaction its isolation applies)."""
    if len(connection.savepoint_ids) == 0 and not connection.needs_rollback:
        with connection.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


def _attached(table: str, month: date) -> bool:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_inherits"
            " WHERE inhrelid = to_regclass(archive_partition_name(%s, %s)))",
            [table, month],
        )
        return bool(cur.fetchone()[0])


def _write_manifest_json(month: date) -> Path:
    """``<archive dir>/YYYY-MM/manifest.json``: every table's manifest of that month."""
    rows = ArchiveManifest.objects.filter(month=month).order_by("table_name")
    doc = {
        "period": month_label(month),
        "tables": [
            {
                "table": m.table_name,
                "period": month_label(m.month),
                "state": m.state,
                "file": m.file_name,
                "file_sha256": m.file_sha256,
                "content_sha256": m.content_sha256,
                "rows": m.row_count,
                "min_id": m.min_id,
                "max_id": m.max_id,
                "columns": m.columns,
                "exported_at": m.exported_at.isoformat(),
                "verified_at": m.verified_at.isoformat() if m.verified_at else None,
                "detached_at": m.detached_at.isoformat() if m.detached_at else None,
                "dropped_at": m.dropped_at.isoformat() if m.dropped_at else None,
                "restored_at": m.restored_at.isoformat() if m.restored_at else None,
            }
            for m in rows
        ],
    }
    path = archive_dir() / month_label(month) / "manifest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


# --- export, verify, detach, drop, restore -------------------------------------------------


def _closed(month: date, now: datetime) -> bool:
    return month_bounds(month)[1] <= now


def archive_month_export(
    *, table: str, month: date, now: datetime, progress: Progress = _noop
) -> ArchiveManifest:
    """Write the month's rows of ``table`` to its archive file; record the manifest."""
    reg = _table(table)
    if not _closed(month, now):
        raise ArchiveError(f"{month_label(month)} is not closed yet: only past months archive")
    existing = ArchiveManifest.objects.filter(table_name=table, month=month).first()
    if existing is not None and existing.state in (ManifestState.DETACHED, ManifestState.DROPPED):
        raise ArchiveError(f"{table} {month_label(month)} is already archived ({existing.state})")
    if not _attached(table, month):
        raise ArchiveError(f"{table} has no partition for {month_label(month)}")
    name = _file_name(table, month)
    path = archive_dir() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    content = hashlib.sha256()
    with transaction.atomic():
        _one_snapshot()
        rows, lo, hi = _month_facts(reg, month)
        fingerprint = _month_fingerprint(table, month)
        columns = _columns(reg)
        written = 0
        with tmp.open("wb") as raw_fh, gzip.GzipFile(fileobj=raw_fh, mode="wb", mtime=0) as gz:
            for chunk in _copy_out(reg, month):
                content.update(chunk)
                gz.write(chunk)
                written += len(chunk)
                progress(written)
    tmp.replace(path)
    values = {
        "state": ManifestState.EXPORTED,
        "row_count": rows,
        "min_id": lo,
        "max_id": hi,
        "rows_fingerprint": fingerprint,
        "columns": columns,
        "file_name": name,
        "file_sha256": _sha256_file(path),
        "content_sha256": content.hexdigest(),
        "exported_at": now,
        "verified_at": None,
    }
    with transaction.atomic():
        manifest, _ = ArchiveManifest.objects.update_or_create(
            table_name=table, month=month, defaults=values
        )
    _write_manifest_json(month)
    logger.info(
        "archive exported", extra={"table": table, "month": month_label(month), "rows": rows}
    )
    return manifest


@dataclass(frozen=True)
class FileCheck:
    rows: int
    min_id: int | None
    max_id: int | None
    content_sha256: str
    file_sha256: str
    columns: list[str]


def archive_file_read(path: Path, *, progress: Progress = _noop) -> FileCheck:
    """Re-read an archive file: its checksums, its header and every row (parsed as CSV)."""
    if not path.is_file():
        raise ArchiveError(f"archive file {path} is missing")
    content = hashlib.sha256()
    rows = 0
    lo: int | None = None
    hi: int | None = None
    columns: list[str] = []

    class _Hashing(io.RawIOBase):
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            data = self.inner.read(len(buffer))
            content.update(data)
            buffer[: len(data)] = data
            return len(data)

    try:
        with gzip.open(path, "rb") as gz:
            text = io.TextIOWrapper(
                io.BufferedReader(_Hashing(gz), CHUNK), encoding="utf-8", newline=""
            )
            reader = csv.reader(text)
            columns = next(reader, [])
            if not columns or "id" not in columns:
                raise ArchiveError(f"{path.name}: no CSV header with an id column")
            at = columns.index("id")
            for row in reader:
                if len(row) != len(columns):
                    raise ArchiveError(
                        f"{path.name}: row {rows + 1} has {len(row)} fields, not {len(columns)}"
                    )
                if row[at].isdigit():
                    ident = int(row[at])
                    lo = ident if lo is None else min(lo, ident)
                    hi = ident if hi is None else max(hi, ident)
                else:  # a table with UUID ids has no id range (archive_id_range)
                    uuid.UUID(row[at])
                rows += 1
                if rows % 10000 == 0:
                    progress(rows)
    except (OSError, EOFError, UnicodeDecodeError, csv.Error, ValueError) as exc:
        if isinstance(exc, ArchiveError):
            raise
        raise ArchiveError(f"{path.name} cannot be read: {exc}") from exc
    return FileCheck(rows, lo, hi, content.hexdigest(), _sha256_file(path), columns)


def archive_month_verify(
    *, table: str, month: date, now: datetime, progress: Progress = _noop
) -> ArchiveManifest:
    """Check the month's file against its manifest and, while the rows are still in the
    database, against the rows; mark the manifest verified. Raises on any difference."""
    reg = _table(table)
    manifest = ArchiveManifest.objects.filter(table_name=table, month=month).first()
    if manifest is None:
        raise ArchiveError(f"{table} {month_label(month)} was never exported")
    what = f"{table} {month_label(month)}"
    check = archive_file_read(archive_dir() / manifest.file_name, progress=progress)
    problems = []
    if check.file_sha256 != manifest.file_sha256:
        problems.append("the file's SHA-256 differs from the manifest")
    if check.content_sha256 != manifest.content_sha256:
        problems.append("the rows' text differs from the manifest (checksum)")
    if check.columns != manifest.columns:
        problems.append("the file's columns differ from the manifest")
    if (check.rows, check.min_id, check.max_id) != (
        manifest.row_count,
        manifest.min_id,
        manifest.max_id,
    ):
        problems.append(
            f"the file has {check.rows} rows (ids {check.min_id} to {check.max_id}),"
            f" the manifest {manifest.row_count} ({manifest.min_id} to {manifest.max_id})"
        )
    if problems:
        raise ArchiveError(f"{what}: archive refused: " + "; ".join(problems))
    if _attached(table, month):
        with transaction.atomic():
            _one_snapshot()
            facts = _month_facts(reg, month)
            digest = hashlib.sha256()
            for chunk in _copy_out(reg, month):
                digest.update(chunk)
        if facts != (manifest.row_count, manifest.min_id, manifest.max_id):
            raise ArchiveError(
                f"{what}: the database now has {facts[0]} rows (ids {facts[1]} to {facts[2]}),"
                f" the archive {manifest.row_count}: export it again"
            )
        if digest.hexdigest() != manifest.content_sha256:
            raise ArchiveError(f"{what}: the database rows differ from the archive: export again")
        if _columns(reg) != manifest.columns:
            raise ArchiveError(f"{what}: the table's columns changed since the export")
    if manifest.state == ManifestState.EXPORTED:
        with transaction.atomic():
            manifest.state = ManifestState.VERIFIED
            manifest.verified_at = now
            manifest.save(update_fields=["state", "verified_at"])
        _write_manifest_json(month)
    logger.info("archive verified", extra={"table": table, "month": month_label(month)})
    return manifest


# What the database says when a month may not leave yet (its table's own condition, or
# attached rows that still name its rows), as opposed to an archive that no longer matches.
STAYS_ATTACHED = "stays attached"


def _db_call(query: str, params: list[Any]) -> Any:
    try:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchone()[0]
    except DatabaseError as exc:
        cause = getattr(exc, "__cause__", None)
        diag = getattr(cause, "diag", None)
        message = getattr(diag, "message_primary", None) or str(exc).splitlines()[0]
        raise ArchiveError(message) from exc


def _detach_precheck(table: str, month: date) -> None:
    """What the application checks before a detach that the database cannot: an audit
    month's boundary checkpoint must carry a valid Ed25519 signature (the database checks
    that it exists, covers the month and matches the chain: ``audit_record_detach_check``).

    A posting month first gets its boundary snapshot (``ledger_posting_snapshot_take``,
    ledger 0010: per account the balance through its last posting of the month, and the
    balance checkpoints that cover it), taken from the rows while they are attached; the
    database's ``ledger_posting_detach_check`` then compares it with the rows under the
    detach's lock."""
    if table == "ledger_posting":
        try:
            _db_call("SELECT ledger_posting_snapshot_take(%s)", [month])
        except ArchiveError as exc:
            raise ArchiveError(f"{month_label(month)} of {table} stays attached: {exc}") from exc
        return
    if table != "audit_record":
        return
    from lightway.application.audit.checkpoints import month_checkpoint_problem
    from lightway.security.audit_signing import AuditKeyError

    try:
        problem = month_checkpoint_problem(*month_bounds(month))
    except AuditKeyError as exc:
        problem = f"the audit verification key cannot be read: {exc}"
    if problem is not None:
        raise ArchiveError(f"{month_label(month)} of {table} stays attached: {problem}")


def archive_month_detach(*, table: str, month: date) -> int:
    """Detach a verified month's partition (the database re-checks its rows, and the
    table's own condition: an audit month needs a signed checkpoint that covers it)."""
    _table(table)
    _detach_precheck(table, month)
    rows = int(_db_call("SELECT archive_partition_detach(%s, %s)", [table, month]))
    _write_manifest_json(month)
    logger.info("archive detached", extra={"table": table, "month": month_label(month)})
    return rows


def archive_month_drop(*, table: str, month: date, grace: timedelta) -> int:
    rows = int(_db_call("SELECT archive_partition_drop(%s, %s, %s)", [table, month, grace]))
    _write_manifest_json(month)
    logger.info("archive dropped", extra={"table": table, "month": month_label(month)})
    return rows


@dataclass(frozen=True)
class MonthResult:
    table: str
    rows: int
    state: str
    note: str = ""


def archive_month_run(
    *, month: date, now: datetime, progress: Progress = _noop
) -> list[MonthResult]:
    """Export, verify and (where the table allows it) detach one closed month of every
    partitioned table. Idempotent: a month already detached or dropped is left alone."""
    if not _closed(month, now):
        raise ArchiveError(f"{month_label(month)} is not closed yet: only past months archive")
    results = []
    for reg in partitioned_tables():
        table = reg.table_name
        done = ArchiveManifest.objects.filter(table_name=table, month=month).first()
        if done is not None and done.state in (ManifestState.DETACHED, ManifestState.DROPPED):
            results.append(MonthResult(table, done.row_count, done.state, "already archived"))
            continue
        if not _attached(table, month):
            results.append(MonthResult(table, 0, "none", "no partition for this month"))
            continue
        if done is not None and done.state == ManifestState.VERIFIED and not reg.detachable:
            # kept attached and already archived: the nightly job does not export it again
            # (``lightway archive verify`` re-checks the file against the rows)
            results.append(MonthResult(table, done.row_count, done.state, "already verified"))
            continue
        progress(f"{table}: export")
        archive_month_export(table=table, month=month, now=now)
        progress(f"{table}: verify")
        manifest = archive_month_verify(table=table, month=month, now=now)
        if not reg.detachable:
            results.append(
                MonthResult(table, manifest.row_count, manifest.state, f"kept: {reg.reason}")
            )
            continue
        progress(f"{table}: detach")
        try:
            archive_month_detach(table=table, month=month)
        except ArchiveError as exc:
            if STAYS_ATTACHED not in str(exc):
                raise
            # not yet (audit: no signed checkpoint covers the month yet; transfers: some are
            # still in flight, or attached rows still name them): the next run tries
            results.append(
                MonthResult(table, manifest.row_count, manifest.state, f"kept for now: {exc}")
            )
            continue
        results.append(MonthResult(table, manifest.row_count, ManifestState.DETACHED))
    return results


def archive_verify_all(*, now: datetime, progress: Progress = _noop) -> list[ArchiveManifest]:
    """Re-check every archive file (all states) against its manifest and, where the rows
    are in the database, against them. Raises on the first archive that differs."""
    checked = []
    for manifest in ArchiveManifest.objects.order_by("month", "table_name"):
        progress(f"{manifest.table_name} {month_label(manifest.month)}")
        checked.append(
            archive_month_verify(table=manifest.table_name, month=manifest.month, now=now)
        )
    return checked


def archive_month_restore(
    *, table: str, month: date, now: datetime, progress: Progress = _noop
) -> int:
    """Bring an archived month back into its table: re-attach the detached partition, or
    load the verified file into a new one and attach it. Returns its rows."""
    reg = _table(table)
    manifest = ArchiveManifest.objects.filter(table_name=table, month=month).first()
    if manifest is None or manifest.state not in (ManifestState.DETACHED, ManifestState.DROPPED):
        state = manifest.state if manifest else "never archived"
        raise ArchiveError(f"{table} {month_label(month)} is not archived ({state})")
    if manifest.state == ManifestState.DROPPED:
        check = archive_file_read(archive_dir() / manifest.file_name, progress=progress)
        if (check.file_sha256, check.content_sha256) != (
            manifest.file_sha256,
            manifest.content_sha256,
        ):
            raise ArchiveError(f"{table} {month_label(month)}: the file differs from its manifest")
    try:
        with transaction.atomic():
            if manifest.state == ManifestState.DROPPED:
                _load_file(reg, manifest, progress)
            with connection.cursor() as cur:
                cur.execute("SELECT archive_partition_attach(%s, %s)", [table, month])
                rows = int(cur.fetchone()[0])
    except DatabaseError as exc:
        cause = getattr(exc, "__cause__", None)
        diag = getattr(cause, "diag", None)
        message = getattr(diag, "message_primary", None) or str(exc).splitlines()[0]
        raise ArchiveError(f"{table} {month_label(month)} not restored: {message}") from exc
    _write_manifest_json(month)
    logger.info("archive restored", extra={"table": table, "month": month_label(month)})
    return rows


def _load_file(reg: PartitionedTable, manifest: ArchiveManifest, progress: Progress) -> None:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT archive_partition_restore_begin(%s, %s)", [reg.table_name, manifest.month]
        )
        part = cur.fetchone()[0]
        raw = cur.cursor
        _pin_settings(raw)
        query = sql.SQL("COPY {part} ({cols}) FROM STDIN WITH (FORMAT csv, HEADER true)").format(
            part=sql.Identifier(part),
            cols=sql.SQL(", ").join(sql.Identifier(c) for c in manifest.columns),
        )
        loaded = 0
        with gzip.open(archive_dir() / manifest.file_name, "rb") as gz, raw.copy(query) as copy:
            for block in iter(lambda: gz.read(CHUNK), b""):
                copy.write(block)
                loaded += len(block)
                progress(loaded)
        # the loaded rows give back the archived text, byte for byte
        digest = hashlib.sha256()
        copy_back = sql.SQL(
            "COPY (SELECT * FROM {part} ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER true)"
        ).format(part=sql.Identifier(part))
        with raw.copy(copy_back) as copy:
            for chunk in copy:
                digest.update(bytes(chunk))
    if digest.hexdigest() != manifest.content_sha256:
        raise ArchiveError(
            f"{reg.table_name} {month_label(manifest.month)}: the loaded rows differ from"
            " the archive"
        )


def archive_closed_months(*, now: datetime, after_months: int | None = None) -> list[MonthResult]:
    """The periodic job: archive every month older than ``after_months`` that still has
    partitions, then drop detached months past the grace period."""
    age = settings.LIGHTWAY_ARCHIVE_AFTER_MONTHS if after_months is None else after_months
    if age < 1:
        raise ArchiveError(f"archive age must be at least 1 month, not {age}")
    cutoff = month_add(month_of(now), -age)
    months: set[date] = set()
    for status in partitions_status():
        months.update(p.month for p in status.partitions if p.month and p.month < cutoff)
    results = []
    for month in sorted(months):
        results.extend(archive_month_run(month=month, now=now))
    grace = timedelta(days=settings.LIGHTWAY_ARCHIVE_DROP_GRACE_DAYS)
    for manifest in ArchiveManifest.objects.filter(
        state=ManifestState.DETACHED, detached_at__lte=now - grace
    ):
        archive_month_drop(table=manifest.table_name, month=manifest.month, grace=grace)
    return results
