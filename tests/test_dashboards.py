"""The staff home dashboard (/staff/, /staff/live/) and the MTN monitoring portal (/mtn/,
/mtn/live/): figures from the rollups, what each role sees, masking, filters, search,
keyset paging, bad input, bounded reads, and polling that keeps no session alive."""

from __future__ import annotations

import html as html_lib
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from lightway.application.analytics.dashboard import staff_dashboard
from lightway.application.analytics.rollup import analytics_rollup
from lightway.application.momo.browse import mask_party
from lightway.application.momo.traffic import TrafficFilter, momo_traffic
from lightway.data.momo.models import MomoRequest
from lightway.data.wallets.models import Transfer
from lightway.interfaces.panels.middleware import POLL_HEADER
from lightway.security.crypto import encrypt, pii_token
from lightway.security.policy import Role
from tests.conftest import VerifiedClient
from tests.factories import customer, funded_wallet, staff
from tests.query_cost import captured_selects, scans_without_seqscan

pytestmark = pytest.mark.django_db

MSISDN = "256772123401"
MASKED = mask_party("MSISDN", MSISDN)  # the one masked-number style


def _as(role: str, now) -> VerifiedClient:
    client = VerifiedClient()
    users = get_user_model().objects
    user = users.filter(username=f"d-{role}").first() or users.get(
        pk=staff(f"d-{role}", [role], now)
    )
    client.force_login(user)
    return client


def _momo_transfer(
    client_id: int,
    *,
    at: datetime,
    kind: str = "deposit",
    status: str = "succeeded",
    currency: str = "UGX",
    amount: int = 25_000,
    fin: str = "",
) -> tuple[Transfer, MomoRequest]:
    """A MoMo-routed transfer and its MoMo request as the flows leave them (rows written
    directly: the flows themselves are exercised in test_analytics_rollups)."""
    failed = status == "failed"
    transfer = Transfer.objects.create(
        kind=kind,
        status="failed" if failed else "pending",
        failure_code="NOT_ENOUGH_FUNDS" if failed else "",
        client_id=client_id,
        idempotency_key=str(uuid.uuid4()),
        request_hash="x",
        currency=currency,
        amount=amount,
        fee=500,
        created_at=at,
        updated_at=at,
    )
    request = MomoRequest.objects.create(
        reference_id=uuid.uuid4(),
        product="collection" if kind == "deposit" else "disbursement",
        operation="requesttopay" if kind == "deposit" else "transfer",
        transfer=transfer,
        external_id=f"ext-{uuid.uuid4().hex[:10]}",
        target_environment="mtnuganda",
        base_url="http://127.0.0.1:9",
        currency=currency,
        amount=amount,
        party_ct=encrypt(MSISDN, context="momo.party"),
        party_token=pii_token("msisdn", MSISDN),
        status="failed" if failed else "accepted",
        reason_code="NOT_ENOUGH_FUNDS" if failed else "",
        financial_transaction_id=fin,
        deadline_at=at + timedelta(minutes=15),
        created_at=at,
        accepted_at=at + timedelta(seconds=1),
        completed_at=at + timedelta(seconds=3) if failed else None,
        updated_at=at,
    )
    return transfer, request


def _real_now() -> datetime:
    return datetime.now(UTC)


# --- the staff home dashboard ------------------------------------------------------------------


