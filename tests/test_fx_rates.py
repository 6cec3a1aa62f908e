"""FX rates (docs/fx.md): maker-checker in the services and in the database, the CFA peg,
cross rates through a pivot, staleness stopping quotes with one alert per change, the
rate-age gauge, and crosses' round trips (hypothesis)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from django.db import DatabaseError, IntegrityError, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightway.application.errors import RequestRefused, ValidationFailed
from lightway.application.fx.feeds import fx_feed_import
from lightway.application.fx.pricing import RateView, fx_price, rate_sides
from lightway.application.fx.ratebook import fx_rate_approve, fx_rate_propose, fx_rate_reject
from lightway.application.fx.rates import FxUnavailable, _Leg, cross_view, fx_rate_for
from lightway.application.fx.watch import fx_quotes_expire, fx_rates_watch
from lightway.data.audit.models import AuditRecord
from lightway.data.fx.models import FxPairState, FxQuote, FxRate, RateStatus
from lightway.data.notify.models import Delivery
from lightway.integration.ratefeed.peg import PegFeed
from lightway.security.policy import Role
from tests.factories import staff
from tests.fx_support import feed_rate

pytestmark = pytest.mark.django_db


# --- maker-checker ---------------------------------------------------------------------------


@pytest.fixture
def finance(now):
    return (
        f"staff:{staff('maker', [Role.LW_FINANCE], now)}",
        f"staff:{staff('checker', [Role.LW_FINANCE], now)}",
    )


def test_one_proposes_another_approves_and_the_rate_prices_from_then_on(finance, now):
    maker, checker = finance
    row = fx_rate_propose(
        base="USD", quote="UGX", mid="3700.5", spread_bps=100, actor=maker, now=now
    )
    assert (row.status, row.source, row.bid, row.ask) == (
        "proposed",
        "treasury",
        Decimal("3663.495"),
        Decimal("3737.505"),
    )
    with pytest.raises(FxUnavailable):  # a proposal prices nothing
        fx_rate_for(send="USD", receive="UGX", now=now)
    later = now + timedelta(minutes=5)
    fx_rate_approve(rate_id=row.pk, actor=checker, now=later)
    view = fx_rate_for(send="USD", receive="UGX", now=later)
    assert view is not None and view.rate_id == row.pk and view.source == "treasury"
    actions = list(
        AuditRecord.objects.filter(object_type="fx.rate", object_id=str(row.pk))
        .order_by("id")
        .values_list("action", "actor")
    )
    assert actions == [("fx.rate_proposed", maker), ("fx.rate_approved", checker)]
    with pytest.raises(RequestRefused) as again:
        fx_rate_reject(rate_id=row.pk, actor=checker, now=later)
    assert again.value.code == "rate_decided"


def test_a_proposer_cannot_decide_their_own_rate(finance, now):
    maker, _ = finance
    row = fx_rate_propose(base="EUR", quote="GHS", bid="12.5", ask="12.9", actor=maker, now=now)
    assert row.mid == Decimal("12.7")
    for decide in (fx_rate_approve, fx_rate_reject):
        with pytest.raises(RequestRefused) as refused:
            decide(rate_id=row.pk, actor=maker, now=now)
        assert refused.value.code == "self_approval"
    row.refresh_from_db()
    assert row.status == "proposed"


def test_the_database_refuses_self_approval_and_changes_to_decided_rates(finance, now):
    maker, checker = finance
    row = fx_rate_propose(base="EUR", quote="GHS", mid="12.7", spread_bps=50, actor=maker, now=now)
    rows = FxRate.objects.filter(pk=row.pk)
    with pytest.raises(IntegrityError, match="decided by its proposer"), transaction.atomic():
        rows.update(status="approved", decided_by=maker, approved_at=now)
    with pytest.raises(IntegrityError, match="decided by its proposer"), transaction.atomic():
        rows.update(status="approved", decided_by="feed:ecb", approved_at=now)
    with pytest.raises(IntegrityError, match="only a feed inserts"), transaction.atomic():
        FxRate.objects.create(
            base="EUR",
            quote="USD",
            mid=1,
            bid=1,
            ask=1,
            source="treasury",
            as_of=now,
            status=RateStatus.APPROVED,
            proposed_by=maker,
            decided_by=maker,
            approved_at=now,
            created_at=now,
        )
    with pytest.raises(IntegrityError, match="only a feed inserts"), transaction.atomic():
        FxRate.objects.create(
            base="EUR",
            quote="USD",
            mid=1,
            bid=1,
            ask=1,
            source="treasury",
            as_of=now,
            status=RateStatus.APPROVED,
            proposed_by="feed:x",
            decided_by="feed:x",
            approved_at=now,
            created_at=now,
        )
    rows.update(status="approved", decided_by=checker, approved_at=now)
    with pytest.raises(IntegrityError, match="never changes again"), transaction.atomic():
        rows.update(status="rejected", approved_at=None)


@pytest.mark.django_db(transaction=True)
def test_rates_are_never_deleted_even_by_the_owner(finance, now, owner_db):
    maker, _ = finance
    row = fx_rate_propose(base="EUR", quote="GHS", mid="12.7", spread_bps=50, actor=maker, now=now)
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        FxRate.objects.filter(pk=row.pk).delete()  # the runtime role has no DELETE
    with pytest.raises(psycopg.errors.RestrictViolation, match="never deleted"):
        owner_db.cursor().execute("DELETE FROM fx_rate WHERE id = %s", [row.pk])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"mid": "abc", "spread_bps": 10}, "mid"),
        ({"mid": "-1", "spread_bps": 10}, "mid"),
        ({"mid": "1.0000000000001", "spread_bps": 10}, "mid"),
        ({"mid": "3700"}, "spread"),
        ({"mid": "3700", "spread_bps": 9000}, "spread"),
        ({"bid": "5", "ask": "4"}, "bid"),
        ({"mid": "3700", "spread_bps": 10, "bid": "1", "ask": "2"}, "mid"),
    ],
)
def test_bad_proposals_are_refused_with_the_field(finance, now, kwargs, field):
    with pytest.raises(ValidationFailed) as refused:
        fx_rate_propose(base="USD", quote="UGX", actor=finance[0], now=now, **kwargs)
    assert refused.value.details["field"] == field


# --- the peg and crosses ------------------------------------------------------------------------


def test_the_peg_is_exactly_655_957_and_never_ages(now):
    run = fx_feed_import(feed=PegFeed(), now=now)
    assert run.ok and run.imported == 2
    assert fx_feed_import(feed=PegFeed(), now=now).imported == 0  # unchanged: nothing new
    view = fx_rate_for(send="EUR", receive="XOF", now=now + timedelta(days=3650))
    assert view is not None and view.mid == Decimal("655.957") and view.source == "peg"
    # 1000.00 EUR at mid is exactly 655,957 XOF; the spread (50 bp by default) is the cost.
    price = fx_price(
        rate=view, send_currency="EUR", receive_currency="XOF", amount=100_000, fixed="send"
    )
    assert price.mid_rate == Decimal("655.957")
    assert price.receive.amount + price.spread.amount == 655_957
    with pytest.raises(IntegrityError, match="fx_rate_peg_exact"), transaction.atomic():
        feed_rate("EUR", "XOF", "655.958", 0, now, source="peg")


def test_a_cross_goes_through_the_pivot_and_widens_the_spread(now):
    fx_feed_import(feed=PegFeed(), now=now)
    ecb = feed_rate(
        "EUR",
        "USD",
        "1.1642",
        150,
        now - timedelta(hours=20),
        source="ecb",
        as_of=now - timedelta(hours=20),
    )
    view = fx_rate_for(send="USD", receive="XOF", now=now)
    assert view is not None and view.source == "cross:ecb+peg"
    assert view.as_of == ecb.as_of  # the older leg that ages
    assert (view.base, view.quote) == ("USD", "XOF")
    assert view.mid == (Decimal("655.957") / Decimal("1.1642")).quantize(Decimal("1e-12"))
    cross_bps = (view.ask - view.bid) / view.mid * 10_000
    assert cross_bps >= Decimal(150 * 2 + 50 * 2) * Decimal("0.999")  # both legs' spreads
    assert view.bid < view.mid < view.ask
    # A cross that is small the direct way round is stored the other way (figure >= 1).
    back = fx_rate_for(send="XOF", receive="USD", now=now)
    assert back is not None and (back.base, back.quote) == ("USD", "XOF")


def test_a_cross_through_usd_when_eur_has_no_leg(now):
    feed_rate("EUR", "USD", "1.16", 100, now, source="ecb")
    feed_rate("USD", "UGX", "3700", 100, now)
    view = fx_rate_for(send="EUR", receive="UGX", now=now)
    assert view is not None and view.source == "cross:ecb+regional"
    assert view.mid == Decimal("4292.000000000000")


# --- staleness --------------------------------------------------------------------------------


def test_a_stale_rate_stops_quoting_for_its_pair_by_source_and_by_pair(now, settings):
    feed_rate("EUR", "USD", "1.16", 100, now, source="ecb", as_of=now - timedelta(days=5))
    with pytest.raises(FxUnavailable) as stale:
        fx_rate_for(send="USD", receive="EUR", now=now)
    assert stale.value.code == "fx_rate_stale"
    settings.FX_MAX_AGE_SECONDS = {"ecb": 7 * 86400}
    assert fx_rate_for(send="USD", receive="EUR", now=now) is not None
    settings.FX_MAX_AGE_SECONDS = {"ecb": 7 * 86400, "EUR/USD": 3600}  # the pair wins
    with pytest.raises(FxUnavailable):
        fx_rate_for(send="USD", receive="EUR", now=now)


def test_a_stale_leg_stops_the_cross(now):
    fx_feed_import(feed=PegFeed(), now=now)
    feed_rate("EUR", "USD", "1.16", 100, now, source="ecb", as_of=now - timedelta(days=5))
    with pytest.raises(FxUnavailable) as stale:
        fx_rate_for(send="USD", receive="XOF", now=now)
    assert stale.value.code == "fx_rate_stale" and stale.value.details["rate_pair"] == "EUR/USD"


def test_the_watch_alerts_once_when_quoting_stops_and_once_when_it_resumes(now, settings):
    settings.FX_WATCH_PAIRS = ["USD/UGX"]
    settings.LIGHTWAY_FX_ALERT_EMAIL = "treasury@lightway.example"
    feed_rate("USD", "UGX", "3700", 100, now)
    assert [c.state for c in fx_rates_watch(now=now)] == ["ok"]
    later = now + timedelta(hours=7)  # the regional feed's rates last 6 hours
    checks = fx_rates_watch(now=later)
    assert (checks[0].state, checks[0].alert) == ("stale", "stopped")
    assert fx_rates_watch(now=later + timedelta(minutes=1))[0].alert == ""  # still stale: quiet
    state = FxPairState.objects.get(pair="USD/UGX")
    assert (state.state, state.since, state.alerted_at) == ("stale", later, later)
    feed_rate("USD", "UGX", "3710", 100, later + timedelta(minutes=2))
    back = fx_rates_watch(now=later + timedelta(minutes=3))
    assert (back[0].state, back[0].alert) == ("ok", "recovered")
    sent = list(Delivery.objects.order_by("id").values_list("template", flat=True))
    assert sent == ["fx_rate_stale", "fx_rate_recovered"]


def test_quotes_past_their_expiry_are_marked_expired(now):
    from lightway.application.fx.quotes import fx_quote_create
    from tests.fx_support import fx_customer, usd_limits

    usd_limits(now)
    feed_rate("USD", "UGX", "3700", 100, now)
    alice, *_ = fx_customer("alice", now)
    quote = fx_quote_create(
        customer_id=alice,
        send_currency="UGX",
        receive_currency="USD",
        amount=37_000,
        fixed="send",
        now=now,
    )
    assert fx_quotes_expire(now=now) == 0
    assert fx_quotes_expire(now=quote.expires_at) == 1
    assert FxQuote.objects.get(id=quote.id).state == "expired"


def test_the_rate_age_gauge_is_served_on_metrics(now, settings, client):
    from django.utils import timezone

    settings.FX_WATCH_PAIRS = ["USD/UGX", "EUR/GHS"]
    settings.LIGHTWAY_METRICS_TOKEN = "t0ken"
    feed_rate("USD", "UGX", "3700", 100, timezone.now() - timedelta(minutes=10))
    body = client.get("/metrics", HTTP_AUTHORIZATION="Bearer t0ken").content.decode()
    line = next(
        x for x in body.splitlines() if x.startswith('lightway_fx_rate_age_seconds{pair="USD/UGX"}')
    )
    assert 590 < float(line.split()[-1]) < 700
    assert 'lightway_fx_pair_quoting{pair="EUR/GHS"} 0.0' in body
    assert 'lightway_fx_pair_quoting{pair="USD/UGX"} 1.0' in body


# --- crosses never create value (hypothesis) -----------------------------------------------------

_mid = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("20000"), places=6)
_bps = st.integers(min_value=0, max_value=500)


def _leg(base: str, quote: str, mid: Decimal, bps: int) -> _Leg:
    bid, ask = rate_sides(mid, bps)
    row = FxRate(base=base, quote=quote, mid=mid, bid=bid, ask=ask, source="ecb", as_of=None)
    return _Leg(base, quote, mid, bid, ask, row)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    m1=_mid,
    b1=_bps,
    m2=_mid,
    b2=_bps,
    amount=st.integers(min_value=1, max_value=10**12),
)
def test_a_cross_round_trip_never_returns_more_than_was_sent(m1, b1, m2, b2, amount, now):
    legs = (_leg("EUR", "USD", m1, b1), _leg("EUR", "GHS", m2, b2))
    legs[0].row.as_of = legs[1].row.as_of = now
    there = cross_view(*legs)
    direct: RateView = there
    assert direct.bid <= direct.mid <= direct.ask
    # The cross's spread is never narrower than either leg's.
    spread = (direct.ask - direct.bid) / direct.mid
    for leg in legs:
        assert spread >= (leg.ask - leg.bid) / leg.mid * Decimal("0.999999")
    try:
        out = fx_price(
            rate=direct, send_currency="USD", receive_currency="GHS", amount=amount, fixed="send"
        )
        back = fx_price(
            rate=direct,
            send_currency="GHS",
            receive_currency="USD",
            amount=out.receive.amount,
            fixed="send",
        )
    except Exception as exc:  # an amount too small to buy one minor unit
        assert "too small" in str(exc)
        return
    assert back.receive.amount <= amount
    assert out.spread.amount >= 0 and back.spread.amount >= 0
