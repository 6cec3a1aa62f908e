"""Reads of the delivery log and of notification preferences."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from lightway.data.notify.models import Delivery, DeliveryStatus, NotificationPreference
from lightway.infrastructure.db import index_order


def deliveries_due(*, now: datetime, limit: int = 500) -> list[int]:
    """Ids of queued deliveries whose next attempt is due, oldest first."""
    return list(
        Delivery.objects.filter(status=DeliveryStatus.QUEUED, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )


def delivery_get(*, delivery_id: int) -> Delivery | None:
    return Delivery.objects.filter(id=delivery_id).first()


def deliveries_query(
    *,
    user_id: int | None = None,
    status: str | None = None,
    channel: str | None = None,
    template: str | None = None,
    recipient_bidx: str | None = None,
    before_id: int | None = None,
) -> QuerySet[Delivery]:
    query = Delivery.objects.all().defer("recipient_ct", "body_ct").order_by("-id")
    if user_id is not None:
        query = query.filter(user_id=user_id)
    if status:
        query = query.filter(status=status)
    if channel:
        query = query.filter(channel=channel)
    if template:
        query = query.filter(template=template)
    if recipient_bidx:
        query = query.filter(recipient_bidx=recipient_bidx)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return query


def deliveries_log_page(
    *, channel: str | None, status: str | None, before_id: int | None, limit: int
) -> list[Delivery]:
    """The staff delivery log's page: ``limit`` deliveries older than ``before_id``, newest
    first. Each filter (status, channel, both) is a range of an index ending with the id
    (``notify_delivery_status_id``, ``_channel_id``, ``_chan_stat_id``; none: the primary
    key), one per month, merged; planned with sorts and bitmap scans as a last resort, so a
    page reads at most ``limit`` matches per month whatever the statistics say."""
    with index_order():
        return list(deliveries_query(channel=channel, status=status, before_id=before_id)[:limit])


def preferences_of(*, user_id: int) -> dict[tuple[str, str], bool]:
    """(channel, category) -> enabled, for the rows the user has set."""
    return {
        (p.channel, p.category): p.enabled
        for p in NotificationPreference.objects.filter(user_id=user_id)
    }


def preference_enabled(*, user_id: int, channel: str, category: str) -> bool | None:
    """The user's explicit choice, or None when they have not made one."""
    return (
        NotificationPreference.objects.filter(user_id=user_id, channel=channel, category=category)
        .values_list("enabled", flat=True)
        .first()
    )


def inbox_rows(*, user_id: int, before_id: int | None, limit: int) -> list[Delivery]:
    """One user's deliveries, newest first, ``limit`` of them before ``before_id`` (keyset,
    through the ``notify_delivery_inbox`` index); never the recipient or the body."""
    query = Delivery.objects.filter(user_id=user_id).defer("recipient_ct", "body_ct")
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return list(query.order_by("-id")[:limit])
