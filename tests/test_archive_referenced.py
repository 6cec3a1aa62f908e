"""Journal entries, transfers and MoMo requests partitioned by month (issue 14, item 5;
archive 0004, ledger 0009, wallets 0014, momo 0005): their keys stay unique across months,
archived ones included; the foreign keys that named them still hold (now on the id's key
table); and a month leaves only when its rows are final, unchanged since the export, and
no attached row names them."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from lightway.application.archive.service import (
    ArchiveError,
    archive_month_detach,
    archive_month_drop,
    archive_month_export,
    archive_month_restore,
    archive_month_run,
    archive_month_verify,
    partitioned_tables,
)
from lightway.application.errors import IdempotencyConflict
from lightway.application.momo.callbacks import callback_context
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.data.archive.models import ArchiveManifest
from lightway.data.ledger.rollups import ledger_checkpoints_advance
from lightway.data.ledger.services import Leg, entry_post
from lightway.data.ledger.verify import ledger_verify
from lightway.data.momo.models import MomoCallback, MomoRequest
from lightway.data.momo.services import momo_callback_insert, momo_callback_next_id
from lightway.data.wallets.models import Transfer
from lightway.security.crypto import seal
from tests.factories import customer, funded_wallet

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("archive_dir")]

OCTOBER = date(2026, 10, 1)
IN_OCTOBER = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # the test database's months are real ones
TABLES = ("ledger_journal_entry", "ledger_posting", "wallets_transfer", "momo_request")


@pytest.fixture
def october():
    with connection.cursor() as cur:
        for table in TABLES:
            cur.execute("SELECT archive_partitions_ensure(%s, %s, 1)", [table, OCTOBER])


@pytest.fixture
def wallets(october):
    a_id, _ = customer("alice", IN_OCTOBER)
    b_id, _ = customer("bob", IN_OCTOBER)
    wa = funded_wallet(a_id, "UGX", 100_000, IN_OCTOBER)
    wb = funded_wallet(b_id, "UGX", 0, IN_OCTOBER)
    return a_id, wa, wb


def _pay(wallets, key: str, at: datetime) -> Transfer:
    client_id, wa, wb = wallets
    out = transfer_create(
        client_id=client_id,
        idempotency_key=key,
        request=TransferRequest(wa.id, wb.id, 1_000, "UGX", "rent"),
        now=at,
    )
    return out.transfer


def _request(reference: uuid.UUID, at: datetime, **extra) -> MomoRequest:
    return MomoRequest.objects.create(
        reference_id=reference,
        product="collection",
        operation="requesttopay",
        currency="UGX",
        amount=5,
        party_ct=b"sealed",
        party_token="t",
        created_at=at,
        updated_at=at,
        deadline_at=at,
        **extra,
    )


def _callback(request_id: int) -> MomoCallback:
    id = momo_callback_next_id()
    return momo_callback_insert(
        id=id,
        reference_id="ref",
        request_id=request_id,
        method="PUT",
        content_type="application/json",
        body=seal(b"{}", context=callback_context(id)),
        remote_addr="127.0.0.1",
        claimed_status="",
        now=NOW,
    )


def _partition(table: str, pk) -> str:
    with connection.cursor() as cur:
        cur.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE id = %s", [pk])
        return cur.fetchone()[0]


def _immediately(sql: str, params=()) -> None:
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.execute(sql, params)


def _constraint(exc: pytest.ExceptionInfo) -> str | None:
    return getattr(getattr(exc.value.__cause__, "diag", None), "constraint_name", None)


# --- keys across months ---------------------------------------------------------------------


def test_the_three_tables_are_partitioned_with_their_keys_kept():
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
        )
        parted = {r[0] for r in cur.fetchall()}
        cur.execute("SELECT table_name, columns, constraint_name FROM archive_key_table")
        keys = {(t, tuple(cols), name) for t, cols, name in cur.fetchall()}
    assert {"ledger_journal_entry", "wallets_transfer", "momo_request"} <= parted
    assert {
        ("ledger_journal_entry", ("id",), "ledger_journal_entry_pkey"),
        ("ledger_journal_entry", ("idempotency_key",), "ledger_journal_entry_idempotency_key_key"),
        ("wallets_transfer", ("id",), "wallets_transfer_pkey"),
        ("wallets_transfer", ("client_id", "idempotency_key"), "transfer_idempotency"),
        ("momo_request", ("reference_id",), "momo_request_reference_id_key"),
        ("momo_request", ("hold_id",), "momo_request_hold_id_key"),
        ("momo_request", ("transfer_id",), "momo_request_transfer_id_key"),
    } <= keys


def test_an_entry_idempotency_key_is_unique_across_months(wallets):
    _, wa, wb = wallets
    legs = [Leg(wa.account_id, -1), Leg(wb.account_id, 1)]
    first = entry_post(kind="t", currency="UGX", legs=legs, idempotency_key="once", now=IN_OCTOBER)
    assert _partition("ledger_journal_entry", first.pk) == "ledger_journal_entry_p2026_10"
    with pytest.raises(IntegrityError) as exc, transaction.atomic():
        entry_post(kind="t", currency="UGX", legs=legs, idempotency_key="once", now=NOW)
    assert _constraint(exc) == "ledger_journal_entry_idempotency_key_key"
    # no key at all claims nothing (as with the unique index: NULLs are distinct)
    for at in (IN_OCTOBER, NOW):
        entry_post(kind="t", currency="UGX", legs=legs, now=at)


def test_a_payment_retried_a_month_later_is_a_replay_not_a_second_payment(wallets):
    first = _pay(wallets, "rent-oct", IN_OCTOBER)
    assert _partition("wallets_transfer", first.id) == "wallets_transfer_p2026_10"
    again = _pay(wallets, "rent-oct", NOW)
    assert again.id == first.id
    assert Transfer.objects.filter(idempotency_key="rent-oct").count() == 1
    # the database itself refuses a second row with that key in another month, under the
    # name the payment skeleton recognises as a replay
    with pytest.raises(IntegrityError) as exc, transaction.atomic():
        Transfer.objects.create(
            **{
                f.attname: getattr(first, f.attname)
                for f in Transfer._meta.concrete_fields
                if f.attname not in ("id", "entry_id", "reversal_entry_id")
            }
            | {"id": uuid.uuid4(), "created_at": NOW, "status": "created"}
        )
    assert _constraint(exc) == "transfer_idempotency"


def test_an_id_and_a_momo_reference_are_unique_across_months(wallets):
    t = _pay(wallets, "k1", IN_OCTOBER)
    with pytest.raises(IntegrityError) as exc:
        _immediately(
            "INSERT INTO wallets_transfer SELECT * FROM wallets_transfer WHERE id = %s", [t.id]
        )
    assert _constraint(exc) in {"wallets_transfer_pkey", "transfer_idempotency"}
    reference = uuid.uuid4()
    _request(reference, IN_OCTOBER)
    with pytest.raises(IntegrityError) as exc, transaction.atomic():
        _request(reference, NOW)
    assert _constraint(exc) == "momo_request_reference_id_key"


def test_foreign_keys_still_refuse_an_unknown_row(october):
    with pytest.raises(IntegrityError, match="wallets_transfer_id_taken"):
        with transaction.atomic():
            _request(uuid.uuid4(), NOW, transfer_id=uuid.uuid4())
            _immediately("SELECT 1")
    with pytest.raises(IntegrityError, match="momo_request_id_taken"):
        with transaction.atomic():
            _callback(-1)
            _immediately("SELECT 1")
    # ... and accept a row of an earlier month
    req = _request(uuid.uuid4(), IN_OCTOBER)
    with transaction.atomic():
        _callback(req.pk)
        _immediately("SELECT 1")


def test_the_runtime_role_only_reads_the_key_tables():
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("DELETE FROM wallets_transfer_client_id_idempotency_key_taken")


# --- archival --------------------------------------------------------------------------------


def test_referrers_are_archived_before_what_they_name():
    order = [t.table_name for t in partitioned_tables()]
    assert order.index("momo_request") < order.index("wallets_transfer")
    assert order.index("wallets_transfer") < order.index("ledger_journal_entry")
    assert order.index("ledger_posting") < order.index("ledger_journal_entry")


def test_a_month_of_transfers_waits_for_its_postings(wallets):
    _pay(wallets, "k1", IN_OCTOBER)
    # the balance roll-up has not passed October: postings stay, and so do the transfers
    results = {r.table: r for r in archive_month_run(month=OCTOBER, now=NOW)}
    assert results["ledger_posting"].note.startswith("kept for now"), results
    transfers = results["wallets_transfer"]
    assert transfers.state == "verified" and "postings leave first" in transfers.note
    entries = results["ledger_journal_entry"]
    assert entries.state == "verified" and entries.note.startswith("kept: ledger verify")
    with pytest.raises(ArchiveError, match="keeps its months attached"):
        archive_month_detach(table="ledger_journal_entry", month=OCTOBER)


@pytest.fixture
def restored_after(transactional_db):
    """A committed test that detaches months of the shared test database puts them back,
    whatever happens (a detached month would be missing for the tests after it)."""
    yield
    for manifest in ArchiveManifest.objects.filter(state__in=("detached", "dropped")):
        archive_month_restore(table=manifest.table_name, month=manifest.month, now=NOW)


def test_a_paid_month_leaves_in_order_keeps_its_keys_and_comes_back(restored_after, wallets):
    """A month with a P2P payment: its postings leave first (boundary snapshot), then its
    transfer; its entries stay (kept, with the reason); the ledger verifies throughout; the
    archived payment's key stays taken; a restore brings the payment back."""
    paid = _pay(wallets, "rent-oct", IN_OCTOBER)
    ledger_checkpoints_advance(wait_seconds=5)
    results = {r.table: r for r in archive_month_run(month=OCTOBER, now=NOW)}
    assert results["ledger_posting"].state == "detached", results["ledger_posting"]
    assert results["wallets_transfer"].state == "detached", results["wallets_transfer"]
    assert results["ledger_journal_entry"].note.startswith("kept: ledger verify")
    manifest = ArchiveManifest.objects.get(table_name="wallets_transfer", month=OCTOBER)
    assert (manifest.row_count, manifest.min_id, manifest.max_id) == (1, None, None)  # UUIDs
    assert manifest.rows_fingerprint is not None
    assert not Transfer.objects.filter(id=paid.id).exists()
    verified = ledger_verify()
    assert verified.ok, verified.problems
    # the archived payment's key stays taken: a retry is refused with a clear answer, never
    # paid twice
    with pytest.raises(IdempotencyConflict, match="now archived"):
        _pay(wallets, "rent-oct", NOW)
    assert archive_month_drop(table="wallets_transfer", month=OCTOBER, grace=timedelta(0)) == 1
    assert archive_month_restore(table="wallets_transfer", month=OCTOBER, now=NOW) == 1
    back = Transfer.objects.get(id=paid.id)
    assert (back.status, back.amount, back.entry_id) == ("succeeded", 1_000, paid.entry_id)
    assert _pay(wallets, "rent-oct", NOW).id == paid.id  # a replay again
    archive_month_restore(table="ledger_posting", month=OCTOBER, now=NOW)
    verified = ledger_verify()
    assert verified.ok, verified.problems


