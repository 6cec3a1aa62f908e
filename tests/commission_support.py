"""Builders shared by the commission tests: schedules, journal entries, records, admin form data."""

from __future__ import annotations

import contextlib
import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from lightway.data.commission.models import CommissionRecord, FeeBand, FeeSchedule, FeeSplit
from lightway.data.ledger.models import Account, AccountKind, JournalEntry, Posting
from lightway.data.money import Money

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
_codes = itertools.count()


def check_complete() -> None:
    """Run the deferred "schedule is complete" checks now instead of at commit."""
    with connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS commission_schedule_complete IMMEDIATE")
        cur.execute("SET CONSTRAINTS commission_schedule_complete DEFERRED")


def make_schedule(
    now,
    *,
    kind="p2p",
    currency="UGX",
    corridor="",
    kyc_tier=None,
    start=None,
    end=None,
    method="flat",
    flat=0,
    pct="0",
    min_fee=0,
    max_fee=None,
    rounding="HALF_UP",
    bands=(),
    splits=(("lightway", 60), ("mtn", 40)),
    name="test",
    check=True,
) -> FeeSchedule:
    schedule = FeeSchedule.objects.create(
        name=name,
        transaction_kind=kind,
        currency=currency,
        corridor=corridor,
        kyc_tier=kyc_tier,
        effective_from=now - 30 * DAY if start is None else start,
        effective_to=end,
        method=method,
        flat_amount=flat,
        percentage=Decimal(pct),
        min_fee=min_fee,
        max_fee=max_fee,
        rounding=rounding,
        created_at=now,
    )
    for lower, upper, bflat, bpct in bands:
        FeeBand.objects.create(
            schedule=schedule,
            lower_bound=lower,
            upper_bound=upper,
            flat_amount=bflat,
            percentage=Decimal(bpct),
        )
    for party, weight in splits:
        FeeSplit.objects.create(schedule=schedule, party=party, weight=Decimal(weight))
    if check:
        check_complete()
    return schedule


def make_entry(now, currency="UGX") -> JournalEntry:
    """A balanced two-posting journal entry to hang commission records on."""
    n = next(_codes)
    with transaction.atomic():
        src = Account.objects.create(
            code=f"test:equity:{currency}:{n}",
            kind=AccountKind.EQUITY,
            currency=currency,
            allow_negative=True,
            created_at=now,
        )
        dst = Account.objects.create(
            code=f"test:fees:{currency}:{n}",
            kind=AccountKind.FEE_REVENUE,
            currency=currency,
            created_at=now,
        )
        entry = JournalEntry.objects.create(kind="p2p", posting_count=2, created_at=now)
        # all postings of an entry in one statement (the ledger's rule)
        Posting.objects.bulk_create(
            [
                Posting(entry=entry, account=src, currency=currency, amount=-5, created_at=now),
                Posting(entry=entry, account=dst, currency=currency, amount=5, created_at=now),
            ]
        )
    return entry


def ugx(n: int) -> Money:
    return Money.of(n, "UGX")


def ghs(n: int) -> Money:
    return Money.of(n, "GHS")


def record_for(now, schedule, **kw) -> CommissionRecord:
    fields = {
        "entry": make_entry(now),
        "schedule": schedule,
        "reference": "ref",
        "transaction_kind": schedule.transaction_kind,
        "party": "lightway",
        "party_ref": "lightway",
        "currency": schedule.currency,
        "amount": 10,
        "created_at": now,
    }
    fields.update(kw)
    return CommissionRecord.objects.create(**fields)


def refused(match: str, code: str | None = None):
    """Expect the database to refuse the statement (rolled back to a savepoint)."""

    @contextlib.contextmanager
    def ctx():
        with pytest.raises(IntegrityError, match=match) as info:
            with transaction.atomic():
                yield
        if code is not None:
            assert info.value.__cause__.sqlstate == code

    return ctx()


ADD_URL = "/admin/commission/feeschedule/add/"


def change_url(pk: int) -> str:
    return f"/admin/commission/feeschedule/{pk}/change/"


def post_data(
    *,
    start="2026-11-25",
    start_time="00:00:00",
    end="",
    end_time="00:00:00",
    method="percentage",
    flat="0",
    pct="0.01",
    min_fee="50",
    max_fee="2000",
    splits=(("lightway", "60"), ("mtn", "40")),
    bands=(),
    split_ids=(),
    band_ids=(),
    schedule_id=None,
    **extra,
) -> dict[str, str]:
    data = {
        "name": "GHS p2p",
        "notes": "",
        "transaction_kind": "p2p",
        "currency": "GHS",
        "corridor": "",
        "kyc_tier": "",
        "effective_from_0": start,
        "effective_from_1": start_time,
        "effective_to_0": end,
        "effective_to_1": end_time if end else "",
        "method": method,
        "flat_amount": flat,
        "percentage": pct,
        "rounding": "HALF_UP",
        "min_fee": min_fee,
        "max_fee": max_fee,
        "splits-TOTAL_FORMS": str(len(splits)),
        "splits-INITIAL_FORMS": str(len(split_ids)),
        "splits-MIN_NUM_FORMS": "0",
        "splits-MAX_NUM_FORMS": "1000",
        "bands-TOTAL_FORMS": str(len(bands)),
        "bands-INITIAL_FORMS": str(len(band_ids)),
        "bands-MIN_NUM_FORMS": "0",
        "bands-MAX_NUM_FORMS": "1000",
    }
    for i, (party, weight) in enumerate(splits):
        data[f"splits-{i}-party"] = party
        data[f"splits-{i}-weight"] = weight
        if i < len(split_ids):
            data[f"splits-{i}-id"] = str(split_ids[i])
            data[f"splits-{i}-schedule"] = str(schedule_id)
    for i, (lower, upper, bflat, bpct) in enumerate(bands):
        data[f"bands-{i}-lower_bound"] = str(lower)
        data[f"bands-{i}-upper_bound"] = "" if upper is None else str(upper)
        data[f"bands-{i}-flat_amount"] = str(bflat)
        data[f"bands-{i}-percentage"] = bpct
        if i < len(band_ids):
            data[f"bands-{i}-id"] = str(band_ids[i])
            data[f"bands-{i}-schedule"] = str(schedule_id)
    data.update(extra)
    return data


def change_form(schedule, **extra):
    """POST data that leaves ``schedule`` (made by make_schedule, GHS percentage) as it is."""
    start = timezone.localtime(schedule.effective_from)
    data = {
        "name": schedule.name,
        "schedule_id": schedule.pk,
        "split_ids": list(schedule.splits.order_by("party").values_list("id", flat=True)),
        "pct": str(schedule.percentage),
        "min_fee": str(schedule.min_fee),
        "max_fee": "" if schedule.max_fee is None else str(schedule.max_fee),
        "start": start.strftime("%Y-%m-%d"),
        "start_time": start.strftime("%H:%M:%S"),
    }
    data.update(extra)
    return post_data(**data)


def ghs_schedule(start, **kw):
    return make_schedule(start, currency="GHS", method="percentage", pct="0.01", start=start, **kw)


def end_fields(when):
    return {"end": when.strftime("%Y-%m-%d"), "end_time": when.strftime("%H:%M:%S")}


def committed_schedule(now, **kw) -> FeeSchedule:
    """``make_schedule`` in a transaction of its own, committed (for ``tx_db`` tests): the
    rules for schedules other transactions can see apply to it from then on."""
    with transaction.atomic():
        return make_schedule(now, **kw)
