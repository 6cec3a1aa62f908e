"""Run one call per thread at the same moment, as concurrent requests would.

Each call gets its own arguments (give each its own clock reading: separate requests read
the clock separately, and a test whose threads share one reading cannot see a limit that
depends on the order of those readings). Every thread closes its database connections."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections


def run_concurrently(
    call: Callable[..., Any], args: Sequence[tuple[Any, ...]], *, timeout: float = 120
) -> list[Any]:
    """``call(*a)`` for each ``a`` of ``args``, each in its own thread, all released
    together; their results (in finishing order). An exception in any thread is raised."""
    results: list[Any] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(args))

    def run(a: tuple[Any, ...]) -> None:
        try:
            start.wait()
            results.append(call(*a))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(a,)) for a in args]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    if errors:
        raise errors[0]
    return results
