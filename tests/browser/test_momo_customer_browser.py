"""A customer deposits from MoMo and withdraws to MoMo in real headless Chromium, against a
live server, the MoMo simulator over real HTTP and a job runner standing in for the worker.

- The customer signs in on a phone-sized screen, opens "Deposit from MoMo" from the
  dashboard, makes a mistake (an amount with decimals in UGX), then asks for UGX 20,000
  from their own number. The status page says to approve on the phone; the simulator
  completes the payment a few seconds later and calls the live server's webhook (callback
  mode "http"); the runner confirms it with a status read and credits the wallet; the
  page shows "Succeeded" without being reloaded.
- Then "Withdraw to MoMo": the review shows the fee and the total, the customer confirms,
  the payout succeeds the same way, and the wallets page shows the new balance.
- "Send to a MoMo number" to a number without a MoMo account: a first payout to a number,
  so the page asks for the SMS step-up code (from the SMS simulator; a wrong one first is
  refused beside the field); then it fails with the reason in plain words; nothing leaves
  the wallet.
- No page logs a console error or breaks the Content-Security-Policy.

Screenshots go to var/screenshots/momo-customer-*.png (docs/screenshots/ keeps copies).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from playwright.sync_api import expect

from lightway.application.momo import flows
from lightway.application.transactions.wallets import wallet_list
from lightway.data.wallets.models import Transfer
from tests.browser_support import Watch
from tests.momo_flow_support import MOMO_TASKS, momo_customer

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SHOT_PREFIX = "momo-customer-"
PASSWORD = "Browser-momo-customer-26"
PHONE = "+256772123401"
WALLET = 100_000  # UGX
APPROVAL_SECONDS = 4.0  # how long the simulated customer takes to approve on the phone


class JobRunner(threading.Thread):
    """What ``lightway worker`` does for MoMo, in a thread: the periodic sweep (every
    second here) and every due ``momo_*`` job, each through its use case."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.halt = threading.Event()
        self.errors: list[str] = []
        self.ran: list[str] = []

    def _due(self) -> list[tuple[int, str, dict[str, object]]]:
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM procrastinate_jobs WHERE id IN (SELECT id FROM procrastinate_jobs"
                " WHERE status = 'todo' AND task_name = ANY(%s)"
                " AND (scheduled_at IS NULL OR scheduled_at <= now()) ORDER BY id)"
                " RETURNING id, task_name, args",
                [list(MOMO_TASKS)],
            )
            rows = cursor.fetchall()
        return sorted(
            (int(i), str(t), json.loads(a) if isinstance(a, str) else dict(a)) for i, t, a in rows
        )

    def run(self) -> None:
        last_sweep = 0.0
        try:
            while not self.halt.is_set():
                try:
                    if time.monotonic() - last_sweep > 1:
                        flows.momo_sweep(now=timezone.now())
                        last_sweep = time.monotonic()
                    for _id, task, args in self._due():
                        now = timezone.now()
                        if task == "momo_submit":
                            flows.momo_submit(request_id=int(args["request_id"]), now=now)
                        elif task == "momo_poll":
                            flows.momo_poll(request_id=int(args["request_id"]), now=now)
                        else:
                            flows.callback_process(callback_id=int(args["callback_id"]), now=now)
                        self.ran.append(task)
                except Exception as exc:  # reported by the test, not swallowed
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                self.halt.wait(0.2)
        finally:
            connection.close()


@pytest.fixture
def site(live_server, settings, momo) -> Iterator[str]:
    """The live server, MoMo's callbacks going to its webhook over HTTP, and the runner."""
    settings.LIGHTWAY_PUBLIC_URL = live_server.url
    settings.LIGHTWAY_WEBAUTHN_RP_ID = ""
    port = urlsplit(live_server.url).port
    # the provisioned API user's callback host is 127.0.0.1 (a different host is refused)
    settings.MOMO_CALLBACK_URL = f"http://127.0.0.1:{port}/webhooks/momo"
    momo.configure(callback_mode="http", completion_seconds=APPROVAL_SECONDS)
    runner = JobRunner()
    runner.start()
    yield f"http://127.0.0.1:{port}"
    runner.halt.set()
    runner.join(timeout=10)
    # The simulator's HTTP client keeps its connection to the live server alive; the
    # server's handler thread holds a database connection until that socket closes, and
    # the test database cannot be dropped while it does. Close it (a fresh client follows).
    http = momo.sim._http
    if http is not None:
        http.close()
        momo.sim._http = httpx.Client()
    time.sleep(0.3)
    assert runner.errors == [], runner.errors


def _customer() -> int:
    uid = momo_customer("browser-amara", timezone.now(), phone=PHONE, wallet=WALLET)
    user = get_user_model().objects.get(pk=uid)
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    return uid


def _ugx(uid: int) -> tuple[int, int]:
    view = next(w for w in wallet_list(owner_id=uid) if w.wallet.currency == "UGX")
    return view.balance, view.available


