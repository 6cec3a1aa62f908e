"""The two database roles: the owner (owns the schema, runs migrations) and the runtime role
the web servers and workers connect as (``DATABASE_URL``).

The runtime role owns nothing and holds no role attributes (not superuser, no CREATEROLE,
CREATEDB, BYPASSRLS or REPLICATION), so it can neither disable a trigger, nor set
``session_replication_role``, nor replace a guard's function, nor TRUNCATE. The database
triggers stay the real guards; the privileges granted here are defence in depth on top.

After every migrate, :func:`runtime_grant` (run as the owner) gives the runtime role exactly
what the application needs, derived from the catalog so that a table added by a new
migration is covered: SELECT, INSERT, UPDATE, DELETE on every table of the schema unless
:data:`TABLE_RULES` says less; USAGE and SELECT on sequences; EXECUTE on functions; USAGE
(not CREATE) on the schema. Never TRUNCATE, REFERENCES or TRIGGER. See docs/operations.md,
"Database roles".
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

RUNTIME_ROLE_DEFAULT = "lightway_app"
# pg_advisory_xact_lock key serialising role creation and grants ("LWROLE" in ASCII).
ROLES_LOCK_KEY = 0x4C57524F4C45


class Cursor(Protocol):
    """A DB-API cursor (Django's or psycopg's) with %s parameters."""

    def execute(self, query: Any, params: Any = ...) -> Any: ...

    def fetchall(self) -> Sequence[Any]: ...

    def fetchone(self) -> Any: ...


@dataclass(frozen=True)
class TableRule:
    """What the runtime role may do to a table beyond SELECT and INSERT, and why."""

    why: str
    update: bool = True  # UPDATE on every column ...
    update_only: tuple[str, ...] = ()  # ... or only on these columns ...
    update_except: tuple[str, ...] = ()  # ... or on every column but these
    delete: bool = False
    insert: bool = True


# The exceptions to "SELECT, INSERT, UPDATE, DELETE", one line each. A table not listed
# gets all four. Keep in step with the triggers (they name the same rules) and the code.
TABLE_RULES: dict[str, TableRule] = {
    "ledger_journal_entry": TableRule("append-only: a correction is a new entry", update=False),
    "ledger_posting": TableRule("append-only, like its entry", update=False),
    "ledger_balance_checkpoint": TableRule(
        "append-only: each checkpoint follows from the one before", update=False
    ),
    "ledger_account": TableRule("accounts are closed, never deleted"),
    "ledger_posting_snapshot": TableRule(
        "boundary snapshots of archived posting months, written by the owner's function"
        " ledger_posting_snapshot_take; append-only (trigger)",
        insert=False,
        update=False,
    ),
    "ledger_posting_snapshot_entry": TableRule(
        "straddling entries of archived posting months, written with the snapshot",
        insert=False,
        update=False,
    ),
    "ledger_posting_boundary": TableRule(
        "a view: the snapshots of the detached posting months", insert=False, update=False
    ),
    "ledger_hold": TableRule("holds are committed, voided or expired, never deleted"),
    "commission_record": TableRule("append-only: records cite what was charged", update=False),
    "audit_record": TableRule(
        "append-only; the sequencer only links records (seq, prev_hash, hash)",
        update=False,
        update_only=("seq", "prev_hash", "hash"),
    ),
    "audit_record_seq_taken": TableRule(
        "the seqs of every month, kept by the owner's trigger function (..._taken_keep)",
        insert=False,
        update=False,
    ),
    # Key tables of partitioned tables (archive 0004, registry archive_key_table): each
    # holds every value of a key that must stay unique across the monthly partitions, kept
    # by the owner's trigger functions (..._taken_keep); the runtime role only reads them.
    **{
        key_table: TableRule(
            "a key unique across monthly partitions, kept by the owner's trigger function",
            insert=False,
            update=False,
        )
        for key_table in (
            "ledger_journal_entry_id_taken",
            "ledger_journal_entry_idempotency_key_taken",
            "wallets_transfer_id_taken",
            "wallets_transfer_client_id_idempotency_key_taken",
            "momo_request_id_taken",
            "momo_request_reference_id_taken",
            "momo_request_hold_id_taken",
            "momo_request_transfer_id_taken",
        )
    },
    "audit_archive_boundary": TableRule(
        "written by the detach of an audit month (audit_record_detach_check)",
        insert=False,
        update=False,
    ),
    "audit_checkpoint": TableRule(
        "append-only: a signed chain head is written once (trigger audit_checkpoint_guard)",
        update=False,
    ),
    "wallets_wallet": TableRule("wallets are never deleted"),
    "wallets_transfer": TableRule("transfers are never deleted"),
    "momo_request": TableRule("stored before it is sent; never deleted"),
    "momo_callback": TableRule(
        "kept as received: only its processing outcome is written later, and its sealed"
        " body re-sealed by key rotation (the trigger allows nothing else)",
        update=False,
        update_except=(
            "id",
            "reference_id",
            "method",
            "content_type",
            "remote_addr",
            "claimed_status",
            "received_at",
        ),
    ),
    "momo_float_reading": TableRule("a reading is history", update=False),
    "kyc_sumsub_webhook_event": TableRule(
        "kept as received: only its processing status is written later, and its sealed"
        " body re-sealed by key rotation (the trigger allows nothing else)",
        update=False,
        update_except=("id", "headers", "received_at", "digest_ok", "dedupe_key"),
    ),
    "partners_event": TableRule(
        "append-only: an event is a fact; only its feed number is written once, after commit",
        update=False,
        update_only=("seq",),
    ),
    "identity_partner": TableRule(
        "partners are closed, never deleted (a trigger also makes closed final)"
    ),
    "partners_webhook_key": TableRule(
        "webhook signing keys expire, never deleted; only the expiry and the re-sealed secret"
        " are written later (trigger)",
        update=False,
        update_only=("expires_at", "secret_ct"),
    ),
    "partners_webhook_delivery": TableRule("webhook deliveries are never deleted (trigger)"),
    "partners_webhook_attempt": TableRule(
        "the webhook delivery log is append-only (trigger)", update=False
    ),
    "partners_statement_cut": TableRule(
        "a day's statement cut never changes (trigger)", update=False
    ),
    "remittances_quote": TableRule("quotes change state once and are never deleted"),
    "remittances_beneficiary_validation": TableRule(
        "a check as it was made: only its sealed columns are re-sealed by key rotation",
        update=False,
        update_only=("msisdn_ct", "expected_name_ct", "holder_name_ct"),
    ),
    "remittances_remittance": TableRule("remittances are never deleted"),
    "remittances_partner_usage": TableRule("usage counters are never deleted"),
    "remittances_partner_limit": TableRule("limits are changed, never deleted (audited)"),
    "remittances_reversal": TableRule(
        "maker-checker: a reversal request gets its one decision, by another person; never"
        " deleted (trigger remittances_reversal_guard)",
        update=False,
        update_only=("state", "decided_by", "decided_at", "decision_note"),
    ),
    "backoffice_support_note": TableRule(
        "support notes are append-only (trigger backoffice_support_note_append_only)",
        update=False,
    ),
    "backoffice_action_request": TableRule(
        "maker-checker: a back-office action request gets its one decision, by another"
        " person; never deleted (trigger backoffice_action_guard)",
        update=False,
        update_only=("state", "decided_by_id", "decided_at", "decision_note", "result"),
    ),
    "reports_run": TableRule(
        "report runs move queued -> running -> done | failed and are never deleted"
        " (trigger reports_run_guard)"
    ),
    "reports_file": TableRule(
        "a report's file is written once (trigger reports_file_guard)", update=False
    ),
    # AML (docs/aml.md, aml migration 0002)
    "aml_rule_version": TableRule(
        "a change is a new version; one in force or past is frozen (trigger"
        " aml_rule_version_frozen); never deleted"
    ),
    "aml_sanctions_list": TableRule(
        "an imported list only changes its active flag (trigger aml_sanctions_list_guard)",
        update=False,
        update_only=("active",),
    ),
    "aml_sanctions_entry": TableRule(
        "imported entries are kept as imported (trigger aml_append_only)", update=False
    ),
    "aml_sanctions_hit": TableRule("hits are dismissed, never deleted (evidence)"),
    "goaml_ctr_day": TableRule(
        "a released CTR day is kept as released (trigger goaml_ctr_day_frozen)", update=False
    ),
    "aml_alert": TableRule("alerts are evidence: joined to a case, never deleted"),
    "aml_case": TableRule("cases are closed with a reason, never deleted (trigger aml_case_guard)"),
    "aml_case_event": TableRule(
        "a case's timeline is append-only (trigger aml_append_only)", update=False
    ),
    "recon_statement_line": TableRule(
        "imported statement lines are kept as imported", update=False
    ),
    "mfa_reset_request": TableRule(
        "a maker-checker record: only its decision is written later, never deleted",
        update=False,
        update_only=("status", "decided_by_id", "decided_at"),
    ),
    "apiauth_integration_key": TableRule(
        "machine credentials are revoked, never deleted; only their use, their revocation"
        " and the re-sealed secret are written later (a trigger makes revocation final)",
        update=False,
        update_only=("last_used_at", "revoked_at", "revoked_by", "secret_ct"),
    ),
    "fx_rate": TableRule(
        "maker-checker: a proposed rate gets its one decision, by another person; decided"
        " rates never change and no rate is deleted (trigger fx_rate_guard)",
        update=False,
        update_only=("status", "decided_by", "approved_at"),
    ),
    "fx_quote": TableRule(
        "a customer's locked price: only its use (once, with its transfer) or its expiry is"
        " written later, never deleted (trigger fx_quote_guard)",
        update=False,
        update_only=("state", "used_at", "transfer_id"),
    ),
    "fx_feed_status": TableRule("the feeds' last run, overwritten by each import"),
    "fx_pair_state": TableRule("the watch's last verdict per pair, overwritten by each run"),
    # Settlement (data/settlement/migrations/0002): windows and instructions move only along
    # their state machines (trigger), never deleted; the rest is append-only.
    "settlement_window": TableRule("windows change state, never deleted"),
    "settlement_instruction": TableRule("instructions change state, never deleted"),
    "settlement_position_delta": TableRule(
        "append-only: one row per payment and account, added by the database", update=False
    ),
    "settlement_position": TableRule("append-only: a window's sums, written once", update=False),
    "settlement_topup": TableRule("append-only: a top-up is credited once", update=False),
    "settlement_bank_notification": TableRule(
        "camt.054 notifications are kept as received", update=False
    ),
    "settlement_bank_statement": TableRule(
        "camt.053 statements are kept as received", update=False
    ),
    "settlement_recon_item": TableRule("reconciliation results are history", update=False),
    "settlement_epoch": TableRule(
        "written once by the migration: where settlement began", update=False, insert=False
    ),
    "settlement_callback": TableRule(
        "kept as received: only its processing outcome is written later",
        update=False,
        update_only=("status", "processed_at", "outcome"),
    ),
    # Retention (data/retention/migrations/0002, identity 0006; docs/retention.md).
    "identity_person_key": TableRule(
        "a person's key is re-wrapped by rotation or destroyed once by erasure, never deleted"
        " (triggers identity_person_key_guard, identity_person_key_hold)",
        update=False,
        update_only=("key_ct", "destroyed_at", "destroyed_reason"),
    ),
    "retention_policy": TableRule(
        "policy versions are never changed or deleted (trigger retention_policy_guard)",
        update=False,
    ),
    "retention_legal_hold": TableRule(
        "a legal hold is released once, by another person, never deleted (trigger)",
        update=False,
        update_only=("released_at", "released_by_id", "release_reason"),
    ),
    "retention_run": TableRule("retention runs are history", delete=False),
    "archive_partitioned_table": TableRule(
        "written by the migration that partitions a table", insert=False, update=False
    ),
    "archive_manifest": TableRule("archived months are history (trigger)"),
    "archive_key_table": TableRule(
        "the key tables of partitioned tables: written by the migrations that partition them",
        insert=False,
        update=False,
    ),
    "django_migrations": TableRule(
        "only migrations, run as the owner, write it", update=False, insert=False
    ),
}

# Role attributes the runtime role must not have (pg_roles column, what it allows).
FORBIDDEN_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("rolsuper", "is a superuser"),
    ("rolcreaterole", "can create roles"),
    ("rolcreatedb", "can create databases"),
    ("rolbypassrls", "bypasses row-level security"),
    ("rolreplication", "can replicate"),
)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """A string literal for utility statements (ALTER ROLE takes no bind parameters)."""
    return "'" + value.replace("'", "''") + "'"


def runtime_role_ensure(cursor: Cursor, *, role: str, password: str | None = None) -> bool:
    """Create the runtime role if it is missing, with no attributes; strip any it has.

    Run as a role with CREATEROLE (a superuser in development and tests). Roles belong to the
    whole cluster, so two processes may race here: they take turns on an advisory lock, and
    the loser of a race with a process that does not take it sees the role as existing.
    Returns True when the role was created by this call."""
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ROLES_LOCK_KEY])
    cursor.execute(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication, rolcanlogin"
        " FROM pg_roles WHERE rolname = %s",
        [role],
    )
    row = cursor.fetchone()
    attributes = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION NOINHERIT"
    if row is None:
        cursor.execute(f"CREATE ROLE {quote_ident(role)} {attributes}")
    elif any(row[:5]) or not row[5]:
        cursor.execute(f"ALTER ROLE {quote_ident(role)} {attributes}")
    if password is not None:
        cursor.execute(f"ALTER ROLE {quote_ident(role)} PASSWORD {quote_literal(password)}")
    return row is None


def runtime_grant(cursor: Cursor, *, role: str) -> int:
    """Grant ``role`` what the application needs on the current schema, and nothing more.

    Run as the owner, inside one transaction (the application sees the old grants or the new
    ones, never none). Returns the number of tables covered."""
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ROLES_LOCK_KEY])
    cursor.execute("SELECT current_schema()")
    schema = quote_ident(cursor.fetchone()[0])
    grantee = quote_ident(role)
    cursor.execute(
        "SELECT c.relname, array_agg(a.attname ORDER BY a.attnum)"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
        " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
        " GROUP BY c.relname ORDER BY c.relname"
    )
    tables = [(name, list(columns)) for name, columns in cursor.fetchall()]
    # Monthly partitions (attached, detached or restored: lightway.data.archive) are reached
    # only through their partitioned table, whose privileges and triggers guard them.
    cursor.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = current_schema() AND c.relkind = 'r' AND (c.relispartition"
        "  OR (to_regclass('archive_partitioned_table') IS NOT NULL AND c.relname ~ ANY ("
        "   SELECT '^' || t.relname || '_p([0-9]{4}_[0-9]{2}|default)$' FROM pg_class t"
        "    JOIN pg_partitioned_table p ON p.partrelid = t.oid"
        "    WHERE t.relnamespace = n.oid)))"
    )
    partitions = {name for (name,) in cursor.fetchall()}
    tables = [(name, columns) for name, columns in tables if name not in partitions]
    statements = [
        f"REVOKE CREATE ON SCHEMA {schema} FROM {grantee}",
        f"GRANT USAGE ON SCHEMA {schema} TO {grantee}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {grantee}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {grantee}",
        f"GRANT EXECUTE ON ALL ROUTINES IN SCHEMA {schema} TO {grantee}",
    ]
    for name, columns in tables:
        table = f"{schema}.{quote_ident(name)}"
        statements.append(f"REVOKE ALL ON TABLE {table} FROM {grantee}")
        statements.extend(
            f"GRANT {privilege} ON TABLE {table} TO {grantee}"
            for privilege in table_privileges(name, columns)
        )
    statements.extend(
        f"REVOKE ALL ON TABLE {schema}.{quote_ident(name)} FROM {grantee}"
        for name in sorted(partitions)
    )
    for statement in statements:
        cursor.execute(statement)
    return len(tables)


def table_privileges(table: str, columns: Sequence[str]) -> list[str]:
    """The privilege clauses the runtime role gets on ``table`` (with these columns)."""
    rule = TABLE_RULES.get(table)
    if rule is None:
        return ["SELECT, INSERT, UPDATE, DELETE"]
    plain = ["SELECT"] + (["INSERT"] if rule.insert else []) + (["DELETE"] if rule.delete else [])
    if rule.update:
        plain.append("UPDATE")
    clauses = [", ".join(plain)]
    writable = [c for c in rule.update_only if c in columns] or (
        [c for c in columns if c not in rule.update_except] if rule.update_except else []
    )
    if not rule.update and writable:
        clauses.append(f"UPDATE ({', '.join(quote_ident(c) for c in writable)})")
    return clauses


@dataclass(frozen=True)
class RoleReport:
    """What the connected role can do that a runtime role must not (empty = restricted)."""

    role: str
    problems: tuple[str, ...]


def runtime_role_report(cursor: Cursor) -> RoleReport:
    """Check the role this connection runs as against the runtime role's rules."""
    cursor.execute(
        "SELECT current_user, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication"
        " FROM pg_roles WHERE rolname = current_user"
    )
    row = cursor.fetchone()
    role = str(row[0])
    problems = [
        what for (_, what), value in zip(FORBIDDEN_ATTRIBUTES, row[1:], strict=True) if value
    ]
    cursor.execute(
        "SELECT pg_has_role(current_user, nspowner, 'MEMBER'),"
        " has_schema_privilege(current_user, oid, 'CREATE')"
        " FROM pg_namespace WHERE nspname = current_schema()"
    )
    owns_schema, creates = cursor.fetchone() or (False, False)
    if owns_schema:
        problems.append("owns the schema (or can become its owner)")
    elif creates:
        problems.append("can create objects in the schema")
    cursor.execute(
        "SELECT count(*) FILTER (WHERE pg_has_role(current_user, c.relowner, 'MEMBER')),"
        " count(*) FILTER (WHERE has_table_privilege(current_user, c.oid, 'TRUNCATE')"
        "   OR has_table_privilege(current_user, c.oid, 'TRIGGER'))"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')"
    )
    owned, truncatable = cursor.fetchone()
    if owned:
        problems.append(f"owns {owned} table(s) (or can become their owner)")
    if truncatable and not owned:
        problems.append(f"may TRUNCATE or add triggers to {truncatable} table(s)")
    cursor.execute(
        "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = current_schema() AND pg_has_role(current_user, p.proowner, 'MEMBER')"
    )
    functions = cursor.fetchone()[0]
    if functions:
        problems.append(f"owns {functions} function(s) (could replace a guard)")
    cursor.execute("SELECT has_parameter_privilege('session_replication_role', 'SET')")
    if cursor.fetchone()[0] and not row[1]:
        problems.append("may SET session_replication_role (switches triggers off)")
    return RoleReport(role=role, problems=tuple(problems))


@contextmanager
def default_connection_as(url: str) -> Iterator[None]:
    """Run Django's ``default`` connection as the database URL ``url`` inside the block
    (``lightway migrate`` as the owner), then as before. Not inside a transaction."""
    from django.db import connections

    from lightway.infrastructure.config import database_from_url

    keys = ("NAME", "USER", "PASSWORD", "HOST", "PORT")
    connection = connections["default"]
    target = database_from_url(url)
    saved = {key: connection.settings_dict[key] for key in keys}
    connection.close()
    connection.settings_dict.update({key: target[key] for key in keys})
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)
