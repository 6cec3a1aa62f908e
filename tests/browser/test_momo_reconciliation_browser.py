"""The reconciliation pages in real headless Chromium against a live server, with data made
by the real flows through the MoMo simulator (a lost callback, an amount drift, a ghost).

- An operations staff member signs in (password + TOTP), reads the runs and their chart,
  opens a run's report filtered by category, uploads a statement with a mistake (the line
  errors show), then assigns and resolves a case from the queue.
- MTN finance reads the same runs and report in the MTN panel.
- No page logs a console error or breaks the Content-Security-Policy.

Screenshots go to var/screenshots/recon-*.png.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from lightway.application.momo import flows
from lightway.application.momo.reconciliation.runs import reconcile
from lightway.application.momo.statements import statement_import
from lightway.data.reconciliation.models import ReconCase
from lightway.security.policy import Role
from tests.browser_support import chart_drawn, staff_sign_in, staff_with_totp
from tests.momo_flow_support import momo_customer, request_of, run_momo_jobs

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SHOT_PREFIX = "recon-"
FORM_ERROR_STATUS = 422


def _history(momo) -> int:
    """Deposits through the simulator (one callback lost, one amount drifted), a ghost on
    the statement, the statement imported and one reconciliation run; its id."""
    now = timezone.now()
    callbacks = Client()
    uid = momo_customer("recon-browser", now, phone="+256772123401", wallet=100_000)
    transfers = [
        flows.deposit_start(
            customer_id=uid,
            currency="UGX",
            amount_minor=amount,
            msisdn=number,
            idempotency_key=f"dep-{i}",
            now=now,
        )
        for i, (amount, number) in enumerate(
            [(25_000, "256772555001"), (40_000, "256772555002"), (9_000, "46733123453")]
        )
    ]
    run_momo_jobs(now)
    matched, drifted, lost = (request_of(t) for t in transfers)
    for req in (matched, drifted):
        momo.sim.wait_status(str(req.reference_id))
    momo.sim.complete(str(lost.reference_id), "SUCCESSFUL")
    for callback in momo.sim.callbacks_take():
        if callback.reference_id.lower() == str(lost.reference_id):
            continue  # lost
        path = "/webhooks/momo/" + callback.url.rsplit("/", 1)[-1]
        callbacks.generic(
            callback.method, path, data=callback.body, content_type="application/json"
        )
    run_momo_jobs(now)
    momo.sim.drift_amount(str(drifted.reference_id), "39500")
    momo.sim.add_ghost("collection", "mtnuganda", "3000", "UGX")
    start, end = now - timedelta(minutes=10), now + timedelta(minutes=10)
    statement_import(
        data=momo.sim.statement_csv("collection", "mtnuganda", start, end).encode(),
        filename="collection-mtnuganda.csv",
        product="collection",
        environment="mtnuganda",
        period_start=start,
        period_end=end,
        now=now,
    )
    return reconcile(window_start=start, window_end=end, now=timezone.now()).pk


def test_operations_work_the_reconciliation_pages(momo, site, desktop, tmp_path) -> None:
    run_id = _history(momo)
    key = staff_with_totp("ops-recon", Role.LW_OPERATIONS)
    w = desktop
    page = w.page
    staff_sign_in(w, site, "ops-recon", key, "/staff/")
    page.click("nav.nav >> text=Reconciliation")
    page.wait_for_url(f"{site}/staff/reconciliation/")
    assert chart_drawn(page, "[data-testid=recon-chart] canvas")["datasets"] == 5  # categories
    row = page.locator(f"tr[data-run='{run_id}']")
    assert row.locator("td[data-category=matched]").inner_text() == "1"
    assert row.locator("td[data-category=status_mismatch]").inner_text() == "1"
    assert row.locator("td[data-category=amount_mismatch]").inner_text() == "1"
    assert row.locator("td[data-category=missing_on_platform]").inner_text() == "1"
    w.shot("runs")

    row.locator("td[data-category=amount_mismatch] a").click()
    page.wait_for_url(re.compile(rf".*/runs/{run_id}/\?category=amount_mismatch"))
    items = page.locator("[data-testid=recon-items] tbody tr")
    assert items.count() == 1
    assert "UGX -39,500" not in items.inner_text()  # collections are positive
    assert "UGX 39,500" in items.inner_text() and "+256 •••••••02" in items.inner_text()
    with page.expect_navigation():
        page.click("nav.recon-chips >> text=All")
    assert page.locator("[data-testid=recon-items] tbody tr").count() == 4
    assert "resolved by status read" in page.inner_text("[data-testid=recon-items]")
    w.shot("report")
    with page.expect_download() as download:
        page.click("[data-testid=download-csv]")
    assert download.value.suggested_filename == f"momo-reconciliation-{run_id}.csv"

    bad = tmp_path / "statement.csv"
    bad.write_text(
        "Id,External Transaction Id,Reference Id,Date,Status,Type,Amount,Fee,Currency,Balance\n"
        "9001,,,2026-11-24T08:00:00Z,SUCCESSFUL,PAYMENT,12.5,0,UGX,1\n"
        "9002,,,soon,SUCCESSFUL,PAYMENT,10,0,UGX,1\n"
    )
    page.click("nav.momo-tabs >> text=Float statements")
    page.set_input_files("#id_file", str(bad))
    with page.expect_navigation():
        page.click("main form button[type=submit] >> text=Import")
    errors = page.inner_text("[data-testid=line-errors]")
    assert "Line 2: Amount 12.5 has decimals" in errors and "Line 3: Date 'soon'" in errors
    w.shot("statement-errors")

    page.click("nav.momo-tabs >> text=Case queue")
    page.wait_for_url(f"{site}/staff/reconciliation/cases/")
    cases = page.locator("[data-testid=recon-cases] article")
    assert cases.count() == 2  # the drift and the ghost
    first = cases.nth(0)
    case_id = first.get_attribute("data-case")
    with page.expect_navigation():
        first.locator("button >> text=Assign").click()
    first = page.locator(f"article[data-case='{case_id}']")
    assert first.get_attribute("data-status") == "in_progress"
    first.locator("textarea").fill("Checked with MTN: their statement export was corrected")
    with page.expect_navigation():
        first.locator("button >> text=Resolve").click()
    assert page.locator("[data-testid=recon-cases] article").count() == 1
    assert ReconCase.objects.get(pk=case_id).status == "resolved"
    w.shot("cases")
    w.clean()


def test_mtn_finance_reads_the_reports(momo, site, desktop) -> None:
    run_id = _history(momo)
    key = staff_with_totp("mtn-recon", Role.MTN_FINANCE)
    w = desktop
    page = w.page
    staff_sign_in(w, site, "mtn-recon", key, "/mtn/")
    page.click("nav.nav >> text=Reconciliation")
    page.wait_for_url(f"{site}/mtn/reconciliation/")
    assert page.locator(f"tr[data-run='{run_id}']").count() == 1
    assert page.locator("text=Run now").count() == 0  # read-only
    page.click(f"tr[data-run='{run_id}'] >> text=#{run_id}")
    page.wait_for_url(f"{site}/mtn/reconciliation/runs/{run_id}/")
    assert page.locator("[data-testid=recon-items] tbody tr").count() == 4
    w.shot("mtn-report")
    w.clean()
