"""Signed audit checkpoints (Ed25519): key configuration, the linker signs and stores each
head, ``lightway audit verify --checkpoints`` verifies them, and the tamper scenarios.

The attacker has superuser rights on the database (triggers off, as in test_audit.py): they
edit a record, re-hash the chain with the public formula and rewrite the checkpoint table
as they like, but they do not hold the signing key.
"""

from __future__ import annotations

import base64
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.test import Client
from test_audit import linked, refused, triggers_off, write

from lightway.application.audit.checkpoints import checkpoints_verify
from lightway.data.audit.chain import RecordContent, record_hash
from lightway.data.audit.models import AuditCheckpoint
from lightway.infrastructure.audit_checkpoints import ENV_VAR, checkpoint_lines_read
from lightway.interfaces.cli.main import main
from lightway.interfaces.tasks import audit_link_once
from lightway.security import audit_signing
from lightway.security.audit_signing import (
    SIGNING_KEY_ENV,
    VERIFY_KEYS_ENV,
    AuditKeyError,
    checkpoint_message,
    key_id,
    private_key_parse,
    public_key_parse,
    public_pem,
)


def _seed(key: Ed25519PrivateKey) -> str:
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(raw).decode()


def _pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _public_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


@pytest.fixture
def use_key(settings):
    """Configure the signing key (and verify keys) for the test; forget them afterwards."""

    def configure(key: Ed25519PrivateKey, *verify: Ed25519PrivateKey, pem: bool = False) -> None:
        settings.LIGHTWAY_AUDIT_SIGNING_KEY = _pem(key) if pem else _seed(key)
        settings.LIGHTWAY_AUDIT_VERIFY_KEYS = ",".join(_public_b64(k) for k in verify)
        audit_signing.keys_reset()

    yield configure
    audit_signing.keys_reset()


@pytest.fixture
def checkpoint_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "checkpoints.log"
    monkeypatch.setenv(ENV_VAR, str(path))
    return path


@pytest.fixture
def key_a() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def signed_chain(db: None, use_key, key_a, checkpoint_file: Path, now) -> dict[int, str]:
    """Six records linked in two batches under key A: signed checkpoints at seq 3 and 6."""
    use_key(key_a)
    write(3, now)
    audit_link_once()
    write(3, now, start=3)
    audit_link_once()
    assert list(AuditCheckpoint.objects.order_by("seq").values_list("seq", flat=True)) == [3, 6]
    return {r.seq: r.hash for r in linked() if r.seq is not None and r.hash is not None}


def verify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["audit", "verify", "--checkpoints", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _rehash_from(attack, edit_seq: int) -> dict[int, str]:
    """Edit the record at ``edit_seq`` and re-hash the chain from there (public formula)."""
    attack(
        """UPDATE audit_record SET data = '{"amount": 1, "currency": "UGX"}' WHERE seq = %s""",
        [edit_seq],
    )
    records = linked()
    prev = records[edit_seq - 2].hash if edit_seq > 1 else "0" * 64
    new: dict[int, str] = {}
    for rec in records[edit_seq - 1 :]:
        assert rec.seq is not None and prev is not None
        content = RecordContent(
            rec.id, rec.occurred_at, rec.actor, rec.action, rec.object_type, rec.object_id, rec.data
        )
        digest = record_hash(prev_hash=prev, seq=rec.seq, content=content)
        attack(
            "UPDATE audit_record SET prev_hash = %s, hash = %s WHERE id = %s",
            [prev, digest, rec.id],
        )
        new[rec.seq] = digest
        prev = digest
    return new


def _forge_checkpoints(attack, new: dict[int, str], signer: Ed25519PrivateKey | None, kid: str):
    """Rewrite the checkpoint rows at the re-hashed seqs: signed by ``signer`` (or with the
    old signature left in place when None) under key id ``kid``."""
    for seq, linked_at in AuditCheckpoint.objects.values_list("seq", "linked_at"):
        if seq not in new:
            continue
        if signer is None:
            attack("UPDATE audit_checkpoint SET hash = %s WHERE seq = %s", [new[seq], seq])
            continue
        sig = signer.sign(checkpoint_message(seq=seq, hash=new[seq], linked_at=linked_at))
        attack(
            "UPDATE audit_checkpoint SET hash = %s, key_id = %s, signature = %s WHERE seq = %s",
            [new[seq], kid, base64.b64encode(sig).decode(), seq],
        )


# --- keys -------------------------------------------------------------------------------


def test_keys_from_configuration_pem_or_base64(use_key, key_a) -> None:
    use_key(key_a, pem=True)
    from_pem = audit_signing.signing_key()
    use_key(key_a)
    from_seed = audit_signing.signing_key()
    assert from_pem.key_id == from_seed.key_id == key_id(key_a.public_key())
    assert from_seed.source == SIGNING_KEY_ENV
    assert len(from_seed.key_id) == 16
    # The PEM may be given on one line with \n written out (an env file).
    assert private_key_parse(_pem(key_a).replace("\n", "\\n")).public_key() == key_a.public_key()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not base64!", "neither a PEM key nor valid base64"),
        (base64.b64encode(b"short").decode(), "must be 32 bytes"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "not a readable PEM"),
    ],
)
def test_a_bad_signing_key_is_refused_clearly(raw: str, message: str) -> None:
    with pytest.raises(AuditKeyError, match=message) as caught:
        private_key_parse(raw)
    assert SIGNING_KEY_ENV in str(caught.value)


