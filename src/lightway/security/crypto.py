"""Field-level encryption, blind indexes and opaque tokens for personal data.

Envelope encryption (AES-256-GCM at both levels):

- every value gets a fresh 256-bit data key (DEK); the value is sealed with the DEK and a
  96-bit random nonce, with *associated data* that names the field and row it belongs to
  (``context``), so a ciphertext copied into another row or column fails to open;
- the DEK is wrapped with a key-encryption key (KEK) chosen by version from configuration
  (``LIGHTWAY_DATA_KEYS = "v2:<base64 32 bytes>,v1:<...>"``; the first one seals, all of
  them open); rotation (``lightway keys rotate``) re-seals every value under the first KEK.

Blob layout (bytes): ``b"LW1" | len(version) | version | wrap_nonce(12) | wrapped_dek(48)
| nonce(12) | ciphertext+tag``.

A *blind index* is HMAC-SHA256 over the normalised value, keyed by
``LIGHTWAY_BLIND_INDEX_KEY`` and prefixed by the kind ("phone", "email", "id_number"), so
equal values can be found without decrypting and without the index revealing them.
An *opaque token* (``pii_token``) is a short keyed hash with a kind prefix, for the places
that need a stable reference to a person or a phone number (ledger descriptions, logs,
analytics) and must not carry the value itself.

*Per-person sealing* (``lightway.security.personkeys``): a person's personal data is sealed
with that person's own random key instead of a fresh DEK wrapped by the KEK. Blob layout:
``b"LP1" | user id (8 bytes, big-endian) | nonce(12) | ciphertext+tag``, the associated
data being ``context`` plus the user id. The person's key is itself stored sealed under the
KEK (so ``lightway keys rotate`` re-wraps it); destroying it erases every value sealed with
it at once ("crypto-shredding"): :func:`unseal` then raises :class:`PersonDataErased`.

Development defaults derive from a fixed string and are refused by ``lightway check``
outside ``LIGHTWAY_DEBUG``-free production checks (see docs/security.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

MAGIC = b"LW1"
DEV_KEY_SEED = "lightway-development-only-data-key"


class CryptoError(Exception):
    """A value cannot be sealed or opened (bad configuration, wrong key, tampered blob)."""


class PersonDataErased(CryptoError):
    """The value was sealed with a person's key that retention destroyed (erased)."""


PERSON_MAGIC = b"LP1"
PERSON_VERSION = "person"
# user id -> the person's raw key, None when destroyed (KeyError-free: unknown -> None);
# set by lightway.security.personkeys when it is imported.
_person_key_resolver: Callable[[int], bytes | None] | None = None


def person_key_resolver_set(resolver: Callable[[int], bytes | None]) -> None:
    global _person_key_resolver
    _person_key_resolver = resolver


def _person_aad(context: str, user_id: int) -> bytes:
    return f"{context}|person:{user_id}".encode()


def person_seal(data: bytes, *, key: bytes, user_id: int, context: str) -> bytes:
    """Seal ``data`` with a person's own key (see the module docstring)."""
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, bytes(data), _person_aad(context, user_id))
    return PERSON_MAGIC + user_id.to_bytes(8, "big") + nonce + sealed


def is_person_sealed(blob: bytes) -> bool:
    return len(blob) > 11 and bytes(blob[:3]) == PERSON_MAGIC


def person_of(blob: bytes) -> int:
    """The user whose key sealed ``blob``."""
    if not is_person_sealed(blob):
        raise CryptoError("not a per-person sealed value")
    return int.from_bytes(bytes(blob[3:11]), "big")


def _person_unseal(blob: bytes, context: str, key: bytes | None = None) -> bytes:
    blob = bytes(blob)
    if len(blob) < 3 + 8 + 12 + 16:
        raise CryptoError("encrypted value is truncated")
    user_id = person_of(blob)
    if key is None:
        resolver = _person_key_resolver
        if resolver is None:
            import importlib

            importlib.import_module("lightway.security.personkeys")
            resolver = _person_key_resolver
        assert resolver is not None
        key = resolver(user_id)
    if key is None:
        raise PersonDataErased(f"personal data of user {user_id} was erased")
    try:
        return AESGCM(key).decrypt(blob[11:23], blob[23:], _person_aad(context, user_id))
    except InvalidTag:
        msg = "encrypted value does not open (wrong key or context, or tampered)"
        raise CryptoError(msg) from None


