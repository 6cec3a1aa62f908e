"""The OpenAPI document is exactly as strict as the server (issue 11, finding 12).

What the document allows the server accepts, and what it does not the server refuses in the
one error shape; every answer the shared request machinery can give is documented on every
operation. The operations are read from the document itself (and the URL resolver), so an
operation added later is held to the same rules. tests/test_api_fuzz.py fuzzes the same
promises with every schemathesis check.
"""

from __future__ import annotations

import itertools
import json
import re
import string
import uuid

import pytest
from django.urls import resolve

from lightway.application.errors import ValidationFailed
from lightway.application.identity.phones import MARKETS
from lightway.application.momo.flows import msisdn_normalise
from lightway.data.money import currency_codes
from lightway.interfaces.api.openapi import machinery_statuses
from lightway.interfaces.api.v1 import api
from tests.factories import customer, funded_wallet

METHODS = ("get", "put", "post", "delete", "patch")


def document() -> dict:
    return json.loads(json.dumps(api.get_openapi_schema(), default=str))


def operations():
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield pytest.param(path, method, operation, id=f"{method.upper()} {path}")


def concrete(path: str, operation: dict) -> str:
    """``path`` with each parameter filled by a value of its declared type."""
    values = {}
    for parameter in operation.get("parameters", []):
        if parameter["in"] != "path":
            continue
        schema = parameter.get("schema", {})
        if schema.get("type") == "integer":
            values[parameter["name"]] = "1"
        elif schema.get("format") == "uuid":
            values[parameter["name"]] = str(uuid.uuid4())
        else:
            values[parameter["name"]] = "ref-1"
    return re.sub(r"\{([^}]+)\}", lambda m: values[m.group(1)], path)


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {
        "code",
        "category",
        "message",
        "path",
        "retryable",
        "details",
    }
    assert body["error"]["code"] == code, body
    return body["error"]


def test_the_document_is_read_and_resolves():
    ops = [p.values for p in operations()]
    assert len(ops) >= 20
    for path, method, operation in ops:
        match = resolve(concrete(path, operation))
        assert match.url_name, (method, path)


@pytest.mark.parametrize(("path", "method", "operation"), list(operations()))
def test_every_operation_documents_the_machinery_answers(path, method, operation):
    """400 (repeated parameter, malformed body), 414 (URI too long), 422 for anything with
    input, 401/403 for anything that needs credentials, 413 for a body: all in the one error
    shape. On the old document 414 was missing everywhere, and 400/422 on several."""
    responses = operation["responses"]
    for status in machinery_statuses(operation, api_secured=False):
        assert str(status) in responses, (method, path, status)
    for status, answer in responses.items():
        if int(status) >= 400:
            schema = answer["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, status)


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "method", "operation"), list(operations()))
def test_a_repeated_query_parameter_is_refused_by_every_operation(client, path, method, operation):
    """Django keeps the last of ``?limit=1&limit=500`` and drops the first without a word;
    every API operation now refuses the request instead (400 repeated_parameter)."""
    url = concrete(path, operation) + "?limit=1&limit=500&other=x"
    response = client.generic(method.upper(), url)
    error = assert_error(response, 400, "repeated_parameter")
    assert error["details"]["fields"] == [{"field": "limit", "problem": "given more than once"}]


@pytest.mark.django_db
def test_a_too_long_uri_is_414_in_the_error_shape(client, settings):
    settings.LIGHTWAY_API_MAX_URI_LENGTH = 100
    response = client.get("/api/v1/wallets?pad=" + "x" * 100)
    assert_error(response, 414, "uri_too_long")


def test_the_country_pattern_is_exactly_the_markets():
    """Was ``^[A-Z]{2}$``: "AA" matched the document and got a 422 from the server."""
    pattern = document()["components"]["schemas"]["LoginIn"]["properties"]["country"]
    pattern = next(p["pattern"] for p in pattern.get("anyOf", [pattern]) if "pattern" in p)
    for pair in itertools.product(string.ascii_uppercase, repeat=2):
        code = "".join(pair)
        assert bool(re.fullmatch(pattern, code)) == (code in MARKETS), code


def test_the_currency_pattern_is_exactly_the_known_currencies():
    pattern = document()["components"]["schemas"]["TransferIn"]["properties"]["currency"]["pattern"]
    for triple in itertools.product(string.ascii_uppercase, repeat=3):
        code = "".join(triple)
        assert bool(re.fullmatch(pattern, code)) == (code in currency_codes()), code


