"""The back office's customers and transactions in real headless Chromium (Playwright)
against a live server, at desktop size (docs/panels.md, "Back office: customers and
transactions"):

- a support agent finds a customer by phone number, sees wallets, balances and history,
  adds a support note (a mistake first: the message beside the field, the text kept) and
  asks for the customer's wallets to be frozen; finds a payment by its id, reads its
  timeline and asks for its reversal. Their own requests show no decision button;
- an operations colleague approves both from the approvals page: the wallet shows frozen,
  the payment reversed; the filtered list downloads as CSV (no personal data);
- on a phone-sized screen the pages do not scroll sideways as a whole;
- no page logs a console error or breaks the Content-Security-Policy.

Screenshots go to var/screenshots/backoffice-*.png (docs/screenshots/ keeps a chosen set).
"""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path

import pytest
from django.utils import timezone

from lightway.application.identity.profiles import profile_set_pii
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.data.backoffice.models import ActionRequest
from lightway.data.identity.models import Profile
from lightway.data.ledger.models import Account
from lightway.data.wallets.models import Transfer
from lightway.security.policy import Role
from tests.browser_support import SHOTS, Watch, staff_sign_in, staff_with_totp
from tests.factories import customer, funded_wallet

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SHOT_PREFIX = "backoffice-"
PHONE = "+256772123455"
REASON = "ticket SUP-2001: the customer reports a stolen phone"


def _submit(w: Watch, form: str) -> None:
    with w.page.expect_navigation():
        w.page.click(f"{form} button[type=submit] >> nth=0")
    w.page.wait_for_load_state("networkidle")


def _data():
    now = timezone.now()
    alice, _ = customer("alice", now)
    bob, _ = customer("bob", now)
    profile_set_pii(user_id=alice, now=now, phone=PHONE, name="Alice Nakato")
    a_wallet = funded_wallet(alice, "UGX", 500_000, now)
    b_wallet = funded_wallet(bob, "UGX", 0, now)
    payments = [
        transfer_create(
            client_id=alice,
            idempotency_key=str(uuid.uuid4()),
            request=TransferRequest(
                source_wallet_id=a_wallet.id,
                destination_wallet_id=b_wallet.id,
                amount=amount,
                currency="UGX",
                description="rent",
            ),
            now=timezone.now(),
        ).transfer
        for amount in (12_000, 25_000, 40_000)
    ]
    return alice, a_wallet, payments


