"""Gunicorn configuration (``gunicorn -c python:lightway.interfaces.cli.gunicorn_conf``).

Bind address, worker and thread counts come on the command line from ``lightway serve`` /
``lightway up`` (LIGHTWAY_HOST, LIGHTWAY_PORT, LIGHTWAY_WEB_WORKERS, LIGHTWAY_WEB_THREADS).
No access log: it would carry client addresses and URLs with identifiers; request counts
and latency are in ``/metrics``. Gunicorn's own log lines are JSON like the rest.
"""

from __future__ import annotations

from typing import Any

from lightway.infrastructure import metrics
from lightway.infrastructure.config import Env

wsgi_app = "lightway.interfaces.web.wsgi:application"
worker_class = "gthread"
accesslog = None
errorlog = "-"
loglevel = Env.str("LIGHTWAY_LOG_LEVEL", "info").lower()
proc_name = "lightway-web"
# No runtime control socket: several instances on one host would share its default path.
control_socket_disable = True
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "lightway.infrastructure.logs.JsonFormatter"}},
    "handlers": {
        "error_console": {"()": "lightway.infrastructure.logs.StderrHandler", "formatter": "json"},
        "console": {"()": "lightway.infrastructure.logs.StderrHandler", "formatter": "json"},
    },
    "loggers": {
        "gunicorn.error": {
            "level": loglevel.upper(),
            "handlers": ["error_console"],
            "propagate": False,
        },
        "gunicorn.access": {"level": "WARNING", "handlers": ["console"], "propagate": False},
    },
}


def child_exit(server: Any, worker: Any) -> None:
    """Let Prometheus multiprocess mode drop the live gauges of a finished web worker."""
    metrics.process_dead(worker.pid)
