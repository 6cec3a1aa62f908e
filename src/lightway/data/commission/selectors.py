"""Reads of fee schedules.

``fee_schedule_for`` is on the hot path of every priced transaction. It costs one query: the
candidate schedules of the scope come back with their bands and splits aggregated as JSON,
and those are attached as the schedule's prefetched ``bands`` and ``splits``, so
``schedule.bands.all()`` and ``schedule.splits.all()`` run no further query.

Per-process cache: ``settings.LIGHTWAY_FEE_SCHEDULE_CACHE_SECONDS`` (0 or unset turns it
off) is how long the candidates of a scope (kind, currency, corridor, KYC tier) are kept. The
cache holds every schedule of the scope that had not ended when it was filled, future
versions included, and the schedule in effect is chosen from them on every call for the
``now`` passed in, so a cached answer is never a schedule not yet effective at ``now`` (a
call for a ``now`` earlier than the fill bypasses the cache). What the cache can delay, by at
most its lifetime, is seeing a schedule added, or an end date set, after it was filled. A
commission record against a schedule that is no longer in effect is refused by the
database, so a stale entry can fail a transaction (``commission_records_create`` then raises
``FeeError`` and clears this cache) but never misprice its records: the database freezes a
schedule's pricing, splits and bands once its period has started, so what a cache holds for
a schedule in effect is what the schedule says. The admin also treats a schedule starting
within a minute (or twice the cache lifetime) as frozen, and only lets a schedule in effect
be ended (or replaced) that far ahead. Cached schedules are shared between threads: treat
them as read-only.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Max

from lightway.data.commission.models import (
    PARTY_ORDER,
    CommissionRecord,
    FeeBand,
    FeeSchedule,
    FeeSplit,
)

CACHE_SETTING = "LIGHTWAY_FEE_SCHEDULE_CACHE_SECONDS"

Scope = tuple[str, str, str, int | None]


@dataclass(frozen=True, slots=True)
class _CacheEntry:
    filled_at: float  # time.monotonic()
    as_of: datetime  # the ``now`` the candidates were selected for
    candidates: tuple[FeeSchedule, ...]


_cache: dict[Scope, _CacheEntry] = {}
_cache_lock = threading.Lock()


def fee_schedule_cache_clear() -> None:
    """Forget every cached schedule (tests, or after editing schedules in this process)."""
    with _cache_lock:
        _cache.clear()


def _cache_seconds() -> float:
    return float(getattr(settings, CACHE_SETTING, 0) or 0)


def fee_schedule_for(
    *,
    kind: str,
    currency: str,
    corridor: str = "",
    kyc_tier: int | None = None,
    now: datetime,
) -> FeeSchedule | None:
    """The schedule in effect at ``now`` for the scope, most specific first.

    A schedule for exactly ``corridor`` beats one for any corridor, then one for exactly
    ``kyc_tier`` beats one for any tier (the corridor decides first). An empty ``corridor``
    or a ``kyc_tier`` of None matches only schedules for any corridor / any tier. Bands
    (ordered by lower bound) and splits (LightWay, MTN, partner) come prefetched.
    """
    scope: Scope = (str(kind), currency, corridor, kyc_tier)
    ttl = _cache_seconds()
    if ttl > 0:
        entry = _cache.get(scope)
        if entry is not None and time.monotonic() - entry.filled_at < ttl and entry.as_of <= now:
            return _in_effect(entry.candidates, now)
    candidates = _candidates(scope, now)
    if ttl > 0:
        with _cache_lock:
            _cache[scope] = _CacheEntry(time.monotonic(), now, candidates)
    return _in_effect(candidates, now)


def _in_effect(candidates: tuple[FeeSchedule, ...], now: datetime) -> FeeSchedule | None:
    for schedule in candidates:  # most specific first
        if schedule.effective_from <= now and (
            schedule.effective_to is None or now < schedule.effective_to
        ):
            return schedule
    return None


def _candidates(scope: Scope, now: datetime) -> tuple[FeeSchedule, ...]:
    """Schedules of the scope not ended at ``now`` (current and future), most specific first."""
    kind, currency, corridor, kyc_tier = scope
    schedule_t = FeeSchedule._meta.db_table
    band_t = FeeBand._meta.db_table
    split_t = FeeSplit._meta.db_table
    sql = f"""
        SELECT s.*,
          (SELECT coalesce(json_agg(json_build_object(
                    'id', b.id, 'lower_bound', b.lower_bound, 'upper_bound', b.upper_bound,
                    'flat_amount', b.flat_amount, 'percentage', b.percentage::text)
                    ORDER BY b.lower_bound), '[]'::json)
             FROM {band_t} b WHERE b.schedule_id = s.id) AS bands_json,
          (SELECT coalesce(json_agg(json_build_object(
                    'id', p.id, 'party', p.party, 'weight', p.weight::text)
                    ORDER BY p.id), '[]'::json)
             FROM {split_t} p WHERE p.schedule_id = s.id) AS splits_json
        FROM {schedule_t} s
        WHERE s.transaction_kind = %s AND s.currency = %s
          AND (s.corridor = '' OR s.corridor = %s)
          AND (s.kyc_tier IS NULL OR s.kyc_tier = %s)
          AND (s.effective_to IS NULL OR s.effective_to > %s)
        ORDER BY (s.corridor <> '') DESC, (s.kyc_tier IS NOT NULL) DESC, s.effective_from
    """
    rows = FeeSchedule.objects.raw(sql, [kind, currency, corridor, kyc_tier, now])
    return tuple(_attach_parts(s) for s in rows)


def _json(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str | bytes):
        value = json.loads(value)
    assert isinstance(value, list)
    return value


def _attach_parts(schedule: FeeSchedule) -> FeeSchedule:
    bands = [
        FeeBand(
            id=b["id"],
            schedule=schedule,
            lower_bound=b["lower_bound"],
            upper_bound=b["upper_bound"],
            flat_amount=b["flat_amount"],
            percentage=Decimal(b["percentage"]),
        )
        for b in _json(getattr(schedule, "bands_json"))  # noqa: B009 (raw() annotation)
    ]
    splits = sorted(
        (
            FeeSplit(id=p["id"], schedule=schedule, party=p["party"], weight=Decimal(p["weight"]))
            for p in _json(getattr(schedule, "splits_json"))  # noqa: B009
        ),
        key=lambda p: PARTY_ORDER.get(p.party, len(PARTY_ORDER)),
    )
    # Fill Django's prefetch cache the way prefetch_related() does (a queryset whose result
    # cache is set, stored under the relation's name), so the related managers serve these
    # rows without a query. A test pins this (no query after fee_schedule_for).
    cache: dict[str, Any] = {}
    for name, related in (("bands", bands), ("splits", splits)):
        qs = getattr(schedule, name).all()
        qs._result_cache = related
        setattr(qs, "_prefetch_done", True)  # noqa: B010 (private, not in the stubs)
        cache[name] = qs
    setattr(schedule, "_prefetched_objects_cache", cache)  # noqa: B010
    return schedule


def fee_schedules_overlapping(
    *,
    kind: str,
    currency: str,
    corridor: str,
    kyc_tier: int | None,
    effective_from: datetime,
    effective_to: datetime | None,
    exclude_ids: tuple[int, ...] = (),
) -> list[FeeSchedule]:
    """Schedules of exactly this scope whose period overlaps ``[effective_from, effective_to)``.

    The database refuses such an overlap; forms call this to explain it before saving.
    """
    qs = FeeSchedule.objects.filter(
        transaction_kind=kind, currency=currency, corridor=corridor, kyc_tier=kyc_tier
    ).exclude(effective_to__isnull=False, effective_to__lte=effective_from)
    if effective_to is not None:
        qs = qs.filter(effective_from__lt=effective_to)
    if exclude_ids:
        qs = qs.exclude(pk__in=exclude_ids)
    return list(qs.order_by("effective_from"))


def fee_schedule_last_use(*, schedule_id: int) -> datetime | None:
    """When the schedule was last used by a commission record (None: never used)."""
    result: datetime | None = CommissionRecord.objects.filter(schedule_id=schedule_id).aggregate(
        last=Max("created_at")
    )["last"]
    return result


def fee_schedule_next_version(
    *, kind: str, currency: str, corridor: str, kyc_tier: int | None
) -> int:
    """1 + the highest version number used so far in exactly this scope."""
    last: int | None = FeeSchedule.objects.filter(
        transaction_kind=kind, currency=currency, corridor=corridor, kyc_tier=kyc_tier
    ).aggregate(v=Max("version"))["v"]
    return (last or 0) + 1
