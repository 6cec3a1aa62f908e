"""The audit-log viewer (/staff/audit/): who may open it, filters and keyset pages, the plan
of every filter combination (an index walk, never a sort), a record's page with its data
masked, the chain status, bad input (400 with the form kept) and the CSV export (bounded,
masked, audited with its SHA-256)."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from lightway.application.audit import viewer
from lightway.data.audit.browse import AuditFilter, audit_page, audit_query, audit_stream
from lightway.data.audit.models import AuditRecord
from lightway.data.audit.services import audit_record
from lightway.interfaces.panels.lightway.audit import cursor_decode, cursor_encode
from lightway.interfaces.tasks import audit_link_once
from lightway.security.policy import Role
from tests.conftest import VerifiedClient
from tests.factories import staff

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
_n = itertools.count()


def _as(role: str, now) -> tuple[VerifiedClient, int]:
    client = VerifiedClient()
    user_id = staff(f"au{next(_n)}.{role}", [role], now)
    client.force_login(get_user_model().objects.get(pk=user_id))
    return client, user_id


def _write(
    n: int,
    *,
    actor: str = "user:1",
    action: str = "transfer.create",
    start: datetime = T0,
    object_type: str = "transfer",
    data: dict[str, Any] | None = None,
) -> list[int]:
    ids = []
    with transaction.atomic():
        for i in range(n):
            rec = audit_record(
                actor=actor,
                action=action,
                object_type=object_type,
                object_id=str(1000 + i),
                data=data or {"n": i},
                now=start + timedelta(minutes=i),
            )
            ids.append(int(rec.pk))
    return ids


def _plan(filters: AuditFilter, cursor=None) -> dict[str, Any]:
    sql, params = audit_query(filters, cursor)[:51].query.sql_with_params()
    # On a test's few rows the planner would rather read everything and sort it; with
    # scans of the whole table and sorts as a last resort, the plan shows whether an index
    # gives the order (on the 1.4M-row table it is chosen anyway: docs/performance.md).
    with transaction.atomic(), connection.cursor() as cur:
        for knob in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            cur.execute(f"SET LOCAL {knob} = off")
        cur.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cur.fetchone()[0]
    return (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]


def _root_index(name: str) -> str:
    """A partition's index by its partitioned index's name (audit_record is partitioned by
    month: audit 0006)."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_partition_root(%s::regclass)::regclass::text", [name])
        return str(cur.fetchone()[0] or name)


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    out = [node]
    for child in node.get("Plans", []):
        out += _nodes(child)
    return out


COMBINATIONS = {
    "none": AuditFilter(),
    "time": AuditFilter(since=T0, until=T0 + timedelta(days=1)),
    "actor": AuditFilter(actor="user:1"),
    "actor+time": AuditFilter(actor="user:1", since=T0, until=T0 + timedelta(days=1)),
    "action": AuditFilter(action="transfer.create"),
    "action+time": AuditFilter(action="transfer.create", since=T0),
    "object_type": AuditFilter(object_type="transfer"),
    "object": AuditFilter(object_type="transfer", object_id="1001"),
    "object+time": AuditFilter(object_type="transfer", object_id="1001", until=T0),
    "actor+action": AuditFilter(actor="user:1", action="transfer.create"),
    "all": AuditFilter(
        actor="user:1",
        action="transfer.create",
        object_type="transfer",
        object_id="1001",
        since=T0,
        until=T0 + timedelta(days=1),
    ),
}


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_every_filter_combination_walks_an_index_and_never_sorts(name: str) -> None:
    _write(30)
    _write(5, actor="staff:2", action="pii.reveal", object_type="identity.profile")
    for cursor in (None, (T0 + timedelta(minutes=10), 10**9)):
        nodes = _nodes(_plan(COMBINATIONS[name], cursor))
        kinds = {n["Node Type"] for n in nodes}
        assert "Sort" not in kinds and "Incremental Sort" not in kinds, (name, kinds)
        assert "Seq Scan" not in kinds, (name, kinds)
        # each month's index of a partitioned index, by the partitioned index's name
        indexes = {_root_index(n["Index Name"]) for n in nodes if n.get("Index Name")}
        assert indexes and indexes <= {
            "audit_record_time",
            "audit_record_actor_time",
            "audit_record_action_time",
            "audit_record_object_time",
        }, (name, indexes)


def test_keyset_pages_cover_every_record_once_newest_first() -> None:
    ids = _write(7)
    ids += _write(3, start=T0 + timedelta(minutes=3))  # same times as others: id breaks ties
    seen: list[int] = []
    cursor = None
    while True:
        page = audit_page(AuditFilter(), cursor, limit=3)
        seen += [int(r.pk) for r in page.records]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
    keys = [(r.occurred_at, r.pk) for r in AuditRecord.objects.filter(pk__in=seen)]
    by_id = {pk: at for at, pk in keys}
    assert [(by_id[i], i) for i in seen] == sorted(((by_id[i], i) for i in seen), reverse=True)
    assert len(list(audit_stream(AuditFilter(), max_rows=4, chunk=3))) == 4


def test_cursor_round_trip_and_forgery() -> None:
    cursor = (T0, 42)
    assert cursor_decode(cursor_encode(cursor)) == cursor
    for bad in ("zz", "a" * 200, "bm90LWEtZGF0ZXw0Mg"):
        assert cursor_decode(bad) is None


