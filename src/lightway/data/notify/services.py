"""Writes to the delivery log: create, claim for sending, record the outcome.

A worker *claims* a delivery (``queued`` and due → ``sending``, one attempt counted) in a
short transaction of its own that commits before the provider is called, so no row lock
is held during network I/O and a second worker skips it. The outcome is recorded only if
the row is still in the claim it made (same status and attempt number): a delivery that a
sweep took back from a dead worker and another worker claimed again is not overwritten.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction
from django.db.models import QuerySet

from lightway.data.notify.models import Delivery, DeliveryStatus, NotificationPreference


def delivery_next_id() -> int:
    """Reserve the id of the next delivery (ciphertexts are bound to it before insert)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('notify_delivery', 'id'))")
        return int(cursor.fetchone()[0])


def delivery_create(
    *,
    id: int,
    channel: str,
    template: str,
    category: str,
    language: str,
    user_id: int | None,
    recipient_ct: bytes,
    recipient_bidx: str,
    recipient_masked: str,
    body_ct: bytes,
    subject: str,
    now: datetime,
    inbox_ct: bytes | None = None,
) -> Delivery:
    delivery = Delivery(
        id=id,
        channel=channel,
        template=template,
        category=category,
        language=language,
        user_id=user_id,
        recipient_ct=recipient_ct,
        recipient_bidx=recipient_bidx,
        recipient_masked=recipient_masked,
        body_ct=body_ct,
        inbox_ct=inbox_ct,
        subject=subject,
        status=DeliveryStatus.QUEUED,
        next_attempt_at=now,
        created_at=now,
    )
    delivery.save(force_insert=True)
    return delivery


def delivery_claim(*, delivery_id: int, now: datetime) -> Delivery | None:
    """Move a due ``queued`` delivery to ``sending`` and count the attempt; None when it is
    not queued, not due yet, or another worker holds it."""
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(id=delivery_id, status=DeliveryStatus.QUEUED, next_attempt_at__lte=now)
            .first()
        )
        if delivery is None:
            return None
        delivery.status = DeliveryStatus.SENDING
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.save(update_fields=["status", "attempts", "last_attempt_at"])
        return delivery


def _claimed(delivery: Delivery) -> QuerySet[Delivery]:
    return Delivery.objects.filter(
        id=delivery.pk, status=DeliveryStatus.SENDING, attempts=delivery.attempts
    )


def delivery_mark_sent(*, delivery: Delivery, provider_id: str, now: datetime) -> bool:
    return bool(
        _claimed(delivery).update(
            status=DeliveryStatus.SENT,
            provider_id=provider_id[:255],
            sent_at=now,
            next_attempt_at=None,
            last_error="",
            body_ct=None,
        )
    )


def delivery_mark_retry(*, delivery: Delivery, next_attempt_at: datetime, error: str) -> bool:
    return bool(
        _claimed(delivery).update(
            status=DeliveryStatus.QUEUED, next_attempt_at=next_attempt_at, last_error=error[:300]
        )
    )


def delivery_mark_final(*, delivery: Delivery, status: str, error: str) -> bool:
    """``failed`` or ``dead``: no more attempts; the body is erased."""
    if status not in (DeliveryStatus.FAILED, DeliveryStatus.DEAD):
        raise ValueError(f"{status!r} is not a final failure status")
    return bool(
        _claimed(delivery).update(
            status=status, next_attempt_at=None, last_error=error[:300], body_ct=None
        )
    )


def deliveries_release_stalled(*, before: datetime, now: datetime, max_attempts: int) -> int:
    """Deliveries left ``sending`` since before ``before`` (their worker died mid-send):
    back to ``queued`` and due now, or ``dead`` when their attempts ran out."""
    stalled = Delivery.objects.filter(status=DeliveryStatus.SENDING, last_attempt_at__lt=before)
    error = "interrupted while sending (worker stopped)"
    dead = stalled.filter(attempts__gte=max_attempts).update(
        status=DeliveryStatus.DEAD, next_attempt_at=None, last_error=error, body_ct=None
    )
    queued = stalled.filter(attempts__lt=max_attempts).update(
        status=DeliveryStatus.QUEUED, next_attempt_at=now, last_error=error
    )
    return int(dead) + int(queued)


def preference_set(
    *, user_id: int, channel: str, category: str, enabled: bool, now: datetime
) -> NotificationPreference:
    preference, _created = NotificationPreference.objects.update_or_create(
        user_id=user_id,
        channel=channel,
        category=category,
        defaults={"enabled": enabled, "updated_at": now},
    )
    return preference
