"""Builders for the goAML tests: two FIU configurations (UAE 5.0.2 and PPATK 4.0.2 schemas,
each with its own codes), customers with KYC data, and large P2P transfers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from lightway.application.goaml.config import fiu_config_create, fiu_config_input
from lightway.application.identity.profiles import profile_set_pii
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.data.goaml.models import FiuConfig
from tests.factories import customer, funded_wallet

UAE: dict[str, Any] = {
    "fiu": "demo-uae",
    "effective_from": date(2026, 1, 1),
    "fiu_name": "Demo FIU on the UAE goAML 5.0.2 schema",
    "xsd_file": "goAMLSchema-5.0.2-uae-fiu.xsd",
    "timezone": "Africa/Kampala",
    "rentity_id": 4711,
    "rentity_branch": "Kampala head office",
    "currency_code_local": "UGX",
    "report_codes": {"STR": "STR", "CTR": "DPMSR"},
    "indicator_codes": {"structuring": ["STRUC"], "dormant": ["DRMTA"]},
    "ctr_indicators": ["DPMSI"],
    "ctr_thresholds": {"UGX": 1_000_000},
    "ctr_batch_size": 500,
    "codes": {
        "institution_name": "LightWay Finance",
        "institution_code": "LWF-001",
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

PPATK: dict[str, Any] = {
    **UAE,
    "fiu": "demo-ppatk",
    "fiu_name": "Demo FIU on the PPATK goAML 4.0.2 schema",
    "xsd_file": "goAMLSchema-4.0.2-ppatk.xsd",
    "report_codes": {"STR": "LTKM", "CTR": "LTKTM"},
    "indicator_codes": {"structuring": ["AAA001"], "dormant": ["AAA002"]},
    "ctr_indicators": [],
    "codes": {
        **UAE["codes"],
        "transmode_code": "TRM",
        "funds_code_wallet": "REK",
        "funds_code_momo": "EFK",
        "contact_type": "R",
        "communication_type": "MOB",
        "signatory_role": "PR",
        "account_type": "A",
    },
}


def make_config(now: datetime, raw: dict[str, Any] = UAE, **changes: Any) -> FiuConfig:
    return fiu_config_create(
        data=fiu_config_input({**raw, **changes}), actor="system:test", now=now
    )


def person(username: str, now: datetime, *, name: str, phone: str, **pii: str) -> int:
    user_id, _ = customer(username, now, phone=phone)
    profile_set_pii(user_id=user_id, now=now, name=name, **pii)
    return user_id


def p2p(now: datetime, source, destination, amount: int, key: str, description: str = ""):
    outcome = transfer_create(
        client_id=source.owner_id,
        idempotency_key=key,
        request=TransferRequest(
            source_wallet_id=source.id,
            destination_wallet_id=destination.id,
            amount=amount,
            currency=source.currency,
            description=description,
        ),
        now=now,
    )
    return outcome.transfer


def two_customers(now: datetime):
    alice = person(
        "goaml-alice",
        now,
        name="Дмитрий Иванов",
        phone="+256772100001",
        birth_date="1990-04-01",
        id_number="CM90012345ABCD",
    )
    bob = person("goaml-bob", now, name="Zoë Nakato-Ssemwogerere", phone="+256772100002")
    a = funded_wallet(alice, "UGX", 50_000_000, now)
    b = funded_wallet(bob, "UGX", 1_000, now)
    return a, b
