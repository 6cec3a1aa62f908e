"""API sign-in for the mobile app: devices, short-lived access tokens, rotating refresh tokens.

Flow (docs/api.md, "Authentication"):

1. ``login_start``: phone number (or username) and password, plus the app's device id.
   Wrong password and unknown login give the same error and both count against a lockout
   key; an account with an authenticator app also needs its ``totp`` code. On a device the
   customer has already confirmed, tokens come back at once; on a new (or revoked) device
   an SMS code is sent and a challenge id is returned instead.
2. ``login_verify``: the challenge id and the SMS code -> tokens; the device is now trusted
   and the customer is told by SMS that a new device signed in.
3. ``tokens_refresh``: a refresh token is used once; the answer carries the next one. A
   refresh token presented twice (a copy is in someone else's hands) or from another
   device revokes the whole session (its family); so does logout and device revocation.

Staff accounts never get API tokens (they use the panels, with MFA); partner users use
signed requests with API keys.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import phonenumbers
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from lightway.application.authentication.errors import (
    ChallengeInvalid,
    CodeInvalid,
    LoginFailed,
    LoginNotAllowed,
    RefreshRejected,
    StaffNotAllowed,
    TooManyAttempts,
    TotpInvalid,
    TotpRequired,
)
from lightway.application.authentication.login import auth_event_record, password_verify
from lightway.application.datakeys.rotation import EncryptedColumn, encrypted_column_register
from lightway.application.errors import NotFound, RequestRefused, ValidationFailed
from lightway.application.identity.phones import MARKETS, phone_normalise
from lightway.application.identity.profiles import profile_find, profile_pii
from lightway.application.notifications.service import notify
from lightway.application.ratelimits import sms_rate_check
from lightway.application.text import text_printable
from lightway.data.audit.services import audit_record
from lightway.data.identity.models import Profile, Realm
from lightway.security.apiauth.access import (
    CHALLENGE_PREFIX,
    TokenInvalid,
    access_token_issue,
    device_id_digest,
    refresh_token_digest,
    refresh_token_new,
    signed_dumps,
    signed_loads,
)
from lightway.security.apiauth.models import Device, RefreshToken
from lightway.security.codes import CodeRejected, code_issue, code_verify
from lightway.security.crypto import decrypt_optional, encrypt_optional
from lightway.security.masking import mask_phone
from lightway.security.mfa.models import TotpDevice
from lightway.security.mfa.totp import totp_check
from lightway.security.models import OneTimeCode
from lightway.security.policy import bearer_refused
from lightway.security.throttle import Locked, throttle_attempt, throttle_clear

log = logging.getLogger(__name__)

LOGIN_PURPOSE = "login"
LOGIN_MAX = 120
MAX_DEVICE_NAME = 80


def device_name_context(device_id: uuid.UUID | str) -> str:
    return f"apiauth.device.name:{device_id}"


encrypted_column_register(
    EncryptedColumn("apiauth.Device", "name_ct", lambda row: device_name_context(row.pk))
)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    access_expires_at: datetime
    access_expires_in: int  # seconds
    refresh_token: str
    refresh_expires_at: datetime
    device_id: uuid.UUID


@dataclass(frozen=True)
class LoginChallenge:
    challenge_id: str
    expires_at: datetime
    sent_to: str  # the masked phone number the code went to


@dataclass(frozen=True)
class LoginOutcome:
    """Exactly one of ``tokens`` (a trusted device) and ``challenge`` (an SMS was sent)."""

    tokens: TokenPair | None = None
    challenge: LoginChallenge | None = None


@dataclass(frozen=True)
class DeviceView:
    id: uuid.UUID
    name: str
    first_seen_at: datetime
    last_seen_at: datetime
    trusted_at: datetime | None
    signed_in: bool


def _refresh_seconds() -> int:
    return int(getattr(settings, "LIGHTWAY_REFRESH_TOKEN_SECONDS", 30 * 86400))


def _locked(exc: Locked) -> TooManyAttempts:
    return TooManyAttempts(exc.retry_after)


def _audit(user_id: int, action: str, object_id: str, now: datetime, **data: Any) -> None:
    audit_record(
        actor=f"user:{user_id}",
        action=action,
        object_type="apiauth.device",
        object_id=object_id,
        data=data,
        now=now,
    )


# --- sign-in --------------------------------------------------------------------------


def _looks_like_phone(text: str) -> bool:
    digits = text.replace(" ", "").replace("-", "")
    return digits.startswith("+") or (digits.isdigit() and len(digits) >= 6)


def _normalise_login(login: str, country: str | None) -> tuple[str, str]:
    """("phone", E.164) or ("username", name); RequestRefused (phone_invalid) for a login
    that looks like a phone number but is not one of a served market."""
    text = (login or "").strip()
    if not text or not text_printable(text, max_length=LOGIN_MAX):
        raise ValidationFailed(
            f"login must be 1 to {LOGIN_MAX} printable characters", details={"field": "login"}
        )
    if not _looks_like_phone(text):
        return "username", text
    region = (country or "").upper()
    if not region:
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(text, None)) or ""
        except phonenumbers.NumberParseException:
            region = ""
        if region not in MARKETS:
            raise RequestRefused(
                "phone_invalid",
                "give the phone number in international form (+256...) or send country",
                details={"field": "login"},
            )
    try:
        return "phone", phone_normalise(text, country=region, field="login")
    except ValidationFailed as exc:
        # the login is well formed (the document's pattern) but names no possible number
        raise RequestRefused("phone_invalid", exc.message, details={"field": "login"}) from None


def _find_user(kind: str, value: str) -> AbstractBaseUser | None:
    users = get_user_model().objects
    if kind == "phone":
        profile = profile_find(kind="phone", value=value)
        return users.filter(pk=profile.user_id).first() if profile else None
    return users.filter(username=value).first()


def _profile(user: AbstractBaseUser) -> Profile | None:
    return Profile.objects.filter(user_id=user.pk).first()


def _refuse_non_customers(user: AbstractBaseUser, profile: Profile | None) -> None:
    if bearer_refused(
        is_staff=bool(getattr(user, "is_staff", False)),
        is_superuser=bool(getattr(user, "is_superuser", False)),
        realm=profile.realm if profile is not None else "",
    ):
        raise StaffNotAllowed()
    if profile is not None and profile.realm != Realm.CUSTOMER:
        raise LoginNotAllowed(
            "partner accounts use API keys and signed requests, not sign-in tokens"
        )


def _check_password(kind: str, value: str, password: str, now: datetime) -> AbstractBaseUser:
    user = _find_user(kind, value)
    try:
        check = password_verify(user=user, login_key=value, password=password, now=now)
    except Locked as exc:
        raise _locked(exc) from None
    if not check.ok or user is None:
        if user is not None:
            auth_event_record(
                user_id=user.pk,
                action="session.login_failed",
                data={"factor": "password", "channel": "api", "locked": bool(check.locked_until)},
                now=now,
            )
        log.info("api login refused", extra={"factor": "password", "known": user is not None})
        raise LoginFailed()
    return user


def _check_totp(user: AbstractBaseUser, totp: str | None, now: datetime) -> bool:
    """True if the user has an authenticator app (and ``totp`` matched it)."""
    if not TotpDevice.objects.filter(user_id=user.pk, confirmed=True).exists():
        return False
    if not totp:
        raise TotpRequired()
    key = f"totp:{user.pk}"
    try:
        attempt = throttle_attempt(key=key, now=now)  # counted before the check
    except Locked as exc:
        raise _locked(exc) from None
    with transaction.atomic():
        devices = TotpDevice.objects.select_for_update().filter(user_id=user.pk, confirmed=True)
        ok = any(totp_check(device, totp, now=now) for device in devices)
    if not ok:
        locked_until = attempt.locked_until
        auth_event_record(
            user_id=user.pk,
            action="session.login_failed",
            data={"factor": "totp", "channel": "api", "locked": bool(locked_until)},
            now=now,
        )
        raise TotpInvalid()
    throttle_clear(key=key)
    return True


def _device_for_login(
    user_id: int, device_id: str, device_name: str, now: datetime
) -> tuple[Device, bool]:
    """The device row (created or reset when revoked) and whether it is trusted."""
    digest = device_id_digest(device_id)
    with transaction.atomic():
        device = (
            Device.objects.select_for_update()
            .filter(user_id=user_id, device_id_hash=digest)
            .first()
        )
        if device is None:
            device = Device(
                user_id=user_id, device_id_hash=digest, first_seen_at=now, last_seen_at=now
            )
        elif device.revoked_at is not None:
            # Revoked earlier: it has to be confirmed again, like a new device.
            device.revoked_at = None
            device.trusted_at = None
        if device_name or device.name_ct is None:  # a sign-in without a name keeps the old one
            device.name_ct = encrypt_optional(
                device_name[:MAX_DEVICE_NAME] or None, context=device_name_context(device.id)
            )
        device.last_seen_at = now
        device.save()
    return device, device.trusted_at is not None


def _session_open(device: Device, now: datetime) -> TokenPair:
    """A new session (refresh-token family) on the device; its previous one ends."""
    family = uuid.uuid4()
    raw, digest = refresh_token_new()
    expires = now + timedelta(seconds=_refresh_seconds())
    if device.session_family is not None:
        RefreshToken.objects.filter(family=device.session_family, revoked_at__isnull=True).update(
            revoked_at=now
        )
    RefreshToken.objects.create(
        family=family, device=device, token_hash=digest, issued_at=now, expires_at=expires
    )
    Device.objects.filter(pk=device.pk).update(session_family=family, last_seen_at=now)
    access, exp = access_token_issue(
        user_id=device.user_id, device_id=device.id, family=family, now=now
    )
    return TokenPair(
        access_token=access,
        access_expires_at=datetime.fromtimestamp(exp, tz=now.tzinfo),
        access_expires_in=exp - int(now.timestamp()),
        refresh_token=raw,
        refresh_expires_at=expires,
        device_id=device.id,
    )


def _login_succeeded(user_id: int, device: Device, now: datetime, **data: Any) -> TokenPair:
    with transaction.atomic():
        device = Device.objects.select_for_update().get(pk=device.pk)
        tokens = _session_open(device, now)
        _audit(user_id, "session.login", str(device.pk), now, channel="api", **data)
    return tokens


def _validate_device_id(device_id: str) -> None:
    if not 8 <= len(device_id or "") <= 200 or not device_id.isprintable():
        raise ValidationFailed(
            "device_id must be 8 to 200 printable characters", details={"field": "device_id"}
        )


def login_start(
    *,
    login: str,
    password: str,
    device_id: str,
    device_name: str,
    country: str | None,
    now: datetime,
    totp: str | None = None,
    client: str = "",
) -> LoginOutcome:
    """Check the password (and authenticator code); tokens on a trusted device, else an SMS
    challenge. Raises LoginFailed, TotpRequired, TotpInvalid, StaffNotAllowed,
    LoginNotAllowed, TooManyAttempts or ValidationFailed."""
    _validate_device_id(device_id)
    kind, value = _normalise_login(login, country)
    user = _check_password(kind, value, password, now)
    profile = _profile(user)
    _refuse_non_customers(user, profile)
    with_totp = _check_totp(user, totp, now)
    device, trusted = _device_for_login(user.pk, device_id, device_name, now)
    if trusted:
        tokens = _login_succeeded(user.pk, device, now, new_device=False, totp=with_totp)
        return LoginOutcome(tokens=tokens)

    phone = profile_pii(profile).phone if profile is not None else None
    if not phone:
        raise LoginNotAllowed(
            "this account has no phone number to confirm a new device with; contact support"
        )
    sms_rate_check(client=client, phone=phone, now=now)  # per client address and number
    with transaction.atomic():
        issued = code_issue(
            purpose=LOGIN_PURPOSE,
            user_id=user.pk,
            now=now,
            target_bidx=(profile.phone_bidx or "") if profile else "",
            context=f"device:{device.pk}",
        )
        notify(
            template="login_code",
            context={"code": issued.code},
            now=now,
            user_id=user.pk,
            critical=True,
        )
        _audit(user.pk, "session.device_challenge", str(device.pk), now, channel="sms")
    challenge = signed_dumps(
        prefix=CHALLENGE_PREFIX,
        typ="login",
        claims={
            "sub": user.pk,
            "dev": str(device.pk),
            "cid": issued.id,
            "totp": with_totp,
            "exp": int(issued.expires_at.timestamp()),
        },
    )
    return LoginOutcome(
        challenge=LoginChallenge(
            challenge_id=challenge, expires_at=issued.expires_at, sent_to=mask_phone(phone)
        )
    )


def _code_live(purpose: str, user_id: int, code_id: object) -> bool:
    return (
        isinstance(code_id, int)
        and OneTimeCode.objects.filter(
            pk=code_id, purpose=purpose, user_id=user_id, used_at__isnull=True
        ).exists()
    )


def login_verify(*, challenge_id: str, code: str, now: datetime) -> TokenPair:
    """Confirm a new device with the SMS code: it becomes trusted and tokens are issued."""
    try:
        claims = signed_loads(challenge_id, prefix=CHALLENGE_PREFIX, typ="login", now=now)
        user_id = int(claims["sub"])
        device_pk = uuid.UUID(str(claims["dev"]))
    except (TokenInvalid, KeyError, TypeError, ValueError):
        raise ChallengeInvalid() from None
    if not _code_live(LOGIN_PURPOSE, user_id, claims.get("cid")):
        # superseded by a newer sign-in attempt or already used: do not spend the new code
        raise ChallengeInvalid()
    try:
        row = code_verify(
            purpose=LOGIN_PURPOSE,
            user_id=user_id,
            code=code or "",
            now=now,
            context=f"device:{device_pk}",
        )
    except Locked as exc:
        raise _locked(exc) from None
    except CodeRejected:
        raise CodeInvalid() from None
    if row.pk != claims.get("cid"):
        raise ChallengeInvalid()
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    device = Device.objects.filter(pk=device_pk, user_id=user_id).first()
    if user is None or device is None:
        raise ChallengeInvalid()
    _refuse_non_customers(user, _profile(user))
    with transaction.atomic():
        Device.objects.filter(pk=device.pk).update(trusted_at=now, revoked_at=None)
        _audit(user_id, "session.device_trust", str(device.pk), now, factor="sms")
        name = decrypt_optional(device.name_ct, context=device_name_context(device.pk))
        notify(
            template="new_device",
            context={"device": name or "a new phone"},
            now=now,
            user_id=user_id,
            critical=True,
        )
    return _login_succeeded(
        user_id, device, now, new_device=True, totp=bool(claims.get("totp", False))
    )


# --- refresh, logout, devices ---------------------------------------------------------


def _family_revoke(family: uuid.UUID, now: datetime) -> None:
    RefreshToken.objects.filter(family=family, revoked_at__isnull=True).update(revoked_at=now)
    Device.objects.filter(session_family=family).update(session_family=None)


def _bearer_allowed(user_id: int) -> bool:
    """The account is active and not staff (staff never hold bearer credentials)."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    realm = Profile.objects.filter(user_id=user_id).values_list("realm", flat=True).first()
    return not bearer_refused(
        is_staff=bool(user.is_staff), is_superuser=bool(user.is_superuser), realm=realm or ""
    )


