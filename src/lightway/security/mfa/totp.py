"""TOTP keys sealed at rest, checks at a given instant, QR codes for enrolment, hashed
backup codes.

A device's key lives sealed in ``TotpDevice.key_ct`` (data keys, context naming the user):
:func:`totp_device_new` seals a fresh 160-bit key, :func:`totp_key` opens it. Nothing else
reads it; the key in clear exists only in memory, while a code is checked or the enrolment
QR code is drawn.

:func:`totp_check` does the RFC 6238 check at the ``now`` the caller passes (django-otp's
``verify_token`` would read the wall clock), with the device's tolerance and drift,
refusing a code at or before the last accepted time step, so a code works once.

Backup codes live in django-otp's ``StaticToken`` rows, but as a keyed hash (16 hex
characters of HMAC-SHA256 with the blind-index key) instead of the code itself, so a
database dump does not hand out working codes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from base64 import b32encode
from datetime import datetime
from urllib.parse import quote, urlencode

import segno
from django.conf import settings
from django_otp.oath import TOTP

from lightway.security.crypto import blind_key, decrypt, encrypt
from lightway.security.mfa.models import TotpDevice, totp_key_context

BACKUP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


TOTP_KEY_BYTES = 20  # 160 bits, as RFC 4226 recommends


def totp_key(device: TotpDevice) -> bytes:
    """The device's key in clear (opened from its sealed column)."""
    return bytes.fromhex(
        decrypt(bytes(device.key_ct), context=totp_key_context(int(device.user_id)))
    )


def totp_key_seal(*, user_id: int, key: bytes) -> bytes:
    return encrypt(key.hex(), context=totp_key_context(user_id))


def totp_device_new(
    *, user_id: int, name: str, now: datetime, confirmed: bool = False, key: bytes | None = None
) -> TotpDevice:
    """A new device (saved) with a fresh random key (or ``key``), sealed."""
    raw = key if key is not None else secrets.token_bytes(TOTP_KEY_BYTES)
    device: TotpDevice = TotpDevice.objects.create(
        user_id=user_id,
        name=name,
        confirmed=confirmed,
        key_ct=totp_key_seal(user_id=user_id, key=raw),
        created_at=now,
    )
    return device


def totp_config_url(device: TotpDevice, *, account: str) -> str:
    """The ``otpauth://`` URL an authenticator app scans (the key in base32)."""
    issuer = str(getattr(settings, "OTP_TOTP_ISSUER", "") or "").replace(":", "")
    label = f"{issuer}:{account}" if issuer else account
    params = urlencode(
        {
            "secret": b32encode(totp_key(device)).decode().rstrip("="),
            "algorithm": "SHA1",
            "digits": device.digits,
            "period": device.step,
        }
    )
    if issuer:
        params += f"&issuer={quote(issuer)}"
    return f"otpauth://totp/{quote(label)}?{params}"


def totp_code(device: TotpDevice, *, now: datetime) -> str:
    """The device's code at ``now`` (the demo's ``lightway demo-totp``)."""
    totp = TOTP(totp_key(device), device.step, device.t0, device.digits, device.drift)
    totp.time = now.timestamp()
    return f"{totp.token():0{device.digits}d}"


def totp_check(device: TotpDevice, code: str, *, now: datetime) -> bool:
    """True (and the device's last step, drift and last use saved) if ``code`` is valid."""
    text = (code or "").strip().replace(" ", "")
    if not text.isdigit() or len(text) != device.digits:
        return False
    totp = TOTP(totp_key(device), device.step, device.t0, device.digits, device.drift)
    totp.time = now.timestamp()
    if not totp.verify(int(text), device.tolerance, device.last_t + 1):
        return False
    device.last_t = totp.t()
    device.drift = totp.drift
    device.last_used_at = now
    device.save(update_fields=["last_t", "drift", "last_used_at"])
    return True


def qr_data_uri(text: str) -> str:
    """An SVG QR code of ``text`` as a ``data:`` URI (allowed by the CSP's ``img-src``)."""
    qr = segno.make(text, error="m", micro=False)
    return str(qr.svg_data_uri(scale=5, border=2, dark="#10233f", light="#ffffff"))


def backup_code_new() -> str:
    raw = "".join(secrets.choice(BACKUP_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def backup_code_hash(code: str) -> str:
    normal = "".join(ch for ch in (code or "").lower() if ch.isalnum())
    return hmac.new(blind_key(), f"backup\x00{normal}".encode(), hashlib.sha256).hexdigest()[:16]
