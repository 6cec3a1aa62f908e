"""Second-factor devices: authenticator apps (TOTP, key sealed) and passkeys (WebAuthn),
both django-otp devices.

``TotpDevice`` replaces django-otp's ``TOTPDevice``, which kept the shared TOTP key in
clear (issue 11, finding 2): its key is sealed with the data keys
(``lightway.security.crypto``, context ``mfa.totp.key:<user id>``) and re-sealed by
``lightway keys rotate``; only :mod:`lightway.security.mfa.totp` opens it, to check a
code or to show the enrolment QR code once. One device per user.

Passkeys: WebAuthn credentials, stored as django-otp devices.

A passkey is a django-otp :class:`~django_otp.models.Device`, so signing in with one goes
through the same ``django_otp.login`` as TOTP and backup codes and ``request.user
.is_verified()`` is true afterwards. It never verifies a typed token
(:meth:`verify_token` is always false): only a WebAuthn assertion checked by
``lightway.security.mfa.passkeys`` proves it.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django_otp.models import Device


def totp_key_context(user_id: int) -> str:
    """The associated data of a user's sealed TOTP key (a copy in another row does not open)."""
    return f"mfa.totp.key:{user_id}"


class TotpDevice(Device):  # type: ignore[misc]
    """An authenticator app (RFC 6238). It never verifies a code by itself
    (:meth:`verify_token` is false): :func:`lightway.security.mfa.totp.totp_check` does, at
    the instant the caller passes in."""

    key_ct: models.BinaryField[bytes | memoryview, bytes | memoryview] = models.BinaryField()
    step: models.PositiveSmallIntegerField[int, int] = models.PositiveSmallIntegerField(default=30)
    t0: models.BigIntegerField[int, int] = models.BigIntegerField(default=0)
    digits: models.PositiveSmallIntegerField[int, int] = models.PositiveSmallIntegerField(default=6)
    tolerance: models.PositiveSmallIntegerField[int, int] = models.PositiveSmallIntegerField(
        default=1
    )
    drift: models.SmallIntegerField[int, int] = models.SmallIntegerField(default=0)
    last_t: models.BigIntegerField[int, int] = models.BigIntegerField(default=-1)
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField()
    last_used_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        null=True, blank=True
    )

    class Meta:
        db_table = "mfa_totp_device"
        verbose_name = "authenticator app"
        constraints = [
            models.UniqueConstraint(fields=["user"], name="totp_device_one_per_user"),
            models.CheckConstraint(
                condition=models.Q(digits__in=[6, 8]), name="totp_device_digits_6_or_8"
            ),
        ]

    def verify_token(self, token: str) -> bool:  # pragma: no cover - see totp_check
        return False


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


class MfaResetRequest(models.Model):
    """A staff member asks that another staff member's second factor be reset; a different
    authorised staff member approves (or rejects) it: maker-checker. On approval every
    device of the target is deleted and the target must enrol again at the next sign-in.

    The database holds the rule: the requester is not the target, the decider is neither
    the requester nor the target, a decision has its decider and time, and a target has at
    most one pending request.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for approval"
        APPROVED = "approved", "Approved: the second factor was reset"
        REJECTED = "rejected", "Rejected"

    target = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=500)
    requested_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "mfa_reset_request"
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(requested_by=models.F("target")),
                name="mfa_reset_not_by_target",
            ),
            models.CheckConstraint(
                condition=models.Q(decided_by__isnull=True)
                | (
                    ~models.Q(decided_by=models.F("requested_by"))
                    & ~models.Q(decided_by=models.F("target"))
                ),
                name="mfa_reset_four_eyes",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(status="pending", decided_by__isnull=True, decided_at__isnull=True)
                    | models.Q(
                        status__in=["approved", "rejected"],
                        decided_by__isnull=False,
                        decided_at__isnull=False,
                    )
                ),
                name="mfa_reset_decision_complete",
            ),
            models.UniqueConstraint(
                fields=["target"],
                condition=models.Q(status="pending"),
                name="mfa_reset_one_pending_per_target",
            ),
        ]

    def __str__(self) -> str:
        return f"second-factor reset {self.pk} of user {self.target_id} ({self.status})"
