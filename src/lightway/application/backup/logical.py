"""Logical backups: ``lightway backup``, ``lightway restore``, ``lightway backup drill``.

A backup is a directory:

- ``lightway.dump`` (``pg_dump --format=custom``) or ``lightway.dump.enc`` (the same, sealed
  by ``infrastructure/backup_crypto.py`` under ``LIGHTWAY_BACKUP_KEY``);
- ``manifest.json``: when, which database and server, the versions of the server and of
  pg_dump, the file's size and SHA-256 (and the plain dump's when encrypted), and the
  **fingerprint** of the data in the dump (``data/backup/fingerprint.py``).

The fingerprint and the dump read the same snapshot: one REPEATABLE READ transaction exports
its snapshot (``pg_export_snapshot()``), ``pg_dump --snapshot`` dumps exactly it, and the
fingerprint is computed inside that transaction. So payments committed while the backup runs
are in neither or in both, and a restore must reproduce the fingerprint exactly.

A restore first checks the file's SHA-256 against the manifest (and decrypts, which
authenticates every chunk), then loads it with ``pg_restore --single-transaction
--exit-on-error`` into a database that is empty, or made for it: all or nothing. The drill
backs up, restores into a scratch database, computes the fingerprint there, compares, and
drops the scratch database whatever happened.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

import psycopg
from psycopg import sql

from lightway.data.backup.fingerprint import (
    Fingerprint,
    fingerprint_compare,
    fingerprint_read,
)
from lightway.infrastructure import backup_crypto
from lightway.infrastructure.pgtools import PgToolError, pg_program

MANIFEST = "manifest.json"
DUMP = "lightway.dump"
DUMP_ENCRYPTED = "lightway.dump.enc"
FORMAT = "lightway-backup/1"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

Progress = Callable[..., None]


class BackupError(Exception):
    """A backup, restore or drill that cannot go on; the message says why."""


@dataclass(frozen=True)
class BackupResult:
    directory: Path
    manifest: dict[str, Any]
    fingerprint: Fingerprint
    seconds: float


@dataclass(frozen=True)
class RestoreResult:
    database: str
    created: bool
    seconds: float


@dataclass(frozen=True)
class DrillResult:
    backup: BackupResult
    restore_seconds: float
    fingerprint: Fingerprint
    differences: list[str]
    scratch: str
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.differences


def _noop(*_: object) -> None:
    pass


# --- URLs and databases -------------------------------------------------------------------


def database_name(url: str) -> str:
    return unquote(urlparse(url).path.lstrip("/")) or "postgres"


def url_with_database(url: str, name: str) -> str:
    """``url`` pointing at another database of the same server (same role)."""
    return urlparse(url)._replace(path="/" + quote(name, safe="")).geturl()


def _target_url(source_url: str, database: str) -> str:
    """``--database`` is a name on the source's server, or a full postgresql:// URL."""
    if "://" in database:
        return database
    if not _NAME.match(database):
        raise BackupError(
            f"{database!r} is not a database name (letters, digits and _, at most 63,"
            " not starting with a digit) nor a postgresql:// URL"
        )
    return url_with_database(source_url, database)


def _connect(url: str, **kwargs: Any) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(url, connect_timeout=10, **kwargs)
    except psycopg.OperationalError as exc:
        reason = (str(exc).strip().splitlines() or ["unreachable"])[-1]
        raise BackupError(f"cannot connect to {database_name(url)}: {reason}") from exc


def _server_major(conn: psycopg.Connection[Any]) -> int:
    return int(conn.info.server_version) // 10000


def database_is_empty(url: str) -> bool:
    """True when the database holds no table, view, sequence or function of its own."""
    with _connect(url) as conn, conn.cursor() as cursor:
        cursor.execute(
            """SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
                  AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'"""
        )
        row = cursor.fetchone()
    return not row or int(row[0]) == 0


