"""The analytics rollups (data/analytics, application/analytics): what they count after
payments made through the real flows, that each run reads only what is new (a late commit
included), latency percentiles from histogram buckets, retention, and the Prometheus
exposition of the same figures."""

from __future__ import annotations

import re
import threading
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from lightway.application.analytics.figures import (
    latency_figures,
    provider_figures,
    transfer_figures,
    window_of,
)
from lightway.application.analytics.percentiles import histogram_quantile
from lightway.application.analytics.rollup import analytics_rollup
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.data.analytics import samples
from lightway.data.analytics.buckets import BOUNDS_MS
from lightway.data.analytics.models import (
    INF_MS,
    LatencyRollup,
    OutboxEvent,
    ProviderRollup,
    TransferRollup,
)
from lightway.data.wallets.models import Transfer
from tests.factories import customer, funded_wallet
from tests.query_cost import plan_rows

pytestmark = pytest.mark.django_db


def _p2p(payer: int, source, destination, amount: int, now: datetime, key: str) -> Transfer:
    return transfer_create(
        client_id=payer,
        idempotency_key=key,
        request=TransferRequest(
            source_wallet_id=source.id,
            destination_wallet_id=destination.id,
            amount=amount,
            currency="UGX",
        ),
        now=now,
    ).transfer


def _rows(grain: str, **filters) -> list[tuple]:
    return sorted(
        TransferRollup.objects.filter(grain=grain, **filters).values_list(
            "kind", "market", "currency", "partner", "outcome", "count", "amount"
        )
    )


def test_p2p_payments_and_a_refusal_are_counted_per_minute_hour_day_and_in_total(now):
    alice, _ = customer("an-alice", now, country="UG")
    bob, _ = customer("an-bob", now, country="UG")
    a = funded_wallet(alice, "UGX", 1_000_000, now)
    b = funded_wallet(bob, "UGX", 0, now)
    ok1 = _p2p(alice, a, b, 15_000, now, "an-1")
    ok2 = _p2p(alice, a, b, 5_000, now + timedelta(minutes=1), "an-2")
    refused = _p2p(alice, a, b, 99_000_000, now + timedelta(minutes=1), "an-3")
    assert (ok1.status, ok2.status, refused.status) == ("succeeded", "succeeded", "failed")

    result = analytics_rollup(now=now + timedelta(minutes=2))
    assert result.events == 3 and OutboxEvent.objects.count() == 0

    fee = ok1.fee + ok2.fee
    assert _rows("minute", bucket_start=now) == [("p2p", "UG", "UGX", "", "succeeded", 1, 15_000)]
    assert _rows("minute", bucket_start=now + timedelta(minutes=1)) == [
        ("p2p", "UG", "UGX", "", "failed", 1, 99_000_000),
        ("p2p", "UG", "UGX", "", "succeeded", 1, 5_000),
    ]
    for grain in ("hour", "day", "all"):
        assert _rows(grain) == [
            ("p2p", "UG", "UGX", "", "failed", 1, 99_000_000),
            ("p2p", "UG", "UGX", "", "succeeded", 2, 20_000),
        ], grain
    assert TransferRollup.objects.get(grain="all", outcome="succeeded").fee == fee

    figures = transfer_figures(
        window=window_of(now=now + timedelta(minutes=2), span=timedelta(hours=24))
    )
    (ugx,) = figures.volumes
    assert (ugx.succeeded, ugx.failed, ugx.value_minor, ugx.success_rate) == (2, 1, 20_000, "66.7%")
    assert [(k.key, k.succeeded, k.failed) for k in figures.kinds] == [("p2p", 2, 1)]

    # Nothing new: a second run counts nothing, and the totals stay.
    assert analytics_rollup(now=now + timedelta(minutes=3)).events == 0
    assert _rows("all")[1][5] == 2


