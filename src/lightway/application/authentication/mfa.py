"""Second factors: TOTP (authenticator app), backup codes and passkeys.

- TOTP uses ``TotpDevice`` (its key sealed with the data keys); it is unconfirmed until
  the first valid code, and confirming it issues 10 backup codes (django-otp
  ``StaticDevice``; stored hashed, shown once).
- Passkeys are WebAuthn credentials (``lightway.security.mfa.PasskeyCredential``, itself a
  django-otp device). The web session keeps the challenge between the two halves of a
  ceremony.
- Every check goes through the lockout key ``mfa:<user id>`` (free attempts, then backoff).
- Everything is audited as ``mfa.*`` with the method used, never a code or a key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils.translation import gettext, gettext_noop
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from lightway.application.authentication.login import TooManyAttempts, realm_is_staff, user_realm
from lightway.application.datakeys.rotation import EncryptedColumn, encrypted_column_register
from lightway.application.errors import DomainError, NotFound, ValidationFailed
from lightway.data.audit.services import audit_record
from lightway.security.crypto import blind_index
from lightway.security.mfa import passkeys
from lightway.security.mfa.models import PasskeyCredential, TotpDevice, totp_key_context
from lightway.security.mfa.totp import (
    backup_code_hash,
    backup_code_new,
    qr_data_uri,
    totp_check,
    totp_config_url,
    totp_device_new,
    totp_key,
)
from lightway.security.throttle import Attempt, Locked, throttle_attempt, throttle_clear

log = logging.getLogger(__name__)

# TOTP keys are sealed with the data keys: ``lightway keys rotate`` re-seals them.
encrypted_column_register(
    EncryptedColumn("mfa.TotpDevice", "key_ct", lambda row: totp_key_context(int(row.user_id)))
)

BACKUP_CODES = 10
TOTP_NAME = "Authenticator app"
BACKUP_NAME = "Backup codes"
WRONG_CODE = gettext_noop("That code is not right. Check your authenticator app and try again.")


class SecondFactorRejected(DomainError):
    code = "second_factor_rejected"


def _audit(user_id: int, action: str, now: datetime, **data: object) -> None:
    audit_record(
        actor=f"user:{user_id}",
        action=action,
        object_type="auth.user",
        object_id=str(user_id),
        data=dict(data),
        now=now,
    )


def _user(user_id: int) -> AbstractBaseUser:
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        raise NotFound("no such account")
    return user


def _throttle_key(user_id: int) -> str:
    return f"mfa:{user_id}"


def _attempt(user_id: int, now: datetime) -> Attempt:
    """Count this attempt before the code is checked (under the throttle row's lock)."""
    try:
        return throttle_attempt(key=_throttle_key(user_id), now=now)
    except Locked as exc:
        raise TooManyAttempts(exc.retry_after) from None


def _failed(
    user_id: int, now: datetime, method: str, attempt: Attempt, message: str = WRONG_CODE
) -> None:
    locked_until = attempt.locked_until
    with transaction.atomic():
        _audit(user_id, "mfa.verify_failed", now, method=method)
    if locked_until is not None:
        raise TooManyAttempts(max(1, int((locked_until - now).total_seconds() + 0.999)))
    raise SecondFactorRejected(gettext(message), details={"field": "code"})


# --- status ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PasskeyView:
    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True)
class MfaStatus:
    totp: bool
    backup_codes_left: int
    passkeys: list[PasskeyView] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return self.totp or bool(self.passkeys)


def mfa_status(*, user_id: int) -> MfaStatus:
    totp = TotpDevice.objects.filter(user_id=user_id, confirmed=True).exists()
    left = StaticToken.objects.filter(device__user_id=user_id, device__confirmed=True).count()
    keys = [
        PasskeyView(p.pk, p.name, p.created_at, p.last_used_at)
        for p in PasskeyCredential.objects.filter(user_id=user_id, confirmed=True).order_by("pk")
    ]
    return MfaStatus(totp=totp, backup_codes_left=left, passkeys=keys)


def mfa_required(*, user: AbstractBaseUser) -> bool:
    """Staff always need a second factor; customers once they have turned one on."""
    if realm_is_staff(user_realm(user)):
        return True
    return mfa_status(user_id=int(user.pk)).any


# --- TOTP -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str  # base32, grouped by 4 for typing into an app by hand
    otpauth_url: str
    qr_data_uri: str