def _watch_final(w: Watch, waiting_text: str, name: str) -> None:
    """On a status page: see the in-between state, then "Succeeded" without a reload."""
    page = w.page
    page.evaluate("window.__stillTheSamePage = true")
    status = page.locator("[data-testid=status]")
    # (locator waits: the page's CSP forbids the string evaluation wait_for_function uses)
    expect(status).to_have_text(waiting_text, timeout=15_000)
    assert page.locator(".step[aria-current=step]").count() == 1
    w.shot(f"{name}-waiting")
    expect(status).to_have_text("Succeeded", timeout=30_000)
    assert status.inner_text() == "Succeeded"
    assert page.evaluate("window.__stillTheSamePage === true"), "the page was reloaded"
    assert page.locator(".step-done").count() == 3
    assert page.locator("[data-terminal-actions]").is_visible()
    assert not page.locator("[data-refresh]").is_visible()


def test_customer_deposits_from_momo_and_withdraws_to_momo(site, mobile, momo, outbox):
    uid = _customer()
    w = mobile
    page = w.page

    # sign in and find the way from the dashboard
    page.goto(f"{site}/app/login/")
    page.select_option("#id_country", "UG")
    page.fill("#id_phone", "0772 123 401")
    page.fill("#id_password", PASSWORD)
    page.click("main form button[type=submit] >> nth=0")
    page.wait_for_url(f"{site}/app/")
    page.click("[data-testid=momo-links] >> text=Deposit from MoMo")
    page.wait_for_url(f"{site}/app/momo/deposit/")
    assert page.input_value("#id_msisdn") == PHONE  # the own verified number
    w.shot("deposit")

    # a mistake first: UGX has no decimals
    page.fill("#id_amount", "20000.50")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert page.locator("#id_amount_error").inner_text() == "UGX amounts have no decimals."
    assert page.locator(".error-summary").is_visible()
    w.shot("deposit-errors")

    page.fill("#id_amount", "20,000")
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{site}/app/momo/transfers/**")
    deposit = Transfer.objects.get(kind="deposit")
    assert page.url.endswith(f"/app/momo/transfers/{deposit.id}/")
    _watch_final(w, "Waiting for approval", "deposit")
    credited = 20_000 - deposit.fee
    assert page.locator("[data-field=headline]").inner_text() == (
        f"UGX {credited:,} is in your wallet"
    )
    assert page.locator("[data-testid=balance]").inner_text() == f"UGX {WALLET + credited:,}"
    assert page.locator("[data-field=momo_transaction_id]").inner_text().isdigit()
    w.shot("deposit-succeeded")
    assert _ugx(uid) == (WALLET + credited, WALLET + credited)

    # withdraw to the own number: the fee before confirming
    page.goto(f"{site}/app/momo/withdraw/")
    page.fill("#id_amount", "5000")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert page.locator("[data-testid=review-fee]").inner_text() == "UGX 500"
    assert page.locator("[data-testid=review-total]").inner_text() == "UGX 5,500"
    w.shot("withdraw-review")
    page.click("button[name=confirm]")
    page.wait_for_url(f"{site}/app/momo/transfers/**")
    _watch_final(w, "Processing", "withdraw")
    assert page.locator("[data-field=headline]").inner_text() == (
        "UGX 5,000 was sent to +256 •••••••01"
    )
    after = WALLET + credited - 5_500
    assert page.locator("[data-testid=balance]").inner_text() == f"UGX {after:,}"
    assert _ugx(uid) == (after, after)

    # a payment MoMo refuses: a number without a MoMo account (sandbox test number)
    page.goto(f"{site}/app/momo/send/")
    page.fill("#id_msisdn", "46733123457")
    page.fill("#id_amount", "1000")
    page.click("main form button[type=submit]")
    # a first payout to this number: the SMS step-up code, as the API asks for
    with page.expect_navigation():
        page.click("button[name=confirm]")
    assert page.locator("[data-testid=step-up]").is_visible()
    assert not Transfer.objects.filter(kind="payout").exists()
    code = outbox.latest_code(PHONE)
    page.fill("#id_code", "000000" if code != "000000" else "111111")
    with page.expect_navigation():
        page.click("button[name=confirm]")
    assert "This code is wrong or has expired" in page.locator("#id_code_error").inner_text()
    assert page.locator(".error-summary").is_visible()
    w.fits_width()
    w.shot("send-code")
    page.fill("#id_code", code)
    page.click("button[name=confirm]")
    page.wait_for_url(f"{site}/app/momo/transfers/**")
    expect(page.locator("[data-testid=status]")).to_have_text("Failed", timeout=30_000)
    assert page.locator("[data-testid=detail]").inner_text() == (
        "This phone number has no active MoMo account. Nothing was taken from your wallet."
    )
    assert page.locator(".step-failed").count() == 1
    w.shot("send-failed")
    assert _ugx(uid) == (after, after)

    # the wallets page and the list of payments agree
    page.goto(f"{site}/app/wallets/")
    assert f"UGX {after:,}" in page.locator("main table").inner_text()
    page.goto(f"{site}/app/momo/")
    rows = page.locator("[data-testid=transactions] li")
    assert [r.inner_text() for r in rows.locator("[data-testid=row-status]").all()] == [
        "Failed, no money moved",
        "Succeeded",
        "Succeeded",
    ]
    w.shot("payments")

    # MoMo really paid and collected: one transaction each at the simulator
    outcomes = sorted((t["operation"], t["status"]) for t in momo.sim.transactions())
    assert outcomes == [
        ("requesttopay", "SUCCESSFUL"),
        ("transfer", "FAILED"),
        ("transfer", "SUCCESSFUL"),
    ]
    w.clean()
