"""Partner request signatures: HMAC-SHA256 over the method, path, timestamp, nonce and body.

A partner signs every request with the secret of one of its API keys. The string to sign
is five lines joined by a single ``\\n`` (no trailing newline)::

    METHOD              upper case: GET, POST, ...
    PATH?QUERY          the request target as sent: the percent-encoded path, then "?" and
                        the raw query string if there is one (no "?" when there is none)
    TIMESTAMP           the X-LW-Timestamp header: unix time in seconds, decimal
    NONCE               the X-LW-Nonce header: 16 to 64 characters of [A-Za-z0-9_-],
                        never reused with the same key
    SHA256HEX(body)     lower-case hex SHA-256 of the exact body bytes (of b"" when empty)

and the signature is the lower-case hex HMAC-SHA256 of that string (UTF-8), keyed with the
secret (its UTF-8 bytes). Headers:

    X-LW-Key: pk_live_...            the key id
    X-LW-Timestamp: 1795510800
    X-LW-Nonce: 5f0c2e9a4b7d41c3a8e6
    X-LW-Signature: <64 hex>
    X-LW-Signature-Alg: HMAC-SHA256  optional; any other value is refused

The server accepts a timestamp within ``LIGHTWAY_SIGNATURE_WINDOW_SECONDS`` (300) of its
clock, either way, and each (key, nonce) once: nonces are stored on acceptance and kept
for twice the window (an older replay already fails the timestamp check).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction

from lightway.security.apiauth.models import PartnerApiKey, RequestNonce
from lightway.security.crypto import CryptoError, decrypt

ALGORITHM = "HMAC-SHA256"
HEADER_KEY = "X-LW-Key"
HEADER_TIMESTAMP = "X-LW-Timestamp"
HEADER_NONCE = "X-LW-Nonce"
HEADER_SIGNATURE = "X-LW-Signature"
HEADER_ALGORITHM = "X-LW-Signature-Alg"

_KEY_ID = re.compile(r"^pk_[a-z]+_[0-9a-f]{8,32}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_SIGNATURE = re.compile(r"^[0-9a-fA-F]{64}$")


class SignatureRejected(Exception):
    """A signed request is refused; ``code`` is the API error code (all are 401)."""

    def __init__(self, code: str, message: str, details: dict[str, object] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}


@dataclass(frozen=True)
class PartnerPrincipal:
    partner_id: int
    partner_code: str
    key_id: str


def window_seconds() -> int:
    return int(getattr(settings, "LIGHTWAY_SIGNATURE_WINDOW_SECONDS", 300))


def secret_context(key_id: str) -> str:
    """The associated data a partner secret is encrypted with."""
    return f"apiauth.partner_api_key.secret:{key_id}"


def canonical_string(*, method: str, target: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The exact string that is signed (see the module docstring)."""
    return "\n".join((method.upper(), target, timestamp, nonce, hashlib.sha256(body).hexdigest()))


def signature_compute(*, secret: str, canonical: str) -> str:
    return hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def sign_request(
    *,
    key_id: str,
    secret: str,
    method: str,
    target: str,
    body: bytes = b"",
    timestamp: int,
    nonce: str | None = None,
) -> dict[str, str]:
    """The headers that sign one request (the client side, for partners and tests).

    ``target`` is the path and query exactly as they go on the wire, e.g.
    ``"/api/v1/partner/whoami"`` or ``"/api/v1/partner/transfers?limit=10"``; ``timestamp``
    is the current unix time in seconds (``int(time.time())``); a random nonce is made when
    none is given.
    """
    nonce = nonce or secrets.token_hex(16)
    canonical = canonical_string(
        method=method, target=target, timestamp=str(timestamp), nonce=nonce, body=body
    )
    return {
        HEADER_KEY: key_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: signature_compute(secret=secret, canonical=canonical),
        HEADER_ALGORITHM: ALGORITHM,
    }


def _header(headers: Mapping[str, str], name: str, pattern: re.Pattern[str]) -> str:
    value = headers.get(name)
    if value is None or not value.strip():
        raise SignatureRejected(
            "signature_malformed",
            f"the {name} header is required (sign every request: see the API guide)",
            {"header": name},
        )
    value = value.strip()
    if not pattern.match(value):
        raise SignatureRejected(
            "signature_malformed", f"the {name} header is malformed", {"header": name}
        )
    return value


def signature_verify(
    *, method: str, target: str, headers: Mapping[str, str], body: bytes, now: datetime
) -> PartnerPrincipal:
    """Check a signed request and record its nonce; raises :class:`SignatureRejected`.

    ``headers`` must look names up case-insensitively (Django's ``request.headers`` does).
    """
    algorithm = headers.get(HEADER_ALGORITHM)
    if algorithm is not None and algorithm.strip().upper() != ALGORITHM:
        raise SignatureRejected(
            "signature_algorithm_unsupported",
            f"only {ALGORITHM} signatures are accepted",
            {"header": HEADER_ALGORITHM, "supported": [ALGORITHM]},
        )
    key_id = _header(headers, HEADER_KEY, _KEY_ID)
    timestamp = _header(headers, HEADER_TIMESTAMP, _TIMESTAMP)
    nonce = _header(headers, HEADER_NONCE, _NONCE)
    signature = _header(headers, HEADER_SIGNATURE, _SIGNATURE).lower()

    key = PartnerApiKey.objects.select_related("partner").filter(key_id=key_id).first()
    if key is None:
        raise SignatureRejected("key_unknown", "no such API key")
    if key.revoked_at is not None and key.revoked_at <= now:
        raise SignatureRejected("key_revoked", "this API key has been revoked")
    if key.expires_at is not None and key.expires_at <= now:
        raise SignatureRejected("key_expired", "this API key has expired; use its replacement")
    if not key.partner.is_active:
        raise SignatureRejected("key_revoked", "this partner's API access is suspended")

    window = window_seconds()
    skew = int(timestamp) - int(now.timestamp())
    if abs(skew) > window:
        raise SignatureRejected(
            "timestamp_stale",
            f"X-LW-Timestamp must be within {window} s of the server's clock",
            {"server_time": int(now.timestamp()), "window_seconds": window},
        )

    try:
        secret = decrypt(bytes(key.secret_ct), context=secret_context(key.key_id))
    except CryptoError:
        raise SignatureRejected("key_unknown", "no such API key") from None
    canonical = canonical_string(
        method=method, target=target, timestamp=timestamp, nonce=nonce, body=body
    )
    if not hmac.compare_digest(signature_compute(secret=secret, canonical=canonical), signature):
        raise SignatureRejected(
            "signature_invalid",
            "the signature does not match the request (method, path and query, timestamp, "
            "nonce and body)",
        )

    try:
        with transaction.atomic():
            RequestNonce.objects.create(key_id=key.key_id, nonce=nonce, seen_at=now)
    except IntegrityError:
        raise SignatureRejected(
            "nonce_replayed", "this nonce was already used; sign each request with a new one"
        ) from None
    return PartnerPrincipal(
        partner_id=key.partner_id, partner_code=key.partner.code, key_id=key.key_id
    )


def request_nonces_prune(*, now: datetime) -> int:
    """Delete nonces older than twice the window; returns how many."""
    cutoff = now - timedelta(seconds=2 * window_seconds())
    deleted, _ = RequestNonce.objects.filter(seen_at__lt=cutoff).delete()
    return int(deleted)
