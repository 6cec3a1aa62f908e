"""Commission engine: fee computation, splits, schedule selection, versioning and DB rules."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightway.application.errors import ValidationFailed
from lightway.application.transactions.commission import (
    FeeError,
    FeeQuote,
    FeeSplitQuote,
    commission_records_create,
    fee_compute,
    fee_quote,
    fee_schedule_supersede,
)
from lightway.application.transactions.commission_seed import fee_schedules_seed_defaults
from lightway.data.commission.models import CommissionRecord, FeeBand, FeeSchedule, FeeSplit
from lightway.data.commission.selectors import (
    fee_schedule_cache_clear,
    fee_schedule_for,
    fee_schedules_overlapping,
)
from lightway.data.money import Money
from tests.commission_support import (
    ADD_URL,
    DAY,
    HOUR,
    MINUTE,
    change_form,
    change_url,
    check_complete,
    committed_schedule,
    end_fields,
    ghs,
    ghs_schedule,
    make_entry,
    make_schedule,
    post_data,
    record_for,
    refused,
    ugx,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def live_now():
    """The real time (whole seconds), for rules judged against the database clock: a schedule
    is frozen once its period has started, and a period cannot be ended in the past."""
    return timezone.now().replace(microsecond=0)


def split_amounts(quote: FeeQuote) -> dict[str, int]:
    return {s.party_ref: s.amount for s in quote.splits}


# --- splits always add up (property) ------------------------------------------------------

weights = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal(1000), places=6)


class _Rollback(Exception):
    pass


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    fee=st.integers(min_value=0, max_value=10**13),
    parties=st.lists(
        st.sampled_from(["lightway", "mtn", "partner"]), min_size=1, max_size=3, unique=True
    ),
    ws=st.lists(weights, min_size=3, max_size=3),
)
def test_splits_always_sum_to_the_fee(now, fee, parties, ws):
    with contextlib.suppress(_Rollback), transaction.atomic():
        make_schedule(
            now, method="flat", flat=fee, splits=list(zip(parties, ws, strict=False)), check=False
        )
        quote = fee_quote(kind="p2p", amount=ugx(1), partner_ref="imto-1", now=now)
        assert quote.fee == ugx(fee)
        assert sum(s.amount for s in quote.splits) == fee
        assert all(s.amount > 0 for s in quote.splits)
        # each part is its exact proportional share, give or take less than one minor unit
        by_party = dict(zip(parties, ws, strict=False))
        total_weight = sum(by_party.values())
        for s in quote.splits:
            assert abs(Decimal(s.amount) - Decimal(fee) * by_party[s.party] / total_weight) < 1
        raise _Rollback


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    amount=st.integers(min_value=0, max_value=10**12),
    pct=st.decimals(min_value=0, max_value=1, places=6),
    min_fee=st.integers(min_value=0, max_value=10**6),
    spread=st.one_of(st.none(), st.integers(min_value=0, max_value=10**7)),
    rounding=st.sampled_from(["HALF_UP", "HALF_EVEN", "DOWN", "UP", "FLOOR", "CEILING"]),
    currency=st.sampled_from(["UGX", "GHS"]),
)
def test_percentage_fee_within_bounds_and_fully_split(
    now, amount, pct, min_fee, spread, rounding, currency
):
    max_fee = None if spread is None else min_fee + spread
    with contextlib.suppress(_Rollback), transaction.atomic():
        make_schedule(
            now,
            currency=currency,
            method="percentage",
            pct=pct,
            min_fee=min_fee,
            max_fee=max_fee,
            rounding=rounding,
            splits=[("lightway", 50), ("mtn", 30), ("partner", 20)],
            check=False,
        )
        quote = fee_quote(kind="p2p", amount=Money.of(amount, currency), partner_ref="p", now=now)
        exact = Decimal(amount) * pct
        assert quote.fee.amount >= min_fee
        if max_fee is not None:
            assert quote.fee.amount <= max_fee
        if quote.fee.amount not in (min_fee, max_fee):
            assert abs(quote.fee.amount - exact) < 1  # unclamped: the rounded percentage
        assert sum(s.amount for s in quote.splits) == quote.fee.amount
        raise _Rollback


# --- hand-computed fees ------------------------------------------------------------------


def test_flat_fee_ugx(now):
    make_schedule(now, method="flat", flat=150)
    for amount in (0, 1, 10_000, 5_000_000):
        quote = fee_quote(kind="p2p", amount=ugx(amount), now=now)
        assert quote.fee == ugx(150)
        assert split_amounts(quote) == {"lightway": 90, "mtn": 60}


def test_flat_fee_three_way_split_gives_the_odd_unit_to_lightway(now):
    make_schedule(
        now,
        kind="remittance",
        method="flat",
        flat=100,
        splits=[("partner", 1), ("mtn", 1), ("lightway", 1)],
    )
    quote = fee_quote(kind="remittance", amount=ugx(50_000), partner_ref="imto-acme", now=now)
    assert quote.splits == (
        FeeSplitQuote("lightway", "lightway", 34),
        FeeSplitQuote("mtn", "mtn", 33),
        FeeSplitQuote("partner", "imto-acme", 33),
    )


@pytest.mark.parametrize(
    ("amount", "fee", "lightway", "mtn"),
    [
        (10_000, 100, 60, 40),  # GHS 100.00 -> 1% = GHS 1.00
        (1_234, 50, 30, 20),  # GHS 12.34 -> 0.1234 -> 0.12, below the GHS 0.50 minimum
        (12_345, 123, 74, 49),  # GHS 123.45 -> 1.2345 -> 1.23; 73.8/49.2 -> 74/49
        (12_350, 124, 74, 50),  # GHS 123.50 -> 1.235 -> 1.24 (half up); 74.4/49.6 -> 74/50
        (500_000, 2_000, 1_200, 800),  # GHS 5,000.00 -> 50.00, capped at GHS 20.00
        (0, 50, 30, 20),
    ],
)
def test_percentage_fee_ghs_with_min_and_max(now, amount, fee, lightway, mtn):
    make_schedule(now, currency="GHS", method="percentage", pct="0.01", min_fee=50, max_fee=2_000)
    quote = fee_quote(kind="p2p", amount=ghs(amount), now=now)
    assert quote.fee == ghs(fee)
    assert split_amounts(quote) == {"lightway": lightway, "mtn": mtn}


def test_percentage_fee_ugx(now):
    make_schedule(now, method="percentage", pct="0.015", min_fee=100)
    assert fee_quote(kind="p2p", amount=ugx(12_345), now=now).fee == ugx(185)  # 185.175
    assert fee_quote(kind="p2p", amount=ugx(5_000), now=now).fee == ugx(100)  # 75 < min
    assert fee_quote(kind="p2p", amount=ugx(1_000_000), now=now).fee == ugx(15_000)


@pytest.mark.parametrize(
    ("rounding", "fee"),
    [
        ("HALF_UP", 5),
        ("HALF_EVEN", 4),
        ("DOWN", 4),
        ("UP", 5),
        ("FLOOR", 4),
        ("CEILING", 5),
    ],
)
def test_percentage_uses_the_schedules_rounding_mode(now, rounding, fee):
    make_schedule(now, method="percentage", pct="0.015", rounding=rounding)
    assert fee_quote(kind="p2p", amount=ugx(300), now=now).fee == ugx(fee)  # 4.5


TIERED_UGX = [
    (0, 5_000, 100, "0"),
    (5_000, 50_000, 250, "0.005"),
    (50_000, 500_000, 500, "0.01"),
    (500_000, None, 0, "0.0075"),
]


@pytest.mark.parametrize(
    ("amount", "fee", "lightway", "mtn"),
    [
        (0, 100, 60, 40),
        (4_999, 100, 60, 40),
        (5_000, 275, 165, 110),  # 250 + 25
        (49_999, 500, 300, 200),  # 250 + 249.995 -> 250
        (50_000, 1_000, 600, 400),  # 500 + 500: the upper bound is exclusive
        (123_457, 1_735, 1_041, 694),  # 500 + 1234.57 -> 1235; 1041/694
        (1_000_000, 7_500, 4_500, 3_000),
        (2_000_000, 10_000, 6_000, 4_000),  # 15,000 capped
    ],
)
def test_tiered_fee_ugx(now, amount, fee, lightway, mtn):
    make_schedule(now, method="tiered", bands=TIERED_UGX, max_fee=10_000)
    quote = fee_quote(kind="p2p", amount=ugx(amount), now=now)
    assert quote.fee == ugx(fee)
    assert split_amounts(quote) == {"lightway": lightway, "mtn": mtn}


def test_tiered_fee_ghs_with_minimum(now):
    make_schedule(
        now,
        currency="GHS",
        method="tiered",
        bands=[(0, 10_000, 0, "0.02"), (10_000, None, 100, "0.005")],
        min_fee=25,
    )
    assert fee_quote(kind="p2p", amount=ghs(999), now=now).fee == ghs(25)  # 19.98 -> 20 < 25
    assert fee_quote(kind="p2p", amount=ghs(9_999), now=now).fee == ghs(200)  # 199.98
    assert fee_quote(kind="p2p", amount=ghs(10_000), now=now).fee == ghs(150)  # 100 + 50


def test_zero_share_splits_are_left_out(now):
    make_schedule(now, method="flat", flat=1)
    quote = fee_quote(kind="p2p", amount=ugx(10), now=now)
    assert quote.splits == (FeeSplitQuote("lightway", "lightway", 1),)


def test_no_schedule_means_zero_fee(now):
    quote = fee_quote(kind="deposit", amount=ugx(10_000), now=now)
    assert quote == FeeQuote(fee=ugx(0), schedule_id=None, splits=())
    assert fee_compute(schedule=None, amount=ghs(5)) == FeeQuote(ghs(0), None, ())


def test_compute_refuses_bad_input(now):
    schedule = make_schedule(
        now, kind="remittance", splits=[("lightway", 1), ("partner", 1)], flat=10
    )
    with pytest.raises(FeeError, match="partner_ref is needed"):
        fee_quote(kind="remittance", amount=ugx(100), now=now)
    with pytest.raises(FeeError, match="is for UGX, not GHS"):
        fee_compute(schedule=schedule, amount=ghs(100), partner_ref="p")
    with pytest.raises(FeeError, match="unknown transaction kind"):
        fee_quote(kind="p2p-typo", amount=ugx(100), now=now)
    with pytest.raises(ValidationFailed):
        fee_quote(kind="remittance", amount=ugx(-1), partner_ref="p", now=now)
    with pytest.raises(FeeError, match="invalid partner_ref"):
        fee_quote(kind="remittance", amount=ugx(100), partner_ref="mtn", now=now)


# --- schedule selection ------------------------------------------------------------------


def test_most_specific_schedule_wins(now):
    any_any = make_schedule(now, kind="remittance", flat=1, name="any")
    corridor = make_schedule(now, kind="remittance", flat=2, corridor="GB-UG", name="corridor")
    tier = make_schedule(now, kind="remittance", flat=3, kyc_tier=2, name="tier")
    both = make_schedule(
        now, kind="remittance", flat=4, corridor="GB-UG", kyc_tier=2, end=now + DAY
    )

    def pick(corridor_="", tier_=None, at=now):
        return fee_schedule_for(
            kind="remittance", currency="UGX", corridor=corridor_, kyc_tier=tier_, now=at
        )

    assert pick("GB-UG", 2) == both
    assert pick("GB-UG", 1) == corridor
    assert pick("GB-UG", None) == corridor
    assert pick("KE-UG", 2) == tier
    assert pick("", 2) == tier
    assert pick("KE-UG", None) == any_any
    assert pick() == any_any
    # other currencies and kinds do not match
    assert fee_schedule_for(kind="remittance", currency="GHS", now=now) is None
    assert fee_schedule_for(kind="p2p", currency="UGX", now=now) is None
    # corridor outranks tier: without the exact pair, exact corridor + any tier beats the tier
    assert pick("GB-UG", 2, at=both.effective_to) == corridor


def test_selector_is_one_query_and_compute_none(now, django_assert_num_queries):
    make_schedule(now, method="tiered", bands=TIERED_UGX, max_fee=10_000)
    make_schedule(now, method="flat", flat=7, kyc_tier=1)
    with django_assert_num_queries(1):
        schedule = fee_schedule_for(kind="p2p", currency="UGX", kyc_tier=3, now=now)
    assert schedule is not None
    with django_assert_num_queries(0):
        quote = fee_compute(schedule=schedule, amount=ugx(5_000))
        assert [b.lower_bound for b in schedule.bands.all()] == [0, 5_000, 50_000, 500_000]
        assert [s.party for s in schedule.splits.all()] == ["lightway", "mtn"]
    assert quote.fee == ugx(275)


# --- effective dating and versions -------------------------------------------------------


def test_new_version_applies_from_its_start_only(live_now):
    now = live_now  # the switch is ahead of the database clock, as the database requires
    v1 = make_schedule(now, method="flat", flat=100, start=now - 10 * DAY)
    old_quote = fee_quote(kind="p2p", amount=ugx(10_000), now=now)
    commission_records_create(
        entry_id=make_entry(now).pk, reference="t-1", kind="p2p", quote=old_quote, now=now
    )
    switch = now + DAY
    fee_schedule_supersede(schedule_id=v1.pk, successor_from=switch)
    v2 = make_schedule(now, method="flat", flat=250, start=switch)

    assert fee_quote(kind="p2p", amount=ugx(10_000), now=now) == old_quote
    assert old_quote.schedule_id == v1.pk and old_quote.fee == ugx(100)
    just_before = fee_quote(kind="p2p", amount=ugx(10_000), now=switch - timedelta(microseconds=1))
    assert just_before.schedule_id == v1.pk
    at_switch = fee_quote(kind="p2p", amount=ugx(10_000), now=switch)
    assert (at_switch.schedule_id, at_switch.fee) == (v2.pk, ugx(250))
    assert fee_quote(kind="p2p", amount=ugx(1), now=now - 11 * DAY).schedule_id is None
    # the recorded commission still points at v1 with v1's amounts
    assert sorted(
        CommissionRecord.objects.filter(reference="t-1").values_list("schedule_id", "amount")
    ) == [(v1.pk, 40), (v1.pk, 60)]


def test_cache_never_serves_a_schedule_before_it_is_effective(now, django_assert_num_queries):
    fee_schedule_cache_clear()
    switch = now + DAY
    v1 = make_schedule(now, method="flat", flat=100, end=switch)
    v2 = make_schedule(now, method="flat", flat=250, start=switch)
    with override_settings(LIGHTWAY_FEE_SCHEDULE_CACHE_SECONDS=60):
        with django_assert_num_queries(1):
            assert fee_schedule_for(kind="p2p", currency="UGX", now=now) == v1
        with django_assert_num_queries(0):  # cached, but chosen for each ``now``
            assert fee_schedule_for(kind="p2p", currency="UGX", now=now + DAY / 2) == v1
            assert fee_schedule_for(kind="p2p", currency="UGX", now=switch) == v2
        with django_assert_num_queries(1):  # earlier than the fill: not served from the cache
            assert fee_schedule_for(kind="p2p", currency="UGX", now=now - DAY) == v1
    with override_settings(LIGHTWAY_FEE_SCHEDULE_CACHE_SECONDS=0):
        with django_assert_num_queries(1):  # cache off: the filled entry is not used
            assert fee_schedule_for(kind="p2p", currency="UGX", now=now + DAY / 2) == v1


def test_supersede_refuses_a_start_not_after_the_old_one(now):
    v1 = make_schedule(now, flat=100, start=now)
    with pytest.raises(ValidationFailed, match="must start after"):
        fee_schedule_supersede(schedule_id=v1.pk, successor_from=now)


# --- commission records ------------------------------------------------------------------


def test_records_one_per_nonzero_split_in_one_insert(now, django_assert_num_queries):
    make_schedule(
        now,
        kind="remittance",
        method="percentage",
        pct="0.015",
        splits=[("lightway", 50), ("mtn", 30), ("partner", 20)],
    )
    quote = fee_quote(kind="remittance", amount=ugx(100_003), partner_ref="imto-acme", now=now)
    assert quote.fee == ugx(1_500)  # 1500.045
    entry = make_entry(now)
    with django_assert_num_queries(1):
        commission_records_create(
            entry_id=entry.pk, reference="r-1", kind="remittance", quote=quote, now=now
        )
    rows = list(
        CommissionRecord.objects.filter(entry=entry)
        .order_by("amount")
        .values_list("party", "party_ref", "currency", "amount")
    )
    assert rows == [
        ("partner", "imto-acme", "UGX", 300),
        ("mtn", "mtn", "UGX", 450),
        ("lightway", "lightway", "UGX", 750),
    ]


def test_records_skip_zero_splits_and_zero_fees(now, django_assert_num_queries):
    entry = make_entry(now)
    zero = FeeQuote(fee=ugx(0), schedule_id=None, splits=())
    with django_assert_num_queries(0):
        commission_records_create(entry_id=entry.pk, reference="z", kind="p2p", quote=zero, now=now)
    schedule = make_schedule(now, flat=5)
    quote = FeeQuote(
        fee=ugx(5),
        schedule_id=schedule.pk,
        splits=(FeeSplitQuote("lightway", "lightway", 5), FeeSplitQuote("mtn", "mtn", 0)),
    )
    commission_records_create(entry_id=entry.pk, reference="z", kind="p2p", quote=quote, now=now)
    assert list(CommissionRecord.objects.values_list("party", "amount")) == [("lightway", 5)]
    bad = FeeQuote(fee=ugx(6), schedule_id=schedule.pk, splits=quote.splits)
    with pytest.raises(FeeError, match="do not add up"):
        commission_records_create(entry_id=entry.pk, reference="y", kind="p2p", quote=bad, now=now)


def test_commission_records_are_append_only(now, owner_db):
    import psycopg

    with transaction.atomic():  # a schedule and its splits are committed together
        schedule = make_schedule(now, flat=10)
        record = record_for(now, schedule)
    # The application's role may not change or remove a record at all ...
    for statement in [
        "UPDATE commission_record SET amount = 11",
        "DELETE FROM commission_record",
        "TRUNCATE commission_record",
    ]:
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            with connection.cursor() as cur:
                cur.execute(statement)
    # ... and the owner, who has every privilege, is refused by the triggers.
    for statement, match in [
        ("UPDATE commission_record SET amount = 11", "append-only: UPDATE refused"),
        ("DELETE FROM commission_record", "append-only: DELETE refused"),
        ("TRUNCATE commission_record", "append-only: TRUNCATE refused"),
    ]:
        with pytest.raises(psycopg.Error, match=match) as info:
            owner_db.execute(statement)
        assert info.value.sqlstate == "23001"
    assert CommissionRecord.objects.get(pk=record.pk).amount == 10


def test_record_must_match_a_schedule_in_effect(now):
    schedule = make_schedule(now, flat=10, start=now - DAY, end=now + DAY)
    with refused("not in effect", "23514"):
        record_for(now, schedule, created_at=now + DAY)
    with refused("not in effect", "23514"):
        record_for(now, schedule, created_at=now - 2 * DAY)
    with refused("does not match fee schedule", "23514"):
        record_for(now, schedule, transaction_kind="deposit")
    with refused("does not match fee schedule", "23514"):
        record_for(now, schedule, currency="GHS", entry=make_entry(now, "GHS"))
    with refused("has no split for party partner", "23514"):
        record_for(now, schedule, party="partner", party_ref="imto-1")
    with refused("commission_rec_party_ref"):
        record_for(now, schedule, party="mtn", party_ref="lightway")
    with refused("commission_rec_amount_pos"):
        record_for(now, schedule, amount=0)
    record_for(now, schedule, created_at=now + DAY - timedelta(microseconds=1))


def _record_late(quote, now, reference):
    """Write a transaction's commission records in its own atomic block, as transfers do."""
    entry = make_entry(now)
    with transaction.atomic():
        commission_records_create(
            entry_id=entry.pk, reference=reference, kind="p2p", quote=quote, now=now
        )


