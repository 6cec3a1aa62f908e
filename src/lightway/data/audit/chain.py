"""Canonical form and hash of an audit record: the one definition of the hash chain.

Anyone holding an export of ``audit_record`` can re-check the chain with this description
alone (it is what :func:`record_hash` implements, and ``tests/test_audit.py`` pins the worked
example below).

Hash of a linked record::

    hash = lowercase hex SHA-256( prev_hash_ascii || canonical_json_utf8 )

- ``prev_hash_ascii``: the previous record's ``hash`` as its 64 lowercase hex characters in
  ASCII. The record with ``seq = 1`` has ``prev_hash = GENESIS_HASH`` (64 ``"0"``). Since
  the prefix always has 64 bytes, the concatenation is unambiguous.
- ``canonical_json_utf8``: the record as one JSON object with exactly these eight keys:
  ``action``, ``actor``, ``data``, ``id``, ``object_id``, ``object_type``,
  ``occurred_at``, ``seq``. Covering ``id`` and ``seq`` pins every record to its row and
  its place in the chain.

Canonical JSON (what ``json.dumps(obj, sort_keys=True, separators=(",", ":"),
ensure_ascii=False, allow_nan=False)`` produces, then UTF-8):

- object keys sorted by Unicode code point, at every nesting level;
- no whitespace at all: separators are ``,`` and ``:``;
- strings: non-ASCII characters written as themselves and encoded UTF-8 (never ``\\uXXXX``);
  only ``"`` → ``\\"``, ``\\`` → ``\\\\``, and control characters below U+0020 are escaped
  (``\\n``, ``\\r``, ``\\t``, ``\\b``, ``\\f``, other ones as ``\\u00XX`` with lowercase hex);
- integers in plain decimal digits (``id``, ``seq`` and any integer inside ``data``);
  floats never occur (:func:`normalize_data` refuses them when a record is written);
- ``true``, ``false``, ``null`` as usual; arrays keep their order;
- ``occurred_at``: a string in UTC, ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always six fractional
  digits, always ``Z``), e.g. ``"2026-11-24T09:00:00.000000Z"``.
- ``data`` is the JSON object as stored in the database. When a record is written,
  :func:`normalize_data` turns aware datetimes into the same UTC string form, dates into
  ``YYYY-MM-DD``, ``Decimal`` and ``UUID`` into strings and tuples into arrays. Anything else
  that is not str/int/bool/None/list/dict (floats, naive datetimes, bytes, ...) is refused.

Worked example::

    id=1, seq=1, prev_hash=GENESIS_HASH, occurred_at=2026-11-24 09:00 UTC,
    actor="user:12", action="transfer.create", object_type="transfer", object_id="42",
    data={"amount": 5000, "currency": "UGX", "note": "école"}

    canonical JSON:
    {"action":"transfer.create","actor":"user:12","data":{"amount":5000,"currency":"UGX",
    "note":"école"},"id":1,"object_id":"42","object_type":"transfer",
    "occurred_at":"2026-11-24T09:00:00.000000Z","seq":1}
    (one line, no breaks)

    hash = 9959d4b3fd792ac0a250ded5f18f78cdff414fa8b39df98ff90d7e6c9fccad23
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

GENESIS_HASH = "0" * 64

# Columns (in this order) that the linker and the verifier read to rebuild a record's
# content. Both read them the same way (through the ORM), so both hash the same values.
CONTENT_FIELDS = ("id", "occurred_at", "actor", "action", "object_type", "object_id", "data")

# Largest canonical ``data`` accepted (bytes). The audit trail holds references, not documents.
MAX_DATA_BYTES = 16 * 1024


@dataclass(frozen=True)
class RecordContent:
    """What a record's hash covers besides ``prev_hash`` and ``seq``."""

    id: int
    occurred_at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    data: object


def iso_utc(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC; refuses naive datetimes."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("audit datetimes must be timezone-aware")
    u = value.astimezone(UTC)
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T"
        f"{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond:06d}Z"
    )


def canonical_json(value: object) -> bytes:
    """Sorted keys, no whitespace, UTF-8, no NaN/Infinity (see the module docstring)."""
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def record_hash(*, prev_hash: str, seq: int, content: RecordContent) -> str:
    """The hash of a record placed at ``seq`` after a record whose hash is ``prev_hash``."""
    body = canonical_json(
        {
            "action": content.action,
            "actor": content.actor,
            "data": content.data,
            "id": content.id,
            "object_id": content.object_id,
            "object_type": content.object_type,
            "occurred_at": iso_utc(content.occurred_at),
            "seq": seq,
        }
    )
    return hashlib.sha256(prev_hash.encode("utf-8") + body).hexdigest()


def _check_text(value: str, where: str) -> str:
    if "\x00" in value:
        raise ValueError(f"audit data {where}: NUL characters are not allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"audit data {where}: not valid Unicode text") from exc
    return value


def _normalize(value: object, where: str) -> object:
    # bool before int: bool is a subclass of int and stays a JSON boolean.
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return _check_text(value, where)
    if isinstance(value, float):
        raise TypeError(
            f"audit data {where}: floats are not allowed (use integer minor units or a "
            "Decimal, which is stored as a string)"
        )
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"audit data {where}: Decimal must be finite")
        return str(value)
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_normalize(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        out: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"audit data {where}: keys must be strings, got {key!r}")
            out[_check_text(key, where)] = _normalize(item, f"{where}.{key}")
        return out
    raise TypeError(f"audit data {where}: {type(value).__name__} is not allowed")


def normalize_data(data: Mapping[str, object]) -> dict[str, object]:
    """Return ``data`` in the JSON subset the chain hashes unambiguously (see docstring)."""
    normalized = _normalize(data, "data")
    assert isinstance(normalized, dict)
    size = len(canonical_json(normalized))
    if size > MAX_DATA_BYTES:
        raise ValueError(f"audit data is {size} bytes; the limit is {MAX_DATA_BYTES}")
    return normalized
