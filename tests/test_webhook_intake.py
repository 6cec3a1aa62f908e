"""Issue 11 finding 6: unauthenticated flooding of the webhooks.

Before: a Sumsub delivery with a bad digest stored up to 256 KiB and wrote a permanent audit
record; ``PUT /webhooks/momo/<anything>`` stored 64 KiB and queued a job for an unknown
reference; nothing limited the rate. Now a refused delivery leaves one count in its
(source, reason, minute) row (size and keyed digest, never the body), the audit trail gets
one record per closed minute, and each client address is rate-limited per webhook.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from lightway.application.intake import intake_housekeeping, webhook_admit
from lightway.data.audit.models import AuditRecord
from lightway.data.intake.models import IntakeRejection
from lightway.data.kyc.models import SumsubWebhookEvent
from lightway.data.momo.models import MomoCallback
from lightway.security.models import RateCounter
from lightway.security.ratelimit import RateLimited, rate_counters_prune, rate_limit_parse
from tests.concurrency import run_concurrently
from tests.sumsub_support import WEBHOOK_SECRET, signed

pytestmark = pytest.mark.django_db

FLOOD = 40


def _table_bytes(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM {table} t")
        return int(cursor.fetchone()[0])


def _jobs(prefix: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name LIKE %s", [prefix + "%"]
        )
        return int(cursor.fetchone()[0])


def test_a_flood_of_bad_digests_stores_no_body_and_no_audit_record_per_request(client, settings):
    settings.SUMSUB_WEBHOOK_SECRET = WEBHOOK_SECRET
    jobs_before = _jobs("kyc")  # jobs are not Django rows: other tests' may remain
    body = b'{"pad": "' + b"x" * (250 * 1024) + b'"}'
    _, headers = signed(b"{}")  # a digest of another body
    for _ in range(FLOOD):
        response = client.post(
            "/webhooks/sumsub",
            data=body,
            content_type="application/json",
            headers={k: v for k, v in headers.items() if k != "Content-Type"},
        )
        assert response.status_code == 401
    assert SumsubWebhookEvent.objects.count() == 0
    assert AuditRecord.objects.count() == 0  # not one per request
    (row,) = IntakeRejection.objects.all()
    assert (row.source, row.reason, row.count) == ("sumsub", "bad_digest", FLOOD)
    assert row.bytes_total == FLOOD * len(body)
    assert _table_bytes("intake_rejection") < 1024  # the flood's whole trace
    assert _jobs("kyc") == jobs_before


def test_a_flood_of_unknown_momo_references_stores_nothing_and_queues_nothing(client):
    jobs_before = _jobs("momo")
    body = b'{"pad": "' + b"x" * (60 * 1024) + b'"}'
    for _ in range(FLOOD):
        response = client.put(
            f"/webhooks/momo/{uuid.uuid4()}", data=body, content_type="application/json"
        )
        assert response.status_code == 200
    assert MomoCallback.objects.count() == 0
    assert _jobs("momo") == jobs_before
    (row,) = IntakeRejection.objects.all()
    assert (row.source, row.reason, row.count) == ("momo", "unknown_reference", FLOOD)


def test_rejections_are_audited_once_per_source_reason_and_closed_minute(client, settings):
    settings.SUMSUB_WEBHOOK_SECRET = WEBHOOK_SECRET
    for _ in range(3):
        client.put(f"/webhooks/momo/{uuid.uuid4()}", data=b"{}", content_type="application/json")
        client.post("/webhooks/sumsub", data=b"{}", content_type="application/json")
    rows = list(IntakeRejection.objects.order_by("minute"))
    first, last = rows[0].minute, rows[-1].minute  # one minute, unless the test crossed one
    assert intake_housekeeping(now=first + timedelta(seconds=90)) == 0  # not closed yet
    assert intake_housekeeping(now=last + timedelta(minutes=2, seconds=1)) == len(rows)
    assert intake_housekeeping(now=last + timedelta(minutes=3)) == 0  # exactly once
    records = list(AuditRecord.objects.filter(action="intake.rejected"))
    assert len(records) == len(rows) and {r.actor for r in records} == {
        "intake:momo",
        "intake:sumsub",
    }
    for source, reason in (("momo", "unknown_reference"), ("sumsub", "bad_digest")):
        mine = [r.data for r in records if r.object_id == source]
        assert {d["reason"] for d in mine} == {reason}
        assert sum(d["count"] for d in mine) == 3 and sum(d["bytes"] for d in mine) == 6
    assert {d.data["minute"] for d in records} <= {first.isoformat(), last.isoformat()}


@pytest.mark.parametrize(
    ("path", "method", "setting"),
    [
        ("/webhooks/momo/{ref}", "put", "LIGHTWAY_WEBHOOK_RATE_MOMO"),
        ("/webhooks/sumsub", "post", "LIGHTWAY_WEBHOOK_RATE_SUMSUB"),
    ],
)
def test_each_client_address_is_rate_limited_per_webhook(client, settings, path, method, setting):
    setattr(settings, setting, "5/60")
    target = path.format(ref=uuid.uuid4())
    answers = [
        getattr(client, method)(
            target, data=b"{}", content_type="application/json", REMOTE_ADDR="203.0.113.7"
        )
        for _ in range(8)
    ]
    statuses = [a.status_code for a in answers]
    assert 429 not in statuses[:5] and statuses[5:] == [429, 429, 429]
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "too_many_requests"
    assert 1 <= int(refused["Retry-After"]) <= 60
    other = getattr(client, method)(
        target, data=b"{}", content_type="application/json", REMOTE_ADDR="203.0.113.8"
    )
    assert other.status_code != 429  # another address has its own window
    limited = IntakeRejection.objects.get(reason="rate_limited")
    assert limited.count == 3 and limited.bytes_total == 0  # over the limit: body unread


def test_the_limit_counts_parallel_requests_exactly(tx_db, settings):
    """Twenty requests at once from one address against a limit of ten: exactly ten pass
    (one upsert each, no read-then-write)."""
    settings.LIGHTWAY_WEBHOOK_RATE_MOMO = "10/60"
    now = datetime(2026, 12, 1, 10, 0, 30, tzinfo=UTC)

    def admit(_i: int) -> bool:
        try:
            webhook_admit(source="momo", client="198.51.100.9", now=now)
        except RateLimited:
            return False
        return True

    assert sum(run_concurrently(admit, [(i,) for i in range(20)])) == 10


def test_a_window_ends_and_old_counters_are_pruned(settings):
    settings.LIGHTWAY_WEBHOOK_RATE_MOMO = "2/60"
    start = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)
    outcomes = []
    for s in (0, 10, 59, 60):
        try:
            webhook_admit(source="momo", client="198.51.100.1", now=start + timedelta(seconds=s))
            outcomes.append("ok")
        except RateLimited as limited:
            outcomes.append(limited.retry_after)
    assert outcomes == ["ok", "ok", 1, "ok"]  # the window began at 0 s and ended at 60 s
    assert RateCounter.objects.filter(key__startswith="webhook_momo:").count() == 1
    rate_counters_prune(now=start + timedelta(days=2))
    assert not RateCounter.objects.filter(key__startswith="webhook_momo:").exists()


@pytest.mark.parametrize("text", ["", "x/60", "10/0", "-1/60", "10/x"])
def test_a_malformed_rate_setting_is_a_clear_error(text):
    with pytest.raises(ValueError, match="rate limit"):
        rate_limit_parse(text)
