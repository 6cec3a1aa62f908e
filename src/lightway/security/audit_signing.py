"""Ed25519 signatures of audit checkpoints (the chain head written down after each link).

A hash chain only shows tampering relative to a trusted head: whoever can write the
database can edit a record, re-hash every later one with the public formula (``chain.py``)
and rewrite any table of heads kept beside it. A *signed* head cannot be forged without
the private key, which lives in the configuration, never in the database.

Signed message (the canonical byte string; ASCII, three lines, each ending with ``\\n``)::

    lightway-audit-checkpoint/v1
    <seq>\\n<hash>\\n<linked_at>\\n

that is ``b"lightway-audit-checkpoint/v1\\n" + f"{seq}\\n{hash}\\n{linked_at}\\n"``, with
``seq`` in decimal (no sign, no leading zeros), ``hash`` the 64 lowercase hex characters
of the record at ``seq`` and ``linked_at`` in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``. The
signature is the 64-byte Ed25519 signature (RFC 8032) of that message, written as standard
base64 (88 characters).

Keys:

- ``LIGHTWAY_AUDIT_SIGNING_KEY`` (a secret setting, ``secret_settings.py``): the private
  key, a PKCS#8 PEM (``-----BEGIN PRIVATE KEY-----``, newlines may be written as ``\\n``)
  or the base64 of the 32-byte raw seed. Unset (development, demo, tests): a key generated
  once into ``<var>/audit/signing-key.pem`` (mode 0600); under production settings the
  serving processes refuse to start without it and ``lightway check`` fails.
- ``LIGHTWAY_AUDIT_VERIFY_KEYS``: further public keys accepted when verifying (key
  rotation: the keys that signed older checkpoints), comma-separated, each the base64 of
  the 32-byte raw public key or a path to a PEM file. The signing key's own public key is
  always accepted.
- Key id: the first 16 hex characters of SHA-256 of the raw 32-byte public key; each
  checkpoint names the key that signed it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from django.conf import settings

from lightway.infrastructure.embedded_pg import var_dir

SIGNING_KEY_ENV = "LIGHTWAY_AUDIT_SIGNING_KEY"
VERIFY_KEYS_ENV = "LIGHTWAY_AUDIT_VERIFY_KEYS"
DEV_KEY_RELATIVE = Path("audit") / "signing-key.pem"
MESSAGE_PREFIX = b"lightway-audit-checkpoint/v1\n"
KEY_ID_LENGTH = 16


class AuditKeyError(ValueError):
    """An audit signing or verify key is missing or malformed (message names the setting)."""


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    private: Ed25519PrivateKey
    source: str  # "LIGHTWAY_AUDIT_SIGNING_KEY" or the development key file

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """The fingerprint that names a public key: SHA-256 of the raw key, first 16 hex."""
    return hashlib.sha256(_raw_public(key)).hexdigest()[:KEY_ID_LENGTH]


def public_pem(key: Ed25519PublicKey) -> str:
    """The public key as a SubjectPublicKeyInfo PEM (what is published)."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def checkpoint_message(*, seq: int, hash: str, linked_at: str) -> bytes:
    """The canonical byte string a checkpoint's signature covers (module docstring)."""
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise ValueError(f"checkpoint seq must be a positive integer, got {seq!r}")
    return MESSAGE_PREFIX + f"{seq}\n{hash}\n{linked_at}\n".encode("ascii")


