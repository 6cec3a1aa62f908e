"""Partner API keys: created and rotated with the secret shown once, revocable.

A key is a public ``key_id`` (``pk_live_<24 hex>``) and a secret (``sk_live_<43 chars>``)
the partner signs requests with (``lightway.security.signatures``). The secret is stored
encrypted (the server needs it to recompute signatures) and is returned only by
``partner_key_create`` / ``partner_key_rotate``. Rotation issues a new key and lets the old
one work for ``overlap_seconds`` more, so the partner can switch without downtime.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction

from lightway.application.datakeys.rotation import EncryptedColumn, encrypted_column_register
from lightway.application.errors import Conflict, NotFound, ValidationFailed
from lightway.data.audit.services import audit_record
from lightway.data.identity.models import Partner, PartnerStatus
from lightway.security.apiauth.models import PartnerApiKey
from lightway.security.crypto import encrypt
from lightway.security.signatures import secret_context

KEY_PREFIX = "pk_live_"
SECRET_PREFIX = "sk_live_"
MAX_OVERLAP_SECONDS = 30 * 86400
DEFAULT_OVERLAP_SECONDS = 86400

encrypted_column_register(
    EncryptedColumn("apiauth.PartnerApiKey", "secret_ct", lambda row: secret_context(row.key_id))
)


@dataclass(frozen=True)
class PartnerKeyView:
    key_id: str
    partner_code: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def live(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


def _new_key(partner_id: int, actor: str, now: datetime) -> tuple[PartnerApiKey, str]:
    key_id = KEY_PREFIX + secrets.token_hex(12)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    key = PartnerApiKey.objects.create(
        partner_id=partner_id,
        key_id=key_id,
        secret_ct=encrypt(secret, context=secret_context(key_id)),
        created_at=now,
        created_by=actor[:40],
    )
    return key, secret


def _audit(actor: str, action: str, key: PartnerApiKey, now: datetime, **data: object) -> None:
    audit_record(
        actor=actor,
        action=action,
        object_type="apiauth.partner_api_key",
        object_id=key.key_id,
        data={"partner_id": key.partner_id, **data},
        now=now,
    )


def partner_key_create(*, partner_id: int, actor: str, now: datetime) -> tuple[str, str]:
    """A new key for an active partner: ``(key_id, secret)``; the secret is not kept in
    clear anywhere, show it to the partner now."""
    with transaction.atomic():
        partner = Partner.objects.select_for_update().filter(pk=partner_id).first()
        if partner is None:
            raise NotFound("partner not found", details={"partner_id": partner_id})
        if partner.status != PartnerStatus.ACTIVE:
            raise Conflict(
                f"the partner is {partner.status}: it gets no new API key",
                details={"partner_id": partner_id, "status": partner.status},
            )
        key, secret = _new_key(partner.pk, actor, now)
        _audit(actor, "partner_key.create", key, now)
    return key.key_id, secret


def _live_key(key_id: str, now: datetime) -> PartnerApiKey:
    key = PartnerApiKey.objects.select_for_update().filter(key_id=key_id).first()
    if key is None:
        raise NotFound("API key not found", details={"key_id": key_id})
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        raise Conflict("the API key is no longer valid", details={"key_id": key_id})
    return key


def partner_key_rotate(
    *, key_id: str, overlap_seconds: int = DEFAULT_OVERLAP_SECONDS, actor: str, now: datetime
) -> tuple[str, str]:
    """A new key replacing ``key_id``, which keeps working for ``overlap_seconds`` (0 to 30
    days) and then expires: ``(new_key_id, new_secret)``."""
    if not 0 <= overlap_seconds <= MAX_OVERLAP_SECONDS:
        raise ValidationFailed(
            f"overlap must be 0 to {MAX_OVERLAP_SECONDS} seconds",
            details={"field": "overlap_seconds"},
        )
    with transaction.atomic():
        old = _live_key(key_id, now)
        new, secret = _new_key(old.partner_id, actor, now)
        until = now + timedelta(seconds=overlap_seconds)
        old.expires_at = min(until, old.expires_at) if old.expires_at else until
        old.replaced_by = new
        old.save(update_fields=["expires_at", "replaced_by"])
        _audit(
            actor,
            "partner_key.rotate",
            old,
            now,
            new_key_id=new.key_id,
            overlap_seconds=overlap_seconds,
        )
        _audit(actor, "partner_key.create", new, now, replaces=old.key_id)
    return new.key_id, secret


def partner_key_revoke(*, key_id: str, actor: str, now: datetime) -> bool:
    """Stop a key at once; False if it was already revoked."""
    with transaction.atomic():
        key = PartnerApiKey.objects.select_for_update().filter(key_id=key_id).first()
        if key is None:
            raise NotFound("API key not found", details={"key_id": key_id})
        if key.revoked_at is not None:
            return False
        key.revoked_at = now
        key.save(update_fields=["revoked_at"])
        _audit(actor, "partner_key.revoke", key, now)
    return True


def partner_key_list(*, partner_id: int) -> list[PartnerKeyView]:
    """A partner's keys, newest first (never the secrets)."""
    return [
        PartnerKeyView(
            key_id=k.key_id,
            partner_code=k.partner.code,
            created_at=k.created_at,
            expires_at=k.expires_at,
            revoked_at=k.revoked_at,
        )
        for k in PartnerApiKey.objects.filter(partner_id=partner_id)
        .select_related("partner")
        .order_by("-created_at")
    ]