def test_records_refused_because_the_period_ended_meanwhile_raise_fee_error(live_now):
    schedule = make_schedule(live_now, flat=100, start=live_now - DAY)
    with override_settings(LIGHTWAY_FEE_SCHEDULE_CACHE_SECONDS=60):
        quote = fee_quote(kind="p2p", amount=ugx(10_000), now=live_now)  # cached from here on
        # the period ends after the cache was filled (here in the transaction that created
        # the schedule, which may still set any end; staff end it at least a lead ahead)
        FeeSchedule.objects.filter(pk=schedule.pk).update(effective_to=live_now - MINUTE)
        with pytest.raises(FeeError, match="stopped applying") as info:
            _record_late(quote, live_now, "late")
        assert fee_quote(kind="p2p", amount=ugx(10_000), now=live_now).schedule_id is None
    assert info.value.code == "fee_unavailable"  # the API answers 503
    assert info.value.details == {
        "schedule_id": schedule.pk,
        "rule": "commission_rec_schedule_in_effect",
    }
    assert isinstance(info.value.__cause__, IntegrityError)
    assert "its period ended at" in str(info.value.__cause__)
    # the caller's transaction was rolled back whole; the connection goes on
    assert not CommissionRecord.objects.filter(reference="late").exists()


def test_records_of_a_schedule_removed_meanwhile_raise_fee_error(live_now):
    schedule = make_schedule(live_now, flat=100, start=live_now - DAY)
    quote = fee_quote(kind="p2p", amount=ugx(10_000), now=live_now)
    FeeSchedule.objects.filter(pk=schedule.pk).delete()  # unused, created here: allowed
    with pytest.raises(FeeError, match="was removed") as info:
        _record_late(quote, live_now, "gone")
    assert info.value.details == {"schedule_id": schedule.pk, "rule": "commission_rec_schedule"}
    # any other refused record is a FeeError too, never a raw IntegrityError
    other = make_schedule(live_now, kind="deposit", flat=100, splits=[("lightway", 1)])
    wrong = FeeQuote(ugx(5), other.pk, (FeeSplitQuote("lightway", "lightway", 5),))
    with pytest.raises(FeeError, match="were refused") as info:
        _record_late(wrong, live_now, "wrong-kind")  # a deposit schedule for a p2p record
    assert info.value.details["rule"] == "commission_rec_matches_schedule"


