"""What an approved STR filing reports: a :class:`SuspicionInput` per case (the goAML
export turns it into XML)."""

from __future__ import annotations

import uuid
from datetime import datetime

from lightway.application.errors import Conflict, NotFound
from lightway.application.suspicion import SuspicionInput
from lightway.data.aml.models import Alert, Case


def _input(case: Case) -> SuspicionInput:
    if case.approved_by_id is None or case.approved_at is None or case.proposed_by_id is None:
        raise Conflict(
            f"case {case.reference} has no approved filing", details={"case": case.reference}
        )
    alerts = list(
        Alert.objects.filter(case_id=case.pk)
        .order_by("created_at", "id")
        .values_list("rule__kind", "transfer_ids", "subject_user_id")
    )
    indicators: list[str] = []
    transfers: list[uuid.UUID] = []
    subjects: list[int] = []
    # indicators are the rules' kinds (structuring, velocity, ...): a stable vocabulary
    # each FIU configuration maps to its own codes, whatever a rule's code is called
    for kind, transfer_ids, user_id in alerts:
        if kind not in indicators:
            indicators.append(kind)
        for tid in transfer_ids:
            if tid not in transfers:
                transfers.append(tid)
        if user_id is not None and user_id not in subjects:
            subjects.append(user_id)
    if case.subject_user_id is not None and case.subject_user_id not in subjects:
        subjects.insert(0, case.subject_user_id)
    return SuspicionInput(
        case_reference=case.reference,
        reason=case.filing_reason,
        action=case.filing_action,
        indicators=tuple(indicators),
        transfer_ids=tuple(transfers),
        subject_user_ids=tuple(subjects),
        proposed_by=int(case.proposed_by_id),
        approved_by=int(case.approved_by_id),
        approved_at=case.approved_at,
    )


def case_suspicion(case_id: int) -> SuspicionInput:
    """The suspicion an approved case reports (``Conflict`` if its filing is not approved)."""
    case = Case.objects.filter(pk=case_id).first()
    if case is None:
        raise NotFound("case not found", details={"case_id": case_id})
    return _input(case)


def suspicion_inputs(*, start: datetime, end: datetime) -> list[SuspicionInput]:
    """Every filing approved in ``[start, end)``, oldest first (index ``aml_case_approved``)."""
    cases = Case.objects.filter(
        approved_at__isnull=False, approved_at__gte=start, approved_at__lt=end
    ).order_by("approved_at", "id")
    return [_input(case) for case in cases]
