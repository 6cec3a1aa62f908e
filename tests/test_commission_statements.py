"""Commission statements (issue 12, item 5; docs/commission.md): per party and period, CSV,
PDF (with a chart) and JSON, each file's SHA-256 in the audit trail; the CLI, the LightWay
and MTN panel pages and the partner API.

The records are written here with the data service the payment path uses, and the expected
figures are kept beside them in Python (``Book``), so a statement is checked against what was
recorded, not against another query of the same code.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from lightway.application.errors import NotFound, RequestRefused, ValidationFailed
from lightway.application.partners.keys import partner_key_create
from lightway.application.reports import commission as statements
from lightway.application.reports.commission import (
    commission_statement_generate,
    statement_month,
    statement_party,
)
from lightway.application.reports.pdf import BAR_COLOUR
from lightway.data.audit.models import AuditRecord
from lightway.data.commission.selectors import _AFTER_SQL, _STATEMENT_SQL
from lightway.data.commission.services import commission_records_insert
from lightway.data.identity.models import Partner
from lightway.interfaces.cli.main import main
from lightway.security.policy import Role
from lightway.security.signatures import sign_request
from tests.commission_support import make_entry, make_schedule
from tests.factories import staff
from tests.query_cost import rows_read, scans_without_seqscan

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


@dataclass
class Book:
    """What was recorded: per party key, the lines (reference, kind, currency, fee, share, at)."""

    lines: dict[str, list[tuple[str, str, str, int, int, datetime]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def of(self, key: str, start: datetime, end: datetime) -> list[tuple]:
        return [line for line in self.lines[key] if start <= line[5] < end]


@dataclass
class Data:
    now: datetime
    start: date
    end: date
    book: Book

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, datetime.min.time(), tzinfo=UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + DAY, datetime.min.time(), tzinfo=UTC)


def _txn(book: Book, schedule, ref: str, at: datetime, parties: list[tuple[str, str, int]]):
    entry = make_entry(at, currency=schedule.currency)
    commission_records_insert(
        entry_id=entry.pk,
        schedule_id=schedule.pk,
        reference=ref,
        kind=schedule.transaction_kind,
        currency=schedule.currency,
        parties=parties,
        now=at,
    )
    fee = sum(amount for _, _, amount in parties)
    for party, ref_of_party, amount in parties:
        key = party if party != "partner" else f"partner:{ref_of_party}"
        book.lines[key].append((ref, schedule.transaction_kind, schedule.currency, fee, amount, at))


@pytest.fixture
def data() -> Data:
    now = timezone.now()
    for code in ("acme", "globex"):
        Partner.objects.create(code=code, name=f"{code.title()} Remit", created_at=now)
    remit = make_schedule(
        now, kind="remittance", splits=(("lightway", 50), ("mtn", 30), ("partner", 20))
    )
    p2p = make_schedule(now, kind="p2p", currency="GHS", splits=(("lightway", 60), ("mtn", 40)))
    book = Book()
    start = (now - 20 * DAY).date()
    end = (now - 2 * DAY).date()
    base = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    for i in range(12):  # acme's remittances over twelve days
        _txn(
            book,
            remit,
            f"acme-{i}",
            base + (i + 1) * DAY + timedelta(hours=9, minutes=i),
            [("lightway", "lightway", 100 + i), ("mtn", "mtn", 60 + i), ("partner", "acme", 40)],
        )
    for i in range(5):  # globex's
        _txn(
            book,
            remit,
            f"globex-{i}",
            base + (i + 2) * DAY + timedelta(hours=14),
            [("lightway", "lightway", 90), ("mtn", "mtn", 55), ("partner", "globex", 35 + i)],
        )
    for i in range(6):  # P2P in GHS: LightWay and MTN only
        _txn(
            book,
            p2p,
            f"p2p-{i}",
            base + i * DAY + timedelta(hours=11),
            [("lightway", "lightway", 30 + i), ("mtn", "mtn", 20 + i)],
        )
    # Just outside the period, on both sides.
    _txn(
        book,
        remit,
        "before",
        base - timedelta(microseconds=1),
        [("lightway", "lightway", 7), ("mtn", "mtn", 5), ("partner", "acme", 3)],
    )
    after_end = datetime.combine(end + DAY, datetime.min.time(), tzinfo=UTC)
    _txn(
        book,
        remit,
        "after",
        after_end,
        [("lightway", "lightway", 7), ("mtn", "mtn", 5), ("partner", "acme", 3)],
    )
    # The last instant of the period is in it.
    _txn(
        book,
        remit,
        "last-instant",
        after_end - timedelta(microseconds=1),
        [("lightway", "lightway", 11), ("mtn", "mtn", 9), ("partner", "globex", 4)],
    )
    return Data(now=now, start=start, end=end, book=book)


def generate(data: Data, key: str, fmt: str, **kw):
    out = io.BytesIO()
    result = commission_statement_generate(
        party=statement_party(text=key),
        start=kw.pop("start", data.start),
        end=kw.pop("end", data.end),
        fmt=fmt,
        out=out,
        actor=kw.pop("actor", "system:test"),
        now=data.now,
        **kw,
    )
    return result, out.getvalue()


def csv_rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode())))


# --- totals and lines equal the records ------------------------------------------------------


@pytest.mark.parametrize("key", ["lightway", "mtn", "partner:acme", "partner:globex"])
def test_csv_and_json_lines_and_totals_equal_the_records(data, key):
    expected = sorted(data.book.of(key, data.since, data.until), key=lambda x: (x[5], x[0]))
    result, body = generate(data, key, "csv")
    rows = csv_rows(body)
    assert [r["reference"] for r in rows] == [x[0] for x in expected]
    assert [int(r["party_share_minor"]) for r in rows] == [x[4] for x in expected]
    assert [int(r["fee_minor"]) for r in rows] == [x[3] for x in expected]
    assert {r["party"] for r in rows} <= {key}
    for row in rows:  # major units with the currency's exponent
        decimals = 2 if row["currency"] == "GHS" else 0
        minor = int(row["party_share_minor"])
        assert row["party_share"] == (f"{minor / 100:.2f}" if decimals else str(minor))
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for _ref, kind, code, fee, share, _at in expected:
        totals[(kind, code)][0] += 1
        totals[(kind, code)][1] += fee
        totals[(kind, code)][2] += share
    assert {
        (r.transaction_kind, r.currency): [r.count, r.fee, r.share] for r in result.summary
    } == dict(totals)
    assert result.lines == len(expected)

    _result_json, body_json = generate(data, key, "json")
    document = json.loads(body_json)
    assert document["party"] == key and document["line_count"] == len(expected)
    assert document["from"] == data.start.isoformat() and document["to"] == data.end.isoformat()
    assert [(x["reference"], x["party_share"], x["fee"]) for x in document["lines"]] == [
        (x[0], x[4], x[3]) for x in expected
    ]
    assert {
        (s["transaction_kind"], s["currency"]): [s["count"], s["fee"], s["party_share"]]
        for s in document["summary"]
    } == dict(totals)


def test_the_party_filter_is_exact(data):
    refs = {
        key: {r["reference"] for r in csv_rows(generate(data, key, "csv")[1])}
        for key in ("lightway", "mtn", "partner:acme", "partner:globex")
    }
    assert not refs["mtn"] & {r for r in refs["partner:acme"] if r.startswith("globex")}
    assert {r for r in refs["partner:acme"]} == {f"acme-{i}" for i in range(12)}
    assert refs["partner:globex"] == {f"globex-{i}" for i in range(5)} | {"last-instant"}
    # MTN's statement holds MTN's records only: its shares, never a partner's.
    mtn_rows = csv_rows(generate(data, "mtn", "csv")[1])
    acme_share = {x[0]: x[4] for x in data.book.lines["partner:acme"]}
    mtn_share = {x[0]: x[4] for x in data.book.lines["mtn"]}
    for row in mtn_rows:
        assert int(row["party_share_minor"]) == mtn_share[row["reference"]]
        if row["reference"] in acme_share:
            assert int(row["party_share_minor"]) != acme_share[row["reference"]]
    # A partner's statement never shows the other partner's lines.
    assert not refs["partner:acme"] & refs["partner:globex"]
    # P2P (LightWay and MTN only) is in neither partner's statement.
    assert {f"p2p-{i}" for i in range(6)} <= refs["mtn"] & refs["lightway"]
    assert not {f"p2p-{i}" for i in range(6)} & (refs["partner:acme"] | refs["partner:globex"])


def test_period_bounds_are_whole_utc_days(data):
    refs = {r["reference"] for r in csv_rows(generate(data, "mtn", "csv")[1])}
    assert "last-instant" in refs and "before" not in refs and "after" not in refs
    # One day only: the first one.
    one = csv_rows(generate(data, "lightway", "csv", start=data.start, end=data.start)[1])
    assert [r["reference"] for r in one] == ["p2p-0"]


def test_pages_join_without_gap_or_repeat(data, monkeypatch):
    """The keyset cursor across pages, with lines that share a created_at."""
    whole = csv_rows(generate(data, "mtn", "csv")[1])
    monkeypatch.setattr(statements, "PAGE_SIZE", 2)
    seen: list[int] = []
    out = io.BytesIO()
    commission_statement_generate(
        party=statement_party(text="mtn"),
        start=data.start,
        end=data.end,
        fmt="csv",
        out=out,
        actor="system:test",
        now=data.now,
        progress=seen.append,
    )
    assert csv_rows(out.getvalue()) == whole
    assert seen == list(range(2, len(whole) + 1, 2)) + ([len(whole)] if len(whole) % 2 else [])


def test_an_empty_period_is_a_valid_statement(data):
    long_ago = date(2001, 3, 1)
    result, body = generate(data, "partner:acme", "csv", start=long_ago, end=long_ago)
    assert result.lines == 0 and csv_rows(body) == [] and body.startswith(b"created_at,")
    result, body = generate(data, "partner:acme", "pdf", start=long_ago, end=long_ago)
    assert body.startswith(b"%PDF-")
    assert json.loads(generate(data, "mtn", "json", start=long_ago, end=long_ago)[1])["lines"] == []


# --- the PDF ------------------------------------------------------------------------------


def pdf_streams(body: bytes) -> str:
    """The page content streams of a reportlab PDF (ASCII85 + Flate), decoded."""
    texts = []
    for match in re.finditer(rb"stream\r?\n(.*?)endstream", body, re.S):
        raw = match.group(1).strip()
        if raw.endswith(b"~>"):
            raw = raw[:-2]
        texts.append(zlib.decompress(base64.a85decode(raw)).decode("latin-1"))
    return "\n".join(texts)


def test_pdf_is_valid_with_summary_chart_and_lines(data):
    result, body = generate(data, "partner:acme", "pdf")
    assert body.startswith(b"%PDF-1.") and body.rstrip().endswith(b"%%EOF")
    pages = len(re.findall(rb"/Type /Page\b", body))
    count = re.search(rb"/Count (\d+) /Kids", body)
    assert count is not None and int(count.group(1)) == pages >= 1
    content = pdf_streams(body)
    assert "Commission statement: Acme Remit \\(acme\\)" in content
    assert "Summary per transaction kind and currency" in content
    # The chart: its title, and one bar per day that has commission (acme: twelve days).
    assert "Acme Remit \\(acme\\): commission per day, UGX" in content
    r, g, b = (round(c, 6) for c in BAR_COLOUR.rgb())
    fill = re.escape(f"{r:g} {g:g} {b:g} rg".replace("0.", "."))
    heights = [
        float(h) for h in re.findall(fill + r"[^Q]*?n [\d.]+ [\d.]+ [\d.]+ ([\d.]+) re f", content)
    ]
    assert len([h for h in heights if h > 0]) == 12
    # The summary total and a detail line, formatted per currency exponent.
    total = sum(x[4] for x in data.book.of("partner:acme", data.since, data.until))
    assert f"(UGX {total:,})" in content and "(acme-11)" in content
    assert result.sha256 == hashlib.sha256(body).hexdigest()


def test_pdf_detail_is_capped_and_says_so(data, monkeypatch):
    monkeypatch.setattr(statements, "PDF_DETAIL_MAX_LINES", 3)
    _result, body = generate(data, "partner:acme", "pdf")
    content = pdf_streams(body)
    assert "the first 3 of 12" in content.replace("\n", " ") or "first 3 of 12" in content
    assert "(acme-2)" in content and "(acme-3)" not in content


# --- the audit trail ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "pdf", "json"])
def test_each_file_s_hash_is_in_the_audit_trail(data, fmt):
    result, body = generate(data, "partner:globex", fmt, actor="staff:42")
    record = AuditRecord.objects.get(pk=result.audit_id)
    assert record.action == "commission.statement_generate"
    assert record.actor == "staff:42"
    assert record.object_type == "commission.statement" and record.object_id == "partner:globex"
    assert record.data["sha256"] == hashlib.sha256(body).hexdigest()
    assert record.data == {
        "party": "partner:globex",
        "from": data.start.isoformat(),
        "to": data.end.isoformat(),
        "format": fmt,
        "lines": 6,
        "bytes": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }


# --- bad parameters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "start", "end", "fmt", "error", "message"),
    [
        ("bogus", date(2026, 1, 1), date(2026, 1, 31), "csv", ValidationFailed, "party must be"),
        ("partner:nope", date(2026, 1, 1), date(2026, 1, 31), "csv", NotFound, "no partner"),
        ("partner:", date(2026, 1, 1), date(2026, 1, 31), "csv", NotFound, "partner's code"),
        ("mtn", date(2026, 2, 1), date(2026, 1, 31), "csv", RequestRefused, "before it starts"),
        ("mtn", date(2025, 1, 1), date(2026, 1, 2), "csv", RequestRefused, "at most 366"),
        ("mtn", date(2026, 1, 1), date.max, "csv", RequestRefused, "before 9999"),
        ("mtn", date(2026, 1, 1), date(2026, 1, 2), "xlsx", ValidationFailed, "format must"),
    ],
)
def test_bad_parameters_are_clear_errors(data, key, start, end, fmt, error, message):
    with pytest.raises(error, match=message):
        commission_statement_generate(
            party=statement_party(text=key),
            start=start,
            end=end,
            fmt=fmt,
            out=io.BytesIO(),
            actor="system:test",
            now=data.now,
        )
    assert not AuditRecord.objects.filter(action="commission.statement_generate").exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-02", (date(2026, 2, 1), date(2026, 2, 28))),
        ("2024-02", (date(2024, 2, 1), date(2024, 2, 29))),
        ("2026-12", (date(2026, 12, 1), date(2026, 12, 31))),
    ],
)
def test_a_month_is_its_first_to_last_day(text, expected):
    assert statement_month(text=text) == expected


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-11", "November", ""])
def test_a_bad_month_is_refused(text):
    with pytest.raises(ValidationFailed, match="YYYY-MM"):
        statement_month(text=text)


# --- cost: only the period's records of the party, through the index -------------------------


def _statement_sql_args(data: Data, party: str, party_ref: str, after=None):
    params = {
        "party": party,
        "party_ref": party_ref,
        "start": data.since,
        "end": data.until,
        "limit": 2000,
    }
    if after:
        params["after_at"], params["after_id"] = after
    return _STATEMENT_SQL.format(after=_AFTER_SQL if after else ""), params


def test_the_period_query_reads_the_party_index(data):
    for after in (None, (data.since + 3 * DAY, 0)):
        sql, params = _statement_sql_args(data, "partner", "acme", after)
        scans = scans_without_seqscan(sql, params)
        on_records = [
            s
            for s in scans
            if s.get("Relation Name") == "commission_record"
            or str(s.get("Index Name", "")).startswith("commission_rec")
        ]
        names = {s.get("Index Name") for s in on_records}
        assert "commission_rec_statement" in names, scans
        assert all(s["Node Type"] != "Seq Scan" for s in scans), scans


def test_the_cost_does_not_grow_with_history(data):
    """Rows read for acme's statement stay the same after many more records of other
    parties and of acme outside the period."""

    def read() -> int:
        return rows_read(lambda: generate(data, "partner:acme", "csv"))["commission_record"]

    before = read()
    remit = make_schedule(
        data.now,
        kind="remittance",
        currency="GHS",
        splits=(("lightway", 50), ("mtn", 30), ("partner", 20)),
    )
    old = datetime.combine(data.start, datetime.min.time(), tzinfo=UTC) - 5 * DAY
    book = Book()
    for i in range(300):
        _txn(
            book,
            remit,
            f"noise-{i}",
            old + timedelta(minutes=i),
            [
                ("lightway", "lightway", 5),
                ("mtn", "mtn", 3),
                ("partner", "acme" if i % 2 else "globex", 2),
            ],
        )
    with connection.cursor() as cur:
        cur.execute("ANALYZE commission_record")
    assert read() == before


# --- the CLI --------------------------------------------------------------------------------


def test_cli_writes_the_statement_and_prints_its_hash(data, tmp_path, capsys):
    out = tmp_path / "mtn.pdf"
    code = main(
        [
            "commission",
            "statement",
            "--party",
            "mtn",
            "--from",
            data.start.isoformat(),
            "--to",
            data.end.isoformat(),
            "--out",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    body = out.read_bytes()
    digest = hashlib.sha256(body).hexdigest()
    assert body.startswith(b"%PDF-") and f"SHA-256:   {digest}" in captured.out
    assert "Reading mtn commission records" in captured.err  # progress on stderr
    record = AuditRecord.objects.get(action="commission.statement_generate")
    assert record.actor == "system:cli" and record.data["sha256"] == digest


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--party", "mtn", "--month", "2026-13", "--out", "{tmp}/a.csv"], "YYYY-MM"),
        (["--party", "nobody", "--month", "2026-11", "--out", "{tmp}/a.csv"], "party must be"),
        (["--party", "partner:zz", "--month", "2026-11", "--out", "{tmp}/a.csv"], "no partner"),
        (["--party", "mtn", "--out", "{tmp}/a.csv"], "give the period"),
        (
            [
                "--party",
                "mtn",
                "--month",
                "2026-11",
                "--from",
                "2026-11-01",
                "--out",
                "{tmp}/a.csv",
            ],
            "not both",
        ),
        (["--party", "mtn", "--month", "2026-11", "--out", "{tmp}/a.txt"], "give --format"),
        (["--party", "mtn", "--month", "2026-11", "--out", "{tmp}/no/dir/a.csv"], "does not exist"),
        (
            [
                "--party",
                "mtn",
                "--from",
                "2026-11-30",
                "--to",
                "2026-11-01",
                "--out",
                "{tmp}/a.csv",
            ],
            "before it starts",
        ),
    ],
)
def test_cli_bad_input_is_one_clear_line(data, tmp_path, capsys, args, message):
    argv = ["commission", "statement", *[a.replace("{tmp}", str(tmp_path)) for a in args]]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "lightway: error:" in err and message in err, err
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_cli_refuses_a_bad_date_as_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        main(
            [
                "commission",
                "statement",
                "--party",
                "mtn",
                "--from",
                "2026-02-30",
                "--to",
                "x",
                "--out",
                "a.csv",
            ]
        )
    assert exited.value.code == 2
    assert "is not a date (YYYY-MM-DD)" in capsys.readouterr().err


# --- the panels -----------------------------------------------------------------------------


def _signed_in(client, username, roles, now):
    uid = staff(username, roles, now)
    client.force_login(get_user_model().objects.get(pk=uid))
    return uid


def test_lightway_page_downloads_any_party_s_statement(data, client):
    uid = _signed_in(client, "fin", [Role.LW_FINANCE], data.now)
    page = client.get("/staff/commission/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'value="partner:acme"' in html and 'value="mtn"' in html and 'value="lightway"' in html
    response = client.post(
        "/staff/commission/",
        {
            "party": "partner:globex",
            "start": data.start.isoformat(),
            "end": data.end.isoformat(),
            "format": "csv",
        },
    )
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert response["Content-Type"].startswith("text/csv")
    assert f"commission-partner-globex-{data.start}" in response["Content-Disposition"]
    refs = {r["reference"] for r in csv_rows(body)}
    assert refs == {f"globex-{i}" for i in range(5)} | {"last-instant"}
    digest = hashlib.sha256(body).digest()
    assert response["Repr-Digest"] == f"sha-256=:{base64.b64encode(digest).decode()}:"
    record = AuditRecord.objects.get(action="commission.statement_generate")
    assert record.actor == f"staff:{uid}" and record.data["sha256"] == digest.hex()
    pdf = client.post(
        "/staff/commission/",
        {"party": "lightway", "month": data.start.strftime("%Y-%m"), "format": "pdf"},
    )
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content).startswith(b"%PDF-")


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"party": "mtn", "format": "csv"}, "Give a month, or the first and last day."),
        ({"party": "mtn", "month": "2026-11", "start": "2026-11-01", "format": "csv"}, "not both"),
        (
            {"party": "mtn", "start": "2026-11-30", "end": "2026-11-01", "format": "csv"},
            "before it starts",
        ),
        (
            {"party": "mtn", "start": "2024-01-01", "end": "2026-01-01", "format": "csv"},
            "at most 366",
        ),
        ({"party": "partner:nobody", "month": "2026-11", "format": "csv"}, "Choose a party."),
        ({"party": "mtn", "month": "2026-11", "format": "xlsx"}, "Choose PDF or CSV."),
        (
            {"party": "mtn", "start": "yesterday", "end": "2026-11-01", "format": "csv"},
            "Enter a date",
        ),
    ],
)
def test_lightway_page_explains_bad_input(data, client, form, message):
    _signed_in(client, "fin", [Role.LW_FINANCE], data.now)
    response = client.post("/staff/commission/", form)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not AuditRecord.objects.filter(action="commission.statement_generate").exists()


def test_mtn_portal_gives_mtn_s_own_statement_only(data, client):
    _signed_in(client, "mtn-fin", [Role.MTN_FINANCE], data.now)
    assert client.get("/mtn/commission/").status_code == 200
    response = client.post(
        "/mtn/commission/",
        {
            "party": "partner:acme",  # ignored: the page is MTN's
            "start": data.start.isoformat(),
            "end": data.end.isoformat(),
            "format": "csv",
        },
    )
    assert response.status_code == 200
    rows = csv_rows(b"".join(response.streaming_content))
    assert {r["party"] for r in rows} == {"mtn"}
    mtn_share = {x[0]: x[4] for x in data.book.of("mtn", data.since, data.until)}
    assert {r["reference"]: int(r["party_share_minor"]) for r in rows} == mtn_share
    # MTN staff cannot open the LightWay page (any party's statement).
    assert client.get("/staff/commission/").status_code == 403
    assert (
        client.post("/staff/commission/", {"party": "partner:acme", "month": "2026-11"}).status_code
        == 403
    )


@pytest.mark.parametrize("role", [Role.LW_SUPPORT, Role.LW_OPERATIONS, Role.MTN_MONITORING])
def test_pages_need_their_permission(data, client, role):
    _signed_in(client, "someone", [role], data.now)
    assert client.get("/staff/commission/").status_code == 403
    assert client.get("/mtn/commission/").status_code == 403


# --- the partner API ------------------------------------------------------------------------


def signed_get(client, key, target):
    key_id, secret = key
    headers = sign_request(
        key_id=key_id,
        secret=secret,
        method="GET",
        target=target,
        body=b"",
        timestamp=int(time.time()),
    )
    return client.get(
        target, **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
    )


def _key(code: str, now: datetime) -> tuple[str, str]:
    partner = Partner.objects.get(code=code)
    return partner_key_create(partner_id=partner.pk, actor="system:test", now=now)


API = "/api/v1/partner/commission-statements"


def test_partner_api_gives_the_partner_its_own_statement(data, client):
    key = _key("acme", data.now)
    target = f"{API}?from={data.start}&to={data.end}"
    response = signed_get(client, key, target)
    assert response.status_code == 200, response.content
    document = response.json()
    assert document["party"] == "partner:acme"
    expected = sorted(
        data.book.of("partner:acme", data.since, data.until), key=lambda x: (x[5], x[0])
    )
    assert [x["reference"] for x in document["lines"]] == [x[0] for x in expected]
    assert document["summary"] == [
        {
            "transaction_kind": "remittance",
            "currency": "UGX",
            "count": 12,
            "fee": sum(x[3] for x in expected),
            "party_share": sum(x[4] for x in expected),
        }
    ]
    digest = hashlib.sha256(response.content).digest()
    assert response["Repr-Digest"] == f"sha-256=:{base64.b64encode(digest).decode()}:"
    record = AuditRecord.objects.get(action="commission.statement_generate")
    assert record.actor == "partner:acme" and record.data["sha256"] == digest.hex()

    as_csv = signed_get(client, key, target + "&format=csv")
    assert as_csv.status_code == 200 and as_csv["Content-Type"].startswith("text/csv")
    assert {r["party"] for r in csv_rows(as_csv.content)} == {"partner:acme"}
    # The other partner sees only its own.
    other = signed_get(client, _key("globex", data.now), target).json()
    assert {x["reference"] for x in other["lines"]} == {f"globex-{i}" for i in range(5)} | {
        "last-instant"
    }


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("from=2026-11-30&to=2026-11-01", 422, "period_invalid"),
        ("from=2024-01-01&to=2026-01-01", 422, "period_invalid"),
        ("from=2026-11-01", 422, "validation_failed"),
        ("from=nope&to=2026-11-01", 422, "validation_failed"),
        ("from=2026-11-01&to=2026-11-30&format=pdf", 422, "validation_failed"),
        ("from=2026-11-01&to=9999-12-31", 422, "period_invalid"),
    ],
)
def test_partner_api_bad_parameters(data, client, query, status, code):
    response = signed_get(client, _key("acme", data.now), f"{API}?{query}")
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code


def test_partner_api_needs_a_signature(data, client):
    response = client.get(f"{API}?from={data.start}&to={data.end}")
    assert response.status_code == 401
