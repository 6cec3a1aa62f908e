"""Shared fixtures. Tests run against real PostgreSQL (DATABASE_URL, else the embedded one)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import django.test
import psycopg
import pytest
from django.db import connection, transaction
from django.test.client import ClientHandler
from pytest_django.plugin import blocking_manager_key

# Tests never append audit checkpoints to the checkout's var/ (tests of checkpoints point
# LIGHTWAY_AUDIT_CHECKPOINT_FILE at a temporary file themselves).
os.environ.setdefault("LIGHTWAY_AUDIT_CHECKPOINT_FILE", "")

from lightway.application.aml.inline import aml_caches_clear
from lightway.data.commission.selectors import fee_schedule_cache_clear
from lightway.data.ledger.services import house_account_cache_clear
from lightway.infrastructure.config import url_from_database
from lightway.infrastructure.db_roles import RUNTIME_ROLE_DEFAULT, runtime_role_ensure


@pytest.fixture(autouse=True)
def _fresh_process_caches(settings):
    """Per-process caches hold database ids; tests that empty the database must not see them.
    Tests read fee schedules fresh unless they turn the cache on themselves."""
    settings.LIGHTWAY_FEE_SCHEDULE_CACHE_SECONDS = 0
    # The AML caches are emptied around every test (and by every write through the
    # services); within a test they never expire, so query counts do not depend on speed.
    settings.LIGHTWAY_AML_CACHE_SECONDS = 3600
    house_account_cache_clear()
    fee_schedule_cache_clear()
    aml_caches_clear()
    yield
    house_account_cache_clear()
    fee_schedule_cache_clear()
    aml_caches_clear()


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


# --- the database roles (docs/operations.md, "Database roles") --------------------------
#
# The suite runs the application as the restricted runtime role, as production does. The
# test database is created and migrated as the owner (DATABASE_OWNER_URL, else the role in
# DATABASE_URL: a superuser in CI), the runtime role gets its grants, and then Django's
# `default` connection connects as the runtime role: the role in DATABASE_URL when it is
# not the owner (the embedded server's lightway_app), else lightway_app, created here.

RUNTIME_TEST_PASSWORD = "lightway-test-runtime"  # a role on a test server only
_CONNECTION_KEYS = ("USER", "PASSWORD", "HOST", "PORT")


@dataclass(frozen=True)
class DatabaseRoles:
    owner: dict[str, object]  # connection settings of the owner (superuser in the suite)
    runtime: dict[str, object]  # ... and of the restricted runtime role


_roles: list[DatabaseRoles] = []  # set once per test process by django_db_modify_db_settings


def database_roles() -> DatabaseRoles:
    return _roles[0]


def _connect_default_as(keys: dict[str, object]) -> None:
    """Make Django's ``default`` connection (in every thread, from its next connect) use
    these credentials; the test database name is kept."""
    from django.db import connections

    connection.close()
    connections.settings["default"].update(keys)
    connection.settings_dict.update(keys)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """Before the test database is created: decide the two roles, connect as the owner."""
    from lightway.infrastructure.config import database_from_url, url_user

    runtime_url = os.environ["DATABASE_URL"]
    owner_url = os.environ.get("DATABASE_OWNER_URL") or runtime_url
    owner = database_from_url(owner_url)
    if url_user(runtime_url) != url_user(owner_url):
        runtime = database_from_url(runtime_url)
        password = None
    else:
        runtime = {**owner, "USER": RUNTIME_ROLE_DEFAULT, "PASSWORD": RUNTIME_TEST_PASSWORD}
        password = RUNTIME_TEST_PASSWORD
    with psycopg.connect(url_from_database(owner)) as conn, conn.cursor() as cursor:
        try:
            runtime_role_ensure(cursor, role=str(runtime["USER"]), password=password)
        except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
            conn.rollback()  # another test process created it at the same moment
    _roles[:] = [
        DatabaseRoles(
            owner={k: owner[k] for k in _CONNECTION_KEYS},
            runtime={k: runtime[k] for k in _CONNECTION_KEYS},
        )
    ]
    _connect_default_as(database_roles().owner)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker, django_db_modify_db_settings):
    """After pytest-django created and migrated the test database as the owner: grant the
    runtime role, then run every test as it. The owner drops the database at the end."""
    from django.conf import settings

    from lightway.infrastructure.db_roles import runtime_grant

    roles = database_roles()
    with django_db_blocker.unblock():
        with transaction.atomic(), connection.cursor() as cursor:
            runtime_grant(cursor, role=str(roles.runtime["USER"]))
        owner_url = url_from_database({**connection.settings_dict, **roles.owner})
        settings.DATABASE_OWNER_URL = owner_url  # `lightway migrate` in tests
        os.environ["DATABASE_OWNER_URL"] = owner_url  # ... and in their subprocesses
        _catalogs_remember()
        _connect_default_as(roles.runtime)
    yield
    with django_db_blocker.unblock():
        _connect_default_as(roles.owner)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """After a test's teardown (a transactional test's flush ran as the owner): back to the
    runtime role for the next test."""
    yield
    quick_flush = connection.ops.__dict__.pop("sql_flush", None) is not None
    if _roles and connection.settings_dict.get("USER") != database_roles().runtime["USER"]:
        if not connection.in_atomic_block:
            _connect_default_as(database_roles().runtime)
    if quick_flush and not _catalog_rows and not connection.in_atomic_block:
        # the flush emptied them and post_migrate filled them again
        with item.config.stash[blocking_manager_key].unblock():
            _catalogs_remember()


@pytest.fixture
def db_roles(django_db_setup) -> DatabaseRoles:
    """The owner's and the runtime role's connection settings (user, password, host, port)."""
    return database_roles()


def owner_connection_params() -> dict[str, object]:
    """psycopg.connect() keyword arguments for the current test database as the owner."""
    owner = database_roles().owner
    return {
        "dbname": connection.settings_dict["NAME"],
        "user": owner["USER"],
        "password": owner["PASSWORD"] or None,
        "host": owner["HOST"] or None,
        "port": owner["PORT"] or None,
        "autocommit": True,
    }


@pytest.fixture
def owner_params(db_roles) -> dict[str, object]:
    """psycopg.connect() keyword arguments for the test database as the owner, in a
    transaction (for tests that open their own concurrent sessions)."""
    params = owner_connection_params()
    params.pop("autocommit")
    return params


@pytest.fixture
def owner_db(transactional_db):
    """A connection to the current test database as the owner role (a superuser in the
    suite), for tests that deliberately act as one: switch triggers off, forge or edit
    rows, dump the database. The test is transactional, so the owner's separate session
    sees what the test committed (and the test holds no locks the owner would wait for).
    Autocommit; the connection is closed after the test."""
    with psycopg.connect(**owner_connection_params()) as conn:
        yield conn


@pytest.fixture(autouse=True)
def _flush_past_append_only(request):
    """Let pytest-django empty the database after a ``transaction=True`` test.

    The runtime role may not TRUNCATE, and the ledger and audit tables refuse TRUNCATE by
    trigger. This teardown runs just before pytest-django's flush (it depends on
    ``transactional_db``, so it is torn down first): it reconnects the default connection
    as the owner with triggers off for the flush; Django closes that connection after the
    flush, and ``pytest_runtest_teardown`` switches back to the runtime role.
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
    _connect_default_as(database_roles().owner)
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
    connection.ops.sql_flush = _sql_flush_holding_rows  # removed in pytest_runtest_teardown


