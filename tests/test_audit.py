"""Audit trail: hash chain, append-only triggers, sequencer, verifier and audited admin.

Runs against real PostgreSQL, as the application's restricted role. To tamper, tests act as
an attacker with superuser rights (the ``owner_db`` connection) and switch triggers off
(``session_replication_role = replica``); CHECK and UNIQUE constraints stay on, as they do
for such an attacker.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from zoneinfo import ZoneInfo

import psycopg
import pytest
from django.contrib import admin
from django.contrib.admin import AdminSite
from django.contrib.auth.models import AnonymousUser, Group, User
from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.forms import modelform_factory
from django.test import RequestFactory
from django.urls import path

from lightway.data.audit import selectors
from lightway.data.audit.chain import GENESIS_HASH, RecordContent, canonical_json, record_hash
from lightway.data.audit.models import AuditRecord
from lightway.data.audit.selectors import audit_verify
from lightway.data.audit.services import (
    CHAIN_LOCK_KEY,
    AuditInputError,
    AuditOutsideTransaction,
    audit_chain_link,
    audit_record,
)
from lightway.interfaces.admin.audit import AuditRecordAdmin
from lightway.interfaces.admin.base import AuditedModelAdmin

# --- URLs for the admin tests (used through @pytest.mark.urls("test_audit")) -------------


class _MembershipInline(admin.TabularInline):
    model = User.groups.through
    extra = 0


class _AuditedGroupAdmin(AuditedModelAdmin):
    inlines = [_MembershipInline]


# An own site, so that admins registered on admin.site by other modules (now or later in the
# test run) cannot change these URLs.
audited_site = AdminSite(name="audited_test_admin")
audited_site.register(Group, _AuditedGroupAdmin)
audited_site.register(AuditRecord, AuditRecordAdmin)

urlpatterns = [path("audited/", audited_site.urls)]


# --- helpers ---------------------------------------------------------------------------


def write(n: int, now: datetime, *, start: int = 0) -> list[int]:
    """Write n records, each in its own committed (or savepointed) transaction."""
    ids = []
    for i in range(start, start + n):
        with transaction.atomic():
            rec = audit_record(
                actor=f"user:{i}",
                action="transfer.create",
                object_type="transfer",
                object_id=str(i),
                data={"amount": 1000 + i, "currency": "UGX"},
                now=now,
            )
        ids.append(rec.id)
    return ids


def sql(statement: str, params: list[object] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


@contextmanager
def triggers_off(owner: psycopg.Connection) -> Iterator[Callable[..., None]]:
    """Act as a superuser attacker on the ``owner_db`` connection: triggers do not fire
    (constraints still do). Yields a function that runs one statement there."""

    def run(statement: str, params: list[object] | None = None) -> None:
        owner.execute(statement, params or [])

    run("SET session_replication_role = replica")
    try:
        yield run
    finally:
        run("SET session_replication_role = origin")


def linked() -> list[AuditRecord]:
    return list(AuditRecord.objects.filter(seq__isnull=False).order_by("seq"))


def refused(
    statement: str, params: list[object] | None = None, *, on: psycopg.Connection | None = None
) -> str:
    """Run a statement that the database must refuse (as the application, or on the owner's
    connection ``on``); return the error text."""
    if on is not None:
        with pytest.raises(psycopg.errors.IntegrityError) as owner_err:
            on.execute(statement, params or [])
        return str(owner_err.value)
    with pytest.raises(IntegrityError) as err, transaction.atomic():
        sql(statement, params)
    return str(err.value)


def in_thread(target: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
    """Start target in a thread with its own DB connection; errors are collected."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def join(thread: threading.Thread, errors: list[BaseException], timeout: float = 30) -> None:
    thread.join(timeout)
    assert not thread.is_alive(), "thread did not finish"
    if errors:
        raise errors[0]


# --- canonical form --------------------------------------------------------------------