def _database_exists(admin_url: str, name: str) -> bool:
    with _connect(admin_url, autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


def _database_create(admin_url: str, name: str) -> None:
    with _connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def database_drop(url: str) -> None:
    """Drop the database ``url`` names (connected to the server's ``postgres`` database).
    Refused by PostgreSQL while anyone is connected to it: stop the processes first."""
    name = database_name(url)
    with _connect(url_with_database(url, "postgres"), autocommit=True) as conn:
        try:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        except psycopg.errors.ObjectInUse as exc:
            raise BackupError(
                f"database {name} is in use: stop the processes connected to it first"
            ) from exc


# --- files --------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def manifest_read(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not directory.is_dir():
        raise BackupError(f"{directory} is not a directory")
    if not path.is_file():
        raise BackupError(f"{directory} holds no {MANIFEST}: not a lightway backup")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackupError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not a {FORMAT} manifest")
    for key in ("file", "sha256", "size", "fingerprint"):
        if key not in manifest:
            raise BackupError(f"{path} lacks {key!r}")
    if Path(str(manifest["file"])).name != manifest["file"]:
        raise BackupError(f"{path} names a file outside the backup: {manifest['file']!r}")
    return manifest


def manifest_fingerprint(manifest: dict[str, Any]) -> Fingerprint:
    try:
        return Fingerprint.from_dict(manifest["fingerprint"])
    except (TypeError, ValueError) as exc:
        raise BackupError(f"the manifest's fingerprint is not valid: {exc}") from exc


def backup_verify(directory: Path) -> dict[str, Any]:
    """The manifest, once the backup file's size and SHA-256 match it."""
    manifest = manifest_read(directory)
    path = directory / str(manifest["file"])
    if not path.is_file():
        raise BackupError(f"{path} is missing")
    size = path.stat().st_size
    if size != manifest["size"]:
        raise BackupError(f"{path.name} has {size} bytes, the manifest says {manifest['size']}")
    digest = file_sha256(path)
    if digest != manifest["sha256"]:
        raise BackupError(
            f"{path.name} fails its checksum: SHA-256 {digest}, the manifest says"
            f" {manifest['sha256']}"
        )
    return manifest


# --- pg_dump / pg_restore with progress ---------------------------------------------------

_DUMPING = re.compile(r'dumping contents of table "?([^"\s]+)"?')
_RESTORING = re.compile(r'processing data for table "?([^"\s]+)"?')


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password, and the environment that carries it (PGPASSWORD): a
    password on a command line is visible to every user of the machine (ps)."""
    parsed = urlparse(url)
    env = dict(os.environ)
    if parsed.password is None:
        return url, env
    env["PGPASSWORD"] = unquote(parsed.password)
    user = quote(unquote(parsed.username or ""), safe="")
    host = parsed.netloc.rpartition("@")[2]
    return parsed._replace(netloc=f"{user}@{host}" if user else host).geturl(), env


def _run_with_progress(
    args: list[str],
    *,
    what: str,
    pattern: re.Pattern[str],
    total: int,
    progress: Progress,
    env: dict[str, str] | None = None,
) -> None:
    done = 0
    tail: list[str] = []
    try:
        proc = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            env=env,
        )
    except OSError as exc:
        raise BackupError(f"{what}: cannot run {args[0]}: {exc.strerror or exc}") from exc
    assert proc.stderr is not None
    for line in proc.stderr:
        match = pattern.search(line)
        if match:
            done += 1
            progress(min(done, total), total, match.group(1))
        elif "error" in line.lower() or "FATAL" in line:
            tail.append(line.strip())
    if proc.wait() != 0:
        detail = " | ".join(tail[-4:]) or "see its output above"
        raise BackupError(f"{what} failed (exit {proc.returncode}): {detail}")


# --- backup -------------------------------------------------------------------------------


def backup_directory_default(base: Path, now: datetime) -> Path:
    return base / f"lightway-{now.strftime('%Y%m%dT%H%M%SZ')}"


def backup_create(
    *,
    source_url: str,
    out_dir: Path,
    now: datetime,
    key: bytes | None = None,
    progress: Progress = _noop,
) -> BackupResult:
    """Dump the database ``source_url`` names into ``out_dir`` (created; must be empty) with
    its manifest and fingerprint, from one snapshot; sealed when ``key`` is given. A backup
    that fails leaves nothing behind (no half-written dump)."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise BackupError(f"{out_dir} exists and is not an empty directory")
    made = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"cannot create {out_dir}: {exc.strerror or exc}") from exc
    try:
        return _backup_into(
            source_url=source_url, out_dir=out_dir, now=now, key=key, progress=progress
        )
    except BaseException:
        for path in out_dir.iterdir():
            with contextlib.suppress(OSError):
                path.unlink()
        if made:
            with contextlib.suppress(OSError):
                out_dir.rmdir()
        raise


