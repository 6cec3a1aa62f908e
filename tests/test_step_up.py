"""Step-up for risky transfers in mobile sessions: large amounts and first payments to a
wallet need an SMS code bound to the exact request."""

from __future__ import annotations

import json
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from lightway.application.authentication.sessions import login_start
from lightway.application.authentication.step_up import step_up_thresholds, transfer_risks
from lightway.application.identity.profiles import profile_create
from lightway.application.transactions.transfers import TransferRequest
from lightway.data.audit.models import AuditRecord
from lightway.data.identity.models import Realm
from lightway.data.wallets.models import Transfer
from lightway.security.apiauth.access import device_id_digest
from lightway.security.apiauth.models import Device
from lightway.security.tokens import token_issue
from tests.factories import funded_wallet

pytestmark = pytest.mark.django_db

PHONE = "+256772123401"
PASSWORD = "amber-Lantern-2026"
DEVICE = "7c1d2e3f-aaaa-4bbb-8ccc-000000000001"


@pytest.fixture
def setup(settings):
    # The step-up rules are under test, not the KYC tier limits (tests of their own).
    settings.LIGHTWAY_LIMITS_POLICY = "lightway.application.payments.limits.PerTransactionCap"
    now = timezone.now()
    users = get_user_model().objects
    amara = users.create_user(username="amara", password=PASSWORD)
    profile_create(user_id=amara.pk, realm=Realm.CUSTOMER, now=now, country="UG", phone=PHONE)
    kofi = users.create_user(username="kofi", password=PASSWORD)
    profile_create(
        user_id=kofi.pk, realm=Realm.CUSTOMER, now=now, country="UG", phone="+256772123402"
    )
    source = funded_wallet(amara.pk, "UGX", 10_000_000, now)
    target = funded_wallet(kofi.pk, "UGX", 0, now)
    # a device Amara already confirmed: login gives tokens at once
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
    return amara, tokens.access_token, source, target


def send(client, token, source, target, amount, key=None, challenge=None, code=None):
    headers = {
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "HTTP_IDEMPOTENCY_KEY": key or str(uuid.uuid4()),
    }
    if challenge is not None:
        headers["HTTP_X_STEP_UP_CHALLENGE"] = challenge
    if code is not None:
        headers["HTTP_X_STEP_UP_CODE"] = code
    body = {
        "source_wallet_id": str(source.id),
        "destination_wallet_id": str(target.id),
        "amount": amount,
        "currency": "UGX",
    }
    return client.post(
        "/api/v1/transfers", data=json.dumps(body), content_type="application/json", **headers
    )


def step_up(resp, reasons):
    assert resp.status_code == 403, resp.content
    err = resp.json()["error"]
    assert err["code"] == "step_up_required", err
    assert err["details"]["reasons"] == reasons
    return err["details"]["challenge_id"]


def other(code):
    return "000000" if code != "000000" else "111111"


def test_first_payment_to_a_wallet_needs_a_code(client, outbox, setup):
    _, token, source, target = setup
    resp = send(client, token, source, target, 1500, key="k-1")
    challenge = step_up(resp, ["new_payee"])
    assert not Transfer.objects.exists()  # nothing recorded before the code
    sms = outbox.latest_sms(PHONE)
    assert "a transfer of UGX 1,500" in sms
    code = outbox.latest_code(PHONE)

    resp = send(client, token, source, target, 1500, key="k-1", challenge=challenge, code=code)
    assert resp.status_code == 201, resp.content
    # the retry of the answered request is a replay, not a new challenge
    again = send(client, token, source, target, 1500, key="k-1")
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    # Kofi is a known payee now: a small payment goes through at once
    assert send(client, token, source, target, 2000).status_code == 201
    assert AuditRecord.objects.filter(action="step_up.challenge").count() == 1
    assert AuditRecord.objects.filter(action="step_up.passed").count() == 1
    assert code not in json.dumps(list(AuditRecord.objects.values_list("data", flat=True)))


def test_large_amount_needs_a_code_even_to_a_known_payee(client, outbox, setup, settings):
    _, token, source, target = setup
    challenge = step_up(send(client, token, source, target, 100, key="a"), ["new_payee"])
    send(
        client,
        token,
        source,
        target,
        100,
        key="a",
        challenge=challenge,
        code=outbox.latest_code(PHONE),
    )
    assert send(client, token, source, target, 1_000_000).status_code == 201  # not above
    resp = send(client, token, source, target, 1_000_001, key="big")
    challenge = step_up(resp, ["amount"])
    assert "UGX 1,000,001" in outbox.latest_sms(PHONE)
    resp = send(
        client,
        token,
        source,
        target,
        1_000_001,
        key="big",
        challenge=challenge,
        code=outbox.latest_code(PHONE),
    )
    assert resp.status_code == 201, resp.content
    # the threshold is configurable per currency
    settings.LIGHTWAY_STEP_UP_AMOUNT_MINOR = "UGX:500"
    step_up(send(client, token, source, target, 501), ["amount"])


