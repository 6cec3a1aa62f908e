"""The MoMo status and reconciliation REST endpoints (docs/momo.md "Status and
reconciliation API"), over Django's test client with real tokens and signed partner
requests, the flows running against the simulator.

Who sees what: MTN monitoring reads a transaction's status (masked) but no report; MTN and
LightWay finance read reports (JSON and CSV); a partner reads only its own transfers and
the report items about them (someone else's reference is a 404, like one that does not
exist); customers get 403, anonymous callers 401.
"""

from __future__ import annotations

import csv
import io
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from lightway.application.momo import flows
from lightway.application.momo.reconciliation.runs import reconcile
from lightway.application.momo.statements import statement_import
from lightway.application.partners.keys import partner_key_create
from lightway.data.identity.models import Partner, Profile
from lightway.data.reconciliation.models import ReconItem
from lightway.security.policy import Role
from lightway.security.signatures import sign_request
from lightway.security.tokens import token_issue
from tests.factories import customer, staff
from tests.momo_flow_support import (
    momo_customer,
    momo_partner,
    request_of,
    run_momo_jobs,
    wait_final,
)

pytestmark = pytest.mark.django_db

STATUS = "/api/v1/momo/transactions/"
PARTNER_STATUS = "/api/v1/partner/momo/transactions/"
RUNS = "/api/v1/momo/reconciliation/runs"
PARTNER_RUNS = "/api/v1/partner/momo/reconciliation/runs"


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def staff_token(username, role, now):
    return token_issue(user_id=staff(username, [role], now), now=now)


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
    meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
    return client.get(target, **meta)


def error(resp, status, code):
    assert resp.status_code == status, resp.content
    body = resp.json()
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body
    return body["error"]


def settle_all(momo, client, t0):
    for callback in momo.sim.callbacks_take():
        path = "/webhooks/momo/" + callback.url.rsplit("/", 1)[-1]
        client.generic(callback.method, path, data=callback.body, content_type="application/json")
    run_momo_jobs(t0)


@pytest.fixture
def world(momo, client, now):
    """A customer's deposit, two partners' remittances (one each), all settled, a ghost on
    the statement, and one reconciliation run over them."""
    t0 = timezone.now()
    uid = momo_customer("api-payer", t0, phone="+256772123401", wallet=1_000)
    deposit = flows.deposit_start(
        customer_id=uid,
        currency="UGX",
        amount_minor=25_000,
        msisdn="256772555101",
        idempotency_key="dep",
        now=t0,
    )
    acme_user = momo_partner("acme-remit", t0, prefund=5_000_000)
    other_user = momo_partner("other-imto", t0, prefund=5_000_000)
    acme = flows.remittance_payout_start(
        partner_user_id=acme_user,
        currency="UGX",
        amount_minor=70_000,
        msisdn="256772555102",
        external_id="ACME-1001",
        idempotency_key="r-1",
        now=t0,
    )
    other = flows.remittance_payout_start(
        partner_user_id=other_user,
        currency="UGX",
        amount_minor=30_000,
        msisdn="256772555103",
        external_id="OTHER-77",
        idempotency_key="r-1",
        now=t0,
    )
    run_momo_jobs(t0)
    for transfer in (deposit, acme, other):
        wait_final(momo.sim, request_of(transfer).reference_id)
    settle_all(momo, client, t0)
    ghost = momo.sim.add_ghost("remittance", "mtnuganda", "1000", "UGX")
    start, end = t0 - timedelta(minutes=10), t0 + timedelta(minutes=10)
    for product in ("collection", "remittance"):
        statement_import(
            data=momo.sim.statement_csv(product, "mtnuganda", start, end).encode(),
            filename=f"{product}.csv",
            product=product,
            environment="mtnuganda",
            period_start=start,
            period_end=end,
            now=t0,
        )
    run = reconcile(window_start=start, window_end=end, now=timezone.now())
    keys = {
        code: partner_key_create(
            partner_id=Partner.objects.get(code=code).pk, actor="system:test", now=timezone.now()
        )
        for code in ("acme-remit", "other-imto")
    }
    return {
        "deposit": deposit,
        "acme": acme,
        "other": other,
        "ghost": ghost,
        "run": run,
        "keys": keys,
        "customer_token": customer("api-nobody", now)[1],
    }


def references(transfer):
    req = request_of(transfer)
    return {
        "transfer id": str(transfer.id),
        "X-Reference-Id": str(req.reference_id),
        "financialTransactionId": req.financial_transaction_id,
        "externalId": req.external_id,
    }


# --- status by any reference ------------------------------------------------------------------


