"""Partner webhooks over real HTTP to the receiver simulator (docs/partner-webhooks.md):
signatures a reference implementation written from the docs verifies, acknowledgement by a
2xx within 5 s, retries on the documented schedule driven by the clock passed in (never by
sleeping), the delivery log, dead letters, staff redelivery, secret rotation."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction

from lightway.application.errors import Conflict, ValidationFailed
from lightway.application.partners.onboarding import partner_onboard, partner_status_set
from lightway.application.partners.webhooks import (
    partner_events_pump,
    partner_webhook_deliver,
    partner_webhook_log,
    partner_webhook_redeliver,
    partner_webhook_secret_rotate,
    partner_webhooks_redeliver_dead,
    partner_webhooks_retry_due,
    webhook_deliveries_due,
    webhook_retry_delay,
    webhook_retry_schedule,
)
from lightway.data.audit.models import AuditRecord
from lightway.data.partners.models import WebhookAttempt, WebhookDelivery
from lightway.data.partners.services import partner_event_record
from lightway.integration.webhooks.client import HttpWebhookSender
from lightway.integration.webhooks.port import WebhookSendError
from lightway.integration.webhooks.simulator import WebhookReceiverSimulator
from tests.partner_support import details

pytestmark = pytest.mark.django_db

CODE = "acme-remit"
REASON = "TICKET-7 partner asked for the events again"


# --- the reference receiver, written from docs/partner-webhooks.md ("Verifying") --------------


def reference_verify(
    *, secret: str, headers: dict[str, str], raw_body: bytes, now: int, tolerance: int = 300
) -> bool:
    timestamp = headers["X-LW-Timestamp"]
    if abs(now - int(timestamp)) > tolerance:
        return False
    signed = f"{timestamp}.".encode() + raw_body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    offered = [
        p.strip()[3:] for p in headers["X-LW-Signature"].split(",") if p.strip()[:3] == "v1="
    ]
    return any(hmac.compare_digest(expected, sig) for sig in offered)


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def receiver():
    sim = WebhookReceiverSimulator(port=0).start()
    yield sim
    sim.stop()


@pytest.fixture
def hooked(receiver, now, settings):
    """A partner whose webhook URL is the receiver, its secret registered there."""
    receiver.reset()
    receiver.set_tolerance(0)  # the test's clock is not the simulator's
    settings.LIGHTWAY_WEBHOOK_TIMEOUT_SECONDS = 5
    result = partner_onboard(
        details=details(webhook_url=receiver.hook_url(CODE)), actor="staff:1", now=now
    )
    receiver.secret_add(
        path=receiver.hook_path(CODE), key_id=result.webhook_key_id, secret=result.webhook_secret
    )
    return result


def _event(partner_id: int, now, n: int = 1):
    return partner_event_record(
        partner_id=partner_id,
        type="remittance.status_changed",
        object_type="remittance",
        object_id=f"rem_{n}",
        data={"state": "COMPLETED", "version": n},
        now=now,
    )


def _run_due(now) -> list[str]:
    """What the worker does at ``now``: the sweep queues, the jobs deliver."""
    partner_webhooks_retry_due(now=now)
    return [
        partner_webhook_deliver(delivery_id=d, now=now) for d in webhook_deliveries_due(now=now)
    ]


# --- tests --------------------------------------------------------------------------------------


def test_a_delivery_is_signed_as_documented_and_verifies(hooked, receiver, now):
    event = _event(hooked.partner_id, now)
    assert partner_events_pump(now=now) == 1
    assert _run_due(now) == ["delivered"]
    (got,) = receiver.deliveries()
    assert got.verified is True and got.answered == 200
    assert got.event_id == str(event.event_id) and got.key_ids == [hooked.webhook_key_id]
    body = json.loads(got.raw_body)
    assert body["event_id"] == str(event.event_id) and body["data"]["version"] == 1
    event.refresh_from_db()
    assert body["occurred_at"] == "2026-11-24T09:00:00Z" and body["seq"] == event.seq
    raw, ts = got.raw_body.encode(), int(got.timestamp)
    assert ts == int(now.timestamp())
    secret = hooked.webhook_secret
    assert reference_verify(secret=secret, headers=got.headers, raw_body=raw, now=ts)
    # One changed byte, another secret, an old timestamp: refused.
    assert not reference_verify(secret=secret, headers=got.headers, raw_body=raw + b" ", now=ts)
    tampered = raw.replace(b"COMPLETED", b"COMPLETEd")
    assert not reference_verify(secret=secret, headers=got.headers, raw_body=tampered, now=ts)
    assert not reference_verify(secret=secret + "x", headers=got.headers, raw_body=raw, now=ts)
    assert not reference_verify(secret=secret, headers=got.headers, raw_body=raw, now=ts + 301)
    # The same check in openssl terms: HMAC-SHA256 of "<ts>.<body>" in hex.
    assert (
        got.headers["X-LW-Signature"]
        == "v1=" + hmac.new(secret.encode(), f"{ts}.".encode() + raw, hashlib.sha256).hexdigest()
    )
    (delivery,) = partner_webhook_log(partner_id=hooked.partner_id)
    assert got.delivery_id == delivery.delivery_id
    assert [(a.attempt, a.status_code, a.ok) for a in delivery.log] == [(1, 200, True)]
    assert secret not in json.dumps([a.response_snippet for a in delivery.log])


def test_an_endpoint_down_for_an_hour_gets_the_event_exactly_once_more(hooked, receiver, now):
    receiver.set_faults(mode="down")
    _event(hooked.partner_id, now)
    partner_events_pump(now=now)
    delivery = WebhookDelivery.objects.get()
    moment, back_up = now, now + timedelta(hours=1)
    while True:
        if moment >= back_up:
            receiver.set_faults(mode="ok")
        _run_due(moment)
        delivery.refresh_from_db()
        if delivery.status != "pending":
            break
        assert delivery.next_attempt_at > moment
        moment = delivery.next_attempt_at
    assert delivery.status == "delivered" and moment >= back_up
    got = receiver.deliveries()
    assert [g.answered for g in got] == [503] * (len(got) - 1) + [200]
    assert all(g.delivery_id == str(delivery.delivery_id) for g in got)
    # The documented schedule: 15 s, 30 s, 60 s ... (+ up to 10% jitter) between attempts.
    log = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("attempt"))
    assert len(log) == len(got) == 9
    for before, after in itertools.pairwise(log):
        gap = (after.started_at - before.started_at).total_seconds()
        nominal = webhook_retry_delay(before.attempt, jitter=0).total_seconds()
        assert nominal <= gap <= nominal * 1.1 + 0.001
    assert [a.status_code for a in log] == [503] * 8 + [200]
    assert {a.error_class for a in log[:-1]} == {"http_status"}
    # Nothing more is sent: later sweeps find nothing due.
    assert _run_due(moment + timedelta(days=4)) == []
    assert len(receiver.deliveries()) == 9


def test_a_2xx_after_six_seconds_is_not_an_acknowledgement(hooked, receiver, now):
    receiver.set_faults(mode="slow", slow_seconds=6)
    _event(hooked.partner_id, now)
    partner_events_pump(now=now)
    assert _run_due(now) == ["pending"]
    attempt = WebhookAttempt.objects.get()
    assert not attempt.ok and attempt.error_class == "timeout" and attempt.status_code is None
    assert 4900 <= attempt.latency_ms < 6000
    delivery = WebhookDelivery.objects.get()
    assert delivery.next_attempt_at >= now + timedelta(seconds=15)


def test_refused_connections_and_dropped_answers_are_failures(hooked, receiver, now):
    receiver.set_faults(mode="refuse")
    _event(hooked.partner_id, now)
    partner_events_pump(now=now)
    assert _run_due(now) == ["pending"]
    assert WebhookAttempt.objects.get().error_class == "protocol"
    stopped = WebhookReceiverSimulator(port=0).start()
    url = stopped.hook_url(CODE)
    stopped.stop()
    with pytest.raises(WebhookSendError) as refused:
        HttpWebhookSender(timeout_seconds=2).post(url=url, body=b"{}", headers={})
    assert refused.value.error_class == "connect"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1:70/", "ftp://x/y"])
def test_nothing_is_requested_outside_http_and_https(url):
    with pytest.raises(WebhookSendError) as refused:
        HttpWebhookSender().post(url=url, body=b"{}", headers={})
    assert refused.value.error_class == "invalid_url"


def test_a_large_answer_is_read_only_as_far_as_the_log_keeps():
    class Big(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(500)
            self.send_header("Content-Length", str(50 * 1024 * 1024))
            self.end_headers()
            try:
                for _ in range(50 * 1024):
                    self.wfile.write(b"x" * 1024)
            except OSError:
                pass  # the client hung up after its snippet

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Big)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        answer = HttpWebhookSender().post(url=url, body=b"{}", headers={})
    finally:
        server.shutdown()
        server.server_close()
    assert answer.status_code == 500 and len(answer.snippet) <= 1024


def test_attempts_run_out_into_the_dead_letters_and_staff_redeliver_them(
    hooked, receiver, now, settings
):
    settings.LIGHTWAY_WEBHOOK_MAX_ATTEMPTS = 2
    receiver.set_faults(mode="error", status=500)
    events = [_event(hooked.partner_id, now, n) for n in (1, 2)]
    partner_events_pump(now=now)
    assert _run_due(now) == ["pending", "pending"]
    later = now + timedelta(minutes=1)
    assert _run_due(later) == ["dead", "dead"]
    assert WebhookDelivery.objects.filter(status="dead").count() == 2
    assert _run_due(later + timedelta(days=1)) == []

    receiver.set_faults(mode="ok")
    with pytest.raises(ValidationFailed):
        partner_webhooks_redeliver_dead(
            partner_id=hooked.partner_id, reason="", actor="s", now=later
        )
    assert (
        partner_webhooks_redeliver_dead(
            partner_id=hooked.partner_id, reason=REASON, actor="staff:9", now=later
        )
        == 2
    )
    assert (
        partner_webhooks_redeliver_dead(
            partner_id=hooked.partner_id, reason=REASON, actor="staff:9", now=later
        )
        == 0
    )  # already on their way again
    assert _run_due(later) == ["delivered", "delivered"]
    record = AuditRecord.objects.get(action="partner_webhook.redeliver_dead")
    assert record.actor == "staff:9" and record.data["events"] == 2

    # One event again on request: a new delivery id, the same event id (receivers dedupe).
    delivery_id = partner_webhook_redeliver(
        partner_id=hooked.partner_id,
        event_id=str(events[0].event_id),
        reason=REASON,
        actor="staff:9",
        now=later,
    )
    with pytest.raises(Conflict):
        partner_webhook_redeliver(
            partner_id=hooked.partner_id,
            event_id=str(events[0].event_id),
            reason=REASON,
            actor="staff:9",
            now=later,
        )
    assert _run_due(later) == ["delivered"]
    again = receiver.deliveries(event_id=str(events[0].event_id))
    assert again[-1].delivery_id == delivery_id and again[-1].duplicate
    assert len({g.delivery_id for g in again}) == 3
    assert AuditRecord.objects.filter(action="partner_webhook.redeliver").count() == 1


def test_during_a_rotation_both_secrets_sign_then_only_the_new_one(hooked, receiver, now):
    old_secret = hooked.webhook_secret
    new_key, new_secret = partner_webhook_secret_rotate(
        partner_id=hooked.partner_id, overlap_seconds=3600, actor="staff:1", now=now
    )
    assert new_secret != old_secret
    _event(hooked.partner_id, now, 1)
    partner_events_pump(now=now)
    _run_due(now)
    got = receiver.deliveries()[-1]
    assert got.key_ids == [new_key, hooked.webhook_key_id]
    raw, ts = got.raw_body.encode(), int(got.timestamp)
    for secret in (old_secret, new_secret):  # a partner holding either verifies
        assert reference_verify(secret=secret, headers=got.headers, raw_body=raw, now=ts)

    later = now + timedelta(hours=2)
    _event(hooked.partner_id, later, 2)
    partner_events_pump(now=later)
    receiver.set_faults(mode="ok")
    _run_due(later)
    got = receiver.deliveries()[-1]
    assert got.key_ids == [new_key]
    raw, ts = got.raw_body.encode(), int(got.timestamp)
    assert reference_verify(secret=new_secret, headers=got.headers, raw_body=raw, now=ts)
    assert not reference_verify(secret=old_secret, headers=got.headers, raw_body=raw, now=ts)
    with pytest.raises(ValidationFailed):
        partner_webhook_secret_rotate(
            partner_id=hooked.partner_id, overlap_seconds=31 * 86400, actor="s", now=now
        )
    assert AuditRecord.objects.filter(action="partner_webhook.secret_rotate").count() == 1


def test_a_receiver_holding_a_wrong_secret_refuses_and_the_platform_retries(hooked, receiver, now):
    receiver.secret_add(path=receiver.hook_path("other"), key_id="k", secret="nope")
    other = partner_onboard(
        details=details(code="other", webhook_url=receiver.hook_url("other")),
        actor="staff:1",
        now=now,
    )
    _event(other.partner_id, now)
    partner_events_pump(now=now)
    assert _run_due(now) == ["pending"]
    (got,) = receiver.deliveries(path=receiver.hook_path("other"))
    assert got.verified is False and got.answered == 401


def test_events_before_the_url_are_not_pushed_and_a_closed_partner_gets_nothing(receiver, now):
    receiver.reset()
    plain = partner_onboard(details=details(code="late-hook"), actor="staff:1", now=now)
    _event(plain.partner_id, now, 1)
    assert partner_events_pump(now=now) == 0  # no URL: events are on the feed only
    from lightway.application.partners.onboarding import partner_update

    partner_update(
        partner_id=plain.partner_id,
        details=details(code="late-hook", webhook_url=receiver.hook_url("late-hook")),
        actor="staff:1",
        now=now,
    )
    assert partner_events_pump(now=now) == 0  # the earlier event stays on the feed
    _event(plain.partner_id, now, 2)
    assert partner_events_pump(now=now) == 1
    partner_status_set(
        partner_id=plain.partner_id,
        status="closed",
        reason="TICKET-9 the partner ended its contract",
        actor="staff:1",
        now=now,
    )
    assert _run_due(now) == ["dead"]  # claimed, found closed, dead-lettered unsent
    delivery = WebhookDelivery.objects.get(partner_id=plain.partner_id)
    assert delivery.status == "dead" and "closed" in delivery.last_error
    _event(plain.partner_id, now, 3)
    assert partner_events_pump(now=now) == 0
    assert receiver.deliveries(path=receiver.hook_path("late-hook")) == []


def test_a_delivery_left_sending_by_a_dead_worker_is_taken_back(hooked, receiver, now):
    _event(hooked.partner_id, now)
    partner_events_pump(now=now)
    WebhookDelivery.objects.update(status="sending", attempts=1, last_attempt_at=now)
    assert _run_due(now + timedelta(seconds=30)) == []  # still within the sending timeout
    assert _run_due(now + timedelta(seconds=61)) == ["delivered"]
    assert WebhookDelivery.objects.get().attempts == 2


def test_the_documented_schedule_spans_more_than_three_days():
    schedule = webhook_retry_schedule()
    assert len(schedule) == 25
    assert [s.total_seconds() for s in schedule[:4]] == [0, 15, 45, 105]
    assert timedelta(days=3) < schedule[-1] < timedelta(days=4)


def test_the_delivery_log_is_append_only(hooked, receiver, now, db):
    _event(hooked.partner_id, now)
    partner_events_pump(now=now)
    _run_due(now)
    attempt = WebhookAttempt.objects.get()
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        WebhookAttempt.objects.filter(pk=attempt.pk).update(ok=False)
    with (
        pytest.raises(DatabaseError, match="permission denied"),
        transaction.atomic(),
        connection.cursor() as cur,
    ):
        cur.execute("DELETE FROM partners_webhook_delivery")


def test_the_owner_cannot_edit_the_delivery_log_or_revive_a_key_either(owner_db, now, receiver):
    receiver.reset()
    receiver.set_tolerance(0)
    result = partner_onboard(
        details=details(webhook_url=receiver.hook_url(CODE)), actor="staff:1", now=now
    )
    _event(result.partner_id, now)
    partner_events_pump(now=now)
    _run_due(now)
    partner_webhook_secret_rotate(
        partner_id=result.partner_id, overlap_seconds=0, actor="staff:1", now=now
    )
    for statement, match in (
        ("UPDATE partners_webhook_attempt SET ok = false", "append-only"),
        ("DELETE FROM partners_webhook_attempt", "append-only"),
        ("DELETE FROM partners_webhook_delivery", "append-only"),
        ("UPDATE partners_webhook_key SET expires_at = NULL", "never lifted"),
        ("UPDATE partners_webhook_key SET key_id = 'whk_x'", "only expires_at"),
        ("DELETE FROM partners_webhook_key", "never deleted"),
    ):
        with pytest.raises(psycopg.errors.RestrictViolation, match=match):
            owner_db.execute(statement)


def test_the_worked_example_in_the_guide():
    from pathlib import Path

    from lightway.security.webhook_signatures import webhook_signature

    body = (
        b'{"data":{"state":"COMPLETED","version":4},'
        b'"event_id":"7d1c4f0e-2b8a-4e39-9c55-0f6a1e2d3b4c","object_id":"rem_01HZX3",'
        b'"object_type":"remittance","occurred_at":"2026-12-07T09:30:12.481000Z","seq":1842,'
        b'"type":"remittance.status_changed"}'
    )
    secret = "whsec_3q2Zk8mV1xR7pT4nW9bY6cL0dF5hJ2sA8gE1uK7oQ3i"
    signature = webhook_signature(secret=secret, timestamp=1796635815, body=body)
    guide = (Path(__file__).parents[1] / "docs" / "partner-webhooks.md").read_text()
    assert f"X-LW-Signature: v1={signature}" in guide
    assert f"SHA2-256(stdin)= {signature}" in guide
    assert body.decode() in guide and secret in guide
    headers = {"X-LW-Timestamp": "1796635815", "X-LW-Signature": f"v1={signature}"}
    assert reference_verify(secret=secret, headers=headers, raw_body=body, now=1796635815)
