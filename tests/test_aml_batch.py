"""The batch AML rules: each positive and negative, on real payments; windows aligned so a
re-run adds nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from lightway.application.aml.batch import aml_run, windows
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.data.aml.models import Alert, Case
from tests.aml_support import rule
from tests.factories import customer, funded_wallet

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(now):
    """Six customers in Uganda with UGX wallets of 5,000,000 each, opened long ago."""
    opened = now - timedelta(days=400)
    out = []
    for name in ("ann", "ben", "cat", "dan", "eve", "fay"):
        user_id, _ = customer(name, opened)
        out.append((user_id, funded_wallet(user_id, "UGX", 5_000_000, opened)))
    return out


def pay(src, dst, amount, at):
    outcome = transfer_create(
        client_id=src[0],
        idempotency_key=str(uuid.uuid4()),
        request=TransferRequest(src[1].id, dst[1].id, amount, "UGX", ""),
        now=at,
    )
    assert outcome.transfer.status == "succeeded", outcome.transfer.failure_code
    return outcome.transfer


def run(now):
    return aml_run(start=now - timedelta(days=1), end=now + timedelta(days=1), now=now)


def alerts(code):
    return list(Alert.objects.filter(rule_code=code).order_by("id"))


def test_windows_are_aligned_whatever_period_is_asked(now):
    a = list(windows(now, now + timedelta(hours=30), 24))
    b = list(windows(now - timedelta(hours=3), now + timedelta(hours=1), 24))
    assert a[0] == b[0] and a[0][0].hour == 0


def test_structuring_just_below_the_threshold(people, now):
    ann, ben = people[0], people[1]
    rule(
        "STRUCT",
        "structuring",
        {"countries": {"UG": {"threshold": 1_000_000}}, "band_percent": 10, "min_count": 3},
        now,
    )
    for minutes in (0, 10, 20):
        pay(ann, ben, 950_000, now + timedelta(minutes=minutes))
    pay(ben, ann, 950_000, now + timedelta(minutes=30))  # ben: once only
    pay(ben, ann, 500_000, now + timedelta(minutes=31))  # far below
    pay(ben, ann, 1_000_000, now + timedelta(minutes=32))  # at the threshold
    result = run(now)
    [alert] = alerts("STRUCT")
    assert alert.subject_user_id == ann[0] and alert.evidence["count"] == 3
    assert len(alert.transfer_ids) == 3 and result.alerts == 1
    # re-running the same period (or an overlapping one) adds nothing
    assert run(now).alerts == 0
    assert aml_run(start=now, end=now + timedelta(hours=2), now=now).alerts == 0
    assert Alert.objects.count() == 1 and Case.objects.count() == 1


def test_velocity_by_count_and_by_value(people, now):
    ann, ben, cat = people[0], people[1], people[2]
    rule(
        "VELO",
        "velocity",
        {"countries": {"UG": {"max_value": 2_000_000}}, "max_count": 4},
        now,
    )
    for i in range(5):
        pay(ann, ben, 1000, now + timedelta(minutes=i))  # 5 > 4 by count
    pay(cat, ben, 1_500_000, now)
    pay(cat, ben, 600_000, now + timedelta(minutes=1))  # 2.1M > 2M by value
    for i in range(4):
        pay(ben, ann, 1000, now + timedelta(minutes=i))  # 4: not more than 4
    run(now)
    found = {a.subject_user_id: a for a in alerts("VELO")}
    assert set(found) == {ann[0], cat[0]}
    assert found[ann[0]].evidence["count"] == 5
    assert found[cat[0]].evidence["over_value"] == {"UGX": 2_100_000}


def test_fan_in_and_fan_out(people, now):
    hub = people[0]
    rule("FANIN", "fan_in", {"min_counterparties": 4}, now)
    rule("FANOUT", "fan_out", {"min_counterparties": 5}, now)
    for other in people[1:5]:
        pay(other, hub, 1000, now)  # 4 distinct payers into hub
    for other in people[1:5]:
        pay(hub, other, 1000, now + timedelta(minutes=5))  # only 4 payees: below 5
    pay(people[1], hub, 1000, now + timedelta(minutes=6))  # same payer again: still 4
    run(now)
    [alert] = alerts("FANIN")
    assert alert.subject_user_id == hub[0] and alert.evidence["counterparties"] == 4
    assert alerts("FANOUT") == []


def test_round_trip(people, now):
    ann, ben, cat, dan = people[:4]
    rule("ROUND", "round_trip", {"max_hops": 3, "window_hours": 24}, now)
    pay(ann, ben, 100_000, now)
    pay(ben, cat, 99_000, now + timedelta(minutes=5))
    pay(cat, ann, 98_000, now + timedelta(minutes=10))  # back to ann: 3 hops
    # dan -> ben after the loop closed, ben -> dan BEFORE dan paid: not a round trip
    pay(ben, dan, 5000, now + timedelta(minutes=1))
    pay(dan, ben, 5000, now + timedelta(minutes=20))
    run(now)
    subjects = {a.subject_user_id for a in alerts("ROUND")}
    assert ann[0] in subjects and dan[0] not in subjects
    loop = next(a for a in alerts("ROUND") if a.subject_user_id == ann[0])
    assert loop.evidence["hops"] == 3


def test_round_trip_longer_than_max_hops_is_not_flagged(people, now):
    ann, ben, cat, dan = people[:4]
    rule("ROUND", "round_trip", {"max_hops": 3, "window_hours": 24}, now)
    pay(ann, ben, 1000, now)
    pay(ben, cat, 1000, now + timedelta(minutes=1))
    pay(cat, dan, 1000, now + timedelta(minutes=2))
    pay(dan, ann, 1000, now + timedelta(minutes=3))  # 4 hops
    run(now)
    assert alerts("ROUND") == []


def test_dormant_account_sudden_activity(people, now):
    ann, ben, cat = people[:3]
    rule(
        "DORM",
        "dormant",
        {"countries": {"UG": {"min_value": 1_000_000}}, "dormant_days": 90},
        now,
    )
    pay(cat, ben, 1000, now - timedelta(days=10))  # cat and ben were active recently
    pay(ann, cat, 1_200_000, now)  # ann: dormant 400 days, moves 1.2M
    pay(cat, ben, 1_500_000, now + timedelta(minutes=1))  # not dormant
    run(now)
    subjects = {a.subject_user_id for a in alerts("DORM")}
    assert subjects == {ann[0]}


def test_a_disabled_or_future_rule_raises_nothing(people, now):
    ann, ben = people[:2]
    rule("FANOUT", "fan_out", {"min_counterparties": 2}, now, since=timedelta(days=-2))
    pay(ann, ben, 1000, now)
    pay(ann, people[2], 1000, now)
    run(now)
    assert alerts("FANOUT") == []


def test_round_trip_needs_each_hop_later_than_the_one_before(people, now):
    ann, ben = people[:2]
    rule("ROUND", "round_trip", {"max_hops": 3, "window_hours": 24}, now)
    pay(ann, ben, 1000, now)
    pay(ben, ann, 1000, now)  # the same instant: not "after"
    run(now)
    assert alerts("ROUND") == []
