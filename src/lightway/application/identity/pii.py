"""Customers as staff see them: masked by default, revealed only with a reason (audited).

``customer_search`` finds customers by phone number or email (blind index: the clear value
is never searched in the database) or by subject, and returns masked views.
``pii_reveal`` returns chosen fields in clear, for one response, and writes ``pii.reveal``
(actor, subject, fields, reason) to the audit trail in the same transaction; callers check
the ``pii.reveal`` permission first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from lightway.application.errors import NotFound, ValidationFailed
from lightway.application.identity.phones import MARKETS, phone_normalise
from lightway.application.identity.profiles import (
    id_number_normalise,
    profile_find,
    profile_pii,
)
from lightway.application.reasons import reason_clean
from lightway.data.audit.services import audit_record
from lightway.data.identity.models import KycTier, Profile, Realm

log = logging.getLogger(__name__)

REVEALABLE = ("phone", "email", "name", "id_number", "birth_date")


@dataclass(frozen=True)
class CustomerView:
    user_id: int
    subject: str
    country: str
    kyc_tier: int
    is_active: bool
    masked: dict[str, str]

    @property
    def tier_label(self) -> str:
        return str(KycTier(self.kyc_tier).label)


def _view(profile: Profile) -> CustomerView:
    return CustomerView(
        user_id=profile.user_id,
        subject=profile.subject,
        country=profile.country,
        kyc_tier=int(profile.kyc_tier),
        is_active=bool(profile.user.is_active),
        masked=profile_pii(profile).masked(),
    )


def customer_search(*, query: str, country: str = "") -> list[CustomerView]:
    """Customers matching ``query``: a subject (``sub_...``), an email address, a phone
    number (international form, or national form with ``country``) or an ID number (each
    an exact match through its blind index). Masked views."""
    text = (query or "").strip()
    if not text:
        return []
    customers = Profile.objects.select_related("user").filter(realm=Realm.CUSTOMER)
    if text.startswith("sub_"):
        return [_view(p) for p in customers.filter(subject=text)[:1]]
    found: Profile | None
    if "@" in text:
        found = profile_find(kind="email", value=text.lower())
    else:
        countries = [country.upper()] if country else []
        if text.startswith("+") or not countries:
            countries = countries or sorted(MARKETS)
        found = None
        for market in countries:
            try:
                number = phone_normalise(text, country=market, field="query")
            except ValidationFailed:
                continue
            found = profile_find(kind="phone", value=number)
            if found is not None:
                break
        if found is None:
            found = _by_id_number(text)
    if found is None or found.realm != Realm.CUSTOMER:
        return []
    return [_view(customers.get(pk=found.pk))]


def _by_id_number(text: str) -> Profile | None:
    """The customer holding ID number ``text`` (as printed; compared normalised, by blind
    index), if any."""
    try:
        number = id_number_normalise(text, field="query")
    except ValidationFailed:
        return None
    return profile_find(kind="id_number", value=number) if number else None


def customer_get(*, subject: str) -> CustomerView:
    profile = (
        Profile.objects.select_related("user").filter(realm=Realm.CUSTOMER, subject=subject).first()
    )
    if profile is None:
        raise NotFound("customer not found", details={"subject": subject})
    return _view(profile)


def pii_reveal(
    *, subject: str, fields: list[str], reason: str, actor: str, now: datetime
) -> dict[str, str]:
    """The clear values of ``fields`` of a customer, audited as ``pii.reveal``.

    ``reason`` (at least 10 characters) says why; it is stored in the audit record with the
    field names (never the values).
    """
    reason = reason_clean(reason, purpose="what you need it for")
    chosen = [f for f in REVEALABLE if f in set(fields)]
    unknown = sorted(set(fields) - set(REVEALABLE))
    if unknown or not chosen:
        raise ValidationFailed(
            f"choose fields among {', '.join(REVEALABLE)}", details={"field": "fields"}
        )
    with transaction.atomic():
        profile = Profile.objects.filter(realm=Realm.CUSTOMER, subject=subject).first()
        if profile is None:
            raise NotFound("customer not found", details={"subject": subject})
        audit_record(
            actor=actor,
            action="pii.reveal",
            object_type="identity.profile",
            object_id=profile.subject,
            data={"fields": chosen, "reason": reason},
            now=now,
        )
    log.info("personal data revealed", extra={"subject": subject, "actor": actor, "fields": chosen})
    pii = profile_pii(profile)
    return {field: getattr(pii, field) or "" for field in chosen}
