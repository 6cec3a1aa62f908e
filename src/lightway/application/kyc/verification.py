"""Identity verification with Sumsub: start, status, webhooks and their processing.

Flow (docs/kyc.md): ``kyc_start`` creates the user's Sumsub applicant once (its
``externalUserId`` is the profile's opaque subject; phone and email travel only in the
body) and issues a WebSDK access token. Sumsub reports progress by webhook:
``kyc_webhook_receive`` verifies the digest on the raw bytes, stores the delivery (also a
rejected one), recognises duplicates and enqueues ``kyc_event_process`` in the same
transaction. Processing ignores events older than the newest applied one
(``createdAtMs``) and, before applying a decision, reads ``GET .../status`` from Sumsub: a
webhook alone never raises a tier.

Decisions: GREEN raises the user to ``KycTier.SUMSUB_VERIFIED`` and notifies
``kyc_approved``; RED + RETRY records the moderation comment and notifies ``kyc_retry`` (the
user may start again: new token, same applicant); RED + FINAL blocks ``kyc_start`` and
notifies ``kyc_rejected``. Audit actions ``kyc.*`` carry ids and statuses, no personal data.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils.translation import gettext

from lightway.application.datakeys.rotation import EncryptedColumn, encrypted_column_register
from lightway.application.errors import Conflict, DomainError, NotFound
from lightway.application.identity.profiles import profile_pii
from lightway.application.intake import intake_reject
from lightway.data.audit.services import audit_record
from lightway.data.identity.models import KycTier, Profile, Realm
from lightway.data.intake.models import RejectionReason
from lightway.data.kyc.models import (
    KycApplicant,
    RejectType,
    ReviewAnswer,
    SumsubWebhookEvent,
    WebhookStatus,
)
from lightway.infrastructure.jobs import job_enqueue
from lightway.infrastructure.jsonsafe import json_loads_bounded
from lightway.integration.sumsub.client import sumsub_client_from_settings
from lightway.integration.sumsub.port import (
    KycProvider,
    NewApplicant,
    Review,
    SumsubError,
    SumsubRateLimited,
    SumsubUnavailable,
)
from lightway.integration.sumsub.signing import UnknownDigestAlgorithm, payload_digest_valid
from lightway.security.crypto import payload_digest, seal, unseal

logger = logging.getLogger(__name__)

ACTOR_SUMSUB = "sumsub"
INTAKE_SOURCE = "sumsub"
TASK_EVENT_PROCESS = "kyc_event_process"
# Events whose meaning is a decision: applied only as Sumsub's status API confirms them.
DECISION_EVENTS = frozenset({"applicantReviewed", "applicantWorkflowCompleted"})
IN_REVIEW = frozenset(
    {"pending", "prechecked", "queued", "onHold", "awaitingService", "awaitingUser"}
)
# reviewStatus implied by an event type when the payload has none
EVENT_STATUS = {
    "applicantCreated": "init",
    "applicantPending": "pending",
    "applicantPrechecked": "prechecked",
    "applicantOnHold": "onHold",
    "applicantReset": "init",
    "applicantAwaitingService": "awaitingService",
}
ALPHA3 = {"UG": "UGA", "GH": "GHA", "RW": "RWA", "ZM": "ZMB", "CI": "CIV", "CM": "CMR"}
KEPT_HEADERS = ("content-type",)


class KycRefused(DomainError):
    """Sumsub finally rejected this user's identity: verification cannot start again."""

    code = "kyc_refused"


class KycAlreadyVerified(Conflict):
    code = "kyc_already_verified"


class KycUnavailable(DomainError):
    """Sumsub could not be reached or refused the call; the user should try later."""

    code = "kyc_unavailable"


@dataclass(frozen=True)
class KycSession:
    access_token: str  # for Sumsub's WebSDK / MobileSDK (``_act-...``)
    # The page where the user goes through verification: the simulator's WebSDK page for
    # the token (``simulated``), else the WebSDK page Sumsub hosts for this user.
    sdk_url: str
    applicant_id: str
    simulated: bool = False


