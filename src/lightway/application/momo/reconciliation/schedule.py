"""Scheduled reconciliation: the window the hourly ``momo_reconcile`` job covers, what
the job runs, and (development, demo) fetching the simulator's float statements first."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from lightway.application.momo.reconciliation.runs import reconcile
from lightway.data.momo.models import MomoRequest

log = logging.getLogger(__name__)

SCHEDULE_WINDOW = timedelta(hours=2)


def schedule_window(now: datetime) -> tuple[datetime, datetime]:
    """The window the hourly job reconciles: the two whole hours before ``now`` (each
    request is looked at twice, once an hour after the other, so late outcomes are seen)."""
    end = now.replace(minute=0, second=0, microsecond=0)
    return end - SCHEDULE_WINDOW, end


@dataclass(frozen=True, slots=True)
class FetchNote:
    account: str  # "collection/mtnuganda"
    message: str
    ok: bool


def statements_fetch_simulator(
    *, window_start: datetime, window_end: datetime, now: datetime, imported_by: int | None = None
) -> list[FetchNote]:
    """Import the window's statement of every MoMo account the window's requests used,
    from the **simulator**'s export (MTN has no statement API: production imports the
    portal's file). A failed fetch is reported, never raised: reconciliation goes on."""
    from lightway.application.momo.statements import (
        StatementDuplicate,
        statement_fetch_simulator,
        statement_import,
    )

    accounts = sorted(
        set(
            MomoRequest.objects.filter(created_at__gte=window_start, created_at__lt=window_end)
            .values_list("base_url", "product", "target_environment")
            .distinct()
        )
    )
    notes: list[FetchNote] = []
    for base_url, product, environment in accounts:
        name = f"{product}/{environment}"
        try:
            data = statement_fetch_simulator(
                base_url=base_url,
                product=product,
                environment=environment,
                start=window_start,
                end=window_end,
            )
            result = statement_import(
                data=data,
                filename=f"sim-{product}-{environment}-{window_start:%Y%m%dT%H%M}.csv",
                product=product,
                environment=environment,
                imported_by=imported_by,
                actor=f"staff:{imported_by}" if imported_by else "system",
                period_start=window_start,
                period_end=window_end,
                now=now,
            )
        except StatementDuplicate:
            notes.append(FetchNote(name, "this statement was imported already", True))
            continue
        except Exception as exc:  # a demo convenience: report, do not stop the run
            log.warning(
                "momo simulator statement fetch failed",
                extra={"account": name, "error": type(exc).__name__},
            )
            notes.append(FetchNote(name, f"not fetched: {type(exc).__name__}: {exc}"[:200], False))
            continue
        notes.append(
            FetchNote(
                name,
                f"{result.imported} line(s) imported, {result.skipped} already known",
                True,
            )
        )
    return notes


def reconcile_job(
    *,
    now: datetime,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    started_by: int | None = None,
    fetch_statement: bool = False,
) -> int | None:
    """What the ``momo_reconcile`` task runs: the given window (default: the schedule's),
    optionally after fetching the simulator's statements. Returns the run id, or None when
    MoMo is not configured (nothing to compare with)."""
    from lightway.application.momo.gateway import momo_configured

    if not momo_configured():
        log.info("momo reconciliation skipped: MoMo is not configured")
        return None
    if window_start is None or window_end is None:
        window_start, window_end = schedule_window(now)
    if fetch_statement:
        statements_fetch_simulator(
            window_start=window_start, window_end=window_end, now=now, imported_by=started_by
        )
    run = reconcile(
        window_start=window_start, window_end=window_end, now=now, started_by=started_by
    )
    return run.pk
