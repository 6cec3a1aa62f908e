"""Demo data of the goAML export (called by ``lightway seed-demo``; idempotent).

- The FIU configuration ``demo`` on the UAE goAML 5.0.2 schema (the one shipped schema of
  the 5.x generation). UAE's report list has no CTR code, so the demo files its CTR as
  ``DPMSR``, the UAE's threshold-based cash report, with indicator ``DPMSI``; a real FIU's
  XSD (Uganda FIA: STR and LCTR) brings its own codes. The threshold is UGX 1,000,000 so
  the small demo balances cross it (Uganda's legal one is above UGX 20,000,000).
- Two demo customers whose KYC names need transliteration (Cyrillic, accents) and three
  P2P transfers between them at or above the threshold, plus one below it, so
  ``lightway export goaml --report CTR --fiu demo --from DAY --to DAY`` has data right
  after seeding (DAY: the seed's day, Kampala time).
"""

from __future__ import annotations

from datetime import date, datetime

from django.contrib.auth import get_user_model
from django.db import transaction

from lightway.application.goaml.config import fiu_config_create, fiu_config_input
from lightway.application.identity.profiles import profile_create
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.application.transactions.wallets import wallet_open
from lightway.data.goaml.models import FiuConfig
from lightway.data.identity.models import KycTier, Profile, Realm
from lightway.data.money import Money
from lightway.data.wallets.models import Wallet

DEMO_FIU = "demo"
DEMO_CONFIG: dict[str, object] = {
    "fiu": DEMO_FIU,
    "effective_from": date(2026, 1, 1),
    "fiu_name": "Demo FIU (UAE goAML 5.0.2 schema)",
    "xsd_file": "goAMLSchema-5.0.2-uae-fiu.xsd",
    "timezone": "Africa/Kampala",
    "rentity_id": 1001,
    "rentity_branch": "Kampala head office",
    "currency_code_local": "UGX",
    "report_codes": {"STR": "STR", "CTR": "DPMSR"},
    # Platform indicators (AML rule codes of lightway.application.aml) -> UAE codes.
    "indicator_codes": {
        "structuring": ["STRUC"],
        "velocity": ["ARIET"],
        "dormant": ["DRMTA"],
        "fan_in": ["FNACC"],
        "fan_out": ["ALP07"],
        "round_trip": ["EJEUA"],
        "sanctions": ["ITLSL"],
        "threshold": ["DPMSI"],
    },
    "ctr_indicators": ["DPMSI"],
    "ctr_thresholds": {"UGX": 1_000_000, "GHS": 500_000},
    "ctr_batch_size": 500,
    "ctr_daily": True,  # the daily job exports each past local day's CTRs
    "codes": {
        "institution_name": "LightWay Finance",
        "institution_code": "LWF-DEMO-001",
        "branch": "Head office",
        "transaction_location": "LightWay mobile app",
        "momo_institution_name": "MTN Mobile Money Uganda",
        "momo_institution_code": "MTNMOMO-UG",
        "country": "UG",
        "transmode_code": "MB",
        "transmode_comment": "E",
        "funds_code_wallet": "ELCFT",
        "funds_code_momo": "ELCFT",
        "contact_type": "PRIVT",
        "communication_type": "M",
        "signatory_role": "PAH",
        "account_type": "PREPD",
    },
}
DEMO_PASSWORD = "lightway-demo-2026"
# username, KYC name, phone, birth date, ID number, opening UGX balance
DEMO_CUSTOMERS = (
    ("nadia", "Надежда Петрова", "+256772123491", "1988-03-14", "CF88031412ABCD", 6_000_000),
    ("jose", "José Ssempala-Müller", "+256772123492", "1979-11-02", "CM79110298EFGH", 100_000),
)
# (from, to, amount UGX, description)
DEMO_TRANSFERS = (
    ("nadia", "jose", 1_500_000, "School fees"),
    ("nadia", "jose", 2_000_000, "Land deposit"),
    ("jose", "nadia", 1_000_000, "Repayment"),
    ("nadia", "jose", 250_000, "Groceries"),  # below the threshold: not in the CTR
)


def _config(now: datetime) -> int:
    if FiuConfig.objects.filter(fiu=DEMO_FIU).exists():
        return 0
    fiu_config_create(data=fiu_config_input(DEMO_CONFIG), actor="system", now=now)
    return 1


def _customer(
    username: str, name: str, phone: str, birth: str, id_number: str, now: datetime
) -> Wallet:
    user, _made = get_user_model().objects.get_or_create(username=username)
    if not user.has_usable_password():
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    if not Profile.objects.filter(user_id=user.pk).exists():
        with transaction.atomic():
            profile = profile_create(
                user_id=user.pk,
                realm=Realm.CUSTOMER,
                now=now,
                country="UG",
                phone=phone,
                name=name,
                birth_date=birth,
                id_type="national_id",
                id_number=id_number,
            )
            Profile.objects.filter(pk=profile.pk).update(
                kyc_tier=KycTier.SUMSUB_VERIFIED,
                phone_verified_at=now,
                terms_version="demo",
                terms_accepted_at=now,
            )
    return wallet_open(owner_id=user.pk, currency_code="UGX", now=now)


def goaml_demo_seed(*, now: datetime) -> int:
    """The ``demo`` FIU, two customers and their transfers; what was created (a count)."""
    created = _config(now)
    wallets: dict[str, Wallet] = {}
    from lightway.application.demo import _opening_balance  # demo imports this module

    for username, name, phone, birth, id_number, balance in DEMO_CUSTOMERS:
        wallet = _customer(username, name, phone, birth, id_number, now)
        wallets[username] = wallet
        created += _opening_balance(
            account_id=wallet.account_id,
            money=Money.of(balance, "UGX"),
            key=f"demo:opening:{wallet.id}",
            description="Demo opening balance",
            object_type="wallet",
            object_id=str(wallet.id),
            now=now,
        )
    for i, (source, destination, amount, description) in enumerate(DEMO_TRANSFERS):
        outcome = transfer_create(
            client_id=wallets[source].owner_id,
            idempotency_key=f"demo-goaml-{i}",
            request=TransferRequest(
                source_wallet_id=wallets[source].id,
                destination_wallet_id=wallets[destination].id,
                amount=amount,
                currency="UGX",
                description=description,
            ),
            now=now,
        )
        created += 0 if outcome.replayed else 1
    return created