def test_momo_deposit_and_payout_through_the_simulator_are_counted_with_their_outcome(
    momo, client, now
):
    """A deposit and a refused withdrawal made through the MoMo flows against the simulator:
    the transfer rollups see a deposit, the provider rollups the request created and its
    outcome, the latency rollups the time it took, the callbacks their processing."""
    from lightway.application.momo import flows
    from tests.momo_flow_support import momo_customer, run_momo_jobs

    uid = momo_customer("an-momo", now, phone="+256772123401", wallet=1_000)
    flows.deposit_start(
        customer_id=uid,
        currency="UGX",
        amount_minor=25_000,
        msisdn="256772123409",
        idempotency_key="an-dep-1",
        now=now,
    )
    run_momo_jobs(now)
    momo.deliver_callbacks(client, wait_for=1)
    run_momo_jobs(now)
    analytics_rollup(now=now + timedelta(minutes=1))

    assert _rows("all", kind="deposit") == [("deposit", "UG", "UGX", "", "succeeded", 1, 25_000)]
    provider = dict(
        ProviderRollup.objects.filter(grain="all", operation="requesttopay").values_list(
            "outcome", "count"
        )
    )
    assert provider == {"created": 1, "successful": 1}
    assert ProviderRollup.objects.filter(grain="all", operation="callback").exists()
    assert LatencyRollup.objects.filter(
        grain="all", source="momo_outcome", operation="requesttopay"
    ).exists()
    figures = provider_figures(
        window=window_of(now=now + timedelta(minutes=1), span=timedelta(hours=2))
    )
    (op,) = figures.operations
    assert (op.operation, op.created, op.successful, op.failed, op.success_rate) == (
        "requesttopay",
        1,
        1,
        0,
        "100.0%",
    )
    # The MoMo client's HTTP calls were timed too (flushed by the run above).
    calls = set(
        LatencyRollup.objects.filter(grain="all", source="momo_call").values_list(
            "operation", flat=True
        )
    )
    assert "collection.requesttopay" in calls


def _momo_request_row(now, *, status: str, reason: str = "", completed_s: float = 4.0):
    from lightway.data.momo.models import MomoRequest
    from lightway.security.crypto import encrypt, pii_token

    return MomoRequest.objects.create(
        reference_id=uuid.uuid4(),
        product="disbursement",
        operation="transfer",
        external_id=f"ext-{uuid.uuid4().hex[:8]}",
        target_environment="mtnuganda",
        base_url="http://127.0.0.1:9",
        currency="UGX",
        amount=10_000,
        party_ct=encrypt("256772123401", context="momo.party"),
        party_token=pii_token("msisdn", "256772123401"),
        status=status,
        reason_code=reason,
        deadline_at=now + timedelta(minutes=15),
        created_at=now,
        accepted_at=now + timedelta(seconds=1),
        completed_at=now + timedelta(seconds=completed_s) if status != "accepted" else None,
        updated_at=now,
    )


def test_failures_are_counted_per_operation_and_reason_with_an_error_rate(now):
    for _ in range(3):
        _momo_request_row(now, status="successful")
    _momo_request_row(now, status="failed", reason="NOT_ENOUGH_FUNDS")
    _momo_request_row(now, status="failed", reason="PAYEE_NOT_FOUND")
    _momo_request_row(now, status="accepted")
    analytics_rollup(now=now + timedelta(minutes=1))
    figures = provider_figures(window=window_of(now=now, span=timedelta(hours=24)))
    (op,) = figures.operations
    assert (op.created, op.successful, op.failed, op.error_rate) == (6, 3, 2, "40.0%")
    assert [(r.reason, r.count, r.share) for r in figures.reasons] == [
        ("NOT_ENOUGH_FUNDS", 1, "20.0%"),
        ("PAYEE_NOT_FOUND", 1, "20.0%"),
    ]


# --- incremental ----------------------------------------------------------------------------------


def _failed_transfer(client_id: int, at: datetime) -> Transfer:
    return Transfer.objects.create(
        kind="p2p",
        status="failed",
        failure_code="test",
        client_id=client_id,
        idempotency_key=str(uuid.uuid4()),
        request_hash="x",
        currency="UGX",
        amount=100,
        created_at=at,
        updated_at=at,
    )


_TAKE_SQL = (
    "DELETE FROM analytics_outbox WHERE id IN (SELECT id FROM analytics_outbox ORDER BY id"
    " LIMIT 5000 FOR UPDATE SKIP LOCKED) RETURNING id"
)


def test_a_run_reads_only_the_new_facts_never_the_history(now):
    """The cost of a run does not grow with history: after 300 transfers were counted, a run
    with 3 new ones reads 3 outbox rows and never the transfer or MoMo tables."""
    payer, _ = customer("an-history", now)
    for i in range(300):
        _failed_transfer(payer, now - timedelta(minutes=i % 50))
    analytics_rollup(now=now)
    for _ in range(3):
        _failed_transfer(payer, now)
    with transaction.atomic():
        rows = plan_rows(_TAKE_SQL)
        transaction.set_rollback(True)
    # The 3 new rows, seen by each of the plan's three nodes (scan, lock, delete): not the
    # 300 counted before (their rows are gone from the outbox).
    assert rows["analytics_outbox"] <= 3 * 3
    with CaptureQueriesContext(connection) as captured:
        assert analytics_rollup(now=now).events == 3
    sql = " ".join(q["sql"] for q in captured.captured_queries)
    for table in ("wallets_transfer", "momo_request", "momo_callback", "ledger_posting"):
        assert f"{table}" not in sql, table
    assert TransferRollup.objects.get(grain="all").count == 303


