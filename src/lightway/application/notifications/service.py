"""Notifications: SMS and email from templates, per-user preferences, a delivery log.

``notify(...)`` renders a template (English or French), stores one delivery per channel
with the recipient and the body encrypted, and enqueues its sending in the caller's
transaction. The worker runs ``notification_deliver`` for it: a temporary error (timeout,
5xx, 429, SMTP 4xx) schedules a retry with exponential backoff and jitter, up to
``LIGHTWAY_NOTIFY_MAX_ATTEMPTS`` attempts, then the delivery is ``dead``; a permanent error
(invalid number, refused key, not configured) makes it ``failed`` at once. The periodic
sweep ``notifications_retry_due`` re-enqueues due retries and takes back deliveries whose
worker died while sending. See docs/notifications.md.

Encryption contexts: ``notify.delivery.recipient:<id>`` and ``notify.delivery.body:<id>``.
Logs and ``last_error`` carry delivery ids, template names and error codes only.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.template import Context, Engine

from lightway.application.datakeys.rotation import EncryptedColumn, encrypted_column_register
from lightway.application.errors import ValidationFailed
from lightway.application.identity.profiles import ERASED, profile_pii
from lightway.application.notifications.routing import sms_send_routed
from lightway.data.audit.services import audit_record
from lightway.data.identity.models import Profile
from lightway.data.notify.models import (
    Category,
    Channel,
    Delivery,
    DeliveryStatus,
)
from lightway.data.notify.selectors import (
    deliveries_due,
    deliveries_query,
    delivery_get,
    inbox_rows,
    preference_enabled,
    preferences_of,
)
from lightway.data.notify.services import (
    deliveries_release_stalled,
    delivery_claim,
    delivery_create,
    delivery_mark_final,
    delivery_mark_retry,
    delivery_mark_sent,
    delivery_next_id,
    preference_set,
)
from lightway.infrastructure.jobs import job_enqueue
from lightway.integration.notify.gateways import email_sender
from lightway.integration.notify.port import NotifyError, NotifyTemporaryError
from lightway.security.crypto import CryptoError, PersonDataErased, blind_index, decrypt, encrypt
from lightway.security.masking import SECRET_MASK, mask_email, mask_phone
from lightway.security.models import RoleAssignment
from lightway.security.personkeys import person_encrypt

logger = logging.getLogger(__name__)

LANGUAGES = ("en", "fr")
DEFAULT_LANGUAGE = "en"
CHANNELS = tuple(c.value for c in Channel)
CATEGORIES = tuple(c.value for c in Category)
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
DELIVER_TASK = "notification_deliver"


@dataclass(frozen=True)
class TemplateSpec:
    category: str
    required: tuple[str, ...] = ()
    # context values the customer's inbox never shows (one-time codes, links with a token)
    secret: tuple[str, ...] = ()


# The template names are a contract with the rest of the platform (common brief).
TEMPLATES: dict[str, TemplateSpec] = {
    "phone_code": TemplateSpec(Category.SECURITY, ("code", "minutes"), ("code",)),
    "email_verify": TemplateSpec(Category.SECURITY, ("link",), ("link",)),
    "login_code": TemplateSpec(Category.SECURITY, ("code",), ("code",)),
    "step_up_code": TemplateSpec(Category.SECURITY, ("code", "action"), ("code",)),
    # "Forgot your password?" (onboarding.password_reset)
    "password_reset_code": TemplateSpec(Category.SECURITY, ("code", "minutes"), ("code",)),
    "new_device": TemplateSpec(Category.SECURITY, ("device",)),
    "password_changed": TemplateSpec(Category.SECURITY),
    # To the owner of a verified number someone tried to register again (instead of a code).
    "registration_attempt": TemplateSpec(Category.SECURITY),
    "kyc_approved": TemplateSpec(Category.KYC),
    "kyc_retry": TemplateSpec(Category.KYC, ("comment",)),
    "kyc_rejected": TemplateSpec(Category.KYC),
    "limits_raised": TemplateSpec(Category.KYC, ("tier",)),
    # MoMo float alerts to operations/finance staff (lightway.application.momo.floats)
    "momo_float_low": TemplateSpec(
        Category.TRANSACTIONS, ("product", "market", "balance", "threshold", "link")
    ),
    "momo_float_recovered": TemplateSpec(
        Category.TRANSACTIONS, ("product", "market", "balance", "threshold", "link")
    ),
    # FX staleness alerts to finance staff (lightway.application.fx.watch)
    "fx_rate_stale": TemplateSpec(Category.TRANSACTIONS, ("pair", "reason", "link")),
    "fx_rate_recovered": TemplateSpec(Category.TRANSACTIONS, ("pair", "source", "link")),
    # A customer's MoMo deposit, withdrawal or payout became final
    # (lightway.application.momo.apply); optional "kind": deposit / withdrawal / payout.
    "momo_payment_succeeded": TemplateSpec(Category.TRANSACTIONS, ("amount",)),
    "momo_payment_failed": TemplateSpec(Category.TRANSACTIONS, ("amount", "reason")),
}

# Without an explicit choice every category is on, except marketing (opt-in).
DEFAULT_ENABLED = {category: category != Category.MARKETING for category in CATEGORIES}


def recipient_context(delivery_id: int) -> str:
    return f"notify.delivery.recipient:{delivery_id}"


def body_context(delivery_id: int) -> str:
    return f"notify.delivery.body:{delivery_id}"


def inbox_context(delivery_id: int) -> str:
    return f"notify.delivery.inbox:{delivery_id}"


# Key rotation (``lightway keys rotate``) re-seals these too.
# A delivery to an account is sealed with that person's key (rotation moves older ones).
_delivery_person = "user_id"
encrypted_column_register(
    EncryptedColumn(
        "notify.Delivery",
        "recipient_ct",
        lambda row: recipient_context(row.pk),
        person=_delivery_person,
    )
)
encrypted_column_register(
    EncryptedColumn(
        "notify.Delivery", "body_ct", lambda row: body_context(row.pk), person=_delivery_person
    )
)
encrypted_column_register(
    EncryptedColumn(
        "notify.Delivery", "inbox_ct", lambda row: inbox_context(row.pk), person=_delivery_person
    )
)

MASK = SECRET_MASK
LINK_MASK = "[link hidden]"


def delivery_reference(delivery_id: int) -> str:
    """Sent to the provider; the same on every attempt of one delivery."""
    return f"lw-dlv-{delivery_id}"


# --- templates -----------------------------------------------------------------------------


@cache
def _engine() -> Engine:
    # Plain text: no HTML escaping (an "&" in a link must stay an "&").
    return Engine(dirs=[str(TEMPLATE_DIR)], autoescape=False, debug=False)


@dataclass(frozen=True)
class Rendered:
    text: str
    subject: str = ""


def notification_render(
    *, template: str, channel: str, language: str, context: dict[str, Any]
) -> Rendered:
    """Render ``template`` for ``channel`` ("sms": text; "email": subject and text)."""
    spec = TEMPLATES.get(template)
    if spec is None:
        raise ValueError(f"unknown notification template {template!r}")
    missing = [key for key in spec.required if context.get(key) in (None, "")]
    if missing:
        raise ValueError(f"template {template!r} needs {', '.join(missing)} in its context")
    if channel not in CHANNELS:
        raise ValueError(f"unknown notification channel {channel!r}")
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    engine = _engine()

    def render(kind: str) -> str:
        name = f"notify/{language}/{template}.{kind}.txt"
        return engine.get_template(name).render(Context(context, autoescape=False)).strip()

    if channel == Channel.SMS:
        return Rendered(text=render("sms"))
    subject = " ".join(render("subject").split())
    return Rendered(text=render("email") + "\n", subject=subject)


# --- notify --------------------------------------------------------------------------------


def _profile(user_id: int | None) -> Profile | None:
    if user_id is None:
        return None
    return Profile.objects.filter(user_id=user_id).first()


def _allowed(*, user_id: int | None, channel: str, category: str, critical: bool) -> bool:
    if critical or user_id is None or category == Category.SECURITY:
        # Security alerts always go out: the panel does not offer to switch them off.
        return True
    choice = preference_enabled(user_id=user_id, channel=channel, category=category)
    return DEFAULT_ENABLED[category] if choice is None else choice


def notify(
    *,
    template: str,
    context: dict[str, Any],
    now: datetime,
    user_id: int | None = None,
    phone: str | None = None,
    email: str | None = None,
    language: str | None = None,
    channels: tuple[str, ...] = ("sms",),
    critical: bool = False,
) -> list[int]:
    """Queue ``template`` on each of ``channels``; return the new delivery ids.

    Language: ``language``, else the user's profile language, else English. Recipient:
    ``phone`` / ``email`` when given, else the user's own (decrypted from their profile).
    A channel is skipped (no delivery, logged) when the user turned that channel off for
    the template's category, unless ``critical`` (one-time codes, security alerts), or when
    there is no recipient for it. Runs in the caller's transaction (a savepoint): the
    deliveries and their jobs commit or roll back with the caller's change.
    """
    spec = TEMPLATES.get(template)
    if spec is None:
        raise ValueError(f"unknown notification template {template!r}")
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown or not channels:
        raise ValueError(f"channels must be among {CHANNELS}, got {channels!r}")
    if user_id is None and not phone and not email:
        raise ValueError("notify() needs a user_id, a phone or an email")
    profile = _profile(user_id)
    pii = profile_pii(profile) if profile is not None and not (phone and email) else None
    if language not in LANGUAGES:
        language = profile.language if profile is not None else DEFAULT_LANGUAGE
        language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    recipients = {
        Channel.SMS.value: phone or (pii.phone if pii else None),
        Channel.EMAIL.value: email or (pii.email if pii else None),
    }
    ids: list[int] = []
    with transaction.atomic():
        for channel in dict.fromkeys(channels):
            log = {"template": template, "channel": channel, "user_id": user_id}
            if not _allowed(
                user_id=user_id, channel=channel, category=spec.category, critical=critical
            ):
                logger.info("notification skipped: turned off by the user", extra=log)
                continue
            recipient = recipients[channel]
            if not recipient:
                logger.warning("notification skipped: no recipient for channel", extra=log)
                continue
            rendered = notification_render(
                template=template, channel=channel, language=language, context=context
            )
            ids.append(
                _delivery_queue(
                    channel=channel,
                    template=template,
                    category=spec.category,
                    language=language,
                    user_id=user_id,
                    recipient=recipient,
                    rendered=rendered,
                    inbox_text=_inbox_text(rendered.text, spec, context) if user_id else None,
                    now=now,
                )
            )
    return ids


def _inbox_text(text: str, spec: TemplateSpec, context: dict[str, Any]) -> str:
    """The message as the user's inbox keeps it: every secret value of the context (a
    one-time code, a link carrying a token) replaced by a mask."""
    for key in spec.secret:
        value = str(context.get(key) or "")
        if value:
            text = text.replace(value, LINK_MASK if key == "link" else MASK)
    return text


def _seal(text: str, user_id: int | None, context: str, now: datetime) -> bytes:
    """A message to a person is their personal data: sealed with their own key, so erasing
    them (docs/retention.md) erases it too; a message to no account uses the keyring."""
    if user_id is None:
        return encrypt(text, context=context)
    return person_encrypt(text, user_id=user_id, context=context, now=now)


def _delivery_queue(
    *,
    channel: str,
    template: str,
    category: str,
    language: str,
    user_id: int | None,
    recipient: str,
    rendered: Rendered,
    now: datetime,
    inbox_text: str | None = None,
) -> int:
    delivery_id = delivery_next_id()
    if channel == Channel.SMS:
        masked, bidx = mask_phone(recipient), blind_index("phone", recipient)
    else:
        masked, bidx = mask_email(recipient), blind_index("email", recipient)
    delivery_create(
        id=delivery_id,
        channel=channel,
        template=template,
        category=category,
        language=language,
        user_id=user_id,
        recipient_ct=_seal(recipient, user_id, recipient_context(delivery_id), now),
        recipient_bidx=bidx,
        recipient_masked=masked[:80],
        body_ct=_seal(rendered.text, user_id, body_context(delivery_id), now),
        inbox_ct=(
            _seal(inbox_text, user_id, inbox_context(delivery_id), now)
            if inbox_text is not None
            else None
        ),
        subject=rendered.subject[:200],
        now=now,
    )
    _enqueue(delivery_id)
    logger.info(
        "notification queued",
        extra={"delivery_id": delivery_id, "template": template, "channel": channel},
    )
    return delivery_id


def _enqueue(delivery_id: int) -> int:
    # One waiting job per delivery: notify() and the sweep use the same queueing lock.
    return job_enqueue(
        DELIVER_TASK, queueing_lock=f"{DELIVER_TASK}:{delivery_id}", delivery_id=delivery_id
    )


# --- delivering ----------------------------------------------------------------------------


def retry_delay(attempts: int) -> timedelta:
    """Backoff before the next attempt after ``attempts`` failed ones: exponential from
    ``LIGHTWAY_NOTIFY_RETRY_BASE_SECONDS``, capped at ``..._RETRY_MAX_SECONDS``, with
    "equal jitter" (between half and all of it) so retries of many deliveries spread out."""
    base = max(int(settings.LIGHTWAY_NOTIFY_RETRY_BASE_SECONDS), 1)
    cap = max(int(settings.LIGHTWAY_NOTIFY_RETRY_MAX_SECONDS), base)
    delay = min(cap, base * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=delay / 2 + random.uniform(0, delay / 2))


def _max_attempts() -> int:
    return max(int(settings.LIGHTWAY_NOTIFY_MAX_ATTEMPTS), 1)


def _send(delivery: Delivery, now: datetime) -> str:
    """Hand the delivery to its provider; return the provider's id (or raise NotifyError).
    SMS go through the routing (providers per country, failover, circuit breakers)."""
    recipient = decrypt(bytes(delivery.recipient_ct), context=recipient_context(delivery.pk))
    if delivery.body_ct is None:
        raise CryptoError("the body was erased")
    body = decrypt(bytes(delivery.body_ct), context=body_context(delivery.pk))
    reference = delivery_reference(delivery.pk)
    if delivery.channel == Channel.SMS:
        sent = sms_send_routed(
            delivery_id=delivery.pk, to=recipient, text=body, reference=reference, now=now
        )
        return sent.provider_id
    mailed = email_sender().send(
        to=recipient, subject=delivery.subject, text=body, reference=reference
    )
    return mailed.provider_id


def notification_deliver(*, delivery_id: int, now: datetime) -> str:
    """Send one delivery if it is queued and due; return its status afterwards.

    Idempotent: a delivery that is sent, final, not due yet or being sent by another
    worker is left alone (its current status is returned).
    """
    delivery = delivery_claim(delivery_id=delivery_id, now=now)
    if delivery is None:
        current = delivery_get(delivery_id=delivery_id)
        return current.status if current is not None else "missing"
    log: dict[str, object] = {
        "delivery_id": delivery.pk,
        "template": delivery.template,
        "channel": delivery.channel,
        "attempt": delivery.attempts,
    }
    try:
        provider_id = _send(delivery, now)
    except NotifyError as exc:
        return _failure(delivery, exc, now=now, log=log)
    except CryptoError:
        delivery_mark_final(
            delivery=delivery, status=DeliveryStatus.FAILED, error="message does not decrypt"
        )
        logger.error("notification failed: message does not decrypt", extra=log)
        return DeliveryStatus.FAILED
    except Exception as exc:
        # A bug or an unexpected library error: treat it as temporary (it may pass), so
        # the delivery is retried and ends "dead" if it keeps happening.
        logger.exception("notification attempt raised unexpectedly", extra=log)
        unexpected = NotifyTemporaryError(f"unexpected {type(exc).__name__}", code="unexpected")
        return _failure(delivery, unexpected, now=now, log=log)
    delivery_mark_sent(delivery=delivery, provider_id=provider_id, now=now)
    logger.info("notification sent", extra=log)
    return DeliveryStatus.SENT


def _failure(delivery: Delivery, exc: NotifyError, *, now: datetime, log: dict[str, object]) -> str:
    log = {**log, "error_code": exc.code}
    if not exc.retryable:
        delivery_mark_final(delivery=delivery, status=DeliveryStatus.FAILED, error=exc.message)
        logger.warning("notification failed", extra=log)
        return DeliveryStatus.FAILED
    if delivery.attempts >= _max_attempts():
        error = f"{exc.message} (gave up after {delivery.attempts} attempts)"
        delivery_mark_final(delivery=delivery, status=DeliveryStatus.DEAD, error=error)
        logger.error("notification dead: attempts exhausted", extra=log)
        return DeliveryStatus.DEAD
    next_at = now + retry_delay(delivery.attempts)
    delivery_mark_retry(delivery=delivery, next_attempt_at=next_at, error=exc.message)
    logger.warning("notification retry scheduled", extra={**log, "next_attempt_at": next_at})
    return DeliveryStatus.QUEUED


def notifications_retry_due(*, now: datetime, limit: int = 500) -> int:
    """The sweep (every ~10 s): take back deliveries whose worker died while sending, and
    enqueue a job for each queued delivery that is due. Returns how many were enqueued."""
    timeout = timedelta(seconds=int(settings.LIGHTWAY_NOTIFY_SENDING_TIMEOUT_SECONDS))
    with transaction.atomic():
        released = deliveries_release_stalled(
            before=now - timeout, now=now, max_attempts=_max_attempts()
        )
        if released:
            logger.warning(
                "notifications taken back from a stopped worker", extra={"count": released}
            )
        due = deliveries_due(now=now, limit=limit)
        for delivery_id in due:
            _enqueue(delivery_id)
    return len(due)


# --- preferences ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PreferenceView:
    channel: str
    category: str
    enabled: bool
    default: bool  # True when the user has not chosen (the default applies)


def notification_preferences(*, user_id: int) -> list[PreferenceView]:
    """Every channel x category for the user, with their choice or the default."""
    chosen = preferences_of(user_id=user_id)
    return [
        PreferenceView(
            channel=channel,
            category=category,
            enabled=chosen.get((channel, category), DEFAULT_ENABLED[category]),
            default=(channel, category) not in chosen,
        )
        for channel in CHANNELS
        for category in CATEGORIES
    ]


def notification_preference_set(
    *,
    user_id: int,
    channel: str,
    category: str,
    enabled: bool,
    now: datetime,
    actor: str | None = None,
) -> PreferenceView:
    """Turn one channel/category on or off for a user (audited)."""
    if channel not in CHANNELS:
        raise ValidationFailed(
            f"channel must be one of {', '.join(CHANNELS)}", details={"field": "channel"}
        )
    if category not in CATEGORIES:
        raise ValidationFailed(
            f"category must be one of {', '.join(CATEGORIES)}", details={"field": "category"}
        )
    with transaction.atomic():
        preference_set(
            user_id=user_id, channel=channel, category=category, enabled=bool(enabled), now=now
        )
        audit_record(
            actor=actor or f"user:{user_id}",
            action="notification_preference.set",
            object_type="auth.user",
            object_id=str(user_id),
            data={"channel": channel, "category": category, "enabled": bool(enabled)},
            now=now,
        )
    return PreferenceView(channel=channel, category=category, enabled=bool(enabled), default=False)


# --- the delivery log ----------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryView:
    """One line of the staff delivery log (masked recipient, no body)."""

    id: int
    channel: str
    template: str
    category: str
    language: str
    user_id: int | None
    recipient: str  # masked
    subject: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    provider_id: str
    last_error: str
    created_at: datetime
    sent_at: datetime | None


def deliveries_for(
    *,
    user_id: int | None = None,
    phone: str | None = None,
    email: str | None = None,
    status: str | None = None,
    channel: str | None = None,
    template: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[DeliveryView]:
    """The delivery log, newest first, filtered; ``phone`` / ``email`` are looked up by
    blind index. Page with ``before_id`` = the last id of the previous page."""
    bidx = None
    if phone:
        bidx = blind_index("phone", phone)
    elif email:
        bidx = blind_index("email", email)
    query = deliveries_query(
        user_id=user_id,
        status=status,
        channel=channel,
        template=template,
        recipient_bidx=bidx,
        before_id=before_id,
    )
    return [
        DeliveryView(
            id=d.pk,
            channel=d.channel,
            template=d.template,
            category=d.category,
            language=d.language,
            user_id=d.user_id,
            recipient=d.recipient_masked,
            subject=d.subject,
            status=d.status,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at,
            provider_id=d.provider_id,
            last_error=d.last_error,
            created_at=d.created_at,
            sent_at=d.sent_at,
        )
        for d in query[: max(1, min(limit, 500))]
    ]


@dataclass(frozen=True)
class InboxMessage:
    """One message in a customer's inbox: codes and links masked, never the recipient."""

    id: int
    channel: str
    template: str
    category: str
    subject: str
    text: str  # "" when the delivery predates the inbox (its body is not kept)
    status: str
    created_at: datetime


