"""Limits that hold under concurrency, whatever order the clocks were read in; headroom for
deposits still on their way in; cheap replays (issue 10, findings 1, 2 and 6).

The usage counters and pending inbound amounts are kept by the database (wallets migration
0005); the payment skeleton (``application/payments``) checks them under the locks the
payment holds.
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from lightway.application.momo import flows
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.data.audit.models import AuditRecord
from lightway.data.commission.models import CommissionRecord
from lightway.data.ledger.models import Account, JournalEntry
from lightway.data.wallets.models import InboundPending, Transfer, UsageCounter, Wallet
from tests.commission_support import make_schedule
from tests.concurrency import run_concurrently
from tests.factories import customer, funded_wallet
from tests.momo_flow_support import momo_customer, run_momo_jobs, settle

# UG tier 2 (seeded defaults): per transaction 2.5M, daily 10M, monthly 50M, balance 10M.
# UG tier 3: per transaction 5M, daily 20M, monthly 100M, balance 20M.


def _pay(client_id, src, dst, amount, now, key=None):
    return transfer_create(
        client_id=client_id,
        idempotency_key=key or str(uuid.uuid4()),
        request=TransferRequest(src.id, dst.id, amount, "UGX", ""),
        now=now,
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_payments_with_their_own_clocks_never_pass_the_daily_limit(now):
    """30 payments of UGX 1,000,000 against a daily limit of UGX 10,000,000, each request
    reading its own clock (as separate requests do) and racing for the wallet: exactly 10."""
    a_id, _ = customer("alice", now, tier=2)
    b_id, _ = customer("bob", now, tier=3)
    wa = funded_wallet(a_id, "UGX", 60_000_000, now)
    wb = funded_wallet(b_id, "UGX", 0, now)
    clocks = [now + timedelta(seconds=s) for s in random.Random(7).sample(range(600), 30)]
    outcomes = run_concurrently(
        lambda at: _pay(a_id, wa, wb, 1_000_000, at).transfer.failure_code or "ok",
        [(at,) for at in clocks],
    )
    assert sorted(outcomes) == ["limit_exceeded"] * 20 + ["ok"] * 10
    assert Account.objects.get(pk=wb.account_id).balance == 10_000_000
    connection.close()


@pytest.mark.django_db
def test_a_payment_whose_clock_was_read_earlier_still_counts_the_later_ones(now):
    """Sent one after the other, the second with an earlier clock: the day's total holds."""
    a_id, _ = customer("alice", now, tier=2)
    b_id, _ = customer("bob", now, tier=3)
    wa = funded_wallet(a_id, "UGX", 60_000_000, now)
    wb = funded_wallet(b_id, "UGX", 0, now)
    for _ in range(4):
        assert _pay(a_id, wa, wb, 2_500_000, now + timedelta(seconds=120)).transfer.status == (
            "succeeded"
        )
    late = _pay(a_id, wa, wb, 2_500_000, now + timedelta(seconds=60)).transfer
    assert (late.status, late.failure_code) == ("failed", "limit_exceeded")
    assert "daily limit" in late.failure_message
    assert Account.objects.get(pk=wb.account_id).balance == 10_000_000


