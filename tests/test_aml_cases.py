"""AML cases: the maker-checker workflow (the service and the database both refuse a
self-approval), every step audited with a timeline, the filing's SuspicionInput, the
compliance pages (permissions, bad input -> 400 with the input kept, keyset paging) and
the CLI."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, IntegrityError, connection, transaction

from lightway.application.aml import cases
from lightway.application.aml.alerts import AlertInput, alert_raise
from lightway.application.aml.filing import case_suspicion, suspicion_inputs
from lightway.application.errors import Conflict, ValidationFailed
from lightway.data.aml.models import Alert, Case, CaseEvent
from lightway.data.audit.models import AuditRecord
from lightway.interfaces.cli.main import main as cli_main
from tests.aml_support import rule, run_aml_jobs
from tests.conftest import VerifiedClient
from tests.factories import customer, staff

pytestmark = pytest.mark.django_db

_n = itertools.count()
REASON = "Structured deposits just below the reporting threshold, three days running."


def _as(role: str, now):
    client = VerifiedClient()
    user_id = staff(f"aml{next(_n)}.{role}", [role], now)
    client.force_login(get_user_model().objects.get(pk=user_id))
    return client, user_id


def _case(now, *, code="VELO", dedupe="w1") -> Case:
    version = rule(code, "velocity", {"max_count": 2}, now)
    user_id, _ = customer(f"c{next(_n)}", now)
    transfer_id = uuid.uuid4()
    alert = alert_raise(
        AlertInput(
            rule=version,
            subject_ref=f"user:{user_id}",
            subject_user_id=user_id,
            dedupe=dedupe,
            evidence={"count": 3},
            transfer_ids=(transfer_id,),
            score=3.0,
        ),
        now=now,
    )
    assert alert is not None
    return alert.case


def test_alerts_join_the_subjects_open_case_and_are_not_duplicated(now):
    case = _case(now)
    version = rule("FAN", "fan_in", {"min_counterparties": 3}, now)
    again = AlertInput(
        rule=version,
        subject_ref=case.subject_ref,
        subject_user_id=case.subject_user_id,
        dedupe="w1",
        evidence={},
    )
    first = alert_raise(again, now=now)
    assert first is not None and first.case_id == case.pk
    assert alert_raise(again, now=now) is None
    assert Case.objects.count() == 1 and Alert.objects.count() == 2


def test_the_full_workflow_with_two_officers(now, settings):
    settings.LIGHTWAY_AML_STR_FIU = ""  # no goAML release here (its own test below)
    case = _case(now)
    a = staff("officer.a", ["lw_compliance"], now)
    b = staff("officer.b", ["lw_compliance"], now)
    ref = case.reference
    cases.case_assign(reference=ref, assignee_id=a, actor_id=a, now=now)
    cases.case_note(reference=ref, text="Looked at the wallet history.", actor_id=a, now=now)
    cases.case_escalate(reference=ref, reason="Pattern continues this week.", actor_id=a, now=now)
    cases.case_propose_filing(
        reference=ref, reason=REASON, action="account frozen", actor_id=a, now=now
    )
    with pytest.raises(Conflict, match="cannot approve"):
        cases.case_approve_filing(reference=ref, actor_id=a, now=now)
    approved = cases.case_approve_filing(reference=ref, actor_id=b, now=now + timedelta(minutes=5))
    assert approved.state == "filing_approved" and approved.approved_by_id == b
    kinds = list(CaseEvent.objects.filter(case=case).order_by("id").values_list("kind", flat=True))
    assert kinds == [
        "opened",
        "alert",
        "assign",
        "note",
        "escalate",
        "propose_filing",
        "approve_filing",
    ]
    actions = set(
        AuditRecord.objects.filter(object_type="aml.case", object_id=ref).values_list(
            "action", flat=True
        )
    )
    assert {"aml.case.open", "aml.case.note", "aml.case.approve_filing"} <= actions
    suspicion = case_suspicion(case.pk)
    assert suspicion.case_reference == ref and suspicion.reason == REASON
    assert suspicion.action == "account frozen" and suspicion.indicators == ("velocity",)
    assert suspicion.proposed_by == a and suspicion.approved_by == b
    assert suspicion.subject_user_ids == (case.subject_user_id,)
    assert len(suspicion.transfer_ids) == 1
    assert [
        s.case_reference for s in suspicion_inputs(start=now, end=now + timedelta(hours=1))
    ] == [ref]
    assert suspicion_inputs(start=now + timedelta(hours=1), end=now + timedelta(hours=2)) == []
    closed = cases.case_close(reference=ref, reason="STR filed with the FIU.", actor_id=b, now=now)
    assert closed.state == "closed"
    with pytest.raises(Conflict):
        cases.case_note(reference=ref, text="late", actor_id=a, now=now)


def test_self_approval_is_refused_by_the_database(now):
    case = _case(now)
    a = staff("officer.a", ["lw_compliance"], now)
    cases.case_propose_filing(
        reference=case.reference, reason=REASON, action="none yet", actor_id=a, now=now
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(
                "UPDATE aml_case SET state = 'filing_approved', approved_by_id = proposed_by_id,"
                " approved_at = now() WHERE id = %s",
                [case.pk],
            )
    # nor approved without a proposal, nor events rewritten, nor a case deleted
    other = _case(now, code="VELO2")
    b = staff("officer.b", ["lw_compliance"], now)
    with pytest.raises(IntegrityError), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(
                "UPDATE aml_case SET state = 'filing_approved', approved_by_id = %s,"
                " approved_at = now() WHERE id = %s",
                [b, other.pk],
            )
    for statement in (
        "UPDATE aml_case_event SET text = 'x'",
        f"DELETE FROM aml_case WHERE id = {case.pk}",
        f"UPDATE aml_case SET state = 'closed', closed_reason = '' WHERE id = {case.pk}",
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            with connection.cursor() as cur:
                cur.execute(statement)


def test_reasons_are_required(now):
    case = _case(now)
    a = staff("officer.a", ["lw_compliance"], now)
    with pytest.raises(ValidationFailed, match="reason"):
        cases.case_close(reference=case.reference, reason="  ", actor_id=a, now=now)
    with pytest.raises(ValidationFailed, match="reason for the filing"):
        cases.case_propose_filing(
            reference=case.reference, reason="short", action="frozen", actor_id=a, now=now
        )
    assert Case.objects.get(pk=case.pk).state == "open"


def test_a_case_without_an_approved_filing_has_no_suspicion(now):
    case = _case(now)
    with pytest.raises(Conflict):
        case_suspicion(case.pk)


# --- pages ---------------------------------------------------------------------------------------


def test_pages_need_the_compliance_role(now):
    case = _case(now)
    for role in ("lw_support", "lw_operations", "lw_finance"):
        client, _ = _as(role, now)
        assert client.get("/staff/compliance/").status_code == 403
        assert client.get(f"/staff/compliance/cases/{case.reference}/").status_code == 403
    admin, _ = _as("lw_admin", now)
    assert admin.get("/staff/compliance/rules/").status_code == 200
    assert admin.get("/staff/compliance/").status_code == 403
    assert admin.post("/staff/compliance/rules/add/", {}).status_code == 403


def test_officer_a_proposes_and_officer_b_approves_through_the_pages(now):
    case = _case(now)
    a, _ = _as("lw_compliance", now)
    b, _ = _as("lw_compliance", now)
    page = a.get("/staff/compliance/")
    assert page.status_code == 200 and case.reference in page.content.decode()
    detail = a.get(f"/staff/compliance/cases/{case.reference}/")
    assert detail.status_code == 200 and "Alerts and evidence" in detail.content.decode()
    # bad input: 400, the input kept
    bad = a.post(
        f"/staff/compliance/cases/{case.reference}/propose/",
        {"propose-reason": "too short", "propose-action": "frozen"},
    )
    assert bad.status_code == 400
    assert "too short" in bad.content.decode() and "at least" in bad.content.decode()
    ok = a.post(
        f"/staff/compliance/cases/{case.reference}/propose/",
        {"propose-reason": REASON, "propose-action": "account frozen"},
    )
    assert ok.status_code == 302
    own = a.post(f"/staff/compliance/cases/{case.reference}/approve/")
    assert own.status_code == 409 and "cannot approve" in own.content.decode()
    assert b.post(f"/staff/compliance/cases/{case.reference}/approve/").status_code == 302
    assert Case.objects.get(pk=case.pk).state == "filing_approved"
    missing = a.get("/staff/compliance/cases/AML-999999/")
    assert missing.status_code == 404


def test_the_alert_queue_pages_by_keyset_and_filters(now):
    version = rule("VELO", "velocity", {"max_count": 2}, now)
    user_id, _ = customer("many", now)
    for i in range(30):
        alert_raise(
            AlertInput(
                rule=version,
                subject_ref=f"user:{user_id}",
                subject_user_id=user_id,
                dedupe=f"w{i}",
                evidence={},
            ),
            now=now + timedelta(minutes=i),
        )
    first = cases.alerts_page(limit=25)
    second = cases.alerts_page(after=first.next_cursor, limit=25)
    assert len(first.alerts) == 25 and len(second.alerts) == 5 and not second.next_cursor
    assert {a.pk for a in first.alerts}.isdisjoint({a.pk for a in second.alerts})
    assert cases.alerts_page(rule_code="NOPE").alerts == []
    client, _ = _as("lw_compliance", now)
    assert client.get("/staff/compliance/?after=!!garbage").status_code == 400
    assert client.get("/staff/compliance/?state=bogus").status_code == 400
    assert client.get(f"/staff/compliance/?after={first.next_cursor}").status_code == 200


def test_rule_form_validates_and_keeps_the_input(now):
    client, _ = _as("lw_compliance", now)
    bad = client.post(
        "/staff/compliance/rules/add/",
        {
            "code": "BIG",
            "kind": "threshold",
            "mode": "inline",
            "action": "flag",
            "effective_from": "2030-01-01 00:00",
            "enabled": "on",
            "parameters": '{"countries": {"XX": {"amount": 5}}}',
        },
    )
    assert bad.status_code == 400 and "unknown market" in bad.content.decode()
    assert "2030-01-01" in bad.content.decode()
    broken = client.post(
        "/staff/compliance/rules/add/",
        {
            "code": "BIG",
            "kind": "threshold",
            "mode": "inline",
            "action": "flag",
            "effective_from": "2030-01-01 00:00",
            "parameters": "{not json",
        },
    )
    assert broken.status_code == 400 and "Not valid JSON" in broken.content.decode()
    good = client.post(
        "/staff/compliance/rules/add/",
        {
            "code": "BIG",
            "kind": "threshold",
            "mode": "inline",
            "action": "flag",
            "effective_from": "2030-01-01 00:00",
            "enabled": "on",
            "parameters": '{"countries": {"UG": {"amount": 5000000}}}',
        },
    )
    assert good.status_code == 302
    assert "BIG" in client.get("/staff/compliance/rules/").content.decode()


def test_sanctions_upload_form(now):
    from pathlib import Path

    from django.core.files.uploadedfile import SimpleUploadedFile

    client, _ = _as("lw_compliance", now)
    bad = client.post(
        "/staff/compliance/sanctions/upload/",
        {"file": SimpleUploadedFile("list.xml", b"<nope>", content_type="text/xml")},
    )
    assert bad.status_code == 400 and "not well-formed" in bad.content.decode()
    data = (Path(__file__).parent / "data" / "un_consolidated_small.xml").read_bytes()
    good = client.post(
        "/staff/compliance/sanctions/upload/",
        {"file": SimpleUploadedFile("list.xml", data, content_type="text/xml")},
    )
    assert good.status_code == 302
    assert "4 entries" in client.get("/staff/compliance/sanctions/").content.decode()
    # every customer is screened by a background job (at most one waits)
    from procrastinate.contrib.django.models import ProcrastinateJob

    assert (
        ProcrastinateJob.objects.filter(task_name="aml_screen_customers", status="todo").count()
        == 1
    )
    from lightway.interfaces.tasks import aml_screen_customers

    aml_screen_customers()


# --- CLI -----------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_cli_run_and_import(now, capsys, tmp_path, settings):
    from pathlib import Path

    assert cli_main(["aml", "run", "--from", "2026-11-20", "--to", "2026-11-19"]) == 1
    assert "--to must be after --from" in capsys.readouterr().err
    assert cli_main(["aml", "run", "--from", "2026-11-20", "--to", "2026-11-25"]) == 0
    assert "new alerts" in capsys.readouterr().out
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"<CONSOLIDATED_LIST/>")
    assert cli_main(["aml", "import-sanctions", str(bad)]) == 1
    assert "previous list stays active" in capsys.readouterr().err
    good = Path(__file__).parent / "data" / "un_consolidated_small.xml"
    assert cli_main(["aml", "import-sanctions", str(good)]) == 0
    assert "4 entries" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli_main(["aml", "run", "--from", "yesterday", "--to", "2026-11-25"])


def test_the_demo_seed_leaves_an_open_case_and_an_approved_filing(now):
    from lightway.application.aml.demo import aml_demo_seed
    from tests.factories import funded_wallet

    users = {}
    for name in ("amara", "kofi"):
        users[name], _ = customer(name, now)
        funded_wallet(users[name], "UGX", 1_000_000, now)
    maker = staff("compliance", ["lw_compliance"], now)
    checker = staff("compliance2", ["lw_compliance"], now)
    assert aml_demo_seed(users=users, maker_id=maker, checker_id=checker, now=now) > 0
    assert aml_demo_seed(users=users, maker_id=maker, checker_id=checker, now=now) == 0
    states = dict(Case.objects.values_list("subject_ref", "state"))
    assert states == {
        f"user:{users['amara']}": "open",
        f"user:{users['kofi']}": "filing_approved",
    }
    [suspicion] = suspicion_inputs(start=now - timedelta(days=1), end=now + timedelta(days=1))
    assert suspicion.proposed_by == maker and suspicion.approved_by == checker
    assert len(suspicion.transfer_ids) == 3


def test_an_approved_filing_becomes_a_validated_goaml_str(now, settings):
    """On the demo data: the second officer's approval queues the release of the case's
    goAML STR for LIGHTWAY_AML_STR_FIU; the seed runs it (validated against the FIU's XSD,
    sealed, audited), named in the case's timeline; without an FIU configuration the
    approval stands and the job says why."""
    from lightway.application.aml.demo import aml_demo_seed
    from lightway.application.goaml.demo import goaml_demo_seed
    from lightway.application.goaml.schema import schema_validate
    from lightway.application.goaml.service import goaml_export_strs, goaml_file_open
    from lightway.data.goaml.models import FiuConfig, GoamlFile
    from tests.factories import funded_wallet

    settings.LIGHTWAY_AML_STR_FIU = "demo"
    goaml_demo_seed(now=now)
    users = {}
    for name in ("amara", "kofi"):
        users[name], _ = customer(name, now)
        funded_wallet(users[name], "UGX", 1_000_000, now)
    maker = staff("compliance", ["lw_compliance"], now)
    checker = staff("compliance2", ["lw_compliance"], now)
    aml_demo_seed(users=users, maker_id=maker, checker_id=checker, now=now)
    case = Case.objects.get(state="filing_approved")
    released = CaseEvent.objects.get(case=case, kind="str_released")
    stored = GoamlFile.objects.get(reference=released.data["file"])
    assert stored.kind == "STR" and stored.sha256 == released.data["sha256"]
    _row, content = goaml_file_open(file_id=stored.pk, actor=f"staff:{maker}", now=now)
    config = FiuConfig.objects.get(fiu="demo")
    schema_validate(xsd_file=config.xsd_file, document=content)  # raises if invalid
    assert case.reference.encode() in content
    # the export command's path finds the same filing (and returns its file, not a second)
    day = now.date()
    again = goaml_export_strs(fiu="demo", start=day, end=day, actor="cli", now=now)
    assert [r.reference for r in again] == [stored.reference]
    # the job the approval queued finds the STR released by the seed: nothing more
    assert run_aml_jobs(now) == [("aml_str_release", "done")]
    assert GoamlFile.objects.filter(kind="STR").count() == 1
    assert CaseEvent.objects.filter(case=case, kind="str_released").count() == 1

    settings.LIGHTWAY_AML_STR_FIU = "no-such-fiu"
    other = _case(now, code="FANO", dedupe="w2")
    a = staff("officer.c", ["lw_compliance"], now)
    b = staff("officer.d", ["lw_compliance"], now)
    cases.case_propose_filing(
        reference=other.reference, reason=REASON, action="none", actor_id=a, now=now
    )
    approved = cases.case_approve_filing(reference=other.reference, actor_id=b, now=now)
    assert approved.state == "filing_approved"
    assert run_aml_jobs(now) == [("aml_str_release", "str_not_released")]
    note = CaseEvent.objects.get(case=other, kind="str_not_released")
    assert note.data["fiu"] == "no-such-fiu" and note.text


def _approved_str_case(now, settings) -> tuple[Case, int]:
    """A case of the demo FIU's data whose filing another officer just approved (its STR
    release queued, not run); the approver's id."""
    from lightway.application.goaml.demo import goaml_demo_seed
    from tests.factories import funded_wallet

    settings.LIGHTWAY_AML_STR_FIU = "demo"
    goaml_demo_seed(now=now)
    version = rule("VELO", "velocity", {"max_count": 2}, now)
    payer, _ = customer(f"c{next(_n)}", now)
    payee, _ = customer(f"c{next(_n)}", now)
    funded_wallet(payer, "UGX", 1_000_000, now)
    funded_wallet(payee, "UGX", 0, now)
    from lightway.application.transactions.transfers import TransferRequest, transfer_create
    from lightway.data.wallets.models import Wallet

    outcome = transfer_create(
        client_id=payer,
        idempotency_key=f"str-{next(_n)}",
        request=TransferRequest(
            Wallet.objects.get(owner_id=payer).id,
            Wallet.objects.get(owner_id=payee).id,
            5_000,
            "UGX",
            "test",
        ),
        now=now,
    )
    alert = alert_raise(
        AlertInput(
            rule=version,
            subject_ref=f"user:{payer}",
            subject_user_id=payer,
            dedupe=f"str{next(_n)}",
            evidence={"count": 3},
            transfer_ids=(outcome.transfer.id,),
        ),
        now=now,
    )
    assert alert is not None and alert.case is not None
    maker = staff(f"maker{next(_n)}", ["lw_compliance"], now)
    checker = staff(f"checker{next(_n)}", ["lw_compliance"], now)
    ref = alert.case.reference
    cases.case_propose_filing(reference=ref, reason=REASON, action="none", actor_id=maker, now=now)
    return cases.case_approve_filing(reference=ref, actor_id=checker, now=now), checker