@pytest.mark.django_db(transaction=True)
def test_a_fact_that_commits_after_a_later_one_is_still_counted(now, owner_params):
    """A transaction that took its outbox id first but commits last (a slow payment) is
    invisible to the run in between; it is counted by the next run, exactly once."""
    payer, _ = customer("an-late", now)
    late_started = threading.Event()
    commit_now = threading.Event()

    def slow_payment() -> None:
        with psycopg.connect(**params) as conn:
            conn.execute(
                "INSERT INTO analytics_outbox (source, ref, kind, product, currency, amount,"
                " fee, client_id, outcome, reason, at) VALUES ('transfer', 'late', 'p2p', '',"
                " 'UGX', 700, 0, %s, 'succeeded', '', %s)",
                [payer, now],
            )
            late_started.set()
            commit_now.wait(10)
            conn.commit()

    params = owner_params
    worker = threading.Thread(target=slow_payment)
    worker.start()
    assert late_started.wait(10)
    _failed_transfer(payer, now)  # a later id, committed first
    first = analytics_rollup(now=now)
    assert first.events == 1
    commit_now.set()
    worker.join(10)
    assert analytics_rollup(now=now).events == 1
    assert analytics_rollup(now=now).events == 0
    counted = dict(TransferRollup.objects.filter(grain="all").values_list("outcome", "count"))
    assert counted == {"failed": 1, "succeeded": 1}


def test_old_minutes_are_pruned_hours_and_days_kept(now, settings):
    settings.LIGHTWAY_ANALYTICS_MINUTE_RETENTION_HOURS = 48
    payer, _ = customer("an-prune", now)
    _failed_transfer(payer, now - timedelta(hours=50))
    _failed_transfer(payer, now - timedelta(hours=1))
    analytics_rollup(now=now)
    minutes = TransferRollup.objects.filter(grain="minute").values_list("bucket_start", flat=True)
    assert list(minutes) == [now - timedelta(hours=1)]
    assert TransferRollup.objects.filter(grain="hour").count() == 2
    assert TransferRollup.objects.get(grain="all").count == 2


# --- latency -----------------------------------------------------------------------------------


def test_percentiles_are_estimated_from_the_bucket_counts_like_prometheus():
    bounds = (100, 200, 500)
    # 10 samples in (0, 100], 80 in (100, 200], 10 in (200, 500].
    buckets = [(100, 10), (200, 80), (500, 10)]
    assert histogram_quantile(0.5, buckets, bounds=bounds) == pytest.approx(150.0)
    assert histogram_quantile(0.95, buckets, bounds=bounds) == pytest.approx(350.0)
    assert histogram_quantile(0.05, buckets, bounds=bounds) == pytest.approx(50.0)
    # An empty bucket still gives the next one its lower edge.
    assert histogram_quantile(0.5, [(500, 4)], bounds=bounds) == pytest.approx(350.0)
    # Beyond the last bound: the highest bound is the most the buckets can tell.
    assert histogram_quantile(0.99, [(100, 1), (INF_MS, 99)], bounds=bounds) == 500.0
    assert histogram_quantile(0.5, [], bounds=bounds) is None


def test_latency_samples_are_flushed_into_histograms_and_give_percentiles(now):
    samples.latency_discard()
    at = now + timedelta(seconds=20)
    for ms in [3.0] * 50 + [40.0] * 45 + [800.0] * 5:
        samples.latency_record(
            source="api", operation="GET probe", result="2xx", at=at, elapsed_ms=ms
        )
    assert samples.latency_flush() == 100
    rows = dict(
        LatencyRollup.objects.filter(grain="minute", bucket_start=now).values_list("le_ms", "count")
    )
    assert rows == {5: 50, 50: 45, 1000: 5}
    (everything, probe) = latency_figures(
        window=window_of(now=now, span=timedelta(hours=1)), source="api"
    )
    assert everything.operation == "all" and probe.operation == "GET probe"
    assert probe.count == 100
    assert probe.p50_ms == pytest.approx(5.0)  # the 50th sample is the top of (0, 5]
    assert probe.p95_ms == pytest.approx(50.0)
    assert probe.p99_ms == pytest.approx(500 + 500 * 4 / 5)  # 4th of 5 in (500, 1000]
    assert probe.mean_ms == pytest.approx((150 + 1800 + 4000) / 100)
    assert BOUNDS_MS["api"][0] == 5  # the Prometheus histogram's first bound, in ms


