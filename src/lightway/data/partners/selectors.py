"""Reading partner events: the catch-up feed, by keyset on ``seq``."""

from __future__ import annotations

from lightway.data.partners.models import PartnerEvent

MAX_PAGE = 500


def partner_events_after(*, partner_id: int, after: int, limit: int) -> list[PartnerEvent]:
    """The partner's sequenced events with ``seq > after``, in ``seq`` order, at most
    ``limit`` (1..500): one range read of ``partners_event_feed`` whatever the table's
    size. Call ``partner_events_sequence`` first to include what committed just now."""
    limit = max(1, min(limit, MAX_PAGE))
    return list(
        PartnerEvent.objects.filter(partner_id=partner_id, seq__gt=after).order_by("seq")[:limit]
    )


def partner_event_by_id(*, partner_id: int, event_id: str) -> PartnerEvent | None:
    return PartnerEvent.objects.filter(partner_id=partner_id, event_id=event_id).first()


def partner_events_of_object(*, object_type: str, object_id: str, limit: int) -> list[PartnerEvent]:
    """One object's events in the order they were recorded (index ``partners_event_object``):
    a remittance's state timeline on the staff page."""
    return list(
        PartnerEvent.objects.filter(object_type=object_type, object_id=object_id).order_by("id")[
            :limit
        ]
    )
