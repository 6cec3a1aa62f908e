"""Partner prefund accounts: one ledger account (``IMTO_PREFUND``) per partner and currency.

A partner's float with LightWay. Remittances are held on it and paid from it, top-ups
credit it. The accounts are opened for every allowed currency when the partner is
onboarded (or a currency is added), and on first use otherwise (the MoMo remittance flow
calls ``partner_prefund_account`` too). The account's owner is the partner's code, which
never changes (trigger on ``identity_partner``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from lightway.data.ledger.models import Account, AccountKind
from lightway.data.ledger.services import account_open


def prefund_account_code(*, partner_code: str, currency_code: str) -> str:
    return f"prefund:{partner_code}:{currency_code}"


def partner_prefund_account(*, partner_code: str, currency_code: str, now: datetime) -> Account:
    """The partner's prefund (IMTO_PREFUND) account in a currency, opened if missing."""
    found = Account.objects.filter(
        kind=AccountKind.IMTO_PREFUND, owner_ref=partner_code, currency=currency_code
    ).first()
    if found is not None:
        return found
    return account_open(
        code=prefund_account_code(partner_code=partner_code, currency_code=currency_code),
        kind=AccountKind.IMTO_PREFUND,
        currency=currency_code,
        owner_ref=partner_code,
        now=now,
    )


def partner_prefunds_open(
    *, partner_code: str, currencies: Iterable[str], now: datetime
) -> list[Account]:
    """Open (or find) the prefund account of each currency; idempotent."""
    return [
        partner_prefund_account(partner_code=partner_code, currency_code=code, now=now)
        for code in sorted(set(currencies))
    ]


def partner_prefund_accounts(*, partner_code: str) -> list[Account]:
    """The partner's prefund accounts, by currency."""
    return list(
        Account.objects.filter(kind=AccountKind.IMTO_PREFUND, owner_ref=partner_code).order_by(
            "currency"
        )
    )
