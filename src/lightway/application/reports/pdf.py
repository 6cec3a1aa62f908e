"""PDF statements: a title, the parameters, a summary table, bar charts and a detail table.

One small layer over reportlab (platypus for the layout, ``reportlab.graphics.charts`` for
the charts) so that every statement of the platform looks the same and none of them
touches reportlab directly: commission statements, the platform's reports
(``kinds.py``, ``render.py``), settlement and compliance statements later. Charts are bars
(:class:`BarChart`), lines (:class:`LineChart`, one per series) and pies
(:class:`PieChart`), all ``reportlab.graphics.charts``. A statement is described as
plain data (:class:`ReportDocument`) and written with :func:`pdf_write`.

- Text is Helvetica (one of the PDF standard fonts, nothing embedded); amounts arrive as
  text already formatted by the caller (``cells.money_text``), so nothing here rounds money.
- The output is reproducible: ``invariant`` fixes the document id and creation date that
  reportlab would otherwise take from the clock, so the same data gives the same bytes
  (and the same SHA-256); the generation time the reader sees is the one the caller puts
  in the parameters.
- Bar heights are plotted as floats: chart geometry only, the figures themselves are in
  the tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.charts.piecharts import Pie
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    KeepTogether,
    LongTable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

PAGE = landscape(A4)
MARGIN = 15 * mm
BAR_COLOUR = colors.HexColor("#1f5f99")
HEADER_COLOUR = colors.HexColor("#e8eef5")
GRID_COLOUR = colors.HexColor("#b8c4d0")
CHART_HEIGHT = 60 * mm
MAX_AXIS_LABELS = 31  # a label under every bar up to this many, then every n-th
# Series colours of line and pie charts (distinct, readable on white and in grey print).
PALETTE = (
    colors.HexColor("#1f5f99"),
    colors.HexColor("#d9822b"),
    colors.HexColor("#2e8b57"),
    colors.HexColor("#b03a48"),
    colors.HexColor("#6a4c93"),
    colors.HexColor("#7f7f7f"),
    colors.HexColor("#c9a227"),
    colors.HexColor("#17becf"),
)
PIE_MAX_SLICES = 8  # the rest is one "Other" slice


class Writable(Protocol):
    """Where a file goes: an open binary file, a ``BytesIO``, a hashing wrapper."""

    def write(self, data: bytes, /) -> int: ...


@dataclass(frozen=True)
class ReportTable:
    """A table: a header row and text rows; ``numeric`` columns are right-aligned."""

    headers: Sequence[str]
    rows: Sequence[Sequence[str]]
    numeric: frozenset[int] = frozenset()
    widths: Sequence[float] | None = None  # fractions of the text width, one per column


@dataclass(frozen=True)
class BarChart:
    """Bars over categories (days, kinds, ...); ``values`` are in major units of ``unit``."""

    title: str
    labels: Sequence[str]
    values: Sequence[Decimal]
    unit: str = ""


@dataclass(frozen=True)
class LineChart:
    """One line per series over categories (days); values in major units of ``unit``."""

    title: str
    labels: Sequence[str]
    series: Sequence[tuple[str, Sequence[Decimal]]]  # (name, one value per label)
    unit: str = ""


@dataclass(frozen=True)
class PieChart:
    """Shares of a whole (counts or amounts); the largest slices, the rest as "Other"."""

    title: str
    labels: Sequence[str]
    values: Sequence[Decimal]
    unit: str = ""


Chart = BarChart | LineChart | PieChart


@dataclass(frozen=True)
class ReportDocument:
    title: str
    parameters: Sequence[tuple[str, str]]  # (name, value) lines under the title
    summary_title: str
    summary: ReportTable
    detail_title: str
    detail: ReportTable
    charts: Sequence[Chart] = ()
    notes: Sequence[str] = field(default_factory=tuple)  # paragraphs after the summary
    more: Sequence[tuple[str, ReportTable]] = ()  # further (title, table) after the detail
    author: str = "LightWay MoMo"


def _style(table: ReportTable, font_size: float) -> TableStyle:
    commands: list[tuple[Any, ...]] = [
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", font_size),
        ("FONT", (0, 1), (-1, -1), "Helvetica", font_size),
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_COLOUR),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, GRID_COLOUR),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, GRID_COLOUR),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    for column in sorted(table.numeric):
        commands.append(("ALIGN", (column, 0), (column, -1), "RIGHT"))
    return TableStyle(commands)


def _table(table: ReportTable, *, width: float, font_size: float, long: bool) -> Table:
    data = [list(table.headers), *[list(row) for row in table.rows]]
    widths = [width * f for f in table.widths] if table.widths else None
    cls = LongTable if long else Table  # LongTable lays out thousands of rows in linear time
    built = cls(data, colWidths=widths, repeatRows=1, hAlign="LEFT")
    built.setStyle(_style(table, font_size))
    return built


def bar_chart_drawing(chart: BarChart, *, width: float, height: float = CHART_HEIGHT) -> Drawing:
    """The chart as a reportlab drawing: its title on top, one bar per label, the value
    axis from zero in ``chart.unit``."""
    drawing = Drawing(width, height)
    drawing.add(String(0, height - 10, chart.title, fontName="Helvetica-Bold", fontSize=9))
    bars = VerticalBarChart()
    bars.x, bars.y = 45, 28
    bars.width, bars.height = width - 60, height - 50
    bars.data = [[float(v) for v in chart.values] or [0.0]]  # geometry only (module doc)
    step = max(1, -(-len(chart.labels) // MAX_AXIS_LABELS))
    bars.categoryAxis.categoryNames = [
        label if i % step == 0 else "" for i, label in enumerate(chart.labels)
    ] or [""]
    bars.categoryAxis.labels.fontName = "Helvetica"
    bars.categoryAxis.labels.fontSize = 6
    bars.categoryAxis.labels.angle = 45 if len(chart.labels) > 12 else 0
    bars.categoryAxis.labels.boxAnchor = "ne" if len(chart.labels) > 12 else "n"
    bars.valueAxis.valueMin = 0
    bars.valueAxis.labels.fontName = "Helvetica"
    bars.valueAxis.labels.fontSize = 6
    bars.bars[0].fillColor = BAR_COLOUR
    bars.bars[0].strokeColor = None
    bars.barSpacing = 1
    drawing.add(bars)
    if chart.unit:
        drawing.add(String(0, height - 22, chart.unit, fontName="Helvetica", fontSize=7))
    return drawing


def line_chart_drawing(chart: LineChart, *, width: float, height: float = CHART_HEIGHT) -> Drawing:
    """The chart as a reportlab drawing: its title, one coloured line per series over the
    labels, a legend naming the series."""
    drawing = Drawing(width, height)
    drawing.add(String(0, height - 10, chart.title, fontName="Helvetica-Bold", fontSize=9))
    lines = HorizontalLineChart()
    legend_width = 130
    lines.x, lines.y = 45, 28
    lines.width, lines.height = width - 60 - legend_width, height - 50
    data = [[float(v) for v in values] for _, values in chart.series]  # geometry only
    lines.data = [row or [0.0] for row in data] or [[0.0]]
    step = max(1, -(-len(chart.labels) // MAX_AXIS_LABELS))
    lines.categoryAxis.categoryNames = [
        label if i % step == 0 else "" for i, label in enumerate(chart.labels)
    ] or [""]
    lines.categoryAxis.labels.fontName = "Helvetica"
    lines.categoryAxis.labels.fontSize = 6
    lines.categoryAxis.labels.angle = 45 if len(chart.labels) > 12 else 0
    lines.categoryAxis.labels.boxAnchor = "ne" if len(chart.labels) > 12 else "n"
    lines.valueAxis.valueMin = 0
    lines.valueAxis.labels.fontName = "Helvetica"
    lines.valueAxis.labels.fontSize = 6
    for i in range(len(lines.data)):
        lines.lines[i].strokeColor = PALETTE[i % len(PALETTE)]
        lines.lines[i].strokeWidth = 1.2
    drawing.add(lines)
    legend = Legend()
    legend.x, legend.y = width - legend_width + 5, height - 30
    legend.fontName, legend.fontSize = "Helvetica", 7
    legend.alignment = "right"
    legend.colorNamePairs = [
        (PALETTE[i % len(PALETTE)], name[:28]) for i, (name, _) in enumerate(chart.series)
    ]
    drawing.add(legend)
    if chart.unit:
        drawing.add(String(0, height - 22, chart.unit, fontName="Helvetica", fontSize=7))
    return drawing


def pie_chart_drawing(chart: PieChart, *, width: float, height: float = CHART_HEIGHT) -> Drawing:
    """The chart as a reportlab drawing: its title, a pie of the largest
    :data:`PIE_MAX_SLICES` values (the rest as "Other") and a legend with each value."""
    drawing = Drawing(width, height)
    drawing.add(String(0, height - 10, chart.title, fontName="Helvetica-Bold", fontSize=9))
    pairs = sorted(zip(chart.labels, chart.values, strict=True), key=lambda p: -p[1])
    pairs = [p for p in pairs if p[1] > 0]
    if len(pairs) > PIE_MAX_SLICES:
        rest = sum((v for _, v in pairs[PIE_MAX_SLICES - 1 :]), Decimal(0))
        pairs = [*pairs[: PIE_MAX_SLICES - 1], ("Other", rest)]
    pie = Pie()
    size = height - 30
    pie.x, pie.y, pie.width, pie.height = 10, 5, size, size
    pie.data = [float(v) for _, v in pairs] or [1.0]  # geometry only
    pie.labels = None
    pie.simpleLabels = 1
    pie.slices.strokeColor = colors.white
    for i in range(len(pie.data)):
        pie.slices[i].fillColor = PALETTE[i % len(PALETTE)] if pairs else GRID_COLOUR
    drawing.add(pie)
    legend = Legend()
    legend.x, legend.y = size + 30, height - 25
    legend.fontName, legend.fontSize = "Helvetica", 7
    legend.alignment = "right"
    legend.colorNamePairs = [
        (PALETTE[i % len(PALETTE)], f"{label[:40]}: {value:,}")
        for i, (label, value) in enumerate(pairs)
    ] or [(GRID_COLOUR, "nothing in this period")]
    drawing.add(legend)
    if chart.unit:
        drawing.add(String(0, height - 22, chart.unit, fontName="Helvetica", fontSize=7))
    return drawing


def chart_drawing(chart: Chart, *, width: float) -> Drawing:
    """Any chart of a document as a reportlab drawing."""
    if isinstance(chart, LineChart):
        return line_chart_drawing(chart, width=width)
    if isinstance(chart, PieChart):
        return pie_chart_drawing(chart, width=width)
    return bar_chart_drawing(chart, width=width)


def pdf_write(document: ReportDocument, out: Writable) -> None:
    """Lay ``document`` out on landscape A4 pages and write the PDF to ``out``: title and
    parameters, the summary table, the charts, notes, then the detail table (its header
    repeated on every page); a footer with the title and the page number on each page."""
    styles = getSampleStyleSheet()
    body = styles["BodyText"]
    width = PAGE[0] - 2 * MARGIN
    doc = SimpleDocTemplate(
        out,
        pagesize=PAGE,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=document.title,
        author=document.author,
        invariant=1,
        pageCompression=1,
    )
    story: list[Any] = [Paragraph(escape(document.title), styles["Title"])]
    for name, value in document.parameters:
        story.append(Paragraph(f"<b>{escape(name)}:</b> {escape(value)}", body))
    story += [Spacer(1, 4 * mm), Paragraph(escape(document.summary_title), styles["Heading2"])]
    story.append(_table(document.summary, width=width, font_size=8, long=False))
    for chart in document.charts:
        story += [Spacer(1, 4 * mm), KeepTogether([chart_drawing(chart, width=width)])]
    for note in document.notes:
        story.append(Paragraph(escape(note), body))
    story += [Spacer(1, 4 * mm), Paragraph(escape(document.detail_title), styles["Heading2"])]
    story.append(_table(document.detail, width=width, font_size=7, long=True))
    for title, table in document.more:
        story += [Spacer(1, 4 * mm), Paragraph(escape(title), styles["Heading2"])]
        story.append(_table(table, width=width, font_size=7, long=True))

    def footer(canvas: Any, _doc: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.drawString(MARGIN, MARGIN / 2, document.title)
        canvas.drawRightString(PAGE[0] - MARGIN, MARGIN / 2, f"Page {canvas.getPageNumber()}")
        canvas.restoreState()

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
