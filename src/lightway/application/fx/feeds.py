"""Importing the rate feeds (docs/fx.md, "Feeds"): the periodic ``fx_feeds_import`` job.

Each configured feed (``ratefeed`` port: the ECB, the regional feed, the CFA peg) is read
outside any transaction; its publication is then stored in one transaction: for every pair
whose figure differs from that feed's own latest rate of the pair (another ``as_of``, mid
or spread), one new rate row, approved by the feed itself (``proposed_by`` = ``decided_by``
= ``feed:<name>``). Re-reading an unchanged publication writes nothing.

Why feeds skip the human checker: a feed rate is not a figure someone typed. It is the
published reference of an institution (the ECB), a contractual provider, or a parity fixed
by treaty, read by a machine and refused as a whole when malformed. What a person could
get wrong is the configuration around it, and that is reviewed as configuration: the
spread the platform charges on each pair (``LIGHTWAY_FX_SPREAD_BPS``; feeds publish mid
rates only) and the maximum age that stops quoting. Staff can always override a feed rate
with a treasury rate (maker-checker), which wins until the feed publishes again.

Every run is recorded per feed (``FxFeedStatus``: last attempt and success, the
publication's ``as_of``, rates imported, last error, consecutive failures) for the staff
feed panel, counted in ``lightway_fx_feed_runs_total{feed,outcome}`` and, when it imported
anything, audited (``fx.rates_imported``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction

from lightway.application.fx.pricing import FxPricingError, rate_sides
from lightway.data.audit.services import audit_record
from lightway.data.fx.models import FxFeedStatus, FxRate, RateStatus
from lightway.data.fx.selectors import fx_rate_latest_from
from lightway.infrastructure import metrics
from lightway.infrastructure.jobs import job_enqueue
from lightway.integration.ratefeed.ecb import EcbClient
from lightway.integration.ratefeed.peg import PegFeed
from lightway.integration.ratefeed.port import FeedError, FeedPublication, RateFeed
from lightway.integration.ratefeed.regional import RegionalFeedClient

logger = logging.getLogger(__name__)

DEFAULT_SPREAD_BPS = 150


def feed_actor(name: str) -> str:
    return f"feed:{name}"


def spread_bps_for(pair: str) -> int:
    """The configured spread of feed rates of ``pair`` ("EUR/USD"), else the default."""
    spreads = getattr(settings, "FX_SPREAD_BPS", {}) or {}
    return int(spreads.get(pair, spreads.get("default", DEFAULT_SPREAD_BPS)))


def feeds_configured() -> list[RateFeed]:
    """The feeds to import: the peg always; the ECB and the regional feed when their base
    URL is set."""
    timeout = float(settings.FX_FEED_TIMEOUT_SECONDS)
    feeds: list[RateFeed] = [PegFeed()]
    if settings.FX_ECB_BASE_URL:
        feeds.append(EcbClient(base_url=settings.FX_ECB_BASE_URL, timeout=timeout))
    if settings.FX_REGIONAL_FEED_URL:
        feeds.append(
            RegionalFeedClient(
                base_url=settings.FX_REGIONAL_FEED_URL,
                api_key=settings.FX_REGIONAL_FEED_KEY,
                timeout=timeout,
            )
        )
    return feeds


@dataclass(frozen=True)
class FeedRun:
    feed: str
    ok: bool
    imported: int = 0
    as_of: datetime | None = None
    error: str = ""


def fx_feeds_import(*, now: datetime) -> list[FeedRun]:
    """Import every configured feed (one failing never stops the others)."""
    runs = []
    for feed in feeds_configured():
        runs.append(fx_feed_import(feed=feed, now=now))
    return runs


def fx_feed_import(*, feed: RateFeed, now: datetime) -> FeedRun:
    """Read ``feed`` and store what changed (module docstring); never raises a feed error."""
    try:
        publication = feed.fetch()
    except FeedError as exc:
        return _failed(feed.name, str(exc)[:300], now)
    except Exception as exc:  # a bug in one feed must not stop the others
        logger.exception("fx feed raised unexpectedly", extra={"feed": feed.name})
        return _failed(feed.name, f"unexpected {type(exc).__name__}", now)
    if publication.as_of > now:
        return _failed(feed.name, "the publication is dated in the future: refused", now)
    try:
        imported = _store(publication, now)
    except FxPricingError as exc:
        return _failed(feed.name, f"unusable spread configuration: {exc}"[:300], now)
    metrics.fx_feed_runs_total.labels(feed=feed.name, outcome="ok").inc()
    logger.info(
        "fx feed imported",
        extra={"feed": feed.name, "imported": imported, "as_of": publication.as_of.isoformat()},
    )
    return FeedRun(feed.name, True, imported, publication.as_of)


def _store(publication: FeedPublication, now: datetime) -> int:
    actor = feed_actor(publication.feed)
    imported: list[str] = []
    with transaction.atomic():
        status = FxFeedStatus.objects.select_for_update().filter(feed=publication.feed).first()
        for rate in publication.rates:
            pair = f"{rate.base}/{rate.quote}"
            bid, ask = rate_sides(rate.mid, spread_bps_for(pair))
            current = fx_rate_latest_from(base=rate.base, quote=rate.quote, source=publication.feed)
            if current is not None and (current.as_of, current.mid, current.bid, current.ask) == (
                publication.as_of,
                rate.mid,
                bid,
                ask,
            ):
                continue
            FxRate.objects.create(
                base=rate.base,
                quote=rate.quote,
                mid=rate.mid,
                bid=bid,
                ask=ask,
                source=publication.feed,
                as_of=publication.as_of,
                status=RateStatus.APPROVED,
                proposed_by=actor,
                decided_by=actor,
                approved_at=now,
                created_at=now,
            )
            imported.append(pair)
        if status is None:
            status = FxFeedStatus(feed=publication.feed)
        status.last_attempt_at = now
        status.last_success_at = now
        status.published_as_of = publication.as_of
        status.imported = len(imported)
        status.last_error = ""
        status.failures = 0
        status.save()
        if imported:
            audit_record(
                actor=actor,
                action="fx.rates_imported",
                object_type="fx.feed",
                object_id=publication.feed,
                data={"as_of": publication.as_of.isoformat(), "pairs": imported},
                now=now,
            )
    return len(imported)


def _failed(name: str, error: str, now: datetime) -> FeedRun:
    with transaction.atomic():
        status = FxFeedStatus.objects.select_for_update().filter(feed=name).first()
        if status is None:
            status = FxFeedStatus(feed=name)
        status.last_attempt_at = now
        status.last_error = error
        status.failures += 1
        status.save()
    metrics.fx_feed_runs_total.labels(feed=name, outcome="failed").inc()
    logger.warning("fx feed failed", extra={"feed": name, "error": error[:200]})
    return FeedRun(name, False, error=error)


FEEDS_IMPORT_TASK = "fx_feeds_import"


def fx_feeds_import_enqueue(*, actor: str) -> int:
    """Ask the worker for a feed import now (the demo seed: rates as soon as the worker
    runs, not at the next 10-minute mark). One waits at most; returns the job id."""
    with transaction.atomic():
        job_id = job_enqueue(FEEDS_IMPORT_TASK, queueing_lock=FEEDS_IMPORT_TASK)
    logger.info("fx feed import requested", extra={"actor": actor, "job_id": job_id})
    return job_id


def fx_feed_statuses() -> list[FxFeedStatus]:
    """Every feed's last run (configured feeds first, then any no longer configured)."""
    rows = {s.feed: s for s in FxFeedStatus.objects.all()}
    names = [f.name for f in feeds_configured()]
    out = [rows.pop(n, FxFeedStatus(feed=n)) for n in names]
    return out + sorted(rows.values(), key=lambda s: s.feed)
