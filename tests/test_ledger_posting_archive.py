"""Posting months leave the database (issue 14, item 5; ledger 0010): a closed month of
``ledger_posting`` is exported, verified, given its boundary snapshot and detached; derived
balances, statements and ``lightway ledger verify`` start from the boundary; a restore
brings the postings back and everything verifies from genesis again."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction

from lightway.application.archive.service import (
    ArchiveError,
    archive_closed_months,
    archive_month_detach,
    archive_month_export,
    archive_month_restore,
    archive_month_run,
    archive_month_verify,
)
from lightway.application.errors import PeriodArchived
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.application.transactions.wallets import wallet_statement
from lightway.data.archive.models import ArchiveManifest
from lightway.data.ledger.errors import PostingsArchived
from lightway.data.ledger.kinds import OPENING_BALANCE
from lightway.data.ledger.models import Account, AccountKind, JournalEntry, Posting
from lightway.data.ledger.rollups import ledger_checkpoints_advance
from lightway.data.ledger.selectors import (
    account_balance,
    account_postings_range,
    account_statement,
)
from lightway.data.ledger.services import Leg, account_open, entry_post, house_account
from lightway.data.ledger.verify import ledger_verify
from lightway.data.wallets.models import Wallet
from lightway.interfaces.cli.main import main
from tests.momo_flow_support import momo_customer

OCTOBER = date(2026, 10, 1)
NOVEMBER = date(2026, 11, 1)
# the clock the archive is given (the database's own clock only checks the month is closed)
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.usefixtures("archive_dir")


def _months() -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT archive_partitions_ensure('ledger_posting', %s, 2)", [OCTOBER])


def _opening(equity: Account, account: Account, amount: int, at: datetime) -> JournalEntry:
    return entry_post(
        kind=OPENING_BALANCE,
        currency="UGX",
        legs=[Leg(equity.pk, -amount), Leg(account.pk, amount)],
        now=at,
    )


def _straddling(equity: Account, account: Account, amount: int) -> int:
    """An opening balance whose debit is posted at 23:59:59.9 on 31 October and whose
    credit at 00:00:00.1 on 1 November (one statement, as entry_post inserts them)."""
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "INSERT INTO ledger_journal_entry"
            " (kind, idempotency_key, reference, description, posting_count, created_at)"
            " VALUES (%s, NULL, '', 'straddles the month', 2, %s) RETURNING id",
            [OPENING_BALANCE, datetime(2026, 10, 31, 23, 59, 59, 900000, tzinfo=UTC)],
        )
        entry_id = int(cur.fetchone()[0])
        cur.execute(
            "INSERT INTO ledger_posting (entry_id, account_id, currency, amount, leg, created_at)"
            " VALUES (%s, %s, 'UGX', %s, '', %s), (%s, %s, 'UGX', %s, '', %s)",
            [
                entry_id,
                equity.pk,
                -amount,
                datetime(2026, 10, 31, 23, 59, 59, 900000, tzinfo=UTC),
                entry_id,
                account.pk,
                amount,
                datetime(2026, 11, 1, 0, 0, 0, 100000, tzinfo=UTC),
            ],
        )
    return entry_id


@dataclass
class Book:
    equity: Account
    fees: Account
    a: Account
    b: Account
    alice_account: int
    straddle: int
    alice: int
    alice_wallet: Any


@pytest.fixture
def book() -> Book:
    """October and November postings: opening balances, a P2P transfer with its fee (on the
    derived-balance fee revenue account), an entry straddling the month's end, and a
    posting of 1 November that drew a lower id than a posting of 31 October on the same
    account (written just before midnight, committed after)."""
    _months()
    oct3 = datetime(2026, 10, 3, 9, tzinfo=UTC)
    equity = house_account(kind=AccountKind.EQUITY, currency="UGX", now=oct3)
    fees = house_account(kind=AccountKind.FEE_REVENUE, currency="UGX", now=oct3)
    a = account_open(code="wallet:snap-a", kind=AccountKind.WALLET, currency="UGX", now=oct3)
    b = account_open(code="wallet:snap-b", kind=AccountKind.WALLET, currency="UGX", now=oct3)
    _opening(equity, a, 1000, oct3)
    _opening(equity, b, 500, datetime(2026, 10, 20, tzinfo=UTC))
    alice = momo_customer("snap-alice", oct3, phone="+256772100071", wallet=100_000)
    bob = momo_customer("snap-bob", oct3, phone="+256772100072", wallet=1_000)
    source = Wallet.objects.get(owner_id=alice)
    destination = Wallet.objects.get(owner_id=bob)
    p2p = transfer_create(
        client_id=alice,
        idempotency_key="snap-p2p",
        request=TransferRequest(source.id, destination.id, 20_000, "UGX"),
        now=datetime(2026, 10, 15, tzinfo=UTC),
    ).transfer
    assert p2p.status == "succeeded" and p2p.fee > 0
    _opening(equity, a, 200, datetime(2026, 11, 1, 0, 0, 1, tzinfo=UTC))  # the lower id ...
    _opening(equity, a, 50, datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC))  # ... than this
    straddle = _straddling(equity, b, 300)
    _opening(equity, b, 70, datetime(2026, 11, 10, tzinfo=UTC))
    _opening(equity, a, 30, datetime(2026, 11, 12, tzinfo=UTC))
    return Book(equity, fees, a, b, source.account_id, straddle, alice, source.id)


def _partition_attached(month: date) -> bool:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_inherits WHERE inhparent = 'ledger_posting'::regclass"
            " AND inhrelid = to_regclass(%s))",
            [f"ledger_posting_p{month:%Y_%m}"],
        )
        return bool(cur.fetchone()[0])


def _balances(book: Book) -> dict[str, int]:
    accounts = {a.code: a for a in Account.objects.filter(pk__in=[book.a.pk, book.b.pk])}
    accounts.update(
        {
            a.code: a
            for a in Account.objects.filter(
                pk__in=[book.equity.pk, book.fees.pk, book.alice_account]
            )
        }
    )
    return {code: account_balance(account=acc) for code, acc in sorted(accounts.items())}


def _last_october_posting(account: Account) -> int:
    return int(
        Posting.objects.filter(
            account_id=account.pk, created_at__lt=datetime(2026, 11, 1, tzinfo=UTC)
        )
        .order_by("-id")
        .values_list("id", flat=True)[0]
    )


@pytest.fixture
def restore_october() -> Iterator[None]:
    """A transactional test that detaches October (or November) re-attaches it whatever
    happens (the detached table would outlive the test's flush)."""
    yield
    for month in (NOVEMBER, OCTOBER):
        if (
            not _partition_attached(month)
            and ArchiveManifest.objects.filter(
                table_name="ledger_posting", month=month, state="detached"
            ).exists()
        ):
            archive_month_restore(table="ledger_posting", month=month, now=NOW)


# --- the round trip ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_round_trip_archive_detach_verify_restore(book, owner_db, restore_october, capsys):
    assert ledger_verify().ok, ledger_verify().problems
    before = _balances(book)
    # the fee revenue account keeps no stored balance: its balance is derived from postings
    fees = Account.objects.get(pk=book.fees.pk)
    assert fees.derived_balance and fees.balance == 0 and before[fees.code] > 0
    statement_before = account_statement(account=book.a)
    last_a = _last_october_posting(book.a)

    # the roll-up job has not passed October yet: the month is kept, with the reason
    results = {r.table: r for r in archive_month_run(month=OCTOBER, now=NOW)}
    assert results["ledger_posting"].note.startswith("kept for now:")
    assert "balance roll-up has reached posting 0" in results["ledger_posting"].note
    assert _partition_attached(OCTOBER)

    ledger_checkpoints_advance(wait_seconds=5)
    results = {r.table: r for r in archive_month_run(month=OCTOBER, now=NOW)}
    assert results["ledger_posting"].state == "detached", results["ledger_posting"]
    assert not _partition_attached(OCTOBER)

    # the boundary: a's last October posting; its 1 November posting with a lower id is in it
    with connection.cursor() as cur:
        cur.execute(
            "SELECT month, last_posting_id, balance, postings FROM ledger_posting_boundary"
            " WHERE account_id = %s",
            [book.a.pk],
        )
        assert cur.fetchone() == (OCTOBER, last_a, 1250, 3)
        cur.execute(
            "SELECT postings, amount FROM ledger_posting_snapshot_entry WHERE entry_id = %s",
            [book.straddle],
        )
        assert cur.fetchone() == (1, -300)

    # balances unchanged: stored ones, and the derived ones (fee revenue, equity) read the
    # checkpoints and never the archived rows
    assert _balances(book) == before
    # verify passes from the boundary and says so
    result = ledger_verify()
    assert result.ok, result.problems
    assert result.boundary_months == ["2026-10"]
    capsys.readouterr()
    assert main(["ledger", "verify"]) == 0
    out = capsys.readouterr().out
    assert "Archived posting months 2026-10" in out and "boundary snapshots" in out

    # statements: from the boundary; before it, a clear error naming the month and the command
    lines = account_statement(account=book.a)
    assert [line.posting_id for line in lines] == [
        line.posting_id for line in statement_before if line.posting_id > last_a
    ]
    assert lines[0].balance_after == statement_before[0].balance_after == 1280
    assert len(lines) == 1  # 1 November's +200 drew an id below the boundary: inside it
    with pytest.raises(PostingsArchived, match="lightway archive restore --month 2026-10"):
        account_statement(account=book.a, before_id=last_a)
    with pytest.raises(PostingsArchived, match="archived month 2026-10"):
        account_postings_range(account_id=book.a.pk, after=last_a - 1, upto=None)
    opening, postings = account_postings_range(account_id=book.a.pk, after=last_a, upto=None)
    # the application answers one error shape (410 period_archived in the API)
    with pytest.raises(PeriodArchived, match="records of 2026-10 are archived") as refused:
        wallet_statement(owner_id=book.alice, wallet_id=book.alice_wallet, before=1, limit=10)
    assert refused.value.code == "period_archived" and refused.value.details == {"month": "2026-10"}
    assert opening == 1250  # exactly at the boundary: the snapshot answers
    assert [p.amount for p in postings] == [30]

    # a later posting tampered with (a superuser with the triggers off) still fails verify
    later = Posting.objects.filter(account_id=book.b.pk).order_by("-id").first()
    assert later is not None and later.created_at >= datetime(2026, 11, 1, tzinfo=UTC)
    with owner_db.transaction():
        owner_db.execute("SET LOCAL session_replication_role = replica")
        owner_db.execute("UPDATE ledger_posting SET amount = amount + 1 WHERE id = %s", [later.pk])
    try:
        problems = "\n".join(ledger_verify().problems)
        assert "wallet:snap-b: stored balance 870, postings sum to 871" in problems, problems
        assert f"entry {later.entry_id}: declares 2 postings, has 2" in problems
    finally:
        with owner_db.transaction():
            owner_db.execute("SET LOCAL session_replication_role = replica")
            owner_db.execute(
                "UPDATE ledger_posting SET amount = amount - 1 WHERE id = %s", [later.pk]
            )
    assert ledger_verify().ok

    # restore: the postings are back, the boundary is history, verify runs from genesis
    assert archive_month_restore(table="ledger_posting", month=OCTOBER, now=NOW) > 0
    assert _partition_attached(OCTOBER)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM ledger_posting_boundary")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM ledger_posting_snapshot WHERE month = %s", [OCTOBER])
        assert cur.fetchone()[0] > 0  # kept as history
    result = ledger_verify()
    assert result.ok and result.boundary_months == [], result.problems
    assert account_statement(account=book.a) == statement_before
    assert _balances(book) == before
    capsys.readouterr()
    assert main(["ledger", "verify"]) == 0
    assert "every balance is verified from genesis" in capsys.readouterr().out

    # archived again: the kept snapshot is compared with the rows again and the month leaves
    archive_month_export(table="ledger_posting", month=OCTOBER, now=NOW)
    archive_month_verify(table="ledger_posting", month=OCTOBER, now=NOW)
    archive_month_detach(table="ledger_posting", month=OCTOBER)
    assert ledger_verify().ok