def test_each_request_is_timed_for_the_rollups(client, now):
    samples.latency_discard()
    assert client.get("/healthz").status_code == 200
    assert samples.latency_pending() == 1
    samples.latency_flush()
    row = LatencyRollup.objects.get(grain="all", source="api")
    assert (row.operation, row.result, row.count) == ("GET healthz", "2xx", 1)


def test_a_flush_never_runs_inside_a_transaction(now, settings):
    """The request path and MoMo calls must not write rollup rows inside a payment's
    transaction (the rows would stay locked until it commits)."""
    settings.LIGHTWAY_ANALYTICS_FLUSH_SECONDS = 0
    samples.latency_discard()
    with transaction.atomic():
        samples.latency_record(source="api", operation="GET x", result="2xx", at=now, elapsed_ms=1)
        assert samples.latency_pending() == 1  # kept in memory: this is a transaction
    samples.latency_discard()


# --- Prometheus --------------------------------------------------------------------------------


def test_metrics_expose_the_same_totals(client, settings, now):
    settings.LIGHTWAY_METRICS_TOKEN = "t-analytics"
    alice, _ = customer("an-prom", now, country="UG")
    bob, _ = customer("an-prom-b", now, country="UG")
    a = funded_wallet(alice, "UGX", 100_000, now)
    b = funded_wallet(bob, "UGX", 0, now)
    _p2p(alice, a, b, 1_500, now, "an-prom-1")
    _p2p(alice, a, b, 2_500, now, "an-prom-2")
    _momo_request_row(now, status="failed", reason="NOT_ENOUGH_FUNDS", completed_s=7)
    analytics_rollup(now=now)
    client.get("/healthz")  # one request timed by this process's histogram
    body = client.get("/metrics", HTTP_AUTHORIZATION="Bearer t-analytics").content.decode()
    labels = 'currency="UGX",kind="p2p",market="UG",outcome="succeeded",partner=""'
    assert f"lightway_transactions_total{{{labels}}} 2.0" in body
    assert f"lightway_transactions_value_minor_total{{{labels}}} 4000.0" in body
    assert re.search(
        r'lightway_provider_operations_total\{operation="transfer",outcome="failed",'
        r'product="disbursement",reason="NOT_ENOUGH_FUNDS"\} 1.0',
        body,
    )
    # 7 s from creation to outcome: in the (5, 10] s bucket of the outcome histogram.
    assert (
        'lightway_momo_outcome_seconds_bucket{le="5.0",operation="transfer",result="failed"} 0.0'
        in body
    )
    assert (
        'lightway_momo_outcome_seconds_bucket{le="10.0",operation="transfer",result="failed"} 1.0'
        in body
    )
    assert "lightway_analytics_backlog_seconds 0.0" in body
    assert "lightway_jobs_oldest_waiting_seconds" in body  # queue lag gauge
    assert "lightway_http_request_duration_seconds_bucket" in body  # latency histogram


def test_the_job_queue_is_sampled_with_its_depth_and_lag(now):
    from lightway.application.analytics.figures import queue_figures
    from lightway.infrastructure.jobs import job_enqueue

    with transaction.atomic():
        job_enqueue("momo_poll", request_id=1)
        job_enqueue("momo_poll", request_id=2)
    analytics_rollup(now=datetime.now(UTC))
    queue = queue_figures(now=datetime.now(UTC))
    assert queue.todo is not None and queue.todo >= 2
    assert queue.lag_ms is not None and queue.lag_ms >= 0


@pytest.mark.django_db(transaction=True)
def test_payments_recording_their_facts_never_wait_for_each_other(now, owner_params):
    """The only write the analytics add to a payment's transaction is one outbox insert:
    no shared row, so a second payment never waits for a first one still open (it would
    hit its lock timeout if it did). The rollup rows are written by the job alone."""
    payer, _ = customer("an-parallel", now)
    params = owner_params
    insert = (
        "INSERT INTO wallets_transfer (id, kind, status, client_id, idempotency_key,"
        " request_hash, currency, amount, fee, description, failure_code, failure_message,"
        " created_at, updated_at) VALUES (gen_random_uuid(), 'p2p', 'failed', %s, %s, 'x',"
        " 'UGX', 100, 0, '', 'test', '', %s, %s)"
    )
    with psycopg.connect(**params) as first, psycopg.connect(**params) as second:
        first.execute(insert, [payer, "parallel-1", now, now])  # open, not committed
        second.execute("SET lock_timeout = '500ms'")
        second.execute(insert, [payer, "parallel-2", now, now])
        second.commit()
        assert analytics_rollup(now=now).events == 1  # the committed one; the other waits
        first.commit()
    assert analytics_rollup(now=now).events == 1
    assert TransferRollup.objects.get(grain="all").count == 2
