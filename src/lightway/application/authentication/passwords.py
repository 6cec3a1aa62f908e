"""What a new password ends: every API session and refresh token of the account.

A password is changed by its owner (the customer panel's form) or set by an administrator
(the admin site's password form: a reset). Either way whoever held the old password may
already hold tokens, so :func:`password_changed` ends every mobile session of the account
(its refresh tokens are revoked and its devices' live sessions cleared, so the access
tokens stop at their next request), audits ``session.revoke_all`` and tells a customer by
a critical SMS that the password changed and every device was signed out. Devices stay
trusted: signing in again needs the new password. Web sessions end through Django's
session hash (it follows the password hash).

A database trigger (``apiauth`` migration 0002) clears the live sessions whenever
``auth_user.password`` changes, whoever changes it (``manage.py changepassword``, a shell),
so no path can forget this; the service adds the revocation time, the audit record and
the alert.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.db import transaction

from lightway.application.authentication.web_sessions import web_sessions_end_others
from lightway.application.notifications.service import notify
from lightway.data.audit.services import audit_record
from lightway.data.identity.models import Profile, Realm
from lightway.security.apiauth.models import Device, RefreshToken

PasswordEvent = Literal["password_change", "password_reset", "password_forgot"]


def sessions_revoke_all(*, user_id: int, actor: str, reason: str, now: datetime) -> int:
    """End every API session of the user: refresh tokens revoked, devices' live sessions
    cleared (audited ``session.revoke_all``). Returns the number of refresh tokens revoked."""
    with transaction.atomic():
        # the devices first, in a stable order, as refresh and logout lock them
        list(
            Device.objects.select_for_update()
            .filter(user_id=user_id)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        revoked = RefreshToken.objects.filter(
            device__user_id=user_id, revoked_at__isnull=True
        ).update(revoked_at=now)
        Device.objects.filter(user_id=user_id, session_family__isnull=False).update(
            session_family=None
        )
        audit_record(
            actor=actor,
            action="session.revoke_all",
            object_type="auth.user",
            object_id=str(user_id),
            data={"reason": reason, "refresh_tokens": revoked},
            now=now,
        )
    return revoked


def password_changed(*, user_id: int, actor: str, event: PasswordEvent, now: datetime) -> None:
    """After a new password is saved (in the same transaction): end every API session of the
    account and alert a customer. ``event`` is ``password_change`` (by the owner),
    ``password_reset`` (set by someone else) or ``password_forgot`` (by the owner with a
    code sent to their phone, "Forgot your password?")."""
    with transaction.atomic():
        sessions_revoke_all(user_id=user_id, actor=actor, reason=event, now=now)
        # Django refuses the browser sessions signed in with the old password; the panel
        # that changed it opens a new one for itself (``update_session_auth_hash``).
        web_sessions_end_others(
            user_id=user_id, current_key=None, now=now, actor=actor, reason="password_changed"
        )
        profile = Profile.objects.filter(user_id=user_id).only("realm", "language").first()
        if profile is not None and profile.realm == Realm.CUSTOMER:
            notify(
                template="password_changed",
                context={
                    "reset": event == "password_reset",
                    "forgot": event == "password_forgot",
                },
                now=now,
                user_id=user_id,
                language=profile.language,
                critical=True,
            )