# --- the flush: only the tables that hold rows (docs/performance.md "Test suite time") ------
#
# Django's flush TRUNCATEs all ~120 tables (~3 s: a new file for every table and index),
# then post_migrate re-creates the content types and permissions. After most transactional
# tests a handful of tables hold rows. The flush after them empties exactly those (one query
# finds them: EXISTS per table, exact) with DELETE - the flush runs as the owner with
# session_replication_role = replica, so no trigger (append-only, foreign keys) fires, as
# none fires for TRUNCATE - and leaves the two tables post_migrate fills alone when they hold
# exactly what post_migrate left in them (compared row by row; otherwise they are emptied and
# refilled as by the full flush). Sequences are not reset by either (reset_sequences=False).
# A flush that asks for more (sequences reset, cascade) gets Django's own SQL.

_CATALOGS = ("django_content_type", "auth_permission")  # what post_migrate (re)fills
_catalog_rows: dict[str, list[tuple[Any, ...]]] = {}  # ... as it last left them


def _catalog_read() -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with connection.cursor() as cursor:
        for table in _CATALOGS:
            cursor.execute(f'SELECT * FROM "{table}" ORDER BY id')
            out[table] = cursor.fetchall()
    return out


def _catalogs_remember() -> None:
    _catalog_rows.clear()
    _catalog_rows.update(_catalog_read())


