"""`lightway worker`: the procrastinate worker plus the in-process audit-chain linker.

The procrastinate worker runs every task in ``lightway.interfaces.tasks`` and defers the
periodic ones. Beside it, a thread calls ``tasks.audit_link_once()`` (``audit_chain_link()``
plus a checkpoint line per new chain head in LIGHTWAY_AUDIT_CHECKPOINT_FILE) every
LIGHTWAY_AUDIT_LINK_INTERVAL_MS (0.5 s by default) so the audit chain trails commits by less
than a second; procrastinate's own scheduler cannot go below one second.

SIGTERM or SIGINT stops it gracefully: running jobs finish (a second signal aborts them),
then the linker stops. Several workers may run against one database.
"""

from __future__ import annotations

import logging
import threading
import time

from lightway.infrastructure import metrics
from lightway.interfaces.cli.progress import note

logger = logging.getLogger("lightway.worker")

_MAX_BACKOFF_S = 10.0


class AuditLinker(threading.Thread):
    """Calls ``tasks.audit_link_once()`` every ``interval`` seconds until ``stop()``."""

    def __init__(self, interval: float) -> None:
        super().__init__(name="audit-linker", daemon=True)
        self.interval = interval
        self._stop_event = threading.Event()
        self.runs = 0

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        from django.db import close_old_connections, connection

        try:
            from lightway.interfaces.tasks import audit_link_once
        except ImportError as exc:
            logger.warning("audit linker disabled", extra={"reason": f"import failed: {exc.name}"})
            return
        failures = 0
        try:
            while not self._stop_event.is_set():
                started = time.monotonic()
                try:
                    audit_link_once()  # counts lightway_audit_linked_total itself
                except Exception:
                    failures += 1
                    if failures == 1 or failures % 100 == 0:
                        logger.exception("audit link failed", extra={"failures": failures})
                    close_old_connections()
                    connection.close()
                    delay = min(self.interval * 2**failures, _MAX_BACKOFF_S)
                else:
                    failures = 0
                    self.runs += 1
                    delay = self.interval - (time.monotonic() - started)
                self._stop_event.wait(max(delay, 0.0))
        finally:
            connection.close()


def worker_run(
    *, concurrency: int, audit_interval: float, queues: list[str] | None, metrics_port: int
) -> int:
    from django.conf import settings
    from django.db import connection
    from procrastinate.contrib.django import app

    from lightway.interfaces import tasks

    connection.ensure_connection()  # fail fast, with the database's own reason
    connection.close()

    if metrics_port:
        metrics.metrics_server_start(
            port=metrics_port,
            addr=settings.LIGHTWAY_HOST,
            token=str(settings.LIGHTWAY_METRICS_TOKEN or ""),
        )
        note(f"  Worker metrics on http://{settings.LIGHTWAY_HOST}:{metrics_port}/")

    linker = AuditLinker(audit_interval) if audit_interval > 0 else None
    if linker:
        linker.start()
    app.perform_import_paths()  # type: ignore[no-untyped-call]
    periodic = sorted({name for name, _id in app.periodic_registry.periodic_tasks})
    note(
        f"Worker started: concurrency {concurrency}, queues {', '.join(queues or ['all'])},"
        f" periodic {', '.join(periodic) or 'none'},"
        f" audit linker {f'every {audit_interval:.2f} s' if linker else 'off'}"
    )
    try:
        with app.replace_connector(app.connector.get_worker_connector()):  # type: ignore[attr-defined]
            app.run_worker(
                name="lightway-worker",
                concurrency=concurrency,
                queues=queues,
                install_signal_handlers=True,
                worker_middleware=[tasks.task_metrics_middleware],
            )
    finally:
        if linker:
            linker.stop()
            linker.join(timeout=10)
    note("Worker stopped.")
    return 0
