"""The staff delivery log (/staff/notifications/, issue 15): deliveries with the SMS
provider that took each, its delivery report and cost; costs per day; circuits; unknown
reports; masked; filters refuse bad values with 400; only notifications.log holders."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from lightway.application.notifications import deliverylog
from lightway.application.notifications.service import notification_deliver, notify
from lightway.data.notify.models import ReportStatus, SmsAttempt
from lightway.data.notify.sms import sms_report_apply, sms_unknown_report_store
from tests.conftest import VerifiedClient
from tests.factories import staff

pytestmark = pytest.mark.django_db
PHONE = "+256772123777"


def _as(username: str, role: str, now) -> VerifiedClient:
    client = VerifiedClient()
    user_id = staff(username, [role], now)
    client.force_login(get_user_model().objects.get(pk=user_id))
    return client


def test_the_log_shows_provider_report_and_cost_masked(outbox, now):
    (delivery_id,) = notify(template="login_code", context={"code": "135790"}, phone=PHONE, now=now)
    assert notification_deliver(delivery_id=delivery_id, now=now) == "sent"
    attempt = SmsAttempt.objects.get(delivery_id=delivery_id)
    sms_report_apply(
        provider="africastalking",
        provider_message_id=attempt.provider_message_id,
        status=ReportStatus.DELIVERED,
        error="",
        network_code="64110",
        now=now,
    )
    sms_unknown_report_store(
        provider="twilio",
        provider_message_id="SMunknown",
        status="delivered",
        recipient_masked="+233 •••••••67",
        now=now,
    )
    page = _as("log.support", "lw_support", now).get("/staff/notifications/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "africastalking (accepted)" in html and "delivered" in html
    assert "UGX 25.0000" in html  # the message's cost and the day's total
    assert "SMunknown" in html and "every circuit is closed" in html
    assert PHONE not in html and PHONE[4:] not in html and "135790" not in html


def test_filters_paging_and_bad_input(outbox, now, monkeypatch):
    monkeypatch.setattr(deliverylog, "PAGE_SIZE", 2)
    for n in range(3):
        notify(template="kyc_approved", context={}, phone=f"+25677212370{n}", now=now)
    client = _as("log.compliance", "lw_compliance", now)
    first = client.get("/staff/notifications/?channel=sms&status=queued")
    assert first.status_code == 200
    log = first.context["log"]
    assert len(log.rows) == 2 and log.next_before is not None
    older = client.get(f"/staff/notifications/?channel=sms&status=queued&before={log.next_before}")
    assert len(older.context["log"].rows) == 1 and older.context["log"].next_before is None
    bad = client.get("/staff/notifications/?channel=pigeon")
    assert bad.status_code == 400 and "pigeon" in bad.content.decode()  # kept, and said why
    forged = client.get("/staff/notifications/?before=x1")
    assert forged.status_code == 400 and "not a page of this log" in forged.content.decode()


def test_only_holders_of_notifications_log(now):
    assert _as("log.finance", "lw_finance", now).get("/staff/notifications/").status_code == 403


def test_micros_text():
    assert deliverylog.micros_text(25_000_000, "UGX") == "UGX 25.0000"
    assert deliverylog.micros_text(75_000, "USD") == "USD 0.0750"
    assert deliverylog.micros_text(None, "USD") == ""
