"""Least privilege in the database: the application runs as a role that owns nothing and can
neither switch a guard off nor change what it must only append to (docs/operations.md,
"Database roles"). The triggers stay the real guards (their own tests act as the owner);
these tests prove the privileges around them, as the suite's runtime role."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction

from lightway.infrastructure.config import url_from_database
from lightway.infrastructure.db_roles import TABLE_RULES, runtime_role_report
from lightway.interfaces.cli.main import main

pytestmark = pytest.mark.django_db


def _refused(statement: str) -> str:
    """Run ``statement`` as the application; it must be refused for lack of privilege."""
    with pytest.raises(DatabaseError) as err, transaction.atomic(), connection.cursor() as cur:
        cur.execute(statement)
    assert getattr(err.value.__cause__, "sqlstate", None) == "42501", err.value  # privilege
    return str(err.value)


def _allowed(statement: str) -> None:
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(statement)


def test_the_suite_runs_as_a_restricted_role_that_owns_nothing(db_roles):
    with connection.cursor() as cur:
        report = runtime_role_report(cur)
        cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert cur.fetchone()[0] is False
    assert report.problems == ()
    assert report.role == db_roles.runtime["USER"] != db_roles.owner["USER"]


def test_the_runtime_role_cannot_switch_a_trigger_off():
    assert "must be owner" in _refused(
        "ALTER TABLE ledger_posting DISABLE TRIGGER ledger_posting_apply"
    )
    assert "must be owner" in _refused("ALTER TABLE audit_record DISABLE TRIGGER ALL")
    _refused("SET session_replication_role = replica")
    _refused("SET LOCAL session_replication_role = replica")


def test_the_runtime_role_cannot_replace_a_guard_or_create_objects():
    _refused(
        "CREATE OR REPLACE FUNCTION audit_record_guard() RETURNS trigger"
        " LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$"
    )
    _refused("DROP TRIGGER ledger_posting_apply ON ledger_posting")
    _refused("CREATE TABLE lightway_scratch (id int)")


def test_the_runtime_role_cannot_become_the_owner(db_roles):
    owner = db_roles.owner["USER"]
    _refused(f'SET ROLE "{owner}"')


@pytest.mark.parametrize(
    "table",
    [
        "ledger_posting",
        "ledger_journal_entry",
        "ledger_account",
        "ledger_hold",
        "audit_record",
        "commission_record",
        "wallets_transfer",
        "wallets_wallet",
        "momo_request",
        "momo_callback",
        "kyc_sumsub_webhook_event",
        "notify_delivery",
        "auth_user",
    ],
)
def test_the_runtime_role_cannot_truncate(table):
    _refused(f"TRUNCATE {table} CASCADE")


# Views the runtime role may only read: PostgreSQL refuses a write to a view that is not
# updatable (DISTINCT ON) before it looks at privileges, so they are checked apart.
READ_ONLY_VIEWS = ("ledger_posting_boundary",)
APPEND_ONLY = sorted(
    t for t, rule in TABLE_RULES.items() if not rule.update and t not in READ_ONLY_VIEWS
)
NEVER_DELETED = sorted(
    t for t, rule in TABLE_RULES.items() if not rule.delete and t not in READ_ONLY_VIEWS
)


@pytest.mark.parametrize("view", READ_ONLY_VIEWS)
def test_read_only_views_grant_select_only(view):
    with connection.cursor() as cur:
        cur.execute(
            "SELECT has_table_privilege(current_user, %s, 'SELECT'),"
            " has_table_privilege(current_user, %s, 'INSERT, UPDATE, DELETE')",
            [view, view],
        )
        assert cur.fetchone() == (True, False)


@pytest.mark.parametrize("table", APPEND_ONLY)
def test_append_only_tables_refuse_update_by_privilege(table):
    # WHERE false: the privilege is checked before any row is looked at.
    with connection.cursor() as cur:
        cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
            " ORDER BY ordinal_position LIMIT 1",
            [table],
        )
        column = cur.fetchone()[0]
    _refused(f"UPDATE {table} SET {column} = {column} WHERE false")


@pytest.mark.parametrize("table", NEVER_DELETED)
def test_never_deleted_tables_refuse_delete_by_privilege(table):
    _refused(f"DELETE FROM {table} WHERE false")


def test_append_only_tables_cover_the_ledger_audit_and_raw_stores():
    assert {
        "ledger_journal_entry",
        "ledger_posting",
        "audit_record",
        "momo_callback",
        "kyc_sumsub_webhook_event",
    } <= set(APPEND_ONLY)


def test_the_sequencer_may_link_audit_records_and_nothing_else():
    _allowed("UPDATE audit_record SET seq = seq, prev_hash = prev_hash, hash = hash WHERE false")
    _refused("UPDATE audit_record SET action = action WHERE false")
    _refused("UPDATE audit_record SET data = data WHERE false")


def test_a_callback_and_a_webhook_delivery_keep_what_was_received():
    _allowed("UPDATE momo_callback SET outcome = outcome, processed_at = now() WHERE false")
    _refused("UPDATE momo_callback SET method = method WHERE false")
    _allowed("UPDATE kyc_sumsub_webhook_event SET status = status WHERE false")
    _refused("UPDATE kyc_sumsub_webhook_event SET headers = headers WHERE false")
    # The sealed bodies may be written, for key rotation only: their triggers refuse any
    # change but a re-seal under another key (tests/test_momo_integrity.py, test_sumsub_*).
    _allowed("UPDATE momo_callback SET body = body WHERE false")
    _allowed("UPDATE kyc_sumsub_webhook_event SET raw_body = raw_body WHERE false")


def test_only_the_owner_writes_the_migration_history():
    _allowed("SELECT count(*) FROM django_migrations")
    _refused("INSERT INTO django_migrations (app, name, applied) VALUES ('x', 'y', now())")


@pytest.mark.django_db(transaction=True)
def test_migrate_runs_as_the_owner_and_grants_again(owner_db, db_roles, capsys):
    owner_db.execute(f'REVOKE ALL ON ledger_account FROM "{db_roles.runtime["USER"]}"')
    _refused("SELECT count(*) FROM ledger_account")
    assert main(["migrate"]) == 0
    assert "already up to date" in capsys.readouterr().err
    _allowed("SELECT count(*) FROM ledger_account")
    with connection.cursor() as cur:
        assert runtime_role_report(cur).problems == ()


# --- `lightway check` -------------------------------------------------------------------


def _check(url: str, **env: str) -> tuple[int, dict[str, str]]:
    """Run `lightway check` with DATABASE_URL=url; return its exit code and the
    database_role line's status and detail."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("LIGHTWAY_DATA")}
    full.pop("LIGHTWAY_BLIND_INDEX_KEY", None)
    full.pop("LIGHTWAY_DEBUG", None)
    full.update(DATABASE_URL=url, **env)
    script = Path(sys.executable).with_name("lightway")
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "lightway.interfaces.cli"]
    out = subprocess.run(
        [*argv, "check"], env=full, capture_output=True, text=True, timeout=120, check=False
    )
    rows = {}
    for line in out.stdout.splitlines()[1:]:
        name, status, *detail = line.split(maxsplit=2)
        rows[name] = f"{status} {detail[0] if detail else ''}"
    return out.returncode, rows


