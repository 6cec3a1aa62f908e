"""The partner event outbox.

Every change a partner can see (a remittance's status, a top-up credited) is written as one
``PartnerEvent`` row in the same database transaction as the change itself, so an event
exists exactly when its change committed. Webhook deliveries are made from these rows, and
``GET /api/v1/partner/events`` serves them to a partner catching up on anything a webhook
did not bring.

The feed's keyset is ``seq``, not ``id``. Ids are allocated when a row is inserted, not when
it commits: a reader paging by id could see event 11 while 10 is still uncommitted, move
its cursor past 10 and never see it. ``seq`` is given after commit, in commit order, by
``partner_events_sequence`` (one run at a time under an advisory lock; a row committed after
a run is numbered by a later run, so it gets a higher ``seq``). A reader therefore never
skips an event: everything with a ``seq`` at or below the one it last saw is already there.

Rows are append-only (trigger in migration 0001): an event is a fact about the past; only
``seq`` is written once, from NULL.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from lightway.data.identity.models import Partner


class PartnerEvent(models.Model):
    # What the partner sees (and dedupes webhook deliveries by).
    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+")
    type = models.CharField(max_length=64)  # "remittance.status_changed", ...
    object_type = models.CharField(max_length=32)  # "remittance", "topup", ...
    object_id = models.CharField(max_length=64)
    data = models.JSONField()
    occurred_at = models.DateTimeField()
    # The feed's position, given after commit in commit order (see the module docstring).
    seq = models.BigIntegerField(null=True, blank=True, unique=True)

    class Meta:
        db_table = "partners_event"
        indexes = [
            models.Index(fields=["partner", "seq"], name="partners_event_feed"),
            models.Index(
                fields=["id"], name="partners_event_unsequenced", condition=Q(seq__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.object_type}:{self.object_id}"
