"""Finding whom a customer pays by phone number: a LightWay customer's wallet (P2P).

``recipient_find`` answers what ``POST /api/v1/transfers`` already answers for a wallet
id (404 "destination wallet not found"): whether the number leads to a wallet in the
currency, and, so the payer can check before confirming, the holder's name masked
(``A•••• N•••••``). Nothing more: not the holder's other wallets, balance, tier or
whether the number is registered without a wallet in that currency (the answer is the
same "no LightWay wallet" in every such case). Only verified numbers count. Lookups are
rate limited per payer (``LIGHTWAY_RATE_RECIPIENT_LOOKUPS``, default 30 an hour), so the
page cannot be used to walk through numbers.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import phonenumbers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lightway.application.errors import NotFound, RequestRefused, ValidationFailed
from lightway.application.identity.phones import MARKETS, phone_normalise
from lightway.application.identity.profiles import profile_find
from lightway.application.ratelimits import rate_check
from lightway.data.identity.models import Realm
from lightway.data.ledger.models import AccountStatus
from lightway.data.wallets.models import Wallet
from lightway.security.masking import mask_phone
from lightway.security.ratelimit import Limit

RECIPIENT_LOOKUPS = Limit("recipient_lookup", "LIGHTWAY_RATE_RECIPIENT_LOOKUPS", 30)

NO_WALLET = gettext_lazy("There is no LightWay %(currency)s wallet for this number.")


def phone_international(raw: str, *, country: str) -> str:
    """A typed phone number in E.164: a national number (leading 0) read in ``country``,
    an international one (``+`` or ``00``) in its own market. ValidationFailed (field
    ``phone``) for anything that is not a mobile number of one of the markets."""
    text = "".join(ch for ch in (raw or "") if ch not in " -.()\u00a0")
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text:
        raise ValidationFailed(
            _("Enter the recipient's mobile number."), details={"field": "phone"}
        )
    region = country if country in MARKETS else ""
    if text.startswith("+"):
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(text, None)) or ""
        except phonenumbers.NumberParseException:
            region = ""
    if region not in MARKETS:
        raise ValidationFailed(
            _("Enter a mobile number of one of our markets, for example +256 772 123 456."),
            details={"field": "phone"},
        )
    try:
        return phone_normalise(text, country=region, field="phone")
    except ValidationFailed:
        raise ValidationFailed(
            _("This is not a mobile number. Check the number and the country code."),
            details={"field": "phone"},
        ) from None


@dataclass(frozen=True)
class Recipient:
    user_id: int
    wallet_id: uuid.UUID
    currency: str
    name_masked: str
    phone_masked: str


def recipient_find(
    *, payer_id: int, phone: str, currency: str, country: str, now: datetime
) -> Recipient:
    """The wallet in ``currency`` of the customer whose verified number is ``phone``
    (module docstring). NotFound (field ``phone``) when there is none; RequestRefused
    ``same_wallet`` for the payer's own number; TooManyRequests past the lookup limit."""
    number = phone_international(phone, country=country)
    rate_check(RECIPIENT_LOOKUPS, subject=f"user:{payer_id}", now=now)
    profile = profile_find(kind="phone", value=number)
    if profile is None or profile.phone_verified_at is None or profile.realm != Realm.CUSTOMER:
        raise NotFound(str(NO_WALLET) % {"currency": currency}, details={"field": "phone"})
    if profile.user_id == payer_id:
        raise RequestRefused(
            "same_wallet",
            _("This is your own number: enter the number of the person you pay."),
            details={"field": "phone"},
        )
    wallet = (
        Wallet.objects.select_related("account")
        .filter(owner_id=profile.user_id, currency=currency)
        .first()
    )
    if wallet is None or wallet.account.status != AccountStatus.ACTIVE:
        raise NotFound(str(NO_WALLET) % {"currency": currency}, details={"field": "phone"})
    from lightway.application.transactions.history import profile_masked_name

    return Recipient(
        user_id=profile.user_id,
        wallet_id=wallet.id,
        currency=currency,
        name_masked=profile_masked_name(profile),
        phone_masked=mask_phone(number),
    )
