"""Server-rendered SVG charts for the staff panels: no script, no CDN, nothing inline that
the CSP forbids (geometry goes in SVG attributes, colours in classes of panels/momo.css).

A chart is computed here as plain numbers and strings; the template draws it with
``<svg viewBox=...>``. Each chart has a text alternative (``summary``) and the pages show
the same figures in a table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Tick:
    pos: float  # x or y in viewBox units
    label: str


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    points: str  # "x,y x,y ..." for <polyline>
    area: str  # path "M..." closing to the baseline, for the shaded area
    last_x: float | None
    last_y: float | None
    threshold_y: float | None
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    summary: str = ""
    empty: bool = False

    @property
    def plot_right(self) -> int:
        return self.width - self.right

    @property
    def plot_bottom(self) -> int:
        return self.height - self.bottom


def _nice_step(span: float, steps: int) -> float:
    raw = span / max(steps, 1)
    if raw <= 0:
        return 1.0
    magnitude = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 1.0
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def compact(value: float) -> str:
    """1500000 -> "1.5M", 2500 -> "2.5k", 40 -> "40"."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            text = f"{value / size:.1f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def line_chart(
    series: Sequence[tuple[datetime, float]],
    *,
    threshold: float | None = None,
    width: int = 640,
    height: int = 220,
    axes: bool = True,
    start: datetime | None = None,
    end: datetime | None = None,
    label: str = "",
    time_format: Callable[[datetime], str] = lambda t: t.strftime("%H:%M"),
) -> LineChart:
    """A line over time with an optional dashed threshold line. ``axes=False`` makes a
    sparkline (no margins, no labels)."""
    left, right, top, bottom = (56, 24, 12, 26) if axes else (2, 2, 3, 3)
    plot_w, plot_h = width - left - right, height - top - bottom
    if not series:
        return LineChart(
            width, height, left, right, top, bottom, "", "", None, None, None,
            summary=f"{label}: no readings" if label else "no readings", empty=True,
        )  # fmt: skip
    values = [v for _, v in series]
    lo = min(values + ([threshold] if threshold is not None else []))
    hi = max(values + ([threshold] if threshold is not None else []))
    lo = min(lo, 0.0)  # balances: the baseline is zero, so a drop looks like a drop
    if hi == lo:
        hi = lo + 1.0
    step = _nice_step(hi - lo, 4)
    hi = step * int(hi / step + 0.999999)
    t0 = start or series[0][0]
    t1 = end or series[-1][0]
    span = max((t1 - t0).total_seconds(), 1.0)

    def x(t: datetime) -> float:
        return round(left + plot_w * ((t - t0).total_seconds() / span), 1)

    def y(v: float) -> float:
        return round(top + plot_h * (1 - (v - lo) / (hi - lo)), 1)

    coords = [(x(t), y(v)) for t, v in series]
    points = " ".join(f"{a},{b}" for a, b in coords)
    base = y(lo)
    area = (
        f"M{coords[0][0]},{base} "
        + " ".join(f"L{a},{b}" for a, b in coords)
        + f" L{coords[-1][0]},{base} Z"
    )
    y_ticks: list[Tick] = []
    x_ticks: list[Tick] = []
    if axes:
        tick = lo
        while tick <= hi + step / 2:
            y_ticks.append(Tick(y(tick), compact(tick)))
            tick += step
        for i in range(5):
            moment = t0 + (t1 - t0) * (i / 4)
            x_ticks.append(Tick(x(moment), time_format(moment)))
    summary = (
        f"{label + ': ' if label else ''}{len(series)} readings from {compact(values[0])} "
        f"to {compact(values[-1])}, lowest {compact(min(values))}, highest {compact(max(values))}"
        + (f", threshold {compact(threshold)}" if threshold is not None else "")
    )
    return LineChart(
        width=width,
        height=height,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        points=points,
        area=area,
        last_x=coords[-1][0],
        last_y=coords[-1][1],
        threshold_y=y(threshold) if threshold is not None else None,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        summary=summary,
    )


@dataclass(frozen=True)
class BarSegment:
    kind: str  # css class suffix: ok | failed | open
    y: float
    height: float
    value: int


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    segments: list[BarSegment]
    label: str  # for <title>


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    summary: str
    empty: bool

    @property
    def plot_right(self) -> int:
        return self.width - self.right

    @property
    def plot_bottom(self) -> int:
        return self.height - self.bottom


def stacked_bars(
    buckets: Sequence[tuple[str, Sequence[tuple[str, int]]]],
    *,
    width: int = 640,
    height: int = 220,
    label_every: int = 1,
    summary: str = "",
) -> BarChart:
    """Stacked columns: ``buckets`` is [(x label, [(kind, value), ...]), ...], bottom first."""
    left, right, top, bottom = 44, 24, 12, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(v for _, v in parts) for _, parts in buckets]
    top_value = max(totals, default=0)
    empty = top_value == 0
    step = _nice_step(max(top_value, 1), 4)
    step = max(step, 1.0)
    hi = step * int(max(top_value, 1) / step + 0.999999)
    slot = plot_w / max(len(buckets), 1)
    bar_w = round(max(slot * 0.7, 1.0), 1)
    bars: list[Bar] = []
    x_ticks: list[Tick] = []
    for i, (name, parts) in enumerate(buckets):
        x0 = round(left + slot * i + (slot - bar_w) / 2, 1)
        running = 0
        segments = []
        for kind, value in parts:
            if value <= 0:
                continue
            y_top = top + plot_h * (1 - (running + value) / hi)
            h = plot_h * value / hi
            segments.append(BarSegment(kind, round(y_top, 1), round(h, 1), value))
            running += value
        detail = ", ".join(f"{kind} {value}" for kind, value in parts)
        bars.append(Bar(x0, bar_w, segments, f"{name}: {detail}"))
        if i % max(label_every, 1) == 0:
            x_ticks.append(Tick(round(x0 + bar_w / 2, 1), name))
    y_ticks = []
    tick = 0.0
    while tick <= hi + step / 2:
        y_ticks.append(Tick(round(top + plot_h * (1 - tick / hi), 1), compact(tick)))
        tick += step
    return BarChart(width, height, left, right, top, bottom, bars, y_ticks, x_ticks, summary, empty)
