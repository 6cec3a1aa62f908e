"""Sumsub signatures: app-token request signing and webhook payload digests.

Request signing (every API call): lowercase hex HMAC-SHA256, keyed with the app token's
secret key, over ``ts + METHOD + path_with_query + body`` concatenated as bytes, where
``path_with_query`` is the request target exactly as sent on the wire and ``body`` the exact
bytes transmitted (nothing for an empty body).

Webhook digests: lowercase hex HMAC of the raw request body keyed with the webhook's own
secret, the hash named by ``X-Payload-Digest-Alg``. Unknown algorithms are refused; the
comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

# X-Payload-Digest-Alg value -> hash constructor
DIGEST_ALGORITHMS: dict[str, Callable[..., hashlib._Hash]] = {
    "HMAC_SHA1_HEX": hashlib.sha1,
    "HMAC_SHA256_HEX": hashlib.sha256,
    "HMAC_SHA512_HEX": hashlib.sha512,
}
DEFAULT_DIGEST_ALG = "HMAC_SHA256_HEX"


def _bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def request_signature(
    *,
    secret_key: str | bytes,
    ts: str | int,
    method: str,
    path_with_query: str | bytes,
    body: bytes | None = None,
) -> str:
    """The ``X-App-Access-Sig`` value of one request (lowercase hex HMAC-SHA256)."""
    message = (
        str(ts).encode("ascii") + method.upper().encode("ascii") + _bytes(path_with_query)
    ) + (body or b"")
    return hmac.new(_bytes(secret_key), message, hashlib.sha256).hexdigest()


def request_signature_valid(
    *,
    secret_key: str | bytes,
    ts: str,
    method: str,
    path_with_query: str | bytes,
    body: bytes | None,
    signature: str,
) -> bool:
    expected = request_signature(
        secret_key=secret_key, ts=ts, method=method, path_with_query=path_with_query, body=body
    )
    return hmac.compare_digest(expected.encode("ascii"), signature.strip().lower().encode())


class UnknownDigestAlgorithm(ValueError):
    """``X-Payload-Digest-Alg`` names no algorithm Sumsub uses (or is missing)."""


def payload_digest(*, secret: str | bytes, body: bytes, alg: str = DEFAULT_DIGEST_ALG) -> str:
    """The ``X-Payload-Digest`` of a webhook body under ``alg``."""
    try:
        constructor = DIGEST_ALGORITHMS[alg]
    except KeyError:
        raise UnknownDigestAlgorithm(f"unknown webhook digest algorithm {alg[:40]!r}") from None
    return hmac.new(_bytes(secret), body, constructor).hexdigest()


def payload_digest_valid(*, secret: str | bytes, body: bytes, alg: str | None, digest: str) -> bool:
    """Whether ``digest`` is the webhook digest of ``body`` (raw bytes as received).

    Raises :class:`UnknownDigestAlgorithm` for a missing or unknown ``alg``; never accepts
    an empty secret or digest.
    """
    if not alg or alg not in DIGEST_ALGORITHMS:
        raise UnknownDigestAlgorithm(f"unknown webhook digest algorithm {(alg or '')[:40]!r}")
    if not secret or not digest:
        return False
    expected = payload_digest(secret=secret, body=body, alg=alg)
    try:
        given = digest.strip().lower().encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected.encode("ascii"), given)