def test_mtn_monitoring_reads_status_by_each_reference_masked(client, world, now):
    token = staff_token("mtn-mon", Role.MTN_MONITORING, now)
    acme = world["acme"]
    refs = references(acme)
    assert refs["externalId"] == "ACME-1001" and refs["financialTransactionId"]
    for kind, ref in refs.items():
        resp = client.get(STATUS + ref, **bearer(token))
        assert resp.status_code == 200, (kind, resp.content)
        body = resp.json()
        assert body["transfer_id"] == str(acme.id), kind
        assert body["reference_id"] == refs["X-Reference-Id"]
        assert (body["kind"], body["status"], body["transfer_status"]) == (
            "remittance",
            "successful",
            "succeeded",
        )
        assert (body["amount"], body["currency"], body["momo_status"]) == (
            70_000,
            "UGX",
            "SUCCESSFUL",
        )
        assert body["party"] == "+256 77•••••02"
        assert "256772555102" not in resp.content.decode()
    # the customer's deposit, by its transfer id and by MoMo's id
    for ref in (str(world["deposit"].id), request_of(world["deposit"]).financial_transaction_id):
        assert client.get(STATUS + ref, **bearer(token)).json()["kind"] == "deposit"


def test_partner_sees_its_own_transfers_only_and_others_are_not_found(client, world):
    acme_key, other_key = world["keys"]["acme-remit"], world["keys"]["other-imto"]
    for kind, ref in references(world["acme"]).items():
        resp = signed_get(client, acme_key, PARTNER_STATUS + ref)
        assert resp.status_code == 200, (kind, resp.content)
        assert resp.json()["transfer_id"] == str(world["acme"].id)
        assert resp.json()["party"] == "+256 77•••••02"
    # another partner's transfer, a customer's deposit and nonsense: the same 404
    shapes = []
    for ref in [
        *references(world["acme"]).values(),
        str(world["deposit"].id),
        "no-such-reference",
    ]:
        resp = signed_get(client, other_key, PARTNER_STATUS + ref)
        shapes.append(error(resp, 404, "not_found")["message"])
    assert len(set(shapes)) == 1
    own = signed_get(client, other_key, PARTNER_STATUS + "OTHER-77")
    assert own.status_code == 200 and own.json()["transfer_id"] == str(world["other"].id)
    # the staff route is not for partners, the partner route not for bearer tokens
    assert signed_get(client, acme_key, STATUS + "ACME-1001").status_code == 401
    assert (
        client.get(PARTNER_STATUS + "ACME-1001", **bearer(world["customer_token"])).status_code
        == 401
    )


def test_who_may_read_a_status(client, world, now):
    ref = str(world["acme"].id)
    error(client.get(STATUS + ref, **bearer(world["customer_token"])), 403, "forbidden")
    error(client.get(STATUS + ref), 401, "unauthenticated")
    admin = staff_token("lw-admin", Role.LW_ADMIN, now)
    error(client.get(STATUS + ref, **bearer(admin)), 403, "forbidden")
    support = staff_token("lw-support", Role.LW_SUPPORT, now)
    assert client.get(STATUS + ref, **bearer(support)).status_code == 200
    mon = staff_token("mtn-mon2", Role.MTN_MONITORING, now)
    error(client.get(STATUS + "nothing-here", **bearer(mon)), 404, "not_found")
    error(client.get(STATUS + "x" * 101, **bearer(mon)), 422, "validation_failed")


def test_an_external_id_naming_several_transfers_is_ambiguous(momo, client, world):
    t0 = timezone.now()
    acme_user = Profile.objects.get(partner__code="acme-remit").user_id
    second = flows.remittance_payout_start(
        partner_user_id=acme_user,
        currency="UGX",
        amount_minor=1_000,
        msisdn="256772555109",
        external_id="ACME-1001",  # MoMo does not make externalId unique
        idempotency_key="r-2",
        now=t0,
    )
    resp = signed_get(client, world["keys"]["acme-remit"], PARTNER_STATUS + "ACME-1001")
    err = error(resp, 409, "conflict")
    assert err["details"]["matches"] == 2
    by_id = signed_get(client, world["keys"]["acme-remit"], PARTNER_STATUS + str(second.id))
    assert by_id.status_code == 200 and by_id.json()["status"] == "new"


# --- reconciliation reports --------------------------------------------------------------------


