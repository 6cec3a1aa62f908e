"""Step-up for MoMo withdrawals and payouts made with a mobile session token: a large
amount, or a payout to a number this client never paid successfully, needs an SMS code bound
to the exact payout (as ``POST /transfers``, tests/test_step_up.py)."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from lightway.application.authentication.sessions import login_start
from lightway.data.audit.models import AuditRecord
from lightway.data.momo.models import MomoRequest
from lightway.data.wallets.models import Transfer
from lightway.security.apiauth.access import device_id_digest
from lightway.security.apiauth.models import Device
from lightway.security.tokens import token_issue
from tests.momo_flow_support import momo_customer, run_momo_jobs, settle

pytestmark = pytest.mark.django_db

PHONE = "+256772123401"
PAYEE = "+256772123402"
OTHER_PAYEE = "+256772123403"
DEVICE = "7c1d2e3f-aaaa-4bbb-8ccc-000000000002"


@pytest.fixture
def amara(momo, settings):
    """A verified customer with UGX 1,000,000 signed in on a trusted phone: (id, token).
    The step-up threshold is UGX 100,000 here."""
    settings.LIGHTWAY_STEP_UP_AMOUNT_MINOR = "UGX:100000"
    now = timezone.now()
    uid = momo_customer("amara", now, phone=PHONE, wallet=1_000_000)
    Device.objects.create(
        user=get_user_model().objects.get(pk=uid),
        device_id_hash=device_id_digest(DEVICE),
        first_seen_at=now,
        last_seen_at=now,
        trusted_at=now,
    )
    tokens = login_start(
        login=PHONE,
        password="x-Unused-123",
        device_id=DEVICE,
        device_name="",
        country=None,
        now=now,
    ).tokens
    assert tokens is not None
    return uid, tokens.access_token


def post(client, token, path, body, key, challenge=None, code=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_IDEMPOTENCY_KEY": key}
    if challenge is not None:
        headers["HTTP_X_STEP_UP_CHALLENGE"] = challenge
    if code is not None:
        headers["HTTP_X_STEP_UP_CODE"] = code
    return client.post(
        f"/api/v1/momo/{path}", data=json.dumps(body), content_type="application/json", **headers
    )


def payout(amount, msisdn=PAYEE):
    return {"currency": "UGX", "amount": amount, "msisdn": msisdn}


def step_up(resp, reasons):
    assert resp.status_code == 403, resp.content
    err = resp.json()["error"]
    assert err["code"] == "step_up_required", err
    assert err["details"]["reasons"] == reasons
    return err["details"]["challenge_id"]


def invalid(resp):
    assert resp.status_code == 403, resp.content
    assert resp.json()["error"]["code"] == "step_up_invalid"


def test_payout_to_a_new_number_needs_a_code(client, outbox, amara):
    _, token = amara
    challenge = step_up(post(client, token, "payouts", payout(5_000), "p-1"), ["new_payee"])
    assert not Transfer.objects.exists() and not MomoRequest.objects.exists()
    assert "a MoMo payout of UGX 5,000" in outbox.latest_sms(PHONE)
    code = outbox.latest_code(PHONE)

    wrong = "000000" if code != "000000" else "111111"
    invalid(post(client, token, "payouts", payout(5_000), "p-1", challenge, wrong))
    assert not Transfer.objects.exists()

    resp = post(client, token, "payouts", payout(5_000), "p-1", challenge, code)
    assert resp.status_code == 201, resp.content
    assert MomoRequest.objects.count() == 1
    # a retry of the answered request replays it without a new challenge
    again = post(client, token, "payouts", payout(5_000), "p-1")
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert AuditRecord.objects.filter(action="step_up.passed").get().data == {
        "action": "momo_payout"
    }


def test_the_code_is_bound_to_the_payout(client, outbox, amara):
    _, token = amara
    challenge = step_up(post(client, token, "payouts", payout(5_000), "b-1"), ["new_payee"])
    code = outbox.latest_code(PHONE)
    # another amount, another number, or a (large) withdrawal: refused, nothing recorded
    invalid(post(client, token, "payouts", payout(5_001), "b-2", challenge, code))
    invalid(post(client, token, "payouts", payout(5_000, OTHER_PAYEE), "b-3", challenge, code))
    big = {"currency": "UGX", "amount": 200_000}
    invalid(post(client, token, "withdrawals", big, "b-4", challenge, code))
    assert not Transfer.objects.exists()
    # the payout it was sent for goes through (the same number written another way)
    resp = post(client, token, "payouts", payout(5_000, "256 772 123 402"), "b-1", challenge, code)
    assert resp.status_code == 201, resp.content


def test_a_number_paid_successfully_is_known(client, outbox, amara, momo):
    _, token = amara
    challenge = step_up(post(client, token, "payouts", payout(5_000), "k-1"), ["new_payee"])
    resp = post(
        client, token, "payouts", payout(5_000), "k-1", challenge, outbox.latest_code(PHONE)
    )
    assert resp.status_code == 201, resp.content
    # not paid yet: still a new payee
    step_up(post(client, token, "payouts", payout(6_000), "k-2"), ["new_payee"])
    now = timezone.now()
    run_momo_jobs(now)
    settle(momo, client, now)
    assert Transfer.objects.get(idempotency_key="k-1").status == "succeeded"

    resp = post(client, token, "payouts", payout(6_000), "k-3")
    assert resp.status_code == 201, resp.content  # below the threshold: no code
    # above it, a code even for a known number; another number is new
    step_up(post(client, token, "payouts", payout(100_001), "k-4"), ["amount"])
    step_up(post(client, token, "payouts", payout(100, OTHER_PAYEE), "k-5"), ["new_payee"])


def test_withdrawal_above_the_threshold_needs_a_code(client, outbox, amara):
    _, token = amara
    small = {"currency": "UGX", "amount": 100_000}  # not above the threshold
    assert post(client, token, "withdrawals", small, "w-1").status_code == 201
    body = {"currency": "UGX", "amount": 100_001}
    challenge = step_up(post(client, token, "withdrawals", body, "w-2"), ["amount"])
    assert Transfer.objects.count() == 1
    assert "a MoMo withdrawal of UGX 100,001" in outbox.latest_sms(PHONE)
    resp = post(client, token, "withdrawals", body, "w-2", challenge, outbox.latest_code(PHONE))
    assert resp.status_code == 201, resp.content
    assert Transfer.objects.count() == 2


def test_api_tokens_for_automation_are_not_challenged(client, outbox, amara):
    uid, _ = amara
    legacy = token_issue(user_id=uid, now=timezone.now())
    assert post(client, legacy, "payouts", payout(200_000), "l-1").status_code == 201
    resp = post(client, legacy, "withdrawals", {"currency": "UGX", "amount": 200_000}, "l-2")
    assert resp.status_code == 201, resp.content
    assert outbox.sms_to(PHONE) == []


def test_no_code_is_sent_for_a_request_that_cannot_go_ahead(client, outbox, amara):
    """The flow's own refusals come before the step-up: no SMS, no challenge, nothing
    recorded (a large payout in a currency without a wallet, a large withdrawal in a
    currency MoMo does not serve here)."""
    _, token = amara
    resp = post(client, token, "payouts", {**payout(500_000), "currency": "GHS"}, "n-1")
    assert resp.status_code == 404, resp.content
    assert resp.json()["error"]["message"] == "you have no GHS wallet"
    resp = post(client, token, "withdrawals", {"currency": "USD", "amount": 500_000}, "n-2")
    assert resp.status_code == 422, resp.content
    assert "USD" in resp.json()["error"]["message"], resp.content
    assert outbox.sms_to(PHONE) == []
    assert not Transfer.objects.exists()
    # the same payout in the wallet's currency is challenged as before
    step_up(post(client, token, "payouts", payout(500_000), "n-3"), ["amount", "new_payee"])
    assert len(outbox.sms_to(PHONE)) == 1
