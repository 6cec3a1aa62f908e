"""The MoMo status and reconciliation REST endpoints (docs/momo.md "Status and
reconciliation API"), over Django's test client with real tokens and signed partner
requests, the flows running against the simulator.

Who sees what: a partner reads only its own transfers and the report items about them
(someone else's reference is a 404, like one that does not exist); customers get 403,
anonymous callers 401, and staff tokens 401 (staff never hold bearer credentials, issue 11
finding 9: they read statuses and reports in the panels, whose scope, the application's
``momo_transaction_find`` and ``recon_report``, is checked here directly). The
``/api/v1/momo/...`` operations are called by MTN's and LightWay's reporting systems with
integration keys (signed requests, scoped, expiring): the last part of this file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from lightway.application.errors import NotFound, ValidationFailed
from lightway.application.momo import flows
from lightway.application.momo.lookup import momo_transaction_find
from lightway.application.momo.reconciliation.reports import (
    recon_report,
    recon_runs,
    report_csv,
    report_json,
)
from lightway.application.momo.reconciliation.runs import reconcile
from lightway.application.momo.statements import statement_import
from lightway.application.partners.keys import partner_key_create
from lightway.data.identity.models import Partner, Profile
from lightway.data.reconciliation.models import ReconItem
from lightway.security.models import ApiToken
from lightway.security.policy import Role
from lightway.security.signatures import sign_request
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


UNSIGNED = "signature_malformed"  # no X-LW-Key: the operation takes integration keys only


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def staff_token(username, role, now):
    """A staff member's API token planted in the database: staff are never issued one
    (issue 11, finding 9), and one that exists anyway is refused."""
    user_id = staff(username, [role], now)
    raw = f"lw_planted_{username}"
    ApiToken.objects.create(
        user_id=user_id,
        key_hash=hashlib.sha256(raw.encode()).hexdigest(),
        prefix=raw[:10],
        created_at=now,
    )
    return raw


def roles(role):
    return frozenset({Role(role).value})


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
    assert set(body["error"]) == {"code", "category", "message", "path", "retryable", "details"}
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


def test_mtn_monitoring_reads_status_by_each_reference_masked(world):
    """What the MTN panels show: staff read statuses there, never over the API."""
    acme = world["acme"]
    refs = references(acme)
    assert refs["externalId"] == "ACME-1001" and refs["financialTransactionId"]
    for kind, ref in refs.items():
        view = momo_transaction_find(reference=ref, roles=roles(Role.MTN_MONITORING), user_id=None)
        assert view.transfer_id == str(acme.id), kind
        assert view.reference_id == refs["X-Reference-Id"]
        assert (view.kind, view.status, view.transfer_status) == (
            "remittance",
            "successful",
            "succeeded",
        )
        assert (view.amount, view.currency, view.momo_status) == (70_000, "UGX", "SUCCESSFUL")
        assert view.party == "+256 •••••••02"
    # the customer's deposit, by its transfer id and by MoMo's id
    for ref in (str(world["deposit"].id), request_of(world["deposit"]).financial_transaction_id):
        found = momo_transaction_find(reference=ref, roles=roles(Role.MTN_MONITORING), user_id=None)
        assert found.kind == "deposit"


def test_partner_sees_its_own_transfers_only_and_others_are_not_found(client, world):
    acme_key, other_key = world["keys"]["acme-remit"], world["keys"]["other-imto"]
    for kind, ref in references(world["acme"]).items():
        resp = signed_get(client, acme_key, PARTNER_STATUS + ref)
        assert resp.status_code == 200, (kind, resp.content)
        assert resp.json()["transfer_id"] == str(world["acme"].id)
        assert resp.json()["party"] == "+256 •••••••02"
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
    # the operation takes only integration keys: any bearer token, or nothing, is a 401
    error(client.get(STATUS + ref, **bearer(world["customer_token"])), 401, UNSIGNED)
    error(client.get(STATUS + ref), 401, UNSIGNED)
    # staff hold no API credential, whatever their roles allow in the panels
    for name, role in (("lw-support", Role.LW_SUPPORT), ("mtn-mon2", Role.MTN_MONITORING)):
        error(client.get(STATUS + ref, **bearer(staff_token(name, role, now))), 401, UNSIGNED)
    # the scope the panels apply
    with pytest.raises(NotFound):
        momo_transaction_find(reference=ref, roles=roles(Role.LW_ADMIN), user_id=None)
    found = momo_transaction_find(reference=ref, roles=roles(Role.LW_SUPPORT), user_id=None)
    assert found.transfer_id == ref
    with pytest.raises(NotFound):
        momo_transaction_find(
            reference="nothing-here", roles=roles(Role.MTN_MONITORING), user_id=None
        )
    with pytest.raises(ValidationFailed):
        momo_transaction_find(reference="x" * 101, roles=roles(Role.MTN_MONITORING), user_id=None)


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


def test_finance_reads_reports_in_json_and_csv(world):
    """The reports the finance panels show (staff read them there, not over the API)."""
    run = world["run"]
    ((listed, counts),) = recon_runs()
    assert listed.pk == run.pk and listed.status == "completed"
    assert counts == {
        "matched": 3,
        "missing_at_momo": 0,
        "missing_on_platform": 1,
        "amount_mismatch": 0,
        "status_mismatch": 0,
    }
    report = recon_report(run_id=run.pk)
    items = report_json(report)["items"]
    assert len(items) == 4
    ghost = next(i for i in items if i["category"] == "missing_on_platform")
    assert ghost["financial_transaction_id"] == world["ghost"]
    assert ghost["momo_amount"] == -1_000  # a remittance out of the float
    assert ghost["case_status"] == "open"
    acme_item = next(i for i in items if i["transfer_id"] == str(world["acme"].id))
    assert acme_item["platform_amount"] == -70_000 and acme_item["party"] == "+256 •••••••02"
    text = report_csv(report)
    assert len(list(csv.DictReader(io.StringIO(text)))) == 4
    assert "256772555102" not in text
    only = recon_report(run_id=run.pk, category="missing_on_platform")
    assert [i["category"] for i in report_json(only)["items"]] == ["missing_on_platform"]
    with pytest.raises(ValidationFailed):
        recon_report(run_id=run.pk, category="weird")
    with pytest.raises(NotFound):
        recon_report(run_id=999999)


def test_reports_are_refused_to_staff_tokens_customers_and_anonymous(client, world, now):
    run = world["run"]
    staff_tokens = [
        staff_token("mtn-mon3", Role.MTN_MONITORING, now),
        staff_token("mtn-fin", Role.MTN_FINANCE, now),
    ]
    for target in (RUNS, f"{RUNS}/{run.pk}", f"{RUNS}/{run.pk}.csv"):
        for token in staff_tokens:
            error(client.get(target, **bearer(token)), 401, UNSIGNED)
        error(client.get(target, **bearer(world["customer_token"])), 401, UNSIGNED)
        error(client.get(target), 401, UNSIGNED)


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


# --- integration keys: the reporting systems of MTN and LightWay ---------------------------


def integration_key(realm="mtn", scopes=("transactions.view_momo", "reports.view"), **kw):
    from lightway.application.integrations.keys import integration_key_create

    return integration_key_create(
        realm=realm,
        name=kw.get("name", f"{realm} reporting"),
        scopes=scopes,
        days=kw.get("days", 30),
        reason="TICKET-11: the reporting integration",
        actor="system:test",
        now=kw.get("now") or timezone.now(),
    )


def test_an_mtn_key_reads_statuses_masked_and_the_reports(client, world):
    from lightway.security.apiauth.models import IntegrationKey

    key = integration_key("mtn")
    acme = world["acme"]
    for kind, ref in references(acme).items():
        resp = signed_get(client, key, STATUS + ref)
        assert resp.status_code == 200, (kind, resp.content)
        body = resp.json()
        assert body["transfer_id"] == str(acme.id) and body["external_id"] == "ACME-1001"
        assert (body["status"], body["amount"], body["currency"]) == ("successful", 70_000, "UGX")
        assert body["party"] == "+256 •••••••02"  # as the MTN panel shows it
        assert "256772555102" not in resp.content.decode()
    deposit = signed_get(client, key, STATUS + str(world["deposit"].id))
    assert deposit.status_code == 200 and deposit.json()["kind"] == "deposit"
    error(signed_get(client, key, STATUS + "no-such-reference"), 404, "not_found")

    run = world["run"]
    runs = signed_get(client, key, RUNS)
    assert runs.status_code == 200, runs.content
    assert runs.json()[0]["id"] == run.pk and runs.json()[0]["counts"]["matched"] == 3
    report = signed_get(client, key, f"{RUNS}/{run.pk}")
    assert report.status_code == 200
    items = report.json()["items"]
    assert len(items) == 4  # the whole run, as the MTN panel's report shows it
    assert {i["party"] for i in items if i["transfer_id"] == str(acme.id)} == {"+256 •••••••02"}
    for target in (f"{RUNS}/{run.pk}.csv", f"{RUNS}/{run.pk}?format=csv"):
        text = signed_get(client, key, target)
        assert text.status_code == 200 and text["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(text.content.decode())))
        assert len(rows) == 4 and "256772555102" not in text.content.decode()
    used = IntegrationKey.objects.get(key_id=key[0])
    assert used.last_used_at is not None


def test_a_lightway_key_reads_the_same_operations(client, world):
    key = integration_key("lightway")
    resp = signed_get(client, key, STATUS + "ACME-1001")
    assert resp.status_code == 200 and resp.json()["party"] == "+256 •••••••02"
    assert signed_get(client, key, RUNS).status_code == 200


def test_integration_keys_are_refused_when_expired_revoked_forged_replayed_or_out_of_scope(
    client, world
):
    from lightway.application.integrations.keys import integration_key_revoke

    target = STATUS + "ACME-1001"
    run = world["run"]
    # expired: made 2 days ago, valid for 1
    old = integration_key("mtn", days=1, now=timezone.now() - timedelta(days=2))
    error(signed_get(client, old, target), 401, "key_expired")
    # revoked
    revoked = integration_key("mtn")
    assert signed_get(client, revoked, target).status_code == 200
    integration_key_revoke(key_id=revoked[0], actor="system:test", now=timezone.now())
    error(signed_get(client, revoked, target), 401, "key_revoked")
    # a wrong secret, and a signature over another path
    live = integration_key("mtn")
    error(signed_get(client, (live[0], live[1] + "x"), target), 401, "signature_invalid")
    headers = sign_request(
        key_id=live[0], secret=live[1], method="GET", target=RUNS, timestamp=int(time.time())
    )
    meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
    error(client.get(target, **meta), 401, "signature_invalid")
    # a replayed nonce, and a stale timestamp
    headers = sign_request(
        key_id=live[0], secret=live[1], method="GET", target=target, timestamp=int(time.time())
    )
    meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
    assert client.get(target, **meta).status_code == 200
    error(client.get(target, **meta), 401, "nonce_replayed")
    stale = sign_request(
        key_id=live[0],
        secret=live[1],
        method="GET",
        target=target,
        timestamp=int(time.time()) - 3600,
    )
    stale_meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in stale.items()}
    error(client.get(target, **stale_meta), 401, "timestamp_stale")
    # another scope: a reports-only key reads no status, a status-only key no report
    reports_only = integration_key("mtn", scopes=("reports.view",))
    err = error(signed_get(client, reports_only, target), 403, "forbidden")
    assert err["details"] == {"action": "transactions.view_momo", "scopes": ["reports.view"]}
    assert signed_get(client, reports_only, f"{RUNS}/{run.pk}.csv").status_code == 200
    status_only = integration_key("mtn", scopes=("transactions.view_momo",))
    assert signed_get(client, status_only, target).status_code == 200
    for path in (RUNS, f"{RUNS}/{run.pk}", f"{RUNS}/{run.pk}.csv"):
        error(signed_get(client, status_only, path), 403, "forbidden")
    # another endpoint: the partner operations take partner keys only, and the other way round
    error(signed_get(client, live, PARTNER_STATUS + "ACME-1001"), 401, "signature_malformed")
    error(signed_get(client, live, "/api/v1/partner/whoami"), 401, "signature_malformed")
    error(signed_get(client, world["keys"]["acme-remit"], target), 401, "signature_malformed")
    # an unknown key id of the right shape
    error(signed_get(client, ("ik_live_" + "0" * 24, live[1]), target), 401, "key_unknown")
