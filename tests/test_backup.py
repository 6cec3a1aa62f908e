"""Backup and recovery (application/backup): the logical backup and its drill, the checksum,
the fingerprint comparator against a tampered restore, the encryption, and the pgBackRest
point-in-time recovery drill on a cluster of its own.

pg_dump, pg_restore, pgbackrest and the PostgreSQL server programs must be installed (.ci/run
installs them): a missing one fails these tests, it does not skip them.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from lightway.application.backup.logical import (
    BackupError,
    backup_create,
    backup_drill,
    backup_restore,
    database_drop,
    fingerprint_of,
    manifest_fingerprint,
    url_with_database,
)
from lightway.application.backup.pitr import pitr_drill
from lightway.application.volume import volume_seed
from lightway.data.backup.fingerprint import fingerprint_compare
from lightway.infrastructure import backup_crypto
from lightway.infrastructure.config import url_from_database

KEY = bytes(range(32))


@pytest.fixture
def seeded(tx_db, db_roles):
    """60 payments (ledger entries, transfers, audit chain); the database's owner URL."""
    volume_seed(payments=60, customers=4, seed=3, days=5, now=timezone.now(), progress=None)
    return url_from_database({**connection.settings_dict, **db_roles.owner})


# --- encryption ---------------------------------------------------------------------------


def _seal(plain: bytes, *, key: bytes = KEY, chunk: int = 1000) -> bytes:
    out = io.BytesIO()
    backup_crypto.encrypt_stream(io.BytesIO(plain), out, key=key, chunk=chunk)
    return out.getvalue()


def _open(sealed: bytes, *, key: bytes = KEY) -> bytes:
    out = io.BytesIO()
    backup_crypto.decrypt_stream(io.BytesIO(sealed), out, key=key)
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, 999, 1000, 1001, 4567])
def test_encryption_round_trip_in_chunks(size):
    plain = os.urandom(size)
    sealed = _seal(plain)
    assert size < 16 or plain not in sealed
    assert _open(sealed) == plain


def test_encryption_refuses_a_wrong_key_a_changed_byte_a_cut_and_a_tail():
    plain = os.urandom(3500)  # four chunks of 1000
    sealed = _seal(plain)
    with pytest.raises(backup_crypto.BackupCryptoError, match="encrypted with key"):
        _open(sealed, key=bytes(32))
    changed = bytearray(sealed)
    changed[2000] ^= 1
    with pytest.raises(backup_crypto.BackupCryptoError, match="fails authentication"):
        _open(bytes(changed))
    header, chunk = 28, 4 + 1000 + 16
    with pytest.raises(backup_crypto.BackupCryptoError, match="cut short"):
        _open(sealed[: header + 2 * chunk])  # whole chunks, the last one missing
    with pytest.raises(backup_crypto.BackupCryptoError, match="after the last chunk"):
        _open(sealed + b"x")
    swapped = sealed[:header] + sealed[header + chunk : header + 2 * chunk]
    swapped += sealed[header : header + chunk] + sealed[header + 2 * chunk :]
    with pytest.raises(backup_crypto.BackupCryptoError, match="fails authentication"):
        _open(swapped)  # chunks reordered


def test_backup_key_must_be_32_bytes_of_base64():
    assert len(backup_crypto.backup_key_parse(backup_crypto.backup_key_new())) == 32
    with pytest.raises(backup_crypto.BackupCryptoError, match="32 bytes"):
        backup_crypto.backup_key_parse("c2hvcnQ=")
    with pytest.raises(backup_crypto.BackupCryptoError, match="not base64"):
        backup_crypto.backup_key_parse("not base64 at all!")


# --- logical backup -----------------------------------------------------------------------


def test_the_manifest_fingerprint_is_the_dumps_and_the_drill_passes(seeded, tmp_path):
    result = backup_create(source_url=seeded, out_dir=tmp_path / "b", now=timezone.now())
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["file"] == "lightway.dump" and manifest["encryption"] is None
    fingerprint = manifest_fingerprint(manifest)
    assert fingerprint == result.fingerprint == fingerprint_of(seeded)
    assert fingerprint.transfers == 60 and fingerprint.audit_head_seq > 0
    assert all(total == 0 for total in fingerprint.imbalance.values())

    drill = backup_drill(source_url=seeded, work_dir=tmp_path / "d", now=timezone.now())
    assert drill.ok, drill.differences
    assert drill.fingerprint == drill.backup.fingerprint
    with psycopg.connect(seeded) as conn:  # the scratch database is gone
        row = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (drill.scratch,)
        ).fetchone()
    assert row == (0,)


def test_a_corrupted_dump_fails_its_checksum_before_anything_is_restored(seeded, tmp_path):
    backup_create(source_url=seeded, out_dir=tmp_path / "b", now=timezone.now())
    dump = tmp_path / "b" / "lightway.dump"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    with pytest.raises(BackupError, match="fails its checksum"):
        backup_restore(directory=tmp_path / "b", source_url=seeded, database="lightway_never_made")
    with psycopg.connect(seeded) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = 'lightway_never_made'"
        ).fetchone()
    assert row == (0,)
    dump.write_bytes(bytes(data[:-10]))
    with pytest.raises(BackupError, match="bytes, the manifest says"):
        backup_restore(directory=tmp_path / "b", source_url=seeded, database="lightway_x")


