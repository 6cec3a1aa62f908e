"""The case workflow, maker-checker: assign, note (append-only), escalate, propose an STR
filing, approve it (a DIFFERENT compliance officer: refused by this service and by the
database, aml migration 0002), close with a reason. Every step is a case event (the
timeline) and an audit record, in one transaction with the case's change; the case row
is locked first so two officers acting at once are ordered.

The panel checks the officer's permission (``policy.Action``); these services check what
the case's state allows and who may do it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q

from lightway.application.errors import Conflict, NotFound, ValidationFailed
from lightway.data.aml.models import Alert, Case, CaseEvent, CaseState
from lightway.data.audit.services import audit_record
from lightway.infrastructure.jobs import job_enqueue

NOTE_MAX = 4000
REASON_MIN = 10
OPEN_STATES = (CaseState.OPEN, CaseState.ESCALATED)


class MakerChecker(Conflict):
    code = "maker_checker"


def _locked(reference: str) -> Case:
    case = Case.objects.select_for_update().filter(reference=reference).first()
    if case is None:
        raise NotFound("case not found", details={"case": reference[:20]})
    return case


def _event(
    case: Case,
    *,
    actor_id: int,
    kind: str,
    text: str,
    now: datetime,
    data: dict[str, object] | None = None,
) -> None:
    CaseEvent.objects.create(
        case=case, actor_id=actor_id, kind=kind, text=text, data=data or {}, created_at=now
    )
    audit_record(
        actor=f"staff:{actor_id}",
        action=f"aml.case.{kind}",
        object_type="aml.case",
        object_id=case.reference,
        data={"state": case.state, **(data or {})},
        now=now,
    )


def _text(value: str, *, field: str, minimum: int, maximum: int, what: str) -> str:
    value = (value or "").strip()
    if len(value) < minimum:
        raise ValidationFailed(
            f"{what} is required (at least {minimum} characters)", details={"field": field}
        )
    if len(value) > maximum:
        raise ValidationFailed(
            f"{what} is too long (at most {maximum} characters)", details={"field": field}
        )
    return value


def _state(case: Case, allowed: tuple[str, ...], action: str) -> None:
    if case.state not in allowed:
        raise Conflict(
            f"case {case.reference} is {case.get_state_display().lower()}: it cannot be {action}",
            details={"state": case.state},
        )


def case_assign(*, reference: str, assignee_id: int, actor_id: int, now: datetime) -> Case:
    with transaction.atomic():
        case = _locked(reference)
        _state(case, (*OPEN_STATES, CaseState.FILING_PROPOSED), "assigned")
        case.assigned_to_id = assignee_id
        case.updated_at = now
        case.save(update_fields=["assigned_to", "updated_at"])
        _event(
            case, actor_id=actor_id, kind="assign", text="", now=now, data={"assignee": assignee_id}
        )
    return case


def case_note(*, reference: str, text: str, actor_id: int, now: datetime) -> Case:
    body = _text(text, field="text", minimum=1, maximum=NOTE_MAX, what="a note")
    with transaction.atomic():
        case = _locked(reference)
        _state(case, tuple(s for s in CaseState.values if s != CaseState.CLOSED), "noted")
        Case.objects.filter(pk=case.pk).update(updated_at=now)
        _event(case, actor_id=actor_id, kind="note", text=body, now=now)
    return case


def case_escalate(*, reference: str, reason: str, actor_id: int, now: datetime) -> Case:
    body = _text(reason, field="reason", minimum=REASON_MIN, maximum=NOTE_MAX, what="a reason")
    with transaction.atomic():
        case = _locked(reference)
        _state(case, (CaseState.OPEN,), "escalated")
        case.state = CaseState.ESCALATED
        case.updated_at = now
        case.save(update_fields=["state", "updated_at"])
        _event(case, actor_id=actor_id, kind="escalate", text=body, now=now)
    return case


def case_propose_filing(
    *, reference: str, reason: str, action: str, actor_id: int, now: datetime
) -> Case:
    """Propose an STR filing: ``reason`` is the narrative (why this is suspicious),
    ``action`` what the platform did."""
    narrative = _text(
        reason,
        field="reason",
        minimum=REASON_MIN,
        maximum=NOTE_MAX,
        what="the reason for the filing",
    )
    taken = _text(action, field="action", minimum=3, maximum=300, what="the action taken")
    with transaction.atomic():
        case = _locked(reference)
        _state(case, OPEN_STATES, "proposed for filing")
        case.state = CaseState.FILING_PROPOSED
        case.filing_reason = narrative
        case.filing_action = taken
        case.proposed_by_id = actor_id
        case.proposed_at = now
        case.updated_at = now
        case.save(
            update_fields=[
                "state",
                "filing_reason",
                "filing_action",
                "proposed_by",
                "proposed_at",
                "updated_at",
            ]
        )
        _event(
            case,
            actor_id=actor_id,
            kind="propose_filing",
            text=narrative,
            now=now,
            data={"action": taken},
        )
    return case


STR_RELEASE_TASK = "aml_str_release"  # lightway.interfaces.tasks
# The timeline's STR events: queued at approval, then exactly one outcome per (case, FIU).
STR_QUEUED, STR_RELEASED, STR_NOT_RELEASED = "str_queued", "str_released", "str_not_released"
STR_OUTCOMES = (STR_RELEASED, STR_NOT_RELEASED)


def str_fiu() -> str:
    """The FIU an approved filing is reported to (``LIGHTWAY_AML_STR_FIU``; "" for none)."""
    from django.conf import settings

    return str(getattr(settings, "LIGHTWAY_AML_STR_FIU", "") or "")


def case_approve_filing(*, reference: str, actor_id: int, now: datetime) -> Case:
    """Approve the proposed filing: only another officer than the proposer (the database
    refuses it too: ``aml_case_maker_checker``). With an FIU configured
    (``LIGHTWAY_AML_STR_FIU``) the approval queues the STR's release (the job
    ``aml_str_release``, in the approval's transaction: no approval without its job) and
    returns; the job generates, validates and seals the goAML STR (:func:`case_str_release`)."""
    fiu = str_fiu()
    try:
        with transaction.atomic():
            case = _locked(reference)
            _state(case, (CaseState.FILING_PROPOSED,), "approved")
            if case.proposed_by_id == actor_id:
                raise MakerChecker(
                    "the officer who proposed the filing cannot approve it: another "
                    "compliance officer must",
                    details={"case": case.reference},
                )
            case.state = CaseState.FILING_APPROVED
            case.approved_by_id = actor_id
            case.approved_at = now
            case.updated_at = now
            case.save(update_fields=["state", "approved_by", "approved_at", "updated_at"])
            _event(
                case,
                actor_id=actor_id,
                kind="approve_filing",
                text="",
                now=now,
                data={"proposed_by": case.proposed_by_id},
            )
            if fiu:
                _event(
                    case,
                    actor_id=actor_id,
                    kind=STR_QUEUED,
                    text=f"goAML STR for {fiu} being prepared",
                    now=now,
                    data={"fiu": fiu},
                )
                job_enqueue(STR_RELEASE_TASK, case_id=case.pk, fiu=fiu, actor_id=actor_id)
    except IntegrityError as exc:
        raise MakerChecker(
            "the database refused the approval (maker-checker)", details={"case": reference[:20]}
        ) from exc
    return case


def case_str_release(*, case_id: int, fiu: str, actor_id: int, now: datetime) -> str:
    """The approved filing becomes its goAML STR for ``fiu`` (validated, sealed, audited):
    the body of the ``aml_str_release`` job. The timeline says which file, or why none was
    made (the approval stands either way: the STR can be generated again from the goAML
    page). Idempotent: under the case's row lock, a case whose timeline already holds an
    outcome for ``fiu`` is left alone, and the outcome is written in the same transaction
    as the file, so a job run twice (or by two workers at once) releases one STR and writes
    one outcome. Returns the outcome (``str_released``, ``str_not_released``, or
    ``"done"`` when an earlier run had decided)."""
    from lightway.application.aml.filing import case_suspicion
    from lightway.application.errors import DomainError
    from lightway.application.goaml.service import goaml_export_str

    with transaction.atomic():
        case = Case.objects.select_for_update().filter(pk=case_id).first()
        if case is None:
            raise NotFound("case not found", details={"case_id": case_id})
        done = CaseEvent.objects.filter(
            case_id=case.pk, kind__in=STR_OUTCOMES, data__fiu=fiu
        ).exists()
        if done:
            return "done"
        try:
            with transaction.atomic():  # a savepoint: a refusal leaves the outcome writable
                released = goaml_export_str(
                    fiu=fiu, suspicion=case_suspicion(case.pk), actor=f"staff:{actor_id}", now=now
                )
        except DomainError as exc:
            _event(
                case,
                actor_id=actor_id,
                kind=STR_NOT_RELEASED,
                text=exc.message[:500],
                now=now,
                data={"fiu": fiu},
            )
            return STR_NOT_RELEASED
        _event(
            case,
            actor_id=actor_id,
            kind=STR_RELEASED,
            text=f"goAML STR {released.reference} for {fiu}",
            now=now,
            data={"fiu": fiu, "file": released.reference, "sha256": released.sha256},
        )
    return STR_RELEASED


def case_str_status(timeline: list[CaseEvent]) -> CaseEvent | None:
    """The case's latest STR event (queued, released or not released), None without one."""
    found = [e for e in timeline if e.kind in (STR_QUEUED, *STR_OUTCOMES)]
    return found[-1] if found else None


