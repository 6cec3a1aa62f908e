"""The MoMo client against the MoMo simulator, over real HTTP (no database).

Covers every operation round trip, reference reuse on retry, the typed error mapping, every
shape of ``reason``, the token cache (caching, early renewal, expiry during a burst, one
renewal on a 401), the account-holder, basic-user-info, balance and delivery-notification
calls, TLS verification, the settings-built gateway and the ``lightway check`` MoMo check.
"""

from __future__ import annotations

import datetime as dt
import inspect
import ipaddress
import logging
import socket
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from prometheus_client import REGISTRY

from lightway.integration.momo.client import (
    InsecureMomoUrl,
    MomoClient,
    ProductCredentials,
    active_from_json,
    cashtransfer_body,
    clean_message,
    error_from_response,
    originating_country,
    refund_body,
    requesttopay_body,
    transfer_body,
)
from lightway.integration.momo.port import (
    MomoAuthError,
    MomoConfigError,
    MomoDuplicate,
    MomoNotFound,
    MomoRejected,
    MomoResult,
    MomoStatus,
    MomoTarget,
    MomoTransient,
    Operation,
    Party,
    Product,
)
from lightway.integration.momo.sim_tables import PAYEE_TABLE, PAYER_TABLE

OK_NUMBER = "256772123401"
EUR = "EUR"


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def sim(momo_simulator):
    momo_simulator.reset()
    momo_simulator.configure(completion_seconds=0.0, callback_mode="queue")
    yield momo_simulator
    momo_simulator.reset()


@pytest.fixture
def creds(sim):
    api_user, api_key = sim.provision(callback_host="127.0.0.1")
    return {
        product: ProductCredentials(api_user, api_key, sim.subscription_keys[product.value])
        for product in Product
    }


def make_client(sim, creds, **kwargs) -> MomoClient:
    kwargs.setdefault("timeout", 5.0)
    return MomoClient(base_url=sim.base_url, credentials=creds, **kwargs)


@pytest.fixture
def client(sim, creds):
    c = make_client(sim, creds)
    yield c
    c.close()


@pytest.fixture
def sandbox(sim) -> MomoTarget:
    return MomoTarget(base_url=sim.base_url, environment="sandbox")


@pytest.fixture
def uganda(sim) -> MomoTarget:
    return MomoTarget(base_url=sim.base_url, environment="mtnuganda")


def token_calls(sim, product: Product | None = None) -> int:
    return sum(
        1
        for method, path in list(sim.requests)
        if method == "POST"
        and path.endswith("/token/")
        and (product is None or path.startswith(f"/{product.value}/"))
    )


def paths(sim) -> list[str]:
    return [path for _method, path in list(sim.requests)]


def rtp(number: str = OK_NUMBER, amount: str = "10.00", currency: str = EUR) -> dict:
    return requesttopay_body(
        amount=amount,
        currency=currency,
        external_id="ext-1",
        payer=Party(number),
        payer_message="Deposit to LightWay",
        payee_note="Deposit",
    )


def payout(number: str = OK_NUMBER, amount: str = "5.00", currency: str = EUR) -> dict:
    return transfer_body(
        amount=amount,
        currency=currency,
        external_id="ext-2",
        payee=Party(number),
        payer_message="Payout",
        payee_note="From LightWay",
    )


def wait_terminal(client, operation, ref, target, timeout=5.0) -> MomoResult:
    deadline = time.monotonic() + timeout
    while True:
        result = client.status(operation, reference_id=ref, target=target)
        if result.terminal or time.monotonic() > deadline:
            return result
        time.sleep(0.02)


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


# --- every operation ------------------------------------------------------------------------


def test_request_to_pay_round_trip(client, sim, sandbox):
    ref = uuid.uuid4()
    assert (
        client.create(Operation.REQUEST_TO_PAY, reference_id=ref, body=rtp(), target=sandbox)
        is None
    )
    txn = sim.transaction(str(ref))
    assert txn["product"] == "collection" and txn["operation"] == "requesttopay"
    assert txn["party"] == {"partyIdType": "MSISDN", "partyId": OK_NUMBER}
    assert txn["environment"] == "sandbox" and txn["externalId"] == "ext-1"
    result = wait_terminal(client, Operation.REQUEST_TO_PAY, ref, sandbox)
    assert result.status == MomoStatus.SUCCESSFUL and result.successful and result.terminal
    assert result.amount == "10.00" and result.currency == EUR and result.external_id == "ext-1"
    assert result.financial_transaction_id == sim.transaction(str(ref))["financialTransactionId"]
    assert result.reason is None


def _bodies(client, sim, target, currency):
    """(operation, body) for every creating operation, in ``currency``."""
    paid = uuid.uuid4()  # a successful request-to-pay, for the refund
    client.create(
        Operation.REQUEST_TO_PAY,
        reference_id=paid,
        body=rtp(amount="100", currency=currency),
        target=target,
    )
    assert wait_terminal(client, Operation.REQUEST_TO_PAY, paid, target).successful
    return [
        (Operation.REQUEST_TO_WITHDRAW, rtp(amount="20", currency=currency)),
        (Operation.TRANSFER, payout(amount="30", currency=currency)),
        (Operation.DEPOSIT, payout(amount="40", currency=currency)),
        (
            Operation.REFUND,
            refund_body(
                amount="50",
                currency=currency,
                external_id="r-1",
                reference_id_to_refund=paid,
                payer_message="Refund",
                payee_note="Refund",
            ),
        ),
        (Operation.REMITTANCE_TRANSFER, payout(amount="60", currency=currency)),
        (
            Operation.CASH_TRANSFER,
            cashtransfer_body(
                amount="70",
                currency=currency,
                external_id="c-1",
                payee=Party(OK_NUMBER),
                originating_country="GB",
                original_amount="0.55",
                original_currency="GBP",
                payer_first_name="Jo",
                payer_surname="Bloggs",
            ),
        ),
    ]


@pytest.mark.parametrize("environment,currency", [("sandbox", "EUR"), ("mtnuganda", "UGX")])
def test_every_operation_round_trip(client, sim, environment, currency):
    target = MomoTarget(base_url=sim.base_url, environment=environment)
    for operation, body in _bodies(client, sim, target, currency):
        ref = uuid.uuid4()
        client.create(operation, reference_id=ref, body=body, target=target)
        txn = sim.transaction(str(ref))
        assert txn["operation"] == operation.value, operation
        assert txn["product"] == operation.product.value
        assert txn["environment"] == environment and txn["currency"] == currency
        result = wait_terminal(client, operation, ref, target)
        assert result.status == "SUCCESSFUL", (operation, result)
        assert result.amount == body["amount"]
        assert result.external_id == body["externalId"]
        assert result.financial_transaction_id
        if operation is Operation.CASH_TRANSFER:
            assert originating_country(result.raw) == "GB"
    ops = {(t["product"], t["operation"], t["version"]) for t in sim.transactions()}
    assert ("collection", "requesttowithdraw", "v2_0") in ops  # the spec's create paths
    assert ("disbursement", "deposit", "v2_0") in ops and ("disbursement", "refund", "v2_0") in ops
    assert ("remittance", "cashtransfer", "v2_0") in ops