def test_a_tampered_restore_fails_the_comparison(seeded, tmp_path):
    backup = backup_create(source_url=seeded, out_dir=tmp_path / "b", now=timezone.now())
    scratch = "lightway_tamper_" + os.urandom(3).hex()
    scratch_url = url_with_database(seeded, scratch)
    backup_restore(directory=tmp_path / "b", source_url=seeded, database=scratch)
    try:
        assert fingerprint_compare(backup.fingerprint, fingerprint_of(scratch_url)) == []
        with psycopg.connect(scratch_url, autocommit=True) as conn, conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute(
                "UPDATE ledger_account SET balance = balance + 1"
                " WHERE id = (SELECT min(id) FROM ledger_account WHERE kind = 'wallet')"
            )
        differences = fingerprint_compare(backup.fingerprint, fingerprint_of(scratch_url))
        assert [d.split(":")[0] for d in differences] == ["ledger balances digest"]

        with psycopg.connect(scratch_url, autocommit=True) as conn, conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute(
                "UPDATE wallets_transfer SET fee = fee + 1"
                " WHERE id = (SELECT min(id::text)::uuid FROM wallets_transfer)"
            )
            conn.execute("DELETE FROM audit_record WHERE seq = (SELECT max(seq) FROM audit_record)")
        labels = [
            d.split(":")[0]
            for d in fingerprint_compare(backup.fingerprint, fingerprint_of(scratch_url))
        ]
        assert "transfers digest (id, kind, status, amounts, entries)" in labels
        assert "audit chain head seq" in labels and "audit chain head hash" in labels
        assert "audit records" in labels
    finally:
        database_drop(scratch_url)


def test_restore_refuses_a_non_empty_database_unless_told(seeded, tmp_path):
    backup_create(source_url=seeded, out_dir=tmp_path / "b", now=timezone.now())
    scratch = "lightway_replace_" + os.urandom(3).hex()
    scratch_url = url_with_database(seeded, scratch)
    try:
        first = backup_restore(directory=tmp_path / "b", source_url=seeded, database=scratch)
        assert first.created
        with pytest.raises(BackupError, match="is not empty"):
            backup_restore(directory=tmp_path / "b", source_url=seeded, database=scratch)
        again = backup_restore(
            directory=tmp_path / "b", source_url=seeded, database=scratch, replace=True
        )
        assert again.created
        assert fingerprint_of(scratch_url) == fingerprint_of(seeded)
        with psycopg.connect(seeded) as conn:  # the staging database was renamed
            row = conn.execute(
                "SELECT count(*) FROM pg_database WHERE datname LIKE %s",
                (scratch + "_restoring_%",),
            ).fetchone()
        assert row == (0,)
        # the old database is kept when it cannot be dropped (someone is connected)
        with psycopg.connect(scratch_url) as busy:
            with pytest.raises(BackupError, match="is in use"):
                backup_restore(
                    directory=tmp_path / "b", source_url=seeded, database=scratch, replace=True
                )
            assert busy.execute("SELECT count(*) FROM wallets_transfer").fetchone() == (60,)
    finally:
        database_drop(scratch_url)
    with pytest.raises(BackupError, match="not a database name"):
        backup_restore(directory=tmp_path / "b", source_url=seeded, database="x; DROP")


def test_encrypted_backup_round_trip(seeded, tmp_path):
    drill = backup_drill(
        source_url=seeded, work_dir=tmp_path, now=timezone.now(), key=KEY, keep_backup=True
    )
    assert drill.ok, drill.differences
    directory = drill.backup.directory
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["file"] == "lightway.dump.enc"
    assert manifest["encryption"]["key_id"] == backup_crypto.key_id(KEY)
    sealed = (directory / "lightway.dump.enc").read_bytes()
    assert sealed.startswith(backup_crypto.MAGIC) and b"PGDMP" not in sealed[:64]
    with pytest.raises(BackupError, match="set LIGHTWAY_BACKUP_KEY"):
        backup_restore(directory=directory, source_url=seeded, database="lightway_nokey")
    with pytest.raises(BackupError, match="cannot decrypt"):
        backup_restore(
            directory=directory, source_url=seeded, database="lightway_badkey", key=bytes(32)
        )