def test_a_fee_error_marks_the_callers_transaction_for_rollback(live_now):
    schedule = make_schedule(live_now, flat=100, end=live_now - MINUTE)
    quote = fee_quote(kind="p2p", amount=ugx(10_000), now=live_now - 2 * MINUTE)
    entry = make_entry(live_now)
    with transaction.atomic():
        with pytest.raises(FeeError):
            commission_records_create(
                entry_id=entry.pk, reference="x", kind="p2p", quote=quote, now=live_now - MINUTE
            )
        assert transaction.get_rollback()  # no query can run on the aborted transaction
    assert FeeSchedule.objects.filter(pk=schedule.pk).exists()


# --- versioning trigger: a used schedule is frozen ---------------------------------------


def test_schedule_not_yet_in_effect_can_still_be_edited_and_deleted(tx_db, live_now):
    start = live_now + DAY
    schedule = committed_schedule(live_now, method="tiered", bands=TIERED_UGX, start=start)
    with transaction.atomic():
        FeeSchedule.objects.filter(pk=schedule.pk).update(max_fee=9_000, name="renamed")
        FeeBand.objects.filter(schedule=schedule, lower_bound=0).update(flat_amount=120)
        FeeSplit.objects.filter(schedule=schedule, party="mtn").update(weight=30)
        FeeSplit.objects.create(schedule=schedule, party="partner", weight=10)
        FeeSplit.objects.filter(schedule=schedule, party="partner").delete()
    assert fee_quote(kind="p2p", amount=ugx(100), now=start).fee == ugx(120)
    later = committed_schedule(live_now, flat=5, start=start + DAY, kind="deposit")
    with transaction.atomic(), connection.cursor() as cur:
        # bands and splits first, as Django's delete() does
        cur.execute("DELETE FROM commission_fee_split WHERE schedule_id = %s", [later.pk])
        cur.execute("DELETE FROM commission_fee_schedule WHERE id = %s", [later.pk])
    with transaction.atomic():
        schedule.delete()
    assert not FeeSchedule.objects.exists()


