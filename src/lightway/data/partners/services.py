"""Writing partner events (see ``models``): record inside the transaction of the change;
sequence after commit."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from django.db import connection, transaction

from lightway.data.partners.models import PartnerEvent

# Key of the advisory lock that serialises sequencer runs ("LWPEVT").
SEQUENCE_LOCK_KEY = 0x4C5750455654
SEQUENCE_BATCH = 5000


def partner_event_record(
    *,
    partner_id: int,
    type: str,
    object_type: str,
    object_id: str,
    data: Mapping[str, object],
    now: datetime,
) -> PartnerEvent:
    """Record one event for ``partner_id`` in the caller's transaction. ``data`` is the
    event's payload as the partner will receive it: nothing personal beyond what the
    partner itself sent, masked where shown."""
    return PartnerEvent.objects.create(
        partner_id=partner_id,
        type=type,
        object_type=object_type,
        object_id=object_id,
        data=dict(data),
        occurred_at=now,
    )


def partner_events_sequence(*, batch: int = SEQUENCE_BATCH) -> int:
    """Give the committed events that have none a ``seq``, oldest id first, continuing
    after the highest ``seq`` given; returns how many. One short transaction under an
    advisory lock, so runs are serialised and numbers follow commit order (the models
    docstring says why the feed needs that). Cheap when there is nothing to do: one probe
    of the partial index ``partners_event_unsequenced``."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEQUENCE_LOCK_KEY])
        cursor.execute(
            """WITH todo AS (
                   SELECT id, row_number() OVER (ORDER BY id) AS n
                     FROM (SELECT id FROM partners_event WHERE seq IS NULL
                            ORDER BY id LIMIT %s) unsequenced
               ), base AS (
                   SELECT COALESCE(max(seq), 0) AS top FROM partners_event
               )
               UPDATE partners_event e SET seq = base.top + todo.n
                 FROM todo, base WHERE e.id = todo.id""",
            [batch],
        )
        return cursor.rowcount or 0
