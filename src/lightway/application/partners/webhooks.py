"""Partner webhooks: every ``PartnerEvent`` POSTed, signed, to the partner's URL, retried
with backoff for days, logged attempt by attempt, redeliverable by staff
(docs/partner-webhooks.md).

**Dispatch.** A dispatcher, not a job per event: the periodic ``partner_events_pump`` task
(every 2 s) numbers the committed events (``partner_events_sequence``) and then turns each
partner's events after its ``WebhookCursor`` into ``WebhookDelivery`` rows, in ``seq``
order, one transaction per partner, enqueueing a ``partner_webhook_deliver`` job for each
in that same transaction. Why: the code that records events (remittances, top-ups, in
other lanes) stays one INSERT on its hot path, and the dispatcher reads by ``seq``, so,
exactly like the catch-up feed, it never skips an event that committed late (events are
numbered in commit order). A delivery is unique per event (``partners_delivery_one_dispatch``),
so a dispatcher run that dies half-way and runs again makes no duplicate.

**Delivery.** ``partner_webhook_deliver`` claims a due delivery (``pending`` → ``sending``,
attempt counted), POSTs the event outside any transaction through the ``WebhookSender``
port, and records the attempt (``WebhookAttempt``) with the outcome: a 2xx within
``LIGHTWAY_WEBHOOK_TIMEOUT_SECONDS`` (5) is delivered; anything else is retried after
``webhook_retry_delay`` until ``LIGHTWAY_WEBHOOK_MAX_ATTEMPTS`` (25), then dead. The sweep
``partner_webhooks_retry_due`` (every 10 s) queues due retries and takes back deliveries
left ``sending`` by a worker that died. Delivery is at least once: a receiver dedupes by
``X-LW-Event-Id``. Order is not guaranteed: events carry ``occurred_at`` (and remittance
events a ``version``).

**Keys.** Signed with every live key of the partner (``security/webhook_signatures.py``):
one normally, the new and the old during a rotation's overlap.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q

from lightway.application.datakeys.rotation import EncryptedColumn, encrypted_column_register
from lightway.application.errors import Conflict, NotFound, ValidationFailed
from lightway.application.reasons import reason_clean
from lightway.data.audit.services import audit_record
from lightway.data.identity.models import Partner, PartnerStatus
from lightway.data.partners.models import (
    OPEN_DELIVERY,
    DeliveryStatus,
    DeliveryTrigger,
    PartnerEvent,
    WebhookAttempt,
    WebhookCursor,
    WebhookDelivery,
    WebhookKey,
)
from lightway.data.partners.services import partner_events_sequence
from lightway.infrastructure.jobs import job_enqueue
from lightway.integration.webhooks.client import HttpWebhookSender
from lightway.integration.webhooks.port import WebhookSender, WebhookSendError
from lightway.security.crypto import decrypt, encrypt
from lightway.security.webhook_signatures import webhook_headers, webhook_secret_context

logger = logging.getLogger(__name__)

DELIVER_TASK = "partner_webhook_deliver"
KEY_PREFIX = "whk_"
SECRET_PREFIX = "whsec_"
MAX_OVERLAP_SECONDS = 30 * 86400
DISPATCH_BATCH = 500

encrypted_column_register(
    EncryptedColumn(
        "partners.WebhookKey", "secret_ct", lambda row: webhook_secret_context(row.key_id)
    )
)


# --- settings ------------------------------------------------------------------------------


def _max_attempts() -> int:
    return max(int(settings.LIGHTWAY_WEBHOOK_MAX_ATTEMPTS), 1)


def webhook_retry_delay(attempts: int, *, jitter: float | None = None) -> timedelta:
    """The wait after ``attempts`` failed attempts: ``min(base * 2^(attempts-1), max)``
    seconds plus a jitter of 0-10% (``jitter`` in [0, 1] picks it; random by default), so
    the retries of many deliveries that failed together spread out."""
    base = max(int(settings.LIGHTWAY_WEBHOOK_RETRY_BASE_SECONDS), 1)
    cap = max(int(settings.LIGHTWAY_WEBHOOK_RETRY_MAX_SECONDS), base)
    delay = min(cap, base * 2 ** min(max(attempts - 1, 0), 40))
    share = random.random() if jitter is None else min(max(jitter, 0.0), 1.0)
    return timedelta(seconds=delay * (1 + 0.1 * share))


def webhook_retry_schedule() -> list[timedelta]:
    """When each attempt happens after the event, without jitter (docs, tests)."""
    out, at = [timedelta(0)], timedelta(0)
    for n in range(1, _max_attempts()):
        at += webhook_retry_delay(n, jitter=0)
        out.append(at)
    return out


@cache
def _sender(timeout: float) -> HttpWebhookSender:
    return HttpWebhookSender(timeout_seconds=timeout)


def webhook_sender() -> WebhookSender:
    """The process's sender (connection pool shared by the deliveries of its worker)."""
    return _sender(float(settings.LIGHTWAY_WEBHOOK_TIMEOUT_SECONDS))


