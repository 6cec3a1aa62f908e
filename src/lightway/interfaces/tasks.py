"""Background task entry points (procrastinate).

A task is an interface, like a view: it takes identifiers (JSON values), calls one use case
and returns. Tasks are idempotent and safe to retry. Enqueue them from application code
with ``lightway.infrastructure.jobs.job_enqueue("<name>", ...)`` inside the transaction
that makes them necessary; the names below are that contract, keep them stable.

Periodic tasks are deferred by the worker's scheduler (``lightway worker``); a queueing
lock keeps at most one of each waiting, so a slow worker never builds a backlog of them.
The module is loaded by procrastinate's Django app through
``PROCRASTINATE_IMPORT_PATHS`` in settings.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.utils import timezone
from procrastinate import JobContext, RetryStrategy, builtin_tasks
from procrastinate.contrib.django import app

from lightway.infrastructure import metrics

logger = logging.getLogger(__name__)

# procrastinate's cron accepts a sixth field for seconds: once a second is as often as
# its scheduler defers anything. ``lightway worker`` also links the audit chain in-process
# every ~0.5 s; this job is the fallback when only plain procrastinate workers run.
AUDIT_LINK_CRON = "* * * * * *"
HOLDS_EXPIRE_CRON = "* * * * *"
JOBS_RETRY_STALLED_CRON = "*/5 * * * *"
JOBS_PRUNE_CRON = "17 * * * *"
# The periodic jobs run on their own queue so their history (one audit_link job a second)
# can be pruned after an hour while other jobs are kept LIGHTWAY_JOBS_KEEP_HOURS.
PERIODIC_QUEUE = "periodic"
PERIODIC_KEEP_HOURS = 1


def audit_link_once() -> int:
    """Link committed audit records, checkpointing each new head; return how many.

    The one linking entry point of the worker (its in-process linker thread) and of the
    ``audit_link`` task. Each batch's new head is signed (Ed25519,
    ``LIGHTWAY_AUDIT_SIGNING_KEY``), stored in the ``audit_checkpoint`` table and appended to
    the checkpoint file (``LIGHTWAY_AUDIT_CHECKPOINT_FILE``, when not turned off; see
    ``application/audit/checkpoints.py``) after
    the batch committed and while the chain lock is still held, so the file lists committed
    heads in chain order even with several workers on one host. A failed write raises
    (the batch stays linked; the caller logs and retries).
    """
    from lightway.application.audit.checkpoints import checkpoint_signed
    from lightway.data.audit.services import ChainHead, audit_chain_link
    from lightway.infrastructure.audit_checkpoints import checkpoint_path

    path = checkpoint_path()

    def checkpoint(head: ChainHead) -> None:
        checkpoint_signed(head, path=path)

    count = int(audit_chain_link(on_linked=checkpoint) or 0)
    if count:
        metrics.audit_linked_total.inc(count)
    return count


@app.periodic(cron=AUDIT_LINK_CRON)
@app.task(name="audit_link", queue=PERIODIC_QUEUE, queueing_lock="audit_link")
def audit_link(timestamp: int | None = None) -> int:
    """Link committed audit records into the hash chain (in commit order), checkpointed."""
    return audit_link_once()


@app.periodic(cron=HOLDS_EXPIRE_CRON)
@app.task(name="holds_expire", queue=PERIODIC_QUEUE, queueing_lock="holds_expire")
def holds_expire(timestamp: int | None = None) -> int:
    """Void ledger holds whose expiry has passed."""
    from lightway.data.ledger.services import holds_expire as ledger_holds_expire

    expired = ledger_holds_expire(now=timezone.now())
    if expired:
        metrics.holds_expired_total.inc(expired)
        logger.info("holds expired", extra={"count": expired})
    return expired


# Balance checkpoints (data/ledger/rollups.py): every 10 s, so a house account's balance
# and a statement page sum at most the postings of the last few seconds, never its history.
LEDGER_CHECKPOINTS_CRON = "* * * * * */10"


@app.periodic(cron=LEDGER_CHECKPOINTS_CRON)
@app.task(
    name="ledger_checkpoints_advance",
    queue=PERIODIC_QUEUE,
    queueing_lock="ledger_checkpoints_advance",
)
def ledger_checkpoints_advance(timestamp: int | None = None) -> int:
    """Roll account balances up to the committed postings; returns how many it rolled up."""
    from lightway.data.ledger.rollups import ledger_checkpoints_advance as advance

    return advance().postings


# Analytics rollups (application/analytics/rollup.py): every 10 s, so the dashboards that
# poll every 10 s move with the traffic.
ANALYTICS_ROLLUP_CRON = "* * * * * */10"


@app.periodic(cron=ANALYTICS_ROLLUP_CRON)
@app.task(name="analytics_rollup", queue=PERIODIC_QUEUE, queueing_lock="analytics_rollup")
def analytics_rollup(timestamp: int | None = None) -> int:
    """Count new transfers, MoMo outcomes and callbacks into the rollups, flush latency
    samples, sample the job queue, prune old minutes; returns how many events it counted."""
    from lightway.application.analytics.rollup import analytics_rollup as rollup

    return rollup(now=timezone.now()).events


REQUEST_NONCES_PRUNE_CRON = "*/10 * * * *"


@app.periodic(cron=REQUEST_NONCES_PRUNE_CRON)
@app.task(name="request_nonces_prune", queue=PERIODIC_QUEUE, queueing_lock="request_nonces_prune")
def request_nonces_prune(timestamp: int | None = None) -> int:
    """Forget partner request nonces older than twice the signature window."""
    from lightway.security.signatures import request_nonces_prune as prune

    return prune(now=timezone.now())


RATE_COUNTERS_PRUNE_CRON = "17 * * * *"


@app.periodic(cron=RATE_COUNTERS_PRUNE_CRON)
@app.task(name="rate_counters_prune", queue=PERIODIC_QUEUE, queueing_lock="rate_counters_prune")
def rate_counters_prune(timestamp: int | None = None) -> int:
    """Forget rate-limit counters whose window ended more than a day ago, hourly."""
    from lightway.security.ratelimit import rate_counters_prune as prune

    return prune(now=timezone.now())


AML_BATCH_CRON = "7 * * * *"
# How far back each hourly run looks: every window that ended in that time is (re)checked,
# which costs nothing for windows already alerted (the alerts' unique key).
AML_BATCH_LOOKBACK_HOURS = 24 * 4


@app.periodic(cron=AML_BATCH_CRON)
@app.task(name="aml_batch", queue=PERIODIC_QUEUE, queueing_lock="aml_batch")
def aml_batch(timestamp: int | None = None) -> int:
    """The batch AML rules over the windows that ended in the last four days (docs/aml.md);
    the number of new alerts."""
    from datetime import timedelta

    from lightway.application.aml.batch import aml_run

    now = timezone.now()
    result = aml_run(
        start=now - timedelta(hours=AML_BATCH_LOOKBACK_HOURS), end=now, now=now, complete_only=True
    )
    logger.info("aml batch", extra={"windows": result.windows, "alerts": result.alerts})
    return result.alerts


@app.task(name="aml_screen_customers", queueing_lock="aml_screen_customers")
def aml_screen_customers() -> int:
    """Screen every customer against the active sanctions list (queued by an upload of a
    new list, docs/aml.md); the number of new hits. Safe to retry: a hit is recorded once."""
    from lightway.application.aml.sanctions import customers_screen

    screened, hits = customers_screen(now=timezone.now())
    logger.info("aml screening", extra={"screened": screened, "hits": hits})
    return hits


SESSIONS_PRUNE_CRON = "23 * * * *"


@app.periodic(cron=SESSIONS_PRUNE_CRON)
@app.task(name="sessions_prune", queue=PERIODIC_QUEUE, queueing_lock="sessions_prune")
def sessions_prune(timestamp: int | None = None) -> None:
    """Delete expired web sessions (Django's ``clearsessions``), hourly."""
    from importlib import import_module

    from django.conf import settings

    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()


RETENTION_RUN_CRON = "41 3 * * *"


@app.periodic(cron=RETENTION_RUN_CRON)
@app.task(name="retention_run", queue=PERIODIC_QUEUE, queueing_lock="retention_run")
def retention_run(timestamp: int | None = None) -> int:
    """Erase personal data and delete rows whose retention elapsed, daily
    (docs/retention.md); returns how many people and rows."""
    from lightway.application.retention.jobs import retention_run as run

    return run(now=timezone.now(), actor="system:retention").total


@app.periodic(cron=JOBS_RETRY_STALLED_CRON)
@app.task(
    name="jobs_retry_stalled",
    queue=PERIODIC_QUEUE,
    queueing_lock="jobs_retry_stalled",
    pass_context=True,
)
async def jobs_retry_stalled(context: JobContext, timestamp: int | None = None) -> int:
    """Requeue jobs left ``doing`` by a worker that died (no heartbeat for 30 s)."""
    job_manager = context.app.job_manager
    stalled = list(await job_manager.get_stalled_jobs())
    for job in stalled:
        await job_manager.retry_job(job)
    if stalled:
        logger.warning("stalled jobs requeued", extra={"count": len(stalled)})
    return len(stalled)


@app.periodic(cron=JOBS_PRUNE_CRON)
@app.task(name="jobs_prune", queue=PERIODIC_QUEUE, queueing_lock="jobs_prune", pass_context=True)
async def jobs_prune(context: JobContext, timestamp: int | None = None) -> None:
    """Delete succeeded jobs: periodic ones after an hour, others after
    LIGHTWAY_JOBS_KEEP_HOURS. Failed jobs stay until someone looks at them."""
    await builtin_tasks.remove_old_jobs(
        context, max_hours=PERIODIC_KEEP_HOURS, queue=PERIODIC_QUEUE
    )
    await builtin_tasks.remove_old_jobs(context, max_hours=settings.LIGHTWAY_JOBS_KEEP_HOURS)


# Monthly partitions and archival (application/archive/service.py, docs/operations.md):
# daily, make sure this month's and the next LIGHTWAY_PARTITIONS_AHEAD_MONTHS months'
# partitions exist (and warn about rows in a default partition); nightly, archive the
# months older than LIGHTWAY_ARCHIVE_AFTER_MONTHS and drop detached ones past the grace.
PARTITIONS_ENSURE_CRON = "7 3 * * *"
ARCHIVE_CLOSED_MONTHS_CRON = "37 3 * * *"


@app.periodic(cron=PARTITIONS_ENSURE_CRON)
@app.task(name="partitions_ensure", queue=PERIODIC_QUEUE, queueing_lock="partitions_ensure")
def partitions_ensure(timestamp: int | None = None) -> int:
    """Create the coming months' partitions; log rows found in a default partition."""
    from lightway.application.archive.service import default_partition_strays
    from lightway.application.archive.service import partitions_ensure as ensure

    made = ensure(now=timezone.now())
    for table, rows in default_partition_strays().items():
        logger.warning("rows in a default partition", extra={"table": table, "rows": rows})
    return made


@app.periodic(cron=ARCHIVE_CLOSED_MONTHS_CRON)
@app.task(name="archive_closed_months", queue=PERIODIC_QUEUE, queueing_lock="archive_closed_months")
def archive_closed_months(timestamp: int | None = None) -> int:
    """Export, verify and detach old months; drop detached months after the grace."""
    from lightway.application.archive.service import archive_closed_months as run

    return len(run(now=timezone.now()))


# Notifications (docs/notifications.md). The delivery row is the source of truth: the sweep
# re-enqueues every queued delivery that is due (retries after backoff, and any job that was
# lost) and takes back deliveries left "sending" by a worker that died.
# Every 10 s (procrastinate's sixth cron field is seconds).
NOTIFICATIONS_RETRY_DUE_CRON = "* * * * * */10"


@app.task(name="notification_deliver")
def notification_deliver(delivery_id: int) -> str:
    """Send one SMS or email delivery (idempotent: a sent delivery is never sent again)."""
    from lightway.application.notifications.service import notification_deliver as deliver

    return deliver(delivery_id=delivery_id, now=timezone.now())


@app.periodic(cron=NOTIFICATIONS_RETRY_DUE_CRON)
@app.task(
    name="notifications_retry_due", queue=PERIODIC_QUEUE, queueing_lock="notifications_retry_due"
)
def notifications_retry_due(timestamp: int | None = None) -> int:
    """Enqueue due notification retries; recover deliveries stuck in "sending"."""
    from lightway.application.notifications.service import notifications_retry_due as sweep

    return sweep(now=timezone.now())


# KYC (docs/kyc.md): apply one stored Sumsub webhook event. Retried with back-off when
# Sumsub's status API is unreachable or throttles (the event stays "received" meanwhile).
@app.task(name="kyc_event_process", retry=RetryStrategy(max_attempts=8, exponential_wait=2))
def kyc_event_process(event_id: int) -> str:
    """Apply a Sumsub webhook event (idempotent: a processed event is left alone)."""
    from lightway.application.kyc.verification import kyc_event_process as process

    return process(event_id=event_id, now=timezone.now())


# MoMo float monitoring (docs/momo.md, "Float monitoring and metrics"): read every market's
# balances, store them, alert once when one falls below its threshold.
MOMO_FLOAT_CHECK_CRON = "*/5 * * * *"


@app.periodic(cron=MOMO_FLOAT_CHECK_CRON)
@app.task(name="momo_float_check", queue=PERIODIC_QUEUE, queueing_lock="momo_float_check")
def momo_float_check(timestamp: int | None = None) -> int:
    """Read the MoMo float balances and alert on thresholds; returns how many were read."""
    from lightway.application.momo.floats import float_check

    return len(float_check(now=timezone.now()))


# MoMo money flows (docs/momo.md "Flows", "Callbacks and the status sweep"). The request rows
# are the source of truth: a lost or failed job is redone by the sweep, which queues the
# submit/poll of every due request every 10 s. None of these is retried by procrastinate
# itself (the sweep is the retry); each is idempotent.
# croniter reads a sixth field as *seconds* (the last one): "* * * * * */10" = every 10 s.
MOMO_SWEEP_CRON = "* * * * * */10"


@app.task(name="momo_submit")
def momo_submit(request_id: int) -> str:
    """Send a new MoMo request (same X-Reference-Id on every attempt)."""
    from lightway.application.momo.flows import momo_submit as submit

    return submit(request_id=request_id, now=timezone.now())


@app.task(name="momo_poll")
def momo_poll(request_id: int) -> str:
    """Read an accepted MoMo request's status and apply it (exactly once)."""
    from lightway.application.momo.flows import momo_poll as poll

    return poll(request_id=request_id, now=timezone.now())


@app.task(name="momo_callback_process", retry=RetryStrategy(max_attempts=5, exponential_wait=2))
def momo_callback_process(callback_id: int) -> str:
    """Confirm a stored MoMo callback with a status read and apply it."""
    from lightway.application.momo.flows import callback_process

    return callback_process(callback_id=callback_id, now=timezone.now())


@app.periodic(cron=MOMO_SWEEP_CRON)
@app.task(name="momo_sweep", queue=PERIODIC_QUEUE, queueing_lock="momo_sweep")
def momo_sweep(timestamp: int | None = None) -> int:
    """Queue the submit or status read of every MoMo request that is due."""
    from lightway.application.momo.flows import momo_sweep as sweep

    return sweep(now=timezone.now())


# MoMo reconciliation (docs/momo.md, "Reconciliation"): hourly over the two whole hours
# before now; the staff panel queues runs over other windows with the same task.
MOMO_RECONCILE_CRON = "7 * * * *"


@app.periodic(cron=MOMO_RECONCILE_CRON)
@app.task(name="momo_reconcile", queue=PERIODIC_QUEUE, queueing_lock="momo_reconcile")
def momo_reconcile(
    timestamp: int | None = None,
    window_start: str | None = None,
    window_end: str | None = None,
    started_by: int | None = None,
    fetch_statement: bool = False,
) -> int | None:
    """Reconcile a window of MoMo requests against MoMo (status reads, statement lines);
    returns the run id (None when MoMo is not configured)."""
    from datetime import datetime

    from lightway.application.momo.reconciliation.schedule import reconcile_job

    return reconcile_job(
        now=timezone.now(),
        window_start=datetime.fromisoformat(window_start) if window_start else None,
        window_end=datetime.fromisoformat(window_end) if window_end else None,
        started_by=started_by,
        fetch_statement=fetch_statement,
    )


async def task_metrics_middleware(call_next: Any, context: JobContext, worker: Any) -> Any:
    """Worker middleware: count every job run and time it, by task name and outcome."""
    task_name = context.job.task_name
    started = time.perf_counter()
    try:
        result = await call_next()
    except BaseException:
        metrics.task_runs_total.labels(task=task_name, outcome="failed").inc()
        raise
    finally:
        metrics.task_duration_seconds.labels(task=task_name).observe(time.perf_counter() - started)
    metrics.task_runs_total.labels(task=task_name, outcome="succeeded").inc()
    return result


# Unauthenticated intake (docs/security.md, issue 11 finding 6): one audit record per closed
# minute of refused webhook deliveries, with its count; old rate windows pruned.
INTAKE_HOUSEKEEPING_CRON = "* * * * *"


@app.periodic(cron=INTAKE_HOUSEKEEPING_CRON)
@app.task(name="intake_housekeeping", queue=PERIODIC_QUEUE, queueing_lock="intake_housekeeping")
def intake_housekeeping(timestamp: int | None = None) -> int:
    """Audit refused webhook deliveries per source, reason and minute; prune rate windows."""
    from lightway.application.intake import intake_housekeeping as housekeeping

    return housekeeping(now=timezone.now())


# FX (docs/fx.md): import the rate feeds (the ECB publishes once a working day around 16:00
# CET, the regional feed hourly; an unchanged publication writes nothing), watch every
# watched pair's staleness (one alert per stop and per recovery), expire unused quotes.
FX_FEEDS_IMPORT_CRON = "*/10 * * * *"
FX_RATES_WATCH_CRON = "* * * * *"
FX_QUOTES_EXPIRE_CRON = "* * * * *"


@app.periodic(cron=FX_FEEDS_IMPORT_CRON)
@app.task(name="fx_feeds_import", queue=PERIODIC_QUEUE, queueing_lock="fx_feeds_import")
def fx_feeds_import(timestamp: int | None = None) -> int:
    """Import every configured rate feed; returns how many rates were stored."""
    from lightway.application.fx.feeds import fx_feeds_import as run

    return sum(r.imported for r in run(now=timezone.now()))


@app.periodic(cron=FX_RATES_WATCH_CRON)
@app.task(name="fx_rates_watch", queue=PERIODIC_QUEUE, queueing_lock="fx_rates_watch")
def fx_rates_watch(timestamp: int | None = None) -> int:
    """Check every watched pair; alert when quoting stops or resumes. Returns how many
    pairs are stopped."""
    from lightway.application.fx.watch import fx_rates_watch as watch

    return sum(1 for c in watch(now=timezone.now()) if c.state != "ok")


@app.periodic(cron=FX_QUOTES_EXPIRE_CRON)
@app.task(name="fx_quotes_expire", queue=PERIODIC_QUEUE, queueing_lock="fx_quotes_expire")
def fx_quotes_expire(timestamp: int | None = None) -> int:
    """Mark unused quotes past their expiry expired."""
    from lightway.application.fx.watch import fx_quotes_expire as expire

    return expire(now=timezone.now())


# Settlement (docs/settlement.md). The cut-off job closes every window whose market's
# cut-off has passed (idempotent per cut-off) and finishes a close a crash interrupted; the
# sweep sends due instructions (same InstrId on every attempt), reads the status of sent
# ones whose callback is late, and reads new camt.054 notifications (partner top-ups).
SETTLEMENT_CUTOFF_CRON = "* * * * *"
SETTLEMENT_SWEEP_CRON = "* * * * * */30"


@app.periodic(cron=SETTLEMENT_CUTOFF_CRON)
@app.task(name="settlement_cutoff", queue=PERIODIC_QUEUE, queueing_lock="settlement_cutoff")
def settlement_cutoff(timestamp: int | None = None) -> int:
    """Close the settlement windows whose cut-off has passed; returns how many."""
    from lightway.application.settlement.windows import windows_close_due

    return len(windows_close_due(now=timezone.now()))


@app.periodic(cron=SETTLEMENT_SWEEP_CRON)
@app.task(name="settlement_sweep", queue=PERIODIC_QUEUE, queueing_lock="settlement_sweep")
def settlement_sweep(timestamp: int | None = None) -> int:
    """Send due instructions, read late outcomes, import new bank notifications."""
    from lightway.application.settlement.instructions import settlement_sweep as sweep
    from lightway.application.settlement.topups import notifications_fetch

    now = timezone.now()
    return sweep(now=now) + notifications_fetch(now=now)


@app.task(name="settlement_instruction_send")
def settlement_instruction_send(instruction_id: int) -> str:
    """Send one settlement instruction (idempotent by its InstrId; the sweep is the retry)."""
    from lightway.application.settlement.instructions import instruction_send

    return instruction_send(instruction_id=instruction_id, now=timezone.now())


@app.task(
    name="settlement_callback_process", retry=RetryStrategy(max_attempts=5, exponential_wait=2)
)
def settlement_callback_process(callback_id: int) -> str:
    """Apply a stored, verified Settlement API confirmation (exactly once)."""
    from lightway.application.settlement.instructions import settlement_callback_process as run

    return run(callback_id=callback_id, now=timezone.now())


# Partner events and webhooks (docs/partner-webhooks.md). Every 2 s the pump numbers the
# committed partner events (the feed's seq, in commit order) and turns them into webhook
# deliveries, each with its delivery job; the sweep (every 10 s) queues due retries and
# takes back deliveries whose worker died. The delivery rows are the source of truth: a
# lost job is redone by the sweep, so procrastinate does not retry these itself.
PARTNER_EVENTS_PUMP_CRON = "* * * * * */2"
PARTNER_WEBHOOKS_RETRY_CRON = "* * * * * */10"
# Statement day cuts: checked every minute; a UTC day is cut once, shortly after it ends.
PARTNER_STATEMENT_CUTS_CRON = "* * * * *"


@app.periodic(cron=PARTNER_EVENTS_PUMP_CRON)
@app.task(name="partner_events_pump", queue=PERIODIC_QUEUE, queueing_lock="partner_events_pump")
def partner_events_pump(timestamp: int | None = None) -> int:
    """Sequence committed partner events and dispatch their webhooks; returns deliveries made."""
    from lightway.application.partners.webhooks import partner_events_pump as pump

    return pump(now=timezone.now())


@app.task(name="partner_webhook_deliver")
def partner_webhook_deliver(delivery_id: int) -> str:
    """Make the next attempt of one webhook delivery (idempotent)."""
    from lightway.application.partners.webhooks import partner_webhook_deliver as deliver

    return deliver(delivery_id=delivery_id, now=timezone.now())


@app.periodic(cron=PARTNER_WEBHOOKS_RETRY_CRON)
@app.task(
    name="partner_webhooks_retry_due",
    queue=PERIODIC_QUEUE,
    queueing_lock="partner_webhooks_retry_due",
)
def partner_webhooks_retry_due(timestamp: int | None = None) -> int:
    """Queue due webhook retries; recover deliveries stuck in "sending"."""
    from lightway.application.partners.webhooks import partner_webhooks_retry_due as sweep

    return sweep(now=timezone.now())


@app.periodic(cron=PARTNER_STATEMENT_CUTS_CRON)
@app.task(
    name="partner_statement_cuts", queue=PERIODIC_QUEUE, queueing_lock="partner_statement_cuts"
)
def partner_statement_cuts(timestamp: int | None = None) -> int:
    """Cut each ended UTC day for the partners' daily statements; returns days cut."""
    from lightway.application.partners.account import partner_statement_cuts_take

    return partner_statement_cuts_take(now=timezone.now())


# Partner remittances (application/remittances): quotes past their lock EXPIRED, CREATED
# remittances whose quote expired EXPIRED (with their partner events). A create or confirm
# decides expiry by itself too (``expires_at <= now``); this job makes the states visible.
REMITTANCES_EXPIRE_CRON = "* * * * *"


@app.periodic(cron=REMITTANCES_EXPIRE_CRON)
@app.task(name="remittances_expire", queue=PERIODIC_QUEUE, queueing_lock="remittances_expire")
def remittances_expire(timestamp: int | None = None) -> int:
    """Expire quotes and unconfirmed remittances past their quote's expiry."""
    from lightway.application.remittances.remittances import (
        remittances_expire as expire,
    )

    expired = expire(now=timezone.now())
    if expired:
        logger.info("remittances expired", extra={"count": expired})
    return expired


# Reports (application/reports/runs.py, docs/reports.md): a run asked on the staff page
# (or by the schedule) is produced by this job; yesterday's volumes at 00:15 UTC every day
# and last month's commission at 00:30 UTC on the 1st, at most one run per period.
REPORTS_DAILY_CRON = "15 0 * * *"
REPORTS_MONTHLY_CRON = "30 0 1 * *"


@app.task(name="report_run")
def report_run(run_id: int) -> str:
    """Produce report run ``run_id``'s file; returns the state it ended in."""
    from lightway.application.reports.runs import report_run_execute

    return str(report_run_execute(run_id=run_id, clock=timezone.now).status)


@app.periodic(cron=REPORTS_DAILY_CRON)
@app.task(name="reports_daily", queue=PERIODIC_QUEUE, queueing_lock="reports_daily")
def reports_daily(timestamp: int | None = None) -> int:
    """Queue yesterday's volumes report (once); returns how many runs were queued."""
    from lightway.application.reports.runs import report_schedule_daily

    return int(report_schedule_daily(now=timezone.now()) is not None)


@app.periodic(cron=REPORTS_MONTHLY_CRON)
@app.task(name="reports_monthly", queue=PERIODIC_QUEUE, queueing_lock="reports_monthly")
def reports_monthly(timestamp: int | None = None) -> int:
    """Queue last month's commission report (once); returns how many runs were queued."""
    from lightway.application.reports.runs import report_schedule_monthly

    return int(report_schedule_monthly(now=timezone.now()) is not None)


# AML filings (docs/aml.md, "Filing: the goAML STR"): an approval queues the release of its
# STR (generation, XSD validation and sealing run here, not in the officer's request).
# Idempotent under the case's row lock, so a retry after a crash is safe.
@app.task(name="aml_str_release", retry=RetryStrategy(max_attempts=5, exponential_wait=2))
def aml_str_release(case_id: int, fiu: str, actor_id: int) -> str:
    """Release the goAML STR of an approved case for ``fiu`` (at most once)."""
    from lightway.application.aml.cases import case_str_release

    return case_str_release(case_id=case_id, fiu=fiu, actor_id=actor_id, now=timezone.now())


# goAML (docs/goaml.md, "The daily CTR export"): hourly, each complete FIU-local day of the
# last three whose FIU configuration opts in (``ctr_daily``) and is not released yet; a day
# is released once (``goaml_ctr_day``), so the runs after the first cost a lookup each.
GOAML_CTR_DAILY_CRON = "27 * * * *"


@app.periodic(cron=GOAML_CTR_DAILY_CRON)
@app.task(name="goaml_ctr_daily", queue=PERIODIC_QUEUE, queueing_lock="goaml_ctr_daily")
def goaml_ctr_daily(timestamp: int | None = None) -> int:
    """Export the past local days' CTRs of the opted-in FIUs; returns how many files."""
    from lightway.application.goaml.service import goaml_ctr_daily as run

    runs = run(now=timezone.now())
    for r in runs:
        logger.info(
            "goaml daily CTRs",
            extra={
                "fiu": r.fiu,
                "day": r.day.isoformat(),
                "files": r.files,
                "failed": bool(r.error),
            },
        )
    return sum(r.files for r in runs)
