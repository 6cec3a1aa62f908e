"""Database helpers shared by the layers above."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.db import DatabaseError, connection, transaction

T = TypeVar("T")
log = logging.getLogger(__name__)

# deadlock_detected, serialization_failure: the transaction was rolled back as a whole and
# running it again is safe.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def sqlstate(exc: BaseException) -> str | None:
    return getattr(exc.__cause__, "sqlstate", None) or getattr(exc, "sqlstate", None)


def retry_transient(fn: Callable[[], T], *, attempts: int = 3, pause: float = 0.01) -> T:
    """Run ``fn`` (which opens and closes its own transactions) again after a deadlock or a
    serialization failure, so neither reaches a client. Not for use inside an open
    transaction: the failed attempt must have been rolled back whole."""
    if connection.in_atomic_block:
        return fn()
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except DatabaseError as exc:
            if sqlstate(exc) not in RETRYABLE_SQLSTATES or attempt == attempts:
                raise
            log.warning("transient database conflict, retrying", extra={"attempt": attempt})
            time.sleep(pause * attempt)
    raise AssertionError("unreachable")


@contextmanager
def index_order() -> Iterator[None]:
    """Run a keyset page's query with sorts and bitmap scans as a last resort (``SET LOCAL``,
    this transaction only). On a selective filter with stale statistics the planner may
    guess that fetching every match and sorting it is cheaper; then a filter value with many
    rows would sort them all. When an index ends with the page's order, this keeps each page
    a walk of at most ``limit + 1`` matches from the cursor (docs/performance.md)."""
    with transaction.atomic(), connection.cursor() as cur:
        # SET LOCAL lasts to the end of the outermost transaction, past the release of a
        # savepoint: inside a request's (or a test's) transaction it would plan every later
        # query without sorts. So the settings in force before are put back on the way out.
        cur.execute("SELECT current_setting('enable_sort'), current_setting('enable_bitmapscan')")
        sort, bitmap = cur.fetchone()
        cur.execute("SET LOCAL enable_sort = off")
        cur.execute("SET LOCAL enable_bitmapscan = off")
        yield
        # (On an error the savepoint or transaction is rolled back, which undoes them too.)
        cur.execute(
            "SELECT set_config('enable_sort', %s, true), set_config('enable_bitmapscan', %s, true)",
            [sort, bitmap],
        )
