"""Profiles: personal data sealed field by field, found by blind index, shown masked.

Each personal field is encrypted with the associated data ``identity.profile.<field>:<user
id>``; the phone number, email address and ID number also get a blind index so that
registration can refuse duplicates and login can find the account by phone number.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import F
from django.utils.translation import gettext

from lightway.application.errors import ValidationFailed
from lightway.data.identity.models import Profile
from lightway.security.crypto import (
    blind_index,
    decrypt_optional,
    is_person_sealed,
    person_decrypt_with,
)
from lightway.security.masking import mask_email, mask_id_number, mask_name, mask_phone
from lightway.security.personkeys import person_encrypt_optional, person_key_get

# field -> (blind index kind or None)
PII_FIELDS: dict[str, str | None] = {
    "phone": "phone",
    "email": "email",
    "name": None,
    "id_number": "id_number",
    "birth_date": None,
}


def pii_context(field: str, user_id: int) -> str:
    return f"identity.profile.{field}:{user_id}"


def subject_new() -> str:
    return "sub_" + secrets.token_hex(10)


@dataclass(frozen=True)
class PersonalData:
    phone: str | None = None
    email: str | None = None
    name: str | None = None
    id_number: str | None = None
    birth_date: str | None = None
    # Erased after retention (the person's key was destroyed): every field is None.
    erased: bool = False

    def masked(self) -> dict[str, str]:
        if self.erased:
            return {field: ERASED for field in ("phone", "email", "name", "id_number")}
        return {
            "phone": mask_phone(self.phone),
            "email": mask_email(self.email),
            "name": mask_name(self.name),
            "id_number": mask_id_number(self.id_number),
        }


# What pages show in place of a person's erased personal data.
ERASED = "erased"


def _apply(profile: Profile, values: dict[str, str | None], now: datetime) -> list[str]:
    changed: list[str] = []
    for field, value in values.items():
        if field not in PII_FIELDS:
            raise ValueError(f"{field} is not a personal-data field")
        setattr(
            profile,
            f"{field}_ct",
            person_encrypt_optional(
                value, user_id=profile.user_id, context=pii_context(field, profile.user_id), now=now
            ),
        )
        changed.append(f"{field}_ct")
        kind = PII_FIELDS[field]
        if kind is not None:
            setattr(profile, f"{field}_bidx", blind_index(kind, value) if value else None)
            changed.append(f"{field}_bidx")
    return changed


def profile_create(
    *,
    user_id: int,
    realm: str,
    now: datetime,
    country: str = "",
    language: str = "en",
    partner_id: int | None = None,
    id_type: str = "",
    **pii: str | None,
) -> Profile:
    """Create the profile of a user (call inside the transaction that creates the user)."""
    profile = Profile(
        user_id=user_id,
        realm=realm,
        subject=subject_new(),
        country=country,
        language=language,
        partner_id=partner_id,
        id_type=id_type,
        created_at=now,
        updated_at=now,
    )
    _apply(profile, pii, now)
    profile.save(force_insert=True)
    return profile


def profile_set_pii(*, user_id: int, now: datetime, **pii: str | None) -> Profile:
    profile = Profile.objects.get(user_id=user_id)
    changed = _apply(profile, pii, now)
    profile.updated_at = now
    profile.save(update_fields=[*changed, "updated_at"])
    return profile


def profile_pii(profile: Profile) -> PersonalData:
    """Decrypt a profile's personal data (callers show it masked unless revealed);
    ``erased`` and no values once retention erased the person."""
    blobs = {field: getattr(profile, f"{field}_ct") for field in PII_FIELDS}
    key: bytes | None = None
    if any(b is not None and is_person_sealed(bytes(b)) for b in blobs.values()):
        key = person_key_get(user_id=profile.user_id)  # one lookup for every field
        if key is None:
            return PersonalData(erased=True)
    values: dict[str, str | None] = {}
    for field, blob in blobs.items():
        context = pii_context(field, profile.user_id)
        if blob is None:
            values[field] = None
        elif key is not None and is_person_sealed(bytes(blob)):
            values[field] = person_decrypt_with(bytes(blob), key=key, context=context)
        else:
            values[field] = decrypt_optional(blob, context=context)
    return PersonalData(
        phone=values["phone"],
        email=values["email"],
        name=values["name"],
        id_number=values["id_number"],
        birth_date=values["birth_date"],
    )


# Which profile holds an identifier when several claim it: the one that verified it, else
# the most recent claim. Only a verified phone or email (and the ID number of an account at
# tier 2 or above) is unique; unverified claims may share a value (data/identity/models.py).
_FIND_ORDER: dict[str, list[Any]] = {
    "phone": [F("phone_verified_at").desc(nulls_last=True), "-created_at", "-pk"],
    "email": [F("email_verified_at").desc(nulls_last=True), "-created_at", "-pk"],
    "id_number": ["-kyc_tier", "-created_at", "-pk"],
}


def profile_find(*, kind: str, value: str) -> Profile | None:
    """The profile holding phone/email/id_number ``value`` (by blind index): the one that
    verified it, else the latest unverified claim."""
    if PII_FIELDS.get(kind) is None:
        raise ValueError(f"{kind} has no blind index")
    rows = Profile.objects.filter(**{f"{kind}_bidx": blind_index(kind, value)})
    return rows.order_by(*_FIND_ORDER[kind]).first()


def profile_verified_holder(*, kind: str, bidx: str, exclude_user_id: int) -> Profile | None:
    """Another account that holds this identifier for good (verified), if any."""
    rows = Profile.objects.filter(**{f"{kind}_bidx": bidx}).exclude(user_id=exclude_user_id)
    if kind == "phone":
        rows = rows.filter(phone_verified_at__isnull=False)
    elif kind == "email":
        rows = rows.filter(email_verified_at__isnull=False)
    else:
        rows = rows.filter(kyc_tier__gte=2)
    return rows.first()


def id_number_normalise(value: str, *, field: str = "id_number") -> str:
    """An ID number as compared and stored: Unicode NFKC (full-width and other compatibility
    forms become ASCII), upper case, without spaces, dashes, dots or slashes. Anything left
    that is not A-Z or 0-9 (a look-alike letter from another script) is refused, so two
    spellings of one number always compare equal and two numbers never look alike."""
    text = unicodedata.normalize("NFKC", value or "").upper()
    kept = "".join(ch for ch in text if not (ch.isspace() or ch in "-./_"))
    if any(not ("A" <= ch <= "Z" or "0" <= ch <= "9") for ch in kept):
        raise ValidationFailed(
            gettext("Use only the letters A to Z and digits, as printed on the document."),
            details={"field": field},
        )
    return kept