def test_canonical_form_matches_the_documented_example() -> None:
    content = RecordContent(
        id=1,
        occurred_at=datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
        actor="user:12",
        action="transfer.create",
        object_type="transfer",
        object_id="42",
        data={"note": "école", "currency": "UGX", "amount": 5000},
    )
    expected_json = (
        '{"action":"transfer.create","actor":"user:12","data":{"amount":5000,"currency":"UGX",'
        '"note":"école"},"id":1,"object_id":"42","object_type":"transfer",'
        '"occurred_at":"2026-11-24T09:00:00.000000Z","seq":1}'
    ).encode()
    # Independent of chain.py: plain sha256 over genesis || the documented bytes.
    expected = hashlib.sha256(b"0" * 64 + expected_json).hexdigest()
    assert record_hash(prev_hash=GENESIS_HASH, seq=1, content=content) == expected
    assert expected == "9959d4b3fd792ac0a250ded5f18f78cdff414fa8b39df98ff90d7e6c9fccad23"
    # The same datetime in another zone hashes the same (UTC in the canonical form).
    shifted = datetime(2026, 11, 24, 12, 0, tzinfo=ZoneInfo("Africa/Kampala"))  # 09:00 UTC
    other = RecordContent(**{**content.__dict__, "occurred_at": shifted})
    assert record_hash(prev_hash=GENESIS_HASH, seq=1, content=other) == expected
    # Changing seq or prev_hash changes the hash.
    assert record_hash(prev_hash=GENESIS_HASH, seq=2, content=content) != expected
    assert record_hash(prev_hash="1" * 64, seq=1, content=content) != expected
    assert canonical_json({"b": 1, "a": [True, None]}) == b'{"a":[true,null],"b":1}'


# --- record, link, verify --------------------------------------------------------------


@pytest.mark.django_db
def test_record_link_verify(now: datetime) -> None:
    ids = write(5, now)
    assert all(r.seq is None and r.hash is None for r in AuditRecord.objects.all())
    before = audit_verify(now=now)
    assert (before.ok, before.checked, before.unlinked) == (True, 0, 5)

    assert audit_chain_link() == 5
    assert audit_chain_link() == 0

    chain = linked()
    assert [r.seq for r in chain] == [1, 2, 3, 4, 5]
    assert [r.id for r in chain] == ids
    assert chain[0].prev_hash == GENESIS_HASH
    for prev, rec in pairwise(chain):
        assert rec.prev_hash == prev.hash
    first = chain[0]
    body = canonical_json(
        {
            "action": "transfer.create",
            "actor": "user:0",
            "data": {"amount": 1000, "currency": "UGX"},
            "id": first.id,
            "object_id": "0",
            "object_type": "transfer",
            "occurred_at": "2026-11-24T09:00:00.000000Z",
            "seq": 1,
        }
    )
    assert first.hash == hashlib.sha256(GENESIS_HASH.encode() + body).hexdigest()

    result = audit_verify(now=now)
    assert result.ok, result.problems
    assert (result.checked, result.unlinked, result.problems) == (5, 0, [])
    assert (result.head_seq, result.head_hash) == (5, chain[-1].hash)

    # Records written later extend the same chain.
    write(2, now, start=5)
    assert audit_chain_link(batch=1) == 2
    assert [r.seq for r in linked()] == [1, 2, 3, 4, 5, 6, 7]
    assert audit_verify(now=now).ok