@dataclass(frozen=True)
class Keyring:
    current: str
    keys: dict[str, bytes]


def _dev_key(label: str) -> bytes:
    return hashlib.sha256(f"{DEV_KEY_SEED}:{label}".encode()).digest()


def keyring_parse(raw: str) -> Keyring:
    """Parse ``"v2:<b64>,v1:<b64>"``; the first entry is the current (sealing) key."""
    keys: dict[str, bytes] = {}
    order: list[str] = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        version, sep, material = part.partition(":")
        version = version.strip()
        if not sep or not version or len(version) > 32 or not version.isascii():
            raise CryptoError(f"data key entry {version or '?'!r} must look like 'v1:<base64>'")
        try:
            key = base64.b64decode(material.strip(), validate=True)
        except ValueError:
            raise CryptoError(f"data key {version!r} is not valid base64") from None
        if len(key) != 32:
            raise CryptoError(f"data key {version!r} must be 32 bytes, got {len(key)}")
        if version in keys:
            raise CryptoError(f"data key version {version!r} appears twice")
        keys[version] = key
        order.append(version)
    if not order:
        raise CryptoError("no data keys configured")
    return Keyring(current=order[0], keys=keys)


@cache
def _keyring(raw: str) -> Keyring:
    if not raw:
        return Keyring(current="dev1", keys={"dev1": _dev_key("kek:dev1")})
    return keyring_parse(raw)


def keyring() -> Keyring:
    return _keyring(str(getattr(settings, "LIGHTWAY_DATA_KEYS", "")))


def blind_key() -> bytes:
    raw = str(getattr(settings, "LIGHTWAY_BLIND_INDEX_KEY", ""))
    if not raw:
        return _dev_key("blind-index")
    try:
        key = base64.b64decode(raw, validate=True)
    except ValueError:
        raise CryptoError("LIGHTWAY_BLIND_INDEX_KEY is not valid base64") from None
    if len(key) < 32:
        raise CryptoError("LIGHTWAY_BLIND_INDEX_KEY must be at least 32 bytes")
    return key


def using_development_keys() -> bool:
    return not getattr(settings, "LIGHTWAY_DATA_KEYS", "") or not getattr(
        settings, "LIGHTWAY_BLIND_INDEX_KEY", ""
    )


def seal(data: bytes, *, context: str) -> bytes:
    """Seal raw bytes (a provider's payload, whatever its encoding) under the current KEK;
    ``context`` must be given again to open it."""
    ring = keyring()
    kek = ring.keys[ring.current]
    dek = AESGCM.generate_key(bit_length=256)
    wrap_nonce, nonce = os.urandom(12), os.urandom(12)
    version = ring.current.encode()
    wrapped = AESGCM(kek).encrypt(wrap_nonce, dek, MAGIC + version)
    sealed = AESGCM(dek).encrypt(nonce, bytes(data), context.encode())
    return MAGIC + bytes([len(version)]) + version + wrap_nonce + wrapped + nonce + sealed


def encrypt(plaintext: str, *, context: str) -> bytes:
    """Seal ``plaintext`` under the current KEK; ``context`` must be given again to open it."""
    return seal(plaintext.encode(), context=context)


def _split(blob: bytes) -> tuple[str, bytes, bytes, bytes, bytes]:
    blob = bytes(blob)
    if blob[:3] != MAGIC or len(blob) < 4:
        raise CryptoError("not an encrypted value")
    n = blob[3]
    version = blob[4 : 4 + n].decode("ascii", "replace")
    rest = blob[4 + n :]
    if len(rest) < 12 + 48 + 12 + 16:
        raise CryptoError("encrypted value is truncated")
    return version, rest[:12], rest[12:60], rest[60:72], rest[72:]


