"""SMS routing: a provider per country with fallbacks, a circuit breaker per provider, and
never the same one-time code through two providers unless the first provably failed
(issue 15, docs/notifications.md "SMS providers").

For one delivery attempt, the providers of the number's country (``LIGHTWAY_SMS_ROUTES``)
are tried in order:

- a provider whose circuit is open is skipped (after ``LIGHTWAY_SMS_BREAKER_SECONDS`` one
  trial call goes through: half-open);
- an attempt row is committed *before* the call; the provider's answer then makes it
  ``accepted`` (done), ``refused`` (the provider answered no: it provably did not send)
  or ``unknown`` (a timeout or a broken connection: it may have sent);
- after a refusal that is not about the number itself (no balance, cannot route, gateway
  error, credentials), the next provider is tried at once; a refusal of the number
  (invalid, blacklisted, not a mobile) ends the delivery: no provider can fix it;
- after an ``unknown`` outcome (or a ``pending`` one a dead worker left), the delivery is
  **pinned** to that provider: later retries use it alone, so a code can reach the phone
  twice at most through the same provider (whose own duplicate handling applies), never
  through two.

Temporary failures (the provider's fault) count against its circuit; successes reset it.
"""

from __future__ import annotations

import logging
from datetime import datetime

import phonenumbers
from django.conf import settings

from lightway.data.notify.models import SmsOutcome
from lightway.data.notify.sms import (
    sms_attempt_accepted,
    sms_attempt_failed,
    sms_attempt_start,
    sms_attempts_of,
    sms_circuit_allows,
    sms_circuit_failure,
    sms_circuit_success,
)
from lightway.infrastructure import metrics
from lightway.integration.notify.gateways import sms_gateway, sms_route
from lightway.integration.notify.port import (
    NotifyError,
    NotifyNotConfigured,
    NotifyTemporaryError,
    SmsResult,
)

logger = logging.getLogger(__name__)


def country_of(number: str) -> str:
    """ISO 3166 alpha-2 of an E.164 number ("" when unknown)."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(number, None)) or ""
    except phonenumbers.NumberParseException:
        return ""


def pinned_provider(delivery_id: int) -> str | None:
    """The provider an earlier attempt of this delivery may have sent through."""
    for attempt in sms_attempts_of(delivery_id):
        if attempt.outcome in (SmsOutcome.UNKNOWN, SmsOutcome.PENDING):
            return attempt.provider
    return None


def sms_send_routed(
    *, delivery_id: int, to: str, text: str, reference: str, now: datetime
) -> SmsResult:
    """Send one SMS delivery through the route of its number's country (see the module
    docstring); raises the last provider's :class:`NotifyError` when none took it."""
    country = country_of(to)
    pinned = pinned_provider(delivery_id)
    chain = [pinned] if pinned else sms_route(country)
    if not chain:
        raise NotifyNotConfigured(
            f"no SMS provider configured for {country or 'this number'}",
            code="not_configured",
        )
    threshold = max(int(settings.LIGHTWAY_SMS_BREAKER_FAILURES), 1)
    open_seconds = max(int(settings.LIGHTWAY_SMS_BREAKER_SECONDS), 1)
    failures: list[NotifyError] = []
    log: dict[str, object] = {"delivery_id": delivery_id, "country": country}
    for provider in chain:
        if not sms_circuit_allows(provider=provider, now=now, open_seconds=open_seconds):
            metrics.sms_attempts_total.labels(provider, "skipped").inc()
            logger.warning(
                "sms provider skipped: circuit open", extra={**log, "provider": provider}
            )
            failures.append(
                NotifyTemporaryError(
                    f"SMS provider {provider} skipped: circuit open",
                    code="circuit_open",
                    unsent=True,
                )
            )
            continue
        gateway = sms_gateway(provider)
        attempt_id = sms_attempt_start(
            delivery_id=delivery_id, provider=provider, country=country, now=now
        )
        try:
            result = gateway.send(to=to, text=text, reference=reference, country=country)
        except NotifyError as exc:
            sms_attempt_failed(attempt_id=attempt_id, unsent=exc.unsent, error_code=exc.code)
            outcome = "refused" if exc.unsent else "unknown"
            metrics.sms_attempts_total.labels(provider, outcome).inc()
            if exc.retryable and not exc.recipient_fault:
                sms_circuit_failure(
                    provider=provider, now=now, threshold=threshold, open_seconds=open_seconds
                )
            logger.warning(
                "sms provider failed",
                extra={**log, "provider": provider, "outcome": outcome, "error_code": exc.code},
            )
            if exc.recipient_fault or not exc.unsent:
                raise  # the number itself, or maybe sent: no other provider
            failures.append(exc)
            continue
        sms_attempt_accepted(
            attempt_id=attempt_id,
            provider_message_id=result.provider_id,
            cost_micros=result.cost_micros,
            cost_currency=result.cost_currency,
            now=now,
        )
        sms_circuit_success(provider=provider, now=now)
        metrics.sms_attempts_total.labels(provider, "accepted").inc()
        if result.cost_micros is not None:
            metrics.sms_cost_micros_total.labels(provider, result.cost_currency).inc(
                result.cost_micros
            )
        logger.info("sms accepted", extra={**log, "provider": provider})
        return result
    # every provider refused or was skipped: temporary (tried again later) when any of
    # them may recover, else the last refusal
    temporary = [failure for failure in failures if failure.retryable]
    raise (temporary or failures)[-1]