@dataclass(frozen=True)
class InboxPage:
    messages: list[InboxMessage]
    next_before: int | None  # the cursor of the next (older) page, None on the last one


def inbox_page(*, user_id: int, before_id: int | None = None, limit: int = 20) -> InboxPage:
    """The SMS and emails sent to ``user_id``, newest first, ``limit`` a page (keyset on the
    id: the cost of a page does not grow with the log)."""
    limit = max(1, min(limit, 100))
    rows = inbox_rows(user_id=user_id, before_id=before_id, limit=limit + 1)
    messages = []
    for row in rows[:limit]:
        text = ""
        if row.inbox_ct is not None:
            try:
                text = decrypt(bytes(row.inbox_ct), context=inbox_context(row.pk))
            except PersonDataErased:
                text = ERASED
            except CryptoError:
                logger.error("inbox copy does not decrypt", extra={"delivery_id": row.pk})
        messages.append(
            InboxMessage(
                id=row.pk,
                channel=row.channel,
                template=row.template,
                category=row.category,
                subject=row.subject,
                text=text,
                status=row.status,
                created_at=row.created_at,
            )
        )
    more = len(rows) > limit
    return InboxPage(messages=messages, next_before=messages[-1].id if more else None)


def staff_alert_email(
    *,
    template: str,
    context: dict[str, Any],
    addresses: Sequence[str],
    roles: Iterable[str],
    now: datetime,
) -> list[int]:
    """Email an operational alert (a low MoMo float, a stopped FX pair): to ``addresses``
    when any are configured, else to every active staff member holding one of ``roles``.
    The delivery ids; empty when nobody could be reached (the caller logs that)."""
    ids: list[int] = []
    if addresses:
        for address in addresses:
            ids += notify(
                template=template, context=context, email=address, channels=("email",), now=now
            )
        return ids
    staff = (
        RoleAssignment.objects.filter(role__in=sorted(roles))
        .filter(user__is_active=True)
        .values_list("user_id", flat=True)
        .distinct()
        .order_by("user_id")
    )
    for user_id in staff:
        ids += notify(
            template=template, context=context, user_id=user_id, channels=("email",), now=now
        )
    return ids
