"""Legal holds: a person (or an AML case) kept out of every erasure and purge.

Placing one needs the compliance permission and a reason; releasing it needs another
compliance officer (maker-checker, also enforced by the database) and a reason. Both are
audited. While a person has an active hold, the database refuses to destroy their key.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from lightway.application.errors import ValidationFailed
from lightway.data.audit.services import audit_record
from lightway.data.identity.models import Profile
from lightway.data.retention.models import LegalHold


def _reason(text: str | None, field: str) -> str:
    cleaned = " ".join((text or "").split())
    if len(cleaned) < 5:
        raise ValidationFailed("give a reason (at least 5 characters)", details={"field": field})
    if len(cleaned) > 500:
        raise ValidationFailed("the reason is at most 500 characters", details={"field": field})
    return cleaned


def hold_place(
    *, subject: str, case_ref: str, reason: str, placed_by: int, now: datetime
) -> LegalHold:
    """Hold the customer whose subject reference (``sub_…``) is ``subject``, or an AML case
    by reference, or both."""
    subject = (subject or "").strip()
    case_ref = (case_ref or "").strip()
    if not subject and not case_ref:
        raise ValidationFailed(
            "name the customer (subject reference) or the case", details={"field": "subject"}
        )
    if len(case_ref) > 64 or (case_ref and not case_ref.isprintable()):
        raise ValidationFailed(
            "the case reference is at most 64 printable characters",
            details={"field": "case_ref"},
        )
    cleaned = _reason(reason, "reason")
    user_id = None
    if subject:
        user_id = Profile.objects.filter(subject=subject).values_list("user_id", flat=True).first()
        if user_id is None:
            raise ValidationFailed(
                "no customer has this subject reference", details={"field": "subject"}
            )
    with transaction.atomic():
        hold = LegalHold.objects.create(
            user_id=user_id,
            case_ref=case_ref,
            reason=cleaned,
            placed_by_id=placed_by,
            placed_at=now,
        )
        audit_record(
            actor=f"staff:{placed_by}",
            action="retention.hold_place",
            object_type="retention.legal_hold",
            object_id=str(hold.pk),
            data={"user_id": user_id, "case_ref": case_ref},
            now=now,
        )
    return hold


def hold_release(*, hold_id: int, released_by: int, reason: str, now: datetime) -> LegalHold:
    cleaned = _reason(reason, "release_reason")
    with transaction.atomic():
        hold = LegalHold.objects.select_for_update().filter(pk=hold_id).first()
        if hold is None:
            raise ValidationFailed("no such legal hold", details={"field": "hold"})
        if hold.released_at is not None:
            raise ValidationFailed("this hold was already released", details={"field": "hold"})
        if hold.placed_by_id == released_by:
            raise ValidationFailed(
                "another compliance officer must release a hold you placed",
                details={"field": "hold"},
            )
        hold.released_at = now
        hold.released_by_id = released_by
        hold.release_reason = cleaned
        hold.save(update_fields=["released_at", "released_by", "release_reason"])
        audit_record(
            actor=f"staff:{released_by}",
            action="retention.hold_release",
            object_type="retention.legal_hold",
            object_id=str(hold.pk),
            data={"user_id": hold.user_id, "case_ref": hold.case_ref},
            now=now,
        )
    return hold


def holds_active(*, limit: int = 200) -> list[LegalHold]:
    return list(
        LegalHold.objects.filter(released_at__isnull=True)
        .select_related("user__profile")
        .order_by("-id")[:limit]
    )


def holds_recent_released(*, limit: int = 20) -> list[LegalHold]:
    return list(
        LegalHold.objects.filter(released_at__isnull=False)
        .select_related("user__profile")
        .order_by("-id")[:limit]
    )


def user_held(*, user_id: int) -> bool:
    return LegalHold.objects.filter(user_id=user_id, released_at__isnull=True).exists()