def test_schedule_created_by_this_transaction_can_be_finished_until_it_commits(tx_db, live_now):
    """Seeding and the admin create back-dated schedules, then their bands and splits."""
    with transaction.atomic():
        schedule = make_schedule(live_now, method="tiered", bands=TIERED_UGX, start=live_now - DAY)
        FeeBand.objects.filter(schedule=schedule, lower_bound=0).update(flat_amount=120)
        FeeSplit.objects.create(schedule=schedule, party="partner", weight=1)
        FeeSchedule.objects.filter(pk=schedule.pk).update(name="fixed")
    # committed: every other transaction sees it, in effect
    with refused("has been in effect since .*: its bands are frozen", "23001"):
        FeeBand.objects.filter(schedule=schedule, lower_bound=0).update(flat_amount=130)
    with refused("add a new version instead of changing it", "23001"):
        FeeSchedule.objects.filter(pk=schedule.pk).update(name="again")
    schedule.refresh_from_db()
    assert (schedule.name, schedule.bands.get(lower_bound=0).flat_amount) == ("fixed", 120)


def test_used_schedule_is_frozen(now):
    schedule = make_schedule(now, method="tiered", bands=TIERED_UGX)
    record_for(now, schedule)
    band = schedule.bands.get(lower_bound=0)
    split = schedule.splits.get(party="mtn")

    with refused("add a new version instead of changing it", "23001"):
        FeeSchedule.objects.filter(pk=schedule.pk).update(max_fee=9_000)
    with refused("add a new version instead of changing it", "23001"):
        FeeSchedule.objects.filter(pk=schedule.pk).update(effective_from=now - 40 * DAY)
    with refused("cannot be deleted", "23001"):
        with connection.cursor() as cur:
            cur.execute("DELETE FROM commission_fee_schedule WHERE id = %s", [schedule.pk])
    with refused("its bands are frozen", "23001"):
        FeeBand.objects.filter(pk=band.pk).update(flat_amount=120)
    with refused("its bands are frozen", "23001"):
        FeeBand.objects.filter(pk=band.pk).delete()
    with refused("its bands are frozen", "23001"):
        FeeBand.objects.create(schedule=schedule, lower_bound=1, upper_bound=2)
    with refused("its splits are frozen", "23001"):
        FeeSplit.objects.filter(pk=split.pk).update(weight=30)
    with refused("its splits are frozen", "23001"):
        FeeSplit.objects.create(schedule=schedule, party="partner", weight=1)
    with refused("its splits are frozen", "23001"):
        FeeSplit.objects.filter(pk=split.pk).delete()

    # a plain save with nothing changed is harmless and allowed
    FeeSchedule.objects.get(pk=schedule.pk).save()
    schedule.refresh_from_db()
    assert schedule.max_fee is None


def test_used_schedule_period_can_only_be_ended_ahead_of_any_record(live_now):
    """No record is dated more than the skew ahead of the database clock, and a period ends
    at least the lead ahead of it, so no record can fall after the end."""
    now = live_now
    schedule = make_schedule(now, flat=10, start=now - 2 * DAY)
    record_for(now, schedule, created_at=now - DAY)
    with refused("more than 00:00:05 ahead of the database time", "23514"):
        record_for(now, schedule, created_at=now + HOUR)  # a transaction whose clock is ahead

    def end_at(when):
        FeeSchedule.objects.filter(pk=schedule.pk).update(effective_to=when)

    with refused(
        "is used by commission records .*: its period cannot end in the past or "
        "less than 00:00:30 ahead",
        "23001",
    ):
        end_at(now + 10 * timedelta(seconds=1))
    with refused("cannot end in the past", "23001"):
        end_at(now - MINUTE)
    end_at(now + 2 * DAY)
    with refused("can only be ended .*, not reopened or extended", "23001"):
        end_at(now + 3 * DAY)  # extending
    with refused("can only be ended .*, not reopened or extended", "23001"):
        end_at(None)  # reopening
    end_at(now + DAY)
    schedule.refresh_from_db()
    assert schedule.effective_to == now + DAY


