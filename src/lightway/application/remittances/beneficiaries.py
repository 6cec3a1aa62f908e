"""Beneficiary validation: is a MoMo number's account active, and is it the name the
partner expects?

``beneficiary_validate`` asks MoMo's remittance product (``account_holder_active``, then
``basic_user_info`` for the registered name) and answers:

- ``account_status``: ACTIVE; NOT_FOUND (MoMo knows no such holder); BARRED (registered but
  not active); UNAVAILABLE (MoMo could not be asked: a retry may tell);
- ``name_match`` (only with ``expected_name``): MATCH, PARTIAL, NO_MATCH, or NOT_CHECKED
  when MoMo gave no name (unavailable, unknown number, empty name). A lookup that failed is
  never shown as a match (reference §4.4: a sentinel "OK" shown as a verified name);
- ``masked_holder_name``: the registered name masked (``security.masking``), empty when
  unknown.

Names are compared token by token (:func:`names_compare`): case, accents, punctuation and
the order of the words do not matter; an initial ("J.") or a missing middle name gives at
most PARTIAL, never MATCH; words are never compared by prefix or suffix, so "Ann" is not
"Anna". The number and the names are sealed at rest; logs carry the number's token only.
"""

from __future__ import annotations

import logging
import re
import unicodedata
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from lightway.application.datakeys.rotation import EncryptedColumn, encrypted_column_register
from lightway.application.errors import NotFound, RequestRefused, ValidationFailed
from lightway.application.momo.flows import msisdn_normalise
from lightway.application.momo.gateway import momo_configured, momo_gateway, momo_target
from lightway.application.remittances.partners import partner_active
from lightway.application.text import text_printable
from lightway.data.remittances.models import AccountStatus, BeneficiaryValidation, NameMatch
from lightway.data.remittances.selectors import validation_of_partner
from lightway.integration.momo.port import (
    MomoConfigError,
    MomoError,
    MomoNotFound,
    Party,
    Product,
)
from lightway.security.crypto import decrypt_optional, encrypt, encrypt_optional, pii_token
from lightway.security.masking import mask_name

logger = logging.getLogger("lightway.remittances")

MSISDN_CONTEXT = "remittances.beneficiary.msisdn"
NAME_CONTEXT = "remittances.beneficiary.name"
NAME_MAX = 120

# The served markets by the country code of their numbers.
_CURRENCY_BY_PREFIX = {
    "256": "UGX",
    "233": "GHS",
    "237": "XAF",
    "225": "XOF",
    "250": "RWF",
    "260": "ZMW",
}


def _constant(context: str) -> Callable[[object], str]:
    return lambda _row: context


for _column, _context in (
    ("msisdn_ct", MSISDN_CONTEXT),
    ("expected_name_ct", NAME_CONTEXT),
    ("holder_name_ct", NAME_CONTEXT),
):
    encrypted_column_register(
        EncryptedColumn("remittances.BeneficiaryValidation", _column, _constant(_context))
    )


# --- names -----------------------------------------------------------------------------------


def name_tokens(text: str) -> list[str]:
    """The words of a name: accents removed, case folded, split on anything that is not a
    letter or digit (spaces, hyphens, apostrophes, dots, commas)."""
    plain = unicodedata.normalize("NFKD", text or "")
    plain = "".join(c for c in plain if not unicodedata.combining(c)).casefold()
    return [w for w in re.split(r"[\W_]+", plain) if w]


def names_compare(expected: str, registered: str) -> str:
    """MATCH, PARTIAL or NO_MATCH (see the module docstring)."""
    a, b = name_tokens(expected), name_tokens(registered)
    if not a or not b:
        return NameMatch.NO_MATCH
    if Counter(a) == Counter(b) and all(len(t) > 1 for t in a):
        return NameMatch.MATCH
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    pool = Counter(long_)
    exact = 0
    initials: list[str] = []
    for token in short:
        if len(token) > 1 and pool[token] > 0:
            pool[token] -= 1
            exact += 1
        else:
            initials.append(token)
    for token in initials:
        # an initial stands for a word of the other name starting with it (never a word
        # standing for an initial, never a word for another word)
        if len(token) != 1:
            return NameMatch.NO_MATCH
        match = next((w for w in pool if pool[w] > 0 and w.startswith(token)), None)
        if match is None:
            return NameMatch.NO_MATCH
        pool[match] -= 1
    return NameMatch.PARTIAL if exact >= 1 else NameMatch.NO_MATCH