PRODUCTION = {
    "LIGHTWAY_DATA_KEYS": "v1:" + base64.b64encode(b"k" * 32).decode(),
    "LIGHTWAY_BLIND_INDEX_KEY": base64.b64encode(b"b" * 32).decode(),
}


def _url(keys: dict[str, object]) -> str:
    return url_from_database({**connection.settings_dict, **keys})


@pytest.mark.slow
def test_check_fails_in_production_when_the_application_runs_as_a_superuser(db_roles):
    owner = _url(db_roles.owner)
    code, rows = _check(owner, **PRODUCTION)
    assert code == 1
    assert rows["database_role"].startswith("FAIL")
    assert "is a superuser" in rows["database_role"]
    assert "owns" in rows["database_role"]


@pytest.mark.slow
def test_check_only_warns_about_a_superuser_in_development(db_roles):
    _, rows = _check(_url(db_roles.owner))
    assert rows["database_role"].startswith("WARN")
    assert "development settings" in rows["database_role"]


@pytest.mark.slow
def test_check_passes_the_restricted_runtime_role_in_production(db_roles):
    _, rows = _check(_url(db_roles.runtime), **PRODUCTION)
    assert rows["database_role"].startswith("OK"), rows
    assert str(db_roles.runtime["USER"]) in rows["database_role"]


def test_the_owner_connection_is_a_superuser(owner_db):
    row = owner_db.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    assert row.fetchone()[0] is True
    assert isinstance(owner_db, psycopg.Connection)
