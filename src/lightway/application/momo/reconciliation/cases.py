"""The operations work-queue of reconciliation cases: assign, resolve (both audited),
and the staff who may work it. Resolving never moves money."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.db import transaction

from lightway.application.errors import NotFound, ValidationFailed
from lightway.data.audit.services import audit_record
from lightway.data.reconciliation.models import ReconCase
from lightway.data.reconciliation.services import CaseNotOpen, recon_case_assign, recon_case_resolve


def case_assign(
    *, case_id: int, assignee_id: int | None, actor_id: int, now: datetime
) -> ReconCase:
    """Assign a case (or hand it back to the queue with ``None``); audited."""
    return _case_change(
        case_id,
        lambda: recon_case_assign(case_id=case_id, assignee_id=assignee_id, now=now),
        action="assign",
        audit=lambda case: {"assignee": assignee_id, "key": case.key},
        actor_id=actor_id,
        now=now,
    )


def case_resolve(*, case_id: int, note: str, actor_id: int, now: datetime) -> ReconCase:
    """Resolve a case with a note saying what was done; audited. Resolving never moves
    money: corrections go through the ledger's own (maker-checker) paths."""
    note = (note or "").strip()
    if len(note) < 5:
        raise ValidationFailed(
            "write a note of at least 5 characters saying what was done",
            details={"field": "note"},
        )
    if len(note) > 500:
        raise ValidationFailed("the note is longer than 500 characters", details={"field": "note"})
    return _case_change(
        case_id,
        lambda: recon_case_resolve(case_id=case_id, note=note, resolved_by_id=actor_id, now=now),
        action="resolve",
        audit=lambda case: {"key": case.key, "category": case.category, "note_length": len(note)},
        actor_id=actor_id,
        now=now,
    )


def _case_change(
    case_id: int,
    change: Callable[[], ReconCase],
    *,
    action: str,
    audit: Callable[[ReconCase], dict[str, object]],
    actor_id: int,
    now: datetime,
) -> ReconCase:
    """Apply ``change`` to an open case and audit it (``momo.recon_case.<action>``, with
    ``audit(case)`` as its data), in one transaction."""
    with transaction.atomic():
        try:
            case = change()
        except ReconCase.DoesNotExist:
            raise NotFound("no such case", details={"case_id": case_id}) from None
        except CaseNotOpen:
            raise ValidationFailed(
                "this case is resolved already", details={"field": "case"}
            ) from None
        audit_record(
            actor=f"staff:{actor_id}",
            action=f"momo.recon_case.{action}",
            object_type="recon.case",
            object_id=str(case.pk),
            data=audit(case),
            now=now,
        )
    return case


def case_assignees() -> list[tuple[int, str]]:
    """(user id, username) of the active staff who may work the case queue."""
    from django.contrib.auth import get_user_model

    from lightway.security.models import RoleAssignment
    from lightway.security.policy import MATRIX, Action

    roles = [role for role, actions in MATRIX.items() if Action.RECON_MANAGE in actions]
    ids = RoleAssignment.objects.filter(role__in=roles).values_list("user_id", flat=True)
    users = get_user_model().objects.filter(pk__in=ids, is_active=True).order_by("username")
    return [(int(u.pk), u.get_username()) for u in users]
