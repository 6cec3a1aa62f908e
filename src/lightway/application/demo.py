"""Demo data for ``make run``: customers with funded wallets, staff for every role, a partner.

Each opening balance is money created from the house equity account: its journal entry and
an audit record (``ledger.opening_balance`` by ``system`` on the wallet) commit together.

Idempotent: running it again changes nothing. Logins and API tokens are fixed so the
README's examples work; they are demo-only and printed by ``lightway up``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from lightway.application.errors import Conflict
from lightway.application.identity.phones import MARKETS
from lightway.application.identity.profiles import profile_create
from lightway.application.staff.accounts import role_grant
from lightway.application.transactions.commission_seed import fee_schedules_seed_defaults
from lightway.application.transactions.wallets import wallet_open
from lightway.data.audit.services import audit_record
from lightway.data.identity.models import KycTier, Partner, Profile, Realm
from lightway.data.ledger.kinds import OPENING_BALANCE
from lightway.data.ledger.models import AccountKind, JournalEntry
from lightway.data.ledger.services import Leg, entry_post, house_account
from lightway.data.money import Money
from lightway.infrastructure.config import Env
from lightway.security.mfa.models import TotpDevice
from lightway.security.mfa.totp import totp_device_new
from lightway.security.policy import ROLE_REALM, Role
from lightway.security.tokens import token_issue

DEMO_PASSWORD = "lightway-demo-2026"

# username, display name, API token, opening balances in minor units
CUSTOMERS: tuple[tuple[str, str, str, dict[str, int]], ...] = (
    ("amara", "Amara N.", "lw_demo_amara_4f9c2e", {"UGX": 2_500_000, "GHS": 150_000}),
    ("kofi", "Kofi M.", "lw_demo_kofi_7b1d8a", {"UGX": 800_000, "GHS": 90_000}),
    ("grace", "Grace A.", "lw_demo_grace_2a6e5c", {"UGX": 50_000, "XAF": 300_000}),
)

# username -> (country, phone, email, ID type, ID number, KYC tier). Stored encrypted in the
# profile (tests check that a database dump holds none of these in clear).
IDENTITIES: dict[str, tuple[str, str, str, str, str, int]] = {
    "amara": (
        "UG",
        "+256772123401",
        "amara.nakato@example.com",
        "national_id",
        "CM90012345ABCD",
        3,
    ),
    "kofi": ("GH", "+233241234567", "kofi.mensah@example.com", "national_id", "GHA7123456789", 3),
    "grace": ("CM", "+237670123456", "grace.atangana@example.com", "national_id", "CM112233445", 2),
}

# Staff of both realms, one per role (username, role); "admin" above is the LightWay admin.
STAFF_ROLES: tuple[tuple[str, str], ...] = (
    ("admin", "lw_admin"),
    ("ops", "lw_operations"),
    ("finance", "lw_finance"),
    ("compliance", "lw_compliance"),
    # a second compliance officer: STR filings are proposed by one and approved by another
    ("compliance2", "lw_compliance"),
    ("support", "lw_support"),
    ("kyc", "lw_kyc_reviewer"),
    ("mtnadmin", "mtn_admin"),
    ("mtn", "mtn_monitoring"),
    ("mtnfinance", "mtn_finance"),
)
DEMO_PARTNER = ("acme-remit", "Acme Remit (demo IMTO)")

# MoMo float low-balance thresholds (minor units) per (product, market). The MoMo simulator
# opens every disbursement and remittance float at 100,000,000 in the market's currency, so
# Uganda's disbursement float (busiest payouts; threshold UGX 150,000,000) shows as low in the
# demo and the others as ok. Collection floats receive money: no threshold.
DEMO_FLOAT_THRESHOLDS: dict[tuple[str, str], int] = {
    ("disbursement", "mtnuganda"): 150_000_000,  # UGX 150,000,000
    ("remittance", "mtnuganda"): 50_000_000,  # UGX 50,000,000
    ("disbursement", "mtnghana"): 20_000_000,  # GHS 200,000.00
    ("remittance", "mtnghana"): 10_000_000,  # GHS 100,000.00
    ("disbursement", "mtncameroon"): 20_000_000,  # XAF 20,000,000
    ("remittance", "mtncameroon"): 10_000_000,  # XAF 10,000,000
    ("disbursement", "mtnrwanda"): 20_000_000,  # RWF 20,000,000
    ("remittance", "mtnrwanda"): 10_000_000,  # RWF 10,000,000
    ("disbursement", "mtnzambia"): 20_000_000,  # ZMW 200,000.00
    ("remittance", "mtnzambia"): 10_000_000,  # ZMW 100,000.00
    ("disbursement", "mtnivorycoast"): 20_000_000,  # XOF 20,000,000
    ("remittance", "mtnivorycoast"): 10_000_000,  # XOF 10,000,000
    ("disbursement", "sandbox"): 1_000_000,  # EUR 10,000.00
    ("remittance", "sandbox"): 500_000,  # EUR 5,000.00
}


def demo_totp_key(username: str) -> str:
    """The fixed TOTP secret (hex) of a demo staff user: ``lightway demo-totp`` prints codes."""
    return hashlib.sha256(f"lightway-demo-totp:{username}".encode()).hexdigest()[:40]


@dataclass
class DemoLogin:
    username: str
    password: str
    token: str
    role: str
    # Customers sign in with their country and phone number, never the user name.
    phone: str = ""
    country: str = ""
    wallets: dict[str, str] = field(default_factory=dict)


@dataclass
class DemoPartnerKey:
    """The demo partner's API key (docs/partner-api.md's walk-through signs with it)."""

    partner: str
    key_id: str
    secret: str
    prefunds: str


@dataclass
class DemoSeedResult:
    logins: list[DemoLogin] = field(default_factory=list)
    partner_api: list[DemoPartnerKey] = field(default_factory=list)
    created: int = 0  # records this run made (0: the demo data was there already)


def _demo_user(
    result: DemoSeedResult,
    username: str,
    token: str | None,
    now: datetime,
    defaults: dict[str, object],
) -> AbstractBaseUser:
    """The demo user with its fixed password and API token, created once (audited)."""
    with transaction.atomic():
        user, made = get_user_model().objects.get_or_create(username=username, defaults=defaults)
        if made:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
            audit_record(
                actor="system",
                action="auth.user.create",
                object_type="auth.user",
                object_id=str(user.pk),
                data={"fields": sorted([*defaults, "password", "username"]), "demo": True},
                now=now,
            )
            result.created += 1
    if token:
        token_issue(user_id=user.pk, raw=token, name="demo", now=now)
    return user


def _demo_profile(user_id: int, realm: str, now: datetime, **fields: object) -> None:
    if Profile.objects.filter(user_id=user_id).exists():
        return
    with transaction.atomic():
        tier = fields.pop("tier", KycTier.REGISTERED)
        verified = now if realm == Realm.CUSTOMER else None
        profile = profile_create(user_id=user_id, realm=realm, now=now, **fields)  # type: ignore[arg-type]
        Profile.objects.filter(pk=profile.pk).update(
            kyc_tier=tier,
            phone_verified_at=verified,
            email_verified_at=verified,
            terms_version="demo",
            terms_accepted_at=now,
        )


def _demo_staff(result: DemoSeedResult, username: str, role: str, now: datetime) -> None:
    realm = ROLE_REALM[role]
    user = _demo_user(
        result,
        username,
        None,
        now,
        {"is_staff": realm == Realm.LIGHTWAY, "is_superuser": role == Role.LW_ADMIN},
    )
    # An address (the simulator's inbox receives it) so operational alerts, such as a low
    # MoMo float, reach the staff of the roles that handle them.
    _demo_profile(user.pk, realm, now, country="UG", email=f"{username}@staff.lightway.example")
    role_grant(user_id=user.pk, role=role, actor="system", now=now)
    if not TotpDevice.objects.filter(user_id=user.pk).exists():
        totp_device_new(
            user_id=user.pk,
            name="demo",
            now=now,
            confirmed=True,
            key=bytes.fromhex(demo_totp_key(username)),
        )


# The demo partner's prefund opening balances (minor units).
# USD 50,000.00 (the remittances of docs/partner-api.md are sent from it), UGX 200,000,000,
# GHS 50,000.00.
DEMO_PREFUND: dict[str, int] = {"USD": 5_000_000, "UGX": 200_000_000, "GHS": 5_000_000}


def demo_webhook_url() -> str:
    """Where the demo partner's webhooks go: LIGHTWAY_DEMO_WEBHOOK_URL, else the webhook
    receiver simulator of ``lightway up`` (LIGHTWAY_SIM_WEBHOOKS_PORT, 8113)."""
    configured = str(getattr(settings, "LIGHTWAY_DEMO_WEBHOOK_URL", "") or "")
    if configured:
        return configured
    port = Env.int("LIGHTWAY_SIM_WEBHOOKS_PORT", 8113)
    return f"http://127.0.0.1:{port}/hooks/{DEMO_PARTNER[0]}"


def _demo_partner(now: datetime) -> int:
    """Onboard the demo partner (once) and fund its prefund from equity (audited)."""
    from lightway.application.partners.onboarding import (
        ContactIn,
        PartnerDetails,
        partner_onboard,
    )
    from lightway.application.partners.prefund import partner_prefund_account

    created = 0
    if not Partner.objects.filter(code=DEMO_PARTNER[0]).exists():
        try:
            partner_onboard(
                details=PartnerDetails(
                    code=DEMO_PARTNER[0],
                    name=DEMO_PARTNER[1],
                    legal_name="Acme Remit Ltd (demo)",
                    registration_number="DEMO-00000001",
                    country="GB",
                    address="1 Demo Street, London (demo data)",
                    markets=("UG", "GH", "CM", "RW", "ZM", "CI"),
                    currencies=("USD", "UGX", "GHS", "XAF", "RWF", "ZMW", "XOF"),
                    webhook_url=demo_webhook_url(),
                    contacts=(
                        ContactIn(
                            role="technical",
                            name="Dee Veloper",
                            email="dev@acme-remit.example",
                            phone="+447911123456",
                        ),
                    ),
                ),
                actor="system",
                now=now,
            )
            created += 1
        except Conflict:
            pass  # onboarded concurrently by another seed run
    for code, amount in DEMO_PREFUND.items():
        account = partner_prefund_account(partner_code=DEMO_PARTNER[0], currency_code=code, now=now)
        created += _opening_balance(
            account_id=account.pk,
            money=Money.of(amount, code),
            key=f"demo:opening:prefund:{account.pk}",
            description="Demo prefund opening balance",
            object_type="partner_prefund",
            object_id=account.code,
            now=now,
        )
    return created


def _opening_balance(
    *,
    account_id: int,
    money: Money,
    key: str,
    description: str,
    object_type: str,
    object_id: str,
    now: datetime,
) -> int:
    """Fund a demo account from equity once (``key``): the entry and its audit record in one
    transaction (references and amounts only, no personal data). 1 if made, else 0 (made
    before, or concurrently by another seed run)."""
    if JournalEntry.objects.filter(idempotency_key=key).exists():
        return 0
    code = money.currency.code
    equity = house_account(kind=AccountKind.EQUITY, currency=code, now=now)
    try:
        with transaction.atomic():
            entry = entry_post(
                kind=OPENING_BALANCE,
                currency=code,
                legs=[Leg(equity.pk, -money.amount), Leg(account_id, money.amount)],
                idempotency_key=key,
                description=f"{description} {money}",
                now=now,
            )
            audit_record(
                actor="system",
                action="ledger.opening_balance",
                object_type=object_type,
                object_id=object_id,
                data={"entry": entry.id, "currency": code, "amount": money.amount},
                now=now,
            )
    except IntegrityError:
        return 0
    return 1


def demo_seed(*, now: datetime, progress: Callable[[str], None] | None = None) -> DemoSeedResult:
    say = progress or (lambda _msg: None)
    result = DemoSeedResult()
    result.created += fee_schedules_seed_defaults(now=now)
    say("fee schedules")
    from lightway.application.kyc.tiers import kyc_limits_seed_defaults

    result.created += kyc_limits_seed_defaults(now=now)
    say("KYC tier limits")

    # Staff get no API token: staff never hold bearer credentials (docs/api.md).
    for username, role in STAFF_ROLES:
        _demo_staff(result, username, role, now)
        result.logins.append(
            DemoLogin(
                username,
                DEMO_PASSWORD,
                "",
                f"{Role(role).label} (2FA: lightway demo-totp {username})",
            )
        )
    say("staff of every role")

    result.created += _demo_partner(now)
    say("partner")
    partner = Partner.objects.get(code=DEMO_PARTNER[0])
    result.partner_api.append(_demo_partner_api(result, partner, now))
    say("partner prefunds, limits, API key and FX rates")

    for username, _display, token, balances in CUSTOMERS:
        country, phone, email, id_type, id_number, tier = IDENTITIES[username]
        user = _demo_user(result, username, token, now, {})
        _demo_profile(
            user.pk,
            Realm.CUSTOMER,
            now,
            country=country,
            phone=phone,
            email=email,
            name=_display,
            id_type=id_type,
            id_number=id_number,
            tier=tier,
        )
        login = DemoLogin(username, DEMO_PASSWORD, token, "customer", phone=phone, country=country)
        for code, amount in balances.items():
            wallet = wallet_open(owner_id=user.pk, currency_code=code, now=now)
            login.wallets[code] = str(wallet.id)
            result.created += _opening_balance(
                account_id=wallet.account_id,
                money=Money.of(amount, code),
                key=f"demo:opening:{wallet.id}",
                description="Demo opening balance",
                object_type="wallet",
                object_id=str(wallet.id),
                now=now,
            )
        result.logins.append(login)
        say(f"customer {username}")

    from lightway.application.momo.floats import float_check_enqueue, float_thresholds_seed

    result.created += float_thresholds_seed(values=DEMO_FLOAT_THRESHOLDS, now=now)
    # A first balance check as soon as the worker runs (then every 5 minutes).
    float_check_enqueue(actor="system")
    say("MoMo float thresholds")

    from lightway.application.fx.feeds import fx_feed_import, fx_feeds_import_enqueue
    from lightway.integration.ratefeed.peg import PegFeed

    # The CFA peg now; the ECB and regional feeds (simulators under `lightway up`) as soon
    # as the worker runs (then every 10 minutes).
    result.created += fx_feed_import(feed=PegFeed(), now=now).imported
    fx_feeds_import_enqueue(actor="system")
    say("FX rates")
    from lightway.application.settlement.config import markets
    from lightway.application.settlement.parties import settlement_parties_seed_demo
    from lightway.application.settlement.windows import windows_open_ensure

    # Demo bank accounts for LightWay, MTN and the partner (the simulator takes any id).
    result.created += settlement_parties_seed_demo(
        currencies=markets(), partner_codes=(DEMO_PARTNER[0],), now=now
    )
    windows_open_ensure(now=now)
    say("settlement accounts and windows")
    from lightway.application.goaml.demo import goaml_demo_seed

    result.created += goaml_demo_seed(now=now)
    say("goAML: the demo FIU and large transfers for a CTR")
    result.created += _demo_report(now)
    say("an example report")
    result.created += _demo_retention(result, now)
    say("retention policies, a closed customer due for erasure and one under legal hold")

    from django.contrib.auth import get_user_model

    from lightway.application.aml.demo import aml_demo_seed

    names = [name for name, *_ in CUSTOMERS] + ["compliance", "compliance2"]
    ids = dict(get_user_model().objects.filter(username__in=names).values_list("username", "pk"))
    result.created += aml_demo_seed(
        users=ids, maker_id=ids["compliance"], checker_id=ids["compliance2"], now=now
    )
    say("AML rules, sanctions list, alerts and cases")
    return result


DEMO_REPORT_BY = "system:demo"


def _demo_report(now: datetime) -> int:
    """One finished report run (float positions of the last seven days, PDF) so that
    /staff/reports/ is not empty; made once."""
    from datetime import timedelta

    from lightway.application.reports.runs import (
        report_params,
        report_run_execute,
        report_run_request,
    )
    from lightway.data.reports.models import ReportRun

    if ReportRun.objects.filter(requested_by=DEMO_REPORT_BY).exists():
        return 0
    today = now.date()
    params = report_params(kind="floats", start=today - timedelta(days=6), end=today, fmt="pdf")
    run = report_run_request(params=params, requested_by=DEMO_REPORT_BY, now=now, enqueue=False)
    report_run_execute(run_id=int(run.pk), clock=lambda: now)
    return 1


# Retention (docs/retention.md): two former customers whose accounts closed 11 years ago,
# one due for erasure (``lightway retention plan`` counts it), one under a legal hold placed
# by the demo compliance officer (shown on /staff/compliance/retention/).
DEMO_FORMER = (("demo.former", "Former Customer"), ("demo.held", "Held Customer"))


def _demo_retention(result: DemoSeedResult, now: datetime) -> int:
    from datetime import timedelta

    from lightway.application.retention.erasure import customer_close
    from lightway.application.retention.holds import hold_place
    from lightway.data.retention.defaults import policies_seed
    from lightway.data.retention.models import LegalHold, RetentionPolicy

    created = policies_seed(RetentionPolicy)
    closed = now - timedelta(days=366 * 11)
    for username, name in DEMO_FORMER:
        user = _demo_user(result, username, None, now, {})
        _demo_profile(user.pk, Realm.CUSTOMER, now, country="UG", name=name)
        if Profile.objects.filter(user_id=user.pk, closed_at__isnull=True).exists():
            customer_close(user_id=user.pk, actor="system", now=closed)
            created += 1
    held = get_user_model().objects.get(username=DEMO_FORMER[1][0])
    if not LegalHold.objects.filter(user_id=held.pk).exists():
        officer = get_user_model().objects.get(username="compliance")
        hold_place(
            subject=Profile.objects.get(user_id=held.pk).subject,
            case_ref="DEMO-AML-1",
            reason="Demo: records requested by the FIU",
            placed_by=officer.pk,
            now=now,
        )
        created += 1
    return created


# The demo partner's remittance set-up (docs/partner-api.md): a fixed API key (demo only,
# printed by ``lightway up``), limits per currency, and approved FX rates (its prefunds are
# funded by ``_demo_partner``, DEMO_PREFUND).
DEMO_PARTNER_KEY = (
    "pk_live_acde0000000000000000d3e0",
    "sk_live_acme-remit-demo-secret-not-for-production",
)
# (per transaction, per UTC day, reserved at once), minor units
DEMO_PARTNER_LIMITS = {
    "USD": (500_000, 5_000_000, 2_500_000),
    "UGX": (20_000_000, 200_000_000, 100_000_000),
}
# base, quote, mid, spread in basis points: illustrative treasury rates, not market data.
DEMO_RATES = (("USD", "UGX", "3700", 100), ("USD", "GHS", "15.2", 150))


def _demo_partner_api(result: DemoSeedResult, partner: Partner, now: datetime) -> DemoPartnerKey:
    from lightway.application.remittances.limits import partner_limit_set
    from lightway.application.remittances.partners import partner_client_id
    from lightway.data.remittances.models import PartnerLimit
    from lightway.security.apiauth.models import PartnerApiKey
    from lightway.security.crypto import encrypt
    from lightway.security.signatures import secret_context

    key_id, secret = DEMO_PARTNER_KEY
    partner_client_id(partner=partner, now=now)
    with transaction.atomic():
        if not PartnerApiKey.objects.filter(key_id=key_id).exists():
            PartnerApiKey.objects.create(
                partner_id=partner.pk,
                key_id=key_id,
                secret_ct=encrypt(secret, context=secret_context(key_id)),
                created_at=now,
                created_by="system:demo",
            )
            audit_record(
                actor="system",
                action="partner_key.create",
                object_type="apiauth.partner_api_key",
                object_id=key_id,
                data={"partner_id": partner.pk, "demo": True},
                now=now,
            )
            result.created += 1
    for code in DEMO_PARTNER_LIMITS:
        if not PartnerLimit.objects.filter(partner_id=partner.pk, currency=code).exists():
            per_tx, daily, outstanding = DEMO_PARTNER_LIMITS[code]
            partner_limit_set(
                partner_id=partner.pk,
                currency_code=code,
                per_transaction_max=per_tx,
                daily_max=daily,
                outstanding_max=outstanding,
                actor="system:demo",
                now=now,
            )
            result.created += 1
    result.created += _demo_rates(now)
    return DemoPartnerKey(
        partner.code,
        key_id,
        secret,
        ", ".join(str(Money.of(a, c)) for c, a in DEMO_PREFUND.items()),
    )


def _demo_rates(now: datetime) -> int:
    """An approved rate for each demo pair unless one that is still fresh exists (a demo
    started again days later gets new ones: a stale rate stops quoting)."""

    from lightway.application.errors import PaymentRefused
    from lightway.application.fx.ratebook import fx_rate_approve, fx_rate_propose
    from lightway.application.fx.rates import fx_rate_for

    made = 0
    for base, quote, mid, bps in DEMO_RATES:
        try:
            fx_rate_for(send=base, receive=quote, now=now)
            continue
        except PaymentRefused:
            pass
        # Maker-checker like any treasury rate (docs/fx.md): one proposes, another approves.
        proposed = fx_rate_propose(
            base=base, quote=quote, mid=mid, spread_bps=bps, actor="system:demo-treasury", now=now
        )
        fx_rate_approve(rate_id=proposed.pk, actor="system:demo-checker", now=now)
        made += 1
    return made


# --- the fault run's own account ---------------------------------------------------------------

# ``lightway momo fault-run`` pays from this account, never from a real (or demo) customer's:
# its payouts, fees and daily limits are its own, and nobody's history shows them.
FAULT_RUN_USERNAME = "demo-fault-run"
FAULT_RUN_NAME = "Fault-run test account (demo)"
# The market whose KYC limits apply to a currency's fault-run wallet (EUR: MTN's sandbox).
_FAULT_RUN_COUNTRY = {"EUR": "UG"} | {code: country for country, code in MARKETS.items()}


@dataclass(frozen=True)
class FaultRunAccount:
    user_id: int
    username: str
    wallet_id: str
    topped_up: int  # minor units added from equity for this run (0: enough already)


def _fault_run_quiet(user_id: int, now: datetime) -> None:
    """The test account has no phone or email: its payouts notify nobody (every channel
    off for every category that can be turned off), rather than warn on each payout."""
    from lightway.application.notifications.service import (
        CATEGORIES,
        CHANNELS,
        notification_preference_set,
    )
    from lightway.data.notify.models import Category

    for channel in CHANNELS:
        for category in CATEGORIES:
            if category != Category.SECURITY:
                notification_preference_set(
                    user_id=user_id,
                    channel=channel,
                    category=category,
                    enabled=False,
                    now=now,
                    actor="system:demo",
                )


def demo_fault_run_account(
    *, currency_code: str, needed_minor: int, run_key: str, now: datetime
) -> FaultRunAccount:
    """The fault run's own customer account (created once, tier 3, no password, no phone)
    with a wallet in ``currency_code`` holding at least ``needed_minor`` available: what is
    missing is added from equity once per ``run_key`` (an audited opening-balance entry)."""
    country = _FAULT_RUN_COUNTRY.get(currency_code, "UG")
    with transaction.atomic():
        user, made = get_user_model().objects.get_or_create(username=FAULT_RUN_USERNAME)
        if made:
            user.set_unusable_password()  # a test account: nobody signs in as it
            user.save(update_fields=["password"])
            audit_record(
                actor="system",
                action="auth.user.create",
                object_type="auth.user",
                object_id=str(user.pk),
                data={"fields": ["username"], "demo": True, "purpose": "fault-run"},
                now=now,
            )
    _demo_profile(
        user.pk,
        Realm.CUSTOMER,
        now,
        country=country,
        name=FAULT_RUN_NAME,
        tier=KycTier.SUMSUB_VERIFIED,
    )
    if made:
        _fault_run_quiet(user.pk, now)
    wallet = wallet_open(owner_id=user.pk, currency_code=currency_code, now=now)
    available = wallet.account.balance - wallet.account.held
    missing = max(needed_minor - available, 0)
    topped_up = 0
    if missing:
        made_entry = _opening_balance(
            account_id=wallet.account_id,
            money=Money.of(missing, currency_code),
            key=f"demo:fault-run:{wallet.id}:{run_key}",
            description="Fault-run test account top-up",
            object_type="wallet",
            object_id=str(wallet.id),
            now=now,
        )
        topped_up = missing if made_entry else 0
    return FaultRunAccount(int(user.pk), FAULT_RUN_USERNAME, str(wallet.id), topped_up)
