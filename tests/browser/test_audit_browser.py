"""The audit-log viewer in real headless Chromium (Playwright) against a live server
(docs/security.md, "Audit-log viewer"):

- a compliance officer opens the audit log from the navigation, sees the chain status
  (the head signed by the worker's linker, verified), types a bad date (the message beside
  the field, what was typed kept, HTTP 400), filters by action, opens a record whose data
  is shown masked, and downloads the selection as CSV (no clear personal data);
- at phone width the page does not scroll sideways as a whole;
- no page logs a console error or breaks the Content-Security-Policy.

Screenshots go to var/screenshots/audit-*.png (docs/screenshots/ keeps a chosen set).
"""

from __future__ import annotations

import pytest
from django.db import transaction
from django.utils import timezone

from lightway.data.audit.services import audit_record
from lightway.interfaces.tasks import audit_link_once
from lightway.security.policy import Role
from tests.browser_support import Watch, staff_sign_in, staff_with_totp

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SHOT_PREFIX = "audit-"


def _submit(w: Watch) -> None:
    with w.page.expect_navigation():
        w.page.click("main form button[type=submit] >> nth=0")
    w.page.wait_for_load_state("networkidle")


def test_a_compliance_officer_reads_filters_and_exports_the_audit_log(
    site, desktop: Watch, monkeypatch
):
    now = timezone.now()
    # records written before the chain refused personal data in clear (docs/retention.md):
    # the viewer must still mask what older records hold
    from lightway.data.audit import services as audit_services

    monkeypatch.setattr(audit_services, "_refuse_personal_data", lambda value, path: None)
    with transaction.atomic():
        for i in range(3):
            audit_record(
                actor="staff:3",
                action="pii.reveal",
                object_type="identity.profile",
                object_id=f"sub_demo{i}",
                data={"fields": ["phone"], "phone": "+256772123401", "reason": "ticket CMP-7"},
                now=now,
            )
        audit_record(
            actor="user:12",
            action="transfer.create",
            object_type="transfer",
            object_id="42",
            data={"amount": 5000, "currency": "UGX"},
            now=now,
        )
    audit_link_once()  # links and signs the head, as the worker does
    key = staff_with_totp("cleo.compliance", Role.LW_COMPLIANCE)
    w, page = desktop, desktop.page
    staff_sign_in(w, site, "cleo.compliance", key, "/staff/")
    page.click("nav >> text=Audit log")
    page.wait_for_url(f"{site}/staff/audit/")
    assert "signature and hash verified" in page.locator("[data-testid=verified]").inner_text()

    page.fill("#id_since", "yesterday")
    with page.expect_navigation() as nav:
        page.click("main form button[type=submit] >> nth=0")
    assert nav.value is not None and nav.value.status == 400
    assert page.locator(".error-summary").is_visible()
    assert page.locator("#id_since_error").is_visible()
    assert page.input_value("#id_since") == "yesterday"

    page.fill("#id_since", "")
    page.fill("#id_action", "pii.reveal")
    _submit(w)
    rows = page.locator("[data-testid=audit-records] tbody tr")
    assert rows.count() == 3
    w.shot("log")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    w.fits_width()
    page.set_viewport_size({"width": 1280, "height": 900})

    rows.first.locator("a").click()
    page.wait_for_url(f"{site}/staff/audit/*/")
    data = page.locator("[data-testid=audit-data]").inner_text()
    assert "772123401" not in data and "+256 •••••••01" in data
    w.shot("record")

    page.go_back()
    with page.expect_download() as download:
        page.click("[data-testid=export]")
    text = open(download.value.path(), encoding="utf-8").read()
    assert text.startswith("id,seq,occurred_at,actor,action")
    assert text.count("pii.reveal") == 3 and "772123401" not in text
