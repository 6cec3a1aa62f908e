"""The delivery log as staff read it (``/staff/notifications/``, docs/notifications.md
"Reading the delivery log"): deliveries newest first with their last SMS attempt (which
provider, the delivery report, the cost), the SMS cost per day from the rollup, the
providers' circuits and the newest reports for unknown message ids. Masked throughout."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from lightway.application.errors import ValidationFailed
from lightway.data.notify.models import (
    Channel,
    DeliveryStatus,
    SmsAttempt,
    SmsProviderCircuit,
    SmsUnknownReport,
)
from lightway.data.notify.selectors import deliveries_log_page
from lightway.data.notify.sms import (
    sms_circuits,
    sms_cost_days,
    sms_latest_attempts,
    sms_unknown_reports_recent,
)

PAGE_SIZE = 50


def micros_text(micros: int | None, currency: str) -> str:
    """``25_000_000, "UGX"`` → ``"UGX 25.0000"`` (providers price SMS in fractions of the
    smallest coin, so four decimals, not the currency's own exponent)."""
    if micros is None:
        return ""
    whole, rest = divmod(int(micros), 1_000_000)
    return f"{currency} {whole:,}.{rest // 100:04d}".strip()


@dataclass(frozen=True)
class CostRow:
    day: date
    provider: str
    currency: str
    messages: int
    cost: str


@dataclass(frozen=True)
class LogRow:
    id: int
    created_at: object
    channel: str
    template: str
    recipient: str  # masked
    status: str
    attempts: int
    last_error: str
    sms: SmsAttempt | None
    cost: str


@dataclass(frozen=True)
class DeliveryLog:
    rows: list[LogRow]
    next_before: int | None
    costs: list[CostRow]
    circuits: list[SmsProviderCircuit]
    unknown: list[SmsUnknownReport]


def delivery_log(
    *, channel: str = "", status: str = "", before: str = "", today: date
) -> DeliveryLog:
    """One page of the log (keyset on the id); ValidationFailed names a bad filter."""
    if channel and channel not in Channel.values:
        raise ValidationFailed(f"unknown channel {channel[:20]!r}", details={"field": "channel"})
    if status and status not in DeliveryStatus.values:
        raise ValidationFailed(f"unknown status {status[:20]!r}", details={"field": "status"})
    before_id = None
    if before:
        if not before.isdigit() or len(before) > 18:
            raise ValidationFailed("not a page of this log", details={"field": "before"})
        before_id = int(before)
    found = deliveries_log_page(
        channel=channel or None, status=status or None, before_id=before_id, limit=PAGE_SIZE + 1
    )
    page, more = found[:PAGE_SIZE], len(found) > PAGE_SIZE
    attempts = sms_latest_attempts([d.pk for d in page if d.channel == Channel.SMS])
    rows = [
        LogRow(
            id=d.pk,
            created_at=d.created_at,
            channel=d.channel,
            template=d.template,
            recipient=d.recipient_masked,
            status=d.status,
            attempts=d.attempts,
            last_error=d.last_error,
            sms=attempts.get(d.pk),
            cost=micros_text(attempts[d.pk].cost_micros, attempts[d.pk].cost_currency)
            if d.pk in attempts
            else "",
        )
        for d in page
    ]
    return DeliveryLog(
        rows=rows,
        next_before=page[-1].pk if more and page else None,
        costs=[
            CostRow(
                day=c.day,
                provider=c.provider,
                currency=c.currency,
                messages=c.messages,
                cost=micros_text(c.cost_micros, c.currency),
            )
            for c in sms_cost_days(since=today - timedelta(days=30))
        ],
        circuits=sms_circuits(),
        unknown=sms_unknown_reports_recent(),
    )