def test_the_home_dashboard_shows_live_figures_from_the_rollups(now):
    at = _real_now()
    payer, _ = customer("d-payer", at)
    for _ in range(3):
        _momo_transfer(payer, at=at, status="failed")
    analytics_rollup(now=at)
    page = _as(Role.LW_OPERATIONS, now).get("/staff/")
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    html = page.content.decode()
    assert re.search(r'data-testid="kpi-failed">3<', html)
    assert re.search(r'data-testid="kpi-momo-created">3<', html)
    assert "NOT_ENOUGH_FUNDS" in html
    assert 'hx-get="/staff/live/"' in html and 'hx-trigger="every 10s"' in html
    assert POLL_HEADER in html
    # Every chart is a canvas beside its Chart.js configuration, and the figures are text too.
    configs = {
        chart: json.loads(html_lib.unescape(raw))
        for chart, raw in re.findall(
            r'data-chart="(chart-[a-z]+)" data-chart-config="([^"]*)"', html
        )
    }
    assert {"chart-volume", "chart-kinds", "chart-momo", "chart-reasons"} <= set(configs)
    volume = configs["chart-volume"]
    assert volume["type"] == "line" and sum(volume["data"]["datasets"][1]["data"]) == 3
    assert " style=" not in html
    for tag in re.findall(r"<script\b([^>]*)>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    # The fragment is the same figures without the page around them; its charts carry their
    # configuration on the canvas (HTMX drops <script> elements from swapped content).
    live = _as(Role.LW_OPERATIONS, now).get("/staff/live/", HTTP_HX_REQUEST="true")
    assert live.status_code == 200
    fragment = live.content.decode()
    assert "<html" not in fragment and 'data-testid="kpi-failed">3<' in fragment
    assert "<script" not in fragment and 'data-chart-config="' in fragment


def test_each_role_sees_only_what_it_may(now):
    at = _real_now()
    reviewer = _as(Role.LW_KYC_REVIEWER, now).get("/staff/").content.decode()
    assert 'data-testid="kpis"' not in reviewer and 'data-testid="momo-kpis"' not in reviewer
    assert 'data-testid="floats"' not in reviewer and 'data-testid="open-items"' not in reviewer
    assert 'href="/staff/customers/"' in reviewer  # the links stay
    finance = _as(Role.LW_FINANCE, now).get("/staff/").content.decode()
    assert 'data-testid="kpis"' in finance and "MoMo float" in finance
    assert "Reconciliation cases open" in finance
    assert 'data-testid="queue-todo"' not in finance  # jobs are operations' business
    ops = staff_dashboard(roles=frozenset({Role.LW_OPERATIONS.value}), now=at)
    assert ops.queue is not None and ops.api_latency is not None
    admin = staff_dashboard(roles=frozenset({Role.LW_ADMIN.value}), now=at)
    assert admin.transfers is None and admin.provider is None and admin.floats is None


def test_customers_and_visitors_cannot_reach_the_dashboards(now):
    user_id, _ = customer("d-cust", now)
    client = Client()
    client.force_login(get_user_model().objects.get(pk=user_id))
    for path in ("/staff/", "/staff/live/", "/mtn/", "/mtn/live/"):
        response = client.get(path)
        assert response.status_code in (302, 403), path
        assert "kpi" not in response.content.decode()
        assert Client().get(path).status_code == 302


def test_the_dashboard_reads_no_history(now):
    """Page load reads the rollups and a few partial indexes of open items: never the
    transfer table, and the MoMo table only through the index of requests under review."""
    at = _real_now()
    roles = frozenset({Role.LW_OPERATIONS.value, Role.LW_FINANCE.value})
    assert captured_selects(lambda: staff_dashboard(roles=roles, now=at), "wallets_transfer") == []
    momo = captured_selects(lambda: staff_dashboard(roles=roles, now=at), "momo_request")
    assert len(momo) == 1
    names = {n.get("Index Name") for n in scans_without_seqscan(momo[0])}
    assert "momo_request_review" in names


def test_polling_does_not_keep_a_session_alive(now, settings):
    settings.LIGHTWAY_STAFF_IDLE_SECONDS = 60
    client = _as(Role.LW_OPERATIONS, now)
    assert client.get("/staff/").status_code == 200
    session = client.session
    session["lw_last_seen"] = int(datetime.now(UTC).timestamp()) - 50
    session.save()
    poll = {"HTTP_X_LIGHTWAY_POLL": "1", "HTTP_HX_REQUEST": "true"}
    assert client.get("/staff/live/", **poll).status_code == 200
    assert client.session["lw_last_seen"] < int(datetime.now(UTC).timestamp()) - 40  # untouched
    session = client.session
    session["lw_last_seen"] = int(datetime.now(UTC).timestamp()) - 120
    session.save()
    expired = client.get("/staff/live/", **poll, HTTP_HX_CURRENT_URL="http://testserver/staff/")
    assert expired.status_code == 200
    assert expired["HX-Redirect"] == "/staff/login/?next=%2Fstaff%2F"
    assert client.get("/staff/").status_code == 302  # signed out


# --- the MTN portal ------------------------------------------------------------------------------


def test_mtn_staff_see_traffic_masked_with_filters_and_search(now):
    at = _real_now()
    payer, _ = customer("d-mtn", at)
    deposit, dep_req = _momo_transfer(payer, at=at - timedelta(minutes=3), fin="fin-777001")
    payout, _ = _momo_transfer(
        payer, at=at - timedelta(minutes=2), kind="payout", status="failed", currency="GHS"
    )
    p2p_wallet = funded_wallet(payer, "UGX", 0, at)
    Transfer.objects.create(
        kind="p2p",
        status="failed",
        failure_code="x",
        client_id=payer,
        idempotency_key="d-p2p",
        request_hash="x",
        source_wallet=p2p_wallet,
        destination_wallet=p2p_wallet,
        currency="UGX",
        amount=1,
        created_at=at,
        updated_at=at,
    )
    analytics_rollup(now=at)
    client = _as(Role.MTN_MONITORING, now)
    html = client.get("/mtn/").content.decode()
    rows = re.findall(r'data-transfer="([0-9a-f-]+)"', html)
    assert rows == [str(payout.pk), str(deposit.pk)]  # newest first, no wallet-to-wallet
    assert MSISDN not in html and MASKED in html
    assert 'data-testid="reasons"' in html and "NOT_ENOUGH_FUNDS" in html
    assert 'hx-get="/mtn/live/"' in html
    assert 'href="/mtn/reconciliation/"' not in html  # reports.view: MTN finance only
    finance = _as(Role.MTN_FINANCE, now).get("/mtn/").content.decode()
    assert 'href="/mtn/reconciliation/"' in finance and 'href="/mtn/commission/"' in finance

    def shown(query: str) -> list[str]:
        page = client.get("/mtn/?" + query)
        assert page.status_code == 200, query
        return re.findall(r'data-transfer="([0-9a-f-]+)"', page.content.decode())

    assert shown("kind=payout") == [str(payout.pk)]
    assert shown("status=succeeded") == []
    assert shown("status=failed&currency=GHS") == [str(payout.pk)]
    assert shown("currency=UGX") == [str(deposit.pk)]
    day = at.date()
    assert shown(f"date_from={day}&date_to={day}") == [str(payout.pk), str(deposit.pk)]
    assert shown(f"date_from={day + timedelta(days=1)}") == []
    assert shown(f"q={dep_req.external_id}") == [str(deposit.pk)]
    assert shown("q=fin-777001") == [str(deposit.pk)]
    assert shown(f"q={str(deposit.pk)[:8]}") == [str(deposit.pk)]
    assert shown(f"q={deposit.pk}") == [str(deposit.pk)]
    assert shown(f"q={dep_req.reference_id}") == [str(deposit.pk)]
    assert shown("q=nothing-like-it") == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("date_from=2026-13-01", "Enter a date as YYYY-MM-DD."),
        ("date_from=2026-11-02&date_to=2026-11-01", "The end date is before the start date."),
        ("kind=p2p", "Select a valid choice"),
        ("before=not-a-cursor", "This page link is not valid"),
    ],
)
def test_bad_filters_are_explained_beside_the_field(query, message, now):
    page = _as(Role.MTN_ADMIN, now).get("/mtn/?" + query)
    assert page.status_code == 400
    html = page.content.decode()
    assert message in html
    assert "error-summary" in html or "errorlist" in html or 'role="alert"' in html


