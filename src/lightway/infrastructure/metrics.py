"""Prometheus metrics shared by every layer.

Import the metric objects from here and increment them where the event happens::

    from lightway.infrastructure import metrics

    metrics.transfers_total.labels(outcome="succeeded", currency="UGX").inc()

Several processes serve one platform (gunicorn workers, the job worker), so
``lightway up`` and ``lightway serve`` run prometheus_client in *multiprocess mode*: before
any child starts they point ``PROMETHEUS_MULTIPROC_DIR`` at a directory and empty it
(``var/prometheus/<port>`` unless set, so two instances on one host never mix); every
process writes its samples to files there and ``/metrics`` merges them (:func:`exposition`).
prometheus_client picks its storage when it is first imported, so the variable must be set
before the process starts; a process without it (tests, a shell) keeps its metrics in
memory and ``/metrics`` shows only that process. Labels must have small, fixed value sets:
never put identifiers, phone numbers or amounts in a label.

Metrics are never public: every scrape (the web servers' ``/metrics`` and the worker's
``--metrics-port``) must send ``Authorization: Bearer <LIGHTWAY_METRICS_TOKEN>``
(:func:`scrape_refusal`); with no token configured every scrape is refused.
"""

from __future__ import annotations

import hmac
import json
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Histogram bucket bounds (seconds). The analytics rollups use the very same bounds
# (``lightway.data.analytics.buckets``), so percentiles on the pages and Prometheus'
# ``histogram_quantile`` over these histograms agree.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MOMO_CALL_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
MOMO_OUTCOME_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0)

# HTTP (incremented by lightway.interfaces.web.middleware)
http_requests_total = Counter(
    "lightway_http_requests_total",
    "HTTP requests served, by method, route name and status class.",
    ["method", "route", "status"],
)
http_request_duration_seconds = Histogram(
    "lightway_http_request_duration_seconds",
    "Time from request received to response returned, by method and route name.",
    ["method", "route"],
    buckets=HTTP_BUCKETS,
)

# Money movement (incremented by the transaction use cases)
transfers_total = Counter(
    "lightway_transfers_total",
    "Transfers that reached a final state, by outcome and ISO 4217 currency.",
    ["outcome", "currency"],
)

