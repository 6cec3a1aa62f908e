"""The audit checkpoint file: the chain head, written down outside the database.

The database alone cannot prove its own history: whoever can write ``audit_record`` with
triggers off can edit a record, re-hash every later one with the public formula and delete
the tail, and the chain still verifies. So after each linking batch the sequencer's caller
appends the new head to this file, one line per head::

    <seq> <hash> <linked_at> <key_id> <signature>

``seq`` in decimal, ``hash`` the 64 lowercase hex characters of the record at ``seq``,
``linked_at`` in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, ``key_id`` and ``signature`` the
Ed25519 signature of the head (``security/audit_signing.py``: 16 hex characters and 88
base64 characters), separated by one space, ending with ``\\n``. Lines written before
checkpoints were signed have only the first three fields; they are still read, flagged
as unsigned. The same signed heads are stored in the ``audit_checkpoint`` table. Lines are
only ever appended (``O_APPEND``, then ``fsync``), in chain order: the linker writes while
it still holds the chain lock. Ship the file to write-once storage; ``lightway audit
verify`` compares every line with the chain, and ``--checkpoints`` verifies the signatures.

Where: ``LIGHTWAY_AUDIT_CHECKPOINT_FILE``; unset means ``audit/checkpoints.log`` under the
var directory (``LIGHTWAY_VAR_DIR``); set but empty turns the file off (the signed heads
still go to the ``audit_checkpoint`` table).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from lightway.infrastructure.config import Env
from lightway.infrastructure.embedded_pg import var_dir

ENV_VAR = "LIGHTWAY_AUDIT_CHECKPOINT_FILE"
DEFAULT_RELATIVE = Path("audit") / "checkpoints.log"

_LINE_RE = re.compile(
    r"([1-9][0-9]*) ([0-9a-f]{64}) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)"
    r"(?: ([0-9a-f]{16}) ([A-Za-z0-9+/]{86}==))?"
)
_HEAD_RE = re.compile(r"([0-9]+):([0-9a-f]{64})")


class CheckpointFileError(ValueError):
    """A checkpoint file or an expected head could not be read (message says where)."""


class Checkpoint(NamedTuple):
    """One expected chain position: the record at ``seq`` has ``hash``; ``where`` for messages."""

    seq: int
    hash: str
    where: str


class CheckpointLine(NamedTuple):
    """One line of the file; ``key_id`` and ``signature`` are None on an unsigned (old) line."""

    seq: int
    hash: str
    linked_at: str
    key_id: str | None
    signature: str | None
    where: str


def checkpoint_path() -> Path | None:
    """The configured checkpoint file, or None when checkpoints are turned off."""
    raw = Env.str(ENV_VAR, str(var_dir() / DEFAULT_RELATIVE))
    if not raw.strip():
        return None
    return Path(raw).expanduser()


def checkpoint_line(
    *,
    seq: int,
    hash: str,
    linked_at: datetime,
    key_id: str | None = None,
    signature: str | None = None,
) -> str:
    """The line for one head, newline included (see the module docstring)."""
    if linked_at.tzinfo is None or linked_at.utcoffset() is None:
        raise ValueError("linked_at must be timezone-aware")
    stamp = linked_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    line = f"{seq} {hash} {stamp}"
    if (key_id is None) != (signature is None):
        raise ValueError("a signed checkpoint needs both key_id and signature")
    if key_id is not None:
        line += f" {key_id} {signature}"
    if not _LINE_RE.fullmatch(line):
        raise ValueError(f"not a chain head: seq={seq!r} hash={hash!r}")
    return line + "\n"


def checkpoint_append(
    path: Path,
    *,
    seq: int,
    hash: str,
    linked_at: datetime,
    key_id: str | None = None,
    signature: str | None = None,
) -> None:
    """Append one head to ``path`` durably: one ``write`` with ``O_APPEND``, then ``fsync``.

    Creates the file (and its directory) when missing. One short ``write`` on an
    ``O_APPEND`` descriptor lands whole at the end of the file even when several processes
    append; the linkers' chain lock keeps the lines in chain order.
    """
    data = checkpoint_line(
        seq=seq, hash=hash, linked_at=linked_at, key_id=key_id, signature=signature
    ).encode("ascii")
    created = not path.exists()
    if created:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(f"short write to {path}: {written} of {len(data)} bytes")
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        # Make the new directory entry durable too.
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def checkpoints_read(path: Path) -> Iterator[Checkpoint]:
    """The checkpoints in ``path``, in file order (streamed; blank lines are skipped).

    Raises :class:`CheckpointFileError` naming the first malformed line: a checkpoint file
    that does not parse cannot vouch for anything.
    """
    for line in checkpoint_lines_read(path):
        yield Checkpoint(line.seq, line.hash, line.where)


def checkpoint_lines_read(path: Path) -> Iterator[CheckpointLine]:
    """Every line of ``path`` with its signature fields (None on old, unsigned lines)."""
    with path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            text = raw.decode("ascii", errors="replace").rstrip("\n")
            if not text.strip():
                continue
            match = _LINE_RE.fullmatch(text)
            if match is None:
                raise CheckpointFileError(
                    f"{path} line {number} is not 'SEQ HASH LINKED_AT [KEY_ID SIGNATURE]':"
                    f" {text[:100]!r}"
                )
            yield CheckpointLine(
                int(match[1]), match[2], match[3], match[4], match[5], f"{path.name} line {number}"
            )


def head_parse(raw: str) -> Checkpoint:
    """``SEQ:HASH`` (as ``lightway audit verify`` prints the head) as a checkpoint."""
    match = _HEAD_RE.fullmatch(raw.strip())
    if match is None or int(match[1]) < 1:
        raise CheckpointFileError(
            f"expected head {raw[:100]!r} is not SEQ:HASH (seq >= 1, 64 lowercase hex)"
        )
    return Checkpoint(int(match[1]), match[2], "--expect-head")
