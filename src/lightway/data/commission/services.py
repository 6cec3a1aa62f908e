"""Writes of commission records (plain SQL: every priced transaction runs this)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import connection

_INSERT_SQL = """
INSERT INTO commission_record
  (entry_id, schedule_id, reference, transaction_kind, party, party_ref, currency, amount,
   created_at)
SELECT %s, %s, %s, %s, p.party, p.party_ref, %s, p.amount, %s
FROM unnest(%s::text[], %s::text[], %s::bigint[]) AS p(party, party_ref, amount)
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
                [p[0] for p in parties],
                [p[1] for p in parties],
                [p[2] for p in parties],
            ],
        )
