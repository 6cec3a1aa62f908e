"""The audit-log viewer for compliance officers (/staff/audit/): pages, one record, the
chain status and the CSV export of a filtered selection.

- Records are shown newest first in keyset pages (``data/audit/browse.py``); a record's
  ``data`` is shown through :func:`masked_data`, which masks anything that looks like
  personal data with ``lightway.security.masking`` (the trail should carry references
  only; this is the safety net for older or careless records).
- :func:`chain_status` is cheap (two index reads): the chain head, the last signed
  checkpoint and whether its signature verifies and its hash is still the chain's.
  The full walk is ``lightway audit verify --checkpoints`` (too slow for a page).
- :func:`audit_export_csv` streams at most :data:`EXPORT_MAX` records, masked, and is
  audited twice: before the first byte (``audit.export`` with the filters) and when the
  stream ends (``data_access.export`` with the rows and the SHA-256 of what was sent).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from lightway.application.audit.access import audited_export
from lightway.data.audit.browse import AuditFilter, audit_stream
from lightway.data.audit.chain import iso_utc
from lightway.data.audit.models import AuditRecord
from lightway.data.audit.selectors import audit_chain_head, audit_checkpoint_last
from lightway.data.audit.services import audit_record
from lightway.security.audit_signing import AuditKeyError, checkpoint_signature_problem, verify_keys
from lightway.security.masking import mask_email, mask_id_number, mask_name, mask_phone

EXPORT_MAX = 100_000
CSV_HEADER = (
    "id",
    "seq",
    "occurred_at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "data",
    "hash",
)

_PHONE_RE = re.compile(r"\+\d{9,15}")  # E.164; bare digits are often ids (MoMo)
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
_KEY_MASKERS: tuple[tuple[tuple[str, ...], Callable[[str | None], str]], ...] = (
    (("phone", "msisdn", "mobile"), mask_phone),
    (("email",), mask_email),
    (("id_number", "national_id", "passport"), mask_id_number),
    (("full_name", "first_name", "last_name", "beneficiary_name", "payer_name"), mask_name),
)


def _mask_value(key: str, value: object) -> object:
    if isinstance(value, dict):
        return {k: _mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_value(key, v) for v in value]
    if not isinstance(value, str):
        return value
    lowered = key.lower()
    for names, masker in _KEY_MASKERS:
        if any(name in lowered for name in names) or lowered == "name":
            return masker(value) if lowered != "name" else mask_name(value)
    if _PHONE_RE.fullmatch(value):
        return mask_phone(value)
    if _EMAIL_RE.fullmatch(value):
        return mask_email(value)
    return value


def masked_data(data: object) -> object:
    """``data`` with every value that is or looks like personal data masked."""
    return _mask_value("", data)


def masked_json(data: object) -> str:
    return json.dumps(masked_data(data), ensure_ascii=False, sort_keys=True, indent=2)


@dataclass(frozen=True)
class ChainStatus:
    head_seq: int
    head_hash: str | None
    checkpoint_seq: int | None
    checkpoint_at: str | None
    checkpoint_key_id: str | None
    verified: bool | None  # None: no signed checkpoint yet
    problem: str | None


def chain_status() -> ChainStatus:
    """The chain head and the last signed checkpoint, with its signature and hash checked."""
    head_seq, head_hash = audit_chain_head()
    last = audit_checkpoint_last()
    if last is None:
        return ChainStatus(head_seq, head_hash, None, None, None, None, None)
    try:
        problem = checkpoint_signature_problem(
            seq=int(last.seq),
            hash=last.hash,
            linked_at=last.linked_at,
            key_id=last.key_id,
            signature=last.signature,
            keys=verify_keys(),
        )
    except AuditKeyError as exc:
        problem = str(exc)
    if problem is None:
        stored = AuditRecord.objects.filter(seq=last.seq).values_list("hash", flat=True).first()
        if stored != last.hash:
            problem = f"the chain no longer has this checkpoint's hash at seq {last.seq}"
    return ChainStatus(
        head_seq=head_seq,
        head_hash=head_hash,
        checkpoint_seq=int(last.seq),
        checkpoint_at=last.linked_at,
        checkpoint_key_id=last.key_id,
        verified=problem is None,
        problem=problem,
    )


def _csv_line(values: list[object]) -> str:
    out = io.StringIO()
    # Cells starting with = + - @ would be formulas in a spreadsheet: prefix them.
    safe = [f"'{v}" if isinstance(v, str) and v[:1] in "=+-@\t\r" else v for v in values]
    csv.writer(out).writerow(safe)
    return out.getvalue()


def _lines(filters: AuditFilter, max_rows: int) -> Iterator[str]:
    yield _csv_line(list(CSV_HEADER))
    for r in audit_stream(filters, max_rows=max_rows):
        yield _csv_line(
            [
                r.pk,
                r.seq if r.seq is not None else "",
                iso_utc(r.occurred_at),
                r.actor,
                r.action,
                r.object_type,
                r.object_id,
                json.dumps(masked_data(r.data), ensure_ascii=False, sort_keys=True),
                r.hash or "",
            ]
        )


def audit_export_csv(
    *,
    filters: AuditFilter,
    actor: str,
    now: datetime,
    clock: Callable[[], datetime],
    max_rows: int | None = None,
) -> Iterator[str]:
    """The filtered selection as CSV lines (newest first, masked, at most ``max_rows``).

    Audited before the first line (``audit.export``: the filters and the bound) and when
    the stream ends (``data_access.export``: rows sent and their SHA-256). ``max_rows``
    defaults to :data:`EXPORT_MAX`."""
    max_rows = EXPORT_MAX if max_rows is None else max_rows
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="audit.export",
            object_type="audit.record",
            object_id="",
            data={"filters": filters.as_dict(), "max_rows": max_rows},
            now=now,
        )
    return audited_export(
        _lines(filters, max_rows),
        actor=actor,
        what="audit.csv",
        clock=clock,
        details={"filters": filters.as_dict()},
    )
