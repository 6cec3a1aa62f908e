"""The KYC page in headless Chromium: start, the simulated WebSDK step, the sandbox
decision, the webhook over HTTP, and the page showing the new tier. Screenshots go to
``var/screenshots/``."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.db import connections
from django.test import Client

from lightway.data.identity.models import KycTier, Profile
from lightway.infrastructure import embedded_pg
from lightway.integration.sumsub.simulator import SumsubSimulator
from tests.browser_support import chromium_launch
from tests.sumsub_support import clear_kyc_jobs, make_customer, run_kyc_jobs, sim_settings

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def live_sim(settings, live_server):
    simulator = SumsubSimulator(
        webhook_url=f"{live_server.url}/webhooks/sumsub",
        webhook_secret="kyc-tests-webhook-secret",
    ).start()
    sim_settings(settings, simulator)
    yield simulator
    simulator.stop()
    clear_kyc_jobs()


@pytest.fixture
def browser(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the test still uses the ORM.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with playwright_api.sync_playwright() as p:
        browser = chromium_launch(p)
        yield browser
        browser.close()
        # ORM calls made while Playwright runs use their own connection: close it here, or
        # it outlives the test database.
        connections.close_all()


def shot(page, name: str) -> None:
    folder = embedded_pg.var_dir() / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"kyc-{name}.png"), full_page=True)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_customer_verifies_identity_in_the_browser(live_sim, live_server, browser, now):
    user_id, _profile = make_customer(now, phone="+256700000777", email="kyc-web@example.test")
    client = Client()
    client.force_login(Profile.objects.get(user_id=user_id).user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    context = browser.new_context()
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
    page = context.new_page()
    page.goto(f"{live_server.url}/app/kyc/")
    assert page.get_by_test_id("kyc-state").inner_text() == "Not started"
    assert page.get_by_test_id("tier").inner_text() == "Tier 1"
    shot(page, "1-start")
    page.click("#kyc-start")
    page.wait_for_selector("#kyc-simulated")
    sdk_url = page.get_attribute("#kyc-frame", "src")
    assert sdk_url.startswith(f"{live_sim.base_url}/websdk/?token=_act-")
    shot(page, "2-simulated-step")

    with page.expect_popup() as popup_info:
        page.click("#kyc-open")
    websdk = popup_info.value
    websdk.wait_for_load_state()
    websdk.select_option("#idDocType", "PASSPORT")
    websdk.fill("#number", "PB1234567")
    websdk.get_by_role("button", name="Submit document").click()
    websdk.get_by_role("button", name="Approve").wait_for()
    shot(websdk, "3-websdk-decision")
    websdk.get_by_role("button", name="Approve").click()
    websdk.get_by_text("Your identity has been verified").wait_for()

    live_sim.wait_deliveries(4)  # created, pending, prechecked, reviewed
    run_kyc_jobs()
    with page.expect_navigation():  # the same URL again: wait for the new page itself
        page.click("#kyc-refresh")
    assert page.get_by_test_id("kyc-state").inner_text() == "Verified"
    assert page.get_by_test_id("tier").inner_text() == "Tier 3"
    assert page.locator("#kyc-start").count() == 0
    shot(page, "4-verified")
    assert Profile.objects.get(user_id=user_id).kyc_tier == KycTier.SUMSUB_VERIFIED
    context.close()
