"""Commission statements: one party's commission over a period, as CSV, PDF or JSON.

A party is LightWay (``lightway``), MTN (``mtn``) or one partner (``partner:<code>``); its
statement lists exactly that party's commission records (``data/commission``: one record per
party and priced transaction, written with the transaction), so MTN's statement never
holds a line of a partner's and the other way round. Each line shows the transaction's whole
fee (every party's records of it) and the party's share. The period is whole UTC days,
``start`` to ``end`` included, at most :data:`MAX_PERIOD_DAYS`; a period not over yet
gives the records so far.

Formats (``docs/commission.md`` shows each):

- ``csv``: one line per record, oldest first; amounts twice, in major units with the
  currency's decimals and in minor units (``*_minor``);
- ``pdf``: the parameters, a summary per transaction kind and currency (count, fee total,
  party share total), a bar chart per currency of the party's share per day, and the
  detail lines (the first :data:`PDF_DETAIL_MAX_LINES`; the PDF says so when there are
  more, and the CSV has them all);
- ``json``: the same lines and summary, amounts in minor units (the API's rule).

Cost: the records are read page by page through the index on (party, party_ref,
created_at), with a keyset cursor, all in one REPEATABLE READ snapshot: the work is the
period's records of that party, never the rest of the history.

Every generated file is recorded in the audit trail (``commission.statement_generate``):
who generated it, the party, the period, the format, the number of lines and the SHA-256
of the exact bytes written, so a file shown later can be proved to be the one generated.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection, transaction

from lightway.application.errors import NotFound, RequestRefused, ValidationFailed
from lightway.application.reports.cells import csv_safe, major, money_text
from lightway.application.reports.pdf import (
    BarChart,
    ReportDocument,
    ReportTable,
    Writable,
    pdf_write,
)
from lightway.data.audit.services import audit_record
from lightway.data.commission.models import Party, TransactionKind
from lightway.data.commission.selectors import StatementLine, commission_statement_lines
from lightway.data.identity.models import Partner
from lightway.data.money import Money, currency

FORMATS = ("csv", "pdf", "json")
MAX_PERIOD_DAYS = 366
PDF_DETAIL_MAX_LINES = 5000
PAGE_SIZE = 2000
PARTNER_PREFIX = "partner:"
AUDIT_ACTION = "commission.statement_generate"
PERIOD_INVALID = "period_invalid"
CSV_HEADER = (
    "created_at",
    "reference",
    "transaction_kind",
    "currency",
    "fee",
    "party_share",
    "fee_minor",
    "party_share_minor",
    "party",
    "schedule_id",
)
KIND_LABELS = {k.value: k.label for k in TransactionKind}
_MONTH_RE = re.compile(r"(\d{4})-(\d{2})")

Progress = Callable[[int], None]  # called with the number of lines read so far


@dataclass(frozen=True, slots=True)
class StatementParty:
    """Whose statement: the records of ``(party, party_ref)`` exactly."""

    party: str  # data.commission.models.Party value
    party_ref: str  # "lightway", "mtn" or the partner's code
    label: str  # for people: "LightWay", "MTN", "Acme Remit (acme-remit)"

    @property
    def key(self) -> str:
        """``lightway``, ``mtn`` or ``partner:<code>`` (the CLI's ``--party``, file names)."""
        if self.party == Party.PARTNER:
            return f"{PARTNER_PREFIX}{self.party_ref}"
        return self.party


LIGHTWAY = StatementParty(Party.LIGHTWAY.value, "lightway", "LightWay")
MTN = StatementParty(Party.MTN.value, "mtn", "MTN (its share of the fees)")


@dataclass(frozen=True, slots=True)
class SummaryRow:
    transaction_kind: str
    currency: str
    count: int
    fee: int  # minor units
    share: int  # minor units

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.transaction_kind, self.transaction_kind)