@pytest.mark.django_db
def test_data_is_normalized_and_hashes_the_same_after_a_round_trip(now: datetime) -> None:
    with transaction.atomic():
        rec = audit_record(
            actor="system",
            action="fx.quote",
            object_type="quote",
            object_id="q-1",
            data={
                "rate": Decimal("3712.50"),
                "at": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
                "parts": (1, 2),
                "text": 'line\n"quoted" ünï',
            },
            now=now,
        )
    rec.refresh_from_db()
    assert rec.data == {
        "rate": "3712.50",
        "at": "2026-01-02T03:04:05.000006Z",
        "parts": [1, 2],
        "text": 'line\n"quoted" ünï',
    }
    audit_chain_link()
    assert audit_verify(now=now).ok


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"data": {"rate": 1.5}}, "floats are not allowed"),
        ({"data": {"at": datetime(2026, 1, 1)}}, "timezone-aware"),
        ({"data": {"blob": b"x"}}, "bytes is not allowed"),
        ({"data": {1: "x"}}, "keys must be strings"),
        ({"data": {"big": "x" * 20000}}, "limit"),
        ({"actor": "alice@example.com"}, "actor"),
        ({"actor": ""}, "actor"),
        ({"action": "Transfer Create"}, "action"),
        ({"object_id": "has space"}, "object_id"),
        ({"now": datetime(2026, 1, 1)}, "timezone-aware"),
    ],
)
def test_audit_record_refuses_bad_input(now: datetime, fields: dict, message: str) -> None:
    kwargs: dict = {
        "actor": "user:1",
        "action": "transfer.create",
        "object_type": "transfer",
        "object_id": "1",
        "data": {},
        "now": now,
        **fields,
    }
    with pytest.raises(AuditInputError, match=message), transaction.atomic():
        audit_record(**kwargs)
    assert AuditRecord.objects.count() == 0


@pytest.mark.django_db
def test_chain_link_refuses_to_run_inside_a_transaction(now: datetime) -> None:
    write(1, now)
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        audit_chain_link()
    assert audit_chain_link() == 1


# --- tampering -------------------------------------------------------------------------


@pytest.fixture
def chain5(db: None, now: datetime) -> list[AuditRecord]:
    write(5, now)
    assert audit_chain_link() == 5
    assert audit_verify(now=now).ok
    return linked()


def test_verify_detects_an_edited_record(
    chain5: list[AuditRecord], now: datetime, owner_db: psycopg.Connection
) -> None:
    victim = chain5[2]
    with triggers_off(owner_db) as attack:
        attack(
            """UPDATE audit_record SET data = '{"amount": 999999, "currency": "UGX"}'"""
            " WHERE id = %s",
            [victim.id],
        )
    result = audit_verify(now=now)
    assert not result.ok
    assert (result.first_bad_seq, result.first_bad_id, result.bad_records) == (3, victim.id, 1)
    assert result.problems[0].startswith(f"record seq=3 id={victim.id}: hash mismatch")
    assert result.checked == 5


def test_verify_detects_an_edited_and_rehashed_record(
    chain5: list[AuditRecord], now: datetime, owner_db: psycopg.Connection
) -> None:
    victim, after = chain5[2], chain5[3]
    content = RecordContent(
        victim.id,
        victim.occurred_at,
        "system",
        victim.action,
        victim.object_type,
        victim.object_id,
        victim.data,
    )
    forged = record_hash(prev_hash=victim.prev_hash or "", seq=3, content=content)
    with triggers_off(owner_db) as attack:
        attack(
            "UPDATE audit_record SET actor = 'system', hash = %s WHERE id = %s", [forged, victim.id]
        )
    result = audit_verify(now=now)
    assert (result.first_bad_seq, result.first_bad_id) == (4, after.id)
    assert "prev_hash does not match the hash of seq 3" in result.problems[0]


def test_verify_detects_a_deleted_record(
    chain5: list[AuditRecord], now: datetime, owner_db: psycopg.Connection
) -> None:
    with triggers_off(owner_db) as attack:
        attack("DELETE FROM audit_record WHERE id = %s", [chain5[2].id])
    result = audit_verify(now=now)
    assert (result.first_bad_seq, result.first_bad_id) == (4, chain5[3].id)
    assert "sequence gap: seq 3 missing" in result.problems[0]
    assert "prev_hash does not match" in result.problems[0]
    assert result.bad_records == 1 and result.checked == 4