# --- versioning trigger: a schedule in effect is frozen, used or not -----------------------


def test_schedule_in_effect_is_frozen_even_if_unused(tx_db, live_now):
    """A process may hold it in its cache, or have quoted with it, without a record yet."""
    schedule = committed_schedule(live_now, method="tiered", bands=TIERED_UGX, start=live_now - DAY)
    band = schedule.bands.get(lower_bound=0)
    split = schedule.splits.get(party="mtn")
    frozen = "has been in effect since .*: add a new version instead of changing it"

    for change in (
        {"max_fee": 9_000},  # pricing
        {"rounding": "HALF_EVEN"},
        {"corridor": "GB-UG"},  # scope
        {"kyc_tier": 1},
        {"effective_from": live_now - 2 * DAY},  # its start, earlier or later
        {"effective_from": live_now + DAY},
        {"name": "renamed"},
    ):
        with refused(frozen, "23001"):
            FeeSchedule.objects.filter(pk=schedule.pk).update(**change)
    with refused("has been in effect since .* and cannot be deleted", "23001"):
        with connection.cursor() as cur:
            cur.execute("DELETE FROM commission_fee_schedule WHERE id = %s", [schedule.pk])
    with refused("has been in effect since .*: its (bands|splits) are frozen", "23001"):
        schedule.delete()  # Django deletes the bands and splits first
    with refused("its bands are frozen", "23001"):
        FeeBand.objects.filter(pk=band.pk).update(flat_amount=120)
    with refused("its bands are frozen", "23001"):
        FeeBand.objects.filter(pk=band.pk).delete()
    with refused("its bands are frozen", "23001"):
        FeeBand.objects.create(schedule=schedule, lower_bound=1, upper_bound=2)
    with refused("its splits are frozen", "23001"):
        FeeSplit.objects.filter(pk=split.pk).update(weight=30)
    with refused("its splits are frozen", "23001"):
        FeeSplit.objects.create(schedule=schedule, party="partner", weight=1)
    with refused("its splits are frozen", "23001"):
        FeeSplit.objects.filter(pk=split.pk).delete()
    # another schedule's band cannot be moved onto it either
    other = committed_schedule(live_now, kind="deposit", method="tiered", bands=TIERED_UGX)
    with refused("its bands are frozen", "23001"):
        FeeBand.objects.filter(schedule=other, lower_bound=0).update(schedule=schedule)

    # a plain save with nothing changed is harmless and allowed
    FeeSchedule.objects.get(pk=schedule.pk).save()
    schedule.refresh_from_db()
    assert (schedule.max_fee, schedule.effective_from) == (None, live_now - DAY)


def test_schedule_in_effect_can_only_be_ended_and_not_in_the_past(tx_db, live_now):
    schedule = committed_schedule(live_now, flat=10, start=live_now - DAY)
    ended = committed_schedule(
        live_now, flat=10, kind="deposit", start=live_now - 2 * DAY, end=live_now - DAY
    )

    def end(s, when):
        FeeSchedule.objects.filter(pk=s.pk).update(effective_to=when)

    with refused("has been in effect since .*: its period cannot end in the past", "23001"):
        end(schedule, live_now - MINUTE)
    end(schedule, live_now + DAY)  # ending it ahead is what "Save as new" does
    end(schedule, live_now + HOUR)  # and moving the end earlier, still ahead
    with refused("can only be ended .*, not reopened or extended", "23001"):
        end(schedule, live_now + 2 * HOUR)
    with refused("can only be ended .*, not reopened or extended", "23001"):
        end(schedule, None)
    # a period that is over stays over
    with refused("cannot end in the past", "23001"):
        end(ended, live_now - 2 * DAY + HOUR)
    with refused("not reopened or extended", "23001"):
        end(ended, live_now + DAY)
    schedule.refresh_from_db()
    assert schedule.effective_to == live_now + HOUR


def test_a_cached_schedule_in_effect_cannot_be_repriced_under_a_transaction(tx_db):
    """The reviewer's case, across real commits: a 1 % schedule is cached, staff try to make
    it 5 %, a transfer is charged from the cache; its records must cite a schedule that
    still says 1 %. Deleting the schedule must not fail the next transfer either."""
    start = timezone.now() - HOUR
    with transaction.atomic():
        schedule = make_schedule(start, method="percentage", pct="0.01", start=start)
    with override_settings(LIGHTWAY_FEE_SCHEDULE_CACHE_SECONDS=60):
        assert fee_quote(kind="p2p", amount=ugx(100_000), now=timezone.now()).fee == ugx(1_000)
        # staff, each change its own committed transaction
        with pytest.raises(IntegrityError, match="has been in effect since"):
            FeeSchedule.objects.filter(pk=schedule.pk).update(percentage=Decimal("0.05"))
        with pytest.raises(IntegrityError, match="its splits are frozen"):
            FeeSplit.objects.filter(schedule=schedule, party="mtn").update(weight=10)
        with pytest.raises(IntegrityError, match="cannot be deleted"):
            with connection.cursor() as cur:
                cur.execute("DELETE FROM commission_fee_schedule WHERE id = %s", [schedule.pk])
        # the next transfer, priced from the cache
        now = timezone.now()
        quote = fee_quote(kind="p2p", amount=ugx(100_000), now=now)
        entry = make_entry(now)
        with transaction.atomic():
            commission_records_create(
                entry_id=entry.pk, reference="cached", kind="p2p", quote=quote, now=now
            )
    fresh = fee_quote(kind="p2p", amount=ugx(100_000), now=now)
    assert quote == fresh and quote.fee == ugx(1_000)
    schedule.refresh_from_db()
    assert (schedule.percentage, schedule.splits.count()) == (Decimal("0.01"), 2)
    records = CommissionRecord.objects.filter(reference="cached")
    assert {r.schedule_id for r in records} == {schedule.pk}
    assert sum(r.amount for r in records) == 1_000


# --- overlapping periods -----------------------------------------------------------------


