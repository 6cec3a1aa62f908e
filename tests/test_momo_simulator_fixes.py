"""The MoMo simulator as third-party clients see it (issue 12, item 6), over real HTTP.

Each test here failed on the simulator before the fix it names:

1. ``providerCallbackHost`` given as a full URL is stored as sent (it was refused with 400);
2. the shape of ``reason`` in a FAILED result is a fault-profile knob (object or string),
   and the platform's own client reads both;
3. the demo subscription keys are 32 hex digits like MTN's;
4. docs/momo.md states the completion delay that ``lightway simulators`` sets;
5. a status read with a reference that is not a UUID answers 400 (it answered 404).
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import httpx
import pytest

from lightway.integration.momo.client import (
    MomoClient,
    ProductCredentials,
    requesttopay_body,
    transfer_body,
)
from lightway.integration.momo.port import (
    MomoResult,
    MomoTarget,
    Operation,
    Party,
    Product,
)
from lightway.integration.momo.simulator import DEFAULT_SUBSCRIPTION_KEYS, SimConfig

DOCS = Path(__file__).resolve().parents[1] / "docs"
HEX32 = re.compile(r"[0-9a-f]{32}")
PAYEE_NOT_FOUND_NUMBER = "46733123457"  # transfer: FAILED PAYEE_NOT_FOUND (reference §11.2)
PAYER_NOT_FOUND_NUMBER = "46733123455"  # request to pay: FAILED PAYER_NOT_FOUND


@pytest.fixture
def sim(momo_simulator):
    momo_simulator.reset()
    momo_simulator.configure(completion_seconds=0.0, callback_mode="queue")
    yield momo_simulator
    momo_simulator.reset()


@pytest.fixture
def http(sim):
    with httpx.Client(base_url=sim.base_url, timeout=10) as client:
        yield client


def _key(product: str = "collection") -> dict[str, str]:
    return {"Ocp-Apim-Subscription-Key": DEFAULT_SUBSCRIPTION_KEYS[product]}


def _token(http: httpx.Client, user: str, api_key: str, product: str) -> str:
    response = http.post(f"/{product}/token/", headers=_key(product), auth=(user, api_key))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _provision(http: httpx.Client, callback_host: str) -> tuple[str, str]:
    user = str(uuid.uuid4())
    created = http.post(
        "/v1_0/apiuser",
        headers={**_key(), "X-Reference-Id": user},
        json={"providerCallbackHost": callback_host},
    )
    assert (created.status_code, created.content) == (201, b""), created.text
    issued = http.post(f"/v1_0/apiuser/{user}/apikey", headers=_key())
    assert issued.status_code == 201
    return user, str(issued.json()["apiKey"])


# --- 1. providerCallbackHost: a host or a URL, stored as sent -------------------------------


@pytest.mark.parametrize(
    ("sent", "callback_url"),
    [
        ("https://platform.example/webhooks/momo", "https://platform.example/webhooks/momo/1"),
        ("http://platform.example:8000", "http://platform.example:8000/webhooks/momo"),
        ("platform.example", "https://platform.example/webhooks/momo"),
    ],
)
def test_a_callback_host_given_as_a_url_is_stored_as_sent_and_binds_its_host(
    sim, http, sent, callback_url
):
    user, api_key = _provision(http, sent)
    shown = http.get(f"/v1_0/apiuser/{user}", headers=_key())
    assert shown.status_code == 200
    assert shown.json() == {"providerCallbackHost": sent, "targetEnvironment": "sandbox"}

    token = _token(http, user, api_key, "collection")
    headers = {
        **_key(),
        "Authorization": f"Bearer {token}",
        "X-Target-Environment": "sandbox",
    }
    body = requesttopay_body(
        amount="5", currency="EUR", external_id="e1", payer=Party("256772123401")
    )
    accepted = http.post(
        "/collection/v1_0/requesttopay",
        headers={**headers, "X-Reference-Id": str(uuid.uuid4()), "X-Callback-Url": callback_url},
        json=body,
    )
    assert accepted.status_code == 202, accepted.text
    # Another host is still refused, as MTN does (nothing created).
    other = http.post(
        "/collection/v1_0/requesttopay",
        headers={
            **headers,
            "X-Reference-Id": str(uuid.uuid4()),
            "X-Callback-Url": "https://elsewhere.example/webhooks/momo",
        },
        json=body,
    )
    assert other.status_code == 500
    assert other.json()["code"] == "INVALID_CALLBACK_URL_HOST"


@pytest.mark.parametrize("value", ["", "   ", None, 42])
def test_a_missing_callback_host_is_still_a_400(sim, http, value):
    response = http.post(
        "/v1_0/apiuser",
        headers={**_key(), "X-Reference-Id": str(uuid.uuid4())},
        json={"providerCallbackHost": value},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "BAD_REQUEST"


# --- 2. the shape of reason: a knob, and our client reads both ------------------------------


@pytest.fixture
def client(sim):
    api_user, api_key = sim.provision(callback_host="127.0.0.1")
    creds = {
        product: ProductCredentials(api_user, api_key, sim.subscription_keys[product.value])
        for product in Product
    }
    c = MomoClient(base_url=sim.base_url, credentials=creds, timeout=5.0)
    yield c
    c.close()


def _final(client: MomoClient, operation: Operation, ref: uuid.UUID, target) -> MomoResult:
    deadline = time.monotonic() + 5
    while True:
        result = client.status(operation, reference_id=ref, target=target)
        if result.terminal or time.monotonic() > deadline:
            return result
        time.sleep(0.02)


@pytest.mark.parametrize("shape", ["object", "string"])
def test_reason_shape_is_a_knob_and_our_client_reads_both(sim, client, shape):
    target = MomoTarget(base_url=sim.base_url, environment="sandbox")
    if shape == "string":
        sim.configure(reason_shape="string")
    cases = [
        (
            Operation.TRANSFER,
            transfer_body(
                amount="7", currency="EUR", external_id="t1", payee=Party(PAYEE_NOT_FOUND_NUMBER)
            ),
            "PAYEE_NOT_FOUND",
        ),
        (
            Operation.REQUEST_TO_PAY,
            requesttopay_body(
                amount="7", currency="EUR", external_id="r1", payer=Party(PAYER_NOT_FOUND_NUMBER)
            ),
            "PAYER_NOT_FOUND",
        ),
    ]
    for operation, body, code in cases:
        ref = uuid.uuid4()
        client.create(
            operation,
            reference_id=ref,
            body=body,
            target=target,
            callback_url=f"http://127.0.0.1/webhooks/momo/{ref}",
        )
        result = _final(client, operation, ref, target)
        assert result.failed
        if shape == "string":
            assert result.raw["reason"] == code  # the bare code, as the community pages show
        else:
            assert result.raw["reason"]["code"] == code and result.raw["reason"]["message"]
        assert result.reason is not None and result.reason.code == code
    # The callbacks carry the same body as the status read, in the same shape.
    callbacks = sim.wait_callbacks(len(cases))
    assert len(callbacks) == len(cases)
    for callback in callbacks:
        parsed = MomoResult.from_json(callback.json())
        assert parsed.failed and parsed.reason is not None
        assert isinstance(callback.json()["reason"], str if shape == "string" else dict)


def test_reason_shape_is_object_by_default_and_checked(sim, http):
    assert SimConfig().reason_shape == "object"
    refused = http.post("/_sim/config", json={"reason_shape": "text"})
    assert refused.status_code == 400
    assert "reason_shape" in refused.text
    accepted = http.post("/_sim/config", json={"reason_shape": "string"})
    assert accepted.status_code == 200
    assert http.get("/_sim/config").json()["reason_shape"] == "string"


# --- 3. demo subscription keys look like MTN's ---------------------------------------------


def test_demo_subscription_keys_are_32_hex_digits_everywhere():
    from lightway.infrastructure import settings as defaults
    from lightway.security.secret_settings import PUBLIC_DEFAULTS

    for product, key in DEFAULT_SUBSCRIPTION_KEYS.items():
        assert HEX32.fullmatch(key), (product, key)
        setting = getattr(defaults, f"MOMO_SUBSCRIPTION_KEY_{product.upper()}")
        assert setting == key  # the settings' default is the simulator's key
        assert key in PUBLIC_DEFAULTS  # and refused in production
    assert len(set(DEFAULT_SUBSCRIPTION_KEYS.values())) == 3  # one per product
    text = (DOCS / "momo.md").read_text()
    for key in DEFAULT_SUBSCRIPTION_KEYS.values():
        assert f"`{key}`" in text


def test_a_demo_key_gets_a_token_and_another_products_key_does_not(sim, http):
    user, api_key = sim.provision(callback_host="127.0.0.1")
    ok = http.post("/remittance/token/", headers=_key("remittance"), auth=(user, api_key))
    assert ok.status_code == 200
    wrong = http.post("/remittance/token/", headers=_key("collection"), auth=(user, api_key))
    assert wrong.status_code == 401


# --- 4. the completion delay of `lightway simulators`, as docs/momo.md states it -----------


def test_docs_state_the_completion_delay_that_lightway_simulators_sets(settings):
    from lightway.interfaces.cli.simulators import DEMO_COMPLETION_SECONDS, _momo_start

    started = _momo_start("127.0.0.1", 0, "")
    try:
        assert started.config.completion_seconds == DEMO_COMPLETION_SECONDS
    finally:
        started.stop()
    text = re.sub(r"\s+", " ", (DOCS / "momo.md").read_text())
    stated = re.search(
        r"The simulator of `lightway up` and `lightway simulators` sets `completion_seconds` "
        r"to ([0-9.]+) s",
        text,
    )
    assert stated is not None, "docs/momo.md no longer states the demo completion delay"
    assert float(stated.group(1)) == DEMO_COMPLETION_SECONDS
    default = re.search(r"`completion_seconds` \(([0-9.]+)\)", text)
    assert default is not None and float(default.group(1)) == SimConfig().completion_seconds
    assert f"knob's default of {SimConfig().completion_seconds:g} s" in text


# --- 5. a status read with a reference that is not a UUID: 400 -----------------------------


@pytest.mark.parametrize(
    ("product", "path"),
    [
        ("collection", "/v1_0/requesttopay/not-a-uuid"),
        ("collection", "/v1_0/requesttowithdraw/12345"),
        ("disbursement", "/v1_0/transfer/a8098c1a-f86e-11da-bd1a-00112444be1e"),  # v1 UUID
        ("remittance", "/v2_0/cashtransfer/zzz"),
    ],
)
def test_a_status_read_with_a_malformed_reference_is_a_400(sim, http, product, path):
    user, api_key = sim.provision(callback_host="127.0.0.1")
    token = _token(http, user, api_key, product)
    response = http.get(
        f"/{product}{path}",
        headers={
            **_key(product),
            "Authorization": f"Bearer {token}",
            "X-Target-Environment": "sandbox",
        },
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "BAD_REQUEST"
    # A well-formed reference nobody created is still a 404.
    unknown = http.get(
        f"/{product}{path.rsplit('/', 1)[0]}/{uuid.uuid4()}",
        headers={
            **_key(product),
            "Authorization": f"Bearer {token}",
            "X-Target-Environment": "sandbox",
        },
    )
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "RESOURCE_NOT_FOUND"
