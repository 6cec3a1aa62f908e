"""goAML files at rest and in the CLI: sealed (no clear bytes in the database), SHA-256 in
the audit trail, downloads audited, rows guarded by the database, files re-sealed by key
rotation, and the command's output and errors."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from lxml import etree

from lightway.application.datakeys.rotation import keys_rotate, keys_status
from lightway.application.goaml.returns import goaml_return
from lightway.application.goaml.schema import schema_violations
from lightway.application.goaml.service import (
    file_context,
    goaml_export_ctr,
    goaml_file_open,
    goaml_files_page,
)
from lightway.data.audit.models import AuditRecord
from lightway.data.goaml.models import FiuConfig, GoamlFile
from lightway.interfaces.cli.main import main
from lightway.security.crypto import keyring_cache_clear, unseal
from tests.goaml_support import UAE, make_config, p2p, two_customers

pytestmark = pytest.mark.django_db


@pytest.fixture
def released(now):
    config = make_config(now, UAE)
    a, b = two_customers(now)
    p2p(now, a, b, 3_000_000, "r1", "Land deposit")
    files = goaml_export_ctr(
        fiu=config.fiu, start=now.date(), end=now.date(), actor="staff:7", now=now
    )
    return files[0]


def test_the_stored_file_is_sealed_not_plaintext(released):
    row = GoamlFile.objects.get(pk=released.id)
    stored = bytes(row.content_ct)
    assert stored[:3] == b"LW1"
    for clear in (b"<report>", b"Dmitriy", b"+256772100001", b"3000000", b"rentity_id"):
        assert clear in released.content
        assert clear not in stored
    with connection.cursor() as cur:  # nothing readable in any column of the table either
        cur.execute("SELECT t::text FROM goaml_file t")
        (text,) = cur.fetchone()
    assert "Dmitriy" not in text and "256772100001" not in text
    assert unseal(stored, context=file_context(row.reference)) == released.content
    # sealed for this row: the bytes copied under another reference do not open
    with pytest.raises(Exception, match="does not open"):
        unseal(stored, context=file_context("LW-CTR-other"))


def test_the_sha256_is_in_the_row_and_the_audit_trail(released):
    digest = hashlib.sha256(released.content).hexdigest()
    row = GoamlFile.objects.get(pk=released.id)
    assert row.sha256 == digest == released.sha256
    record = AuditRecord.objects.get(action="goaml.file.create", object_id=str(row.pk))
    assert record.actor == "staff:7"
    assert record.data["sha256"] == digest
    assert record.data["reference"] == row.reference
    assert record.data["transactions"] == 1


def test_a_download_checks_the_hash_and_is_audited(released, now):
    row, content = goaml_file_open(file_id=released.id, actor="staff:9", now=now)
    assert content == released.content
    record = AuditRecord.objects.get(action="goaml.file.download")
    assert (record.actor, record.object_id) == ("staff:9", str(row.pk))
    assert record.data == {"reference": row.reference, "sha256": row.sha256}


def test_the_database_refuses_to_change_or_delete_a_released_file(released):
    row = GoamlFile.objects.get(pk=released.id)
    with pytest.raises(IntegrityError, match="only its sealed content"), transaction.atomic():
        GoamlFile.objects.filter(pk=row.pk).update(sha256="0" * 64)
    with pytest.raises(IntegrityError, match="never deleted"), transaction.atomic():
        GoamlFile.objects.filter(pk=row.pk).delete()
    with pytest.raises(IntegrityError, match="goaml_file_content_sealed"), transaction.atomic():
        GoamlFile.objects.filter(pk=row.pk).update(content_ct=b"<report>clear</report>")


def test_the_database_refuses_to_edit_a_configuration_version(released):
    config = FiuConfig.objects.get()
    with pytest.raises(IntegrityError, match="add a new version"), transaction.atomic():
        FiuConfig.objects.filter(pk=config.pk).update(rentity_id=2)
    with pytest.raises(IntegrityError, match="add a new version"), transaction.atomic():
        with connection.cursor() as cur:  # below the ORM's own PROTECT check
            cur.execute("DELETE FROM goaml_fiu_config WHERE id = %s", [config.pk])


def test_key_rotation_reseals_the_files(released, now, settings):
    """Sealed under the development key; after rotation to a configured key the file is
    under that key and still opens to the same bytes (the guard lets only that change)."""
    import base64

    from lightway.security.crypto import _dev_key

    dev = base64.b64encode(_dev_key("kek:dev1")).decode()
    new = base64.b64encode(b"n" * 32).decode()
    settings.LIGHTWAY_DATA_KEYS = f"v2:{new},dev1:{dev}"
    keyring_cache_clear()
    try:
        keys_rotate(now=now)
        assert keys_status()["goaml.GoamlFile.content_ct"] == {"v2": 1}
        row = GoamlFile.objects.get(pk=released.id)
        assert bytes(row.content_ct)[4:6] == b"v2"
        assert row.sha256 == released.sha256
        _, content = goaml_file_open(file_id=row.pk, actor="staff:1", now=now)
        assert content == released.content
    finally:
        keyring_cache_clear()


def test_files_are_listed_newest_first_in_keyset_pages(now):
    config = make_config(now, UAE)
    a, b = two_customers(now)
    for i in range(5):
        p2p(now + timedelta(seconds=i), a, b, 1_000_000, f"p{i}")
    for day in range(3):
        goaml_export_ctr(
            fiu=config.fiu,
            start=now.date(),
            end=now.date(),
            actor="staff:1",
            now=now + timedelta(hours=day),
        )
    seen = []
    page = goaml_files_page(limit=2)
    assert page.first
    while True:
        seen += [r.pk for r in page.rows]
        if not page.next_cursor:
            break
        page = goaml_files_page(before=page.next_cursor, limit=2)
        assert not page.first
    expected = list(GoamlFile.objects.order_by("-created_at", "-id").values_list("pk", flat=True))
    assert seen == expected and len(seen) == 3
    assert goaml_files_page(before="nonsense").first  # a bad cursor shows the first page


def test_the_large_transactions_return_is_csv_sealed_and_audited(released, now):
    result = goaml_return(
        kind="large-transactions",
        fiu="demo-uae",
        start=now.date(),
        end=now.date(),
        actor="staff:3",
        now=now,
    )
    text = result.content.decode()
    lines = text.splitlines()
    assert lines[0].startswith("transaction_id,date_local,kind,currency,amount")
    assert len(lines) == 2 and ",UGX,3000000,1000000," in lines[1]
    assert "Дмитрий Иванов" in lines[1]  # the return keeps the KYC spelling
    row = GoamlFile.objects.get(pk=result.id)
    assert b"3000000" not in bytes(row.content_ct)
    assert AuditRecord.objects.filter(action="goaml.file.create", object_id=str(row.pk)).exists()


def test_the_str_register_lists_filed_strs_and_says_when_there_are_none(released, now):
    assert (
        goaml_return(
            kind="str-register",
            fiu="demo-uae",
            start=now.date(),
            end=now.date(),
            actor="staff:3",
            now=now,
        )
        is None
    )


# --- the CLI --------------------------------------------------------------------------------


def test_cli_writes_a_validated_ctr_and_prints_hash_and_counts(now, tmp_path, capsys):
    make_config(now, UAE)
    a, b = two_customers(now)
    p2p(now, a, b, 1_500_000, "c1")
    p2p(now, a, b, 2_500_000, "c2")
    out = tmp_path / "ctr.xml"
    day = now.date().isoformat()
    code = main(
        [
            "export",
            "goaml",
            "--report",
            "CTR",
            "--fiu",
            "demo-uae",
            "--from",
            day,
            "--to",
            day,
            "--out",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    body = out.read_bytes()
    assert schema_violations(xsd_file=UAE["xsd_file"], document=body) == []
    digest = hashlib.sha256(body).hexdigest()
    assert f"SHA-256:      {digest}" in captured.out
    assert "transactions: 2" in captured.out
    assert len(etree.fromstring(body).findall("transaction")) == 2
    assert AuditRecord.objects.get(action="goaml.file.create").data["sha256"] == digest


def test_cli_says_when_a_period_has_no_data_and_exits_zero(now, tmp_path, capsys):
    make_config(now, UAE)
    out = tmp_path / "ctr.xml"
    code = main(
        [
            "export",
            "goaml",
            "--report",
            "CTR",
            "--fiu",
            "demo-uae",
            "--from",
            "2026-02-01",
            "--to",
            "2026-02-28",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert "No data" in capsys.readouterr().out
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--report", "CTR", "--fiu", "nope", "--from", "2026-02-01", "--to", "2026-02-02"],
            "unknown FIU 'nope'",
        ),
        (
            ["--report", "CTR", "--fiu", "demo-uae", "--from", "2026-02-30", "--to", "2026-03-01"],
            "is not a date",
        ),
        (
            ["--report", "CTR", "--fiu", "demo-uae", "--from", "2026-03-02", "--to", "2026-03-01"],
            "before --from",
        ),
        (
            ["--report", "CTR", "--fiu", "demo-uae", "--from", "2024-01-01", "--to", "2026-03-01"],
            "at most 366 days",
        ),
        (
            ["--report", "CTR", "--fiu", "demo-uae", "--from", "2025-03-01", "--to", "2025-03-02"],
            "no configuration in force",
        ),
        (
            ["--report", "XTR", "--fiu", "demo-uae", "--from", "2026-03-01", "--to", "2026-03-02"],
            "invalid choice",
        ),
    ],
)
def test_cli_errors_are_one_clear_line(now, tmp_path, capsys, args, message):
    make_config(now, UAE)
    try:
        code = main(["export", "goaml", *args, "--out", str(tmp_path / "x.xml")])
    except SystemExit as exc:  # a usage error: argparse exits with 2
        code = exc.code
    assert code in (1, 2)
    err = capsys.readouterr().err
    assert "lightway: error:" in err and message in err, err
    assert not (tmp_path / "x.xml").exists()


def test_cli_refuses_an_out_in_a_missing_directory(now, tmp_path, capsys):
    code = main(
        [
            "export",
            "goaml",
            "--report",
            "CTR",
            "--fiu",
            "demo-uae",
            "--from",
            "2026-02-01",
            "--to",
            "2026-02-02",
            "--out",
            str(tmp_path / "no" / "x.xml"),
        ]
    )
    assert code == 1 and "does not exist" in capsys.readouterr().err
