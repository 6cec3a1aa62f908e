"""Audit of reads and exports of personal data: the one helper every page and download uses.

- :func:`audit_data_access` writes one audit record ``data_access.<kind>``: who (``actor``),
  what was read (``what``, a short name like ``"customer"``, ``"customers.search"``,
  ``"transactions.csv"``), which object (``object_type``/``object_id``, opaque ids only),
  how many rows, and for files the SHA-256 of the bytes handed out. ``details`` carries
  further references (filters, run ids): never personal data (the audit trail is hashed and
  kept for years; search terms, names and phone numbers stay out of it).
- :func:`audited_export` wraps a streamed export (an iterator of text chunks, the first one
  the CSV header): it hashes and counts what was sent and writes the record when the stream
  ends, ``complete: false`` when the client went away before the end.

One record per page view or file, never one per row, so auditing costs one INSERT.
Report downloads (the reports lane) call :func:`audit_data_access` with ``kind="download"``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime

from django.db import transaction

from lightway.data.audit.services import audit_record

KINDS = frozenset({"view", "search", "reveal", "export", "download"})
_WHAT_RE = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)*")


def audit_data_access(
    *,
    actor: str,
    kind: str,
    what: str,
    rows: int | None,
    sha256: str | None = None,
    object_type: str = "",
    object_id: str = "",
    details: Mapping[str, object] | None = None,
    now: datetime,
) -> int:
    """Record one read (``kind`` in :data:`KINDS`) of personal data; return the record's id.

    Runs in its own (nested) transaction: called inside a business transaction it commits
    with it. ``sha256`` is the lowercase hex digest of an exported or downloaded file.
    Raises ``ValueError`` for a kind, name or digest it does not know (a programming error,
    never user input).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown data access kind {kind!r}: one of {sorted(KINDS)}")
    if len(what) > 60 or not _WHAT_RE.fullmatch(what):
        raise ValueError(f"data access 'what' {what[:40]!r} must be a dotted lower-case name")
    if sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError("sha256 must be 64 lowercase hex characters")
    data: dict[str, object] = {"what": what}
    if rows is not None:
        data["rows"] = int(rows)
    if sha256 is not None:
        data["sha256"] = sha256
    if details:
        data.update({k: v for k, v in details.items() if k not in data})
    with transaction.atomic():
        record = audit_record(
            actor=actor,
            action=f"data_access.{kind}",
            object_type=object_type,
            object_id=object_id,
            data=data,
            now=now,
        )
    return int(record.pk)


def audited_export(
    chunks: Iterable[str],
    *,
    actor: str,
    what: str,
    clock: Callable[[], datetime],
    kind: str = "export",
    header_lines: int = 1,
    object_type: str = "",
    object_id: str = "",
    details: Mapping[str, object] | None = None,
) -> Iterator[str]:
    """Pass ``chunks`` through (one CSV line each, after ``header_lines`` header lines),
    hashing the UTF-8 bytes and counting rows; when the stream ends write the audit record
    with the row count and the SHA-256 of exactly what was sent (``complete`` False if the
    consumer stopped early). ``clock()`` gives the record's time."""
    digest = hashlib.sha256()
    lines = 0
    complete = False
    try:
        for chunk in chunks:
            digest.update(chunk.encode("utf-8"))
            lines += 1
            yield chunk
        complete = True
    finally:
        audit_data_access(
            actor=actor,
            kind=kind,
            what=what,
            rows=max(0, lines - header_lines),
            sha256=digest.hexdigest(),
            object_type=object_type,
            object_id=object_id,
            details={**(details or {}), "complete": complete},
            now=clock(),
        )


def sha256_hex(body: bytes | str) -> str:
    """The lowercase hex SHA-256 of a file body (text is hashed as UTF-8)."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return hashlib.sha256(raw).hexdigest()
