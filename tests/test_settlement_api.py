"""The LightWay Finance Settlement API: the client against the simulator over real HTTP
(contract tests), and every request and answer the simulator saw checked against the
published OpenAPI document ``docs/settlement-api.yaml``."""

from __future__ import annotations

import re
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
import yaml

from lightway.integration.settlement import iso20022 as iso
from lightway.integration.settlement.client import InsecureSettlementUrl, SettlementClient
from lightway.integration.settlement.port import (
    InstructionRequest,
    Party,
    SettlementConflict,
    SettlementNotFound,
    SettlementRefused,
    SettlementUnauthorized,
    SettlementUnavailable,
)
from lightway.integration.settlement.signing import callback_signature
from tests.settlement_support import CALLBACK_SECRET, SECRET

SPEC = Path(__file__).resolve().parents[1] / "docs" / "settlement-api.yaml"


@pytest.fixture
def api(settlement_simulator):
    sim, sink = settlement_simulator
    sim.reset()
    sim.configure(confirm_delay_seconds=0.05)
    sink.received.clear()
    client = SettlementClient(
        base_url=sim.base_url, key_id="lwf-test-key", secret=SECRET, backoff_seconds=0.01
    )
    yield sim, sink, client
    client.close()
    sim.reset()


def _request(instr_id: str = "LWS-T-1", amount: int = 125_000, **changes: Any):
    values: dict[str, Any] = {
        "instr_id": instr_id,
        "end_to_end_id": f"E2E-{instr_id}",
        "uetr": uuid.UUID("1d15141f-16cc-4039-b30b-a227a77c4f18"),
        "requested_date": date(2026, 11, 24),
        "amount_minor": amount,
        "currency": "UGX",
        "debtor": Party("LightWay MoMo Ltd", "LWMOMO-UGX-0001", "LWFIUGKA"),
        "creditor": Party("MTN Mobile Money (UGX)", "MTNMOMO-UGX-0001"),
        "remittance_info": "LightWay settlement window 1 UGX mtn",
    }
    values.update(changes)
    return InstructionRequest(**values)


def test_submit_is_idempotent_by_instr_id_and_the_outcome_follows(api):
    sim, sink, client = api
    first = client.instruction_submit(_request())
    assert first.status == "ACTC" and first.amount_minor == 125_000
    again = client.instruction_submit(_request())
    assert again.status in ("ACTC", "ACSC") and len(sim.instructions) == 1
    with pytest.raises(SettlementConflict) as conflict:
        client.instruction_submit(_request(amount=125_001))
    assert conflict.value.code == "DUPL"
    sim.wait_outcomes(1)
    status = client.instruction_status("LWS-T-1")
    assert status.settled and status.acct_svcr_ref.startswith("LWF")
    assert status.settlement_date == sim.today()
    # the signed callback arrived over HTTP, verifiable with the callback secret
    [(headers, body)] = sink.take(1)
    assert headers["X-LWF-Signature"] == callback_signature(
        secret=CALLBACK_SECRET, timestamp=headers["X-LWF-Timestamp"], body=body
    )


def test_rejection_carries_a_reason(api):
    sim, _sink, client = api
    sim.configure(outcome="reject", reject_code="AC04", reject_reason="Closed account number")
    client.instruction_submit(_request("LWS-T-2"))
    sim.wait_outcomes(1)
    status = client.instruction_status("LWS-T-2")
    assert status.rejected and (status.reason_code, status.reason_text) == (
        "AC04",
        "Closed account number",
    )


def test_a_5xx_is_retried_with_the_same_instr_id_and_pays_once(api):
    sim, _sink, client = api
    sim.configure(fail_next=2)
    assert client.instruction_submit(_request("LWS-T-3")).status == "ACTC"
    assert [r[2] for r in sim.requests] == [503, 503, 202]
    assert len(sim.instructions) == 1


def test_refusals_are_typed(api):
    sim, _sink, client = api
    with pytest.raises(SettlementNotFound):
        client.instruction_status("LWS-NOPE")
    with pytest.raises(SettlementRefused) as refused:
        client.instruction_submit(_request("bad id with é"))
    assert refused.value.code == "invalid_request"
    with pytest.raises(SettlementRefused, match="invalid_pain001"):
        client.instruction_submit(_request("LWS-T-4", pain001="<Document/>"))
    wrong = SettlementClient(base_url=sim.base_url, key_id="lwf-test-key", secret="x" * 32)
    with pytest.raises(SettlementUnauthorized):
        wrong.instruction_status("LWS-T-1")
    sim.stop()
    try:
        with pytest.raises(SettlementUnavailable):
            SettlementClient(
                base_url=sim.base_url, key_id="k", secret="s", retries=0
            ).instruction_status("LWS-T-1")
    finally:
        sim.start()
    with pytest.raises(InsecureSettlementUrl):
        SettlementClient(base_url="http://settlement.example", key_id="k", secret="s")