@pytest.mark.django_db
def test_usage_counters_follow_the_transfers_and_only_the_database_writes_them(now):
    a_id, _ = customer("alice", now, tier=3)
    b_id, _ = customer("bob", now, tier=3)
    wa = funded_wallet(a_id, "UGX", 60_000_000, now)
    wb = funded_wallet(b_id, "UGX", 0, now)
    _pay(a_id, wa, wb, 1_000_000, now)
    _pay(a_id, wa, wb, 2_000_000, now + timedelta(days=1))
    _pay(a_id, wa, wb, 6_000_000, now)  # above the per-transaction limit: failed, not counted
    rows = {
        (u.period, u.period_start.isoformat()): u.amount
        for u in UsageCounter.objects.filter(customer_id=a_id)
    }
    # 09:00 UTC is 12:00 in Kampala, the same local day.
    assert rows == {
        ("day", "2026-11-24"): 1_000_000,
        ("day", "2026-11-25"): 2_000_000,
        ("month", "2026-11-01"): 3_000_000,
    }
    assert not UsageCounter.objects.filter(customer_id=b_id).exists()  # receiving is not sending
    with pytest.raises(IntegrityError), transaction.atomic():
        UsageCounter.objects.filter(customer_id=a_id).update(amount=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        Transfer.objects.filter(client_id=a_id).update(usage_day=None)


@pytest.mark.django_db
def test_a_retry_with_the_same_key_does_no_payment_work(now):
    """The key is looked up first: a replay reads one row and writes nothing."""
    a_id, _ = customer("alice", now, tier=3)
    b_id, _ = customer("bob", now, tier=3)
    wa = funded_wallet(a_id, "UGX", 1_000_000, now)
    wb = funded_wallet(b_id, "UGX", 0, now)
    first = _pay(a_id, wa, wb, 10_000, now, key="once")
    with CaptureQueriesContext(connection) as queries:
        again = _pay(a_id, wa, wb, 10_000, now, key="once")
    assert again.replayed and again.transfer.id == first.transfer.id
    statements = [q["sql"].lstrip().split()[0].upper() for q in queries.captured_queries]
    assert statements == ["SELECT"], queries.captured_queries


@pytest.mark.django_db(transaction=True)
def test_a_posted_payment_is_recorded_in_one_statement(now, settings):
    """In autocommit (as a request runs), a P2P payment is three statements: the key lookup,
    both wallets, and ``payments_record`` (entry, postings, transfer, limits, commission
    records and audit record: one round trip, its own transaction). A refusal found by the
    database in that statement (here the daily limit) leaves nothing but the failed
    transfer, recorded in one more transaction."""
    a_id, _ = customer("alice", now, tier=2)
    b_id, _ = customer("bob", now, tier=3)
    wa = funded_wallet(a_id, "UGX", 60_000_000, now)
    wb = funded_wallet(b_id, "UGX", 0, now)
    with transaction.atomic():
        make_schedule(now, flat=500)  # split 60/40 between LightWay and MTN
    settings.LIGHTWAY_FEE_SCHEDULE_CACHE_SECONDS = 60  # as in production
    _pay(a_id, wa, wb, 2_000_000, now)  # warms the caches (fee schedules, house accounts)
    with CaptureQueriesContext(connection) as queries:
        paid = _pay(a_id, wa, wb, 2_000_000, now)
    assert paid.transfer.status == "succeeded" and paid.transfer.fee > 0
    sql = [q["sql"] for q in queries.captured_queries]
    assert len(sql) == 3 and "payments_record(" in sql[2], sql
    entry = paid.transfer.entry_id
    assert entry is not None
    assert Transfer.objects.get(pk=paid.transfer.id).entry_id == entry
    assert CommissionRecord.objects.filter(entry_id=entry).count() == 2
    audit = AuditRecord.objects.get(object_id=str(paid.transfer.id))
    assert (audit.action, audit.data["entry"], audit.data["fee"]) == (
        "transfer.succeeded",
        entry,
        paid.transfer.fee,
    )
    for _ in range(3):
        _pay(a_id, wa, wb, 2_000_000, now)
    entries = JournalEntry.objects.count()
    with CaptureQueriesContext(connection) as queries:
        over = _pay(a_id, wa, wb, 2_000_000, now).transfer
    assert (over.status, over.failure_code) == ("failed", "limit_exceeded")
    assert "daily limit of UGX 10,000,000" in over.failure_message
    assert JournalEntry.objects.count() == entries
    assert UsageCounter.objects.get(customer_id=a_id, period="day").amount == 10_000_000
    statements = [q["sql"].lstrip()[:30] for q in queries.captured_queries]
    assert [s.split()[0] for s in statements] == [
        "SELECT",  # the key
        "SELECT",  # the wallets
        "SELECT",  # payments_record: refused by the limits
        "BEGIN",
        "INSERT",  # the failed transfer
        "INSERT",  # its audit record
        "COMMIT",
    ], statements


# --- deposits: headroom reserved when they start ------------------------------------------------


def _deposit(user_id, amount, now, key=None):
    return flows.deposit_start(
        customer_id=user_id,
        currency="UGX",
        amount_minor=amount,
        msisdn="",
        idempotency_key=key or str(uuid.uuid4()),
        now=now,
    )


@pytest.mark.django_db
def test_pending_deposits_count_against_the_maximum_balance(momo, client, now):
    """Tier 3 may hold UGX 20M (and deposit 5M at a time). Four deposits of 5M wait for
    MoMo: a fifth, or a P2P credit that would take balance + pending over 20M, is refused;
    once the deposits land the same holds for the balance."""
    user = momo_customer("ama", now, phone="+256772123401")
    payer = momo_customer("kofi", now, phone="+256772123402", wallet=30_000_000)
    started = [_deposit(user, 5_000_000, now) for _ in range(4)]
    assert [d.status for d in started] == ["submitted"] * 4
    credit = 5_000_000 - started[0].fee
    assert InboundPending.objects.get(customer_id=user, currency="UGX").amount == 4 * credit
    fifth = _deposit(user, 5_000_000, now)
    assert (fifth.status, fifth.failure_code) == ("failed", "limit_exceeded")
    assert "maximum balance" in fifth.failure_message
    wallet = Wallet.objects.get(owner_id=user, currency="UGX")
    payer_wallet = Wallet.objects.get(owner_id=payer, currency="UGX")
    headroom = 20_000_000 - 4 * credit
    p2p = _pay(payer, payer_wallet, wallet, headroom + 1, now).transfer
    assert (p2p.status, p2p.failure_code) == ("failed", "limit_exceeded")
    assert "maximum balance" in p2p.failure_message

    run_momo_jobs(now)  # submitted; MoMo approves the demo number: the deposits land
    settle(momo, client, now, callbacks=4)
    assert {d.status for d in Transfer.objects.filter(pk__in=[d.pk for d in started])} == {
        "succeeded"
    }
    assert InboundPending.objects.get(customer_id=user, currency="UGX").amount == 0
    assert Account.objects.get(pk=wallet.account_id).balance == 4 * credit
    late = _pay(payer, payer_wallet, wallet, headroom + 1, now).transfer
    assert late.failure_code == "limit_exceeded"


@pytest.mark.django_db(transaction=True)
def test_parallel_deposits_never_reserve_more_than_the_maximum_balance(momo, now):
    user = momo_customer("ama", now, phone="+256772123401")
    outcomes = run_concurrently(
        lambda at: _deposit(user, 4_000_000, at).failure_code or "ok",
        [(now + timedelta(seconds=i),) for i in range(8)],
    )
    # Tier 3 holds at most 20M: five deposits of 4M (less their fee) fit, a sixth does not.
    assert sorted(outcomes) == ["limit_exceeded"] * 3 + ["ok"] * 5
    pending = InboundPending.objects.get(customer_id=user, currency="UGX").amount
    assert pending <= 20_000_000
    connection.close()


def test_verification_recomputes_the_counters_and_finds_a_forged_one(owner_db, now):
    from lightway.data.wallets.selectors import usage_counters_problems

    a_id, _ = customer("alice", now, tier=3)
    b_id, _ = customer("bob", now, tier=3)
    wa = funded_wallet(a_id, "UGX", 60_000_000, now)
    wb = funded_wallet(b_id, "UGX", 0, now)
    _pay(a_id, wa, wb, 1_000_000, now)
    assert usage_counters_problems() == []
    with owner_db.transaction():  # as an attacker with the owner's rights would
        owner_db.execute("SET LOCAL session_replication_role = replica")
        owner_db.execute("UPDATE wallets_usage_counter SET amount = 1 WHERE period = 'month'")
    problems = usage_counters_problems()
    assert len(problems) == 1 and "usage counters equal the payments" in problems[0]
    from lightway.data.ledger.verify import ledger_verify

    result = ledger_verify()
    assert not result.ok and "usage counters equal the payments they count" in result.failed
