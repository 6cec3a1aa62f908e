"""The audit trail partitioned by month (issue 14, item 5; docs/partitions.md, "audit_record"):
``seq`` stays unique across months (archived ones too) by its key table, an audit month is
detached only when a signed checkpoint covers it, ``lightway audit verify`` starts from
that checkpoint while the month is archived, and a restored month verifies from the start.

Transactional tests: the linker commits its own batches. Each test removes the October
partition it made (a detached table outlives the flush)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import DatabaseError, connection, transaction
from test_audit import refused, triggers_off, write
from test_audit_signing import use_key  # noqa: F401 (fixture)

from lightway.application.archive.service import (
    ArchiveError,
    archive_month_detach,
    archive_month_drop,
    archive_month_export,
    archive_month_restore,
    archive_month_run,
    archive_month_verify,
)
from lightway.data.audit.chain import GENESIS_HASH
from lightway.data.audit.models import AuditArchiveBoundary, AuditCheckpoint, AuditRecord
from lightway.data.audit.selectors import audit_verify
from lightway.data.audit.services import audit_chain_link
from lightway.interfaces.cli.main import main
from lightway.interfaces.tasks import audit_link_once

pytestmark = pytest.mark.django_db(transaction=True)

OCTOBER = date(2026, 10, 1)
IN_OCTOBER = datetime(2026, 10, 14, 9, 30, tzinfo=UTC)
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # the test database's months are real ones


@pytest.fixture(autouse=True)
def october(settings, tmp_path, owner_db):
    """October's audit partition, and the archive directory; both gone after the test."""
    settings.LIGHTWAY_ARCHIVE_DIR = str(tmp_path / "archive")
    with connection.cursor() as cur:
        cur.execute("SELECT archive_partitions_ensure('audit_record', %s, 1)", [OCTOBER])
    yield
    owner_db.execute("DROP TABLE IF EXISTS audit_record_p2026_10")


@pytest.fixture
def signing(use_key):  # noqa: F811
    use_key(Ed25519PrivateKey.generate())


def _partition_of(record_id: int) -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT tableoid::regclass::text FROM audit_record WHERE id = %s", [record_id])
        return cur.fetchone()[0]


def _now() -> datetime:
    return datetime.now(UTC)


def _audit_result(results):
    return next(r for r in results if r.table == "audit_record")


def _db_detach() -> None:
    """The database function itself, without the application's checks."""
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT archive_partition_detach('audit_record', %s)", [OCTOBER])


# --- seq unique across months ---------------------------------------------------------------


def test_records_route_to_their_month_and_the_viewer_indexes_are_partitioned():
    october_id, december_id = write(1, IN_OCTOBER)[0], write(1, _now())[0]
    assert _partition_of(october_id) == "audit_record_p2026_10"
    assert _partition_of(december_id) == f"audit_record_p{_now():%Y_%m}"
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relkind = 'I' AND c.relname IN"
            " ('audit_record_time', 'audit_record_actor_time', 'audit_record_action_time',"
            " 'audit_record_object_time', 'audit_record_seq_key') ORDER BY 1"
        )
        assert len(cur.fetchall()) == 5  # partitioned indexes: one per month


def test_a_seq_held_in_another_month_is_refused():
    december = write(1, _now())
    audit_chain_link()
    head = AuditRecord.objects.get(seq=1)
    assert head.pk == december[0]
    october = write(1, IN_OCTOBER)[0]
    # seq 1 after the genesis hash passes the link check; only the key across months refuses
    link = "UPDATE audit_record SET seq = %s, prev_hash = %s, hash = %s WHERE id = %s"
    assert "duplicate key value: audit_record.seq = 1" in refused(
        link, [1, GENESIS_HASH, "a" * 64, october]
    )


def test_the_seq_key_holds_with_triggers_off(owner_db):
    write(1, _now())
    audit_chain_link()
    october = write(1, IN_OCTOBER)[0]
    with triggers_off(owner_db):
        assert "duplicate key" in refused(
            "UPDATE audit_record SET seq = 1, prev_hash = %s, hash = %s WHERE id = %s",
            [GENESIS_HASH, "b" * 64, october],
            on=owner_db,
        )