def test_verify_detects_a_record_inserted_mid_chain(
    chain5: list[AuditRecord], now: datetime, owner_db: psycopg.Connection
) -> None:
    """The attacker renumbers seq 3.. and inserts a well-formed record at seq 3."""
    with triggers_off(owner_db) as attack:
        attack("UPDATE audit_record SET seq = seq + 1000 WHERE seq >= 3")
        attack("UPDATE audit_record SET seq = seq - 999 WHERE seq >= 1000")
        attack(
            "INSERT INTO audit_record"
            " (id, occurred_at, actor, action, object_type, object_id, data)"
            " VALUES (9999, %s, 'system', 'transfer.create', 'transfer', 'x', '{}')",
            [now],
        )
        rec = AuditRecord.objects.get(id=9999)
        content = RecordContent(
            9999, rec.occurred_at, "system", "transfer.create", "transfer", "x", {}
        )
        forged = record_hash(prev_hash=chain5[1].hash or "", seq=3, content=content)
        attack(
            "UPDATE audit_record SET seq = 3, prev_hash = %s, hash = %s WHERE id = 9999",
            [chain5[1].hash, forged],
        )
    result = audit_verify(now=now)
    assert not result.ok
    # The forged record itself is consistent; the first bad one is the old seq 3, now seq 4.
    assert (result.first_bad_seq, result.first_bad_id) == (4, chain5[2].id)
    assert result.checked == 6


@pytest.mark.parametrize(
    ("seq_offset", "forge_hash", "message"),
    [(1, False, "hash mismatch"), (3, True, "sequence gap: seq 6..7 missing")],
)
def test_verify_detects_a_record_appended_by_hand(
    chain5: list[AuditRecord],
    now: datetime,
    seq_offset: int,
    forge_hash: bool,
    message: str,
    owner_db: psycopg.Connection,
) -> None:
    head = chain5[-1]
    seq = 5 + seq_offset
    with triggers_off(owner_db) as attack:
        attack(
            "INSERT INTO audit_record (id, occurred_at, actor, action, object_type, object_id,"
            " data, seq, prev_hash, hash) VALUES (8888, %s, 'system', 'payout.create', 'p', '1',"
            " '{}', %s, %s, %s)",
            [now, seq, head.hash, "f" * 64],
        )
        if forge_hash:
            content = RecordContent(8888, now, "system", "payout.create", "p", "1", {})
            forged = record_hash(prev_hash=head.hash or "", seq=seq, content=content)
            attack("UPDATE audit_record SET hash = %s WHERE id = 8888", [forged])
    result = audit_verify(now=now)
    assert (result.first_bad_seq, result.first_bad_id) == (seq, 8888)
    assert message in result.problems[0]


@pytest.mark.django_db
def test_verify_streams_in_pages_and_reports_progress(
    now: datetime, monkeypatch: pytest.MonkeyPatch, owner_db: psycopg.Connection
) -> None:
    monkeypatch.setattr(selectors, "VERIFY_BATCH_SIZE", 3)
    write(10, now)
    audit_chain_link(batch=4)
    seen: list[int] = []
    result = audit_verify(now=now, progress=seen.append)
    assert result.ok and result.checked == 10
    assert seen == [3, 6, 9, 10]
    # A break in the third page is still found, and named.
    victim = AuditRecord.objects.get(seq=8)
    with triggers_off(owner_db) as attack:
        attack("UPDATE audit_record SET object_id = 'changed' WHERE seq = 8")
    result = audit_verify(now=now)
    assert (result.first_bad_seq, result.first_bad_id) == (8, victim.id)