def test_callback_url_is_sent_and_the_callback_parses_like_a_status_read(client, sim, sandbox):
    ref = uuid.uuid4()
    url = f"http://127.0.0.1/webhooks/momo/{ref}"
    client.create(
        Operation.TRANSFER, reference_id=ref, body=payout(), target=sandbox, callback_url=url
    )
    (callback,) = sim.wait_callbacks(1)
    assert callback.url == url and callback.method == Operation.TRANSFER.spec.callback_method
    from_callback = MomoResult.from_json(callback.json())
    from_status = client.status(Operation.TRANSFER, reference_id=ref, target=sandbox)
    assert from_callback.status == from_status.status == "SUCCESSFUL"
    assert from_callback.financial_transaction_id == from_status.financial_transaction_id
    with pytest.raises(ValueError):
        client.create(
            Operation.TRANSFER,
            reference_id=uuid.uuid4(),
            body=payout(),
            target=sandbox,
            callback_url=" ",
        )


def test_the_client_never_invents_a_reference(client, sim, sandbox):
    with pytest.raises(ValueError, match="version 4"):
        client.create(
            Operation.REQUEST_TO_PAY, reference_id=uuid.uuid1(), body=rtp(), target=sandbox
        )
    with pytest.raises(ValueError):
        client.create(Operation.REQUEST_TO_PAY, reference_id=None, body=rtp(), target=sandbox)  # type: ignore[arg-type]
    assert sim.transactions() == []


# --- reference reuse on retry ---------------------------------------------------------------


def test_retry_after_a_timeout_reuses_the_reference_and_gets_a_duplicate(sim, creds, sandbox):
    client = make_client(sim, creds, timeout=0.3)
    client.balance(Product.COLLECTION, target=sandbox)  # token cached before MoMo turns slow
    sim.configure(slow_seconds=0.8)
    ref = uuid.uuid4()
    body = rtp()
    with pytest.raises(MomoTransient) as timed_out:
        client.create(Operation.REQUEST_TO_PAY, reference_id=ref, body=body, target=sandbox)
    assert timed_out.value.code == "timeout" and timed_out.value.transient
    # MoMo got it anyway (it answered too late).
    sim.wait_status(str(ref), statuses=("PENDING", "CREATED", "SUCCESSFUL", "FAILED"))
    sim.configure(slow_seconds=0.0)
    with pytest.raises(MomoDuplicate) as duplicate:
        client.create(Operation.REQUEST_TO_PAY, reference_id=ref, body=body, target=sandbox)
    assert duplicate.value.code == "RESOURCE_ALREADY_EXIST" and duplicate.value.http_status == 409
    assert [t["referenceId"] for t in sim.transactions()] == [str(ref)]
    assert wait_terminal(client, Operation.REQUEST_TO_PAY, ref, sandbox).successful
    client.close()


def test_accepted_then_5xx_then_retry_is_a_duplicate(client, sim, sandbox):
    sim.configure(accept_then_error=1)
    ref = uuid.uuid4()
    with pytest.raises(MomoTransient) as first:
        client.create(Operation.TRANSFER, reference_id=ref, body=payout(), target=sandbox)
    assert first.value.http_status == 503
    with pytest.raises(MomoDuplicate):
        client.create(Operation.TRANSFER, reference_id=ref, body=payout(), target=sandbox)
    assert len(sim.transactions()) == 1


# --- typed errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", list(Product))
def test_a_wrong_subscription_key_is_a_config_error_for_that_product(sim, creds, sandbox, bad):
    broken = dict(creds)
    broken[bad] = ProductCredentials(creds[bad].api_user, creds[bad].api_key, "not-the-key")
    client = make_client(sim, broken)
    with pytest.raises(MomoConfigError) as exc:
        client.balance(bad, target=sandbox)
    assert exc.value.code == "INVALID_SUBSCRIPTION_KEY" and exc.value.http_status == 401
    assert f"MOMO_SUBSCRIPTION_KEY_{bad.value.upper()}" in str(exc.value)
    assert not exc.value.transient
    for other in Product:
        if other is not bad:
            assert client.balance(other, target=sandbox).currency == EUR
    client.close()


def test_wrong_api_key_is_an_auth_error(sim, creds, sandbox):
    wrong = {
        p: ProductCredentials(c.api_user, "0" * 32, c.subscription_key) for p, c in creds.items()
    }
    client = make_client(sim, wrong)
    with pytest.raises(MomoAuthError) as exc:
        client.create(
            Operation.REQUEST_TO_PAY, reference_id=uuid.uuid4(), body=rtp(), target=sandbox
        )
    assert exc.value.code == "login_failed" and exc.value.http_status == 401
    assert sim.transactions() == []


def test_unknown_target_environment_is_a_config_error(client, sim):
    target = MomoTarget(base_url=sim.base_url, environment="mtnatlantis")
    with pytest.raises(MomoConfigError) as exc:
        client.create(
            Operation.REQUEST_TO_PAY, reference_id=uuid.uuid4(), body=rtp(), target=target
        )
    assert exc.value.code == "NOT_ALLOWED_TARGET_ENVIRONMENT" and exc.value.http_status == 500


def test_a_callback_host_mismatch_is_a_config_error_and_creates_nothing(client, sim, sandbox):
    with pytest.raises(MomoConfigError) as exc:
        client.create(
            Operation.REQUEST_TO_PAY,
            reference_id=uuid.uuid4(),
            body=rtp(),
            target=sandbox,
            callback_url="https://elsewhere.example/webhooks/momo/x",
        )
    assert exc.value.code == "INVALID_CALLBACK_URL_HOST"
    assert sim.transactions() == []


def test_currency_not_of_the_environment_is_rejected_with_its_code(client, sim, sandbox):
    with pytest.raises(MomoRejected) as exc:
        client.create(
            Operation.REQUEST_TO_PAY,
            reference_id=uuid.uuid4(),
            body=rtp(currency="UGX"),
            target=sandbox,
        )
    assert exc.value.code == "INVALID_CURRENCY" and exc.value.http_status == 500
    assert not exc.value.transient


