"""Exactly once: whatever the callbacks do, and when the worker dies between steps, MoMo
holds one transaction per reference and the ledger one entry per transfer.

Callbacks: lost, duplicated, contradicting (a FAILED-looking one after the success), early
(before the 202 was recorded), racing a poll from another thread, late (after the sweep
settled it). Killed worker: after MoMo accepted but before the database knew; after a status
read but before it was applied; inside the money transaction; and a real ``lightway worker``
process SIGKILLed mid-flow and started again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from lightway.application.momo import apply as apply_module
from lightway.application.momo import flows
from lightway.application.momo import status as status_module
from lightway.data.ledger.models import HoldStatus, JournalEntry
from lightway.data.momo.models import CallbackOutcome, MomoCallback, MomoRequest
from lightway.data.wallets.models import Transfer
from lightway.infrastructure.config import url_from_database
from lightway.integration.momo.port import MomoResult
from tests.momo_flow_support import (
    callbacks_of,
    drop_queued_jobs,
    ledger_view,
    momo_customer,
    reload,
    request_of,
    run_momo_jobs,
    sim_count,
    wait_final,
)

WALLET = 1_000_000
AMOUNT = 40_000
FEE = 500


def _payout(uid, now, key, msisdn="256772999001"):
    return flows.payout_start(
        customer_id=uid,
        currency="UGX",
        amount_minor=AMOUNT,
        msisdn=msisdn,
        idempotency_key=key,
        now=now,
    )


def _assert_once(momo, transfer, *, wallet: int | None = WALLET, succeeded=True):
    """The invariants of every case: one MoMo transaction, at most one entry, the balance
    (``wallet``: the balance before, when the wallet paid only this transfer)."""
    transfer = reload(transfer)
    req = request_of(transfer)
    assert sim_count(momo.sim, req.reference_id) == 1
    view = ledger_view(transfer, req)
    assert view.entries == (1 if succeeded else 0)
    assert JournalEntry.objects.filter(idempotency_key=f"momo:{req.reference_id}").count() == (
        1 if succeeded else 0
    )
    if wallet is not None:
        assert view.source_balance == wallet - ((AMOUNT + FEE) if succeeded else 0)
        assert view.source_held == 0
    assert transfer.status == ("succeeded" if succeeded else "failed")
    return transfer, req


def _post(client, req, body: bytes, method="put"):
    return getattr(client, method)(
        f"/webhooks/momo/{req.reference_id}", data=body, content_type="application/json"
    )


# --- callbacks -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_lost_callback_is_finished_by_the_sweep(momo, now):
    uid = momo_customer("lost", now, phone="+256772100001", wallet=WALLET)
    transfer = _payout(uid, now, "l1")
    run_momo_jobs(now)
    req = request_of(transfer)
    wait_final(momo.sim, req.reference_id)
    momo.sim.callbacks_clear()  # MoMo's callback never arrives
    req.refresh_from_db()
    assert flows.momo_sweep(now=req.next_check_at) == 1
    assert run_momo_jobs(req.next_check_at) == [("momo_poll", "final")]
    _assert_once(momo, transfer)


@pytest.mark.django_db
def test_a_callback_delivered_three_times_applies_once(momo, client, now):
    uid = momo_customer("dup", now, phone="+256772100002", wallet=WALLET)
    transfer = _payout(uid, now, "d1")
    run_momo_jobs(now)
    req = request_of(transfer)
    callback = momo.sim.wait_callbacks(1)[0]
    momo.sim.callbacks_clear()
    for _ in range(3):
        assert _post(client, req, callback.body, callback.method.lower()).status_code == 200
    run_momo_jobs(now)
    outcomes = sorted(c.outcome for c in callbacks_of(req))
    assert outcomes == sorted(
        [CallbackOutcome.APPLIED, CallbackOutcome.DUPLICATE, CallbackOutcome.DUPLICATE]
    )
    _, req = _assert_once(momo, transfer)
    assert req.callbacks == 3


@pytest.mark.django_db
def test_the_simulators_duplicate_callbacks_apply_once(momo, client, now):
    momo.configure(duplicate_callbacks=1.0)
    uid = momo_customer("dup2", now, phone="+256772100003", wallet=WALLET)
    transfer = _payout(uid, now, "d2")
    run_momo_jobs(now)
    momo.deliver_callbacks(client, wait_for=2)
    run_momo_jobs(now)
    assert len(callbacks_of(request_of(transfer))) == 2
    _assert_once(momo, transfer)


@pytest.mark.django_db
def test_a_failed_looking_callback_after_the_success_changes_nothing(momo, client, now):
    uid = momo_customer("ooo", now, phone="+256772100004", wallet=WALLET)
    transfer = _payout(uid, now, "o1")
    run_momo_jobs(now)
    req = request_of(transfer)
    momo.deliver_callbacks(client, wait_for=1)
    run_momo_jobs(now)
    _assert_once(momo, transfer)
    forged = json.dumps(
        {"status": "FAILED", "reason": {"code": "APPROVAL_REJECTED", "message": "no"}}
    ).encode()
    assert _post(client, req, forged).status_code == 200
    run_momo_jobs(now)
    assert callbacks_of(req)[-1].outcome == CallbackOutcome.DUPLICATE
    transfer, req = _assert_once(momo, transfer)
    assert (req.status, req.reason_code) == ("successful", "")


@pytest.mark.django_db
def test_a_failed_looking_callback_while_pending_is_checked_not_believed(momo, client, now):
    uid = momo_customer("liar", now, phone="+256772100005", wallet=WALLET)
    transfer = _payout(uid, now, "lie", msisdn="46733123453")  # stays PENDING
    run_momo_jobs(now)
    req = request_of(transfer)
    assert _post(client, req, b'{"status": "FAILED", "reason": "EXPIRED"}').status_code == 200
    run_momo_jobs(now)
    assert callbacks_of(req)[-1].outcome == CallbackOutcome.MISMATCH
    req.refresh_from_db()
    assert req.status == "accepted" and reload(transfer).status == "pending"
    assert ledger_view(transfer, req).hold_status == HoldStatus.ACTIVE
    # and a SUCCESSFUL-looking one does not pay either: the status read says PENDING
    assert _post(client, req, b'{"status": "SUCCESSFUL"}').status_code == 200
    run_momo_jobs(now)
    assert callbacks_of(req)[-1].outcome == CallbackOutcome.MISMATCH
    assert ledger_view(transfer, req).entries == 0


@pytest.mark.django_db
def test_a_callback_before_the_202_was_recorded_settles_it_once(momo, client, now, monkeypatch):
    uid = momo_customer("early", now, phone="+256772100006", wallet=WALLET)
    transfer = _payout(uid, now, "e1")
    original = status_module._accepted
    seen: list[str] = []

    def callback_first(request_id, when):
        # MoMo answered 202 and already called back; the worker has not recorded the 202.
        req = MomoRequest.objects.get(pk=request_id)
        assert req.status == "new"
        wait_final(momo.sim, req.reference_id)
        momo.deliver_callbacks(client, wait_for=1)
        run_momo_jobs(now)
        seen.append(MomoRequest.objects.get(pk=request_id).status)
        original(request_id, when)

    monkeypatch.setattr(status_module, "_accepted", callback_first)
    run_momo_jobs(now)
    assert seen == ["successful"]  # new → successful, straight from the status read
    transfer, req = _assert_once(momo, transfer)
    assert req.accepted_at is None
    assert callbacks_of(req)[0].outcome == CallbackOutcome.APPLIED


@pytest.mark.django_db
def test_a_late_callback_after_the_sweep_settled_it_is_a_duplicate(momo, client, now):
    uid = momo_customer("late", now, phone="+256772100007", wallet=WALLET)
    transfer = _payout(uid, now, "lt")
    run_momo_jobs(now)
    req = request_of(transfer)
    wait_final(momo.sim, req.reference_id)
    late_callbacks = momo.sim.wait_callbacks(1)
    momo.sim.callbacks_clear()
    req.refresh_from_db()
    flows.momo_sweep(now=req.next_check_at)
    run_momo_jobs(req.next_check_at)
    _assert_once(momo, transfer)
    for callback in late_callbacks:
        assert _post(client, req, callback.body).status_code == 200
    run_momo_jobs(now + timedelta(hours=1))
    assert [c.outcome for c in callbacks_of(req)] == [CallbackOutcome.DUPLICATE]
    _assert_once(momo, transfer)


@pytest.mark.django_db(transaction=True)
def test_callbacks_racing_polls_from_other_threads_apply_once(momo, client, now):
    momo.configure(slow_seconds=0.15)  # both status reads are in flight together
    uid = momo_customer("race", now, phone="+256772100008", wallet=WALLET)
    transfers = [_payout(uid, now, f"race-{i}") for i in range(4)]
    run_momo_jobs(now)
    for transfer in transfers:
        wait_final(momo.sim, request_of(transfer).reference_id)
    momo.deliver_callbacks(client, wait_for=len(transfers))  # stored; processing queued
    drop_queued_jobs()
    callbacks = list(MomoCallback.objects.order_by("id"))
    errors: list[BaseException] = []
    applied: list[object] = []

    def run(target, **kwargs):
        try:
            barrier.wait()
            applied.append(target(now=now, **kwargs))
        except BaseException as exc:
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    for callback in callbacks:
        barrier = threading.Barrier(3)
        threads = [
            threading.Thread(
                target=run, args=(flows.callback_process,), kwargs={"callback_id": callback.pk}
            ),
            threading.Thread(
                target=run, args=(flows.momo_poll,), kwargs={"request_id": callback.request_id}
            ),
            threading.Thread(
                target=run, args=(flows.momo_poll,), kwargs={"request_id": callback.request_id}
            ),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert errors == []
    for transfer in transfers:
        _assert_once(momo, transfer, wallet=None)
    # the wallet paid each payout once
    wallet = Transfer.objects.get(pk=transfers[0].pk).source_wallet.account
    wallet.refresh_from_db()
    assert wallet.balance == WALLET - len(transfers) * (AMOUNT + FEE)


# --- the worker killed between steps ---------------------------------------------------------


class Killed(BaseException):
    """Stands for the process dying (not an Exception: nothing may catch it)."""


@pytest.mark.django_db
def test_killed_after_momo_accepted_but_before_the_database_knew(momo, now, monkeypatch):
    uid = momo_customer("kill-a", now, phone="+256772100009", wallet=WALLET)
    transfer = _payout(uid, now, "ka")
    req = request_of(transfer)

    def die(request_id, when):
        raise Killed

    monkeypatch.setattr(status_module, "_accepted", die)
    with pytest.raises(Killed):
        flows.momo_submit(request_id=req.pk, now=now)
    monkeypatch.undo()
    req.refresh_from_db()
    assert (req.status, req.attempts) == ("new", 1)  # MoMo has it; we do not know
    assert sim_count(momo.sim, req.reference_id) == 1
    wait_final(momo.sim, req.reference_id)
    # the job is redone (the sweep after the lease, or procrastinate's stalled-job retry)
    later = req.next_check_at
    drop_queued_jobs()
    assert flows.momo_sweep(now=later) == 1
    assert run_momo_jobs(later) == [("momo_submit", "final")]  # 409 → read → applied
    transfer, req = _assert_once(momo, transfer)
    assert req.attempts == 2


@pytest.mark.django_db
def test_killed_after_the_create_was_sent_but_answered_503(momo, now):
    momo.configure(accept_then_error=1)  # MoMo created it, the answer was lost
    uid = momo_customer("kill-503", now, phone="+256772100010", wallet=WALLET)
    transfer = _payout(uid, now, "k503")
    assert run_momo_jobs(now) == [("momo_submit", "retry")]
    req = request_of(transfer)
    wait_final(momo.sim, req.reference_id)
    assert flows.momo_submit(request_id=req.pk, now=req.next_check_at) == "final"
    _assert_once(momo, transfer)


@pytest.mark.django_db
def test_killed_after_the_status_read_before_it_was_applied(momo, now, monkeypatch):
    uid = momo_customer("kill-b", now, phone="+256772100011", wallet=WALLET)
    transfer = _payout(uid, now, "kb")
    run_momo_jobs(now)
    req = request_of(transfer)
    wait_final(momo.sim, req.reference_id)
    momo.sim.callbacks_clear()

    def die(**kwargs):
        raise Killed

    monkeypatch.setattr(status_module, "momo_apply", die)
    with pytest.raises(Killed):
        flows.momo_poll(request_id=req.pk, now=now + timedelta(seconds=30))
    monkeypatch.undo()
    req.refresh_from_db()
    assert req.status == "accepted" and ledger_view(transfer, req).entries == 0
    assert flows.momo_poll(request_id=req.pk, now=now + timedelta(seconds=60)) == "final"
    _assert_once(momo, transfer)


@pytest.mark.django_db
def test_killed_inside_the_money_transaction_rolls_it_back_whole(momo, now, monkeypatch):
    uid = momo_customer("kill-c", now, phone="+256772100012", wallet=WALLET)
    transfer = _payout(uid, now, "kc")
    run_momo_jobs(now)
    req = request_of(transfer)
    wait_final(momo.sim, req.reference_id)

    def die(**kwargs):
        raise Killed  # after the entry was posted and the request marked successful

    monkeypatch.setattr(apply_module, "momo_transfer_move", die)
    with pytest.raises(Killed):
        flows.momo_poll(request_id=req.pk, now=now)
    monkeypatch.undo()
    req.refresh_from_db()
    assert req.status == "accepted"
    assert ledger_view(transfer, req).entries == 0
    assert ledger_view(transfer, req).hold_status == HoldStatus.ACTIVE
    assert flows.momo_poll(request_id=req.pk, now=now) == "final"
    _assert_once(momo, transfer)


@pytest.mark.django_db
def test_a_second_apply_of_the_same_success_moves_nothing(momo, now):
    uid = momo_customer("twice", now, phone="+256772100013", wallet=WALLET)
    transfer = _payout(uid, now, "tw")
    run_momo_jobs(now)
    req = request_of(transfer)
    wait_final(momo.sim, req.reference_id)
    result = momo.sim.transaction(str(req.reference_id))["result"]
    parsed = MomoResult.from_json(result)
    assert flows.momo_apply(request_id=req.pk, result=parsed, now=now) is True
    for _ in range(3):
        assert flows.momo_apply(request_id=req.pk, result=parsed, now=now) is False
    failed = MomoResult.from_json({"status": "FAILED", "reason": "INTERNAL_PROCESSING_ERROR"})
    assert flows.momo_apply(request_id=req.pk, result=failed, now=now) is False
    _assert_once(momo, transfer)


# --- a real worker process, SIGKILLed mid-flow -----------------------------------------------


def _lightway() -> list[str]:
    script = Path(sys.executable).with_name("lightway")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "lightway.interfaces.cli"]


def _worker(momo, log_path: Path) -> subprocess.Popen[bytes]:
    url = url_from_database(connection.settings_dict)
    env = {k: v for k, v in os.environ.items() if k not in {"PROMETHEUS_MULTIPROC_DIR"}}
    env.update(
        DATABASE_URL=url,
        MOMO_BASE_URL=momo.sim.base_url,
        MOMO_API_USER=momo.api_user,
        MOMO_API_KEY=momo.api_key,
        MOMO_SUBSCRIPTION_KEY_COLLECTION=momo.sim.subscription_keys["collection"],
        MOMO_SUBSCRIPTION_KEY_DISBURSEMENT=momo.sim.subscription_keys["disbursement"],
        MOMO_SUBSCRIPTION_KEY_REMITTANCE=momo.sim.subscription_keys["remittance"],
        MOMO_CALLBACK_URL="",  # no callbacks: the sweep and polls finish everything
        MOMO_TIMEOUT_SECONDS="3",
        MOMO_POLL_FIRST_SECONDS="1",
        MOMO_POLL_MAX_SECONDS="2",
        LIGHTWAY_WORKER_CONCURRENCY="2",
        LIGHTWAY_AUDIT_CHECKPOINT_FILE="",
    )
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [*_lightway(), "worker", "--concurrency", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_killed_mid_flow_and_restarted_pays_each_transfer_once(momo, tmp_path):
    now = timezone.now()
    uid = momo_customer("worker", now, phone="+256772100014", wallet=WALLET)
    momo.configure(slow_seconds=1.5)  # every MoMo call takes 1.5 s: the kill lands mid-call
    transfers = [_payout(uid, now, f"w{i}") for i in range(3)]
    log_path = tmp_path / "worker.log"
    worker = _worker(momo, log_path)
    try:
        deadline = time.monotonic() + 60
        while not any(
            method == "POST" and path.endswith("/v1_0/transfer")
            for method, path in list(momo.sim.requests)
        ):
            assert worker.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")
            time.sleep(0.05)
        os.kill(worker.pid, signal.SIGKILL)  # mid-call: MoMo will accept what was sent
        worker.wait(timeout=30)
        time.sleep(2)  # the simulator finishes the calls the dead worker had made
        created = len(momo.sim.transactions())
        accepted = MomoRequest.objects.filter(status="accepted").count()
        assert created >= 1 and accepted < created  # MoMo has some the database does not know
        momo.configure(slow_seconds=0)
        worker = _worker(momo, log_path)
        deadline = time.monotonic() + 90
        while Transfer.objects.filter(
            pk__in=[t.pk for t in transfers], status="succeeded"
        ).count() < len(transfers):
            assert worker.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, _debug(log_path)
            time.sleep(0.25)
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
    for transfer in transfers:
        _assert_once_counts(momo, transfer)
    wallet = Transfer.objects.get(pk=transfers[0].pk).source_wallet.account
    wallet.refresh_from_db()
    assert (wallet.balance, wallet.held) == (WALLET - len(transfers) * (AMOUNT + FEE), 0)
    assert len(momo.sim.transactions()) == len(transfers)


def _debug(log_path: Path) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, task_name, status, queueing_lock, args::text, scheduled_at"
            " FROM procrastinate_jobs WHERE task_name LIKE 'momo%%' ORDER BY id"
        )
        jobs = cursor.fetchall()
    requests = list(
        MomoRequest.objects.values_list("id", "status", "attempts", "next_check_at", "last_error")
    )
    return (
        f"jobs={jobs}\nrequests={requests}\nnow={timezone.now()}\n"
        + log_path.read_text(errors="replace")[-3000:]
    )


def _assert_once_counts(momo, transfer):
    transfer = reload(transfer)
    req = request_of(transfer)
    assert transfer.status == "succeeded"
    assert sim_count(momo.sim, req.reference_id) == 1
    assert JournalEntry.objects.filter(reference=str(transfer.id)).count() == 1
