"""KYC tier limits: what each limit refuses and says, effective dating, frozen rows, tier
changes, the regulator defaults, and the limits under concurrency."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction

from lightway.application.errors import NotFound, ValidationFailed
from lightway.application.identity.phones import MARKETS
from lightway.application.identity.profiles import profile_set_pii
from lightway.application.kyc.tiers import (
    DEFAULT_LIMITS,
    kyc_limit_add,
    kyc_limits_for,
    kyc_limits_seed_defaults,
    kyc_tier_set,
)
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.data.audit.models import AuditRecord
from lightway.data.identity.models import KycTierLimit, Profile
from lightway.data.ledger.models import Account
from lightway.data.notify.models import Delivery
from lightway.data.wallets.models import Transfer
from lightway.data.wallets.services import transfer_insert
from tests.concurrency import run_concurrently
from tests.factories import customer, funded_wallet

pytestmark = pytest.mark.django_db

# UG tier 2 (seeded): per transaction 2.5M, daily 10M, monthly 50M, balance 10M.
# UG tier 3: per transaction 5M, daily 20M, monthly 100M, balance 20M.


def _req(src, dst, amount, currency="UGX"):
    return TransferRequest(src.id, dst.id, amount, currency, "")


def _pay(client_id, src, dst, amount, now, currency="UGX"):
    return transfer_create(
        client_id=client_id,
        idempotency_key=str(uuid.uuid4()),
        request=_req(src, dst, amount, currency),
        now=now,
    ).transfer


def _past(client_id, src, dst, amount, at, status="pending", kind="p2p"):
    """A transfer made earlier (in flight, or failed: not counted)."""
    transfer_insert(
        transfer_id=uuid.uuid4(),
        kind=kind,
        status=status,
        client_id=client_id,
        idempotency_key=str(uuid.uuid4()),
        request_hash="0" * 64,
        source_wallet_id=src.id,
        destination_wallet_id=dst.id,
        currency="UGX",
        amount=amount,
        fee=0,
        description="",
        now=at,
        failure_code="x" if status == "failed" else "",
    )


def _tier(user_id, tier):
    Profile.objects.filter(user_id=user_id).update(kyc_tier=tier)


@pytest.fixture
def pair(now):
    a_id, _ = customer("alice", now)
    b_id, _ = customer("bob", now)
    return (
        a_id,
        funded_wallet(a_id, "UGX", 60_000_000, now),
        b_id,
        funded_wallet(b_id, "UGX", 0, now),
    )


def _refused(transfer, limit_words):
    assert (transfer.status, transfer.failure_code) == ("failed", "limit_exceeded")
    assert limit_words in transfer.failure_message, transfer.failure_message
    return transfer.failure_message


def test_per_transaction_limit(pair, now):
    a_id, wa, _, wb = pair
    message = _refused(_pay(a_id, wa, wb, 5_000_001, now), "per-transaction limit")
    assert "UGX 5,000,000" in message and "KYC tier 3" in message
    assert Account.objects.get(pk=wb.account_id).balance == 0  # nothing moved
    assert _pay(a_id, wa, wb, 5_000_000, now).status == "succeeded"


def test_daily_limit_counts_in_flight_not_failed_and_uses_the_local_day(pair, now):
    a_id, wa, _, wb = pair
    _tier(a_id, 2)
    # now is 12:00 in Kampala (UTC+3): 21:00 UTC yesterday is midnight today there.
    _past(a_id, wa, wb, 2_000_000, datetime(2026, 11, 23, 21, 0, tzinfo=UTC))  # today
    _past(a_id, wa, wb, 2_500_000, datetime(2026, 11, 23, 20, 59, tzinfo=UTC))  # yesterday
    _past(a_id, wa, wb, 2_500_000, now - timedelta(hours=1), status="failed")  # not counted
    for _ in range(3):
        assert _pay(a_id, wa, wb, 2_000_000, now).status == "succeeded"
    # sent today: 2M pending + 6M = 8M of 10M
    message = _refused(_pay(a_id, wa, wb, 2_000_001, now), "daily limit of UGX 10,000,000")
    assert "you can send UGX 2,000,000 more today" in message
    refused = Transfer.objects.filter(failure_code="limit_exceeded").get()
    assert refused.amount == 2_000_001
    assert _pay(a_id, wa, wb, 2_000_000, now).status == "succeeded"
    message = _refused(_pay(a_id, wa, wb, 1, now), "daily limit")
    assert "UGX 0 more today" in message


def test_monthly_limit_counts_this_calendar_month_only(pair, now):
    a_id, wa, _, wb = pair
    _tier(a_id, 2)  # monthly 50M
    # Earlier this month (Kampala): 5 days x 9.8M = 49M; and 9M on the last day of last month.
    for day in range(2, 7):
        _past(a_id, wa, wb, 9_800_000, datetime(2026, 11, day, 8, 0, tzinfo=UTC))
    _past(a_id, wa, wb, 9_000_000, datetime(2026, 10, 31, 20, 0, tzinfo=UTC))  # 23:00 Oct 31
    message = _refused(_pay(a_id, wa, wb, 1_000_001, now), "monthly limit of UGX 50,000,000")
    assert "you can send UGX 1,000,000 more this month" in message
    assert _pay(a_id, wa, wb, 1_000_000, now).status == "succeeded"


def test_recipient_max_balance_is_refused_without_telling_the_payer_why(pair, now):
    a_id, wa, b_id, wb = pair
    _tier(b_id, 1)  # UG tier 1: balance at most UGX 2,000,000
    assert _pay(a_id, wa, wb, 1_500_000, now).status == "succeeded"
    transfer = _pay(a_id, wa, wb, 500_001, now)
    message = _refused(transfer, "maximum balance")
    assert "2,000,000" not in message and "1,500,000" not in message and "tier" not in message
    assert Account.objects.get(pk=wb.account_id).balance == 1_500_000
    assert _pay(a_id, wa, wb, 500_000, now).status == "succeeded"


def test_unverified_customers_cannot_pay_or_receive(pair, now):
    a_id, wa, b_id, wb = pair
    _tier(a_id, 0)
    _refused(_pay(a_id, wa, wb, 1, now), "verify your phone number")
    _tier(a_id, 3)
    _tier(b_id, 0)
    _refused(_pay(a_id, wa, wb, 1, now), "maximum balance")


def test_other_currencies_use_their_home_market_or_are_refused(now):
    a_id, _ = customer("alice", now, tier=1)  # UG
    b_id, _ = customer("bob", now)
    ga, gb = funded_wallet(a_id, "GHS", 1_000_000, now), funded_wallet(b_id, "GHS", 0, now)
    # GH Minimum KYC from 1 Mar 2024: GHS 3,000.00 per day (and per payment, derived).
    _refused(_pay(a_id, ga, gb, 300_001, now, "GHS"), "GHS 3,000.00")
    assert _pay(a_id, ga, gb, 300_000, now, "GHS").status == "succeeded"
    ka, kb = funded_wallet(a_id, "KES", 1_000, now), funded_wallet(b_id, "KES", 0, now)
    message = _refused(_pay(a_id, ka, kb, 100, now, "KES"), "no limits are defined for KES")
    assert "in UG for KYC tier 1" in message
    views = {v.currency: v for v in kyc_limits_for(user_id=a_id, now=now)}
    assert list(views) == ["UGX", "GHS", "KES"]
    assert views["GHS"].country == "GH" and views["GHS"].spent_today == 300_000
    assert views["GHS"].remaining_today == 0 and views["GHS"].text["daily"] == "GHS 3,000.00"
    assert not views["KES"].defined
    assert views["UGX"].per_transaction == 1_000_000 and views["UGX"].country == "UG"


def test_effective_dating_picks_the_row_in_effect(pair, now):
    a_id, wa, _, wb = pair
    start = datetime(2031, 1, 1, tzinfo=UTC)
    row = kyc_limit_add(
        country="UG",
        tier=3,
        currency_code="UGX",
        effective_from=start,
        actor="staff:1",
        now=now,
        per_transaction=1_000,
        daily=None,
        monthly=None,
        max_balance=None,
        source="test",
    )
    assert AuditRecord.objects.filter(
        action="identity.kyctierlimit.create", object_id=str(row.pk)
    ).exists()
    assert _pay(a_id, wa, wb, 1_001, now).status == "succeeded"
    later = start + timedelta(days=1)
    _refused(_pay(a_id, wa, wb, 1_001, later), "per-transaction limit of UGX 1,000")
    (view,) = kyc_limits_for(user_id=a_id, now=later)
    assert (view.per_transaction, view.daily, view.effective_from) == (1_000, None, start)
    (view,) = kyc_limits_for(user_id=a_id, now=now)
    assert view.per_transaction == 5_000_000
    with pytest.raises(ValidationFailed, match="must start after now"):
        kyc_limit_add(
            country="UG", tier=3, currency_code="UGX", effective_from=now, actor="x", now=now
        )


def test_rows_in_effect_are_frozen_and_future_rows_are_not(now):
    kyc_limits_seed_defaults(now=now)
    row = KycTierLimit.objects.get(country="UG", tier=3, currency="UGX")
    with pytest.raises(IntegrityError, match="in effect since"), transaction.atomic():
        KycTierLimit.objects.filter(pk=row.pk).update(daily=1)
    with pytest.raises(IntegrityError, match="cannot be deleted"), transaction.atomic():
        KycTierLimit.objects.filter(pk=row.pk).delete()
    row.save()  # an unchanged rewrite is fine
    future = KycTierLimit.objects.create(
        country="UG",
        tier=3,
        currency="UGX",
        effective_from=datetime(2040, 1, 1, tzinfo=UTC),
        daily=5,
        created_at=now,
    )
    KycTierLimit.objects.filter(pk=future.pk).update(daily=6)
    with pytest.raises(IntegrityError, match="in the past"), transaction.atomic():
        KycTierLimit.objects.filter(pk=future.pk).update(
            effective_from=datetime(2020, 1, 1, tzinfo=UTC)
        )
    KycTierLimit.objects.filter(pk=future.pk).delete()


@pytest.mark.django_db(transaction=True)
def test_no_back_dated_row_once_limits_are_in_effect(now):
    assert kyc_limits_seed_defaults(now=now) == len(DEFAULT_LIMITS)  # committed
    with pytest.raises(IntegrityError, match="already in effect"):
        KycTierLimit.objects.create(
            country="UG",
            tier=3,
            currency="UGX",
            effective_from=datetime(2023, 1, 1, tzinfo=UTC),
            created_at=now,
        )
    # A market with nothing in effect yet may be seeded with back-dated rows.
    KycTierLimit.objects.create(
        country="UG",
        tier=3,
        currency="NGN",
        effective_from=datetime(2023, 1, 1, tzinfo=UTC),
        created_at=now,
    )
    connection.close()


def test_tier_change_raises_limits_is_audited_and_notifies(pair, now):
    a_id, wa, _, wb = pair
    profile_set_pii(user_id=a_id, now=now, phone="+256700123401")
    _tier(a_id, 1)
    _refused(_pay(a_id, wa, wb, 2_000_000, now), "per-transaction limit of UGX 1,000,000")
    assert kyc_tier_set(user_id=a_id, tier=3, actor="sumsub", reason="applicant approved", now=now)
    record = AuditRecord.objects.get(action="kyc.tier.set", object_id=str(a_id))
    assert record.actor == "sumsub"
    assert record.data == {"from": 1, "to": 3, "reason": "applicant approved"}
    delivery = Delivery.objects.get(template="limits_raised", user_id=a_id)
    assert delivery.channel == "sms"
    assert _pay(a_id, wa, wb, 2_000_000, now).status == "succeeded"

    # Only staff lower a tier; the same tier again changes nothing.
    assert not kyc_tier_set(user_id=a_id, tier=3, actor="sumsub", reason="again", now=now)
    assert not kyc_tier_set(user_id=a_id, tier=1, actor="sumsub", reason="rejected", now=now)
    assert Profile.objects.get(user_id=a_id).kyc_tier == 3
    assert kyc_tier_set(user_id=a_id, tier=1, actor="staff:7", reason="fraud check", now=now)
    assert Profile.objects.get(user_id=a_id).kyc_tier == 1
    assert Delivery.objects.filter(template="limits_raised").count() == 1  # no "raised" on a cut
    with pytest.raises(ValidationFailed):
        kyc_tier_set(user_id=a_id, tier=9, actor="staff:7", reason="no such tier", now=now)
    with pytest.raises(ValidationFailed):
        kyc_tier_set(user_id=a_id, tier=2, actor="staff:7", reason="", now=now)
    with pytest.raises(NotFound):
        kyc_tier_set(user_id=999_999, tier=2, actor="staff:7", reason="who?", now=now)


def test_seed_defaults_are_idempotent_and_cite_their_source(now):
    created = kyc_limits_seed_defaults(now=now)
    assert created == len(DEFAULT_LIMITS) == KycTierLimit.objects.count()
    assert kyc_limits_seed_defaults(now=now) == 0
    assert KycTierLimit.objects.count() == created
    for country, code in MARKETS.items():
        rows = KycTierLimit.objects.filter(country=country, currency=code)
        assert set(rows.values_list("tier", flat=True)) == {0, 1, 2, 3}, country
        for row in rows:
            assert row.source and row.created_by == "system:seed"
            if row.tier == 0:
                assert (row.per_transaction, row.daily, row.monthly, row.max_balance) == (0,) * 4
        # Higher tiers never get less than lower ones (same start date).
        for start in set(rows.values_list("effective_from", flat=True)):
            tiers = sorted(rows.filter(effective_from=start), key=lambda r: r.tier)
            for low, high in itertools.pairwise(tiers):
                for field in ("per_transaction", "daily", "max_balance"):
                    a, b = getattr(low, field), getattr(high, field)
                    assert b is None or (a is not None and a <= b), (country, field, low, high)
    ghana = KycTierLimit.objects.get(
        country="GH", tier=3, effective_from=datetime(2024, 3, 1, tzinfo=UTC)
    )
    assert (ghana.daily, ghana.monthly, ghana.max_balance) == (2_500_000, None, 7_500_000)
    assert "BoG" in ghana.source and "2024" in ghana.source
    assert AuditRecord.objects.filter(action="identity.kyctierlimit.seed").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_payments_from_one_wallet_never_pass_the_daily_limit(now):
    a_id, _ = customer("alice", now, tier=2)  # daily 10M, per payment 2.5M
    b_id, _ = customer("bob", now)
    wa = funded_wallet(a_id, "UGX", 60_000_000, now)
    wb = funded_wallet(b_id, "UGX", 0, now)
    # Each request reads its own clock, as separate requests do.
    outcomes = run_concurrently(
        lambda at: _pay(a_id, wa, wb, 2_000_000, at).failure_code or "ok",
        [(now + timedelta(seconds=8 - i),) for i in range(8)],
    )
    assert sorted(outcomes) == ["limit_exceeded"] * 3 + ["ok"] * 5
    assert Account.objects.get(pk=wb.account_id).balance == 10_000_000
    connection.close()


@pytest.mark.django_db(transaction=True)
def test_no_setting_lets_a_back_dated_row_rewrite_limits_in_effect(now):
    """The freeze does not trust a setting the application can write: listing the rows in
    effect as "inserted by this transaction" (0002's mark) changes nothing."""
    kyc_limits_seed_defaults(now=now)  # committed: inserted by an earlier transaction
    in_effect = KycTierLimit.objects.filter(country="UG", tier=3, currency="UGX")
    ids = ",".join(str(pk) for pk in in_effect.values_list("pk", flat=True))
    with pytest.raises(IntegrityError, match="already in effect"), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SELECT set_config('lightway.kyc_limits_created', %s, true)", [ids])
        KycTierLimit.objects.create(
            country="UG",
            tier=3,
            currency="UGX",
            effective_from=datetime(2023, 1, 1, tzinfo=UTC),
            created_at=now,
            per_transaction=10**12,
        )
    # nor can a row claim to be this transaction's, or change whose it is
    row = KycTierLimit.objects.create(
        country="UG",
        tier=3,
        currency="UGX",
        effective_from=now + timedelta(days=400),
        created_at=now,
        created_txid=1,
    )
    row.refresh_from_db()
    assert row.created_txid != 1
    with pytest.raises(IntegrityError, match="is fixed"), transaction.atomic():
        KycTierLimit.objects.filter(pk=row.pk).update(created_txid=1)
    connection.close()
