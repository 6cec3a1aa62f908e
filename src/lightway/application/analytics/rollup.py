"""The rollup job (``analytics_rollup``, every 10 s in the worker).

One run:

1. takes committed outbox events in batches of ``BATCH`` (at most ``MAX_BATCHES``), each
   batch in one transaction with the deltas it adds (``data/analytics/models.py`` says why
   that never skips nor double-counts an event, and why a run's cost depends only on how
   many events are new);
2. flushes this process's latency samples (``data/analytics/samples.py``);
3. samples the job queue (jobs waiting, the oldest due job's age);
4. deletes minute rows older than ``LIGHTWAY_ANALYTICS_MINUTE_RETENTION_HOURS`` and hour
   rows older than ``LIGHTWAY_ANALYTICS_HOUR_RETENTION_DAYS`` (days and totals are kept).

Runs are serialised by an advisory lock (and the task's queueing lock).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction

from lightway.application.identity.phones import MARKETS
from lightway.data.analytics import samples
from lightway.data.analytics.buckets import bucket_le
from lightway.data.analytics.models import Grain, LatencySource, OutboxSource
from lightway.data.analytics.services import (
    Event,
    LatencyKey,
    ProviderKey,
    TransferKey,
    client_facts,
    grain_buckets,
    latency_deltas_add,
    outbox_take,
    provider_rollup_add,
    queue_depths,
    queue_rollup_add,
    rollup_state_advance,
    rollups_prune,
    transfer_rollup_add,
)
from lightway.data.identity.models import Realm

logger = logging.getLogger(__name__)

BATCH = 5_000
MAX_BATCHES = 20
# pg_advisory_xact_lock key serialising runs ("LWANLY").
ROLLUP_LOCK_KEY = 0x4C57414E4C59
MARKET_OF_CURRENCY = {currency: market for market, currency in MARKETS.items()}


@dataclass(frozen=True)
class RollupResult:
    events: int
    batches: int
    samples: int
    pruned: int


def _minute_retention() -> timedelta:
    return timedelta(hours=int(getattr(settings, "LIGHTWAY_ANALYTICS_MINUTE_RETENTION_HOURS", 48)))


def _hour_retention() -> timedelta:
    return timedelta(days=int(getattr(settings, "LIGHTWAY_ANALYTICS_HOUR_RETENTION_DAYS", 90)))


def analytics_rollup(*, now: datetime, max_batches: int = MAX_BATCHES) -> RollupResult:
    """Count what is new, flush samples, sample the queue, prune; see the module docstring."""
    events = batches = 0
    for _ in range(max_batches):
        taken = rollup_batch(now=now)
        if not taken:
            break
        events += taken
        batches += 1
        if taken < BATCH:
            break
    flushed = samples.latency_flush()
    with transaction.atomic():
        queue_rollup_add(at=now, depths=queue_depths(now=now))
    pruned = rollups_prune(grain=Grain.MINUTE, before=now - _minute_retention())
    pruned += rollups_prune(grain=Grain.HOUR, before=now - _hour_retention())
    if events or pruned:
        logger.info(
            "analytics rollup", extra={"events": events, "samples": flushed, "pruned": pruned}
        )
    return RollupResult(events=events, batches=batches, samples=flushed, pruned=pruned)


def rollup_batch(*, now: datetime, batch: int = BATCH) -> int:
    """Count one batch of outbox events in one transaction; returns how many."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ROLLUP_LOCK_KEY])
        events = outbox_take(batch=batch)
        if not events:
            return 0
        transfer_rollup_add(_transfer_deltas([e for e in events if e.source == "transfer"]))
        provider_rollup_add(_provider_deltas([e for e in events if e.source != "transfer"]))
        latency_deltas_add(_outcome_latency_deltas([e for e in events if e.source == "momo"]))
        by_source: dict[str, list[Event]] = defaultdict(list)
        for event in events:
            by_source[event.source].append(event)
        for source, group in sorted(by_source.items()):
            rollup_state_advance(
                source=source,
                counted=len(group),
                now=now,
                newest_event_at=max(e.at for e in group),
            )
        return len(events)


def _transfer_deltas(events: list[Event]) -> dict[TransferKey, list[int]]:
    facts = client_facts(e.client_id for e in events if e.client_id is not None)
    deltas: dict[TransferKey, list[int]] = defaultdict(lambda: [0, 0, 0])
    for e in events:
        fact = facts.get(e.client_id) if e.client_id is not None else None
        market = MARKET_OF_CURRENCY.get(e.currency, "")
        partner = ""
        if fact is not None:
            if fact.realm == Realm.CUSTOMER and fact.country:
                market = fact.country
            if fact.realm == Realm.PARTNER:
                partner = fact.partner
        for grain, start in grain_buckets(e.at):
            slot = deltas[(grain, start, e.kind, market, e.currency, partner, e.outcome)]
            slot[0] += 1
            slot[1] += e.amount
            slot[2] += e.fee
    return deltas


def _provider_deltas(events: list[Event]) -> dict[ProviderKey, list[int]]:
    deltas: dict[ProviderKey, list[int]] = defaultdict(lambda: [0, 0])
    for e in events:
        callback = e.source == OutboxSource.CALLBACK
        for grain, start in grain_buckets(e.at):
            key = (
                grain,
                start,
                "momo",
                e.product,
                "callback" if callback else e.kind,
                e.outcome,
                e.reason,
                e.currency,
            )
            slot = deltas[key]
            slot[0] += 1
            slot[1] += e.amount
    return deltas


def _outcome_latency_deltas(events: list[Event]) -> dict[LatencyKey, list[float]]:
    deltas: dict[LatencyKey, list[float]] = defaultdict(lambda: [0, 0.0])
    for e in events:
        if e.outcome == "created":
            continue
        for source, value in (
            (LatencySource.MOMO_ACCEPT, e.accept_ms),
            (LatencySource.MOMO_OUTCOME, e.complete_ms),
        ):
            if value is None:
                continue
            le = bucket_le(source, value)
            for grain, start in grain_buckets(e.at):
                slot = deltas[(grain, start, source.value, e.kind, e.outcome, le)]
                slot[0] += 1
                slot[1] += float(value)
    return deltas