def utc_stamp(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (refuses naive datetimes)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("linked_at must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def private_key_parse(raw: str, setting: str = SIGNING_KEY_ENV) -> Ed25519PrivateKey:
    """A PKCS#8 PEM or the base64 of a 32-byte seed, as an Ed25519 private key."""
    text = raw.strip().replace("\\n", "\n")
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        except (ValueError, TypeError, UnicodeEncodeError) as exc:
            raise AuditKeyError(f"{setting} is not a readable PEM private key") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise AuditKeyError(f"{setting} is not an Ed25519 key")
        return key
    try:
        seed = base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise AuditKeyError(f"{setting} is neither a PEM key nor valid base64") from None
    if len(seed) != 32:
        raise AuditKeyError(f"{setting} must be 32 bytes (base64 of an Ed25519 seed)")
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_parse(raw: str, setting: str = VERIFY_KEYS_ENV) -> Ed25519PublicKey:
    """The base64 of a 32-byte raw public key, a PEM text, or a path to a PEM file."""
    text = raw.strip().replace("\\n", "\n")
    if not text.startswith("-----BEGIN") and ("/" in text or text.endswith(".pem")):
        path = Path(text).expanduser()
        if path.is_file():
            text = path.read_text("ascii").strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode("ascii"))
        except (ValueError, TypeError, UnicodeEncodeError) as exc:
            raise AuditKeyError(
                f"{setting}: {raw[:40]!r} is not a readable PEM public key"
            ) from exc
        if not isinstance(key, Ed25519PublicKey):
            raise AuditKeyError(f"{setting}: {raw[:40]!r} is not an Ed25519 key")
        return key
    try:
        material = base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise AuditKeyError(
            f"{setting}: {raw[:40]!r} is not base64, a PEM key or an existing PEM file"
        ) from None
    if len(material) != 32:
        raise AuditKeyError(f"{setting}: {raw[:40]!r} is not 32 bytes (a raw Ed25519 key)")
    return Ed25519PublicKey.from_public_bytes(material)


def dev_key_path() -> Path:
    return var_dir() / DEV_KEY_RELATIVE


def _dev_key() -> Ed25519PrivateKey:
    """The development key under the var directory, generated on first use (mode 0600)."""
    path = dev_key_path()
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process generated it first: use theirs
        else:
            with os.fdopen(fd, "wb") as file:
                file.write(pem)
                file.flush()
                os.fsync(file.fileno())
    return private_key_parse(path.read_text("ascii"), str(path))


@cache
def _signing_key_from(raw: str) -> SigningKey:
    if raw.strip():
        private = private_key_parse(raw)
        source = SIGNING_KEY_ENV
    else:
        private = _dev_key()
        source = str(dev_key_path())
    return SigningKey(key_id=key_id(private.public_key()), private=private, source=source)


def _setting(name: str) -> str:
    return str(getattr(settings, name, "") or "")


def signing_key() -> SigningKey:
    """The configured signing key (or the development key file when unset)."""
    return _signing_key_from(_setting(SIGNING_KEY_ENV))


@cache
def _verify_keys_from(signing_raw: str, extra_raw: str) -> dict[str, Ed25519PublicKey]:
    keys: dict[str, Ed25519PublicKey] = {}
    own = _signing_key_from(signing_raw)
    keys[own.key_id] = own.public
    for part in (p.strip() for p in extra_raw.split(",")):
        if part:
            key = public_key_parse(part)
            keys[key_id(key)] = key
    return keys


def verify_keys() -> dict[str, Ed25519PublicKey]:
    """Key id -> public key: the signing key's and every ``LIGHTWAY_AUDIT_VERIFY_KEYS`` one."""
    return _verify_keys_from(_setting(SIGNING_KEY_ENV), _setting(VERIFY_KEYS_ENV))


def keys_reset() -> None:
    """Forget the parsed keys (tests change the settings)."""
    _signing_key_from.cache_clear()
    _verify_keys_from.cache_clear()


@dataclass(frozen=True)
class Signature:
    key_id: str
    signature: str  # base64


def checkpoint_sign(
    *, seq: int, hash: str, linked_at: str, key: SigningKey | None = None
) -> Signature:
    """Sign one head with the configured key (or ``key``)."""
    key = key or signing_key()
    raw = key.private.sign(checkpoint_message(seq=seq, hash=hash, linked_at=linked_at))
    return Signature(key_id=key.key_id, signature=base64.b64encode(raw).decode("ascii"))


def checkpoint_signature_problem(
    *,
    seq: int,
    hash: str,
    linked_at: str,
    key_id: str,
    signature: str,
    keys: dict[str, Ed25519PublicKey],
) -> str | None:
    """None when ``signature`` is a valid signature of the head by the key ``key_id`` among
    ``keys``; else what is wrong (unknown key id, malformed or bad signature)."""
    public = keys.get(key_id)
    if public is None:
        return (
            f"signed by unknown key id {key_id!r} (known: {', '.join(sorted(keys)) or 'none'};"
            f" add the public key to {VERIFY_KEYS_ENV} if it is a rotated key)"
        )
    try:
        raw = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error):
        return "the signature is not valid base64"
    if len(raw) != 64:
        return "the signature is not 64 bytes"
    try:
        public.verify(raw, checkpoint_message(seq=seq, hash=hash, linked_at=linked_at))
    except InvalidSignature:
        return f"the signature does not verify with key {key_id} (forged or altered checkpoint)"
    return None
