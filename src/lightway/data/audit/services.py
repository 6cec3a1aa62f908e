"""Writes to the audit trail: record (in the caller's transaction) and link (the sequencer).

Throughput design: a business transaction only INSERTs its record, unlinked, and takes no
lock on any shared row, so audit writes never serialize business transactions. The chain
is built afterwards by :func:`audit_chain_link`, which runs in its own short transactions
under one advisory lock (see models.py for the full life of a record).

This module does no file I/O: a caller that anchors the chain outside the database (the
worker's checkpoint file) passes ``on_linked``, which is called with each new head while the
chain lock is still held.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db import DatabaseError, connections, router, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from lightway.data.audit.chain import (
    CONTENT_FIELDS,
    GENESIS_HASH,
    RecordContent,
    normalize_data,
    record_hash,
)
from lightway.data.audit.models import AuditRecord

# Key of the advisory lock that serializes linkers ("LWAUDIT1"). The linker holds it at
# session level from before its batch until after ``on_linked`` has run (see
# :func:`audit_chain_link`); a transaction-level lock on the same key conflicts with it.
CHAIN_LOCK_KEY = 0x4C57_4155_4449_5431


@dataclass(frozen=True)
class ChainHead:
    """The last linked record after a batch: what an external checkpoint records."""

    seq: int
    hash: str
    linked_at: datetime


OnLinked = Callable[[ChainHead], None]

_ACTOR_RE = re.compile(r"[a-z][a-z0-9_]*(:[A-Za-z0-9_.\-]+)?")
_ACTION_RE = re.compile(r"[a-z0-9_\-]+(\.[a-z0-9_\-]+)*")
_OBJECT_TYPE_RE = re.compile(r"([a-z0-9_\-]+(\.[a-z0-9_\-]+)*)?")
_OBJECT_ID_RE = re.compile(r"[\x21-\x7e]*")  # printable ASCII, no spaces
# Personal data that must never enter the chain in clear (compliance.md §5.3: a hashed
# record cannot be erased later): a phone number in international form, an email address.
_PII_PATTERNS = (
    ("a phone number", re.compile(r"\+\d{8,15}\b")),
    ("an email address", re.compile(r"[^\s@\"']+@[^\s@\"']+\.[A-Za-z]{2,}")),
)


def _refuse_personal_data(value: object, path: str) -> None:
    """Walk the normalized payload; a string that holds a phone number or email address is
    refused (log an id, a blind-index token or a masked value instead)."""
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_personal_data(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_personal_data(item, f"{path}[{i}]")
    elif isinstance(value, str):
        for what, pattern in _PII_PATTERNS:
            if pattern.search(value):
                raise AuditInputError(
                    f"audit {path} holds {what}: the chain keeps no personal data in clear"
                    " (record an id or a pii_token instead)"
                )


class AuditError(Exception):
    """Base class of audit trail errors."""


class AuditInputError(AuditError, ValueError):
    """An audit record was asked for with invalid fields (message says which)."""


class AuditOutsideTransaction(AuditError, RuntimeError):
    """audit_record() was called outside transaction.atomic()."""


def _check(value: str, pattern: re.Pattern[str], max_len: int, name: str, example: str) -> None:
    if len(value) > max_len or not pattern.fullmatch(value):
        raise AuditInputError(
            f"audit {name} {value[:40]!r} is invalid: expected at most {max_len} characters "
            f"like {example!r}"
        )


def audit_record(
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    data: dict[str, object] | None = None,
    now: datetime,
) -> AuditRecord:
    """Append one audit record, unlinked, in the caller's open transaction.

    Must run inside ``transaction.atomic()`` (the transaction of the action it records), so
    the record commits or rolls back with that action; raises :class:`AuditOutsideTransaction`
    otherwise. ``actor`` is an opaque reference (``"user:12"``, ``"staff:3"``, ``"system"``:
    ``kind`` or ``kind:ref``), ``action`` a dotted lower-case name (``"transfer.create"``),
    ``object_type`` the same shape or empty (``"transfer"``, ``"auth.user"``), ``object_id``
    printable ASCII without spaces, possibly empty; each up to 64/100/100/100 characters,
    else :class:`AuditInputError`. ``data`` holds references and
    field names, never personal data; it is normalized as described in ``chain.py`` (floats
    and other ambiguous types are refused with :class:`AuditInputError`). ``now`` must be
    timezone-aware. The record gets its ``seq`` and hash later, from :func:`audit_chain_link`.
    """
    alias = router.db_for_write(AuditRecord)
    if not transaction.get_connection(alias).in_atomic_block:
        raise AuditOutsideTransaction(
            "audit_record() must run inside the transaction.atomic() block of the action it records"
        )
    _check(actor, _ACTOR_RE, 64, "actor", "user:12")
    _check(action, _ACTION_RE, 100, "action", "transfer.create")
    _check(object_type, _OBJECT_TYPE_RE, 100, "object_type", "transfer")
    _check(object_id, _OBJECT_ID_RE, 100, "object_id", "42")
    if now.tzinfo is None or now.utcoffset() is None:
        raise AuditInputError("audit occurred_at (now) must be timezone-aware")
    if data is not None and not isinstance(data, Mapping):
        raise AuditInputError("audit data must be a dict")
    try:
        payload = normalize_data(data or {})
    except (TypeError, ValueError) as exc:
        raise AuditInputError(str(exc)) from exc
    _refuse_personal_data(payload, "data")
    _refuse_personal_data(object_id, "object_id")
    record = AuditRecord(
        occurred_at=now,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        data=payload,
    )
    # Plain SQL: this runs in every business transaction, so skip the ORM's compilation.
    with transaction.get_connection(alias).cursor() as cur:
        cur.execute(_INSERT_SQL, [now, actor, action, object_type, object_id, Jsonb(payload)])
        record.pk = cur.fetchone()[0]
    record._state.adding = False
    record._state.db = alias
    return record


_INSERT_SQL = (
    "INSERT INTO audit_record (occurred_at, actor, action, object_type, object_id, data)"
    " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id"
)


def _link_batch(alias: str, batch: int, on_linked: OnLinked | None) -> int:
    """Link one batch; return how many records it linked."""
    locked = False
    try:
        with transaction.atomic(using=alias, durable=True):
            with connections[alias].cursor() as cursor:
                # Waits for any other linker. Session level: the lock outlives the commit,
                # so on_linked runs before the next linker can move the head. Business
                # transactions never take it.
                cursor.execute("SELECT pg_advisory_lock(%s)", [CHAIN_LOCK_KEY])
            locked = True
            linked, head = _link_locked(alias, batch)
        # Committed: the head is durable in the database. Still under the lock, hand it to
        # the caller, so external checkpoints are written in chain order and only for heads
        # that really committed.
        if head is not None and on_linked is not None:
            on_linked(head)
        return linked
    finally:
        if locked:
            _unlock(alias)


def _unlock(alias: str) -> None:
    connection = connections[alias]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [CHAIN_LOCK_KEY])
    except DatabaseError:
        # A broken connection: closing it ends the session, and that releases the lock.
        connection.close()


def _link_locked(alias: str, batch: int) -> tuple[int, ChainHead | None]:
    """Under the chain lock, in the batch's transaction: link up to ``batch`` records."""
    table = AuditRecord._meta.db_table
    records = AuditRecord.objects.using(alias)
    head = records.filter(seq__isnull=False).order_by("-seq").values_list("seq", "hash")
    head_row = head.first()
    seq, prev = (head_row[0], head_row[1]) if head_row else (0, GENESIS_HASH)
    assert seq is not None and prev is not None
    rows = list(
        records.filter(seq__isnull=True)
        .order_by("id")
        .select_for_update(skip_locked=True)
        .values_list(*CONTENT_FIELDS)[:batch]
    )
    if not rows:
        return 0, None
    ids: list[int] = []
    times: list[datetime] = []
    seqs: list[int] = []
    prevs: list[str] = []
    hashes: list[str] = []
    for row in rows:
        content = RecordContent(*row)
        seq += 1
        digest = record_hash(prev_hash=prev, seq=seq, content=content)
        ids.append(content.id)
        times.append(content.occurred_at)
        seqs.append(seq)
        prevs.append(prev)
        hashes.append(digest)
        prev = digest
    with connections[alias].cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} AS r
               SET seq = v.seq, prev_hash = v.prev_hash, hash = v.hash
              FROM unnest(%s::bigint[], %s::timestamptz[], %s::bigint[], %s::text[], %s::text[])
                   AS v(id, occurred_at, seq, prev_hash, hash)
             WHERE r.id = v.id AND r.occurred_at = v.occurred_at AND r.seq IS NULL
            """,
            # occurred_at too: the table is partitioned by it, so each row is looked up in
            # its own month only (not in every month's index)
            [ids, times, seqs, prevs, hashes],
        )
        if cursor.rowcount != len(ids):
            raise AuditError(f"linked {cursor.rowcount} of {len(ids)} audit records")
    return len(ids), ChainHead(seq=seq, hash=prev, linked_at=timezone.now())


def audit_chain_link(*, batch: int = 1000, on_linked: OnLinked | None = None) -> int:
    """Link committed, unlinked records into the chain; return how many were linked.

    The sequencer. Each batch (up to ``batch`` records, oldest id first) is one short
    transaction: take the advisory lock ``CHAIN_LOCK_KEY``, read the chain head, lock the
    unlinked rows (``FOR UPDATE SKIP LOCKED``), give them seq = head + 1, ..., their
    prev_hash and hash, commit. It loops batch after batch and returns when a batch comes
    back short (nothing left that is committed). Records whose transaction is still open
    are invisible and are linked by a later call, so the chain follows commit order.

    ``on_linked(head)``, when given, is called once per non-empty batch with the new chain
    head (:class:`ChainHead`), after that batch has committed and before the lock is
    released: the worker appends it to its checkpoint file there. So checkpoints name only
    committed heads, in chain order, even with several linkers. If ``on_linked`` raises, the
    batch stays linked and the error propagates (no further batch is linked in this call).

    Safe to call concurrently from several processes or threads: linkers take turns on the
    advisory lock, one batch at a time, and each re-reads the head under it. The lock is
    session-level (taken inside the batch's transaction, released after ``on_linked``; a
    broken connection is closed, which releases it), so the linker needs a session of its
    own: not a transaction-pooling proxy. It must not run inside another transaction (it
    opens durable ones; calling it inside ``atomic()`` raises RuntimeError), because holding
    the lock across a business transaction would serialize everything. Run it from a
    periodic task or worker loop.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    alias = router.db_for_write(AuditRecord)
    total = 0
    while True:
        linked = _link_batch(alias, batch, on_linked)
        total += linked
        if linked < batch:
            return total


def audit_checkpoint_store(
    *, seq: int, hash: str, linked_at: str, key_id: str, signature: str
) -> None:
    """Insert one signed chain head into ``audit_checkpoint`` (append-only; its own short
    transaction, as the linker calls it after the batch committed)."""
    from lightway.data.audit.models import AuditCheckpoint

    alias = router.db_for_write(AuditCheckpoint)
    with transaction.atomic(using=alias):
        AuditCheckpoint.objects.using(alias).create(
            seq=seq, hash=hash, linked_at=linked_at, key_id=key_id, signature=signature
        )