def test_the_approval_queues_the_str_release_instead_of_running_it(now, settings):
    """Issue 14 review finding 1: the approval used to generate, validate and seal the STR
    inside the officer's request. It now commits the approval with a queued job (in the
    same transaction) and a "being prepared" timeline entry; the job releases the STR."""
    from lightway.data.goaml.models import GoamlFile
    from tests.momo_flow_support import todo_jobs

    case, checker = _approved_str_case(now, settings)
    assert case.state == "filing_approved"
    assert not GoamlFile.objects.filter(kind="STR").exists()
    assert not CaseEvent.objects.filter(case=case, kind__in=cases.STR_OUTCOMES).exists()
    queued = CaseEvent.objects.get(case=case, kind="str_queued")
    assert queued.data == {"fiu": "demo"}
    [(_id, task, args)] = todo_jobs(["aml_str_release"])
    assert (task, args) == (
        "aml_str_release",
        {"case_id": case.pk, "fiu": "demo", "actor_id": checker},
    )
    assert run_aml_jobs(now) == [("aml_str_release", "str_released")]
    released = CaseEvent.objects.get(case=case, kind="str_released")
    stored = GoamlFile.objects.get(kind="STR")
    assert released.data["file"] == stored.reference and stored.case_reference == case.reference


def test_the_str_release_job_run_twice_releases_once(now, settings):
    """The job is idempotent: run again (a retry, a duplicate) it finds the outcome in the
    timeline under the case's lock and adds neither a file nor an event."""
    from lightway.data.goaml.models import GoamlFile

    case, checker = _approved_str_case(now, settings)
    run = {"case_id": case.pk, "fiu": "demo", "actor_id": checker, "now": now}
    assert cases.case_str_release(**run) == "str_released"
    assert cases.case_str_release(**run) == "done"
    assert run_aml_jobs(now) == [("aml_str_release", "done")]
    assert GoamlFile.objects.filter(kind="STR").count() == 1
    assert CaseEvent.objects.filter(case=case, kind__in=cases.STR_OUTCOMES).count() == 1
    assert AuditRecord.objects.filter(action="aml.case.str_released").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_running_the_str_release_at_once_release_once(now, settings):
    """Two workers picking the same release at the same moment: the case's row lock orders
    them; the second sees the first one's outcome."""
    from lightway.data.goaml.models import GoamlFile
    from tests.concurrency import run_concurrently

    case, checker = _approved_str_case(now, settings)
    outcomes = run_concurrently(
        lambda: cases.case_str_release(case_id=case.pk, fiu="demo", actor_id=checker, now=now),
        [(), ()],
    )
    assert sorted(outcomes) == ["done", "str_released"]
    assert GoamlFile.objects.filter(kind="STR").count() == 1
    assert CaseEvent.objects.filter(case=case, kind__in=cases.STR_OUTCOMES).count() == 1


def test_the_case_page_says_the_str_is_being_prepared_then_released(now, settings):
    from lightway.data.goaml.models import GoamlFile

    case, _checker = _approved_str_case(now, settings)
    client, _ = _as("lw_compliance", now)
    page = client.get(f"/staff/compliance/cases/{case.reference}/")
    assert page.status_code == 200
    assert b'data-testid="str-status"' in page.content and b"Being prepared" in page.content
    run_aml_jobs(now)
    page = client.get(f"/staff/compliance/cases/{case.reference}/")
    reference = GoamlFile.objects.get(kind="STR").reference
    assert b"Being prepared" not in page.content
    assert b"Released" in page.content and reference.encode() in page.content