def tokens_refresh(*, refresh_token: str, device_id: str, now: datetime) -> TokenPair:
    """Use a refresh token once and get the next pair. A used token presented again, or a
    token presented from another device, ends the whole session (theft detection)."""
    digest = refresh_token_digest(refresh_token or "")
    problem = ""
    with transaction.atomic():
        row = (
            RefreshToken.objects.select_for_update()
            .select_related("device")
            .filter(token_hash=digest)
            .first()
        )
        if row is None:
            raise RefreshRejected()
        device = Device.objects.select_for_update().get(pk=row.device_id)
        user_ok = _bearer_allowed(device.user_id)
        if row.revoked_at is not None or device.revoked_at is not None or not user_ok:
            raise RefreshRejected()
        if row.used_at is not None:
            problem = "reuse"
        elif device.device_id_hash != device_id_digest(device_id or ""):
            problem = "device_mismatch"
        if problem:
            _family_revoke(row.family, now)
            _audit(device.user_id, "session.revoke", str(device.pk), now, reason=problem)
        else:
            if row.expires_at <= now or device.session_family != row.family:
                raise RefreshRejected()
            raw, new_digest = refresh_token_new()
            nxt = RefreshToken.objects.create(
                family=row.family,
                device=device,
                token_hash=new_digest,
                issued_at=now,
                expires_at=now + timedelta(seconds=_refresh_seconds()),
            )
            RefreshToken.objects.filter(pk=row.pk).update(used_at=now, replaced_by=nxt)
            Device.objects.filter(pk=device.pk).update(last_seen_at=now)
    if problem:
        # committed above: the revocation stands although the request is refused
        log.warning("refresh token refused, session revoked", extra={"reason": problem})
        raise RefreshRejected("this session has been ended for safety; sign in again")
    access, exp = access_token_issue(
        user_id=device.user_id, device_id=device.pk, family=row.family, now=now
    )
    return TokenPair(
        access_token=access,
        access_expires_at=datetime.fromtimestamp(exp, tz=now.tzinfo),
        access_expires_in=exp - int(now.timestamp()),
        refresh_token=raw,
        refresh_expires_at=nxt.expires_at,
        device_id=device.pk,
    )


def logout(*, user_id: int, device_id: uuid.UUID, family: uuid.UUID, now: datetime) -> None:
    """End the session an access token belongs to (its refresh tokens stop working and so
    do its access tokens); the device stays trusted."""
    with transaction.atomic():
        _family_revoke(family, now)
        _audit(user_id, "session.logout", str(device_id), now)


def device_list(*, user_id: int) -> list[DeviceView]:
    """The customer's devices that are not revoked, most recently used first."""
    rows = Device.objects.filter(user_id=user_id, revoked_at__isnull=True).order_by("-last_seen_at")
    return [
        DeviceView(
            id=d.id,
            name=decrypt_optional(d.name_ct, context=device_name_context(d.id)) or "",
            first_seen_at=d.first_seen_at,
            last_seen_at=d.last_seen_at,
            trusted_at=d.trusted_at,
            signed_in=d.session_family is not None,
        )
        for d in rows
    ]


def device_revoke(*, user_id: int, device_id: uuid.UUID, now: datetime) -> None:
    """Sign a device out for good: its session ends and the next sign-in from it needs an
    SMS code again."""
    with transaction.atomic():
        device = (
            Device.objects.select_for_update()
            .filter(pk=device_id, user_id=user_id, revoked_at__isnull=True)
            .first()
        )
        if device is None:
            raise NotFound("device not found", details={"device_id": str(device_id)})
        RefreshToken.objects.filter(device=device, revoked_at__isnull=True).update(revoked_at=now)
        Device.objects.filter(pk=device.pk).update(
            revoked_at=now, trusted_at=None, session_family=None
        )
        _audit(user_id, "session.device_revoke", str(device.pk), now)
