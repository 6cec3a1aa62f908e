"""The staff delivery log (/staff/notifications/, issue 15): deliveries with the SMS
provider that took each, its delivery report and cost; costs per day; circuits; unknown
reports; masked; filters refuse bad values with 400; only notifications.log holders; every
filter a range of an index in the page's order, so a rare status reads its rows only."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from lightway.application.notifications import deliverylog
from lightway.application.notifications.service import notification_deliver, notify
from lightway.data.notify.models import Delivery, ReportStatus, SmsAttempt
from lightway.data.notify.selectors import deliveries_query
from lightway.data.notify.sms import sms_report_apply, sms_unknown_report_store
from tests.conftest import VerifiedClient
from tests.factories import staff
from tests.query_cost import rows_read

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


# --- the page's plan: every filter is an index range in id order (docs/performance.md) ----

T0 = datetime(2026, 12, 20, 8, 0, tzinfo=UTC)


def _deliveries(n: int, *, channel: str, status: str, start: datetime = T0) -> list[int]:
    """``n`` deliveries written as the log holds them (no provider, no ciphertext worth
    reading: the plan tests only need rows), one a minute from ``start``."""
    rows = [
        Delivery(
            channel=channel,
            template="kyc_approved",
            category="kyc",
            language="en",
            recipient_ct=b"\x00",
            recipient_bidx=f"bidx{i}",
            recipient_masked="+256 •••••••00",
            status=status,
            attempts=0 if status in ("queued", "sending", "failed") else 1,
            next_attempt_at=start if status == "queued" else None,
            last_attempt_at=start if status == "sending" else None,
            created_at=start + timedelta(minutes=i),
            sent_at=start if status == "sent" else None,
        )
        for i in range(n)
    ]
    return [int(d.pk) for d in Delivery.objects.bulk_create(rows)]


def _history() -> None:
    """Common rows in three months (three partitions: the page is a Merge Append of one
    index scan per month) and a few rare ones in the middle of them."""
    for start in (T0 - timedelta(days=40), T0, T0 + timedelta(days=30)):
        _deliveries(60, channel="sms", status="sent", start=start)
        _deliveries(20, channel="email", status="sent", start=start)
    _deliveries(3, channel="sms", status="failed", start=T0 - timedelta(days=3))
    _deliveries(2, channel="email", status="dead", start=T0 + timedelta(days=2))


def _plan(sql: str, params: Any) -> dict[str, Any]:
    # As tests/test_audit_viewer.py: on a test's few rows the planner would rather read
    # everything and sort it; with whole-table scans, bitmap scans and sorts as a last
    # resort (the page query itself runs with the last two off), the plan shows which index
    # gives the order and whether the filter is a range of it.
    with transaction.atomic(), connection.cursor() as cur:
        for knob in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            cur.execute(f"SET LOCAL {knob} = off")
        cur.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cur.fetchone()[0]
    return (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    out = [node]
    for child in node.get("Plans", []):
        out += _nodes(child)
    return out


def _root_index(name: str) -> str:
    """A month's index -> the partitioned index on notify_delivery it belongs to."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_partition_root(%s::regclass)::text", [name])
        return str(cur.fetchone()[0])


LOG_FILTERS = {
    # the form's filters (LogFilterForm: channel, status) and the index each one walks
    "none": ({}, "notify_delivery_pkey"),
    "status": ({"status": "failed"}, "notify_delivery_status_id"),
    "channel": ({"channel": "email"}, "notify_delivery_channel_id"),
    "channel+status": ({"channel": "email", "status": "dead"}, "notify_delivery_chan_stat_id"),
}


@pytest.mark.parametrize("name", sorted(LOG_FILTERS))
def test_every_filter_combination_walks_an_index_and_never_sorts(name: str) -> None:
    _history()
    filters, index = LOG_FILTERS[name]
    newest = Delivery.objects.order_by("-id").values_list("id", flat=True).first()
    for before in (None, newest, newest - 100):  # first page, next pages
        query = deliveries_query(**filters, before_id=before)[: deliverylog.PAGE_SIZE + 1]
        nodes = _nodes(_plan(*query.query.sql_with_params()))
        kinds = {n["Node Type"] for n in nodes}
        assert "Sort" not in kinds and "Incremental Sort" not in kinds, (name, kinds)
        assert "Seq Scan" not in kinds and "Bitmap Heap Scan" not in kinds, (name, kinds)
        scans = [n for n in nodes if n.get("Index Name")]
        assert scans, (name, kinds)
        for scan in scans:
            if str(scan.get("Relation Name", "")).endswith("_pdefault"):
                # the DEFAULT partition holds no month's rows (strays only; empty here): the
                # planner's choice for it follows whatever statistics it was left with
                continue
            # every month's scan is a range of the filter's index: the filter is its
            # condition, not a test of each row walked newest first
            assert _root_index(scan["Index Name"]) == index, (name, scan["Index Name"])
            assert "Filter" not in scan, (name, scan["Index Name"], scan["Filter"])


@pytest.mark.parametrize("status", ["failed", "dead"])
def test_a_rare_status_reads_its_rows_not_the_log(status: str) -> None:
    """The whole page (log, attempts, costs, circuits, unknown reports) read as on a large
    table: a rare status costs its few rows, not the 240 deliveries that were sent."""
    _history()
    read = rows_read(
        lambda: deliverylog.delivery_log(status=status, today=T0.date()),
        as_on_a_large_table=True,
    )
    matches = Delivery.objects.filter(status=status).count()
    assert 0 < matches < 5 and "notify_delivery" in read  # (its months, summed)
    assert read["notify_delivery"] <= matches, read
    assert all(read[t] <= deliverylog.PAGE_SIZE + 1 for t in read if t != "notify_delivery"), read