def clean_name(value: str | None, *, field: str) -> str | None:
    """A name as the API's schema allows it (printable, at most NAME_MAX), spaces folded."""
    if value is None:
        return None
    text = " ".join(str(value).split())
    if not text_printable(text, max_length=NAME_MAX):
        raise ValidationFailed(
            f"{field} must be at most {NAME_MAX} printable characters", details={"field": field}
        )
    return text or None


# --- the check --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidationView:
    validation: BeneficiaryValidation
    masked_holder_name: str


def payout_currency_for(msisdn: str, given: str | None) -> str:
    """The currency (hence MoMo market) of a number: given, or by its country code."""
    if given:
        return given
    for prefix, code in _CURRENCY_BY_PREFIX.items():
        if msisdn.startswith(prefix):
            return code
    raise RequestRefused(
        "receive_currency_required",
        "give receive_currency: the number's country code is not one of a served market",
        details={"field": "receive_currency"},
    )


def _lookup(msisdn: str, code: str) -> tuple[str, str | None]:
    """(account_status, the registered name or None) from MoMo's remittance product."""
    if not momo_configured():
        raise RequestRefused("momo_unavailable", "MoMo is not available on this platform")
    try:
        target = momo_target(code)
    except MomoConfigError:
        raise RequestRefused(
            "currency_unavailable",
            f"MoMo payouts in {code} are not available",
            details={"field": "receive_currency"},
        ) from None
    gateway = momo_gateway()
    party = Party(party_id=msisdn)
    try:
        active = gateway.account_holder_active(Product.REMITTANCE, party, target=target)
    except (MomoError, ValueError) as exc:
        logger.info(
            "beneficiary check unavailable",
            extra={"party": pii_token("msisdn", msisdn), "error": type(exc).__name__},
        )
        return AccountStatus.UNAVAILABLE, None
    try:
        info = gateway.basic_user_info(Product.REMITTANCE, party, target=target)
    except MomoNotFound:
        return AccountStatus.NOT_FOUND, None
    except (MomoError, ValueError) as exc:
        logger.info(
            "beneficiary name lookup unavailable",
            extra={"party": pii_token("msisdn", msisdn), "error": type(exc).__name__},
        )
        return (AccountStatus.ACTIVE if active else AccountStatus.NOT_FOUND), None
    name = info.full_name.strip() or None
    if not active:
        return AccountStatus.BARRED, name
    return AccountStatus.ACTIVE, name


def beneficiary_validate(
    *,
    partner_id: int,
    msisdn: str,
    expected_name: str | None,
    receive_currency: str | None,
    now: datetime,
) -> ValidationView:
    partner = partner_active(partner_id=partner_id)
    number = msisdn_normalise(msisdn)
    expected = clean_name(expected_name, field="expected_name")
    status, holder = _lookup(number, payout_currency_for(number, receive_currency))
    match: str
    if expected is None or holder is None:
        match = NameMatch.NOT_CHECKED
    else:
        match = names_compare(expected, holder)
    validation = BeneficiaryValidation.objects.create(
        id=uuid.uuid4(),
        partner_id=partner.pk,
        msisdn_ct=encrypt(number, context=MSISDN_CONTEXT),
        msisdn_token=pii_token("msisdn", number),
        expected_name_ct=encrypt_optional(expected, context=NAME_CONTEXT),
        holder_name_ct=encrypt_optional(holder, context=NAME_CONTEXT),
        account_status=status,
        name_match=match,
        expires_at=now + timedelta(seconds=int(settings.REMITTANCE_VALIDATION_SECONDS)),
        created_at=now,
    )
    logger.info(
        "beneficiary validated",
        extra={
            "validation_id": str(validation.id),
            "partner": partner.pk,
            "party": validation.msisdn_token,
            "account_status": status,
            "name_match": match,
        },
    )
    return ValidationView(validation, mask_name(holder))


def beneficiary_validation_get(*, partner_id: int, validation_id: uuid.UUID) -> ValidationView:
    found = validation_of_partner(partner_id=partner_id, validation_id=validation_id)
    if found is None:
        raise NotFound("beneficiary validation not found")
    holder = decrypt_optional(found.holder_name_ct, context=NAME_CONTEXT)
    return ValidationView(found, mask_name(holder))