def test_overlapping_schedules_of_one_scope_are_refused(now):
    make_schedule(now, flat=10, start=now - 10 * DAY, end=now + 10 * DAY)
    with refused("overlaps fee schedule", "23P01"):
        make_schedule(now, flat=20, start=now + 9 * DAY, check=False)
    with refused("overlaps fee schedule", "23P01"):
        make_schedule(now, flat=20, start=now - 20 * DAY, end=now - 9 * DAY, check=False)
    with refused("overlaps fee schedule", "23P01"):
        make_schedule(now, flat=20, start=now - 20 * DAY, check=False)  # open-ended
    # adjacent periods and other scopes are fine
    before = make_schedule(now, flat=20, start=now - 20 * DAY, end=now - 10 * DAY)
    make_schedule(now, flat=30, start=now + 10 * DAY)
    make_schedule(now, flat=40, start=now - 10 * DAY, corridor="GB-UG")
    make_schedule(now, flat=50, start=now - 10 * DAY, kyc_tier=1)
    make_schedule(now, flat=60, start=now - 10 * DAY, currency="GHS")
    make_schedule(now, flat=70, start=now - 10 * DAY, kind="withdrawal")
    # moving a schedule into a neighbour's period is refused too
    with refused("overlaps fee schedule", "23P01"):
        FeeSchedule.objects.filter(pk=before.pk).update(effective_to=now - 9 * DAY)
    clashes = fee_schedules_overlapping(
        kind="p2p",
        currency="UGX",
        corridor="",
        kyc_tier=None,
        effective_from=now,
        effective_to=now + 20 * DAY,
    )
    assert [s.flat_amount for s in clashes] == [10, 30]


# --- schedule completeness and check constraints -----------------------------------------


def test_a_schedule_needs_splits_and_tiered_bands_must_cover_everything(now):
    with refused("has no fee splits", "23514"):
        make_schedule(now, flat=10, splits=())
    with refused("a band starting at 0 was expected, found one starting at 1"):
        make_schedule(now, method="tiered", bands=[(1, None, 10, "0")])
    with refused("a band starting at 100 was expected, found one starting at 101"):
        make_schedule(now, method="tiered", bands=[(0, 100, 10, "0"), (101, None, 10, "0")])
    with refused("a band starting at 100 was expected, found one starting at 50"):
        make_schedule(now, method="tiered", bands=[(0, 100, 10, "0"), (50, None, 10, "0")])
    with refused("must end with an open band starting at 100"):
        make_schedule(now, method="tiered", bands=[(0, 100, 10, "0")])
    with refused("must end with an open band starting at 0"):
        make_schedule(now, method="tiered", bands=[])
    with refused("only tiered schedules have bands"):
        make_schedule(now, flat=5, bands=[(0, None, 10, "0")])
    # removing the last split of an unused schedule is caught at commit too
    schedule = make_schedule(now, flat=10)
    with refused("has no fee splits"):
        FeeSplit.objects.filter(schedule=schedule).delete()
        check_complete()


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"min_fee": 100, "max_fee": 99}, "commission_schedule_min_le_max"),
        ({"min_fee": -1}, "commission_schedule_min_nonneg"),
        ({"flat": -5}, "commission_schedule_flat_nonneg"),
        ({"method": "percentage", "pct": "1.01"}, "commission_schedule_percentage_range"),
        ({"method": "percentage", "pct": "-0.01"}, "commission_schedule_percentage_range"),
        ({"method": "flat", "flat": 5, "pct": "0.01"}, "commission_schedule_method_fields"),
        ({"method": "percentage", "flat": 5}, "commission_schedule_method_fields"),
        ({"method": "bogus"}, "commission_schedule_method_(valid|fields)"),
        ({"kind": "bogus"}, "commission_schedule_kind_valid"),
        ({"currency": "XXX"}, "commission_schedule_currency_iso"),
        ({"corridor": "gb-ug"}, "commission_schedule_corridor_format"),
        ({"kyc_tier": 10}, "commission_schedule_kyc_tier_range"),
        ({"rounding": "HALF_DOWN"}, "commission_schedule_rounding_valid"),
        ({"end": "start"}, "commission_schedule_period_valid"),
        ({"splits": [("lightway", 0)]}, "commission_split_weight_pos"),
        ({"splits": [("mtn", 1), ("mtn", 2)]}, "commission_split_unique_party"),
        ({"splits": [("bank", 1)]}, "commission_split_party_valid"),
        (
            {"method": "tiered", "bands": [(0, None, 0, "1.5")]},
            "commission_band_percentage_range",
        ),
        ({"method": "tiered", "bands": [(0, 0, 0, "0")]}, "commission_band_bounds_ordered"),
        ({"method": "tiered", "bands": [(-1, None, 0, "0")]}, "commission_band_lower_nonneg"),
        ({"method": "tiered", "bands": [(0, None, -1, "0")]}, "commission_band_flat_nonneg"),
    ],
)
def test_check_constraints(now, fields, constraint):
    if fields.get("end") == "start":
        fields = {"start": now, "end": now}
    with refused(constraint):
        make_schedule(now, check=False, **fields)


# --- demo seed ---------------------------------------------------------------------------


def test_seed_is_idempotent_and_prices_as_documented(now):
    assert fee_schedules_seed_defaults(now=now) == 9
    check_complete()
    assert fee_schedules_seed_defaults(now=now) == 0
    assert FeeSchedule.objects.count() == 9
    # the partner remittances sent from a USD prefund: a flat USD 2.99
    assert fee_quote(
        kind="remittance", amount=Money.of(10_000, "USD"), partner_ref="acme", now=now
    ).fee == Money.of(299, "USD")
    quote = fee_quote(kind="p2p", amount=ghs(1_234), now=now)  # GHS 12.34
    assert quote.fee == ghs(50)  # 1% = 0.12, minimum GHS 0.50
    assert fee_quote(kind="p2p", amount=ghs(500_000), now=now).fee == ghs(2_000)
    assert fee_quote(kind="p2p", amount=Money.of(80_000, "XAF"), now=now).fee.amount == 150
    assert split_amounts(fee_quote(kind="p2p", amount=ugx(5_000), now=now)) == {
        "lightway": 165,
        "mtn": 110,
    }
    corridor = fee_quote(
        kind="remittance", amount=ugx(200_000), corridor="GB-UG", partner_ref="imto-x", now=now
    )
    general = fee_quote(
        kind="remittance", amount=ugx(200_000), corridor="US-UG", partner_ref="imto-x", now=now
    )
    assert (corridor.fee, general.fee) == (ugx(2_000), ugx(3_000))
    assert split_amounts(general) == {"lightway": 1_500, "mtn": 900, "imto-x": 600}


# --- concurrency: the overlap rule holds between concurrent writers -----------------------

_RACE_INSERT = """
WITH s AS (
  INSERT INTO commission_fee_schedule (name, transaction_kind, currency, corridor, kyc_tier,
    effective_from, effective_to, method, flat_amount, percentage, min_fee, max_fee, rounding,
    version, notes, created_at)
  VALUES ('race', 'payout', 'ZMW', 'ZM-ZM', NULL, %(start)s, NULL, 'flat', 1, 0, 0, NULL,
    'HALF_UP', 1, '', %(start)s)
  RETURNING id)
INSERT INTO commission_fee_split (schedule_id, party, weight)
SELECT id, 'lightway', 1 FROM s RETURNING schedule_id
"""


def _raw_connection():
    import psycopg

    s = connection.settings_dict
    return psycopg.connect(
        host=s["HOST"] or None,
        port=s["PORT"] or None,
        user=s["USER"] or None,
        password=s["PASSWORD"] or None,
        dbname=s["NAME"],
    )


