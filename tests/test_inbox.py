"""The customer's message inbox (/app/inbox/): the SMS and emails sent to them, newest
first, keyset paged, one-time codes and links with tokens masked, their own only."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from lightway.application.notifications.service import MASK, inbox_page, notify
from lightway.application.onboarding import registration
from lightway.data.notify.models import Delivery
from tests.factories import customer
from tests.query_cost import rows_read

pytestmark = pytest.mark.django_db

PHONE = "+256772123456"


def _customer(username: str, now, phone: str) -> int:
    return customer(username, now, tier=1, phone=phone)[0]


def _client(uid: int) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.get(pk=uid))
    return client


def test_the_inbox_shows_the_messages_with_codes_masked(now, outbox):
    uid = registration.registration_start(
        phone=PHONE,
        country="UG",
        password="Kampala-sunrise-2026",
        language="en",
        accept_terms=True,
        client="192.0.2.9",
        now=now,
    )
    code = outbox.latest_code(PHONE)  # delivered: the body itself is erased now
    assert Delivery.objects.get(user_id=uid, template="phone_code").body_ct is None
    html = _client(uid).get("/app/inbox/").content.decode()
    item = re.search(r'data-testid="inbox-item">(.*?)</li>', html, re.S)
    assert item, html
    assert "your verification code is " + MASK in item.group(1)
    assert code not in html  # never a valid code
    assert "SMS" in item.group(1)


def test_email_links_with_a_token_are_hidden(now, outbox):
    uid = _customer("ama", now, PHONE)
    registration.email_add(user_id=uid, email="ama@example.test", now=now)
    link = outbox.latest_link("ama@example.test")
    html = _client(uid).get("/app/inbox/").content.decode()
    assert "[link hidden]" in html and link not in html
    assert link.rsplit("/", 1)[1] not in html


def test_newest_first_in_keyset_pages_and_each_sees_only_their_own(now):
    uid = _customer("kofi", now, PHONE)
    other = _customer("ama", now, "+256772654321")
    for tier in range(1, 26):  # 25 messages
        notify(template="limits_raised", context={"tier": tier}, user_id=uid, now=now)
    notify(template="limits_raised", context={"tier": 99}, user_id=other, now=now)

    client = _client(uid)
    first = client.get("/app/inbox/").content.decode()
    tiers = [int(t) for t in re.findall(r"KYC tier (\d+)", first)]
    assert tiers == list(range(25, 5, -1))  # 20, newest first
    older = re.search(r'href="/app/inbox/\?before=(\d+)" rel="next"', first)
    assert older
    second = client.get(f"/app/inbox/?before={older.group(1)}").content.decode()
    assert [int(t) for t in re.findall(r"KYC tier (\d+)", second)] == [5, 4, 3, 2, 1]
    assert 'rel="next"' not in second
    assert "KYC tier 99" not in first + second  # another customer's message

    theirs = _client(other).get("/app/inbox/").content.decode()
    assert re.findall(r"KYC tier (\d+)", theirs) == ["99"]
    # a bad cursor is ignored (the first page), never a 500
    assert _client(uid).get("/app/inbox/?before=abc").status_code == 200


def test_staff_and_strangers_cannot_open_it(now, admin_client):
    assert Client().get("/app/inbox/")["Location"].startswith("/app/login/")
    assert admin_client.get("/app/inbox/").status_code in (302, 403)


def test_a_page_reads_only_its_rows(now):
    """Keyset on the id through the inbox index: the cost of a page does not grow with
    the delivery log."""
    uid = _customer("kofi", now, PHONE)
    other = _customer("ama", now, "+256772654321")
    for tier in range(60):
        notify(template="limits_raised", context={"tier": tier}, user_id=other, now=now)
    for tier in range(30):
        notify(template="limits_raised", context={"tier": tier}, user_id=uid, now=now)
    newest = inbox_page(user_id=uid, limit=10)
    read = rows_read(
        lambda: inbox_page(user_id=uid, before_id=newest.next_before, limit=10),
        as_on_a_large_table=True,
    )
    assert read["notify_delivery"] <= 11