@dataclass(frozen=True, slots=True)
class StatementResult:
    party: StatementParty
    start: date
    end: date
    format: str
    sha256: str  # hex digest of the bytes written
    size: int  # bytes written
    lines: int
    summary: tuple[SummaryRow, ...]
    audit_id: int

    @property
    def filename(self) -> str:
        who = self.party.key.replace(":", "-")
        return f"commission-{who}-{self.start.isoformat()}-{self.end.isoformat()}.{self.format}"


# --- parameters -----------------------------------------------------------------------------


def statement_party(*, text: str) -> StatementParty:
    """The party named ``lightway``, ``mtn`` or ``partner:<code>`` (an existing partner).
    Raises :class:`ValidationFailed` for anything else, :class:`NotFound` for an unknown
    partner code."""
    value = (text or "").strip()
    if value.lower() == "lightway":
        return LIGHTWAY
    if value.lower() == "mtn":
        return MTN
    if value.lower().startswith(PARTNER_PREFIX):
        code = value[len(PARTNER_PREFIX) :].strip()
        partner = Partner.objects.filter(code=code).first() if code else None
        if partner is None:
            raise NotFound(
                f"no partner with code {code!r}" if code else "give the partner's code",
                details={"field": "party"},
            )
        return statement_party_of(partner)
    raise ValidationFailed(
        f"party must be lightway, mtn or partner:<code>, not {value!r}", details={"field": "party"}
    )


def statement_party_of(partner: Partner) -> StatementParty:
    return StatementParty(Party.PARTNER.value, partner.code, f"{partner.name} ({partner.code})")


def statement_partner(*, partner_id: int) -> StatementParty:
    """A partner's own party (the partner API: a partner sees only its own statement)."""
    partner = Partner.objects.filter(pk=partner_id).first()
    if partner is None:
        raise NotFound("no such partner")
    return statement_party_of(partner)


def statement_period(*, start: date, end: date) -> tuple[date, date]:
    """``(start, end)`` checked: whole days, ``start`` on or before ``end``, at most
    :data:`MAX_PERIOD_DAYS` days. Two valid dates that do not fit together raise
    :class:`RequestRefused` ``period_invalid`` (422) naming the field."""
    if end >= date.max:
        raise RequestRefused(
            PERIOD_INVALID, "the period must end before 9999-12-31", details={"field": "to"}
        )
    if end < start:
        raise RequestRefused(
            PERIOD_INVALID,
            f"the period ends ({end.isoformat()}) before it starts ({start.isoformat()})",
            details={"field": "to"},
        )
    days = (end - start).days + 1
    if days > MAX_PERIOD_DAYS:
        raise RequestRefused(
            PERIOD_INVALID,
            f"a statement covers at most {MAX_PERIOD_DAYS} days; this period has {days}",
            details={"field": "to"},
        )
    return start, end