def test_support_asks_operations_approves(site, desktop: Watch, mobile: Watch):
    alice, a_wallet, payments = _data()
    subject = Profile.objects.get(user_id=alice).subject
    paid = payments[-1]
    support_key = staff_with_totp("sam.support", Role.LW_SUPPORT)
    ops_key = staff_with_totp("olu.ops", Role.LW_OPERATIONS)
    compliance_key = staff_with_totp("cleo.compliance", Role.LW_COMPLIANCE)
    w, page = desktop, desktop.page

    # --- support: the customer ---
    staff_sign_in(w, site, "sam.support", support_key, "/staff/")
    page.click("nav >> text=Customers")
    page.fill("#id_q", PHONE)
    _submit(w, "main form")
    page.click(f"text={subject}")
    page.wait_for_url(f"{site}/staff/customers/{subject}/")
    wallets = page.locator("[data-testid=wallets]").inner_text()
    assert "UGX" in wallets and "active" in wallets
    assert page.locator("[data-testid=history] tbody tr").count() == 3
    assert "Nakato" not in page.content() and "772123455" not in page.content()  # masked

    page.fill("#id_body", "ab")
    _submit(w, "form[action$='/notes/']")
    assert page.locator(".error-summary").is_visible()
    assert page.locator("#id_body_error").is_visible()
    assert page.input_value("#id_body") == "ab"
    page.fill("#id_body", "Called the customer: phone stolen yesterday, wallets to be frozen.")
    _submit(w, "form[action$='/notes/']")
    assert "phone stolen yesterday" in page.locator("[data-testid=notes]").inner_text()

    page.select_option("#id_kind", "wallets_freeze")
    page.fill("#id_reason", "short")
    _submit(w, "form[action$='/actions/']")
    assert page.locator("#id_reason_error").is_visible()
    assert page.input_value("#id_reason") == "short"
    page.fill("#id_reason", REASON)
    _submit(w, "form[action$='/actions/']")
    assert page.locator("[data-testid=waiting]").is_visible()  # no button for the asker
    w.shot("customer")

    # --- support: the payment ---
    page.click("nav >> text=Transactions")
    page.wait_for_url(f"{site}/staff/transactions/")
    assert page.locator("[data-testid=transactions] tbody tr").count() == 3
    page.fill("#id_q", str(paid.id))
    _submit(w, "main form")
    page.click(f"[data-testid=transactions] >> text={str(paid.id)[:8]}")
    page.wait_for_url(f"{site}/staff/transactions/{paid.id}/")
    sources = page.locator("[data-testid=timeline] li").evaluate_all(
        "els => els.map(e => e.dataset.source)"
    )
    assert sources[0] == "state" and "ledger" in sources
    page.select_option("#id_kind", "transfer_reverse")
    page.fill("#id_reason", REASON)
    _submit(w, "form[action$='/actions/']")
    assert page.locator("[data-testid=waiting]").is_visible()
    assert ActionRequest.objects.filter(state="pending").count() == 2
    reversal = ActionRequest.objects.get(kind="transfer_reverse")
    w.shot("transaction")

    # --- operations: the approvals ---
    w.context.clear_cookies()
    staff_sign_in(w, site, "olu.ops", ops_key, "/staff/")
    page.click("nav >> text=Approvals")
    page.wait_for_url(f"{site}/staff/approvals/")
    assert page.locator(".bo-request").count() == 2
    w.shot("approvals")
    # The reversal first: once the wallet is frozen the ledger refuses to credit it back
    # (the request would stay waiting, with the ledger's reason shown).
    _submit(w, f"[data-testid=request-{reversal.pk}] form")
    assert "Approved" in page.locator(".messages").inner_text()
    _submit(w, ".bo-request form")
    assert page.locator(".bo-request").count() == 0
    assert Account.objects.get(pk=a_wallet.account_id).status == "frozen"
    assert Transfer.objects.get(pk=paid.id).status == "reversed"
    w.visit(f"{site}/staff/customers/{subject}/")
    assert "frozen" in page.locator("[data-testid=wallet-status]").inner_text()
    w.visit(f"{site}/staff/transactions/{paid.id}/")
    assert "Reversed" in page.locator("[data-testid=status]").inner_text()
    w.shot("transaction-reversed")

    w.visit(f"{site}/staff/transactions/?kind=p2p&status=succeeded")
    assert page.locator("[data-testid=transactions] tbody tr").count() == 2
    w.shot("transactions")
    with page.expect_download() as info:
        page.click("[data-testid=export]")
    path = info.value.path()
    assert path is not None
    rows = list(csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8"))))
    assert {r["transfer_id"] for r in rows} == {str(p.id) for p in payments[:2]}
    assert all(r["customer_subject"] == subject for r in rows)
    w.clean()

    # --- the same pages on a phone ---
    # (another colleague: a TOTP code is accepted once, and olu.ops just used this one)
    staff_sign_in(mobile, site, "cleo.compliance", compliance_key, "/staff/")
    for url in (
        f"/staff/customers/{subject}/",
        "/staff/transactions/",
        f"/staff/transactions/{paid.id}/",
        "/staff/approvals/",
    ):
        mobile.visit(f"{site}{url}")
        mobile.fits_width()
    mobile.visit(f"{site}/staff/customers/{subject}/")
    mobile.shot("customer-phone")
    mobile.clean()


def test_operations_asks_for_a_limit_override_compliance_approves(site, desktop: Watch):
    """A limit override on the customer page (docs/panels.md, "Limit overrides"): a
    mistake first (a negative amount: the message beside the field, what was typed kept);
    the asker has no decision button; a colleague approves on the approvals page and the
    customer page shows the new limit beside the tier's, with its expiry."""
    alice, _a_wallet, _payments = _data()
    subject = Profile.objects.get(user_id=alice).subject
    ops_key = staff_with_totp("olu.ops", Role.LW_OPERATIONS)
    compliance_key = staff_with_totp("cleo.compliance", Role.LW_COMPLIANCE)
    w, page = desktop, desktop.page

    staff_sign_in(w, site, "olu.ops", ops_key, "/staff/")
    w.visit(f"{site}/staff/customers/{subject}/")
    page.select_option("#limits_currency", "UGX")
    page.fill("#limits_per_transaction", "-5")
    page.fill("#limits_daily", "30,000,000")
    page.fill("#limits_reason", "ticket OPS-77: trader pays suppliers weekly")
    _submit(w, "form[action$='/limits/']")
    assert "cannot be negative" in page.locator("#limits_per_transaction_error").inner_text()
    assert page.input_value("#limits_per_transaction") == "-5"
    assert page.input_value("#limits_daily") == "30,000,000"
    page.fill("#limits_per_transaction", "8,000,000")
    page.fill("#limits_last_day", "2099-12-31")
    _submit(w, "form[action$='/limits/']")
    request = ActionRequest.objects.get(kind="limit_override")
    assert request.state == "pending"
    assert page.locator(f"[data-testid=request-{request.pk}] [data-testid=waiting]").is_visible()

    w.context.clear_cookies()
    staff_sign_in(w, site, "cleo.compliance", compliance_key, "/staff/")
    page.click("nav >> text=Approvals")
    page.wait_for_url(f"{site}/staff/approvals/")
    summary = page.locator(f"[data-testid=request-{request.pk}] [data-testid=request-summary]")
    assert "per-transaction limit UGX 8,000,000" in summary.inner_text()
    _submit(w, f"[data-testid=request-{request.pk}] form")
    assert "Approved" in page.locator(".messages").inner_text()

    w.visit(f"{site}/staff/customers/{subject}/")
    card = page.locator(f"[data-currency=UGX][data-override='{request.pk}']")
    assert "UGX 8,000,000" in card.inner_text() and "tier UGX 5,000,000" in card.inner_text()
    assert "2100-01-01 00:00 UTC" in card.inner_text()
    section = page.locator("section[aria-labelledby=limits-title]")
    section.screenshot(path=str(SHOTS / f"{SHOT_PREFIX}customer-limits.png"))
    w.clean()