def case_reject_filing(*, reference: str, reason: str, actor_id: int, now: datetime) -> Case:
    """Send a proposed filing back (the checker disagrees): the case is open again."""
    body = _text(reason, field="reason", minimum=REASON_MIN, maximum=NOTE_MAX, what="a reason")
    with transaction.atomic():
        case = _locked(reference)
        _state(case, (CaseState.FILING_PROPOSED,), "sent back")
        if case.proposed_by_id == actor_id:
            raise MakerChecker("the proposer cannot decide on their own proposal")
        case.state = CaseState.OPEN
        case.proposed_by_id = None
        case.proposed_at = None
        case.updated_at = now
        case.save(update_fields=["state", "proposed_by", "proposed_at", "updated_at"])
        _event(case, actor_id=actor_id, kind="reject_filing", text=body, now=now)
    return case


def case_close(*, reference: str, reason: str, actor_id: int, now: datetime) -> Case:
    body = _text(
        reason, field="reason", minimum=REASON_MIN, maximum=500, what="a reason for closing"
    )
    with transaction.atomic():
        case = _locked(reference)
        _state(case, (*OPEN_STATES, CaseState.FILING_APPROVED), "closed")
        case.state = CaseState.CLOSED
        case.closed_reason = body
        case.closed_at = now
        case.updated_at = now
        case.save(update_fields=["state", "closed_reason", "closed_at", "updated_at"])
        _event(case, actor_id=actor_id, kind="close", text=body, now=now)
    return case