def statement_month(*, text: str) -> tuple[date, date]:
    """The first and last day of the month ``YYYY-MM``."""
    match = _MONTH_RE.fullmatch((text or "").strip())
    if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1:
        raise ValidationFailed(
            f"a month is written YYYY-MM (e.g. 2026-11), not {text!r}", details={"field": "month"}
        )
    first = date(int(match.group(1)), int(match.group(2)), 1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, following - timedelta(days=1)


# --- generation -----------------------------------------------------------------------------


class _HashingWriter:
    """Writes through to ``out``, hashing and counting every byte."""

    def __init__(self, out: Writable) -> None:
        self.out = out
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        self.out.write(data)
        return len(data)


@dataclass
class _Totals:
    count: int = 0
    fee: int = 0
    share: int = 0


class _Collector:
    """Everything a statement needs, accumulated line by line in one pass."""

    def __init__(self, fmt: str, writer: _HashingWriter, party: StatementParty) -> None:
        self.fmt = fmt
        self.writer = writer
        self.party = party
        self.totals: dict[tuple[str, str], _Totals] = {}
        self.daily: dict[str, dict[date, int]] = {}
        self.detail: list[StatementLine] = []
        self.count = 0

    def add(self, lines: list[StatementLine]) -> None:
        for line in lines:
            totals = self.totals.setdefault((line.transaction_kind, line.currency), _Totals())
            totals.count += 1
            totals.fee += line.fee
            totals.share += line.share
            day = line.created_at.astimezone(UTC).date()
            per_day = self.daily.setdefault(line.currency, {})
            per_day[day] = per_day.get(day, 0) + line.share
        if self.fmt == "csv":
            self._csv(lines)
        elif self.fmt == "json":
            self._json(lines)
        elif len(self.detail) < PDF_DETAIL_MAX_LINES:
            self.detail.extend(lines[: PDF_DETAIL_MAX_LINES - len(self.detail)])
        self.count += len(lines)

    def summary(self) -> tuple[SummaryRow, ...]:
        return tuple(
            SummaryRow(kind, code, t.count, t.fee, t.share)
            for (kind, code), t in sorted(self.totals.items(), key=lambda kv: (kv[0][1], kv[0][0]))
        )

    # CSV: a header, then the lines as they come.
    def csv_header(self) -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerow(CSV_HEADER)
        self.writer.write(buffer.getvalue().encode())

    def _csv(self, lines: list[StatementLine]) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        for line in lines:
            writer.writerow(
                [
                    csv_safe(v)
                    for v in (
                        line.created_at.astimezone(UTC).isoformat(),
                        line.reference,
                        line.transaction_kind,
                        line.currency,
                        major(line.fee, line.currency),
                        major(line.share, line.currency),
                        line.fee,
                        line.share,
                        self.party.key,
                        line.schedule_id,
                    )
                ]
            )
        self.writer.write(buffer.getvalue().encode())

    # JSON: streamed; the lines first, the summary after them.
    def _json(self, lines: list[StatementLine]) -> None:
        for i, line in enumerate(lines):
            prefix = "," if self.count or i else ""  # self.count: lines of earlier pages
            self.writer.write((prefix + json.dumps(_line_json(line), sort_keys=True)).encode())


def _line_json(line: StatementLine) -> dict[str, object]:
    return {
        "created_at": line.created_at.astimezone(UTC).isoformat(),
        "reference": line.reference,
        "transaction_kind": line.transaction_kind,
        "currency": line.currency,
        "fee": line.fee,
        "party_share": line.share,
        "schedule_id": line.schedule_id,
    }


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return (
        datetime.combine(start, time.min, tzinfo=UTC),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC),
    )


def _read_all(
    party: StatementParty,
    start: date,
    end: date,
    collector: _Collector,
    progress: Progress | None,
) -> None:
    since, until = _bounds(start, end)
    with transaction.atomic(), connection.cursor() as cur:
        if len(connection.atomic_blocks) == 1:
            # One snapshot for every page (not possible inside a caller's transaction).
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        after: tuple[datetime, int] | None = None
        while True:
            page = commission_statement_lines(
                party=party.party,
                party_ref=party.party_ref,
                start=since,
                end=until,
                after=after,
                limit=PAGE_SIZE,
            )
            if page:
                collector.add(page)
                after = (page[-1].created_at, page[-1].id)
                if progress is not None:
                    progress(collector.count)
            if len(page) < PAGE_SIZE:
                return


