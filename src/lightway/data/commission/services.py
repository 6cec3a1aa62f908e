"""Writes of commission records (plain SQL: every priced transaction runs this), and how to
read which commission rule the database refused a write for."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

_INSERT_SQL = """
INSERT INTO commission_record
  (entry_id, schedule_id, reference, transaction_kind, party, party_ref, currency, amount,
   created_at)
SELECT %s, %s, %s, %s, p.v->>0, p.v->>1, %s, (p.v->>2)::bigint, %s
FROM jsonb_array_elements(%s::jsonb) AS p(v)
"""


def commission_records_insert(
    *,
    entry_id: int,
    schedule_id: int,
    reference: str,
    kind: str,
    currency: str,
    parties: Sequence[tuple[str, str, int]],
    now: datetime,
) -> None:
    """One row per (party, party_ref, amount); the database checks each against its schedule."""
    with connection.cursor() as cur:
        cur.execute(
            _INSERT_SQL,
            [
                entry_id,
                schedule_id,
                reference,
                kind,
                currency,
                now,
                json.dumps([list(p) for p in parties]),
            ],
        )


@dataclass(frozen=True, slots=True)
class CommissionRefusal:
    """A commission rule the database refused a statement for."""

    constraint: str  # e.g. "commission_rec_schedule_in_effect", "commission_schedule_frozen"
    message: str  # the database's message, naming the schedule and the times involved


def commission_refusal(exc: BaseException) -> CommissionRefusal | None:
    """The commission rule (a constraint or trigger named ``commission_*``) behind a database
    error, or None when the error is about something else."""
    diag = getattr(exc.__cause__, "diag", None) or getattr(exc, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if not isinstance(name, str) or not name.startswith("commission_"):
        return None
    message = getattr(diag, "message_primary", None)
    return CommissionRefusal(name, message if isinstance(message, str) else str(exc))
