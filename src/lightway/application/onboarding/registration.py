"""Customer registration: phone number, one-time SMS code, email link, basic identity.

Each service validates its input and raises :class:`ValidationFailed` with
``details={"field": <first bad field>, "errors": {field: message, ...}}`` so a form can
show every problem beside its field. Personal data goes through ``profiles`` (encrypted,
blind-indexed); ``auth_user`` gets only the profile's opaque subject as username. Codes go
out through ``notifications.notify`` in the same transaction as the state they belong to.
Audit records name fields, never values.

Identifiers are reserved only once verified (issue 11 finding 4): an unverified phone
number or email address blocks nobody, and nothing tells a caller whether a number, address
or ID number belongs to someone. Registering a number that a verified account holds gets
the same answer as any registration, and its owner an SMS notice (never a code). An
unverified registration expires after ``LIGHTWAY_REGISTRATION_PENDING_SECONDS``. Every SMS a
caller can ask for is rate limited per client address and per number (``ratelimits``).
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils.translation import gettext, gettext_noop

from lightway.application.authentication.login import TooManyAttempts, password_verify
from lightway.application.authentication.passwords import password_changed
from lightway.application.errors import NotFound, ValidationFailed
from lightway.application.identity.phones import phone_normalise
from lightway.application.identity.profiles import (
    id_number_normalise,
    profile_create,
    profile_pii,
    profile_set_pii,
    profile_verified_holder,
)
from lightway.application.ratelimits import REGISTER_CLIENT, rate_check, sms_rate_check
from lightway.data.audit.services import audit_record
from lightway.data.identity.models import KycTier, Profile, Realm
from lightway.security.codes import CodeRejected, code_issue, code_verify, code_verify_link
from lightway.security.models import OneTimeCode
from lightway.security.throttle import Locked

log = logging.getLogger(__name__)

LANGUAGES = {"en": "English", "fr": "Français"}
# Messages a customer reads are marked for translation (docs/panels.md, "Languages"):
# ``gettext`` at the moment they are raised (English outside the customer panel, so the API
# and the worker keep English), ``gettext_noop`` for module constants, translated at use.
ID_TYPES = {
    "national_id": gettext_noop("National ID card"),
    "passport": gettext_noop("Passport"),
    "driving_licence": gettext_noop("Driving licence"),
    "voter_card": gettext_noop("Voter card"),
}
NEUTRAL_PHONE = gettext_noop(
    "This phone number cannot be registered. If you already have an account, log in instead."
)
NEUTRAL_EMAIL = gettext_noop(
    "This email address cannot be verified for this account. Use another address."
)
EXPIRED = gettext_noop("This registration has expired. Register again to get a new code.")
MIN_AGE_YEARS = 18
_NAME_RE = re.compile(r"[^\W\d_]+(?:[ '\-.][^\W\d_]+)*\.?")


def _fail(errors: dict[str, str]) -> ValidationFailed:
    field, message = next(iter(errors.items()))
    return ValidationFailed(message, details={"field": field, "errors": errors})


def terms_version() -> str:
    return str(getattr(settings, "LIGHTWAY_TERMS_VERSION", "2026-01"))


def _otp_minutes() -> int:
    return max(1, int(getattr(settings, "LIGHTWAY_OTP_TTL_SECONDS", 300)) // 60)


def _notify(**kwargs: object) -> list[int]:
    from lightway.application.notifications.service import notify  # the notify helper's

    return notify(**kwargs)  # type: ignore[arg-type]


def _tier_set(*, user_id: int, tier: int, reason: str, now: datetime) -> bool:
    """Raise the customer's KYC tier through ``kyc.tiers.kyc_tier_set`` (audited there)."""
    from lightway.application.kyc.tiers import kyc_tier_set

    return bool(
        kyc_tier_set(user_id=user_id, tier=tier, actor=f"user:{user_id}", reason=reason, now=now)
    )


def password_problems(password: str) -> str | None:
    """What Django's password validators say about ``password`` (one text), or None."""
    try:
        validate_password(password)
    except ValidationError as exc:
        return " ".join(str(m) for m in exc.messages)
    return None


def _pending_seconds() -> int:
    return int(getattr(settings, "LIGHTWAY_REGISTRATION_PENDING_SECONDS", 86400))


def _expired(profile: Profile, now: datetime) -> bool:
    """An unverified registration older than the pending time can no longer be verified."""
    return (
        profile.phone_verified_at is None
        and (now - profile.created_at).total_seconds() > _pending_seconds()
    )


