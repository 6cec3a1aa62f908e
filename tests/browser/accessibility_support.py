"""What the accessibility tests share (tests/browser/test_accessibility_pages.py and
test_accessibility_forms.py: two modules, so the two long tests run on two workers).

axe-core over every page of the customer app, the LightWay back office and the MTN portal,
at desktop (1280x900) and phone (390x844) size, in real headless Chromium against a live
server (docs/panels.md, "Accessibility").

- "Every page" is enforced: the list comes from Django's URL resolver (every pattern under
  /app/, /staff/ and /mtn/). A pattern must be in ``PAGES`` (visited, signed in as whoever may
  open it, with the object it needs) or in ``EXCLUDED`` with the reason (JSON, CSV or PDF
  answers, POST-only actions). A page added later fails the test until it is added here.
- Each page, and each form in its error state after a bad submit, has no serious or critical
  axe-core violation (WCAG 2.1 A/AA and best practices) at either size, does not scroll
  sideways as a whole on a phone, and breaks no Content-Security-Policy rule.
- Every form answers bad input with 400 (422 where docs/panels.md says so), an error
  summary, the message beside its field and what was typed kept.
- The focus ring of a link, a button and an input reaches 3:1 against the page behind it.
- A table that may overflow sits in a keyboard-reachable ``.table-scroll`` region.

One browser; one context per realm and size, signed in once (the phone context reuses the
desktop one's cookies).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.db.models import TextField
from django.db.models.functions import Cast, Length
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from lightway.application.demo import DEMO_PASSWORD, demo_seed
from lightway.application.goaml.service import goaml_export_ctr
from lightway.application.identity.profiles import profile_set_pii
from lightway.application.momo import flows
from lightway.application.momo.reconciliation.runs import reconcile
from lightway.application.settlement.reconciliation import statement_reconcile
from lightway.application.staff.accounts import role_grant
from lightway.data.aml.models import Case
from lightway.data.audit.models import AuditRecord
from lightway.data.identity.models import Profile
from lightway.data.momo.models import MomoRequest
from lightway.data.reports.models import ReportRun
from lightway.data.settlement.models import SettlementWindow
from lightway.integration.settlement import iso20022 as iso
from lightway.security.mfa.totp import totp_device_new
from lightway.security.policy import Role
from tests.browser_support import (
    DESKTOP,
    MOBILE,
    SHOTS,
    Watch,
    axe_check,
    axe_report,
    focus_ring_check,
    staff_password_step,
    staff_sign_in,
    staff_user,
    staff_with_totp,
)
from tests.factories import customer
from tests.momo_flow_support import run_momo_jobs
from tests.remit_support import remit_partner
from tests.test_remittance_reversal import _created as remittance_created

SHOT_PREFIX = "a11y-"
PREFIXES = ("app/", "staff/", "mtn/")

# route (as Django's resolver spells it) -> (who opens it, the path with {placeholders})
PAGES: dict[str, tuple[str, str]] = {
    # the customer app, signed out
    "app/register/": ("public", "/app/register/"),
    "app/login/": ("public", "/app/login/"),
    "app/email/verify/<str:token>": ("public", "/app/email/verify/{token}"),
    "staff/login/": ("public", "/staff/login/"),
    # halfway through a sign-in (see _half_signed_in)
    "app/login/2fa/": ("customer-2fa", "/app/login/2fa/"),
    "app/verify-phone/": ("unverified", "/app/verify-phone/"),
    "staff/mfa/": ("staff-mfa", "/staff/mfa/"),
    "staff/mfa/enrol/": ("staff-enrol", "/staff/mfa/enrol/"),
    # the customer app
    "app/": ("customer", "/app/"),
    "app/wallets/": ("customer", "/app/wallets/"),
    "app/profile/": ("customer", "/app/profile/"),
    "app/email/": ("customer", "/app/email/"),
    "app/security/": ("customer", "/app/security/"),
    "app/notifications/": ("customer", "/app/notifications/"),
    "app/kyc/": ("customer", "/app/kyc/"),
    "app/momo/": ("customer", "/app/momo/"),
    "app/momo/deposit/": ("customer", "/app/momo/deposit/"),
    "app/momo/withdraw/": ("customer", "/app/momo/withdraw/"),
    "app/momo/send/": ("customer", "/app/momo/send/"),
    "app/momo/transfers/<uuid:transfer_id>/": ("customer", "/app/momo/transfers/{transfer}/"),
    "app/logout/": ("customer", "/app/logout/"),
    "app/inbox/": ("customer", "/app/inbox/"),
    "app/send/": ("customer", "/app/send/"),
    "app/history/": ("customer", "/app/history/"),
    "app/history/<uuid:transfer_id>/": ("customer", "/app/history/{transfer}/"),
    "app/statements/": ("customer", "/app/statements/"),
    "app/offline/": ("public", "/app/offline/"),
    "app/password/forgot/": ("public", "/app/password/forgot/"),
    "app/password/reset/": ("resetting", "/app/password/reset/"),
    # the LightWay back office
    "staff/": ("staff", "/staff/"),
    "staff/security/": ("staff", "/staff/security/"),
    "staff/roles/": ("staff", "/staff/roles/"),
    "staff/customers/": ("staff", "/staff/customers/"),
    "staff/customers/<str:subject>/": ("staff", "/staff/customers/{subject}/"),
    "staff/transactions/": ("staff", "/staff/transactions/"),
    "staff/audit/": ("staff", "/staff/audit/"),
    "staff/audit/<int:record_id>/": ("staff", "/staff/audit/{audit_record}/"),
    "staff/transactions/<uuid:transfer_id>/": ("staff", "/staff/transactions/{transfer}/"),
    "staff/approvals/": ("staff", "/staff/approvals/"),
    "staff/integration-keys/": ("staff", "/staff/integration-keys/"),
    "staff/fx/": ("staff", "/staff/fx/"),
    "staff/fx/history/<str:base>/<str:quote>/": ("staff", "/staff/fx/history/USD/UGX/"),
    "staff/settlement/": ("staff", "/staff/settlement/"),
    "staff/settlement/windows/<int:window_id>/": (
        "staff",
        "/staff/settlement/windows/{window}/",
    ),
    "staff/settlement/statements/": ("staff", "/staff/settlement/statements/"),
    "staff/settlement/statements/<int:statement_id>/": (
        "staff",
        "/staff/settlement/statements/{bank_statement}/",
    ),
    "staff/partners/": ("staff", "/staff/partners/"),
    "staff/partners/new/": ("staff", "/staff/partners/new/"),
    "staff/partners/<slug:code>/": ("staff", "/staff/partners/{partner}/"),
    "staff/partners/<slug:code>/edit/": ("staff", "/staff/partners/{partner}/edit/"),
    "staff/partner-limits/": ("staff", "/staff/partner-limits/"),
    "staff/compliance/retention/": ("staff", "/staff/compliance/retention/"),
    "staff/notifications/": ("staff", "/staff/notifications/"),
    "staff/remittances/": ("staff", "/staff/remittances/"),
    "staff/remittances/<uuid:remittance_id>/": ("staff", "/staff/remittances/{remittance}/"),
    "staff/momo/": ("staff", "/staff/momo/"),
    "staff/momo/float/": ("staff", "/staff/momo/float/"),
    "staff/momo/analytics/": ("staff", "/staff/momo/analytics/"),
    "staff/momo/<uuid:reference_id>/": ("staff", "/staff/momo/{momo_request}/"),
    "staff/reconciliation/": ("staff", "/staff/reconciliation/"),
    "staff/reconciliation/runs/<int:run_id>/": ("staff", "/staff/reconciliation/runs/{run}/"),
    "staff/reconciliation/statements/": ("staff", "/staff/reconciliation/statements/"),
    "staff/reconciliation/cases/": ("staff", "/staff/reconciliation/cases/"),
    "staff/commission/": ("staff", "/staff/commission/"),
    "staff/compliance/goaml/": ("staff", "/staff/compliance/goaml/"),
    "staff/reports/": ("staff", "/staff/reports/"),
    "staff/reports/<int:run_id>/": ("staff", "/staff/reports/{report_run}/"),
    "staff/compliance/": ("staff", "/staff/compliance/"),
    "staff/compliance/rules/": ("staff", "/staff/compliance/rules/"),
    "staff/compliance/sanctions/": ("staff", "/staff/compliance/sanctions/"),
    "staff/compliance/cases/<str:reference>/": ("staff", "/staff/compliance/cases/{case}/"),
    "staff/logout/": ("staff", "/staff/logout/"),
    # the MTN portal
    "mtn/": ("mtn", "/mtn/"),
    "mtn/momo/": ("mtn", "/mtn/momo/"),
    "mtn/momo/float/": ("mtn", "/mtn/momo/float/"),
    "mtn/momo/analytics/": ("mtn", "/mtn/momo/analytics/"),
    "mtn/momo/<uuid:reference_id>/": ("mtn", "/mtn/momo/{momo_request}/"),
    "mtn/reconciliation/": ("mtn", "/mtn/reconciliation/"),
    "mtn/reconciliation/runs/<int:run_id>/": ("mtn", "/mtn/reconciliation/runs/{run}/"),
    "mtn/commission/": ("mtn", "/mtn/commission/"),
}

POST_ONLY = "POST-only action: answers a form on another page, which is checked there"
EXCLUDED: dict[str, str] = {
    "app/verify-phone/resend/": POST_ONLY,
    "app/security/totp/": POST_ONLY + " (the QR code page it answers is checked below)",
    "app/security/totp/confirm/": POST_ONLY,
    "app/security/totp/disable/": POST_ONLY,
    "app/security/backup-codes/": POST_ONLY,
    "app/security/password/": POST_ONLY,
    "app/security/sessions/<uuid:session_id>/end/": POST_ONLY,
    "app/security/sessions/end-others/": POST_ONLY,
    "app/history/<uuid:transfer_id>/receipt.pdf": "the payment's PDF receipt",
    "staff/live/": "the live part of /staff/, fetched by HTMX and checked inside that page",
    "mtn/live/": "the live part of /mtn/, fetched by HTMX and checked inside that page",
    "app/language/": POST_ONLY + " (the switch is on every customer page checked here)",
    "app/momo/transfers/<uuid:transfer_id>/status.json": "JSON for the status page's polling",
    "app/manifest.webmanifest": "the web app manifest (JSON)",
    "app/sw.js": "the service worker (JavaScript)",
    "app/icons/<str:name>": "icons (PNG, SVG)",
    "staff/roles/create/": POST_ONLY,
    "staff/roles/grant/": POST_ONLY,
    "staff/roles/revoke/": POST_ONLY,
    "staff/roles/deactivate/": POST_ONLY,
    "staff/roles/mfa-reset/": POST_ONLY,
    "staff/roles/mfa-reset/<int:request_id>/approve/": POST_ONLY,
    "staff/roles/mfa-reset/<int:request_id>/reject/": POST_ONLY,
    "staff/customers/<str:subject>/reveal/": POST_ONLY,
    "staff/customers/<str:subject>/notes/": POST_ONLY,
    "staff/customers/<str:subject>/actions/": POST_ONLY,
    "staff/customers/<str:subject>/limits/": POST_ONLY,
    "staff/customers/<str:subject>/resend-code/": POST_ONLY,
    "staff/transactions/<uuid:transfer_id>/actions/": POST_ONLY,
    "staff/transactions/export.csv": "the filtered transaction list as CSV",
    "staff/audit/export.csv": "the filtered audit records as CSV",
    "staff/compliance/goaml/<int:file_id>/download": "a goAML file (XML) or return (CSV)",
    "staff/approvals/<int:request_id>/approve/": POST_ONLY,
    "staff/approvals/<int:request_id>/reject/": POST_ONLY,
    "staff/compliance/retention/holds/": POST_ONLY,
    "staff/compliance/retention/holds/release/": POST_ONLY,
    "staff/customers/<str:subject>/tier/": POST_ONLY,
    "staff/integration-keys/create/": POST_ONLY,
    "staff/integration-keys/<str:key_id>/revoke/": POST_ONLY,
    "staff/fx/propose/": POST_ONLY,
    "staff/fx/approve/": POST_ONLY,
    "staff/fx/reject/": POST_ONLY,
    "staff/settlement/windows/<int:window_id>/close/": POST_ONLY,
    "staff/settlement/windows/<int:window_id>/abort/": POST_ONLY,
    "staff/settlement/windows/<int:window_id>/statement/<str:counterparty>/<str:fmt>/": (
        "a statement file (CSV or JSON download)"
    ),
    "staff/settlement/instructions/<int:instruction_id>/reissue/": POST_ONLY,
    "staff/settlement/statements/reconcile/": POST_ONLY,
    "staff/partners/<slug:code>/status/": POST_ONLY,
    "staff/partners/<slug:code>/contacts/": POST_ONLY,
    "staff/partners/<slug:code>/contacts/<str:ref>/remove/": POST_ONLY,
    "staff/partners/<slug:code>/webhook-secret/": POST_ONLY,
    "staff/partners/<slug:code>/api-keys/": POST_ONLY,
    "staff/partners/<slug:code>/api-keys/<str:key_id>/revoke/": POST_ONLY,
    "staff/partners/<slug:code>/redeliver/": POST_ONLY,
    "staff/partners/<slug:code>/redeliver-dead/": POST_ONLY,
    "staff/remittances/<uuid:remittance_id>/reverse/": POST_ONLY,
    "staff/remittances/reversals/<int:reversal_id>/approve/": POST_ONLY,
    "staff/remittances/reversals/<int:reversal_id>/reject/": POST_ONLY,
    "staff/mfa/passkey/options/": "WebAuthn ceremony (JSON, POST)",
    "staff/mfa/passkey/": "WebAuthn ceremony (JSON, POST)",
    "staff/security/backup-codes/": POST_ONLY,
    "staff/security/passkeys/options/": "WebAuthn ceremony (JSON, POST)",
    "staff/security/passkeys/": "WebAuthn ceremony (JSON, POST)",
    "staff/security/passkeys/<int:passkey_id>/remove/": POST_ONLY,
    "staff/momo/float/threshold/": POST_ONLY,
    "staff/momo/float/check/": POST_ONLY,
    "staff/reconciliation/run/": POST_ONLY,
    "staff/reconciliation/runs/<int:run_id>/report.csv": "a report file (CSV)",
    "staff/reconciliation/runs/<int:run_id>/report.json": "a report file (JSON)",
    "staff/reconciliation/cases/<int:case_id>/assign/": POST_ONLY,
    "staff/reconciliation/cases/<int:case_id>/resolve/": POST_ONLY,
    "staff/reports/<int:run_id>/status/": (
        "the progress part of a report run's page, fetched by HTMX and checked inside it"
    ),
    "staff/reports/<int:run_id>/download/": "a report file (PDF, XLSX or CSV download)",
    "staff/compliance/rules/add/": POST_ONLY,
    "staff/compliance/sanctions/upload/": POST_ONLY,
    "staff/compliance/cases/<str:reference>/assign/": POST_ONLY,
    "staff/compliance/cases/<str:reference>/note/": POST_ONLY,
    "staff/compliance/cases/<str:reference>/escalate/": POST_ONLY,
    "staff/compliance/cases/<str:reference>/propose/": POST_ONLY,
    "staff/compliance/cases/<str:reference>/approve/": POST_ONLY,
    "staff/compliance/cases/<str:reference>/reject/": POST_ONLY,
    "staff/compliance/cases/<str:reference>/close/": POST_ONLY,
    "mtn/reconciliation/runs/<int:run_id>/report.csv": "a report file (CSV)",
    "mtn/reconciliation/runs/<int:run_id>/report.json": "a report file (JSON)",
}


def panel_routes() -> set[str]:
    """Every URL pattern under /app/, /staff/ and /mtn/, as the resolver spells it."""

    def walk(patterns: list[Any], prefix: str) -> Iterator[str]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern)

    return {r for r in walk(get_resolver().url_patterns, "") if r.startswith(PREFIXES)}


# --- the data every page needs ---------------------------------------------------------------

CUSTOMER_PHONE = ("UG", "0772 123 401")  # the demo customer Amara
UNVERIFIED_PHONE = "+256772123488"
SECOND_FACTOR_PHONE = "+256772123477"


def _world(momo: Any) -> dict[str, str]:
    """One of each object a detail page shows (beside the demo data): a MoMo deposit settled
    through the simulator, a reconciliation run, a remittance, a bank statement; the values
    of the placeholders in ``PAGES``."""
    now = timezone.now()
    amara = Profile.objects.get(user__username="amara")
    deposit = flows.deposit_start(
        customer_id=amara.user_id,
        currency="UGX",
        amount_minor=25_000,
        msisdn="256772123401",
        idempotency_key="a11y-deposit",
        now=now,
    )
    run_momo_jobs(now)
    momo.deliver_callbacks(Client(), wait_for=1)
    run_momo_jobs(timezone.now())
    run = reconcile(
        window_start=now - timedelta(minutes=10),
        window_end=now + timedelta(minutes=10),
        now=timezone.now(),
    )
    partner = remit_partner("a11y-remit", now, prefund={"USD": 1_000_000, "UGX": 5_000_000})
    momo.sim.set_wallet("256772555201", given_name="Amina", family_name="Nakato")
    remittance = remittance_created(Client(), partner, "a11y-1")
    window = SettlementWindow.objects.filter(market="UGX").order_by("pk").first()
    assert window is not None
    statement = statement_reconcile(
        xml=iso.camt053_build(
            msg_id="A11Y-1",
            stmt_id="A11Y-STMT-1",
            account="LWMOMO-UGX-0001",
            code="UGX",
            statement_date=now.date(),
            opening=0,
            bookings=[
                iso.Booking(
                    amount_minor=900,
                    currency="UGX",
                    credit=True,
                    booked_on=now.date(),
                    acct_svcr_ref="A11Y-REF-1",
                    remittance_info="TOPUP a11y-remit",
                )
            ],
            created_at=now,
        ),
        actor="test",
        now=now,
    ).statement
    # a released goAML file, so its page lists one (the demo FIU's transfers of today)
    kampala = timezone.localtime(now, timezone=ZoneInfo("Africa/Kampala")).date()
    goaml_export_ctr(fiu="demo", start=kampala, end=kampala, actor="system:test", now=now)
    return {
        "token": "not-a-real-token",
        "transfer": str(deposit.id),
        "subject": amara.subject,
        "window": str(window.pk),
        "bank_statement": str(statement.pk),
        "partner": "acme-remit",
        "remittance": str(remittance),
        "momo_request": str(MomoRequest.objects.get(transfer_id=deposit.id).reference_id),
        "run": str(run.pk),
        # the record with the widest data (a goAML release carries a 64-hex hash and a long
        # reference): its page must still fit a phone's width
        "audit_record": str(
            AuditRecord.objects.annotate(width=Length(Cast("data", TextField())))
            .order_by("-width", "-id")
            .values_list("id", flat=True)[0]
        ),
        # the demo's example report run (application/demo.py)
        "report_run": str(ReportRun.objects.filter(requested_by="system:demo").get().pk),
        # the demo's open AML case (seed-demo)
        "case": Case.objects.filter(state="open").order_by("id").first().reference,
    }


@dataclass
class Realms:
    """Who opens the pages: a context per realm and size, signed in once."""

    browser: Any
    site: str
    keys: dict[str, str] = field(default_factory=dict)
    watches: dict[tuple[str, str], Watch] = field(default_factory=dict)

    def watch(self, realm: str, size: str) -> Watch:
        if (realm, size) not in self.watches:
            options = DESKTOP if size == "desktop" else MOBILE
            desktop = self.watches.get((realm, "desktop"))
            if desktop is not None:  # the phone reuses the desktop's sign-in
                options = {**options, "storage_state": desktop.context.storage_state()}
            w = Watch(self.browser.new_context(**options), prefix=SHOT_PREFIX, expected_status=0)
            if desktop is None:
                self._sign_in(w, realm)
            self.watches[realm, size] = w
        return self.watches[realm, size]

    def _sign_in(self, w: Watch, realm: str) -> None:
        site, page = self.site, w.page
        if realm in ("customer", "customer-2fa", "unverified"):
            phone = {
                "customer": CUSTOMER_PHONE[1],
                "customer-2fa": SECOND_FACTOR_PHONE,
                "unverified": UNVERIFIED_PHONE,
            }[realm]
            w.visit(f"{site}/app/login/")
            page.select_option("#id_country", CUSTOMER_PHONE[0])
            page.fill("#id_phone", phone)
            page.fill("#id_password", DEMO_PASSWORD)
            with page.expect_navigation():
                page.click("main form button[type=submit] >> nth=0")
        elif realm == "resetting":  # forgot password, first step done: the code page
            w.visit(f"{site}/app/password/forgot/")
            page.select_option("#id_country", CUSTOMER_PHONE[0])
            page.fill("#id_phone", CUSTOMER_PHONE[1])
            with page.expect_navigation():
                page.click("main form button[type=submit] >> nth=0")
        elif realm == "staff":
            staff_sign_in(w, site, "a11y.staff", self.keys["staff"], "/staff/")
        elif realm == "mtn":
            staff_sign_in(w, site, "a11y.mtn", self.keys["mtn"], "/mtn/")
        elif realm == "staff-mfa":
            staff_password_step(w, site, "a11y.staff")
        elif realm == "staff-enrol":
            staff_password_step(w, site, "a11y.newcomer", then=r".*/staff/mfa/enrol/.*")

    def close(self) -> None:
        for w in self.watches.values():
            w.context.close()


def _people() -> dict[str, str]:
    """Staff holding every role of their realm (so every page opens), a newcomer without a
    second factor, a customer with one and a customer whose phone is not verified yet."""
    now = timezone.now()
    keys = {
        "staff": staff_with_totp("a11y.staff", Role.LW_ADMIN),
        "mtn": staff_with_totp("a11y.mtn", Role.MTN_ADMIN),
    }
    for username, roles in (
        ("a11y.staff", (Role.LW_FINANCE, Role.LW_OPERATIONS, Role.LW_COMPLIANCE)),
        ("a11y.mtn", (Role.MTN_FINANCE, Role.MTN_MONITORING)),
    ):
        user_id = get_user_model().objects.get(username=username).pk
        for role in roles:
            role_grant(user_id=user_id, role=role, actor="system", now=now)
    staff_user("a11y.newcomer", Role.LW_OPERATIONS)
    for username, phone, tier in (
        ("a11y.2fa", SECOND_FACTOR_PHONE, 3),
        ("a11y.unverified", UNVERIFIED_PHONE, 0),
    ):
        user_id, _token = customer(username, now, tier=tier)
        profile_set_pii(user_id=user_id, now=now, phone=phone)
        user = get_user_model().objects.get(pk=user_id)
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
        if tier:
            totp_device_new(user_id=user_id, name="phone", now=now, confirmed=True)
    return keys


@pytest.fixture
def realms(site: str, browser: Any, settings: Any) -> Iterator[Realms]:
    """The demo data (customers, staff of every role, a partner, FX rates, settlement
    windows), the people of ``_people`` and their browser contexts."""
    settings.FX_WATCH_PAIRS = ["USD/UGX", "EUR/XOF"]
    demo_seed(now=timezone.now())
    r = Realms(browser, site, _people())
    yield r
    r.close()


@pytest.fixture
def world(realms: Realms, momo: Any) -> dict[str, str]:
    return _world(momo)


# Moderate or minor axe-core findings let through, rule -> why (none: they fail too).
TOLERATED: dict[str, str] = {}


def _page_problems(w: Watch, path: str, size: str) -> list[str]:
    """What is wrong with the page ``w`` shows: any axe-core violation (serious and critical
    ones always, the others unless ``TOLERATED``), sideways scrolling on a phone."""
    problems = []
    try:
        rest = [v for v in axe_check(w) if v["id"] not in TOLERATED]
        if rest:
            problems.append(f"axe-core on {path} ({size}):\n{axe_report(rest)}")
    except AssertionError as exc:
        problems.append(str(exc))
    if size == "phone":
        try:
            w.fits_width()
        except AssertionError as exc:
            problems.append(str(exc))
    return problems


# Pages whose tables fit a 1280 px screen without scrolling (the MTN home page's table hid
# its last column behind a sideways scroll there).
WHOLE_ON_DESKTOP = ("mtn/",)


def _tables_cut(w: Watch, path: str) -> list[str]:
    wide = w.page.evaluate(
        "[...document.querySelectorAll('main table')]"
        ".filter(t => t.parentElement.scrollWidth > t.parentElement.clientWidth)"
        ".map(t => t.parentElement.scrollWidth + '>' + t.parentElement.clientWidth)"
    )
    return [f"{path}: a table is wider than its box at 1280 px ({wide})"] if wide else []


def _keyboard_problems(r: Realms, world: dict[str, str]) -> list[str]:
    """On a phone, a wide table's box takes the focus from the keyboard and scrolls with the
    arrow keys; the focus ring of a link, a button, an input, the navigation and that box
    reaches 3:1 against what is behind it."""
    problems = []
    w = r.watch("staff", "phone")
    w.page.goto(f"{r.site}/staff/partners/{world['partner']}/")
    boxes = w.page.locator(".table-scroll")
    wide = [
        i
        for i in range(boxes.count())
        if boxes.nth(i).evaluate("e => e.scrollWidth > e.clientWidth")
    ]
    if not wide:
        return ["no table is wider than its box on the partner's page on a phone"]
    box = boxes.nth(wide[0])
    w.page.keyboard.press("Shift")
    box.focus()
    if not box.evaluate("e => e === document.activeElement"):
        problems.append("a wide table's box cannot take the focus")
    for _ in range(4):
        w.page.keyboard.press("ArrowRight")
    w.page.wait_for_timeout(400)  # (keyboard scrolling is smooth: it takes a moment)
    if box.evaluate("e => e.scrollLeft") <= 0:
        problems.append("the arrow keys do not scroll a wide table's box")
    box.scroll_into_view_if_needed()
    w.page.evaluate("window.scrollBy(0, -120)")
    w.page.screenshot(path=str(SHOTS / f"{SHOT_PREFIX}staff-partner-table-phone.png"))
    for realm, path, selectors in (
        ("public", "/app/login/", ("main a", "main button", "#id_phone")),
        ("public", "/staff/login/", ("main button", "#id_username", ".skip-link")),
        ("staff", "/staff/fx/", ("nav.nav a", "nav.nav a[aria-current]", ".table-scroll")),
        ("customer", "/app/", ("nav.nav a", "main a", "header a")),
    ):
        w = r.watch(realm, "desktop")
        w.page.goto(f"{r.site}{path}")
        try:
            focus_ring_check(w, *selectors)
        except AssertionError as exc:
            problems.append(str(exc))
    return problems


@dataclass(frozen=True)
class BadSubmit:
    """A form submitted with bad input: who, where, which form, what is typed (``keep``: the
    typed values that must come back; passwords and one-time codes never do)."""

    realm: str
    path: str
    form: str
    typed: dict[str, str]
    keep: tuple[str, ...] = ()
    selects: dict[str, str] = field(default_factory=dict)


FORMS: tuple[BadSubmit, ...] = (
    BadSubmit(
        "public",
        "/app/register/",
        "main form",
        {"#id_phone": "0772 12", "#id_password": "short"},
        keep=("#id_phone",),
        selects={"#id_country": "UG"},
    ),
    BadSubmit(
        "public",
        "/app/login/",
        "main form",
        {"#id_phone": "0772 999 999", "#id_password": "Not-the-password-1"},
        keep=("#id_phone",),
        selects={"#id_country": "UG"},
    ),
    BadSubmit(
        "public",
        "/staff/login/",
        "main form",
        {"#id_username": "nobody.here", "#id_password": "Not-the-password-1"},
        keep=("#id_username",),
    ),
    BadSubmit(
        "public",
        "/app/password/forgot/",
        "main form",
        {"#id_phone": "0772 12"},
        keep=("#id_phone",),
        selects={"#id_country": "UG"},
    ),
    BadSubmit("customer-2fa", "/app/login/2fa/", "main form", {"#id_code": "000000"}),
    BadSubmit("unverified", "/app/verify-phone/", "main form", {"#id_code": "12"}),
    BadSubmit("staff-mfa", "/staff/mfa/", "main form", {"#id_code": "000000"}),
    BadSubmit("staff-enrol", "/staff/mfa/enrol/", "main form", {"#id_code": "000000"}),
    BadSubmit(
        "customer",
        "/app/profile/",
        "main form",
        {"#id_name": "Amara Nakato", "#id_birth_date": "2015-03-01"},
        keep=("#id_name", "#id_birth_date"),
    ),
    BadSubmit("customer", "/app/email/", "main form", {"#id_email": "amara@"}, keep=("#id_email",)),
    BadSubmit(
        "customer",
        "/app/security/",
        "form[action='/app/security/password/']",
        {"#id_old_password": "Not-the-password-1", "#id_new_password": "short"},
    ),
    BadSubmit(
        "customer", "/app/momo/deposit/", "main form", {"#id_amount": "20000.50"}, ("#id_amount",)
    ),
    BadSubmit(
        "customer", "/app/momo/withdraw/", "main form", {"#id_amount": "lots"}, ("#id_amount",)
    ),
    BadSubmit(
        "customer",
        "/app/send/",
        "main form",
        {"#id_phone": "12", "#id_amount": "lots"},
        keep=("#id_phone", "#id_amount"),
    ),
    BadSubmit(
        "customer",
        "/app/momo/send/",
        "main form",
        {"#id_msisdn": "12", "#id_amount": "1000"},
        keep=("#id_msisdn", "#id_amount"),
    ),
    BadSubmit(
        "staff",
        "/staff/audit/",
        "main form",
        {"#id_actor": "Bob Smith", "#id_since": "yesterday"},
        keep=("#id_actor", "#id_since"),
    ),
    BadSubmit(
        "staff",
        "/staff/reports/",
        "[data-testid=report-form]",
        {"#id_start": "2026-11-22", "#id_end": "2026-11-20", "#id_currency": "UGX"},
        keep=("#id_start", "#id_end", "#id_currency"),
    ),
    BadSubmit(
        "staff",
        "/staff/roles/",
        "form[action='/staff/roles/create/']",
        {"#id_username": "new.member", "#id_email": "not-an-email"},
        keep=("#id_username", "#id_email"),
    ),
    BadSubmit(
        "staff",
        "/staff/roles/",
        "[data-username='a11y.newcomer'] form[action='/staff/roles/mfa-reset/']",
        {"input[name=reason]": "lost it"},
        keep=("input[name=reason]",),
    ),
    BadSubmit(
        "staff",
        "/staff/partners/acme-remit/",
        "form[action='/staff/partners/acme-remit/contacts/']",
        {"#id_contact_name": "Ada Mensah", "#id_contact_email": "ada@"},
        keep=("#id_contact_name", "#id_contact_email"),
    ),
    BadSubmit(
        "staff",
        "/staff/partners/acme-remit/",
        "form[action='/staff/partners/acme-remit/status/']",
        {"#status_reason": "why"},
        keep=("#status_reason",),
    ),
    BadSubmit(
        "staff",
        "/staff/integration-keys/",
        "form[action='/staff/integration-keys/create/']",
        {"#id_name": "Nightly import", "#id_days": "0", "#id_reason": "short"},
        keep=("#id_name", "#id_days", "#id_reason"),
    ),
    BadSubmit(
        "staff",
        "/staff/partners/new/",
        "main form",
        {"#id_code": "zeta-pay", "#id_webhook_url": "http://hooks.zeta.example/lw"},
        keep=("#id_code", "#id_webhook_url"),
    ),
    BadSubmit(
        "staff",
        "/staff/partners/acme-remit/edit/",
        "main form",
        {"#id_webhook_url": "http://hooks.acme.example/lw"},
        keep=("#id_webhook_url",),
    ),
    BadSubmit(
        "staff",
        "/staff/partner-limits/",
        "form[action='/staff/partner-limits/']",
        {"#id_per_transaction_max": "-5", "#id_daily_max": "1000", "#id_outstanding_max": "2.5"},
        keep=("#id_per_transaction_max", "#id_daily_max", "#id_outstanding_max"),
    ),
    BadSubmit(
        "staff",
        "/staff/fx/",
        "form[action='/staff/fx/propose/']",
        {"#id_mid": "about 3700", "#id_spread_bps": "80"},
        keep=("#id_mid", "#id_spread_bps"),
    ),
    BadSubmit("staff", "/staff/remittances/", "main form", {"#id_q": "no such/thing"}, ("#id_q",)),
    BadSubmit(
        "staff",
        "/staff/momo/float/",
        "[data-testid=threshold-form]",
        {"#id_amount": "250000.5"},
        keep=("#id_amount",),
    ),
    BadSubmit(
        "staff",
        "/staff/compliance/retention/",
        "[data-testid=hold-form]",
        {"#id_subject": "sub_nobody", "#id_reason": "FIU letter"},
        keep=("#id_subject", "#id_reason"),
    ),
    BadSubmit(
        "staff",
        "/staff/compliance/rules/",
        "[data-testid=rule-form]",
        {"#id_code": "BIG", "#id_effective_from": "2030-01-01 00:00", "#id_parameters": "{"},
        keep=("#id_code", "#id_effective_from", "#id_parameters"),
    ),
    BadSubmit("staff", "/staff/commission/", "[data-testid=statement-form]", {}),
    BadSubmit(
        "staff",
        "/staff/compliance/goaml/",
        "[data-testid=goaml-form]",
        {"#id_start": "2026-03-02", "#id_end": "2026-03-01"},
        keep=("#id_start", "#id_end"),
    ),
    BadSubmit("mtn", "/mtn/commission/", "[data-testid=statement-form]", {}),
)


def _bad_submit(w: Watch, site: str, bad: BadSubmit, size: str) -> list[str]:
    """Submit ``bad``; what is wrong with the answer (status, summary, messages beside the
    fields, kept input, axe-core, width)."""
    page, where = w.page, f"{bad.path} {bad.form} ({size})"
    w.page.goto(f"{site}{bad.path}")
    for selector, value in bad.selects.items():
        page.select_option(f"{bad.form} {selector}", value)
    for selector, value in bad.typed.items():
        page.fill(f"{bad.form} {selector}", value)
    with page.expect_navigation() as answer:
        page.click(f"{bad.form} button[type=submit] >> nth=0")
    status = answer.value.status if answer.value else 0
    problems = []
    if status not in (400, 404, 422):
        problems.append(f"{where}: answered {status}, not 400 (or 422)")
    if not page.locator(".error-summary").is_visible():
        problems.append(f"{where}: no error summary")
    if page.locator(".field-error, .error-summary li").count() == 0:
        problems.append(f"{where}: no message")
    for selector in bad.keep:
        kept = page.input_value(f"{bad.form} {selector}")
        if kept != bad.typed[selector]:
            problems.append(f"{where}: {selector} came back as {kept!r}, not as typed")
    return problems + _page_problems(w, bad.path, size)