@pytest.mark.django_db
def test_verify_counts_unlinked_records_and_flags_a_stalled_sequencer(now: datetime) -> None:
    write(2, now)
    audit_chain_link()
    write(1, now - timedelta(minutes=10), start=2)
    write(1, now - timedelta(minutes=1), start=3)
    result = audit_verify(now=now)
    assert (result.ok, result.checked, result.unlinked, result.stale_unlinked) == (
        False,
        2,
        2,
        1,
    )
    assert result.first_bad_seq is None
    assert "1 unlinked record(s) older than 0:05:00" in result.problems[0]
    assert "sequencer" in result.problems[0]
    assert audit_verify(now=now, stale_after=timedelta(minutes=15)).ok
    audit_chain_link()
    assert audit_verify(now=now).ok


# --- database rules --------------------------------------------------------------------


def test_update_and_delete_are_refused_by_the_trigger(
    now: datetime, owner_db: psycopg.Connection
) -> None:
    write(2, now)
    audit_chain_link()
    write(1, now, start=2)
    one, _two, unlinked = AuditRecord.objects.order_by("id")

    # Through the ORM, as application code would try it: its role lacks the privilege.
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        AuditRecord.objects.filter(pk=one.pk).update(data={"amount": 1})
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        one.delete()
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        unlinked.actor = "system"
        unlinked.save()
    # Linking columns only, as the application may: the trigger refuses a linked record.
    with pytest.raises(IntegrityError, match="append-only: UPDATE"), transaction.atomic():
        AuditRecord.objects.filter(pk=one.pk).update(hash="b" * 64)

    # The owner has every privilege: the trigger refuses it all the same.

    for statement in [
        "UPDATE audit_record SET data = '{}'::jsonb WHERE id = %s",  # edit a linked record
        "UPDATE audit_record SET seq = seq + 100 WHERE id = %s",  # re-link it
        "UPDATE audit_record SET hash = repeat('a', 64) WHERE id = %s",  # re-hash it
        "UPDATE audit_record SET seq = NULL, prev_hash = NULL, hash = NULL WHERE id = %s",
        "DELETE FROM audit_record WHERE id = %s",
    ]:
        assert "append-only" in refused(statement, [one.id], on=owner_db)
    for statement in [
        "UPDATE audit_record SET object_id = 'other' WHERE id = %s",  # edit while unlinked
        # linking while changing content
        "UPDATE audit_record SET seq = 3, prev_hash = repeat('0', 64), hash = repeat('a', 64),"
        " actor = 'system' WHERE id = %s",
        "DELETE FROM audit_record WHERE id = %s",
    ]:
        assert "append-only" in refused(statement, [unlinked.id], on=owner_db)
    assert "TRUNCATE refused" in refused("TRUNCATE audit_record", on=owner_db)
    assert "inserted unlinked" in refused(
        "INSERT INTO audit_record (occurred_at, actor, action, object_type, object_id, data,"
        " seq, prev_hash, hash) VALUES (now(), 'system', 'x', '', '', '{}', 3, %s, %s)",
        [GENESIS_HASH, "a" * 64],
    )
    assert AuditRecord.objects.count() == 3
    assert audit_verify(now=now).ok


@pytest.mark.django_db
def test_the_one_time_link_is_allowed_only_at_the_chain_head(now: datetime) -> None:
    write(1, now)
    audit_chain_link()
    head = AuditRecord.objects.get(seq=1)
    (rec_id,) = write(1, now, start=1)
    link = "UPDATE audit_record SET seq = %s, prev_hash = %s, hash = %s WHERE id = %s"
    # Leaving a gap, or naming the wrong predecessor hash, is refused.
    assert "does not follow" in refused(link, [3, head.hash, "a" * 64, rec_id])
    assert "does not follow" in refused(link, [2, "b" * 64, "a" * 64, rec_id])
    # Linking only some columns is refused.
    assert "append-only" in refused("UPDATE audit_record SET seq = 2 WHERE id = %s", [rec_id])
    # The real link goes through, once.
    sql(link, [2, head.hash, "a" * 64, rec_id])
    assert "append-only" in refused(link, [2, head.hash, "c" * 64, rec_id])