def test_concurrent_overlapping_inserts_are_serialised(now):
    import threading

    import psycopg

    first, second = _raw_connection(), _raw_connection()
    outcome: dict[str, object] = {}
    created = None
    # not yet in effect by the database clock, so that the cleanup below may delete it
    now = max(now, timezone.now()) + 365 * DAY
    try:
        with first.cursor() as cur:
            cur.execute(_RACE_INSERT, {"start": now})
            created = cur.fetchone()[0]

        def insert_overlapping():
            try:
                with second.cursor() as cur:
                    cur.execute(_RACE_INSERT, {"start": now + DAY})
                second.commit()
                outcome["result"] = "committed"
            except psycopg.Error as exc:
                second.rollback()
                outcome["result"] = exc.sqlstate

        racer = threading.Thread(target=insert_overlapping)
        racer.start()
        racer.join(timeout=0.5)
        assert racer.is_alive(), "the second writer should wait for the first one's scope lock"
        first.commit()
        racer.join(timeout=10)
        assert outcome["result"] == "23P01"
    finally:
        if created is not None:
            with first.cursor() as cur:
                cur.execute("DELETE FROM commission_fee_split WHERE schedule_id = %s", [created])
                cur.execute("DELETE FROM commission_fee_schedule WHERE id = %s", [created])
            first.commit()
        first.close()
        second.close()


# --- admin ---------------------------------------------------------------------------------

from django.contrib import admin as django_admin  # noqa: E402
from django.urls import path  # noqa: E402

# Every admin page registered before this module's URLs are built: the admin's URL
# patterns list the apps registered at that moment, and a page's sidebar reverses a link to
# every registered app. Registering only the commission pages here made these tests fail
# whenever this file was collected before the project's URLs were first imported (another
# test file in the same process), with NoReverseMatch for "app_list" of the audit app.
import lightway.interfaces.web.urls  # noqa: E402, F401

urlpatterns = [path("admin/", django_admin.site.urls)]


@pytest.mark.urls(__name__)
def test_admin_shows_validation_errors_in_the_form(admin_client):
    response = admin_client.post(ADD_URL, post_data(min_fee="500", max_fee="100", splits=()))
    assert response.status_code == 200
    page = response.content.decode()
    assert "The maximum fee must be at least the minimum (500)." in page
    assert "Add at least one split" in page
    response = admin_client.post(
        ADD_URL,
        post_data(
            method="tiered",
            pct="0",
            bands=[(0, 100, 10, "0"), (150, None, 20, "0")],
        ),
    )
    assert response.status_code == 200
    assert "a band starting at 100 was expected, the next one starts at 150" in (
        response.content.decode()
    )
    response = admin_client.post(ADD_URL, post_data(method="flat", flat="10", pct="0.01"))
    assert "Only percentage schedules use the percentage" in response.content.decode()
    assert not FeeSchedule.objects.exists()


@pytest.mark.urls(__name__)
def test_admin_creates_a_schedule_and_refuses_an_overlap(admin_client, now):
    response = admin_client.post(ADD_URL, post_data())
    assert response.status_code == 302, response.content.decode()[:2000]
    schedule = FeeSchedule.objects.get()
    assert (schedule.version, schedule.percentage, schedule.min_fee) == (1, Decimal("0.01"), 50)
    assert sorted(schedule.splits.values_list("party", "weight")) == [
        ("lightway", Decimal(60)),
        ("mtn", Decimal(40)),
    ]
    response = admin_client.post(ADD_URL, post_data(start="2026-12-01"))
    assert response.status_code == 200
    assert "The period overlaps" in response.content.decode()


