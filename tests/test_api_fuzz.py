"""Property-based fuzzing of the API from its own OpenAPI document (schemathesis).

Every operation is called with generated valid and invalid input, authenticated as a demo
customer with funded wallets. Checks: no 5xx, responses match the documented schema and
status codes, and every 4xx carries the one error shape. The ledger must still verify at the
end, whatever was sent.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from lightway.data.ledger.verify import ledger_verify
from lightway.interfaces.web.wsgi import application
from tests.factories import customer, funded_wallet

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)


def error_shape(ctx, response, case):
    if 400 <= response.status_code < 500:
        body = response.json()
        assert set(body) == {"error"}, body
        assert set(body["error"]) == {"code", "message", "details"}, body
        assert isinstance(body["error"]["code"], str) and body["error"]["message"]


@pytest.fixture
def keep_test_connection():
    """Calling the WSGI app directly fires request_finished, whose close_old_connections
    would close the test's connection mid-transaction (Django's test client avoids this the
    same way)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def auth(db, now, keep_test_connection, momo):
    # ``momo``: the MoMo simulator configured, so /momo/* answer as on a platform with MoMo
    # (without it they answer 503 momo_unavailable, a documented 5xx the fuzzer refuses).
    user_id, token = customer("fuzz", now)
    funded_wallet(user_id, "UGX", 1_000_000, now)
    other_id, _ = customer("other", now)
    funded_wallet(other_id, "UGX", 0, now)
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_fuzz(case, auth):
    # schemathesis' default checks (no 5xx, documented status codes, content types and
    # response schemas, invalid data rejected) plus the API's one error shape. Not "valid
    # data accepted": a schema-valid request can still break a business rule (the same
    # wallet on both sides, a currency the wallet does not hold) and get a 422.
    case.call_and_validate(
        headers=auth,
        additional_checks=[error_shape],
        excluded_checks=[positive_data_acceptance],
    )
    result = ledger_verify()
    assert result.ok, result.problems