# --- the command line ---------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lightway.interfaces.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": "src", **(env or {})},
        cwd=Path(__file__).resolve().parents[1],
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_cli_backup_drill_and_bad_input(seeded, tmp_path):
    env = {"DATABASE_URL": seeded, "DATABASE_OWNER_URL": seeded, "LIGHTWAY_BACKUP_KEY": ""}
    done = _cli("backup", "drill", env=env)
    assert done.returncode == 0, done.stderr
    assert "OK: the restored database matches the backup's fingerprint" in done.stdout
    assert "Transfers: 60 " in done.stdout

    done = _cli("backup", "--out", str(tmp_path / "b"), env=env)
    assert done.returncode == 0, done.stderr
    assert "SHA-256:" in done.stdout and (tmp_path / "b" / "manifest.json").is_file()
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    from lightway.data.audit.models import AuditRecord

    made = AuditRecord.objects.get(action="backup.create")  # audited, after the snapshot
    assert made.object_id == manifest["sha256"] and made.actor == "system:cli"
    assert made.data["audit_head_seq"] == manifest["fingerprint"]["audit_head_seq"]
    drilled = AuditRecord.objects.get(action="backup.drill")
    assert drilled.data["differences"] == 0
    refused = _cli("restore", "--from", str(tmp_path / "b"), "--database", "x y", env=env)
    assert refused.returncode == 1
    assert "is not a database name" in refused.stderr
    missing = _cli("restore", "--from", str(tmp_path / "none"), "--database", "x", env=env)
    assert missing.returncode == 1 and "is not a directory" in missing.stderr
    no_key = _cli("backup", "--encrypt", "--out", str(tmp_path / "c"), env=env)
    assert no_key.returncode == 1 and "needs LIGHTWAY_BACKUP_KEY" in no_key.stderr
    bad_key = _cli("backup", "drill", "--encrypt", env={**env, "LIGHTWAY_BACKUP_KEY": "abc"})
    assert bad_key.returncode == 1 and "LIGHTWAY_BACKUP_KEY" in bad_key.stderr
    usage = _cli("backup", "pitr-drill", "--payments", "5")
    assert usage.returncode == 2 and "must be from 10 to 100,000" in usage.stderr


# --- point-in-time recovery with pgBackRest -----------------------------------------------


@pytest.mark.slow
def test_pitr_drill_restores_the_moment_before_the_bad_change():
    result = pitr_drill(payments=40)
    assert result.differences == []
    assert result.expected is not None and result.found == result.expected
    # the seed's payments (the demo's own transfers come with them) were in the full backup,
    # 20 more came after it: WAL replay brought those back
    assert result.at_backup is not None and result.at_backup.transfers >= 40
    assert result.expected.transfers == result.at_backup.transfers + 20
    assert result.timeline_before == 1 and result.timeline_after == 2
    assert len(result.backups) == 2 and result.backups[-1].endswith("(timeline 2)")
    for step in ("full_backup", "bad_change", "restore", "recovery", "new_full_backup"):
        assert step in result.timings
    assert not result.directory.exists()  # the cluster was removed


# --- the right pg_dump for the server -------------------------------------------------------


def test_pg_dump_is_the_closest_version_at_least_the_servers(tmp_path, monkeypatch):
    from lightway.infrastructure import pgtools

    dirs = []
    for version in ("15.20", "18.4", "16.14"):
        bindir = tmp_path / version / "bin"
        bindir.mkdir(parents=True)
        program = bindir / "pg_dump"
        program.write_text(f"#!/bin/sh\necho 'pg_dump (PostgreSQL) {version}'\n")
        program.chmod(0o755)
        dirs.append(bindir)
    monkeypatch.setattr(pgtools, "_bindirs", lambda: dirs)
    assert pgtools.pg_program("pg_dump", server_major=15).version == "15.20"
    assert pgtools.pg_program("pg_dump", server_major=16).version == "16.14"
    assert pgtools.pg_program("pg_dump", server_major=17).version == "18.4"
    assert pgtools.pg_program("pg_dump").version == "18.4"
    with pytest.raises(pgtools.PgToolError, match="older than the server"):
        pgtools.pg_program("pg_dump", server_major=19)
    with pytest.raises(pgtools.PgToolError, match="pg_restore not found"):
        pgtools.pg_program("pg_restore", server_major=15)


def test_a_database_without_the_schema_is_refused_and_nothing_is_left(seeded, tmp_path):
    empty = "lightway_empty_" + os.urandom(3).hex()
    with psycopg.connect(seeded, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {empty}")
    try:
        with pytest.raises(BackupError, match="not a migrated platform database"):
            backup_create(
                source_url=url_with_database(seeded, empty),
                out_dir=tmp_path / "b",
                now=timezone.now(),
            )
        assert not (tmp_path / "b").exists()  # no half-made backup left behind
    finally:
        database_drop(url_with_database(seeded, empty))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "other").write_text("x")
    with pytest.raises(BackupError, match="not an empty directory"):
        backup_create(source_url=seeded, out_dir=tmp_path / "full", now=timezone.now())


def test_passwords_go_to_pg_dump_in_the_environment_not_the_command_line():
    from lightway.application.backup.logical import _libpq

    url, env = _libpq("postgresql://owner:s%40cret@db.internal:5433/lightway")
    assert url == "postgresql://owner@db.internal:5433/lightway"
    assert env["PGPASSWORD"] == "s@cret"
    plain = "postgresql://postgres@/lightway?host=/run/postgresql"
    assert _libpq(plain)[0] == plain