# --- reads ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertPage:
    alerts: list[Alert]
    next_cursor: str


def _cursor_encode(alert: Alert) -> str:
    raw = json.dumps([alert.created_at.isoformat(), alert.pk]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_decode(cursor: str) -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, pk = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(at), int(pk)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise ValidationFailed("the page cursor is not valid", details={"field": "after"}) from None


def alerts_page(
    *, rule_code: str = "", state: str = "", after: str = "", limit: int = 25
) -> AlertPage:
    """The alert queue, newest first, in keyset pages (``aml_alert_queue`` /
    ``aml_alert_rule``): filters by rule and by the state of the alert's case."""
    qs = Alert.objects.select_related("case", "rule")
    if rule_code:
        qs = qs.filter(rule_code=rule_code)
    if state:
        if state not in CaseState.values:
            raise ValidationFailed(
                f"state must be one of {', '.join(CaseState.values)}", details={"field": "state"}
            )
        qs = qs.filter(case__state=state)
    if after:
        at, pk = _cursor_decode(after)
        qs = qs.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=pk))
    rows = list(qs.order_by("-created_at", "-id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return AlertPage(rows, _cursor_encode(rows[-1]) if more and rows else "")


def case_get(*, reference: str) -> Case:
    case = Case.objects.filter(reference=reference).first()
    if case is None:
        raise NotFound("case not found", details={"case": reference[:20]})
    return case


def case_timeline(case: Case) -> list[CaseEvent]:
    return list(case.events.select_related("actor").order_by("id")[:500])


def case_alerts(case: Case) -> list[Alert]:
    return list(case.alerts.select_related("rule").order_by("-created_at", "-id")[:200])
