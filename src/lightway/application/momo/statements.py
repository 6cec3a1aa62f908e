"""Float statement import: the CSV a MoMo account's statement export gives (docs/momo.md,
"Reconciliation").

MTN's Open API has no statement endpoint: operators download the float account's statement
from MTN's partner portal and import it here (staff page or ``lightway momo
statement-import``). That import is the production path; the simulator's
``GET /_sim/statement`` export (``statement_fetch_simulator``) only stands in for the
portal in development and the demo.

Format (one header line, then one line per MoMo transaction)::

    Id,External Transaction Id,Reference Id,Date,Status,Type,Amount,Fee,Currency,Balance

``Id`` is MoMo's financialTransactionId, ``Date`` ISO 8601 (UTC when no offset is given),
``Status`` SUCCESSFUL|FAILED|PENDING, ``Amount`` a signed decimal in major units from the
float's point of view (+ in, - out). Parsing is tolerant of what exports vary in: a UTF-8
byte-order mark, ``;`` instead of ``,`` (then a decimal comma is accepted too), header
names in any case and spacing, optional columns (External Transaction Id, Reference Id,
Type, Fee, Balance), blank lines. It is strict about money: an amount is read as a decimal
(never a float) and must fit the currency's minor unit exactly. Every line is checked before
anything is stored; one bad line refuses the whole file and every problem is reported with
its line number.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction

from lightway.application.errors import Conflict, ValidationFailed
from lightway.data.audit.services import audit_record
from lightway.data.ledger.models import CURRENCY_CHOICES
from lightway.data.momo.models import Product
from lightway.data.money import MoneyError, currency
from lightway.data.reconciliation.services import (
    DuplicateStatement,
    LineRow,
    statement_import_create,
)

log = logging.getLogger(__name__)

MAX_BYTES = 5 * 1024 * 1024
MAX_LINES = 100_000
MAX_REPORTED_ERRORS = 200
STATUSES = frozenset({"SUCCESSFUL", "FAILED", "PENDING", "CREATED"})
_KNOWN_CURRENCIES = frozenset(code for code, _ in CURRENCY_CHOICES)

# Header names (lower case, letters and digits only) -> our column.
_HEADERS: dict[str, str] = {
    "id": "id",
    "financialtransactionid": "id",
    "transactionid": "id",
    "externaltransactionid": "external_id",
    "externalid": "external_id",
    "referenceid": "reference_id",
    "xreferenceid": "reference_id",
    "date": "date",
    "datetime": "date",
    "status": "status",
    "type": "type",
    "amount": "amount",
    "fee": "fee",
    "currency": "currency",
    "balance": "balance",
}
_REQUIRED = ("id", "date", "status", "amount", "currency")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")


class StatementDuplicate(Conflict):
    code = "statement_duplicate"


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    problem: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.problem}" if self.line else self.problem


class StatementInvalid(ValidationFailed):
    """The file cannot be imported; ``errors`` (and ``details["errors"]`` as
    ``{"line", "problem"}``) lists every problem found."""

    def __init__(self, errors: list[LineError]):
        shown = errors[:MAX_REPORTED_ERRORS]
        summary = "; ".join(str(e) for e in shown[:3]) + ("; ..." if len(shown) > 3 else "")
        details: dict[str, object] = {
            "errors": [{"line": e.line, "problem": e.problem} for e in shown],
            "field": "file",
        }
        if len(errors) > len(shown):
            details["more_errors"] = len(errors) - len(shown)
        super().__init__(
            f"the statement has {len(errors)} problem(s), nothing was imported: {summary}",
            details=details,
        )
        self.errors = errors


@dataclass(frozen=True, slots=True)
class ParsedStatement:
    lines: list[LineRow]
    period_start: datetime | None
    period_end: datetime | None


@dataclass(frozen=True, slots=True)
class ImportResult:
    import_id: int
    lines_total: int
    imported: int
    skipped: int
    period_start: datetime | None
    period_end: datetime | None
    errors: list[LineError] = field(default_factory=list)


def _invalid(errors: list[LineError]) -> StatementInvalid:
    return StatementInvalid(errors)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _invalid([LineError(0, f"the file is not UTF-8 text (byte {exc.start})")]) from None


def _delimiter(header: str) -> str:
    return ";" if header.count(";") > header.count(",") else ","


def _amount(raw: str, code: str, delimiter: str, name: str) -> tuple[int | None, str | None]:
    """(minor units, None) or (None, problem). Exact: never rounds, never a float."""
    text = raw.strip().replace(" ", "").replace("\u00a0", "")
    if delimiter == ";" and _DECIMAL_COMMA.match(text):
        text = text.replace(",", ".")
    if not text:
        return None, f"{name} is empty"
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None, f"{name} {raw.strip()!r} is not a number"
    if not value.is_finite():
        return None, f"{name} {raw.strip()!r} is not a number"
    exponent = currency(code).exponent
    scaled = value.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        return None, (
            f"{name} {raw.strip()} has more decimals than {code} allows ({exponent})"
            if exponent
            else f"{name} {raw.strip()} has decimals but {code} has no minor unit"
        )
    return int(scaled), None


def _when(raw: str) -> datetime | None:
    text = raw.strip()
    if not text:
        return None
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00 is past datetime.max in UTC
        return None


def _reference(raw: str) -> tuple[str, str | None]:
    text = raw.strip()
    if not text:
        return "", None
    try:
        return str(uuid.UUID(text)), None
    except ValueError:
        if len(text) > 64:
            return "", "Reference Id is longer than 64 characters"
        return text, None


def statement_parse(data: bytes) -> ParsedStatement:
    """Parse and check a whole statement; raise :class:`StatementInvalid` listing every
    problem with its line number (line 1 is the header)."""
    if len(data) > MAX_BYTES:
        raise _invalid([LineError(0, f"the file is larger than {MAX_BYTES // 1024 // 1024} MB")])
    text = _decode(data)
    if not text.strip():
        raise _invalid([LineError(0, "the file is empty")])
    first_line = text.lstrip("\r\n").splitlines()[0]
    delimiter = _delimiter(first_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    errors: list[LineError] = []
    header: list[str] | None = None
    columns: dict[str, int] = {}
    rows: list[LineRow] = []
    seen: dict[str, int] = {}
    try:
        for record in reader:
            line_no = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if header is None:
                header = record
                for index, name in enumerate(record):
                    key = _HEADERS.get(re.sub(r"[^a-z0-9]", "", name.strip().lower()))
                    if key is not None and key not in columns:
                        columns[key] = index
                missing = [c for c in _REQUIRED if c not in columns]
                if missing:
                    names = {"id": "Id", "date": "Date", "status": "Status"}
                    wanted = ", ".join(names.get(c, c.capitalize()) for c in missing)
                    errors.append(LineError(line_no, f"the header has no column {wanted}"))
                    break
                continue
            if len(rows) + len(errors) >= MAX_LINES:
                errors.append(LineError(line_no, f"more than {MAX_LINES} lines"))
                break
            row, problems = _line(record, line_no, columns, len(header), delimiter)
            if row is not None and row.financial_transaction_id in seen:
                problems.append(
                    f"Id {row.financial_transaction_id} repeats line "
                    f"{seen[row.financial_transaction_id]}"
                )
            if problems:
                errors.extend(LineError(line_no, p) for p in problems)
                continue
            assert row is not None
            seen[row.financial_transaction_id] = line_no
            rows.append(row)
    except csv.Error as exc:
        errors.append(LineError(reader.line_num, f"not valid CSV: {exc}"))
    if header is None and not errors:
        errors.append(LineError(0, "the file has no header line"))
    if errors:
        raise _invalid(errors)
    times = [r.transacted_at for r in rows]
    return ParsedStatement(rows, min(times) if times else None, max(times) if times else None)


def _line(
    record: list[str], line_no: int, columns: dict[str, int], width: int, delimiter: str
) -> tuple[LineRow | None, list[str]]:
    problems: list[str] = []
    if len(record) != width:
        return None, [f"has {len(record)} fields, the header has {width}"]

    def cell(name: str) -> str:
        index = columns.get(name)
        return record[index].strip() if index is not None else ""

    fin_id = cell("id")
    if not fin_id:
        problems.append("Id (financialTransactionId) is empty")
    elif len(fin_id) > 64:
        problems.append("Id is longer than 64 characters")
    external_id = cell("external_id")
    if len(external_id) > 64:
        problems.append("External Transaction Id is longer than 64 characters")
    reference_id, problem = _reference(cell("reference_id"))
    if problem:
        problems.append(problem)
    when = _when(cell("date"))
    if when is None:
        problems.append(f"Date {cell('date')!r} is not an ISO 8601 date and time")
    status = cell("status").upper()
    if status not in STATUSES:
        problems.append(f"Status {cell('status')!r} is not SUCCESSFUL, FAILED or PENDING")
    code = cell("currency").upper()
    amount: int | None = None
    try:
        currency(code)
        known = code in _KNOWN_CURRENCIES
    except MoneyError:
        known = False
    if not known:
        problems.append(f"Currency {cell('currency')!r} is not supported")
    else:
        amount, problem = _amount(cell("amount"), code, delimiter, "Amount")
        if problem:
            problems.append(problem)
        for optional, label in (("fee", "Fee"), ("balance", "Balance")):
            if cell(optional):
                _, problem = _amount(cell(optional), code, delimiter, label)
                if problem:
                    problems.append(problem)
    if problems:
        return None, problems
    assert when is not None and amount is not None
    return (
        LineRow(
            line_no=line_no,
            financial_transaction_id=fin_id,
            external_id=external_id,
            reference_id=reference_id,
            currency=code,
            amount_minor=amount,
            status=status,
            transacted_at=when,
        ),
        [],
    )


def _account(product: str, environment: str) -> tuple[str, str]:
    product = (product or "").strip().lower()
    environment = (environment or "").strip()
    if product and product not in Product.values:
        raise ValidationFailed(
            f"product must be one of {', '.join(Product.values)}", details={"field": "product"}
        )
    if environment and not re.fullmatch(r"[a-z0-9_]{2,32}", environment):
        raise ValidationFailed(
            "environment must be a target environment such as mtnuganda or sandbox",
            details={"field": "environment"},
        )
    return product, environment


def statement_import(
    *,
    data: bytes,
    filename: str,
    now: datetime,
    product: str = "",
    environment: str = "",
    imported_by: int | None = None,
    actor: str = "system",
    period_start: datetime | None = None,
    period_end: datetime | None = None,
) -> ImportResult:
    """Import a statement file once (audited).

    ``product`` and ``environment`` name the MoMo account the statement is of; with both,
    reconciliation also treats a transaction missing from the statement's period as
    missing at MoMo. The period is the one given, else the first to last line's time.
    Raises :class:`StatementInvalid` (nothing stored) or :class:`StatementDuplicate`.
    """
    product, environment = _account(product, environment)
    parsed = statement_parse(data)
    start = period_start or parsed.period_start
    end = period_end or parsed.period_end
    if start is not None and end is not None and end < start:
        raise ValidationFailed("the period ends before it starts", details={"field": "period"})
    digest = hashlib.sha256(data).hexdigest()
    name = (filename or "statement.csv").replace("\\", "/").rsplit("/", 1)[-1][:200]
    try:
        with transaction.atomic():
            outcome = statement_import_create(
                filename=name,
                sha256=digest,
                product=product,
                target_environment=environment,
                lines=parsed.lines,
                period_start=start,
                period_end=end,
                imported_by_id=imported_by,
                now=now,
            )
            audit_record(
                actor=actor,
                action="momo.statement.import",
                object_type="recon.statement",
                object_id=str(outcome.statement.pk),
                data={
                    "sha256": digest,
                    "product": product,
                    "environment": environment,
                    "lines": len(parsed.lines),
                    "imported": outcome.imported,
                    "skipped": outcome.skipped,
                },
                now=now,
            )
    except DuplicateStatement as dup:
        existing = dup.existing
        raise StatementDuplicate(
            f"this file was already imported on {existing.imported_at:%Y-%m-%d %H:%M} UTC "
            f"(import #{existing.pk}, {existing.filename}); nothing was imported again",
            details={"import_id": existing.pk, "sha256": digest},
        ) from None
    log.info(
        "momo statement imported",
        extra={
            "import_id": outcome.statement.pk,
            "lines": len(parsed.lines),
            "imported": outcome.imported,
            "skipped": outcome.skipped,
        },
    )
    return ImportResult(
        import_id=outcome.statement.pk,
        lines_total=len(parsed.lines),
        imported=outcome.imported,
        skipped=outcome.skipped,
        period_start=start,
        period_end=end,
    )


def statement_fetch_simulator(
    *, base_url: str, product: str, environment: str, start: datetime, end: datetime
) -> bytes:
    """The statement CSV from the MoMo **simulator**'s ``GET /_sim/statement`` (development
    and demo only: MTN has no such API, production imports the portal's export)."""
    import httpx

    params: dict[str, Any] = {
        "product": product,
        "environment": environment,
        "from": start.astimezone(UTC).isoformat(),
        "to": end.astimezone(UTC).isoformat(),
    }
    response = httpx.get(f"{base_url.rstrip('/')}/_sim/statement", params=params, timeout=30.0)
    response.raise_for_status()
    return response.content