def test_only_compliance_opens_the_viewer(now) -> None:
    for role in (Role.LW_SUPPORT, Role.LW_OPERATIONS, Role.LW_FINANCE, Role.LW_ADMIN):
        client, _ = _as(role, now)
        assert client.get("/staff/audit/").status_code == 403, role
        assert client.get("/staff/audit/export.csv").status_code == 403, role
    officer, _ = _as(Role.LW_COMPLIANCE, now)
    page = officer.get("/staff/audit/")
    assert page.status_code == 200 and 'href="/staff/audit/"' in page.content.decode()


def test_filters_pages_and_the_view_itself_is_audited(now) -> None:
    _write(60)
    _write(2, actor="staff:9", action="pii.reveal", object_type="identity.profile")
    officer, officer_id = _as(Role.LW_COMPLIANCE, now)
    html = officer.get("/staff/audit/", {"actor": "user:1"}).content.decode()
    assert html.count('<a href="/staff/audit/') >= 50 and "pii.reveal</td>" not in html
    assert 'data-testid="older"' in html
    older = html.split('data-testid="older"')[0].rsplit('href="', 1)[1].split('"')[0]
    second = officer.get("/staff/audit/" + older.replace("&amp;", "&")).content.decode()
    assert "Newest" in second and 'data-testid="older"' not in second
    html = officer.get(
        "/staff/audit/", {"object_type": "identity.profile", "object_id": "1001"}
    ).content.decode()
    assert html.count("pii.reveal</td>") == 1
    viewed = AuditRecord.objects.filter(action="data_access.search", actor=f"staff:{officer_id}")
    assert viewed.count() == 3
    assert viewed.order_by("id").first().data == {  # type: ignore[union-attr]
        "what": "audit.list",
        "rows": 50,
        "filters": {"actor": "user:1"},
    }


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "yesterday"}, "Write a date like"),
        ({"since": "2026-11-02", "until": "2026-11-01"}, "The end comes after the start"),
        ({"action": "no.such.action"}, "No record has this action"),
        ({"actor": "Bob Smith"}, "Write an actor like"),
        ({"object_id": "42"}, "Give the object type"),
        ({"before": "garbage!"}, "That page link is not valid"),
    ],
)
def test_bad_filters_are_400_with_the_form_kept(now, query: dict[str, str], message: str) -> None:
    _write(1)
    officer, _ = _as(Role.LW_COMPLIANCE, now)
    answer = officer.get("/staff/audit/", query)
    html = answer.content.decode()
    assert answer.status_code == 400 and message in html
    for value in query.values():
        if value != "garbage!":
            assert f'value="{value}"' in html  # what was typed is kept
    if "before" not in query:
        assert officer.get("/staff/audit/export.csv", query).status_code == 400


def _before_the_guard(monkeypatch) -> None:
    """Records written before the chain refused personal data in clear (retention,
    docs/retention.md): the viewer must still mask what older records hold."""
    from lightway.data.audit import services as audit_services

    monkeypatch.setattr(audit_services, "_refuse_personal_data", lambda value, path: None)


def test_a_record_page_masks_personal_data(now, monkeypatch) -> None:
    _before_the_guard(monkeypatch)
    [record_id] = _write(
        1,
        data={
            "phone": "+256772123401",
            "nested": {"email": "amara.n@example.com", "note": "+256700111222"},
            "name": "Amara Nakato",
            "amount": 5000,
        },
    )
    officer, officer_id = _as(Role.LW_COMPLIANCE, now)
    html = officer.get(f"/staff/audit/{record_id}/").content.decode()
    for clear in ("772123401", "amara.n@", "Nakato", "700111222"):
        assert clear not in html
    assert "+256 •••••••01" in html and "5000" in html
    seen = AuditRecord.objects.get(action="data_access.view", actor=f"staff:{officer_id}")
    assert (seen.object_type, seen.object_id) == ("audit.record", str(record_id))
    assert officer.get("/staff/audit/999999999/").status_code == 404


def test_the_chain_status_shows_the_last_signed_checkpoint(now) -> None:
    _write(3)
    officer, _ = _as(Role.LW_COMPLIANCE, now)
    assert "no checkpoint" in officer.get("/staff/audit/").content.decode()
    audit_link_once()  # links (the page views too) and signs the head
    status = viewer.chain_status()
    assert status.verified is True and status.checkpoint_seq == status.head_seq
    html = officer.get("/staff/audit/").content.decode()
    assert "signature and hash verified" in html and f"seq {status.checkpoint_seq}" in html


def test_the_export_is_bounded_masked_and_audited_with_its_sha256(now, monkeypatch) -> None:
    _before_the_guard(monkeypatch)
    _write(5, data={"phone": "+256772123401"})
    officer, officer_id = _as(Role.LW_COMPLIANCE, now)
    monkeypatch.setattr(viewer, "EXPORT_MAX", 3)
    answer = officer.get("/staff/audit/export.csv", {"actor": "user:1"})
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/csv")
    started = AuditRecord.objects.get(action="audit.export")
    assert started.data == {"filters": {"actor": "user:1"}, "max_rows": 3}
    body = b"".join(answer.streaming_content)
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert len(rows) == 3 and all(r["actor"] == "user:1" for r in rows)
    assert "772123401" not in body.decode() and "•" in rows[0]["data"]
    done = AuditRecord.objects.get(action="data_access.export", actor=f"staff:{officer_id}")
    assert done.data["rows"] == 3 and done.data["complete"] is True
    assert done.data["sha256"] == hashlib.sha256(body).hexdigest()