def is_sealed(blob: bytes) -> bool:
    """Whether ``blob`` looks like a sealed value (the magic and a version length), under
    the KEK or a person's key."""
    return (len(blob) > 4 and bytes(blob[:3]) == MAGIC) or is_person_sealed(blob)


def key_version(blob: bytes) -> str:
    """The KEK version a blob was sealed under (for rotation); ``"person"`` for a value
    sealed with a person's key (rotation re-wraps that key, not the value)."""
    if is_person_sealed(blob):
        return PERSON_VERSION
    return _split(blob)[0]


def unseal(blob: bytes, *, context: str) -> bytes:
    """The bytes :func:`seal` sealed; :class:`CryptoError` for a wrong key, context or a
    tampered blob; :class:`PersonDataErased` when the person's key was destroyed."""
    if is_person_sealed(blob):
        return _person_unseal(blob, context)
    version, wrap_nonce, wrapped, nonce, sealed = _split(blob)
    kek = keyring().keys.get(version)
    if kek is None:
        raise CryptoError(f"data key version {version!r} is not configured")
    try:
        dek = AESGCM(kek).decrypt(wrap_nonce, wrapped, MAGIC + version.encode())
        return AESGCM(dek).decrypt(nonce, sealed, context.encode())
    except InvalidTag:
        msg = "encrypted value does not open (wrong key or context, or tampered)"
        raise CryptoError(msg) from None


def person_decrypt_with(blob: bytes, *, key: bytes, context: str) -> str:
    """Open a per-person value with its person's key already in hand (several values of one
    person read together: one key lookup, not one per value)."""
    return _person_unseal(blob, context, key).decode()


def decrypt(blob: bytes, *, context: str) -> str:
    return unseal(blob, context=context).decode()


def encrypt_optional(plaintext: str | None, *, context: str) -> bytes | None:
    return None if plaintext in (None, "") else encrypt(str(plaintext), context=context)


def decrypt_optional(blob: bytes | memoryview | None, *, context: str) -> str | None:
    return None if blob is None else decrypt(bytes(blob), context=context)


def reencrypt(blob: bytes, *, context: str) -> bytes | None:
    """The blob sealed under the current KEK, or None when it already is (or is sealed with
    a person's key: rotation re-wraps the person's key instead)."""
    if key_version(blob) in (keyring().current, PERSON_VERSION):
        return None
    return seal(unseal(blob, context=context), context=context)


def normalise(kind: str, value: str) -> str:
    """The canonical form that blind indexes and tokens hash (E.164 phones are passed in
    already normalised; emails are case-folded; ID numbers lose spaces and dashes)."""
    text = unicodedata.normalize("NFKC", value).strip()
    if kind == "email":
        return text.casefold()
    if kind == "id_number":
        return "".join(ch for ch in text.upper() if ch.isalnum())
    return text


def blind_index(kind: str, value: str) -> str:
    """Keyed, deterministic, one-way: 64 hex characters."""
    message = f"{kind}\x00{normalise(kind, value)}".encode()
    return hmac.new(blind_key(), message, hashlib.sha256).hexdigest()


def pii_token(kind: str, value: str) -> str:
    """An opaque, stable reference such as ``msisdn_3f9a1c0b7d2e4a51`` (no personal data)."""
    digest = hmac.new(
        blind_key(), f"token\x00{kind}\x00{normalise(kind, value)}".encode(), "sha256"
    )
    return f"{kind}_{digest.hexdigest()[:16]}"


def payload_digest(data: bytes) -> str:
    """A keyed digest of a raw payload (64 hex characters): equal payloads give equal
    digests, so a rejected body can be recognised again, but a digest reveals nothing of a
    short body (a phone number in a small JSON document) without the key."""
    return hmac.new(blind_key(), b"payload\x00" + bytes(data), hashlib.sha256).hexdigest()


def keyring_cache_clear() -> None:
    _keyring.cache_clear()