def test_verify_keys_accept_base64_pem_and_pem_files(tmp_path: Path, key_a) -> None:
    pem = public_pem(key_a.public_key())
    (tmp_path / "old.pem").write_text(pem)
    for raw in (_public_b64(key_a), pem, str(tmp_path / "old.pem")):
        assert key_id(public_key_parse(raw)) == key_id(key_a.public_key())
    with pytest.raises(AuditKeyError, match=VERIFY_KEYS_ENV):
        public_key_parse("zzz")


def test_development_key_is_generated_once_under_the_var_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, settings
) -> None:
    settings.LIGHTWAY_AUDIT_SIGNING_KEY = ""
    monkeypatch.setenv("LIGHTWAY_VAR_DIR", str(tmp_path))
    audit_signing.keys_reset()
    try:
        first = audit_signing.signing_key()
        path = tmp_path.resolve() / "audit" / "signing-key.pem"
        assert path.is_file() and (path.stat().st_mode & 0o777) == 0o600
        assert first.source == str(path)
        audit_signing.keys_reset()
        assert audit_signing.signing_key().key_id == first.key_id  # read back, not regenerated
    finally:
        audit_signing.keys_reset()


def test_public_key_is_printed_and_served(db: None, use_key, key_a, capsys) -> None:
    use_key(key_a)
    assert main(["audit", "public-key"]) == 0
    out, err = capsys.readouterr()
    assert out == public_pem(key_a.public_key())
    assert key_id(key_a.public_key()) in err

    old = Ed25519PrivateKey.generate()
    use_key(key_a, old)
    response = Client().get("/.well-known/lightway-audit-key.pem")
    assert response.status_code == 200
    body = response.content.decode()
    assert body.startswith(public_pem(key_a.public_key()))  # the current key first
    assert public_pem(old.public_key()) in body
    assert response["X-Audit-Key-Id"] == key_id(key_a.public_key())


# --- the linker signs and stores --------------------------------------------------------


def test_each_head_is_signed_into_the_table_and_the_file(
    signed_chain: dict[int, str], key_a, checkpoint_file: Path
) -> None:
    rows = list(AuditCheckpoint.objects.order_by("seq"))
    lines = list(checkpoint_lines_read(checkpoint_file))
    assert [(r.seq, r.hash) for r in rows] == [(3, signed_chain[3]), (6, signed_chain[6])]
    assert [(ln.seq, ln.hash, ln.key_id, ln.signature) for ln in lines] == [
        (r.seq, r.hash, r.key_id, r.signature) for r in rows
    ]
    for row in rows:
        assert row.key_id == key_id(key_a.public_key())
        message = checkpoint_message(seq=row.seq, hash=row.hash, linked_at=row.linked_at)
        assert message == (
            f"lightway-audit-checkpoint/v1\n{row.seq}\n{row.hash}\n{row.linked_at}\n".encode()
        )
        key_a.public_key().verify(base64.b64decode(row.signature), message)  # raises if bad


def test_the_checkpoint_table_is_append_only(signed_chain: dict[int, str], owner_db) -> None:
    assert "append-only" in refused("UPDATE audit_checkpoint SET hash = hash", on=owner_db)
    assert "append-only" in refused("DELETE FROM audit_checkpoint", on=owner_db)
    assert "append-only" in refused("TRUNCATE audit_checkpoint", on=owner_db)


# --- verify -----------------------------------------------------------------------------