# Background work (incremented by lightway.infrastructure.jobs and the worker)
jobs_enqueued_total = Counter(
    "lightway_jobs_enqueued_total",
    "Jobs enqueued through job_enqueue, by task name.",
    ["task"],
)
task_runs_total = Counter(
    "lightway_task_runs_total",
    "Jobs run by the worker, by task name and outcome (succeeded, failed).",
    ["task", "outcome"],
)
task_duration_seconds = Histogram(
    "lightway_task_duration_seconds",
    "Job run time in the worker, by task name.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
audit_linked_total = Counter(
    "lightway_audit_linked_total",
    "Audit records linked into the hash chain.",
)
holds_expired_total = Counter(
    "lightway_holds_expired_total",
    "Ledger holds voided because they expired.",
)


# MTN MoMo (docs/momo.md). Requests and latency are counted by the client
# (lightway.integration.momo.client) per HTTP call; outcomes by the flows when a MoMo request
# reaches its final state. ``reason`` is MoMo's reason code, or "other" for a code outside
# the documented list (labels must stay a small set).
momo_requests_total = Counter(
    "lightway_momo_requests_total",
    "HTTP calls to MTN MoMo, by product, operation and result (2xx, 4xx, 5xx, timeout, error).",
    ["product", "operation", "result"],
)
momo_request_duration_seconds = Histogram(
    "lightway_momo_request_duration_seconds",
    "Time an HTTP call to MTN MoMo took, by product and operation.",
    ["product", "operation"],
    buckets=MOMO_CALL_BUCKETS,
)
momo_outcomes_total = Counter(
    "lightway_momo_outcomes_total",
    "MoMo money operations that reached a final state, by operation, status and reason.",
    ["operation", "status", "reason"],
)
momo_callbacks_total = Counter(
    "lightway_momo_callbacks_total",
    "MoMo callbacks received, by what processing made of them (applied, duplicate, ...).",
    ["outcome"],
)
momo_float_low_total = Counter(
    "lightway_momo_float_low_total",
    "Times a MoMo float balance fell below its threshold (one alert each), by product.",
    ["product"],
)

# SMS providers (docs/notifications.md, issue 15): each hand-over by provider and outcome
# (accepted, refused, unknown, skipped: circuit open), the cost the providers reported, and
# delivery reports by provider and what processing made of them.
sms_attempts_total = Counter(
    "lightway_sms_attempts_total",
    "SMS hand-overs to a provider, by provider and outcome.",
    ["provider", "outcome"],
)
sms_cost_micros_total = Counter(
    "lightway_sms_cost_micros_total",
    "What the SMS providers said the messages cost, in millionths of the currency.",
    ["provider", "currency"],
)
sms_reports_total = Counter(
    "lightway_sms_reports_total",
    "SMS delivery reports received, by provider and result (applied, stale, unknown).",
    ["provider", "result"],
)

# FX (docs/fx.md). The age of each watched pair's rate is a gauge read from the database at
# scrape time (interfaces/web/health.py, ``FxRateCollector``), not a per-process sample.
fx_feed_runs_total = Counter(
    "lightway_fx_feed_runs_total",
    "Rate feed imports, by feed (ecb, regional, peg) and outcome (ok, failed).",
    ["feed", "outcome"],
)
fx_quoting_stopped_total = Counter(
    "lightway_fx_quoting_stopped_total",
    "Times quoting stopped for a watched pair (one alert each), by pair and reason.",
    ["pair", "reason"],
)


def multiprocess_dir() -> Path | None:
    """The multiprocess directory this process writes to, or None in single-process mode."""
    raw = os.environ.get(MULTIPROC_ENV)
    return Path(raw) if raw else None


def multiprocess_dir_prepare(path: Path) -> Path:
    """Create ``path`` and delete samples left by an earlier run (call before any child starts)."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)
    return path


def process_dead(pid: int) -> None:
    """Tell multiprocess mode that ``pid`` exited (gunicorn's ``child_exit`` hook)."""
    if multiprocess_dir() is not None:
        _multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def registry_for_exposition(*extra: Collector) -> CollectorRegistry:
    """A registry holding every sample of this platform, plus ``extra`` collectors."""
    if multiprocess_dir() is not None:
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY if not extra else _merged(REGISTRY)
    for collector in extra:
        registry.register(collector)
    return registry


def _merged(base: CollectorRegistry) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(_Forward(base))
    return registry


class _Forward(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self):  # type: ignore[no-untyped-def]
        return self._registry.collect()


def exposition(*extra: Collector) -> tuple[bytes, str]:
    """Render every metric in the Prometheus text format: ``(body, content_type)``."""
    return generate_latest(registry_for_exposition(*extra)), CONTENT_TYPE_LATEST


# --- who may scrape ---------------------------------------------------------------------------


def scrape_refusal(*, token: str, authorization: str) -> tuple[int, str] | None:
    """Why a scrape with this ``Authorization`` header is refused: ``(status, message)``,
    or None when it may read the metrics. No token configured: 403 for everyone (metrics
    are closed by default); a missing or wrong bearer token: 401."""
    if not token:
        return 403, "metrics are disabled: set LIGHTWAY_METRICS_TOKEN and scrape with it"
    if not hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
        return 401, "metrics token required: send Authorization: Bearer <LIGHTWAY_METRICS_TOKEN>"
    return None


def refusal_body(status: int, message: str) -> bytes:
    code = "forbidden" if status == 403 else "unauthenticated"
    return json.dumps({"error": {"code": code, "message": message, "details": {}}}).encode()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log: it would carry client addresses."""


class _ThreadingServer(WSGIServer):
    daemon_threads = True


def metrics_server_start(*, port: int, addr: str, token: str) -> WSGIServer:
    """Serve this process's metrics on ``addr:port`` (0 = a free port) in a daemon thread,
    behind the same bearer token as ``/metrics``. Returns the server (``shutdown()`` ends it)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        refused = scrape_refusal(token=token, authorization=environ.get("HTTP_AUTHORIZATION", ""))
        if refused is not None:
            status, message = refused
            reason = "Forbidden" if status == 403 else "Unauthorized"
            headers = [("Content-Type", "application/json")]
            if status == 401:
                headers.append(("WWW-Authenticate", "Bearer"))
            start_response(f"{status} {reason}", headers)
            return [refusal_body(status, message)]
        body, content_type = exposition()
        start_response("200 OK", [("Content-Type", content_type)])
        return [body]

    server = make_server(
        addr, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, name="metrics-server", daemon=True).start()
    return server
