"""The fee-schedule freeze trusts no setting the application can write and takes no table lock
(issue 10, findings 3 and 4); the race the old lock closed stays impossible.

Rules: ``data/commission/migrations/0006_freeze_without_settings_or_locks.py``. The
multi-connection tests commit for real (``tx_db``) and hold one transaction open in a thread
while another connection works with ``lock_timeout`` set, so any wait fails them.
"""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib import admin as django_admin
from django.db import IntegrityError, connection, connections, transaction
from django.urls import path
from django.utils import timezone

import lightway.interfaces.admin.commission  # noqa: F401  (registers the admin pages)
from lightway.application.errors import ValidationFailed
from lightway.application.transactions.commission import (
    FeeError,
    commission_records_create,
    fee_quote,
    fee_schedule_supersede,
)
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.data.commission.models import (
    RECORD_CLOCK_SKEW,
    SCHEDULE_CHANGE_LEAD,
    CommissionRecord,
    FeeBand,
    FeeSchedule,
    FeeSplit,
)
from lightway.data.commission.selectors import COMMISSION_TRIGGERS, commission_records_check
from tests.commission_support import (
    DAY,
    HOUR,
    change_form,
    change_url,
    committed_schedule,
    end_fields,
    ghs_schedule,
    make_entry,
    make_schedule,
    record_for,
    refused,
    ugx,
)
from tests.factories import customer, funded_wallet

pytestmark = pytest.mark.django_db
urlpatterns = [path("admin/", django_admin.site.urls)]

SECOND = timedelta(seconds=1)
TIERED = [(0, 5_000, 100, "0"), (5_000, None, 250, "0.005")]
CREATED_SETTING = "lightway.commission_schedules_created"  # 0005's mark, now meaningless


def _db_now() -> datetime:
    with connection.cursor() as cur:
        cur.execute("SELECT clock_timestamp()")
        value: datetime = cur.fetchone()[0]
    return value


@pytest.fixture
def live_now() -> datetime:
    return timezone.now().replace(microsecond=0)


def test_the_constants_are_those_of_the_database(db):
    with connection.cursor() as cur:
        cur.execute("SELECT commission_record_clock_skew(), commission_schedule_lead()")
        assert cur.fetchone() == (RECORD_CLOCK_SKEW, SCHEDULE_CHANGE_LEAD)
        cur.execute(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE NOT t.tgisinternal AND t.tgenabled <> 'D'"
        )
        installed = set(cur.fetchall())
    assert set(COMMISSION_TRIGGERS) <= installed


# --- finding 3: a setting cannot lift the freeze ------------------------------------------


def test_a_setting_the_application_can_write_does_not_lift_the_freeze(tx_db, live_now):
    schedule = committed_schedule(live_now, method="tiered", bands=TIERED, start=live_now - DAY)
    band = schedule.bands.get(lower_bound=0)
    split = schedule.splits.get(party="mtn")
    changes = {
        "pricing": lambda: FeeSchedule.objects.filter(pk=schedule.pk).update(max_fee=9_000),
        "band": lambda: FeeBand.objects.filter(pk=band.pk).update(flat_amount=120),
        "split": lambda: FeeSplit.objects.filter(pk=split.pk).update(weight=30),
        "new split": lambda: FeeSplit.objects.create(schedule=schedule, party="partner", weight=1),
        "delete": lambda: FeeSchedule.objects.filter(pk=schedule.pk).delete(),
    }
    for what, change in changes.items():
        with pytest.raises(IntegrityError, match="has been in effect since"):
            with transaction.atomic():  # each its own transaction, committed if allowed
                with connection.cursor() as cur:
                    cur.execute(
                        "SELECT set_config(%s, %s, true)", [CREATED_SETTING, str(schedule.pk)]
                    )
                change()
        assert FeeSchedule.objects.filter(pk=schedule.pk).exists(), what
    schedule.refresh_from_db()
    assert schedule.max_fee is None
    assert sorted(schedule.bands.values_list("flat_amount", flat=True)) == [100, 250]
    assert sorted(schedule.splits.values_list("party", "weight")) == [
        ("lightway", Decimal(60)),
        ("mtn", Decimal(40)),
    ]


