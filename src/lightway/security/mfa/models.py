"""Passkeys: WebAuthn credentials, stored as django-otp devices.

A passkey is a django-otp :class:`~django_otp.models.Device`, so signing in with one goes
through the same ``django_otp.login`` as TOTP and backup codes and ``request.user
.is_verified()`` is true afterwards. It never verifies a typed token
(:meth:`verify_token` is always false): only a WebAuthn assertion checked by
``lightway.security.mfa.passkeys`` proves it.
"""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django_otp.models import Device


class PasskeyCredential(Device):  # type: ignore[misc]
    # base64url of the authenticator's credential id (unique across all users)
    credential_id: models.CharField[str, str] = models.CharField(max_length=1400, unique=True)
    public_key: models.BinaryField[bytes | memoryview, bytes | memoryview] = (
        models.BinaryField()
    )  # COSE public key (not secret)
    sign_count: models.BigIntegerField[int, int] = models.BigIntegerField(default=0)
    transports = models.JSONField(default=list, blank=True)
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField()
    last_used_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        null=True, blank=True
    )

    class Meta:
        db_table = "mfa_passkey_credential"
        verbose_name = "passkey"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(sign_count__gte=0), name="passkey_sign_count_non_negative"
            )
        ]

    def verify_token(self, token: str) -> bool:  # pragma: no cover - never token-based
        return False

    def is_interactive(self) -> bool:
        return False
