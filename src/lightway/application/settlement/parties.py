"""The counterparties' bank accounts the instructions name (``settlement_party``).

``lightway`` is LightWay's own settlement account at LightWay Finance (per currency); ``mtn``
is MTN's account in that market; ``partner:<code>`` a partner's. An instruction copies the
account when it is made, so a later change never rewrites what was instructed.
"""

from __future__ import annotations

import re
from datetime import datetime

from django.db import transaction

from lightway.application.errors import NotFound, ValidationFailed
from lightway.application.text import text_printable
from lightway.data.audit.services import audit_record
from lightway.data.money import MoneyError, currency
from lightway.data.settlement.models import (
    LIGHTWAY,
    MTN,
    PARTNER_PREFIX,
    SettlementParty,
    partner_counterparty,
)

_ACCOUNT = re.compile(r"^[A-Za-z0-9-]{1,34}$")
_BIC = re.compile(r"^[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")

# Demo accounts for `make run` (the simulator accepts any account id).
DEMO_PARTIES = {
    LIGHTWAY: ("LightWay MoMo Ltd", "LWMOMO-{ccy}-0001", "LWFIUGKA"),
    MTN: ("MTN Mobile Money ({ccy})", "MTNMOMO-{ccy}-0001", "MTNNUGKA"),
}


def counterparty_check(counterparty: str) -> str:
    key = str(counterparty or "").strip()
    if key in (LIGHTWAY, MTN):
        return key
    if key.startswith(PARTNER_PREFIX) and re.match(
        r"^[A-Za-z0-9_-]{1,40}$", key[len(PARTNER_PREFIX) :]
    ):
        return key
    raise ValidationFailed(
        "counterparty must be lightway, mtn or partner:<code>",
        details={"field": "counterparty"},
    )


def settlement_party_set(
    *,
    counterparty: str,
    currency_code: str,
    name: str,
    account: str,
    agent_bic: str,
    actor: str,
    now: datetime,
) -> SettlementParty:
    """Set a counterparty's account in a currency (audited)."""
    key = counterparty_check(counterparty)
    try:
        code = currency(currency_code).code
    except MoneyError:
        raise ValidationFailed("unknown currency", details={"field": "currency"}) from None
    name = " ".join(str(name or "").split())
    if not text_printable(name, min_length=1, max_length=140):
        raise ValidationFailed("name: 1 to 140 printable characters", details={"field": "name"})
    if not _ACCOUNT.match(account or ""):
        raise ValidationFailed(
            "account: an IBAN or account number, 1 to 34 letters, digits or -",
            details={"field": "account"},
        )
    bic = (agent_bic or "").strip().upper()
    if bic and not _BIC.match(bic):
        raise ValidationFailed("agent_bic: an 8 or 11 character BIC", details={"field": "bic"})
    with transaction.atomic():
        party, _ = SettlementParty.objects.update_or_create(
            counterparty=key,
            currency=code,
            defaults={"name": name, "account": account, "agent_bic": bic, "updated_at": now},
        )
        audit_record(
            actor=actor,
            action="settlement.party_set",
            object_type="settlement_party",
            object_id=f"{key}:{code}",
            data={"fields": ["name", "account", "agent_bic"]},
            now=now,
        )
    return party


def settlement_party(*, counterparty: str, currency_code: str) -> SettlementParty:
    found = SettlementParty.objects.filter(
        counterparty=counterparty, currency=currency_code
    ).first()
    if found is None:
        raise NotFound(
            f"no {currency_code} bank account for {counterparty}: set one with"
            " `lightway settlement party set`",
            details={"counterparty": counterparty, "currency": currency_code},
        )
    return found


def settlement_parties_seed_demo(
    *, currencies: tuple[str, ...], partner_codes: tuple[str, ...], now: datetime
) -> int:
    """Demo accounts for LightWay, MTN and the given partners (idempotent)."""
    made = 0
    for code in currencies:
        wanted = dict(DEMO_PARTIES)
        for partner in partner_codes:
            wanted[partner_counterparty(partner)] = (
                f"{partner} (demo)",
                f"{partner.upper()[:20]}-{{ccy}}-01",
                "",
            )
        for key, (name, account, bic) in wanted.items():
            if SettlementParty.objects.filter(counterparty=key, currency=code).exists():
                continue
            SettlementParty.objects.create(
                counterparty=key,
                currency=code,
                name=name.format(ccy=code),
                account=account.format(ccy=code),
                agent_bic=bic,
                updated_at=now,
            )
            made += 1
    return made