# --- keys ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookKeyView:
    key_id: str
    created_at: datetime
    expires_at: datetime | None

    def live(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


def webhook_key_create(*, partner_id: int, actor: str, now: datetime) -> tuple[str, str]:
    """A new signing key for the partner, in the caller's transaction: ``(key_id, secret)``.
    The secret is sealed at rest; show it to the partner now."""
    key_id = KEY_PREFIX + secrets.token_hex(12)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    WebhookKey.objects.create(
        partner_id=partner_id,
        key_id=key_id,
        secret_ct=encrypt(secret, context=webhook_secret_context(key_id)),
        created_at=now,
        created_by=actor[:40],
    )
    audit_record(
        actor=actor,
        action="partner_webhook.key_create",
        object_type="partners.webhook_key",
        object_id=key_id,
        data={"partner_id": partner_id},
        now=now,
    )
    return key_id, secret


def _live(partner_id: int, now: datetime) -> Q:
    return Q(partner_id=partner_id) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def webhook_keys_live(*, partner_id: int, now: datetime) -> list[WebhookKeyView]:
    """The keys that sign the partner's webhooks now, newest first."""
    return [
        WebhookKeyView(k.key_id, k.created_at, k.expires_at)
        for k in WebhookKey.objects.filter(_live(partner_id, now)).order_by("-created_at", "-id")
    ]


def partner_webhook_keys(*, partner_id: int) -> list[WebhookKeyView]:
    """Every signing key the partner ever had, newest first (never the secrets)."""
    return [
        WebhookKeyView(k.key_id, k.created_at, k.expires_at)
        for k in WebhookKey.objects.filter(partner_id=partner_id).order_by("-created_at", "-id")
    ]


def partner_webhook_secret_rotate(
    *, partner_id: int, overlap_seconds: int | None = None, actor: str, now: datetime
) -> tuple[str, str]:
    """A new webhook secret: ``(key_id, secret)``, shown once. The keys live until now keep
    signing (beside the new one) for ``overlap_seconds`` (0 to 30 days; default
    ``LIGHTWAY_WEBHOOK_KEY_OVERLAP_SECONDS``), so the partner can switch without losing a
    delivery; then they expire. Audited."""
    if overlap_seconds is None:
        overlap_seconds = int(settings.LIGHTWAY_WEBHOOK_KEY_OVERLAP_SECONDS)
    if not 0 <= overlap_seconds <= MAX_OVERLAP_SECONDS:
        raise ValidationFailed(
            f"the overlap must be 0 to {MAX_OVERLAP_SECONDS} seconds (30 days)",
            details={"field": "overlap_seconds"},
        )
    until = now + timedelta(seconds=overlap_seconds)
    with transaction.atomic():
        partner = Partner.objects.select_for_update().filter(pk=partner_id).first()
        if partner is None:
            raise NotFound("partner not found", details={"partner_id": partner_id})
        if partner.status == PartnerStatus.CLOSED:
            raise Conflict("the partner is closed", details={"status": "closed"})
        old = list(WebhookKey.objects.select_for_update().filter(_live(partner_id, now)))
        for key in old:
            key.expires_at = min(until, key.expires_at) if key.expires_at else until
            key.save(update_fields=["expires_at"])
        key_id, secret = webhook_key_create(partner_id=partner_id, actor=actor, now=now)
        audit_record(
            actor=actor,
            action="partner_webhook.secret_rotate",
            object_type="identity.partner",
            object_id=str(partner_id),
            data={
                "code": partner.code,
                "new_key_id": key_id,
                "old_key_ids": [k.key_id for k in old],
                "overlap_seconds": overlap_seconds,
            },
            now=now,
        )
    return key_id, secret


def _signing_keys(partner_id: int, now: datetime) -> list[tuple[str, str]]:
    keys = WebhookKey.objects.filter(_live(partner_id, now)).order_by("-created_at", "-id")
    return [
        (k.key_id, decrypt(bytes(k.secret_ct), context=webhook_secret_context(k.key_id)))
        for k in keys
    ]


def partner_webhook_signing_secrets(*, partner_code: str, now: datetime) -> list[tuple[str, str]]:
    """``(key_id, secret)`` of the partner's live keys, for the demo's receiver simulator
    (``lightway up`` registers them with it so it can verify what it receives)."""
    partner = Partner.objects.filter(code=partner_code).first()
    return _signing_keys(partner.pk, now) if partner is not None else []


# --- the event as sent -------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def partner_event_payload(event: PartnerEvent) -> dict[str, object]:
    """An event as a partner receives it, by webhook and on ``GET /events`` alike."""
    return {
        "event_id": str(event.event_id),
        "seq": event.seq,
        "type": event.type,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "occurred_at": _iso(event.occurred_at),
        "data": event.data,
    }


def _body(event: PartnerEvent) -> bytes:
    return json.dumps(
        partner_event_payload(event), separators=(",", ":"), sort_keys=True, default=str
    ).encode()


# --- dispatch ----------------------------------------------------------------------------------


def webhook_cursor_start(*, partner_id: int, now: datetime) -> None:
    """Start pushing the partner's events from now on (idempotent): earlier events are on
    the feed. Called when a webhook URL is set."""
    top = PartnerEvent.objects.filter(partner_id=partner_id, seq__isnull=False).aggregate(
        top=Max("seq")
    )["top"]
    WebhookCursor.objects.get_or_create(
        partner_id=partner_id, defaults={"after_seq": top or 0, "updated_at": now}
    )


def _enqueue(delivery_id: int) -> int:
    return job_enqueue(
        DELIVER_TASK, queueing_lock=f"{DELIVER_TASK}:{delivery_id}", delivery_id=delivery_id
    )


def _dispatch_partner(partner_id: int, now: datetime, limit: int) -> int:
    with transaction.atomic():
        cursor = (
            WebhookCursor.objects.select_for_update(skip_locked=True)
            .filter(partner_id=partner_id)
            .first()
        )
        if cursor is None:
            return 0  # another dispatcher has it
        events = list(
            PartnerEvent.objects.filter(partner_id=partner_id, seq__gt=cursor.after_seq)
            .order_by("seq")
            .values_list("id", "seq")[:limit]
        )
        if not events:
            return 0
        made = WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(
                    event_id=event_id,
                    partner_id=partner_id,
                    trigger=DeliveryTrigger.DISPATCH,
                    status=DeliveryStatus.PENDING,
                    next_attempt_at=now,
                    created_at=now,
                )
                for event_id, _seq in events
            ],
            ignore_conflicts=True,
        )
        created = list(
            WebhookDelivery.objects.filter(
                event_id__in=[e for e, _ in events],
                trigger=DeliveryTrigger.DISPATCH,
                status=DeliveryStatus.PENDING,
                attempts=0,
            ).values_list("id", flat=True)
        )
        for delivery_id in created:
            _enqueue(delivery_id)
        cursor.after_seq = int(events[-1][1] or 0)
        cursor.updated_at = now
        cursor.save(update_fields=["after_seq", "updated_at"])
    return len(made)