def totp_enrol_start(*, user_id: int, now: datetime) -> TotpEnrolment:
    """A new, unconfirmed TOTP device (replacing any unconfirmed one; its key sealed) and
    its QR code."""
    _user(user_id)
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=user_id).first()  # one at a time
        if TotpDevice.objects.filter(user_id=user_id, confirmed=True).exists():
            raise ValidationFailed(
                gettext("An authenticator app is already set up. Turn it off first to replace it."),
                details={"field": "code"},
            )
        replaced, _ = TotpDevice.objects.filter(user_id=user_id, confirmed=False).delete()
        device = totp_device_new(user_id=user_id, name=TOTP_NAME, now=now)
        _audit(user_id, "mfa.totp.enrol_start", now, device=device.pk, replaced=replaced)
    return totp_enrolment(device)


def totp_enrolment(device: TotpDevice) -> TotpEnrolment:
    from base64 import b32encode

    secret = b32encode(totp_key(device)).decode().rstrip("=")
    url = totp_config_url(device, account=_user(int(device.user_id)).get_username())
    return TotpEnrolment(
        secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        otpauth_url=url,
        qr_data_uri=qr_data_uri(url),
    )


def totp_pending(*, user_id: int) -> TotpEnrolment | None:
    device = TotpDevice.objects.filter(user_id=user_id, confirmed=False).order_by("-pk").first()
    return totp_enrolment(device) if device else None


def totp_enrol_confirm(*, user_id: int, code: str, now: datetime) -> tuple[Device, list[str]]:
    """Confirm the pending TOTP device with its first code; returns it and new backup codes
    (to show once)."""
    if not (code or "").strip():
        raise SecondFactorRejected(
            gettext("Enter the 6-digit code from your app."), details={"field": "code"}
        )
    attempt = _attempt(user_id, now)
    with transaction.atomic():
        device = (
            TotpDevice.objects.select_for_update()
            .filter(user_id=user_id, confirmed=False)
            .order_by("-pk")
            .first()
        )
        if device is None:
            raise ValidationFailed(
                gettext("Start the set-up again: no authenticator app is waiting for a code."),
                details={"field": "code"},
            )
        ok = totp_check(device, code, now=now)
        if ok:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            _audit(user_id, "mfa.totp.confirm", now, device=device.pk)
            codes = _backup_codes_replace(user_id, now)
    if not ok:
        _failed(user_id, now, "totp_enrol", attempt)
    throttle_clear(key=_throttle_key(user_id))
    return device, codes


def totp_disable(*, user_id: int, code: str, now: datetime) -> None:
    """Turn off TOTP and backup codes (customers only), after one more valid code."""
    user = _user(user_id)
    if realm_is_staff(user_realm(user)):
        raise ValidationFailed(
            "Staff accounts must keep an authenticator app.", details={"field": "code"}
        )
    second_factor_verify(user_id=user_id, code=code, now=now, purpose="disable")
    with transaction.atomic():
        removed, _ = TotpDevice.objects.filter(user_id=user_id).delete()
        StaticDevice.objects.filter(user_id=user_id).delete()
        _audit(user_id, "mfa.totp.disable", now, removed=removed)


# --- backup codes -----------------------------------------------------------------------


def _backup_codes_replace(user_id: int, now: datetime) -> list[str]:
    StaticDevice.objects.filter(user_id=user_id).delete()
    device = StaticDevice.objects.create(user_id=user_id, name=BACKUP_NAME, confirmed=True)
    codes = [backup_code_new() for _ in range(BACKUP_CODES)]
    StaticToken.objects.bulk_create(
        [StaticToken(device=device, token=backup_code_hash(c)) for c in codes]
    )
    _audit(user_id, "mfa.backup_codes.generate", now, count=len(codes))
    return codes


def backup_codes_regenerate(*, user_id: int, now: datetime) -> list[str]:
    """Ten new backup codes; the old ones stop working. Shown once, stored hashed."""
    if not mfa_status(user_id=user_id).any:
        raise ValidationFailed(
            gettext("Set up an authenticator app first."), details={"field": "code"}
        )
    with transaction.atomic():
        return _backup_codes_replace(user_id, now)


# --- verification -----------------------------------------------------------------------


