"""Issue 12's back-office pages in real headless Chromium (Playwright) against a live server:
partners, partner limits, FX rates, settlement and commission statements (docs/panels.md).

- A LightWay administrator onboards a partner (a mistake first: the errors beside their
  fields), lands on its page with the webhook secret shown once, and sees it in the list.
- Finance sets the partner's limits and proposes an FX rate; the proposer has no approve
  button on their own proposal, a second member of finance approves it.
- Finance closes a settlement window holding a real payment's positions from its page and
  downloads a commission statement as CSV; MTN finance downloads MTN's own.
- On a phone-sized screen no page scrolls sideways as a whole.
- No page logs a console error or breaks the Content-Security-Policy.

Screenshots go to var/screenshots/panels-*.png (docs/screenshots/ keeps a chosen set).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from lightway.application.fx.feeds import fx_feed_import
from lightway.application.fx.ratebook import fx_rate_propose
from lightway.application.partners.keys import partner_key_create
from lightway.application.partners.onboarding import partner_onboard
from lightway.application.remittances.limits import partner_limit_set
from lightway.application.reports.commission import CSV_HEADER
from lightway.application.staff.accounts import role_grant
from lightway.data.fx.models import FxRate
from lightway.data.identity.models import Partner
from lightway.data.settlement.models import Instruction, SettlementWindow
from lightway.integration.ratefeed.peg import PegFeed
from lightway.security.policy import Role
from tests.browser_support import Watch, staff_sign_in, staff_with_totp
from tests.partner_support import details
from tests.settlement_support import window_with_payment

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SHOT_PREFIX = "panels-"
FORM_ERROR_STATUS = 422  # the onboarding form answers its mistakes with 422
WATCHED = ["USD/UGX", "EUR/XOF"]
PARTY = CSV_HEADER.index("party")
PARTNER = {
    "#id_code": "zeta-pay",
    "#id_name": "Zeta Pay",
    "#id_legal_name": "Zeta Payments Limited",
    "#id_registration_number": "GB-99887766",
    "#id_country": "GB",
    "#id_address": "2 Market Street, Leeds",
    "#id_webhook_url": "https://hooks.zeta.example/lightway",
    "#id_contact_name": "Ada Mensah",
    "#id_contact_email": "ada.mensah@zeta.example",
    "#id_contact_phone": "+447911123456",
}


def _switch(w: Watch, site: str, username: str, key: str, landing: str = "/staff/") -> None:
    """Sign the page's browser out and in again as ``username``."""
    w.context.clear_cookies()
    staff_sign_in(w, site, username, key, landing)


def _submit(w: Watch, form: str = "main form") -> None:
    """Submit ``form`` and wait for the page it answers with (a redirect or the form again)."""
    with w.page.expect_navigation():
        w.page.click(f"{form} button[type=submit] >> nth=0")
    w.page.wait_for_load_state("networkidle")


def _download_csv(w: Watch, form: str) -> list[list[str]]:
    """Submit a statement form asking for CSV; the downloaded file's rows, header first."""
    w.page.select_option(f"{form} [name=format]", "csv")
    with w.page.expect_download() as info:
        w.page.click(f"{form} button[type=submit]")
    path = info.value.path()
    assert path is not None
    return list(csv.reader(io.StringIO(Path(path).read_text(encoding="utf-8"))))


def _onboard(w: Watch, site: str) -> None:
    page = w.page
    w.visit(f"{site}/staff/partners/")
    page.click("text=Onboard a partner")
    page.wait_for_url(f"{site}/staff/partners/new/")
    for selector, value in PARTNER.items():
        page.fill(selector, value)
    page.check("input[name=markets][value=UG]")
    page.check("input[name=currencies][value=UGX]")
    page.select_option("#id_contact_role", "technical")
    # Mistakes first: a plain-HTTP webhook and a malformed email, each told beside its field.
    page.fill("#id_webhook_url", "http://hooks.zeta.example/lightway")
    page.fill("#id_contact_email", "nope")
    _submit(w)
    assert page.locator(".error-summary").is_visible()
    assert "must use https://" in page.locator("#id_webhook_url_error").inner_text()
    assert "not a valid email address" in page.locator("#id_contact_email_error").inner_text()
    assert not Partner.objects.filter(code="zeta-pay").exists()
    w.shot("staff-partner-onboard-errors")

    page.fill("#id_webhook_url", PARTNER["#id_webhook_url"])
    page.fill("#id_contact_email", PARTNER["#id_contact_email"])
    _submit(w)
    secret = page.locator("[data-testid=new-webhook-secret] [data-testid=secret]").inner_text()
    assert secret.startswith("whsec_")
    contacts = page.locator("[data-testid=contacts]").inner_text()
    assert "Ada Mensah" not in contacts and "ada.mensah@zeta.example" not in contacts  # masked
    w.shot("staff-partner-detail")
    w.visit(f"{site}/staff/partners/zeta-pay/")
    assert secret not in page.content()  # shown once
    w.visit(f"{site}/staff/partners/")
    assert "active" in page.locator("[data-partner=zeta-pay]").inner_text()
    w.shot("staff-partners")


def _limits_and_fx(w: Watch, site: str, maker: tuple[str, str], checker: tuple[str, str]) -> None:
    page = w.page
    _switch(w, site, *maker)
    w.visit(f"{site}/staff/partner-limits/")
    page.select_option("#id_partner", str(Partner.objects.get(code="zeta-pay").pk))
    page.select_option("#id_currency", "UGX")
    page.fill("#id_per_transaction_max", "5000000")
    page.fill("#id_daily_max", "50000000")
    page.fill("#id_outstanding_max", "20000000")
    _submit(w, "form[action='/staff/partner-limits/']")
    assert page.url == f"{site}/staff/partner-limits/"
    row = page.locator("[data-testid=partner-limits] tbody tr", has_text="zeta-pay")
    assert "5000000" in row.inner_text() and "UGX" in row.inner_text()
    w.shot("staff-partner-limits")

    w.visit(f"{site}/staff/fx/")
    assert "stopped" in page.locator("[data-pair='USD/UGX']").inner_text()  # no rate yet
    page.select_option("#id_base", "USD")
    page.select_option("#id_quote", "UGX")
    page.fill("#id_mid", "3700.25")
    page.fill("#id_spread_bps", "80")
    _submit(w, "form[action='/staff/fx/propose/']")
    rate = FxRate.objects.get(base="USD", quote="UGX")
    pending = page.locator(f"[data-testid=fx-pending] tr[data-rate='{rate.pk}']")
    assert "(you)" in pending.inner_text() and "waiting for a colleague" in pending.inner_text()
    # Maker-checker: no approve (or reject) button on one's own proposal.
    assert page.locator("[data-testid=fx-pending] button").count() == 0
    w.shot("staff-fx-rates")

    _switch(w, site, *checker)
    w.visit(f"{site}/staff/fx/")
    with page.expect_navigation():
        page.click("button[aria-label='Approve USD/UGX 3700.25']")
    page.wait_for_load_state("networkidle")
    assert "Nothing is waiting." in page.locator("[aria-labelledby=fx-pending]").inner_text()
    quoting = page.locator("[data-pair='USD/UGX']").inner_text()
    assert "quoting" in quoting and "3700.25" in quoting and "treasury" in quoting
    rate.refresh_from_db()
    assert rate.status == "approved"
    w.shot("staff-fx-approved")
    w.visit(f"{site}/staff/fx/history/USD/UGX/")


def _settlement(w: Watch, site: str, window: SettlementWindow) -> None:
    page = w.page
    w.visit(f"{site}/staff/settlement/")
    row = page.locator(f"[data-window='{window.pk}']")
    assert "Open" in row.inner_text() and row.locator("text=Close now").count() == 1
    w.shot("staff-settlement-windows")
    row.locator(f"a[href$='/windows/{window.pk}/']").click()
    page.wait_for_url(f"{site}/staff/settlement/windows/{window.pk}/")
    positions = page.locator("[aria-labelledby=positions-title]")
    assert "summed when the window closes" in positions.inner_text()
    _submit(w, f"form[action$='/windows/{window.pk}/close/']")
    assert page.url == f"{site}/staff/settlement/windows/{window.pk}/"
    assert page.locator("[data-testid=window-state]").inner_text() == "Pending settlement"
    summed = page.locator("[data-testid=settlement-positions]").inner_text()
    assert "mtn" in summed and "commission" in summed
    assert Instruction.objects.filter(window=window).count() == 1
    instr = Instruction.objects.get(window=window).instr_id
    assert instr in page.locator("[data-testid=settlement-instructions]").inner_text()
    w.shot("staff-settlement-window")
    w.visit(f"{site}/staff/settlement/statements/")