@pytest.mark.django_db
def test_constraints_hold_even_with_triggers_off(
    now: datetime, owner_db: psycopg.Connection
) -> None:
    write(2, now)
    audit_chain_link(batch=1)
    first, second = linked()
    with triggers_off(owner_db):
        assert "audit_record_linked_all_or_nothing" in refused(
            "UPDATE audit_record SET hash = NULL WHERE id = %s", [second.id], on=owner_db
        )
        assert "duplicate key" in refused(
            "UPDATE audit_record SET seq = 1 WHERE id = %s", [second.id], on=owner_db
        )
        assert "audit_record_hash_hex" in refused(
            "UPDATE audit_record SET hash = 'NOT-HEX' WHERE id = %s", [first.id], on=owner_db
        )


# --- transactions and concurrency ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_leaves_no_record(tx_db: None, now: datetime) -> None:
    group = None
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        group = Group.objects.create(name="doomed")
        audit_record(
            actor="system",
            action="group.create",
            object_type="group",
            object_id=str(group.pk),
            now=now,
        )
        _ = 1 / 0
    assert group is not None and not Group.objects.filter(pk=group.pk).exists()
    assert AuditRecord.objects.count() == 0
    assert audit_chain_link() == 0

    write(1, now)  # committed: it stays
    assert AuditRecord.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_audit_record_outside_a_transaction_is_refused(tx_db: None, now: datetime) -> None:
    with pytest.raises(AuditOutsideTransaction):
        audit_record(actor="system", action="x.y", object_type="", object_id="", now=now)
    assert AuditRecord.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_writers_do_not_wait_for_each_other_and_chain_in_commit_order(
    tx_db: None, now: datetime
) -> None:
    """A's transaction stays open after its insert; B inserts, commits and is linked first."""
    a_inserted, a_release = threading.Event(), threading.Event()
    a_state: dict[str, int] = {}

    def writer_a() -> None:
        with transaction.atomic():
            a_state["id"] = audit_record(
                actor="user:1",
                action="transfer.create",
                object_type="transfer",
                object_id="a",
                now=now,
            ).id
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                a_state["pid"] = cursor.fetchone()[0]
            a_inserted.set()
            assert a_release.wait(20)

    thread, errors = in_thread(writer_a)
    try:
        assert a_inserted.wait(10)
        # A's open transaction holds no advisory (chain) lock.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE pid = %s AND locktype = 'advisory'",
                [a_state["pid"]],
            )
            assert cursor.fetchone()[0] == 0
        started = time.monotonic()
        with transaction.atomic():
            sql("SET LOCAL lock_timeout = '1s'")
            b_id = audit_record(
                actor="user:2",
                action="transfer.create",
                object_type="transfer",
                object_id="b",
                now=now,
            ).id
        assert time.monotonic() - started < 1
        # The sequencer neither waits for A nor sees it.
        sql("SET lock_timeout = '1s'")
        assert audit_chain_link() == 1
        sql("SET lock_timeout = 0")
    finally:
        a_release.set()
        join(thread, errors)
    assert audit_chain_link() == 1
    assert a_state["id"] < b_id
    assert [r.id for r in linked()] == [b_id, a_state["id"]]  # commit order, not id order
    assert audit_verify(now=now).ok


