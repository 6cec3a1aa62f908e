"""MoMo float monitoring against the real simulator over HTTP: balances read per market and
product, readings stored (failed reads too), one alert per fall below a threshold delivered
by email through the notify simulator, no repeat while low, a notice on recovery, the
threshold input rules, the periodic task and the demo thresholds."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from lightway.application.demo import DEMO_FLOAT_THRESHOLDS
from lightway.application.errors import ValidationFailed
from lightway.application.momo.floats import (
    float_accounts,
    float_check,
    float_markets,
    float_threshold_set,
    float_thresholds_seed,
    threshold_parse,
)
from lightway.application.staff.accounts import staff_create
from lightway.data.audit.models import AuditRecord
from lightway.data.momo.models import FloatReading, FloatThreshold
from lightway.data.notify.models import Delivery
from lightway.security.policy import Role

pytestmark = pytest.mark.django_db

FINANCE_EMAIL = "fin.lead@lightway.example"
OPS_EMAIL = "ops.lead@lightway.example"
TWO_MARKETS = "UGX:mtnuganda,GHS:mtnghana"


def _low_total(product: str) -> float:
    return REGISTRY.get_sample_value("lightway_momo_float_low_total", {"product": product}) or 0.0


@pytest.fixture
def finance(now):
    """A finance staff member with an email (receives float alerts), and an operations one
    (may see the float, may not set thresholds: no alerts)."""
    uid = staff_create(
        username="fin.lead",
        realm="lightway",
        roles=[Role.LW_FINANCE],
        actor="system:test",
        now=now,
        email=FINANCE_EMAIL,
    )
    staff_create(
        username="ops.lead",
        realm="lightway",
        roles=[Role.LW_OPERATIONS],
        actor="system:test",
        now=now,
        email=OPS_EMAIL,
    )
    return uid


@pytest.fixture
def two_markets(settings, momo):
    settings.MOMO_ENVIRONMENTS = TWO_MARKETS
    settings.LIGHTWAY_MOMO_ALERT_EMAIL = ""
    return momo


def _check(now, capture):
    with capture(execute=True):
        return float_check(now=now)


def test_every_market_and_product_is_read_and_stored_in_minor_units(two_markets, now):
    two_markets.sim.set_balance("disbursement", "mtnuganda", "2500000")
    two_markets.sim.set_balance("remittance", "mtnghana", "1234.56")
    two_markets.sim.set_balance("collection", "mtnghana", "0.07")

    results = float_check(now=now)

    got = {(r.environment, r.product): (r.currency, r.available_minor, r.error) for r in results}
    assert got == {
        ("mtnuganda", "collection"): ("UGX", 0, ""),
        ("mtnuganda", "disbursement"): ("UGX", 2_500_000, ""),
        ("mtnuganda", "remittance"): ("UGX", 100_000_000, ""),
        ("mtnghana", "collection"): ("GHS", 7, ""),
        ("mtnghana", "disbursement"): ("GHS", 10_000_000_000, ""),
        ("mtnghana", "remittance"): ("GHS", 123_456, ""),
    }
    stored = {
        (r.target_environment, r.product): (r.currency, r.available_minor, r.error, r.read_at)
        for r in FloatReading.objects.all()
    }
    assert stored == {k: (*v, now) for k, v in got.items()}
    # No threshold anywhere yet: nothing is "low" and nothing is sent.
    assert {r.state for r in results} == {"unmonitored"}
    assert not Delivery.objects.exists()


def test_a_fall_below_the_threshold_alerts_once_and_recovery_sends_a_notice(
    two_markets, finance, outbox, now, django_capture_on_commit_callbacks
):
    sim = two_markets.sim
    float_threshold_set(
        product="disbursement",
        environment="mtnuganda",
        amount="5,000,000",
        actor="staff:1",
        now=now,
    )
    sim.set_balance("disbursement", "mtnuganda", "6000000")
    before = _low_total("disbursement")

    first = _check(now, django_capture_on_commit_callbacks)
    ug = next(r for r in first if (r.environment, r.product) == ("mtnuganda", "disbursement"))
    assert (ug.state, ug.alert) == ("ok", "")  # unknown -> ok: nothing to say
    assert outbox.emails_to(FINANCE_EMAIL) == []

    # Payouts drain the float below the threshold: one alert, counted once.
    sim.set_balance("disbursement", "mtnuganda", "1200000")
    later = now + timedelta(minutes=5)
    second = _check(later, django_capture_on_commit_callbacks)
    ug = next(r for r in second if (r.environment, r.product) == ("mtnuganda", "disbursement"))
    assert (ug.state, ug.alert, ug.available_minor) == ("low", "low", 1_200_000)
    emails = outbox.emails_to(FINANCE_EMAIL)
    assert len(emails) == 1
    assert "Disbursement float low in mtnuganda" in emails[0].subject
    assert "UGX 1,200,000" in emails[0].text and "UGX 5,000,000" in emails[0].text
    assert "/staff/momo/float/" in emails[0].text
    assert outbox.emails_to(OPS_EMAIL) == []  # operations may not set thresholds
    assert _low_total("disbursement") == before + 1
    threshold = FloatThreshold.objects.get(product="disbursement", target_environment="mtnuganda")
    assert (threshold.alert_state, threshold.alerted_at) == ("low", later)

    # Still low (even lower) on the next checks: no second alert, no second count.
    sim.set_balance("disbursement", "mtnuganda", "300000")
    for minutes in (10, 15):
        again = _check(now + timedelta(minutes=minutes), django_capture_on_commit_callbacks)
        ug = next(r for r in again if (r.environment, r.product) == ("mtnuganda", "disbursement"))
        assert (ug.state, ug.alert) == ("low", "")
    assert len(outbox.emails_to(FINANCE_EMAIL)) == 1
    assert _low_total("disbursement") == before + 1

    # Topped up: back to ok with one recovery notice.
    sim.set_balance("disbursement", "mtnuganda", "9000000")
    recovered = _check(now + timedelta(minutes=20), django_capture_on_commit_callbacks)
    ug = next(r for r in recovered if (r.environment, r.product) == ("mtnuganda", "disbursement"))
    assert (ug.state, ug.alert) == ("ok", "recovered")
    emails = outbox.emails_to(FINANCE_EMAIL)
    assert len(emails) == 2 and "recovered" in emails[0].subject
    assert "UGX 9,000,000" in emails[0].text
    _check(now + timedelta(minutes=25), django_capture_on_commit_callbacks)
    assert len(outbox.emails_to(FINANCE_EMAIL)) == 2

    # A new fall is a new episode: alerted and counted again.
    sim.set_balance("disbursement", "mtnuganda", "10")
    _check(now + timedelta(minutes=30), django_capture_on_commit_callbacks)
    assert len(outbox.emails_to(FINANCE_EMAIL)) == 3
    assert _low_total("disbursement") == before + 2
    # The other accounts have no threshold: never alerted.
    assert Delivery.objects.filter(template="momo_float_low").count() == 2


def test_exactly_at_the_threshold_is_not_low(two_markets, finance, now):
    float_threshold_set(
        product="remittance", environment="mtnghana", amount="2500.50", actor="t", now=now
    )
    two_markets.sim.set_balance("remittance", "mtnghana", "2500.50")
    gh = next(r for r in float_check(now=now) if r.key == ("mtnghana", "remittance"))
    assert (gh.state, gh.available_minor) == ("ok", 250_050)
    two_markets.sim.set_balance("remittance", "mtnghana", "2500.49")
    gh = next(r for r in float_check(now=now) if r.key == ("mtnghana", "remittance"))
    assert (gh.state, gh.alert) == ("low", "low")


def test_the_configured_alert_address_replaces_the_staff_list(
    two_markets, finance, outbox, settings, now
):
    settings.LIGHTWAY_MOMO_ALERT_EMAIL = "treasury@lightway.example, noc@lightway.example"
    float_threshold_set(
        product="remittance", environment="mtnghana", amount="1000", actor="t", now=now
    )
    two_markets.sim.set_balance("remittance", "mtnghana", "999.99")
    float_check(now=now)
    for address in ("treasury@lightway.example", "noc@lightway.example"):
        emails = outbox.emails_to(address)
        assert len(emails) == 1 and "GHS 999.99" in emails[0].text
    assert outbox.emails_to(FINANCE_EMAIL) == []


def test_a_failing_market_is_stored_as_an_error_and_the_others_are_read(
    two_markets, finance, outbox, now
):
    sim = two_markets.sim
    float_threshold_set(
        product="collection", environment="mtnuganda", amount="1", actor="t", now=now
    )
    sim.set_balance("collection", "mtnuganda", "0")  # would be low, if it could be read
    sim.configure(error_burst=1)  # the next call MoMo answers with a 5xx

    results = float_check(now=now)

    assert len(results) == 6
    failed = [r for r in results if r.state == "error"]
    assert [(r.environment, r.product) for r in failed] == [("mtnuganda", "collection")]
    assert failed[0].available_minor is None and failed[0].error
    stored = FloatReading.objects.get(target_environment="mtnuganda", product="collection")
    assert stored.available_minor is None and stored.error == failed[0].error
    assert re.search(r"\b50[03]\b", stored.error), stored.error  # what MoMo answered
    assert all(r.available_minor is not None for r in results if r.state != "error")
    # An unreadable balance moves no state and sends nothing.
    threshold = FloatThreshold.objects.get(product="collection", target_environment="mtnuganda")
    assert threshold.alert_state == "unknown"
    assert outbox.emails_to(FINANCE_EMAIL) == []

    # Next time it reads: now it is low, alerted.
    results = float_check(now=now + timedelta(minutes=5))
    ug = next(r for r in results if r.key == ("mtnuganda", "collection"))
    assert (ug.state, ug.alert) == ("low", "low")
    assert len(outbox.emails_to(FINANCE_EMAIL)) == 1


def test_a_market_momo_refuses_fails_alone(momo, settings, now):
    # The simulator, like MTN, refuses an X-Target-Environment it does not serve.
    settings.MOMO_ENVIRONMENTS = "NGN:mtnnigeria,UGX:mtnuganda"
    results = float_check(now=now)
    by_env: dict[str, set[str]] = {}
    for r in results:
        by_env.setdefault(r.environment, set()).add(r.state)
    assert by_env == {"mtnnigeria": {"error"}, "mtnuganda": {"unmonitored"}}
    errors = {r.error for r in results if r.environment == "mtnnigeria"}
    assert all("NOT_ALLOWED_TARGET_ENVIRONMENT" in e for e in errors), errors
    assert FloatReading.objects.filter(available_minor__isnull=True).count() == 3
    assert FloatReading.objects.filter(available_minor__isnull=False).count() == 3


def test_a_slow_market_times_out_and_is_stored_as_an_error(two_markets, settings, now):
    settings.MOMO_TIMEOUT_SECONDS = 0.3
    two_markets.clear_gateway_cache()
    float_check(now=now)  # tokens fetched and cached while MoMo is fast
    two_markets.sim.configure(slow_seconds=1.0)
    results = float_check(now=now + timedelta(minutes=5))
    assert {r.state for r in results} == {"error"}
    assert all("timeout" in r.error.lower() for r in results), [r.error for r in results]


def test_nothing_is_read_when_momo_is_not_configured(settings, now):
    settings.MOMO_BASE_URL = ""
    assert float_check(now=now) == []
    assert not FloatReading.objects.exists()


# --- thresholds ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code", "minor"),
    [
        ("1,500,000", "UGX", 1_500_000),
        (" 1 500 000 ", "UGX", 1_500_000),
        ("UGX 250000", "UGX", 250_000),
        ("2500.5", "GHS", 250_050),
        ("2500.50", "GHS", 250_050),
        ("0", "XAF", 0),
        ("12.00", "UGX", 12),  # trailing zeros are not a fraction
    ],
)
def test_thresholds_are_typed_in_major_units(raw, code, minor):
    assert threshold_parse(raw, code) == minor


@pytest.mark.parametrize(
    ("raw", "code", "message"),
    [
        ("", "UGX", "Enter an amount"),
        ("abc", "UGX", "Enter a number in UGX"),
        ("12.5", "UGX", "UGX has no decimal places"),
        ("1.234", "GHS", "GHS has at most 2 decimal places"),
        ("-5", "GHS", "cannot be negative"),
        ("NaN", "GHS", "Enter a number"),
        ("Infinity", "UGX", "Enter a number"),
        ("1e30", "UGX", "too large"),
        ("99999999999999999999", "UGX", "too large"),
    ],
)
def test_bad_threshold_input_is_refused_with_a_clear_message(raw, code, message):
    with pytest.raises(ValidationFailed) as caught:
        threshold_parse(raw, code)
    assert message in caught.value.message
    assert caught.value.details == {"field": "amount"}


def test_setting_a_threshold_is_audited_and_validated(settings, now):
    settings.MOMO_ENVIRONMENTS = TWO_MARKETS
    change = float_threshold_set(
        product="disbursement", environment="mtnghana", amount="750.25", actor="staff:7", now=now
    )
    assert (change.currency, change.old_minor, change.new_minor) == ("GHS", None, 75_025)
    again = float_threshold_set(
        product="disbursement", environment="mtnghana", amount="750.25", actor="staff:7", now=now
    )
    assert not again.changed
    float_threshold_set(
        product="disbursement", environment="mtnghana", amount="900", actor="staff:8", now=now
    )
    records = list(AuditRecord.objects.filter(action="momo_float.threshold_set").order_by("id"))
    assert [(r.actor, r.data["old_minor"], r.data["new_minor"]) for r in records] == [
        ("staff:7", None, 75_025),
        ("staff:8", 75_025, 90_000),
    ]
    row = FloatThreshold.objects.get(product="disbursement", target_environment="mtnghana")
    assert (row.currency, row.low_minor) == ("GHS", 90_000)

    with pytest.raises(ValidationFailed) as caught:
        float_threshold_set(
            product="disbursement", environment="mtnzambia", amount="1", actor="t", now=now
        )
    assert caught.value.details == {"field": "environment"}  # not configured here
    with pytest.raises(ValidationFailed) as caught:
        float_threshold_set(
            product="savings", environment="mtnghana", amount="1", actor="t", now=now
        )
    assert caught.value.details == {"field": "product"}


def test_the_float_page_data_has_every_account_its_latest_reading_and_series(two_markets, now):
    sim = two_markets.sim
    float_threshold_set(
        product="disbursement", environment="mtnuganda", amount="5000000", actor="t", now=now
    )
    for minutes, balance in ((0, "9000000"), (5, "7000000"), (10, "4000000")):
        sim.set_balance("disbursement", "mtnuganda", balance)
        float_check(now=now + timedelta(minutes=minutes))
    accounts = {a.key: a for a in float_accounts(now=now + timedelta(minutes=11))}
    assert list(accounts) == [
        "mtnuganda:collection",
        "mtnuganda:disbursement",
        "mtnuganda:remittance",
        "mtnghana:collection",
        "mtnghana:disbursement",
        "mtnghana:remittance",
    ]
    ug = accounts["mtnuganda:disbursement"]
    assert [p.available_minor for p in ug.points] == [9_000_000, 7_000_000, 4_000_000]
    assert (ug.latest, ug.threshold, ug.state, ug.payout) == (
        "UGX 4,000,000",
        "UGX 5,000,000",
        "low",
        True,
    )
    assert accounts["mtnghana:collection"].state == "unmonitored"


def test_accounts_read_only_before_the_window_cost_the_same_few_queries(
    two_markets, now, django_assert_max_num_queries
):
    """Accounts with no reading in the chart's window take their latest (and latest good)
    reading from two batched queries, not two queries each (36 on a page of six markets)."""
    sim = two_markets.sim
    sim.set_balance("disbursement", "mtnuganda", "9000000")
    float_check(now=now)
    FloatReading.objects.create(
        product="collection",
        target_environment="mtnghana",
        currency="GHS",
        available_minor=None,
        error="timeout",
        read_at=now + timedelta(minutes=1),
    )
    later = now + timedelta(days=3)  # every reading is older than the 24 h window
    with django_assert_max_num_queries(4):
        accounts = {a.key: a for a in float_accounts(now=later)}
    ug = accounts["mtnuganda:disbursement"]
    assert (ug.latest_minor, ug.last_good_minor, ug.points) == (9_000_000, 9_000_000, ())
    gh = accounts["mtnghana:collection"]
    assert gh.latest_minor is None and gh.latest_error == "timeout"
    assert gh.last_good_minor is not None and gh.last_good_at == now
    # a reading after the moment asked about is not "latest" at that moment
    assert float_accounts(now=now - timedelta(seconds=1))[0].latest_at is None


# --- the periodic task and the demo ------------------------------------------------------------


def test_the_periodic_task_runs_every_five_minutes_with_a_queueing_lock():
    from procrastinate.contrib.django import app

    from lightway.interfaces import tasks

    task = app.tasks["momo_float_check"]
    assert task.queueing_lock == "momo_float_check"
    assert task.queue == tasks.PERIODIC_QUEUE
    periodic = [p for p in app.periodic_registry.periodic_tasks.values() if p.task is task]
    assert [p.cron for p in periodic] == ["*/5 * * * *"]


def test_the_task_reads_the_floats(two_markets, now):
    from lightway.interfaces.tasks import momo_float_check

    assert momo_float_check(timestamp=0) == 6
    assert FloatReading.objects.count() == 6


def test_the_demo_thresholds_make_exactly_one_market_low_on_the_simulator(momo, settings, now):
    settings.MOMO_ENVIRONMENTS = (
        "UGX:mtnuganda,GHS:mtnghana,XAF:mtncameroon,RWF:mtnrwanda,ZMW:mtnzambia,"
        "XOF:mtnivorycoast,EUR:sandbox"
    )
    assert len(float_markets()) == 7
    created = float_thresholds_seed(values=DEMO_FLOAT_THRESHOLDS, now=now)
    assert created == len(DEMO_FLOAT_THRESHOLDS)
    assert float_thresholds_seed(values=DEMO_FLOAT_THRESHOLDS, now=now) == 0  # idempotent
    results = float_check(now=now)  # the simulator's opening balances
    low = [(r.environment, r.product) for r in results if r.state == "low"]
    assert low == [("mtnuganda", "disbursement")]
    assert {r.state for r in results if r.product != "collection"} == {"ok", "low"}
    assert {r.state for r in results if r.product == "collection"} == {"unmonitored"}


@pytest.mark.django_db(transaction=True)
def test_two_checks_at_once_alert_once(momo, settings, now):
    """Both checks read a low balance; the threshold row lock makes them decide one after
    the other, so only the first alerts. The main thread holds the lock until both wait."""
    import threading

    from django.db import connection, connections, transaction

    settings.MOMO_ENVIRONMENTS = "UGX:mtnuganda"
    settings.LIGHTWAY_MOMO_ALERT_EMAIL = "treasury@lightway.example"
    float_threshold_set(
        product="disbursement", environment="mtnuganda", amount="5000000", actor="t", now=now
    )
    momo.sim.set_balance("disbursement", "mtnuganda", "10")
    results: list[list] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(float_check(now=now))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    with transaction.atomic():
        FloatThreshold.objects.select_for_update().get(product="disbursement")
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 15
        while True:
            with connection.cursor() as cursor:
                # Statistics are a snapshot per transaction: take a fresh one each time.
                cursor.execute("SELECT pg_stat_clear_snapshot()")
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                waiting = cursor.fetchone()[0]
            if waiting >= 2:
                break
            assert time.monotonic() < deadline, "the checks never reached the threshold lock"
            time.sleep(0.05)
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    alerts = sorted(
        r.alert for run_results in results for r in run_results if r.product == "disbursement"
    )
    assert alerts == ["", "low"]
    assert Delivery.objects.filter(template="momo_float_low").count() == 1
    assert FloatReading.objects.filter(product="disbursement").count() == 2