# --- the detach check's refusals ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_detach_check_refuses_without_checkpoint_mismatch_or_newer_month(book, owner_db):
    archive_month_export(table="ledger_posting", month=OCTOBER, now=NOW)
    archive_month_verify(table="ledger_posting", month=OCTOBER, now=NOW)
    archive_month_export(table="ledger_posting", month=NOVEMBER, now=NOW)
    archive_month_verify(table="ledger_posting", month=NOVEMBER, now=NOW)

    def check(month: date) -> Any:
        return owner_db.execute("SELECT ledger_posting_detach_check(%s)", [month]).fetchone()[0]

    # newer month first: refused while October still holds postings
    assert "the older month ledger_posting_p2026_10 still holds postings" in check(NOVEMBER)
    with pytest.raises(ArchiveError, match="older month ledger_posting_p2026_10"):
        archive_month_detach(table="ledger_posting", month=NOVEMBER)
    # no snapshot yet
    assert "no boundary snapshot" in check(OCTOBER)

    # the right snapshot, written by the owner without the roll-up: no checkpoint covers it
    with owner_db.transaction():
        owner_db.execute(
            "INSERT INTO ledger_posting_snapshot (month, account_id, last_posting_id, balance,"
            " postings) SELECT %s, account_id, max(id), sum(amount), count(*)"
            " FROM ledger_posting_p2026_10 GROUP BY account_id",
            [OCTOBER],
        )
        # (a month's sums, not the id cut: a's and equity's 1 November postings that drew
        # a lower id are missing from them)
        owner_db.execute(
            "INSERT INTO ledger_posting_snapshot_entry (month, entry_id, postings, amount)"
            " VALUES (%s, %s, 1, -300)",
            [OCTOBER, book.straddle],
        )
    assert "boundary snapshot differs from its postings for account" in check(OCTOBER)
    with pytest.raises(ArchiveError, match="boundary snapshot differs"):
        archive_month_detach(table="ledger_posting", month=OCTOBER)  # the kept snapshot
    assert _partition_attached(OCTOBER)