def _send_phone_code(*, profile: Profile, phone: str, now: datetime) -> None:
    """Text the code, or, when a verified account holds the number, text its owner a notice
    instead: the caller is told the same either way, and only the owner learns anything."""
    owner = profile_verified_holder(
        kind="phone", bidx=profile.phone_bidx or "", exclude_user_id=profile.user_id
    )
    if owner is not None:
        _notify(
            template="registration_attempt",
            context={},
            now=now,
            user_id=owner.user_id,
            phone=phone,
            language=owner.language,
            critical=True,
        )
        return
    issued = code_issue(
        purpose="phone_verify",
        user_id=profile.user_id,
        now=now,
        target_bidx=profile.phone_bidx or "",
    )
    _notify(
        template="phone_code",
        context={"code": issued.code, "minutes": _otp_minutes()},
        now=now,
        user_id=profile.user_id,
        phone=phone,
        language=profile.language,
        critical=True,
    )


def registration_start(
    *,
    phone: str,
    country: str,
    password: str,
    language: str,
    accept_terms: bool,
    client: str,
    now: datetime,
) -> int:
    """Create a customer (tier 0, unverified) and text them a code; returns the new user id.

    ``client`` is the caller's address (rate limits). The answer is the same whether or not
    the number is taken: a number a verified account holds gets its owner a notice instead
    of a code, so the new registration can never be verified and simply expires."""
    rate_check(REGISTER_CLIENT, subject=client, now=now)
    errors: dict[str, str] = {}
    e164 = ""
    try:
        e164 = phone_normalise(phone, country=country)
    except ValidationFailed as exc:
        errors[str(exc.details.get("field", "phone"))] = exc.message[:1].upper() + exc.message[1:]
    if language not in LANGUAGES:
        errors["language"] = gettext("Choose English or French.")
    problems = password_problems(password or "")
    if not password:
        errors["password"] = gettext("Choose a password.")
    elif problems:
        errors["password"] = problems
    if not accept_terms:
        errors["accept_terms"] = gettext("You need to accept the terms to open an account.")
    if errors:
        raise _fail(errors)
    sms_rate_check(client=client, phone=e164, now=now)
    User = get_user_model()
    try:
        with transaction.atomic():
            user = User(username=f"pending_{secrets.token_hex(12)}")
            user.set_password(password)
            user.save()
            profile = profile_create(
                user_id=user.pk,
                realm=Realm.CUSTOMER,
                now=now,
                country=country.upper(),
                language=language,
                phone=e164,
            )
            profile.terms_version = terms_version()
            profile.terms_accepted_at = now
            profile.save(update_fields=["terms_version", "terms_accepted_at"])
            user.username = profile.subject  # opaque: no personal data in auth_user
            user.save(update_fields=["username"])
            _audit(
                user.pk,
                "user.register",
                now,
                country=profile.country,
                language=language,
                terms_version=profile.terms_version,
                fields=["phone", "password"],
            )
            _send_phone_code(profile=profile, phone=e164, now=now)
    except IntegrityError:  # pragma: no cover - nothing unique is claimed before verification
        raise _fail({"phone": gettext(NEUTRAL_PHONE)}) from None
    log.info("customer registered", extra={"subject": profile.subject})
    return int(user.pk)


def _audit(user_id: int, action: str, now: datetime, **data: Any) -> None:
    """Audit what a customer did to their own profile (``user.*``)."""
    audit_record(
        actor=f"user:{user_id}",
        action=action,
        object_type="identity.profile",
        object_id=str(user_id),
        data=data,
        now=now,
    )


def _profile(user_id: int, *, lock: bool = False) -> Profile:
    rows = Profile.objects.select_for_update() if lock else Profile.objects
    profile = rows.filter(user_id=user_id).first()
    if profile is None:
        raise NotFound("no such account")
    return profile


def code_check(*, purpose: str, user_id: int, code: str, now: datetime) -> None:
    """Check a one-time code the customer typed: a field error when it is wrong or
    expired, :class:`TooManyAttempts` while wrong guesses lock it out (with backoff).
    Phone verification and "Forgot your password?" both use it."""
    if not (code or "").strip():
        raise _fail({"code": gettext("Enter the code we sent you.")})
    try:
        code_verify(purpose=purpose, user_id=user_id, code=code, now=now)
    except Locked as exc:
        raise TooManyAttempts(exc.retry_after) from None
    except CodeRejected:
        raise _fail(
            {"code": gettext("That code is wrong or has expired. Check it, or ask for a new one.")}
        ) from None