@pytest.mark.django_db(transaction=True)
def test_many_writers_hold_open_transactions_at_once_while_a_linker_holds_the_lock(
    tx_db: None, now: datetime
) -> None:
    """Each writer inserts, then waits at a barrier inside its still-open transaction.

    All of them only get past the barrier if no insert waited for another writer's commit
    or for the chain lock, which this thread holds meanwhile like a linker mid-batch.
    """
    writers = 8
    barrier = threading.Barrier(writers)

    def writer(i: int) -> Callable[[], None]:
        def run() -> None:
            with transaction.atomic():
                sql("SET LOCAL lock_timeout = '2s'")
                audit_record(
                    actor=f"user:{i}",
                    action="transfer.create",
                    object_type="transfer",
                    object_id=str(i),
                    now=now,
                )
                barrier.wait(timeout=10)

        return run

    with transaction.atomic():
        sql("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
        threads = [in_thread(writer(i)) for i in range(writers)]
        for thread, errors in threads:
            join(thread, errors)
    assert AuditRecord.objects.count() == writers
    assert audit_chain_link() == writers
    assert audit_verify(now=now).ok


@pytest.mark.django_db(transaction=True)
def test_the_sequencer_takes_the_chain_lock(tx_db: None, now: datetime) -> None:
    write(3, now)
    holding, release = threading.Event(), threading.Event()

    def other_linker() -> None:
        with transaction.atomic():
            sql("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
            holding.set()
            assert release.wait(20)

    thread, errors = in_thread(other_linker)
    try:
        assert holding.wait(10)
        sql("SET lock_timeout = '200ms'")
        with pytest.raises(OperationalError, match="lock timeout"):
            audit_chain_link()
        sql("SET lock_timeout = 0")
    finally:
        release.set()
        join(thread, errors)
    assert audit_chain_link() == 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_linkers_and_writers_build_one_gap_free_chain(
    tx_db: None, now: datetime
) -> None:
    write(200, now)
    writers_done = threading.Event()
    start = threading.Barrier(2 + 4)
    linked_counts: list[int] = []

    def linker() -> None:
        start.wait(10)
        total = 0
        while not writers_done.is_set():
            total += audit_chain_link(batch=7)
        total += audit_chain_link(batch=7)
        linked_counts.append(total)

    def writer(k: int) -> Callable[[], None]:
        def run() -> None:
            start.wait(10)
            write(50, now, start=1000 * (k + 1))

        return run

    linkers = [in_thread(linker) for _ in range(2)]
    writer_threads = [in_thread(writer(k)) for k in range(4)]
    for thread, errors in writer_threads:
        join(thread, errors, timeout=60)
    writers_done.set()
    for thread, errors in linkers:
        join(thread, errors, timeout=60)

    total = 200 + 4 * 50
    assert sum(linked_counts) + audit_chain_link() == total
    chain = linked()
    assert [r.seq for r in chain] == list(range(1, total + 1))
    assert chain[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in pairwise(chain))
    result = audit_verify(now=now)
    assert result.ok and result.checked == total and result.unlinked == 0


# --- admin -----------------------------------------------------------------------------


def _records(action: str) -> list[AuditRecord]:
    return list(AuditRecord.objects.filter(action=action).order_by("id"))


@pytest.mark.django_db
@pytest.mark.urls("test_audit")
def test_audit_admin_is_read_only(admin_client, admin_user, now: datetime) -> None:
    (rec_id,) = write(1, now)
    # Importing lightway.interfaces.admin.audit registered it on the default site.
    assert isinstance(admin.site._registry.get(AuditRecord), AuditRecordAdmin)
    model_admin = audited_site._registry[AuditRecord]
    request = RequestFactory().get("/")
    request.user = admin_user
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, None)
    assert not model_admin.has_delete_permission(request, None)
    assert model_admin.has_view_permission(request, None)

    base = "/audited/audit/auditrecord/"
    listing = admin_client.get(base)
    assert listing.status_code == 200 and b"transfer.create" in listing.content
    assert admin_client.get(f"{base}{rec_id}/change/").status_code == 200
    assert admin_client.get(f"{base}add/").status_code == 403
    assert admin_client.post(f"{base}{rec_id}/change/", {"actor": "system"}).status_code == 403
    assert admin_client.post(f"{base}{rec_id}/delete/", {"post": "yes"}).status_code == 403
    assert AuditRecord.objects.get(pk=rec_id).actor == "user:0"


@pytest.mark.django_db
@pytest.mark.urls("test_audit")
def test_audited_admin_records_every_staff_change(admin_client, admin_user) -> None:
    actor = f"staff:{admin_user.pk}"
    base = "/audited/auth/group/"
    form = admin_client.get(f"{base}add/")
    prefix = form.context["inline_admin_formsets"][0].formset.prefix
    management = {
        f"{prefix}-TOTAL_FORMS": "1",
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }

    response = admin_client.post(
        f"{base}add/", {"name": "ops", **management, f"{prefix}-0-user": str(admin_user.pk)}
    )
    assert response.status_code == 302, response.content[:2000]
    group = Group.objects.get(name="ops")
    (created,) = _records("auth.group.create")
    assert (created.actor, created.object_type, created.object_id) == (
        actor,
        "auth.group",
        str(group.pk),
    )
    assert created.data == {"fields": ["name"]}
    (membership,) = _records("auth.user_groups.create")
    assert membership.data == {"fields": ["user"]}

    link_id = User.groups.through.objects.get(group=group).pk
    response = admin_client.post(
        f"{base}{group.pk}/change/",
        {
            "name": "operations",
            **management,
            f"{prefix}-INITIAL_FORMS": "1",
            f"{prefix}-0-id": str(link_id),
            f"{prefix}-0-group": str(group.pk),
            f"{prefix}-0-user": str(admin_user.pk),
            f"{prefix}-0-DELETE": "on",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    (updated,) = _records("auth.group.update")
    assert updated.data == {"fields": ["name"]} and updated.object_id == str(group.pk)
    (unlinked_member,) = _records("auth.user_groups.delete")
    assert unlinked_member.object_id == str(link_id)

    assert admin_client.post(f"{base}{group.pk}/delete/", {"post": "yes"}).status_code == 302
    others = [Group.objects.create(name=f"g{i}") for i in range(2)]
    response = admin_client.post(
        base,
        {"action": "delete_selected", "_selected_action": [g.pk for g in others], "post": "yes"},
    )
    assert response.status_code == 302
    deletes = _records("auth.group.delete")
    assert [r.object_id for r in deletes] == [str(group.pk)] + [str(g.pk) for g in others]
    assert all(r.actor == actor and r.data == {"fields": []} for r in deletes)
    assert not Group.objects.exists()


@pytest.mark.django_db
def test_audited_admin_records_field_names_never_values(admin_user) -> None:
    person = User.objects.create_user("u1", email="old@example.com", first_name="Old")
    model_admin = AuditedModelAdmin(User, AdminSite())
    request = RequestFactory().post("/")
    request.user = admin_user
    form_class = modelform_factory(User, fields=["email", "first_name", "last_name"])
    form = form_class(
        {"email": "secret.person@example.com", "first_name": "Secret", "last_name": ""},
        instance=person,
    )
    assert form.is_valid(), form.errors
    with transaction.atomic():
        model_admin.save_model(request, form.save(commit=False), form, change=True)
    (record,) = _records("auth.user.update")
    assert record.data == {"fields": ["email", "first_name"]}
    stored = json.dumps(
        [record.actor, record.action, record.object_type, record.object_id, record.data]
    )
    assert "secret" not in stored.lower() and "old@" not in stored


@pytest.mark.django_db
def test_admin_change_rolls_back_when_it_cannot_be_audited() -> None:
    group = Group.objects.create(name="before")
    model_admin = AuditedModelAdmin(Group, AdminSite())
    request = RequestFactory().post("/")
    request.user = AnonymousUser()
    form_class = modelform_factory(Group, fields=["name"])
    form = form_class({"name": "after"}, instance=group)
    assert form.is_valid()
    with pytest.raises(PermissionError):
        model_admin.save_model(request, form.save(commit=False), form, change=True)
    with pytest.raises(PermissionError):
        model_admin.delete_model(request, Group.objects.get(pk=group.pk))
    assert Group.objects.get(pk=group.pk).name == "before"
    assert AuditRecord.objects.count() == 0