def test_traffic_pages_by_keyset(now):
    at = _real_now()
    payer, _ = customer("d-pager", at)
    made = [_momo_transfer(payer, at=at - timedelta(seconds=i))[0] for i in range(55)]
    client = _as(Role.MTN_MONITORING, now)
    first = client.get("/mtn/").content.decode()
    ids = re.findall(r'data-transfer="([0-9a-f-]+)"', first)
    assert ids == [str(t.pk) for t in made[:50]]
    older = re.search(r'href="\?before=([0-9a-f.]+)" data-testid="older"', first)
    assert older is not None
    second = client.get("/mtn/?before=" + older.group(1)).content.decode()
    assert re.findall(r'data-transfer="([0-9a-f-]+)"', second) == [str(t.pk) for t in made[50:]]
    assert 'data-testid="older"' not in second


def test_traffic_comes_from_the_momo_partial_index(now):
    """Regression (issue 13): /mtn/ read the whole transfer table (178 ms at 1.2M). Each
    filter is served by an index read newest first and stopped at a page."""
    roles = frozenset({Role.MTN_MONITORING.value})
    for filters in (
        TrafficFilter(),
        TrafficFilter(kind="deposit", status="succeeded", currency="UGX"),
        TrafficFilter(date_from=datetime(2026, 11, 1).date()),
    ):
        sqls = captured_selects(
            lambda f=filters: momo_traffic(roles=roles, user_id=0, filters=f), "wallets_transfer"
        )
        assert len(sqls) == 1
        assert re.search(r"LIMIT 51\b", sqls[0])
        scans = scans_without_seqscan(sqls[0])
        assert all(n.get("Node Type") != "Seq Scan" for n in scans), (filters, scans)
        names = {n.get("Index Name") for n in scans}
        # Newest first from the MoMo partial index, or from (status, created_at) when a
        # status is chosen: either way an ordered index range cut at 51 rows.
        assert names & {"transfer_momo_recent", "transfer_status_age"}, (filters, names)


def test_mtn_live_fragment_polls(now):
    client = _as(Role.MTN_MONITORING, now)
    live = client.get("/mtn/live/", HTTP_X_LIGHTWAY_POLL="1")
    assert live.status_code == 200 and "<html" not in live.content.decode()