def partner_webhooks_dispatch(*, now: datetime, limit: int = DISPATCH_BATCH) -> int:
    """Turn the sequenced events of every partner with a webhook URL into deliveries (at
    most ``limit`` per partner per run); returns how many deliveries were made."""
    partner_ids = list(
        WebhookCursor.objects.filter(
            ~Q(partner__webhook_url=""), ~Q(partner__status=PartnerStatus.CLOSED)
        ).values_list("partner_id", flat=True)
    )
    total = 0
    for partner_id in partner_ids:
        total += _dispatch_partner(partner_id, now, limit)
    if total:
        logger.info("partner webhooks dispatched", extra={"deliveries": total})
    return total


def partner_events_pump(*, now: datetime) -> int:
    """The periodic job: number the committed events, then dispatch them."""
    partner_events_sequence()
    return partner_webhooks_dispatch(now=now)


# --- delivery ----------------------------------------------------------------------------------


def _claim(delivery_id: int, now: datetime) -> WebhookDelivery | None:
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .select_related("partner", "event")
            .filter(id=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .first()
        )
        if delivery is None:
            return None
        partner = delivery.partner
        stop = ""
        if partner.status == PartnerStatus.CLOSED:
            stop = "the partner is closed"
        elif not partner.webhook_url:
            stop = "the partner has no webhook URL"
        if stop:
            delivery.status = DeliveryStatus.DEAD
            delivery.next_attempt_at = None
            delivery.last_error = stop
            delivery.save(update_fields=["status", "next_attempt_at", "last_error"])
            logger.warning(
                "partner webhook dead-lettered", extra={"delivery": delivery.pk, "why": stop}
            )
            return None
        delivery.status = DeliveryStatus.SENDING
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.save(update_fields=["status", "attempts", "last_attempt_at"])
        return delivery


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    status_code: int | None
    latency_ms: int
    error_class: str
    message: str
    snippet: str


