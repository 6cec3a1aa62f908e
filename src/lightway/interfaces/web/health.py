"""Liveness, readiness and Prometheus metrics endpoints.

- ``/healthz``: the process answers; touches nothing else (use as a liveness probe).
- ``/readyz``: the database answers a query and every migration is applied (readiness
  probe; ``lightway up`` waits for it). 503 with a JSON reason otherwise.
- ``/metrics``: Prometheus text exposition of every process of this host (see
  ``lightway.infrastructure.metrics``) plus job-queue gauges read from the database. The
  scraper must send ``Authorization: Bearer <LIGHTWAY_METRICS_TOKEN>`` (401 otherwise); with
  no token configured the endpoint is closed (403).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from lightway.infrastructure import metrics

logger = logging.getLogger(__name__)

_migrations_applied = False  # once true it stays true: this process's code does not change


def migrations_pending() -> list[str]:
    """Labels of migrations known to this code but not applied to the database."""
    global _migrations_applied
    if _migrations_applied:
        return []
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    pending = [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]
    _migrations_applied = not pending
    return pending


def database_ping() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


@csrf_exempt  # so a POST gets 405 from require_safe, not the CSRF page
@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@csrf_exempt  # so a POST gets 405 from require_safe, not the CSRF page
@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    try:
        database_ping()
    except DatabaseError as exc:
        logger.warning("readiness: database unreachable", extra={"error": type(exc).__name__})
        return _unready("database unreachable", database="fail", migrations="unknown")
    try:
        pending = migrations_pending()
    except DatabaseError as exc:
        logger.warning("readiness: migration check failed", extra={"error": type(exc).__name__})
        return _unready("could not read applied migrations", database="ok", migrations="fail")
    if pending:
        return _unready(
            f"{len(pending)} migration(s) not applied, run `lightway migrate`",
            database="ok",
            migrations="fail",
        )
    return JsonResponse({"status": "ready", "checks": {"database": "ok", "migrations": "ok"}})


def _unready(reason: str, **checks: str) -> JsonResponse:
    return JsonResponse({"status": "unavailable", "reason": reason, "checks": checks}, status=503)


@csrf_exempt  # so a POST gets 405 from require_safe, not the CSRF page
@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    refused = metrics.scrape_refusal(
        token=str(settings.LIGHTWAY_METRICS_TOKEN or ""),
        authorization=request.headers.get("Authorization", ""),
    )
    if refused is not None:
        status, message = refused
        response = HttpResponse(
            metrics.refusal_body(status, message), status=status, content_type="application/json"
        )
        if status == 401:
            response["WWW-Authenticate"] = "Bearer"
        return response
    body, content_type = metrics.exposition(
        JobQueueCollector(), FxRateCollector(), AnalyticsCollector()
    )
    return HttpResponse(body, content_type=content_type)


# The due job with the smallest id has waited longest; its age runs from when it became due.
_OLDEST_WAITING_SQL = """
WITH oldest AS (
    SELECT id, scheduled_at FROM procrastinate_jobs
    WHERE status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())
    ORDER BY id LIMIT 1
)
SELECT EXTRACT(EPOCH FROM now() - COALESCE(
    o.scheduled_at, (SELECT min(at) FROM procrastinate_events WHERE job_id = o.id)))
FROM oldest o
"""


class JobQueueCollector(Collector):
    """Job-queue gauges read from procrastinate's tables at scrape time."""

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(
            "lightway_jobs",
            "Jobs waiting or running, by queue and status.",
            labels=["queue", "status"],
        )
        oldest = GaugeMetricFamily(
            "lightway_jobs_oldest_waiting_seconds",
            "Age of the oldest job waiting to run (0 when none is due).",
        )
        workers = GaugeMetricFamily(
            "lightway_workers_alive", "Workers whose heartbeat is younger than 30 seconds."
        )
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT queue_name, status::text, count(*) FROM procrastinate_jobs"
                    " WHERE status IN ('todo', 'doing') GROUP BY queue_name, status"
                )
                for queue, status, count in cursor.fetchall():
                    jobs.add_metric([queue, status], count)
                cursor.execute(_OLDEST_WAITING_SQL)
                row = cursor.fetchone()
                oldest.add_metric(
                    [], max(float(row[0]), 0.0) if row and row[0] is not None else 0.0
                )
                cursor.execute(
                    "SELECT count(*) FROM procrastinate_workers"
                    " WHERE last_heartbeat > now() - interval '30 seconds'"
                )
                workers.add_metric([], cursor.fetchone()[0])
        except DatabaseError as exc:
            logger.warning("metrics: job queue gauges skipped", extra={"error": type(exc).__name__})
            return
        yield jobs
        yield oldest
        yield workers


