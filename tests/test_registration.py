"""Customer registration services: phone per market, duplicates, passwords, terms, SMS
code with lockout and backoff, email link, KYC tier changes, password sign-in.

Codes and links are read from what really reached the notify simulator (``outbox``).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import User

from lightway.application.authentication.login import (
    WRONG_CUSTOMER,
    LoginRefused,
    TooManyAttempts,
    password_login,
)
from lightway.application.errors import TooManyRequests, ValidationFailed
from lightway.application.identity.profiles import profile_pii
from lightway.application.kyc.tiers import kyc_limits_seed_defaults
from lightway.application.onboarding import registration
from lightway.data.audit.models import AuditRecord
from lightway.data.identity.models import KycTier, Profile

pytestmark = pytest.mark.django_db

PHONE = "+256772123456"  # MTN Uganda mobile
PASSWORD = "Kampala-sunrise-2026"
CLIENT = "192.0.2.1"  # documentation address (RFC 5737)


def register(now, phone=PHONE, country="UG", password=PASSWORD, **extra) -> int:
    args = {"language": "en", "accept_terms": True, "client": CLIENT, **extra}
    return registration.registration_start(
        phone=phone, country=country, password=password, now=now, **args
    )


def errors_of(exc: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return dict(exc.value.details["errors"])  # type: ignore[arg-type]


# --- registration --------------------------------------------------------------------------------


def test_registration_creates_a_customer_without_personal_data_in_auth_user(now, outbox):
    user_id = register(now, phone="0772 123 456")  # national form, normalised to E.164

    user = User.objects.get(pk=user_id)
    profile = Profile.objects.get(user_id=user_id)
    assert user.username == profile.subject and user.username.startswith("sub_")
    assert (user.first_name, user.last_name, user.email) == ("", "", "")
    assert user.password.startswith("argon2")
    assert profile_pii(profile).phone == PHONE
    assert (profile.realm, profile.country, profile.kyc_tier) == ("customer", "UG", 0)
    assert profile.terms_version == registration.terms_version()
    assert profile.terms_accepted_at == now
    assert profile.phone_verified_at is None

    sms = outbox.latest_sms(PHONE)
    assert outbox.latest_code(PHONE) in sms

    record = AuditRecord.objects.get(action="user.register")
    assert record.actor == f"user:{user_id}"
    stored = json.dumps(list(AuditRecord.objects.values_list("data", flat=True)))
    assert "772" not in stored and "123456" not in stored


@pytest.mark.parametrize(
    ("phone", "country", "field", "says"),
    [
        ("+233241234567", "UG", "phone", "not a UG number"),  # a Ghana number in Uganda
        ("0241234567", "GH", None, None),  # the same number in Ghana is fine
        ("+256414123456", "UG", "phone", "must be a mobile number"),  # Kampala landline
        ("0772 12", "UG", "phone", "not a valid UG number"),
        ("call me", "UG", "phone", "not a phone number"),
        ("", "UG", "phone", "required"),
        ("+2348031234567", "NG", "country", "country must be one of"),
    ],
)
def test_phone_numbers_are_checked_per_market(now, outbox, phone, country, field, says):
    if field is None:
        assert register(now, phone=phone, country=country) > 0
        return
    with pytest.raises(ValidationFailed) as exc:
        register(now, phone=phone, country=country)
    assert exc.value.details["field"] == field
    assert says.lower() in errors_of(exc)[field].lower()
    assert not User.objects.exists()


def test_a_taken_number_gets_the_same_answer_and_its_owner_a_notice_not_a_code(now, outbox):
    """Issue 11 finding 4: registering a number a verified account holds is answered like
    any registration (no refusal that tells), and the SMS goes to the owner as a notice."""
    owner = register(now)
    registration.phone_verify(user_id=owner, code=outbox.latest_code(PHONE), now=now)
    sent_before = len(outbox.sms_to(PHONE))

    second = register(now, phone="0772123456", password="Another-long-password-1")
    assert second != owner and User.objects.filter(pk=second).exists()
    notice = outbox.latest_sms(PHONE)
    assert len(outbox.sms_to(PHONE)) == sent_before + 1
    assert "someone tried to open an account" in notice.lower()
    assert not any(ch.isdigit() for ch in notice.split(":", 1)[1])  # no code in it
    # The audit trail of both registrations looks the same.
    records = list(AuditRecord.objects.filter(action="user.register").order_by("id"))
    assert [sorted(r.data) for r in records] == [sorted(records[0].data)] * 2
    # The new registration cannot take the number: no code was sent, none verifies it.
    with pytest.raises(ValidationFailed):
        registration.phone_verify(user_id=second, code="123456", now=now)
    # A new code for it goes to the owner as a notice again, never as a code.
    registration.phone_code_resend(client=CLIENT, user_id=second, now=now + timedelta(minutes=2))
    assert "someone tried" in outbox.latest_sms(PHONE).lower()
    assert Profile.objects.get(user_id=owner).phone_verified_at == now
    user = password_login(login=PHONE, password=PASSWORD, country="UG", now=now)
    assert user.pk == owner  # sign-in finds the verified holder


def test_an_unverified_registration_does_not_block_the_real_owner(now, outbox):
    """A stranger registers someone else's number and never verifies it: the owner can still
    register, gets the code and takes the number; the stranger never can."""
    squatter = register(now, password="Squatters-password-99")
    squatter_code = outbox.latest_code(PHONE)  # (went to the owner's phone, not the squatter)
    later = now + timedelta(minutes=10)
    owner = register(later)
    assert registration.phone_verify(user_id=owner, code=outbox.latest_code(PHONE), now=later)
    with pytest.raises(ValidationFailed) as exc:
        registration.phone_verify(user_id=squatter, code=squatter_code, now=later)
    assert exc.value.details["field"] == "code"
    assert Profile.objects.get(user_id=squatter).phone_verified_at is None
    # the database itself keeps one verified holder per number
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Profile.objects.filter(user_id=squatter).update(phone_verified_at=later)


def test_an_unverified_registration_expires(now, outbox, settings):
    settings.LIGHTWAY_REGISTRATION_PENDING_SECONDS = 3600
    user_id = register(now)
    later = now + timedelta(seconds=3601)
    with pytest.raises(ValidationFailed) as exc:
        registration.phone_code_resend(client=CLIENT, user_id=user_id, now=later)
    assert errors_of(exc) == {"code": registration.EXPIRED}
    with pytest.raises(ValidationFailed) as verify:
        registration.phone_verify(user_id=user_id, code=outbox.latest_code(PHONE), now=later)
    assert errors_of(verify) == {"code": registration.EXPIRED}


def test_registrations_are_rate_limited_per_client_address(now, outbox, settings):
    settings.LIGHTWAY_RATE_REGISTER_PER_CLIENT_HOUR = 3
    for i in range(3):
        register(now, phone=f"+25677200050{i}")
    with pytest.raises(TooManyRequests) as exc:
        register(now, phone="+256772000509")
    assert exc.value.retry_after == 3600 and "Try again in 3600 s" in exc.value.message
    with pytest.raises(TooManyRequests):  # bad input counts too: a flood stays refused
        register(now, phone="call me")
    register(now, phone="+256772000509", client="198.51.100.7")  # another client may
    register(now + timedelta(hours=1), phone="+256772000510")  # and this one, an hour on
    assert User.objects.count() == 5


def test_sms_are_rate_limited_per_number_whoever_asks(now, outbox, settings):
    settings.LIGHTWAY_RATE_SMS_PER_PHONE_HOUR = 2
    register(now, client="198.51.100.1")
    register(now, client="198.51.100.2")
    with pytest.raises(TooManyRequests):
        register(now, client="198.51.100.3")
    assert len(outbox.sms_to(PHONE)) == 2


def test_sms_are_rate_limited_per_client_address(now, outbox, settings):
    settings.LIGHTWAY_RATE_SMS_PER_CLIENT_HOUR = 2
    register(now, phone="+256772000601")
    user_id = register(now, phone="+256772000602")
    with pytest.raises(TooManyRequests):
        registration.phone_code_resend(
            client=CLIENT, user_id=user_id, now=now + timedelta(seconds=61)
        )
    registration.phone_code_resend(
        client="198.51.100.9", user_id=user_id, now=now + timedelta(seconds=61)
    )


@pytest.mark.parametrize(
    ("password", "says"),
    [
        ("short1!", "too short"),
        ("password123", "too common"),
        ("", "Choose a password"),
    ],
)
def test_weak_and_common_passwords_are_refused(now, password, says):
    with pytest.raises(ValidationFailed) as exc:
        register(now, password=password)
    assert says in errors_of(exc)["password"]
    assert not User.objects.exists()


def test_terms_must_be_accepted_and_every_problem_is_reported_at_once(now):
    with pytest.raises(ValidationFailed) as exc:
        register(now, phone="+256414123456", password="short", accept_terms=False, language="de")
    assert set(errors_of(exc)) == {"phone", "password", "accept_terms", "language"}
    assert "accept the terms" in errors_of(exc)["accept_terms"]
    assert not User.objects.exists()


# --- phone code ----------------------------------------------------------------------------------


def test_the_sms_code_verifies_the_phone_and_raises_the_tier_to_1(now, outbox):
    user_id = register(now)
    code = outbox.latest_code(PHONE)
    assert registration.phone_verify(user_id=user_id, code=code, now=now) == 1
    profile = Profile.objects.get(user_id=user_id)
    assert profile.phone_verified_at == now and profile.kyc_tier == KycTier.PHONE_VERIFIED
    assert AuditRecord.objects.filter(action="user.phone_verify").count() == 1
    tier = AuditRecord.objects.get(action="kyc.tier.set")
    assert (tier.data["from"], tier.data["to"]) == (0, 1)
    # The customer is told their limits went up.
    assert "tier" in outbox.latest_sms(PHONE).lower() or "limit" in outbox.latest_sms(PHONE).lower()


def test_wrong_codes_lock_with_growing_waits_and_a_new_code_works_after(now, outbox):
    user_id = register(now)
    good = outbox.latest_code(PHONE)
    wrong = "000000" if good != "000000" else "111111"
    for _ in range(6):  # five free failures, the sixth locks
        with pytest.raises(ValidationFailed) as exc:
            registration.phone_verify(user_id=user_id, code=wrong, now=now)
        assert exc.value.details["field"] == "code"
    with pytest.raises(TooManyAttempts) as locked:
        registration.phone_verify(user_id=user_id, code=good, now=now)
    first_wait = locked.value.retry_after
    assert first_wait == 30 and "Try again in 30 s" in locked.value.message

    later = now + timedelta(seconds=first_wait + 1)
    with pytest.raises(ValidationFailed):
        registration.phone_verify(user_id=user_id, code=wrong, now=later)
    with pytest.raises(TooManyAttempts) as locked_again:
        registration.phone_verify(user_id=user_id, code=good, now=later)
    assert locked_again.value.retry_after == 60  # backoff doubles

    # The old code had too many wrong guesses: it is dead even when right. A new one works.
    # (that refusal is the eighth failure: locked for 120 s).
    after = later + timedelta(seconds=61)
    with pytest.raises(ValidationFailed):
        registration.phone_verify(user_id=user_id, code=good, now=after)
    registration.phone_code_resend(
        client=CLIENT, user_id=user_id, now=after + timedelta(seconds=61)
    )
    fresh = outbox.latest_code(PHONE)
    with pytest.raises(TooManyAttempts) as still:
        registration.phone_verify(user_id=user_id, code=fresh, now=after + timedelta(seconds=62))
    assert still.value.retry_after == 58
    assert registration.phone_verify(
        user_id=user_id, code=fresh, now=after + timedelta(seconds=121)
    )
    assert Profile.objects.get(user_id=user_id).kyc_tier == 1


def test_resending_the_code_is_throttled_and_replaces_the_old_code(now, outbox):
    user_id = register(now)
    first = outbox.latest_code(PHONE)
    with pytest.raises(TooManyAttempts) as exc:
        registration.phone_code_resend(
            client=CLIENT, user_id=user_id, now=now + timedelta(seconds=10)
        )
    assert exc.value.retry_after == 51
    registration.phone_code_resend(client=CLIENT, user_id=user_id, now=now + timedelta(seconds=61))
    assert len(outbox.sms_to(PHONE)) == 2
    second = outbox.latest_code(PHONE)
    if first != second:
        with pytest.raises(ValidationFailed):
            registration.phone_verify(user_id=user_id, code=first, now=now + timedelta(seconds=62))
    registration.phone_verify(user_id=user_id, code=second, now=now + timedelta(seconds=63))
    # at most five codes an hour
    fresh = register(now, phone="+256772000111")
    for i in range(1, 5):
        registration.phone_code_resend(
            client=CLIENT, user_id=fresh, now=now + timedelta(seconds=61 * i)
        )
    with pytest.raises(TooManyAttempts):
        registration.phone_code_resend(
            client=CLIENT, user_id=fresh, now=now + timedelta(seconds=61 * 5)
        )


# --- email ---------------------------------------------------------------------------------------


def test_the_email_link_verifies_the_address_once(now, outbox, settings):
    settings.LIGHTWAY_PUBLIC_URL = "https://wallet.example.test"
    user_id = register(now)
    registration.email_add(user_id=user_id, email="Amara.N@example.com", now=now)
    link = outbox.latest_link("Amara.N@example.com")
    assert link.startswith("https://wallet.example.test/app/email/verify/")
    token = link.rsplit("/", 1)[1]
    profile = Profile.objects.get(user_id=user_id)
    assert profile_pii(profile).email == "Amara.N@example.com" and profile.email_verified_at is None

    assert registration.email_verify(token=token, now=now) == user_id
    assert Profile.objects.get(user_id=user_id).email_verified_at == now
    with pytest.raises(ValidationFailed, match="not valid or has expired"):
        registration.email_verify(token=token, now=now)
    with pytest.raises(ValidationFailed):
        registration.email_verify(token="not-a-token", now=now)


def test_an_email_address_belongs_to_one_account_and_must_look_like_one(now, outbox):
    """A verified address is answered like any other (no refusal that tells) but gets no
    link for the second account; an unverified claim blocks nobody."""
    first = register(now)
    second = register(now, phone="+256772000222")
    third = register(now, phone="+256772000333")
    registration.email_add(user_id=first, email="kofi@example.com", now=now)
    first_link = outbox.latest_link("kofi@example.com")
    # not verified yet: the second account may claim it too, and verify it first
    registration.email_add(user_id=second, email="KOFI@example.com", now=now)
    second_link = outbox.latest_link("KOFI@example.com")
    assert registration.email_verify(token=second_link.rsplit("/", 1)[1], now=now) == second
    with pytest.raises(ValidationFailed) as late:
        registration.email_verify(token=first_link.rsplit("/", 1)[1], now=now)
    assert late.value.message == registration.NEUTRAL_EMAIL
    # now verified: a third account gets the same answer and no link
    links_before = len(outbox.emails_to("kofi@example.com"))
    registration.email_add(user_id=third, email="kofi@example.com", now=now)
    assert len(outbox.emails_to("kofi@example.com")) == links_before
    with pytest.raises(ValidationFailed) as bad:
        registration.email_add(user_id=third, email="kofi at example", now=now)
    assert "valid email" in errors_of(bad)["email"]


def test_an_expired_email_link_is_refused(now, outbox):
    user_id = register(now)
    registration.email_add(user_id=user_id, email="grace@example.com", now=now)
    token = outbox.latest_link("grace@example.com").rsplit("/", 1)[1]
    with pytest.raises(ValidationFailed):
        registration.email_verify(token=token, now=now + timedelta(days=2))
    assert Profile.objects.get(user_id=user_id).email_verified_at is None


# --- basic identity and tiers --------------------------------------------------------------------


def test_basic_identity_after_phone_verification_raises_the_tier_to_2(now, outbox):
    kyc_limits_seed_defaults(now=now)
    user_id = register(now)
    before = {lv.currency: lv for lv in registration_limits(user_id, now)}
    registration.phone_verify(user_id=user_id, code=outbox.latest_code(PHONE), now=now)
    tier = registration.profile_update(
        user_id=user_id,
        name="Amara  Nakato",
        birth_date="1990-05-17",
        id_type="national_id",
        id_number="CM-1234 5678",
        now=now,
    )
    assert tier == 2
    profile = Profile.objects.get(user_id=user_id)
    pii = profile_pii(profile)
    assert (pii.name, pii.birth_date, pii.id_number) == ("Amara Nakato", "1990-05-17", "CM12345678")
    assert profile.id_type == "national_id"
    after = {lv.currency: lv for lv in registration_limits(user_id, now)}
    assert after["UGX"].tier == 2 and before["UGX"].tier == 0
    record = AuditRecord.objects.get(action="user.profile_update")
    assert record.data == {"fields": ["birth_date", "id_number", "id_type", "name"]}
    assert "Nakato" not in json.dumps(list(AuditRecord.objects.values_list("data", flat=True)))


def registration_limits(user_id, now):
    from lightway.application.kyc.tiers import kyc_limits_for

    return kyc_limits_for(user_id=user_id, now=now)


def test_basic_identity_without_a_verified_phone_stays_at_tier_0(now, outbox):
    user_id = register(now)
    tier = registration.profile_update(
        user_id=user_id,
        name="Kofi Mensah",
        birth_date="1985-01-02",
        id_type="passport",
        id_number="G1234567",
        now=now,
    )
    assert tier == 0


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"birth_date": "2015-01-01"}, "birth_date", "at least 18"),
        ({"birth_date": "17/05/1990"}, "birth_date", "YYYY-MM-DD"),
        ({"name": "R2-D2"}, "name", "letters"),
        ({"id_type": "library_card"}, "id_type", "listed"),
        ({"id_number": "12"}, "id_number", "5 to 30"),
    ],
)
def test_basic_identity_is_validated(now, outbox, fields, field, says):
    user_id = register(now)
    args = {"name": "", "birth_date": "", "id_type": "", "id_number": "", **fields}
    with pytest.raises(ValidationFailed) as exc:
        registration.profile_update(user_id=user_id, now=now, **args)
    assert says.lower() in errors_of(exc)[field].lower()


def _verified(now, outbox, phone) -> int:
    user_id = register(now, phone=phone)
    registration.phone_verify(user_id=user_id, code=outbox.latest_code(phone), now=now)
    return user_id


IDENTITY = {"name": "Amara Nakato", "birth_date": "1990-05-17", "id_type": "passport"}


def test_an_id_number_belongs_to_one_verified_account_without_saying_so(now, outbox):
    """Issue 11 finding 4: the second account giving an ID number held by a verified one
    is not told (no distinct refusal); its details are saved, its tier does not rise to 2
    and compliance gets an audit record. Spellings of one number compare equal."""
    first = _verified(now, outbox, "+256772000333")
    second = _verified(now, outbox, "+256772000444")
    assert registration.profile_update(user_id=first, id_number="P-998877", now=now, **IDENTITY)
    full_width = "\uff30\uff19\uff19\uff18\uff18\uff17\uff17"
    for spelling in ("p998877", "P 998 877", full_width):  # case, spaces, full width
        assert registration.profile_update(
            user_id=second, id_number=spelling, now=now, **IDENTITY
        ) == (KycTier.PHONE_VERIFIED)
    assert profile_pii(Profile.objects.get(user_id=second)).id_number == "P998877"
    assert AuditRecord.objects.filter(
        action="user.id_number_conflict", object_id=str(second)
    ).exists()
    assert Profile.objects.get(user_id=first).kyc_tier == KycTier.BASIC_IDENTITY


def test_a_tier_raise_that_would_share_a_claimed_id_number_is_refused_not_crashed(now, outbox):
    """An account that gave an ID number another tier-2 account holds (saved silently, its
    tier kept at 1) and is then approved by Sumsub, or raised by staff: the raise is
    refused with an audit record for compliance, never an IntegrityError (which failed the
    Sumsub job on every retry)."""
    from lightway.application.kyc.tiers import kyc_tier_set

    first = _verified(now, outbox, "+256772000777")
    second = _verified(now, outbox, "+256772000888")
    registration.profile_update(user_id=first, id_number="UG1234567", now=now, **IDENTITY)
    registration.profile_update(user_id=second, id_number="ug-1234567", now=now, **IDENTITY)
    before = AuditRecord.objects.filter(action="user.id_number_conflict").count()
    for actor in ("sumsub", "staff:1"):
        assert not kyc_tier_set(
            user_id=second, tier=KycTier.SUMSUB_VERIFIED, actor=actor, reason="approved", now=now
        )
    assert Profile.objects.get(user_id=second).kyc_tier == KycTier.PHONE_VERIFIED
    conflicts = AuditRecord.objects.filter(action="user.id_number_conflict").order_by("id")
    assert [r.actor for r in conflicts[before:]] == ["sumsub", "staff:1"]
    assert all(r.data == {"fields": ["id_number"], "tier": 3} for r in conflicts[before:])


def test_an_unverified_claim_on_an_id_number_blocks_nobody(now, outbox):
    squatter = register(now, phone="+256772000555")  # never verifies its phone
    registration.profile_update(user_id=squatter, id_number="CM90012345", now=now, **IDENTITY)
    owner = _verified(now, outbox, "+256772000666")
    tier = registration.profile_update(user_id=owner, id_number="cm-9001 2345", now=now, **IDENTITY)
    assert tier == KycTier.BASIC_IDENTITY


@pytest.mark.parametrize(
    "look_alike",
    ["\u0421\u041c90012345", "CM9\uff10\uff1012345\u0301", "CM90012345\u01c5"],  # Cyrillic...
)
def test_id_numbers_with_look_alike_letters_are_refused(now, outbox, look_alike):
    """Letters from another script look like A-Z but would index as another number."""
    user_id = register(now)
    with pytest.raises(ValidationFailed) as exc:
        registration.profile_update(user_id=user_id, id_number=look_alike, now=now, **IDENTITY)
    assert "A to Z" in errors_of(exc)["id_number"]


# --- password sign-in ----------------------------------------------------------------------------


def test_password_login_finds_the_customer_by_phone(now, outbox):
    user_id = register(now)
    user = password_login(login="0772123456", password=PASSWORD, country="UG", now=now)
    assert user.pk == user_id


def test_unknown_phone_and_wrong_password_get_the_same_answer_and_lock(now, outbox):
    register(now)
    with pytest.raises(LoginRefused) as unknown:
        password_login(login="+256772999999", password=PASSWORD, country="UG", now=now)
    with pytest.raises(LoginRefused) as wrong:
        password_login(login=PHONE, password="not-the-password", country="UG", now=now)
    assert unknown.value.message == wrong.value.message == WRONG_CUSTOMER
    for _ in range(5):
        with pytest.raises(LoginRefused):
            password_login(login=PHONE, password="not-the-password", country="UG", now=now)
    with pytest.raises(TooManyAttempts) as locked:
        password_login(login=PHONE, password=PASSWORD, country="UG", now=now)
    assert "Try again in 30 s" in locked.value.message
    # After the wait, the right password works and clears the count.
    later = now + timedelta(seconds=31)
    assert password_login(login=PHONE, password=PASSWORD, country="UG", now=later)
    assert AuditRecord.objects.filter(action="auth.login_failed").count() == 6


def test_password_change_checks_the_old_one_and_notifies(now, outbox):
    user_id = register(now)
    with pytest.raises(ValidationFailed) as exc:
        registration.password_change(
            user_id=user_id, old_password="wrong-one", new_password="Brand-new-pass-77", now=now
        )
    assert "old_password" in errors_of(exc)
    with pytest.raises(ValidationFailed) as weak:
        registration.password_change(
            user_id=user_id, old_password=PASSWORD, new_password="password123", now=now
        )
    assert "too common" in errors_of(weak)["new_password"]
    registration.password_change(
        user_id=user_id, old_password=PASSWORD, new_password="Brand-new-pass-77", now=now
    )
    assert User.objects.get(pk=user_id).check_password("Brand-new-pass-77")
    assert AuditRecord.objects.filter(action="auth.password_change").count() == 1
    assert "password" in outbox.latest_sms(PHONE).lower()


def test_saving_an_empty_identity_form_says_what_is_missing(now, outbox):
    user_id = register(now)
    with pytest.raises(ValidationFailed) as refused:
        registration.profile_update(
            user_id=user_id, name="", birth_date=None, id_type="", id_number="", now=now
        )
    assert errors_of(refused) == {"name": "Fill in at least one of your details before saving."}