def _attempt(delivery: WebhookDelivery, now: datetime, sender: WebhookSender) -> _Outcome:
    keys = _signing_keys(delivery.partner_id, now)
    if not keys:
        return _Outcome(False, None, 0, "no_key", "the partner has no live signing key", "")
    body = _body(delivery.event)
    headers = webhook_headers(
        keys=keys,
        timestamp=int(now.timestamp()),
        body=body,
        event_id=str(delivery.event.event_id),
        delivery_id=str(delivery.delivery_id),
    )
    try:
        response = sender.post(url=delivery.partner.webhook_url, body=body, headers=headers)
    except WebhookSendError as exc:
        return _Outcome(False, None, exc.latency_ms, exc.error_class, exc.message, "")
    ok = 200 <= response.status_code < 300
    return _Outcome(
        ok,
        response.status_code,
        response.latency_ms,
        "" if ok else "http_status",
        "" if ok else f"answered HTTP {response.status_code}",
        response.snippet[: WebhookAttempt.SNIPPET_MAX],
    )


def partner_webhook_deliver(
    *, delivery_id: int, now: datetime, sender: WebhookSender | None = None
) -> str:
    """Make the next attempt of a due delivery; returns its status afterwards. Idempotent:
    a delivery that is not pending and due, or that another worker holds, is left alone."""
    delivery = _claim(delivery_id, now)
    if delivery is None:
        current = WebhookDelivery.objects.filter(id=delivery_id).values_list("status", flat=True)
        return str(current[0]) if current else "missing"
    log: dict[str, object] = {
        "delivery": delivery.pk,
        "partner": delivery.partner.code,
        "event_type": delivery.event.type,
        "attempt": delivery.attempts,
    }
    try:
        outcome = _attempt(delivery, now, sender or webhook_sender())
    except Exception as exc:  # a bug, or a secret that does not decrypt: retried, then dead
        logger.exception("partner webhook attempt raised", extra=log)
        outcome = _Outcome(False, None, 0, "internal", f"internal error ({type(exc).__name__})", "")
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            attempt=delivery.attempts,
            started_at=now,
            latency_ms=outcome.latency_ms,
            status_code=outcome.status_code,
            ok=outcome.ok,
            error_class=outcome.error_class,
            response_snippet=outcome.snippet,
        )
        mine = WebhookDelivery.objects.filter(
            id=delivery.pk, status=DeliveryStatus.SENDING, attempts=delivery.attempts
        )
        log.update(status_code=outcome.status_code, latency_ms=outcome.latency_ms)
        if outcome.ok:
            mine.update(
                status=DeliveryStatus.DELIVERED,
                delivered_at=now,
                next_attempt_at=None,
                last_status_code=outcome.status_code,
                last_error="",
            )
            logger.info("partner webhook delivered", extra=log)
            return DeliveryStatus.DELIVERED
        log["error_class"] = outcome.error_class
        if delivery.attempts >= _max_attempts():
            mine.update(
                status=DeliveryStatus.DEAD,
                next_attempt_at=None,
                last_status_code=outcome.status_code,
                last_error=f"{outcome.message} (gave up after {delivery.attempts} attempts)"[:300],
            )
            logger.error("partner webhook dead-lettered: attempts exhausted", extra=log)
            return DeliveryStatus.DEAD
        next_at = now + webhook_retry_delay(delivery.attempts)
        mine.update(
            status=DeliveryStatus.PENDING,
            next_attempt_at=next_at,
            last_status_code=outcome.status_code,
            last_error=outcome.message[:300],
        )
        logger.warning("partner webhook attempt failed; retry scheduled", extra=log)
        return DeliveryStatus.PENDING


