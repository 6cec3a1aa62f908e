"""The MoMo simulator against MTN's own OpenAPI exports (../shared/specs/momo/*.yaml).

Every operation the simulator implements is called over HTTP (successes and the documented
errors); each answer's status code must be one the spec lists for that operation, and its
body must validate against the spec's response schema, strictly: objects may carry no
property the schema does not declare. Request bodies used here are validated against the
spec's request schemas too.

Deviations from the spec files, each backed by the reference note (shared/reference):
- Gateway 401s (bad subscription key / bearer) use Azure APIM's body ``{statusCode,
  message}`` (§2.4) on every operation; the spec lists 401 only on token and basicuserinfo.
- The account-holder check's ServiceUnavailable scenario answers 503 SERVICE_UNAVAILABLE
  (portal error table, §2.4); basicuserinfo's NotFound answers 404 RESOURCE_NOT_FOUND.
- ``GET /v1_0/apiuser/{id}`` returns ``targetEnvironment`` as a string (what the sandbox
  sends, §3); the spec types it as an object.
- Failure reasons may carry the portal-only codes COULD_NOT_PERFORM_TRANSACTION and
  TRANSFERTYPE_UNKNOWN (§8.2, §11.2), which the ErrorReason enum lacks.
- The active check's 200 has no schema in the spec; it is checked against the spec's own
  BooleanResult schema (§4).
Not implemented (the platform never calls them): invoice, payment, pre-approval,
bc-authorize, oauth2 token / userinfo.
"""

from __future__ import annotations

import base64
import copy
import json
import time
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
import yaml

SPECS = Path(__file__).resolve().parents[2] / "shared" / "specs" / "momo"
pytestmark = pytest.mark.skipif(
    not SPECS.is_dir(), reason=f"the vendored MoMo specs are not at {SPECS} (../shared)"
)
KEYS = {
    "collection": "de40c011ec7100000000000000000001",
    "disbursement": "de40d15b000000000000000000000002",
    "remittance": "de40ae31700000000000000000000003",
}
PORTAL_ONLY_CODES = ["COULD_NOT_PERFORM_TRANSACTION", "TRANSFERTYPE_UNKNOWN"]
APIM_SCHEMA = {
    "type": "object",
    "properties": {"statusCode": {"type": "integer"}, "message": {"type": "string"}},
    "required": ["statusCode", "message"],
    "additionalProperties": False,
}
# (spec, method, template) -> extra statuses allowed (the deviations above)
EXTRA_STATUSES: dict[tuple[str, str, str], set[str]] = {
    ("*", "GET", "/v1_0/accountholder/{accountHolderIdType}/{accountHolderId}/active"): {"503"},
    ("*", "GET", "/v1_0/accountholder/{accountHolderIdType}/{accountHolderId}/basicuserinfo"): {
        "404"
    },
    ("*", "GET", "/v1_0/accountholder/msisdn/{accountHolderMSISDN}/basicuserinfo"): {"404"},
}
NOT_IMPLEMENTED = (
    "/v2_0/invoice",
    "/v2_0/payment",
    "/v2_0/preapproval",
    "/v1_0/preapproval",
    "/v1_0/bc-authorize",
    "/oauth2/",
)


