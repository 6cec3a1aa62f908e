"""Notifications: templates, preferences, real delivery over HTTP and SMTP, retries."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from lightway.application.errors import ValidationFailed
from lightway.application.identity.profiles import profile_create
from lightway.application.notifications.service import (
    TEMPLATES,
    deliveries_for,
    notification_deliver,
    notification_preference_set,
    notification_preferences,
    notification_render,
    notifications_retry_due,
    notify,
    retry_delay,
)
from lightway.data.audit.models import AuditRecord
from lightway.data.notify.models import Delivery
from lightway.security.masking import mask_email, mask_phone

PHONE = "+256700123401"
PHONE_FR = "+237650123456"
EMAIL = "amara.n@example.com"


def _user(name: str, now, *, language: str = "en", phone=PHONE, email=EMAIL, country="UG"):
    user = get_user_model().objects.create_user(username=name, password="x-Unused-123")
    profile_create(
        user_id=user.pk,
        realm="customer",
        now=now,
        country=country,
        language=language,
        phone=phone,
        email=email,
    )
    return user.pk


def _jobs(delivery_ids):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (args->>'delivery_id')::bigint, status FROM procrastinate_jobs"
            " WHERE task_name = 'notification_deliver'"
            " AND (args->>'delivery_id')::bigint = ANY(%s) ORDER BY id",
            [list(delivery_ids)],
        )
        return cursor.fetchall()


# --- templates -----------------------------------------------------------------------------

CONTEXTS = {
    "phone_code": {"code": "123456", "minutes": 10},
    "email_verify": {"link": "https://lightway.example/verify?t=abc&u=1"},
    "login_code": {"code": "123456"},
    "step_up_code": {"code": "123456", "action": "transfer"},
    "password_reset_code": {"code": "123456", "minutes": 5},
    "new_device": {"device": "Firefox on Linux"},
    "kyc_approved": {},
    "kyc_retry": {"comment": "The photo is blurred."},
    "kyc_rejected": {},
    "limits_raised": {"tier": 2},
    "password_changed": {},
    "registration_attempt": {},
    "momo_float_low": {
        "product": "Disbursement",
        "market": "mtnuganda",
        "balance": "UGX 120,000",
        "threshold": "UGX 500,000",
        "link": "https://lightway.example/staff/momo/float/",
    },
    "momo_float_recovered": {
        "product": "Disbursement",
        "market": "mtnuganda",
        "balance": "UGX 900,000",
        "threshold": "UGX 500,000",
        "link": "https://lightway.example/staff/momo/float/",
    },
    "momo_payment_succeeded": {"amount": "UGX 50,000"},
    "momo_payment_failed": {
        "amount": "UGX 50,000",
        "reason": "The payment was declined on the phone.",
    },
    "fx_rate_stale": {
        "pair": "USD/UGX",
        "reason": "the USD/UGX exchange rate is out of date; quoting is paused",
        "link": "https://lightway.example/staff/fx/",
    },
    "fx_rate_recovered": {
        "pair": "USD/UGX",
        "source": "regional",
        "link": "https://lightway.example/staff/fx/",
    },
}


@pytest.mark.parametrize("template", sorted(TEMPLATES))
@pytest.mark.parametrize("language", ["en", "fr"])
def test_every_template_renders_in_english_and_french(template, language):
    assert set(CONTEXTS) == set(TEMPLATES)
    context = CONTEXTS[template]
    sms = notification_render(template=template, channel="sms", language=language, context=context)
    email = notification_render(
        template=template, channel="email", language=language, context=context
    )
    assert sms.text.startswith("LightWay")
    assert "\n" not in sms.text and len(sms.text) <= 320
    assert email.subject and "\n" not in email.subject
    assert email.text.startswith("Hello," if language == "en" else "Bonjour,")
    for value in context.values():  # every context value shows, unescaped
        assert str(value) in sms.text
        assert str(value) in email.text
    assert "{{" not in sms.text + email.text + email.subject


def test_the_languages_differ_and_unknown_ones_fall_back_to_english():
    ctx = CONTEXTS["phone_code"]
    en = notification_render(template="phone_code", channel="sms", language="en", context=ctx)
    fr = notification_render(template="phone_code", channel="sms", language="fr", context=ctx)
    sw = notification_render(template="phone_code", channel="sms", language="sw", context=ctx)
    assert "verification code is 123456" in en.text
    assert "code de vérification est 123456" in fr.text
    assert sw == en


def test_a_missing_context_value_or_unknown_template_is_refused():
    with pytest.raises(ValueError, match="needs code"):
        notification_render(template="login_code", channel="sms", language="en", context={})
    with pytest.raises(ValueError, match="unknown notification template"):
        notification_render(template="nope", channel="sms", language="en", context={})


# --- notify and the outbox -----------------------------------------------------------------


@pytest.mark.django_db
def test_sms_code_reaches_the_simulator_over_http(outbox, now):
    user_id = _user("amara", now)
    (delivery_id,) = notify(
        template="phone_code",
        context={"code": "482913", "minutes": 10},
        user_id=user_id,
        now=now,
        critical=True,
    )
    # Queued with its job in the same transaction.
    assert Delivery.objects.get(pk=delivery_id).status == "queued"
    assert _jobs([delivery_id]) == [(delivery_id, "todo")]

    assert outbox.latest_code(PHONE) == "482913"
    delivery = Delivery.objects.get(pk=delivery_id)
    assert delivery.status == "sent"
    assert delivery.attempts == 1
    assert delivery.provider_id.startswith("ATXid_")  # Africa's Talking's message id
    assert delivery.body_ct is None  # erased once final
    (arrived,) = outbox.simulator.messages(to=PHONE)
    assert (arrived.sender, arrived.provider) == ("LightWay", "africastalking")
    assert arrived.reference == delivery.provider_id
    (attempt,) = delivery.sms_attempts.all()
    assert (attempt.provider, attempt.outcome, attempt.country) == (
        "africastalking",
        "accepted",
        "UG",
    )
    assert (attempt.cost_micros, attempt.cost_currency) == (25_000_000, "UGX")
    assert _jobs([delivery_id]) == []  # the outbox did the job


@pytest.mark.django_db
def test_email_goes_over_real_smtp_in_the_users_language(outbox, now):
    user_id = _user("brice", now, language="fr", phone=PHONE_FR, email="brice@example.cm")
    link = "https://lightway.example/app/verify-email?token=t0k&x=1"
    notify(
        template="email_verify",
        context={"link": link},
        user_id=user_id,
        channels=("email",),
        now=now,
    )
    email = outbox.latest_email("brice@example.cm")
    assert email.subject == "Confirmez votre adresse e-mail"
    assert "Bonjour," in email
    assert outbox.latest_link("brice@example.cm") == link
    assert outbox.sms_to(PHONE_FR) == []


@pytest.mark.django_db
def test_explicit_recipient_and_language_win_over_the_profile(outbox, now):
    user_id = _user("chloe", now, language="fr")
    notify(
        template="login_code",
        context={"code": "000111"},
        user_id=user_id,
        phone="+256772000111",
        language="en",
        now=now,
    )
    assert outbox.latest_sms("+256772000111").startswith("LightWay: your sign-in code is 000111")
    assert outbox.sms_to(PHONE) == []


@pytest.mark.django_db
def test_both_channels_without_a_user(outbox, now):
    ids = notify(
        template="password_changed",
        context={},
        phone=PHONE,
        email=EMAIL,
        channels=("sms", "email"),
        now=now,
    )
    assert len(ids) == 2
    assert "password was changed" in outbox.latest_sms(PHONE)
    assert outbox.latest_email(EMAIL).subject == "Your password was changed"


@pytest.mark.django_db
def test_a_channel_without_recipient_is_skipped(outbox, now):
    user_id = _user("dede", now, email=None)
    ids = notify(
        template="kyc_approved", context={}, user_id=user_id, channels=("sms", "email"), now=now
    )
    assert [Delivery.objects.get(pk=i).channel for i in ids] == ["sms"]


# --- preferences ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_opt_out_is_honoured_and_critical_bypasses_it(outbox, now):
    user_id = _user("emma", now)
    defaults = {
        (p.channel, p.category): p.enabled for p in notification_preferences(user_id=user_id)
    }
    assert defaults[("sms", "kyc")] is True
    assert defaults[("email", "marketing")] is False  # opt-in

    notification_preference_set(
        user_id=user_id, channel="sms", category="kyc", enabled=False, now=now
    )
    notification_preference_set(
        user_id=user_id, channel="sms", category="security", enabled=False, now=now
    )
    prefs = {(p.channel, p.category): p for p in notification_preferences(user_id=user_id)}
    assert prefs[("sms", "kyc")].enabled is False and prefs[("sms", "kyc")].default is False
    assert prefs[("email", "kyc")].enabled is True

    assert notify(template="kyc_approved", context={}, user_id=user_id, now=now) == []
    # Another channel of the same category still goes.
    assert (
        len(
            notify(
                template="kyc_approved", context={}, user_id=user_id, channels=("email",), now=now
            )
        )
        == 1
    )
    # Security alerts go out even when a stored preference says no (the panel does not
    # offer that choice), and so does anything critical.
    assert len(notify(template="password_changed", context={}, user_id=user_id, now=now)) == 1
    critical = notify(
        template="login_code", context={"code": "654321"}, user_id=user_id, now=now, critical=True
    )
    assert len(critical) == 1
    assert len(outbox.sms_to(PHONE)) == 2
    assert outbox.latest_code(PHONE) == "654321"

    records = AuditRecord.objects.filter(action="notification_preference.set").order_by("id")
    assert [r.data for r in records] == [
        {"channel": "sms", "category": "kyc", "enabled": False},
        {"channel": "sms", "category": "security", "enabled": False},
    ]
    assert {r.actor for r in records} == {f"user:{user_id}"}


@pytest.mark.django_db
def test_preference_validation(now):
    user_id = _user("fatou", now)
    with pytest.raises(ValidationFailed) as refused:
        notification_preference_set(
            user_id=user_id, channel="pigeon", category="kyc", enabled=False, now=now
        )
    assert refused.value.details == {"field": "channel"}
    with pytest.raises(ValidationFailed):
        notification_preference_set(
            user_id=user_id, channel="sms", category="gossip", enabled=False, now=now
        )


# --- retries, failures, idempotency --------------------------------------------------------


@pytest.mark.django_db
def test_retries_with_backoff_on_5xx_then_success(outbox, settings, now):
    settings.LIGHTWAY_NOTIFY_RETRY_BASE_SECONDS = 10
    settings.LIGHTWAY_SMS_ROUTES = "*=africastalking"  # one provider: retries, not failover
    outbox.set_faults(sms_errors=2, sms_status=503)
    (delivery_id,) = notify(template="login_code", context={"code": "111222"}, phone=PHONE, now=now)

    assert notification_deliver(delivery_id=delivery_id, now=now) == "queued"
    first = Delivery.objects.get(pk=delivery_id)
    assert first.attempts == 1
    assert first.last_error == "Africa's Talking answered 503"
    assert now + timedelta(seconds=5) <= first.next_attempt_at <= now + timedelta(seconds=10)

    # Not due yet: nothing happens.
    assert notification_deliver(delivery_id=delivery_id, now=now + timedelta(seconds=4)) == "queued"
    assert Delivery.objects.get(pk=delivery_id).attempts == 1

    # The sweep enqueues it once due (one waiting job at most, thanks to the queueing lock).
    assert notifications_retry_due(now=first.next_attempt_at - timedelta(seconds=1)) == 0
    assert notifications_retry_due(now=first.next_attempt_at) == 1
    assert notifications_retry_due(now=first.next_attempt_at) == 1
    assert [status for _id, status in _jobs([delivery_id])] == ["todo"]

    t2 = first.next_attempt_at
    assert notification_deliver(delivery_id=delivery_id, now=t2) == "queued"
    second = Delivery.objects.get(pk=delivery_id)
    assert second.attempts == 2
    assert t2 + timedelta(seconds=10) <= second.next_attempt_at <= t2 + timedelta(seconds=20)

    assert notification_deliver(delivery_id=delivery_id, now=second.next_attempt_at) == "sent"
    done = Delivery.objects.get(pk=delivery_id)
    assert (done.status, done.attempts, done.last_error) == ("sent", 3, "")
    assert done.sent_at == second.next_attempt_at
    assert len(outbox.simulator.messages(to=PHONE)) == 1
    assert outbox.simulator.store.sms_requests == 3


def test_backoff_grows_exponentially_with_jitter_and_a_cap(settings):
    settings.LIGHTWAY_NOTIFY_RETRY_BASE_SECONDS = 10
    settings.LIGHTWAY_NOTIFY_RETRY_MAX_SECONDS = 60
    for attempts, full in [(1, 10), (2, 20), (3, 40), (4, 60), (9, 60)]:
        delays = {retry_delay(attempts).total_seconds() for _ in range(50)}
        assert all(full / 2 <= d <= full for d in delays)
        assert len(delays) > 1  # jittered


@pytest.mark.django_db
def test_rate_limited_and_smtp_4xx_are_temporary(outbox, settings, now):
    settings.LIGHTWAY_SMS_ROUTES = "*=africastalking"
    outbox.set_faults(sms_errors=1, sms_status=429, smtp_errors=1, smtp_code=451)
    sms_id, email_id = notify(
        template="kyc_rejected",
        context={},
        phone=PHONE,
        email=EMAIL,
        channels=("sms", "email"),
        now=now,
    )
    assert notification_deliver(delivery_id=sms_id, now=now) == "queued"
    assert notification_deliver(delivery_id=email_id, now=now) == "queued"
    assert (
        Delivery.objects.get(pk=email_id).last_error == "SMTP server answered 451 (SMTPDataError)"
    )
    outbox.deliver_pending(now=now + timedelta(hours=1))
    assert {d.status for d in Delivery.objects.filter(pk__in=[sms_id, email_id])} == {"sent"}


@pytest.mark.django_db
def test_an_invalid_number_fails_permanently_at_once(outbox, now):
    (delivery_id,) = notify(
        template="login_code", context={"code": "123123"}, phone="+256000000000", now=now
    )
    assert notification_deliver(delivery_id=delivery_id, now=now) == "failed"
    failed = Delivery.objects.get(pk=delivery_id)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.last_error == (
        "Africa's Talking refused the message (statusCode 403 invalid_number)"
    )
    assert failed.next_attempt_at is None and failed.body_ct is None
    assert "+256" not in failed.last_error
    # Re-running the job changes nothing.
    assert notification_deliver(delivery_id=delivery_id, now=now + timedelta(hours=1)) == "failed"
    assert Delivery.objects.get(pk=delivery_id).attempts == 1


@pytest.mark.django_db
def test_a_wrong_api_key_fails_permanently(outbox, settings, now):
    settings.LIGHTWAY_SMS_ROUTES = "*=africastalking"  # no fallback configured
    settings.AFRICASTALKING_API_KEY = "not-the-key"
    (delivery_id,) = notify(template="login_code", context={"code": "1"}, phone=PHONE, now=now)
    assert notification_deliver(delivery_id=delivery_id, now=now) == "failed"
    assert Delivery.objects.get(pk=delivery_id).last_error == (
        "Africa's Talking refused the credentials (401)"
    )
    assert outbox.simulator.messages() == []


@pytest.mark.django_db
def test_dead_after_max_attempts(outbox, settings, now):
    settings.LIGHTWAY_NOTIFY_MAX_ATTEMPTS = 3
    settings.LIGHTWAY_SMS_ROUTES = "*=africastalking"
    outbox.set_faults(sms_errors=100, sms_status=502)
    (delivery_id,) = notify(template="kyc_approved", context={}, phone=PHONE, now=now)
    statuses = []
    clock = now
    for _ in range(3):
        statuses.append(notification_deliver(delivery_id=delivery_id, now=clock))
        clock = Delivery.objects.get(pk=delivery_id).next_attempt_at or clock
    assert statuses == ["queued", "queued", "dead"]
    dead = Delivery.objects.get(pk=delivery_id)
    assert dead.attempts == 3
    assert dead.last_error == "Africa's Talking answered 502 (gave up after 3 attempts)"
    assert dead.next_attempt_at is None and dead.body_ct is None
    assert notifications_retry_due(now=clock + timedelta(days=1)) == 0
    assert outbox.simulator.messages() == []


@pytest.mark.django_db
def test_no_duplicate_send_when_the_job_runs_again(outbox, now):
    (delivery_id,) = notify(template="login_code", context={"code": "777888"}, phone=PHONE, now=now)
    assert notification_deliver(delivery_id=delivery_id, now=now) == "sent"
    for later in (now, now + timedelta(minutes=5)):
        assert notification_deliver(delivery_id=delivery_id, now=later) == "sent"
    assert notifications_retry_due(now=now + timedelta(hours=1)) == 0
    outbox.deliver_pending()
    assert len(outbox.simulator.messages(to=PHONE)) == 1
    assert Delivery.objects.get(pk=delivery_id).attempts == 1
    assert notification_deliver(delivery_id=999_999_999, now=now) == "missing"


@pytest.mark.django_db
def test_a_delivery_left_sending_by_a_dead_worker_is_retried(outbox, settings, now):
    settings.LIGHTWAY_NOTIFY_SENDING_TIMEOUT_SECONDS = 120
    (delivery_id,) = notify(template="login_code", context={"code": "246810"}, phone=PHONE, now=now)
    # A worker claimed it, then died before the provider answered.
    Delivery.objects.filter(pk=delivery_id).update(
        status="sending", attempts=1, last_attempt_at=now
    )
    assert notifications_retry_due(now=now + timedelta(seconds=119)) == 0
    assert Delivery.objects.get(pk=delivery_id).status == "sending"
    assert notifications_retry_due(now=now + timedelta(seconds=121)) == 1
    back = Delivery.objects.get(pk=delivery_id)
    assert back.status == "queued"
    assert back.last_error == "interrupted while sending (worker stopped)"
    assert outbox.latest_code(PHONE) == "246810"
    assert Delivery.objects.get(pk=delivery_id).attempts == 2


@pytest.mark.django_db
def test_sms_fails_clearly_when_no_gateway_is_configured(settings, now):
    settings.AFRICASTALKING_BASE_URL = ""
    settings.TWILIO_BASE_URL = ""
    (delivery_id,) = notify(template="login_code", context={"code": "1"}, phone=PHONE, now=now)
    assert notification_deliver(delivery_id=delivery_id, now=now) == "failed"
    assert Delivery.objects.get(pk=delivery_id).last_error == "no SMS provider configured for UG"


@pytest.mark.django_db
def test_notify_rolls_back_with_the_callers_transaction(now):
    from django.db import transaction

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        (delivery_id,) = notify(template="login_code", context={"code": "1"}, phone=PHONE, now=now)
        raise Boom
    assert not Delivery.objects.filter(pk=delivery_id).exists()
    assert _jobs([delivery_id]) == []


# --- personal data -------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_database_holds_no_recipient_or_code_in_clear(outbox, now):
    user_id = _user("gloria", now)
    notify(
        template="step_up_code",
        context={"code": "918273", "action": "transfer"},
        user_id=user_id,
        channels=("sms", "email"),
        now=now,
        critical=True,
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM notify_delivery")
        queued_rows = repr(cursor.fetchall())
        cursor.execute(
            "SELECT args::text FROM procrastinate_jobs WHERE task_name = 'notification_deliver'"
        )
        job_rows = repr(cursor.fetchall())
    for secret in (PHONE, PHONE[1:], "700123401", EMAIL, "amara", "918273"):
        assert secret not in queued_rows
        assert secret not in job_rows
    assert outbox.latest_code(PHONE) == "918273"

    views = deliveries_for(user_id=user_id)
    assert [v.recipient for v in views] == [mask_email(EMAIL), mask_phone(PHONE)]
    assert "•" in views[0].recipient and EMAIL not in views[0].recipient
    assert deliveries_for(phone=PHONE)[0].channel == "sms"
    assert deliveries_for(email=EMAIL.upper())[0].channel == "email"
    assert {v.status for v in views} == {"sent"}


def test_the_outbox_works_in_transactional_tests_too(tx_db, outbox, now):
    (delivery_id,) = notify(template="login_code", context={"code": "135790"}, phone=PHONE, now=now)
    assert _jobs([delivery_id]) == [(delivery_id, "todo")]  # committed
    assert outbox.latest_code(PHONE) == "135790"
    assert Delivery.objects.get(pk=delivery_id).status == "sent"
    assert _jobs([delivery_id]) == []


# --- through the real task queue -----------------------------------------------------------


def test_the_procrastinate_worker_delivers_through_the_notify_task(tx_db, outbox):
    from procrastinate.contrib.django import app

    app.perform_import_paths()
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM procrastinate_jobs")
        (last_job,) = cursor.fetchone()
    (delivery_id,) = notify(
        template="login_code", context={"code": "864209"}, phone=PHONE, now=timezone.now()
    )
    try:
        with app.replace_connector(app.connector.get_worker_connector()):
            app.run_worker(
                queues=["default"], wait=False, install_signal_handlers=False, listen_notify=False
            )
        delivery = Delivery.objects.get(pk=delivery_id)
        assert (delivery.status, delivery.attempts) == ("sent", 1)
        assert "864209" in outbox.simulator.messages(to=PHONE)[0].text
        assert _jobs([delivery_id]) == [(delivery_id, "succeeded")]
    finally:  # procrastinate's tables are not flushed between tests
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM procrastinate_jobs WHERE id > %s", [last_job])


@pytest.mark.django_db
def test_key_rotation_reseals_deliveries(settings, now):
    from lightway.application.datakeys.rotation import keys_rotate, keys_status
    from lightway.security.crypto import DEV_KEY_SEED, decrypt, keyring_cache_clear

    (delivery_id,) = notify(template="login_code", context={"code": "5"}, phone=PHONE, now=now)
    dev1 = hashlib.sha256(f"{DEV_KEY_SEED}:kek:dev1".encode()).digest()
    new = base64.b64encode(b"k" * 32).decode()
    settings.LIGHTWAY_DATA_KEYS = f"v2:{new},dev1:{base64.b64encode(dev1).decode()}"
    keyring_cache_clear()
    try:
        keys_rotate(now=now)
        status = keys_status()
        assert status["notify.Delivery.recipient_ct"] == {"v2": 1}
        assert status["notify.Delivery.body_ct"] == {"v2": 1}
        row = Delivery.objects.get(pk=delivery_id)
        context = f"notify.delivery.recipient:{delivery_id}"
        assert decrypt(bytes(row.recipient_ct), context=context) == PHONE
    finally:
        keyring_cache_clear()
