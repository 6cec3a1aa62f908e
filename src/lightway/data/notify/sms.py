"""SMS attempts, delivery reports, circuit breakers and daily costs (issue 15).

Every function here is one short statement or transaction on its own, called outside the
caller's transaction where it says so: an attempt is recorded *before* its provider is
called, so the record survives the worker dying mid-call.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db import connection, transaction

from lightway.data.notify.models import (
    REPORT_RANK,
    ReportStatus,
    SmsAttempt,
    SmsCostDay,
    SmsOutcome,
    SmsProviderCircuit,
    SmsUnknownReport,
)

UNKNOWN_REPORTS_KEPT = 1000


# --- attempts ----------------------------------------------------------------------------


def sms_attempt_start(*, delivery_id: int, provider: str, country: str, now: datetime) -> int:
    """Record that ``provider`` is about to be handed the delivery (committed at once)."""
    with transaction.atomic():
        attempt = SmsAttempt.objects.create(
            delivery_id=delivery_id,
            provider=provider,
            country=country[:2],
            outcome=SmsOutcome.PENDING,
            started_at=now,
        )
    return int(attempt.pk)


def sms_attempt_accepted(
    *,
    attempt_id: int,
    provider_message_id: str,
    cost_micros: int | None,
    cost_currency: str,
    now: datetime,
) -> None:
    """The provider took the message; its cost joins the day's total in the same
    transaction."""
    with transaction.atomic():
        attempt = SmsAttempt.objects.select_for_update().get(pk=attempt_id)
        attempt.outcome = SmsOutcome.ACCEPTED
        attempt.provider_message_id = provider_message_id[:100]
        attempt.cost_micros = cost_micros
        attempt.cost_currency = cost_currency[:3] if cost_micros is not None else ""
        attempt.save(
            update_fields=["outcome", "provider_message_id", "cost_micros", "cost_currency"]
        )
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO notify_sms_cost_day (day, provider, currency, messages, cost_micros)
                VALUES ((%s AT TIME ZONE 'UTC')::date, %s, %s, 1, %s)
                ON CONFLICT (day, provider, currency) DO UPDATE
                   SET messages = notify_sms_cost_day.messages + 1,
                       cost_micros = notify_sms_cost_day.cost_micros + EXCLUDED.cost_micros
                """,
                [now, attempt.provider, attempt.cost_currency, cost_micros or 0],
            )


def sms_attempt_failed(*, attempt_id: int, unsent: bool, error_code: str) -> None:
    """``refused`` when the provider provably did not take it, else ``unknown``."""
    outcome = SmsOutcome.REFUSED if unsent else SmsOutcome.UNKNOWN
    SmsAttempt.objects.filter(pk=attempt_id).update(outcome=outcome, error_code=error_code[:40])


def sms_attempts_of(delivery_id: int) -> list[SmsAttempt]:
    """A delivery's attempts, oldest first (index on delivery, id)."""
    return list(SmsAttempt.objects.filter(delivery_id=delivery_id).order_by("id"))


# --- delivery reports ------------------------------------------------------------------------


