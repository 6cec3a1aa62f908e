"""Demo data for ``make run``: customers with funded wallets, a staff user, fee schedules.

Each opening balance is money created from the house equity account: its journal entry and
an audit record (``ledger.opening_balance`` by ``system`` on the wallet) commit together.

Idempotent: running it again changes nothing. Logins and API tokens are fixed so the
README's examples work; they are demo-only and printed by ``lightway up``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from lightway.application.transactions.commission_seed import fee_schedules_seed_defaults
from lightway.application.transactions.wallets import wallet_open
from lightway.data.audit.services import audit_record
from lightway.data.ledger.models import AccountKind, JournalEntry
from lightway.data.ledger.services import Leg, entry_post, house_account
from lightway.data.money import Money
from lightway.security.tokens import token_issue

DEMO_PASSWORD = "lightway-demo-2026"

# username, display name, API token, opening balances in minor units
CUSTOMERS: tuple[tuple[str, str, str, dict[str, int]], ...] = (
    ("amara", "Amara N.", "lw_demo_amara_4f9c2e", {"UGX": 2_500_000, "GHS": 150_000}),
    ("kofi", "Kofi M.", "lw_demo_kofi_7b1d8a", {"UGX": 800_000, "GHS": 90_000}),
    ("grace", "Grace A.", "lw_demo_grace_2a6e5c", {"UGX": 50_000, "XAF": 300_000}),
)
STAFF = ("admin", "lw_demo_admin_9e3f1b")


@dataclass
class DemoLogin:
    username: str
    password: str
    token: str
    role: str
    wallets: dict[str, str] = field(default_factory=dict)


@dataclass
class DemoSeedResult:
    logins: list[DemoLogin] = field(default_factory=list)
    created: int = 0


def _demo_user(
    result: DemoSeedResult, username: str, token: str, now: datetime, defaults: dict[str, object]
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
    token_issue(user_id=user.pk, raw=token, name="demo", now=now)
    return user


def demo_seed(*, now: datetime, progress: Callable[[str], None] | None = None) -> DemoSeedResult:
    say = progress or (lambda _msg: None)
    result = DemoSeedResult()
    result.created += fee_schedules_seed_defaults(now=now)
    say("fee schedules")

    admin_name, admin_token = STAFF
    _demo_user(result, admin_name, admin_token, now, {"is_staff": True, "is_superuser": True})
    result.logins.append(
        DemoLogin(admin_name, DEMO_PASSWORD, admin_token, "LightWay administrator")
    )
    say("staff administrator")

    for username, display, token, balances in CUSTOMERS:
        first, _, last = display.partition(" ")
        user = _demo_user(result, username, token, now, {"first_name": first, "last_name": last})
        login = DemoLogin(username, DEMO_PASSWORD, token, "customer")
        for code, amount in balances.items():
            wallet = wallet_open(owner_id=user.pk, currency_code=code, now=now)
            login.wallets[code] = str(wallet.id)
            key = f"demo:opening:{wallet.id}"
            if JournalEntry.objects.filter(idempotency_key=key).exists():
                continue
            equity = house_account(kind=AccountKind.EQUITY, currency=code, now=now)
            try:
                with transaction.atomic():
                    entry = entry_post(
                        kind="opening_balance",
                        currency=code,
                        legs=[Leg(equity.pk, -amount), Leg(wallet.account_id, amount)],
                        idempotency_key=key,
                        description=f"Demo opening balance {Money.of(amount, code)}",
                        now=now,
                    )
                    # Money created from the equity account: audited with the entry, in
                    # its transaction (references and amounts only, no personal data).
                    audit_record(
                        actor="system",
                        action="ledger.opening_balance",
                        object_type="wallet",
                        object_id=str(wallet.id),
                        data={"entry": entry.id, "currency": code, "amount": amount},
                        now=now,
                    )
                result.created += 1
            except IntegrityError:
                pass  # funded concurrently by another seed run
        result.logins.append(login)
        say(f"customer {username}")
    return result
