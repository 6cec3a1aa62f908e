"""Streamed AES-256-GCM for backup files (``lightway backup --encrypt``).

A dump can be larger than memory, so it is sealed in chunks (1 MiB by default), each an
AES-GCM message of its own. The file:

    header  = b"LWBKENC1" | key id (8 bytes) | nonce prefix (8 random bytes) | chunk size (4)
    chunk i = length of the sealed chunk (4 bytes, big-endian) | sealed chunk

Chunk i is sealed with the nonce ``prefix | i`` (4 bytes) and, as associated data, the
header, ``i`` and a byte saying whether it is the last chunk. So chunks cannot be reordered,
dropped, or taken from another file, and a file cut short (no last chunk) or with bytes after
its last chunk is refused; a changed byte anywhere fails the chunk's tag. The key id (the
first 8 bytes of SHA-256 of the key) tells a wrong key from a damaged file. The key is
``LIGHTWAY_BACKUP_KEY``: 32 random bytes, base64 (``lightway backup keygen`` prints one).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"LWBKENC1"
CHUNK = 1 << 20
_HEADER = struct.Struct(">8s8s8sI")
_LENGTH = struct.Struct(">I")
TAG_BYTES = 16
ALGORITHM = "AES-256-GCM, 1 MiB chunks (lightway LWBKENC1)"


class BackupCryptoError(Exception):
    """A key that is not one, a wrong key, or a damaged or cut-short encrypted file."""


def backup_key_parse(raw: str) -> bytes:
    """The 32-byte key from its base64 text (standard or URL-safe alphabet)."""
    text = raw.strip()
    try:
        key = base64.b64decode(
            text + "=" * (-len(text) % 4),
            altchars=b"-_" if "-" in text or "_" in text else None,
            validate=True,
        )
    except (binascii.Error, ValueError):
        raise BackupCryptoError("LIGHTWAY_BACKUP_KEY is not base64") from None
    if len(key) != 32:
        raise BackupCryptoError(
            f"LIGHTWAY_BACKUP_KEY must be 32 bytes (base64 of 32 random bytes), not {len(key)}"
        )
    return key


def backup_key_new() -> str:
    return base64.b64encode(os.urandom(32)).decode("ascii")


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def _aad(header: bytes, index: int, last: bool) -> bytes:
    return header + struct.pack(">IB", index, 1 if last else 0)


def encrypt_stream(
    source: BinaryIO, target: BinaryIO, *, key: bytes, chunk: int = CHUNK
) -> tuple[int, int]:
    """Seal ``source`` into ``target``; returns (plain bytes read, sealed bytes written)."""
    aes = AESGCM(key)
    prefix = os.urandom(8)
    header = _HEADER.pack(MAGIC, bytes.fromhex(key_id(key)), prefix, chunk)
    target.write(header)
    written = len(header)
    read = 0
    index = 0
    current = source.read(chunk)
    while True:
        following = source.read(chunk) if current else b""
        last = not following
        sealed = aes.encrypt(prefix + struct.pack(">I", index), current, _aad(header, index, last))
        target.write(_LENGTH.pack(len(sealed)) + sealed)
        written += _LENGTH.size + len(sealed)
        read += len(current)
        if last:
            return read, written
        current = following
        index += 1
        if index >= 1 << 32:
            raise BackupCryptoError("file too large for one encrypted stream")


def decrypt_stream(source: BinaryIO, target: BinaryIO, *, key: bytes) -> int:
    """Open what :func:`encrypt_stream` sealed; returns the plain bytes written. Raises
    BackupCryptoError for a wrong key or a damaged, reordered or cut-short file."""
    header = source.read(_HEADER.size)
    if len(header) != _HEADER.size:
        raise BackupCryptoError("not an encrypted backup: the file is shorter than its header")
    magic, kid, prefix, chunk = _HEADER.unpack(header)
    if magic != MAGIC:
        raise BackupCryptoError("not an encrypted backup (no LWBKENC1 header)")
    if kid.hex() != key_id(key):
        raise BackupCryptoError(
            f"the file was encrypted with key {kid.hex()}, LIGHTWAY_BACKUP_KEY is {key_id(key)}"
        )
    aes = AESGCM(key)
    written = 0
    index = 0
    while True:
        raw_length = source.read(_LENGTH.size)
        if len(raw_length) != _LENGTH.size:
            raise BackupCryptoError("the encrypted file is cut short (its last chunk is missing)")
        (length,) = _LENGTH.unpack(raw_length)
        if length < TAG_BYTES or length > chunk + TAG_BYTES:
            raise BackupCryptoError(f"chunk {index} has an impossible length: damaged file")
        sealed = source.read(length)
        if len(sealed) != length:
            raise BackupCryptoError("the encrypted file is cut short")
        nonce = prefix + struct.pack(">I", index)
        plain = None
        for last in (False, True):
            try:
                plain = aes.decrypt(nonce, sealed, _aad(header, index, last))
            except InvalidTag:
                continue
            break
        if plain is None:
            raise BackupCryptoError(f"chunk {index} fails authentication: the file was altered")
        target.write(plain)
        written += len(plain)
        if last:
            if source.read(1):
                raise BackupCryptoError("bytes after the last chunk: the file was altered")
            return written
        index += 1