def sms_report_apply(
    *,
    provider: str,
    provider_message_id: str,
    status: ReportStatus,
    error: str,
    network_code: str,
    now: datetime,
) -> str:
    """Apply one delivery report: ``"applied"``, ``"stale"`` (a duplicate, or one that
    would move the message backwards or off a final status: counted, not applied) or
    ``"unknown"`` (no such message: kept as bounded evidence by the caller).

    One UPDATE whose WHERE clause holds the ordering rule, so concurrent reports for the
    same message serialise on the row and the higher rank wins whatever the arrival order.
    """
    final = REPORT_RANK[status] == 3
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE notify_sms_attempt
               SET report_status = %s, report_final = %s, report_error = %s,
                   network_code = %s, report_at = %s, reports = reports + 1
             WHERE provider = %s AND provider_message_id = %s
               AND NOT report_final
               AND notify_sms_report_rank(%s) >= notify_sms_report_rank(report_status)
            """,
            [
                status.value,
                final,
                error[:60],
                network_code[:10],
                now,
                provider,
                provider_message_id,
                status.value,
            ],
        )
        if cursor.rowcount:
            return "applied"
        cursor.execute(
            "UPDATE notify_sms_attempt SET reports = reports + 1"
            " WHERE provider = %s AND provider_message_id = %s",
            [provider, provider_message_id],
        )
        return "stale" if cursor.rowcount else "unknown"


def sms_unknown_report_store(
    *, provider: str, provider_message_id: str, status: str, recipient_masked: str, now: datetime
) -> None:
    """Keep a report for an unknown message id; only the newest ``UNKNOWN_REPORTS_KEPT``
    stay (the delete reads the primary key's newest end only)."""
    with transaction.atomic():
        SmsUnknownReport.objects.create(
            provider=provider[:20],
            provider_message_id=provider_message_id[:100],
            status=status[:30],
            recipient_masked=recipient_masked[:40],
            received_at=now,
        )
        with connection.cursor() as cursor:
            cursor.execute(
                """
                DELETE FROM notify_sms_unknown_report
                 WHERE id <= (SELECT id FROM notify_sms_unknown_report
                               ORDER BY id DESC OFFSET %s LIMIT 1)
                """,
                [UNKNOWN_REPORTS_KEPT],
            )


# --- circuit breakers ----------------------------------------------------------------------


def sms_circuit_allows(*, provider: str, now: datetime, open_seconds: int) -> bool:
    """Whether ``provider`` may be called now: closed, or open but past ``open_until``, in
    which case this caller takes the one half-open trial (the window moves forward, so
    concurrent callers keep skipping it until the trial's outcome is known)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT open_until FROM notify_sms_circuit WHERE provider = %s", [provider])
        row = cursor.fetchone()
        if row is None or row[0] is None:
            return True
        cursor.execute(
            """
            UPDATE notify_sms_circuit SET open_until = %s, updated_at = %s
             WHERE provider = %s AND open_until IS NOT NULL AND open_until <= %s
            """,
            [now + timedelta(seconds=open_seconds), now, provider, now],
        )
        return bool(cursor.rowcount)


def sms_circuit_success(*, provider: str, now: datetime) -> None:
    SmsProviderCircuit.objects.filter(provider=provider).exclude(
        failures=0, open_until__isnull=True
    ).update(failures=0, open_until=None, updated_at=now)


def sms_circuit_failure(*, provider: str, now: datetime, threshold: int, open_seconds: int) -> bool:
    """Count one more consecutive temporary failure; open the circuit at ``threshold``.
    Returns whether the circuit is open afterwards."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO notify_sms_circuit (provider, failures, open_until, updated_at)
            VALUES (%s, 1, CASE WHEN %s <= 1 THEN %s END, %s)
            ON CONFLICT (provider) DO UPDATE
               SET failures = notify_sms_circuit.failures + 1,
                   open_until = CASE WHEN notify_sms_circuit.failures + 1 >= %s THEN %s
                                     ELSE notify_sms_circuit.open_until END,
                   updated_at = EXCLUDED.updated_at
            RETURNING open_until IS NOT NULL
            """,
            [
                provider,
                threshold,
                now + timedelta(seconds=open_seconds),
                now,
                threshold,
                now + timedelta(seconds=open_seconds),
            ],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def sms_circuits() -> list[SmsProviderCircuit]:
    return list(SmsProviderCircuit.objects.order_by("provider"))


def sms_latest_attempts(delivery_ids: list[int]) -> dict[int, SmsAttempt]:
    """The last attempt of each of these deliveries (a page of the log: one indexed query)."""
    latest: dict[int, SmsAttempt] = {}
    if not delivery_ids:
        return latest
    for attempt in SmsAttempt.objects.filter(delivery_id__in=delivery_ids).order_by(
        "delivery_id", "id"
    ):
        latest[attempt.delivery_id] = attempt
    return latest


def sms_cost_days(*, since: date) -> list[SmsCostDay]:
    """The daily cost rows from ``since`` (the rollup table: days x providers x currencies)."""
    return list(SmsCostDay.objects.filter(day__gte=since).order_by("-day", "provider", "currency"))


def sms_unknown_reports_recent(limit: int = 10) -> list[SmsUnknownReport]:
    return list(SmsUnknownReport.objects.order_by("-id")[:limit])
