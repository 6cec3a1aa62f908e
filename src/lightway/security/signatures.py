"""Signed requests: HMAC-SHA256 over the method, path, timestamp, nonce and body.

Partners sign with an API key (``pk_live_...``, :func:`signature_verify`); MTN's and
LightWay's reporting systems sign the same way with an integration key (``ik_live_...``,
:func:`integration_signature_verify`): one scheme, one checker, two kinds of key.

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
from django.db import IntegrityError, connection, transaction

from lightway.security.apiauth.models import IntegrationKey, PartnerApiKey, RequestNonce
from lightway.security.crypto import CryptoError, decrypt

ALGORITHM = "HMAC-SHA256"
HEADER_KEY = "X-LW-Key"
HEADER_TIMESTAMP = "X-LW-Timestamp"
HEADER_NONCE = "X-LW-Nonce"
HEADER_SIGNATURE = "X-LW-Signature"
HEADER_ALGORITHM = "X-LW-Signature-Alg"

_KEY_ID = re.compile(r"^pk_[a-z]+_[0-9a-f]{8,32}$")
_INTEGRATION_KEY_ID = re.compile(r"^ik_[a-z]+_[0-9a-f]{8,32}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_SIGNATURE = re.compile(r"^[0-9a-fA-F]{64}$")


class SignatureRejected(Exception):
    """A signed request is refused; ``code`` is the API error code and ``status`` the HTTP
    status: 401 when the credentials do not authenticate, 403 when they do but the partner
    may not use the API (suspended or closed)."""

    def __init__(
        self,
        code: str,
        message: str,
        details: dict[str, object] | None = None,
        *,
        status: int = 401,
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
        self.status = status


# The answer to a well-signed request of a partner that is not active (checked on every
# request against the partner row, so a suspension applies to the very next request).
PARTNER_STATUS_REFUSALS: dict[str, tuple[str, str]] = {
    "suspended": (
        "partner_suspended",
        "this partner's API access is suspended; contact LightWay",
    ),
    "closed": ("partner_closed", "this partner account is closed"),
}


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


@dataclass(frozen=True)
class _Signed:
    key_id: str
    timestamp: str
    nonce: str
    signature: str


def _signed_headers(headers: Mapping[str, str], key_pattern: re.Pattern[str]) -> _Signed:
    """The four signature headers, well-formed (and the algorithm, if named, supported)."""
    algorithm = headers.get(HEADER_ALGORITHM)
    if algorithm is not None and algorithm.strip().upper() != ALGORITHM:
        raise SignatureRejected(
            "signature_algorithm_unsupported",
            f"only {ALGORITHM} signatures are accepted",
            {"header": HEADER_ALGORITHM, "supported": [ALGORITHM]},
        )
    return _Signed(
        key_id=_header(headers, HEADER_KEY, key_pattern),
        timestamp=_header(headers, HEADER_TIMESTAMP, _TIMESTAMP),
        nonce=_header(headers, HEADER_NONCE, _NONCE),
        signature=_header(headers, HEADER_SIGNATURE, _SIGNATURE).lower(),
    )


def _signature_check(
    *,
    signed: _Signed,
    secret_ct: bytes,
    context: str,
    method: str,
    target: str,
    body: bytes,
    now: datetime,
) -> None:
    """The timestamp window, the HMAC over the request, then the nonce (recorded once)."""
    window = window_seconds()
    skew = int(signed.timestamp) - int(now.timestamp())
    if abs(skew) > window:
        raise SignatureRejected(
            "timestamp_stale",
            f"X-LW-Timestamp must be within {window} s of the server's clock",
            {"server_time": int(now.timestamp()), "window_seconds": window},
        )
    try:
        secret = decrypt(secret_ct, context=context)
    except CryptoError:
        raise SignatureRejected("key_unknown", "no such API key") from None
    canonical = canonical_string(
        method=method, target=target, timestamp=signed.timestamp, nonce=signed.nonce, body=body
    )
    expected = signature_compute(secret=secret, canonical=canonical)
    if not hmac.compare_digest(expected, signed.signature):
        raise SignatureRejected(
            "signature_invalid",
            "the signature does not match the request (method, path and query, timestamp, "
            "nonce and body)",
        )
    try:
        with transaction.atomic():
            RequestNonce.objects.create(key_id=signed.key_id, nonce=signed.nonce, seen_at=now)
    except IntegrityError:
        raise SignatureRejected(
            "nonce_replayed", "this nonce was already used; sign each request with a new one"
        ) from None


def signature_verify(
    *, method: str, target: str, headers: Mapping[str, str], body: bytes, now: datetime
) -> PartnerPrincipal:
    """Check a partner's signed request and record its nonce; raises
    :class:`SignatureRejected`.

    ``headers`` must look names up case-insensitively (Django's ``request.headers`` does).
    """
    signed = _signed_headers(headers, _KEY_ID)
    key = PartnerApiKey.objects.select_related("partner").filter(key_id=signed.key_id).first()
    if key is None:
        raise SignatureRejected("key_unknown", "no such API key")
    if key.revoked_at is not None and key.revoked_at <= now:
        raise SignatureRejected("key_revoked", "this API key has been revoked")
    if key.expires_at is not None and key.expires_at <= now:
        raise SignatureRejected("key_expired", "this API key has expired; use its replacement")
    _signature_check(
        signed=signed,
        secret_ct=bytes(key.secret_ct),
        context=secret_context(key.key_id),
        method=method,
        target=target,
        body=body,
        now=now,
    )
    # After the signature: only a caller holding the key learns the partner's status.
    refusal = PARTNER_STATUS_REFUSALS.get(key.partner.status)
    if refusal is not None:
        raise SignatureRejected(*refusal, {"status": key.partner.status}, status=403)
    return PartnerPrincipal(
        partner_id=key.partner_id, partner_code=key.partner.code, key_id=key.key_id
    )


# --- integration keys: the same signatures, a machine principal ------------------------------


@dataclass(frozen=True)
class IntegrationPrincipal:
    """A reporting system of MTN or LightWay, authenticated by an integration key
    (``lightway.application.integrations.keys``): allowed exactly its ``scopes``."""

    key_id: str
    realm: str
    name: str
    scopes: frozenset[str]
    kind: str = "integration"


def integration_secret_context(key_id: str) -> str:
    """The associated data an integration key's secret is sealed with."""
    return f"apiauth.integration_key.secret:{key_id}"


_LAST_USED_SQL = """
UPDATE apiauth_integration_key SET last_used_at = %s
WHERE key_id = %s AND (last_used_at IS NULL OR last_used_at < %s)
"""


def integration_signature_verify(
    *, method: str, target: str, headers: Mapping[str, str], body: bytes, now: datetime
) -> IntegrationPrincipal:
    """Check a request signed with an integration key (the partner scheme exactly, with an
    ``ik_live_...`` key id) and record its nonce; raises :class:`SignatureRejected`. An
    accepted request sets the key's ``last_used_at`` (at most once a minute)."""
    signed = _signed_headers(headers, _INTEGRATION_KEY_ID)
    key = IntegrationKey.objects.filter(key_id=signed.key_id).first()
    if key is None:
        raise SignatureRejected("key_unknown", "no such integration key")
    if key.revoked_at is not None and key.revoked_at <= now:
        raise SignatureRejected("key_revoked", "this integration key has been revoked")
    if key.expires_at <= now:
        raise SignatureRejected(
            "key_expired", "this integration key has expired; ask LightWay for a new one"
        )
    _signature_check(
        signed=signed,
        secret_ct=bytes(key.secret_ct),
        context=integration_secret_context(key.key_id),
        method=method,
        target=target,
        body=body,
        now=now,
    )
    with connection.cursor() as cur:
        cur.execute(_LAST_USED_SQL, [now, key.key_id, now - timedelta(minutes=1)])
    return IntegrationPrincipal(
        key_id=key.key_id, realm=key.realm, name=key.name, scopes=frozenset(key.scopes)
    )


def request_nonces_prune(*, now: datetime) -> int:
    """Delete nonces older than twice the window; returns how many."""
    cutoff = now - timedelta(seconds=2 * window_seconds())
    deleted, _ = RequestNonce.objects.filter(seen_at__lt=cutoff).delete()
    return int(deleted)