def test_the_request_signature_covers_method_target_and_body(api):
    sim, _sink, client = api
    client.instruction_submit(_request("LWS-T-5"))
    import time

    from lightway.integration.settlement.signing import request_signature

    timestamp = str(int(time.time()))
    signature = request_signature(
        secret=SECRET,
        timestamp=timestamp,
        method="GET",
        target="/v1/instructions/LWS-T-5",
        body=b"",
    )
    headers = {
        "X-LWF-Key-Id": "lwf-test-key",
        "X-LWF-Timestamp": timestamp,
        "X-LWF-Signature": signature,
    }
    assert httpx.get(f"{sim.base_url}/v1/instructions/LWS-T-5", headers=headers).status_code == 200
    # the same signature on another path, or with another method, is refused
    assert httpx.get(f"{sim.base_url}/v1/instructions/LWS-T-6", headers=headers).status_code == 401
    assert httpx.post(f"{sim.base_url}/v1/instructions", headers=headers).status_code == 401
    stale = {**headers, "X-LWF-Timestamp": str(int(timestamp) - 3600)}
    assert httpx.get(f"{sim.base_url}/v1/instructions/LWS-T-5", headers=stale).status_code == 401


def test_notifications_and_statements_are_valid_iso20022(api):
    sim, _sink, client = api
    client.instruction_submit(_request("LWS-T-7"))
    sim.wait_outcomes(1)
    sim.credit(
        account="LWMOMO-UGX-0001",
        amount_minor=500_000,
        code="UGX",
        debtor="Acme Remit",
        reference="TOPUP acme",
    )
    items, cursor = client.notifications(account="LWMOMO-UGX-0001")
    assert len(items) == 2
    assert client.notifications(account="LWMOMO-UGX-0001", after=cursor) == ([], cursor)
    for item in items:
        assert iso.validate(item.xml) == iso.CAMT_054
    for version in (iso.CAMT_053, iso.CAMT_053_V2):
        xml = client.statement(account="LWMOMO-UGX-0001", on=sim.today(), version=version)
        report = iso.report_read(xml)
        assert report.message == version
        assert [e.signed for e in report.entries] == [-125_000, 500_000]


# --- the published document -----------------------------------------------------------------


def _operation(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    for template, item in spec["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return dict(item[method.lower()])
    raise AssertionError(f"{method} {path} is not in docs/settlement-api.yaml")


def _validator(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    return jsonschema_rs.Draft7Validator({"components": spec["components"], **schema})


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        parts = node["$ref"].split("/")[1:]
        target: Any = spec
        for part in parts:
            target = target[part]
        node = target
    return node


def test_the_simulator_conforms_to_the_published_document(api):
    sim, sink, client = api
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    client.instruction_submit(_request("LWS-T-8"))
    client.instruction_submit(_request("LWS-T-8"))
    with pytest.raises(SettlementConflict):
        client.instruction_submit(_request("LWS-T-8", amount=1))
    with pytest.raises(SettlementNotFound):
        client.instruction_status("LWS-MISSING")
    sim.wait_outcomes(1)
    client.instruction_status("LWS-T-8")
    client.notifications(account="LWMOMO-UGX-0001", limit=10)
    client.statement(account="LWMOMO-UGX-0001", on=sim.today())
    client.statement(account="LWMOMO-UGX-0001", on=sim.today(), version=iso.CAMT_053_V2)
    sim.configure(outcome="reject")
    client.instruction_submit(_request("LWS-T-9", pain001=""))
    sim.wait_outcomes(2)
    client.instruction_status("LWS-T-9")
    with pytest.raises(SettlementRefused):
        client.instruction_submit(_request("LWS T 10 ~"))
    checked = 0
    for exchange in sim.exchanges:
        operation = _operation(spec, exchange["method"], exchange["path"])
        if exchange["request"] is not None:
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            errors = [e.message for e in _validator(spec, schema).iter_errors(exchange["request"])]
            if exchange["status"] < 400:
                assert not errors, (exchange["path"], errors)
        response = _resolve(spec, operation["responses"][str(exchange["status"])])
        content = response["content"]
        if exchange["content_type"].startswith("application/xml"):
            assert "application/xml" in content
            assert iso.validate(exchange["response"]).startswith("camt.053")
        else:
            schema = content["application/json"]["schema"]
            errors = [e.message for e in _validator(spec, schema).iter_errors(exchange["response"])]
            assert not errors, (exchange["path"], exchange["status"], errors)
        checked += 1
    assert checked >= 10
    # the callbacks too (the document's callback schema)
    callback_schema = spec["paths"]["/v1/instructions"]["post"]["callbacks"]["outcome"]
    body_schema = next(iter(callback_schema.values()))["post"]["requestBody"]["content"]
    validator = _validator(spec, body_schema["application/json"]["schema"])
    bodies = [body for _h, body in sink.take(2)]
    import json

    for body in bodies:
        assert validator.is_valid(json.loads(body))