def test_a_malformed_request_is_rejected(client, sim, sandbox):
    body = rtp()
    body["payerMessage"] = "it's & more"  # bypassing clean_message: MoMo answers 400
    with pytest.raises(MomoRejected) as exc:
        client.create(
            Operation.REQUEST_TO_PAY, reference_id=uuid.uuid4(), body=body, target=sandbox
        )
    assert exc.value.http_status == 400 and exc.value.code == "BAD_REQUEST"


def test_unknown_reference_is_not_found(client, sandbox):
    with pytest.raises(MomoNotFound) as exc:
        client.status(Operation.REQUEST_TO_PAY, reference_id=uuid.uuid4(), target=sandbox)
    assert exc.value.code == "RESOURCE_NOT_FOUND" and exc.value.http_status == 404


def test_not_found_just_after_accept(client, sim, sandbox):
    sim.configure(not_found_after_accept_seconds=0.3)
    ref = uuid.uuid4()
    client.create(Operation.TRANSFER, reference_id=ref, body=payout(), target=sandbox)
    with pytest.raises(MomoNotFound):
        client.status(Operation.TRANSFER, reference_id=ref, target=sandbox)
    time.sleep(0.35)
    assert wait_terminal(client, Operation.TRANSFER, ref, sandbox).successful


def test_5xx_bursts_are_transient(client, sim, sandbox):
    client.balance(Product.DISBURSEMENT, target=sandbox)  # token first
    sim.configure(error_burst=2)  # 503, then 500 SERVICE_UNAVAILABLE
    statuses = []
    for _ in range(2):
        with pytest.raises(MomoTransient) as exc:
            client.create(
                Operation.TRANSFER, reference_id=uuid.uuid4(), body=payout(), target=sandbox
            )
        statuses.append(exc.value.http_status)
    assert sorted(statuses) == [500, 503]
    assert sim.transactions() == []
    client.create(Operation.TRANSFER, reference_id=uuid.uuid4(), body=payout(), target=sandbox)


def test_a_5xx_on_the_token_call_is_transient(client, sim, sandbox):
    sim.configure(error_burst=1)
    with pytest.raises(MomoTransient):
        client.balance(Product.COLLECTION, target=sandbox)
    assert client.balance(Product.COLLECTION, target=sandbox).currency == EUR


def test_connection_refused_is_transient(creds):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = MomoClient(base_url=f"http://127.0.0.1:{port}", credentials=creds, timeout=2)
    with pytest.raises(MomoTransient) as exc:
        client.balance(Product.COLLECTION, target=MomoTarget(f"http://127.0.0.1:{port}", "sandbox"))
    assert exc.value.code == "connection"


def _response(status: int, **kwargs) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("GET", "https://momo.test/x"), **kwargs)


@pytest.mark.parametrize(
    "status,kwargs,error,code",
    [
        (
            401,
            {
                "json": {
                    "statusCode": 401,
                    "message": "Access denied due to invalid subscription key. Make sure...",
                }
            },
            MomoConfigError,
            "INVALID_SUBSCRIPTION_KEY",
        ),
        (
            401,
            {
                "json": {
                    "statusCode": 401,
                    "message": "Access denied due to missing subscription key.",
                }
            },
            MomoConfigError,
            "INVALID_SUBSCRIPTION_KEY",
        ),
        (
            401,
            {
                "json": {
                    "statusCode": 401,
                    "message": "Unauthorized. Access token is missing or invalid.",
                }
            },
            MomoAuthError,
            "UNAUTHORIZED",
        ),
        (400, {}, MomoRejected, "REQUEST_REJECTED"),
        (
            400,
            {"json": {"code": "PAYER_NOT_FOUND", "message": "Payer does not exist"}},
            MomoRejected,
            "PAYER_NOT_FOUND",
        ),
        (
            403,
            {"json": {"code": "NOT_ENOUGH_FUNDS", "message": "x"}},
            MomoRejected,
            "NOT_ENOUGH_FUNDS",
        ),
        (
            403,
            {"json": {"code": "FORBIDDEN IP", "message": "not whitelisted"}},
            MomoConfigError,
            "FORBIDDEN IP",
        ),
        (403, {"text": "<html>Forbidden</html>"}, MomoConfigError, "FORBIDDEN"),
        (404, {"json": {"code": "RESOURCE_NOT_FOUND"}}, MomoNotFound, "RESOURCE_NOT_FOUND"),
        (
            409,
            {"json": {"code": "RESOURCE_ALREADY_EXIST"}},
            MomoDuplicate,
            "RESOURCE_ALREADY_EXIST",
        ),
        (409, {}, MomoDuplicate, "RESOURCE_ALREADY_EXIST"),
        (429, {}, MomoTransient, "http_429"),
        (
            500,
            {"json": {"code": "INVALID_CURRENCY", "message": "Currency not supported."}},
            MomoRejected,
            "INVALID_CURRENCY",
        ),
        (500, {"json": {"code": "NOT_ENOUGH_FUNDS"}}, MomoRejected, "NOT_ENOUGH_FUNDS"),
        (500, {"json": {"code": "PAYER_NOT_FOUND"}}, MomoRejected, "PAYER_NOT_FOUND"),
        (
            500,
            {"json": {"code": "INTERNAL_PROCESSING_ERROR"}},
            MomoRejected,
            "INTERNAL_PROCESSING_ERROR",
        ),
        (500, {"json": {"code": "NOT_ALLOWED"}}, MomoRejected, "NOT_ALLOWED"),
        (
            500,
            {"json": {"reason": {"code": "PAYEE_NOT_FOUND", "message": "x"}}},
            MomoRejected,
            "PAYEE_NOT_FOUND",
        ),
        (
            500,
            {"json": {"code": "NOT_ALLOWED_TARGET_ENVIRONMENT"}},
            MomoConfigError,
            "NOT_ALLOWED_TARGET_ENVIRONMENT",
        ),
        (
            500,
            {"json": {"code": "INVALID_CALLBACK_URL_HOST"}},
            MomoConfigError,
            "INVALID_CALLBACK_URL_HOST",
        ),
        (500, {"json": {"code": "SERVICE_UNAVAILABLE"}}, MomoTransient, "SERVICE_UNAVAILABLE"),
        (500, {}, MomoTransient, "http_500"),
        (500, {"text": "<html>Internal Server Error</html>"}, MomoTransient, "http_500"),
        (500, {"json": ["unexpected"]}, MomoTransient, "http_500"),
        (502, {}, MomoTransient, "http_502"),
        (503, {"json": {"code": "SERVICE_UNAVAILABLE"}}, MomoTransient, "SERVICE_UNAVAILABLE"),
        (504, {"text": "gateway timeout"}, MomoTransient, "http_504"),
    ],
)
def test_error_mapping(status, kwargs, error, code):
    mapped = error_from_response(_response(status, **kwargs), what="MoMo test")
    assert type(mapped) is error
    assert mapped.code == code and mapped.http_status == status
    assert mapped.transient is (error is MomoTransient)


