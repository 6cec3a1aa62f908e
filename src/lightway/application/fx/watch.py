"""The staleness watch (docs/fx.md, "Staleness"): the periodic ``fx_rates_watch`` job.

Quoting itself stops in ``fx_rate_for`` the moment a pair's rate is older than its maximum
age: nothing waits for this job. The job says so to people, as the MoMo float check does
(``application/momo/floats.py``): for every watched pair (``LIGHTWAY_FX_WATCH_PAIRS``) it
asks ``fx_rate_for`` and moves the pair's ``FxPairState`` between ``ok``, ``stale`` and
``missing``; a change from quoting to stopped sends ONE alert email (to
``LIGHTWAY_FX_ALERT_EMAIL``, else every active staff member who may approve rates),
counts ``lightway_fx_quoting_stopped_total{pair,reason}`` and logs a warning; staying
stopped sends nothing more; quoting again sends one recovery notice. The state row is
locked while deciding, so two runs at once alert once.

``fx_rate_ages`` gives the gauge ``lightway_fx_rate_age_seconds{pair}`` its figures at
scrape time (two index probes per pair, whatever the history).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction

from lightway.application.fx.rates import FxUnavailable, fx_rate_for, rate_max_age
from lightway.application.notifications.service import staff_alert_email
from lightway.data.fx.models import FxPairState, FxQuote, PairState, QuoteState
from lightway.infrastructure import metrics
from lightway.security.policy import MATRIX, Action

logger = logging.getLogger(__name__)

FX_PAGE = "/staff/fx/"


def watched_pairs() -> list[tuple[str, str]]:
    return [(p[:3], p[4:]) for p in getattr(settings, "FX_WATCH_PAIRS", [])]


@dataclass(frozen=True)
class PairCheck:
    pair: str
    state: str  # ok | stale | missing
    as_of: datetime | None
    source: str
    reason: str
    alert: str = ""  # "stopped" or "recovered" when this run sent one

    def age_seconds(self, now: datetime) -> float | None:
        return None if self.as_of is None else max((now - self.as_of).total_seconds(), 0.0)


def fx_pair_check(*, base: str, quote: str, now: datetime) -> PairCheck:
    """Whether ``base/quote`` can be quoted now, and the rate's age and source (pure read)."""
    pair = f"{base}/{quote}"
    try:
        view = fx_rate_for(send=base, receive=quote, now=now)
    except FxUnavailable as exc:
        state = PairState.STALE if exc.code == "fx_rate_stale" else PairState.MISSING
        raw = exc.details.get("as_of")
        as_of = datetime.fromisoformat(str(raw)) if raw else None
        return PairCheck(pair, state, as_of, str(exc.details.get("source", "")), exc.message)
    assert view is not None
    # A rate that never ages (the peg) has no meaningful age: reported as fresh.
    as_of = now if rate_max_age(view.source, pair) is None else view.as_of
    return PairCheck(pair, PairState.OK, as_of, view.source, "")


def fx_rate_ages(*, now: datetime) -> list[PairCheck]:
    """Every watched pair's check (the metrics collector's figures)."""
    return [fx_pair_check(base=b, quote=q, now=now) for b, q in watched_pairs()]


def fx_rates_watch(*, now: datetime) -> list[PairCheck]:
    """Check every watched pair and alert on changes (module docstring)."""
    return [_record(fx_pair_check(base=b, quote=q, now=now), now) for b, q in watched_pairs()]


def _record(check: PairCheck, now: datetime) -> PairCheck:
    with transaction.atomic():
        row = FxPairState.objects.select_for_update().filter(pair=check.pair).first()
        previous = row.state if row is not None else PairState.OK
        if row is None:
            row = FxPairState(pair=check.pair, state=check.state, since=now)
        alert = ""
        if previous == PairState.OK and check.state != PairState.OK:
            alert = "stopped"
        elif previous != PairState.OK and check.state == PairState.OK:
            alert = "recovered"
        if row.state != check.state:
            row.since = now
        row.state = check.state
        row.as_of = check.as_of
        row.source = check.source
        row.checked_at = now
        if alert == "stopped":
            row.alerted_at = now
        row.save()
        if alert:
            _alert_send(alert, check, now)
            if alert == "stopped":
                transaction.on_commit(
                    metrics.fx_quoting_stopped_total.labels(pair=check.pair, reason=check.state).inc
                )
            logger.warning(
                "fx quoting stopped" if alert == "stopped" else "fx quoting resumed",
                extra={"pair": check.pair, "state": check.state, "source": check.source},
            )
    return PairCheck(check.pair, check.state, check.as_of, check.source, check.reason, alert)


def fx_alert_roles() -> frozenset[str]:
    """The roles whose holders receive FX alerts (those that may approve rates)."""
    return frozenset(r for r, actions in MATRIX.items() if Action.FX_RATES_APPROVE in actions)


def _alert_send(kind: str, check: PairCheck, now: datetime) -> int:
    base = str(settings.LIGHTWAY_PUBLIC_URL or "").rstrip("/")
    if kind == "stopped":
        template = "fx_rate_stale"
        context = {"pair": check.pair, "reason": check.reason, "link": f"{base}{FX_PAGE}"}
    else:
        template = "fx_rate_recovered"
        context = {"pair": check.pair, "source": check.source, "link": f"{base}{FX_PAGE}"}
    raw = str(getattr(settings, "LIGHTWAY_FX_ALERT_EMAIL", "") or "")
    ids = staff_alert_email(
        template=template,
        context=context,
        addresses=[a.strip() for a in raw.split(",") if "@" in a.strip()],
        roles=fx_alert_roles(),
        now=now,
    )
    if not ids:
        logger.warning(
            "fx alert has no recipient: set LIGHTWAY_FX_ALERT_EMAIL or give finance staff an email",
            extra={"pair": check.pair},
        )
    return len(ids)


def fx_quotes_expire(*, now: datetime, batch: int = 1000) -> int:
    """Mark ACTIVE quotes past their expiry EXPIRED (``fx_quote_active_expiry``). A quote's
    use checks its expiry itself; this keeps the states honest for reads and reports."""
    expired = 0
    while True:
        with transaction.atomic():
            ids = list(
                FxQuote.objects.select_for_update(skip_locked=True)
                .filter(state=QuoteState.ACTIVE, expires_at__lte=now)
                .order_by("expires_at")
                .values_list("id", flat=True)[:batch]
            )
            if ids:
                FxQuote.objects.filter(id__in=ids, state=QuoteState.ACTIVE).update(
                    state=QuoteState.EXPIRED
                )
        expired += len(ids)
        if len(ids) < batch:
            return expired