def second_factor_verify(
    *, user_id: int, code: str, now: datetime, purpose: str = "login"
) -> Device:
    """The device that accepts ``code``: the TOTP app, else a backup code (used up).

    Raises :class:`SecondFactorRejected` or :class:`TooManyAttempts`.
    """
    text = (code or "").strip()
    if not text:
        raise SecondFactorRejected(
            gettext("Enter a code from your app or a backup code."), details={"field": "code"}
        )
    attempt = _attempt(user_id, now)
    device: Device | None = None
    method = ""
    left = 0
    with transaction.atomic():
        digits = text.replace(" ", "")
        if digits.isdigit():
            totp = (
                TotpDevice.objects.select_for_update()
                .filter(user_id=user_id, confirmed=True)
                .first()
            )
            if totp is not None and totp_check(totp, digits, now=now):
                device, method = totp, "totp"
        if device is None:
            token = (
                StaticToken.objects.select_for_update()
                .filter(
                    device__user_id=user_id,
                    device__confirmed=True,
                    token=backup_code_hash(text),
                )
                .select_related("device")
                .first()
            )
            if token is not None:
                static = token.device
                token.delete()
                static.last_used_at = now
                static.save(update_fields=["last_used_at"])
                device, method = static, "backup_code"
                left = StaticToken.objects.filter(device=static).count()
        if device is not None:
            extra: dict[str, object] = {"method": method, "purpose": purpose}
            if method == "backup_code":
                extra["backup_codes_left"] = left
            _audit(user_id, "mfa.verify", now, **extra)
    if device is None:
        _failed(user_id, now, "code", attempt)
    throttle_clear(key=_throttle_key(user_id))
    assert device is not None
    return device


# --- passkeys ---------------------------------------------------------------------------


def _user_handle(user_id: int) -> bytes:
    # Opaque and stable: no user id or personal data leaves in the WebAuthn user handle.
    return bytes.fromhex(blind_index("webauthn_user", str(user_id))[:32])


def _existing(user_id: int) -> list[tuple[str, list[str]]]:
    return [
        (p.credential_id, list(p.transports or []))
        for p in PasskeyCredential.objects.filter(user_id=user_id, confirmed=True)
    ]


def passkey_register_begin(*, user_id: int) -> passkeys.Ceremony:
    user = _user(user_id)
    return passkeys.registration_begin(
        user_handle=_user_handle(user_id),
        user_name=user.get_username(),
        existing=_existing(user_id),
    )


def passkey_register_finish(
    *, user_id: int, response_json: str, challenge: str, name: str, now: datetime
) -> PasskeyCredential:
    label = " ".join((name or "").split())[:60] or "Passkey"
    try:
        new = passkeys.registration_finish(response_json=response_json, challenge=challenge)
    except passkeys.PasskeyRejected as exc:
        raise SecondFactorRejected(str(exc), details={"field": "passkey"}) from None
    try:
        with transaction.atomic():
            credential: PasskeyCredential = PasskeyCredential.objects.create(
                user_id=user_id,
                name=label,
                confirmed=True,
                credential_id=new.credential_id,
                public_key=new.public_key,
                sign_count=new.sign_count,
                transports=new.transports,
                created_at=now,
            )
            _audit(user_id, "mfa.passkey.add", now, passkey=credential.pk)
    except IntegrityError:
        raise SecondFactorRejected(
            "This passkey is already registered.", details={"field": "passkey"}
        ) from None
    return credential


def passkey_auth_begin(*, user_id: int) -> passkeys.Ceremony:
    allowed = _existing(user_id)
    if not allowed:
        raise ValidationFailed("No passkey is registered.", details={"field": "passkey"})
    return passkeys.authentication_begin(allowed=allowed)


def passkey_auth_finish(
    *, user_id: int, response_json: str, challenge: str, now: datetime
) -> PasskeyCredential:
    attempt = _attempt(user_id, now)
    try:
        cred_id = passkeys.credential_id_of(response_json)
    except passkeys.PasskeyRejected:
        cred_id = ""
    credential: PasskeyCredential | None = (
        PasskeyCredential.objects.filter(
            user_id=user_id, confirmed=True, credential_id=cred_id
        ).first()
        if cred_id
        else None
    )
    if credential is None:
        _failed(user_id, now, "passkey", attempt, "That passkey is not registered on this account.")
    assert credential is not None
    try:
        new_count = passkeys.authentication_finish(
            response_json=response_json,
            challenge=challenge,
            public_key=bytes(credential.public_key),
            sign_count=int(credential.sign_count),
        )
    except passkeys.PasskeyRejected:
        _failed(user_id, now, "passkey", attempt, "The passkey could not be verified.")
        raise  # unreachable: _failed always raises
    with transaction.atomic():
        PasskeyCredential.objects.filter(pk=credential.pk).update(
            sign_count=new_count, last_used_at=now
        )
        _audit(user_id, "mfa.verify", now, method="passkey", passkey=credential.pk)
    throttle_clear(key=_throttle_key(user_id))
    credential.refresh_from_db()
    return credential


def passkey_remove(*, user_id: int, passkey_id: int, now: datetime) -> None:
    with transaction.atomic():
        deleted, _ = PasskeyCredential.objects.filter(user_id=user_id, pk=passkey_id).delete()
        if not deleted:
            raise NotFound("no such passkey")
        _audit(user_id, "mfa.passkey.remove", now, passkey=passkey_id)