# --- reasons and result parsing -------------------------------------------------------------


@pytest.mark.parametrize("number,scenario", sorted(PAYER_TABLE.items()))
def test_request_to_pay_test_numbers_end_with_their_reason(client, sim, sandbox, number, scenario):
    ref = uuid.uuid4()
    client.create(Operation.REQUEST_TO_PAY, reference_id=ref, body=rtp(number), target=sandbox)
    if scenario.outcome == "fail":
        result = wait_terminal(client, Operation.REQUEST_TO_PAY, ref, sandbox)
        assert result.failed and result.reason is not None
        assert result.reason.code == scenario.reason and result.reason.message
    else:  # ongoing / delayed: not terminal yet, and never an error
        result = client.status(Operation.REQUEST_TO_PAY, reference_id=ref, target=sandbox)
        assert not result.terminal and result.reason is None


@pytest.mark.parametrize("number,scenario", sorted(PAYEE_TABLE.items()))
def test_transfer_test_numbers_end_with_their_reason(client, sim, sandbox, number, scenario):
    ref = uuid.uuid4()
    client.create(Operation.TRANSFER, reference_id=ref, body=payout(number), target=sandbox)
    result = wait_terminal(client, Operation.TRANSFER, ref, sandbox, timeout=0.5)
    if scenario.outcome == "fail":
        assert result.failed and result.reason is not None
        assert result.reason.code == scenario.reason
    else:
        assert result.status in ("PENDING", "CREATED")


def test_a_string_reason_from_a_cash_transfer(client, sim, sandbox):
    ref = uuid.uuid4()
    body = cashtransfer_body(
        amount="5",
        currency=EUR,
        external_id="5",
        payee=Party(OK_NUMBER),
        originating_country="gb",
        original_amount="4",
        original_currency="GBP",
    )
    client.create(Operation.CASH_TRANSFER, reference_id=ref, body=body, target=sandbox)
    result = wait_terminal(client, Operation.CASH_TRANSFER, ref, sandbox)
    assert isinstance(result.raw["reason"], str)  # CashTransferResult.reason is a string
    assert result.failed and result.reason is not None
    assert result.reason.code == "PAYEE_NOT_FOUND" and result.reason.message == ""


def test_observed_profile_created_then_successful(client, sim, sandbox):
    sim.configure(profile="observed", delayed_seconds=0.3)
    ref = uuid.uuid4()
    client.create(
        Operation.REQUEST_TO_PAY, reference_id=ref, body=rtp("46733123454"), target=sandbox
    )
    first = client.status(Operation.REQUEST_TO_PAY, reference_id=ref, target=sandbox)
    assert first.status == MomoStatus.CREATED and not first.terminal
    assert wait_terminal(client, Operation.REQUEST_TO_PAY, ref, sandbox).successful


@pytest.mark.parametrize(
    "data,status,code,message",
    [
        (
            {
                "status": "FAILED",
                "reason": {"code": "PAYER_NOT_FOUND", "message": "Payer does not exist"},
            },
            "FAILED",
            "PAYER_NOT_FOUND",
            "Payer does not exist",
        ),
        (
            {"status": "FAILED", "reason": "INTERNAL_PROCESSING_ERROR"},
            "FAILED",
            "INTERNAL_PROCESSING_ERROR",
            "",
        ),
        (
            {"status": "FAILED", "errorReason": {"code": "EXPIRED", "message": "gone"}},
            "FAILED",
            "EXPIRED",
            "gone",
        ),
        (
            {
                "status": "FAILED",
                "reason": {"errorCode": "NOT_ENOUGH_FUNDS", "errorMessage": "low"},
            },
            "FAILED",
            "NOT_ENOUGH_FUNDS",
            "low",
        ),
        (
            {"status": "FAILED", "code": "APPROVAL_REJECTED", "message": "declined"},
            "FAILED",
            "APPROVAL_REJECTED",
            "declined",
        ),
        (
            {"status": "FAILED", "reason": {"code": "SOMETHING_NEW_2027"}},
            "FAILED",
            "SOMETHING_NEW_2027",
            "",
        ),
        ({"status": "FAILED", "reason": {}}, "FAILED", None, None),
        ({"status": "FAILED"}, "FAILED", None, None),
        ({"status": "SUCCESSFUL", "reason": None}, "SUCCESSFUL", None, None),
        ({"status": "ongoing"}, "ONGOING", None, None),
        ({}, "PENDING", None, None),
    ],
)
def test_every_reason_shape(data, status, code, message):
    result = MomoResult.from_json(data)
    assert result.status == status
    if code is None:
        assert result.reason is None
    else:
        assert result.reason is not None
        assert (result.reason.code, result.reason.message) == (code, message)
    assert result.terminal is (status in ("SUCCESSFUL", "FAILED"))


def test_amount_as_number_or_string_and_unknown_status_kept():
    as_number = MomoResult.from_json(
        {
            "amount": 100,
            "currency": "EUR",
            "status": "SUCCESSFUL",
            "financialTransactionId": 12345,
            "externalId": 7,
        }
    )
    assert (as_number.amount, as_number.financial_transaction_id, as_number.external_id) == (
        "100",
        "12345",
        "7",
    )
    assert MomoResult.from_json({"amount": "12.50", "status": "PENDING"}).amount == "12.50"
    weird = MomoResult.from_json({"status": "DELAYED", "financialTransactionId": ""})
    assert weird.status == "DELAYED" and not weird.terminal
    assert weird.financial_transaction_id is None


# --- tokens ---------------------------------------------------------------------------------


def test_one_token_per_product_for_many_calls(client, sim, sandbox, uganda):
    for _ in range(5):
        client.create(
            Operation.REQUEST_TO_PAY, reference_id=uuid.uuid4(), body=rtp(), target=sandbox
        )
        client.balance(Product.COLLECTION, target=sandbox)
        client.balance(Product.DISBURSEMENT, target=sandbox)
    assert token_calls(sim, Product.COLLECTION) == 1
    assert token_calls(sim, Product.DISBURSEMENT) == 1
    assert token_calls(sim, Product.REMITTANCE) == 0
    client.balance(Product.COLLECTION, target=uganda)  # another environment: its own token
    assert token_calls(sim, Product.COLLECTION) == 2
    assert client.token_requests == 3


