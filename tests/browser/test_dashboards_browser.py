"""The live dashboards in Chromium: the staff home (/staff/) and the MTN portal (/mtn/) draw
their Chart.js charts (canvas painted, no CSP violation) at desktop and phone size, the
staff home's live fragment refreshes itself by HTMX polling, the MTN traffic table holds
its columns at 1280 px, and no page scrolls sideways on a phone."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from lightway.application.analytics.rollup import analytics_rollup
from lightway.application.momo.browse import mask_party
from lightway.data.momo.models import MomoRequest
from lightway.data.wallets.models import Transfer
from lightway.security.crypto import encrypt, pii_token
from lightway.security.policy import Role
from tests.browser_support import chart_drawn, staff_sign_in, staff_with_totp
from tests.factories import customer

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SHOT_PREFIX = "dashboard-"
MSISDN = "256772123401"


def _traffic(client_id: int, n: int, *, status: str, kind: str = "deposit") -> None:
    """``n`` MoMo-routed transfers ending now (as the flows leave them), and their requests."""
    now = timezone.now()
    for i in range(n):
        at = now - timedelta(seconds=5 * i)
        failed = status == "failed"
        transfer = Transfer.objects.create(
            kind=kind,
            status=status if failed else "pending",
            failure_code="APPROVAL_REJECTED" if failed else "",
            client_id=client_id,
            idempotency_key=str(uuid.uuid4()),
            request_hash="x",
            currency="UGX",
            amount=10_000 + i,
            fee=250,
            created_at=at,
            updated_at=at,
        )
        MomoRequest.objects.create(
            reference_id=uuid.uuid4(),
            product="collection" if kind == "deposit" else "disbursement",
            operation="requesttopay" if kind == "deposit" else "transfer",
            transfer=transfer,
            external_id=f"ext-{uuid.uuid4().hex[:10]}",
            target_environment="mtnuganda",
            base_url="http://127.0.0.1:9",
            currency="UGX",
            amount=10_000 + i,
            party_ct=encrypt(MSISDN, context="momo.party"),
            party_token=pii_token("msisdn", MSISDN),
            status="failed" if failed else "accepted",
            reason_code="APPROVAL_REJECTED" if failed else "",
            financial_transaction_id="",
            deadline_at=at + timedelta(minutes=15),
            created_at=at,
            accepted_at=at + timedelta(seconds=1),
            completed_at=at + timedelta(seconds=2) if failed else None,
            updated_at=at,
        )


def test_the_staff_home_draws_its_charts_and_refreshes_itself(site, desktop):
    payer, _ = customer("dash-payer", timezone.now())
    _traffic(payer, 3, status="failed")
    analytics_rollup(now=timezone.now())
    key = staff_with_totp("dash.ops", Role.LW_OPERATIONS)
    w = desktop
    page = w.page
    staff_sign_in(w, site, "dash.ops", key, "/staff/")
    for chart in ("chart-volume", "chart-kinds", "chart-momo", "chart-reasons"):
        drawn = chart_drawn(page, f"canvas[data-chart={chart}]")
        assert drawn["painted"] > 0 and drawn["width"] > 200, (chart, drawn)
    assert page.locator("[data-testid=kpi-failed]").inner_text() == "3"
    w.shot("staff-home")

    # More traffic is counted by the worker's job; the page polls and shows it by itself.
    _traffic(payer, 2, status="failed")
    analytics_rollup(now=timezone.now())
    page.wait_for_function(
        "() => document.querySelector('[data-testid=kpi-failed]').textContent === '5'",
        timeout=25_000,
    )
    chart_drawn(page, "canvas[data-chart=chart-volume]")  # redrawn after the swap
    assert page.url == f"{site}/staff/"
    w.clean()


def test_the_mtn_portal_at_desktop_and_phone_size(site, desktop, mobile):
    payer, _ = customer("dash-mtn", timezone.now())
    _traffic(payer, 4, status="failed", kind="payout")
    _traffic(payer, 6, status="pending")
    analytics_rollup(now=timezone.now())
    for w, size in ((desktop, "desktop"), (mobile, "phone")):
        # One member each: a TOTP code is accepted once.
        key = staff_with_totp(f"dash.mtn.{size}", Role.MTN_MONITORING)
        page = w.page
        staff_sign_in(w, site, f"dash.mtn.{size}", key, "/mtn/")
        for chart in ("chart-volume", "chart-momo", "chart-reasons"):
            assert chart_drawn(page, f"canvas[data-chart={chart}]")["painted"] > 0, chart
        assert page.locator("[data-testid=traffic] tbody tr").count() == 10
        text = page.locator("[data-testid=traffic]").inner_text()
        assert MSISDN not in text and mask_party("MSISDN", MSISDN) in text
        if size == "desktop":
            # Regression (issue 13): the last column was cut even at 1280 px.
            box = page.evaluate(
                "() => { const t = document.querySelector('[data-testid=traffic]');"
                " const s = t.closest('.table-scroll');"
                " return [t.scrollWidth, s.clientWidth]; }"
            )
            assert box[0] <= box[1], box
        w.fits_width()
        w.shot(f"mtn-{size}")
        page.select_option("#id_kind", "payout")
        with page.expect_navigation():
            page.click("form.momo-filters button[type=submit]")
        assert page.locator("[data-testid=traffic] tbody tr").count() == 4
        w.visit(f"{site}/mtn/momo/analytics/?window=24h")
        assert chart_drawn(page, "[data-testid=analytics-chart] canvas")["painted"] > 0
        w.fits_width()
        w.shot(f"mtn-analytics-{size}")
        w.clean()


def test_the_staff_pages_with_charts_fit_a_phone(site, mobile):
    payer, _ = customer("dash-phone", timezone.now())
    _traffic(payer, 2, status="failed")
    analytics_rollup(now=timezone.now())
    key = staff_with_totp("dash.fin", Role.LW_FINANCE)
    w = mobile
    staff_sign_in(w, site, "dash.fin", key, "/staff/")
    assert chart_drawn(w.page, "canvas[data-chart=chart-volume]")["painted"] > 0
    w.fits_width()
    w.shot("staff-home-phone")
    # Regression (issue 13): the MoMo analytics page scrolled sideways as a whole.
    w.visit(f"{site}/staff/momo/analytics/?window=24h")
    assert chart_drawn(w.page, "[data-testid=analytics-chart] canvas")["painted"] > 0
    w.fits_width()
    w.clean()
