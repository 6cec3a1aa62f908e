"""A customer sends money to another LightWay customer, finds it in the history, opens it,
downloads its receipt and a monthly statement, in real headless Chromium on a phone-sized
screen (390x844) against a live server; the SMS code of the step-up comes from the SMS
simulator over real HTTP.

- "Send" in the navigation; a mistake first (an amount that is not a number): the page
  answers 400 with the message beside the field and keeps what was typed;
- the review shows the recipient's name masked, the amount, the fee and the total;
  "Send now" asks for the SMS code (a first payment to this wallet), the code confirms it
  and the payment's page opens;
- the history lists it with the recipient masked and the description; a search by the
  description finds it; the row opens the same page; the receipt downloads as a PDF;
- the statements page downloads the month to date as a PDF;
- sending to a wallet in another currency shows the price: the rate and how long it holds
  (the seconds left counting down);
- no page scrolls sideways, logs a console error or breaks the Content-Security-Policy.

Screenshots go to var/screenshots/money-*.png (docs/screenshots/ keeps copies).
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from lightway.application.identity.profiles import profile_set_pii
from lightway.data.wallets.models import Transfer
from tests.factories import funded_wallet
from tests.fx_support import feed_rate, usd_limits
from tests.momo_flow_support import momo_customer

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SHOT_PREFIX = "money-"
PASSWORD = "Browser-money-customer-26"
AMARA = "+256772123401"
KOFI = "+256772123402"


def _people() -> tuple[int, int]:
    now = timezone.now()
    amara = momo_customer("browser-amara", now, phone=AMARA, wallet=200_000)
    user = get_user_model().objects.get(pk=amara)
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    profile_set_pii(user_id=amara, now=now, name="Amara Nakato")
    kofi = momo_customer("browser-kofi", now, phone=KOFI)
    profile_set_pii(user_id=kofi, now=now, name="Kofi Mensah")
    funded_wallet(kofi, "UGX", 0, now)
    funded_wallet(kofi, "USD", 0, now)
    feed_rate("USD", "UGX", "3700", 100, now)
    usd_limits(now)
    return amara, kofi


def nav_to(page, label: str) -> None:
    """Follow a navigation entry; on a phone it sits behind the menu button."""
    button = page.locator("[data-menu-button]")
    if button.is_visible() and button.get_attribute("aria-expanded") != "true":
        button.click()
    page.click(f"nav >> text={label}")


def test_send_to_a_user_then_history_detail_receipt_and_statement(site, mobile, outbox):
    amara, _kofi = _people()
    w = mobile
    page = w.page

    page.goto(f"{site}/app/login/")
    page.select_option("#id_country", "UG")
    page.fill("#id_phone", "0772 123 401")
    page.fill("#id_password", PASSWORD)
    page.click("main form button[type=submit] >> nth=0")
    page.wait_for_url(f"{site}/app/")
    nav_to(page, "Send")
    page.wait_for_url(f"{site}/app/send/")
    w.fits_width()
    w.shot("send")

    # a mistake: the page says so beside the field and keeps what was typed
    page.fill("#id_phone", "0772 123 402")
    page.fill("#id_amount", "fifteen")
    page.fill("#id_description", "Lunch at Mama's")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert "Enter the amount as a number" in page.locator("#id_amount_error").inner_text()
    assert page.input_value("#id_description") == "Lunch at Mama's"
    assert page.locator(".error-summary").is_visible()
    w.shot("send-errors")

    page.fill("#id_amount", "15,000")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert page.locator("[data-testid=review-recipient]").inner_text().startswith("K••• M•••••")
    assert page.locator("[data-testid=review-amount]").inner_text() == "UGX 15,000"
    total = page.locator("[data-testid=review-total]").inner_text()
    w.fits_width()
    w.shot("send-review")

    with page.expect_navigation():
        page.click("button[name=confirm]")
    assert page.locator("[data-testid=step-up]").is_visible()
    assert not Transfer.objects.filter(client_id=amara).exists()
    page.fill("#id_code", outbox.latest_code(AMARA))
    w.shot("send-code")
    with page.expect_navigation():
        page.click("button[name=confirm]")
    transfer = Transfer.objects.get(client_id=amara)
    assert page.url.endswith(f"/app/history/{transfer.id}/")
    assert page.locator("[data-testid=detail-status]").inner_text() == "Succeeded"
    assert page.locator("[data-testid=detail-amount]").inner_text() == "\u2212 UGX 15,000"
    assert total in page.locator("[data-testid=detail]").inner_text()
    w.fits_width()
    w.shot("detail")
    with page.expect_download() as receipt:
        page.click("[data-testid=receipt]")
    path = receipt.value.path()
    assert path is not None and open(path, "rb").read(4) == b"%PDF"

    # the history: the row, masked, with its description; a search finds it
    nav_to(page, "History")
    page.wait_for_url(f"{site}/app/history/")
    row = page.locator("[data-testid=history-row]").first
    assert "K••• M•••••" in row.inner_text() and "Lunch at Mama's" in row.inner_text()
    w.fits_width()
    w.shot("history")
    page.fill("#id_q", "mama")
    with page.expect_navigation():
        page.click("form.filters button[type=submit]")
    assert page.locator("[data-testid=history-row]").count() == 1
    with page.expect_navigation():
        page.locator("[data-testid=history-row]").first.click()
    assert page.url.endswith(f"/app/history/{transfer.id}/")

    # the month's statement
    page.goto(f"{site}/app/statements/")
    w.fits_width()
    w.shot("statements")
    with page.expect_download() as statement:
        page.click("[data-testid=statement-download]")
    path = statement.value.path()
    assert path is not None and open(path, "rb").read(4) == b"%PDF"
    assert statement.value.suggested_filename.startswith("lightway-statement-UGX-")

    # to Kofi's USD wallet: the price, its rate and how long it holds, counting down
    page.goto(f"{site}/app/send/")
    page.fill("#id_phone", "0772 123 402")
    page.select_option("#id_receive_currency", "USD")
    page.fill("#id_amount", "10.00")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert page.locator("[data-testid=review-rate]").inner_text().startswith("1 UGX = 0.000")
    expiry = page.locator("[data-testid=quote-expiry]")
    expect(expiry).to_contain_text("more seconds")  # the script keeps the seconds left
    w.fits_width()
    w.shot("send-fx-review")
    w.clean()