def test_token_is_renewed_ten_minutes_early(sim, creds, sandbox):
    clock = FakeClock()
    client = make_client(sim, creds, clock=clock)  # default margin: 600 s
    client.balance(Product.COLLECTION, target=sandbox)
    assert token_calls(sim) == 1
    clock.now += 3600 - 600 - 1
    client.balance(Product.COLLECTION, target=sandbox)
    assert token_calls(sim) == 1
    clock.now += 2  # inside the last ten minutes: renewed once
    client.balance(Product.COLLECTION, target=sandbox)
    client.balance(Product.COLLECTION, target=sandbox)
    assert token_calls(sim) == 2
    clock.now += 3600 + 1  # long after expiry: renewed before the call
    client.balance(Product.COLLECTION, target=sandbox)
    assert token_calls(sim) == 3


def test_a_short_token_is_renewed_half_way_not_every_call(sim, creds, sandbox):
    sim.configure(token_ttl_seconds=300)  # shorter than the 600 s margin
    clock = FakeClock()
    client = make_client(sim, creds, clock=clock)
    client.balance(Product.REMITTANCE, target=sandbox)
    clock.now += 149
    client.balance(Product.REMITTANCE, target=sandbox)
    assert token_calls(sim) == 1
    clock.now += 2
    client.balance(Product.REMITTANCE, target=sandbox)
    assert token_calls(sim) == 2


def test_renewal_in_the_margin_does_not_block_other_callers(sim, creds, sandbox):
    """While one caller renews a token that is due but still valid, the others use it."""
    clock = FakeClock()
    client = make_client(sim, creds, clock=clock)
    client.balance(Product.COLLECTION, target=sandbox)
    clock.now += 3100  # due (margin) but valid
    sim.configure(slow_seconds=0.6)  # every call is slow now, the token call too
    renewer = threading.Thread(
        target=client.balance, args=(Product.COLLECTION,), kwargs={"target": sandbox}
    )
    renewer.start()
    time.sleep(0.2)  # the renewer holds the lock, waiting for its token
    sim.configure(slow_seconds=0.0)
    started = time.monotonic()
    client.balance(Product.COLLECTION, target=sandbox)
    assert time.monotonic() - started < 0.4  # did not queue behind the renewal
    renewer.join(5)
    assert token_calls(sim) == 2


def test_a_401_renews_the_token_once_and_repeats_the_call(sim, creds, sandbox):
    sim.configure(token_ttl_seconds=1)
    client = make_client(sim, creds, clock=FakeClock())  # the client never sees time pass
    client.balance(Product.DISBURSEMENT, target=sandbox)
    time.sleep(1.1)  # MoMo expired the token
    assert client.balance(Product.DISBURSEMENT, target=sandbox).currency == EUR
    assert token_calls(sim) == 2


def test_a_second_401_is_an_auth_error(sim, creds, sandbox):
    sim.configure(token_ttl_seconds=0)  # every token is refused at once
    client = make_client(sim, creds)
    with pytest.raises(MomoAuthError) as exc:
        client.create(Operation.TRANSFER, reference_id=uuid.uuid4(), body=payout(), target=sandbox)
    assert exc.value.http_status == 401
    assert token_calls(sim) == 2  # the first token and exactly one renewal
    assert sim.transactions() == []


def test_revoked_credentials_surface_as_auth_error(sim, creds, sandbox):
    client = make_client(sim, creds, clock=FakeClock())
    client.balance(Product.COLLECTION, target=sandbox)
    sim.reset()  # the API user and its tokens are gone
    with pytest.raises(MomoAuthError) as exc:
        client.balance(Product.COLLECTION, target=sandbox)
    assert exc.value.code == "login_failed"


def _burst(client, target, seconds: float, threads: int = 20):
    errors: list[BaseException] = []
    calls = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def work(i: int) -> None:
        product = list(Product)[i % 3] if i % 2 else Product.DISBURSEMENT
        while time.monotonic() < stop_at:
            try:
                if i % 4 == 0:
                    client.create(
                        Operation.TRANSFER, reference_id=uuid.uuid4(), body=payout(), target=target
                    )
                else:
                    client.balance(product, target=target)
            except BaseException as exc:
                errors.append(exc)
                return
            with lock:
                calls[0] += 1

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(seconds + 10)
    return calls[0], errors


