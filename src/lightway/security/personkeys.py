"""Per-person data keys: one random 256-bit key per person, the key that seals their
personal data, destroyed to erase it (docs/retention.md, "Erasure").

The key is stored in ``identity_person_key`` sealed under the keyring's current KEK
(:func:`lightway.security.crypto.seal`, context ``identity.person_key:<user id>``), so a KEK
rotation (``lightway keys rotate``) re-wraps it like any sealed column and never touches
the values sealed with it. :func:`person_encrypt` seals a value with the person's key
(creating the key on first use); :func:`lightway.security.crypto.unseal` opens such values
wherever they are read, through :func:`_resolve`, and raises
:class:`~lightway.security.crypto.PersonDataErased` once the key is destroyed.
"""

from __future__ import annotations

from datetime import datetime

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import IntegrityError, transaction

from lightway.data.identity.models import PersonKey
from lightway.security.crypto import (
    person_key_resolver_set,
    person_seal,
    seal,
    unseal,
)


def person_key_context(user_id: int) -> str:
    return f"identity.person_key:{user_id}"


def _open(row: PersonKey) -> bytes | None:
    if row.key_ct is None:
        return None
    return unseal(bytes(row.key_ct), context=person_key_context(row.user_id))


def _resolve(user_id: int) -> bytes | None:
    row = PersonKey.objects.filter(user_id=user_id).only("user_id", "key_ct").first()
    return None if row is None else _open(row)


person_key_resolver_set(_resolve)


def person_key_get(*, user_id: int) -> bytes | None:
    """The person's key (one primary-key lookup), None when destroyed or never made."""
    return _resolve(user_id)


def person_key_ensure(*, user_id: int, now: datetime) -> bytes | None:
    """The person's key, created when they have none; None when it was destroyed."""
    row = PersonKey.objects.filter(user_id=user_id).only("user_id", "key_ct").first()
    if row is not None:
        return _open(row)
    key = AESGCM.generate_key(bit_length=256)
    try:
        # A savepoint: a concurrent first use by another transaction wins, we use its key.
        with transaction.atomic():
            PersonKey.objects.create(
                user_id=user_id,
                key_ct=seal(key, context=person_key_context(user_id)),
                created_at=now,
            )
    except IntegrityError:
        return _resolve(user_id)
    return key


class PersonErasedError(ValueError):
    """Nothing new can be sealed for a person whose key was destroyed."""


def person_encrypt(plaintext: str, *, user_id: int, context: str, now: datetime) -> bytes:
    """Seal ``plaintext`` with ``user_id``'s own key (open it with ``crypto.decrypt``)."""
    key = person_key_ensure(user_id=user_id, now=now)
    if key is None:
        raise PersonErasedError(f"the personal data of user {user_id} was erased")
    return person_seal(plaintext.encode(), key=key, user_id=user_id, context=context)


def person_encrypt_optional(
    plaintext: str | None, *, user_id: int, context: str, now: datetime
) -> bytes | None:
    if plaintext in (None, ""):
        return None
    return person_encrypt(str(plaintext), user_id=user_id, context=context, now=now)


def person_key_destroy(*, user_id: int, now: datetime, reason: str) -> bool:
    """Destroy the person's key (erasure); False when they had none or it is already gone.
    The database refuses while the person is under legal hold."""
    changed = PersonKey.objects.filter(user_id=user_id, destroyed_at__isnull=True).update(
        key_ct=None, destroyed_at=now, destroyed_reason=reason[:200]
    )
    return bool(changed)


def person_erased(*, user_id: int) -> bool:
    return PersonKey.objects.filter(user_id=user_id, destroyed_at__isnull=False).exists()
