"""Shared fixtures. Tests run against real PostgreSQL (DATABASE_URL, else the embedded one)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from django.db import connection

# Tests never append audit checkpoints to the checkout's var/ (tests of checkpoints point
# LIGHTWAY_AUDIT_CHECKPOINT_FILE at a temporary file themselves).
os.environ.setdefault("LIGHTWAY_AUDIT_CHECKPOINT_FILE", "")

from lightway.data.commission.selectors import fee_schedule_cache_clear
from lightway.data.ledger.services import house_account_cache_clear


@pytest.fixture(autouse=True)
def _fresh_process_caches(settings):
    """Per-process caches hold database ids; tests that empty the database must not see them.
    Tests read fee schedules fresh unless they turn the cache on themselves."""
    settings.LIGHTWAY_FEE_SCHEDULE_CACHE_SECONDS = 0
    house_account_cache_clear()
    fee_schedule_cache_clear()
    yield
    house_account_cache_clear()
    fee_schedule_cache_clear()


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _flush_past_append_only(request):
    """Let pytest-django empty the database after a ``transaction=True`` test.

    The ledger and audit tables refuse TRUNCATE by trigger. This teardown runs just before
    pytest-django's flush (it depends on ``transactional_db``, so it is torn down first) and
    switches triggers off on that connection; Django closes the connection after the flush.
    """
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(marker and marker.kwargs.get("transaction")) or (
        "transactional_db" in request.fixturenames
    )
    if not transactional:
        yield
        return
    request.getfixturevalue("transactional_db")
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")


@pytest.fixture
def tx_db(transactional_db):
    """A transactional database for thread and multi-connection tests (flushed as above)."""
