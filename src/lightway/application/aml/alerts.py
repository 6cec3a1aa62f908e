"""Alerts: what a rule found, with its evidence. Each alert opens a case for its subject or
joins the subject's open case (one open case per subject at a time, under an advisory lock
so two alerts raised at once do not open two cases)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction

from lightway.data.aml.models import Alert, Case, CaseEvent, CaseState, RuleVersion
from lightway.data.audit.services import audit_record

CASE_REFERENCE = "AML-{:06d}"


@dataclass(frozen=True)
class AlertInput:
    rule: RuleVersion
    subject_ref: str  # "user:<id>" or "remittance:<uuid>"
    subject_user_id: int | None
    dedupe: str  # what makes it unique for the rule and subject: a window, a transfer
    evidence: Mapping[str, object]
    transfer_ids: tuple[uuid.UUID, ...] = ()
    score: float = 0.0
    window_start: datetime | None = None
    window_end: datetime | None = None


def dedupe_key(rule_code: str, subject_ref: str, dedupe: str) -> str:
    return f"{rule_code}|{subject_ref}|{dedupe}"[:200]


def _lock_subject(subject_ref: str) -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('aml_subject:' || %s))", [subject_ref])


def _case_for(subject_ref: str, subject_user_id: int | None, now: datetime) -> tuple[Case, bool]:
    case = (
        Case.objects.filter(subject_ref=subject_ref)
        .exclude(state=CaseState.CLOSED)
        .order_by("-id")
        .first()
    )
    if case is not None:
        return case, False
    with connection.cursor() as cur:
        cur.execute("SELECT nextval(pg_get_serial_sequence('aml_case', 'id'))")
        case_id = int(cur.fetchone()[0])
    case = Case.objects.create(
        id=case_id,
        reference=CASE_REFERENCE.format(case_id),
        subject_ref=subject_ref,
        subject_user_id=subject_user_id,
        created_at=now,
        updated_at=now,
    )
    CaseEvent.objects.create(case=case, kind="opened", created_at=now)
    audit_record(
        actor="system",
        action="aml.case.open",
        object_type="aml.case",
        object_id=case.reference,
        data={"subject": subject_ref},
        now=now,
    )
    return case, True


def alert_raise(alert: AlertInput, *, now: datetime) -> Alert | None:
    """Record ``alert`` and attach it to its subject's case, in the caller's transaction
    (a savepoint). None when the same (rule, subject, window/transfer) was already raised."""
    key = dedupe_key(alert.rule.code, alert.subject_ref, alert.dedupe)
    with transaction.atomic():
        _lock_subject(alert.subject_ref)
        if Alert.objects.filter(dedupe_key=key).exists():
            return None
        case, _ = _case_for(alert.subject_ref, alert.subject_user_id, now)
        row = Alert.objects.create(
            rule=alert.rule,
            rule_code=alert.rule.code,
            subject_user_id=alert.subject_user_id,
            subject_ref=alert.subject_ref,
            window_start=alert.window_start,
            window_end=alert.window_end,
            dedupe_key=key,
            transfer_ids=list(alert.transfer_ids),
            evidence=dict(alert.evidence),
            score=alert.score,
            action=alert.rule.action,
            case=case,
            created_at=now,
        )
        CaseEvent.objects.create(
            case=case,
            kind="alert",
            text=f"{alert.rule.code} v{alert.rule.version}",
            data={"alert": row.pk},
            created_at=now,
        )
        Case.objects.filter(pk=case.pk).update(updated_at=now)
        audit_record(
            actor="system",
            action="aml.alert.raise",
            object_type="aml.alert",
            object_id=str(row.pk),
            data={
                "rule": alert.rule.code,
                "version": alert.rule.version,
                "case": case.reference,
                "transfers": [str(t) for t in alert.transfer_ids][:50],
            },
            now=now,
        )
        return row


def alerts_raise(alerts: Iterable[AlertInput], *, now: datetime) -> int:
    """Raise each alert in its own transaction; how many were new."""
    new = 0
    for alert in alerts:
        with transaction.atomic():
            if alert_raise(alert, now=now) is not None:
                new += 1
    return new