def phone_verify(*, user_id: int, code: str, now: datetime) -> int:
    """Check the SMS code; the phone is then verified and the tier rises to 1. Returns the tier."""
    profile = _profile(user_id)
    if profile.phone_verified_at is not None:
        return int(profile.kyc_tier)
    if _expired(profile, now):
        raise _fail({"code": gettext(EXPIRED)})
    code_check(purpose="phone_verify", user_id=user_id, code=code, now=now)
    try:
        with transaction.atomic():
            profile = _profile(user_id, lock=True)
            profile.phone_verified_at = now
            profile.updated_at = now
            profile.save(update_fields=["phone_verified_at", "updated_at"])
            _audit(user_id, "user.phone_verify", now)
            _tier_set(
                user_id=user_id, tier=KycTier.PHONE_VERIFIED, reason="phone verified", now=now
            )
    except IntegrityError:
        # Another account verified this number first (only its holder gets codes).
        raise _fail({"code": gettext(NEUTRAL_PHONE)}) from None
    return int(_profile(user_id).kyc_tier)


def phone_code_resend(*, user_id: int, client: str, now: datetime) -> None:
    """Text a new code; at most one per ``LIGHTWAY_OTP_RESEND_SECONDS`` and a few an hour,
    within the SMS limits per client address and per number."""
    profile = _profile(user_id)
    if profile.phone_verified_at is not None:
        raise _fail({"code": gettext("Your phone number is already verified.")})
    if _expired(profile, now):
        raise _fail({"code": gettext(EXPIRED)})
    cooldown = int(getattr(settings, "LIGHTWAY_OTP_RESEND_SECONDS", 60))
    per_hour = int(getattr(settings, "LIGHTWAY_OTP_RESEND_PER_HOUR", 5))
    sent = list(
        OneTimeCode.objects.filter(
            purpose="phone_verify", user_id=user_id, created_at__gt=now - timedelta(hours=1)
        )
        .order_by("-created_at")
        .values_list("created_at", flat=True)
    )
    if sent and (now - sent[0]).total_seconds() < cooldown:
        raise TooManyAttempts(int(cooldown - (now - sent[0]).total_seconds()) + 1)
    if len(sent) >= per_hour:
        raise TooManyAttempts(int((sent[-1] + timedelta(hours=1) - now).total_seconds()) + 1)
    phone = profile_pii(profile).phone
    if not phone:
        raise NotFound("no phone number on this account")
    sms_rate_check(client=client, phone=phone, now=now)
    with transaction.atomic():
        _audit(user_id, "user.phone_code_resend", now)
        _send_phone_code(profile=profile, phone=phone, now=now)


def email_link(token: str) -> str:
    base = str(settings.LIGHTWAY_PUBLIC_URL).rstrip("/")
    return f"{base}/app/email/verify/{token}"


def email_add(*, user_id: int, email: str, now: datetime) -> None:
    """Set the account's email address (unverified) and send it a verification link.

    The answer never tells whether another account uses the address: one that another
    account verified is saved the same way but gets no link (it can never be verified
    here); an unverified claim elsewhere does not block it."""
    address = (email or "").strip()
    try:
        validate_email(address)
    except ValidationError:
        message = gettext("Enter a valid email address, like name@example.com.")
        raise _fail({"email": message}) from None
    if len(address) > 254:
        raise _fail({"email": gettext("That email address is too long.")})
    with transaction.atomic():
        profile = _profile(user_id, lock=True)
        profile = profile_set_pii(user_id=user_id, now=now, email=address)
        profile.email_verified_at = None
        profile.save(update_fields=["email_verified_at"])
        _audit(user_id, "user.email_add", now, fields=["email"])
        taken = profile_verified_holder(
            kind="email", bidx=profile.email_bidx or "", exclude_user_id=user_id
        )
        if taken is None:
            issued = code_issue(
                purpose="email_verify",
                user_id=user_id,
                now=now,
                target_bidx=profile.email_bidx or "",
                link=True,
            )
            _notify(
                template="email_verify",
                context={"link": email_link(issued.code)},
                now=now,
                user_id=user_id,
                email=address,
                language=profile.language,
                channels=("email",),
                critical=True,
            )