def test_two_sessions_claiming_one_seq_in_two_months_one_is_refused(owner_params):
    """The second claim waits on the key's index until the first commits, then fails."""
    params = {**owner_params, "autocommit": True}
    first, second = write(1, _now())[0], write(1, IN_OCTOBER)[0]
    link = "UPDATE audit_record SET seq = 1, prev_hash = %s, hash = %s WHERE id = %s"
    outcome: list[BaseException] = []
    with psycopg.connect(**params) as one:
        one.autocommit = False
        one.execute(link, [GENESIS_HASH, "a" * 64, first])  # holds seq 1, not committed

        def other() -> None:
            try:
                with psycopg.connect(**params) as two:
                    two.execute(link, [GENESIS_HASH, "b" * 64, second])
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=other, daemon=True)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive()  # waiting for the first session's claim
        one.commit()
        thread.join(10)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], psycopg.errors.UniqueViolation)
    assert AuditRecord.objects.filter(seq=1).count() == 1


# --- archival -------------------------------------------------------------------------------


def test_an_audit_month_needs_a_covering_signed_checkpoint(signing):
    write(3, IN_OCTOBER)
    audit_chain_link()  # linked, but nothing signed
    # the month holds the chain head: never detached (the next link needs its hash)
    archive_month_export(table="audit_record", month=OCTOBER, now=NOW)
    archive_month_verify(table="audit_record", month=OCTOBER, now=NOW)
    with pytest.raises(DatabaseError, match="holds the chain head"):
        _db_detach()
    write(1, _now())
    audit_chain_link()
    # no checkpoint at or after seq 3: the nightly run keeps it, the database refuses it
    kept = _audit_result(archive_month_run(month=OCTOBER, now=NOW))
    assert kept.state == "verified"
    assert "no signed checkpoint at or after its last seq 3" in kept.note
    with pytest.raises(DatabaseError, match="no signed checkpoint at or after its last seq 3"):
        _db_detach()
    # a checkpoint whose hash is not the chain's: refused by the database
    AuditCheckpoint.objects.create(
        seq=4,
        hash="f" * 64,
        linked_at="2026-12-07T12:00:00.000000Z",
        key_id="0" * 16,
        signature="A" * 86 + "==",
    )
    with pytest.raises(DatabaseError, match="does not match the chain"):
        _db_detach()
    # an unlinked record of the month (archived as it is): refused
    write(1, IN_OCTOBER)
    archive_month_export(table="audit_record", month=OCTOBER, now=NOW)
    archive_month_verify(table="audit_record", month=OCTOBER, now=NOW)
    with pytest.raises(DatabaseError, match=r"1 record\(s\) are not linked"):
        _db_detach()
    assert _partition_of(AuditRecord.objects.filter(seq=1).get().pk) == "audit_record_p2026_10"


def test_a_forged_signature_on_the_covering_checkpoint_is_refused_by_the_application(signing):
    write(2, IN_OCTOBER)
    audit_chain_link()
    write(1, _now())
    audit_chain_link()
    head = AuditRecord.objects.get(seq=3)
    AuditCheckpoint.objects.create(  # the chain's hash, but nobody signed it
        seq=3,
        hash=head.hash,
        linked_at="2026-12-07T12:00:00.000000Z",
        key_id="0" * 16,
        signature="A" * 86 + "==",
    )
    archive_month_export(table="audit_record", month=OCTOBER, now=NOW)
    archive_month_verify(table="audit_record", month=OCTOBER, now=NOW)
    with pytest.raises(ArchiveError, match="stays attached: the archive boundary's checkpoint"):
        archive_month_detach(table="audit_record", month=OCTOBER)


