"""The REST API over Django's test client: happy paths and one error shape for every 4xx."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.factories import customer, funded_wallet

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(now, client):
    a_id, token = customer("alice", now)
    b_id, _ = customer("bob", now)
    wa = funded_wallet(a_id, "UGX", 100_000, now)
    wb = funded_wallet(b_id, "UGX", 0, now)
    return token, wa, wb


def post(client, token, body, key="key-1", raw=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    data = raw if raw is not None else json.dumps(body)
    return client.post("/api/v1/transfers", data=data, content_type="application/json", **headers)


def body(wa, wb, amount=1500, currency="UGX"):
    return {
        "source_wallet_id": str(wa.id),
        "destination_wallet_id": str(wb.id),
        "amount": amount,
        "currency": currency,
    }


def assert_error(resp, status, code):
    assert resp.status_code == status, resp.content
    payload = resp.json()
    assert set(payload) == {"error"}
    assert set(payload["error"]) == {"code", "category", "message", "path", "retryable", "details"}
    assert payload["error"]["code"] == code, payload
    assert payload["error"]["message"]
    return payload["error"]


def test_create_get_and_replay(client, setup):
    token, wa, wb = setup
    resp = post(client, token, body(wa, wb))
    assert resp.status_code == 201, resp.content
    created = resp.json()
    assert created["status"] == "succeeded" and created["amount"] == 1500
    again = post(client, token, body(wa, wb))
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == created["id"]
    got = client.get(f"/api/v1/transfers/{created['id']}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert got.status_code == 200 and got.json()["id"] == created["id"]


def test_wallets_and_statement_pagination(client, setup):
    token, wa, wb = setup
    for i in range(3):
        assert post(client, token, body(wa, wb, 100 + i), key=f"k{i}").status_code == 201
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    wallets = client.get("/api/v1/wallets", **auth).json()
    assert [w["id"] for w in wallets] == [str(wa.id)]
    page = client.get(f"/api/v1/wallets/{wa.id}/statement?limit=2", **auth).json()
    assert len(page["lines"]) == 2 and page["next_cursor"]
    assert page["lines"][0]["balance_after"] == wallets[0]["balance"]
    rest = client.get(
        f"/api/v1/wallets/{wa.id}/statement?limit=50&cursor={page['next_cursor']}", **auth
    )
    seen = [line["posting_id"] for line in page["lines"] + rest.json()["lines"]]
    assert len(seen) == len(set(seen)) and rest.json()["next_cursor"] is None
    assert_error(
        client.get(f"/api/v1/wallets/{wa.id}/statement?cursor=!!", **auth), 422, "validation_failed"
    )
    # another customer's wallet is invisible
    assert_error(client.get(f"/api/v1/wallets/{wb.id}/statement", **auth), 404, "not_found")


def test_same_key_different_body_is_409(client, setup):
    token, wa, wb = setup
    assert post(client, token, body(wa, wb, 10)).status_code == 201
    err = assert_error(post(client, token, body(wa, wb, 11)), 409, "idempotency_key_reused")
    assert "transfer_id" in err["details"]


def test_insufficient_funds_is_422_with_transfer_id(client, setup):
    token, wa, wb = setup
    err = assert_error(post(client, token, body(wa, wb, 10**9)), 422, "insufficient_funds")
    assert uuid.UUID(err["details"]["transfer_id"])


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        ("{not json", 400, "malformed_json"),
        ("", 422, "validation_failed"),
        ("[]", 422, "validation_failed"),
    ],
)
def test_malformed_bodies(client, setup, raw, status, code):
    token, _, _ = setup
    assert_error(post(client, token, None, raw=raw), status, code)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": "1500"}, "amount"),
        ({"amount": 15.5}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": 0}, "amount"),
        ({"amount": 10**30}, "amount"),
        ({"currency": "ugx"}, "currency"),
        ({"source_wallet_id": "not-a-uuid"}, "source_wallet_id"),
        ({"description": "x" * 141}, "description"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_wrong_types_and_ranges(client, setup, change, field):
    token, wa, wb = setup
    err = assert_error(post(client, token, {**body(wa, wb), **change}), 422, "validation_failed")
    assert any(f["field"] == field for f in err["details"]["fields"]), err


def test_unknown_accounts_and_currency(client, setup):
    token, wa, wb = setup
    assert_error(
        post(client, token, {**body(wa, wb), "destination_wallet_id": str(uuid.uuid4())}),
        404,
        "not_found",
    )
    assert_error(
        post(client, token, body(wa, wb, currency="XXX"), key="x"), 422, "validation_failed"
    )
    assert_error(
        post(client, token, body(wa, wb, currency="GHS"), key="y"), 422, "currency_mismatch"
    )


def test_auth_and_headers(client, setup):
    token, wa, wb = setup
    assert_error(post(client, "wrong", body(wa, wb)), 401, "unauthenticated")
    resp = client.post("/api/v1/transfers", data="{}", content_type="application/json")
    assert_error(resp, 401, "unauthenticated")
    assert_error(post(client, token, body(wa, wb), key=None), 422, "validation_failed")
    assert_error(post(client, token, body(wa, wb), key="k" * 201), 422, "validation_failed")


def test_unknown_route_and_method(client, setup):
    token, _, _ = setup
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert_error(client.get("/api/v1/nope", **auth), 404, "not_found")
    assert_error(client.get("/api/v1/transfers/not-a-uuid", **auth), 422, "validation_failed")
    assert_error(client.get(f"/api/v1/transfers/{uuid.uuid4()}", **auth), 404, "not_found")
    assert_error(client.delete("/api/v1/wallets", **auth), 405, "method_not_allowed")


def test_openapi_document(client):
    doc = client.get("/api/v1/openapi.json").json()
    assert doc["info"]["title"] == "LightWay MoMo API"
    assert "/api/v1/transfers" in doc["paths"]
    assert "/api/v1/wallets/{wallet_id}/statement" in doc["paths"]


def test_unexpected_error_is_a_json_500(client, setup, monkeypatch):
    from lightway.interfaces.api import v1

    def boom(**_kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(v1, "transfer_get", boom)
    token, _, _ = setup
    resp = client.get(f"/api/v1/transfers/{uuid.uuid4()}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert resp.status_code == 500
    assert resp.json()["error"]["code"] == "internal_error"


def test_revoked_token_is_refused(client, setup, now):
    from lightway.data.audit.models import AuditRecord
    from lightway.security.tokens import token_revoke

    token, _, _ = setup
    assert token_revoke(raw=token, now=now)
    assert not token_revoke(raw=token, now=now)
    assert AuditRecord.objects.filter(action="token.revoke").count() == 1
    resp = client.get("/api/v1/wallets", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_error(resp, 401, "unauthenticated")


def test_recipient_sees_the_transfer_and_its_description(client, setup, now):
    from lightway.security.tokens import token_issue

    token, wa, wb = setup
    created = post(client, token, {**body(wa, wb, 700), "description": "lunch"}).json()
    bob_token = token_issue(user_id=wb.owner_id, now=now)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {bob_token}"}
    got = client.get(f"/api/v1/transfers/{created['id']}", **auth)
    assert got.status_code == 200 and got.json()["description"] == "lunch"
    lines = client.get(f"/api/v1/wallets/{wb.id}/statement", **auth).json()["lines"]
    assert lines[0]["amount"] == 700 and lines[0]["description"] == "lunch"


def test_use_case_validation_errors_have_the_schema_error_shape(client, setup):
    token, wa, wb = setup
    err = assert_error(post(client, token, body(wa, wb, currency="XXX")), 422, "validation_failed")
    assert err["details"]["fields"][0]["field"] == "currency"


def test_frozen_destination_is_not_described(client, setup):
    from lightway.data.ledger.models import Account

    token, wa, wb = setup
    Account.objects.filter(pk=wb.account_id).update(status="frozen")
    err = assert_error(post(client, token, body(wa, wb)), 422, "account_not_active")
    assert "frozen" not in err["message"]


def test_probes_refuse_post_with_405(client):
    assert client.post("/healthz").status_code == 405


def test_control_characters_in_description_are_a_422(client, setup):
    token, wa, wb = setup
    err = assert_error(
        post(client, token, {**body(wa, wb), "description": "a\u0000b"}), 422, "validation_failed"
    )
    assert err["details"]["fields"][0]["field"] == "description"


def test_oversized_body_is_a_413(client, setup, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    token, wa, wb = setup
    resp = post(client, token, {**body(wa, wb), "description": "x" * 2000})
    assert_error(resp, 413, "payload_too_large")
