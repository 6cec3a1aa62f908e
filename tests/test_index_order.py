"""``index_order()`` (infrastructure/db.py): the planner settings it turns off for a keyset
page's query are back as they were afterwards, also inside a longer transaction (a request's,
a test's), where ``SET LOCAL`` alone would last past the savepoint to the transaction's end."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from lightway.infrastructure.db import index_order

pytestmark = pytest.mark.django_db


def _settings() -> tuple[str, str]:
    with connection.cursor() as cur:
        cur.execute("SELECT current_setting('enable_sort'), current_setting('enable_bitmapscan')")
        return cur.fetchone()


def test_the_settings_apply_inside_and_are_back_after_it_in_the_same_transaction():
    with transaction.atomic():
        assert _settings() == ("on", "on")
        with index_order():
            assert _settings() == ("off", "off")
        assert _settings() == ("on", "on")


def test_an_error_inside_rolls_the_settings_back_with_the_savepoint():
    with transaction.atomic():
        with pytest.raises(ZeroDivisionError), index_order():
            assert _settings() == ("off", "off")
            raise ZeroDivisionError
        assert _settings() == ("on", "on")


def test_a_caller_who_turned_sorts_off_keeps_them_off():
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SET LOCAL enable_sort = off")
        with index_order():
            pass
        assert _settings() == ("off", "on")