def test_a_transfer_in_flight_or_changed_after_export_stops_the_detach(wallets, owner_db):
    t = _pay(wallets, "k1", IN_OCTOBER)
    archive_month_export(table="wallets_transfer", month=OCTOBER, now=NOW)
    archive_month_verify(table="wallets_transfer", month=OCTOBER, now=NOW)
    # a change the count and the id range cannot show (the owner, past the state machine)
    _as_owner(owner_db, "UPDATE wallets_transfer SET description = 'edited' WHERE id = %s", [t.id])
    with pytest.raises(ArchiveError, match="changed since the archive was exported"):
        archive_month_detach(table="wallets_transfer", month=OCTOBER)
    _as_owner(owner_db, "UPDATE wallets_transfer SET status = 'pending' WHERE id = %s", [t.id])
    archive_month_export(table="wallets_transfer", month=OCTOBER, now=NOW)
    archive_month_verify(table="wallets_transfer", month=OCTOBER, now=NOW)
    with pytest.raises(ArchiveError, match=r"1 transfer.* still in flight"):
        archive_month_detach(table="wallets_transfer", month=OCTOBER)


def test_a_momo_month_stays_while_a_request_is_open_or_a_callback_names_it(october):
    req = _request(uuid.uuid4(), IN_OCTOBER)
    archive_month_export(table="momo_request", month=OCTOBER, now=NOW)
    archive_month_verify(table="momo_request", month=OCTOBER, now=NOW)
    with pytest.raises(ArchiveError, match="no final status yet"):
        archive_month_detach(table="momo_request", month=OCTOBER)
    MomoRequest.objects.filter(pk=req.pk).update(
        status="failed", reason_code="EXPIRED", completed_at=IN_OCTOBER
    )
    _callback(req.pk)
    archive_month_export(table="momo_request", month=OCTOBER, now=NOW)
    archive_month_verify(table="momo_request", month=OCTOBER, now=NOW)
    with pytest.raises(ArchiveError, match=r"rows of momo_callback \(request_id\)"):
        archive_month_detach(table="momo_request", month=OCTOBER)


def _as_owner(owner: psycopg.Connection, sql: str, params=()) -> None:
    with owner.transaction():
        owner.execute("SET LOCAL session_replication_role = replica")
        owner.execute(sql, list(params))