def tables_holding_rows(tables: list[str]) -> set[str]:
    """Which of ``tables`` hold at least one row (one query; a partitioned table counts its
    partitions' rows)."""
    if not tables:
        return set()
    qn = connection.ops.quote_name
    query = " UNION ALL ".join(
        f"SELECT %s WHERE EXISTS (SELECT 1 FROM {qn(table)})" for table in tables
    )
    with connection.cursor() as cursor:
        cursor.execute(query, list(tables))
        return {row[0] for row in cursor.fetchall()}


def _key_tables() -> list[str]:
    """The key tables of partitioned tables (archive 0004): not Django models, but the flush
    must empty them with their tables (a DELETE releases the keys by trigger; a TRUNCATE
    would leave them behind)."""
    with connection.cursor() as cursor:
        # (a test that migrated back before archive 0004 has no registry)
        cursor.execute("SELECT to_regclass('archive_key_table') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return []
        cursor.execute(
            "SELECT key_table FROM archive_key_table WHERE to_regclass(key_table) IS NOT NULL"
            " ORDER BY 1"
        )
        return [name for (name,) in cursor.fetchall()]


def _sql_flush_holding_rows(style, tables, *, reset_sequences=False, allow_cascade=False):
    ops = connection.ops
    tables = sorted(set(tables) | set(_key_tables()))
    if reset_sequences or allow_cascade:
        return type(ops).sql_flush(
            ops, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
    holding = tables_holding_rows(list(tables))
    catalogs = set(_CATALOGS) & set(tables)
    if catalogs and _catalog_rows and _catalog_read() == _catalog_rows:
        holding -= catalogs  # post_migrate will find every row it makes there: a no-op
    elif catalogs:
        holding |= catalogs  # changed (or not known): emptied and refilled by post_migrate
        _catalog_rows.clear()  # ... and remembered again after that
    # No statement at all: the flush command skips post_migrate, which could only have found
    # its rows all there.
    return [f"DELETE FROM {ops.quote_name(table)}" for table in sorted(holding)]


@pytest.fixture
def tx_db(transactional_db):
    """A transactional database for thread and multi-connection tests (flushed as above)."""


# --- notifications: the SMS/SMTP simulator and the outbox (docs/notifications.md) -----------


@pytest.fixture(scope="session")
def notify_simulator():
    """One notify simulator (Africa's Talking and Twilio APIs + SMTP sink) per test
    process, on free ports."""
    from lightway.integration.notify.simulator import NotifySimulator

    simulator = NotifySimulator(host="127.0.0.1", http_port=0, smtp_port=0).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def outbox(settings, notify_simulator):
    """Deliver notifications for real (HTTP to the SMS simulator, SMTP to its sink) and read
    what arrived: ``outbox.latest_code(phone)``, ``outbox.latest_link(address)``...

    Works with ``db`` and ``transactional_db`` tests (it uses whichever the test has):
    ``deliver_pending()`` runs the delivery of every queued notification synchronously in
    the test's thread and connection, as the worker's ``notification_deliver`` job would.
    """
    from tests.notify_outbox import Outbox

    notify_simulator.reset()
    from lightway.integration.notify.providers_sim import ProviderAccounts

    accounts = ProviderAccounts()  # the demo credentials, which the settings default to
    settings.AFRICASTALKING_BASE_URL = notify_simulator.base_url
    settings.AFRICASTALKING_USERNAME = accounts.at_username
    settings.AFRICASTALKING_API_KEY = accounts.at_api_key
    settings.AFRICASTALKING_SENDER_IDS = "*=LightWay"
    settings.TWILIO_BASE_URL = notify_simulator.base_url
    settings.TWILIO_ACCOUNT_SID = accounts.twilio_account_sid
    settings.TWILIO_AUTH_TOKEN = accounts.twilio_auth_token
    settings.TWILIO_SENDERS = "*=LightWay"
    settings.TWILIO_STATUS_CALLBACK_URL = ""
    settings.LIGHTWAY_SMS_ROUTES = "*=africastalking,twilio"
    settings.LIGHTWAY_SMTP_HOST = "127.0.0.1"
    settings.LIGHTWAY_SMTP_PORT = notify_simulator.smtp_port
    settings.LIGHTWAY_SMTP_USER = ""
    settings.LIGHTWAY_SMTP_PASSWORD = ""
    settings.LIGHTWAY_SMTP_STARTTLS = False
    yield Outbox(notify_simulator)
    notify_simulator.reset()


# --- MTN MoMo: the simulator and the harness (docs/momo.md "Simulator") --------------------


@pytest.fixture(scope="session")
def momo_simulator():
    """One MoMo simulator per test process, on a free port."""
    from lightway.integration.momo.simulator import MomoSimulator

    simulator = MomoSimulator(host="127.0.0.1", port=0).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def momo(settings, momo_simulator):
    """The simulator wired into settings: reset, an API user provisioned (callback host
    127.0.0.1), MOMO_* settings pointing at it, callbacks queued for
    ``momo.deliver_callbacks(client)``; the cached MoMo client is dropped before and after."""
    from tests.momo_support import MomoHarness

    harness = MomoHarness(momo_simulator, settings)
    yield harness
    momo_simulator.reset()
    harness.clear_gateway_cache()


# --- staff second factor: force_login means "fully signed in" (docs/panels.md) -------------


def _verify_staff_session(client, user) -> None:
    """Mark ``client``'s session as verified by a second factor when ``user`` is staff:
    staff sessions reach nothing but /staff/mfa/ until then, and /admin/ refuses them.
    The device is an empty backup-code device: it never accepts a code."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_static.models import StaticDevice

    from lightway.application.authentication.login import realm_is_staff, user_realm

    if not realm_is_staff(user_realm(user)):
        return
    device, _ = StaticDevice.objects.get_or_create(
        user=user, name="test: force_login", defaults={"confirmed": True}
    )
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


class _ApiClientHandler(ClientHandler):
    """The test client's handler with the API's middleware (``API_MIDDLEWARE``)."""

    def load_middleware(self, is_async=False):
        from lightway.interfaces.web.wsgi import api_middleware

        with api_middleware():
            super().load_middleware(is_async)


class VerifiedClient(django.test.Client):
    """Django's test client whose ``force_login`` also passes the staff second factor, and
    which, like the WSGI application (``interfaces/web/wsgi.py``), sends ``/api/`` requests
    through the API's lean middleware stack."""

    def __init__(self, enforce_csrf_checks=False, **defaults):
        from lightway.interfaces.web.wsgi import PathDispatch

        super().__init__(enforce_csrf_checks, **defaults)
        self.handler = PathDispatch(full=self.handler, api=_ApiClientHandler(enforce_csrf_checks))

    def force_login(self, user, backend=None):
        super().force_login(user, backend)
        _verify_staff_session(self, user)


@pytest.fixture
def client():
    return VerifiedClient()


@pytest.fixture
def admin_client(db, admin_user):
    """pytest-django's superuser as a LightWay administrator: the role (the policy grants a
    superuser nothing by itself) and a session past the second factor."""
    from django.utils import timezone

    from lightway.security.models import RoleAssignment
    from lightway.security.policy import Role

    RoleAssignment.objects.get_or_create(
        user=admin_user,
        role=Role.LW_ADMIN,
        defaults={"granted_by": "test", "granted_at": timezone.now()},
    )
    client = VerifiedClient()
    client.force_login(admin_user)
    return client


# --- settlement: the Settlement API simulator and its harness (docs/settlement.md) ---------

from tests.settlement_support import settlement, settlement_simulator  # noqa: E402, F401


@pytest.fixture
def archive_dir(settings, tmp_path):
    """The archive directory of one test (``LIGHTWAY_ARCHIVE_DIR``), for the archival tests
    (``pytest.mark.usefixtures("archive_dir")``)."""
    settings.LIGHTWAY_ARCHIVE_DIR = str(tmp_path / "archive")
    return tmp_path / "archive"
