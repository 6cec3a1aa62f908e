"""MoMo analytics for the staff panels (``/staff/momo/analytics/``, ``/mtn/momo/analytics/``),
read from the analytics rollups (docs/momo.md, docs/operations.md "Analytics rollups").

Per operation: requests created, how many ended successful or failed, the success rate,
and latency percentiles estimated from the rollups' histogram buckets: of the HTTP calls
to MoMo, from a request's creation to MoMo's acceptance, and to its outcome. Failures per
reason code, callbacks per processing outcome, a series per hour (24 h) or day (7 and 30
days). The window is made of whole buckets ending with the current one; a request counts
in the bucket it was created in (created) or ended in (successful, failed). The open
requests and those waiting for review are counted live, over the partial indexes that
hold only them. Nothing here reads the request or callback history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from lightway.application.analytics.figures import (
    LatencyRow,
    ProviderFigures,
    Window,
    latency_figures,
    provider_figures,
    window_of,
)
from lightway.application.analytics.formats import duration, rate
from lightway.application.momo.browse import momo_request_counts
from lightway.data.analytics.models import LatencySource

__all__ = ["DEFAULT_WINDOW", "WINDOWS", "MomoAnalytics", "duration", "momo_analytics", "rate"]

WINDOWS: dict[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
DEFAULT_WINDOW = "7d"


@dataclass(frozen=True)
class OperationStats:
    product: str
    operation: str
    created: int
    successful: int
    failed: int
    call: LatencyRow | None  # one HTTP call to MoMo
    accept: LatencyRow | None  # creation to MoMo's acceptance
    outcome: LatencyRow | None  # creation to the outcome

    @property
    def success_rate(self) -> str:
        return rate(self.successful, self.successful + self.failed)


@dataclass(frozen=True)
class MomoAnalytics:
    window: str
    span: Window
    figures: ProviderFigures
    operations: list[OperationStats]
    calls: list[LatencyRow]
    open: int
    needs_review: int

    @property
    def bucket(self) -> str:
        return str(self.span.grain)


def momo_analytics(*, now: datetime, window: str = DEFAULT_WINDOW) -> MomoAnalytics:
    """Figures for the window ``window`` ("24h", "7d", "30d") ending with ``now``."""
    if window not in WINDOWS:
        window = DEFAULT_WINDOW
    span = window_of(now=now, span=WINDOWS[window])
    figures = provider_figures(window=span)

    def by_operation(source: LatencySource) -> dict[str, LatencyRow]:
        return {r.operation: r for r in latency_figures(window=span, source=source)}

    accept = by_operation(LatencySource.MOMO_ACCEPT)
    outcome = by_operation(LatencySource.MOMO_OUTCOME)
    calls = latency_figures(window=span, source=LatencySource.MOMO_CALL)
    call_by_op = {r.operation: r for r in calls}
    operations = [
        OperationStats(
            product=o.product,
            operation=o.operation,
            created=o.created,
            successful=o.successful,
            failed=o.failed,
            call=call_by_op.get(f"{o.product}.{o.operation}"),
            accept=accept.get(o.operation),
            outcome=outcome.get(o.operation),
        )
        for o in figures.operations
    ]
    counts = momo_request_counts()
    return MomoAnalytics(
        window=window,
        span=span,
        figures=figures,
        operations=operations,
        calls=calls,
        open=counts["open"],
        needs_review=counts["needs_review"],
    )
