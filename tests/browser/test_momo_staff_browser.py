"""The MoMo operations pages in real headless Chromium against a live server, with data made
by the real flows through the MoMo simulator and balances read by the float check.

- A finance staff member signs in (password + TOTP), finds a deposit by its reference,
  opens it (timeline, callback), reads the float page (a low market, the chart), sets a
  threshold (a mistake first) and opens the analytics.
- An MTN analyst sees the same pages in the MTN panel, without the threshold form.
- No page logs a console error or breaks the Content-Security-Policy.

Screenshots go to var/screenshots/momo-*.png (docs/screenshots/ keeps copies).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from lightway.application.analytics.rollup import analytics_rollup
from lightway.application.demo import DEMO_FLOAT_THRESHOLDS
from lightway.application.momo import flows
from lightway.application.momo.floats import float_check, float_thresholds_seed
from lightway.data.momo.models import MomoRequest
from lightway.security.policy import Role
from tests.browser_support import chart_drawn, staff_sign_in, staff_with_totp
from tests.momo_flow_support import momo_customer, request_of, run_momo_jobs

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SHOT_PREFIX = "momo-"
FORM_ERROR_STATUS = 422
FINANCE_EMAIL = "fin.browser@lightway.example"


def _momo_history(momo) -> MomoRequest:
    """Real MoMo traffic through the simulator, and an hour of float readings."""
    now = timezone.now()
    callbacks = Client()
    uid = momo_customer("browser-payer", now, phone="+256772123401", wallet=2_000_000)
    deposits = [
        flows.deposit_start(
            customer_id=uid,
            currency="UGX",
            amount_minor=amount,
            msisdn=msisdn,
            idempotency_key=f"b-dep-{i}",
            now=now,
        )
        for i, (amount, msisdn) in enumerate(
            [(25_000, "256772123409"), (40_000, "256772123409"), (15_000, "46733123451")]
        )
    ]
    flows.payout_start(
        customer_id=uid,
        currency="UGX",
        amount_minor=120_000,
        msisdn="256701234567",
        idempotency_key="b-pay-1",
        now=now,
    )
    flows.payout_start(
        customer_id=uid,
        currency="UGX",
        amount_minor=90_000,
        msisdn="46733123455",  # the payee test number: NOT_ENOUGH_FUNDS
        idempotency_key="b-pay-2",
        now=now,
    )
    run_momo_jobs(timezone.now())
    momo.deliver_callbacks(callbacks, wait_for=5)
    run_momo_jobs(timezone.now())

    float_thresholds_seed(values=DEMO_FLOAT_THRESHOLDS, now=now)
    sim = momo.sim
    for i, balance in enumerate(
        ("180000000", "172000000", "161000000", "158500000", "149000000", "131000000", "98000000")
    ):
        sim.set_balance("disbursement", "mtnuganda", balance)
        sim.set_balance("remittance", "mtnghana", str(400_000 - 15_000 * i))
        float_check(now=now - timedelta(minutes=5 * (6 - i)))
    return request_of(deposits[0])


def test_finance_works_the_momo_pages(site, desktop, momo, outbox, settings):
    settings.LIGHTWAY_MOMO_ALERT_EMAIL = ""
    key = staff_with_totp("fin.browser", Role.LW_FINANCE, email=FINANCE_EMAIL)
    deposit = _momo_history(momo)
    assert deposit.status == "successful"
    # The fall of Uganda's disbursement float below its threshold was alerted once.
    alerts = outbox.emails_to(FINANCE_EMAIL)
    assert len(alerts) == 1 and "Disbursement float low in mtnuganda" in alerts[0].subject
    w = desktop
    page = w.page
    staff_sign_in(w, site, "fin.browser", key, "/staff/")
    assert page.locator("nav.nav a[href='/staff/momo/']").is_visible()

    page.click("nav.nav a[href='/staff/momo/']")
    page.wait_for_url(f"{site}/staff/momo/")
    rows = page.locator("[data-testid=momo-requests] tbody tr")
    assert rows.count() == 5
    assert "256772123409" not in page.content()
    w.shot("requests")

    page.fill("#id_q", deposit.external_id)
    page.click("form.momo-filters button[type=submit]")
    page.wait_for_url(re.compile(r".*/staff/momo/\?.*q=.*"))
    assert page.locator("[data-testid=momo-requests] tbody tr").count() == 1
    page.click(f"a[href='/staff/momo/{deposit.reference_id}/']")
    page.wait_for_url(f"{site}/staff/momo/{deposit.reference_id}/")
    assert page.locator("[data-testid=status]").inner_text() == "Successful"
    assert page.locator("[data-testid=callback]").count() >= 1
    assert "+256 •••••••09" in page.locator("[data-testid=party]").inner_text()
    assert page.locator("[data-testid=ledger-link]").is_visible()
    w.shot("request-detail")

    w.visit(f"{site}/staff/momo/float/")
    assert "mtnuganda Disbursement" in page.locator("[data-testid=low-alert]").inner_text()
    assert (
        page.locator("tr[data-account='mtnuganda:disbursement']").get_attribute("data-state")
        == "low"
    )
    chart = chart_drawn(page, "[data-testid=float-chart] canvas")
    assert chart["type"] == "line" and chart["width"] > 300 and chart["painted"] > 0
    assert chart["datasets"] == 2  # the balance and its alert threshold
    w.shot("float")

    # A mistake first: UGX has no decimals; then a valid threshold.
    page.click("tr[data-account='mtnghana:remittance'] a:has-text('Edit')")
    page.wait_for_url(re.compile(r".*edit=mtnghana:remittance.*"))
    assert page.input_value("#id_environment") == "mtnghana"
    page.select_option("#id_environment", "mtnuganda")
    page.fill("#id_amount", "250000.5")
    with page.expect_navigation():
        page.click("[data-testid=threshold-form] button[type=submit]")
    assert "UGX has no decimal places" in page.locator(".error-summary").inner_text()
    assert page.get_attribute("#id_amount", "aria-invalid") == "true"
    w.shot("float-threshold-error")
    page.fill("#id_amount", "250,000")
    with page.expect_navigation():
        page.click("[data-testid=threshold-form] button[type=submit]")
    assert "UGX 250,000" in page.locator(".messages").inner_text()

    analytics_rollup(now=timezone.now())  # what the worker does every 10 s
    w.visit(f"{site}/staff/momo/analytics/?window=24h")
    assert page.locator("[data-testid=kpi-requests]").inner_text() == "5"
    assert chart_drawn(page, "[data-testid=analytics-chart] canvas")["painted"] > 0
    reasons = page.locator("[data-testid=reasons]").inner_text()
    assert "APPROVAL_REJECTED" in reasons
    w.shot("analytics")
    w.clean()
    assert MomoRequest.objects.count() == 5


def test_mtn_sees_momo_operations_without_the_threshold_form(site, desktop, momo):
    _momo_history(momo)
    key = staff_with_totp("mtn.browser", Role.MTN_MONITORING)
    w = desktop
    page = w.page
    staff_sign_in(w, site, "mtn.browser", key, "/mtn/")
    page.click("nav.nav a[href='/mtn/momo/']")
    page.wait_for_url(f"{site}/mtn/momo/")
    assert page.locator("[data-testid=momo-requests] tbody tr").count() == 5
    w.visit(f"{site}/mtn/momo/float/")
    assert (
        page.locator("tr[data-account='mtnuganda:disbursement']").get_attribute("data-state")
        == "low"
    )
    assert page.locator("[data-testid=threshold-form]").count() == 0
    w.shot("mtn-float")
    # The LightWay panel's address sends them back to their own.
    w.visit(f"{site}/staff/momo/analytics/")
    assert page.url == f"{site}/mtn/momo/analytics/"
    w.clean()
