"""The audit chain anchored outside the database: checkpoint file, linker, verify.

The attacker of these tests has superuser rights on the database (triggers off with
``session_replication_role = replica``, as in test_audit.py): they rewrite a record,
re-hash every later one with the public formula and delete the tail. The chain walk alone
cannot see that; the checkpoints written by the linker (and a head recorded earlier) can.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from test_audit import in_thread, join, linked, sql, triggers_off, write

from lightway.data.audit import selectors
from lightway.data.audit.chain import RecordContent, record_hash
from lightway.data.audit.models import AuditCheckpoint
from lightway.data.audit.selectors import audit_checkpoints_check, audit_verify
from lightway.data.audit.services import CHAIN_LOCK_KEY, ChainHead, audit_chain_link
from lightway.infrastructure.audit_checkpoints import (
    ENV_VAR,
    checkpoint_append,
    checkpoint_path,
    checkpoints_read,
)
from lightway.interfaces.cli.main import main
from lightway.interfaces.cli.worker import AuditLinker
from lightway.interfaces.tasks import audit_link_once

LINE_RE = re.compile(
    r"[1-9][0-9]* [0-9a-f]{64} \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"
    r" [0-9a-f]{16} [A-Za-z0-9+/]{86}=="
)


@pytest.fixture
def checkpoint_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "anchors" / "checkpoints.log"
    monkeypatch.setenv(ENV_VAR, str(path))
    return path


def heads(path: Path) -> list[tuple[int, str]]:
    text = path.read_text(encoding="ascii") if path.exists() else ""
    assert text == "" or text.endswith("\n")
    lines = text.splitlines()
    assert all(LINE_RE.fullmatch(line) for line in lines), lines
    return [(int(line.split()[0]), line.split()[1]) for line in lines]


def chain_hashes() -> dict[int, str]:
    return {r.seq: r.hash for r in linked() if r.seq is not None and r.hash is not None}


def verify(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["audit", "verify", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# --- the file ---------------------------------------------------------------------------


def test_checkpoint_file_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("LIGHTWAY_VAR_DIR", str(tmp_path))
    assert checkpoint_path() == tmp_path.resolve() / "audit" / "checkpoints.log"
    monkeypatch.setenv(ENV_VAR, "")
    assert checkpoint_path() is None  # empty turns checkpoints off
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "x.log"))
    assert checkpoint_path() == tmp_path / "x.log"


def test_checkpoint_append_creates_the_file_and_only_appends(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "checkpoints.log"
    at = datetime(2026, 11, 24, 9, 0, 1, 5, tzinfo=UTC)
    checkpoint_append(path, seq=3, hash="a" * 64, linked_at=at)
    checkpoint_append(path, seq=7, hash="b" * 64, linked_at=at)
    assert path.read_text() == (
        f"3 {'a' * 64} 2026-11-24T09:00:01.000005Z\n7 {'b' * 64} 2026-11-24T09:00:01.000005Z\n"
    )
    with pytest.raises(ValueError, match="not a chain head"):
        checkpoint_append(path, seq=8, hash="NOT-HEX", linked_at=at)
    assert [c.seq for c in checkpoints_read(path)] == [3, 7]
    assert [c.where for c in checkpoints_read(path)] == [
        "checkpoints.log line 1",
        "checkpoints.log line 2",
    ]


# --- the linker writes them -------------------------------------------------------------


@pytest.mark.django_db
def test_each_linking_batch_appends_its_committed_head(checkpoint_file: Path, now) -> None:
    assert audit_link_once() == 0
    assert not checkpoint_file.exists()  # nothing linked, nothing written

    write(3, now)
    assert audit_link_once() == 3
    assert heads(checkpoint_file) == [(3, chain_hashes()[3])]

    write(2, now, start=3)
    assert audit_link_once() == 2
    assert audit_link_once() == 0
    hashes = chain_hashes()
    assert heads(checkpoint_file) == [(3, hashes[3]), (5, hashes[5])]

    # One head per batch, in chain order.
    write(5, now, start=5)
    seen: list[ChainHead] = []
    assert audit_chain_link(batch=2, on_linked=seen.append) == 5
    assert [(h.seq, h.hash) for h in seen] == [(s, chain_hashes()[s]) for s in (7, 9, 10)]


@pytest.mark.django_db
def test_checkpoints_can_be_turned_off(monkeypatch: pytest.MonkeyPatch, tmp_path, now) -> None:
    monkeypatch.setenv("LIGHTWAY_VAR_DIR", str(tmp_path))
    monkeypatch.setenv(ENV_VAR, "")
    write(2, now)
    assert audit_link_once() == 2
    # No checkpoint file; the signed head is still stored in the database.
    assert list(tmp_path.rglob("*.log")) == []
    assert AuditCheckpoint.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_head_is_handed_over_after_commit_and_before_the_lock_is_released(
    tx_db: None, now
) -> None:
    write(2, now)
    observed: dict[str, object] = {}

    def look(head: ChainHead) -> None:
        def other_session() -> None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT hash FROM audit_record WHERE seq = %s", [head.seq])
                observed["committed_hash"] = cursor.fetchone()
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [CHAIN_LOCK_KEY])
                observed["lock_free"] = cursor.fetchone()[0]

        thread, errors = in_thread(other_session)
        join(thread, errors)
        observed["head"] = head

    assert audit_chain_link(on_linked=look) == 2
    head = observed["head"]
    assert isinstance(head, ChainHead) and head.seq == 2
    assert observed["committed_hash"] == (head.hash,)  # visible to others: committed
    assert observed["lock_free"] is False  # no other linker can move the head yet

    def lock_is_free() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [CHAIN_LOCK_KEY])
            observed["after"] = cursor.fetchone()[0]
            cursor.execute("SELECT pg_advisory_unlock_all()")

    thread, errors = in_thread(lock_is_free)
    join(thread, errors)
    assert observed["after"] is True


@pytest.mark.django_db(transaction=True)
def test_a_failed_checkpoint_write_keeps_the_batch_and_releases_the_lock(tx_db: None, now) -> None:
    write(3, now)

    def disk_full(head: ChainHead) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        audit_chain_link(on_linked=disk_full)
    assert [r.seq for r in linked()] == [1, 2, 3]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
        assert cursor.fetchone()[0] == 0
    write(1, now, start=3)
    sql("SET lock_timeout = '1s'")
    assert audit_chain_link() == 1
    sql("SET lock_timeout = 0")


@pytest.mark.django_db(transaction=True)
def test_concurrent_linkers_write_one_ordered_checkpoint_file(
    tx_db: None, checkpoint_file: Path, now
) -> None:
    writers_done = threading.Event()
    start = threading.Barrier(3 + 4)

    def linker() -> None:
        start.wait(10)
        while not writers_done.is_set():
            audit_link_once()
        audit_link_once()

    def writer(k: int):
        def run() -> None:
            start.wait(10)
            write(40, now, start=1000 * (k + 1))

        return run

    linkers = [in_thread(linker) for _ in range(3)]
    writers = [in_thread(writer(k)) for k in range(4)]
    for thread, errors in writers:
        join(thread, errors, timeout=60)
    writers_done.set()
    for thread, errors in linkers:
        join(thread, errors, timeout=60)
    audit_link_once()

    written = heads(checkpoint_file)
    hashes = chain_hashes()
    assert len(hashes) == 160
    seqs = [seq for seq, _h in written]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)  # chain order, no repeats
    assert seqs[-1] == 160
    assert all(hashes[seq] == digest for seq, digest in written)
    assert audit_checkpoints_check(checkpoints_read(checkpoint_file)).ok


@pytest.mark.django_db(transaction=True)
def test_the_worker_linker_thread_writes_checkpoints(
    tx_db: None, checkpoint_file: Path, now
) -> None:
    write(2, now)
    thread = AuditLinker(0.05)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not checkpoint_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        thread.stop()
        thread.join(10)
    assert heads(checkpoint_file) == [(2, chain_hashes()[2])]


# --- verify -----------------------------------------------------------------------------


def _rewrite_rehash_and_cut(owner: psycopg.Connection, edit_seq: int, keep: int) -> None:
    """The attacker (a superuser, on ``owner_db``): change the record at ``edit_seq``,
    re-hash it and every later record with the public formula, then delete every record
    after seq ``keep``."""
    with triggers_off(owner) as attack:
        attack(
            """UPDATE audit_record SET data = '{"amount": 1, "currency": "UGX"}'"""
            " WHERE seq = %s",
            [edit_seq],
        )
        records = linked()
        prev = records[edit_seq - 2].hash if edit_seq > 1 else "0" * 64
        for rec in records[edit_seq - 1 :]:
            assert rec.seq is not None and prev is not None
            content = RecordContent(
                rec.id,
                rec.occurred_at,
                rec.actor,
                rec.action,
                rec.object_type,
                rec.object_id,
                rec.data,
            )
            digest = record_hash(prev_hash=prev, seq=rec.seq, content=content)
            attack(
                "UPDATE audit_record SET prev_hash = %s, hash = %s WHERE id = %s",
                [prev, digest, rec.id],
            )
            prev = digest
        attack("DELETE FROM audit_record WHERE seq > %s", [keep])


@pytest.fixture
def anchored_chain(db: None, checkpoint_file: Path, now) -> dict[int, str]:
    """Six records linked in two batches: checkpoints at seq 3 and seq 6."""
    write(3, now)
    audit_link_once()
    write(3, now, start=3)
    audit_link_once()
    hashes = chain_hashes()
    assert heads(checkpoint_file) == [(3, hashes[3]), (6, hashes[6])]
    return hashes


def test_an_untampered_chain_passes_with_its_checkpoints(
    anchored_chain: dict[int, str], checkpoint_file: Path, now, capsys
) -> None:
    code, out, err = verify("--full", capsys=capsys)
    assert code == 0, out + err
    assert f"Chain head: seq 6 hash {anchored_chain[6]}" in out
    assert f"Checkpoints: 2 compared ({checkpoint_file})" in out
    assert "OK: audit chain verified (6 checked)" in out

    # The chain grows past the last checkpoint: still fine, with a head recorded earlier.
    write(2, now, start=6)
    audit_chain_link()
    code, out, err = verify("--expect-head", f"3:{anchored_chain[3]}", capsys=capsys)
    assert code == 0, out + err
    assert "Checkpoints: 3 compared" in out and "seq 8" in out

    code, out, err = verify(
        "--checkpoints",
        str(checkpoint_file),
        "--expect-head",
        f"8:{chain_hashes()[8]}",
        capsys=capsys,
    )
    assert code == 0, out + err


def test_verify_resumes_after_the_last_matching_checkpoint(
    anchored_chain: dict[int, str], checkpoint_file: Path, now, capsys, owner_db
) -> None:
    write(2, now, start=6)
    audit_chain_link()  # linked without a checkpoint: the file still ends at seq 6
    code, out, err = verify(capsys=capsys)
    assert code == 0, out + err
    assert "Walked the records after checkpoint seq 6" in out
    assert f"Chain head: seq 8 hash {chain_hashes()[8]}" in out
    assert "OK: audit chain verified (2 checked)" in out
    result = audit_verify(now=now, after=(6, anchored_chain[6]))
    assert (result.ok, result.checked, result.head_seq, result.resumed_after) == (True, 2, 8, 6)

    # A record after the checkpoint edited in place: the resumed walk recomputes it.
    with triggers_off(owner_db) as attack:
        attack("UPDATE audit_record SET actor = 'user:999' WHERE seq = 7")
    code, out, err = verify(capsys=capsys)
    assert code == 1 and "record seq=7" in out and "first bad seq 7" in err


def test_an_edit_before_the_checkpoint_that_keeps_its_hash_needs_full(
    anchored_chain: dict[int, str], now, capsys, owner_db
) -> None:
    # Content edited, stored hashes left alone: the checkpoints still match, the resumed
    # walk starts after seq 6 and cannot see it; --full recomputes every hash.
    with triggers_off(owner_db) as attack:
        attack("UPDATE audit_record SET actor = 'user:999' WHERE seq = 2")
    code, out, _err = verify(capsys=capsys)
    assert code == 0 and "Walked the records after checkpoint seq 6" in out
    code, out, err = verify("--full", capsys=capsys)
    assert code == 1 and "record seq=2" in out and "first bad seq 2" in err


def test_a_checkpoint_that_does_not_match_means_a_full_walk(
    anchored_chain: dict[int, str], now
) -> None:
    result = audit_verify(now=now, after=(6, "0" * 64))
    assert not result.ok and result.first_bad_seq == 6
    assert "does not match" in result.problems[0]


def test_rewrite_rehash_and_tail_delete_is_caught_by_the_checkpoint_file(
    anchored_chain: dict[int, str], checkpoint_file: Path, now, capsys, owner_db
) -> None:
    _rewrite_rehash_and_cut(owner_db, edit_seq=2, keep=5)
    # The chain is consistent again: the walk alone is fooled.
    walked = audit_verify(now=now)
    assert walked.ok and walked.head_seq == 5

    code, out, err = verify(capsys=capsys)
    assert code == 1
    problems = [line for line in out.splitlines() if "problem:" in line]
    assert len(problems) == 2
    assert f"checkpoint seq=3 hash={anchored_chain[3]} (checkpoints.log line 1)" in problems[0]
    assert "was rewritten" in problems[0]
    assert "checkpoint seq=6" in problems[1] and "beyond the chain head seq=5" in problems[1]
    assert "first bad seq 3" in err
    assert "Chain head: seq 5" in out
    assert "Walked the records" not in out  # the checkpoints failed: the whole chain

    result = audit_checkpoints_check(checkpoints_read(checkpoint_file))
    assert (result.ok, result.first_bad_seq, result.bad_checkpoints, result.head_seq) == (
        False,
        3,
        2,
        5,
    )


def test_rewrite_rehash_and_tail_delete_is_caught_by_an_expected_head(
    anchored_chain: dict[int, str], monkeypatch: pytest.MonkeyPatch, now, capsys, owner_db
) -> None:
    monkeypatch.setenv(ENV_VAR, "")  # no file at all: only the head written down earlier
    _rewrite_rehash_and_cut(owner_db, edit_seq=4, keep=5)
    assert audit_verify(now=now).ok

    code, out, err = verify("--expect-head", f"6:{anchored_chain[6]}", capsys=capsys)
    assert code == 1
    assert "checkpoint seq=6" in out and "(--expect-head)" in out
    assert "beyond the chain head seq=5" in out
    assert "first bad seq 6" in err

    # A head that is still in the chain but was re-hashed.
    write(1, now, start=10)
    audit_chain_link()  # the attacker's chain grows again to seq 6: a different record
    code, out, err = verify("--expect-head", f"6:{anchored_chain[6]}", capsys=capsys)
    assert code == 1 and "was rewritten" in out and "first bad seq 6" in err
    # Before the edit the chain is untouched: that head still matches.
    code, out, _err = verify("--expect-head", f"3:{anchored_chain[3]}", capsys=capsys)
    assert code == 0, out


def test_without_checkpoints_verify_says_so(db: None, monkeypatch, now, capsys) -> None:
    monkeypatch.setenv(ENV_VAR, "")
    write(1, now)
    audit_chain_link()
    code, out, _err = verify(capsys=capsys)
    assert code == 0
    assert "Checkpoints: none compared" in out


def test_checkpoint_file_errors(db: None, checkpoint_file: Path, tmp_path, now, capsys) -> None:
    write(1, now)
    audit_link_once()
    with checkpoint_file.open("a") as file:
        file.write("not a checkpoint\n")
    code, _out, err = verify(capsys=capsys)
    assert code == 1
    assert "line 2 is not 'SEQ HASH LINKED_AT [KEY_ID SIGNATURE]'" in err

    code, _out, err = verify("--checkpoints", str(tmp_path / "missing.log"), capsys=capsys)
    assert code == 1 and "does not exist" in err

    with pytest.raises(SystemExit) as exited:
        main(["audit", "verify", "--expect-head", "6:nothex"])
    assert exited.value.code == 2
    assert "is not SEQ:HASH" in capsys.readouterr().err


@pytest.mark.django_db
def test_checkpoints_are_compared_in_pages_in_any_order(
    monkeypatch: pytest.MonkeyPatch, now
) -> None:
    monkeypatch.setattr(selectors, "CHECKPOINT_BATCH_SIZE", 2)
    write(6, now)
    audit_chain_link()
    hashes = chain_hashes()
    good = [(seq, hashes[seq], f"c{seq}") for seq in (5, 1, 3, 6, 2)]
    assert audit_checkpoints_check(good).ok
    bad = [*good, (9, "f" * 64, "late"), (4, "e" * 64, "wrong")]
    result = audit_checkpoints_check(bad)
    assert (result.ok, result.checked, result.first_bad_seq, result.bad_checkpoints) == (
        False,
        7,
        4,
        2,
    )
    assert result.problems[0].startswith("checkpoint seq=4")
    assert result.problems[1].startswith("checkpoint seq=9")
