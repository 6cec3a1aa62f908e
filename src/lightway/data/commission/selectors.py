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
from django.db import connection
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


# Every trigger that carries a commission rule (table, trigger name), for ``ledger verify``
# to report one that is missing or disabled.
COMMISSION_TRIGGERS: tuple[tuple[str, str], ...] = (
    ("commission_fee_schedule", "commission_schedule_no_overlap"),
    ("commission_fee_schedule", "commission_schedule_stamp_created"),
    ("commission_fee_schedule", "commission_schedule_guard"),
    ("commission_fee_schedule", "commission_schedule_complete"),
    ("commission_fee_schedule", "commission_schedule_frozen_at_commit"),
    ("commission_fee_band", "commission_band_guard"),
    ("commission_fee_band", "commission_schedule_complete"),
    ("commission_fee_band", "commission_schedule_frozen_at_commit"),
    ("commission_fee_split", "commission_split_guard"),
    ("commission_fee_split", "commission_schedule_complete"),
    ("commission_fee_split", "commission_schedule_frozen_at_commit"),
    ("commission_record", "commission_record_check"),
    ("commission_record", "commission_record_append_only"),
    ("commission_record", "commission_record_no_truncate"),
)

# One pass over the records; a record breaking several rules comes back once per rule.
_RECORDS_CHECK_SQL = """
SELECT c.id, c.schedule_id, v.rule, c.created_at, c.transaction_kind, c.currency, c.party,
       s.effective_from, s.effective_to, s.transaction_kind, s.currency
FROM commission_record c
LEFT JOIN commission_fee_schedule s ON s.id = c.schedule_id
CROSS JOIN LATERAL (VALUES
  (CASE WHEN s.id IS NULL THEN 'missing' END),
  (CASE WHEN c.created_at < s.effective_from
          OR (s.effective_to IS NOT NULL AND c.created_at >= s.effective_to)
        THEN 'period' END),
  (CASE WHEN c.transaction_kind <> s.transaction_kind OR c.currency <> s.currency
        THEN 'scope' END),
  (CASE WHEN s.id IS NOT NULL AND NOT EXISTS (
          SELECT 1 FROM commission_fee_split p WHERE p.schedule_id = s.id AND p.party = c.party)
        THEN 'party' END)
) AS v(rule)
WHERE v.rule IS NOT NULL
ORDER BY c.id, v.rule
LIMIT %s
"""


def commission_records_check(*, limit: int = 1000) -> list[str]:
    """Commission records that break a rule the record trigger enforces on insert, one line
    each (at most ``limit``, oldest record first); empty when all is well.

    A record must cite an existing fee schedule, be dated within the schedule's period, have
    its kind and currency, and be for a party the schedule splits to. The database refuses
    such a record when it is written and freezes the schedule afterwards, so a line here
    means the rules were bypassed (triggers switched off, or a transaction that ran the
    commit-time checks early with ``SET CONSTRAINTS ... IMMEDIATE`` and stayed open past
    the lead). Reads every record: for ``lightway ledger verify``, not the request path.
    """
    with connection.cursor() as cur:
        cur.execute(_RECORDS_CHECK_SQL, [limit])
        rows = cur.fetchall()
    problems: list[str] = []
    for rid, sid, rule, at, kind, cur_code, party, start, end, s_kind, s_cur in rows:
        prefix = f"commission record {rid}"
        if rule == "missing":
            problems.append(f"{prefix}: fee schedule {sid} does not exist")
        elif rule == "period":
            until = "open" if end is None else end.isoformat()
            problems.append(
                f"{prefix}: dated {at.isoformat()}, outside the period of fee schedule {sid} "
                f"[{start.isoformat()}, {until})"
            )
        elif rule == "scope":
            problems.append(
                f"{prefix}: {kind} {cur_code}, but fee schedule {sid} is {s_kind} {s_cur}"
            )
        else:
            problems.append(f"{prefix}: fee schedule {sid} has no split for party {party}")
    return problems


# --- commission statements ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One party's share of one transaction's fee, with that fee (all parties' shares)."""

    id: int
    created_at: datetime
    reference: str
    transaction_kind: str
    currency: str
    share: int  # minor units: this party's commission record
    fee: int  # minor units: the sum of every party's record of the same transaction
    schedule_id: int


# The party's records of [start, end), in (created_at, id) order, one page after a keyset
# cursor. The range reads the index commission_rec_statement (party, party_ref,
# created_at, id); the cursor's time is repeated as a plain bound so that it is an index
# condition too. The fee of each line sums the records of the same entry and reference
# through the unique index commission_rec_entry_ref_party: a handful of rows per line,
# whatever the history holds.
_STATEMENT_SQL = """
SELECT r.id, r.created_at, r.reference, r.transaction_kind, r.currency, r.amount,
       (SELECT sum(o.amount) FROM commission_record o
         WHERE o.entry_id = r.entry_id AND o.reference = r.reference)::bigint AS fee,
       r.schedule_id
FROM commission_record r
WHERE r.party = %(party)s AND r.party_ref = %(party_ref)s
  AND r.created_at >= %(start)s AND r.created_at < %(end)s
  {after}
ORDER BY r.created_at, r.id
LIMIT %(limit)s
"""
_AFTER_SQL = (
    "AND r.created_at >= %(after_at)s AND (r.created_at, r.id) > (%(after_at)s, %(after_id)s)"
)


def commission_statement_lines(
    *,
    party: str,
    party_ref: str,
    start: datetime,
    end: datetime,
    after: tuple[datetime, int] | None = None,
    limit: int = 2000,
) -> list[StatementLine]:
    """At most ``limit`` records of exactly ``(party, party_ref)`` dated in ``[start, end)``,
    oldest first, after the keyset cursor ``after`` = (created_at, id) of the last line read.

    Reads only the period's records of that party (an index range), never the rest of the
    history; call it again with the last line's (created_at, id) until fewer than ``limit``
    come back. For a consistent statement, run every page in one REPEATABLE READ snapshot.
    """
    params: dict[str, Any] = {
        "party": party,
        "party_ref": party_ref,
        "start": start,
        "end": end,
        "limit": limit,
    }
    if after is not None:
        params["after_at"], params["after_id"] = after
    sql = _STATEMENT_SQL.format(after=_AFTER_SQL if after is not None else "")
    with connection.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    return [
        StatementLine(
            id=int(rid),
            created_at=at,
            reference=str(ref),
            transaction_kind=str(kind),
            currency=str(cur_code),
            share=int(amount),
            fee=int(fee),
            schedule_id=int(sid),
        )
        for rid, at, ref, kind, cur_code, amount, fee, sid in rows
    ]
