"""The customer app on a phone (390x844) in real headless Chromium: French pages, the menu
button, the inbox, "Forgot your password?", and the installable app with its offline page.

- A French-speaking customer (browser set to fr-CI) signs in: every page is French, the
  navigation folds behind a menu button that works with a pointer and the keyboard, and no
  page scrolls sideways.
- Chromium finds the app installable (CDP ``Page.getInstallabilityErrors`` is empty, the
  service worker is active, the manifest is complete); offline, reloading ``/app/`` shows
  the offline page (in the language of the last page seen), and the worker's cache holds
  nothing but the app shell.

Screenshots go to var/screenshots/ (docs/screenshots/ keeps the French phone pages).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from lightway.application.kyc.tiers import kyc_limits_seed_defaults
from lightway.application.onboarding import registration
from tests.browser_support import MOBILE, Watch, chromium_path

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SHOT_PREFIX = "panels-"
PHONE = "+2250707123456"  # an MTN Côte d'Ivoire mobile
PASSWORD = "Abidjan-lagune-2026"


@pytest.fixture
def french_phone(browser: Any) -> Iterator[Watch]:
    context = browser.new_context(**MOBILE, locale="fr-CI")
    yield Watch(context, prefix=SHOT_PREFIX)
    context.close()


def _french_customer(outbox: Any) -> int:
    now = datetime.now(UTC)
    kyc_limits_seed_defaults(now=now)
    uid = registration.registration_start(
        phone=PHONE,
        country="CI",
        password=PASSWORD,
        language="fr",
        accept_terms=True,
        client="192.0.2.40",
        now=now,
    )
    registration.phone_verify(user_id=uid, code=outbox.latest_code(PHONE), now=now)
    return uid


def _sign_in(w: Watch, site: str) -> None:
    page = w.page
    w.visit(f"{site}/app/login/")
    page.select_option("#id_country", "CI")
    page.fill("#id_phone", "07 07 12 34 56")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("main form button[type=submit] >> nth=0")
    page.wait_for_load_state("networkidle")


def test_a_french_customer_uses_the_app_on_a_phone(site, french_phone, outbox):
    _french_customer(outbox)
    w = french_phone
    page = w.page

    # Before sign-in the browser's language decides.
    w.visit(f"{site}/app/login/")
    assert page.get_attribute("html", "lang") == "fr"
    assert page.locator("h1").inner_text() == "Se connecter"
    assert page.locator("[data-testid=forgot-password]").inner_text() == "Mot de passe oublié ?"
    w.shot("customer-login-fr-phone")
    w.visit(f"{site}/app/password/forgot/")
    assert page.locator("h1").inner_text() == "Mot de passe oublié ?"
    w.shot("customer-forgot-password-fr-phone")

    _sign_in(w, site)
    assert page.url == f"{site}/app/"
    assert page.locator("h1").inner_text() == "Vos portefeuilles"
    assert page.locator("[data-testid=tier]").inner_text() == "Niveau 1"
    assert page.locator("[data-testid=tier-label]").inner_text() == "Téléphone vérifié"
    w.fits_width()

    # The menu button: the navigation is folded until it is opened.
    button = page.locator("[data-menu-button]")
    nav = page.locator("#app-nav")
    assert button.is_visible() and button.inner_text().strip() == "Menu"
    assert button.get_attribute("aria-expanded") == "false"
    assert button.get_attribute("aria-controls") == "app-nav"
    assert not nav.is_visible()
    w.shot("customer-home-fr-phone")
    button.click()
    assert button.get_attribute("aria-expanded") == "true" and nav.is_visible()
    assert nav.locator("a[aria-current=page]").inner_text() == "Accueil"
    w.fits_width()
    w.shot("customer-menu-fr-phone")
    page.keyboard.press("Escape")  # closes, and the focus goes back to the button
    assert button.get_attribute("aria-expanded") == "false" and not nav.is_visible()
    assert page.evaluate("document.activeElement.hasAttribute('data-menu-button')")
    page.keyboard.press("Enter")  # the button is a real button: the keyboard opens it
    assert nav.is_visible()
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Accueil", focused
    with page.expect_navigation():
        nav.locator("a[href='/app/inbox/']").click()

    # The inbox: the phone code's SMS, its code masked.
    assert page.locator("h1").inner_text() == "Messages"
    first = page.locator("[data-testid=inbox-item]").last.inner_text()
    assert "••••••" in first and "code de vérification" in first
    w.fits_width()
    w.shot("customer-inbox-fr-phone")

    for path in ("/app/wallets/", "/app/security/", "/app/notifications/", "/app/kyc/"):
        w.visit(f"{site}{path}")
        assert page.get_attribute("html", "lang") == "fr", path
        w.fits_width()
    w.visit(f"{site}/app/notifications/")
    w.shot("customer-notifications-fr-phone")

    # The switch: English, saved to the profile (the next page stays English).
    with page.expect_navigation():
        page.click("[data-testid=language-switch]")
    assert page.get_attribute("html", "lang") == "en"
    assert page.locator("h1").inner_text() == "Notifications"
    w.visit(f"{site}/app/")
    assert page.locator("h1").inner_text() == "Your wallets"
    w.clean()


def test_the_app_is_installable_and_offline_shows_the_offline_page(site, browser, outbox, tmp_path):
    # A persistent profile: Chromium never offers to install from an incognito context,
    # which is what a plain new context is (installability error "in-incognito").
    context = browser.browser_type.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=chromium_path(),
        headless=True,
        args=["--no-sandbox"],
        locale="fr-CI",
        **MOBILE,
    )
    w = Watch(context, prefix=SHOT_PREFIX)
    page = w.page
    try:
        w.visit(f"{site}/app/login/")
        scope = page.evaluate("navigator.serviceWorker.ready.then(r => r.active && r.scope)")
        assert scope == f"{site}/app/"
        manifest = page.request.get(f"{site}/app/manifest.webmanifest").json()
        assert manifest["display"] == "standalone" and manifest["start_url"] == "/app/"
        assert {"192x192", "512x512"} <= {i["sizes"] for i in manifest["icons"]}
        cdp = context.new_cdp_session(page)
        errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
        assert errors == [], errors

        # Reload while online: the worker now controls the page and has seen French.
        w.visit(f"{site}/app/login/")
        assert page.evaluate("navigator.serviceWorker.controller !== null")
        context.set_offline(True)
        page.reload()
        page.wait_for_selector("[data-testid=offline]")
        assert page.locator("h1").inner_text() == "Vous êtes hors ligne"
        assert page.get_attribute("html", "lang") == "fr"
        w.shot("customer-offline-fr-phone")
        page.goto(f"{site}/app/")  # a navigation to a page never seen before, too
        page.wait_for_selector("[data-testid=offline]")

        # Back online: English this time, then offline again: the English offline page.
        context.set_offline(False)
        page.goto(f"{site}/app/login/")
        with page.expect_navigation():
            page.click("[data-testid=language-switch]")
        assert page.get_attribute("html", "lang") == "en"
        context.set_offline(True)
        page.reload()
        page.wait_for_selector("[data-testid=offline]")
        assert page.locator("h1").inner_text() == "You are offline"

        # Nothing personal in the cache: the shell only.
        cached = page.evaluate(
            """async () => {
              const out = [];
              for (const name of await caches.keys()) {
                const cache = await caches.open(name);
                for (const r of await cache.keys()) {
                  const url = new URL(r.url);
                  out.push(url.pathname + url.search);
                }
              }
              return out;
            }"""
        )
        assert cached, "the worker cached nothing"
        for url in cached:
            assert url.startswith(("/static/", "/app/icons/", "/app/offline/")), url
        assert "/app/offline/?lang=fr" in cached and "/app/offline/?lang=en" in cached
        context.set_offline(False)
        w.clean()
    finally:
        context.close()


def test_without_script_the_navigation_is_a_plain_list(site, browser, outbox):
    _french_customer(outbox)
    context = browser.new_context(**MOBILE, locale="fr-CI", java_script_enabled=False)
    w = Watch(context, prefix=SHOT_PREFIX)
    try:
        _sign_in(w, site)
        page = w.page
        assert page.url == f"{site}/app/"
        assert not page.locator("[data-menu-button]").is_visible()
        nav = page.locator("#app-nav")
        assert nav.is_visible()
        assert nav.locator("a[href='/app/inbox/']").is_visible()
        w.fits_width()
        w.clean()
    finally:
        context.close()
