"""Bearer tokens: shown once, stored as SHA-256, looked up by hash; never for staff."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from django.db import connection, transaction

from lightway.data.audit.services import audit_record
from lightway.security.models import ApiToken
from lightway.security.policy import BEARER_PRINCIPAL_SQL, bearer_refused

TOKEN_PREFIX = "lw_"


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class StaffTokenRefused(Exception):
    """Staff accounts never get API credentials (they use the panels, with a second factor)."""

    message = (
        "staff accounts cannot hold API tokens; use the staff panel with two-factor authentication"
    )

    def __init__(self) -> None:
        super().__init__(self.message)


_STAFF_SQL = """
SELECT u.is_staff, u.is_superuser, coalesce(p.realm, '')
FROM auth_user u LEFT JOIN identity_profile p ON p.user_id = u.id
WHERE u.id = %s
FOR UPDATE OF u
"""


def token_issue(
    *, user_id: int, now: datetime, name: str = "default", raw: str | None = None
) -> str:
    """Create a token and return it in clear (the only time it is visible).

    ``raw`` lets the demo seed use a known token; it is ignored if that token already exists.
    Raises :class:`StaffTokenRefused` for a staff account (realm, ``is_staff`` or
    ``is_superuser``): staff never hold bearer credentials.
    """
    raw = raw or TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(_STAFF_SQL, [user_id])
            row = cur.fetchone()
        if row is not None and bearer_refused(
            is_staff=bool(row[0]), is_superuser=bool(row[1]), realm=str(row[2])
        ):
            raise StaffTokenRefused()
        token, created = ApiToken.objects.get_or_create(
            key_hash=_digest(raw),
            defaults={"user_id": user_id, "name": name, "prefix": raw[:10], "created_at": now},
        )
        if created:
            audit_record(
                actor=f"user:{user_id}",
                action="token.issue",
                object_type="security.api_token",
                object_id=str(token.pk),
                data={"name": name},
                now=now,
            )
    return raw


_USER_SQL = f"""
SELECT t.user_id, coalesce(p.realm, '')
FROM security_api_token t JOIN auth_user u ON u.id = t.user_id
LEFT JOIN identity_profile p ON p.user_id = u.id
WHERE t.key_hash = %s AND t.revoked_at IS NULL AND u.is_active
  AND {BEARER_PRINCIPAL_SQL}
"""


def token_user(*, raw: str) -> tuple[int, str] | None:
    """(user id, realm or "") of the active, non-staff user owning a live token, or None
    (one plain-SQL query: every API request runs this, so it also brings the realm the roles
    follow from). A staff account's token is refused like an unknown one."""
    with connection.cursor() as cur:
        cur.execute(_USER_SQL, [_digest(raw)])
        row = cur.fetchone()
    return (int(row[0]), str(row[1])) if row else None


def token_revoke(*, raw: str, now: datetime) -> bool:
    """Revoke a live token; True if one was revoked (audited)."""
    with transaction.atomic():
        token = (
            ApiToken.objects.select_for_update()
            .filter(key_hash=_digest(raw), revoked_at__isnull=True)
            .first()
        )
        if token is None:
            return False
        ApiToken.objects.filter(pk=token.pk).update(revoked_at=now)
        audit_record(
            actor=f"user:{token.user_id}",
            action="token.revoke",
            object_type="security.api_token",
            object_id=str(token.pk),
            now=now,
        )
    return True
