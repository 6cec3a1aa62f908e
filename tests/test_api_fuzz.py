"""Property-based fuzzing of the API from its own OpenAPI document (schemathesis).

Every operation of the document is called with generated valid and invalid input by each
kind of client the API has: a customer's mobile app (a bearer access token), a partner
(HMAC-signed requests) and an anonymous caller. Every schemathesis check runs (no 5xx,
documented status codes, content types, headers and response schemas, invalid data
rejected, valid data accepted, unsupported methods refused, authentication enforced, ...),
plus the API's one error shape. The ledger must still verify at the end, whatever was sent.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core.handlers.wsgi import WSGIRequest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.specs.openapi.checks import positive_data_acceptance

from lightway.application.authentication.sessions import login_start
from lightway.application.identity.profiles import profile_create
from lightway.application.kyc.tiers import kyc_limits_seed_defaults
from lightway.application.partners.keys import partner_key_create
from lightway.data.identity.models import Partner, Realm
from lightway.data.ledger.verify import ledger_verify
from lightway.interfaces.api.errors import STATUS_BY_CODE
from lightway.interfaces.web.wsgi import application
from lightway.security.apiauth.access import device_id_digest
from lightway.security.apiauth.models import Device
from lightway.security.signatures import HEADER_KEY, sign_request
from tests.factories import funded_wallet

load_all_checks()
# Every check schemathesis has (its CLI's `--checks all`), whatever the version adds.
ALL_CHECKS = [check for check in CHECKS.get_all() if callable(check)]
# 422 answers that refuse a well-formed request for a business reason no schema can
# express (the money is not there, a limit, an inactive account): every 422 code of the
# API but the one that says the input is malformed.
BUSINESS_REFUSALS = frozenset(code for code, status in STATUS_BY_CODE.items() if status == 422) - {
    "validation_failed"
}


def valid_data_accepted(ctx, response, case):
    """schemathesis' positive_data_acceptance, except that a business refusal of valid
    input (a 422 whose code is in BUSINESS_REFUSALS) counts as accepted: the input was
    understood. A 422 `validation_failed` on schema-valid input still fails: the document
    would be looser than the server."""
    if response.status_code == 422 and _error_code(response) in BUSINESS_REFUSALS:
        return True
    return positive_data_acceptance(ctx, response, case)


def _error_code(response):
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


class PartnerClient:
    """A partner's HTTP client library in front of the application: a request that carries
    the partner's key id in X-LW-Key is signed exactly as it arrives (method, path and
    query, body), as the partner's own code would. Any other request passes unsigned, so
    schemathesis can still remove or spoil the credentials and see them refused."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.key: tuple[str, str] | None = None  # (key id, secret) of the current test

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        # A WSGI server hands the path and query over as their bytes decoded as ISO-8859-1
        # (PEP 3333); the in-process test client can pass other characters as they are.
        header = "HTTP_" + HEADER_KEY.upper().replace("-", "_")
        if self.key is not None and environ.get(header) == self.key[0]:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            # the target exactly as the server will read it (signatures.py)
            # (on a copy: WSGIRequest rewrites PATH_INFO in the environ it is given)
            target = WSGIRequest(dict(environ)).get_full_path()
            signed = sign_request(
                key_id=self.key[0],
                secret=self.key[1],
                method=environ["REQUEST_METHOD"],
                target=target,
                body=body,
                timestamp=int(time.time()),
            )
            for name, value in signed.items():
                environ["HTTP_" + name.upper().replace("-", "_")] = value
        return self.app(environ, start_response)


partner_app = PartnerClient(application)
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", partner_app)

# Bounded (the whole file runs in under a minute) and derandomized: the same examples on
# every run, so CI is reproducible; change the seed of exploration by changing the code.
FUZZ = settings(
    max_examples=10,
    derandomize=True,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)


def error_shape(ctx, response, case):
    if 400 <= response.status_code < 600:
        body = response.json()
        assert set(body) == {"error"}, body
        assert set(body["error"]) == {
            "code",
            "category",
            "message",
            "path",
            "retryable",
            "details",
        }, body
        assert isinstance(body["error"]["code"], str) and body["error"]["message"]


CHECKS_RUN = [
    *(check for check in ALL_CHECKS if check is not positive_data_acceptance),
    valid_data_accepted,
    error_shape,
]


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


PHONE = "+256772123401"
PASSWORD = "amber-Lantern-2026"
DEVICE = "7c1d2e3f-aaaa-4bbb-8ccc-000000000001"


