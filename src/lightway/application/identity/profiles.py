"""Profiles: personal data sealed field by field, found by blind index, shown masked.

Each personal field is encrypted with the associated data ``identity.profile.<field>:<user
id>``; the phone number, email address and ID number also get a blind index so that
registration can refuse duplicates and login can find the account by phone number.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from lightway.data.identity.models import Profile
from lightway.security.crypto import blind_index, decrypt_optional, encrypt_optional
from lightway.security.masking import mask_email, mask_id_number, mask_name, mask_phone

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

    def masked(self) -> dict[str, str]:
        return {
            "phone": mask_phone(self.phone),
            "email": mask_email(self.email),
            "name": mask_name(self.name),
            "id_number": mask_id_number(self.id_number),
        }


def _apply(profile: Profile, values: dict[str, str | None]) -> list[str]:
    changed: list[str] = []
    for field, value in values.items():
        if field not in PII_FIELDS:
            raise ValueError(f"{field} is not a personal-data field")
        setattr(
            profile,
            f"{field}_ct",
            encrypt_optional(value, context=pii_context(field, profile.user_id)),
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
    _apply(profile, pii)
    profile.save(force_insert=True)
    return profile


def profile_set_pii(*, user_id: int, now: datetime, **pii: str | None) -> Profile:
    profile = Profile.objects.get(user_id=user_id)
    changed = _apply(profile, pii)
    profile.updated_at = now
    profile.save(update_fields=[*changed, "updated_at"])
    return profile


def profile_pii(profile: Profile) -> PersonalData:
    """Decrypt a profile's personal data (callers show it masked unless revealed)."""
    return PersonalData(
        **{
            field: decrypt_optional(
                getattr(profile, f"{field}_ct"), context=pii_context(field, profile.user_id)
            )
            for field in PII_FIELDS
        }
    )


def profile_find(*, kind: str, value: str) -> Profile | None:
    """The profile whose phone/email/id_number equals ``value`` (by blind index)."""
    if PII_FIELDS.get(kind) is None:
        raise ValueError(f"{kind} has no blind index")
    return Profile.objects.filter(**{f"{kind}_bidx": blind_index(kind, value)}).first()
