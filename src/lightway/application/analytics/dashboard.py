"""The LightWay back-office home dashboard (``/staff/``) and the MTN portal's figures
(``/mtn/``): what each viewer's roles allow, from the rollups and a few bounded counts.

Nothing here reads history: the counted figures come from the rollups
(``figures.py``), floats from the latest readings of the last hour, and the open alerts
and cases are counts over partial indexes that hold only open items (capped at
``OPEN_CAP``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lightway.application.analytics.figures import (
    MOMO_KINDS,
    LatencyRow,
    ProviderFigures,
    QueueFigures,
    TransferFigures,
    Window,
    figures_as_of,
    latency_figures,
    provider_figures,
    queue_figures,
    transfer_figures,
    window_of,
)
from lightway.application.momo.floats import FloatAccount, float_accounts
from lightway.data.analytics.models import LatencySource
from lightway.security.policy import Action, allows

OPEN_CAP = 1000
LIVE_SPAN = timedelta(hours=1)  # the time series: the last hour, per minute
DAY_SPAN = timedelta(hours=24)  # the totals: the last 24 hours, per hour
QUEUE_LAG_ALERT_MS = 60_000


@dataclass(frozen=True)
class OpenItem:
    """An alert or a case queue: what, how many (``cap``+ means at least), where to look."""

    label: str
    count: int
    href: str
    severity: str = "warn"  # warn | info

    @property
    def shown(self) -> str:
        return f"{OPEN_CAP}+" if self.count >= OPEN_CAP else str(self.count)


@dataclass(frozen=True)
class Dashboard:
    now: datetime
    as_of: datetime | None
    day: Window
    live: Window
    transfers: TransferFigures | None = None
    provider: ProviderFigures | None = None
    api_latency: list[LatencyRow] = field(default_factory=list)
    momo_latency: list[LatencyRow] = field(default_factory=list)
    outcome_latency: list[LatencyRow] = field(default_factory=list)
    queue: QueueFigures | None = None
    floats: list[FloatAccount] | None = None
    alerts: list[OpenItem] = field(default_factory=list)
    cases: list[OpenItem] = field(default_factory=list)

    @property
    def open_alerts(self) -> int:
        return sum(a.count for a in self.alerts)

    @property
    def open_cases(self) -> int:
        return sum(c.count for c in self.cases)


def _capped(rows: Iterable[object]) -> int:
    return len(list(rows))


def staff_dashboard(*, roles: frozenset[str], now: datetime) -> Dashboard:
    """The home dashboard of a LightWay staff member holding ``roles``: each part only for
    the roles that may see it (transactions, MoMo, floats, jobs, cases)."""
    day = window_of(now=now, span=DAY_SPAN)
    live = window_of(now=now, span=LIVE_SPAN)
    all_transfers = allows(roles, Action.TRANSACTIONS_VIEW)
    momo = allows(roles, Action.TRANSACTIONS_VIEW_MOMO)
    transfers = None
    if all_transfers or momo:
        transfers = transfer_figures(
            window=day, series_window=live, kinds=None if all_transfers else MOMO_KINDS
        )
    return Dashboard(
        now=now,
        as_of=figures_as_of(),
        day=day,
        live=live,
        transfers=transfers,
        provider=provider_figures(window=day, series_window=live) if momo else None,
        api_latency=(
            latency_figures(window=live, source=LatencySource.API, top=8) if all_transfers else []
        ),
        momo_latency=latency_figures(window=day, source=LatencySource.MOMO_CALL) if momo else [],
        outcome_latency=(
            latency_figures(window=day, source=LatencySource.MOMO_OUTCOME) if momo else []
        ),
        queue=(
            queue_figures(now=now, series_window=live)
            if allows(roles, Action.JOBS_MANAGE)
            else None
        ),
        floats=(float_accounts(now=now, hours=1) if allows(roles, Action.FLOAT_VIEW) else None),
        alerts=_alerts(roles, now=now, panel="/staff"),
        cases=_cases(roles),
    )


def mtn_dashboard(*, roles: frozenset[str], now: datetime, span: timedelta = DAY_SPAN) -> Dashboard:
    """The MTN portal's figures: MoMo-routed transfers, MoMo error rates by reason code,
    latency per operation, MTN's alerts. No customer data: only counts."""
    day = window_of(now=now, span=span)
    live = window_of(now=now, span=LIVE_SPAN)
    momo = allows(roles, Action.TRANSACTIONS_VIEW_MOMO)
    return Dashboard(
        now=now,
        as_of=figures_as_of(),
        day=day,
        live=live,
        transfers=(
            transfer_figures(window=day, series_window=live, kinds=MOMO_KINDS) if momo else None
        ),
        provider=provider_figures(window=day, series_window=live) if momo else None,
        momo_latency=latency_figures(window=day, source=LatencySource.MOMO_CALL) if momo else [],
        outcome_latency=(
            latency_figures(window=day, source=LatencySource.MOMO_OUTCOME) if momo else []
        ),
        floats=(float_accounts(now=now, hours=1) if allows(roles, Action.FLOAT_VIEW) else None),
        alerts=_alerts(roles, now=now, panel="/mtn"),
    )


def _alerts(roles: frozenset[str], *, now: datetime, panel: str) -> list[OpenItem]:
    from lightway.data.fx.models import FxPairState, PairState
    from lightway.data.momo.models import FloatThreshold, MomoRequest

    out: list[OpenItem] = []
    if allows(roles, Action.FLOAT_VIEW):
        low = FloatThreshold.objects.filter(alert_state="low").count()  # one row per account
        out.append(OpenItem("MoMo float below its threshold", low, f"{panel}/momo/float/"))
    if allows(roles, Action.TRANSACTIONS_VIEW_MOMO):
        # Partial index momo_request_review: only the requests that need a decision.
        review = _capped(
            MomoRequest.objects.filter(needs_review=True).values_list("id", flat=True)[:OPEN_CAP]
        )
        out.append(
            OpenItem("MoMo requests waiting for review", review, f"{panel}/momo/?needs_review=on")
        )
    if panel == "/staff" and allows(roles, Action.FX_RATES_VIEW):
        stopped = FxPairState.objects.exclude(state=PairState.OK).count()  # one row per pair
        out.append(OpenItem("FX pairs not quoting", stopped, "/staff/fx/"))
    if panel == "/staff" and allows(roles, Action.JOBS_MANAGE):
        queue = queue_figures(now=now)
        lagging = int(queue.lag_ms is not None and queue.lag_ms > QUEUE_LAG_ALERT_MS)
        out.append(OpenItem("Job queue more than a minute behind", lagging, "/admin/"))
    return out


def _cases(roles: frozenset[str]) -> list[OpenItem]:
    from lightway.data.reconciliation.models import ReconCase
    from lightway.data.remittances.models import RemittanceReversal, ReversalState

    out: list[OpenItem] = []
    if allows(roles, Action.RECON_MANAGE):
        # Partial index recon_case_one_open: the open cases only.
        open_cases = _capped(
            ReconCase.objects.exclude(status="resolved").values_list("id", flat=True)[:OPEN_CAP]
        )
        out.append(
            OpenItem(
                "Reconciliation cases open", open_cases, "/staff/reconciliation/cases/", "info"
            )
        )
    if allows(roles, Action.REMITTANCES_VIEW):
        # Partial index remittances_reversal_pending: the pending requests only.
        pending = RemittanceReversal.objects.filter(state=ReversalState.PENDING)
        waiting = _capped(pending.values_list("id", flat=True)[:OPEN_CAP])
        out.append(OpenItem("Remittance reversals waiting", waiting, "/staff/remittances/", "info"))
    return out
