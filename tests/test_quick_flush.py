"""The flush after a transactional test (tests/conftest.py) leaves the database exactly as
Django's full flush does: every table the full flush empties is empty, and the content types
and permissions post_migrate makes are all there and nothing else.

The tests run in this order (one module, one worker): a transactional test writes to many
tables (a partitioned one and the post_migrate tables included), the next test looks at what
the flush left; then the same with a test that leaves the post_migrate tables alone (the flush
keeps them as they are).
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management.sql import emit_post_migrate_signal
from django.db import connection

from tests.conftest import tables_holding_rows
from tests.factories import customer, funded_wallet, staff

_CATALOGS = {"django_content_type", "auth_permission"}
_written: dict[str, set[str]] = {}  # what the writing tests left behind, for the checks


def _flushed_tables() -> list[str]:
    """The tables Django's flush empties (the same list it passes to its SQL)."""
    return connection.introspection.django_table_names(only_existing=True, include_views=False)


def _partitioned() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname FROM pg_class WHERE relkind = 'p'")
        return {row[0] for row in cursor.fetchall()}


def _write_many(now) -> None:
    from lightway.application.transactions.transfers import TransferRequest, transfer_create

    cust, _ = customer("flush-a", now)
    other, _ = customer("flush-b", now)
    wallet = funded_wallet(cust, "UGX", 50_000, now)
    target = funded_wallet(other, "UGX", 0, now)
    transfer_create(
        client_id=cust,
        idempotency_key="flush",
        request=TransferRequest(wallet.id, target.id, 1_000, "UGX"),
        now=now,
    )
    staff("flush-staff", ["lw_support"], now)
    Group.objects.create(name="flush-group")


def _post_migrate_adds_nothing() -> None:
    counts = (ContentType.objects.count(), Permission.objects.count())
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    assert (ContentType.objects.count(), Permission.objects.count()) == counts
    assert counts[0] > 50 and counts[1] > 200


def _left_as_the_full_flush_leaves_it() -> None:
    holding = tables_holding_rows(_flushed_tables())
    assert holding == _CATALOGS, f"not emptied: {sorted(holding - _CATALOGS)}"
    assert not ContentType.objects.filter(app_label="quickflush").exists()
    assert not Permission.objects.filter(codename="quickflush_probe").exists()
    _post_migrate_adds_nothing()  # every row post_migrate makes is there


@pytest.mark.django_db(transaction=True)
def test_a_transactional_test_writes_to_many_tables_and_the_post_migrate_ones(now):
    _write_many(now)
    probe = ContentType.objects.create(app_label="quickflush", model="probe")
    Permission.objects.create(codename="quickflush_probe", name="probe", content_type=probe)
    Permission.objects.filter(codename="view_group").delete()  # post_migrate re-creates it
    written = tables_holding_rows(_flushed_tables())
    assert len(written) > 10
    assert written & _partitioned(), "no partitioned table written"
    _written["catalogs changed"] = written


@pytest.mark.django_db(transaction=True)  # pytest-django runs transactional tests last
def test_after_it_every_table_is_empty_and_post_migrate_rows_are_all_there():
    assert "catalogs changed" in _written, "runs after the test above (same module, in order)"
    _left_as_the_full_flush_leaves_it()
    assert Permission.objects.filter(codename="view_group").exists()


@pytest.mark.django_db(transaction=True)
def test_a_transactional_test_writes_to_many_tables_only(now):
    _write_many(now)
    written = tables_holding_rows(_flushed_tables())
    assert len(written) > 10
    _written["catalogs kept"] = written


@pytest.mark.django_db(transaction=True)  # pytest-django runs transactional tests last
def test_after_that_every_table_is_empty_and_post_migrate_rows_are_all_there():
    assert "catalogs kept" in _written, "runs after the test above (same module, in order)"
    _left_as_the_full_flush_leaves_it()
