"""Rate feeds over real HTTP (docs/fx.md, "Feeds"): the ECB client against the ECB
simulator (parse, as_of, unknown currencies skipped, malformed, stale, 5xx, slow), the
regional feed client against its simulator, hostile XML, and the import job."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from lightway.application.fx.feeds import fx_feed_import, fx_feeds_import
from lightway.application.fx.rates import FxUnavailable, fx_rate_for
from lightway.data.audit.models import AuditRecord
from lightway.data.fx.models import FxFeedStatus, FxRate
from lightway.integration.ratefeed.ecb import EcbClient, ecb_as_of, ecb_parse
from lightway.integration.ratefeed.port import FeedMalformed, FeedNotConfigured, FeedUnavailable
from lightway.integration.ratefeed.regional import RegionalFeedClient, regional_parse
from lightway.integration.ratefeed.simulator import (
    EcbSimulator,
    RegionalFeedSimulator,
    ecb_latest_day,
)


@pytest.fixture(scope="module")
def ecb_sim():
    sim = EcbSimulator().start()
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def regional_sim():
    sim = RegionalFeedSimulator().start()
    yield sim
    sim.stop()


@pytest.fixture
def ecb(ecb_sim):
    ecb_sim.reset()
    yield ecb_sim
    ecb_sim.reset()


@pytest.fixture
def regional(regional_sim):
    regional_sim.reset()
    yield regional_sim
    regional_sim.reset()


# --- the ECB --------------------------------------------------------------------------------------


def test_the_ecb_file_is_parsed_with_its_publication_time(ecb):
    ecb.configure(day=date(2026, 12, 4))
    publication = EcbClient(base_url=ecb.base_url, timeout=5).fetch()
    assert publication.feed == "ecb"
    # 16:00 in Frankfurt in winter (CET, UTC+1) is 15:00 UTC
    assert publication.as_of == datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
    rates = {(r.base, r.quote): r.mid for r in publication.rates}
    # JPY and CHF are published but not currencies of the platform: skipped, not refused
    assert rates == {
        ("EUR", "USD"): Decimal("1.1642"),
        ("EUR", "GBP"): Decimal("0.87345"),
        ("EUR", "ZAR"): Decimal("19.8745"),
    }
    assert ecb_as_of(date(2026, 7, 1)) == datetime(2026, 7, 1, 14, 0, tzinfo=UTC)  # CEST


def test_the_simulator_publishes_on_weekdays_after_16_berlin():
    friday_noon = datetime(2026, 12, 4, 11, 0, tzinfo=UTC)
    assert ecb_latest_day(friday_noon) == date(2026, 12, 3)
    assert ecb_latest_day(friday_noon + timedelta(hours=5)) == date(2026, 12, 4)
    assert ecb_latest_day(datetime(2026, 12, 6, 20, 0, tzinfo=UTC)) == date(2026, 12, 4)


@pytest.mark.parametrize(
    ("knobs", "error", "message"),
    [
        ({"fault": "malformed"}, FeedMalformed, "not well-formed"),
        ({"fault": "5xx"}, FeedUnavailable, "503"),
        ({"rates": {"USD": "1,1642"}}, FeedMalformed, "not a decimal"),
        ({"rates": {"USD": "0"}}, FeedMalformed, "not positive"),
        ({"rates": {}}, FeedMalformed, "no rates"),
    ],
)
def test_a_broken_ecb_answer_is_refused_as_a_whole(ecb, knobs, error, message):
    ecb.configure(**knobs)
    with pytest.raises(error, match=message):
        EcbClient(base_url=ecb.base_url, timeout=5).fetch()


def test_a_slow_ecb_is_a_timeout_not_a_hang(ecb):
    ecb.configure(fault="slow", delay_seconds=1.5)
    started = datetime.now(UTC)
    with pytest.raises(FeedUnavailable, match="in time"):
        EcbClient(base_url=ecb.base_url, timeout=0.3).fetch()
    assert datetime.now(UTC) - started < timedelta(seconds=1.4)


@pytest.mark.parametrize(
    "body",
    [
        # an entity expansion bomb and an external entity: never expanded or fetched
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><x>&b;</x>',
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    ],
)
def test_hostile_xml_is_refused_without_expanding_anything(body):
    with pytest.raises(FeedMalformed, match="DTD"):
        ecb_parse(body)


def test_other_xml_than_a_publication_is_refused():
    with pytest.raises(FeedMalformed, match="gesmes"):
        ecb_parse(b"<Envelope/>")
    two_days = (
        b'<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" '
        b'xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref"><Cube>'
        b'<Cube time="2026-12-03"><Cube currency="USD" rate="1.1"/></Cube>'
        b'<Cube time="2026-12-04"><Cube currency="USD" rate="1.2"/></Cube>'
        b"</Cube></gesmes:Envelope>"
    )
    with pytest.raises(FeedMalformed, match="2 publication days"):
        ecb_parse(two_days)


def test_a_base_url_must_be_https_except_on_loopback():
    with pytest.raises(FeedNotConfigured):
        EcbClient(base_url="http://ecb.example.com")
    with pytest.raises(FeedNotConfigured):
        EcbClient(base_url="")


# --- the regional feed ------------------------------------------------------------------------


def test_the_regional_feed_gives_usd_rates_of_the_currencies_the_ecb_lacks(regional):
    regional.configure(as_of="2026-12-07T09:00:00Z")
    publication = RegionalFeedClient(
        base_url=regional.base_url, api_key=regional.api_key, timeout=5
    ).fetch()
    assert publication.as_of == datetime(2026, 12, 7, 9, tzinfo=UTC)
    assert {(r.base, r.quote) for r in publication.rates} >= {
        ("USD", "UGX"),
        ("USD", "GHS"),
        ("USD", "RWF"),
        ("USD", "ZMW"),
    }


def test_the_regional_feed_refuses_a_wrong_key_and_float_rates(regional):
    with pytest.raises(FeedUnavailable, match="refused our key"):
        RegionalFeedClient(base_url=regional.base_url, api_key="wrong", timeout=5).fetch()
    regional.configure(fault="malformed")
    with pytest.raises(FeedMalformed, match=r"no time zone|not an ISO"):
        RegionalFeedClient(base_url=regional.base_url, api_key=regional.api_key).fetch()
    with pytest.raises(FeedMalformed, match="decimal string"):
        regional_parse(
            b'{"base": "USD", "as_of": "2026-12-07T09:00:00Z", "rates": {"UGX": 3700.5}}'
        )
    with pytest.raises(FeedMalformed, match="not a currency"):
        regional_parse(b'{"base": "USD", "as_of": "2026-12-07T09:00:00Z", "rates": {"XYZ": "1"}}')


def test_the_simulators_take_their_knobs_over_http(regional):
    answer = httpx.post(f"{regional.base_url}/sim/configure", json={"fault": "5xx"}, timeout=5)
    assert answer.status_code == 200
    with pytest.raises(FeedUnavailable, match="503"):
        RegionalFeedClient(base_url=regional.base_url, api_key=regional.api_key).fetch()
    refused = httpx.post(f"{regional.base_url}/sim/configure", json={"fault": "x"}, timeout=5)
    assert refused.status_code == 400


# --- the import job -------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_import_stores_feed_approved_rates_with_the_configured_spread(ecb, regional, settings):
    now = datetime.now(UTC)
    settings.FX_ECB_BASE_URL = ecb.base_url
    settings.FX_REGIONAL_FEED_URL = regional.base_url
    settings.FX_REGIONAL_FEED_KEY = regional.api_key
    settings.FX_SPREAD_BPS = {"default": 100, "EUR/USD": 20}
    runs = {r.feed: r for r in fx_feeds_import(now=now)}
    assert set(runs) == {"peg", "ecb", "regional"} and all(r.ok for r in runs.values())
    assert runs["ecb"].imported == 3 and runs["peg"].imported == 2
    usd = FxRate.objects.get(base="EUR", quote="USD")
    assert (usd.status, usd.proposed_by, usd.decided_by) == ("approved", "feed:ecb", "feed:ecb")
    assert (usd.ask - usd.mid) / usd.mid == Decimal("0.002")  # 20 bp from the configuration
    # UGX is priced from the regional feed; EUR -> UGX crosses through USD.
    assert fx_rate_for(send="EUR", receive="UGX", now=now).source == "cross:ecb+regional"
    assert AuditRecord.objects.filter(action="fx.rates_imported", object_id="ecb").count() == 1
    # The same publications again: nothing new.
    assert [r.imported for r in fx_feeds_import(now=now + timedelta(minutes=10))] == [0, 0, 0]
    status = FxFeedStatus.objects.get(feed="ecb")
    assert status.failures == 0 and status.published_as_of == runs["ecb"].as_of


@pytest.mark.django_db
def test_a_failing_feed_is_recorded_and_imports_nothing(ecb):
    now = datetime.now(UTC)
    ecb.configure(fault="malformed")
    client = EcbClient(base_url=ecb.base_url, timeout=5)
    run = fx_feed_import(feed=client, now=now)
    assert not run.ok and "not well-formed" in run.error
    fx_feed_import(feed=client, now=now + timedelta(minutes=10))
    status = FxFeedStatus.objects.get(feed="ecb")
    assert status.failures == 2 and "not well-formed" in status.last_error
    assert status.last_success_at is None
    assert not FxRate.objects.exists()


@pytest.mark.django_db
def test_a_stale_publication_stops_quoting(ecb):
    now = datetime.now(UTC)
    ecb.configure(day=(now - timedelta(days=9)).date())
    assert fx_feed_import(feed=EcbClient(base_url=ecb.base_url), now=now).imported == 3
    with pytest.raises(FxUnavailable) as stale:
        fx_rate_for(send="EUR", receive="USD", now=now)
    assert stale.value.code == "fx_rate_stale"