def test_the_creating_transaction_is_stamped_by_the_database(db, live_now):
    schedule = make_schedule(live_now, flat=10, start=live_now - DAY)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT created_txid = txid_current() FROM commission_fee_schedule WHERE id = %s",
            [schedule.pk],
        )
        assert cur.fetchone() == (True,)
        # an insert cannot choose it ...
        cur.execute(
            """INSERT INTO commission_fee_schedule (name, transaction_kind, currency, corridor,
                 effective_from, method, flat_amount, percentage, min_fee, rounding, version,
                 notes, created_at, created_txid)
               VALUES ('x', 'deposit', 'UGX', '', %s, 'flat', 1, 0, 0, 'HALF_UP', 1, '', %s, 42)
               RETURNING id, created_txid = txid_current()""",
            [live_now + DAY, live_now],
        )
        inserted, stamped = cur.fetchone()
        assert stamped
        cur.execute(
            "INSERT INTO commission_fee_split (schedule_id, party, weight) VALUES (%s, 'mtn', 1)",
            [inserted],
        )
    # ... and an update cannot change it, even to a value that means "created here"
    with refused("created_txid is set by the database and never changes", "23001"):
        with connection.cursor() as cur:
            cur.execute(
                "UPDATE commission_fee_schedule SET created_txid = created_txid + 1 WHERE id = %s",
                [schedule.pk],
            )


# --- finding 4: no admin action blocks payments, no payment blocks an admin -----------------


def _customers_with_ghs(now: datetime) -> tuple[int, Any, Any]:
    a_id, _ = customer("ama", now, country="GH")
    b_id, _ = customer("kofi", now, country="GH")
    return a_id, funded_wallet(a_id, "GHS", 500_000, now), funded_wallet(b_id, "GHS", 0, now)


@contextlib.contextmanager
def _lock_timeout():
    """Fail, instead of waiting, if this connection would wait more than 2 s for a lock."""
    with connection.cursor() as cur:
        cur.execute("SET lock_timeout = '2s'")
    try:
        yield
    finally:
        with connection.cursor() as cur:
            cur.execute("RESET lock_timeout")


class _Held(threading.Thread):
    """Run ``work`` in a transaction on its own connection and keep it open until released."""

    def __init__(self, work):
        super().__init__(daemon=True)
        self.work = work
        self.ready = threading.Event()
        self.release = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with transaction.atomic():
                self.result = self.work()
                self.ready.set()
                assert self.release.wait(30), "never released"
        except BaseException as exc:  # reported to the test
            self.error = exc
        finally:
            self.ready.set()
            connections.close_all()

    def __enter__(self) -> _Held:
        self.start()
        assert self.ready.wait(30)
        if self.error is not None:
            raise self.error
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.join(30)
        if self.error is not None:
            raise self.error


@pytest.mark.urls(__name__)
def test_admin_changes_do_not_wait_for_a_payment_in_flight(tx_db, admin_client, live_now):
    with transaction.atomic():
        v1 = ghs_schedule(live_now - 2 * DAY)
    a_id, wa, wb = _customers_with_ghs(live_now)

    def pay():
        out = transfer_create(
            client_id=a_id,
            idempotency_key="in-flight",
            request=TransferRequest(wa.id, wb.id, 10_000, "GHS"),
            now=timezone.now(),
        )
        assert CommissionRecord.objects.filter(entry_id=out.transfer.entry_id).count() == 2
        return out.transfer

    switch = live_now + DAY
    with _Held(pay) as payment, _lock_timeout():  # its records are written, not committed
        # ending the period
        response = admin_client.post(change_url(v1.pk), change_form(v1, **end_fields(switch + DAY)))
        assert response.status_code == 302, response.content.decode()[:3000]
        # and "Save as new", which ends it earlier and adds the next version
        response = admin_client.post(
            change_url(v1.pk),
            change_form(
                v1,
                pct="0.02",
                start=switch.strftime("%Y-%m-%d"),
                start_time=switch.strftime("%H:%M:%S"),
                _saveasnew="Save as new",
            ),
        )
        assert response.status_code == 302, response.content.decode()[:3000]
    transfer = payment.result
    v1.refresh_from_db()
    v2 = FeeSchedule.objects.exclude(pk=v1.pk).get()
    assert (v1.effective_to, v2.effective_from, v2.percentage) == (switch, switch, Decimal("0.02"))
    records = CommissionRecord.objects.filter(entry_id=transfer.entry_id)
    assert {r.schedule_id for r in records} == {v1.pk}
    assert sum(r.amount for r in records) == transfer.fee == 100  # 1 % of GHS 100.00
    assert all(r.created_at < v1.effective_to for r in records)
    assert commission_records_check() == []


def test_a_payment_does_not_wait_for_an_admin_edit_in_flight(tx_db, live_now):
    v1 = committed_schedule(
        live_now, currency="GHS", method="percentage", pct="0.01", start=live_now - 2 * DAY
    )
    later = committed_schedule(live_now, kind="deposit", flat=5, start=live_now + 2 * DAY)
    a_id, wa, wb = _customers_with_ghs(live_now)
    switch = live_now + DAY

    def edit():
        fee_schedule_supersede(schedule_id=v1.pk, successor_from=switch)  # a schedule in use
        FeeSplit.objects.filter(schedule=later, party="mtn").update(weight=10)  # not started
        FeeSchedule.objects.filter(pk=later.pk).update(flat_amount=7)

    with _Held(edit), _lock_timeout():
        out = transfer_create(
            client_id=a_id,
            idempotency_key="during-edit",
            request=TransferRequest(wa.id, wb.id, 10_000, "GHS"),
            now=timezone.now(),
        )
        assert (out.transfer.status, out.transfer.fee) == ("succeeded", 100)
        records = CommissionRecord.objects.filter(entry_id=out.transfer.entry_id)
        assert {r.schedule_id for r in records} == {v1.pk}
        assert records.count() == 2
    v1.refresh_from_db()
    later.refresh_from_db()
    assert (v1.effective_to, later.flat_amount) == (switch, 7)


