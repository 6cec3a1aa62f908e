"""P2P transfers: validation, fees and commission legs, idempotency, conservation."""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal

import pytest
from django.db import connection, connections

from lightway.application.errors import (
    IdempotencyConflict,
    NotFound,
    RequestRefused,
    ValidationFailed,
)
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.data.commission.models import CommissionRecord
from lightway.data.ledger.models import Account, Posting
from lightway.data.ledger.verify import ledger_verify
from lightway.data.wallets.models import Transfer
from tests.factories import customer, funded_wallet

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(now):
    a_id, _ = customer("alice", now)
    b_id, _ = customer("bob", now)
    return a_id, funded_wallet(a_id, "UGX", 100_000, now), b_id, funded_wallet(b_id, "UGX", 0, now)


def _req(src, dst, amount, currency="UGX", description=""):
    return TransferRequest(src.id, dst.id, amount, currency, description)


def test_transfer_moves_money_and_records_one_entry(pair, now):
    a_id, wa, _, wb = pair
    out = transfer_create(
        client_id=a_id, idempotency_key="k1", request=_req(wa, wb, 30_000), now=now
    )
    t = out.transfer
    assert t.status == "succeeded" and not out.replayed
    wa.account.refresh_from_db()
    wb.account.refresh_from_db()
    assert wb.account.balance == 30_000
    assert wa.account.balance == 100_000 - 30_000 - t.fee
    postings = list(Posting.objects.filter(entry_id=t.entry_id))
    assert sum(p.amount for p in postings) == 0
    assert ledger_verify().ok


def test_fee_splits_are_postings_and_commission_records(pair, now):
    from lightway.data.commission.models import FeeSchedule, FeeSplit

    schedule = FeeSchedule.objects.create(
        name="test p2p UGX",
        transaction_kind="p2p",
        currency="UGX",
        method="percentage",
        percentage=Decimal("0.01"),
        min_fee=100,
        effective_from=now.replace(year=2020),
        created_at=now,
    )
    FeeSplit.objects.create(schedule=schedule, party="lightway", weight=Decimal("0.7"))
    FeeSplit.objects.create(schedule=schedule, party="mtn", weight=Decimal("0.3"))
    a_id, wa, _, wb = pair
    t = transfer_create(
        client_id=a_id, idempotency_key="fee", request=_req(wa, wb, 12_345), now=now
    ).transfer
    assert t.fee == 123  # 1% of 12,345 rounded half-even
    fee_legs = {p.leg: p.amount for p in Posting.objects.filter(entry_id=t.entry_id)}
    assert fee_legs["fee"] == -123
    assert fee_legs["fee:lightway"] + fee_legs["fee:mtn"] == 123
    records = CommissionRecord.objects.filter(entry_id=t.entry_id)
    assert sorted(r.amount for r in records) == sorted(
        [fee_legs["fee:lightway"], fee_legs["fee:mtn"]]
    )


def test_same_key_same_body_returns_first_result(pair, now):
    a_id, wa, _, wb = pair
    first = transfer_create(
        client_id=a_id, idempotency_key="k", request=_req(wa, wb, 1000), now=now
    )
    again = transfer_create(
        client_id=a_id, idempotency_key="k", request=_req(wa, wb, 1000), now=now
    )
    assert again.replayed and again.transfer.id == first.transfer.id
    assert Transfer.objects.count() == 1
    wb.account.refresh_from_db()
    assert wb.account.balance == 1000


def test_same_key_different_body_conflicts(pair, now):
    a_id, wa, _, wb = pair
    transfer_create(client_id=a_id, idempotency_key="k", request=_req(wa, wb, 1000), now=now)
    with pytest.raises(IdempotencyConflict):
        transfer_create(client_id=a_id, idempotency_key="k", request=_req(wa, wb, 1001), now=now)


