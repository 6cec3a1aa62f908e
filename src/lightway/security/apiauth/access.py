"""Short-lived signed tokens: API access tokens and login / step-up challenge ids.

Format: ``<prefix>.<payload>.<signature>`` where ``payload`` is base64url (no padding) of a
compact JSON object and ``signature`` is base64url of HMAC-SHA256 over ``<prefix>.<payload>``
with a key derived per token type (``typ``) from ``LIGHTWAY_ACCESS_TOKEN_KEY`` (base64, at
least 32 bytes) or, when that is unset, from ``SECRET_KEY``. A token of one type never
verifies as another.

Access token claims: ``sub`` (user id), ``dev`` (device id), ``fam`` (session family),
``exp`` (unix seconds), ``jti`` (random id). They are self-contained for the signature and
expiry, and an expiry further ahead than the configured lifetime (plus a small clock skew)
is refused, so even a correctly signed token cannot be made to last longer.
``access_principal`` adds one primary-key query per request (the device is not
revoked, the family is still the device's live session, the user is active and not staff:
``policy.BEARER_PRINCIPAL_SQL``), so logout,
device revocation and refresh-token theft detection take effect immediately rather than
when the token expires.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection

from lightway.security.crypto import blind_index
from lightway.security.policy import BEARER_PRINCIPAL_SQL

ACCESS_PREFIX = "lwa1"
CHALLENGE_PREFIX = "lwc1"
MAX_TOKEN_LENGTH = 1024
# Web servers' clocks may differ this much: a token issued by one is checked by another.
TOKEN_CLOCK_SKEW_SECONDS = 30


class TokenInvalid(Exception):
    """A signed token is malformed, forged, of another type or expired."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ApiPrincipal:
    """Who an API request is from. ``kind`` is ``"session"`` (a mobile access token) or
    ``"api_token"`` (a legacy server-to-server bearer token)."""

    user_id: int
    kind: str
    device_id: uuid.UUID | None = None
    family: uuid.UUID | None = None
    # The user's realm, read by the authenticating query: customers' roles follow from it
    # without another query on every request ("" when unknown).
    realm: str = ""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _master_key() -> bytes:
    raw = str(getattr(settings, "LIGHTWAY_ACCESS_TOKEN_KEY", ""))
    if raw:
        try:
            key = base64.b64decode(raw, validate=True)
        except (ValueError, binascii.Error):
            raise ValueError("LIGHTWAY_ACCESS_TOKEN_KEY is not valid base64") from None
        if len(key) < 32:
            raise ValueError("LIGHTWAY_ACCESS_TOKEN_KEY must be at least 32 bytes")
        return key
    return hmac.new(
        str(settings.SECRET_KEY).encode(), b"lightway.apiauth.access-token-key.v1", "sha256"
    ).digest()


def _key(typ: str) -> bytes:
    return hmac.new(_master_key(), f"typ\x00{typ}".encode(), hashlib.sha256).digest()


def signed_dumps(*, prefix: str, typ: str, claims: dict[str, Any]) -> str:
    body = json.dumps({"typ": typ, **claims}, separators=(",", ":"), sort_keys=True)
    head = f"{prefix}.{_b64(body.encode())}"
    return f"{head}.{_b64(hmac.new(_key(typ), head.encode(), hashlib.sha256).digest())}"


def signed_loads(raw: str, *, prefix: str, typ: str, now: datetime) -> dict[str, Any]:
    """The claims of a valid, unexpired token of this type; else :class:`TokenInvalid`."""
    parts = raw.split(".") if len(raw) <= MAX_TOKEN_LENGTH else []
    if len(parts) != 3 or parts[0] != prefix:
        raise TokenInvalid("unauthenticated", "the token is not valid")
    head = f"{parts[0]}.{parts[1]}"
    try:
        expected = hmac.new(_key(typ), head.encode(), hashlib.sha256).digest()
        ok = hmac.compare_digest(expected, _unb64(parts[2]))
        claims = json.loads(_unb64(parts[1])) if ok else None
    except (ValueError, binascii.Error):
        ok, claims = False, None
    if not ok or not isinstance(claims, dict) or claims.get("typ") != typ:
        raise TokenInvalid("unauthenticated", "the token is not valid")
    exp = claims.get("exp")
    if not isinstance(exp, int) or now.timestamp() >= exp:
        raise TokenInvalid("token_expired", "the token has expired")
    # The server bounds a token's life by its own configuration, whatever the signed expiry
    # says: a token signed (by a leaked or default key) to last longer is not a token we made.
    if exp > now.timestamp() + max_lifetime_seconds(typ) + TOKEN_CLOCK_SKEW_SECONDS:
        raise TokenInvalid("unauthenticated", "the token is not valid")
    return claims


