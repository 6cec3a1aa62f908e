"""Signatures of the webhooks LightWay sends to partners (docs/partner-webhooks.md).

Every delivery is a POST whose body is the event as JSON (bytes exactly as sent). It is
signed with each live webhook key of the partner (two during a rotation's overlap, else
one)::

    signed string   "<X-LW-Timestamp>.<raw body>"      (the timestamp's ASCII digits, a
                                                        full stop, then the body bytes)
    signature       lower-case hex HMAC-SHA256 of the signed string, keyed with the
                    secret's UTF-8 bytes

Headers::

    X-LW-Key-Id: whk_...[,whk_...]          the keys, newest first
    X-LW-Timestamp: 1795510800               unix seconds when this attempt was sent
    X-LW-Signature: v1=<hex>[,v1=<hex>]      one per key, in the same order
    X-LW-Event-Id: <uuid>                     the same on every delivery of the event
    X-LW-Delivery-Id: <uuid>                  one per delivery (retries keep it)

A receiver accepts the request when any ``v1=`` signature equals its own computation with
a secret it holds, and the timestamp is within its tolerance (5 minutes is usual) of its
clock: the timestamp is signed, so an old request cannot be replayed with a fresh one.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

SCHEME = "v1"
HEADER_KEY_ID = "X-LW-Key-Id"
HEADER_TIMESTAMP = "X-LW-Timestamp"
HEADER_SIGNATURE = "X-LW-Signature"
HEADER_EVENT_ID = "X-LW-Event-Id"
HEADER_DELIVERY_ID = "X-LW-Delivery-Id"


def webhook_secret_context(key_id: str) -> str:
    """The associated data a webhook secret is sealed with."""
    return f"partners.webhook_key.secret:{key_id}"


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` keyed with ``secret``."""
    signed = str(int(timestamp)).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def webhook_headers(
    *,
    keys: Sequence[tuple[str, str]],
    timestamp: int,
    body: bytes,
    event_id: str,
    delivery_id: str,
) -> dict[str, str]:
    """The headers of one attempt, signed with every ``(key_id, secret)`` (newest first)."""
    if not keys:
        raise ValueError("a webhook is always signed: the partner has no live key")
    return {
        "Content-Type": "application/json",
        HEADER_KEY_ID: ",".join(key_id for key_id, _ in keys),
        HEADER_TIMESTAMP: str(int(timestamp)),
        HEADER_SIGNATURE: ",".join(
            f"{SCHEME}={webhook_signature(secret=secret, timestamp=timestamp, body=body)}"
            for _, secret in keys
        ),
        HEADER_EVENT_ID: event_id,
        HEADER_DELIVERY_ID: delivery_id,
    }
