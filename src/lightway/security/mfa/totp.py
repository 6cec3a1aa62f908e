"""TOTP checks at a given instant, QR codes for enrolment, hashed backup codes.

django-otp's ``TOTPDevice.verify_token`` reads the wall clock; the platform passes ``now``
in, so :func:`totp_check` does the same RFC 6238 check at ``now`` (with the device's
tolerance and drift, refusing a code at or before the last accepted time step, so a code
works once).

Backup codes live in django-otp's ``StaticToken`` rows, but as a keyed hash (16 hex
characters of HMAC-SHA256 with the blind-index key) instead of the code itself, so a
database dump does not hand out working codes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import segno
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from lightway.security.crypto import blind_key

BACKUP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


def totp_check(device: TOTPDevice, code: str, *, now: datetime) -> bool:
    """True (and the device's last step, drift and last use saved) if ``code`` is valid."""
    text = (code or "").strip().replace(" ", "")
    if not text.isdigit() or len(text) != device.digits:
        return False
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
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
