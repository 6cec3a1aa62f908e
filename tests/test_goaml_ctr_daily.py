"""The daily CTR export (issue 14 review finding 3): the periodic ``goaml_ctr_daily`` job
exports each complete FIU-local day's CTRs for the FIUs whose configuration opts in, once
per (FIU, day) whoever exports it (the job again, two workers, a manual export); a day
with nothing to report is recorded too. Every test passes its own clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import DatabaseError, IntegrityError, transaction

from lightway.application.goaml.service import (
    CTR_DAILY_ACTOR,
    CtrDaysReleased,
    goaml_ctr_daily,
    goaml_export_ctr,
)
from lightway.data.audit.models import AuditRecord
from lightway.data.goaml.models import CtrDay, GoamlFile
from tests.goaml_support import UAE, make_config, p2p, two_customers

pytestmark = pytest.mark.django_db

FIU = UAE["fiu"]
# Kampala is UTC+3: 20:30 UTC on the 24th is 23:30 there (the 24th), 21:30 UTC is 00:30 on
# the 25th.
DAY = date(2026, 11, 24)
LATE_ON_THE_24TH = datetime(2026, 11, 24, 20, 30, tzinfo=UTC)
EARLY_ON_THE_25TH = datetime(2026, 11, 24, 21, 30, tzinfo=UTC)
JOB_ON_THE_25TH = datetime(2026, 11, 25, 0, 30, tzinfo=UTC)  # 03:30 in Kampala


def _traffic(now):
    a, b = two_customers(now)
    p2p(now, a, b, 1_500_000, "t1")  # 12:00 in Kampala on the 24th
    p2p(LATE_ON_THE_24TH, a, b, 2_000_000, "t2")
    p2p(EARLY_ON_THE_25TH, a, b, 3_000_000, "t3")
    p2p(now, a, b, 10, "small")  # below the threshold
    return a, b


def _ctr_files() -> list[GoamlFile]:
    return list(GoamlFile.objects.filter(kind="CTR").order_by("id"))


def test_the_job_exports_the_previous_local_day_once(now):
    make_config(now, UAE, ctr_daily=True)
    _traffic(now)
    runs = goaml_ctr_daily(now=JOB_ON_THE_25TH)
    # the three days before the 25th (Kampala): two with nothing, the 24th with two transfers
    assert [(r.fiu, r.day, r.files, r.error) for r in runs] == [
        (FIU, date(2026, 11, 22), 0, ""),
        (FIU, date(2026, 11, 23), 0, ""),
        (FIU, DAY, 1, ""),
    ]
    [ctr] = _ctr_files()
    assert (ctr.period_start, ctr.period_end, ctr.transactions) == (DAY, DAY, 2)
    assert ctr.created_by == CTR_DAILY_ACTOR and ctr.amount_total == 3_500_000
    recorded = {d.day: d.files for d in CtrDay.objects.all()}
    assert recorded == {date(2026, 11, 22): [], date(2026, 11, 23): [], DAY: [ctr.pk]}
    assert AuditRecord.objects.filter(action="goaml.ctr.days", object_id=FIU).count() == 3

    # an hour later, and again: nothing is exported twice, nothing with nothing retried
    assert goaml_ctr_daily(now=JOB_ON_THE_25TH + timedelta(hours=1)) == []
    assert goaml_ctr_daily(now=JOB_ON_THE_25TH + timedelta(hours=2)) == []
    assert len(_ctr_files()) == 1 and CtrDay.objects.count() == 3

    # the next day: the 25th, with the transfer made at 00:30 Kampala time
    runs = goaml_ctr_daily(now=JOB_ON_THE_25TH + timedelta(days=1))
    assert [(r.day, r.files) for r in runs] == [(date(2026, 11, 25), 1)]
    assert [f.transactions for f in _ctr_files()] == [2, 1]


def test_a_manual_export_of_a_released_day_returns_its_files(now):
    make_config(now, UAE, ctr_daily=True)
    _traffic(now)
    goaml_ctr_daily(now=JOB_ON_THE_25TH)
    [ctr] = _ctr_files()
    again = goaml_export_ctr(fiu=FIU, start=DAY, end=DAY, actor="staff:1", now=JOB_ON_THE_25TH)
    assert [(f.id, f.reference, f.sha256) for f in again] == [(ctr.pk, ctr.reference, ctr.sha256)]
    assert again[0].content.startswith(b"<?xml")
    # a longer period that includes a released day is refused, with the days named
    with pytest.raises(CtrDaysReleased, match="2026-11-24") as refused:
        goaml_export_ctr(
            fiu=FIU,
            start=DAY - timedelta(days=3),
            end=DAY,
            actor="staff:1",
            now=JOB_ON_THE_25TH,
        )
    assert refused.value.details["days"] == ["2026-11-22", "2026-11-23", "2026-11-24"]
    assert len(_ctr_files()) == 1


def test_the_job_leaves_a_day_exported_by_hand_alone(now):
    make_config(now, UAE, ctr_daily=True)
    _traffic(now)
    by_hand = goaml_export_ctr(fiu=FIU, start=DAY, end=DAY, actor="staff:1", now=JOB_ON_THE_25TH)
    assert [f.transactions for f in by_hand] == [2]
    runs = goaml_ctr_daily(now=JOB_ON_THE_25TH)
    assert [r.day for r in runs] == [date(2026, 11, 22), date(2026, 11, 23)]
    assert [f.reference for f in _ctr_files()] == [by_hand[0].reference]


def test_a_day_not_over_yet_is_not_recorded(now):
    """An export of the FIU's current local day is preliminary: not recorded, so the job
    still reports the whole day once it is over."""
    make_config(now, UAE, ctr_daily=True)
    _traffic(now)
    early = goaml_export_ctr(fiu=FIU, start=DAY, end=DAY, actor="staff:1", now=now)
    assert len(early) == 1
    assert not CtrDay.objects.exists()
    runs = goaml_ctr_daily(now=JOB_ON_THE_25TH)
    assert [(r.day, r.files) for r in runs][-1] == (DAY, 1)
    assert CtrDay.objects.get(day=DAY).files == [_ctr_files()[-1].pk] != [early[0].id]


def test_fius_that_do_not_opt_in_are_left_alone(now):
    make_config(now, UAE)  # ctr_daily defaults to off
    _traffic(now)
    assert goaml_ctr_daily(now=JOB_ON_THE_25TH) == []
    assert not CtrDay.objects.exists() and not _ctr_files()


def test_a_later_configuration_version_opts_in_from_its_date(now):
    make_config(now, UAE)
    make_config(now, UAE, effective_from=date(2026, 11, 24), ctr_daily=True)
    _traffic(now)
    runs = goaml_ctr_daily(now=JOB_ON_THE_25TH)
    assert [r.day for r in runs] == [DAY]


def test_a_day_that_cannot_be_exported_is_logged_and_tried_again(now, caplog):
    """A configuration that cannot make a valid CTR (goAML 5 requires an indicator): the
    day is not recorded (the next run tries again) and other days and FIUs go on."""
    make_config(now, UAE, ctr_daily=True, ctr_indicators=[])
    _traffic(now)
    runs = goaml_ctr_daily(now=JOB_ON_THE_25TH, lookback_days=1)
    assert [(r.day, r.files) for r in runs] == [(DAY, 0)]
    assert "requires report indicators" in runs[0].error
    assert not CtrDay.objects.exists()
    assert "goaml daily CTR export failed" in caplog.text
    assert "Дмитрий" not in caplog.text


def test_the_database_keeps_a_released_day(now, owner_db):
    """One row per (FIU, day); the runtime role may not change or delete one, and the
    trigger refuses even the owner."""
    import psycopg

    config = make_config(now, UAE, ctr_daily=True)
    goaml_ctr_daily(now=JOB_ON_THE_25TH, lookback_days=1)
    with pytest.raises(IntegrityError, match="goaml_ctr_day_once"), transaction.atomic():
        CtrDay.objects.create(
            fiu=FIU, day=DAY, config=config, files=[], created_at=now, created_by="x"
        )
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        CtrDay.objects.filter(day=DAY).update(files=[1])
    for sql in (
        "UPDATE goaml_ctr_day SET files = '{1}' WHERE day = %s",
        "DELETE FROM goaml_ctr_day WHERE day = %s",
    ):
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="never changed"):
            owner_db.execute(sql, [DAY])
    assert CtrDay.objects.get(day=DAY).files == []


@pytest.mark.django_db(transaction=True)
def test_two_workers_exporting_the_same_day_release_one_set(now):
    """Two runs at the same moment: both generate, the unique (FIU, day) lets one store;
    the other gets the files the first stored."""
    from tests.concurrency import run_concurrently

    make_config(now, UAE, ctr_daily=True)
    _traffic(now)
    results = run_concurrently(
        lambda: goaml_export_ctr(
            fiu=FIU, start=DAY, end=DAY, actor=CTR_DAILY_ACTOR, now=JOB_ON_THE_25TH
        ),
        [(), ()],
    )
    [ctr] = _ctr_files()
    assert [[f.reference for f in r] for r in results] == [[ctr.reference], [ctr.reference]]
    assert CtrDay.objects.get(day=DAY).files == [ctr.pk]


def test_the_periodic_task_is_registered_and_runs_the_use_case(now, settings):
    from procrastinate.contrib.django import app

    from lightway.interfaces import tasks

    app.perform_import_paths()
    crons = {n: p.cron for (n, _), p in app.periodic_registry.periodic_tasks.items()}
    assert crons["goaml_ctr_daily"] == tasks.GOAML_CTR_DAILY_CRON == "27 * * * *"
    make_config(now, UAE, ctr_daily=True)
    assert tasks.goaml_ctr_daily(timestamp=0) == 0  # the real clock: nothing to report
    assert CtrDay.objects.filter(fiu=FIU).count() == 3


def test_the_page_refuses_a_period_with_a_released_day(now, client):
    from django.contrib.auth import get_user_model

    from tests.factories import staff

    make_config(now, UAE, ctr_daily=True)
    _traffic(now)
    goaml_ctr_daily(now=JOB_ON_THE_25TH)
    uid = staff("officer", ["lw_compliance"], now)
    client.force_login(get_user_model().objects.get(pk=uid))
    form = {"what": "CTR", "fiu": FIU, "start": "2026-11-20", "end": "2026-11-24"}
    response = client.post("/staff/compliance/goaml/", form)
    assert response.status_code == 400
    assert "were released already" in response.content.decode()
    assert len(_ctr_files()) == 1
