"""Issue 11 finding 4: every SMS a caller can ask for is rate limited per client address and
per phone number, with the limits in settings; over HTTP a used-up limit is 429
``too_many_requests`` with Retry-After, never a 500.

Registration and new phone codes are in tests/test_registration.py; here the login code of a
new device, the step-up code, the registration page and the client address behind proxies.
"""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory

from lightway.data.identity.models import Profile
from lightway.interfaces.web.client import client_address
from lightway.security.models import RateCounter
from tests.test_api_auth import PASSWORD, PHONE, error, make_customer
from tests.test_step_up import send, setup, step_up  # noqa: F401 - setup is a fixture

pytestmark = pytest.mark.django_db


def login(client, login=PHONE, device="", remote="127.0.0.1"):
    body = {"login": login, "password": PASSWORD, "device_id": device}
    return client.post(
        "/api/v1/auth/login",
        data=json.dumps(body),
        content_type="application/json",
        REMOTE_ADDR=remote,
    )


NEW_DEVICES = [f"7c1d2e3f-aaaa-4bbb-8ccc-00000000010{i}" for i in range(5)]


def test_login_codes_are_limited_per_number(client, outbox, settings):
    settings.LIGHTWAY_RATE_SMS_PER_PHONE_HOUR = 2
    make_customer()
    for device in NEW_DEVICES[:2]:
        assert login(client, device=device).status_code == 202
    refused = login(client, device=NEW_DEVICES[2], remote="198.51.100.20")
    err = error(refused, 429, "too_many_requests")
    assert 0 < int(refused["Retry-After"]) <= 3600
    assert err["details"]["retry_after_seconds"] == int(refused["Retry-After"])
    assert len(outbox.sms_to(PHONE)) == 2


def test_login_codes_are_limited_per_client_address(client, outbox, settings):
    settings.LIGHTWAY_RATE_SMS_PER_CLIENT_HOUR = 1
    make_customer()
    make_customer(username="kofi", phone="+256772123499")
    assert login(client, device=NEW_DEVICES[0], remote="198.51.100.30").status_code == 202
    other = login(client, login="+256772123499", device=NEW_DEVICES[1], remote="198.51.100.30")
    error(other, 429, "too_many_requests")
    elsewhere = login(client, login="+256772123499", device=NEW_DEVICES[1], remote="198.51.100.31")
    assert elsewhere.status_code == 202


def test_step_up_codes_are_limited_per_number(client, outbox, setup, settings):  # noqa: F811
    settings.LIGHTWAY_RATE_SMS_PER_PHONE_HOUR = 2
    _, token, source, target = setup
    step_up(send(client, token, source, target, 1500), ["new_payee"])
    step_up(send(client, token, source, target, 1600), ["new_payee"])
    error(send(client, token, source, target, 1700), 429, "too_many_requests")
    assert len(outbox.sms_to(PHONE)) == 2


def test_the_registration_page_says_to_slow_down(client, outbox, settings):
    settings.LIGHTWAY_RATE_REGISTER_PER_CLIENT_HOUR = 1
    form = {
        "country": "UG",
        "phone": "0772000701",
        "password": "Kampala-sunrise-2026",
        "language": "en",
        "accept_terms": "on",
    }
    first = client.post("/app/register/", form, REMOTE_ADDR="198.51.100.40")
    assert first.status_code == 302, first.content.decode()[:2000]
    client.logout()
    second = client.post(
        "/app/register/", {**form, "phone": "0772000702"}, REMOTE_ADDR="198.51.100.40"
    )
    assert second.status_code == 400
    assert "Too many requests" in second.content.decode()
    assert Profile.objects.count() == 1
    # counters hold a keyed hash of the address, never the address
    assert not RateCounter.objects.filter(key__contains="198.51.100").exists()


@pytest.mark.parametrize(
    ("hops", "remote", "forwarded", "expected"),
    [
        (0, "203.0.113.5", "198.51.100.1", "203.0.113.5"),  # no proxy: the header is ignored
        (1, "10.0.0.2", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # what our proxy saw
        (2, "10.0.0.2", "6.6.6.6, 198.51.100.1, 10.0.0.9", "198.51.100.1"),
        (1, "10.0.0.2", "", "10.0.0.2"),
        (0, "not an address", "", ""),
    ],
)
def test_the_client_address_trusts_only_the_configured_proxies(
    settings, hops, remote, forwarded, expected
):
    settings.LIGHTWAY_PROXY_HOPS = hops
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected
