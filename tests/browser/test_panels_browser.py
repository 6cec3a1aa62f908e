"""The panels in real headless Chromium (Playwright) against a live server.

- A newcomer registers, reads the SMS code in the notify simulator's inbox page, verifies
  their phone and sees tier 1 and its limits; basic identity then raises them to tier 2.
- A staff member's first sign-in is forced into TOTP enrolment; the admin works afterwards.
- A passkey is registered and used to sign in, with a CDP virtual authenticator.
- No page breaks the Content-Security-Policy (no console violation on any panel page).

Screenshots go to var/screenshots/ (docs/screenshots/ keeps a chosen set).
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from django_otp.oath import totp

from lightway.application.kyc.tiers import kyc_limits_seed_defaults
from lightway.data.identity.models import Profile
from lightway.security.masking import mask_phone
from lightway.security.policy import Role
from tests.browser_support import SHOTS, Watch, staff_password_step, staff_user

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "Browser-test-password-26"
PHONE_NATIONAL = "0772 345 678"
PHONE = "+256772345678"


def code_from_secret(secret: str, ahead: int = 0) -> str:
    raw = secret.replace(" ", "")
    key = base64.b32decode(raw + "=" * (-len(raw) % 8))
    return f"{totp(key, drift=ahead):06d}"


def _tier_limits(page: object) -> dict[str, str]:
    """Currency -> the limits text shown on the dashboard."""
    cards = page.locator("[data-testid=limits] .limit-card")  # type: ignore[attr-defined]
    return {
        cards.nth(i).get_attribute("data-currency"): " ".join(cards.nth(i).inner_text().split())
        for i in range(cards.count())
    }


def test_newcomer_registers_verifies_the_phone_and_sees_limits_rise(
    site, mobile, outbox, notify_simulator
):
    kyc_limits_seed_defaults(now=datetime.now(UTC))
    w = mobile
    page = w.page
    w.visit(f"{site}/")
    assert "/app/login/" in page.url
    w.visit(f"{site}/app/register/")
    w.shot("customer-register")

    # Mistakes first: every field says what is wrong.
    page.select_option("#id_country", "UG")
    page.fill("#id_phone", "0414 123 456")  # a landline
    page.fill("#id_password", "password123")
    with page.expect_navigation():
        page.click("main form button[type=submit] >> nth=0")
    assert page.locator(".error-summary").is_visible()
    assert "mobile number" in page.locator("#id_phone_error").inner_text()
    assert "too common" in page.locator("#id_password_error").inner_text()
    assert "accept the terms" in page.locator("#id_accept_terms_error").inner_text()
    assert page.get_attribute("#id_phone", "aria-invalid") == "true"
    assert "id_phone_error" in (page.get_attribute("#id_phone", "aria-describedby") or "")
    w.shot("customer-register-errors")

    page.fill("#id_phone", PHONE_NATIONAL)
    page.fill("#id_password", PASSWORD)
    page.check("#id_accept_terms")
    page.click("main form button[type=submit] >> nth=0")
    page.wait_for_url(f"{site}/app/verify-phone/")
    assert page.locator(".who").inner_text() == mask_phone(PHONE)  # masked in the header
    w.shot("customer-verify-phone")

    w.visit(f"{site}/app/")
    assert page.locator("[data-testid=tier]").inner_text() == "Tier 0"
    tier0 = _tier_limits(page)

    # The SMS, as the simulator's inbox page shows it.
    assert outbox.deliver_pending() >= 1
    inbox = w.context.new_page()
    inbox.goto(f"{notify_simulator.inbox_url}?{urlencode({'to': PHONE})}")
    sms = inbox.locator("article.sms pre").first.inner_text()
    match = re.search(r"(?<!\d)(\d{6})(?!\d)", sms)
    assert match, "no code in the simulator inbox"
    inbox.screenshot(path=str(SHOTS / "notify-inbox.png"))
    inbox.close()

    w.visit(f"{site}/app/verify-phone/")
    page.fill("#id_code", match.group(1))
    page.click("main form button[type=submit] >> nth=0")
    page.wait_for_url(f"{site}/app/")
    assert "tier 1" in page.locator(".messages").inner_text().lower()
    assert page.locator("[data-testid=tier]").inner_text() == "Tier 1"
    tier1 = _tier_limits(page)
    assert "UGX" in tier1 and tier1["UGX"] != tier0.get("UGX"), (tier0, tier1)
    w.shot("customer-dashboard")

    w.visit(f"{site}/app/profile/")
    page.fill("#id_name", "Amara Nakato")
    page.fill("#id_birth_date", "1990-05-17")
    page.select_option("#id_id_type", "national_id")
    page.fill("#id_id_number", "CM12345678")
    # The form posts to its own URL and redirects back: wait for that navigation itself.
    with page.expect_navigation(url=f"{site}/app/profile/"):
        page.click("main form button[type=submit] >> nth=0")
    assert "tier 2" in page.locator(".messages").inner_text().lower()
    w.visit(f"{site}/app/")
    assert page.locator("[data-testid=tier]").inner_text() == "Tier 2"
    assert _tier_limits(page)["UGX"] != tier1["UGX"]
    assert Profile.objects.get(user__username__startswith="sub_").kyc_tier == 2

    # The other customer pages render under the CSP.
    for path in ("/app/wallets/", "/app/email/", "/app/notifications/", "/app/security/"):
        w.visit(f"{site}{path}")
    page.click("text=Set up an authenticator app")
    page.wait_for_url(re.compile(r".*/app/security/.*"))
    assert page.locator("img.qr").evaluate("img => img.naturalWidth > 0")
    w.shot("customer-security-totp")
    secret = page.locator("[data-testid=totp-secret]").inner_text()
    page.fill("#id_code", code_from_secret(secret))
    page.click("text=Turn on")
    page.locator("ol.codes li").nth(9).wait_for()
    assert page.locator("ol.codes li").count() == 10
    w.shot("customer-backup-codes")

    # Installable: manifest, service worker, icons.
    manifest = page.request.get(f"{site}/app/manifest.webmanifest").json()
    assert manifest["start_url"] == "/app/" and manifest["display"] == "standalone"
    for icon in manifest["icons"]:
        assert page.request.get(f"{site}{icon['src']}").ok
    w.visit(f"{site}/app/")
    registered = page.evaluate(
        "navigator.serviceWorker.ready.then(r => r.active !== null && r.scope)"
    )
    assert registered == f"{site}/app/"
    w.clean()


def _staff_enrol(w: Watch, site: str, username: str) -> str:
    page = w.page
    staff_password_step(w, site, username, then=r".*/staff/mfa/enrol/.*")
    w.shot("staff-2fa-enrol")
    # Nothing else is reachable before the second factor.
    for path in ("/admin/", "/staff/", "/mtn/"):
        page.goto(f"{site}{path}")
        assert "/staff/mfa/" in page.url, path
    w.visit(f"{site}/staff/mfa/enrol/")
    secret = page.locator("[data-testid=totp-secret]").inner_text()
    page.fill("#id_code", code_from_secret(secret))
    page.click("main form button[type=submit] >> nth=0")
    page.locator("ol.codes li").nth(9).wait_for()
    assert page.locator("ol.codes li").count() == 10
    w.shot("staff-backup-codes")
    page.click("text=I have saved them")
    page.wait_for_load_state("networkidle")
    return secret


def test_staff_first_sign_in_is_forced_into_totp_enrolment_and_the_admin_works(site, desktop):
    staff_user("ops.lead", Role.LW_ADMIN)
    w = desktop
    page = w.page
    w.visit(f"{site}/staff/login/")
    w.shot("staff-login")
    secret = _staff_enrol(w, site, "ops.lead")
    assert page.url == f"{site}/staff/"
    w.shot("staff-home")

    # The Django admin under the CSP: its own JS loads and runs.
    w.visit(f"{site}/admin/")
    assert page.locator("#site-name").is_visible()
    w.shot("admin-index-after-2fa")
    w.visit(f"{site}/admin/auth/user/")
    assert page.evaluate("typeof window.django === 'object' && typeof django.jQuery") == "function"
    w.visit(f"{site}/admin/auth/user/add/")

    # Sign out, sign in again: the second step asks for a code.
    page.click("#logout-form button") if page.locator("#logout-form").count() else None
    page.context.clear_cookies()
    staff_password_step(w, site, "ops.lead")
    w.shot("staff-2fa-verify")
    page.fill("#id_code", code_from_secret(secret, ahead=1))
    page.click("main form button[type=submit] >> nth=0")
    page.wait_for_url(f"{site}/staff/")
    w.clean()


def test_mtn_staff_see_the_momo_transfers_page(site, desktop):
    staff_user("mtn.analyst", Role.MTN_MONITORING)
    w = desktop
    _staff_enrol(w, site, "mtn.analyst")
    assert w.page.url == f"{site}/mtn/"
    assert "No MoMo transfers yet" in w.page.locator("[data-testid=empty]").inner_text()
    w.shot("mtn-transfers")
    w.clean()


def test_a_passkey_is_registered_and_signs_in(site, desktop):
    staff_user("key.holder", Role.LW_ADMIN)
    w = desktop
    page = w.page
    cdp = w.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    _staff_enrol(w, site, "key.holder")
    w.visit(f"{site}/staff/security/")
    page.fill("#id_name", "Virtual key")
    page.click("text=Add a passkey")
    page.wait_for_selector("[data-testid=passkeys]")
    assert "Virtual key" in page.locator("[data-testid=passkeys]").inner_text()
    w.shot("staff-security-passkey")

    page.context.clear_cookies()
    staff_password_step(w, site, "key.holder")
    page.click("text=Use a passkey")
    page.wait_for_url(f"{site}/staff/")
    assert page.locator("nav").is_visible()
    w.clean()


def test_an_administrator_issues_and_revokes_an_integration_key(site, desktop):
    """Issue 11 finding 9: MTN's reporting system gets a scoped, expiring machine credential
    from a LightWay administrator; the secret is shown once, the key can be revoked."""
    staff_user("keys.admin", Role.LW_ADMIN)
    w = desktop
    page = w.page
    _staff_enrol(w, site, "keys.admin")
    w.visit(f"{site}/staff/integration-keys/")
    assert "No integration keys yet." in page.inner_text("main")
    page.select_option("#id_realm", "mtn")
    page.fill("#id_name", "MTN reporting warehouse")
    page.check("input[name=scopes][value='transactions.view_momo']")
    page.check("input[name=scopes][value='reports.view']")
    page.fill("#id_days", "30")
    page.fill("#id_reason", "MTN's nightly reconciliation import")
    page.click("form[action='/staff/integration-keys/create/'] button[type=submit]")
    secret = page.locator("[data-testid=secret]").inner_text().strip()
    assert len(secret) >= 32
    w.shot("staff-integration-key-created")
    w.visit(f"{site}/staff/integration-keys/")  # shown once: not on the page again
    assert secret not in page.content()
    row = page.locator("[data-testid=integration-keys] tbody tr").first
    assert "live" in row.inner_text()
    row.locator("button", has_text="Revoke").click()
    page.wait_for_load_state()
    assert "revoked" in page.locator("[data-testid=integration-keys] tbody tr").first.inner_text()
    w.shot("staff-integration-keys")
    w.clean()
