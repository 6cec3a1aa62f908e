"""Reads of the audit trail: the chain verifier and the checkpoint comparison."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, Min, Q

from lightway.data.audit.chain import CONTENT_FIELDS, GENESIS_HASH, RecordContent, record_hash
from lightway.data.audit.models import AuditArchiveBoundary, AuditCheckpoint, AuditRecord

# Records read per query while walking the chain (keyset pagination on the seq index).
VERIFY_BATCH_SIZE = 5000
# Problem messages kept in a result; further bad records are only counted.
MAX_PROBLEMS = 50


@dataclass(frozen=True)
class AuditVerifyResult:
    """Outcome of :func:`audit_verify`.

    ``ok`` is True when no problem was found. ``checked`` counts the linked records walked,
    ``unlinked`` the records not yet linked. ``problems`` lists, first, the bad records in
    chain order (so ``problems[0]`` names the first bad record: its seq, id and what is
    wrong), then a stalled-sequencer warning if any. ``first_bad_seq``/``first_bad_id``
    repeat the first bad record for callers; ``head_seq``/``head_hash`` are the last linked
    record as found (0 and the genesis hash for an empty chain), for external checkpoints.
    """

    ok: bool
    checked: int
    unlinked: int
    problems: list[str]
    first_bad_seq: int | None = None
    first_bad_id: int | None = None
    bad_records: int = 0
    stale_unlinked: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    resumed_after: int = 0
    archived_months: tuple[str, ...] = ()
    boundary_seq: int = 0
    boundary_hash: str = ""
    below_boundary: int = 0


@dataclass(frozen=True)
class ArchiveBoundary:
    """Where the chain in the database starts while its oldest months are archived: the
    signed checkpoint ``(seq, hash)`` at or after the last seq of every archived month
    (``audit_archive_boundary``, written at each detach), and those months."""

    seq: int
    hash: str
    months: tuple[str, ...]


def audit_archive_boundary() -> ArchiveBoundary | None:
    """The archive boundary, or None when no month of the chain is archived (detached or
    dropped; a restored month is back in the chain and verifies from the start)."""
    from lightway.data.archive.models import ArchiveManifest, ManifestState

    archived = ArchiveManifest.objects.filter(
        table_name=AuditRecord._meta.db_table,
        state__in=(ManifestState.DETACHED, ManifestState.DROPPED),
    ).values_list("month", flat=True)
    rows = list(
        AuditArchiveBoundary.objects.filter(month__in=archived)
        .order_by("month")
        .values_list("month", "checkpoint_seq", "checkpoint_hash")
    )
    if not rows:
        return None
    covered = [(seq, hash) for _m, seq, hash in rows if seq is not None and hash is not None]
    seq, hash = max(covered) if covered else (0, GENESIS_HASH)
    return ArchiveBoundary(
        seq=int(seq), hash=str(hash), months=tuple(f"{m:%Y-%m}" for m, *_ in rows)
    )


def audit_verify(
    *,
    now: datetime,
    progress: Callable[[int], None] | None = None,
    stale_after: timedelta = timedelta(minutes=5),
    after: tuple[int, str] | None = None,
) -> AuditVerifyResult:
    """Walk the chain by seq and recompute every hash: all of it, or only the records after
    ``after`` = (seq, hash), a checkpoint that matched (``audit_checkpoints_check``).

    Resuming trusts the records up to that seq as they were checked before: their stored
    hash at the checkpoint is what the checkpoint says, so any rewrite of them that was
    re-hashed up to there is caught, but an edit of a record's content that left its stored
    hash alone is caught only by a full walk (run one periodically: ``--full``). The record
    at ``after``'s seq must still carry its hash, or that is reported and nothing is walked.

    While the oldest months are archived (:func:`audit_archive_boundary`), the walk starts
    from the signed checkpoint at their boundary (seq B, hash H: the chain's head when the
    last archived record was covered): the records after B are walked as below from H. The
    records at or below B still in the database (the first records of the next month that
    were linked before the last ones of the archived month) are checked one by one: each
    hash recomputed from its own prev_hash, each link to an attached predecessor, and the
    record at B must have H. An ``after`` below B starts from B too.

    For each linked record, in seq order, it checks that:

    - its seq is the previous one + 1 (a gap means deleted records; a repeated or
      out-of-range seq means an inserted one);
    - its prev_hash equals the stored hash of the previous record (else a record before it
      was deleted, replaced, or edited and re-hashed), or the genesis hash for seq 1;
    - its hash equals the hash recomputed from its content, seq and prev_hash (else it was
      edited after linking).

    After a bad record the walk continues from that record's stored values, so each
    independent break is reported once. Then it counts unlinked records and reports a
    problem when any is older than ``stale_after`` at ``now`` (the sequencer has stalled).

    It streams: keyset pages of ``VERIFY_BATCH_SIZE`` rows on the unique seq index, each a
    short query (no long-lived snapshot), so it runs on millions of records with flat memory.
    ``progress(checked)`` is called after each page. Records linked while it runs are
    checked too if reached. A chain can only be trusted relative to a trusted head: someone
    who can write the table with triggers off can edit a record, re-hash every later one
    with the public formula and cut records off the end, and this walk still passes. Compare
    the chain with checkpoints kept outside the database (:func:`audit_checkpoints_check`,
    ``lightway audit verify --checkpoints``) for that.
    """
    chain_problems: list[str] = []
    bad_records = 0
    first_bad_seq: int | None = None
    first_bad_id: int | None = None
    checked = 0
    expected_seq = 1
    expected_prev = GENESIS_HASH
    last_seq: int | None = None
    linked = AuditRecord.objects.filter(seq__isnull=False).order_by("seq")
    boundary = audit_archive_boundary()
    boundary_seq = 0
    if boundary is not None and (after is None or after[0] <= boundary.seq):
        after = None
        boundary_seq = boundary.seq
        expected_seq, expected_prev = boundary.seq + 1, boundary.hash
    below = 0
    below_prev: tuple[int, str | None] = (0, GENESIS_HASH)
    if after is not None and after[0] > 0:
        start_seq, start_hash = after
        stored = linked.filter(seq=start_seq).values_list("hash", flat=True).first()
        if stored != start_hash:
            return AuditVerifyResult(
                ok=False,
                checked=0,
                unlinked=0,
                problems=[
                    f"record seq={start_seq}: the checkpoint to resume from does not match"
                    f" (hash {stored}): verify the whole chain (--full)"
                ],
                first_bad_seq=start_seq,
                bad_records=1,
                resumed_after=start_seq,
            )
        expected_seq, expected_prev, last_seq = start_seq + 1, start_hash, start_seq

    while True:
        page = linked if last_seq is None else linked.filter(seq__gt=last_seq)
        rows = list(
            page.values_list("seq", "prev_hash", "hash", *CONTENT_FIELDS)[:VERIFY_BATCH_SIZE]
        )
        for seq, prev_hash, stored_hash, *content_values in rows:
            checked += 1
            content = RecordContent(*content_values)
            wrong: list[str] = []
            if seq <= boundary_seq:
                # at or below the archive boundary: its neighbours may be archived
                below += 1
                if below_prev[0] == seq - 1 and prev_hash != below_prev[1]:
                    wrong.append(f"prev_hash does not match the hash of seq {seq - 1}")
                recomputed = record_hash(prev_hash=prev_hash or "", seq=seq, content=content)
                if stored_hash != recomputed:
                    wrong.append("hash mismatch: content, seq or prev_hash changed after linking")
                if seq == boundary_seq and boundary is not None and stored_hash != boundary.hash:
                    wrong.append(
                        "its hash differs from the signed checkpoint at the archive boundary"
                    )
                below_prev = (seq, stored_hash)
                if wrong:
                    bad_records += 1
                    if first_bad_seq is None:
                        first_bad_seq, first_bad_id = seq, content.id
                    if len(chain_problems) < MAX_PROBLEMS:
                        chain_problems.append(
                            f"record seq={seq} id={content.id}: " + "; ".join(wrong)
                        )
                continue
            if seq != expected_seq:
                if seq > expected_seq:
                    missing = (
                        f"seq {expected_seq}"
                        if seq == expected_seq + 1
                        else f"seq {expected_seq}..{seq - 1}"
                    )
                    wrong.append(f"sequence gap: {missing} missing (deleted?)")
                else:
                    wrong.append(f"seq breaks the sequence (expected {expected_seq})")
            if prev_hash != expected_prev:
                before = "the genesis hash" if expected_seq == 1 else f"seq {expected_seq - 1}"
                wrong.append(
                    f"prev_hash does not match the hash of {before} (a record before it was "
                    "deleted, inserted or re-hashed)"
                )
            recomputed = record_hash(prev_hash=prev_hash or "", seq=seq, content=content)
            if stored_hash != recomputed:
                wrong.append("hash mismatch: content, seq or prev_hash changed after linking")
            if wrong:
                bad_records += 1
                if first_bad_seq is None:
                    first_bad_seq, first_bad_id = seq, content.id
                if len(chain_problems) < MAX_PROBLEMS:
                    chain_problems.append(f"record seq={seq} id={content.id}: " + "; ".join(wrong))
            expected_seq = seq + 1
            expected_prev = stored_hash or ""
        if progress is not None and rows:
            progress(checked)
        if len(rows) < VERIFY_BATCH_SIZE:
            break
        last_seq = rows[-1][0]

    problems = list(chain_problems)
    if bad_records > len(chain_problems):
        problems.append(f"... and {bad_records - len(chain_problems)} more bad records")

    cutoff = now - stale_after
    counts = AuditRecord.objects.filter(seq__isnull=True).aggregate(
        unlinked=Count("id"),
        stale=Count("id", filter=Q(occurred_at__lt=cutoff)),
        oldest=Min("occurred_at"),
    )
    unlinked = int(counts["unlinked"])
    stale = int(counts["stale"])
    if stale:
        oldest = counts["oldest"]
        problems.append(
            f"{stale} unlinked record(s) older than {stale_after} (oldest occurred at "
            f"{oldest.isoformat() if oldest else '?'}): is the sequencer (audit_chain_link) "
            "running?"
        )
    resumed_after = after[0] if after is not None and after[0] > 0 else 0
    walked = checked - below or resumed_after or boundary_seq
    head_seq = expected_seq - 1 if walked else 0
    head_hash = expected_prev if walked else GENESIS_HASH
    return AuditVerifyResult(
        ok=not problems,
        checked=checked,
        unlinked=unlinked,
        problems=problems,
        first_bad_seq=first_bad_seq,
        first_bad_id=first_bad_id,
        bad_records=bad_records,
        stale_unlinked=stale,
        head_seq=head_seq,
        head_hash=head_hash,
        resumed_after=resumed_after,
        archived_months=boundary.months if boundary is not None else (),
        boundary_seq=boundary_seq,
        boundary_hash=boundary.hash if boundary_seq and boundary is not None else "",
        below_boundary=below,
    )


# Checkpoints compared per query (one ``seq IN (...)`` lookup on the unique seq index).
CHECKPOINT_BATCH_SIZE = 5000


@dataclass(frozen=True)
class AuditCheckpointResult:
    """Outcome of :func:`audit_checkpoints_check`.

    ``ok`` is True when every checkpoint matched. ``checked`` counts the checkpoints
    compared; ``problems`` names the bad ones (at most ``MAX_PROBLEMS``, then a count);
    ``first_bad_seq`` is the lowest seq whose checkpoint did not match; ``head_seq`` is the
    chain head (highest linked seq) the checkpoints were compared with.
    """

    ok: bool
    checked: int
    problems: list[str]
    first_bad_seq: int | None = None
    bad_checkpoints: int = 0
    head_seq: int = 0
    last_good: tuple[int, str] | None = None
    archived: int = 0


def audit_checkpoints_check(
    checkpoints: Iterable[tuple[int, str, str]],
) -> AuditCheckpointResult:
    """Compare checkpoints kept outside the database with the chain.

    Each checkpoint is ``(seq, hash, where)``: the hash the record at ``seq`` had when the
    checkpoint was taken, and a label for messages (``"checkpoints.log line 12"``). Every
    checkpoint must match the record now at that seq. A checkpoint beyond the current chain
    head means records were cut off the end (or the chain was rebuilt); a different hash
    means the record at that seq, or one before it, was rewritten and the rest re-hashed.
    Neither is visible to :func:`audit_verify` alone.

    A checkpoint at or below the archive boundary (:func:`audit_archive_boundary`) whose
    record is in an archived month is counted in ``archived``, not compared: the archive
    holds its record, and the boundary's own checkpoint vouches for the chain up to there.

    Checkpoints may come in any order; they are looked up ``CHECKPOINT_BATCH_SIZE`` at a
    time, so memory stays flat on a long file. A checkpoint is only ever written after its
    head committed, and each page is looked up after it was read, so a chain that grows
    meanwhile never causes a false alarm.
    """
    checked = 0
    bad = 0
    first_bad_seq: int | None = None
    found: list[tuple[int, str]] = []
    head_seq = 0
    last_good: tuple[int, str] | None = None
    linked = AuditRecord.objects.filter(seq__isnull=False)
    boundary = audit_archive_boundary()
    archived_upto = boundary.seq if boundary is not None else 0
    archived = 0

    def compare(page: list[tuple[int, str, str]]) -> None:
        nonlocal checked, bad, first_bad_seq, head_seq, last_good, archived
        stored = dict(
            linked.filter(seq__in={seq for seq, _h, _w in page}).values_list("seq", "hash")
        )
        # The head after the lookup: any record found above is at or below it.
        head_seq = int(linked.aggregate(head=Max("seq"))["head"] or 0)
        for seq, expected, where in page:
            checked += 1
            actual = stored.get(seq)
            if actual == expected:
                if last_good is None or seq > last_good[0]:
                    last_good = (seq, expected)
                continue
            if actual is None and seq <= archived_upto:
                archived += 1
                continue
            if actual is None and seq > head_seq:
                wrong = (
                    f"it is beyond the chain head seq={head_seq}: records were deleted from "
                    "the end of the chain (or the chain was rebuilt)"
                )
            elif actual is None:
                wrong = "the chain has no record with this seq (deleted?)"
            else:
                wrong = (
                    f"the chain has hash {actual}: the record at seq {seq} or one before it "
                    "was rewritten after the checkpoint was taken"
                )
            bad += 1
            if first_bad_seq is None or seq < first_bad_seq:
                first_bad_seq = seq
            found.append((seq, f"checkpoint seq={seq} hash={expected} ({where}): {wrong}"))

    page: list[tuple[int, str, str]] = []
    for seq, expected, where in checkpoints:
        page.append((int(seq), str(expected), str(where)))
        if len(page) >= CHECKPOINT_BATCH_SIZE:
            compare(page)
            page = []
            found = sorted(found)[:MAX_PROBLEMS]
    if page or not checked:
        compare(page)
    problems = [message for _seq, message in sorted(found)[:MAX_PROBLEMS]]
    if bad > len(problems):
        problems.append(f"... and {bad - len(problems)} more bad checkpoints")
    return AuditCheckpointResult(
        ok=bad == 0,
        checked=checked,
        problems=problems,
        first_bad_seq=first_bad_seq,
        bad_checkpoints=bad,
        head_seq=head_seq,
        last_good=last_good,
        archived=archived,
    )


def audit_checkpoint_rows(
    batch: int = CHECKPOINT_BATCH_SIZE,
) -> Iterator[tuple[int, str, str, str, str]]:
    """Every signed checkpoint row ``(seq, hash, linked_at, key_id, signature)`` by seq,
    streamed in keyset pages on the primary key."""
    last = 0
    while True:
        rows = list(
            AuditCheckpoint.objects.filter(seq__gt=last)
            .order_by("seq")
            .values_list("seq", "hash", "linked_at", "key_id", "signature")[:batch]
        )
        yield from rows
        if len(rows) < batch:
            return
        last = rows[-1][0]


def audit_checkpoint_last() -> AuditCheckpoint | None:
    """The newest signed checkpoint (highest seq), or None."""
    return AuditCheckpoint.objects.order_by("-seq").first()


def audit_chain_head() -> tuple[int, str | None]:
    """The highest linked seq and its hash ((0, None) for an empty chain); one index read."""
    row = (
        AuditRecord.objects.filter(seq__isnull=False)
        .order_by("-seq")
        .values_list("seq", "hash")
        .first()
    )
    return (int(row[0] or 0), row[1]) if row else (0, None)


def audit_checkpoint_at(seq: int) -> AuditCheckpoint | None:
    """The signed checkpoint at ``seq``, or None."""
    return AuditCheckpoint.objects.filter(seq=seq).first()


def audit_month_last_seq(month_start: datetime, month_end: datetime) -> int | None:
    """The highest linked seq of the records that occurred in [month_start, month_end)."""
    found = AuditRecord.objects.filter(
        occurred_at__gte=month_start, occurred_at__lt=month_end, seq__isnull=False
    ).aggregate(last=Max("seq"))["last"]
    return int(found) if found is not None else None


def audit_checkpoint_covering(seq: int) -> AuditCheckpoint | None:
    """The lowest signed checkpoint at or after ``seq`` (the one an archived month's
    detach records as its boundary)."""
    return AuditCheckpoint.objects.filter(seq__gte=seq).order_by("seq").first()
