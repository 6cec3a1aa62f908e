"""The customer web pages' MoMo withdraw and send-to-MoMo ask for the same SMS step-up code
as the API (``momo_payout_with_step_up``, tests/test_momo_step_up.py): a large amount, or a
first payout to a number. On the old code a web withdrawal above the threshold went through
without any code."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from lightway.data.audit.models import AuditRecord
from lightway.data.momo.models import MomoRequest
from lightway.data.wallets.models import Transfer
from tests.momo_flow_support import momo_customer

pytestmark = pytest.mark.django_db

PHONE = "+256772123401"
PAYEE = "+256772123402"
KEY_RE = re.compile(r'name="key" value="([^"]+)"')
CHALLENGE_RE = re.compile(r'name="challenge" value="([^"]+)"')


@pytest.fixture
def amara(momo, client, settings):
    """A verified customer with UGX 1,000,000, signed in on the web; step-up above UGX
    100,000."""
    settings.LIGHTWAY_STEP_UP_AMOUNT_MINOR = "UGX:100000"
    uid = momo_customer("amara", timezone.now(), phone=PHONE, wallet=1_000_000)
    client.force_login(get_user_model().objects.get(pk=uid))
    return uid


def _reviewed(client, path: str, data: dict[str, str]) -> dict[str, str]:
    page = client.get(path)
    found = KEY_RE.search(page.content.decode())
    assert found
    data = {**data, "key": found.group(1)}
    review = client.post(path, data)
    assert review.status_code == 200 and 'data-testid="review"' in review.content.decode()
    return data


def _challenge(response) -> str:
    found = CHALLENGE_RE.search(response.content.decode())
    assert found, "no step-up challenge on the page"
    return found.group(1)


def _other(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def test_a_large_web_withdrawal_needs_the_sms_code(amara, client, outbox):
    data = _reviewed(client, "/app/momo/withdraw/", {"currency": "UGX", "amount": "200000"})
    asked = client.post("/app/momo/withdraw/", {**data, "confirm": "1"})
    # The old code redirected to the payment's status page here, with no code asked for.
    assert asked.status_code == 200, asked.get("Location")
    html = asked.content.decode()
    assert 'data-testid="step-up"' in html and 'name="code"' in html
    assert not Transfer.objects.exists() and not MomoRequest.objects.exists()
    assert "a MoMo withdrawal of UGX 200,000" in outbox.latest_sms(PHONE)
    challenge = _challenge(asked)
    code = outbox.latest_code(PHONE)

    empty = client.post("/app/momo/withdraw/", {**data, "confirm": "1", "challenge": challenge})
    assert empty.status_code == 400 and "Enter the code we sent you by SMS" in (
        empty.content.decode()
    )
    wrong = client.post(
        "/app/momo/withdraw/",
        {**data, "confirm": "1", "challenge": challenge, "code": _other(code)},
    )
    assert wrong.status_code == 400
    assert "This code is wrong or has expired" in wrong.content.decode()
    assert _challenge(wrong) == challenge and not Transfer.objects.exists()

    done = client.post(
        "/app/momo/withdraw/", {**data, "confirm": "1", "challenge": challenge, "code": code}
    )
    assert done.status_code == 302 and done["Location"].startswith("/app/momo/transfers/")
    transfer = Transfer.objects.get()
    assert (transfer.kind, transfer.amount) == ("withdrawal", 200_000)
    assert AuditRecord.objects.filter(action="step_up.passed").get().data == {
        "action": "momo_withdrawal"
    }
    # A second confirm of the answered form replays it without a new code.
    again = client.post("/app/momo/withdraw/", {**data, "confirm": "1"})
    assert again.status_code == 302 and again["Location"] == done["Location"]
    assert Transfer.objects.count() == 1


def test_a_small_withdrawal_needs_no_code(amara, client, outbox):
    data = _reviewed(client, "/app/momo/withdraw/", {"currency": "UGX", "amount": "50000"})
    assert client.post("/app/momo/withdraw/", {**data, "confirm": "1"}).status_code == 302
    assert Transfer.objects.count() == 1


def test_a_first_payout_to_a_number_needs_a_code_bound_to_it(amara, client, outbox):
    form = {"msisdn": PAYEE, "name": "", "currency": "UGX", "amount": "5000", "note": ""}
    data = _reviewed(client, "/app/momo/send/", form)
    asked = client.post("/app/momo/send/", {**data, "confirm": "1"})
    assert asked.status_code == 200 and 'data-testid="step-up"' in asked.content.decode()
    assert "a MoMo payout of UGX 5,000" in outbox.latest_sms(PHONE)
    challenge, code = _challenge(asked), outbox.latest_code(PHONE)
    # The code confirms this payout only: another amount is refused.
    other = {**data, "amount": "5001", "confirm": "1", "challenge": challenge, "code": code}
    assert client.post("/app/momo/send/", other).status_code == 400
    assert not Transfer.objects.exists()


def test_wrong_codes_lock_the_step_up_as_the_api_does(amara, client, outbox, settings):
    settings.LIGHTWAY_LOCKOUT_FREE_ATTEMPTS = 3
    data = _reviewed(client, "/app/momo/withdraw/", {"currency": "UGX", "amount": "300000"})
    challenge = _challenge(client.post("/app/momo/withdraw/", {**data, "confirm": "1"}))
    code = outbox.latest_code(PHONE)
    attempt = {**data, "confirm": "1", "challenge": challenge}
    for _ in range(4):
        wrong = client.post("/app/momo/withdraw/", {**attempt, "code": _other(code)})
        assert "This code is wrong or has expired" in wrong.content.decode()
    locked = client.post("/app/momo/withdraw/", {**attempt, "code": code})
    assert locked.status_code == 400
    assert "Too many wrong codes. Try again in" in locked.content.decode()
    assert not Transfer.objects.exists()


def test_the_code_page_is_in_french_for_a_french_customer(amara, client, outbox):
    from lightway.data.identity.models import Profile

    Profile.objects.filter(user_id=amara).update(language="fr")
    client.cookies["django_language"] = "fr"
    data = _reviewed(client, "/app/momo/withdraw/", {"currency": "UGX", "amount": "200000"})
    asked = client.post("/app/momo/withdraw/", {**data, "confirm": "1"})
    html = asked.content.decode()
    assert "Nous avons envoyé un code par SMS" in html and "Confirmer avec le code" in html
    assert "un retrait MoMo de" in outbox.latest_sms(PHONE)