def test_round_trip_export_verify_detach_verify_from_checkpoint_restore(signing, capsys):
    # one December record linked before October's: it sits below the boundary
    early = write(1, _now())[0]
    october = write(3, IN_OCTOBER, start=1)
    audit_link_once()  # seq 1 = December's, 2..4 = October's; signed head 4
    write(2, _now(), start=4)
    audit_link_once()  # seq 5, 6; signed head 6
    full = audit_verify(now=_now())
    assert full.ok and full.checked == 6 and not full.archived_months

    result = _audit_result(archive_month_run(month=OCTOBER, now=NOW))
    assert (result.rows, result.state) == (3, "detached")
    assert not AuditRecord.objects.filter(pk__in=october).exists()
    boundary = AuditArchiveBoundary.objects.get(month=OCTOBER)
    assert (boundary.first_seq, boundary.last_seq, boundary.checkpoint_seq) == (2, 4, 4)

    # the walk starts from the signed checkpoint at the boundary
    result = audit_verify(now=_now())
    assert result.ok, result.problems
    assert (result.boundary_seq, result.archived_months) == (4, ("2026-10",))
    assert result.below_boundary == 1 and result.checked == 3 and result.head_seq == 6
    assert main(["audit", "verify", "--full"]) == 0
    out = capsys.readouterr().out
    assert "Archived months 2026-10: the chain is walked from the signed checkpoint seq 4" in out
    assert "OK: audit chain verified (3 checked)" in out
    assert main(["audit", "verify", "--checkpoints"]) == 0
    out = capsys.readouterr().out
    assert "1 of them in archived months, not compared" in out

    # an archived seq stays taken: nobody links a new seq 2 after seq 1
    late = write(1, _now(), start=9)[0]
    first = AuditRecord.objects.get(seq=1)
    assert "duplicate key" in refused(
        "UPDATE audit_record SET seq = 2, prev_hash = %s, hash = %s WHERE id = %s",
        [first.hash, "c" * 64, late],
    )
    audit_link_once()  # links it as seq 7 from the attached head

    # restore: the month is back, and the walk starts from the genesis hash again
    assert archive_month_restore(table="audit_record", month=OCTOBER, now=NOW) == 3
    with connection.cursor() as cur:
        cur.execute(
            "SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid ="
            " 'audit_record_p2026_10'::regclass AND tgname LIKE 'audit_record_seq_%%'"
        )
        assert {enabled for _name, enabled in cur.fetchall()} == {"A"}
    restored = audit_verify(now=_now())
    assert restored.ok and restored.checked == 7 and not restored.archived_months
    assert _partition_of(early) == f"audit_record_p{_now():%Y_%m}"

    # archived again, dropped, restored from the file alone: the same chain
    assert _audit_result(archive_month_run(month=OCTOBER, now=NOW)).state == "detached"
    assert archive_month_drop(table="audit_record", month=OCTOBER, grace=timedelta(0)) == 3
    assert audit_verify(now=_now()).ok
    assert archive_month_restore(table="audit_record", month=OCTOBER, now=NOW) == 3
    again = audit_verify(now=_now())
    assert again.ok and again.checked == 7 and again.boundary_seq == 0


def test_forged_records_in_attached_months_are_still_detected(signing, owner_db):
    write(1, _now())
    write(3, IN_OCTOBER, start=1)
    audit_link_once()  # seq 1 December, 2..4 October, signed head 4
    write(3, _now(), start=4)
    audit_link_once()  # 5..7
    assert _audit_result(archive_month_run(month=OCTOBER, now=NOW)).state == "detached"
    assert audit_verify(now=_now()).ok
    with triggers_off(owner_db) as attack:
        # after the boundary: edited and re-hashed by hand with a made-up hash
        attack("UPDATE audit_record SET actor = 'user:999', hash = %s WHERE seq = 6", ["d" * 64])
        # below the boundary (December's early record): edited, hash left alone
        attack("UPDATE audit_record SET object_id = 'other' WHERE seq = 1")
    result = audit_verify(now=_now())
    assert not result.ok and result.first_bad_seq == 1
    problems = "\n".join(result.problems)
    assert "record seq=1" in problems and "hash mismatch" in problems
    assert "record seq=6" in problems and "record seq=7" in problems  # 7 no longer follows 6
    assert main(["audit", "verify", "--full"]) == 1


def test_a_rewritten_boundary_checkpoint_fails_the_verify(signing, owner_db, capsys):
    write(2, IN_OCTOBER)
    audit_link_once()
    write(1, _now())
    audit_link_once()
    assert _audit_result(archive_month_run(month=OCTOBER, now=NOW)).state == "detached"
    assert main(["audit", "verify", "--full"]) == 0
    capsys.readouterr()
    with triggers_off(owner_db) as attack:  # a new time: the signature no longer matches
        attack(
            "UPDATE audit_checkpoint SET linked_at = %s WHERE seq = 2",
            ["2020-01-01T00:00:00.000000Z"],
        )
    assert main(["audit", "verify", "--full"]) == 1
    assert "the archive boundary's checkpoint seq=2" in capsys.readouterr().out
