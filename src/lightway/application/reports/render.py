"""Writing a report (``kinds.ReportData``) as CSV, XLSX or PDF.

- ``csv`` (stdlib ``csv``): the main table, a header row then one line per row; amounts in
  major units with the currency's decimals; text cells safe in a spreadsheet
  (``cells.csv_safe``).
- ``xlsx`` (openpyxl): a "Parameters" sheet, then one sheet per table, a bold frozen
  header row, numbers as numeric cells (integers, amounts as decimals in major units with
  a number format of the currency's exponent), days as date cells.
- ``pdf`` (reportlab, ``pdf.py``): the parameters, the main table, the charts, then every
  other table.

The bytes are reproducible for the same data and ``now`` (the XLSX and PDF creation
dates are ``now``), so the SHA-256 recorded with a run identifies its content.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from lightway.application.reports.cells import csv_safe, major, money_text
from lightway.application.reports.kinds import DATE, INT, MONEY, Column, ReportData, Table
from lightway.application.reports.pdf import ReportDocument, ReportTable, pdf_write
from lightway.data.money import MoneyError, currency

FORMATS = ("csv", "xlsx", "pdf")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
SHEET_TITLE_MAX = 31  # Excel's limit


def _exponent(code: str) -> int:
    try:
        return currency(code).exponent
    except MoneyError:
        return 0


def _currency_of(row: Sequence[object], column: Column) -> str:
    return str(row[column.currency_column]) if column.currency_column is not None else ""


def _text(value: object, column: Column, row: Sequence[object]) -> str:
    if value is None:
        return "-"
    if column.type == MONEY:
        return money_text(int(value), _currency_of(row, column))  # type: ignore[call-overload]
    if column.type == INT:
        return f"{int(value):,}"  # type: ignore[call-overload]
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# --- CSV ----------------------------------------------------------------------------------


def csv_bytes(data: ReportData) -> bytes:
    table = data.tables[0]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([c.name for c in table.columns])
    for row in table.rows:
        cells: list[object] = []
        for value, column in zip(row, table.columns, strict=True):
            if value is None:
                cells.append("")
            elif column.type == MONEY:
                cells.append(major(int(value), _currency_of(row, column)))  # type: ignore[call-overload]
            elif isinstance(value, date):
                cells.append(value.isoformat())
            else:
                cells.append(csv_safe(value))
        writer.writerow(cells)
    return buffer.getvalue().encode()


# --- XLSX ---------------------------------------------------------------------------------


def _sheet_title(title: str, used: set[str]) -> str:
    base = "".join(ch for ch in title if ch not in "[]:*?/\\")[:SHEET_TITLE_MAX] or "Sheet"
    name, n = base, 2
    while name in used:
        suffix = f" ({n})"
        name, n = base[: SHEET_TITLE_MAX - len(suffix)] + suffix, n + 1
    used.add(name)
    return name


def _xlsx_table(book: Workbook, table: Table, used: set[str]) -> None:
    sheet = book.create_sheet(_sheet_title(table.title, used))
    bold = Font(bold=True)
    for i, column in enumerate(table.columns, start=1):
        cell = sheet.cell(row=1, column=i, value=column.name)
        cell.font = bold
        sheet.column_dimensions[get_column_letter(i)].width = max(12, len(column.name) + 4)
    sheet.freeze_panes = "A2"
    for r, row in enumerate(table.rows, start=2):
        for i, (value, column) in enumerate(zip(row, table.columns, strict=True), start=1):
            if value is None:
                continue
            if column.type == MONEY:
                code = _currency_of(row, column)
                exponent = _exponent(code)
                amount = Decimal(int(value)).scaleb(-exponent)  # type: ignore[call-overload]
                cell = sheet.cell(row=r, column=i, value=amount)
                cell.number_format = "#,##0" + ("." + "0" * exponent if exponent else "")
            elif column.type == INT:
                cell = sheet.cell(row=r, column=i, value=int(value))  # type: ignore[call-overload]
                cell.number_format = "#,##0"
            elif column.type == DATE and isinstance(value, date):
                cell = sheet.cell(row=r, column=i, value=value)
                cell.number_format = "yyyy-mm-dd"
            else:
                sheet.cell(row=r, column=i, value=str(csv_safe(str(value))))


def xlsx_bytes(data: ReportData, *, now: datetime) -> bytes:
    book = Workbook()
    params = book.active
    assert params is not None
    params.title = "Parameters"
    params.append([data.title])
    params["A1"].font = Font(bold=True, size=14)
    for name, value in data.parameters:
        params.append([name, value])
    for note in data.notes:
        params.append([note])
    params.column_dimensions["A"].width = 18
    params.column_dimensions["B"].width = 60
    used = {"Parameters"}
    for table in data.tables:
        _xlsx_table(book, table, used)
    book.properties.creator = "LightWay MoMo"
    book.properties.title = data.title
    stamp = now.astimezone(UTC).replace(tzinfo=None, microsecond=0)  # the file's own clock
    book.properties.created = stamp
    book.properties.modified = stamp
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# --- PDF ----------------------------------------------------------------------------------


def _pdf_table(table: Table) -> ReportTable:
    numeric = frozenset(i for i, c in enumerate(table.columns) if c.type in (MONEY, INT))
    rows = [
        tuple(_text(v, c, row) for v, c in zip(row, table.columns, strict=True))
        for row in table.rows
    ]
    if not rows:
        rows = [(table.empty, *[""] * (len(table.columns) - 1))]
    return ReportTable(headers=[c.name for c in table.columns], rows=rows, numeric=numeric)


def pdf_bytes(data: ReportData) -> bytes:
    main, *rest = data.tables
    detail_title, detail = (rest[0].title, _pdf_table(rest[0])) if rest else ("", None)
    document = ReportDocument(
        title=data.title,
        parameters=data.parameters,
        summary_title=main.title,
        summary=_pdf_table(main),
        charts=data.charts,
        notes=data.notes,
        detail_title=detail_title,
        detail=detail or ReportTable(headers=[""], rows=[]),
        more=[(t.title, _pdf_table(t)) for t in rest[1:]],
    )
    buffer = io.BytesIO()
    pdf_write(document, buffer)
    return buffer.getvalue()


def report_bytes(data: ReportData, fmt: str, *, now: datetime) -> bytes:
    """``data`` written in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "csv":
        return csv_bytes(data)
    if fmt == "xlsx":
        return xlsx_bytes(data, now=now)
    if fmt == "pdf":
        return pdf_bytes(data)
    raise ValueError(f"unknown format {fmt!r}")