def webhook_deliveries_due(*, now: datetime, limit: int = 500) -> list[int]:
    """Pending deliveries whose next attempt is due, oldest due first."""
    return list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )


def partner_webhooks_retry_due(*, now: datetime, limit: int = 500) -> int:
    """The sweep (every ~10 s): take back deliveries whose worker died while sending, and
    queue a job for each due pending delivery. Returns how many were queued."""
    stalled_before = now - timedelta(seconds=int(settings.LIGHTWAY_WEBHOOK_SENDING_TIMEOUT_SECONDS))
    with transaction.atomic():
        stalled = WebhookDelivery.objects.filter(
            status=DeliveryStatus.SENDING, last_attempt_at__lt=stalled_before
        )
        released = stalled.update(
            status=DeliveryStatus.PENDING,
            next_attempt_at=now,
            last_error="interrupted while sending (worker stopped)",
        )
        if released:
            logger.warning(
                "partner webhooks taken back from a stopped worker", extra={"count": released}
            )
        due = webhook_deliveries_due(now=now, limit=limit)
        for delivery_id in due:
            _enqueue(delivery_id)
    return len(due)


# --- redelivery (staff) --------------------------------------------------------------------------


def _redelivery(event: PartnerEvent, actor: str, now: datetime) -> WebhookDelivery:
    delivery = WebhookDelivery.objects.create(
        event=event,
        partner_id=event.partner_id,
        trigger=DeliveryTrigger.REDELIVERY,
        status=DeliveryStatus.PENDING,
        next_attempt_at=now,
        created_at=now,
        created_by=actor[:40],
    )
    _enqueue(delivery.pk)
    return delivery


def _partner_for_redelivery(partner_id: int) -> Partner:
    partner = Partner.objects.filter(pk=partner_id).first()
    if partner is None:
        raise NotFound("partner not found", details={"partner_id": partner_id})
    if partner.status == PartnerStatus.CLOSED:
        raise Conflict("the partner is closed: nothing is delivered to it any more")
    if not partner.webhook_url:
        raise Conflict("the partner has no webhook URL: set one first")
    return partner


def partner_webhook_redeliver(
    *, partner_id: int, event_id: str, reason: str, actor: str, now: datetime
) -> str:
    """Send one event again, as a new delivery (new ``X-LW-Delivery-Id``, same event id);
    audited with the reason. Returns the delivery id."""
    why = reason_clean(reason, purpose="why the event is sent again")
    partner = _partner_for_redelivery(partner_id)
    event = PartnerEvent.objects.filter(partner_id=partner.pk, event_id=event_id).first()
    if event is None:
        raise NotFound("event not found", details={"event_id": event_id})
    with transaction.atomic():
        if WebhookDelivery.objects.filter(event=event, status__in=OPEN_DELIVERY).exists():
            raise Conflict("this event is being delivered already; wait for the outcome")
        delivery = _redelivery(event, actor, now)
        audit_record(
            actor=actor,
            action="partner_webhook.redeliver",
            object_type="partners.event",
            object_id=str(event.event_id),
            data={"partner": partner.code, "delivery_id": str(delivery.delivery_id), "reason": why},
            now=now,
        )
    return str(delivery.delivery_id)


