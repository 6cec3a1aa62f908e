"""MoMo reconciliation against the simulator over real HTTP (docs/momo.md "Reconciliation").

Each category is built the way it happens: real deposits and payouts through the flows,
MoMo's side bent with the simulator's knobs (a callback lost, ``sim.complete`` deciding a
payment the platform still waits for, ``drift_amount``, ``add_ghost``,
``drop_from_statement``), and the float statement imported from the simulator's export as
an operator would import MTN's file. Then: the lost callback moves money exactly once even
when reconciliation runs twice, open cases are reused, statement import errors, the
reports, the CLI, the task and the staff pages.

Times: the simulator stamps statement lines with the wall clock, so these tests run the
flows at ``timezone.now()`` (not the fixed ``now`` fixture) to keep both sides in one window.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from lightway.application.momo import flows
from lightway.application.momo.reconciliation.cases import case_assign, case_resolve
from lightway.application.momo.reconciliation.reports import recon_report, report_csv, report_json
from lightway.application.momo.reconciliation.runs import reconcile
from lightway.application.momo.statements import (
    StatementDuplicate,
    StatementInvalid,
    statement_import,
    statement_parse,
)
from lightway.data.audit.models import AuditRecord
from lightway.data.ledger.models import JournalEntry
from lightway.data.momo.models import MomoRequest
from lightway.data.reconciliation.models import (
    ReconCase,
    ReconItem,
    ReconRun,
    StatementImport,
    StatementLine,
)
from lightway.integration.momo.port import MomoReason, MomoResult
from lightway.security.policy import Role
from tests.factories import staff
from tests.momo_flow_support import (
    drop_queued_jobs,
    ledger_view,
    momo_customer,
    reload,
    request_of,
    run_momo_jobs,
    wait_final,
)

pytestmark = pytest.mark.django_db

OK_NUMBER = "46733123499"  # not in the test table: succeeds
ONGOING = "46733123453"  # PayerOngoing / PayeeOngoing: stays PENDING until sim.complete
HEADER = "Id,External Transaction Id,Reference Id,Date,Status,Type,Amount,Fee,Currency,Balance\n"


# --- builders -------------------------------------------------------------------------------


@pytest.fixture
def t0():
    """The flows' clock: real time, like the simulator's statement dates."""
    return timezone.now()


def deliver(momo, client, t0, *, drop=()):
    """Deliver every queued callback except those of the references in ``drop`` (lost),
    then run the jobs that queues, as the worker would."""
    dropped = {str(r).lower() for r in drop}
    for callback in momo.sim.callbacks_take():
        if callback.reference_id.lower() in dropped:
            continue
        path = "/webhooks/momo/" + callback.url.rsplit("/", 1)[-1]
        client.generic(callback.method, path, data=callback.body, content_type="application/json")
    run_momo_jobs(t0)


def deposit(momo, uid, key, t0, *, msisdn=OK_NUMBER, amount=25_000):
    """A deposit submitted and accepted by MoMo (callbacks not delivered yet)."""
    transfer = flows.deposit_start(
        customer_id=uid,
        currency="UGX",
        amount_minor=amount,
        msisdn=msisdn,
        idempotency_key=key,
        now=t0,
    )
    run_momo_jobs(t0)
    req = request_of(transfer)
    assert req.status == "accepted"
    if msisdn != ONGOING:
        wait_final(momo.sim, req.reference_id)
    return transfer, req


def payout(momo, uid, key, t0, *, msisdn=OK_NUMBER, amount=40_000):
    transfer = flows.payout_start(
        customer_id=uid,
        currency="UGX",
        amount_minor=amount,
        msisdn=msisdn,
        idempotency_key=key,
        now=t0,
    )
    run_momo_jobs(t0)
    req = request_of(transfer)
    if msisdn != ONGOING:
        wait_final(momo.sim, req.reference_id)
    return transfer, req


def import_sim_statement(momo, product, environment, start, end, *, now=None):
    data = momo.sim.statement_csv(product, environment, start, end).encode()
    return statement_import(
        data=data,
        filename=f"{product}-{environment}.csv",
        product=product,
        environment=environment,
        period_start=start,
        period_end=end,
        now=now or timezone.now(),
    )


def item_of(run, req) -> ReconItem:
    return ReconItem.objects.get(run=run, reference_id=str(req.reference_id))


def window(t0):
    return t0 - timedelta(minutes=10), t0 + timedelta(minutes=10)


# --- every category, as it arises ----------------------------------------------------------


def test_every_category_from_real_flows_and_simulator_drift(momo, client, t0):
    uid = momo_customer("recon-a", t0, phone="+256772123401", wallet=1_000_000)
    start, end = window(t0)

    matched, matched_req = deposit(momo, uid, "d-matched", t0)
    paid, paid_req = payout(momo, uid, "p-matched", t0)
    failed, failed_req = deposit(momo, uid, "d-failed", t0, msisdn="46733123451")  # rejected
    _drifted, drifted_req = deposit(momo, uid, "d-drift", t0, amount=30_000)
    _dropped, dropped_req = deposit(momo, uid, "d-dropped", t0, amount=12_000)
    lost, lost_req = deposit(momo, uid, "d-lost", t0, msisdn=ONGOING, amount=7_000)
    wrong, wrong_req = deposit(momo, uid, "d-wrong", t0, msisdn=ONGOING, amount=9_000)
    deliver(momo, client, t0)  # every callback so far arrives
    assert reload(matched).status == "succeeded" and reload(paid).status == "succeeded"
    assert reload(failed).status == "failed"

    # Lost callback: MoMo decides while the platform still waits, and the callback is lost.
    momo.sim.complete(str(lost_req.reference_id), "SUCCESSFUL")
    # Platform failed it (say, a deadline) but MoMo then took the money: a status mismatch.
    flows.momo_apply(
        request_id=wrong_req.pk,
        result=MomoResult(status="FAILED", reason=MomoReason("EXPIRED")),
        now=t0,
    )
    momo.sim.complete(str(wrong_req.reference_id), "SUCCESSFUL")
    deliver(momo, client, t0, drop=[lost_req.reference_id, wrong_req.reference_id])
    assert reload(lost).status == "pending" and reload(wrong).status == "failed"

    # The platform believes MoMo took a payment MoMo never heard of.
    ghost_side = flows.deposit_start(
        customer_id=uid,
        currency="UGX",
        amount_minor=5_000,
        msisdn=OK_NUMBER,
        idempotency_key="d-unknown",
        now=t0,
    )
    drop_queued_jobs()  # never submitted
    unknown_req = request_of(ghost_side)
    MomoRequest.objects.filter(pk=unknown_req.pk).update(
        status="accepted", accepted_at=t0 - timedelta(minutes=5), momo_status="PENDING"
    )

    momo.sim.drift_amount(str(drifted_req.reference_id), "29000")
    momo.sim.drop_from_statement(str(dropped_req.reference_id))
    ghost_fin = momo.sim.add_ghost("collection", "mtnuganda", "4000", "UGX")
    import_sim_statement(momo, "collection", "mtnuganda", start, end)
    import_sim_statement(momo, "disbursement", "mtnuganda", start, end)

    run = reconcile(window_start=start, window_end=end, now=timezone.now())
    assert run.status == "completed", run.error

    expected = {
        matched_req: ("matched", "none"),
        paid_req: ("matched", "none"),
        failed_req: ("matched", "none"),
        drifted_req: ("amount_mismatch", "case_opened"),
        dropped_req: ("missing_at_momo", "case_opened"),
        lost_req: ("status_mismatch", "auto_polled"),
        wrong_req: ("status_mismatch", "case_opened"),
        unknown_req: ("missing_at_momo", "case_opened"),
    }
    for req, (category, resolution) in expected.items():
        item = item_of(run, req)
        assert (item.category, item.resolution) == (category, resolution), (req, item.detail)
    ghost = ReconItem.objects.get(run=run, financial_transaction_id=ghost_fin)
    assert (ghost.category, ghost.resolution, ghost.request_id) == (
        "missing_on_platform",
        "case_opened",
        None,
    )
    assert ghost.momo_amount == 4_000

    # Signed amounts: collections in (+), payouts out (-); the drift shows MoMo's figure.
    assert item_of(run, paid_req).platform_amount == -40_000
    assert item_of(run, paid_req).momo_amount == -40_000
    drift = item_of(run, drifted_req)
    assert (drift.platform_amount, drift.momo_amount) == (30_000, 29_000)
    assert "UGX 29,000" in drift.detail and "UGX 30,000" in drift.detail
    assert "404" in item_of(run, unknown_req).detail
    assert "not on the float statement" in item_of(run, dropped_req).detail
    assert "lost callback" in item_of(run, lost_req).detail

    assert run.counts == {
        "matched": 3,
        "missing_at_momo": 2,
        "missing_on_platform": 1,
        "amount_mismatch": 1,
        "status_mismatch": 2,
    }
    assert run.auto_resolved == 1 and run.cases_opened == 5
    keys = set(ReconCase.objects.filter(status="open").values_list("key", flat=True))
    assert keys == {
        f"ref:{drifted_req.reference_id}",
        f"ref:{dropped_req.reference_id}",
        f"ref:{wrong_req.reference_id}",
        f"ref:{unknown_req.reference_id}",
        f"fin:{ghost_fin}",
    }
    # the lost callback's money moved (through momo_apply), nothing else changed
    assert reload(lost).status == "succeeded"
    assert reload(wrong).status == "failed"
    assert AuditRecord.objects.filter(action="momo.reconcile", object_id=str(run.pk)).exists()


def test_a_lost_callback_moves_money_exactly_once_however_often_reconciliation_runs(
    momo, client, t0
):
    uid = momo_customer("recon-b", t0, phone="+256772123402", wallet=200_000)
    start, end = window(t0)
    transfer, req = deposit(momo, uid, "d-1", t0, msisdn=ONGOING, amount=15_000)
    out, out_req = payout(momo, uid, "p-1", t0, msisdn=ONGOING, amount=20_000)
    momo.sim.complete(str(req.reference_id), "SUCCESSFUL")
    momo.sim.complete(str(out_req.reference_id), "SUCCESSFUL")
    momo.sim.callbacks_clear()  # both callbacks lost
    before = ledger_view(transfer, req)
    assert before.entries == 0

    first = reconcile(window_start=start, window_end=end, now=timezone.now())
    assert (first.auto_resolved, first.cases_opened) == (2, 0)
    assert item_of(first, req).resolution == "auto_polled"
    assert item_of(first, out_req).resolution == "auto_polled"
    after = ledger_view(transfer, req)
    assert after.entries == 1
    # one wallet: the deposit came in (less its fee), the held payout went out
    dep_fee, out_fee = reload(transfer).fee, reload(out).fee
    assert after.source_balance == 200_000 + 15_000 - dep_fee - 20_000 - out_fee
    assert after.source_held == 0
    out_view = ledger_view(out, out_req)
    assert (out_view.entries, out_view.hold_status) == (1, "committed")

    # Reconciliation runs again (the next hour's window overlaps): nothing more moves.
    second = reconcile(window_start=start, window_end=end, now=timezone.now())
    assert second.auto_resolved == 0 and second.cases_opened == 0
    assert item_of(second, req).category == "matched"
    assert item_of(second, out_req).category == "matched"
    assert JournalEntry.objects.filter(reference=str(transfer.id)).count() == 1
    assert JournalEntry.objects.filter(reference=str(out.id)).count() == 1
    assert ledger_view(transfer, req).source_balance == after.source_balance
    assert not ReconCase.objects.exists()


def test_open_cases_are_reused_by_later_runs_and_a_resolved_one_can_reopen(momo, t0, now):
    start, end = window(t0)
    ghost_fin = momo.sim.add_ghost("disbursement", "mtnuganda", "1500", "UGX")
    import_sim_statement(momo, "disbursement", "mtnuganda", start, end)
    first = reconcile(window_start=start, window_end=end, now=timezone.now())
    second = reconcile(window_start=start, window_end=end, now=timezone.now())
    assert first.counts["missing_on_platform"] == second.counts["missing_on_platform"] == 1
    assert (first.cases_opened, second.cases_opened) == (1, 0)
    case = ReconCase.objects.get()
    assert case.key == f"fin:{ghost_fin}" and case.status == "open"
    assert ReconItem.objects.get(run=second).resolution == "case_opened"
    # the second run's report points at the case the first run opened
    row = recon_report(run_id=second.pk).rows[0]
    assert (row.case_id, row.case_status) == (case.pk, "open")

    worker = staff("recon-ops", [Role.LW_OPERATIONS], now)
    case_assign(case_id=case.pk, assignee_id=worker, actor_id=worker, now=timezone.now())
    case.refresh_from_db()
    assert (case.status, case.assignee_id) == ("in_progress", worker)
    with pytest.raises(Exception, match="at least 5"):
        case_resolve(case_id=case.pk, note="ok", actor_id=worker, now=timezone.now())
    case_resolve(
        case_id=case.pk,
        note="MTN float top-up by treasury, booked by hand",
        actor_id=worker,
        now=timezone.now(),
    )
    case.refresh_from_db()
    assert case.status == "resolved" and case.resolved_by_id == worker
    audited = set(
        AuditRecord.objects.filter(object_type="recon.case", object_id=str(case.pk)).values_list(
            "action", flat=True
        )
    )
    assert audited == {"momo.recon_case.assign", "momo.recon_case.resolve"}
    with pytest.raises(Exception, match="resolved already"):
        case_resolve(case_id=case.pk, note="again and again", actor_id=worker, now=timezone.now())

    third = reconcile(window_start=start, window_end=end, now=timezone.now())
    assert third.cases_opened == 1  # still unexplained on the statement: a new case
    assert ReconCase.objects.filter(key=f"fin:{ghost_fin}").count() == 2


def test_lines_outside_the_window_still_pair_with_their_requests(momo, client, t0):
    """A request made before the window whose MoMo line falls inside it is no ghost (the
    platform stamps its own time; MoMo's statement stamps MoMo's)."""
    uid = momo_customer("recon-c", t0, phone="+256772123403")
    made = t0 - timedelta(minutes=2)  # the platform's clock when the request was made
    _transfer, req = deposit(momo, uid, "d-edge", made)
    deliver(momo, client, made)
    import_sim_statement(
        momo, "collection", "mtnuganda", t0 - timedelta(minutes=5), t0 + timedelta(minutes=5)
    )
    line = StatementLine.objects.get(reference_id=str(req.reference_id))
    assert line.transacted_at > made + timedelta(minutes=1)
    run = reconcile(
        window_start=made + timedelta(minutes=1),  # the request is before the window
        window_end=t0 + timedelta(minutes=5),
        now=timezone.now(),
    )
    assert run.counts["missing_on_platform"] == 0
    item = item_of(run, req)
    assert (item.category, item.statement_line_id) == ("matched", line.pk)


def test_failed_status_reads_leave_requests_unverified_not_misclassified(momo, t0):
    uid = momo_customer("recon-d", t0, phone="+256772123404")
    transfer = flows.deposit_start(
        customer_id=uid,
        currency="UGX",
        amount_minor=5_000,
        msisdn=OK_NUMBER,
        idempotency_key="d-x",
        now=t0,
    )
    run_momo_jobs(t0)
    wait_final(momo.sim, request_of(transfer).reference_id)
    momo.configure(error_burst=50)  # MoMo answers 503 to every status read
    start, end = window(t0)
    run = reconcile(window_start=start, window_end=end, now=timezone.now())
    assert run.status == "completed"
    assert run.counts.get("unverified") == 1
    assert not ReconItem.objects.filter(run=run).exists()
    assert "could not be verified" in run.error
    assert not ReconCase.objects.exists()


def test_the_bounded_status_reads_go_to_waiting_requests_first(momo, client, t0):
    uid = momo_customer("recon-i", t0, phone="+256772123409")
    done, done_req = deposit(momo, uid, "d-done", t0)
    deliver(momo, client, t0)
    waiting, waiting_req = deposit(momo, uid, "d-wait", t0, msisdn=ONGOING)
    momo.sim.complete(str(waiting_req.reference_id), "SUCCESSFUL")
    momo.sim.callbacks_clear()
    start, end = window(t0)
    run = reconcile(window_start=start, window_end=end, now=timezone.now(), max_status_reads=1)
    # the one read went to the request the platform still waited for (created later)
    assert item_of(run, waiting_req).resolution == "auto_polled"
    assert reload(waiting).status == "succeeded"
    assert run.counts["unverified"] == 1  # the successful one, no statement, no read left
    assert not ReconItem.objects.filter(run=run, request=done_req).exists()
    assert reload(done).status == "succeeded"


def test_window_must_be_valid(t0):
    with pytest.raises(Exception, match="end after it starts"):
        reconcile(window_start=t0, window_end=t0, now=t0)
    with pytest.raises(Exception, match="93 days"):
        reconcile(window_start=t0 - timedelta(days=100), window_end=t0, now=t0)
    assert not ReconRun.objects.exists()


# --- statement import ------------------------------------------------------------------------


def test_statement_parser_is_tolerant_of_format_and_strict_about_money():
    text = (
        "\ufeffid;EXTERNAL TRANSACTION ID; reference id ;date;status;type;amount;fee;"
        "currency;balance\r\n"
        "111;ext-1;6F9619FF-8B86-4011-B42D-00C04FC964FF;2026-11-24T08:00:00Z;successful;PAYMENT;"
        "1500;0;UGX;10000\r\n"
        "\r\n"
        '222;;;2026-11-24T08:05:00;FAILED;TRANSFER;"-12,50";0,00;GHS;99,10\r\n'
    )
    parsed = statement_parse(text.encode())
    first, second = parsed.lines
    assert (first.line_no, first.amount_minor, first.status) == (2, 1500, "SUCCESSFUL")
    assert first.reference_id == "6f9619ff-8b86-4011-b42d-00c04fc964ff"  # normalised UUID
    assert (second.line_no, second.amount_minor, second.currency) == (4, -1250, "GHS")
    assert second.transacted_at == datetime(2026, 11, 24, 8, 5, tzinfo=UTC)  # naive = UTC
    assert (parsed.period_start, parsed.period_end) == (first.transacted_at, second.transacted_at)


def test_statement_errors_are_all_reported_with_line_numbers_and_nothing_is_imported(now):
    text = HEADER + (
        "1,e1,,2026-11-24T08:00:00Z,SUCCESSFUL,PAYMENT,1000,0,UGX,1000\n"
        "2,e2,,yesterday,SUCCESSFUL,PAYMENT,10.5,0,UGX,1000\n"
        "3,e3,,2026-11-24T08:00:00Z,DONE,PAYMENT,12.345,0,GHS,1\n"
        "4,e4,,2026-11-24T08:00:00Z,SUCCESSFUL,PAYMENT,abc,0,XYZ,1\n"
        "1,e5,,2026-11-24T08:00:00Z,SUCCESSFUL,PAYMENT,1,0,UGX,1\n"
        "6,e6,2026-11-24T08:00:00Z,SUCCESSFUL\n"
    )
    with pytest.raises(StatementInvalid) as caught:
        statement_import(data=text.encode(), filename="bad.csv", now=now)
    problems = [(e.line, e.problem) for e in caught.value.errors]
    lines = [line for line, _ in problems]
    assert lines == [3, 3, 4, 4, 5, 6, 7]
    text_of = dict.fromkeys(lines, "")
    for line, problem in problems:
        text_of[line] += problem + "; "
    assert "Date 'yesterday'" in text_of[3] and "no minor unit" in text_of[3]
    assert "Status 'DONE'" in text_of[4] and "more decimals than GHS allows (2)" in text_of[4]
    assert "Currency 'XYZ'" in text_of[5]
    assert "repeats line 2" in text_of[6]
    assert "has 4 fields, the header has 10" in text_of[7]
    assert caught.value.details["errors"][0] == {"line": 3, "problem": problems[0][1]}
    assert not StatementImport.objects.exists() and not StatementLine.objects.exists()

    # a date that overflows once turned into UTC is a line error, not a crash
    with pytest.raises(StatementInvalid) as caught:
        statement_parse(
            (
                HEADER + "7,e7,,9999-12-31T23:59:59-23:00,SUCCESSFUL,PAYMENT,1,0,UGX,1\n"
                "8,e8,,0001-01-01T00:00:00+14:00,SUCCESSFUL,PAYMENT,1,0,UGX,1\n"
            ).encode()
        )
    assert [(e.line, e.problem[:5]) for e in caught.value.errors] == [(2, "Date "), (3, "Date ")]
    with pytest.raises(StatementInvalid, match="no column Id, Amount"):
        statement_import(data=b"Date,Status,Currency\n", filename="x.csv", now=now)
    with pytest.raises(StatementInvalid, match="not UTF-8"):
        statement_import(data=b"Id,Date\n\xff\xfe", filename="x.csv", now=now)
    with pytest.raises(StatementInvalid, match="empty"):
        statement_import(data=b"  \n", filename="x.csv", now=now)


def test_a_file_imports_once_and_overlapping_lines_are_skipped(now):
    first = HEADER + (
        "F1,e1,,2026-11-24T08:00:00Z,SUCCESSFUL,PAYMENT,1000,0,UGX,1000\n"
        "F2,e2,,2026-11-24T08:10:00Z,SUCCESSFUL,TRANSFER,-400,0,UGX,600\n"
    )
    result = statement_import(
        data=first.encode(),
        filename="jan.csv",
        product="collection",
        environment="mtnuganda",
        now=now,
    )
    assert (result.lines_total, result.imported, result.skipped) == (2, 2, 0)
    with pytest.raises(StatementDuplicate, match="already imported") as dup:
        statement_import(data=first.encode(), filename="jan-again.csv", now=now)
    assert dup.value.details["import_id"] == result.import_id
    overlap = first + "F3,e3,,2026-11-24T08:20:00Z,SUCCESSFUL,PAYMENT,50,0,UGX,650\n"
    again = statement_import(data=overlap.encode(), filename="jan-full.csv", now=now)
    assert (again.lines_total, again.imported, again.skipped) == (3, 1, 2)
    assert StatementLine.objects.count() == 3
    imp = StatementImport.objects.get(pk=result.import_id)
    assert (imp.product, imp.target_environment, imp.line_count) == ("collection", "mtnuganda", 2)
    assert AuditRecord.objects.filter(action="momo.statement.import").count() == 2
    with pytest.raises(Exception, match="product must be one of"):
        statement_import(data=b"x", filename="x.csv", product="wallet", now=now)


# --- reports ----------------------------------------------------------------------------------


def test_reports_as_json_and_csv_show_signed_amounts_and_masked_numbers_only(momo, client, t0):
    uid = momo_customer("recon-e", t0, phone="+256772123405", wallet=300_000)
    start, end = window(t0)
    _dep, dep_req = deposit(momo, uid, "d-r", t0, msisdn="256772555123", amount=25_000)
    _out, out_req = payout(momo, uid, "p-r", t0, msisdn="256772555124", amount=40_000)
    deliver(momo, client, t0)
    momo.sim.drift_amount(str(out_req.reference_id), "39000")
    import_sim_statement(momo, "collection", "mtnuganda", start, end)
    import_sim_statement(momo, "disbursement", "mtnuganda", start, end)
    run = reconcile(window_start=start, window_end=end, now=timezone.now())

    report = recon_report(run_id=run.pk)
    body = json.loads(json.dumps(report_json(report), default=str))
    assert body["run"]["counts"]["matched"] == 1 and body["run"]["counts"]["amount_mismatch"] == 1
    items = {i["reference_id"]: i for i in body["items"]}
    out_item = items[str(out_req.reference_id)]
    assert (out_item["platform_amount"], out_item["momo_amount"]) == (-40_000, -39_000)
    assert out_item["category"] == "amount_mismatch" and out_item["case_status"] == "open"
    assert out_item["party"] == "+256 •••••••24"
    assert items[str(dep_req.reference_id)]["party"] == "+256 •••••••23"

    text = report_csv(report)
    assert "256772555124" not in text and "256772555123" not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    by_ref = {r["reference_id"]: r for r in rows}
    out_row = by_ref[str(out_req.reference_id)]
    assert (out_row["platform_amount_minor"], out_row["momo_amount_minor"]) == ("-40000", "-39000")
    assert (out_row["platform_amount"], out_row["momo_amount"]) == ("-40000", "-39000")
    assert out_row["category"] == "amount_mismatch"
    only = recon_report(run_id=run.pk, category="matched")
    assert [r.reference_id for r in only.rows] == [str(dep_req.reference_id)]
    partner_view = recon_report(run_id=run.pk, partner_id=999_999)
    assert partner_view.rows == [] and partner_view.scoped


# --- the CLI and the task --------------------------------------------------------------------


def test_cli_statement_import_and_reconcile(momo, client, t0, tmp_path, capsys):
    from lightway.interfaces.cli.main import main

    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "X1,,,2026-11-24T08:00:00Z,SUCCESSFUL,PAYMENT,1.5,0,UGX,1\n")
    assert main(["momo", "statement-import", str(bad)]) == 1
    out = capsys.readouterr()
    assert "line 2: Amount 1.5 has decimals but UGX has no minor unit" in out.out
    assert "nothing was imported" in out.err

    uid = momo_customer("recon-f", t0, phone="+256772123406")
    deposit(momo, uid, "d-cli", t0)
    deliver(momo, client, t0)
    start, end = window(t0)
    good = tmp_path / "good.csv"
    good.write_text(momo.sim.statement_csv("collection", "mtnuganda", start, end))
    argv = ["momo", "statement-import", str(good), "--product", "collection"]
    assert main([*argv, "--environment", "mtnuganda"]) == 0
    out = capsys.readouterr().out
    assert "Lines imported:     1" in out and "Already known:      0" in out
    assert main([*argv, "--environment", "mtnuganda"]) == 1
    assert "already imported" in capsys.readouterr().err

    argv = ["momo", "reconcile", "--from", start.isoformat(), "--to", end.isoformat()]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "Matched" in captured.out and "Missing on the platform" in captured.out
    counts = dict(
        line.strip().rsplit(None, 1) for line in captured.out.splitlines() if line.strip()
    )
    assert counts["Matched"] == "1" and counts["Amount mismatch"] == "0"
    assert "Reconciling" in captured.err  # the progress display
    assert main(["momo", "reconcile", "--from", start.isoformat()]) == 1
    assert "both --from and --to" in capsys.readouterr().err


def test_cli_float_check_reads_every_market(momo, capsys):
    from lightway.interfaces.cli.main import main

    momo.sim.set_balance("disbursement", "mtnuganda", "1234567")
    assert main(["momo", "float-check"]) == 0
    out = capsys.readouterr().out
    assert "disbursement/mtnuganda: UGX 1,234,567" in out
    read = int(out.strip().splitlines()[-1].rsplit(" ", 1)[-1])
    assert read >= 3 and out.count("/mtnuganda:") == 3


def test_task_reconciles_the_given_window_and_can_fetch_the_simulator_statement(momo, client, t0):
    from lightway.interfaces.tasks import momo_reconcile

    uid = momo_customer("recon-g", t0, phone="+256772123407")
    _t, req = deposit(momo, uid, "d-task", t0)
    deliver(momo, client, t0)
    start, end = window(t0)
    run_id = momo_reconcile(
        window_start=start.isoformat(), window_end=end.isoformat(), fetch_statement=True
    )
    run = ReconRun.objects.get(pk=run_id)
    assert run.counts["matched"] == 1
    item = item_of(run, req)
    assert item.statement_line is not None  # the fetched statement's line was used
    assert StatementImport.objects.get().product == "collection"


def test_task_does_nothing_without_momo(settings):
    from lightway.interfaces.tasks import momo_reconcile

    settings.MOMO_BASE_URL = ""
    assert momo_reconcile(timestamp=0) is None
    assert not ReconRun.objects.exists()


# --- the staff pages ----------------------------------------------------------------------------


def _signed_in(client, username, roles, now):
    uid = staff(username, roles, now)
    client.force_login(get_user_model().objects.get(pk=uid))
    return uid


def test_staff_pages_runs_report_downloads_upload_and_cases(momo, client, t0, now):
    start, end = window(t0)
    ghost_fin = momo.sim.add_ghost("collection", "mtnuganda", "2500", "UGX")
    import_sim_statement(momo, "collection", "mtnuganda", start, end)
    run = reconcile(window_start=start, window_end=end, now=timezone.now())
    uid = _signed_in(client, "ops-page", [Role.LW_OPERATIONS], now)

    page = client.get("/staff/reconciliation/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-run="{run.pk}"' in html and 'data-testid="recon-chart"' in html
    assert 'data-chart="chart-recon"' in html and "1 open case" in html
    island = re.search(r'<script id="chart-recon" type="application/json">(.*?)</script>', html)
    assert island is not None
    datasets = {d["label"]: d["data"] for d in json.loads(island.group(1))["data"]["datasets"]}
    assert datasets["Missing on the platform"][-1] == 1

    report = client.get(f"/staff/reconciliation/runs/{run.pk}/?category=missing_on_platform")
    assert report.status_code == 200 and ghost_fin in report.content.decode()
    matched_only = client.get(f"/staff/reconciliation/runs/{run.pk}/?category=matched")
    assert "No item in this category" in matched_only.content.decode()
    assert client.get("/staff/reconciliation/runs/999999/").status_code == 404
    csv_resp = client.get(f"/staff/reconciliation/runs/{run.pk}/report.csv")
    assert csv_resp.status_code == 200 and csv_resp["Content-Type"].startswith("text/csv")
    assert ghost_fin in csv_resp.content.decode()
    exported = AuditRecord.objects.filter(action="data_access.export").latest("id")
    assert (exported.actor, exported.object_id) == (f"staff:{uid}", str(run.pk))
    assert exported.data["what"] == "reconciliation.report.csv"
    assert exported.data["sha256"] == hashlib.sha256(csv_resp.content).hexdigest()
    js = client.get(f"/staff/reconciliation/runs/{run.pk}/report.json")
    assert json.loads(js.content)["items"][0]["financial_transaction_id"] == ghost_fin

    # statement upload: a bad file lists its lines, a good one imports, the same one is refused
    bad = io.BytesIO((HEADER + "A1,,,2026-11-24,SUCCESSFUL,PAYMENT,1.5,0,UGX,1\n").encode())
    bad.name = "bad.csv"
    resp = client.post("/staff/reconciliation/statements/", {"file": bad})
    assert resp.status_code == 422
    assert "Line 2: Amount 1.5 has decimals" in resp.content.decode()
    good_bytes = (HEADER + "A1,,,2026-11-24T08:00:00Z,SUCCESSFUL,PAYMENT,15,0,UGX,1\n").encode()
    good = io.BytesIO(good_bytes)
    good.name = "good.csv"
    resp = client.post(
        "/staff/reconciliation/statements/",
        {"file": good, "product": "collection", "environment": "mtnuganda"},
    )
    assert resp.status_code == 302
    again = io.BytesIO(good_bytes)
    again.name = "good.csv"
    resp = client.post("/staff/reconciliation/statements/", {"file": again})
    assert resp.status_code == 422 and "already imported" in resp.content.decode()
    assert client.post("/staff/reconciliation/statements/", {}).status_code == 422
    big = io.BytesIO(b"x" * (5 * 1024 * 1024 + 1))
    big.name = "big.csv"
    resp = client.post("/staff/reconciliation/statements/", {"file": big})
    assert resp.status_code == 422 and "larger than 5 MB" in resp.content.decode()

    # the case queue: assign, then resolve with a note (both audited)
    case = ReconCase.objects.get()
    queue = client.get("/staff/reconciliation/cases/")
    assert queue.status_code == 200 and f'data-case="{case.pk}"' in queue.content.decode()
    resp = client.post(f"/staff/reconciliation/cases/{case.pk}/assign/", {"assignee": uid})
    assert resp.status_code == 302
    case.refresh_from_db()
    assert case.assignee_id == uid
    client.post(f"/staff/reconciliation/cases/{case.pk}/resolve/", {"note": "no"})
    case.refresh_from_db()
    assert case.status == "in_progress"  # too short a note
    client.post(
        f"/staff/reconciliation/cases/{case.pk}/resolve/", {"note": "Treasury top-up, booked"}
    )
    case.refresh_from_db()
    assert case.status == "resolved" and case.resolution_note == "Treasury top-up, booked"
    assert AuditRecord.objects.filter(
        action="momo.recon_case.resolve", actor=f"staff:{uid}"
    ).exists()
    resolved = client.get("/staff/reconciliation/cases/?status=resolved")
    assert "Treasury top-up, booked" in resolved.content.decode()

    # run now: queued for the worker
    resp = client.post(
        "/staff/reconciliation/run/",
        {"start": "2026-11-24T06:00", "end": "2026-11-24T08:00", "fetch_statement": "on"},
    )
    assert resp.status_code == 302
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT args FROM procrastinate_jobs WHERE task_name = 'momo_reconcile'")
        (args,) = cursor.fetchone()
    args = args if isinstance(args, dict) else json.loads(args)
    assert args["window_start"] == "2026-11-24T06:00:00+00:00"
    assert args["fetch_statement"] is True and args["started_by"] == uid
    bad_window = client.post(
        "/staff/reconciliation/run/", {"start": "2026-11-24T08:00", "end": "2026-11-24T06:00"}
    )
    assert bad_window.status_code == 422 and "after the start" in bad_window.content.decode()


def test_mtn_finance_reads_reports_and_others_are_refused(client, now, t0):
    run = reconcile(window_start=t0 - timedelta(hours=1), window_end=t0, now=t0)
    _signed_in(client, "mtn-fin", [Role.MTN_FINANCE], now)
    assert client.get("/mtn/reconciliation/").status_code == 200
    assert client.get(f"/mtn/reconciliation/runs/{run.pk}/").status_code == 200
    assert client.get(f"/mtn/reconciliation/runs/{run.pk}/report.csv").status_code == 200
    assert client.get("/staff/reconciliation/").status_code == 403  # managing is LightWay's
    assert client.get("/staff/reconciliation/cases/").status_code == 403
    other = type(client)()
    _signed_in(other, "mtn-mon", [Role.MTN_MONITORING], now)
    assert other.get("/mtn/reconciliation/").status_code == 403
    assert other.get(f"/mtn/reconciliation/runs/{run.pk}/report.json").status_code == 403
    anonymous = type(client)()
    resp = anonymous.get("/staff/reconciliation/")
    assert resp.status_code == 302 and resp["Location"].startswith("/staff/login/")


def test_reports_never_show_a_clear_number(momo, client, t0):
    """Belt and braces for the masking: no report output carries the party's digits."""
    uid = momo_customer("recon-h", t0, phone="+256772123408")
    _t, req = deposit(momo, uid, "d-mask", t0, msisdn="256701234567")
    deliver(momo, client, t0)
    run = reconcile(window_start=window(t0)[0], window_end=window(t0)[1], now=timezone.now())
    report = recon_report(run_id=run.pk)
    dumped = json.dumps(report_json(report), default=str) + report_csv(report)
    assert "701234567" not in dumped and "+256 •••••••67" in dumped
    assert str(uuid.UUID(str(req.reference_id))) in dumped