def commission_statement_generate(
    *,
    party: StatementParty,
    start: date,
    end: date,
    fmt: str,
    out: Writable,
    actor: str,
    now: datetime,
    progress: Progress | None = None,
) -> StatementResult:
    """Write ``party``'s commission statement for the days ``start`` to ``end`` (UTC,
    inclusive) to ``out`` in ``fmt`` (csv, pdf or json) and record it in the audit trail
    with the SHA-256 of the bytes written and ``actor`` (``staff:12``, ``partner:acme``,
    ``system:cli``). ``progress`` is called with the number of lines read after each page.
    Nothing is audited when writing fails."""
    if fmt not in FORMATS:
        raise ValidationFailed(
            f"format must be one of {', '.join(FORMATS)}, not {fmt!r}", details={"field": "format"}
        )
    start, end = statement_period(start=start, end=end)
    writer = _HashingWriter(out)
    collector = _Collector(fmt, writer, party)
    if fmt == "csv":
        collector.csv_header()
    elif fmt == "json":
        head = {"party": party.key, "from": start.isoformat(), "to": end.isoformat()}
        writer.write(json.dumps(head, sort_keys=True)[:-1].encode() + b', "lines": [')
    _read_all(party, start, end, collector, progress)
    summary = collector.summary()
    if fmt == "json":
        tail = {
            "generated_at": now.astimezone(UTC).isoformat(),
            "line_count": collector.count,
            "summary": [
                {
                    "transaction_kind": row.transaction_kind,
                    "currency": row.currency,
                    "count": row.count,
                    "fee": row.fee,
                    "party_share": row.share,
                }
                for row in summary
            ],
        }
        writer.write(b"], " + json.dumps(tail, sort_keys=True)[1:].encode())
    elif fmt == "pdf":
        pdf_write(_document(party, start, end, now, collector, summary), writer)
    sha256 = writer.digest.hexdigest()
    with transaction.atomic():
        record = audit_record(
            actor=actor,
            action=AUDIT_ACTION,
            object_type="commission.statement",
            object_id=party.key,
            data={
                "party": party.key,
                "from": start.isoformat(),
                "to": end.isoformat(),
                "format": fmt,
                "lines": collector.count,
                "bytes": writer.size,
                "sha256": sha256,
            },
            now=now,
        )
    return StatementResult(
        party=party,
        start=start,
        end=end,
        format=fmt,
        sha256=sha256,
        size=writer.size,
        lines=collector.count,
        summary=summary,
        audit_id=int(record.pk),
    )


# --- the PDF --------------------------------------------------------------------------------


def _document(
    party: StatementParty,
    start: date,
    end: date,
    now: datetime,
    collector: _Collector,
    summary: tuple[SummaryRow, ...],
) -> ReportDocument:
    summary_table = ReportTable(
        headers=("Transaction kind", "Currency", "Transactions", "Fee total", "Party share total"),
        rows=[
            (
                row.kind_label,
                row.currency,
                f"{row.count:,}",
                money_text(row.fee, row.currency),
                money_text(row.share, row.currency),
            )
            for row in summary
        ]
        or [("No commission in this period", "", "0", "", "")],
        numeric=frozenset({2, 3, 4}),
        widths=(0.3, 0.1, 0.15, 0.2, 0.25),
    )
    charts = []
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    for code in sorted(collector.daily):
        per_day = collector.daily[code]
        cur = currency(code)
        charts.append(
            BarChart(
                title=f"{party.label}: commission per day, {code}",
                labels=[d.strftime("%d %b") for d in days],
                values=[Money(per_day.get(d, 0), cur).to_major() for d in days],
                unit=f"{code} (major units)",
            )
        )
    detail = ReportTable(
        headers=("Time (UTC)", "Reference", "Kind", "Fee", "Party share"),
        rows=[
            (
                line.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                line.reference,
                KIND_LABELS.get(line.transaction_kind, line.transaction_kind),
                money_text(line.fee, line.currency),
                money_text(line.share, line.currency),
            )
            for line in collector.detail
        ]
        or [("", "No commission records in this period", "", "", "")],
        numeric=frozenset({3, 4}),
        widths=(0.17, 0.38, 0.17, 0.14, 0.14),
    )
    notes = []
    if collector.count > len(collector.detail):
        notes.append(
            f"The detail below shows the first {len(collector.detail):,} of {collector.count:,} "
            "lines; the summary and the charts count them all. The CSV statement of the same "
            "period lists every line."
        )
    return ReportDocument(
        title=f"Commission statement: {party.label}",
        parameters=(
            ("Party", f"{party.label} [{party.key}]"),
            ("Period (UTC)", f"{start.isoformat()} to {end.isoformat()}, both included"),
            ("Generated", now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")),
            ("Lines", f"{collector.count:,}"),
        ),
        summary_title="Summary per transaction kind and currency",
        summary=summary_table,
        charts=charts,
        notes=notes,
        detail_title="Detail: one line per transaction",
        detail=detail,
    )