@pytest.mark.django_db(transaction=True)
def test_a_right_snapshot_without_a_checkpoint_is_refused(book, owner_db):
    archive_month_export(table="ledger_posting", month=OCTOBER, now=NOW)
    archive_month_verify(table="ledger_posting", month=OCTOBER, now=NOW)
    with owner_db.transaction():
        owner_db.execute(
            "INSERT INTO ledger_posting_snapshot (month, account_id, last_posting_id, balance,"
            " postings) SELECT %s, s.account_id, s.last, t.balance, t.n"
            " FROM (SELECT account_id, max(id) AS last FROM ledger_posting_p2026_10"
            "       GROUP BY account_id) s"
            " CROSS JOIN LATERAL (SELECT sum(amount) AS balance, count(*) AS n"
            "   FROM ledger_posting p WHERE p.account_id = s.account_id AND p.id <= s.last) t",
            [OCTOBER],
        )
        owner_db.execute(
            "INSERT INTO ledger_posting_snapshot_entry (month, entry_id, postings, amount)"
            " VALUES (%s, %s, 1, -300)",
            [OCTOBER, book.straddle],
        )
    refusal = owner_db.execute("SELECT ledger_posting_detach_check(%s)", [OCTOBER]).fetchone()[0]
    assert "no balance checkpoint at or after the last posting of account" in refusal
    with pytest.raises(psycopg.Error, match="no balance checkpoint at or after"):
        owner_db.execute("SELECT archive_partition_detach('ledger_posting', %s)", [OCTOBER])
    assert _partition_attached(OCTOBER)


