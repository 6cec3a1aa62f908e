"""The reports page in real headless Chromium (Playwright) against a live server
(docs/reports.md):

- a finance officer asks for a report with a mistake first (the period ends before it
  starts: 400, the message beside the field, what was typed kept), then properly; the run's
  page polls its progress (HTMX) while the job runs, shows "Done" with the SHA-256, and the
  download is the PDF whose digest the page shows, recorded in the audit trail;
- the list shows the run; on a phone-sized screen the pages do not scroll sideways;
- no page logs a console error or breaks the Content-Security-Policy.

Screenshots go to var/screenshots/reports-*.png (docs/screenshots/ keeps a copy of the list).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from lightway.application.analytics.rollup import analytics_rollup
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.data.audit.models import AuditRecord
from lightway.data.reports.models import ReportRun
from lightway.security.policy import Role
from tests.browser_support import Watch, staff_sign_in, staff_with_totp
from tests.factories import customer, funded_wallet

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SHOT_PREFIX = "reports-"


def _payments() -> None:
    now = timezone.now()
    alice, _ = customer("rb-alice", now)
    bob, _ = customer("rb-bob", now)
    a = funded_wallet(alice, "UGX", 500_000, now)
    b = funded_wallet(bob, "UGX", 0, now)
    for amount in (12_000, 25_000, 40_000):
        transfer_create(
            client_id=alice,
            idempotency_key=str(uuid.uuid4()),
            request=TransferRequest(
                source_wallet_id=a.id, destination_wallet_id=b.id, amount=amount, currency="UGX"
            ),
            now=timezone.now(),
        )
    analytics_rollup(now=timezone.now())


def _submit(w: Watch) -> None:
    with w.page.expect_navigation():
        w.page.click("[data-testid=report-form] button[type=submit]")
    w.page.wait_for_load_state("networkidle")


def test_finance_requests_a_report_sees_it_finish_and_downloads_it(
    site, desktop: Watch, mobile: Watch
):
    from lightway.interfaces import tasks

    _payments()
    key = staff_with_totp("fin.reports", Role.LW_FINANCE)
    w, page = desktop, desktop.page
    staff_sign_in(w, site, "fin.reports", key, "/staff/")
    page.click("nav >> text=Reports")
    page.wait_for_url(f"{site}/staff/reports/")
    today = timezone.now().date()

    page.select_option("#id_kind", "volumes")
    page.fill("#id_start", today.isoformat())
    page.fill("#id_end", (today - timedelta(days=3)).isoformat())
    page.select_option("#id_format", "pdf")
    _submit(w)
    assert page.locator(".error-summary").is_visible()
    assert "before it starts" in page.locator("#id_end_error").inner_text()
    assert page.input_value("#id_start") == today.isoformat()
    assert not ReportRun.objects.exists()

    page.fill("#id_start", (today - timedelta(days=6)).isoformat())
    page.fill("#id_end", today.isoformat())
    page.select_option("#id_market", "UG")
    _submit(w)
    run = ReportRun.objects.get()
    page.wait_for_url(f"{site}/staff/reports/{run.pk}/")
    assert page.locator("[data-testid=run-state]").inner_text() == "Queued"
    assert page.locator("[data-testid=download]").count() == 0

    assert tasks.report_run(run_id=int(run.pk)) == "done"  # the worker's job
    page.locator("[data-testid=download]").wait_for(timeout=10_000)  # HTMX polled it
    assert page.locator("[data-testid=run-state]").inner_text() == "Done"
    run.refresh_from_db()
    assert run.sha256 in page.locator("[data-testid=run-status]").inner_text()
    w.shot("run")

    with page.expect_download() as info:
        page.click("[data-testid=download]")
    path = info.value.path()
    assert path is not None
    body = Path(path).read_bytes()
    assert body.startswith(b"%PDF-") and hashlib.sha256(body).hexdigest() == run.sha256
    assert info.value.suggested_filename == run.filename
    audit = AuditRecord.objects.get(action="report.download")
    assert audit.object_id == str(run.pk) and audit.data["sha256"] == run.sha256

    w.visit(f"{site}/staff/reports/")
    assert f"#{run.pk}" in page.locator("[data-testid=runs]").inner_text()
    w.shot("list")
    w.clean()

    # (a colleague: a TOTP code is accepted once, and it was just used)
    other = staff_with_totp("cleo.reports", Role.LW_COMPLIANCE)
    staff_sign_in(mobile, site, "cleo.reports", other, "/staff/")
    for url in ("/staff/reports/", f"/staff/reports/{run.pk}/"):
        mobile.visit(f"{site}{url}")
        mobile.fits_width()
    mobile.shot("list-phone")
    mobile.clean()
