"""Integration keys: scoped, expiring machine credentials for MTN's and LightWay's
reporting systems (issue 11, finding 9; docs/api.md "Integration keys").

Staff never hold bearer credentials, so the read-only MoMo status and reconciliation
report operations (``/api/v1/momo/...``) are called by machines: a reporting system signs
each request with an integration key, exactly as partners sign theirs
(``lightway.security.signatures``). A key

- belongs to a realm (``mtn`` or ``lightway``) and has a name;
- holds scopes, some of the read actions ``policy.INTEGRATION_SCOPES``;
- always expires, at most ``LIGHTWAY_INTEGRATION_KEY_MAX_DAYS`` days after its creation;
- is created with a reason, and revoked at once when needed (rotation: create a new key,
  switch, revoke the old one).

The secret is shown once, by :func:`integration_key_create`; it is stored sealed with the
data keys (the server must recompute signatures, so a one-way hash cannot serve). Creation
and revocation are audited (``integration_key.create`` / ``integration_key.revoke``), with
no secret in the audit data. Writes happen here; :func:`integration_key_list` reads.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from lightway.application.datakeys.rotation import EncryptedColumn, encrypted_column_register
from lightway.application.errors import NotFound, ValidationFailed
from lightway.application.reasons import reason_clean
from lightway.data.audit.services import audit_record
from lightway.security.apiauth.models import INTEGRATION_KEY_PREFIX, IntegrationKey
from lightway.security.crypto import encrypt
from lightway.security.policy import INTEGRATION_REALMS, INTEGRATION_SCOPES
from lightway.security.signatures import integration_secret_context

SECRET_PREFIX = "is_live_"
NAME_MAX = 80
OBJECT_TYPE = "apiauth.integration_key"

encrypted_column_register(
    EncryptedColumn(
        "apiauth.IntegrationKey", "secret_ct", lambda row: integration_secret_context(row.key_id)
    )
)


def max_days() -> int:
    return int(getattr(settings, "LIGHTWAY_INTEGRATION_KEY_MAX_DAYS", 90))


@dataclass(frozen=True)
class IntegrationKeyView:
    key_id: str
    realm: str
    name: str
    scopes: tuple[str, ...]
    reason: str
    created_at: datetime
    created_by: str
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str

    def state(self, now: datetime) -> str:
        """``live``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        return "live" if self.expires_at > now else "expired"


def _view(key: IntegrationKey) -> IntegrationKeyView:
    return IntegrationKeyView(
        key_id=key.key_id,
        realm=key.realm,
        name=key.name,
        scopes=tuple(sorted(key.scopes)),
        reason=key.reason,
        created_at=key.created_at,
        created_by=key.created_by,
        expires_at=key.expires_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
        revoked_by=key.revoked_by,
    )


def _clean_name(name: str) -> str:
    cleaned = " ".join((name or "").split())
    if not 3 <= len(cleaned) <= NAME_MAX or not cleaned.isprintable():
        raise ValidationFailed(
            f"the name must be 3 to {NAME_MAX} printable characters (which system uses the key)",
            details={"field": "name"},
        )
    return cleaned


def _clean_realm(realm: str) -> str:
    if realm not in INTEGRATION_REALMS:
        raise ValidationFailed(
            "the realm must be one of: " + ", ".join(sorted(INTEGRATION_REALMS)),
            details={"field": "realm"},
        )
    return str(realm)


def _clean_scopes(scopes: Iterable[str]) -> list[str]:
    chosen = sorted(set(scopes))
    allowed = sorted(INTEGRATION_SCOPES)
    if not chosen or any(s not in INTEGRATION_SCOPES for s in chosen):
        raise ValidationFailed(
            "choose one or more scopes of: " + ", ".join(allowed),
            details={"field": "scopes", "allowed": allowed},
        )
    return chosen


def _clean_days(days: int) -> int:
    limit = max_days()
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= limit:
        raise ValidationFailed(
            f"a key expires 1 to {limit} days after it is created",
            details={"field": "days", "max_days": limit},
        )
    return days


def integration_key_create(
    *,
    realm: str,
    name: str,
    scopes: Iterable[str],
    days: int,
    reason: str,
    actor: str,
    now: datetime,
) -> tuple[str, str]:
    """A new key: ``(key_id, secret)``. The secret is kept nowhere in clear: hand it to the
    system's owners now. Raises ``ValidationFailed`` naming the field that is wrong."""
    realm = _clean_realm(realm)
    name = _clean_name(name)
    chosen = _clean_scopes(scopes)
    days = _clean_days(days)
    why = reason_clean(reason, purpose="which system needs the key and why")
    key_id = INTEGRATION_KEY_PREFIX + secrets.token_hex(12)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        key = IntegrationKey.objects.create(
            key_id=key_id,
            realm=realm,
            name=name,
            scopes=chosen,
            secret_ct=encrypt(secret, context=integration_secret_context(key_id)),
            reason=why,
            created_at=now,
            created_by=actor[:40],
            expires_at=now + timedelta(days=days),
        )
        audit_record(
            actor=actor,
            action="integration_key.create",
            object_type=OBJECT_TYPE,
            object_id=key.key_id,
            data={
                "realm": realm,
                "name": name,
                "scopes": chosen,
                "expires_at": key.expires_at.isoformat(),
                "reason": why,
            },
            now=now,
        )
    return key_id, secret


def integration_key_revoke(*, key_id: str, actor: str, now: datetime) -> bool:
    """Stop a key at once; False when it was already revoked (nothing is written)."""
    with transaction.atomic():
        key = IntegrationKey.objects.select_for_update().filter(key_id=key_id).first()
        if key is None:
            raise NotFound("integration key not found", details={"key_id": key_id[:40]})
        if key.revoked_at is not None:
            return False
        key.revoked_at = now
        key.revoked_by = actor[:40]
        key.save(update_fields=["revoked_at", "revoked_by"])
        audit_record(
            actor=actor,
            action="integration_key.revoke",
            object_type=OBJECT_TYPE,
            object_id=key.key_id,
            data={"realm": key.realm, "name": key.name, "was_expired": key.expires_at <= now},
            now=now,
        )
    return True


def integration_key_list(*, realm: str | None = None) -> list[IntegrationKeyView]:
    """Every key (or a realm's), newest first; never a secret."""
    keys = IntegrationKey.objects.order_by("-created_at", "-pk")
    if realm:
        keys = keys.filter(realm=realm)
    return [_view(k) for k in keys]