@pytest.mark.urls(__name__)
def test_admin_save_as_new_version_of_a_used_schedule(admin_client, now):
    v1 = make_schedule(now, currency="GHS", method="percentage", pct="0.01", min_fee=50)
    record_for(now, v1, amount=60, currency="GHS", entry=make_entry(now, "GHS"))
    split_ids = list(v1.splits.order_by("party").values_list("id", flat=True))
    common = {"schedule_id": v1.pk, "split_ids": split_ids, "max_fee": ""}
    start = (now - 30 * DAY).strftime("%Y-%m-%d")

    # a plain save that changes pricing is refused with an explanation
    response = admin_client.post(change_url(v1.pk), post_data(start=start, pct="0.02", **common))
    assert response.status_code == 200
    assert "so it can no longer change" in response.content.decode()
    # a new version starts after the old one's start and after its last use
    response = admin_client.post(
        change_url(v1.pk),
        post_data(start=start, pct="0.02", _saveasnew="Save as new", **common),
    )
    assert "must start after the version it replaces" in response.content.decode()
    response = admin_client.post(
        change_url(v1.pk),
        post_data(start="2026-11-24", pct="0.02", _saveasnew="Save as new", **common),
    )
    assert (
        "was last used for a transaction at 2026-11-24 09:00; the new version must start after that"
        in response.content.decode()
    )
    assert FeeSchedule.objects.count() == 1

    # "Save as new" with a later start: v2 is created, v1 ends when v2 starts
    switch = (max(now, timezone.now()) + 7 * DAY).strftime("%Y-%m-%d")
    response = admin_client.post(
        change_url(v1.pk),
        post_data(start=switch, pct="0.02", _saveasnew="Save as new", **common),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    v1.refresh_from_db()
    v2 = FeeSchedule.objects.exclude(pk=v1.pk).get()
    assert v1.effective_to == v2.effective_from
    assert (v1.percentage, v2.percentage, v2.version) == (Decimal("0.01"), Decimal("0.02"), 2)
    assert v2.splits.count() == 2
    assert v1.splits.count() == 2
    assert fee_quote(kind="p2p", amount=ghs(10_000), now=now).fee == ghs(100)
    assert fee_quote(kind="p2p", amount=ghs(10_000), now=v2.effective_from).fee == ghs(200)


@pytest.mark.urls(__name__)
def test_admin_commission_records_are_read_only(admin_client, now):
    schedule = make_schedule(now, flat=10)
    record = record_for(now, schedule, reference="tx-42")
    listing = admin_client.get("/admin/commission/commissionrecord/?party__exact=lightway")
    assert listing.status_code == 200
    assert "tx-42" in listing.content.decode()
    assert "UGX 10" in listing.content.decode()
    assert admin_client.get("/admin/commission/commissionrecord/add/").status_code == 403
    detail = admin_client.get(f"/admin/commission/commissionrecord/{record.pk}/change/")
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert (
        admin_client.post(
            f"/admin/commission/commissionrecord/{record.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )


@pytest.mark.urls(__name__)
def test_admin_ends_a_schedule_in_effect_only_ahead_of_the_cache(admin_client):
    real_now = timezone.now().replace(microsecond=0)
    v1 = make_schedule(
        real_now,
        currency="GHS",
        method="percentage",
        pct="0.01",
        min_fee=50,
        start=real_now - 2 * DAY,
    )
    ids = {
        "name": v1.name,
        "schedule_id": v1.pk,
        "split_ids": list(v1.splits.order_by("party").values_list("id", flat=True)),
        "max_fee": "",
        "start": (real_now - 2 * DAY).strftime("%Y-%m-%d"),
        "start_time": (real_now - 2 * DAY).strftime("%H:%M:%S"),
    }
    soon = real_now + timedelta(seconds=10)
    later = real_now + 2 * DAY

    def at(when):
        return {"end": when.strftime("%Y-%m-%d"), "end_time": when.strftime("%H:%M:%S")}

    response = admin_client.post(change_url(v1.pk), post_data(**ids, **at(soon)))
    assert response.status_code == 200
    assert "at the earliest" in response.content.decode()
    new_version = {
        **ids,
        "start": soon.strftime("%Y-%m-%d"),
        "start_time": soon.strftime("%H:%M:%S"),
        "_saveasnew": "Save as new",
    }
    response = admin_client.post(change_url(v1.pk), post_data(**new_version))
    assert "a new version can start from" in response.content.decode()
    response = admin_client.post(change_url(v1.pk), post_data(**ids, **at(later)))
    assert response.status_code == 302, response.content.decode()[:3000]
    v1.refresh_from_db()
    assert v1.effective_to == later


@pytest.mark.urls(__name__)
def test_admin_explains_that_a_schedule_in_effect_is_frozen(tx_db, admin_client, live_now):
    with transaction.atomic():
        v1 = ghs_schedule(live_now - 2 * DAY)
    url = change_url(v1.pk)

    page = admin_client.get(url).content.decode()
    assert "Frozen: this schedule has been in effect since" in page
    assert "it cannot be deleted" in page
    assert f'href="/admin/commission/feeschedule/{v1.pk}/delete/"' not in page

    response = admin_client.post(url, change_form(v1, pct="0.05"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "has been in effect since" in page
    assert "so it can no longer change (changed: percentage)" in page
    assert "Save as new" in page

    response = admin_client.post(url, change_form(v1, splits=(("lightway", "50"), ("mtn", "50"))))
    assert response.status_code == 200
    assert "its splits can no longer change" in response.content.decode()

    response = admin_client.post(url, change_form(v1, **end_fields(live_now - HOUR)))
    assert response.status_code == 200
    assert "at the earliest, so that every server picks up the change first" in (
        response.content.decode()
    )

    # deleting it explains why instead of failing
    response = admin_client.post(url.replace("/change/", "/delete/"), {"post": "yes"}, follow=True)
    assert response.status_code == 200
    assert "This fee schedule cannot be deleted: it has been in effect since" in (
        response.content.decode()
    )
    response = admin_client.post(
        "/admin/commission/feeschedule/",
        {"action": "delete_selected", "_selected_action": [str(v1.pk)], "post": "yes"},
    )
    assert response.status_code == 200
    assert "so it cannot be deleted (set its “effective to” to end it)" in (
        response.content.decode()
    )

    # ending it ahead of the cache is what is left
    response = admin_client.post(url, change_form(v1, **end_fields(live_now + DAY)))
    assert response.status_code == 302, response.content.decode()[:3000]
    v1.refresh_from_db()
    assert (v1.percentage, v1.effective_to, v1.splits.count()) == (
        Decimal("0.01"),
        live_now + DAY,
        2,
    )
    response = admin_client.post(url, change_form(v1, **end_fields(live_now + 2 * DAY)))
    assert "its period can be ended earlier, not extended" in response.content.decode()
    response = admin_client.post(url, change_form(v1, end=""))
    assert "its period can be ended, not reopened" in response.content.decode()

    with transaction.atomic():
        over = ghs_schedule(live_now - 9 * DAY, end=live_now - 8 * DAY)
    response = admin_client.post(
        change_url(over.pk), change_form(over, **end_fields(live_now + DAY))
    )
    assert response.status_code == 200
    assert "was in effect from" in response.content.decode()
    assert "its period is over and cannot change" in response.content.decode()


@pytest.mark.urls(__name__)
def test_admin_save_as_new_replaces_a_schedule_in_effect_ahead_of_the_cache(
    tx_db, admin_client, live_now
):
    with transaction.atomic():
        v1 = ghs_schedule(live_now - 2 * DAY)
    switch = live_now + DAY
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
    v1.refresh_from_db()
    v2 = FeeSchedule.objects.exclude(pk=v1.pk).get()
    assert (v1.effective_to, v2.effective_from, v2.version) == (switch, switch, 2)
    assert (v1.percentage, v2.percentage) == (Decimal("0.01"), Decimal("0.02"))
    assert fee_quote(kind="p2p", amount=ghs(10_000), now=live_now).fee == ghs(100)
    assert fee_quote(kind="p2p", amount=ghs(10_000), now=switch).fee == ghs(200)


@pytest.mark.urls(__name__)
def test_admin_freezes_a_schedule_that_starts_within_the_lead_time(tx_db, admin_client, live_now):
    """Servers may already hold it in their cache, ready for when it starts."""
    with transaction.atomic():
        soon = ghs_schedule(live_now + 30 * timedelta(seconds=1))
    response = admin_client.post(change_url(soon.pk), change_form(soon, pct="0.05"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "takes effect at" in page and "too soon for a change to reach every server" in page
    assert "so it can no longer change (changed: percentage)" in page
    response = admin_client.post(change_url(soon.pk).replace("/change/", "/delete/"), follow=True)
    assert "This fee schedule cannot be deleted: it takes effect at" in response.content.decode()
    assert FeeSchedule.objects.filter(pk=soon.pk, percentage=Decimal("0.01")).exists()


@pytest.mark.urls(__name__)
def test_admin_edits_and_deletes_a_schedule_not_yet_in_effect(tx_db, admin_client, live_now):
    with transaction.atomic():
        later = ghs_schedule(live_now + 2 * DAY)
    page = admin_client.get(change_url(later.pk)).content.decode()
    assert "Frozen:" not in page
    response = admin_client.post(change_url(later.pk), change_form(later, pct="0.05"))
    assert response.status_code == 302, response.content.decode()[:3000]
    later.refresh_from_db()
    assert later.percentage == Decimal("0.05")
    response = admin_client.post(
        change_url(later.pk).replace("/change/", "/delete/"), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not FeeSchedule.objects.exists()


@pytest.mark.urls(__name__)
def test_admin_shows_a_database_refusal_instead_of_a_server_error(
    tx_db, admin_client, live_now, monkeypatch
):
    """Should the form let a change through (a race, clocks apart), the database refuses it
    and the page says so."""
    import lightway.interfaces.admin.commission as commission_admin

    with transaction.atomic():
        v1 = ghs_schedule(live_now - 2 * DAY)
    monkeypatch.setattr(commission_admin, "_frozen", lambda schedule_id: None)
    response = admin_client.post(change_url(v1.pk), change_form(v1, pct="0.05"), follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Nothing was saved: the database refused the change: fee schedule" in page
    assert "has been in effect since" in page
    response = admin_client.post(
        change_url(v1.pk).replace("/change/", "/delete/"), {"post": "yes"}, follow=True
    )
    assert response.status_code == 200
    assert "Nothing was saved: the database refused the change" in response.content.decode()
    v1.refresh_from_db()
    assert v1.percentage == Decimal("0.01")
