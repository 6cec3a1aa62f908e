"""The one way a remittance changes state: the row (state, version + 1, reason) and its
``remittance.status_changed`` partner event, in the caller's transaction.

The database allows only the transitions of ``data.remittances.models.TRANSITIONS`` and
requires the version to rise by one (migration 0002); this module is where the application
does it, so every change has its event (webhooks and ``GET /events`` are made from them).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lightway.data.partners.services import partner_event_record
from lightway.data.remittances.models import Remittance

logger = logging.getLogger("lightway.remittances")

EVENT_TYPE = "remittance.status_changed"


def remittance_transition(
    remittance: Remittance,
    *,
    state: str,
    now: datetime,
    reason_code: str = "",
    changes: Mapping[str, Any] | None = None,
) -> Remittance:
    """Move a locked ``remittance`` to ``state`` (and set ``changes``); record the event."""
    previous = remittance.state
    remittance.state = state
    remittance.version += 1
    remittance.updated_at = now
    if reason_code:
        remittance.reason_code = reason_code[:64]
    fields = dict(changes or {})
    for name, value in fields.items():
        setattr(remittance, name, value)
    remittance.save(update_fields=["state", "version", "updated_at", "reason_code", *fields])
    partner_event_record(
        partner_id=remittance.partner_id,
        type=EVENT_TYPE,
        object_type="remittance",
        object_id=str(remittance.id),
        data={
            "remittance_id": str(remittance.id),
            "external_id": remittance.external_id,
            "state": state,
            "previous_state": previous,
            "version": remittance.version,
            "occurred_at": now.isoformat(),
            "reason_code": remittance.reason_code or None,
        },
        now=now,
    )
    logger.info(
        "remittance state changed",
        extra={
            "remittance_id": str(remittance.id),
            "partner": remittance.partner_id,
            "state": state,
            "previous_state": previous,
            "version": remittance.version,
            "reason_code": remittance.reason_code,
        },
    )
    return remittance


def remittance_created_event(remittance: Remittance, *, now: datetime) -> None:
    """The event of a new remittance (state CREATED, no previous state)."""
    partner_event_record(
        partner_id=remittance.partner_id,
        type=EVENT_TYPE,
        object_type="remittance",
        object_id=str(remittance.id),
        data={
            "remittance_id": str(remittance.id),
            "external_id": remittance.external_id,
            "state": remittance.state,
            "previous_state": None,
            "version": remittance.version,
            "occurred_at": now.isoformat(),
            "reason_code": None,
        },
        now=now,
    )