def test_finance_reads_reports_in_json_and_csv(client, world, now):
    run = world["run"]
    token = staff_token("mtn-fin", Role.MTN_FINANCE, now)
    listing = client.get(RUNS, **bearer(token))
    assert listing.status_code == 200
    (row,) = listing.json()
    assert row["id"] == run.pk and row["status"] == "completed"
    assert row["counts"] == {
        "matched": 3,
        "missing_at_momo": 0,
        "missing_on_platform": 1,
        "amount_mismatch": 0,
        "status_mismatch": 0,
    }
    report = client.get(f"{RUNS}/{run.pk}", **bearer(token))
    assert report.status_code == 200
    items = report.json()["items"]
    assert len(items) == 4
    ghost = next(i for i in items if i["category"] == "missing_on_platform")
    assert ghost["financial_transaction_id"] == world["ghost"]
    assert ghost["momo_amount"] == -1_000  # a remittance out of the float
    assert ghost["case_status"] == "open"
    acme_item = next(i for i in items if i["transfer_id"] == str(world["acme"].id))
    assert acme_item["platform_amount"] == -70_000 and acme_item["party"] == "+256 77•••••02"

    for target in (f"{RUNS}/{run.pk}?format=csv", f"{RUNS}/{run.pk}.csv"):
        resp = client.get(target, **bearer(token))
        assert resp.status_code == 200 and resp["Content-Type"].startswith("text/csv"), target
        rows = list(csv.DictReader(io.StringIO(resp.content.decode())))
        assert len(rows) == 4
        assert "256772555102" not in resp.content.decode()
    only = client.get(f"{RUNS}/{run.pk}?category=missing_on_platform", **bearer(token))
    assert [i["category"] for i in only.json()["items"]] == ["missing_on_platform"]
    error(client.get(f"{RUNS}/{run.pk}?category=weird", **bearer(token)), 422, "validation_failed")
    error(client.get(f"{RUNS}/999999", **bearer(token)), 404, "not_found")
    lw_finance = staff_token("lw-fin", Role.LW_FINANCE, now)
    assert client.get(f"{RUNS}/{run.pk}", **bearer(lw_finance)).status_code == 200


def test_reports_are_refused_to_monitoring_customers_and_anonymous(client, world, now):
    run = world["run"]
    mon = staff_token("mtn-mon3", Role.MTN_MONITORING, now)
    for target in (RUNS, f"{RUNS}/{run.pk}", f"{RUNS}/{run.pk}.csv"):
        error(client.get(target, **bearer(mon)), 403, "forbidden")
        error(client.get(target, **bearer(world["customer_token"])), 403, "forbidden")
        error(client.get(target), 401, "unauthenticated")


def test_partner_report_holds_only_its_own_items(client, world):
    run = world["run"]
    key = world["keys"]["acme-remit"]
    listing = signed_get(client, key, PARTNER_RUNS)
    assert listing.status_code == 200
    assert listing.json()[0]["counts"]["matched"] == 1
    assert listing.json()[0]["counts"]["missing_on_platform"] == 0
    report = signed_get(client, key, f"{PARTNER_RUNS}/{run.pk}")
    assert report.status_code == 200
    (item,) = report.json()["items"]
    assert item["transfer_id"] == str(world["acme"].id) and item["external_id"] == "ACME-1001"
    assert item["case_id"] is None and item["case_status"] is None
    assert report.json()["run"]["counts"]["matched"] == 1
    text = signed_get(client, key, f"{PARTNER_RUNS}/{run.pk}.csv").content.decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["external_id"] for r in rows] == ["ACME-1001"]
    assert "case_id" not in rows[0]
    other = signed_get(client, world["keys"]["other-imto"], f"{PARTNER_RUNS}/{run.pk}?format=csv")
    assert [r["external_id"] for r in csv.DictReader(io.StringIO(other.content.decode()))] == [
        "OTHER-77"
    ]
    assert ReconItem.objects.filter(run=run).count() == 4  # the full run is larger


def test_operations_are_in_the_openapi_document_with_their_actions(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    expected = {
        "/api/v1/momo/transactions/{reference}": "transactions.view_momo",
        "/api/v1/momo/reconciliation/runs": "reports.view",
        "/api/v1/momo/reconciliation/runs/{run_id}": "reports.view",
        "/api/v1/momo/reconciliation/runs/{run_id}.csv": "reports.view",
        "/api/v1/partner/momo/transactions/{reference}": "partner.transfers",
        "/api/v1/partner/momo/reconciliation/runs": "partner.transfers",
        "/api/v1/partner/momo/reconciliation/runs/{run_id}": "partner.transfers",
        "/api/v1/partner/momo/reconciliation/runs/{run_id}.csv": "partner.transfers",
    }
    for path, action in expected.items():
        assert paths[path]["get"]["x-lightway-action"] == action, path
    csv_op = paths["/api/v1/momo/reconciliation/runs/{run_id}.csv"]["get"]
    assert "text/csv" in csv_op["responses"]["200"]["content"]