def test_an_untouched_chain_passes(signed_chain: dict[int, str], key_a, capsys) -> None:
    code, out, err = verify(capsys)
    assert code == 0, out + err
    assert (
        f"Signed checkpoints: 4 signature(s) verified with key(s) {key_id(key_a.public_key())}"
        in out
    )
    assert "OK: audit chain verified" in out


def test_old_unsigned_file_lines_are_read_and_flagged(
    signed_chain: dict[int, str], checkpoint_file: Path, capsys
) -> None:
    with checkpoint_file.open("a") as file:
        file.write(f"6 {signed_chain[6]} 2026-11-24T09:00:00.000000Z\n")
    code, out, err = verify(capsys)
    assert code == 0, out + err
    assert "Unsigned checkpoints: 1 old file line(s)" in out


@pytest.mark.parametrize("forgery", ["old signature", "own key", "own key, our key id"])
def test_a_rehashed_chain_with_rewritten_checkpoints_is_detected(
    signed_chain: dict[int, str],
    key_a,
    owner_db: psycopg.Connection,
    monkeypatch: pytest.MonkeyPatch,
    capsys,
    forgery: str,
) -> None:
    monkeypatch.setenv(ENV_VAR, "")  # the table alone: the attacker rewrote it
    mallory = Ed25519PrivateKey.generate()
    with triggers_off(owner_db) as attack:
        new = _rehash_from(attack, edit_seq=2)
        if forgery == "old signature":
            _forge_checkpoints(attack, new, None, "")
        elif forgery == "own key":
            _forge_checkpoints(attack, new, mallory, key_id(mallory.public_key()))
        else:
            _forge_checkpoints(attack, new, mallory, key_id(key_a.public_key()))
    assert main(["audit", "verify"]) == 0  # without signatures, the rewrite is consistent
    capsys.readouterr()

    code, out, err = verify(capsys)
    assert code == 1
    assert "first bad seq 3" in err
    if forgery == "own key":
        assert "checkpoint seq=3 (audit_checkpoint table): signed by unknown key id" in out
    else:
        assert "checkpoint seq=3 (audit_checkpoint table): the signature does not verify" in out
    result = checkpoints_verify(file=None)
    assert (result.ok, result.bad_signatures, result.first_bad_seq) == (False, 2, 3)


def test_a_truncated_tail_is_detected(
    signed_chain: dict[int, str], owner_db: psycopg.Connection, capsys
) -> None:
    with triggers_off(owner_db) as attack:
        attack("DELETE FROM audit_record WHERE seq > 4")
    code, out, err = verify(capsys)
    assert code == 1
    assert "checkpoint seq=6" in out and "beyond the chain head seq=4" in out
    assert "first bad seq 6" in err


def test_a_checkpoint_deleted_from_the_table_is_still_in_the_file(
    signed_chain: dict[int, str], owner_db: psycopg.Connection, capsys
) -> None:
    with triggers_off(owner_db) as attack:
        new = _rehash_from(attack, edit_seq=5)
        attack("DELETE FROM audit_checkpoint WHERE seq >= 5")
    assert 6 in new
    code, out, err = verify(capsys)
    assert code == 1
    assert "checkpoints.log line 2" in out and "was rewritten" in out
    assert "first bad seq 6" in err


def test_rotation_with_two_verify_keys(
    db: None, use_key, key_a, checkpoint_file: Path, now, capsys
) -> None:
    key_b = Ed25519PrivateKey.generate()
    use_key(key_a)
    write(2, now)
    audit_link_once()
    use_key(key_b, key_a)  # rotated: B signs, A still verifies the older checkpoints
    write(2, now, start=2)
    audit_link_once()
    kids = dict(AuditCheckpoint.objects.values_list("seq", "key_id"))
    assert kids == {2: key_id(key_a.public_key()), 4: key_id(key_b.public_key())}
    code, out, err = verify(capsys)
    assert code == 0, out + err
    assert "4 signature(s) verified" in out

    use_key(key_b)  # A forgotten: its checkpoints name an unknown key
    code, out, err = verify(capsys)
    assert code == 1
    assert f"signed by unknown key id '{key_id(key_a.public_key())}'" in out
    assert VERIFY_KEYS_ENV in out and "first bad seq 2" in err


def test_a_bad_verify_key_setting_is_a_clear_error(
    signed_chain: dict[int, str], settings, capsys
) -> None:
    settings.LIGHTWAY_AUDIT_VERIFY_KEYS = "not-a-key"
    audit_signing.keys_reset()
    code, _out, err = verify(capsys)
    assert code == 1
    assert "cannot verify the signed checkpoints" in err and VERIFY_KEYS_ENV in err