def email_verify(*, token: str, now: datetime) -> int:
    """Consume an email link; returns the user id whose address is now verified."""
    try:
        row = code_verify_link(purpose="email_verify", token=token, now=now)
    except CodeRejected as exc:
        raise ValidationFailed(
            gettext(
                "This link is not valid or has expired. "
                "Add your email address again to get a new one."
            ),
            details={"field": "token", "reason": str(exc)},
        ) from None
    if row.user_id is None:
        raise ValidationFailed(gettext("This link is not valid."), details={"field": "token"})
    try:
        with transaction.atomic():
            profile = _profile(row.user_id, lock=True)
            if not profile.email_bidx or profile.email_bidx != row.target_bidx:
                raise ValidationFailed(
                    gettext("This link is for an email address that is no longer on the account."),
                    details={"field": "token"},
                )
            profile.email_verified_at = now
            profile.updated_at = now
            profile.save(update_fields=["email_verified_at", "updated_at"])
            _audit(row.user_id, "user.email_verify", now)
    except IntegrityError:
        # another account verified the address after this link went out
        raise ValidationFailed(gettext(NEUTRAL_EMAIL), details={"field": "token"}) from None
    return int(row.user_id)


def _birth_date(value: date | str | None, now: datetime) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        born = value
    else:
        try:
            born = date.fromisoformat(str(value).strip())
        except ValueError:
            raise _fail({"birth_date": gettext("Enter the date as YYYY-MM-DD.")}) from None
    today = now.date()
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if born.year < 1900 or born > today:
        raise _fail({"birth_date": gettext("Enter your real date of birth.")})
    if years < MIN_AGE_YEARS:
        message = gettext("You must be at least %(years)d years old.")
        raise _fail({"birth_date": message % {"years": MIN_AGE_YEARS}})
    return born


@dataclass(frozen=True)
class IdentityView:
    name: str
    birth_date: str
    id_type: str
    id_number_masked: str
    complete: bool


def identity_get(*, user_id: int) -> IdentityView:
    profile = _profile(user_id)
    pii = profile_pii(profile)
    complete = bool(pii.name and pii.birth_date and profile.id_type and pii.id_number)
    return IdentityView(
        name=pii.name or "",
        birth_date=pii.birth_date or "",
        id_type=profile.id_type,
        id_number_masked=pii.masked()["id_number"],
        complete=complete,
    )


def profile_update(
    *,
    user_id: int,
    name: str,
    birth_date: date | str | None,
    id_type: str,
    id_number: str,
    now: datetime,
) -> int:
    """Save basic identity (blank = unchanged); all four + a verified phone = tier 2.

    Returns the tier afterwards.
    """
    errors: dict[str, str] = {}
    clean_name = " ".join((name or "").split())
    if clean_name and (len(clean_name) < 2 or len(clean_name) > 120):
        errors["name"] = gettext("Enter your full name (2 to 120 characters).")
    elif clean_name and not _NAME_RE.fullmatch(clean_name):
        errors["name"] = gettext("Use letters, spaces, hyphens and apostrophes only.")
    born: date | None = None
    try:
        born = _birth_date(birth_date, now)
    except ValidationFailed as exc:
        errors.update({str(k): str(v) for k, v in dict(exc.details.get("errors") or {}).items()})  # type: ignore[call-overload]
    if id_type and id_type not in ID_TYPES:
        errors["id_type"] = gettext("Choose one of the listed ID types.")
    clean_id = ""
    try:
        clean_id = id_number_normalise(id_number or "")
    except ValidationFailed as exc:
        errors["id_number"] = exc.message
    if id_number and "id_number" not in errors and not 5 <= len(clean_id) <= 30:
        errors["id_number"] = gettext(
            "Enter the number as printed on the document (5 to 30 characters)."
        )
    if not errors and not (clean_name or born or id_type or clean_id):
        errors["name"] = gettext("Fill in at least one of your details before saving.")
    if errors:
        raise _fail(errors)
    profile = _profile(user_id)
    if profile.kyc_tier >= KycTier.SUMSUB_VERIFIED:
        raise _fail(
            {"name": gettext("Your identity is verified; contact support to change these details.")}
        )
    pii: dict[str, str | None] = {}
    if clean_name:
        pii["name"] = clean_name
    if born is not None:
        pii["birth_date"] = born.isoformat()
    if clean_id:
        pii["id_number"] = clean_id
    try:
        with transaction.atomic():
            profile = _profile(user_id, lock=True)
            if pii:
                profile = profile_set_pii(user_id=user_id, now=now, **pii)
            changed = sorted(pii)
            if id_type and id_type != profile.id_type:
                profile.id_type = id_type
                profile.updated_at = now
                profile.save(update_fields=["id_type", "updated_at"])
                changed.append("id_type")
            _audit(user_id, "user.profile_update", now, fields=sorted(changed))
            current = profile_pii(profile)
            complete = bool(
                current.name and current.birth_date and profile.id_type and current.id_number
            )
            if (
                complete
                and profile.phone_verified_at is not None
                and profile.kyc_tier < KycTier.BASIC_IDENTITY
            ):
                _basic_identity_claim(user_id=user_id, now=now)
    except IntegrityError:  # pragma: no cover - the ID is claimed in its own savepoint
        message = gettext("These details could not be saved. Try again.")
        raise _fail({"id_number": message}) from None
    return int(_profile(user_id).kyc_tier)


