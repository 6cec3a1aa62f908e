"""Gunicorn configuration (``gunicorn -c python:lightway.interfaces.cli.gunicorn_conf``).

Bind address, worker and thread counts come on the command line from ``lightway serve`` /
``lightway up`` (LIGHTWAY_HOST, LIGHTWAY_PORT, LIGHTWAY_WEB_WORKERS, LIGHTWAY_WEB_THREADS).
No access log by default: request counts and latency are in ``/metrics``. An operator who
turns one on (``GUNICORN_CMD_ARGS="--access-logfile -"``) gets ``access_log_format``: method,
path without its query string (a query string may carry a searched phone number or email),
status, bytes and milliseconds; no client address, referrer or user agent. Gunicorn's own log
lines take the form and destinations of the rest (``infrastructure/logs.py``).
"""

from __future__ import annotations

from typing import Any

from lightway.infrastructure import metrics
from lightway.infrastructure.config import Env
from lightway.infrastructure.logs import logging_config

wsgi_app = "lightway.interfaces.web.wsgi:application"
worker_class = "gthread"
accesslog = None
# %(U)s is PATH_INFO (never the query string); never %(r)s, %(q)s, %(f)s or %(h)s.
access_log_format = '"%(m)s %(U)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
loglevel = Env.str("LIGHTWAY_LOG_LEVEL", "info").lower()
proc_name = "lightway-web"
# No runtime control socket: several instances on one host would share its default path.
control_socket_disable = True
# The longest request line gunicorn reads (its maximum; its own 414 is plain text). The API
# refuses a longer path and query itself, in its error shape, from
# LIGHTWAY_API_MAX_URI_LENGTH (4096) on (interfaces/api/guards.py).
limit_request_line = 8190
logconfig_dict: dict[str, Any] = logging_config(
    {
        "gunicorn.error": {"level": loglevel.upper(), "propagate": False},
        "gunicorn.access": {"level": "WARNING", "propagate": False},
    }
)


def child_exit(server: Any, worker: Any) -> None:
    """Let Prometheus multiprocess mode drop the live gauges of a finished web worker."""
    metrics.process_dead(worker.pid)
