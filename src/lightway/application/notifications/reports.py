"""SMS delivery reports from Africa's Talking and Twilio (issue 15).

Each provider's report is mapped to one normalised status (``ReportStatus``) and applied
to the attempt that carries the provider's message id: idempotently, in any order, never
moving a final status back or a status to a lower rank (``data/notify/sms.py`` and the
table's trigger). A report for a message id the platform never sent is kept as bounded
evidence (the newest 1,000, the number masked), not treated as an error: providers resend
and reorder, and an account may be shared with another system.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from lightway.application.errors import ValidationFailed
from lightway.data.notify.models import ReportStatus
from lightway.data.notify.sms import sms_report_apply, sms_unknown_report_store
from lightway.infrastructure import metrics
from lightway.security.masking import mask_phone

logger = logging.getLogger(__name__)

# Africa's Talking's delivery statuses (its "SMS delivery reports" documentation)
AT_STATUSES = {
    "Sent": ReportStatus.SENT,
    "Submitted": ReportStatus.SENT,
    "Buffered": ReportStatus.SENT,
    "Success": ReportStatus.DELIVERED,
    "Failed": ReportStatus.FAILED,
    "Rejected": ReportStatus.FAILED,
    "AbsentSubscriber": ReportStatus.FAILED,
    "Expired": ReportStatus.FAILED,
}
# Twilio's message statuses
TWILIO_STATUSES = {
    "accepted": ReportStatus.QUEUED,
    "scheduled": ReportStatus.QUEUED,
    "queued": ReportStatus.QUEUED,
    "sending": ReportStatus.SENT,
    "sent": ReportStatus.SENT,
    "delivered": ReportStatus.DELIVERED,
    "read": ReportStatus.DELIVERED,
    "undelivered": ReportStatus.FAILED,
    "failed": ReportStatus.FAILED,
    "canceled": ReportStatus.FAILED,
}


@dataclass(frozen=True)
class ParsedReport:
    provider: str
    message_id: str
    raw_status: str
    status: ReportStatus
    error: str
    network_code: str
    phone: str


def _field(form: Mapping[str, str], name: str, *, required: bool = True, limit: int = 100) -> str:
    value = str(form.get(name) or "").strip()
    if required and not value:
        raise ValidationFailed(f"'{name}' is required", details={"field": name})
    if len(value) > limit:
        raise ValidationFailed(f"'{name}' is longer than {limit}", details={"field": name})
    return value


def report_parse(provider: str, form: Mapping[str, str]) -> ParsedReport:
    """One provider's form fields → a :class:`ParsedReport`; ValidationFailed names the
    field that is missing or not one the provider sends."""
    if provider == "africastalking":
        raw = _field(form, "status", limit=30)
        if raw not in AT_STATUSES:
            raise ValidationFailed(f"unknown status {raw[:30]!r}", details={"field": "status"})
        return ParsedReport(
            provider=provider,
            message_id=_field(form, "id"),
            raw_status=raw,
            status=AT_STATUSES[raw],
            error=_field(form, "failureReason", required=False, limit=60),
            network_code=_field(form, "networkCode", required=False, limit=10),
            phone=_field(form, "phoneNumber", required=False, limit=20),
        )
    if provider == "twilio":
        raw = _field(form, "MessageStatus", limit=30)
        if raw not in TWILIO_STATUSES:
            raise ValidationFailed(
                f"unknown MessageStatus {raw[:30]!r}", details={"field": "MessageStatus"}
            )
        return ParsedReport(
            provider=provider,
            message_id=_field(form, "MessageSid"),
            raw_status=raw,
            status=TWILIO_STATUSES[raw],
            error=_field(form, "ErrorCode", required=False, limit=60),
            network_code="",
            phone=_field(form, "To", required=False, limit=20),
        )
    raise ValueError(f"unknown SMS provider {provider!r}")


def sms_report_receive(*, provider: str, form: Mapping[str, str], now: datetime) -> str:
    """Apply one delivery report; returns ``applied``, ``stale`` or ``unknown``."""
    report = report_parse(provider, form)
    result = sms_report_apply(
        provider=provider,
        provider_message_id=report.message_id,
        status=report.status,
        error=report.error,
        network_code=report.network_code,
        now=now,
    )
    if result == "unknown":
        sms_unknown_report_store(
            provider=provider,
            provider_message_id=report.message_id,
            status=report.raw_status,
            recipient_masked=mask_phone(report.phone) if report.phone else "",
            now=now,
        )
    metrics.sms_reports_total.labels(provider, result).inc()
    logger.info(
        "sms delivery report",
        extra={"provider": provider, "status": report.status.value, "result": result},
    )
    return result