def _basic_identity_claim(*, user_id: int, now: datetime) -> None:
    """Raise the account to tier 2, which reserves its ID number. When another account at
    tier 2 or above holds the number the details stay saved, the tier stays where it is
    and ``kyc_tier_set`` leaves compliance an audit record (``user.id_number_conflict``) to
    follow up; the customer is told nothing about the other account."""
    _tier_set(user_id=user_id, tier=KycTier.BASIC_IDENTITY, reason="basic identity given", now=now)


def password_change(*, user_id: int, old_password: str, new_password: str, now: datetime) -> None:
    """Change the password after checking the current one (throttled like sign-in); every
    API session of the account ends and the customer is told (``password_changed``)."""
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        raise NotFound("no such account")
    try:
        check = password_verify(
            user=user, login_key=str(user_id), password=old_password or "", now=now
        )
    except Locked as exc:
        raise TooManyAttempts(exc.retry_after) from None
    if not check.ok:
        raise _fail({"old_password": gettext("Your current password is not right.")})
    problems = password_problems(new_password or "")
    if not new_password:
        raise _fail({"new_password": gettext("Choose a new password.")})
    if problems:
        raise _fail({"new_password": problems})
    if new_password == old_password:
        raise _fail({"new_password": gettext("Choose a password different from the current one.")})
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        audit_record(
            actor=f"user:{user_id}",
            action="auth.password_change",
            object_type="auth.user",
            object_id=str(user_id),
            data={"fields": ["password"]},
            now=now,
        )
        # every API session and refresh token ends; the customer is told (issue 11, finding 3)
        password_changed(user_id=user_id, actor=f"user:{user_id}", event="password_change", now=now)


def profile_language(*, user_id: int) -> str | None:
    """The language the customer chose (sign-up or the panel's switch); None without a
    profile."""
    return Profile.objects.filter(user_id=user_id).values_list("language", flat=True).first()


def profile_language_set(*, user_id: int, language: str, now: datetime) -> str:
    """Save the customer's language (pages and SMS follow it); audited when it changes."""
    if language not in LANGUAGES:
        raise _fail({"language": gettext("Choose English or French.")})
    with transaction.atomic():
        profile = _profile(user_id, lock=True)
        if profile.language != language:
            profile.language = language
            profile.updated_at = now
            profile.save(update_fields=["language", "updated_at"])
            _audit(user_id, "user.language_set", now, language=language)
    return language


@dataclass(frozen=True)
class AccountView:
    """What the customer panel shows about an account (personal data masked)."""

    user_id: int
    subject: str
    country: str
    language: str
    phone_masked: str
    phone_verified: bool
    email_masked: str
    email_verified: bool
    tier: int
    tier_label: str
    identity_complete: bool


def account_overview(*, user_id: int) -> AccountView:
    profile = _profile(user_id)
    pii = profile_pii(profile)
    masked = pii.masked()
    return AccountView(
        user_id=user_id,
        subject=profile.subject,
        country=profile.country,
        language=profile.language,
        phone_masked=masked["phone"],
        phone_verified=profile.phone_verified_at is not None,
        email_masked=masked["email"],
        email_verified=profile.email_verified_at is not None,
        tier=int(profile.kyc_tier),
        tier_label=KycTier(profile.kyc_tier).label,
        identity_complete=bool(pii.name and pii.birth_date and profile.id_type and pii.id_number),
    )