# --- guards and the nightly job -----------------------------------------------------------


# Transactional like every test that detaches: the entries' deferred posting check would
# otherwise run at the end of the test's one transaction, after their postings left.
@pytest.mark.django_db(transaction=True)
def test_snapshots_are_append_only_and_not_the_runtime_roles_to_write(book, restore_october):
    ledger_checkpoints_advance(wait_seconds=5)
    archive_month_export(table="ledger_posting", month=OCTOBER, now=NOW)
    archive_month_verify(table="ledger_posting", month=OCTOBER, now=NOW)
    archive_month_detach(table="ledger_posting", month=OCTOBER)
    for statement in (
        "UPDATE ledger_posting_snapshot SET balance = balance + 1",
        "DELETE FROM ledger_posting_snapshot",
        "INSERT INTO ledger_posting_snapshot (month, account_id, last_posting_id, balance,"
        " postings) VALUES ('2026-09-01', 1, 1, 1, 1)",
        "DELETE FROM ledger_posting_snapshot_entry",
    ):
        with pytest.raises(DatabaseError, match=r"permission denied|append-only"):
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute(statement)


@pytest.mark.django_db(transaction=True)
def test_nightly_job_detaches_posting_months_or_says_why_not(book, restore_october):
    def october() -> Any:
        results = archive_closed_months(now=NOW, after_months=1)
        return next(r for r in results if r.table == "ledger_posting" and r.rows)

    kept = october()
    assert kept.state == "verified" and kept.note.startswith("kept for now:"), kept
    assert "balance roll-up" in kept.note
    ledger_checkpoints_advance(wait_seconds=5)
    assert october().state == "detached"
    result = ledger_verify()
    assert result.ok, result.problems


