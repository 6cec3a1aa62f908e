"""Writes of commission records (plain SQL: every priced transaction runs this)."""

from __future__ import annotations

import json
from collections.abc import Sequence
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