def max_lifetime_seconds(typ: str) -> int:
    """The longest a token of this type is issued for: access tokens
    ``LIGHTWAY_ACCESS_TOKEN_SECONDS``; login and step-up challenges live as long as their
    SMS code (``LIGHTWAY_OTP_TTL_SECONDS``)."""
    if typ == "access":
        return access_token_seconds()
    return int(getattr(settings, "LIGHTWAY_OTP_TTL_SECONDS", 300))


def access_token_seconds() -> int:
    return int(getattr(settings, "LIGHTWAY_ACCESS_TOKEN_SECONDS", 300))


def access_token_issue(
    *, user_id: int, device_id: uuid.UUID, family: uuid.UUID, now: datetime
) -> tuple[str, int]:
    """A new access token and its expiry (unix seconds)."""
    exp = int(now.timestamp()) + access_token_seconds()
    token = signed_dumps(
        prefix=ACCESS_PREFIX,
        typ="access",
        claims={
            "sub": user_id,
            "dev": str(device_id),
            "fam": str(family),
            "exp": exp,
            "jti": secrets.token_hex(8),
        },
    )
    return token, exp


def is_access_token(raw: str) -> bool:
    return raw.startswith(ACCESS_PREFIX + ".")


_LIVE_SESSION_SQL = f"""
SELECT coalesce(p.realm, '') FROM apiauth_device d JOIN auth_user u ON u.id = d.user_id
LEFT JOIN identity_profile p ON p.user_id = u.id
WHERE d.id = %s AND d.user_id = %s AND d.session_family = %s
  AND d.revoked_at IS NULL AND u.is_active AND {BEARER_PRINCIPAL_SQL}
"""


def access_principal(*, raw: str, now: datetime) -> ApiPrincipal:
    """Verify an access token and that its session is still live (one indexed query)."""
    try:
        claims = signed_loads(raw, prefix=ACCESS_PREFIX, typ="access", now=now)
    except TokenInvalid as exc:
        if exc.code != "token_expired":
            raise
        raise TokenInvalid(
            "token_expired", "the access token has expired; get a new one from /auth/refresh"
        ) from None
    try:
        user_id = int(claims["sub"])
        device_id = uuid.UUID(str(claims["dev"]))
        family = uuid.UUID(str(claims["fam"]))
    except (KeyError, TypeError, ValueError):
        raise TokenInvalid("unauthenticated", "the token is not valid") from None
    with connection.cursor() as cur:
        cur.execute(_LIVE_SESSION_SQL, [device_id, user_id, family])
        row = cur.fetchone()
    if row is None:
        raise TokenInvalid("session_revoked", "this session has ended; sign in again")
    return ApiPrincipal(
        user_id=user_id, kind="session", device_id=device_id, family=family, realm=str(row[0])
    )


REFRESH_PREFIX = "lwr_"


def refresh_token_new() -> tuple[str, str]:
    """A new refresh token in clear (shown once, to the app) and its stored digest."""
    raw = REFRESH_PREFIX + secrets.token_urlsafe(32)
    return raw, refresh_token_digest(raw)


def refresh_token_digest(raw: str) -> str:
    # 256 random bits: a plain SHA-256 cannot be reversed or guessed.
    return hashlib.sha256(raw.encode()).hexdigest()


def device_id_digest(device_id: str) -> str:
    """Keyed hash of the app-generated device id (it is a stable identifier of a phone)."""
    return blind_index("device_id", device_id)
