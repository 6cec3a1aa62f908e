"""Settlement windows (docs/settlement.md): the state machine and what the database
enforces, positions kept by the database as payments post, an idempotent close, abort, the
cut-off job, and a close racing payments on real threads."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import DatabaseError, IntegrityError, connection, connections, transaction
from django.db.models import Sum

from lightway.application.errors import Conflict
from lightway.application.settlement.windows import (
    window_abort,
    window_close,
    windows_close_due,
)
from lightway.application.transactions.commission_seed import fee_schedules_seed_defaults
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.data.ledger.models import Account, Posting
from lightway.data.ledger.verify import ledger_verify
from lightway.data.settlement.models import (
    Instruction,
    Position,
    PositionDelta,
    SettlementWindow,
    WindowState,
)
from lightway.data.settlement.services import window_open_id
from lightway.data.wallets.models import Transfer, Wallet
from tests.factories import customer, funded_wallet
from tests.settlement_support import parties


def _p2p_pair(now, prefix="a"):
    fee_schedules_seed_defaults(now=now)
    alice, _ = customer(f"{prefix}-alice", now)
    bob, _ = customer(f"{prefix}-bob", now)
    source = funded_wallet(alice, "UGX", 50_000_000, now)
    destination = funded_wallet(bob, "UGX", 0, now)
    return alice, source, destination


def _pay(client_id, source, destination, amount, key, now):
    return transfer_create(
        client_id=client_id,
        idempotency_key=key,
        request=TransferRequest(source.id, destination.id, amount, "UGX"),
        now=now,
    ).transfer


def _mtn_commission(transfers) -> int:
    entries = [t.entry_id for t in transfers]
    total = (
        Posting.objects.filter(entry_id__in=entries, leg="fee:mtn").aggregate(t=Sum("amount"))["t"]
        or 0
    )
    return int(total)


# --- the database ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_one_open_window_per_market_and_transitions_only_as_listed(now):
    window = SettlementWindow.objects.create(market="UGX", state="open", opened_at=now)
    with pytest.raises(IntegrityError, match="settlement_window_one_open"), transaction.atomic():
        SettlementWindow.objects.create(market="UGX", state="open", opened_at=now)
    SettlementWindow.objects.create(market="GHS", state="open", opened_at=now)  # another market
    with pytest.raises(IntegrityError, match="not an allowed transition"), transaction.atomic():
        SettlementWindow.objects.filter(pk=window.pk).update(state="settled", closed_at=now)
    with pytest.raises(IntegrityError, match="settlement_window_closed_at"), transaction.atomic():
        SettlementWindow.objects.filter(pk=window.pk).update(state="closed")
    SettlementWindow.objects.filter(pk=window.pk).update(state="closed", closed_at=now)
    with pytest.raises(IntegrityError, match="not an allowed transition"), transaction.atomic():
        SettlementWindow.objects.filter(pk=window.pk).update(state="open")
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        SettlementWindow.objects.filter(pk=window.pk).delete()  # the runtime role may not
    with pytest.raises(DatabaseError, match="close is recorded once"), transaction.atomic():
        SettlementWindow.objects.filter(pk=window.pk).update(closed_at=now + timedelta(hours=1))


@pytest.mark.django_db
def test_deltas_only_into_the_open_window_of_their_market_and_append_only(now):
    open_id = window_open_id(market="UGX", now=now)
    account = Account.objects.create(
        code="house:momo_float:UGX:collection",
        kind="momo_float",
        currency="UGX",
        owner_ref="collection",
        allow_negative=True,
        derived_balance=True,
        created_at=now,
    )
    fields = {
        "counterparty": "mtn",
        "account_id": account.pk,
        "amount": 5,
        "created_at": now,
        "entry_id": 1,
    }
    PositionDelta.objects.create(window_id=open_id, currency="UGX", **fields)
    with pytest.raises(IntegrityError, match="settlement_delta_once"), transaction.atomic():
        PositionDelta.objects.create(window_id=open_id, currency="UGX", **fields)
    with (
        pytest.raises(IntegrityError, match="not the open window of its market"),
        transaction.atomic(),
    ):
        PositionDelta.objects.create(window_id=open_id, currency="GHS", **{**fields, "entry_id": 2})
    SettlementWindow.objects.filter(pk=open_id).update(state="closed", closed_at=now)
    with (
        pytest.raises(IntegrityError, match="not the open window of its market"),
        transaction.atomic(),
    ):
        PositionDelta.objects.create(window_id=open_id, currency="UGX", **{**fields, "entry_id": 3})
    for forbidden in ("UPDATE", "DELETE"):
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            PositionDelta.objects.filter(window_id=open_id).update(amount=6) if (
                forbidden == "UPDATE"
            ) else PositionDelta.objects.filter(window_id=open_id).delete()


@pytest.mark.django_db(transaction=True)
def test_even_the_owner_cannot_rewrite_settlement_history(owner_db, now):
    """The triggers, not only the grants: as the owner (a superuser here)."""
    open_id = window_open_id(market="UGX", now=now)
    with owner_db.cursor() as cur:
        cur.execute(
            "INSERT INTO settlement_position_delta (window_id, counterparty, account_id,"
            " currency, amount, entry_id, created_at) VALUES (%s, 'mtn', 1, 'UGX', 5, 1, now())",
            [open_id],
        )
        for statement, message in (
            ("UPDATE settlement_position_delta SET amount = 6", "append-only"),
            ("DELETE FROM settlement_position_delta", "append-only"),
            ("TRUNCATE settlement_position_delta", "cannot be truncated"),
            ("DELETE FROM settlement_window", "never deleted"),
            ("UPDATE settlement_window SET market = 'GHS'", "fixed"),
        ):
            with pytest.raises(psycopg.Error, match=message):
                cur.execute(statement)


@pytest.mark.django_db(transaction=True)
def test_window_assignment_refused_outside_read_committed(now):
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        with pytest.raises(Exception, match="READ COMMITTED"):
            cur.execute("SELECT settlement_window_for('UGX', now())")


# --- positions as payments post, close, abort -------------------------------------------------


@pytest.mark.django_db
def test_a_payment_adds_its_effect_to_the_open_window_once_and_close_is_idempotent(now):
    parties(now)
    alice, source, destination = _p2p_pair(now)
    first = _pay(alice, source, destination, 100_000, "k1", now)
    second = _pay(alice, source, destination, 20_000, "k2", now)
    window = SettlementWindow.objects.get(market="UGX", state="open")
    deltas = PositionDelta.objects.filter(window_id=window.pk)
    assert deltas.count() == 2  # one per payment: the MTN commission share of its fee
    assert {d.transfer_id for d in deltas} == {first.id, second.id}
    assert int(deltas.aggregate(t=Sum("amount"))["t"]) == _mtn_commission([first, second]) > 0

    closed = window_close(window_id=window.pk, now=now, actor="test")
    assert not closed.already
    assert closed.window.state == WindowState.PENDING_SETTLEMENT
    [position] = closed.positions
    assert (position.counterparty, position.component, position.deltas) == ("mtn", "commission", 2)
    [instruction] = closed.instructions
    assert instruction.direction == "pay" and instruction.amount == position.amount
    assert instruction.pain001.startswith("<?xml")

    again = window_close(window_id=window.pk, now=now + timedelta(seconds=5), actor="test")
    assert again.already
    assert [i.pk for i in again.instructions] == [instruction.pk]
    assert Instruction.objects.count() == 1 and Position.objects.count() == 1
    # the next payment lands in the window the close opened
    third = _pay(alice, source, destination, 30_000, "k3", now)
    new_window = SettlementWindow.objects.get(market="UGX", state="open")
    assert new_window.pk != window.pk
    assert PositionDelta.objects.get(transfer_id=third.id).window_id == new_window.pk
    assert ledger_verify().ok, ledger_verify().problems


@pytest.mark.django_db
def test_reversal_adds_the_mirror_to_the_open_window(now):
    from lightway.data.ledger.kinds import REVERSAL
    from lightway.data.ledger.services import Leg, entry_post

    alice, source, destination = _p2p_pair(now)
    paid = _pay(alice, source, destination, 100_000, "k1", now)
    first_window = PositionDelta.objects.get(transfer_id=paid.id).window_id
    parties(now)
    window_close(window_id=first_window, now=now, actor="test")
    mirror = [
        Leg(p.account_id, -p.amount, p.leg) for p in Posting.objects.filter(entry_id=paid.entry_id)
    ]
    entry = entry_post(kind=REVERSAL, currency="UGX", legs=mirror, now=now, reference=str(paid.id))
    Transfer.objects.filter(pk=paid.pk).update(status="reversed", reversal_entry_id=entry.pk)
    deltas = list(PositionDelta.objects.filter(transfer_id=paid.id).order_by("id"))
    assert len(deltas) == 2
    assert deltas[1].amount == -deltas[0].amount
    assert deltas[1].window_id != first_window
    assert deltas[1].entry_id == entry.pk
    assert ledger_verify().ok, ledger_verify().problems


@pytest.mark.django_db
def test_abort_withdraws_new_instructions_and_carries_the_sums_forward(now):
    parties(now)
    alice, source, destination = _p2p_pair(now)
    _pay(alice, source, destination, 100_000, "k1", now)
    window = SettlementWindow.objects.get(market="UGX", state="open")
    closed = window_close(window_id=window.pk, now=now, actor="test")
    owed = closed.positions[0].amount
    aborted = window_abort(window_id=window.pk, reason="wrong bank account", actor="t", now=now)
    assert aborted.state == WindowState.ABORTED
    assert Instruction.objects.get().status == "rejected"
    carried = PositionDelta.objects.get(carried_from=window.pk)
    assert carried.amount == owed
    assert SettlementWindow.objects.get(pk=carried.window_id).state == WindowState.OPEN
    with pytest.raises(Conflict):
        window_abort(window_id=window.pk, reason="again", actor="t", now=now)
    assert ledger_verify().ok, ledger_verify().problems


@pytest.mark.django_db
def test_abort_refused_once_the_api_accepted_an_instruction(now):
    parties(now)
    alice, source, destination = _p2p_pair(now)
    _pay(alice, source, destination, 100_000, "k1", now)
    window = SettlementWindow.objects.get(market="UGX", state="open")
    window_close(window_id=window.pk, now=now, actor="test")
    Instruction.objects.update(status="sent", sent_at=now)
    with pytest.raises(Conflict, match="accepted"):
        window_abort(window_id=window.pk, reason="too late", actor="t", now=now)


@pytest.mark.django_db
def test_a_window_with_nothing_to_move_is_settled_at_close(now):
    window = SettlementWindow.objects.get(pk=window_open_id(market="GHS", now=now))
    closed = window_close(window_id=window.pk, now=now, actor="test")
    assert closed.window.state == WindowState.SETTLED
    assert closed.positions == [] and closed.instructions == []


@pytest.mark.django_db
def test_the_cutoff_job_closes_each_window_once_per_cutoff(settings, now):
    settings.LIGHTWAY_SETTLEMENT_CUTOFF = "17:00"  # Kampala is UTC+3: 14:00 UTC
    opened = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    window = SettlementWindow.objects.get(pk=window_open_id(market="UGX", now=opened))
    assert windows_close_due(now=datetime(2026, 11, 24, 13, 59, tzinfo=UTC)) == []
    after = datetime(2026, 11, 24, 14, 0, 30, tzinfo=UTC)
    assert windows_close_due(now=after) == [window.pk]
    window.refresh_from_db()
    assert window.cutoff_at == datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
    assert windows_close_due(now=after + timedelta(minutes=1)) == []  # the new one is after it
    settings.LIGHTWAY_SETTLEMENT_CUTOFFS = "UGX=16:00"
    assert windows_close_due(now=datetime(2026, 11, 25, 13, 0, 1, tzinfo=UTC)) != []


# --- the race: payments on real threads while the window closes ------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_close_racing_payments_loses_none_and_counts_none_twice(now):
    parties(now)
    payers = [_p2p_pair(now, prefix=f"t{i}") for i in range(4)]
    made: list[Transfer] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    stop = threading.Event()

    def pay(index: int) -> None:
        alice, source, destination = payers[index]
        try:
            for n in range(40):
                t = _pay(alice, source, destination, 10_000 + n, f"race-{index}-{n}", now)
                with lock:
                    made.append(t)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    def close() -> None:
        try:
            while not stop.is_set():
                open_window = SettlementWindow.objects.filter(market="UGX", state="open").first()
                if open_window is not None:
                    window_close(window_id=open_window.pk, now=now, actor="race")
                stop.wait(0.02)
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)
        finally:
            connections.close_all()

    closer = threading.Thread(target=close)
    threads = [threading.Thread(target=pay, args=(i,)) for i in range(4)]
    closer.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    closer.join()
    assert not errors, errors
    succeeded = [t for t in made if t.status == "succeeded"]
    assert len(succeeded) == 160
    closed_windows = SettlementWindow.objects.exclude(state="open").count()
    assert closed_windows >= 2  # the close really raced the payments
    # every payment's MTN share is in exactly one delta, in a window
    deltas = PositionDelta.objects.filter(transfer_id__in=[t.id for t in succeeded])
    assert deltas.count() == len(succeeded)
    assert len({d.transfer_id for d in deltas}) == len(succeeded)
    total = int(deltas.aggregate(t=Sum("amount"))["t"])
    assert total == _mtn_commission(succeeded)
    # nothing arrived in a window after its positions were summed
    for window in SettlementWindow.objects.exclude(state="open"):
        summed = Position.objects.filter(window=window).aggregate(t=Sum("amount"))["t"] or 0
        in_window = (
            PositionDelta.objects.filter(window_id=window.pk).aggregate(t=Sum("amount"))["t"] or 0
        )
        assert summed == in_window, window.pk
        assert window.deltas == PositionDelta.objects.filter(window_id=window.pk).count()
    assert ledger_verify().ok, ledger_verify().problems
    assert Wallet.objects.count() == 8
