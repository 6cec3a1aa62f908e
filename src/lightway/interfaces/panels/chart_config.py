"""Chart.js configurations made on the server (docs/panels.md, "Charts").

A page puts one in a JSON island (``{{ config|json_script:"ID" }}``) beside
``<canvas data-chart="ID" role="img" aria-label="...">``; ``static/panels/charts.js``
draws it. Only data and options go here (JSON, no functions). The colours keep 3:1
against white and are told apart by the legend too, and every chart's figures are also on
the page as a table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

COLOURS = {
    "succeeded": "#1f7a4d",
    "successful": "#1f7a4d",
    "failed": "#b42318",
    "created": "#0e5a8a",
    "waiting": "#8a5a00",
    "lag_s": "#6b3fa0",
    "p50": "#0e5a8a",
    "p95": "#8a5a00",
    "p99": "#b42318",
    "threshold": "#b42318",
    # reconciliation categories (the same colours as reconciliation.css)
    "matched": "#13795b",
    "missing_at_momo": "#b42318",
    "missing_on_platform": "#7a3db8",
    "amount_mismatch": "#c46a00",
    "status_mismatch": "#0e5a8a",
}
FALLBACK = ("#0e5a8a", "#1f7a4d", "#8a5a00", "#6b3fa0", "#b42318", "#3c4f63")


def _colour(name: str, i: int) -> str:
    return COLOURS.get(name, FALLBACK[i % len(FALLBACK)])


def _options(*, stacked: bool = False, horizontal: bool = False) -> dict[str, Any]:
    value_axis = {"beginAtZero": True, "ticks": {"precision": 0}, "stacked": stacked}
    category_axis = {"stacked": stacked, "ticks": {"autoSkip": True, "maxRotation": 0}}
    return {
        "responsive": True,
        "indexAxis": "y" if horizontal else "x",
        "interaction": {"mode": "index", "intersect": False},
        "plugins": {"legend": {"position": "bottom"}},
        "scales": {
            "x": value_axis if horizontal else category_axis,
            "y": category_axis if horizontal else value_axis,
        },
    }


def line_chart(
    labels: Sequence[str], series: Mapping[str, tuple[str, Sequence[int | float]]]
) -> dict[str, Any]:
    """A line per ``series`` entry: name -> (legend label, values)."""
    return {
        "type": "line",
        "data": {
            "labels": list(labels),
            "datasets": [
                {
                    "label": label,
                    "data": list(values),
                    "borderColor": _colour(name, i),
                    "backgroundColor": _colour(name, i),
                    "borderWidth": 2,
                    "pointRadius": 0,
                    "tension": 0.25,
                }
                for i, (name, (label, values)) in enumerate(series.items())
            ],
        },
        "options": _options(),
    }


def bar_chart(
    labels: Sequence[str],
    series: Mapping[str, tuple[str, Sequence[int | float]]],
    *,
    stacked: bool = True,
    horizontal: bool = False,
) -> dict[str, Any]:
    """Bars per label, one dataset per ``series`` entry (stacked unless told otherwise)."""
    return {
        "type": "bar",
        "data": {
            "labels": list(labels),
            "datasets": [
                {
                    "label": label,
                    "data": list(values),
                    "backgroundColor": _colour(name, i),
                }
                for i, (name, (label, values)) in enumerate(series.items())
            ],
        },
        "options": _options(stacked=stacked, horizontal=horizontal),
    }