# --- the race the lock used to close stays impossible ---------------------------------------


def test_a_record_cannot_be_dated_ahead_of_the_database_clock(db, live_now):
    schedule = make_schedule(live_now, flat=10, start=live_now - DAY)
    db_now = _db_now()
    with refused("more than 00:00:05 ahead of the database time", "23514"):
        record_for(live_now, schedule, created_at=db_now + RECORD_CLOCK_SKEW + SECOND)
    record_for(live_now, schedule, created_at=db_now + RECORD_CLOCK_SKEW - SECOND)
    # through the application: a clear error (503), not a server error
    quote = fee_quote(kind="p2p", amount=ugx(10_000), now=live_now)
    entry = make_entry(live_now)
    with pytest.raises(FeeError, match="clock is ahead of the database") as info:
        with transaction.atomic():
            commission_records_create(
                entry_id=entry.pk, reference="ahead", kind="p2p", quote=quote, now=db_now + HOUR
            )
    assert info.value.details["rule"] == "commission_rec_not_ahead_of_clock"


def test_a_period_ends_at_least_the_lead_ahead_and_no_record_falls_after_it(tx_db, live_now):
    schedule = committed_schedule(live_now, flat=10, start=live_now - DAY)
    db_now = _db_now()
    too_soon = db_now + SCHEDULE_CHANGE_LEAD - 5 * SECOND
    with refused("its period cannot end in the past or less than 00:00:30 ahead", "23001"):
        FeeSchedule.objects.filter(pk=schedule.pk).update(effective_to=too_soon)
    with pytest.raises(ValidationFailed, match="less than 00:00:30 ahead of the database time"):
        fee_schedule_supersede(schedule_id=schedule.pk, successor_from=too_soon)
    end = db_now + SCHEDULE_CHANGE_LEAD + 5 * SECOND
    fee_schedule_supersede(schedule_id=schedule.pk, successor_from=end)
    schedule.refresh_from_db()
    assert schedule.effective_to == end
    # a record at the new end or after it is refused, whatever the writer's clock says
    for at in (end, end + HOUR):
        with refused("ahead of the database time|its period ended at", "23514"):
            with transaction.atomic():
                record_for(live_now, schedule, created_at=at)
    record_for(live_now, schedule, created_at=_db_now())
    assert commission_records_check() == []


def test_a_transaction_held_open_cannot_use_up_the_lead(tx_db, live_now):
    """The rules are checked again at commit, against the database clock then."""
    margin = 3 * SECOND  # time for the change to be made while it is still allowed

    def held(change, *, until):
        with transaction.atomic():
            change()  # allowed now ...
            while _db_now() <= until:  # ... but not any more when the transaction commits
                time.sleep(0.1)

    def starting_soon(kind):  # not frozen for another ``margin``
        start = _db_now() + SCHEDULE_CHANGE_LEAD + margin
        return committed_schedule(live_now, kind=kind, flat=10, start=start)

    def frozen_from(schedule):
        return schedule.effective_from - SCHEDULE_CHANGE_LEAD

    in_use = committed_schedule(live_now, flat=10, start=live_now - DAY)
    with pytest.raises(
        IntegrityError,
        match="by the time this transaction committed: its "
        "period cannot end in the past or less than 00:00:30 ahead",
    ):
        end = _db_now() + SCHEDULE_CHANGE_LEAD + margin
        held(
            lambda: FeeSchedule.objects.filter(pk=in_use.pk).update(effective_to=end),
            until=end - SCHEDULE_CHANGE_LEAD,
        )
    repriced = starting_soon("deposit")
    with pytest.raises(
        IntegrityError,
        match=r"takes effect at .* by the time this transaction "
        "committed: add a new version instead of changing it",
    ):
        held(
            lambda: FeeSchedule.objects.filter(pk=repriced.pk).update(flat_amount=20),
            until=frozen_from(repriced),
        )
    resplit = starting_soon("withdrawal")
    with pytest.raises(
        IntegrityError, match="by the time this transaction committed: its splits are frozen"
    ):
        held(
            lambda: FeeSplit.objects.filter(schedule=resplit, party="mtn").update(weight=1),
            until=frozen_from(resplit),
        )
    deleted = starting_soon("payout")
    with pytest.raises(
        IntegrityError, match="by the time this transaction committed and cannot be deleted"
    ):
        held(lambda: FeeSchedule.objects.filter(pk=deleted.pk).delete(), until=frozen_from(deleted))
    in_use.refresh_from_db()
    assert in_use.effective_to is None
    assert FeeSchedule.objects.get(pk=repriced.pk).flat_amount == 10
    assert resplit.splits.get(party="mtn").weight == Decimal(40)
    assert FeeSchedule.objects.filter(pk=deleted.pk).exists()