def test_insufficient_funds_is_recorded_and_replayed(pair, now):
    a_id, wa, _, wb = pair
    out = transfer_create(
        client_id=a_id, idempotency_key="big", request=_req(wa, wb, 100_001), now=now
    )
    assert out.transfer.status == "failed"
    assert out.transfer.failure_code == "insufficient_funds"
    again = transfer_create(
        client_id=a_id, idempotency_key="big", request=_req(wa, wb, 100_001), now=now
    )
    assert again.replayed and again.transfer.id == out.transfer.id
    wa.account.refresh_from_db()
    assert wa.account.balance == 100_000


def test_request_errors(pair, now):
    a_id, wa, b_id, wb = pair
    ghs = funded_wallet(b_id, "GHS", 0, now)
    with pytest.raises(RequestRefused, match="holds GHS") as refused:
        transfer_create(client_id=a_id, idempotency_key="1", request=_req(wa, ghs, 5), now=now)
    assert refused.value.code == "currency_mismatch"
    with pytest.raises(NotFound, match="source wallet"):  # bob's wallet is not alice's
        transfer_create(client_id=a_id, idempotency_key="2", request=_req(wb, wa, 5), now=now)
    with pytest.raises(NotFound, match="destination wallet"):
        transfer_create(
            client_id=a_id,
            idempotency_key="3",
            request=TransferRequest(wa.id, uuid.uuid4(), 5, "UGX"),
            now=now,
        )
    with pytest.raises(ValidationFailed, match="greater than zero"):
        transfer_create(client_id=a_id, idempotency_key="4", request=_req(wa, wb, -5), now=now)
    with pytest.raises(RequestRefused, match="the same"):
        transfer_create(client_id=a_id, idempotency_key="5", request=_req(wa, wa, 5), now=now)
    with pytest.raises(ValidationFailed, match="unsupported currency"):
        transfer_create(
            client_id=a_id, idempotency_key="6", request=_req(wa, wb, 5, "XXX"), now=now
        )
    with pytest.raises(ValidationFailed, match="Idempotency-Key"):
        transfer_create(client_id=a_id, idempotency_key="", request=_req(wa, wb, 5), now=now)
    assert Transfer.objects.count() == 0


def test_limits_hook_refuses_and_records(pair, now):
    """The default policy (KYC tier limits): a customer whose phone is not verified yet
    (tier 0) cannot pay; the refusal is recorded and no money moves."""
    from lightway.data.identity.models import Profile

    a_id, wa, _, wb = pair
    Profile.objects.filter(user_id=a_id).update(kyc_tier=0)
    out = transfer_create(
        client_id=a_id, idempotency_key="lim", request=_req(wa, wb, 5_001), now=now
    )
    assert (out.transfer.status, out.transfer.failure_code) == ("failed", "limit_exceeded")
    assert "verify your phone number" in out.transfer.failure_message
    assert Account.objects.get(pk=wb.account_id).balance == 0
    assert Account.objects.get(pk=wa.account_id).balance == 100_000


def test_per_transaction_cap_policy(pair, now, settings):
    """The foundation's simple policy is still selectable."""
    settings.LIGHTWAY_LIMITS_POLICY = "lightway.application.payments.limits.PerTransactionCap"
    settings.LIGHTWAY_MAX_AMOUNT_MINOR = 5_000
    a_id, wa, _, wb = pair
    out = transfer_create(
        client_id=a_id, idempotency_key="lim", request=_req(wa, wb, 5_001), now=now
    )
    assert (out.transfer.status, out.transfer.failure_code) == ("failed", "limit_exceeded")
    ok = transfer_create(client_id=a_id, idempotency_key="ok", request=_req(wa, wb, 5_000), now=now)
    assert ok.transfer.status == "succeeded"


def test_frozen_wallet_refused(pair, now):
    a_id, wa, _, wb = pair
    Account.objects.filter(pk=wb.account_id).update(status="frozen")
    out = transfer_create(client_id=a_id, idempotency_key="fz", request=_req(wa, wb, 5), now=now)
    assert out.transfer.failure_code == "account_not_active"


def _run_threads(target, count):
    errors: list[BaseException] = []

    def wrap(i):
        try:
            target(i)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