def partner_webhooks_redeliver_dead(
    *, partner_id: int, reason: str, actor: str, now: datetime, limit: int = 1000
) -> int:
    """Send again every event of the partner whose last delivery is dead (at most
    ``limit`` per call); audited once with the count. Returns how many."""
    why = reason_clean(reason, purpose="why the dead-lettered events are sent again")
    partner = _partner_for_redelivery(partner_id)
    with transaction.atomic():
        dead_events = list(
            WebhookDelivery.objects.filter(partner_id=partner.pk, status=DeliveryStatus.DEAD)
            .exclude(
                event_id__in=WebhookDelivery.objects.filter(
                    partner_id=partner.pk,
                    status__in=(*OPEN_DELIVERY, DeliveryStatus.DELIVERED),
                ).values("event_id")
            )
            .order_by("event_id")
            .values_list("event_id", flat=True)
            .distinct()[:limit]
        )
        if not dead_events:
            return 0
        for event in PartnerEvent.objects.filter(id__in=dead_events).order_by("seq"):
            _redelivery(event, actor, now)
        audit_record(
            actor=actor,
            action="partner_webhook.redeliver_dead",
            object_type="identity.partner",
            object_id=str(partner.pk),
            data={"code": partner.code, "events": len(dead_events), "reason": why},
            now=now,
        )
    return len(dead_events)


# --- the delivery log (staff pages) -------------------------------------------------------------


@dataclass(frozen=True)
class AttemptView:
    attempt: int
    started_at: datetime
    latency_ms: int
    status_code: int | None
    ok: bool
    error_class: str
    response_snippet: str


@dataclass(frozen=True)
class DeliveryView:
    id: int
    delivery_id: str
    event_id: str
    event_type: str
    object_id: str
    trigger: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str
    created_at: datetime
    created_by: str
    log: list[AttemptView] = field(default_factory=list)


def partner_webhook_log(
    *, partner_id: int, status: str | None = None, before: int | None = None, limit: int = 50
) -> list[DeliveryView]:
    """The partner's deliveries newest first (keyset on id: ``before``), each with its
    attempts; ``status`` narrows to one status (``dead`` for the dead letters)."""
    rows = WebhookDelivery.objects.filter(partner_id=partner_id).select_related("event")
    if status:
        rows = rows.filter(status=status)
    if before:
        rows = rows.filter(id__lt=before)
    deliveries = list(rows.order_by("-id")[: max(1, min(limit, 200))])
    attempts: dict[int, list[AttemptView]] = {}
    for a in WebhookAttempt.objects.filter(delivery__in=deliveries).order_by("attempt"):
        attempts.setdefault(a.delivery_id, []).append(
            AttemptView(
                a.attempt,
                a.started_at,
                a.latency_ms,
                a.status_code,
                a.ok,
                a.error_class,
                a.response_snippet,
            )
        )
    return [
        DeliveryView(
            id=d.pk,
            delivery_id=str(d.delivery_id),
            event_id=str(d.event.event_id),
            event_type=d.event.type,
            object_id=d.event.object_id,
            trigger=d.trigger,
            status=d.status,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at,
            delivered_at=d.delivered_at,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            created_at=d.created_at,
            created_by=d.created_by,
            log=attempts.get(d.pk, []),
        )
        for d in deliveries
    ]


COUNT_CAP = 1000


def partner_webhook_counts(*, partner_id: int) -> dict[str, int]:
    """Open and dead deliveries of the partner, each counted up to ``COUNT_CAP`` (the page
    shows "1000+"), so the summary costs the same however long the history."""
    rows = WebhookDelivery.objects.filter(partner_id=partner_id)
    return {
        "open": rows.filter(status__in=OPEN_DELIVERY)[:COUNT_CAP].count(),
        "dead": rows.filter(status=DeliveryStatus.DEAD)[:COUNT_CAP].count(),
    }