def _backup_into(
    *, source_url: str, out_dir: Path, now: datetime, key: bytes | None, progress: Progress
) -> BackupResult:
    started = time.monotonic()
    dump = out_dir / DUMP
    timings: dict[str, float] = {}
    with _connect(source_url) as conn:
        major = _server_major(conn)
        try:
            pg_dump = pg_program("pg_dump", server_major=major)
        except PgToolError as exc:
            raise BackupError(str(exc)) from exc
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot(), current_setting('server_version')")
            snapshot, server_version = cursor.fetchone() or ("", "")
            cursor.execute(
                """SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN
                          ('pg_catalog', 'information_schema')"""
            )
            tables = int((cursor.fetchone() or (0,))[0])
            progress("fingerprint of the snapshot")
            mark = time.monotonic()
            fingerprint = _fingerprint_in(cursor, source_url)
            timings["fingerprint"] = round(time.monotonic() - mark, 3)
        mark = time.monotonic()
        url, env = _libpq(source_url)
        _run_with_progress(
            [
                str(pg_dump.path),
                "--format=custom",
                f"--snapshot={snapshot}",
                "--verbose",
                f"--file={dump}",
                f"--dbname={url}",
            ],
            what="pg_dump",
            pattern=_DUMPING,
            total=tables,
            progress=progress,
            env=env,
        )
        timings["dump"] = round(time.monotonic() - mark, 3)
        conn.rollback()
    plain_size = dump.stat().st_size
    plain_sha = file_sha256(dump)
    stored = dump
    encryption: dict[str, Any] | None = None
    if key is not None:
        progress("encrypting")
        mark = time.monotonic()
        stored = out_dir / DUMP_ENCRYPTED
        with dump.open("rb") as source, stored.open("wb") as target:
            backup_crypto.encrypt_stream(source, target, key=key)
        dump.unlink()
        timings["encrypt"] = round(time.monotonic() - mark, 3)
        encryption = {
            "algorithm": backup_crypto.ALGORITHM,
            "key_id": backup_crypto.key_id(key),
            "plain_size": plain_size,
            "plain_sha256": plain_sha,
        }
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "created_at": now.isoformat(),
        "database": database_name(source_url),
        "server_version": server_version,
        "pg_dump_version": pg_dump.version,
        "snapshot": snapshot,
        "file": stored.name,
        "size": stored.stat().st_size,
        "sha256": file_sha256(stored),
        "encryption": encryption,
        "fingerprint": fingerprint.as_dict(),
        "seconds": timings,
    }
    tmp = out_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, out_dir / MANIFEST)  # the manifest appears last: a backup is whole
    return BackupResult(
        directory=out_dir,
        manifest=manifest,
        fingerprint=fingerprint,
        seconds=time.monotonic() - started,
    )


def backup_audit(
    *, action: str, manifest: dict[str, Any], actor: str, now: datetime, **extra: Any
) -> None:
    """Record a backup (``backup.create``) or a drill (``backup.drill``) in the platform's audit
    trail, through the application's own connection: a copy of every record is an export.
    Written after the snapshot, so the backup it describes does not contain it."""
    from django.db import transaction

    from lightway.data.audit.services import audit_record

    encryption = manifest.get("encryption") or {}
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=action,
            object_type="backup",
            object_id=str(manifest["sha256"]),
            data={
                "database": manifest["database"],
                "file": manifest["file"],
                "size": manifest["size"],
                "encrypted_key_id": encryption.get("key_id", ""),
                "audit_head_seq": manifest["fingerprint"]["audit_head_seq"],
                **extra,
            },
            now=now,
        )


# --- restore ------------------------------------------------------------------------------


@contextlib.contextmanager
def _plain_dump(directory: Path, manifest: dict[str, Any], key: bytes | None) -> Iterator[Path]:
    """The plain dump file of a verified backup (decrypted to a temporary file if sealed)."""
    path = directory / str(manifest["file"])
    encryption = manifest.get("encryption")
    if not encryption:
        yield path
        return
    if key is None:
        raise BackupError(
            f"the backup is encrypted (key {encryption.get('key_id')}): set LIGHTWAY_BACKUP_KEY"
        )
    with tempfile.TemporaryDirectory(prefix="lightway-restore-") as tmp:
        plain = Path(tmp) / DUMP
        try:
            with path.open("rb") as source, plain.open("wb") as target:
                backup_crypto.decrypt_stream(source, target, key=key)
        except backup_crypto.BackupCryptoError as exc:
            raise BackupError(f"cannot decrypt {path.name}: {exc}") from exc
        if file_sha256(plain) != encryption.get("plain_sha256"):
            raise BackupError("the decrypted dump does not match the manifest's plain SHA-256")
        yield plain


