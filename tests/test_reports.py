"""Reports (issue 14, item 1; docs/reports.md): each kind in each format on a small known
dataset made through the real payment paths, figures checked against what was recorded;
the run's state machine and file enforced by the database; the job, the schedule, the CLI,
the staff page (permission, bad input, download audited with the SHA-256, the SHA-256
re-checked).

The expected figures are computed here from the transfers, commission records, KYC
applicants and ledger postings the dataset wrote (not by the report's own queries)."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import zlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from openpyxl import load_workbook

from lightway.application.analytics.rollup import analytics_rollup
from lightway.application.errors import RequestRefused, ValidationFailed
from lightway.application.reports import runs
from lightway.application.reports.kinds import KINDS, Filters
from lightway.application.reports.render import FORMATS
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.data.audit.models import AuditRecord
from lightway.data.commission.models import CommissionRecord
from lightway.data.kyc.models import KycApplicant
from lightway.data.ledger.models import AccountKind
from lightway.data.ledger.services import Leg, entry_post, house_account
from lightway.data.reports.models import ReportFile, ReportRun, RunStatus
from lightway.data.wallets.models import Transfer
from lightway.interfaces.cli.main import main
from lightway.security.policy import Role
from tests.commission_support import make_schedule
from tests.factories import customer, funded_wallet, staff

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
START = date(2026, 11, 20)
END = date(2026, 11, 22)


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=hour)


def _clock(at: datetime):
    return lambda: at


@pytest.fixture
def dataset(now):
    """Three days of P2P payments in UGX between two Ugandan customers (a flat fee of 500
    split LightWay 60 % / MTN 40 %), one refused for lack of funds, one payment the day
    before the period; two KYC applicants; a MoMo float account with movements."""
    make_schedule(
        now - 40 * DAY,
        kind="p2p",
        currency="UGX",
        flat=500,
        splits=(("lightway", 60), ("mtn", 40)),
    )
    t0 = _at(START - DAY, 8)
    alice, _ = customer("rp-alice", t0, country="UG")
    bob, _ = customer("rp-bob", t0, country="UG")
    a = funded_wallet(alice, "UGX", 1_000_000, t0)
    b = funded_wallet(bob, "UGX", 0, t0)
    plan = [
        (START - DAY, 10, 7_000),  # outside the period
        (START, 9, 10_000),
        (START, 15, 20_000),
        (START + DAY, 11, 30_000),
        (END, 12, 5_000_000),  # refused: more than the wallet holds
        (END, 13, 40_000),
    ]
    made = []
    for i, (day, hour, amount) in enumerate(plan):
        made.append(
            transfer_create(
                client_id=alice,
                idempotency_key=f"rp-{i}",
                request=TransferRequest(
                    source_wallet_id=a.id,
                    destination_wallet_id=b.id,
                    amount=amount,
                    currency="UGX",
                ),
                now=_at(day, hour),
            ).transfer
        )
    assert [t.status for t in made] == ["succeeded"] * 4 + ["failed", "succeeded"]
    analytics_rollup(now=_at(END, 23))
    # KYC: one applicant started on START and approved the next day, one started on END.
    KycApplicant.objects.create(
        user_id=alice,
        applicant_id="rp-app-1",
        level_name="basic",
        review_status="completed",
        review_answer="GREEN",
        approved_at=_at(START + DAY, 10),
        created_at=_at(START, 9),
        updated_at=_at(START + DAY, 10),
    )
    KycApplicant.objects.create(
        user_id=bob,
        applicant_id="rp-app-2",
        level_name="basic",
        review_status="pending",
        created_at=_at(END, 9),
        updated_at=_at(END, 9),
    )
    # A MoMo float: 100,000 in before the period, 25,000 in on START, 5,000 out on END.
    float_ = house_account(
        kind=AccountKind.MOMO_FLOAT, currency="UGX", owner_ref="collection", now=t0
    )
    equity = house_account(kind=AccountKind.EQUITY, currency="UGX", now=t0)
    for at, amount in (
        (_at(START - DAY, 9), 100_000),
        (_at(START, 10), 25_000),
        (_at(END, 10), -5_000),
    ):
        entry_post(
            kind="opening_balance",
            currency="UGX",
            legs=[Leg(float_.pk, -amount), Leg(equity.pk, amount)],
            now=at,
        )
    return made


def _run(kind: str, fmt: str, **filters) -> ReportRun:
    params = runs.report_params(kind=kind, start=START, end=END, fmt=fmt, **filters)
    run = runs.report_run_request(
        params=params, requested_by="system:test", now=_at(END + DAY, 8), enqueue=False
    )
    done = runs.report_run_execute(run_id=int(run.pk), clock=_clock(_at(END + DAY, 9)))
    assert done.status == RunStatus.DONE, done.error
    return done


def _content(run: ReportRun) -> bytes:
    return bytes(ReportFile.objects.get(run_id=run.pk).content)


def _csv_rows(run: ReportRun) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(_content(run).decode())))


def _pdf_text(content: bytes) -> str:
    """The page content streams of a reportlab PDF (ASCII85 + Flate), decoded."""
    texts = []
    for match in re.finditer(rb"stream\r?\n(.*?)endstream", content, re.S):
        raw = match.group(1).strip()
        if raw.endswith(b"~>"):
            raw = raw[:-2]
        texts.append(zlib.decompress(base64.a85decode(raw)).decode("latin-1"))
    return "\n".join(texts)


# --- figures, each kind against what the dataset recorded ------------------------------------


def test_volumes_figures_match_the_transfers(dataset):
    in_period = [
        t
        for t in Transfer.objects.filter(status="succeeded")
        if START <= t.updated_at.date() <= END
    ]
    assert len(in_period) == 4
    (row,) = _csv_rows(_run("volumes", "csv"))
    assert (row["Kind"], row["Market"], row["Currency"], row["Partner"]) == (
        "p2p",
        "UG",
        "UGX",
        "",
    )
    assert int(row["Succeeded"]) == 4 and int(row["Failed"]) == 1 and int(row["Reversed"]) == 0
    assert Decimal(row["Value"]) == sum(t.amount for t in in_period) == 100_000
    assert Decimal(row["Fees"]) == sum(t.fee for t in in_period) == 2_000
    # A filter that leaves nothing: the header only.
    assert _csv_rows(_run("volumes", "csv", market="GH")) == []


def test_commission_figures_match_the_records(dataset):
    since, until = _at(START, 0), _at(END + DAY, 0)
    records = CommissionRecord.objects.filter(created_at__gte=since, created_at__lt=until)
    expected = {}
    for r in records:
        key = (r.party_ref, r.currency, r.transaction_kind)
        n, total = expected.get(key, (0, 0))
        expected[key] = (n + 1, total + r.amount)
    assert expected == {("lightway", "UGX", "p2p"): (4, 1200), ("mtn", "UGX", "p2p"): (4, 800)}
    got = {
        (row["Party"], row["Currency"], row["Transaction kind"]): (
            int(row["Records"]),
            int(Decimal(row["Commission"])),
        )
        for row in _csv_rows(_run("commission", "csv"))
    }
    assert got == expected


def test_kyc_figures_match_the_applicants(dataset):
    book = load_workbook(io.BytesIO(_content(_run("kyc", "xlsx"))))
    totals = book["Totals of the period"]
    assert [tuple(r) for r in totals.iter_rows(values_only=True)] == [
        ("Event", "Applicants"),
        ("Started", 2),
        ("Approved", 1),
        ("Rejected (final)", 0),
    ]
    per_day = [tuple(r) for r in book["Per day"].iter_rows(values_only=True)]
    assert per_day[1:] == [
        (datetime(2026, 11, 20), 1, 0, 0),
        (datetime(2026, 11, 21), 0, 1, 0),
        (datetime(2026, 11, 22), 1, 0, 0),
    ]
    with pytest.raises(ValidationFailed, match="takes no currency filter"):
        runs.report_params(kind="kyc", start=START, end=END, fmt="csv", currency="UGX")


def test_failures_figures_match_the_failed_transfers(dataset):
    failed = Transfer.objects.get(status="failed")
    (row,) = _csv_rows(_run("failures", "csv"))
    assert row["Failure code"] == failed.failure_code
    assert (row["Kind"], row["Currency"], int(row["Failed"])) == ("p2p", "UGX", 1)
    assert Decimal(row["Amount"]) == failed.amount


def test_float_positions_match_the_postings(dataset):
    rows = {r["Account"]: r for r in _csv_rows(_run("floats", "csv", currency="UGX"))}
    (row,) = [r for r in rows.values() if r["Kind"] == "MoMo float"]
    # The float holds what came in (an asset: its ledger balance is the negative).
    assert Decimal(row["Opening"]) == 100_000
    assert Decimal(row["Net days up"]) == 25_000 and Decimal(row["Net days down"]) == 5_000
    assert Decimal(row["Closing"]) == 120_000


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_kind_in_every_format(dataset, kind, fmt):
    run = _run(kind, fmt)
    content = _content(run)
    assert run.size == len(content) > 0
    assert run.sha256 == hashlib.sha256(content).hexdigest()
    assert run.progress_done == run.progress_total > 0
    assert run.filename == f"{kind}-2026-11-20-2026-11-22.{fmt}"
    if fmt == "csv":
        header = content.decode().splitlines()[0]
        assert header == ",".join(c.name for c in _main_columns(kind))
    elif fmt == "xlsx":
        book = load_workbook(io.BytesIO(content))
        assert book.sheetnames[0] == "Parameters"
        assert book["Parameters"]["A1"].value == KINDS[kind].label
        sheet = book.worksheets[1]
        header = [c.value for c in sheet[1]]
        assert header == [c.name for c in _main_columns(kind)]
        assert all(c.font.b for c in sheet[1])
        # Numbers are numeric cells, never text.
        for row in sheet.iter_rows(min_row=2, values_only=True):
            for value, column in zip(row, _main_columns(kind), strict=True):
                if column.type in ("int", "money") and value is not None:
                    assert isinstance(value, (int, float, Decimal)), (column.name, value)
    else:
        assert content.startswith(b"%PDF-") and b"/Type /Page" in content
        text = _pdf_text(content)
        assert KINDS[kind].label in text and "Period \\(UTC\\)" in text
        # Every chart of the report is drawn: its title is on the page.
        for chart in _data(kind).charts:
            assert chart.title.replace("(", "\\(").replace(")", "\\)") in text


def _data(kind):
    return KINDS[kind].builder(
        start=START, end=END, filters=Filters(), now=_at(END, 0), progress=lambda *_: None
    )


def _main_columns(kind):
    return _data(kind).tables[0].columns


def test_pdf_has_the_charts_of_its_kind(dataset):
    from lightway.application.reports import pdf

    drawn = []
    original = pdf.chart_drawing

    def spy(chart, *, width):
        drawn.append(type(chart).__name__)
        return original(chart, width=width)

    pdf.chart_drawing = spy
    try:
        _run("kyc", "pdf")
        _run("volumes", "pdf")
        _run("floats", "pdf")
    finally:
        pdf.chart_drawing = original
    assert drawn == ["LineChart", "PieChart", "BarChart", "PieChart", "LineChart"]


# --- parameters -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "error", "field"),
    [
        ({"kind": "nope"}, "unknown report kind 'nope'", "kind"),
        ({"fmt": "docx"}, "format must be one of csv, xlsx, pdf", "format"),
        ({"end": START - DAY}, "ends (2026-11-19) before it starts", "to"),
        ({"end": START + 400 * DAY}, "at most 366 days; this period has 401", "to"),
        ({"market": "XX"}, "market must be one of", "market"),
        ({"currency": "ABC"}, "unknown currency 'ABC'", "currency"),
        ({"partner": "ghost"}, "no partner with code 'ghost'", "partner"),
    ],
)
def test_bad_parameters_are_refused_with_the_field(args, error, field):
    base = {"kind": "volumes", "start": START, "end": END, "fmt": "csv"}
    with pytest.raises((ValidationFailed, RequestRefused)) as caught:
        runs.report_params(**{**base, **args})
    assert error in caught.value.message
    assert caught.value.details["field"] == field


# --- the run's rules in the database --------------------------------------------------------


def _queued() -> ReportRun:
    params = runs.report_params(kind="volumes", start=START, end=END, fmt="csv")
    return runs.report_run_request(
        params=params, requested_by="system:test", now=_at(END, 0), enqueue=False
    )


def _refused(sql: str, params: list) -> str:
    with pytest.raises(Exception) as caught, transaction.atomic(), connection.cursor() as cur:
        cur.execute(sql, params)
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
    return str(caught.value)


def test_database_enforces_the_state_machine_and_the_file():
    run = _queued()
    pk = run.pk
    # done without a file, or with a wrong digest
    assert "reports_run_state_machine" in _refused(
        "UPDATE reports_run SET status = 'done' WHERE id = %s", [pk]
    ) or "not allowed" in _refused("UPDATE reports_run SET status = 'done' WHERE id = %s", [pk])
    assert "is born queued" in _refused(
        "INSERT INTO reports_run (kind, params, requested_by, status, error, progress_done,"
        " progress_total, requested_at, format, filename) VALUES ('volumes', '{}', 'x',"
        " 'running', '', 0, 0, now(), 'csv', '')",
        [],
    )
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE reports_run SET status = 'running', started_at = now(),"
            " progress_total = 3 WHERE id = %s",
            [pk],
        )
    assert "reports_run_done_file" in _refused(
        "UPDATE reports_run SET status = 'done', finished_at = now(), size = 3, sha256 = %s,"
        " filename = 'x.csv' WHERE id = %s",
        ["0" * 64, pk],
    )
    assert "never goes backwards" in _refused(
        "UPDATE reports_run SET progress_done = 2 WHERE id = %s;"
        " UPDATE reports_run SET progress_done = 1 WHERE id = %s",
        [pk, pk],
    )
    assert "what was asked never changes" in _refused(
        'UPDATE reports_run SET params = \'{"from": "2020-01-01"}\' WHERE id = %s', [pk]
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        ReportRun.objects.filter(pk=pk).update(status="failed", finished_at=_at(END, 1))
    # The runtime role may not even try (db_roles); the trigger refuses the owner.
    assert re.search(
        "never deleted|permission denied",
        _refused("DELETE FROM reports_run WHERE id = %s", [pk]),
    )
    # A proper finish passes; then the run and its file never change.
    content = b"a,b\r\n"
    from lightway.data.reports.services import report_run_finish

    with transaction.atomic():
        report_run_finish(
            run_id=pk,
            content=content,
            sha256=hashlib.sha256(content).hexdigest(),
            filename="x.csv",
            now=_at(END, 1),
        )
        with connection.cursor() as cur:
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert "never changes again" in _refused(
        "UPDATE reports_run SET status = 'failed', error = 'x' WHERE id = %s", [pk]
    )
    assert re.search(
        "written once|permission denied",
        _refused("UPDATE reports_file SET content = 'x' WHERE run_id = %s", [pk]),
    )
    assert re.search(
        "written once|permission denied",
        _refused("DELETE FROM reports_file WHERE run_id = %s", [pk]),
    )


# --- the job, the schedule ------------------------------------------------------------------


def test_the_job_produces_a_queued_run(dataset):
    from lightway.interfaces import tasks

    params = runs.report_params(kind="commission", start=START, end=END, fmt="pdf")
    run = runs.report_run_request(params=params, requested_by="staff:1", now=_at(END, 0))
    with connection.cursor() as cur:
        cur.execute(
            "SELECT task_name, args FROM procrastinate_jobs WHERE task_name = 'report_run'"
            " AND (args->>'run_id')::bigint = %s",
            [run.pk],
        )
        ((task, args),) = cur.fetchall()
    assert task == "report_run"
    assert (json.loads(args) if isinstance(args, str) else args) == {"run_id": run.pk}
    assert tasks.report_run(run_id=int(run.pk)) == "done"
    run.refresh_from_db()
    assert run.status == "done" and run.sha256
    assert tasks.report_run(run_id=int(run.pk)) == "done"  # a retry changes nothing


def test_a_failing_run_is_recorded_failed(dataset, monkeypatch):
    from lightway.application.reports import kinds

    def broken(**_):
        raise ValueError("boom")

    monkeypatch.setitem(
        kinds.KINDS,
        "volumes",
        kinds.KINDS["volumes"].__class__("volumes", "Volumes", "", kinds.ALL_FILTERS, broken),
    )
    run = _queued()
    ended = runs.report_run_execute(run_id=int(run.pk), clock=_clock(_at(END, 1)))
    assert ended.status == "failed"
    assert ended.error == "internal error (ValueError); the worker log has the details"
    assert not ReportFile.objects.filter(run_id=run.pk).exists()


def test_schedule_makes_one_run_per_period(now):
    from lightway.interfaces import tasks

    first = runs.report_schedule_daily(now=now)
    assert first is not None
    assert (first.kind, first.requested_by, first.schedule_key) == (
        "volumes",
        "schedule",
        "volumes:2026-11-23",
    )
    assert first.params == {"from": "2026-11-23", "to": "2026-11-23", "format": "xlsx"}
    assert runs.report_schedule_daily(now=now + timedelta(hours=1)) is None
    monthly = runs.report_schedule_monthly(now=now)
    assert monthly is not None and monthly.schedule_key == "commission:2026-10"
    assert monthly.params == {"from": "2026-10-01", "to": "2026-10-31", "format": "pdf"}
    assert runs.report_schedule_monthly(now=now) is None
    with pytest.raises(IntegrityError), transaction.atomic():
        ReportRun.objects.create(
            kind="volumes",
            params={},
            format="csv",
            requested_by="staff:1",
            requested_at=now,
            schedule_key="volumes:other",
        )
    # The periodic entry points are registered with their cron.
    from procrastinate.contrib.django import app

    app.perform_import_paths()
    crons = {n: p.cron for (n, _), p in app.periodic_registry.periodic_tasks.items()}
    assert crons["reports_daily"] == tasks.REPORTS_DAILY_CRON == "15 0 * * *"
    assert crons["reports_monthly"] == tasks.REPORTS_MONTHLY_CRON == "30 0 1 * *"


# --- the CLI --------------------------------------------------------------------------------


def test_cli_runs_a_report_with_progress_and_prints_the_sha256(dataset, tmp_path, capsys):
    out = tmp_path / "volumes.xlsx"
    code = main(
        [
            "report",
            "run",
            "volumes",
            "--from",
            START.isoformat(),
            "--to",
            END.isoformat(),
            "--format",
            "xlsx",
            "--out",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert f"SHA-256:   {digest}" in captured.out
    assert "Running volumes" in captured.err
    run = ReportRun.objects.get(sha256=digest)
    assert (run.requested_by, run.status) == ("system:cli", "done")
    load_workbook(out)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nope", "--from", "2026-11-20", "--to", "2026-11-22"], "invalid choice: 'nope'"),
        (["volumes", "--from", "2026-11-22", "--to", "2026-11-20"], "before it starts"),
        (["volumes", "--from", "2026-01-01", "--to", "2027-12-31"], "at most 366 days"),
        (["volumes", "--from", "20-11-2026", "--to", "2026-11-22"], "is not a date"),
        (["kyc", "--from", "2026-11-20", "--to", "2026-11-22", "--partner", "x"], "no partner"),
    ],
)
def test_cli_refuses_bad_parameters_clearly(argv, message, capsys, tmp_path):
    try:
        code = main(["report", "run", *argv, "--out", str(tmp_path / "x.csv")])
    except SystemExit as exited:  # argparse: a usage error
        code = exited.code
    assert code in (1, 2)
    captured = capsys.readouterr()
    assert message in captured.err
    assert "Traceback" not in captured.err
    assert not (tmp_path / "x.csv").exists()


# --- the staff page -------------------------------------------------------------------------


def _signed_in(client, username, roles, now):
    from django.contrib.auth import get_user_model

    uid = staff(username, roles, now)
    client.force_login(get_user_model().objects.get(pk=uid))
    return uid


def test_page_requests_a_run_and_downloads_it_audited(client, dataset, now):
    uid = _signed_in(client, "rp-finance", [Role.LW_FINANCE], now)
    page = client.get("/staff/reports/")
    assert page.status_code == 200 and b"Request a report" in page.content
    response = client.post(
        "/staff/reports/",
        {"kind": "failures", "start": "2026-11-20", "end": "2026-11-22", "format": "csv"},
    )
    assert response.status_code == 302
    run = ReportRun.objects.get(kind="failures")
    assert response["Location"] == f"/staff/reports/{run.pk}/"
    assert run.requested_by == f"staff:{uid}" and run.status == "queued"
    status = client.get(f"/staff/reports/{run.pk}/status/")
    assert b"Queued" in status.content and b"hx-get" in status.content
    runs.report_run_execute(run_id=int(run.pk), clock=_clock(_at(END + DAY, 9)))
    status = client.get(f"/staff/reports/{run.pk}/status/")
    assert b"Download" in status.content and b"hx-get" not in status.content
    download = client.get(f"/staff/reports/{run.pk}/download/")
    assert download.status_code == 200
    body = download.content
    run.refresh_from_db()
    assert hashlib.sha256(body).hexdigest() == run.sha256
    assert download["Content-Disposition"].endswith(f'filename="{run.filename}"')
    record = AuditRecord.objects.filter(action="report.download").get()
    assert record.actor == f"staff:{uid}" and record.object_id == str(run.pk)
    assert record.data["sha256"] == run.sha256
    listing = client.get("/staff/reports/")
    assert f"/staff/reports/{run.pk}/".encode() in listing.content
    # A page cursor that names no run: 400, said on the page, the newest runs shown.
    bad = client.get("/staff/reports/?after=999999")
    assert bad.status_code == 400 and b"That page of runs does not exist" in bad.content
    assert client.get("/staff/reports/?after=x' OR 1=1").status_code == 400
    assert client.get("/staff/reports/424242/").status_code == 404
    assert client.get("/staff/reports/424242/download/").status_code == 404


def test_page_keeps_bad_input_and_says_what_is_wrong(client, now):
    _signed_in(client, "rp-compliance", [Role.LW_COMPLIANCE], now)
    response = client.post(
        "/staff/reports/",
        {"kind": "volumes", "start": "2026-11-22", "end": "2026-11-20", "format": "pdf"},
    )
    assert response.status_code == 400
    assert b"before it starts" in response.content
    assert response.context["form"].errors["end"] == [
        "the period ends (2026-11-20) before it starts (2026-11-22)"
    ]
    assert b'value="2026-11-22"' in response.content
    response = client.post(
        "/staff/reports/",
        {"kind": "bogus", "start": "yesterday", "end": "", "format": "pdf"},
    )
    assert response.status_code == 400
    assert b"Enter a date" in response.content and b'value="yesterday"' in response.content
    response = client.post(
        "/staff/reports/",
        {
            "kind": "kyc",
            "start": "2026-11-20",
            "end": "2026-11-22",
            "format": "csv",
            "currency": "UGX",
        },
    )
    assert response.status_code == 400 and b"takes no currency filter" in response.content
    assert not ReportRun.objects.exists()


def test_page_and_download_refused_without_the_permission(client, dataset, now):
    run = _run("volumes", "csv")
    _signed_in(client, "rp-support", [Role.LW_SUPPORT], now)
    assert client.get("/staff/reports/").status_code == 403
    assert client.get(f"/staff/reports/{run.pk}/download/").status_code == 403
    assert not AuditRecord.objects.filter(action="report.download").exists()
    client.logout()
    _signed_in(client, "rp-mtn-finance", [Role.MTN_FINANCE], now)
    assert client.get(f"/staff/reports/{run.pk}/download/").status_code == 403


def test_a_page_of_runs_is_an_index_range(now):
    from lightway.data.reports.selectors import report_runs_page

    for i in range(5):
        ReportRun.objects.create(
            kind="volumes",
            params={"from": "2026-11-01", "to": "2026-11-02", "format": "csv"},
            format="csv",
            requested_by="staff:1",
            requested_at=now + i * timedelta(minutes=1),
        )
    first = report_runs_page(limit=2)
    second = report_runs_page(before=(first[-1].requested_at, first[-1].pk), limit=2)
    third = report_runs_page(before=(second[-1].requested_at, second[-1].pk), limit=2)
    assert [r.requested_at.minute for r in first + second + third] == [4, 3, 2, 1, 0]


def test_download_rechecks_the_sha256_and_refuses_a_changed_file(client, owner_db, now):
    """Someone with the owner's rights switches the file's guard off and changes its bytes:
    the download is refused (409), the refusal audited, nothing served."""
    run = _queued()
    from lightway.data.reports.services import report_run_finish, report_run_start

    content = b"Kind,Value\r\np2p,1\r\n"
    report_run_start(run_id=int(run.pk), total=1, now=now)
    report_run_finish(
        run_id=int(run.pk),
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
        filename="volumes.csv",
        now=now,
    )
    uid = _signed_in(client, "rp-tamper", [Role.LW_FINANCE], now)
    assert client.get(f"/staff/reports/{run.pk}/download/").content == content
    with owner_db.cursor() as cur:
        cur.execute("SET session_replication_role = replica")
        cur.execute("UPDATE reports_file SET content = %s WHERE run_id = %s", [b"p2p,9", run.pk])
    response = client.get(f"/staff/reports/{run.pk}/download/")
    assert response.status_code == 409
    assert b"no longer matches the SHA-256" in response.content
    assert b"p2p,9" not in response.content
    refused = AuditRecord.objects.get(action="report.download_refused")
    assert refused.actor == f"staff:{uid}"
    assert refused.data["sha256"] == hashlib.sha256(content).hexdigest()
    assert refused.data["found_sha256"] == hashlib.sha256(b"p2p,9").hexdigest()


def test_demo_makes_one_finished_example_run(now):
    from lightway.application.demo import _demo_report

    assert _demo_report(now) == 1
    assert _demo_report(now) == 0
    (run,) = ReportRun.objects.all()
    assert (run.kind, run.format, run.status, run.requested_by) == (
        "floats",
        "pdf",
        "done",
        "system:demo",
    )
