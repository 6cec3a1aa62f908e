"""The settlement pages of the LightWay back office (/staff/settlement/...): who may open
them and act (settlement.view, settlement.manage), what they show, the actions (close,
abort, re-issue, reconcile) and the statement downloads; the CLI's status and close."""

from __future__ import annotations

import hashlib
import json

import pytest

from lightway.data.audit.models import AuditRecord
from lightway.data.settlement.models import Instruction
from lightway.interfaces.cli.main import main
from lightway.security.policy import ROLE_REALM, Action, Role, allows
from tests.conftest import VerifiedClient
from tests.factories import staff
from tests.settlement_support import window_with_payment

pytestmark = pytest.mark.django_db
STAFF_ROLES = [r for r in Role if ROLE_REALM[r] in ("lightway", "mtn")]


def _as(role: str, now) -> VerifiedClient:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(pk=staff(f"s-{role}", [role], now))
    client = VerifiedClient()
    client.force_login(user)
    return client


def test_pages_open_only_to_roles_the_policy_allows(now):
    window = window_with_payment(now)
    for role in STAFF_ROLES:
        client = _as(role, now)
        may = allows({role}, Action.SETTLEMENT_VIEW)
        for path in (
            "/staff/settlement/",
            f"/staff/settlement/windows/{window.pk}/",
            "/staff/settlement/statements/",
        ):
            response = client.get(path)
            assert (response.status_code == 200) == may, (role, path, response.status_code)
        response = client.post(f"/staff/settlement/windows/{window.pk}/close/")
        may_manage = allows({role}, Action.SETTLEMENT_MANAGE)
        assert (response.status_code == 302) == may_manage, (role, response.status_code)


def test_finance_closes_downloads_aborts_and_operations_only_reads(now):
    window = window_with_payment(now)
    operations = _as(Role.LW_OPERATIONS, now)
    page = operations.get("/staff/settlement/").content.decode()
    assert f'data-window="{window.pk}"' in page and "Close now" not in page
    assert operations.post(f"/staff/settlement/windows/{window.pk}/close/").status_code == 403

    finance = _as(Role.LW_FINANCE, now)
    assert "Close now" in finance.get("/staff/settlement/").content.decode()
    response = finance.post(f"/staff/settlement/windows/{window.pk}/close/")
    assert response.status_code == 302
    # a double submit changes nothing
    finance.post(f"/staff/settlement/windows/{window.pk}/close/")
    assert Instruction.objects.filter(window=window).count() == 1
    detail = finance.get(f"/staff/settlement/windows/{window.pk}/").content.decode()
    assert "Pending settlement" in detail and "commission" in detail and "LWS" in detail
    csv_response = finance.get(f"/staff/settlement/windows/{window.pk}/statement/mtn/csv/")
    assert csv_response.status_code == 200
    body = b"".join(csv_response.streaming_content).decode()
    assert body.startswith("section,key,value") and "\nposition,commission,1," in body
    exported = AuditRecord.objects.filter(action="data_access.export").latest("id")
    assert exported.data["what"] == "settlement.statement.csv"
    assert exported.data["sha256"] == hashlib.sha256(body.encode()).hexdigest()
    assert exported.data["counterparty"] == "mtn" and exported.object_id == str(window.pk)
    as_json = json.loads(
        finance.get(f"/staff/settlement/windows/{window.pk}/statement/mtn/json/").content
    )
    assert as_json["counterparty"] == "mtn" and as_json["net_cash_minor"] > 0
    missing = finance.get(f"/staff/settlement/windows/{window.pk}/statement/partner:nobody/csv/")
    assert missing.status_code == 404
    assert finance.get("/staff/settlement/windows/999999/").status_code == 404

    # Too short a reason: 400, the window's page with the message beside the field, as typed.
    refused = finance.post(f"/staff/settlement/windows/{window.pk}/abort/", {"reason": "no"})
    html = refused.content.decode()
    assert refused.status_code == 400 and 'class="error-summary"' in html
    assert 'id="id_reason_error"' in html and "3 to 300 characters" in html
    assert 'name="reason" value="no"' in html
    window.refresh_from_db()
    assert window.state == "pending_settlement"
    finance.post(f"/staff/settlement/windows/{window.pk}/abort/", {"reason": "wrong account"})
    window.refresh_from_db()
    assert window.state == "aborted"
    assert AuditRecord.objects.filter(action="settlement.window_abort").count() == 1
    # no personal data on the pages: no customer name or number appears
    assert "alice" not in detail


def test_reconcile_form_refuses_bad_input_with_a_clear_answer(now):
    finance = _as(Role.LW_FINANCE, now)
    response = finance.post("/staff/settlement/statements/reconcile/", {"currency": "UGX"})
    assert response.status_code == 422
    assert "statement date" in response.content.decode()
    from django.core.files.uploadedfile import SimpleUploadedFile

    bad = SimpleUploadedFile("camt.xml", b"<Document/>", content_type="application/xml")
    response = finance.post(
        "/staff/settlement/statements/reconcile/", {"currency": "UGX", "file": bad}
    )
    assert response.status_code == 422 and "camt.053 refused" in response.content.decode()


def test_cli_status_and_close(now, capsys):
    window = window_with_payment(now)
    assert main(["settlement", "status", "--market", "UGX"]) == 0
    out = capsys.readouterr().out
    assert f"window {window.pk:>6}  open" in out
    assert main(["settlement", "close", "--window", str(window.pk)]) == 0
    out = capsys.readouterr().out
    assert "pending_settlement" in out and "instruction LWS" in out
    assert main(["settlement", "close", "--window", str(window.pk)]) == 0
    assert "already closed" in capsys.readouterr().err
    assert Instruction.objects.count() == 1
    assert main(["settlement", "close"]) == 1
    assert "give --market or --window" in capsys.readouterr().err
    assert main(["settlement", "close", "--market", "XYZ"]) == 1
    assert "unknown market" in capsys.readouterr().err