def backup_restore(
    *,
    directory: Path,
    source_url: str,
    database: str,
    replace: bool = False,
    key: bytes | None = None,
    progress: Progress = _noop,
) -> RestoreResult:
    """Restore the backup in ``directory`` into ``database`` (a name on the server of
    ``source_url``, made when missing, or a URL). A database that holds anything is refused
    unless ``replace``: then the backup is restored into a new database first, and only once
    that succeeded is the old one dropped and the new one renamed in its place, so a failed
    restore loses nothing."""
    started = time.monotonic()
    manifest = backup_verify(directory)
    progress("checksum verified")
    target = _target_url(source_url, database)
    name = database_name(target)
    admin = url_with_database(target, "postgres")
    into = target
    made = False  # a database this call created: dropped again if the restore fails
    if _database_exists(admin, name):
        if not database_is_empty(target):
            if not replace:
                raise BackupError(
                    f"database {name} is not empty: restore into a new database, or give"
                    " --replace to restore beside it and then swap it in its place"
                )
            staging = f"{name[:40]}_restoring_{secrets.token_hex(4)}"
            _database_create(admin, staging)
            into, made = url_with_database(target, staging), True
    else:
        _database_create(admin, name)
        made = True
    try:
        _pg_restore(directory, manifest, key, into, progress)
    except BaseException:
        if made:
            with contextlib.suppress(BackupError, psycopg.Error):
                database_drop(into)
        raise
    if into != target:
        try:
            database_drop(target)  # refused while anyone is connected to it
        except BackupError:
            with contextlib.suppress(BackupError, psycopg.Error):
                database_drop(into)
            raise
        with _connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                    sql.Identifier(database_name(into)), sql.Identifier(name)
                )
            )
    return RestoreResult(database=name, created=made, seconds=time.monotonic() - started)


def _pg_restore(
    directory: Path,
    manifest: dict[str, Any],
    key: bytes | None,
    into: str,
    progress: Progress,
) -> None:
    with _plain_dump(directory, manifest, key) as dump:
        with _connect(into) as conn:
            major = _server_major(conn)
        try:
            pg_restore = pg_program("pg_restore", server_major=major)
        except PgToolError as exc:
            raise BackupError(str(exc)) from exc
        tables = _table_count(pg_restore.path, dump)
        url, env = _libpq(into)
        _run_with_progress(
            [
                str(pg_restore.path),
                "--no-owner",
                "--exit-on-error",
                "--single-transaction",
                "--verbose",
                f"--dbname={url}",
                str(dump),
            ],
            what="pg_restore",
            pattern=_RESTORING,
            total=tables,
            progress=progress,
            env=env,
        )


def _table_count(pg_restore: Path, dump: Path) -> int:
    done = subprocess.run(
        [str(pg_restore), "--list", str(dump)], capture_output=True, text=True, check=False
    )  # reads the file only: no connection
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise BackupError(f"pg_restore cannot read the dump: {tail}")
    return sum(1 for line in done.stdout.splitlines() if " TABLE DATA " in line)


def _fingerprint_in(cursor: psycopg.Cursor[Any], url: str) -> Fingerprint:
    try:
        return fingerprint_read(cursor)
    except psycopg.errors.UndefinedTable as exc:
        reason = (str(exc).strip().splitlines() or [""])[0]
        raise BackupError(
            f"{database_name(url)} is not a migrated platform database ({reason}):"
            " run `lightway migrate` first"
        ) from exc


def fingerprint_of(url: str) -> Fingerprint:
    """The fingerprint of a database, read in one snapshot."""
    with _connect(url) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        with conn.cursor() as cursor:
            result = _fingerprint_in(cursor, url)
        conn.rollback()
    return result


# --- drill --------------------------------------------------------------------------------


def backup_drill(
    *,
    source_url: str,
    work_dir: Path,
    now: datetime,
    key: bytes | None = None,
    keep_backup: bool = False,
    progress: Progress = _noop,
) -> DrillResult:
    """Back up, restore into a scratch database, compare fingerprints, drop the scratch."""
    out = work_dir / backup_directory_default(Path(), now).name
    backup = backup_create(source_url=source_url, out_dir=out, now=now, key=key, progress=progress)
    scratch = f"lightway_drill_{secrets.token_hex(4)}"
    timings = dict(backup.manifest["seconds"])
    try:
        restored = backup_restore(
            directory=backup.directory,
            source_url=source_url,
            database=scratch,
            key=key,
            progress=progress,
        )
        progress("fingerprint of the restored database")
        mark = time.monotonic()
        found = fingerprint_of(url_with_database(source_url, scratch))
        timings["restore"] = round(restored.seconds, 3)
        timings["fingerprint_restored"] = round(time.monotonic() - mark, 3)
    finally:
        with contextlib.suppress(BackupError, psycopg.Error):
            database_drop(url_with_database(source_url, scratch))
        if not keep_backup:
            for path in sorted(out.iterdir()):
                path.unlink()
            out.rmdir()
    return DrillResult(
        backup=backup,
        restore_seconds=restored.seconds,
        fingerprint=found,
        differences=fingerprint_compare(manifest_fingerprint(backup.manifest), found),
        scratch=scratch,
        timings=timings,
    )