@pytest.mark.django_db(transaction=True)
def test_the_snapshot_waits_for_the_rollup_job(book, owner_params):
    """Both append balance checkpoints: the snapshot takes the job's lock, so neither
    appends one below the other's."""
    from lightway.data.ledger.rollups import _ADVANCE_LOCK_KEY

    ledger_checkpoints_advance(wait_seconds=5)
    with psycopg.connect(**owner_params) as job:
        job.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVANCE_LOCK_KEY])
        with pytest.raises(DatabaseError, match="lock timeout"):
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute("SET LOCAL lock_timeout = '200ms'")
                cur.execute("SELECT ledger_posting_snapshot_take(%s)", [OCTOBER])
    with connection.cursor() as cur:
        cur.execute("SELECT ledger_posting_snapshot_take(%s)", [OCTOBER])
        assert cur.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_an_older_month_restored_while_a_newer_one_is_archived_still_verifies(
    book, restore_october
):
    """Snapshots cut by id: with November detached and October restored, November's
    snapshots are the boundary and October's attached postings lie below them (or, for an
    account November did not touch, above its older boundary), so none counts twice."""
    before = _balances(book)
    last_october_a = _last_october_posting(book.a)
    ledger_checkpoints_advance(wait_seconds=5)
    for month in (OCTOBER, NOVEMBER):
        results = {r.table: r for r in archive_month_run(month=month, now=NOW)}
        assert results["ledger_posting"].state == "detached", results["ledger_posting"]
    result = ledger_verify()
    assert result.ok and result.boundary_months == ["2026-10", "2026-11"], result.problems
    archive_month_restore(table="ledger_posting", month=OCTOBER, now=NOW)
    result = ledger_verify()
    assert result.ok and result.boundary_months == ["2026-11"], result.problems
    assert _balances(book) == before
    # a's boundary is now its last November posting: October's statement lines stay behind it
    with pytest.raises(PostingsArchived, match="archived month 2026-11"):
        account_statement(account=book.a, before_id=last_october_a)
    # archived again while November is out: a's 1 November posting (an id below October's
    # last) is out of sight, so the snapshot no longer matches what the database sees
    again = {r.table: r for r in archive_month_run(month=OCTOBER, now=NOW)}["ledger_posting"]
    assert again.note.startswith("kept for now:") and "snapshot differs" in again.note, again
    archive_month_restore(table="ledger_posting", month=NOVEMBER, now=NOW)
    for month in (OCTOBER, NOVEMBER):
        results = {r.table: r for r in archive_month_run(month=month, now=NOW)}
        assert results["ledger_posting"].state == "detached", results["ledger_posting"]
    assert ledger_verify().ok
