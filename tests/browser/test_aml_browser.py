"""AML compliance pages in real headless Chromium (Playwright) against a live server
(docs/aml.md): officer A opens the alert queue, opens the case, makes a mistake in the
filing proposal (the message beside the field, the text kept), proposes the STR filing and
is shown no approve button; officer B approves it; the pages fit a phone.

Screenshots go to var/screenshots/aml-*.png (docs/screenshots/ keeps a chosen set).
"""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from lightway.application.aml.batch import aml_run
from lightway.application.identity.profiles import profile_set_pii
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.data.aml.models import Case
from lightway.security.policy import Role
from tests.aml_support import rule
from tests.browser_support import Watch, staff_sign_in, staff_with_totp
from tests.factories import customer, funded_wallet

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SHOT_PREFIX = "aml-"
NARRATIVE = (
    "Five payments to five different wallets within an hour, then the same amount came back "
    "from a sixth: looks like layering through mule accounts."
)


def _submit(w: Watch, form: str) -> None:
    with w.page.expect_navigation():
        w.page.click(f"{form} button[type=submit] >> nth=0")
    w.page.wait_for_load_state("networkidle")


def _data() -> Case:
    now = timezone.now()
    rule("FAN_OUT", "fan_out", {"min_counterparties": 3, "window_hours": 24}, timezone.now())
    payer, _ = customer("hub", now)
    profile_set_pii(user_id=payer, now=now, name="Hamid Kato")
    source = funded_wallet(payer, "UGX", 1_000_000, now)
    for n in range(4):
        other, _ = customer(f"mule{n}", now)
        target = funded_wallet(other, "UGX", 0, now)
        transfer_create(
            client_id=payer,
            idempotency_key=str(uuid.uuid4()),
            request=TransferRequest(source.id, target.id, 45_000 + n, "UGX", ""),
            now=now,
        )
    aml_run(start=now.replace(hour=0, minute=0), end=now.replace(hour=23, minute=59), now=now)
    return Case.objects.get()


def test_officer_a_proposes_officer_b_approves(site, desktop: Watch, mobile: Watch):
    case = _data()
    a_key = staff_with_totp("ada.compliance", Role.LW_COMPLIANCE)
    b_key = staff_with_totp("ben.compliance", Role.LW_COMPLIANCE)
    c_key = staff_with_totp("cy.compliance", Role.LW_COMPLIANCE)
    w, page = desktop, desktop.page

    staff_sign_in(w, site, "ada.compliance", a_key, "/staff/")
    page.click("nav >> text=Compliance")
    page.wait_for_url(f"{site}/staff/compliance/")
    assert page.locator("[data-testid=alerts] tbody tr").count() == 1
    assert "FAN_OUT" in page.locator("[data-testid=alerts]").inner_text()
    w.shot("alerts")
    page.click(f"text={case.reference}")
    page.wait_for_url(f"{site}/staff/compliance/cases/{case.reference}/")
    assert page.locator("[data-testid=transfers] tbody tr").count() == 4
    assert "Hamid Kato" not in page.content()  # the party's name is masked
    assert "counterparties" in page.locator("[data-testid=alert]").inner_text()

    _submit(w, "form[action$='/assign/']")
    page.fill("#id_propose-reason", "too short")
    page.fill("#id_propose-action", "account frozen")
    _submit(w, "[data-testid=propose-form]")
    assert page.locator("#id_propose-reason_error").is_visible()
    assert page.input_value("#id_propose-reason") == "too short"
    page.fill("#id_propose-reason", NARRATIVE)
    _submit(w, "[data-testid=propose-form]")
    assert "proposed" in page.locator("[data-testid=case-state]").inner_text().lower()
    assert page.locator("[data-testid=own-proposal]").is_visible()
    assert page.locator("[data-testid=approve]").count() == 0
    w.shot("case-proposed")

    w.context.clear_cookies()
    staff_sign_in(w, site, "ben.compliance", b_key, "/staff/")
    w.visit(f"{site}/staff/compliance/cases/{case.reference}/")
    _submit(w, "form[action$='/approve/']")
    assert "approved" in page.locator("[data-testid=case-state]").inner_text().lower()
    timeline = page.locator("[data-testid=timeline]").inner_text()
    assert "propose_filing by ada.compliance" in timeline
    assert "approve_filing by ben.compliance" in timeline
    w.shot("case")
    w.visit(f"{site}/staff/compliance/rules/")
    w.visit(f"{site}/staff/compliance/sanctions/")
    w.clean()

    # (another colleague: a TOTP code is accepted once)
    staff_sign_in(mobile, site, "cy.compliance", c_key, "/staff/")
    for url in ("/staff/compliance/", f"/staff/compliance/cases/{case.reference}/"):
        mobile.visit(f"{site}{url}")
        mobile.fits_width()
    mobile.clean()
    refreshed = Case.objects.get(pk=case.pk)
    assert (
        refreshed.state == "filing_approved"
        and refreshed.proposed_by_id != refreshed.approved_by_id
    )