class KycState(StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"  # applicant exists, nothing submitted yet
    IN_REVIEW = "in_review"
    RETRY = "retry"  # RED + RETRY: the user may submit again
    APPROVED = "approved"
    REJECTED = "rejected"  # RED + FINAL


@dataclass(frozen=True)
class KycStatusView:
    tier: int
    tier_label: str
    state: KycState
    review_status: str | None
    moderation_comment: str | None  # only with state RETRY: Sumsub's comment for the user
    can_start: bool
    applicant_id: str | None


class WebhookOutcome(StrEnum):
    ACCEPTED = "accepted"  # stored, processing queued
    DUPLICATE = "duplicate"  # the same event was stored before
    OUT_OF_ORDER = "out_of_order"  # older than the newest applied event: stored, ignored
    REJECTED = "rejected"  # digest missing or wrong, or unknown algorithm (stored)
    INVALID = "invalid"  # authentic but not a usable Sumsub event (stored)


@dataclass(frozen=True)
class WebhookReceipt:
    outcome: WebhookOutcome
    event_id: int | None


def kyc_provider() -> KycProvider:
    """The configured KYC provider (``SUMSUB_*`` settings; the simulator in development)."""
    return sumsub_client_from_settings()


# --- start and status ------------------------------------------------------------------


def _fixed_info(profile: Profile, birth_date: str | None) -> dict[str, Any]:
    info: dict[str, Any] = {}
    if profile.country in ALPHA3:
        info["country"] = ALPHA3[profile.country]
    if birth_date and len(birth_date) == 10 and birth_date[4] == "-" and birth_date[7] == "-":
        info["dob"] = birth_date
    return info


def kyc_start(*, user_id: int, now: datetime) -> KycSession:
    """Create the user's applicant if needed and issue a WebSDK access token.

    Raises :class:`KycAlreadyVerified`, :class:`KycRefused` (after a FINAL rejection),
    :class:`NotFound` (no profile) or :class:`KycUnavailable` (Sumsub failed).
    """
    profile = Profile.objects.filter(user_id=user_id).first()
    if profile is None or profile.realm != Realm.CUSTOMER:
        raise NotFound("Identity verification is for customer accounts.")
    if profile.kyc_tier >= KycTier.SUMSUB_VERIFIED:
        raise KycAlreadyVerified(gettext("Your identity is already verified."))
    kyc = KycApplicant.objects.filter(user_id=user_id).first()
    if kyc is not None and kyc.final_rejected_at is not None:
        raise KycRefused(
            gettext(
                "Your identity verification was refused and cannot be started again. "
                "Please contact support."
            )
        )
    try:
        provider = kyc_provider()
        if kyc is None:
            pii = profile_pii(profile)
            applicant = provider.applicant_create(
                applicant=NewApplicant(
                    external_user_id=profile.subject,
                    level_name=settings.SUMSUB_LEVEL_NAME,
                    phone=pii.phone,
                    email=pii.email,
                    lang=profile.language or None,
                    fixed_info=_fixed_info(profile, pii.birth_date),
                )
            )
            kyc = _applicant_attach(
                user_id=user_id,
                applicant_id=applicant.id,
                level_name=applicant.level_name or settings.SUMSUB_LEVEL_NAME,
                review_status=applicant.review.review_status,
                actor=f"user:{user_id}",
                now=now,
            )
        token = provider.access_token_sdk(
            external_user_id=profile.subject,
            level_name=kyc.level_name,
            ttl_seconds=settings.SUMSUB_SDK_TOKEN_TTL,
        )
        # The simulator serves its WebSDK page for the token; Sumsub hosts one per user.
        simulator_page = provider.websdk_url(token=token.token)
        sdk_url = simulator_page or provider.websdk_link(
            external_user_id=profile.subject,
            level_name=kyc.level_name,
            ttl_seconds=settings.SUMSUB_SDK_TOKEN_TTL,
            lang=profile.language or "en",
        )
    except SumsubError as exc:
        logger.warning(
            "kyc start failed at sumsub",
            extra={"user_id": user_id, "status": exc.status, "correlation_id": exc.correlation_id},
        )
        raise KycUnavailable(
            gettext(
                "Identity verification is not available right now. "
                "Please try again in a few minutes."
            )
        ) from exc
    with transaction.atomic():
        audit_record(
            actor=f"user:{user_id}",
            action="kyc.start",
            object_type="kyc.applicant",
            object_id=kyc.applicant_id,
            data={"review_status": kyc.review_status, "reject_type": kyc.reject_type},
            now=now,
        )
    logger.info("kyc started", extra={"user_id": user_id, "applicant_id": kyc.applicant_id})
    return KycSession(
        access_token=token.token,
        sdk_url=sdk_url,
        simulated=simulator_page is not None,
        applicant_id=kyc.applicant_id,
    )


def _applicant_attach(
    *,
    user_id: int,
    applicant_id: str,
    level_name: str,
    review_status: str,
    actor: str,
    now: datetime,
) -> KycApplicant:
    """Record the user's applicant (once; a concurrent start finds the same one)."""
    with transaction.atomic():
        kyc, created = KycApplicant.objects.get_or_create(
            user_id=user_id,
            defaults={
                "applicant_id": applicant_id,
                "level_name": level_name,
                "review_status": review_status or "init",
                "created_at": now,
                "updated_at": now,
            },
        )
        if created:
            audit_record(
                actor=actor,
                action="kyc.applicant_create",
                object_type="kyc.applicant",
                object_id=applicant_id,
                data={"user_id": user_id, "level_name": level_name},
                now=now,
            )
    if kyc.applicant_id != applicant_id:
        logger.error(
            "kyc applicant mismatch",
            extra={"user_id": user_id, "stored": kyc.applicant_id, "got": applicant_id},
        )
        raise Conflict("This account is already linked to another verification.")
    return kyc


def kyc_status(*, user_id: int) -> KycStatusView:
    """What the customer's KYC page shows (no personal data, no internal comments)."""
    profile = Profile.objects.filter(user_id=user_id).first()
    tier = KycTier(profile.kyc_tier) if profile is not None else KycTier.REGISTERED
    kyc = KycApplicant.objects.filter(user_id=user_id).first()
    comment = None
    if tier >= KycTier.SUMSUB_VERIFIED:
        state = KycState.APPROVED
    elif kyc is None:
        state = KycState.NOT_STARTED
    elif kyc.final_rejected_at is not None:
        state = KycState.REJECTED
    elif kyc.review_status == "completed" and kyc.review_answer == ReviewAnswer.GREEN:
        state = KycState.APPROVED
    elif kyc.review_status == "completed" and kyc.review_answer == ReviewAnswer.RED:
        state = KycState.RETRY
        comment = kyc.moderation_comment or None
    elif kyc.review_status in IN_REVIEW:
        state = KycState.IN_REVIEW
    else:
        state = KycState.IN_PROGRESS
    return KycStatusView(
        tier=int(tier),
        tier_label=tier.label,
        state=state,
        review_status=kyc.review_status if kyc is not None else None,
        moderation_comment=comment,
        can_start=profile is not None and state not in (KycState.APPROVED, KycState.REJECTED),
        applicant_id=kyc.applicant_id if kyc is not None else None,
    )


# --- webhooks ------------------------------------------------------------------------------


def created_at_ms(value: object) -> int | None:
    """Sumsub's ``createdAtMs`` (``"YYYY-MM-DD HH:MM:SS.mmm"``, UTC) as epoch milliseconds."""
    if not isinstance(value, str):
        return None
    text = value.strip().removesuffix("+0000").strip()
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            moment = datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        return int(moment.timestamp() * 1000)
    return None


def webhook_body_context(event_id: int) -> str:
    return f"kyc.webhook.body:{event_id}"


# Key rotation (``lightway keys rotate``) re-seals the stored webhook bodies too.
encrypted_column_register(
    EncryptedColumn(
        "kyc.SumsubWebhookEvent",
        "raw_body",
        lambda row: webhook_body_context(row.pk),
        seals_clear=True,
    )
)


def webhook_event_next_id() -> int:
    """The id the next stored delivery will have (its body's sealing context names it)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('kyc_sumsub_webhook_event', 'id'))")
        return int(cursor.fetchone()[0])


def webhook_event_body(event: SumsubWebhookEvent) -> bytes:
    """The delivery's body as Sumsub sent it, opened from its sealed column."""
    return unseal(bytes(event.raw_body), context=webhook_body_context(event.pk))


def _dedupe_key(raw_body: bytes, payload: Mapping[str, Any] | None) -> str:
    if payload is not None:
        parts = [payload.get("applicantId"), payload.get("type"), payload.get("createdAtMs")]
        if all(isinstance(p, str) and p for p in parts):
            key = "|".join(str(p) for p in parts)
            if len(key) <= 200:
                return key
    return "hmac:" + payload_digest(raw_body)  # keyed: a short body cannot be guessed back


def _parse(raw_body: bytes) -> tuple[dict[str, Any] | None, str]:
    """The event payload, or None and why it is unusable."""
    try:
        payload = json_loads_bounded(raw_body)
    except ValueError:  # not JSON, not UTF-8, nested too deep, a number too long
        return None, "body is not JSON"
    if not isinstance(payload, dict):
        return None, "body is not a JSON object"
    for field in ("applicantId", "type"):
        if not isinstance(payload.get(field), str) or not payload[field]:
            return None, f"{field} is missing"
    if created_at_ms(payload.get("createdAtMs")) is None:
        return None, "createdAtMs is missing or malformed"
    return payload, ""


def kyc_webhook_receive(
    *, raw_body: bytes, headers: Mapping[str, str], now: datetime
) -> WebhookReceipt:
    """Verify, store, deduplicate and queue one Sumsub webhook delivery.

    A delivery whose digest is missing, wrong or uses an unknown algorithm is not stored:
    only its size and keyed digest count in the refused-intake record (per minute). An
    authentic one is stored, its body sealed with the data keys, with status ``error`` when
    it is not a usable event; ``ignored_out_of_order`` when it is older than the applicant's
    newest applied event; else ``received`` with a ``kyc_event_process`` job in the same
    transaction. A duplicate (same dedupe key) only counts one more delivery.
    """
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    kept = {k: v[:300] for k, v in lower.items() if k.startswith("x-payload-") or k in KEPT_HEADERS}
    reason = ""
    try:
        digest_ok = payload_digest_valid(
            secret=settings.SUMSUB_WEBHOOK_SECRET,
            body=raw_body,
            alg=lower.get("x-payload-digest-alg"),
            digest=lower.get("x-payload-digest", ""),
        )
        if not digest_ok:
            reason = "digest missing or wrong"
    except UnknownDigestAlgorithm:
        digest_ok, reason = False, "unknown digest algorithm"
    if not digest_ok:
        # Not from Sumsub: nothing of it is kept but its size and keyed digest, counted per
        # minute (audited per minute by intake_housekeeping), so a flood cannot fill the
        # database or the audit trail.
        intake_reject(
            source=INTAKE_SOURCE, reason=RejectionReason.BAD_DIGEST, body=raw_body, now=now
        )
        logger.warning("sumsub webhook rejected", extra={"reason": reason})
        return WebhookReceipt(WebhookOutcome.REJECTED, None)

    payload, problem = _parse(raw_body)
    event_ms = created_at_ms(payload.get("createdAtMs")) if payload else None
    applicant_id = str(payload["applicantId"])[:64] if payload else ""
    event_type = str(payload["type"])[:64] if payload else ""
    status = WebhookStatus.RECEIVED if payload is not None else WebhookStatus.ERROR
    if payload is not None and event_ms is not None:
        newest = (
            KycApplicant.objects.filter(applicant_id=applicant_id)
            .values_list("last_event_at_ms", flat=True)
            .first()
        )
        if newest is not None and event_ms < newest:
            status = WebhookStatus.IGNORED_OUT_OF_ORDER
    key = _dedupe_key(raw_body, payload)
    with transaction.atomic():
        try:
            with transaction.atomic():
                event_id = webhook_event_next_id()
                event = SumsubWebhookEvent.objects.create(
                    id=event_id,
                    raw_body=seal(raw_body, context=webhook_body_context(event_id)),
                    headers=kept,
                    received_at=now,
                    digest_ok=True,
                    dedupe_key=key,
                    status=status,
                    event_type=event_type,
                    applicant_id=applicant_id,
                    created_at_ms=event_ms,
                    processed_at=None if status == WebhookStatus.RECEIVED else now,
                    error=problem,
                )
        except IntegrityError:
            existing = SumsubWebhookEvent.objects.filter(dedupe_key=key).first()
            if existing is None:
                raise
            SumsubWebhookEvent.objects.filter(pk=existing.pk).update(deliveries=F("deliveries") + 1)
            logger.info(
                "sumsub webhook duplicate",
                extra={"event_id": existing.pk, "type": existing.event_type},
            )
            return WebhookReceipt(WebhookOutcome.DUPLICATE, existing.pk)
        if status == WebhookStatus.RECEIVED:
            job_enqueue(TASK_EVENT_PROCESS, event_id=event.pk)
    log = {"event_id": event.pk, "type": event_type, "applicant_id": applicant_id}
    if status == WebhookStatus.ERROR:
        logger.warning("sumsub webhook unusable", extra={**log, "reason": problem})
        return WebhookReceipt(WebhookOutcome.INVALID, event.pk)
    if status == WebhookStatus.IGNORED_OUT_OF_ORDER:
        logger.info("sumsub webhook out of order, ignored", extra=log)
        return WebhookReceipt(WebhookOutcome.OUT_OF_ORDER, event.pk)
    logger.info("sumsub webhook accepted", extra=log)
    return WebhookReceipt(WebhookOutcome.ACCEPTED, event.pk)


# --- processing ---------------------------------------------------------------------------


def _event_finish(event: SumsubWebhookEvent, status: str, now: datetime, error: str = "") -> str:
    event.status = status
    event.processed_at = now
    event.error = error[:200]
    event.save(update_fields=["status", "processed_at", "error"])
    return status


def kyc_event_process(*, event_id: int, now: datetime) -> str:
    """Apply one stored webhook event; return the event's final status.

    Idempotent: an event that is no longer ``received`` is left alone. Transient Sumsub
    failures while re-reading the status raise :class:`SumsubUnavailable` /
    :class:`SumsubRateLimited` so the job is retried; the event stays ``received``.
    """
    event = SumsubWebhookEvent.objects.filter(pk=event_id).first()
    if event is None:
        logger.warning("kyc event not found", extra={"event_id": event_id})
        return "missing"
    if event.status != WebhookStatus.RECEIVED:
        return str(event.status)
    payload, problem = _parse(webhook_event_body(event))
    if payload is None:
        with transaction.atomic():
            return _event_finish(event, WebhookStatus.ERROR, now, problem)
    event_type = str(payload["type"])
    applicant_id = str(payload["applicantId"])
    event_ms = created_at_ms(payload["createdAtMs"])
    assert event_ms is not None
    review: Review | None = None
    if event_type in DECISION_EVENTS:
        # Never trust the webhook alone: the decision applied is the one Sumsub's API states.
        try:
            review = kyc_provider().applicant_status(applicant_id=applicant_id)
        except (SumsubUnavailable, SumsubRateLimited):
            raise
        except SumsubError as exc:
            logger.warning(
                "kyc status read refused",
                extra={"event_id": event_id, "status": exc.status, "code": exc.code},
            )
            with transaction.atomic():
                return _event_finish(
                    event, WebhookStatus.ERROR, now, f"status read failed: {exc.status}"
                )

    with transaction.atomic():
        event = SumsubWebhookEvent.objects.select_for_update().get(pk=event_id)
        if event.status != WebhookStatus.RECEIVED:
            return str(event.status)
        kyc = _applicant_for_event(payload, now=now)
        if kyc is None:
            logger.warning(
                "kyc event for an unknown applicant",
                extra={"event_id": event_id, "applicant_id": applicant_id},
            )
            return _event_finish(event, WebhookStatus.ERROR, now, "unknown applicant")
        if kyc.last_event_at_ms is not None and event_ms < kyc.last_event_at_ms:
            logger.info(
                "kyc event out of order, ignored",
                extra={"event_id": event_id, "type": event_type, "applicant_id": applicant_id},
            )
            return _event_finish(event, WebhookStatus.IGNORED_OUT_OF_ORDER, now)
        if review is not None:
            _review_apply(kyc, review, event=event, now=now)
        else:
            status = payload.get("reviewStatus") or EVENT_STATUS.get(event_type)
            if isinstance(status, str) and status:
                kyc.review_status = status[:24]
            if event_type == "applicantLevelChanged":
                _level_change(kyc, payload, event=event, now=now)
            elif event_type == "applicantReset" or kyc.review_status in IN_REVIEW:
                # A new attempt: the previous answer no longer describes the applicant. A
                # FINAL rejection stays recorded (final_rejected_at): only staff lift it.
                kyc.review_answer = ReviewAnswer.NONE
                kyc.reject_type = RejectType.NONE
                kyc.reject_labels = []
                kyc.moderation_comment = ""
        kyc.last_event_at_ms = event_ms
        kyc.updated_at = now
        kyc.save()
        audit_record(
            actor=ACTOR_SUMSUB,
            action="kyc.event",
            object_type="kyc.applicant",
            object_id=kyc.applicant_id,
            data={
                "event_id": event.pk,
                "type": event_type[:64],
                "review_status": kyc.review_status,
                "review_answer": kyc.review_answer,
                "reject_type": kyc.reject_type,
            },
            now=now,
        )
        return _event_finish(event, WebhookStatus.PROCESSED, now)


def _applicant_for_event(payload: Mapping[str, Any], *, now: datetime) -> KycApplicant | None:
    """The applicant of an event, locked; attached to its user when it was created by the
    SDK or before our own record of it committed (found by ``externalUserId``)."""
    applicant_id = str(payload["applicantId"])
    kyc = KycApplicant.objects.select_for_update().filter(applicant_id=applicant_id).first()
    if kyc is not None:
        return kyc
    external = payload.get("externalUserId")
    profile = (
        Profile.objects.filter(subject=external, realm=Realm.CUSTOMER).first()
        if isinstance(external, str)
        else None
    )
    if profile is None:
        return None
    level = payload.get("levelName")
    try:
        _applicant_attach(
            user_id=profile.user_id,
            applicant_id=applicant_id,
            level_name=level if isinstance(level, str) and level else settings.SUMSUB_LEVEL_NAME,
            review_status="init",
            actor=ACTOR_SUMSUB,
            now=now,
        )
    except Conflict:
        return None
    return KycApplicant.objects.select_for_update().get(applicant_id=applicant_id)


def _level_change(
    kyc: KycApplicant, payload: Mapping[str, Any], *, event: SumsubWebhookEvent, now: datetime
) -> None:
    """``applicantLevelChanged``: Sumsub (an operator, or a level-change rule) moved the
    applicant to another level. Later decisions are checked against the new level, and an
    answer given on the old level no longer describes the applicant. A FINAL rejection stays
    recorded (``final_rejected_at``): only staff lift it. A tier already granted stays."""
    level = payload.get("levelName")
    if not isinstance(level, str) or not level or len(level) > 100:
        logger.warning(
            "kyc level change without a usable level name, not applied",
            extra={"applicant_id": kyc.applicant_id, "event_id": event.pk},
        )
        return
    previous = kyc.level_name
    kyc.review_answer = ReviewAnswer.NONE
    kyc.reject_type = RejectType.NONE
    kyc.reject_labels = []
    kyc.moderation_comment = ""
    if level == previous:
        return
    kyc.level_name = level
    audit_record(
        actor=ACTOR_SUMSUB,
        action="kyc.level_changed",
        object_type="kyc.applicant",
        object_id=kyc.applicant_id,
        data={"event_id": event.pk, "previous_level": previous[:100], "level": level},
        now=now,
    )
    logger.info(
        "kyc level changed",
        extra={"applicant_id": kyc.applicant_id, "event_id": event.pk},
    )


def _review_apply(
    kyc: KycApplicant, review: Review, *, event: SumsubWebhookEvent, now: datetime
) -> None:
    """Apply Sumsub's confirmed review to ``kyc`` (in the caller's transaction)."""
    before = (kyc.review_status, kyc.review_answer, kyc.reject_type)
    kyc.review_status = review.review_status[:24]
    if not review.completed:
        return  # the decision is not (or no longer) current: record the status only
    if review.level_name and review.level_name != kyc.level_name:
        logger.warning(
            "kyc review for another level, not applied",
            extra={"applicant_id": kyc.applicant_id, "event_id": event.pk},
        )
        kyc.review_status = before[0]
        return
    user_id = kyc.user_id
    if review.review_answer == ReviewAnswer.GREEN:
        kyc.review_answer = ReviewAnswer.GREEN
        kyc.reject_type = RejectType.NONE
        kyc.reject_labels = []
        kyc.moderation_comment = ""
        kyc.approved_at = kyc.approved_at or now
        changed = before[1:] != (ReviewAnswer.GREEN, RejectType.NONE) or before[0] != "completed"
        _tier_raise(user_id=user_id, applicant_id=kyc.applicant_id, now=now)
        if changed:
            _decision_record(kyc, "kyc.approved", now=now)
            _notify(template="kyc_approved", user_id=user_id, context={}, now=now)
        return
    if review.review_answer != ReviewAnswer.RED:
        logger.warning(
            "kyc review with an unknown answer, not applied",
            extra={"applicant_id": kyc.applicant_id, "event_id": event.pk},
        )
        return
    # RED: reviewRejectType is the authority (never the labels). Without one, the user may
    # try again: nothing is granted, nothing is closed for good.
    final = review.reject_type == RejectType.FINAL
    kyc.review_answer = ReviewAnswer.RED
    kyc.reject_type = RejectType.FINAL if final else RejectType.RETRY
    kyc.reject_labels = list(review.reject_labels)[:20]
    kyc.moderation_comment = (review.moderation_comment or "")[:1000]
    if before == (kyc.review_status, kyc.review_answer, kyc.reject_type):
        return  # the same decision again (a re-sent review): nothing new to tell
    if final:
        kyc.final_rejected_at = kyc.final_rejected_at or now
        _decision_record(kyc, "kyc.rejected", now=now)
        _notify(template="kyc_rejected", user_id=user_id, context={}, now=now)
    else:
        _decision_record(kyc, "kyc.retry", now=now)
        _notify(
            template="kyc_retry",
            user_id=user_id,
            context={"comment": kyc.moderation_comment or "please submit your document again."},
            now=now,
        )


def _decision_record(kyc: KycApplicant, action: str, *, now: datetime) -> None:
    audit_record(
        actor=ACTOR_SUMSUB,
        action=action,
        object_type="kyc.applicant",
        object_id=kyc.applicant_id,
        data={
            "user_id": kyc.user_id,
            "review_answer": kyc.review_answer,
            "reject_type": kyc.reject_type,
            "reject_labels": [str(label)[:64] for label in kyc.reject_labels],
        },
        now=now,
    )
    logger.info(
        "kyc decision",
        extra={"user_id": kyc.user_id, "applicant_id": kyc.applicant_id, "action": action},
    )


def _tier_raise(*, user_id: int, applicant_id: str, now: datetime) -> None:
    # Imported here: kyc.tiers (the limits policy) may load this module itself.
    from lightway.application.kyc.tiers import kyc_tier_set

    kyc_tier_set(
        user_id=user_id,
        tier=KycTier.SUMSUB_VERIFIED,
        actor=ACTOR_SUMSUB,
        reason=f"Sumsub applicant {applicant_id} approved (GREEN)",
        now=now,
        announce=False,  # kyc_approved tells the customer (one SMS, not two)
    )


def _notify(*, template: str, user_id: int, context: dict[str, Any], now: datetime) -> None:
    from lightway.application.notifications.service import notify

    notify(template=template, context=context, user_id=user_id, now=now, channels=("sms", "email"))
