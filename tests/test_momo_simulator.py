"""The MoMo simulator over real HTTP: MTN's paths, headers, status codes and bodies, the
sandbox test numbers, money, callbacks, fault knobs and the statement export.

Expected outcomes are written here from the reference note (§2-§11, §15), not read from the
simulator's own tables.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from lightway.integration.momo.simulator import MomoSimulator
from tests.momo_support import CallbackReceiver

KEYS = {
    "collection": "de40c011ec7100000000000000000001",
    "disbursement": "de40d15b000000000000000000000002",
    "remittance": "de40ae31700000000000000000000003",
}
# Parameters must be the same in every test process (pytest-xdist compares test ids).
UUID1 = "a8098c1a-f86e-11da-bd1a-00112444be1e"  # a version-1 UUID (RFC 4122 example)
UNKNOWN = "0f8fad5b-d9cb-469f-a165-70867728950e"  # a version-4 UUID nobody provisions
APIM_INVALID = (
    "Access denied due to invalid subscription key. "
    "Make sure to provide a valid key for an active subscription."
)


class Api:
    """MTN-style calls against the simulator as one provisioned API user."""

    def __init__(self, sim: MomoSimulator, http: httpx.Client) -> None:
        self.sim = sim
        self.http = http
        self.user, self.key = sim.provision(callback_host="127.0.0.1")
        self._tokens: dict[str, str] = {}

    def basic(self, user: str | None = None, key: str | None = None) -> str:
        raw = f"{user or self.user}:{key or self.key}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def token(self, product: str) -> str:
        if product not in self._tokens:
            response = self.http.post(
                f"/{product}/token/",
                headers={"Ocp-Apim-Subscription-Key": KEYS[product], "Authorization": self.basic()},
            )
            assert response.status_code == 200, response.text
            self._tokens[product] = response.json()["access_token"]
        return self._tokens[product]

    def headers(self, product: str, env: str = "sandbox", **extra: str) -> dict[str, str]:
        return {
            "Ocp-Apim-Subscription-Key": KEYS[product],
            "Authorization": f"Bearer {self.token(product)}",
            "X-Target-Environment": env,
            **extra,
        }

    def create(
        self,
        product: str,
        path: str,
        body: Any,
        *,
        ref: str | None = None,
        env: str = "sandbox",
        callback: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[str, httpx.Response]:
        ref = ref or str(uuid.uuid4())
        h = self.headers(product, env, **{"X-Reference-Id": ref})
        if callback is not None:
            h["X-Callback-Url"] = callback
        h.update(headers or {})
        kwargs: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
        return ref, self.http.post(f"/{product}{path}", headers=h, **kwargs)

    def get(self, product: str, path: str, env: str = "sandbox") -> httpx.Response:
        return self.http.get(f"/{product}{path}", headers=self.headers(product, env))

    def wait(self, product: str, path: str, env: str = "sandbox", timeout: float = 5) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            response = self.get(product, path, env)
            assert response.status_code == 200, response.text
            data = response.json()
            if data["status"] in ("SUCCESSFUL", "FAILED") or time.monotonic() > deadline:
                return data
            time.sleep(0.02)


@pytest.fixture
def sim(momo_simulator):
    momo_simulator.reset()
    momo_simulator.configure(completion_seconds=0.02)
    yield momo_simulator
    momo_simulator.reset()


@pytest.fixture(scope="module")
def http(momo_simulator):
    """One HTTP client for the module (building a client costs more than a call)."""
    with httpx.Client(base_url=momo_simulator.base_url, timeout=10) as client:
        yield client


@pytest.fixture
def api(sim, http):
    return Api(sim, http)


@pytest.fixture
def receiver():
    rec = CallbackReceiver()
    yield rec
    rec.stop()


def rtp(number: str = "256772000001", amount: str = "100", currency: str = "EUR", **extra):
    return {
        "amount": amount,
        "currency": currency,
        "externalId": "ext-1",
        "payer": {"partyIdType": "MSISDN", "partyId": number},
        "payerMessage": "Pay LightWay",
        "payeeNote": "Deposit",
        **extra,
    }


def transfer(number: str = "256772000001", amount: str = "100", currency: str = "EUR", **extra):
    return {
        "amount": amount,
        "currency": currency,
        "externalId": "ext-2",
        "payee": {"partyIdType": "MSISDN", "partyId": number},
        "payerMessage": "Payout",
        "payeeNote": "From LightWay",
        **extra,
    }


# --- provisioning (§3) ------------------------------------------------------------------------


def test_provisioning_creates_a_user_and_a_key_like_the_sandbox(sim):
    http = httpx.Client(base_url=sim.base_url)
    key = {"Ocp-Apim-Subscription-Key": KEYS["disbursement"]}  # any product's key works
    user = str(uuid.uuid4())
    created = http.post(
        "/v1_0/apiuser",
        headers={**key, "X-Reference-Id": user},
        json={"providerCallbackHost": "platform.example"},
    )
    assert (created.status_code, created.content) == (201, b"")
    again = http.post(
        "/v1_0/apiuser",
        headers={**key, "X-Reference-Id": user},
        json={"providerCallbackHost": "platform.example"},
    )
    assert again.status_code == 409
    assert again.json()["code"] == "RESOURCE_ALREADY_EXIST"
    shown = http.get(f"/v1_0/apiuser/{user}", headers=key)
    assert shown.status_code == 200
    assert shown.json() == {
        "providerCallbackHost": "platform.example",
        "targetEnvironment": "sandbox",
    }
    issued = http.post(f"/v1_0/apiuser/{user}/apikey", headers=key)
    assert issued.status_code == 201
    api_key = issued.json()["apiKey"]
    assert len(api_key) == 32 and int(api_key, 16) >= 0
    # The key gets a token of every product (one sandbox user works for all three).
    basic = "Basic " + base64.b64encode(f"{user}:{api_key}".encode()).decode()
    for product, sub in KEYS.items():
        token = http.post(
            f"/{product}/token/",
            headers={"Ocp-Apim-Subscription-Key": sub, "Authorization": basic},
        )
        assert token.status_code == 200, product


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status", "code"),
    [
        (
            "POST",
            "/v1_0/apiuser",
            {"X-Reference-Id": UUID1},
            {"providerCallbackHost": "h"},
            400,
            "BAD_REQUEST",
        ),
        (
            "POST",
            "/v1_0/apiuser",
            {"X-Reference-Id": "not-a-uuid"},
            {"providerCallbackHost": "h"},
            400,
            "BAD_REQUEST",
        ),
        ("POST", "/v1_0/apiuser", {"X-Reference-Id": UNKNOWN}, {}, 400, "BAD_REQUEST"),
        ("POST", f"/v1_0/apiuser/{UNKNOWN}/apikey", {}, None, 404, "RESOURCE_NOT_FOUND"),
        ("GET", f"/v1_0/apiuser/{UNKNOWN}", {}, None, 404, "RESOURCE_NOT_FOUND"),
        ("GET", "/v1_0/apiuser/nope", {}, None, 400, "BAD_REQUEST"),
    ],
)
def test_provisioning_errors(sim, method, path, headers, body, status, code):
    response = httpx.request(
        method,
        f"{sim.base_url}{path}",
        headers={"Ocp-Apim-Subscription-Key": KEYS["collection"], **headers},
        json=body,
    )
    assert response.status_code == status
    assert response.json()["code"] == code


def test_provisioning_needs_a_subscription_key(sim):
    response = httpx.post(
        f"{sim.base_url}/v1_0/apiuser",
        headers={"X-Reference-Id": str(uuid.uuid4())},
        json={"providerCallbackHost": "h"},
    )
    assert response.status_code == 401
    assert response.json()["statusCode"] == 401
    assert "missing subscription key" in response.json()["message"]


# --- tokens (§9) ------------------------------------------------------------------------------


def test_token_is_a_jwt_with_the_sandbox_type_and_lifetime(api):
    response = api.http.post(
        "/collection/token/",
        headers={"Ocp-Apim-Subscription-Key": KEYS["collection"], "Authorization": api.basic()},
    )
    assert response.status_code == 200
    data = response.json()
    assert data["token_type"] == "access_token" and data["expires_in"] == 3600
    assert len(data["access_token"].split(".")) == 3


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic bm9wZQ==", "Bearer x", "Basic:abc", "wrong-key", "unknown-user"],
)
def test_token_refuses_bad_credentials_with_login_failed(api, authorization):
    if authorization == "wrong-key":
        authorization = api.basic(key="0" * 32)
    elif authorization == "unknown-user":
        authorization = api.basic(user=str(uuid.uuid4()))
    headers = {"Ocp-Apim-Subscription-Key": KEYS["collection"]}
    if authorization:
        headers["Authorization"] = authorization
    response = api.http.post("/collection/token/", headers=headers)
    assert (response.status_code, response.json()) == (401, {"error": "login_failed"})


def test_subscription_keys_are_per_product(api):
    wrong = api.http.post(
        "/disbursement/token/",
        headers={"Ocp-Apim-Subscription-Key": KEYS["collection"], "Authorization": api.basic()},
    )
    assert wrong.status_code == 401
    assert wrong.json() == {"statusCode": 401, "message": APIM_INVALID}
    # The query-parameter form of the key is accepted too.
    query = api.http.post(
        f"/disbursement/token/?subscription-key={KEYS['disbursement']}",
        headers={"Authorization": api.basic()},
    )
    assert query.status_code == 200
    # And a product call with another product's key is refused before anything else.
    headers = api.headers("collection")
    headers["Ocp-Apim-Subscription-Key"] = KEYS["remittance"]
    assert api.http.get("/collection/v1_0/account/balance", headers=headers).status_code == 401


def test_bearer_tokens_are_per_product_and_expire(api, sim):
    headers = api.headers("collection")
    headers["Authorization"] = f"Bearer {api.token('disbursement')}"
    refused = api.http.get("/collection/v1_0/account/balance", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["statusCode"] == 401
    for bad in ("Bearer nonsense", "", "Basic " + api.basic()):
        headers["Authorization"] = bad
        assert api.http.get("/collection/v1_0/account/balance", headers=headers).status_code == 401

    sim.configure(token_ttl_seconds=1)
    first = api.http.post(
        "/collection/token/",
        headers={"Ocp-Apim-Subscription-Key": KEYS["collection"], "Authorization": api.basic()},
    ).json()
    second = api.http.post(
        "/collection/token/",
        headers={"Ocp-Apim-Subscription-Key": KEYS["collection"], "Authorization": api.basic()},
    ).json()
    assert first["expires_in"] == 1
    for token in (first, second):  # several tokens are valid at once
        headers["Authorization"] = f"Bearer {token['access_token']}"
        assert api.http.get("/collection/v1_0/account/balance", headers=headers).status_code == 200
    time.sleep(1.1)
    expired = api.http.get("/collection/v1_0/account/balance", headers=headers)
    assert expired.status_code == 401


def test_a_body_on_token_is_refused_when_the_knob_says_so(api, sim):
    headers = {"Ocp-Apim-Subscription-Key": KEYS["collection"], "Authorization": api.basic()}
    body = {"grant_type": "client_credentials"}
    assert api.http.post("/collection/token/", headers=headers, json=body).status_code == 200
    sim.configure(reject_token_body=True)
    assert api.http.post("/collection/token/", headers=headers, json=body).status_code == 400


# --- creating and reading (§2.2, §15) ---------------------------------------------------------


def test_request_to_pay_accepts_with_an_empty_202_and_completes(api, sim):
    ref, response = api.create("collection", "/v1_0/requesttopay", rtp())
    assert response.status_code == 202
    assert response.content == b""
    result = api.wait("collection", f"/v1_0/requesttopay/{ref}")
    assert result["status"] == "SUCCESSFUL"
    assert result["financialTransactionId"].isdigit()
    assert result["amount"] == "100" and result["currency"] == "EUR"
    assert result["externalId"] == "ext-1"
    assert result["payer"] == {"partyIdType": "MSISDN", "partyId": "256772000001"}
    assert result["payerMessage"] == "Pay LightWay" and result["payeeNote"] == "Deposit"
    assert "reason" not in result
    row = next(t for t in sim.transactions() if t["referenceId"] == ref)
    assert row["operation"] == "requesttopay" and row["product"] == "collection"
    assert row["completed_at"] is not None and row["environment"] == "sandbox"


def test_a_reused_reference_is_a_409_and_changes_nothing(api):
    ref, first = api.create("collection", "/v1_0/requesttopay", rtp(amount="5"))
    assert first.status_code == 202
    _, again = api.create("collection", "/v1_0/requesttopay", rtp(amount="999"), ref=ref)
    assert again.status_code == 409
    assert again.json() == {
        "code": "RESOURCE_ALREADY_EXIST",
        "message": "Duplicated reference id. Creation of resource failed.",
    }
    assert api.wait("collection", f"/v1_0/requesttopay/{ref}")["amount"] == "5"


def test_an_unknown_reference_is_a_404(api):
    response = api.get("collection", f"/v1_0/requesttopay/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json() == {
        "code": "RESOURCE_NOT_FOUND",
        "message": "Requested resource was not found.",
    }


def test_a_status_is_read_only_at_its_own_resource(api):
    ref, _ = api.create("collection", "/v1_0/requesttopay", rtp())
    assert api.get("collection", f"/v1_0/requesttowithdraw/{ref}").status_code == 404
    assert api.get("collection", f"/v1_0/requesttopay/{ref}", env="mtnghana").status_code == 404


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"X-Reference-Id": ""}, 400, "BAD_REQUEST"),
        ({"X-Reference-Id": "123"}, 400, "BAD_REQUEST"),
        ({"X-Reference-Id": UUID1}, 400, "BAD_REQUEST"),
        ({"X-Target-Environment": "mtnnowhere"}, 500, "NOT_ALLOWED_TARGET_ENVIRONMENT"),
        ({"body": {"payerMessage": "x" * 161}}, 400, "BAD_REQUEST"),
        ({"body": {"payeeNote": "x" * 161}}, 400, "BAD_REQUEST"),
        ({"body": {"payerMessage": "Amara's deposit"}}, 400, "BAD_REQUEST"),
        ({"body": {"payeeNote": "fees & charges"}}, 400, "BAD_REQUEST"),
        ({"body": {"amount": "-5"}}, 400, "BAD_REQUEST"),
        ({"body": {"amount": "abc"}}, 400, "BAD_REQUEST"),
        (
            {"body": {"payer": {"partyIdType": "MSISDN", "partyId": "+256772000001"}}},
            400,
            "BAD_REQUEST",
        ),
        (
            {"body": {"payer": {"partyIdType": "PHONE", "partyId": "256772000001"}}},
            400,
            "BAD_REQUEST",
        ),
        ({"body": {"currency": "UGX"}}, 500, "INVALID_CURRENCY"),
        ({"raw": b"{not json"}, 400, "BAD_REQUEST"),
        ({"raw": b"[1, 2]"}, 400, "BAD_REQUEST"),
    ],
)
def test_invalid_creates_are_refused_and_nothing_is_created(api, sim, change, status, code):
    ref = str(uuid.uuid4())
    body: Any = rtp(**change.pop("body", {}))
    body = change.pop("raw", body)
    headers = {k: v for k, v in change.items()}
    _, response = api.create("collection", "/v1_0/requesttopay", body, ref=ref, headers=headers)
    assert response.status_code == status
    assert response.json()["code"] == code
    assert sim.transactions() == []


def test_a_160_character_message_is_fine(api):
    _, response = api.create("collection", "/v1_0/requesttopay", rtp(payerMessage="x" * 160))
    assert response.status_code == 202


@pytest.mark.parametrize(
    ("env", "currency"),
    [
        ("sandbox", "EUR"),
        ("mtnuganda", "UGX"),
        ("mtnghana", "GHS"),
        ("mtncameroon", "XAF"),
        ("mtnrwanda", "RWF"),
        ("mtnzambia", "ZMW"),
        ("mtnivorycoast", "XOF"),
    ],
)
def test_each_environment_takes_only_its_currency(api, env, currency):
    _, ok = api.create("collection", "/v1_0/requesttopay", rtp(currency=currency), env=env)
    assert ok.status_code == 202
    other = "UGX" if currency == "EUR" else "EUR"
    _, refused = api.create("collection", "/v1_0/requesttopay", rtp(currency=other), env=env)
    assert refused.status_code == 500
    assert refused.json() == {"code": "INVALID_CURRENCY", "message": "Currency not supported."}


def test_a_missing_target_environment_is_refused(api):
    headers = api.headers("collection", **{"X-Reference-Id": str(uuid.uuid4())})
    del headers["X-Target-Environment"]
    response = api.http.post("/collection/v1_0/requesttopay", headers=headers, json=rtp())
    assert response.status_code == 500
    assert response.json()["code"] == "NOT_ALLOWED_TARGET_ENVIRONMENT"


def test_a_callback_to_another_host_fails_the_whole_request(api, sim):
    ref = str(uuid.uuid4())
    for url in ("http://evil.example/webhooks/momo/x", "", "not a url"):
        _, response = api.create("collection", "/v1_0/requesttopay", rtp(), ref=ref, callback=url)
        assert response.status_code == 500
        assert response.json()["code"] == "INVALID_CALLBACK_URL_HOST"
    assert api.get("collection", f"/v1_0/requesttopay/{ref}").status_code == 404
    # Nothing was created, so the same reference still works with the registered host.
    _, ok = api.create(
        "collection", "/v1_0/requesttopay", rtp(), ref=ref, callback=f"http://127.0.0.1:9/{ref}"
    )
    assert ok.status_code == 202


def test_a_bad_or_missing_subscription_key_on_a_create_is_an_apim_401(api, sim):
    _, response = api.create(
        "collection",
        "/v1_0/requesttopay",
        rtp(),
        headers={"Ocp-Apim-Subscription-Key": "nope"},
    )
    assert response.status_code == 401
    assert response.json() == {"statusCode": 401, "message": APIM_INVALID}
    assert sim.transactions() == []


# --- every operation family: callbacks by PUT or POST, body = GET (§10) -----------------------

OPERATIONS = [
    # product, create path, status path, body, callback method
    ("collection", "/v1_0/requesttopay", "/v1_0/requesttopay", rtp, "PUT"),
    ("collection", "/v1_0/requesttowithdraw", "/v1_0/requesttowithdraw", rtp, "POST"),
    ("collection", "/v2_0/requesttowithdraw", "/v1_0/requesttowithdraw", rtp, "PUT"),
    ("disbursement", "/v1_0/transfer", "/v1_0/transfer", transfer, "PUT"),
    ("disbursement", "/v1_0/deposit", "/v1_0/deposit", transfer, "POST"),
    ("disbursement", "/v2_0/deposit", "/v1_0/deposit", transfer, "PUT"),
    ("remittance", "/v1_0/transfer", "/v1_0/transfer", transfer, "PUT"),
    ("remittance", "/v2_0/cashtransfer", "/v2_0/cashtransfer", transfer, "PUT"),
]


@pytest.mark.parametrize(("product", "create", "status", "body", "method"), OPERATIONS)
def test_every_operation_succeeds_and_calls_back_with_its_method(
    api, receiver, product, create, status, body, method
):
    ref = str(uuid.uuid4())
    _, response = api.create(product, create, body(), ref=ref, callback=receiver.url(ref))
    assert response.status_code == 202 and response.content == b""
    [(got_method, path, raw)] = receiver.wait(1)
    result = api.wait(product, f"{status}/{ref}")
    assert result["status"] == "SUCCESSFUL"
    assert got_method == method
    assert path == f"/webhooks/momo/{ref}"
    assert httpx.Response(200, content=raw).json() == result  # the callback is the GET body


@pytest.mark.parametrize(("version", "method"), [("v1_0", "POST"), ("v2_0", "PUT")])
def test_refunds_call_back_by_post_in_v1_and_put_in_v2(api, receiver, version, method):
    original, _ = api.create("collection", "/v1_0/requesttopay", rtp(amount="50"))
    assert api.wait("collection", f"/v1_0/requesttopay/{original}")["status"] == "SUCCESSFUL"
    ref = str(uuid.uuid4())
    body = {
        "amount": "20",
        "currency": "EUR",
        "externalId": "refund-1",
        "payerMessage": "Refund",
        "payeeNote": "Refund",
        "referenceIdToRefund": original,
    }
    _, response = api.create(
        "disbursement", f"/{version}/refund", body, ref=ref, callback=receiver.url(ref)
    )
    assert response.status_code == 202
    [(got_method, _path, raw)] = receiver.wait(1)
    result = api.wait("disbursement", f"/v1_0/refund/{ref}")
    assert got_method == method
    assert result["status"] == "SUCCESSFUL"
    assert result["payee"] == {"partyIdType": "MSISDN", "partyId": "256772000001"}
    assert httpx.Response(200, content=raw).json() == result


def test_a_cash_transfer_echoes_the_remitter_fields(api):
    extra = {
        "orginatingCountry": "GB",
        "originalAmount": "12",
        "originalCurrency": "GBP",
        "payerIdentificationType": "PASS",
        "payerIdentificationNumber": "P123",
        "payerFirstName": "Jo",
        "payerSurName": "Doe",
    }
    ref, _ = api.create("remittance", "/v2_0/cashtransfer", transfer(**extra))
    result = api.wait("remittance", f"/v2_0/cashtransfer/{ref}")
    assert result["status"] == "SUCCESSFUL"
    for key, value in extra.items():
        assert result[key] == value


# --- the sandbox test numbers (§11.2), outcomes written out ----------------------------------

# RequestToPay / RequestToWithdraw / Deposit: final (status, reason code); "ongoing" stays
# PENDING; "delayed" is PENDING first and SUCCESSFUL later.
PAYER_NUMBERS = {
    "46733123450": ("FAILED", "INTERNAL_PROCESSING_ERROR"),  # PayerFailed
    "46733123451": ("FAILED", "APPROVAL_REJECTED"),  # PayerRejected
    "46733123452": ("FAILED", "EXPIRED"),  # PayerExpired
    "46733123453": ("PENDING", None),  # PayerOngoing
    "46733123454": ("DELAYED", None),  # PayerDelayed
    "46733123455": ("FAILED", "PAYER_NOT_FOUND"),
    "46733123456": ("FAILED", "PAYEE_NOT_ALLOWED_TO_RECEIVE"),
    "46733123457": ("FAILED", "NOT_ALLOWED"),  # PayerNotAllowed
    "46733123458": ("FAILED", "NOT_ALLOWED_TARGET_ENVIRONMENT"),
    "46733123459": ("FAILED", "INVALID_CALLBACK_URL_HOST"),
    "46733123460": ("FAILED", "INVALID_CURRENCY"),
    "46733123461": ("FAILED", "INTERNAL_PROCESSING_ERROR"),
    "46733123462": ("FAILED", "SERVICE_UNAVAILABLE"),
    "46733123463": ("FAILED", "COULD_NOT_PERFORM_TRANSACTION"),
    "46733123465": ("SUCCESSFUL", None),  # not in the table
}
# Transfer (payee column): disbursement transfer, remittance transfer, cash transfer.
PAYEE_NUMBERS = {
    "46733123450": ("FAILED", "INTERNAL_PROCESSING_ERROR"),  # PayeeFailed
    "46733123451": ("FAILED", "APPROVAL_REJECTED"),
    "46733123452": ("FAILED", "EXPIRED"),
    "46733123453": ("PENDING", None),
    "46733123454": ("DELAYED", None),
    "46733123455": ("FAILED", "NOT_ENOUGH_FUNDS"),  # PayeeNotEnoughFunds
    "46733123456": ("FAILED", "PAYER_LIMIT_REACHED"),  # PayeePayerLimitReached
    "46733123457": ("FAILED", "PAYEE_NOT_FOUND"),
    "46733123458": ("FAILED", "NOT_ALLOWED"),  # PayeeNotAllowed
    "46733123459": ("FAILED", "NOT_ALLOWED_TARGET_ENVIRONMENT"),
    "46733123460": ("FAILED", "INVALID_CALLBACK_URL_HOST"),
    "46733123461": ("FAILED", "INVALID_CURRENCY"),
    "46733123462": ("FAILED", "INTERNAL_PROCESSING_ERROR"),
    "46733123463": ("FAILED", "SERVICE_UNAVAILABLE"),
    "46733123464": ("SUCCESSFUL", None),  # 464 is a RequestToPay-only row
}
PAYER_FAMILY = [
    ("collection", "/v1_0/requesttopay", "/v1_0/requesttopay", rtp),
    ("collection", "/v1_0/requesttowithdraw", "/v1_0/requesttowithdraw", rtp),
    ("collection", "/v2_0/requesttowithdraw", "/v1_0/requesttowithdraw", rtp),
    ("disbursement", "/v1_0/deposit", "/v1_0/deposit", transfer),
    ("disbursement", "/v2_0/deposit", "/v1_0/deposit", transfer),
]
PAYEE_FAMILY = [
    ("disbursement", "/v1_0/transfer", "/v1_0/transfer", transfer),
    ("remittance", "/v1_0/transfer", "/v1_0/transfer", transfer),
    ("remittance", "/v2_0/cashtransfer", "/v2_0/cashtransfer", transfer),
]


def _check_number(api, sim, product, create, status, body, number, expected):
    sim.configure(delayed_seconds=0.3)
    ref, response = api.create(product, create, body(number))
    assert response.status_code == 202
    want, reason = expected
    if want in ("PENDING", "DELAYED"):
        time.sleep(0.1)
        first = api.get(product, f"{status}/{ref}").json()
        assert first["status"] == "PENDING" and "financialTransactionId" not in first
        if want == "PENDING":
            time.sleep(0.4)
            assert api.get(product, f"{status}/{ref}").json()["status"] == "PENDING"
            return
        want = "SUCCESSFUL"
    result = api.wait(product, f"{status}/{ref}")
    assert result["status"] == want
    if reason is None:
        assert "reason" not in result and result["financialTransactionId"]
    else:
        assert "financialTransactionId" not in result
        got = result["reason"]
        code = got if isinstance(got, str) else got["code"]  # cash transfer: a string
        assert code == reason


@pytest.mark.parametrize(("number", "expected"), PAYER_NUMBERS.items())
@pytest.mark.parametrize(("product", "create", "status", "body"), PAYER_FAMILY)
def test_payer_test_numbers(api, sim, product, create, status, body, number, expected):
    _check_number(api, sim, product, create, status, body, number, expected)


@pytest.mark.parametrize(("number", "expected"), PAYEE_NUMBERS.items())
@pytest.mark.parametrize(("product", "create", "status", "body"), PAYEE_FAMILY)
def test_payee_test_numbers(api, sim, product, create, status, body, number, expected):
    _check_number(api, sim, product, create, status, body, number, expected)


def test_464_is_transfer_type_unknown_only_for_request_to_pay(api):
    ref, _ = api.create("collection", "/v1_0/requesttopay", rtp("46733123464"))
    assert api.wait("collection", f"/v1_0/requesttopay/{ref}")["reason"]["code"] == (
        "TRANSFERTYPE_UNKNOWN"
    )
    ref, _ = api.create("collection", "/v1_0/requesttowithdraw", rtp("46733123464"))
    assert api.wait("collection", f"/v1_0/requesttowithdraw/{ref}")["status"] == "SUCCESSFUL"


REFUND_SCENARIOS = {
    "1": ("FAILED", "RESOURCE_NOT_FOUND"),
    "2": ("FAILED", "INTERNAL_PROCESSING_ERROR"),
    "3": ("FAILED", "APPROVAL_REJECTED"),
    "4": ("FAILED", "EXPIRED"),
    "5": ("PENDING", None),
    "6": ("DELAYED", None),
    "7": ("FAILED", "NOT_ALLOWED"),
    "8": ("FAILED", "NOT_ALLOWED_TARGET_ENVIRONMENT"),
    "9": ("FAILED", "INVALID_CALLBACK_URL_HOST"),
    "10": ("FAILED", "INVALID_CURRENCY"),
    "11": ("FAILED", "INTERNAL_PROCESSING_ERROR"),
    "12": ("FAILED", "SERVICE_UNAVAILABLE"),
    "13": ("FAILED", "COULD_NOT_PERFORM_TRANSACTION"),
}


@pytest.mark.parametrize(("scenario", "expected"), REFUND_SCENARIOS.items())
def test_refund_scenarios_by_reference_id_to_refund(api, sim, scenario, expected):
    def body(_number: str) -> dict:
        return {
            "amount": "5",
            "currency": "EUR",
            "externalId": "r",
            "referenceIdToRefund": scenario,
        }

    _check_number(api, sim, "disbursement", "/v2_0/refund", "/v1_0/refund", body, "", expected)


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("5", ("FAILED", "PAYEE_NOT_FOUND")),
        ("6", ("FAILED", "PAYEE_NOT_ALLOWED_TO_RECEIVE")),
        ("2", ("FAILED", "INTERNAL_PROCESSING_ERROR")),
        ("13", ("FAILED", "COULD_NOT_PERFORM_TRANSACTION")),
    ],
)
def test_cash_transfer_scenarios_by_external_id(api, sim, scenario, expected):
    def body(_number: str) -> dict:
        return transfer(externalId=scenario)

    _check_number(
        api, sim, "remittance", "/v2_0/cashtransfer", "/v2_0/cashtransfer", body, "", expected
    )


@pytest.mark.parametrize("product", ["collection", "disbursement", "remittance"])
@pytest.mark.parametrize(
    ("holder_type", "holder", "status", "expected"),
    [
        ("msisdn", "46733123450", 200, {"result": False}),  # NotFound
        ("msisdn", "46733123451", 200, {"result": False}),  # NotActive
        ("msisdn", "46733123452", 500, "NOT_ALLOWED"),
        ("msisdn", "46733123453", 500, "NOT_ALLOWED_TARGET_ENVIRONMENT"),
        ("msisdn", "46733123454", 500, "INTERNAL_PROCESSING_ERROR"),
        ("msisdn", "46733123455", 503, "SERVICE_UNAVAILABLE"),
        ("msisdn", "256772123401", 200, {"result": True}),
        ("email", "notfound@email.com", 200, {"result": False}),
        ("email", "notactive@email.com", 200, {"result": False}),
        ("email", "notallowed@email.com", 500, "NOT_ALLOWED"),
        ("email", "notallowedtargetenvironment@email.com", 500, "NOT_ALLOWED_TARGET_ENVIRONMENT"),
        ("email", "internalprocessingerror@email.com", 500, "INTERNAL_PROCESSING_ERROR"),
        ("email", "serviceunavailable@email.com", 503, "SERVICE_UNAVAILABLE"),
        ("email", "someone@email.com", 200, {"result": True}),
        ("msisdn", "abc", 400, "BAD_REQUEST"),
        ("phone", "256772123401", 400, "BAD_REQUEST"),
    ],
)
def test_account_holder_active(api, product, holder_type, holder, status, expected):
    response = api.get(product, f"/v1_0/accountholder/{holder_type}/{holder}/active")
    assert response.status_code == status
    if isinstance(expected, dict):
        assert response.json() == expected
    else:
        assert response.json()["code"] == expected


def test_an_inactive_wallet_is_not_active_and_cannot_pay(api, sim):
    sim.set_wallet("256772000009", active=False)
    response = api.get("collection", "/v1_0/accountholder/msisdn/256772000009/active")
    assert response.json() == {"result": False}
    ref, _ = api.create("collection", "/v1_0/requesttopay", rtp("256772000009"))
    assert api.wait("collection", f"/v1_0/requesttopay/{ref}")["reason"]["code"] == (
        "PAYER_NOT_FOUND"
    )


@pytest.mark.parametrize(
    "path",
    [
        "/v1_0/accountholder/MSISDN/256772123401/basicuserinfo",
        "/v1_0/accountholder/msisdn/256772123401/basicuserinfo",
    ],
)
@pytest.mark.parametrize("product", ["collection", "disbursement", "remittance"])
def test_basic_user_info_on_both_paths(api, sim, product, path):
    sim.set_wallet("256772123401", given_name="Amara", family_name="Okello")
    response = api.get(product, path)
    assert response.status_code == 200
    data = response.json()
    assert (data["given_name"], data["family_name"], data["status"]) == (
        "Amara",
        "Okello",
        "ACTIVE",
    )
    assert set(data) == {"given_name", "family_name", "birthdate", "locale", "gender", "status"}
    missing = api.get(product, "/v1_0/accountholder/msisdn/46733123450/basicuserinfo")
    assert missing.status_code == 404
    assert missing.json()["code"] == "RESOURCE_NOT_FOUND"


# --- observed sandbox profile (§11.3) --------------------------------------------------------


def test_observed_profile_answers_at_once_and_454_goes_created_then_successful(api, sim):
    sim.configure(profile="observed", completion_seconds=5, delayed_seconds=0.4)
    refs = {}
    for number in (
        "46733123450",
        "46733123451",
        "46733123452",
        "46733123453",
        "46733123454",
        "256772000001",
    ):
        refs[number], response = api.create("collection", "/v1_0/requesttopay", rtp(number))
        assert response.status_code == 202

    def now(number: str) -> dict:
        return api.get("collection", f"/v1_0/requesttopay/{refs[number]}").json()

    # Failures and ordinary numbers are final on the very first read (no completion delay).
    for number, reason in (
        ("46733123450", "INTERNAL_PROCESSING_ERROR"),
        ("46733123451", "APPROVAL_REJECTED"),
        ("46733123452", "EXPIRED"),
    ):
        assert (now(number)["status"], now(number)["reason"]["code"]) == ("FAILED", reason)
    assert now("256772000001")["status"] == "SUCCESSFUL"
    assert now("46733123453")["status"] == "PENDING"
    assert now("46733123454")["status"] == "CREATED"
    time.sleep(0.6)
    assert now("46733123454")["status"] == "SUCCESSFUL"
    assert now("46733123453")["status"] == "PENDING"  # sticks


def test_observed_profile_reports_short_payer_funds_as_internal_processing_error(api, sim):
    sim.set_wallet("256772000002", balance="10")
    ref, _ = api.create("collection", "/v1_0/requesttopay", rtp("256772000002", amount="11"))
    assert api.wait("collection", f"/v1_0/requesttopay/{ref}")["reason"]["code"] == (
        "NOT_ENOUGH_FUNDS"
    )
    sim.configure(profile="observed")
    ref, _ = api.create("collection", "/v1_0/requesttopay", rtp("256772000002", amount="11"))
    assert api.wait("collection", f"/v1_0/requesttopay/{ref}")["reason"]["code"] == (
        "INTERNAL_PROCESSING_ERROR"
    )


# --- money: wallets, limits, floats, refunds --------------------------------------------------


def test_collections_move_money_from_the_payer_into_the_collection_float(api, sim):
    sim.set_wallet("256772000003", balance="1000")
    before = api.get("collection", "/v1_0/account/balance", env="mtnuganda").json()
    assert before == {"availableBalance": "0", "currency": "UGX"}
    ref, _ = api.create(
        "collection", "/v1_0/requesttopay", rtp("256772000003", "400", "UGX"), env="mtnuganda"
    )
    assert api.wait("collection", f"/v1_0/requesttopay/{ref}", env="mtnuganda")["status"] == (
        "SUCCESSFUL"
    )
    after = api.get("collection", "/v1_0/account/balance/UGX", env="mtnuganda").json()
    assert after == {"availableBalance": "400", "currency": "UGX"}
    assert sim.wallet("256772000003")["balance"] == 600
    # The float of another environment did not move; a currency not of the environment fails.
    assert api.get("collection", "/v1_0/account/balance").json() == {
        "availableBalance": "0.00",
        "currency": "EUR",
    }
    wrong = api.get("collection", "/v1_0/account/balance/EUR", env="mtnuganda")
    assert wrong.status_code == 500 and wrong.json()["code"] == "INVALID_CURRENCY"


def test_payouts_draw_on_their_float_and_fail_when_it_is_short(api, sim):
    sim.set_balance("disbursement", "mtnghana", "100.50")
    ref, _ = api.create(
        "disbursement", "/v1_0/transfer", transfer(amount="60", currency="GHS"), env="mtnghana"
    )
    assert api.wait("disbursement", f"/v1_0/transfer/{ref}", env="mtnghana")["status"] == (
        "SUCCESSFUL"
    )
    balance = api.get("disbursement", "/v1_0/account/balance", env="mtnghana").json()
    assert balance == {"availableBalance": "40.50", "currency": "GHS"}
    ref, _ = api.create(
        "disbursement", "/v2_0/deposit", transfer(amount="41", currency="GHS"), env="mtnghana"
    )
    result = api.wait("disbursement", f"/v1_0/deposit/{ref}", env="mtnghana")
    assert (result["status"], result["reason"]["code"]) == ("FAILED", "NOT_ENOUGH_FUNDS")
    assert sim.balance("disbursement", "mtnghana") == pytest.approx(40.5)
    # Remittance has its own float.
    sim.set_balance("remittance", "mtnghana", "5")
    ref, _ = api.create(
        "remittance", "/v1_0/transfer", transfer(amount="6", currency="GHS"), env="mtnghana"
    )
    assert (
        api.wait("remittance", f"/v1_0/transfer/{ref}", env="mtnghana")["reason"]["code"]
        == "NOT_ENOUGH_FUNDS"
    )


def test_daily_limits_of_payer_and_payee(api, sim):
    sim.set_wallet("256772000004", balance="1000", daily_limit="150")
    first, _ = api.create("collection", "/v1_0/requesttopay", rtp("256772000004", "100"))
    assert api.wait("collection", f"/v1_0/requesttopay/{first}")["status"] == "SUCCESSFUL"
    second, _ = api.create("collection", "/v1_0/requesttopay", rtp("256772000004", "100"))
    result = api.wait("collection", f"/v1_0/requesttopay/{second}")
    assert (result["status"], result["reason"]["code"]) == ("FAILED", "PAYER_LIMIT_REACHED")

    sim.set_wallet("256772000005", receive_limit="50")
    ok, _ = api.create("disbursement", "/v1_0/transfer", transfer("256772000005", "50"))
    assert api.wait("disbursement", f"/v1_0/transfer/{ok}")["status"] == "SUCCESSFUL"
    over, _ = api.create("disbursement", "/v1_0/transfer", transfer("256772000005", "1"))
    assert api.wait("disbursement", f"/v1_0/transfer/{over}")["reason"]["code"] == (
        "PAYEE_NOT_ALLOWED_TO_RECEIVE"
    )


def test_the_wallet_daily_limit_knob_applies_to_new_wallets(api, sim):
    sim.configure(wallet_daily_limit="10")
    ref, _ = api.create("collection", "/v1_0/requesttopay", rtp("256772000006", "11"))
    assert api.wait("collection", f"/v1_0/requesttopay/{ref}")["reason"]["code"] == (
        "PAYER_LIMIT_REACHED"
    )


def test_refunds_need_a_successful_original_and_at_most_its_amount(api, sim):
    original, _ = api.create("collection", "/v1_0/requesttopay", rtp(amount="30"))
    api.wait("collection", f"/v1_0/requesttopay/{original}")
    failed, _ = api.create("collection", "/v1_0/requesttopay", rtp("46733123451", "30"))
    api.wait("collection", f"/v1_0/requesttopay/{failed}")
    float_before = sim.balance("disbursement", "sandbox")

    def refund(target: str, amount: str) -> dict:
        body = {"amount": amount, "currency": "EUR", "referenceIdToRefund": target}
        ref, response = api.create("disbursement", "/v2_0/refund", body)
        assert response.status_code == 202
        return api.wait("disbursement", f"/v1_0/refund/{ref}")

    assert refund(original, "20")["status"] == "SUCCESSFUL"
    assert refund(original, "11")["reason"]["code"] == "NOT_ALLOWED"  # 20 + 11 > 30
    assert refund(original, "10")["status"] == "SUCCESSFUL"
    assert refund(failed, "1")["reason"]["code"] == "NOT_ALLOWED"
    assert refund(str(uuid.uuid4()), "1")["reason"]["code"] == "RESOURCE_NOT_FOUND"
    assert sim.balance("disbursement", "sandbox") == float_before - 30
    _, bad = api.create(
        "disbursement",
        "/v1_0/refund",
        {"amount": "1", "currency": "EUR", "referenceIdToRefund": "x"},
    )
    assert bad.status_code == 400


def test_complete_by_hand_finishes_an_ongoing_transaction_and_calls_back(api, sim, receiver):
    ref = str(uuid.uuid4())
    api.create(
        "collection", "/v1_0/requesttopay", rtp("46733123453"), ref=ref, callback=receiver.url(ref)
    )
    time.sleep(0.1)
    assert receiver.received == []
    done = sim.complete(ref, "FAILED", "APPROVAL_REJECTED")
    assert done["status"] == "FAILED" and done["reason"] == "APPROVAL_REJECTED"
    [(_m, _p, raw)] = receiver.wait(1)
    assert httpx.Response(200, content=raw).json()["reason"]["code"] == "APPROVAL_REJECTED"
    with pytest.raises(ValueError):
        sim.complete(ref)
    # Over the control API too.
    other, _ = api.create("collection", "/v1_0/requesttopay", rtp("46733123453"))
    response = httpx.post(
        f"{sim.base_url}/_sim/complete", json={"referenceId": other, "status": "SUCCESSFUL"}
    )
    assert response.status_code == 200 and response.json()["status"] == "SUCCESSFUL"
    assert api.get("collection", f"/v1_0/requesttopay/{other}").json()["status"] == "SUCCESSFUL"


# --- delivery notification (§4) ---------------------------------------------------------------


def test_delivery_notification_rules(api, sim):
    def notify(ref: str, message: str = "Thanks for paying", **headers: str) -> httpx.Response:
        return api.http.post(
            f"/collection/v1_0/requesttopay/{ref}/deliverynotification",
            headers=api.headers("collection", notificationMessage=message, **headers),
            json={"notificationMessage": message},
        )

    assert notify(str(uuid.uuid4())).status_code == 404
    pending, _ = api.create("collection", "/v1_0/requesttopay", rtp("46733123453"))
    assert notify(pending).status_code == 409
    ref, _ = api.create("collection", "/v1_0/requesttopay", rtp())
    api.wait("collection", f"/v1_0/requesttopay/{ref}")
    assert notify(ref, "x" * 161).status_code == 400
    first = notify(ref)
    assert (first.status_code, first.content) == (200, b"")
    assert notify(ref).status_code == 429
    late, _ = api.create("collection", "/v1_0/requesttopay", rtp())
    api.wait("collection", f"/v1_0/requesttopay/{late}")
    sim.configure(notification_window_seconds=0)
    time.sleep(0.01)
    assert notify(late).status_code == 410


# --- fault knobs ------------------------------------------------------------------------------


def test_lost_callbacks_never_arrive_but_the_status_is_readable(api, sim, receiver):
    sim.configure(lost_callbacks=1.0)
    ref = str(uuid.uuid4())
    api.create("collection", "/v1_0/requesttopay", rtp(), ref=ref, callback=receiver.url(ref))
    assert api.wait("collection", f"/v1_0/requesttopay/{ref}")["status"] == "SUCCESSFUL"
    time.sleep(0.2)
    assert receiver.received == []
    assert [c.reference_id for c in sim.callbacks_lost] == [ref]


def test_duplicated_callbacks_arrive_twice(api, sim, receiver):
    sim.configure(duplicate_callbacks=1.0)
    ref = str(uuid.uuid4())
    api.create("disbursement", "/v1_0/transfer", transfer(), ref=ref, callback=receiver.url(ref))
    received = receiver.wait(2)
    assert received[0] == received[1]
    time.sleep(0.2)
    assert len(receiver.received) == 2


def test_late_callbacks_arrive_after_the_status_is_final(api, sim, receiver):
    sim.configure(late_callback_seconds=0.6)
    ref = str(uuid.uuid4())
    api.create("collection", "/v1_0/requesttopay", rtp(), ref=ref, callback=receiver.url(ref))
    assert api.wait("collection", f"/v1_0/requesttopay/{ref}")["status"] == "SUCCESSFUL"
    time.sleep(0.2)
    assert receiver.received == []
    assert len(receiver.wait(1, timeout=3)) == 1


def test_reordered_callbacks_arrive_newest_first(api, sim, receiver):
    sim.configure(reorder_callbacks=True)
    first = str(uuid.uuid4())
    api.create("collection", "/v1_0/requesttopay", rtp(), ref=first, callback=receiver.url(first))
    api.wait("collection", f"/v1_0/requesttopay/{first}")
    second = str(uuid.uuid4())
    api.create("collection", "/v1_0/requesttopay", rtp(), ref=second, callback=receiver.url(second))
    received = receiver.wait(2)
    assert [path.rsplit("/", 1)[1] for _m, path, _b in received] == [second, first]


def test_a_held_callback_is_released_when_no_other_comes(api, sim, receiver):
    sim.configure(reorder_callbacks=True, reorder_hold_seconds=0.3)
    ref = str(uuid.uuid4())
    api.create("collection", "/v1_0/requesttopay", rtp(), ref=ref, callback=receiver.url(ref))
    assert len(receiver.wait(1, timeout=3)) == 1


def test_callback_retries_follow_the_schedule(api, sim):
    failing = CallbackReceiver(statuses=[500, 502])
    try:
        sim.configure(callback_retry_schedule=[0.05, 0.05, 0.05])
        ref = str(uuid.uuid4())
        api.create("collection", "/v1_0/requesttopay", rtp(), ref=ref, callback=failing.url(ref))
        assert len(failing.wait(3)) == 3
        time.sleep(0.2)
        assert len(failing.received) == 3  # stops after the first 2xx
        attempts = [(d["attempt"], d["status"]) for d in sim.callbacks_sent]
        assert attempts == [(1, 500), (2, 502), (3, 200)]
    finally:
        failing.stop()


def test_without_retries_a_failed_callback_is_sent_once(api, sim):
    failing = CallbackReceiver(statuses=[500])
    try:
        ref = str(uuid.uuid4())
        api.create("collection", "/v1_0/requesttopay", rtp(), ref=ref, callback=failing.url(ref))
        failing.wait(1)
        time.sleep(0.3)
        assert len(failing.received) == 1
    finally:
        failing.stop()


def test_queue_mode_keeps_callbacks_for_the_test(api, sim, receiver):
    sim.configure(callback_mode="queue")
    ref = str(uuid.uuid4())
    api.create("disbursement", "/v1_0/deposit", transfer(), ref=ref, callback=receiver.url(ref))
    [callback] = sim.wait_callbacks(1)
    assert callback.method == "POST" and callback.url == receiver.url(ref)
    assert callback.reference_id == ref
    assert callback.json() == api.get("disbursement", f"/v1_0/deposit/{ref}").json()
    time.sleep(0.1)
    assert receiver.received == []
    assert sim.callbacks_take() == [callback] and sim.callbacks_queued() == []


def test_an_error_burst_answers_5xx_then_recovers_and_creates_nothing(api, sim):
    token = api.headers("collection")  # get the token before the burst
    sim.configure(error_burst=2)
    statuses = []
    for _ in range(2):
        ref = str(uuid.uuid4())
        response = api.http.post(
            "/collection/v1_0/requesttopay", headers={**token, "X-Reference-Id": ref}, json=rtp()
        )
        statuses.append(response.status_code)
        assert response.json()["code"] == "SERVICE_UNAVAILABLE"
    assert sorted(statuses) == [500, 503]
    assert sim.transactions() == []
    _, ok = api.create("collection", "/v1_0/requesttopay", rtp())
    assert ok.status_code == 202


def test_accept_then_error_creates_it_although_the_answer_is_503(api, sim):
    sim.configure(accept_then_error=1)
    ref, response = api.create("collection", "/v1_0/requesttopay", rtp())
    assert response.status_code == 503
    _, retry = api.create("collection", "/v1_0/requesttopay", rtp(), ref=ref)
    assert retry.status_code == 409
    assert api.wait("collection", f"/v1_0/requesttopay/{ref}")["status"] == "SUCCESSFUL"


def test_not_found_just_after_the_202(api, sim):
    sim.configure(not_found_after_accept_seconds=0.4)
    ref, _ = api.create("collection", "/v1_0/requesttopay", rtp())
    assert api.get("collection", f"/v1_0/requesttopay/{ref}").status_code == 404
    time.sleep(0.45)
    assert api.get("collection", f"/v1_0/requesttopay/{ref}").status_code == 200


def test_slow_answers(api, sim):
    api.headers("collection")
    sim.configure(slow_seconds=0.3)
    started = time.monotonic()
    api.get("collection", "/v1_0/account/balance")
    assert time.monotonic() - started >= 0.3


def test_completion_jitter_spreads_completion_delays(api, sim):
    sim.configure(seed=3, completion_seconds=0.2, completion_jitter_seconds=0.6)
    refs = [api.create("collection", "/v1_0/requesttopay", rtp())[0] for _ in range(6)]
    delays = []
    for ref in refs:
        assert api.wait("collection", f"/v1_0/requesttopay/{ref}")["status"] == "SUCCESSFUL"
        txn = sim.transaction(ref)
        delays.append((txn["completed_at"] - txn["created_at"]).total_seconds())
    # each after completion_seconds plus at most the jitter (and the scheduler's slack) ...
    assert all(0.2 <= d <= 0.8 + 0.5 for d in delays), delays
    # ... and not all after the same delay
    assert max(delays) - min(delays) > 0.05, delays
    with pytest.raises(ValueError):
        sim.configure(completion_jitter_seconds=-1)


def test_the_seed_makes_ids_reproducible(sim, http):
    def run() -> tuple[str, str, str]:
        sim.reset()
        sim.configure(seed=42, completion_seconds=0)
        client = Api(sim, http)
        ref, _ = client.create("collection", "/v1_0/requesttopay", rtp())
        fin = client.wait("collection", f"/v1_0/requesttopay/{ref}")["financialTransactionId"]
        return client.user, client.key, fin

    assert run() == run()


def test_config_over_http_and_unknown_knobs(sim):
    response = httpx.post(f"{sim.base_url}/_sim/config", json={"completion_seconds": 1.5})
    assert response.status_code == 200 and response.json()["completion_seconds"] == 1.5
    assert httpx.get(f"{sim.base_url}/_sim/config").json()["completion_seconds"] == 1.5
    for bad in (
        {"nope": 1},
        {"callback_mode": "smoke"},
        {"lost_callbacks": 2},
        {"profile": "x"},
        {"error_burst": "3"},
    ):
        assert httpx.post(f"{sim.base_url}/_sim/config", json=bad).status_code == 400
    with pytest.raises(ValueError):
        sim.configure(nope=1)


def test_reset_forgets_everything(api, sim):
    _ref, _ = api.create("collection", "/v1_0/requesttopay", rtp())
    sim.configure(error_burst=5)
    sim.reset()
    assert sim.transactions() == [] and sim.config.error_burst == 0
    assert sim.api_users == {}
    refused = api.http.post(
        "/collection/token/",
        headers={"Ocp-Apim-Subscription-Key": KEYS["collection"], "Authorization": api.basic()},
    )
    assert refused.status_code == 401


def test_concurrent_creates_are_all_kept(api, sim):
    headers = api.headers("collection")
    refs: list[str] = []
    errors: list[int] = []

    def worker() -> None:
        with httpx.Client(base_url=sim.base_url) as http:
            for _ in range(15):
                ref = str(uuid.uuid4())
                response = http.post(
                    "/collection/v1_0/requesttopay",
                    headers={**headers, "X-Reference-Id": ref},
                    json=rtp(),
                )
                (refs if response.status_code == 202 else errors).append(ref)  # type: ignore[arg-type]

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({t["referenceId"] for t in sim.transactions()}) == 90


# --- statement export -------------------------------------------------------------------------


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_statement_csv_lines_signs_and_running_balance(api, sim):
    sim.set_wallet("256772000007", balance="10000")
    env = "mtnuganda"
    paid, _ = api.create(
        "collection",
        "/v1_0/requesttopay",
        rtp("256772000007", "5000", "UGX", externalId="dep-1"),
        env=env,
    )
    api.wait("collection", f"/v1_0/requesttopay/{paid}", env=env)
    lost, _ = api.create(
        "collection", "/v1_0/requesttopay", rtp("46733123451", "700", "UGX"), env=env
    )
    api.wait("collection", f"/v1_0/requesttopay/{lost}", env=env)
    withdrawn, _ = api.create(
        "collection", "/v2_0/requesttowithdraw", rtp("256772000007", "1000", "UGX"), env=env
    )
    api.wait("collection", f"/v1_0/requesttowithdraw/{withdrawn}", env=env)
    pending, _ = api.create(
        "collection", "/v1_0/requesttopay", rtp("46733123453", "10", "UGX"), env=env
    )

    text = sim.statement_csv("collection", env)
    assert text.splitlines()[0] == (
        "Id,External Transaction Id,Reference Id,Date,Status,Type,Amount,Fee,Currency,Balance"
    )
    rows = _rows(text)
    by_ref = {r["Reference Id"]: r for r in rows}
    assert len(rows) == 4
    assert by_ref[paid] | {"Date": ""} == {
        "Id": api.get("collection", f"/v1_0/requesttopay/{paid}", env=env).json()[
            "financialTransactionId"
        ],
        "External Transaction Id": "dep-1",
        "Reference Id": paid,
        "Date": "",
        "Status": "SUCCESSFUL",
        "Type": "PAYMENT",
        "Amount": "5000",
        "Fee": "0",
        "Currency": "UGX",
        "Balance": "5000",
    }
    assert (by_ref[lost]["Status"], by_ref[lost]["Amount"], by_ref[lost]["Balance"]) == (
        "FAILED",
        "700",
        "5000",
    )
    assert (by_ref[withdrawn]["Type"], by_ref[withdrawn]["Balance"]) == ("WITHDRAWAL", "6000")
    assert by_ref[pending]["Status"] == "PENDING"
    parsed = datetime.strptime(by_ref[paid]["Date"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs((parsed - datetime.now(UTC)).total_seconds()) < 60

    # Payouts are negative from the float's point of view.
    sim.set_balance("disbursement", "sandbox", "1000")
    out, _ = api.create("disbursement", "/v1_0/transfer", transfer(amount="12.5"))
    api.wait("disbursement", f"/v1_0/transfer/{out}")
    [line] = _rows(sim.statement_csv("disbursement", "sandbox"))
    assert (line["Type"], line["Amount"], line["Fee"], line["Balance"]) == (
        "TRANSFER",
        "-12.50",
        "0.00",
        "987.50",
    )
    # The HTTP export is the same document.
    over_http = httpx.get(
        f"{sim.base_url}/_sim/statement",
        params={"product": "disbursement", "environment": "sandbox"},
    )
    assert over_http.status_code == 200 and over_http.headers["content-type"].startswith("text/csv")
    assert over_http.text == sim.statement_csv("disbursement", "sandbox")


def test_statement_period_filter(api, sim):
    ref, _ = api.create("collection", "/v1_0/requesttopay", rtp())
    api.wait("collection", f"/v1_0/requesttopay/{ref}")
    now = datetime.now(UTC)
    assert len(_rows(sim.statement_csv("collection", "sandbox", now - timedelta(hours=1)))) == 1
    assert _rows(sim.statement_csv("collection", "sandbox", now + timedelta(seconds=5))) == []
    assert _rows(sim.statement_csv("collection", "sandbox", None, now - timedelta(hours=1))) == []
    response = httpx.get(
        f"{sim.base_url}/_sim/statement",
        params={
            "product": "collection",
            "environment": "sandbox",
            "from": (now - timedelta(hours=1)).isoformat(),
            "to": (now + timedelta(hours=1)).isoformat(),
        },
    )
    assert [r["Reference Id"] for r in _rows(response.text)] == [ref]


def test_statement_drift_ghosts_and_dropped_lines(api, sim):
    refs = []
    for amount in ("10", "20", "30"):
        ref, _ = api.create("collection", "/v1_0/requesttopay", rtp(amount=amount))
        api.wait("collection", f"/v1_0/requesttopay/{ref}")
        refs.append(ref)
    sim.drift_amount(refs[0], "11")
    sim.drop_from_statement(refs[1])
    ghost = sim.add_ghost("collection", "sandbox", "7", "EUR")
    rows = _rows(sim.statement_csv("collection", "sandbox"))
    by_ref = {r["Reference Id"]: r for r in rows}
    assert by_ref[refs[0]]["Amount"] == "11.00"  # drifted
    assert refs[1] not in by_ref  # dropped
    assert by_ref[refs[2]]["Amount"] == "30.00"
    [ghost_row] = [r for r in rows if r["Id"] == ghost]
    assert (ghost_row["Status"], ghost_row["Type"], ghost_row["Amount"]) == (
        "SUCCESSFUL",
        "PAYMENT",
        "7.00",
    )
    assert ghost_row["Reference Id"] not in refs
    # The running balance is MoMo's real one: 10 + 20 + 30 + 7.
    assert rows[-1]["Balance"] == "67.00"
    assert sim.balance("collection", "sandbox") == 67
    out = sim.add_ghost("disbursement", "sandbox", "5", "EUR")
    [out_row] = _rows(sim.statement_csv("disbursement", "sandbox"))
    assert (out_row["Id"], out_row["Amount"], out_row["Type"]) == (out, "-5.00", "TRANSFER")


# --- the `momo` harness: settings, the real client, callbacks through Django ------------------


@pytest.mark.django_db
def test_the_harness_wires_the_client_and_delivers_callbacks_through_django(momo, client):
    from django.conf import settings

    from lightway.application.momo.gateway import callback_url, momo_gateway, momo_target
    from lightway.data.intake.models import IntakeRejection
    from lightway.data.momo.models import MomoCallback
    from lightway.integration.momo.port import Operation, Party

    assert settings.MOMO_BASE_URL == momo.sim.base_url
    assert (settings.MOMO_API_USER, settings.MOMO_API_KEY) == (momo.api_user, momo.api_key)
    assert momo.sim.config.callback_mode == "queue"
    momo.configure(completion_seconds=0)
    ref = uuid.uuid4()
    momo_gateway().create(
        Operation.DEPOSIT,
        reference_id=ref,
        body={
            "amount": "5",
            "currency": "EUR",
            "externalId": "harness",
            "payee": Party("256772000001").as_json(),
        },
        target=momo_target("EUR"),
        callback_url=callback_url(ref),
    )
    responses = momo.deliver_callbacks(client, wait_for=1)
    assert [r.status_code for r in responses] == [200]
    assert momo.sim.callbacks_queued() == []  # delivered ones are gone
    # The platform has no request with that reference: the callback reached the view and
    # was counted as a refused delivery (issue 11 finding 6), nothing of it stored.
    assert not MomoCallback.objects.filter(reference_id=str(ref)).exists()
    refused = IntakeRejection.objects.get(source="momo", reason="unknown_reference")
    assert refused.count == 1 and refused.bytes_total > 0


def test_the_control_api(api, sim, http):
    sim.configure(callback_mode="queue")
    ref = str(uuid.uuid4())
    api.create(
        "collection", "/v1_0/requesttopay", rtp(), ref=ref, callback=f"http://127.0.0.1/{ref}"
    )
    sim.wait_callbacks(1)
    [row] = http.get("/_sim/transactions").json()
    assert (row["referenceId"], row["operation"], row["status"]) == (
        ref,
        "requesttopay",
        "SUCCESSFUL",
    )
    callbacks = http.get("/_sim/callbacks").json()
    assert [(c["reference_id"], c["method"]) for c in callbacks["queued"]] == [(ref, "PUT")]
    assert json.loads(callbacks["queued"][0]["body"])["status"] == "SUCCESSFUL"
    balance = {"product": "remittance", "environment": "mtnzambia", "amount": "77.5"}
    assert http.post("/_sim/balance", json=balance).status_code == 200
    assert api.get("remittance", "/v1_0/account/balance", env="mtnzambia").json() == {
        "availableBalance": "77.50",
        "currency": "ZMW",
    }
    assert http.post("/_sim/balance", json={**balance, "product": "x"}).status_code == 400
    assert http.post("/_sim/complete", json={"referenceId": "nope"}).status_code == 400
    assert http.post("/_sim/reset").status_code == 200
    assert http.get("/_sim/transactions").json() == []
    assert http.get("/_sim/nothing").status_code == 404


def test_the_drift_knobs_over_http(api, sim, http):
    refs = []
    for amount in ("10", "20"):
        ref, _ = api.create("collection", "/v1_0/requesttopay", rtp(amount=amount))
        api.wait("collection", f"/v1_0/requesttopay/{ref}")
        refs.append(ref)
    assert http.post("/_sim/drift", json={"referenceId": refs[0], "amount": "11"}).json() == {
        "ok": True
    }
    assert http.post("/_sim/drop", json={"referenceId": refs[1]}).json() == {"ok": True}
    response = http.post(
        "/_sim/ghost",
        json={"product": "collection", "environment": "sandbox", "amount": 7, "currency": "EUR"},
    )
    assert response.status_code == 200
    ghost = response.json()["financialTransactionId"]
    rows = _rows(sim.statement_csv("collection", "sandbox"))
    by_ref = {r["Reference Id"]: r for r in rows}
    assert by_ref[refs[0]]["Amount"] == "11.00"
    assert refs[1] not in by_ref
    [ghost_row] = [r for r in rows if r["Id"] == ghost]
    assert (ghost_row["Status"], ghost_row["Amount"]) == ("SUCCESSFUL", "7.00")


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/_sim/drift", {"amount": "1"}, "referenceId is required"),
        ("/_sim/drift", {"referenceId": UNKNOWN, "amount": "1"}, "no transaction"),
        ("/_sim/drift", {"referenceId": "KNOWN"}, "amount is required"),
        ("/_sim/drift", {"referenceId": "KNOWN", "amount": "ten"}, "amount must be a decimal"),
        ("/_sim/drift", {"referenceId": "KNOWN", "amount": True}, "amount must be a decimal"),
        ("/_sim/drop", {}, "referenceId is required"),
        ("/_sim/drop", {"referenceId": 5}, "referenceId is required"),
        ("/_sim/drop", {"referenceId": UNKNOWN}, "no transaction"),
        ("/_sim/ghost", {"environment": "sandbox", "amount": "1", "currency": "EUR"}, "product"),
        (
            "/_sim/ghost",
            {"product": "float", "environment": "sandbox", "amount": "1", "currency": "EUR"},
            "product must be one of",
        ),
        (
            "/_sim/ghost",
            {"product": "collection", "environment": "mars", "amount": "1", "currency": "EUR"},
            "unknown target environment",
        ),
        (
            "/_sim/ghost",
            {"product": "collection", "environment": "sandbox", "amount": "1", "currency": "UGX"},
            "sandbox uses EUR",
        ),
        (
            "/_sim/ghost",
            {"product": "collection", "environment": "sandbox", "amount": "x", "currency": "EUR"},
            "amount must be a decimal",
        ),
        (
            "/_sim/ghost",
            {"product": "collection", "environment": "sandbox", "amount": "0", "currency": "EUR"},
            "must not be 0",
        ),
        ("/_sim/ghost", [1, 2], "must be a JSON object"),
    ],
)
def test_the_drift_knobs_refuse_bad_input_with_400(api, sim, http, path, body, message):
    known, _ = api.create("collection", "/v1_0/requesttopay", rtp())
    api.wait("collection", f"/v1_0/requesttopay/{known}")
    if isinstance(body, dict) and body.get("referenceId") == "KNOWN":
        body = {**body, "referenceId": known}
    response = http.post(path, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "BAD_REQUEST"
    assert message in response.json()["message"]
    assert http.post(path, content=b"{not json").status_code == 400
    assert _rows(sim.statement_csv("collection", "sandbox"))[0]["Amount"] == "100.00"
    assert len(_rows(sim.statement_csv("collection", "sandbox"))) == 1  # nothing changed