class FxRateCollector(Collector):
    """FX gauges read at scrape time (``application.fx.watch.fx_rate_ages``): each watched
    pair's rate age and whether it can be quoted. A pair with no rate has no age sample."""

    def collect(self) -> Iterator[Metric]:
        from django.utils import timezone

        from lightway.application.fx.watch import fx_rate_ages

        age = GaugeMetricFamily(
            "lightway_fx_rate_age_seconds",
            "Age of the rate that prices each watched pair (its as_of to now), by pair.",
            labels=["pair"],
        )
        quoting = GaugeMetricFamily(
            "lightway_fx_pair_quoting",
            "1 when the watched pair can be quoted, 0 when quoting is stopped (stale or missing).",
            labels=["pair"],
        )
        now = timezone.now()
        try:
            checks = fx_rate_ages(now=now)
        except DatabaseError as exc:
            logger.warning("metrics: fx gauges skipped", extra={"error": type(exc).__name__})
            return
        for check in checks:
            seconds = check.age_seconds(now)
            if seconds is not None:
                age.add_metric([check.pair], seconds)
            quoting.add_metric([check.pair], 1.0 if check.state == "ok" else 0.0)
        yield age
        yield quoting


class AnalyticsCollector(Collector):
    """The analytics rollups' running totals (``application.analytics.figures.totals``),
    read at scrape time: the same figures the dashboards show, exact across processes and
    restarts (they are counted in the database, not in a process).

    - ``lightway_transactions_total`` / ``lightway_transactions_value_minor_total``:
      transfers that reached a final state, by kind, market, currency, partner and outcome
      (value in the currency's minor unit);
    - ``lightway_provider_operations_total``: MoMo requests created and ended, by product,
      operation, outcome and reason code, and callbacks (operation ``callback``);
    - ``lightway_momo_accept_seconds`` / ``lightway_momo_outcome_seconds``: histograms of a
      MoMo request's time from creation to acceptance / to its outcome;
    - ``lightway_analytics_backlog_seconds``: age of the oldest fact not yet counted.

    Per-process latency of every request and MoMo call is in the histograms
    ``lightway_http_request_duration_seconds`` and ``lightway_momo_request_duration_seconds``
    (same buckets as the rollups); queue depth and lag in ``lightway_jobs`` and
    ``lightway_jobs_oldest_waiting_seconds``."""

    def collect(self) -> Iterator[Metric]:
        from django.utils import timezone

        from lightway.application.analytics.figures import totals
        from lightway.data.analytics.buckets import BOUNDS_MS
        from lightway.data.analytics.models import INF_MS

        try:
            counted = totals()
        except DatabaseError as exc:
            logger.warning("metrics: analytics skipped", extra={"error": type(exc).__name__})
            return
        labels = ["kind", "market", "currency", "partner", "outcome"]
        count = CounterMetricFamily(
            "lightway_transactions",
            "Transfers that reached a final state, by kind, market, currency, partner, outcome.",
            labels=labels,
        )
        value = CounterMetricFamily(
            "lightway_transactions_value_minor",
            "Amount of the transfers that reached a final state, in the currency's minor unit.",
            labels=labels,
        )
        for r in counted.transfers:
            key = [str(r[k] or "") for k in labels]
            count.add_metric(key, float(r["n"] or 0))
            value.add_metric(key, float(r["value"] or 0))
        provider_labels = ["product", "operation", "outcome", "reason"]
        provider = CounterMetricFamily(
            "lightway_provider_operations",
            "MoMo requests created and ended (by reason code) and callbacks processed.",
            labels=provider_labels,
        )
        for r in counted.provider:
            provider.add_metric([str(r[k] or "") for k in provider_labels], float(r["n"] or 0))
        yield count
        yield value
        yield provider
        for source, name, text in (
            ("momo_accept", "lightway_momo_accept_seconds", "creation to MoMo's acceptance"),
            ("momo_outcome", "lightway_momo_outcome_seconds", "creation to its outcome"),
        ):
            family = HistogramMetricFamily(
                name, f"Time of a MoMo request from {text}.", labels=["operation", "result"]
            )
            for (src, operation, result), buckets in sorted(counted.latency.items()):
                if src != source:
                    continue
                per_le = {le: n for le, n, _ in buckets}
                cumulative, out = 0, []
                for le in (*BOUNDS_MS[source], INF_MS):  # every bound, as Prometheus expects
                    cumulative += per_le.get(le, 0)
                    out.append(("+Inf" if le == INF_MS else str(le / 1000), cumulative))
                total = sum(sum_ms for _, _, sum_ms in buckets)
                family.add_metric([operation, result], out, total / 1000)
            yield family
        backlog = GaugeMetricFamily(
            "lightway_analytics_backlog_seconds",
            "Age of the oldest fact the analytics rollup job has not counted yet (0: none).",
        )
        oldest = counted.outbox_oldest_at
        backlog.add_metric(
            [], max((timezone.now() - oldest).total_seconds(), 0.0) if oldest else 0.0
        )
        yield backlog
