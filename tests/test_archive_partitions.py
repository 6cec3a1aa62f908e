"""Monthly partitions and archival (issue 14, item 5): partitions exist and rows route by
month, the database keeps its guards on partitioned tables, and a closed month goes
through export, verify, detach, drop and restore (lightway.application.archive)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from lightway.application.archive.service import (
    ArchiveError,
    archive_closed_months,
    archive_month_detach,
    archive_month_drop,
    archive_month_export,
    archive_month_restore,
    archive_month_run,
    archive_month_verify,
    archive_verify_all,
    default_partition_strays,
    month_parse,
    partitions_ensure,
    partitions_status,
)
from lightway.data.archive.models import ArchiveManifest
from lightway.data.notify.models import Delivery
from lightway.interfaces.cli.main import main

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("archive_dir")]

OCTOBER = date(2026, 10, 1)
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # the test database's months are real ones


def _delivery(at: datetime, *, id: int | None = None, n: int = 0) -> Delivery:
    return Delivery.objects.create(
        id=id,
        channel="sms",
        template="otp",
        category="security",
        language="en",
        recipient_ct=b"sealed-" + bytes([n % 256]),
        recipient_bidx=f"bidx{n}",
        recipient_masked="+256 7** *** *12",
        body_ct=None,
        subject=f'line {n}, with "quotes" and a\nnewline',
        status="sent",
        attempts=1,
        last_attempt_at=at,
        sent_at=at,
        created_at=at,
    )


def _partition_of(delivery: Delivery) -> str:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT tableoid::regclass::text FROM notify_delivery WHERE id = %s",
            [delivery.pk],
        )
        return cur.fetchone()[0]


def _october(count: int = 5) -> list[Delivery]:
    with connection.cursor() as cur:
        cur.execute("SELECT archive_partitions_ensure('notify_delivery', %s, 1)", [OCTOBER])
    return [_delivery(datetime(2026, 10, 1 + i, 9, 30, tzinfo=UTC), n=i) for i in range(count)]


def _october_rows() -> list[tuple]:
    return list(
        Delivery.objects.filter(
            created_at__gte=datetime(2026, 10, 1, tzinfo=UTC),
            created_at__lt=datetime(2026, 11, 1, tzinfo=UTC),
        )
        .order_by("id")
        .values_list("id", "subject", "recipient_ct", "created_at", "status")
    )


# --- partitions ----------------------------------------------------------------------------


def test_rows_route_to_their_month_and_strays_to_the_default_partition():
    this_month = datetime.now(UTC).replace(day=2, hour=8)
    here = _delivery(this_month)
    assert _partition_of(here) == f"notify_delivery_p{this_month:%Y_%m}"
    stray = _delivery(datetime(2019, 5, 1, tzinfo=UTC), n=1)
    assert _partition_of(stray) == "notify_delivery_pdefault"
    assert default_partition_strays() == {"notify_delivery": 1}
    tables = {s.table: s for s in partitions_status()}
    months = [p.month for p in tables["notify_delivery"].partitions if p.month]
    assert date(this_month.year, this_month.month, 1) in months


def test_partitions_are_made_ahead_by_the_runtime_role_and_only_once():
    future = datetime(2031, 2, 10, tzinfo=UTC)
    assert partitions_ensure(now=future, months_ahead=2) == 3 * _tables_count()
    assert partitions_ensure(now=future, months_ahead=2) == 0
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'notify_delivery'::regclass"
            " AND inhrelid::regclass::text IN ('notify_delivery_p2031_02',"
            " 'notify_delivery_p2031_03', 'notify_delivery_p2031_04')"
        )
        assert cur.fetchone()[0] == 3
    with pytest.raises(ArchiveError, match="months ahead"):
        partitions_ensure(now=future, months_ahead=500)


def _tables_count() -> int:
    return len(partitions_status())


def test_an_unknown_table_is_refused_by_the_partition_function():
    with pytest.raises(DatabaseError, match="not partitioned by month"), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SELECT archive_partitions_ensure('auth_user', '2027-01-01', 1)")


def test_the_runtime_role_reaches_partitions_only_through_their_table():
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(f"SELECT 1 FROM notify_delivery_p{datetime.now(UTC):%Y_%m} LIMIT 1")


@pytest.mark.parametrize(
    ("table", "time_column", "why"),
    [
        # others reference it by id: a partitioned table's key must include the time
        ("auth_user", "date_joined", "referenced by a foreign key"),
        # a key unique across months (its entry) cannot be a partitioned table's key
        ("commission_record", "created_at", "unique key without created_at"),
        ("notify_delivery", "created_at", "already partitioned"),
    ],
)
def test_tables_that_would_lose_a_constraint_are_not_partitioned(table, time_column, why):
    with pytest.raises(DatabaseError, match=why), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(
                "SELECT archive_partition_table(%s, %s, 'assign', true, '')", [table, time_column]
            )


def test_an_id_taken_in_another_month_is_refused():
    first = _delivery(datetime.now(UTC))
    with pytest.raises(IntegrityError, match="duplicate id"), transaction.atomic():
        _delivery(datetime(2019, 1, 1, tzinfo=UTC), id=first.pk, n=2)


def test_checks_and_foreign_keys_still_hold_on_the_partitioned_table():
    with pytest.raises(IntegrityError), transaction.atomic():
        Delivery.objects.create(
            channel="fax",  # notify_delivery_channel_known
            template="otp",
            category="security",
            language="en",
            recipient_ct=b"x",
            recipient_bidx="b",
            recipient_masked="m",
            status="dead",
            attempts=1,
            created_at=datetime.now(UTC),
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cur.execute(
                "INSERT INTO notify_delivery (channel, template, category, language,"
                " recipient_ct, recipient_bidx, recipient_masked, subject, status, attempts,"
                " provider_id, last_error, created_at, user_id)"
                " VALUES ('sms', 't', 'security', 'en', 'x', 'b', 'm', '', 'dead', 1, '', '',"
                " now(), 987654321)"
            )


# --- archival ------------------------------------------------------------------------------


def test_round_trip_archive_verify_detach_drop_restore(archive_dir):
    _october(6)
    before = _october_rows()
    assert len(before) == 6
    results = archive_month_run(month=OCTOBER, now=NOW)
    assert [(r.table, r.rows, r.state) for r in results if r.table == "notify_delivery"] == [
        ("notify_delivery", 6, "detached")
    ]
    assert _october_rows() == []  # the month left the table
    manifest = ArchiveManifest.objects.get(table_name="notify_delivery", month=OCTOBER)
    assert manifest.state == "detached" and manifest.row_count == 6
    assert (manifest.min_id, manifest.max_id) == (before[0][0], before[-1][0])
    doc = json.loads((archive_dir / "2026-10" / "manifest.json").read_text())
    entry = next(t for t in doc["tables"] if t["table"] == "notify_delivery")
    assert entry["rows"] == 6 and entry["period"] == "2026-10" and "created_at" in entry["columns"]
    assert entry["file_sha256"] == manifest.file_sha256
    with gzip.open(archive_dir / manifest.file_name, "rt", encoding="utf-8") as fh:
        assert fh.readline().startswith("id,")

    # the detached month is still a table: re-attach it
    assert archive_month_restore(table="notify_delivery", month=OCTOBER, now=NOW) == 6
    assert _october_rows() == before
    # archive again, drop it (grace 0 here), then restore from the file alone
    archive_month_run(month=OCTOBER, now=NOW)
    with connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # this test inserted the rows just now
    assert archive_month_drop(table="notify_delivery", month=OCTOBER, grace=timedelta(0)) == 6
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass('notify_delivery_p2026_10')")
        assert cur.fetchone()[0] is None
    # a dropped month is not recreated empty by the ensure job
    with connection.cursor() as cur:
        cur.execute("SELECT archive_partitions_ensure('notify_delivery', %s, 1)", [OCTOBER])
        assert cur.fetchone()[0] == 0
    assert archive_month_restore(table="notify_delivery", month=OCTOBER, now=NOW) == 6
    assert _october_rows() == before
    # restored rows keep their guards: the id check of the partitioned table applies
    with pytest.raises(IntegrityError, match="duplicate id"), transaction.atomic():
        _delivery(datetime.now(UTC), id=before[0][0], n=9)
    assert ArchiveManifest.objects.get(table_name="notify_delivery", month=OCTOBER).state == (
        "restored"
    )


def test_a_tampered_file_is_refused_and_nothing_is_detached(archive_dir):
    _october(3)
    manifest = archive_month_export(table="notify_delivery", month=OCTOBER, now=NOW)
    path = archive_dir / manifest.file_name
    text = gzip.decompress(path.read_bytes()).replace(b"line 1,", b"line 7,")
    path.write_bytes(gzip.compress(text, mtime=0))
    with pytest.raises(ArchiveError, match="archive refused: the file's SHA-256 differs"):
        archive_month_verify(table="notify_delivery", month=OCTOBER, now=NOW)
    with pytest.raises(ArchiveError, match="no verified archive"):
        archive_month_detach(table="notify_delivery", month=OCTOBER)
    assert len(_october_rows()) == 3
    # a forged manifest that matches the tampered file still differs from the rows
    import hashlib

    ArchiveManifest.objects.filter(pk=manifest.pk).update(
        file_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        content_sha256=hashlib.sha256(text).hexdigest(),
    )
    with pytest.raises(ArchiveError, match="database rows differ from the archive"):
        archive_month_verify(table="notify_delivery", month=OCTOBER, now=NOW)
    # a truncated file
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ArchiveError, match=r"cannot be read|differs"):
        archive_month_verify(table="notify_delivery", month=OCTOBER, now=NOW)


def test_rows_added_after_verification_stop_the_detach():
    _october(2)
    archive_month_export(table="notify_delivery", month=OCTOBER, now=NOW)
    archive_month_verify(table="notify_delivery", month=OCTOBER, now=NOW)
    _delivery(datetime(2026, 10, 20, tzinfo=UTC), n=5)  # a late row for October
    with pytest.raises(ArchiveError, match=r"has 3 rows .* its archive 2"):
        archive_month_detach(table="notify_delivery", month=OCTOBER)
    assert len(_october_rows()) == 3


def test_open_months_and_unknown_tables_are_refused():
    this_month = month_parse(f"{datetime.now(UTC):%Y-%m}")
    with pytest.raises(ArchiveError, match="not closed yet"):
        archive_month_run(month=this_month, now=datetime.now(UTC))
    with pytest.raises(ArchiveError, match="not partitioned by month"):
        archive_month_export(table="auth_user", month=OCTOBER, now=NOW)
    with pytest.raises(ArchiveError, match="was never exported"):
        archive_month_verify(table="notify_delivery", month=date(2020, 1, 1), now=NOW)
    with pytest.raises(ArchiveError, match="not archived"):
        archive_month_restore(table="notify_delivery", month=OCTOBER, now=NOW)


@pytest.mark.parametrize("raw", ["2026-13", "2026-1", "26-01", "", "1999-12", "2026-10-01"])
def test_month_arguments_are_checked(raw):
    with pytest.raises(ArchiveError, match="month must look like 2026-01"):
        month_parse(raw)


def test_manifests_are_guarded_by_the_database():
    _october(1)
    manifest = archive_month_export(table="notify_delivery", month=OCTOBER, now=NOW)
    # refused by privilege (and by the trigger for the owner)
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        ArchiveManifest.objects.filter(pk=manifest.pk).delete()
    with pytest.raises(DatabaseError, match="cannot go from exported to dropped"):
        with transaction.atomic():
            ArchiveManifest.objects.filter(pk=manifest.pk).update(state="dropped")
    archive_month_verify(table="notify_delivery", month=OCTOBER, now=NOW)
    with pytest.raises(DatabaseError, match=r"says detached but partition .* is attached"):
        with transaction.atomic():
            ArchiveManifest.objects.filter(pk=manifest.pk).update(state="detached")


def test_the_periodic_job_archives_old_months_and_verify_all_rechecks(archive_dir):
    _october(2)
    results = archive_closed_months(now=NOW, after_months=1)
    assert ("notify_delivery", 2, "detached") in [(r.table, r.rows, r.state) for r in results]
    assert [m.table_name for m in archive_verify_all(now=NOW)] == ["notify_delivery"]


def test_cli_run_list_verify_restore_and_bad_input(archive_dir, capsys):
    _october(2)
    assert main(["archive", "run", "--month", "2026-13"]) == 1
    assert "month must look like 2026-01" in capsys.readouterr().err
    assert main(["archive", "restore", "--month", "2026-10"]) == 1
    assert "no archived (detached or dropped) table for 2026-10" in capsys.readouterr().err
    assert main(["archive", "verify", "--month", "2026-09"]) == 1
    assert "nothing was archived for 2026-09" in capsys.readouterr().err
    assert main(["archive", "run", "--month", "2026-10"]) == 0
    assert "notify_delivery" in capsys.readouterr().out
    assert main(["archive", "list"]) == 0
    out = capsys.readouterr().out
    assert "2026-10  notify_delivery" in out and "detached" in out
    assert main(["archive", "verify"]) == 0
    assert "OK 2026-10 notify_delivery: 2 rows, detached" in capsys.readouterr().out
    assert main(["archive", "drop", "--month", "2026-10", "--grace-days", "5"]) == 1
    assert "inside the grace period" in capsys.readouterr().err
    assert main(["archive", "restore", "--month", "2026-10"]) == 0
    assert "2 rows attached again" in capsys.readouterr().out
    assert main(["partitions", "ensure", "--months-ahead", "1"]) == 0
    assert "partition(s) created" in capsys.readouterr().out


def test_the_periodic_jobs_are_registered_and_run():
    from procrastinate.contrib.django import app as procrastinate_app

    from lightway.interfaces import tasks

    procrastinate_app.perform_import_paths()
    schedules = {
        name: periodic.cron
        for (name, _id), periodic in procrastinate_app.periodic_registry.periodic_tasks.items()
    }
    assert schedules["partitions_ensure"] == "7 3 * * *"
    assert schedules["archive_closed_months"] == "37 3 * * *"
    assert tasks.partitions_ensure(timestamp=0) >= 0
    assert tasks.archive_closed_months(timestamp=0) == 0  # nothing 13 months old yet


# --- ledger postings -------------------------------------------------------------------------


@pytest.fixture
def ledger_accounts():
    from lightway.data.ledger.kinds import OPENING_BALANCE
    from lightway.data.ledger.models import AccountKind
    from lightway.data.ledger.services import Leg, account_open, entry_post, house_account

    at = datetime(2026, 10, 3, tzinfo=UTC)
    with connection.cursor() as cur:
        cur.execute("SELECT archive_partitions_ensure('ledger_posting', %s, 1)", [OCTOBER])
    equity = house_account(kind=AccountKind.EQUITY, currency="UGX", now=at)
    a = account_open(code="wallet:pa", kind=AccountKind.WALLET, currency="UGX", now=at)
    b = account_open(code="wallet:pb", kind=AccountKind.WALLET, currency="UGX", now=at)
    entry_post(
        kind=OPENING_BALANCE, currency="UGX", legs=[Leg(equity.pk, -1000), Leg(a.pk, 1000)], now=at
    )
    return equity, a, b


def _posting_partitions(entry_id: int) -> list[str]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT tableoid::regclass::text FROM ledger_posting WHERE entry_id = %s ORDER BY id",
            [entry_id],
        )
        return [r[0] for r in cur.fetchall()]


def test_postings_route_by_month_and_balances_read_across_months(ledger_accounts):
    from lightway.data.ledger.selectors import account_balance
    from lightway.data.ledger.services import Leg, entry_post

    equity, a, b = ledger_accounts
    this_month = datetime.now(UTC)
    entry = entry_post(
        kind="t", currency="UGX", legs=[Leg(a.pk, -300), Leg(b.pk, 300)], now=this_month
    )
    assert _posting_partitions(entry.pk) == [f"ledger_posting_p{this_month:%Y_%m}"] * 2
    a.refresh_from_db()
    assert a.balance == 700
    assert account_balance(account=equity) == -1000  # derived: summed over the months


def test_a_posting_id_always_comes_from_the_sequence(ledger_accounts):
    _, a, b = ledger_accounts
    with connection.cursor() as cur:
        cur.execute("SELECT min(id) FROM ledger_posting")
        taken = cur.fetchone()[0]
        cur.execute(
            "WITH e AS (INSERT INTO ledger_journal_entry (kind, reference, description,"
            " posting_count, created_at) VALUES ('t', '', '', 2, now()) RETURNING id)"
            " INSERT INTO ledger_posting (id, entry_id, account_id, currency, amount, leg,"
            " created_at) SELECT %s, e.id, x.acc, 'UGX', x.amt, '', now()"
            " FROM e, (VALUES (%s::bigint, -1::bigint), (%s, 1)) x(acc, amt) RETURNING id",
            [taken, a.pk, b.pk],
        )
        ids = [r[0] for r in cur.fetchall()]
    assert taken not in ids and len(set(ids)) == 2


def test_an_entry_spanning_months_must_still_balance(ledger_accounts):
    _, a, b = ledger_accounts
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(
                "WITH e AS (INSERT INTO ledger_journal_entry (kind, reference, description,"
                " posting_count, created_at) VALUES ('t', '', '', 2, now()) RETURNING id)"
                " INSERT INTO ledger_posting (entry_id, account_id, currency, amount, leg,"
                " created_at) SELECT e.id, x.acc, 'UGX', x.amt, '', x.at"
                " FROM e, (VALUES (%s::bigint, -5::bigint, %s::timestamptz),"
                " (%s, 4, now())) x(acc, amt, at)",
                [a.pk, datetime(2026, 10, 9, tzinfo=UTC), b.pk],
            )


def test_posting_guards_hold_on_every_partition(ledger_accounts):
    # the runtime role: no UPDATE or DELETE privilege on postings (nor on any partition)
    for statement in (
        "UPDATE ledger_posting SET amount = amount + 1 WHERE true",
        "DELETE FROM ledger_posting WHERE true",
        "UPDATE ledger_posting_p2026_10 SET amount = amount + 1 WHERE true",
    ):
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            with connection.cursor() as cur:
                cur.execute(statement)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'ledger_posting'::regclass AND NOT EXISTS ("
            "  SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid"
            "   AND t.tgname = 'ledger_posting_no_truncate')"
        )
        assert cur.fetchall() == []  # every month refuses TRUNCATE, even for its owner


def test_the_owner_meets_the_same_guards_on_a_partition(owner_db):
    from lightway.data.ledger.models import AccountKind
    from lightway.data.ledger.services import Leg, entry_post, house_account

    at = datetime.now(UTC)
    equity = house_account(kind=AccountKind.EQUITY, currency="UGX", now=at)
    fees = house_account(kind=AccountKind.FEE_REVENUE, currency="UGX", now=at)
    entry_post(kind="t", currency="UGX", legs=[Leg(equity.pk, -5), Leg(fees.pk, 5)], now=at)
    part = f"ledger_posting_p{at:%Y_%m}"
    for statement, refusal in (
        (f"UPDATE {part} SET amount = amount + 1", "append-only: UPDATE"),
        (f"DELETE FROM {part}", "append-only: DELETE"),
        (f"TRUNCATE {part}", "append-only: TRUNCATE"),
        ("TRUNCATE ledger_posting", "append-only: TRUNCATE"),
    ):
        with pytest.raises(psycopg.Error, match=refusal), owner_db.transaction():
            owner_db.execute(statement)


def test_posting_months_wait_for_the_balance_rollup_before_they_leave(ledger_accounts, archive_dir):
    """Posting months are detachable (ledger 0010) once the roll-up job has passed them:
    until then the nightly run keeps them, saying why (the whole round trip:
    tests/test_ledger_posting_archive.py)."""
    results = {r.table: r for r in archive_month_run(month=OCTOBER, now=NOW)}
    kept = results["ledger_posting"]
    assert (kept.rows, kept.state) == (2, "verified")
    assert kept.note.startswith("kept for now:") and "balance roll-up" in kept.note
    with pytest.raises(ArchiveError, match="not yet the month's last posting"):
        archive_month_detach(table="ledger_posting", month=OCTOBER)
    assert archive_month_verify(table="ledger_posting", month=OCTOBER, now=NOW).state == "verified"
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM ledger_posting WHERE created_at >= %s AND created_at < %s",
            [datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)],
        )
        assert cur.fetchone()[0] == 2


def test_seed_volume_gives_its_window_partitions_and_survives_strays():
    from lightway.application.volume import _partitions_for_window

    _delivery(datetime(2026, 7, 9, tzinfo=UTC), n=3)  # a stray: July has no partition yet
    _partitions_for_window(datetime(2026, 8, 15, tzinfo=UTC), datetime(2026, 12, 7, tzinfo=UTC))
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_class WHERE relname IN ('ledger_posting_p2026_08',"
            " 'ledger_posting_p2026_09', 'notify_delivery_p2026_08', 'notify_delivery_p2026_11')"
        )
        assert cur.fetchone()[0] == 4
    # July's rows sit in the default partition: no partition for July, a warning, no crash
    _partitions_for_window(datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 12, 7, tzinfo=UTC))
    assert default_partition_strays() == {"notify_delivery": 1}


def test_ledger_verify_sees_a_trigger_disabled_on_one_month(owner_db):
    from lightway.data.ledger.verify import ledger_verify

    part = f"ledger_posting_p{datetime.now(UTC):%Y_%m}"
    owner_db.execute(f"ALTER TABLE {part} DISABLE TRIGGER ledger_posting_apply")
    try:
        problems = "\n".join(ledger_verify().problems)
    finally:
        owner_db.execute(f"ALTER TABLE {part} ENABLE TRIGGER ledger_posting_apply")
    assert f"trigger ledger_posting_apply on {part} is disabled" in problems