@cache
def spec(name: str) -> dict[str, Any]:
    with (SPECS / f"{name}.yaml").open(encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.safe_load(fh)
    return data


def _resolve(doc: dict[str, Any], node: Any, *, strict: bool) -> Any:
    """Inline ``#/components/...`` references; with ``strict`` objects get
    ``additionalProperties: false``."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = doc
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return _resolve(doc, target, strict=strict)
        out = {k: _resolve(doc, v, strict=strict) for k, v in node.items()}
        if strict and "properties" in out:
            out.setdefault("additionalProperties", False)
        return out
    if isinstance(node, list):
        return [_resolve(doc, v, strict=strict) for v in node]
    return node


def _schema_of(doc: dict[str, Any], content: dict[str, Any] | None) -> dict[str, Any] | None:
    if not content:
        return None
    chosen = content.get("application/json")
    if not chosen or "schema" not in chosen:
        chosen = next((c for c in content.values() if c and "schema" in c), None)
    if not chosen:
        return None
    schema: dict[str, Any] = _resolve(doc, chosen["schema"], strict=True)
    return schema


def _widen_reason_codes(schema: Any) -> Any:
    """Allow the portal-only reason codes wherever the ErrorReason enum appears."""
    if isinstance(schema, dict):
        out = {k: _widen_reason_codes(v) for k, v in schema.items()}
        enum = out.get("enum")
        if isinstance(enum, list) and "RESOURCE_ALREADY_EXIST" in enum:
            out["enum"] = [*enum, *PORTAL_ONLY_CODES]
        return out
    if isinstance(schema, list):
        return [_widen_reason_codes(v) for v in schema]
    return schema


class Checker:
    """Calls one spec's operations on the simulator and checks each answer."""

    def __init__(self, sim: Any, name: str, user: str, key: str) -> None:
        self.sim = sim
        self.name = name
        self.doc = spec(name)
        self.root = httpx.URL(self.doc["servers"][0]["url"]).path.rstrip("/")
        self.product = self.root.strip("/") or None
        self.http = httpx.Client(base_url=sim.base_url, timeout=10)
        self.user, self.key = user, key
        self.checked: set[tuple[str, str]] = set()
        self.statuses: dict[tuple[str, str], set[str]] = {}
        self._token: str | None = None

    def headers(self, *, auth: bool = True, env: str | None = "sandbox") -> dict[str, str]:
        headers = {"Ocp-Apim-Subscription-Key": KEYS[self.product or "collection"]}
        if auth and self.product:
            if self._token is None:
                basic = base64.b64encode(f"{self.user}:{self.key}".encode()).decode()
                response = self.call(
                    "POST", "/token/", headers={**headers, "Authorization": f"Basic {basic}"}
                )
                assert response.status_code == 200
                self._token = response.json()["access_token"]
            headers["Authorization"] = f"Bearer {self._token}"
        if env:
            headers["X-Target-Environment"] = env
        return headers

    def call(
        self,
        method: str,
        template: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
        expect: int | None = None,
    ) -> httpx.Response:
        operation = self.doc["paths"][template][method.lower()]
        if body is not None and "requestBody" in operation:
            request_schema = _schema_of(self.doc, operation["requestBody"].get("content"))
            if request_schema is not None:
                jsonschema_rs.Draft4Validator(request_schema).validate(body)
        path = template.format(**(params or {}))
        response = self.http.request(
            method,
            self.root + path,
            headers=headers if headers is not None else self.headers(),
            content=None if body is None else json.dumps(body).encode(),
        )
        if expect is not None:
            assert response.status_code == expect, (template, response.text)
        self._conforms(method, template, operation, response)
        self.checked.add((method, template))
        self.statuses.setdefault((method, template), set()).add(str(response.status_code))
        return response

    def _conforms(
        self, method: str, template: str, operation: dict[str, Any], response: httpx.Response
    ) -> None:
        status = str(response.status_code)
        where = f"{self.name} {method} {template} -> {status}: {response.text[:300]}"
        if status == "401" and "statusCode" in response.text:
            jsonschema_rs.Draft4Validator(APIM_SCHEMA).validate(response.json())
            return
        documented = set(operation["responses"])
        allowed = documented | EXTRA_STATUSES.get(("*", method, template), set())
        assert status in allowed, f"undocumented status: {where}"
        if status not in documented:  # a listed deviation: MTN's ErrorReason shape
            assert set(response.json()) == {"code", "message"}, where
            return
        schema = _schema_of(self.doc, operation["responses"][status].get("content"))
        if template.endswith("/active") and status == "200":
            schema = _resolve(self.doc, {"$ref": "#/components/schemas/BooleanResult"}, strict=True)
        if template == "/v1_0/apiuser/{X-Reference-Id}" and status == "200":
            schema = _resolve(self.doc, {"$ref": "#/components/schemas/ApiUserResult"}, strict=True)
            schema["properties"]["targetEnvironment"] = {"type": "string"}
        if schema is None:
            if status in ("201", "202") or (status == "200" and method == "POST"):
                assert response.content == b"", f"expected an empty body: {where}"
            return
        assert response.content, f"expected a JSON body: {where}"
        errors = [
            e.message
            for e in jsonschema_rs.Draft4Validator(_widen_reason_codes(schema)).iter_errors(
                response.json()
            )
        ]
        assert not errors, f"{where}: {errors}"

    def unimplemented_ok(self, template: str) -> bool:
        return template.startswith(NOT_IMPLEMENTED) or template.startswith("/v1_0/preapprovals")

    def assert_all_checked(self) -> None:
        wanted = {
            (method.upper(), template)
            for template, ops in self.doc["paths"].items()
            for method in ops
            if method in ("get", "post", "put", "delete") and not self.unimplemented_ok(template)
        }
        assert wanted - self.checked == set()


@pytest.fixture
def sim(momo_simulator):
    momo_simulator.reset()
    momo_simulator.configure(completion_seconds=0, delayed_seconds=0.2)
    yield momo_simulator
    momo_simulator.reset()


@pytest.fixture
def credentials(sim):
    return sim.provision(callback_host="127.0.0.1")


def _party(number: str) -> dict[str, str]:
    return {"partyIdType": "MSISDN", "partyId": number}


def _wait_final(check: Checker, template: str, ref: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while True:
        data: dict[str, Any] = check.call(
            "GET", template, params={"referenceId": ref}, expect=200
        ).json()
        if data["status"] in ("SUCCESSFUL", "FAILED") or time.monotonic() > deadline:
            return data
        time.sleep(0.02)


def _common_checks(check: Checker, holder_path: str, holder_params: dict[str, str]) -> None:
    """Token errors, balances, account holder checks and gateway errors of a product."""
    product = check.product
    assert product is not None
    bad_basic = {
        "Ocp-Apim-Subscription-Key": KEYS[product],
        "Authorization": "Basic " + base64.b64encode(b"nobody:nothing").decode(),
    }
    assert check.call("POST", "/token/", headers=bad_basic).status_code == 401
    assert check.call("GET", "/v1_0/account/balance", expect=200).json()["currency"] == "EUR"
    check.call("GET", "/v1_0/account/balance/{currency}", params={"currency": "EUR"}, expect=200)
    check.call("GET", "/v1_0/account/balance/{currency}", params={"currency": "UGX"}, expect=500)
    bad_env = check.headers(env="mtnatlantis")
    check.call("GET", "/v1_0/account/balance", headers=bad_env, expect=500)
    # Gateway errors: no subscription key, another product's key, no bearer.
    check.call("GET", "/v1_0/account/balance", headers={}, expect=401)
    wrong = check.headers()
    wrong["Ocp-Apim-Subscription-Key"] = "nope"
    check.call("GET", "/v1_0/account/balance", headers=wrong, expect=401)
    active = "/v1_0/accountholder/{accountHolderIdType}/{accountHolderId}/active"
    for holder, status in (
        ("256772123401", 200),
        ("46733123451", 200),
        ("46733123452", 500),
        ("46733123455", 503),
        ("abc", 400),
    ):
        check.call(
            "GET",
            active,
            params={"accountHolderIdType": "msisdn", "accountHolderId": holder},
            expect=status,
        )
    check.call(
        "GET",
        active,
        params={"accountHolderIdType": "email", "accountHolderId": "notallowed@email.com"},
        expect=500,
    )
    check.call("GET", holder_path, params=holder_params, expect=200)
    missing = {k: "46733123450" if k != "accountHolderIdType" else "msisdn" for k in holder_params}
    check.call("GET", holder_path, params=missing, expect=404)
    erroring = {k: "46733123454" if k != "accountHolderIdType" else "msisdn" for k in holder_params}
    check.call("GET", holder_path, params=erroring, expect=500)
    no_token = check.headers(auth=False)
    check.call("GET", holder_path, params=holder_params, headers=no_token, expect=401)


def _create_family(
    check: Checker,
    create: str,
    status_template: str,
    body_for: Any,
    numbers: dict[str, int] | None = None,
) -> None:
    """Create with success and failure numbers, read each back, then the create errors."""
    for number in ("256772000001", *(numbers or {})):
        if number == "46733123453":  # stays PENDING: read once, below
            continue
        ref = str(uuid.uuid4())
        headers = {**check.headers(), "X-Reference-Id": ref}
        check.call("POST", create, headers=headers, body=body_for(number), expect=202)
        result = _wait_final(check, status_template, ref)
        assert result["status"] in ("SUCCESSFUL", "FAILED")
    ref = str(uuid.uuid4())
    headers = {**check.headers(), "X-Reference-Id": ref}
    check.call("POST", create, headers=headers, body=body_for("256772000001"), expect=202)
    check.call("POST", create, headers=headers, body=body_for("256772000001"), expect=409)
    bad_ref = {**check.headers(), "X-Reference-Id": "not-a-uuid"}
    check.call("POST", create, headers=bad_ref, body=body_for("256772000001"), expect=400)
    long_note = {**body_for("256772000001"), "payeeNote": "x" * 161}
    fresh = {**check.headers(), "X-Reference-Id": str(uuid.uuid4())}
    check.call("POST", create, headers=fresh, body=long_note, expect=400)
    wrong_currency = {**body_for("256772000001"), "currency": "UGX"}
    fresh = {**check.headers(), "X-Reference-Id": str(uuid.uuid4())}
    check.call("POST", create, headers=fresh, body=wrong_currency, expect=500)
    foreign_callback = {
        **check.headers(),
        "X-Reference-Id": str(uuid.uuid4()),
        "X-Callback-Url": "https://elsewhere.example/cb",
    }
    check.call("POST", create, headers=foreign_callback, body=body_for("256772000001"), expect=500)
    check.call("GET", status_template, params={"referenceId": str(uuid.uuid4())}, expect=404)
    ongoing = str(uuid.uuid4())
    headers = {**check.headers(), "X-Reference-Id": ongoing}
    check.call("POST", create, headers=headers, body=body_for("46733123453"), expect=202)
    pending = check.call("GET", status_template, params={"referenceId": ongoing}, expect=200)
    assert pending.json()["status"] == "PENDING"


def _payer_body(number: str) -> dict[str, Any]:
    return {
        "amount": "10",
        "currency": "EUR",
        "externalId": "c-1",
        "payer": _party(number),
        "payerMessage": "Deposit",
        "payeeNote": "LightWay",
    }


def _payee_body(number: str) -> dict[str, Any]:
    return {
        "amount": "10",
        "currency": "EUR",
        "externalId": "d-1",
        "payee": _party(number),
        "payerMessage": "Payout",
        "payeeNote": "LightWay",
    }


# Test numbers whose reasons cover the ErrorReason enum (and the portal-only codes).
PAYER_NUMBERS = {f"4673312345{i}": 0 for i in range(10)} | {
    f"467331234{i}": 0 for i in range(60, 65)
}


def test_collection_conforms(sim, credentials):
    check = Checker(sim, "collection", *credentials)
    _common_checks(
        check,
        "/v1_0/accountholder/{accountHolderIdType}/{accountHolderId}/basicuserinfo",
        {"accountHolderIdType": "msisdn", "accountHolderId": "256772123401"},
    )
    _create_family(
        check, "/v1_0/requesttopay", "/v1_0/requesttopay/{referenceId}", _payer_body, PAYER_NUMBERS
    )
    for create in ("/v1_0/requesttowithdraw", "/v2_0/requesttowithdraw"):
        _create_family(
            check,
            create,
            "/v1_0/requesttowithdraw/{referenceId}",
            _payer_body,
            {"46733123451": 0, "46733123463": 0},
        )
    # Delivery notification: 200 after success, 409 before, 429 on repeat, 404, 400.
    notify = "/v1_0/requesttopay/{referenceId}/deliverynotification"
    paid = str(uuid.uuid4())
    check.call(
        "POST",
        "/v1_0/requesttopay",
        headers={**check.headers(), "X-Reference-Id": paid},
        body=_payer_body("256772000001"),
        expect=202,
    )
    pending = str(uuid.uuid4())
    check.call(
        "POST",
        "/v1_0/requesttopay",
        headers={**check.headers(), "X-Reference-Id": pending},
        body=_payer_body("46733123453"),
        expect=202,
    )
    _wait_final(check, "/v1_0/requesttopay/{referenceId}", paid)
    message = {"notificationMessage": "Thank you"}
    with_message = {**check.headers(), "notificationMessage": "Thank you"}
    check.call(
        "POST",
        notify,
        params={"referenceId": pending},
        headers=with_message,
        body=message,
        expect=409,
    )
    check.call(
        "POST", notify, params={"referenceId": paid}, headers=with_message, body=message, expect=200
    )
    check.call(
        "POST", notify, params={"referenceId": paid}, headers=with_message, body=message, expect=429
    )
    check.call(
        "POST",
        notify,
        params={"referenceId": str(uuid.uuid4())},
        headers=with_message,
        body=message,
        expect=404,
    )
    check.call(
        "POST",
        notify,
        params={"referenceId": paid},
        headers=check.headers(),
        body={"notificationMessage": "x" * 161},
        expect=400,
    )
    check.assert_all_checked()


def test_disbursement_conforms(sim, credentials):
    check = Checker(sim, "disbursement", *credentials)
    _common_checks(
        check,
        "/v1_0/accountholder/{accountHolderIdType}/{accountHolderId}/basicuserinfo",
        {"accountHolderIdType": "msisdn", "accountHolderId": "256772123401"},
    )
    payee_numbers = {f"4673312345{i}": 0 for i in range(10)} | {
        f"467331234{i}": 0 for i in range(60, 64)
    }
    _create_family(
        check, "/v1_0/transfer", "/v1_0/transfer/{referenceId}", _payee_body, payee_numbers
    )
    for create in ("/v1_0/deposit", "/v2_0/deposit"):
        _create_family(
            check, create, "/v1_0/deposit/{referenceId}", _payee_body, {"46733123455": 0}
        )
    # Refunds of a real collection and the keyed scenarios.
    collect = Checker(sim, "collection", *credentials)
    original = str(uuid.uuid4())
    collect.call(
        "POST",
        "/v1_0/requesttopay",
        headers={**collect.headers(), "X-Reference-Id": original},
        body=_payer_body("256772000001"),
        expect=202,
    )
    _wait_final(collect, "/v1_0/requesttopay/{referenceId}", original)

    def refund_body(target: str) -> dict[str, Any]:
        return {
            "amount": "1",
            "currency": "EUR",
            "externalId": "r-1",
            "payerMessage": "Refund",
            "payeeNote": "Refund",
            "referenceIdToRefund": target,
        }

    for create in ("/v1_0/refund", "/v2_0/refund"):
        for target in (original, "2", "13", str(uuid.uuid4())):
            ref = str(uuid.uuid4())
            check.call(
                "POST",
                create,
                headers={**check.headers(), "X-Reference-Id": ref},
                body=refund_body(target),
                expect=202,
            )
            _wait_final(check, "/v1_0/refund/{referenceId}", ref)
        ref = str(uuid.uuid4())
        headers = {**check.headers(), "X-Reference-Id": ref}
        check.call("POST", create, headers=headers, body=refund_body(original), expect=202)
        check.call("POST", create, headers=headers, body=refund_body(original), expect=409)
        check.call(
            "POST",
            create,
            headers={**check.headers(), "X-Reference-Id": "1"},
            body=refund_body(original),
            expect=400,
        )
    check.call(
        "GET", "/v1_0/refund/{referenceId}", params={"referenceId": str(uuid.uuid4())}, expect=404
    )
    check.assert_all_checked()


def test_remittance_conforms(sim, credentials):
    check = Checker(sim, "remittance", *credentials)
    _common_checks(
        check,
        "/v1_0/accountholder/msisdn/{accountHolderMSISDN}/basicuserinfo",
        {"accountHolderMSISDN": "256772123401"},
    )
    _create_family(
        check,
        "/v1_0/transfer",
        "/v1_0/transfer/{referenceId}",
        _payee_body,
        {"46733123451": 0, "46733123455": 0},
    )

    def cash_body(number: str) -> dict[str, Any]:
        return {
            **_payee_body(number),
            "orginatingCountry": "GB",
            "originalAmount": "8",
            "originalCurrency": "GBP",
            "payerIdentificationType": "PASS",
            "payerIdentificationNumber": "P1",
            "payerFirstName": "Jo",
            "payerSurName": "Doe",
            "payerMsisdn": "447700900000",
        }

    _create_family(
        check,
        "/v2_0/cashtransfer",
        "/v2_0/cashtransfer/{referenceId}",
        cash_body,
        {"46733123451": 0, "46733123457": 0},
    )
    check.assert_all_checked()


def test_sandbox_provisioning_conforms(sim):
    check = Checker(sim, "sandbox-provisioning-api", "", "")
    key = {"Ocp-Apim-Subscription-Key": KEYS["collection"]}
    user = str(uuid.uuid4())
    create = "/v1_0/apiuser"
    body = {"providerCallbackHost": "platform.example"}
    check.call("POST", create, headers={**key, "X-Reference-Id": user}, body=body, expect=201)
    check.call("POST", create, headers={**key, "X-Reference-Id": user}, body=body, expect=409)
    check.call("POST", create, headers={**key, "X-Reference-Id": "x"}, body=body, expect=400)
    apikey = "/v1_0/apiuser/{X-Reference-Id}/apikey"
    check.call("POST", apikey, params={"X-Reference-Id": user}, headers=key, expect=201)
    check.call(
        "POST", apikey, params={"X-Reference-Id": str(uuid.uuid4())}, headers=key, expect=404
    )
    check.call("POST", apikey, params={"X-Reference-Id": "x"}, headers=key, expect=400)
    show = "/v1_0/apiuser/{X-Reference-Id}"
    check.call("GET", show, params={"X-Reference-Id": user}, headers=key, expect=200)
    check.call("GET", show, params={"X-Reference-Id": str(uuid.uuid4())}, headers=key, expect=404)
    check.call("GET", show, params={"X-Reference-Id": "x"}, headers=key, expect=400)
    check.assert_all_checked()


def test_results_never_carry_undeclared_fields():
    """The strict schemas really are strict (a guard on the checker itself)."""
    doc = spec("collection")
    schema = _resolve(doc, {"$ref": "#/components/schemas/RequestToPayResult"}, strict=True)
    validator = jsonschema_rs.Draft4Validator(schema)
    assert validator.is_valid({"amount": "1", "status": "SUCCESSFUL"})
    assert not validator.is_valid({"amount": "1", "status": "SUCCESSFUL", "referenceId": "x"})
    assert not validator.is_valid({"status": "DONE"})
    reason = _widen_reason_codes(copy.deepcopy(schema))
    assert jsonschema_rs.Draft4Validator(reason).is_valid(
        {"status": "FAILED", "reason": {"code": "COULD_NOT_PERFORM_TRANSACTION", "message": "m"}}
    )