MSISDN_CANDIDATES = [
    "+256772123402",
    "256772123402",
    "+256 772 123 402",
    "12345678",
    "123456789012345",
    "+2251010",  # 7 digits: matched the old pattern, refused by the server
    "1234567890123456",  # 16 digits
    "+256  772123402",  # two spaces
    " 256772123402",
    "256772123402 ",
    "+ 256772123402",
    "".join(chr(0xFF10 + int(d)) for d in "256772123402"),  # full-width: \\d took them
    "256-772-123-402",
]


@pytest.mark.parametrize("candidate", MSISDN_CANDIDATES)
def test_the_msisdn_pattern_is_what_the_server_accepts(candidate):
    pattern = document()["components"]["schemas"]["MomoPayoutIn"]["properties"]["msisdn"]["pattern"]
    try:
        msisdn_normalise(candidate)
        accepted = True
    except ValidationFailed:
        accepted = False
    if re.fullmatch(pattern, candidate):
        assert accepted, candidate  # the document allows it, so the server must take it
    if not candidate.isascii():
        assert not accepted, candidate
    # the API refuses what the pattern refuses before the normaliser sees it


@pytest.fixture
def wallets(now):
    a_id, token = customer("alice", now)
    b_id, _ = customer("bob", now)
    wa = funded_wallet(a_id, "UGX", 100_000, now)
    wb = funded_wallet(b_id, "UGX", 0, now)
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}, wa, wb


def _transfer(client, auth, wa, wb, amount, key):
    raw = (
        f'{{"source_wallet_id": "{wa.id}", "destination_wallet_id": "{wb.id}", '
        f'"amount": {amount}, "currency": "UGX"}}'
    )
    return client.post(
        "/api/v1/transfers",
        data=raw,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key,
        **auth,
    )


@pytest.mark.django_db
def test_an_integer_valued_number_is_the_integer_and_a_fraction_is_refused(client, wallets):
    """JSON Schema's integer includes 1500.0 and 15e2; the server refused them (StrictInt).
    A real fraction is still refused, and nothing is rounded on the way."""
    auth, wa, wb = wallets
    made = _transfer(client, auth, wa, wb, "1500.0", "k1")
    assert made.status_code == 201, made.content
    assert made.json()["amount"] == 1500
    assert _transfer(client, auth, wa, wb, "15e2", "k2").json()["amount"] == 1500
    for amount in ("1500.5", "999999999999999.99999", "1e400", '"1500"', "true"):
        assert_error(
            _transfer(client, auth, wa, wb, amount, f"k-{amount}"), 422, "validation_failed"
        )


@pytest.mark.django_db
def test_integer_query_parameters_are_plain_decimal(client, wallets):
    """``?limit=5.0`` (and "+5", " 5", "05", "5_0") was read as 5 by pydantic's lax mode,
    although the document says integer."""
    auth, wa, _ = wallets
    url = f"/api/v1/wallets/{wa.id}/statement"
    assert client.get(url + "?limit=5", **auth).status_code == 200
    for value in ("5.0", "%2B5", "%205", "05", "5_0", "1e1"):
        assert_error(client.get(f"{url}?limit={value}", **auth), 422, "validation_failed")


@pytest.mark.django_db
def test_any_cursor_the_document_allows_is_accepted(client, wallets, now):
    """The cursor was base64 with a loose ``maxLength: 64`` in the document: "0000" matched
    it and got a 422. It is now the posting id in decimal, with an exact pattern."""
    auth, wa, wb = wallets
    url = f"/api/v1/wallets/{wa.id}/statement"
    for key in ("c1", "c2", "c3"):
        assert _transfer(client, auth, wa, wb, 100, key).status_code == 201
    first = client.get(url + "?limit=2", **auth).json()
    assert re.fullmatch(r"[1-9][0-9]*", first["next_cursor"])
    rest = client.get(f"{url}?limit=2&cursor={first['next_cursor']}", **auth).json()
    assert rest["lines"] and rest["lines"][0]["posting_id"] < first["lines"][-1]["posting_id"]
    for cursor in ("1", "999999999999999999"):
        assert client.get(f"{url}?cursor={cursor}", **auth).status_code == 200
    for cursor in ("0", "0000", "abc", "1" * 19, "-1"):
        assert_error(client.get(f"{url}?cursor={cursor}", **auth), 422, "validation_failed")


@pytest.mark.django_db
def test_same_wallet_is_a_business_refusal_not_a_validation_error(client, wallets):
    """A schema-valid request the server cannot carry out gets its own 422 code; only a
    request that does not match the document is ``validation_failed``."""
    auth, wa, _ = wallets
    assert_error(_transfer(client, auth, wa, wa, 100, "same"), 422, "same_wallet")