def test_token_expiry_during_a_burst(sim, creds, sandbox, caplog):
    """MoMo expires tokens under 20 busy threads (the client's clock never moves, so only
    the 401s tell it): every call succeeds, at most one renewal per product and expiry."""
    ttl, seconds = 1, 2.2
    sim.configure(token_ttl_seconds=ttl)
    client = make_client(sim, creds, clock=FakeClock())
    with caplog.at_level(logging.INFO, logger="lightway.integration.momo.client"):
        calls, errors = _burst(client, sandbox, seconds)
    assert errors == []
    assert calls > 100
    expiries = int(seconds // ttl) + 1
    for product in Product:
        assert 2 <= token_calls(sim, product) <= expiries + 1, product
    renewals_on_401 = [r for r in caplog.records if r.getMessage().startswith("momo token refused")]
    assert renewals_on_401  # the 401 path was exercised, and no 401 reached a caller
    client.close()


def test_short_tokens_renewed_ahead_during_a_burst(sim, creds, sandbox, caplog):
    """With the real clock the client renews half-way through a 2 s token: no 401 at all."""
    ttl, seconds = 2, 2.2
    sim.configure(token_ttl_seconds=ttl)
    client = make_client(sim, creds)
    with caplog.at_level(logging.INFO, logger="lightway.integration.momo.client"):
        calls, errors = _burst(client, sandbox, seconds)
    assert errors == [] and calls > 100
    for product in Product:
        # renewed every ttl/2 = 1 s: the first token plus at most one per second
        assert 2 <= token_calls(sim, product) <= int(seconds) + 2, product
    assert not [r for r in caplog.records if r.getMessage().startswith("momo token refused")]
    client.close()


# --- account holder, user info, balance, delivery notification ------------------------------


def test_account_holder_active(client, sim, sandbox):
    assert client.account_holder_active(Product.COLLECTION, Party(OK_NUMBER), target=sandbox)
    assert client.account_holder_active(Product.REMITTANCE, Party(OK_NUMBER), target=sandbox)
    assert not client.account_holder_active(
        Product.COLLECTION, Party("46733123450"), target=sandbox
    )
    assert not client.account_holder_active(
        Product.DISBURSEMENT, Party("46733123451"), target=sandbox
    )
    email = Party("notactive@example.com", "EMAIL")
    assert not client.account_holder_active(Product.COLLECTION, email, target=sandbox)
    sim.set_wallet("256700000009", active=False)
    assert not client.account_holder_active(
        Product.COLLECTION, Party("256700000009"), target=sandbox
    )
    with pytest.raises(MomoRejected) as not_allowed:
        client.account_holder_active(Product.COLLECTION, Party("46733123452"), target=sandbox)
    assert not_allowed.value.code == "NOT_ALLOWED"
    with pytest.raises(MomoConfigError):
        client.account_holder_active(Product.COLLECTION, Party("46733123453"), target=sandbox)
    with pytest.raises(MomoRejected) as internal:
        client.account_holder_active(Product.COLLECTION, Party("46733123454"), target=sandbox)
    assert internal.value.code == "INTERNAL_PROCESSING_ERROR"
    with pytest.raises(MomoTransient):
        client.account_holder_active(Product.COLLECTION, Party("46733123455"), target=sandbox)
    assert "/collection/v1_0/accountholder/msisdn/256772123401/active" in paths(sim)


@pytest.mark.parametrize(
    "body,expected",
    [
        ({"result": True}, True),
        ({"result": "true"}, True),
        ({"result": "1"}, True),
        ({"result": 1}, True),
        (True, True),
        ("true", True),
        ({"result": False}, False),
        ({"result": "false"}, False),
        ({"result": "0"}, False),
        (False, False),
        ({"result": "maybe"}, None),
        ({"other": 1}, None),
        (None, None),
    ],
)
def test_active_answer_shapes(body, expected):
    assert active_from_json(body) is expected


def test_basic_user_info_per_product_and_both_paths(client, sim, sandbox):
    sim.set_wallet(OK_NUMBER, given_name="Amara", family_name="Okello")
    for product in Product:
        info = client.basic_user_info(product, Party(OK_NUMBER), target=sandbox)
        assert (info.given_name, info.family_name, info.full_name) == (
            "Amara",
            "Okello",
            "Amara Okello",
        )
    seen = paths(sim)
    assert f"/collection/v1_0/accountholder/MSISDN/{OK_NUMBER}/basicuserinfo" in seen
    assert f"/remittance/v1_0/accountholder/msisdn/{OK_NUMBER}/basicuserinfo" in seen
    assert f"/remittance/v1_0/accountholder/MSISDN/{OK_NUMBER}/basicuserinfo" not in seen
    # Not found on the typed path: the legacy path is tried before giving up.
    with pytest.raises(MomoNotFound):
        client.basic_user_info(Product.DISBURSEMENT, Party("46733123450"), target=sandbox)
    tail = paths(sim)[-2:]
    assert tail == [
        "/disbursement/v1_0/accountholder/MSISDN/46733123450/basicuserinfo",
        "/disbursement/v1_0/accountholder/msisdn/46733123450/basicuserinfo",
    ]
    email = client.basic_user_info(
        Product.COLLECTION, Party("a.b@example.com", "EMAIL"), target=sandbox
    )
    assert email.given_name
    assert "/collection/v1_0/accountholder/Email/a.b%40example.com/basicuserinfo" in paths(sim)


def test_balance(client, sim, sandbox, uganda):
    sim.set_balance("disbursement", "mtnuganda", "2500000")
    assert client.balance(Product.DISBURSEMENT, target=uganda) == client.balance(
        Product.DISBURSEMENT, target=uganda, currency="UGX"
    )
    balance = client.balance(Product.DISBURSEMENT, target=uganda, currency="ugx")
    assert (balance.available_balance, balance.currency) == ("2500000", "UGX")
    assert "/disbursement/v1_0/account/balance/UGX" in paths(sim)
    sim.set_balance("collection", "sandbox", "12.5")
    assert client.balance(Product.COLLECTION, target=sandbox).available_balance == "12.50"
    with pytest.raises(MomoRejected) as exc:
        client.balance(Product.DISBURSEMENT, target=uganda, currency="EUR")
    assert exc.value.code == "INVALID_CURRENCY"


def test_delivery_notification(client, sim, sandbox):
    ref = uuid.uuid4()
    client.create(Operation.REQUEST_TO_PAY, reference_id=ref, body=rtp(), target=sandbox)
    assert wait_terminal(client, Operation.REQUEST_TO_PAY, ref, sandbox).successful
    client.delivery_notification(
        reference_id=ref, message="Thanks - it's credited", target=sandbox, language="en"
    )
    with pytest.raises(MomoDuplicate):  # 429: already sent for this payment
        client.delivery_notification(reference_id=ref, message="again", target=sandbox)
    pending = uuid.uuid4()
    client.create(
        Operation.REQUEST_TO_PAY, reference_id=pending, body=rtp("46733123453"), target=sandbox
    )
    with pytest.raises(MomoRejected) as exc:
        client.delivery_notification(reference_id=pending, message="early", target=sandbox)
    assert exc.value.code == "TRANSACTION_NOT_COMPLETED" and exc.value.http_status == 409
    with pytest.raises(MomoNotFound):
        client.delivery_notification(reference_id=uuid.uuid4(), message="who", target=sandbox)


# --- bodies ---------------------------------------------------------------------------------


def test_body_helpers():
    with pytest.raises(TypeError):
        requesttopay_body(amount=10.5, currency="EUR", external_id="x", payer=Party("1"))  # type: ignore[arg-type]
    for bad in ("", "-1", "0", "1e3", "1,000", "abc"):
        with pytest.raises(ValueError):
            transfer_body(amount=bad, currency="EUR", external_id="x", payee=Party("1"))
    with pytest.raises(ValueError):
        transfer_body(amount="1", currency="EURO", external_id="x", payee=Party("1"))
    with pytest.raises(ValueError):
        transfer_body(amount="1", currency="EUR", external_id=" ", payee=Party("1"))
    body = requesttopay_body(
        amount="1500",
        currency="ugx",
        external_id="T-1",
        payer=Party("256772123401"),
        payer_message="Tom's top-up & more\n" + "x" * 200,
        payee_note="",
    )
    assert body["currency"] == "UGX" and body["amount"] == "1500"
    assert body["payer"] == {"partyIdType": "MSISDN", "partyId": "256772123401"}
    assert "'" not in body["payerMessage"] and "&" not in body["payerMessage"]
    assert len(body["payerMessage"]) <= 160 and body["payerMessage"].startswith(
        "Toms top-up more x"
    )
    refund = refund_body(
        amount="1",
        currency="EUR",
        external_id="r",
        reference_id_to_refund=uuid.UUID(int=5, version=4),
    )
    assert refund["referenceIdToRefund"] == str(uuid.UUID(int=5, version=4))
    cash = cashtransfer_body(
        amount="1",
        currency="EUR",
        external_id="c",
        payee=Party("1"),
        originating_country="ug",
        original_amount="3700",
        original_currency="ugx",
        payer_identification_type="PASS",
    )
    assert cash["orginatingCountry"] == cash["originatingCountry"] == "UG"
    assert cash["originalCurrency"] == "UGX" and cash["payerIdentificationType"] == "PASS"
    assert originating_country({"originatingCountry": "GH"}) == "GH"
    assert originating_country({"orginatingCountry": "CM"}) == "CM"
    with pytest.raises(ValueError):
        cashtransfer_body(
            amount="1",
            currency="EUR",
            external_id="c",
            payee=Party("1"),
            originating_country="UG",
            original_amount="1",
            original_currency="UGX",
            payer_identification_type="PASSPORT",
        )
    assert clean_message("  a\tb\x00c  ") == "a b c"


# --- transport: TLS, URLs, user agent, metrics, logs -----------------------------------------


def test_only_https_or_loopback(creds):
    with pytest.raises(InsecureMomoUrl):
        MomoClient(base_url="http://momo.example.com", credentials=creds)
    with pytest.raises(InsecureMomoUrl):
        MomoClient(base_url="ftp://127.0.0.1", credentials=creds)
    assert MomoClient(base_url="https://momo.example.com/", credentials=creds).base_url == (
        "https://momo.example.com"
    )


def test_tls_verification_is_always_on(creds):
    parameters = set(inspect.signature(MomoClient).parameters)
    assert not parameters & {"verify", "transport", "ssl_context", "http_client", "insecure"}
    client = MomoClient(base_url="https://momo.example.com", credentials=creds)
    context = client._http._transport._pool._ssl_context  # the context httpx really uses
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


@pytest.fixture
def self_signed_server(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            hits.append(self.path)
            body = b'{"access_token":"t","token_type":"access_token","expires_in":3600}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def test_an_untrusted_certificate_is_refused(creds, self_signed_server):
    url, hits = self_signed_server
    client = MomoClient(base_url=url, credentials=creds, timeout=3)
    with pytest.raises(MomoConfigError) as exc:
        client.balance(Product.COLLECTION, target=MomoTarget(url, "sandbox"))
    assert exc.value.code == "tls_verification_failed"
    assert hits == []  # nothing was sent over the unverified connection


def test_user_agent_and_headers(client, sim, sandbox):
    seen: list[httpx.Request] = []
    client._http.event_hooks["request"].append(seen.append)
    ref = uuid.uuid4()
    client.create(Operation.REQUEST_TO_PAY, reference_id=ref, body=rtp(), target=sandbox)
    token_request, create_request = seen
    assert token_request.url.path == "/collection/token/" and token_request.content == b""
    assert token_request.headers["Authorization"].startswith("Basic ")
    for request in seen:
        assert request.headers["User-Agent"].startswith("LightWay-MoMo/")
        assert "python" not in request.headers["User-Agent"].lower()
        assert request.headers["Ocp-Apim-Subscription-Key"] == sim.subscription_keys["collection"]
        assert request.headers["X-Target-Environment"] == "sandbox"
    assert create_request.headers["X-Reference-Id"] == str(ref)
    assert create_request.headers["Authorization"].startswith("Bearer ")
    assert "X-Callback-Url" not in create_request.headers


def _sample(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_every_call_is_counted(client, sim, sandbox):
    labels = {"product": "collection", "operation": "requesttopay"}
    before = {
        "created": _sample("lightway_momo_requests_total", result="2xx", **labels),
        "token": _sample(
            "lightway_momo_requests_total", product="collection", operation="token", result="2xx"
        ),
        "status": _sample(
            "lightway_momo_requests_total",
            product="collection",
            operation="requesttopay_status",
            result="4xx",
        ),
        "seconds": _sample("lightway_momo_request_duration_seconds_count", **labels),
    }
    client.create(Operation.REQUEST_TO_PAY, reference_id=uuid.uuid4(), body=rtp(), target=sandbox)
    with pytest.raises(MomoNotFound):
        client.status(Operation.REQUEST_TO_PAY, reference_id=uuid.uuid4(), target=sandbox)
    assert _sample("lightway_momo_requests_total", result="2xx", **labels) == before["created"] + 1
    assert (
        _sample(
            "lightway_momo_requests_total", product="collection", operation="token", result="2xx"
        )
        == before["token"] + 1
    )
    assert (
        _sample(
            "lightway_momo_requests_total",
            product="collection",
            operation="requesttopay_status",
            result="4xx",
        )
        == before["status"] + 1
    )
    assert (
        _sample("lightway_momo_request_duration_seconds_count", **labels) == before["seconds"] + 1
    )


def test_timeouts_are_counted_as_timeout(sim, creds, sandbox):
    client = make_client(sim, creds, timeout=0.2)
    client.balance(Product.DISBURSEMENT, target=sandbox)
    labels = {"product": "disbursement", "operation": "balance", "result": "timeout"}
    before = _sample("lightway_momo_requests_total", **labels)
    sim.configure(slow_seconds=0.5)
    with pytest.raises(MomoTransient):
        client.balance(Product.DISBURSEMENT, target=sandbox)
    assert _sample("lightway_momo_requests_total", **labels) == before + 1


def test_logs_carry_no_party_data(client, sim, sandbox, caplog):
    number, name = "256700111222", "Zawadi"
    sim.set_wallet(number, given_name=name, family_name="Mutesi")
    with caplog.at_level(logging.DEBUG):
        client.account_holder_active(Product.COLLECTION, Party(number), target=sandbox)
        client.basic_user_info(Product.COLLECTION, Party(number), target=sandbox)
        client.create(
            Operation.REQUEST_TO_PAY, reference_id=uuid.uuid4(), body=rtp(number), target=sandbox
        )
        with pytest.raises(MomoRejected):
            client.account_holder_active(Product.COLLECTION, Party("46733123452"), target=sandbox)
    assert any(r.name == "lightway.integration.momo.client" for r in caplog.records)
    for record in caplog.records:
        text = record.getMessage() + " " + " ".join(str(v) for v in vars(record).values())
        assert number not in text and name not in text and "46733123452" not in text, record


def test_credentials_are_required_and_hidden(creds):
    incomplete = {Product.COLLECTION: ProductCredentials("u", "", "k")}
    with pytest.raises(MomoConfigError):
        MomoClient(base_url="https://momo.example.com", credentials=incomplete)
    only_collection = {Product.COLLECTION: creds[Product.COLLECTION]}
    client = MomoClient(base_url="https://momo.example.com", credentials=only_collection)
    with pytest.raises(MomoConfigError):
        client.balance(
            Product.DISBURSEMENT, target=MomoTarget("https://momo.example.com", "sandbox")
        )
    shown = repr(creds[Product.COLLECTION])
    assert creds[Product.COLLECTION].api_key not in shown
    assert creds[Product.COLLECTION].subscription_key not in shown


# --- the settings-built gateway and `lightway check` ----------------------------------------


@pytest.fixture
def momo_settings(settings, sim):
    from lightway.application.momo.gateway import momo_gateway_reset

    api_user, api_key = sim.provision(callback_host="127.0.0.1")
    settings.MOMO_BASE_URL = sim.base_url
    settings.MOMO_API_USER, settings.MOMO_API_KEY = api_user, api_key
    for product in Product:
        name = product.value.upper()
        setattr(settings, f"MOMO_SUBSCRIPTION_KEY_{name}", sim.subscription_keys[product.value])
        setattr(settings, f"MOMO_{name}_API_USER", "")
        setattr(settings, f"MOMO_{name}_API_KEY", "")
    settings.MOMO_ENVIRONMENTS = "UGX:mtnuganda,GHS:mtnghana,EUR:sandbox"
    settings.MOMO_CALLBACK_URL = "http://127.0.0.1/webhooks/momo/"
    momo_gateway_reset()
    yield settings
    momo_gateway_reset()


def test_gateway_from_settings(momo_settings, sim):
    from lightway.application.momo.gateway import (
        callback_url,
        momo_configured,
        momo_gateway,
        momo_gateway_reset,
        momo_target,
    )

    assert momo_configured()
    gateway = momo_gateway()
    assert momo_gateway() is gateway  # process-wide
    assert momo_target("ugx") == MomoTarget(sim.base_url, "mtnuganda")
    assert momo_target("EUR").environment == "sandbox"
    ref = uuid.uuid4()
    assert callback_url(ref) == f"http://127.0.0.1/webhooks/momo/{ref}"
    gateway.create(
        Operation.REQUEST_TO_PAY,
        reference_id=ref,
        body=rtp(currency="UGX", amount="5000"),
        target=momo_target("UGX"),
        callback_url=callback_url(ref),
    )
    assert sim.transaction(str(ref))["callbackUrl"] == callback_url(ref)
    momo_gateway_reset()
    assert momo_gateway() is not gateway
    rebuilt = momo_gateway()
    momo_settings.MOMO_TIMEOUT_SECONDS = 7
    assert momo_gateway() is not rebuilt  # a settings change builds a new client
    momo_settings.MOMO_CALLBACK_URL = ""
    assert callback_url(ref) is None


def test_gateway_configuration_errors(momo_settings):
    from lightway.application.momo.gateway import momo_configured, momo_gateway, momo_target

    with pytest.raises(MomoConfigError, match="MOMO_ENVIRONMENTS") as unknown:
        momo_target("KES")
    assert unknown.value.code == "unknown_currency"
    for bad in ("UGX-mtnuganda", "UGX:", "UGXX:mtnuganda", "UGX:mtn uganda", "UGX:a,UGX:b"):
        momo_settings.MOMO_ENVIRONMENTS = bad
        with pytest.raises(MomoConfigError, match="MOMO_ENVIRONMENTS"):
            momo_target("UGX")
    momo_settings.MOMO_SUBSCRIPTION_KEY_REMITTANCE = ""
    with pytest.raises(MomoConfigError, match="MOMO_SUBSCRIPTION_KEY_REMITTANCE"):
        momo_gateway()
    momo_settings.MOMO_BASE_URL = ""
    assert not momo_configured()
    with pytest.raises(MomoConfigError, match="MOMO_BASE_URL"):
        momo_gateway()
    with pytest.raises(MomoConfigError, match="MOMO_BASE_URL"):
        momo_target("UGX")


def test_per_product_credentials_override_the_shared_pair(momo_settings, sim):
    from lightway.application.momo.gateway import momo_client, momo_target

    payout_user, payout_key = sim.provision(callback_host="127.0.0.1")
    momo_settings.MOMO_DISBURSEMENT_API_USER = payout_user
    momo_settings.MOMO_DISBURSEMENT_API_KEY = payout_key
    client = momo_client()
    assert client.credentials[Product.DISBURSEMENT].api_user == payout_user
    assert client.credentials[Product.COLLECTION].api_user == momo_settings.MOMO_API_USER
    ref = uuid.uuid4()
    client.create(
        Operation.TRANSFER,
        reference_id=ref,
        body=payout(currency="UGX", amount="900"),
        target=momo_target("UGX"),
    )
    assert sim.transaction(str(ref))["result"]["status"] in ("PENDING", "SUCCESSFUL")
    momo_settings.MOMO_DISBURSEMENT_API_KEY = "f" * 32  # wrong key for that product only
    with pytest.raises(MomoAuthError):
        momo_client().balance(Product.DISBURSEMENT, target=momo_target("UGX"))
    assert momo_client().balance(Product.COLLECTION, target=momo_target("UGX")).currency == "UGX"


def test_lightway_check_momo(momo_settings, sim):
    from lightway.interfaces.cli.checks import check_momo_auth, checks_all

    assert check_momo_auth in checks_all()
    ok = check_momo_auth()
    assert ok.status == "OK", ok
    assert "collection, disbursement, remittance" in ok.detail and "mtnuganda" in ok.detail
    assert token_calls(sim) == 3

    momo_settings.MOMO_SUBSCRIPTION_KEY_DISBURSEMENT = "stale-key"
    bad_key = check_momo_auth()
    assert bad_key.status == "FAIL" and "MOMO_SUBSCRIPTION_KEY_DISBURSEMENT" in bad_key.detail
    assert "collection" not in bad_key.detail

    momo_settings.MOMO_SUBSCRIPTION_KEY_DISBURSEMENT = sim.subscription_keys["disbursement"]
    momo_settings.MOMO_API_KEY = "0" * 32
    bad_user = check_momo_auth()
    assert bad_user.status == "FAIL" and "API user/key refused" in bad_user.detail
    assert "MOMO_API_KEY" in bad_user.detail

    momo_settings.MOMO_BASE_URL = ""
    skipped = check_momo_auth()
    assert skipped.status == "SKIP" and "MOMO_BASE_URL" in skipped.detail


def test_lightway_check_momo_unreachable(momo_settings):
    from lightway.interfaces.cli.checks import check_momo_auth

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    momo_settings.MOMO_BASE_URL = f"http://127.0.0.1:{port}"
    result = check_momo_auth()
    assert result.status == "FAIL" and "connection failed" in result.detail
    assert result.detail.count("connection failed") == 1  # stopped after the first product
