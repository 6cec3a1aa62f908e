"""Resetting a staff member's second factor: maker-checker, audited (issue 11, finding 2).

A staff member who lost their authenticator app and backup codes cannot sign in. The admin
site no longer shows or plants second-factor devices; instead:

1. :func:`mfa_reset_request` — an authorised staff member (``staff.roles``) asks, with a
   reason, that another staff member's second factor be reset (``mfa.reset.request``);
2. :func:`mfa_reset_approve` — a *different* authorised staff member (neither the requester
   nor the target) approves it: every device of the target (authenticator app, backup
   codes, passkeys) is deleted in the same transaction (``mfa.reset.approve``), so the
   target's sessions lose their verification and the next sign-in must enrol again;
   or :func:`mfa_reset_reject` closes it (``mfa.reset.reject``).

The database holds the four-eyes rule too (``mfa_reset_request`` constraints).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django_otp.plugins.otp_static.models import StaticDevice

from lightway.application.errors import Conflict, DomainError, NotFound, ValidationFailed
from lightway.data.audit.services import audit_record
from lightway.security.mfa.models import MfaResetRequest, PasskeyCredential, TotpDevice
from lightway.security.policy import STAFF_REALMS, Action, allows, user_realm_of, user_roles

REASON_MIN, REASON_MAX = 10, 500


class ResetForbidden(DomainError):
    code = "forbidden"


@dataclass(frozen=True)
class ResetView:
    id: int
    target_id: int
    target_username: str
    requested_by_id: int
    requested_by_username: str
    reason: str
    requested_at: datetime


def _staff(user_id: int, *, lock: bool = False):  # type: ignore[no-untyped-def]
    users = get_user_model().objects
    user = (users.select_for_update() if lock else users).filter(pk=user_id).first()
    if user is None or user_realm_of(user) not in STAFF_REALMS:
        raise NotFound("no such staff account", details={"user_id": user_id})
    return user


def _authorised(actor_id: int) -> None:
    actor = get_user_model().objects.filter(pk=actor_id, is_active=True).first()
    if actor is None or not allows(user_roles(actor), Action.STAFF_ROLES):
        raise ResetForbidden("only staff administrators may reset a second factor")


def _audit(actor_id: int, action: str, target_id: int, now: datetime, **data: object) -> None:
    audit_record(
        actor=f"staff:{actor_id}",
        action=action,
        object_type="auth.user",
        object_id=str(target_id),
        data=dict(data),
        now=now,
    )


def second_factor_remove_all(*, user_id: int) -> dict[str, int]:
    """Delete every second-factor device of ``user_id`` (authenticator app, backup codes,
    passkeys) in the caller's transaction; how many of each kind were removed. The callers
    are maker-checker approvals (staff here, customers in ``application/backoffice``)."""
    removed: dict[str, int] = {}
    for kind, model in (
        ("totp", TotpDevice),
        ("backup_codes", StaticDevice),
        ("passkeys", PasskeyCredential),
    ):
        devices = model.objects.filter(user_id=user_id)
        removed[kind] = devices.count()
        devices.delete()
    return removed


def mfa_reset_request(
    *, actor_id: int, target_user_id: int, reason: str, now: datetime
) -> MfaResetRequest:
    """Ask for a reset of another staff member's second factor (a second administrator must
    approve it)."""
    _authorised(actor_id)
    text = " ".join((reason or "").split())
    if not REASON_MIN <= len(text) <= REASON_MAX:
        raise ValidationFailed(
            f"give a reason of {REASON_MIN} to {REASON_MAX} characters (the ticket and why)",
            details={"field": "reason"},
        )
    if actor_id == target_user_id:
        raise ValidationFailed(
            "you cannot ask for a reset of your own second factor; ask another administrator",
            details={"field": "user_id"},
        )
    _staff(target_user_id)
    try:
        with transaction.atomic():
            row = MfaResetRequest.objects.create(
                target_id=target_user_id, requested_by_id=actor_id, reason=text, requested_at=now
            )
            _audit(actor_id, "mfa.reset.request", target_user_id, now, request=row.pk, reason=text)
    except IntegrityError:
        raise Conflict(
            "a reset of this staff member's second factor is already waiting for approval",
            details={"user_id": target_user_id},
        ) from None
    return row


def _pending(request_id: int) -> MfaResetRequest:
    row = (
        MfaResetRequest.objects.select_for_update()
        .filter(pk=request_id, status=MfaResetRequest.Status.PENDING)
        .first()
    )
    if row is None:
        raise NotFound("no such reset waiting for approval", details={"request_id": request_id})
    return row


def mfa_reset_approve(*, actor_id: int, request_id: int, now: datetime) -> dict[str, int]:
    """Approve a pending reset (not your own request, not your own account): every device of
    the target is deleted. Returns how many of each kind were removed."""
    _authorised(actor_id)
    with transaction.atomic():
        row = _pending(request_id)
        if actor_id in (row.requested_by_id, row.target_id):
            raise ResetForbidden(
                "a reset needs a second administrator: neither the one who asked nor the "
                "staff member concerned may approve it"
            )
        _staff(int(row.target_id), lock=True)
        removed = second_factor_remove_all(user_id=int(row.target_id))
        row.status = MfaResetRequest.Status.APPROVED
        row.decided_by_id = actor_id
        row.decided_at = now
        row.save(update_fields=["status", "decided_by", "decided_at"])
        _audit(
            actor_id,
            "mfa.reset.approve",
            int(row.target_id),
            now,
            request=row.pk,
            requested_by=f"staff:{row.requested_by_id}",
            removed=removed,
        )
    return removed


def mfa_reset_reject(*, actor_id: int, request_id: int, now: datetime) -> None:
    """Close a pending reset without changing anything (any administrator but its target)."""
    _authorised(actor_id)
    with transaction.atomic():
        row = _pending(request_id)
        if actor_id == row.target_id:
            raise ResetForbidden("the staff member concerned cannot decide their own reset")
        if actor_id == row.requested_by_id:
            raise ResetForbidden("a second administrator decides a reset, not the one who asked")
        row.status = MfaResetRequest.Status.REJECTED
        row.decided_by_id = actor_id
        row.decided_at = now
        row.save(update_fields=["status", "decided_by", "decided_at"])
        _audit(actor_id, "mfa.reset.reject", int(row.target_id), now, request=row.pk)


def mfa_reset_pending() -> list[ResetView]:
    """The resets waiting for approval, oldest first."""
    rows = (
        MfaResetRequest.objects.filter(status=MfaResetRequest.Status.PENDING)
        .select_related("target", "requested_by")
        .order_by("requested_at", "pk")
    )
    return [
        ResetView(
            id=r.pk,
            target_id=int(r.target_id),
            target_username=r.target.get_username(),
            requested_by_id=int(r.requested_by_id),
            requested_by_username=r.requested_by.get_username(),
            reason=r.reason,
            requested_at=r.requested_at,
        )
        for r in rows
    ]