def test_an_unfrozen_schedule_cannot_be_moved_to_start_within_the_lead(tx_db, live_now):
    later = committed_schedule(live_now, flat=10, start=live_now + DAY)
    with refused(r"cannot be moved to start at .*: a schedule starts at least 00:00:30", "23001"):
        FeeSchedule.objects.filter(pk=later.pk).update(effective_from=live_now - HOUR)
    FeeSchedule.objects.filter(pk=later.pk).update(effective_from=live_now + HOUR)


class _Rollback(Exception):
    pass


@pytest.mark.parametrize(
    ("isolation", "accepted"), [("READ COMMITTED", True), ("REPEATABLE READ", False)]
)
def test_outside_read_committed_a_record_is_bounded_by_the_transaction_start(
    tx_db, live_now, isolation, accepted
):
    """Under REPEATABLE READ the record trigger reads the schedule with the transaction's
    snapshot, so the bound is the transaction's start, not the clock of the statement."""
    with contextlib.suppress(_Rollback), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(f"SET TRANSACTION ISOLATION LEVEL {isolation}")
            cur.execute("SELECT transaction_timestamp()")
            started = cur.fetchone()[0]
        schedule = make_schedule(live_now, flat=10, start=live_now - DAY)
        time.sleep(0.3)
        dated = started + RECORD_CLOCK_SKEW + timedelta(milliseconds=100)
        if accepted:
            record_for(live_now, schedule, created_at=dated)
        else:
            with refused("ahead of the database time", "23514"):
                record_for(live_now, schedule, created_at=dated)
        raise _Rollback


# --- the set-based check for ledger verify --------------------------------------------------


def test_commission_records_check_names_each_forged_record(owner_db, live_now):
    with transaction.atomic():  # a schedule and its splits are committed together
        schedule = make_schedule(live_now, flat=10, start=live_now - DAY, end=live_now + DAY)
        good = record_for(live_now, schedule)
        entry = make_entry(live_now)
    assert commission_records_check() == []
    forged = [
        ("late", "p2p", "UGX", "lightway", "lightway", live_now + 2 * DAY, schedule.pk),
        ("early", "p2p", "UGX", "lightway", "lightway", live_now - 2 * DAY, schedule.pk),
        ("kind", "deposit", "UGX", "lightway", "lightway", live_now, schedule.pk),
        ("currency", "p2p", "GHS", "lightway", "lightway", live_now, schedule.pk),
        ("party", "p2p", "UGX", "partner", "imto-1", live_now, schedule.pk),
        ("gone", "p2p", "UGX", "lightway", "lightway", live_now, schedule.pk + 1000),
    ]
    with owner_db.transaction():  # as the owner, triggers off: what an attacker could do
        owner_db.execute("SET LOCAL session_replication_role = replica")
        for ref, kind, cur_code, party, party_ref, at, sid in forged:
            owner_db.execute(
                """INSERT INTO commission_record (entry_id, schedule_id, reference,
                     transaction_kind, party, party_ref, currency, amount, created_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, 1, %s)""",
                [entry.pk, sid, ref, kind, party, party_ref, cur_code, at],
            )
    ids = dict(CommissionRecord.objects.exclude(pk=good.pk).values_list("reference", "id"))
    problems = commission_records_check()
    sid = schedule.pk
    assert problems == [
        f"commission record {ids['late']}: dated {(live_now + 2 * DAY).isoformat()}, outside "
        f"the period of fee schedule {sid} [{schedule.effective_from.isoformat()}, "
        f"{schedule.effective_to.isoformat()})",
        f"commission record {ids['early']}: dated {(live_now - 2 * DAY).isoformat()}, outside "
        f"the period of fee schedule {sid} [{schedule.effective_from.isoformat()}, "
        f"{schedule.effective_to.isoformat()})",
        f"commission record {ids['kind']}: deposit UGX, but fee schedule {sid} is p2p UGX",
        f"commission record {ids['currency']}: p2p GHS, but fee schedule {sid} is p2p UGX",
        f"commission record {ids['party']}: fee schedule {sid} has no split for party partner",
        f"commission record {ids['gone']}: fee schedule {sid + 1000} does not exist",
    ]
    assert len(commission_records_check(limit=2)) == 2