def _customer_session() -> dict[str, str]:
    """A customer signed in on a confirmed device (a mobile access token), with a funded
    wallet, and another customer's wallet to pay."""
    now = timezone.now()
    users = get_user_model().objects
    amara = users.create_user(username="amara", password=PASSWORD)
    profile = profile_create(
        user_id=amara.pk, realm=Realm.CUSTOMER, now=now, country="UG", phone=PHONE
    )
    profile.kyc_tier = 3
    profile.phone_verified_at = now
    profile.save()
    kyc_limits_seed_defaults(now=now)
    kofi = users.create_user(username="kofi", password=PASSWORD)
    profile_create(user_id=kofi.pk, realm=Realm.CUSTOMER, now=now, country="UG")
    funded_wallet(amara.pk, "UGX", 1_000_000, now)
    funded_wallet(kofi.pk, "UGX", 0, now)
    Device.objects.create(
        user=amara,
        device_id_hash=device_id_digest(DEVICE),
        first_seen_at=now,
        last_seen_at=now,
        trusted_at=now,
    )
    tokens = login_start(
        login=PHONE, password=PASSWORD, device_id=DEVICE, device_name="", country=None, now=now
    ).tokens
    assert tokens is not None
    return {"Authorization": f"Bearer {tokens.access_token}"}


def _partner_key() -> dict[str, str]:
    now = timezone.now()
    partner = Partner.objects.create(code="acme-remit", name="Acme Remit", created_at=now)
    key_id, secret = partner_key_create(partner_id=partner.pk, actor="user:1", now=now)
    partner_app.key = (key_id, secret)
    return {HEADER_KEY: key_id}


def _fx_rates() -> None:
    from decimal import Decimal

    from lightway.data.fx.models import FxRate
    from lightway.data.money import CURRENCY_CODES

    now = timezone.now()
    for code in (c for c in CURRENCY_CODES if c != "EUR"):
        FxRate.objects.create(
            base="EUR",
            quote=code,
            mid=Decimal("10"),
            bid=Decimal("9.9"),
            ask=Decimal("10.1"),
            source="regional",
            as_of=now,
            status="approved",
            proposed_by="feed:regional",
            decided_by="feed:regional",
            approved_at=now,
            created_at=now,
        )


@pytest.fixture(params=["customer", "partner", "anonymous"])
def client_headers(request, db, keep_test_connection, momo, settings):
    # ``momo``: the MoMo simulator configured, so /momo/* answer as on a platform with MoMo
    # (without it they answer 503 momo_unavailable). A fast password hash: the fuzzer signs
    # in a hundred times per operation, and Argon2's cost is not what is under test here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # A fresh rate for every currency against EUR, so /fx/quotes prices any pair (through a
    # cross) instead of answering 503 fx_rate_unavailable.
    _fx_rates()
    if request.param == "customer":
        yield _customer_session()
    elif request.param == "partner":
        yield _partner_key()
    else:
        yield {}
    partner_app.key = None
    # whatever was sent, the books still balance
    result = ledger_verify()
    assert result.ok, result.problems


@pytest.mark.django_db
def test_each_client_is_who_it_claims(client_headers, request):
    """The fuzzing below means something only if each client's credentials work: the
    customer reads its wallets, the partner's signed request authenticates, the anonymous
    caller is refused."""
    from werkzeug.test import Client

    kind = request.node.callspec.params["client_headers"]
    http = Client(partner_app)
    wallets = http.get("/api/v1/wallets", headers=client_headers)
    whoami = http.get("/api/v1/partner/whoami", headers=client_headers)
    assert wallets.status_code == (200 if kind == "customer" else 401), wallets.data
    assert whoami.status_code == (200 if kind == "partner" else 401), whoami.data


@pytest.mark.django_db
@schema.parametrize()
@FUZZ
def test_api_fuzz(case, client_headers):
    case.call_and_validate(headers=client_headers, checks=CHECKS_RUN)


STATEFUL = settings(
    max_examples=5,
    derandomize=True,
    stateful_step_count=4,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.django_db
def test_api_stateful(client_headers):
    """Sequences of calls along the links schemathesis infers between operations (a
    transfer created, then read; a device listed, then signed out), with every check: the
    checks that need a history (use_after_free, ensure_resource_availability) run here."""
    machine = schema.as_state_machine()

    class Clients(machine):  # type: ignore[misc,valid-type]
        def get_call_kwargs(self, case):
            return {"headers": client_headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(
                response,
                checks=CHECKS_RUN,
                headers=client_headers,  # the client's own credentials, not generated ones
                transport_kwargs=kwargs,
                recorder=self.recorder,
            )

    Clients.run(settings=STATEFUL)