def test_the_code_is_bound_to_the_request(client, outbox, setup):
    _, token, source, target = setup
    challenge = step_up(send(client, token, source, target, 1500, key="x"), ["new_payee"])
    code = outbox.latest_code(PHONE)
    # the same code and challenge for another amount, or under another key: refused
    resp = send(client, token, source, target, 1600, key="x2", challenge=challenge, code=code)
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "step_up_invalid"
    assert not Transfer.objects.exists()
    # the request it was sent for still goes through
    resp = send(client, token, source, target, 1500, key="x", challenge=challenge, code=code)
    assert resp.status_code == 201, resp.content
    # and the code works once: the same body under a new key needs a new code
    big = step_up(send(client, token, source, target, 2_000_000, key="y1"), ["amount"])
    code = outbox.latest_code(PHONE)
    resp = send(client, token, source, target, 2_000_000, key="y1", challenge=big, code=code)
    assert resp.status_code == 201, resp.content
    resp = send(client, token, source, target, 2_000_000, key="y2", challenge=big, code=code)
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "step_up_invalid"


def test_a_code_for_another_request_fails_even_with_a_fresh_challenge(client, outbox, setup):
    _, token, source, target = setup
    first = step_up(send(client, token, source, target, 1500, key="a"), ["new_payee"])
    code_a = outbox.latest_code(PHONE)
    step_up(send(client, token, source, target, 1700, key="b"), ["new_payee"])
    code_b = outbox.latest_code(PHONE)
    # the second request replaced the first code: it no longer works for the first request
    resp = send(client, token, source, target, 1500, key="a", challenge=first, code=code_a)
    assert resp.json()["error"]["code"] == "step_up_invalid"
    if code_b != code_a:
        resp = send(client, token, source, target, 1500, key="a", challenge=first, code=code_b)
        assert resp.json()["error"]["code"] == "step_up_invalid"


def test_wrong_codes_count_toward_lockout(client, outbox, setup, settings):
    _, token, source, target = setup
    settings.LIGHTWAY_LOCKOUT_FREE_ATTEMPTS = 3
    challenge = step_up(send(client, token, source, target, 1500, key="k"), ["new_payee"])
    wrong = other(outbox.latest_code(PHONE))
    for _ in range(4):
        resp = send(client, token, source, target, 1500, key="k", challenge=challenge, code=wrong)
        assert resp.status_code == 403 and resp.json()["error"]["code"] == "step_up_invalid"
    resp = send(
        client,
        token,
        source,
        target,
        1500,
        key="k",
        challenge=challenge,
        code=outbox.latest_code(PHONE),
    )
    assert resp.status_code == 429, resp.content
    assert resp.json()["error"]["code"] == "too_many_attempts"
    assert int(resp["Retry-After"]) >= 1
    assert not Transfer.objects.exists()


def test_forged_or_foreign_challenges_are_refused(client, outbox, setup):
    _, token, source, target = setup
    challenge = step_up(send(client, token, source, target, 1500, key="k"), ["new_payee"])
    code = outbox.latest_code(PHONE)
    head, payload, signature = challenge.split(".")
    for forged in (f"{head}.{payload}.{signature[:-2]}AA", "lwc1.x.y", "nonsense"):
        resp = send(client, token, source, target, 1500, key="k", challenge=forged, code=code)
        assert resp.status_code == 403 and resp.json()["error"]["code"] == "step_up_invalid"


def test_repeating_the_request_does_not_flood_sms(client, outbox, setup):
    _, token, source, target = setup
    first = step_up(send(client, token, source, target, 1500, key="k"), ["new_payee"])
    second = step_up(send(client, token, source, target, 1500, key="k"), ["new_payee"])
    assert len(outbox.sms_to(PHONE)) == 1
    resp = send(
        client,
        token,
        source,
        target,
        1500,
        key="k",
        challenge=second,
        code=outbox.latest_code(PHONE),
    )
    assert resp.status_code == 201, resp.content
    assert first  # both challenges name the same code


def test_unknown_destination_is_not_challenged(client, outbox, setup):
    _, token, source, _target = setup

    class Missing:
        id = uuid.uuid4()

    resp = send(client, token, source, Missing, 1500)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    assert outbox.sms_to(PHONE) == []


def test_api_tokens_for_automation_are_not_challenged(client, outbox, setup):
    amara, _, source, target = setup
    legacy = token_issue(user_id=amara.pk, now=timezone.now())
    assert send(client, legacy, source, target, 5_000_000).status_code == 201
    assert outbox.sms_to(PHONE) == []


def test_rules_and_thresholds(setup, settings):
    amara, _, source, target = setup
    assert step_up_thresholds()["UGX"] == 1_000_000 and step_up_thresholds()["GHS"] == 200_000
    request = TransferRequest(source.id, target.id, 2_000_000, "UGX")
    assert transfer_risks(client_id=amara.pk, request=request) == ["amount", "new_payee"]
    settings.LIGHTWAY_STEP_UP_AMOUNT_MINOR = "UGX:5000000, GHS:100"
    assert step_up_thresholds()["UGX"] == 5_000_000 and step_up_thresholds()["GHS"] == 100
    assert transfer_risks(client_id=amara.pk, request=request) == ["new_payee"]
    for bad in ("UGX", "UGX:-1", "JPY:100", "UGX:abc"):
        settings.LIGHTWAY_STEP_UP_AMOUNT_MINOR = bad
        with pytest.raises(ValueError):
            step_up_thresholds()