def _commission(w: Watch, site: str, mtn: tuple[str, str]) -> None:
    page = w.page
    month = timezone.now().strftime("%Y-%m")
    w.visit(f"{site}/staff/commission/")
    form = "[data-testid=statement-form]"
    page.select_option("#id_party", "lightway")
    page.fill("#id_month", month)
    rows = _download_csv(w, form)
    assert rows[0] == list(CSV_HEADER)
    # The transfer made for the settlement window paid LightWay its share of the fee.
    assert [row[PARTY] for row in rows[1:]] == ["lightway"], rows
    w.shot("staff-commission")

    _switch(w, site, *mtn, landing="/mtn/")
    w.visit(f"{site}/mtn/commission/")
    assert page.locator("#id_party").count() == 0  # MTN's own statement only
    page.fill("#id_month", month)
    rows = _download_csv(w, form)
    assert rows[0] == list(CSV_HEADER)
    assert [row[PARTY] for row in rows[1:]] == ["mtn"], rows
    w.shot("mtn-commission")


def test_partners_limits_fx_settlement_and_commission_on_a_desktop(site, desktop, settings):
    settings.FX_WATCH_PAIRS = WATCHED
    now = timezone.now()
    fx_feed_import(feed=PegFeed(), now=now)  # EUR/XOF: a peg, quoting
    window = window_with_payment(now)
    admin = staff_with_totp("partners.admin", Role.LW_ADMIN)
    maker = staff_with_totp("fx.maker", Role.LW_FINANCE)
    checker = staff_with_totp("fx.checker", Role.LW_FINANCE)
    mtn = staff_with_totp("mtn.finance", Role.MTN_FINANCE)
    w = desktop

    staff_sign_in(w, site, "partners.admin", admin, "/staff/")
    _onboard(w, site)
    _limits_and_fx(w, site, ("fx.maker", maker), ("fx.checker", checker))
    _settlement(w, site, window)  # as the checker, a member of finance
    _commission(w, site, ("mtn.finance", mtn))
    w.clean()


def test_no_back_office_page_scrolls_sideways_on_a_phone(site, mobile, settings):
    settings.FX_WATCH_PAIRS = WATCHED
    now = timezone.now()
    fx_feed_import(feed=PegFeed(), now=now)
    window = window_with_payment(now)
    partner = partner_onboard(
        details=details(webhook_url="https://hooks.acme.example/lightway"), actor="s", now=now
    )
    partner_key_create(partner_id=partner.partner_id, actor="s", now=now)  # fills its table
    partner_limit_set(
        partner_id=partner.partner_id,
        currency_code="UGX",
        per_transaction_max=5_000_000,
        daily_max=50_000_000,
        outstanding_max=20_000_000,
        actor="system",
        now=now,
    )
    fx_rate_propose(base="USD", quote="UGX", mid="3700.25", spread_bps=80, actor="s", now=now)
    key = staff_with_totp("phone.staff", Role.LW_FINANCE)
    # One member holding both roles opens every page (administrators onboard partners).
    user_id = get_user_model().objects.get(username="phone.staff").pk
    role_grant(user_id=user_id, role=Role.LW_ADMIN, actor="system", now=now)
    mtn = staff_with_totp("phone.mtn", Role.MTN_FINANCE)
    w = mobile
    page = w.page

    staff_sign_in(w, site, "phone.staff", key, "/staff/")
    for path in (
        "/staff/partners/",
        "/staff/partners/new/",
        "/staff/partners/acme-remit/",
        "/staff/partner-limits/",
        "/staff/fx/",
        "/staff/fx/history/USD/UGX/",
        "/staff/settlement/",
        f"/staff/settlement/windows/{window.pk}/",
        "/staff/settlement/statements/",
        "/staff/commission/",
    ):
        w.visit(f"{site}{path}")
        w.fits_width()
    # Pages with their errors, and a closed window with its positions and instructions.
    w.visit(f"{site}/staff/partners/new/")
    _submit(w)
    assert page.locator(".error-summary").is_visible()
    w.fits_width()
    w.visit(f"{site}/staff/settlement/windows/{window.pk}/")
    _submit(w, f"form[action$='/windows/{window.pk}/close/']")
    assert page.locator("[data-testid=settlement-instructions]").is_visible()
    w.fits_width()
    w.shot("staff-settlement-window-phone")

    _switch(w, site, "phone.mtn", mtn, landing="/mtn/")
    w.visit(f"{site}/mtn/commission/")
    w.fits_width()
    assert page.locator("h1").inner_text() == "MTN commission statement"
    w.clean()
