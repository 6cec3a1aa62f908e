"""The point-in-time recovery drill with pgBackRest (``lightway backup pitr-drill``).

It never touches another server: it builds its own cluster in a temporary directory, on a
free port, and removes it afterwards (``keep`` leaves it for a post-mortem).

1. ``initdb`` (data checksums on) and a ``postgresql.conf`` that archives every WAL segment
   with ``pgbackrest archive-push``; a pgBackRest configuration of its own in the same
   directory (repository, log, lock and spool paths; no system configuration is read);
   ``stanza-create`` and ``check`` (which proves archiving works).
2. The platform's schema and some payments: ``lightway seed-volume`` against the cluster
   (migrate, demo data, payments with their ledger entries and audit records, the audit
   chain linked).
3. A full backup (``pgbackrest backup --type=full``).
4. More payments (a second ``seed-volume`` run): they exist only in the archived WAL.
5. The target: the fingerprint (``data/backup/fingerprint.py``) and the server's clock.
6. The bad change, as a saboteur with superuser rights would make it: triggers off
   (``session_replication_role = replica``), postings deleted, a balance and a transfer's
   status changed, the audit chain head deleted. The drill checks the fingerprint now
   differs (so the comparison can fail).
7. Stop; ``pgbackrest restore --delta --type=time --target=<5> --target-action=promote``;
   start; wait for the end of recovery.
8. The fingerprint must equal the one of step 5 (and hold the payments of step 4); the
   server is on a new timeline; a new full backup is taken there (``check`` again).

PostgreSQL refuses to run as root: when run as root, every server-side program (``initdb``,
``pg_ctl``, ``pgbackrest``) runs as the ``postgres`` OS user (``runuser -u postgres --``).
The server binaries are the system's (``/usr/lib/postgresql/N/bin``, the newest; the ones
pgBackRest from the same distribution supports), or ``LIGHTWAY_PITR_PGBIN``.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from lightway.data.backup.fingerprint import (
    Fingerprint,
    fingerprint_compare,
    fingerprint_read,
)

PGBIN_ENV = "LIGHTWAY_PITR_PGBIN"
STANZA = "drill"
SERVER_USER = "postgres"
Progress = Callable[..., None]


class PitrError(Exception):
    """The drill could not be carried out (a missing tool, a step that failed)."""


@dataclass
class PitrResult:
    directory: Path
    port: int
    server_version: str = ""
    target_time: str = ""
    at_backup: Fingerprint | None = None
    expected: Fingerprint | None = None
    found: Fingerprint | None = None
    differences: list[str] = field(default_factory=list)
    timeline_before: int = 0
    timeline_after: int = 0
    backups: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def _noop(*_: object) -> None:
    pass


def server_bindir() -> Path:
    """Where initdb, pg_ctl and postgres are: ``LIGHTWAY_PITR_PGBIN``, else the newest
    ``/usr/lib/postgresql/N/bin`` holding them."""
    override = os.environ.get(PGBIN_ENV, "").strip()
    candidates = (
        [Path(override)]
        if override
        else sorted(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
            reverse=True,
        )
    )
    for bindir in candidates:
        if all((bindir / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise PitrError(
        "no PostgreSQL server programs (initdb, pg_ctl, postgres) in "
        + (override or "/usr/lib/postgresql/*/bin")
        + ": install them (apt-get install postgresql) or set "
        + PGBIN_ENV
    )


def pgbackrest_path() -> str:
    found = shutil.which("pgbackrest")
    if found is None:
        raise PitrError("pgbackrest is not installed (apt-get install pgbackrest)")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Cluster:
    """One throw-away cluster and its pgBackRest stanza, all under ``root``."""

    def __init__(self, root: Path, bindir: Path, pgbackrest: str) -> None:
        self.root = root
        self.bindir = bindir
        self.pgbackrest = pgbackrest
        self.data = root / "data"
        self.port = _free_port()
        self.config = root / "pgbackrest.conf"
        self.include = root / "pgbackrest.conf.d"
        self.log = root / "log"
        self.as_server_user: list[str] = []
        if os.geteuid() == 0:
            self.as_server_user = ["runuser", "-u", SERVER_USER, "--"]

    # -- commands --

    def run(self, args: list[str], *, what: str, timeout: float = 300) -> str:
        try:
            done = subprocess.run(
                [*self.as_server_user, *args],
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=self.root,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PitrError(f"{what}: {exc}") from exc
        if done.returncode != 0:
            tail = " | ".join((done.stderr + done.stdout).strip().splitlines()[-5:])
            raise PitrError(f"{what} failed (exit {done.returncode}): {tail}")
        return done.stdout

    def backrest(self, *args: str, what: str) -> str:
        return self.run(
            [
                self.pgbackrest,
                f"--config={self.config}",
                f"--config-include-path={self.include}",
                f"--stanza={STANZA}",
                *args,
            ],
            what=f"pgbackrest {what}",
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    # -- set-up --

    def prepare(self) -> None:
        for sub in ("repo", "log", "lock", "spool", "sock", "pgbackrest.conf.d"):
            (self.root / sub).mkdir(mode=0o700)
        archive = (
            f"{self.pgbackrest} --config={self.config} --config-include-path={self.include}"
            f" --stanza={STANZA} archive-push %p"
        )
        self.config.write_text(
            "\n".join(
                [
                    "[global]",
                    f"repo1-path={self.root / 'repo'}",
                    "repo1-retention-full=2",
                    f"log-path={self.log}",
                    f"lock-path={self.root / 'lock'}",
                    f"spool-path={self.root / 'spool'}",
                    "log-level-console=warn",
                    "log-level-file=info",
                    "compress-type=lz4",
                    "start-fast=y",
                    "process-max=2",
                    "",
                    f"[{STANZA}]",
                    f"pg1-path={self.data}",
                    f"pg1-port={self.port}",
                    f"pg1-socket-path={self.root / 'sock'}",
                    f"pg1-user={SERVER_USER}",
                    "",
                ]
            )
        )
        if self.as_server_user:
            entry = pwd.getpwnam(SERVER_USER)
            for path in [self.root, *self.root.rglob("*")]:
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self.run(
            [
                str(self.bindir / "initdb"),
                f"--pgdata={self.data}",
                f"--username={SERVER_USER}",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--data-checksums",
            ],
            what="initdb",
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# lightway backup pitr-drill\n"
                f"port = {self.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root / 'sock'}'\n"
                "max_connections = 40\n"
                "shared_buffers = 32MB\n"
                "wal_level = replica\n"
                "archive_mode = on\n"
                f"archive_command = '{archive}'\n"
                "max_wal_senders = 3\n"
                "timezone = 'UTC'\n"
                # A throw-away cluster on a shared machine: no flush to disk per commit
                # (WAL is still written, archived and replayed exactly as in production).
                "fsync = off\n"
                "synchronous_commit = off\n"
            )

    def start(self) -> None:
        self.run(
            [
                str(self.bindir / "pg_ctl"),
                f"--pgdata={self.data}",
                f"--log={self.log / 'postgresql.log'}",
                "--wait",
                "--timeout=120",
                "start",
            ],
            what="pg_ctl start",
        )

    def stop(self, mode: str = "fast") -> None:
        self.run(
            [str(self.bindir / "pg_ctl"), f"--pgdata={self.data}", f"--mode={mode}", "stop"],
            what="pg_ctl stop",
        )

    def running(self) -> bool:
        return (self.data / "postmaster.pid").is_file()

    def connect(self, database: str = "postgres") -> psycopg.Connection[Any]:
        return psycopg.connect(self.url(database), autocommit=True, connect_timeout=10)


def _fingerprint(cluster: _Cluster) -> Fingerprint:
    with cluster.connect("lightway") as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        with conn.cursor() as cursor:
            result = fingerprint_read(cursor)
        conn.execute("ROLLBACK")
    return result


def _timeline(cluster: _Cluster) -> int:
    with cluster.connect() as conn:
        row = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()
    return int(str(row[0])[:8], 16) if row else 0


def _seed(cluster: _Cluster, *, payments: int, first: bool) -> None:
    """``lightway seed-volume`` against the cluster (the platform's own code paths)."""
    env = {
        **os.environ,
        "DATABASE_URL": cluster.url("lightway"),
        "DATABASE_OWNER_URL": cluster.url("lightway"),
        "LIGHTWAY_AUDIT_CHECKPOINT_FILE": "",
        "LIGHTWAY_PROGRESS_TO_LOG": "",
    }
    args = [
        sys.executable,
        "-m",
        "lightway.interfaces.cli",
        "seed-volume",
        f"--payments={payments}",
        f"--customers={max(2, payments // 20)}",
        "--days=1",
        f"--seed={1 if first else 2}",
    ]
    if not first:
        args.append("--force")
    try:
        done = subprocess.run(
            args, capture_output=True, text=True, env=env, timeout=600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PitrError(f"seed-volume: {exc}") from exc
    if done.returncode != 0:
        tail = " | ".join((done.stderr + done.stdout).strip().splitlines()[-4:])
        raise PitrError(f"seed-volume on the drill cluster failed: {tail}")


def _sabotage(cluster: _Cluster) -> None:
    """What a saboteur with superuser rights does: triggers off, history rewritten."""
    with cluster.connect("lightway") as conn, conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute(
            "DELETE FROM ledger_posting WHERE entry_id = (SELECT max(id) FROM ledger_journal_entry)"
        )
        conn.execute(
            """UPDATE ledger_account SET balance = balance + 1000000
                WHERE id = (SELECT min(id) FROM ledger_account WHERE kind = 'wallet')"""
        )
        conn.execute(
            """UPDATE wallets_transfer
                  SET status = 'failed', failure_code = 'sabotage', failure_message = 'x'
                WHERE id = (SELECT id FROM wallets_transfer WHERE status = 'succeeded'
                             ORDER BY created_at DESC, id LIMIT 1)"""
        )
        conn.execute("DELETE FROM audit_record WHERE seq = (SELECT max(seq) FROM audit_record)")


def _archive_through(cluster: _Cluster, *, timeout: float = 60) -> None:
    """Close the current WAL segment and wait until pgBackRest has archived it."""
    with cluster.connect() as conn:
        row = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
        wanted = str(row[0]) if row else ""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = conn.execute(
                "SELECT last_archived_wal, last_failed_wal FROM pg_stat_archiver"
            ).fetchone()
            if got and got[0] and str(got[0]) >= wanted:
                return
            time.sleep(0.1)
    failed = got[1] if got else None
    raise PitrError(f"WAL segment {wanted} was not archived within {timeout:.0f} s ({failed=})")


def _wait_promoted(cluster: _Cluster, *, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(psycopg.OperationalError), cluster.connect() as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if row and row[0] is False:
                return
        time.sleep(0.1)
    raise PitrError(
        f"the restored server did not leave recovery within {timeout:.0f} s"
        f" (see {cluster.log / 'postgresql.log'})"
    )


@contextlib.contextmanager
def _timed(timings: dict[str, float], name: str, progress: Progress) -> Iterator[None]:
    progress(name)
    mark = time.monotonic()
    yield
    timings[name] = round(time.monotonic() - mark, 2)


def pitr_drill(
    *, payments: int = 200, keep: bool = False, progress: Progress = _noop
) -> PitrResult:
    """Run the drill (module docstring); the result's ``differences`` is empty on success.
    Raises PitrError when a step cannot be carried out."""
    bindir = server_bindir()
    pgbackrest = pgbackrest_path()
    root = Path(tempfile.mkdtemp(prefix="lightway-pitr-"))
    cluster = _Cluster(root, bindir, pgbackrest)
    result = PitrResult(directory=root, port=cluster.port)
    t = result.timings
    try:
        with _timed(t, "initdb", progress):
            cluster.prepare()
            cluster.start()
            cluster.backrest("stanza-create", what="stanza-create")
            cluster.backrest("check", what="check")
            with cluster.connect() as conn:
                conn.execute("CREATE DATABASE lightway")
                row = conn.execute("SHOW server_version").fetchone()
                result.server_version = str(row[0]) if row else ""
        with _timed(t, "migrate_and_payments", progress):
            _seed(cluster, payments=payments, first=True)
        result.at_backup = _fingerprint(cluster)
        with _timed(t, "full_backup", progress):
            cluster.backrest("--type=full", "backup", what="backup")
        with _timed(t, "payments_after_backup", progress):
            _seed(cluster, payments=max(1, payments // 2), first=False)
        with _timed(t, "target", progress):
            result.expected = _fingerprint(cluster)
            with cluster.connect() as conn:
                row = conn.execute(
                    "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC',"
                    " 'YYYY-MM-DD HH24:MI:SS.US') || '+00'"
                ).fetchone()
            result.target_time = str(row[0]) if row else ""
            result.timeline_before = _timeline(cluster)
            time.sleep(0.05)  # the bad change commits strictly after the target
        with _timed(t, "bad_change", progress):
            _sabotage(cluster)
            if not fingerprint_compare(result.expected, _fingerprint(cluster)):
                raise PitrError("the bad change left the fingerprint unchanged: nothing to prove")
            _archive_through(cluster)
            cluster.stop()
        with _timed(t, "restore", progress):
            cluster.backrest(
                "--delta",
                "--type=time",
                f"--target={result.target_time}",
                "--target-action=promote",
                "restore",
                what="restore",
            )
        with _timed(t, "recovery", progress):
            cluster.start()
            _wait_promoted(cluster)
        with _timed(t, "compare", progress):
            result.found = _fingerprint(cluster)
            result.differences = fingerprint_compare(result.expected, result.found)
            if result.found.transfers <= result.at_backup.transfers:
                result.differences.append(
                    "the payments made after the full backup are missing: WAL was not replayed"
                )
            result.timeline_after = _timeline(cluster)
            if result.timeline_after <= result.timeline_before:
                result.differences.append(
                    f"the restored server is on timeline {result.timeline_after}, not a new one"
                )
        with _timed(t, "new_full_backup", progress):
            cluster.backrest("check", what="check after the restore")
            cluster.backrest("--type=full", "backup", what="backup after the restore")
            info = json.loads(cluster.backrest("--output=json", "info", what="info"))
            result.backups = [
                f"{b['label']} (timeline {int(str(b['archive']['start'])[:8], 16)})"
                for stanza in info
                for b in stanza.get("backup", [])
            ]
    finally:
        if cluster.running():
            with contextlib.suppress(PitrError):
                cluster.stop("immediate")
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    return result
