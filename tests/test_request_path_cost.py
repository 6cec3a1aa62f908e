"""Request-path reads whose cost must not grow with history (issue 10,
docs/performance.md "Request-path queries and their cost"): each uses an index that bounds
it, pages by keyset instead of OFFSET, and counts at most a cap."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model

from lightway.application.momo.browse import (
    COUNT_CAP,
    PAGE_SIZE,
    RequestFilter,
    momo_request_counts,
    momo_requests,
)
from lightway.application.momo.traffic import TrafficFilter, momo_traffic
from lightway.data.momo.models import MomoRequest
from lightway.data.momo.selectors import transfers_recent_of
from lightway.data.wallets.models import Transfer
from lightway.security.crypto import encrypt, pii_token
from lightway.security.policy import Role
from tests.conftest import VerifiedClient
from tests.factories import customer, funded_wallet, staff
from tests.query_cost import captured_selects, scans_without_seqscan

pytestmark = pytest.mark.django_db


def _momo(now, n: int, *, created=None, status="successful", needs_review=False):
    created = created or now - timedelta(minutes=n)
    return MomoRequest.objects.create(
        reference_id=uuid.uuid4(),
        product="collection",
        operation="requesttopay",
        external_id=f"ext-{n}",
        target_environment="mtnuganda",
        base_url="http://127.0.0.1:9",
        currency="UGX",
        amount=1000,
        party_ct=encrypt("256772123401", context="momo.party"),
        party_token=pii_token("msisdn", "256772123401"),
        status=status,
        needs_review=needs_review,
        reason_code="APPROVAL_REJECTED" if status == "failed" else "",
        deadline_at=created + timedelta(minutes=15),
        created_at=created,
        completed_at=created if status in ("successful", "failed") else None,
        updated_at=created,
    )


def _index_names(sql: str, table: str) -> set[str]:
    """The indexes a query reads ``table`` through (it must not read it sequentially)."""
    nodes = scans_without_seqscan(sql)
    on_table = [n for n in nodes if n.get("Relation Name") == table]
    assert on_table, sql
    assert all(n["Node Type"] != "Seq Scan" for n in on_table), on_table
    # index names carry their table's name (Django's and ours alike)
    prefix = table.split("_")[0]
    return {
        str(n["Index Name"])
        for n in nodes
        if str(n.get("Index Name", "")).startswith((prefix, table, "transfer_"))
    }


# --- the staff MoMo request list -----------------------------------------------------------


def test_request_list_pages_by_keyset_and_counts_to_a_cap(now):
    """Regression: the list counted every matching request and paged with OFFSET (up to
    page 100,000: five million rows skipped per view)."""
    same = now - timedelta(hours=1)
    for n in range(PAGE_SIZE + 5):
        # several requests share a created_at across the page boundary
        _momo(now, n, created=same if PAGE_SIZE - 3 <= n <= PAGE_SIZE + 2 else None)
    seen: list[uuid.UUID] = []
    before = ""
    sqls: list[str] = []
    pages: list = []
    while True:
        sqls += captured_selects(
            lambda c=before: pages.append(momo_requests(filters=RequestFilter(), before=c)),
            "momo_request",
        )
        page = pages[-1]
        seen += [r.reference_id for r in page.rows]
        assert page.total == PAGE_SIZE + 5 and not page.total_capped
        if not page.has_next:
            break
        before = page.next_cursor
    assert len(seen) == len(set(seen)) == PAGE_SIZE + 5
    created = dict(MomoRequest.objects.values_list("reference_id", "created_at"))
    assert [created[r] for r in seen] == sorted((created[r] for r in seen), reverse=True)
    assert sqls and not [s for s in sqls if "OFFSET" in s.upper()]
    counts = [s for s in sqls if "COUNT(" in s.upper()]
    assert counts and all(f"LIMIT {COUNT_CAP + 1}" in s.upper() for s in counts)


def test_request_list_filters_and_counts_have_their_indexes(now):
    _momo(now, 1, status="accepted", needs_review=True)
    # the counts beside the filters
    sqls = captured_selects(momo_request_counts, "momo_request")
    assert len(sqls) == 2
    assert _index_names(sqls[0], "momo_request") == {"momo_request_due"}
    assert _index_names(sqls[1], "momo_request") == {"momo_request_review"}
    # each filter, newest first
    for filters, index in (
        (RequestFilter(status="failed"), "momo_request_status_recent"),
        (RequestFilter(operation="transfer"), "momo_request_operation_recent"),
        (RequestFilter(needs_review=True), "momo_request_review"),
    ):
        listing = [
            s
            for s in captured_selects(lambda f=filters: momo_requests(filters=f), "momo_request")
            if "COUNT(" not in s.upper()
        ]
        assert len(listing) == 1
        assert index in _index_names(listing[0], "momo_request"), filters
    # a reference prefix: the X-Reference-Id or the transfer id, by expression index
    listing = [
        s
        for s in captured_selects(
            lambda: momo_requests(filters=RequestFilter(q="ab12cd")), "momo_request"
        )
        if "COUNT(" not in s.upper()
    ]
    assert {"momo_request_ref_prefix", "momo_request_transfer_prefix"} <= _index_names(
        listing[0], "momo_request"
    )


def test_a_bad_page_link_is_a_400(now):
    client = VerifiedClient()
    client.force_login(get_user_model().objects.get(pk=staff("p-ops", [Role.LW_OPERATIONS], now)))
    assert client.get("/staff/momo/?before=12.x").status_code == 400
    page = client.get("/staff/momo/?before=1.1")
    assert page.status_code == 200 and "0 requests" in page.content.decode()


# --- transfers lists -----------------------------------------------------------------------


def _transfer(client_id, source, destination, kind, created):
    return Transfer.objects.create(
        kind=kind,
        status="failed",
        failure_code="test",
        client_id=client_id,
        idempotency_key=str(uuid.uuid4()),
        request_hash="x",
        source_wallet=source,
        destination_wallet=destination,
        currency="UGX",
        amount=100,
        created_at=created,
        updated_at=created,
    )


def test_mtn_panel_transfers_come_from_the_momo_partial_index(now):
    """Regression: the MTN landing read every transfer (a few per cent MoMo-routed) and
    sorted them for the newest 100."""
    sqls = captured_selects(
        lambda: momo_traffic(
            roles=frozenset({Role.MTN_MONITORING}), user_id=0, filters=TrafficFilter()
        ),
        "wallets_transfer",
    )
    assert len(sqls) == 1
    assert "transfer_momo_recent" in _index_names(sqls[0], "wallets_transfer")


def test_customer_recent_transfers_read_two_bounded_index_ranges(now):
    """Regression: "made by me OR paid into my wallet" was one query no index could serve,
    so every transfer was read and sorted."""
    alice, _ = customer("alice", now)
    bob, _ = customer("bob", now)
    a_wallet = funded_wallet(alice, "UGX", 0, now)
    b_wallet = funded_wallet(bob, "UGX", 0, now)
    made = [
        _transfer(alice, a_wallet, b_wallet, "p2p", now - timedelta(minutes=2 * i))
        for i in range(6)
    ]
    received = [
        _transfer(bob, b_wallet, a_wallet, "p2p", now - timedelta(minutes=2 * i + 1))
        for i in range(6)
    ]
    _transfer(bob, b_wallet, b_wallet, "p2p", now)  # neither made by nor paid to alice
    newest = transfers_recent_of(customer_id=alice, limit=5)
    expected = sorted(made + received, key=lambda t: t.created_at, reverse=True)[:5]
    assert [t.id for t in newest] == [t.id for t in expected]
    assert newest[0].destination_wallet is not None  # loaded with the list
    sqls = captured_selects(
        lambda: transfers_recent_of(customer_id=alice, limit=5), "wallets_transfer"
    )
    reads = [s for s in sqls if " IN (" not in s]  # the final load is by primary key
    indexes = set().union(*(_index_names(s, "wallets_transfer") for s in reads))
    assert indexes == {"transfer_client_keyset", "transfer_incoming_keyset"}
    for sql in reads:
        assert re.search(r"LIMIT 5\b", sql)


def test_recently_resolved_cases_come_from_their_index():
    """Regression: the cases page sorted every resolved case ever for the newest 100."""
    from lightway.data.reconciliation.selectors import recon_cases_recently_resolved

    sqls = captured_selects(lambda: recon_cases_recently_resolved(limit=100), "recon_case")
    assert len(sqls) == 1
    assert "recon_case_resolved" in _index_names(sqls[0], "recon_case")
