"""The MoMo operations pages of the staff panels (/staff/momo/..., /mtn/momo/...): who may
open them, what they show (personal data masked, raw callbacks escaped), the filters, the
threshold form and the analytics figures computed from the stored requests."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from itertools import count

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from lightway.application.analytics.rollup import analytics_rollup
from lightway.application.momo.analytics import duration, momo_analytics, rate
from lightway.application.momo.browse import callback_body_masked, mask_party
from lightway.application.momo.callbacks import callback_context
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.data.audit.models import AuditRecord
from lightway.data.momo.models import FloatReading, FloatThreshold, MomoCallback, MomoRequest
from lightway.data.momo.services import momo_callback_next_id
from lightway.data.wallets.models import Transfer
from lightway.security.crypto import encrypt, pii_token, seal
from lightway.security.policy import ROLE_REALM, Action, Role, allows
from tests.conftest import VerifiedClient
from tests.factories import customer, funded_wallet, staff

pytestmark = pytest.mark.django_db

MSISDN = "256772123401"
MSISDN_MASKED = "+256 •••••••01"
STAFF_ROLES = [r for r in Role if ROLE_REALM[r] in ("lightway", "mtn")]
_seq = count(1)


def _request(
    now,
    *,
    operation: str = "requesttopay",
    product: str = "collection",
    status: str = "successful",
    amount: int = 50_000,
    currency: str = "UGX",
    msisdn: str = MSISDN,
    accepted_s: float | None = 1.0,
    completed_s: float | None = 4.0,
    reason: str = "",
    needs_review: bool = False,
    transfer=None,
    created_at=None,
) -> MomoRequest:
    n = next(_seq)
    created = created_at or now - timedelta(minutes=n)
    terminal = status in ("successful", "failed")
    return MomoRequest.objects.create(
        reference_id=uuid.uuid4(),
        product=product,
        operation=operation,
        transfer=transfer,
        external_id=f"ext-{n:04d}",
        target_environment="mtnuganda",
        base_url="http://127.0.0.1:9",
        currency=currency,
        amount=amount,
        party_ct=encrypt(msisdn, context="momo.party"),
        party_token=pii_token("msisdn", msisdn),
        status=status,
        needs_review=needs_review,
        momo_status={"successful": "SUCCESSFUL", "failed": "FAILED"}.get(status, "PENDING"),
        financial_transaction_id=f"fin-{n:06d}" if status == "successful" else "",
        reason_code=reason or ("APPROVAL_REJECTED" if status == "failed" else ""),
        attempts=1,
        polls=2,
        callbacks=1,
        deadline_at=created + timedelta(minutes=15),
        created_at=created,
        submitted_at=created + timedelta(milliseconds=100),
        accepted_at=created + timedelta(seconds=accepted_s) if accepted_s is not None else None,
        completed_at=(created + timedelta(seconds=completed_s or 0) if terminal else None),
        updated_at=created,
    )


def _callback(req: MomoRequest, body: bytes, *, outcome="applied", at=None) -> MomoCallback:
    callback_id = momo_callback_next_id()
    return MomoCallback.objects.create(
        id=callback_id,
        reference_id=str(req.reference_id),
        request=req,
        method="PUT",
        content_type="application/json",
        body=seal(body, context=callback_context(callback_id)),  # stored sealed
        claimed_status="SUCCESSFUL",
        outcome=outcome,
        received_at=at or req.created_at + timedelta(seconds=3),
        processed_at=(at or req.created_at) + timedelta(seconds=4),
    )


def _as(role: str, now) -> VerifiedClient:
    client = VerifiedClient()
    user_id = staff(f"p-{role.replace('_', '-')}", [role], now)
    client.force_login(get_user_model().objects.get(pk=user_id))
    return client


def _panel(role: str) -> str:
    return "/mtn" if ROLE_REALM[role] == "mtn" else "/staff"


# --- who may open what ---------------------------------------------------------------------


PAGES = [
    ("momo/", Action.TRANSACTIONS_VIEW_MOMO),
    ("momo/{ref}/", Action.TRANSACTIONS_VIEW_MOMO),
    ("momo/float/", Action.FLOAT_VIEW),
    ("momo/analytics/", Action.TRANSACTIONS_VIEW_MOMO),
]


@pytest.mark.parametrize("role", STAFF_ROLES, ids=lambda r: r.value)
def test_each_page_opens_for_the_roles_the_policy_allows_and_is_refused_to_others(role, now):
    req = _request(now)
    client = _as(role, now)
    own, other = _panel(role), ("/staff" if _panel(role) == "/mtn" else "/mtn")
    for page, action in PAGES:
        path = page.format(ref=req.reference_id)
        allowed = allows({role}, action)
        response = client.get(f"{own}/{path}")
        assert response.status_code == (200 if allowed else 403), (role, path)
        moved = client.get(f"{other}/{path}?window=24h")
        if allowed:  # the other realm's panel sends them to their own
            assert moved.status_code == 302
            assert moved["Location"] == f"{own}/{path}?window=24h"
        else:
            assert moved.status_code == 403, (role, other, path)
    for path in ("/staff/momo/float/threshold/", "/staff/momo/float/check/"):
        response = client.post(path, {})
        manage = allows({role}, Action.FLOAT_MANAGE)
        assert (response.status_code != 403) == manage, (role, path, response.status_code)


def test_customers_and_visitors_are_kept_out(now):
    cust_id, _token = customer("momo-page-customer", now)
    client = VerifiedClient()
    client.force_login(get_user_model().objects.get(pk=cust_id))
    for path in ("/staff/momo/", "/staff/momo/float/", "/mtn/momo/analytics/"):
        assert client.get(path).status_code == 403
        anonymous = VerifiedClient().get(path)
        assert anonymous.status_code == 302 and anonymous["Location"].startswith("/staff/login/")


def test_navigation_links_the_momo_pages_for_those_who_may_open_them(now):
    ops = _as(Role.LW_OPERATIONS, now).get("/staff/").content.decode()
    assert 'href="/staff/momo/"' in ops and 'href="/staff/momo/float/"' in ops
    kyc = _as(Role.LW_KYC_REVIEWER, now).get("/staff/").content.decode()
    assert "/staff/momo/" not in kyc
    mtn = _as(Role.MTN_MONITORING, now).get("/mtn/momo/").content.decode()
    assert 'href="/mtn/momo/"' in mtn and 'href="/mtn/momo/float/"' in mtn


# --- requests: list, filters, detail ------------------------------------------------------------


def test_the_list_masks_numbers_and_filters_by_every_criterion(now):
    ok = _request(now, msisdn="256772123401")
    failed = _request(now, status="failed", reason="PAYER_NOT_FOUND", msisdn="233241234567")
    payout = _request(
        now,
        operation="transfer",
        product="disbursement",
        status="accepted",
        completed_s=None,
        needs_review=True,
    )
    old = _request(now, created_at=now - timedelta(days=10))
    client = _as(Role.LW_SUPPORT, now)

    page = client.get("/staff/momo/").content.decode()
    assert page.count('href="/staff/momo/') >= 4
    assert "+256 •••••••01" in page and "+233 •••••••67" in page
    assert "256772123401" not in page and "233241234567" not in page

    def refs(query: str) -> set[str]:
        response = client.get(f"/staff/momo/?{query}")
        assert response.status_code == 200, response.content
        return set(re.findall(r'href="/staff/momo/([0-9a-f-]{36})/"', response.content.decode()))

    every = {str(r.reference_id) for r in (ok, failed, payout, old)}
    assert refs("") == every
    assert refs("operation=transfer") == {str(payout.reference_id)}
    assert refs("product=disbursement") == {str(payout.reference_id)}
    assert refs("status=failed") == {str(failed.reference_id)}
    assert refs("needs_review=on") == {str(payout.reference_id)}
    day = (now - timedelta(days=10)).date().isoformat()
    assert refs(f"date_from={day}&date_to={day}") == {str(old.reference_id)}
    assert refs(f"date_from={(now - timedelta(days=1)).date().isoformat()}") == every - {
        str(old.reference_id)
    }
    # Search by any reference.
    assert refs(f"q={ok.reference_id}") == {str(ok.reference_id)}
    assert refs(f"q={str(failed.reference_id)[:8]}") == {str(failed.reference_id)}
    assert refs(f"q={ok.external_id}") == {str(ok.reference_id)}
    assert refs(f"q={ok.financial_transaction_id}") == {str(ok.reference_id)}
    assert refs("q=nothing-like-this") == set()


def test_bad_filters_are_explained_not_a_server_error(now):
    client = _as(Role.LW_OPERATIONS, now)
    response = client.get("/staff/momo/?date_from=31/12/2026&status=bogus")
    assert response.status_code == 400
    page = response.content.decode()
    assert "Enter a date as YYYY-MM-DD." in page
    assert "Select a valid choice" in page
    later = client.get("/staff/momo/?date_from=2026-11-20&date_to=2026-11-01")
    assert later.status_code == 400
    assert "The end date is before the start date." in later.content.decode()
    assert client.get("/staff/momo/?before=0").status_code == 400
    assert client.get("/staff/momo/?before=1.2.3").status_code == 400
    assert client.get("/staff/momo/?q=" + "x" * 500).status_code == 400
    # the last representable day is a valid filter, not an overflow
    assert client.get("/staff/momo/?date_to=9999-12-31").status_code == 200
    assert client.get("/staff/momo/?date_from=0001-01-01&date_to=9999-12-31").status_code == 200


def test_paging_shows_fifty_at_a_time(now):
    for _ in range(53):
        _request(now)
    client = _as(Role.LW_OPERATIONS, now)
    first = client.get("/staff/momo/?status=successful").content.decode()
    assert "53 requests" in first
    assert len(re.findall(r'href="/staff/momo/[0-9a-f-]{36}/"', first)) == 50
    cursor = re.search(r"status=successful&amp;before=([0-9.]+)", first)
    assert cursor is not None
    second = client.get(f"/staff/momo/?status=successful&before={cursor.group(1)}")
    text = second.content.decode()
    assert len(re.findall(r'href="/staff/momo/[0-9a-f-]{36}/"', text)) == 3
    assert "53 requests" in text and "before=" not in text  # the last page
    assert 'href="?status=successful">Newest' in text


def test_the_detail_shows_the_timeline_callbacks_masked_and_escaped(now):
    req = _request(now, status="successful", accepted_s=1.0, completed_s=6.0)
    body = {
        "financialTransactionId": req.financial_transaction_id,
        "externalId": req.external_id,
        "amount": "50000",
        "currency": "UGX",
        "payer": {"partyIdType": "MSISDN", "partyId": MSISDN},
        "payerMessage": "Rent for <b>March</b>",
        "status": "SUCCESSFUL",
        "note": "<script>alert(1)</script>",
    }
    _callback(req, json.dumps(body).encode())
    _callback(req, b"not json 256772123401 <img src=x>", outcome="invalid",
              at=req.created_at + timedelta(seconds=5))  # fmt: skip
    client = _as(Role.MTN_MONITORING, now)
    response = client.get(f"/mtn/momo/{req.reference_id}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert str(req.reference_id) in page
    assert MSISDN not in page  # not in the facts, not in either callback body
    assert page.count("+256 •••••••01") >= 3
    assert "Rent for" not in page and "(21 characters)" in page  # free text masked
    assert (
        "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    )
    assert "&lt;img src=x&gt;" in page
    timeline = re.findall(r"<strong>([^<]+)</strong>", page.split('data-testid="timeline"')[1])
    assert timeline[:6] == [
        "Created",
        "Submitted to MoMo",
        "Accepted by MoMo (202)",
        "Callback received (PUT)",
        "Callback received (PUT)",
        "Completed, successful",
    ]
    assert "1 · 2 · 1" in page  # attempts · polls · callbacks
    assert "Confirmed by a status read and applied" in page and "Body could not be read" in page


def test_the_ledger_entry_is_linked_only_for_ledger_viewers(now):
    sender, _ = customer("momo-ledger-a", now)
    receiver, _ = customer("momo-ledger-b", now)
    wallet = funded_wallet(sender, "UGX", 100_000, now)
    other = funded_wallet(receiver, "UGX", 0, now)
    outcome = transfer_create(
        client_id=sender,
        idempotency_key="momo-ledger",
        request=TransferRequest(wallet.id, other.id, 1_000, "UGX"),
        now=now,
    )
    req = _request(now, transfer=outcome.transfer)
    entry = outcome.transfer.entry_id
    assert entry is not None
    finance = _as(Role.LW_FINANCE, now).get(f"/staff/momo/{req.reference_id}/").content.decode()
    assert f'href="/admin/ledger/journalentry/{entry}/change/"' in finance
    assert str(outcome.transfer.id) in finance
    support = _as(Role.LW_SUPPORT, now).get(f"/staff/momo/{req.reference_id}/").content.decode()
    assert f"entry {entry}" in support and "/admin/ledger/" not in support
    # The transfer's id (whole, or the short form the MTN transfers page shows) finds it.
    _request(now)  # another one, not linked
    ops = _as(Role.LW_OPERATIONS, now)
    for q in (str(outcome.transfer.id), str(outcome.transfer.id)[:8]):
        page = ops.get(f"/staff/momo/?q={q}").content.decode()
        found = set(re.findall(r'href="/staff/momo/([0-9a-f-]{36})/"', page))
        assert found == {str(req.reference_id)}, q


def test_an_unknown_reference_is_a_404_page(now):
    response = _as(Role.LW_OPERATIONS, now).get(f"/staff/momo/{uuid.uuid4()}/")
    assert response.status_code == 404
    assert "No MoMo request has the reference" in response.content.decode()


@pytest.mark.parametrize(
    ("kind", "value", "masked"),
    [
        ("MSISDN", "256772123401", "+256 •••••••01"),
        ("MSISDN", "46733123450", "+46 •••••••50"),
        ("EMAIL", "amara@example.com", "a••••@e••••••.com"),
        ("PARTY_CODE", "c2b4a5d6-0000-4000-8000-00000000abcd", "•" * 34 + "cd"),
    ],
)
def test_party_ids_are_masked_by_kind(kind, value, masked):
    assert mask_party(kind, value) == masked


def test_bodies_that_are_not_json_still_lose_numbers_and_addresses():
    text, is_json = callback_body_masked(b"status=OK&msisdn=256772123401&mail=amara@example.com")
    assert not is_json
    assert "256772123401" not in text and "amara@example.com" not in text
    text, is_json = callback_body_masked(
        json.dumps({"payerFirstName": "Amara", "payerSurName": "Nakato"}).encode()
    )
    assert is_json and "Amara" not in text and "Nakato" not in text and "A••••" in text


# --- float page and thresholds -----------------------------------------------------------------


def _readings(now, settings):
    settings.MOMO_ENVIRONMENTS = "UGX:mtnuganda,GHS:mtnghana"
    FloatThreshold.objects.create(
        product="disbursement",
        target_environment="mtnuganda",
        currency="UGX",
        low_minor=5_000_000,
        alert_state="low",
        alerted_at=now - timedelta(minutes=30),
        updated_at=now,
    )
    for i, amount in enumerate((9_000_000, 6_000_000, 3_000_000)):
        FloatReading.objects.create(
            product="disbursement",
            target_environment="mtnuganda",
            currency="UGX",
            available_minor=amount,
            read_at=now - timedelta(minutes=60 - i * 5),
        )
    FloatReading.objects.create(
        product="remittance",
        target_environment="mtnghana",
        currency="GHS",
        available_minor=None,
        error="SERVICE_UNAVAILABLE: MoMo remittance balance: HTTP 503",
        read_at=now - timedelta(minutes=50),
    )


def test_the_float_page_shows_balances_states_and_a_chart(now, settings):
    _readings(timezone_now(), settings)
    page = _as(Role.MTN_FINANCE, now).get("/mtn/momo/float/").content.decode()
    rows = re.findall(r'data-account="([^"]+)" data-state="([^"]+)"', page)
    assert rows == [
        ("mtnuganda:collection", "unmonitored"),
        ("mtnuganda:disbursement", "low"),
        ("mtnuganda:remittance", "unmonitored"),
        ("mtnghana:collection", "unmonitored"),
        ("mtnghana:disbursement", "unmonitored"),
        ("mtnghana:remittance", "unmonitored"),
    ]
    assert "UGX 3,000,000" in page and "UGX 5,000,000" in page
    assert 'data-testid="low-alert"' in page
    assert "read failed" in page and "HTTP 503" in page
    assert 'data-testid="float-chart"><canvas data-chart="chart-float"' in page
    island = re.search(r'<script id="chart-float" type="application/json">(.*?)</script>', page)
    assert island is not None
    available, threshold = json.loads(island.group(1))["data"]["datasets"]
    assert len(available["data"]) >= 3 and threshold["borderDash"] == [6, 4]
    assert len(set(threshold["data"])) == 1  # the alert level, drawn across
    # MTN staff see, they do not set thresholds.
    assert "threshold-form" not in page and "Check balances now" not in page
    finance = _as(Role.LW_FINANCE, now).get("/staff/momo/float/").content.decode()
    assert 'data-testid="threshold-form"' in finance and "Check balances now" in finance


def timezone_now():
    from django.utils import timezone

    return timezone.now()


def test_setting_a_threshold_through_the_form(now, settings):
    settings.MOMO_ENVIRONMENTS = "UGX:mtnuganda,GHS:mtnghana"
    client = _as(Role.LW_FINANCE, now)
    response = client.post(
        "/staff/momo/float/threshold/",
        {"environment": "mtnghana", "product": "remittance", "amount": "12,500.75"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/staff/momo/float/?account=mtnghana:remittance"
    row = FloatThreshold.objects.get(product="remittance", target_environment="mtnghana")
    assert (row.currency, row.low_minor) == ("GHS", 1_250_075)
    record = AuditRecord.objects.get(action="momo_float.threshold_set")
    assert record.actor.startswith("staff:") and record.data["new_minor"] == 1_250_075
    follow = client.get(response["Location"]).content.decode()
    assert "GHS 12,500.75" in follow
    edit = client.get("/staff/momo/float/?edit=mtnghana:remittance").content.decode()
    assert 'value="12500.75"' in edit


def _form(environment: str, product: str, amount: str) -> dict[str, str]:
    return {"environment": environment, "product": product, "amount": amount}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_form("mtnuganda", "disbursement", "12.5"), "UGX has no decimal places"),
        (_form("mtnuganda", "disbursement", ""), "Enter an amount."),
        (_form("mtnuganda", "disbursement", "lots"), "Enter a number in UGX"),
        (_form("mtnghana", "disbursement", "-1"), "cannot be negative"),
        (_form("mtnghana", "disbursement", "1e40"), "too large"),
        (_form("mtnzambia", "disbursement", "1"), "Select a valid choice"),
        (_form("mtnghana", "savings", "1"), "Select a valid choice"),
    ],
)
def test_threshold_form_errors_are_shown_beside_the_field(data, message, now, settings):
    settings.MOMO_ENVIRONMENTS = "UGX:mtnuganda,GHS:mtnghana"
    response = _as(Role.LW_FINANCE, now).post("/staff/momo/float/threshold/", data)
    assert response.status_code == 422
    page = response.content.decode()
    assert message in page
    assert 'class="error-summary"' in page and 'aria-invalid="true"' in page
    # Rendered at the form's POST address: its links must not be relative to it.
    assert 'href="/staff/momo/float/?account=mtnghana:remittance"' in page
    assert 'href="?' not in page
    assert not FloatThreshold.objects.exists()
    assert not AuditRecord.objects.filter(action="momo_float.threshold_set").exists()


def test_check_now_queues_one_float_check_job(now):
    client = _as(Role.LW_FINANCE, now)
    for _ in range(2):
        response = client.post("/staff/momo/float/check/")
        assert response.status_code == 302 and response["Location"] == "/staff/momo/float/"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'momo_float_check'"
            " AND status = 'todo'"
        )
        assert cursor.fetchone()[0] == 1
    assert _as(Role.LW_OPERATIONS, now).post("/staff/momo/float/check/").status_code == 403


# --- analytics ---------------------------------------------------------------------------------


def test_analytics_count_outcomes_reasons_latency_and_callbacks(now):
    """From the rollups: the requests and callbacks are counted by the rollup job, the
    latency percentiles estimated from histogram buckets (MOMO_OUTCOME_BUCKETS: 1, 2.5, 5,
    10, 30 s, ...), interpolated inside the bucket as Prometheus does."""
    # Ten successful deposits accepted after 1..10 s and completed after 2..20 s.
    for i in range(1, 11):
        req = _request(now, accepted_s=float(i), completed_s=float(2 * i))
        _callback(req, b"{}", outcome="applied" if i <= 8 else "duplicate")
    for reason in ("APPROVAL_REJECTED", "APPROVAL_REJECTED", "PAYER_NOT_FOUND"):
        _request(now, status="failed", reason=reason, accepted_s=1.0, completed_s=3.0)
    _request(now, operation="transfer", product="disbursement", status="accepted",
             completed_s=None, needs_review=True)  # fmt: skip
    _request(now, created_at=now - timedelta(days=9))  # outside the 7-day window
    analytics_rollup(now=now)

    stats = momo_analytics(now=now, window="7d")
    ops = {o.operation: o for o in stats.operations}
    rtp = ops["requesttopay"]
    assert (rtp.created, rtp.successful, rtp.failed) == (13, 10, 3)
    assert rtp.success_rate == "76.9%"  # 10 of 13
    # To acceptance: 1,1,1,1,2,3,...,10 s; rank 6.5 of 13 falls in (2.5, 5] s holding 3.
    assert rtp.accept is not None and rtp.accept.count == 13
    assert rtp.accept.p50_ms == pytest.approx(3750) and rtp.accept.p50 == "3.8 s"
    assert rtp.accept.p95_ms == pytest.approx(9350)
    # To the outcome: 2,3,3,3,4,6,8,...,20 s.
    assert rtp.outcome is not None
    assert rtp.outcome.p50_ms == pytest.approx(7500)
    assert rtp.outcome.p95_ms == pytest.approx(27400)
    payout = ops["transfer"]
    assert (payout.created, payout.successful, payout.failed, payout.success_rate) == (1, 0, 0, "")
    assert payout.outcome is None
    assert (stats.open, stats.needs_review) == (1, 1)  # live counts over partial indexes
    assert [(r.operation, r.reason, r.count) for r in stats.figures.reasons] == [
        ("requesttopay", "APPROVAL_REJECTED", 2),
        ("requesttopay", "PAYER_NOT_FOUND", 1),
    ]
    assert stats.figures.callbacks == [("applied", 8), ("duplicate", 2)]
    f = stats.figures
    assert (f.created, f.successful, f.failed, f.success_rate) == (14, 10, 3, "76.9%")
    assert len(f.series.starts) == 7 and sum(f.series.values["created"]) == 14

    day = momo_analytics(now=now, window="24h")
    assert day.bucket == "hour" and len(day.figures.series.starts) == 24
    assert momo_analytics(now=now, window="30d").figures.created == 15


def test_the_analytics_page_renders_the_figures_and_its_charts(now, settings):
    real_now = timezone_now()
    _request(real_now, status="failed", reason="NOT_ENOUGH_FUNDS", operation="transfer",
             product="disbursement")  # fmt: skip
    _request(real_now)
    analytics_rollup(now=real_now)
    client = _as(Role.MTN_MONITORING, now)
    page = client.get("/mtn/momo/analytics/?window=24h").content.decode()
    assert re.search(r'data-testid="kpi-requests">2<', page)
    assert re.search(r'data-testid="kpi-rate">50.0%<', page)
    assert "NOT_ENOUGH_FUNDS" in page
    islands = dict(
        re.findall(r'<script id="(chart-[a-z]+)" type="application/json">(.*?)</script>', page)
    )
    requests = json.loads(islands["chart-requests"])
    assert [sum(d["data"]) for d in requests["data"]["datasets"]] == [1, 1]  # ok, failed
    assert 'data-chart="chart-requests"' in page and "<svg" not in page
    assert client.get("/mtn/momo/analytics/?window=forever").status_code == 200  # default


@pytest.mark.parametrize(
    ("part", "whole", "text"),
    [(0, 0, ""), (1, 3, "33.3%"), (2, 3, "66.7%"), (1, 8, "12.5%"), (7, 7, "100.0%")],
)
def test_rates_are_computed_in_integers(part, whole, text):
    assert rate(part, whole) == text


# --- end to end: a real deposit through the simulator, then its page -----------------------------


def test_a_real_deposit_shows_its_whole_story(momo, client, now):
    from lightway.application.momo import flows
    from tests.momo_flow_support import momo_customer, request_of, run_momo_jobs

    uid = momo_customer("page-payer", now, phone="+256772123401", wallet=1_000)
    transfer = flows.deposit_start(
        customer_id=uid,
        currency="UGX",
        amount_minor=25_000,
        msisdn="256772123409",
        idempotency_key="page-dep-1",
        now=now,
    )
    run_momo_jobs(now)
    momo.deliver_callbacks(client, wait_for=1)
    run_momo_jobs(now)
    req = request_of(transfer)
    assert req.status == "successful"

    page = _as(Role.LW_FINANCE, now).get(f"/staff/momo/{req.reference_id}/").content.decode()
    assert 'data-testid="status">Successful<' in page
    assert "256772123409" not in page and "+256 •••••••09" in page
    assert page.count('data-testid="callback"') == req.callbacks >= 1
    assert "Confirmed by a status read and applied" in page
    assert req.financial_transaction_id in page
    entry_id = Transfer.objects.get(pk=transfer.pk).entry_id
    assert entry_id is not None
    assert f'href="/admin/ledger/journalentry/{entry_id}/change/"' in page
    listing = _as(Role.MTN_ADMIN, now).get(f"/mtn/momo/?q={req.external_id}").content.decode()
    assert f'href="/mtn/momo/{req.reference_id}/"' in listing


def test_the_pages_hold_no_inline_style_or_script(now, settings):
    _readings(timezone_now(), settings)
    req = _request(timezone_now(), status="failed", reason="NOT_ENOUGH_FUNDS")
    _callback(req, b'{"status": "FAILED"}', outcome="applied")
    client = _as(Role.LW_FINANCE, now)
    for path in (
        "/staff/momo/",
        f"/staff/momo/{req.reference_id}/",
        "/staff/momo/float/",
        "/staff/momo/analytics/?window=24h",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response["Cache-Control"] == "no-store"
        html = response.content.decode()
        assert " style=" not in html, path
        for tag in re.findall(r"<script\b([^>]*)>", html):
            assert tag.lstrip().startswith("src=") or 'type="application/json"' in tag, (path, tag)
        if "float" in path or "analytics" in path:
            # Chart.js canvases with their configuration as JSON data, no inline SVG.
            assert "data-chart=" in html and "<svg" not in html, path


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (None, ""),
        (0, "0 ms"),
        (850, "850 ms"),
        (999, "999 ms"),
        (1_000, "1.0 s"),
        (4_249, "4.2 s"),
        (59_949, "59.9 s"),
        (200_000, "3 min 20 s"),
        (180_000, "3 min"),
        (7_500_000, "2 h 5 min"),
    ],
)
def test_latencies_read_as_people_say_them(ms, text):
    assert duration(ms) == text
