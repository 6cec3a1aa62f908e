"""SMS routing and delivery reports through the platform (issue 15): failover between
Africa's Talking and Twilio, the circuit breaker, a one-time code never sent through two
providers unless the first provably failed, delivery reports over real HTTP into a live
server (ordering, duplicates, unknown ids, signature refusal), costs per day, and no
personal data in the logs."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import httpx
import pytest
from django.db import IntegrityError, connection, transaction

from lightway.application.notifications.service import notification_deliver, notify
from lightway.data.notify.models import (
    Delivery,
    SmsAttempt,
    SmsCostDay,
    SmsProviderCircuit,
    SmsUnknownReport,
)
from lightway.integration.notify.providers_sim import DEMO_TWILIO_AUTH_TOKEN
from lightway.integration.notify.twilio import SIGNATURE_HEADER, twilio_signature
from lightway.interfaces.cli.checks import check_sms_routes

PHONE = "+256772123999"
CODE = "482913"


def _code(now, phone: str = PHONE) -> int:
    (delivery_id,) = notify(
        template="login_code", context={"code": CODE}, phone=phone, now=now, critical=True
    )
    return delivery_id


def _attempts(delivery_id: int) -> list[tuple[str, str, str]]:
    return [
        (a.provider, a.outcome, a.error_code)
        for a in SmsAttempt.objects.filter(delivery_id=delivery_id).order_by("id")
    ]


# --- failover ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_provider_that_provably_failed_hands_over_to_the_fallback(outbox, now):
    outbox.set_faults(at_errors=1, at_status_code=405)  # insufficient balance
    delivery_id = _code(now)
    assert notification_deliver(delivery_id=delivery_id, now=now) == "sent"
    assert _attempts(delivery_id) == [
        ("africastalking", "refused", "insufficient_balance"),
        ("twilio", "accepted", ""),
    ]
    (message,) = outbox.simulator.messages(to=PHONE)
    assert message.provider == "twilio" and CODE in message.text  # exactly once
    assert Delivery.objects.get(pk=delivery_id).provider_id.startswith("SM")


@pytest.mark.django_db
def test_a_refused_number_is_not_tried_elsewhere(outbox, now):
    outbox.set_faults(at_errors=1, at_status_code=406)  # the user is blacklisted
    delivery_id = _code(now)
    assert notification_deliver(delivery_id=delivery_id, now=now) == "failed"
    assert _attempts(delivery_id) == [("africastalking", "refused", "blacklisted")]
    assert outbox.simulator.messages() == []


@pytest.mark.django_db
def test_after_a_timeout_the_code_never_goes_through_another_provider(outbox, settings, now):
    settings.LIGHTWAY_SMS_TIMEOUT_SECONDS = 1
    outbox.set_faults(sms_delay_ms=1600)  # Africa's Talking answers too late...
    delivery_id = _code(now)
    assert notification_deliver(delivery_id=delivery_id, now=now) == "queued"
    assert _attempts(delivery_id) == [("africastalking", "unknown", "timeout")]
    # ...but it did take the message: the code reached the phone once, through it alone
    deadline = time.monotonic() + 5
    while not outbox.simulator.messages(to=PHONE) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [m.provider for m in outbox.simulator.messages(to=PHONE)] == ["africastalking"]

    # The retry is pinned to Africa's Talking even while it refuses: Twilio is never asked
    outbox.set_faults(at_errors=1, at_status_code=405)
    later = Delivery.objects.get(pk=delivery_id).next_attempt_at
    assert notification_deliver(delivery_id=delivery_id, now=later) == "queued"
    assert [a[0] for a in _attempts(delivery_id)] == ["africastalking", "africastalking"]
    assert [m.provider for m in outbox.simulator.messages(to=PHONE)] == ["africastalking"]


@pytest.mark.django_db
def test_an_attempt_left_pending_by_a_dead_worker_pins_the_provider_too(outbox, now):
    delivery_id = _code(now)
    SmsAttempt.objects.create(
        delivery_id=delivery_id, provider="twilio", outcome="pending", started_at=now
    )
    assert notification_deliver(delivery_id=delivery_id, now=now) == "sent"
    assert [a[0] for a in _attempts(delivery_id)] == ["twilio", "twilio"]


# --- the circuit breaker -------------------------------------------------------------------


@pytest.mark.django_db
def test_circuit_opens_after_consecutive_failures_then_half_opens(outbox, settings, now):
    settings.LIGHTWAY_SMS_BREAKER_FAILURES = 2
    settings.LIGHTWAY_SMS_BREAKER_SECONDS = 60
    outbox.set_faults(at_errors=2, at_status_code=501)  # gateway errors
    for n in range(2):
        delivery_id = _code(now, phone=f"+25677212300{n}")
        assert notification_deliver(delivery_id=delivery_id, now=now) == "sent"  # via Twilio
    circuit = SmsProviderCircuit.objects.get(provider="africastalking")
    assert circuit.failures == 2 and circuit.open_until == now + timedelta(seconds=60)

    # Open: Africa's Talking is not even asked
    requests = outbox.simulator.store.sms_requests
    delivery_id = _code(now, phone="+256772123005")
    assert notification_deliver(delivery_id=delivery_id, now=now + timedelta(seconds=30)) == "sent"
    assert _attempts(delivery_id) == [("twilio", "accepted", "")]
    assert outbox.simulator.store.sms_requests == requests + 1

    # Half-open after the delay: one trial, which succeeds and closes the circuit
    later = now + timedelta(seconds=61)
    delivery_id = _code(later, phone="+256772123006")
    assert notification_deliver(delivery_id=delivery_id, now=later) == "sent"
    assert _attempts(delivery_id) == [("africastalking", "accepted", "")]
    circuit.refresh_from_db()
    assert (circuit.failures, circuit.open_until) == (0, None)


@pytest.mark.django_db
def test_every_provider_down_is_temporary(outbox, now):
    outbox.set_faults(sms_errors=2, sms_status=503)
    delivery_id = _code(now)
    assert notification_deliver(delivery_id=delivery_id, now=now) == "queued"
    assert Delivery.objects.get(pk=delivery_id).last_error == "Twilio answered 503, error 20500"
    assert outbox.simulator.messages() == []


# --- costs ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_costs_are_recorded_per_message_and_summed_per_day(outbox, now):
    for n in range(3):
        notification_deliver(delivery_id=_code(now, phone=f"+25677212301{n}"), now=now)
    outbox.set_faults(at_errors=1, at_status_code=405)
    notification_deliver(delivery_id=_code(now, phone="+256772123020"), now=now)
    days = {
        (row.provider, row.currency): (row.messages, row.cost_micros)
        for row in SmsCostDay.objects.filter(day=now.date())
    }
    assert days == {("africastalking", "UGX"): (3, 75_000_000), ("twilio", "USD"): (1, 75_000)}


# --- delivery reports over real HTTP -------------------------------------------------------


@pytest.fixture
def reports(outbox, settings, live_server):
    """Delivery reports from the simulator into a live server, as in production."""
    httpx.get(f"{live_server.url}/healthz", timeout=60)  # the first request loads the URLs
    token = settings.AFRICASTALKING_WEBHOOK_TOKEN
    outbox.simulator.configure(
        at_callback_url=f"{live_server.url}/webhooks/sms/africastalking/{token}"
    )
    settings.TWILIO_STATUS_CALLBACK_URL = f"{live_server.url}/webhooks/sms/twilio"
    outbox.set_faults(dlr_delay_ms=30)
    yield outbox
    outbox.simulator.configure(at_callback_url="")


def _wait_reports(sim, count: int) -> list[dict]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        sent = list(sim.reports.sent)
        if len(sent) >= count and sim.reports.pending() == 0:
            return [{"status": r.status, "form": r.form, "error": r.error} for r in sent]
        time.sleep(0.05)
    raise AssertionError(f"{len(sim.reports.sent)} reports arrived, {count} expected")


@pytest.mark.django_db(transaction=True)
def test_reports_update_the_attempt_in_order(reports, now):
    delivery_id = _code(now)
    assert notification_deliver(delivery_id=delivery_id, now=now) == "sent"
    arrived = _wait_reports(reports.simulator, 2)
    assert [r["status"] for r in arrived] == [200, 200], arrived
    (attempt,) = SmsAttempt.objects.filter(delivery_id=delivery_id)
    assert (attempt.report_status, attempt.report_final, attempt.network_code) == (
        "delivered",
        True,
        "64110",
    )
    assert attempt.reports == 2


@pytest.mark.django_db(transaction=True)
def test_reports_in_any_order_and_twice_never_move_a_final_status_back(reports, now):
    reports.set_faults(dlr_delay_ms=30, dlr_reverse=1, dlr_duplicate=1, dlr_fail=1)
    delivery_id = _code(now)
    notification_deliver(delivery_id=delivery_id, now=now)
    arrived = _wait_reports(reports.simulator, 4)
    assert [r["form"]["status"] for r in arrived] == ["Failed", "Failed", "Sent", "Sent"]
    assert {r["status"] for r in arrived} == {200}
    (attempt,) = SmsAttempt.objects.filter(delivery_id=delivery_id)
    assert (attempt.report_status, attempt.report_final, attempt.report_error) == (
        "failed",
        True,
        "DeliveryFailure",
    )
    assert attempt.reports == 4  # every report counted, only the first final one applied


@pytest.mark.django_db(transaction=True)
def test_twilio_reports_are_verified_and_applied(reports, settings, now):
    settings.LIGHTWAY_SMS_ROUTES = "*=twilio"
    delivery_id = _code(now)
    notification_deliver(delivery_id=delivery_id, now=now)
    arrived = _wait_reports(reports.simulator, 2)
    assert [r["status"] for r in arrived] == [200, 200]
    (attempt,) = SmsAttempt.objects.filter(delivery_id=delivery_id)
    assert (attempt.provider, attempt.report_status) == ("twilio", "delivered")


@pytest.mark.django_db(transaction=True)
def test_twilio_report_with_a_bad_signature_is_refused(settings, live_server, now):
    url = f"{live_server.url}/webhooks/sms/twilio"
    settings.TWILIO_STATUS_CALLBACK_URL = url
    httpx.get(f"{live_server.url}/healthz", timeout=60)
    settings.TWILIO_AUTH_TOKEN = DEMO_TWILIO_AUTH_TOKEN
    form = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"}
    forged = twilio_signature("someone-else", url, form)
    refused = httpx.post(url, data=form, headers={SIGNATURE_HEADER: forged})
    assert refused.status_code == 403
    missing = httpx.post(url, data=form)
    assert missing.status_code == 403
    good = twilio_signature(DEMO_TWILIO_AUTH_TOKEN, url, form)
    accepted = httpx.post(url, data=form, headers={SIGNATURE_HEADER: good})
    assert accepted.status_code == 200 and accepted.json()["result"] == "unknown"
    # tampering with a signed form breaks the signature
    tampered = httpx.post(
        url, data={**form, "MessageStatus": "failed"}, headers={SIGNATURE_HEADER: good}
    )
    assert tampered.status_code == 403


@pytest.mark.django_db(transaction=True)
def test_africastalking_report_needs_the_path_token_and_good_fields(settings, live_server):
    token = settings.AFRICASTALKING_WEBHOOK_TOKEN
    base = f"{live_server.url}/webhooks/sms/africastalking"
    form = {"id": "ATXid_unknown", "status": "Success", "phoneNumber": "+256772123456"}
    assert httpx.post(f"{base}/wrong-token", data=form).status_code == 404
    bad = httpx.post(f"{base}/{token}", data={**form, "status": "Teleported"})
    assert bad.status_code == 400 and "unknown status" in bad.json()["error"]["message"]
    missing = httpx.post(f"{base}/{token}", data={"status": "Success"})
    assert missing.status_code == 400 and "'id' is required" in missing.json()["error"]["message"]
    as_json = httpx.post(f"{base}/{token}", json=form)
    assert as_json.status_code == 400
    ok = httpx.post(f"{base}/{token}", data=form)
    assert ok.status_code == 200 and ok.json()["result"] == "unknown"
    (kept,) = SmsUnknownReport.objects.all()
    assert (kept.provider_message_id, kept.status) == ("ATXid_unknown", "Success")
    assert "123456" not in kept.recipient_masked  # masked evidence only


@pytest.mark.django_db
def test_unknown_reports_are_bounded(now):
    from lightway.data.notify import sms

    sms.UNKNOWN_REPORTS_KEPT, saved = 5, sms.UNKNOWN_REPORTS_KEPT
    try:
        for n in range(8):
            sms.sms_unknown_report_store(
                provider="twilio",
                provider_message_id=f"SM{n}",
                status="delivered",
                recipient_masked="",
                now=now,
            )
    finally:
        sms.UNKNOWN_REPORTS_KEPT = saved
    kept = list(
        SmsUnknownReport.objects.order_by("id").values_list("provider_message_id", flat=True)
    )
    assert kept == [f"SM{n}" for n in range(3, 8)]


@pytest.mark.django_db
def test_the_database_refuses_moving_a_final_report_back(outbox, now):
    delivery_id = _code(now)
    notification_deliver(delivery_id=delivery_id, now=now)
    (attempt,) = SmsAttempt.objects.filter(delivery_id=delivery_id)
    SmsAttempt.objects.filter(pk=attempt.pk).update(report_status="delivered", report_final=True)
    for change in ({"report_status": "sent", "report_final": False}, {"report_status": "failed"}):
        with pytest.raises(IntegrityError), transaction.atomic():
            SmsAttempt.objects.filter(pk=attempt.pk).update(**change)
    with connection.cursor() as cursor:
        cursor.execute("SELECT report_status FROM notify_sms_attempt WHERE id = %s", [attempt.pk])
        assert cursor.fetchone()[0] == "delivered"


# --- logs and checks -------------------------------------------------------------------------


@pytest.mark.django_db
def test_no_number_and_no_code_in_the_logs(outbox, caplog, now):
    caplog.set_level(logging.DEBUG)
    outbox.set_faults(at_errors=1, at_status_code=407)
    notification_deliver(delivery_id=_code(now), now=now)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "sms provider failed" in logged and "sms accepted" in logged
    assert PHONE not in logged and PHONE[4:] not in logged and CODE not in logged


def test_check_lists_each_country_route(settings):
    settings.LIGHTWAY_SMS_ROUTES = "UG=africastalking,twilio;*=twilio"
    settings.AFRICASTALKING_BASE_URL = "https://api.sandbox.africastalking.com"
    settings.TWILIO_BASE_URL = ""
    result = check_sms_routes()
    assert result.status == "WARN" and "UG: africastalking" in result.detail
    assert "*: none" in result.detail
    settings.TWILIO_BASE_URL = "https://api.twilio.com"
    assert check_sms_routes().status == "OK"
    settings.LIGHTWAY_SMS_ROUTES = "UG=carrier-pigeon"
    with pytest.raises(Exception, match="unknown provider 'carrier-pigeon'"):
        check_sms_routes()
