"""Signatures of the LightWay Finance Settlement API (docs/settlement-api.yaml, "Security").

Requests to the API carry three headers::

    X-LWF-Key-Id      the key id LightWay Finance issued (it names the secret)
    X-LWF-Timestamp   unix time in seconds; refused beyond 300 s either way
    X-LWF-Signature   lower-case hex HMAC-SHA256, keyed with the secret, of
                      TIMESTAMP "\\n" METHOD "\\n" TARGET "\\n" followed by the raw body bytes

TARGET is the request target as sent (percent-encoded path, "?" and the raw query when there
is one). That is the timestamp and the raw body, with the method and target between them
so that a signed GET cannot be replayed against another path.

Callbacks from the API to us carry the same headers, the signature over
TIMESTAMP "." raw body (the webhook convention: the receiver's own path is not signed, so a
proxy in front of it may rewrite paths), keyed with the callback secret.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER_KEY_ID = "X-LWF-Key-Id"
HEADER_TIMESTAMP = "X-LWF-Timestamp"
HEADER_SIGNATURE = "X-LWF-Signature"
MAX_SKEW_SECONDS = 300


def request_signature(*, secret: str, timestamp: str, method: str, target: str, body: bytes) -> str:
    message = f"{timestamp}\n{method.upper()}\n{target}\n".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def callback_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def timestamp_fresh(timestamp: str, now: float) -> bool:
    """A decimal unix time within ``MAX_SKEW_SECONDS`` of ``now``."""
    if not timestamp.isdigit() or len(timestamp) > 12:
        return False
    return abs(now - int(timestamp)) <= MAX_SKEW_SECONDS


def signature_matches(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), (given or "").strip().lower().encode())