@pytest.mark.django_db(transaction=True)
def test_conservation_under_concurrency(now):
    """Many threads transfer among a few wallets in both directions: no lost update, no
    negative balance, totals unchanged, no deadlock reaching a client."""
    users = [customer(f"u{i}", now)[0] for i in range(4)]
    wallets = [funded_wallet(u, "UGX", 50_000, now) for u in users]
    outcomes: list[str] = []

    def worker(i):
        for j in range(25):
            src = (i + j) % 4
            dst = (src + 1 + (j % 3)) % 4
            out = transfer_create(
                client_id=users[src],
                idempotency_key=f"t{i}-{j}",
                request=_req(wallets[src], wallets[dst], 1_000 + 997 * j),
                now=now,
            )
            outcomes.append(out.transfer.status)

    errors = _run_threads(worker, 8)
    assert errors == []
    assert len(outcomes) == 200
    balances = [Account.objects.get(pk=w.account_id).balance for w in wallets]
    assert all(b >= 0 for b in balances)
    fees = sum(t.fee for t in Transfer.objects.filter(status="succeeded"))
    assert sum(balances) + fees == 4 * 50_000
    result = ledger_verify()
    assert result.ok, result.problems
    connection.close()


@pytest.mark.django_db(transaction=True)
def test_idempotency_under_concurrent_retries(now):
    a_id, _ = customer("alice", now)
    b_id, _ = customer("bob", now)
    wa = funded_wallet(a_id, "UGX", 10_000, now)
    wb = funded_wallet(b_id, "UGX", 0, now)
    ids: list[uuid.UUID] = []

    def retry(_i):
        out = transfer_create(
            client_id=a_id, idempotency_key="same", request=_req(wa, wb, 700), now=now
        )
        ids.append(out.transfer.id)

    assert _run_threads(retry, 8) == []
    assert len(set(ids)) == 1
    assert Transfer.objects.count() == 1
    assert Account.objects.get(pk=wb.account_id).balance == 700
    connection.close()


@pytest.mark.django_db(transaction=True)
def test_deadlock_is_retried_not_returned(now, monkeypatch):
    """A deadlock (the database rolls the loser back whole) is retried, so it never reaches
    the client; the money moves exactly once."""
    from lightway.application.payments import skeleton as module

    a_id, _ = customer("alice", now)
    b_id, _ = customer("bob", now)
    wa = funded_wallet(a_id, "UGX", 10_000, now)
    wb = funded_wallet(b_id, "UGX", 0, now)
    real = module._record
    calls = {"n": 0}

    def first_attempt_deadlocks(*args):
        calls["n"] += 1
        if calls["n"] == 1:
            with connection.cursor() as cur:
                cur.execute(
                    "DO $$ BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = '40P01'; END $$"
                )
        return real(*args)

    monkeypatch.setattr(module, "_record", first_attempt_deadlocks)
    out = transfer_create(client_id=a_id, idempotency_key="dl", request=_req(wa, wb, 100), now=now)
    assert out.transfer.status == "succeeded" and calls["n"] == 2
    assert Account.objects.get(pk=wb.account_id).balance == 100
    connection.close()


def test_retry_of_an_answered_request_gets_the_first_answer_even_if_it_would_now_fail(
    pair, now, monkeypatch
):
    from lightway.application.transactions import transfers as module
    from lightway.application.transactions.commission import FeeError

    a_id, wa, _, wb = pair
    first = transfer_create(client_id=a_id, idempotency_key="r", request=_req(wa, wb, 900), now=now)

    def broken_fees(**_kwargs):
        raise FeeError("fee schedule misconfigured")

    monkeypatch.setattr(module, "fee_quote", broken_fees)
    again = transfer_create(client_id=a_id, idempotency_key="r", request=_req(wa, wb, 900), now=now)
    assert again.replayed and again.transfer.id == first.transfer.id
    with pytest.raises(FeeError):  # a new key still gets the error
        transfer_create(client_id=a_id, idempotency_key="new", request=_req(wa, wb, 900), now=now)
