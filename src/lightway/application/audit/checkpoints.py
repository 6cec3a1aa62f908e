"""Signed checkpoints of the audit chain head: write them (the linker) and verify them.

After each linking batch the worker calls :func:`checkpoint_signed` with the new head: it
signs ``(seq, hash, linked_at)`` with the configured Ed25519 key
(``security/audit_signing.py``), stores the signed head in the append-only
``audit_checkpoint`` table and appends the same line, signature included, to the checkpoint
file (``infrastructure/audit_checkpoints.py``), which is meant to be shipped to write-once
storage.

:func:`checkpoints_verify` (``lightway audit verify --checkpoints``) checks every signed
checkpoint of the table and of the file against the published key(s), then that the chain
still has each checkpoint's hash at its seq. Someone with database access can rewrite the
records, re-hash the chain and rewrite the checkpoint table, but cannot sign: the rewritten
checkpoints fail their signature (or name an unknown key), and the untouched ones no longer
match the chain. A chain cut short is caught by the checkpoints beyond its new head.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lightway.data.audit.selectors import (
    MAX_PROBLEMS,
    AuditCheckpointResult,
    audit_chain_head,
    audit_checkpoint_at,
    audit_checkpoint_covering,
    audit_checkpoint_rows,
    audit_checkpoints_check,
    audit_month_last_seq,
)
from lightway.data.audit.services import ChainHead, audit_checkpoint_store
from lightway.infrastructure.audit_checkpoints import (
    Checkpoint,
    checkpoint_append,
    checkpoint_lines_read,
)
from lightway.security.audit_signing import (
    checkpoint_sign,
    checkpoint_signature_problem,
    utc_stamp,
    verify_keys,
)


def checkpoint_signed(head: ChainHead, *, path: Path | None) -> None:
    """Sign ``head``, store it in ``audit_checkpoint`` and append it to ``path`` (if set).

    Called by the linker after the batch committed, under the chain lock (so in chain
    order). Raises when the key or the storage fails; the batch stays linked and the next
    batch's head is checkpointed (each checkpoint covers every record up to its seq).
    """
    stamp = utc_stamp(head.linked_at)
    signed = checkpoint_sign(seq=head.seq, hash=head.hash, linked_at=stamp)
    audit_checkpoint_store(
        seq=head.seq,
        hash=head.hash,
        linked_at=stamp,
        key_id=signed.key_id,
        signature=signed.signature,
    )
    if path is not None:
        checkpoint_append(
            path,
            seq=head.seq,
            hash=head.hash,
            linked_at=head.linked_at,
            key_id=signed.key_id,
            signature=signed.signature,
        )


@dataclass
class CheckpointVerifyResult:
    """Outcome of :func:`checkpoints_verify`.

    ``signed_ok`` counts checkpoints whose signature verified, ``unsigned`` the old file
    lines without one (compared with the chain, but vouching only as far as the file is
    trusted), ``bad_signatures`` the ones refused. ``problems`` lists the refused
    signatures, then the chain mismatches, in seq order; ``first_bad_seq`` is the lowest seq
    with any problem. ``uncovered`` counts linked records after the last signed checkpoint.
    """

    ok: bool
    signed_ok: int
    unsigned: int
    bad_signatures: int
    problems: list[str]
    first_bad_seq: int | None
    chain: AuditCheckpointResult
    last_signed_seq: int
    head_seq: int
    uncovered: int
    key_ids: list[str] = field(default_factory=list)


def checkpoints_verify(
    *,
    file: Path | None,
    extra: Iterable[Checkpoint] = (),
    keys: dict[str, Ed25519PublicKey] | None = None,
) -> CheckpointVerifyResult:
    """Verify the signed checkpoints (table and ``file``) and compare them with the chain.

    ``extra`` are further expected heads (``--expect-head``), compared as they are. Raises
    ``CheckpointFileError``/``OSError`` when the file cannot be read, ``AuditKeyError`` when
    a configured key is malformed.
    """
    keys = verify_keys() if keys is None else keys
    bad: list[tuple[int, str]] = []
    counts = {"signed": 0, "unsigned": 0, "bad": 0}
    last_signed = 0

    def check(
        seq: int, hash: str, linked_at: str, key_id: str | None, signature: str | None, where: str
    ) -> Checkpoint | None:
        nonlocal last_signed
        if key_id is None or signature is None:
            counts["unsigned"] += 1
            return Checkpoint(seq, hash, where + " (unsigned)")
        problem = checkpoint_signature_problem(
            seq=seq, hash=hash, linked_at=linked_at, key_id=key_id, signature=signature, keys=keys
        )
        if problem is not None:
            counts["bad"] += 1
            if len(bad) < MAX_PROBLEMS:
                bad.append((seq, f"checkpoint seq={seq} ({where}): {problem}"))
            return None
        counts["signed"] += 1
        last_signed = max(last_signed, seq)
        return Checkpoint(seq, hash, where)

    def table() -> Iterator[Checkpoint]:
        for seq, hash, linked_at, key_id, signature in audit_checkpoint_rows():
            checked = check(seq, hash, linked_at, key_id, signature, "audit_checkpoint table")
            if checked is not None:
                yield checked

    def from_file(path: Path) -> Iterator[Checkpoint]:
        for line in checkpoint_lines_read(path):
            checked = check(
                line.seq, line.hash, line.linked_at, line.key_id, line.signature, line.where
            )
            if checked is not None:
                yield checked

    sources: list[Iterable[Checkpoint]] = [table()]
    if file is not None:
        sources.append(from_file(file))
    sources.append(extra)
    chain = audit_checkpoints_check(itertools.chain.from_iterable(sources))
    head_seq, _hash = audit_chain_head()
    problems = [message for _seq, message in sorted(bad)]
    if counts["bad"] > len(bad):
        problems.append(f"... and {counts['bad'] - len(bad)} more bad signatures")
    problems += chain.problems
    bad_seqs = [seq for seq in ([s for s, _m in bad] + [chain.first_bad_seq]) if seq is not None]
    return CheckpointVerifyResult(
        ok=not counts["bad"] and chain.ok,
        signed_ok=counts["signed"],
        unsigned=counts["unsigned"],
        bad_signatures=counts["bad"],
        problems=problems,
        first_bad_seq=min(bad_seqs) if bad_seqs else None,
        chain=chain,
        last_signed_seq=last_signed,
        head_seq=head_seq,
        uncovered=max(0, head_seq - last_signed),
        key_ids=sorted(keys),
    )


def boundary_checkpoint_problem(
    *, seq: int, hash: str, keys: dict[str, Ed25519PublicKey] | None = None
) -> str | None:
    """Why the signed checkpoint an archive boundary starts from cannot be trusted (missing,
    another hash, a bad signature), or None. ``lightway audit verify`` checks it before
    trusting the boundary it walks the chain from."""
    row = audit_checkpoint_at(seq)
    if row is None:
        return f"the archive boundary's checkpoint seq={seq} is not in audit_checkpoint"
    if row.hash != hash:
        return f"the archive boundary's checkpoint seq={seq} now has hash {row.hash}, not {hash}"
    problem = checkpoint_signature_problem(
        seq=row.seq,
        hash=row.hash,
        linked_at=row.linked_at,
        key_id=row.key_id,
        signature=row.signature,
        keys=verify_keys() if keys is None else keys,
    )
    return f"the archive boundary's checkpoint seq={seq}: {problem}" if problem else None


def month_checkpoint_problem(
    month_start: datetime, month_end: datetime, *, keys: dict[str, Ed25519PublicKey] | None = None
) -> str | None:
    """Before an audit month is detached: the signed checkpoint that will be its boundary
    (the lowest at or after the month's last seq, as ``audit_record_detach_check`` picks
    it) must carry a valid signature. The database checks the rest (it cannot check an
    Ed25519 signature). None when the month has no linked record or the signature is good."""
    last = audit_month_last_seq(month_start, month_end)
    if last is None:
        return None
    row = audit_checkpoint_covering(last)
    if row is None:
        return f"no signed checkpoint at or after its last seq {last} yet"
    return boundary_checkpoint_problem(seq=row.seq, hash=row.hash, keys=keys)
