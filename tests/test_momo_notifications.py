"""Customer notifications when a MoMo deposit, withdrawal or payout becomes final
(docs/momo.md "Flows", docs/notifications.md): one SMS (and an email when the customer has
an address), queued with the outcome in ``momo_apply``'s transaction, never twice, and
nothing for a partner's remittance."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lightway.application.identity.profiles import profile_set_pii
from lightway.application.momo import flows
from lightway.application.notifications.service import notification_render
from lightway.data.identity.models import Profile
from lightway.data.notify.models import Delivery
from lightway.integration.momo.port import MomoResult
from tests.momo_flow_support import (
    momo_customer,
    momo_partner,
    reload,
    request_of,
    run_momo_jobs,
    wait_final,
)

pytestmark = pytest.mark.django_db

PHONE = "+256772123401"
OK_NUMBER = "46733123499"  # outside the sandbox table: SUCCESSFUL
NOT_FOUND_NUMBER = "46733123457"  # PayeeNotFound for a transfer


def _callbacks_twice(momo, client, now):
    """Deliver every callback MoMo queued twice (a duplicate), running the jobs each time."""
    momo.sim.wait_callbacks(1, timeout=10)
    taken = momo.sim.callbacks_take()
    for _ in range(2):
        for callback in taken:
            path = callback.url.split("://", 1)[1].split("/", 1)[1]
            response = client.generic(
                callback.method, "/" + path, data=callback.body, content_type="application/json"
            )
            assert response.status_code < 300
        run_momo_jobs(now)


def _finish(momo, client, transfer, now):
    run_momo_jobs(now)
    req = request_of(transfer)
    wait_final(momo.sim, req.reference_id)
    _callbacks_twice(momo, client, now)
    return reload(transfer), request_of(transfer)


def _momo_deliveries():
    return list(
        Delivery.objects.filter(template__startswith="momo_payment_").values_list(
            "template", "channel", "user_id"
        )
    )


def test_a_successful_deposit_sends_one_sms_with_the_amount(momo, outbox, client, now):
    uid = momo_customer("payer", now, phone=PHONE)
    transfer = flows.deposit_start(
        customer_id=uid,
        currency="UGX",
        amount_minor=25_000,
        msisdn=OK_NUMBER,
        idempotency_key="dep-ok",
        now=now,
    )
    transfer, req = _finish(momo, client, transfer, now)
    assert transfer.status == "succeeded"
    texts = outbox.sms_to(PHONE)
    assert len(texts) == 1
    assert "UGX 25,000" in texts[0] and "deposit" in texts[0]
    assert OK_NUMBER not in texts[0]
    assert _momo_deliveries() == [("momo_payment_succeeded", "sms", uid)]  # no email on file

    # a second apply (a late poll, a retried job) finds it final: no second message
    again = MomoResult(status="SUCCESSFUL", amount="25000", currency="UGX")
    assert flows.momo_apply(request_id=req.pk, result=again, now=now) is False
    assert len(outbox.sms_to(PHONE)) == 1
    assert len(_momo_deliveries()) == 1


def test_a_failed_payout_sends_one_failure_sms_with_the_reason(momo, outbox, client, now):
    uid = momo_customer("sender", now, phone=PHONE, wallet=1_000_000)
    transfer = flows.payout_start(
        customer_id=uid,
        currency="UGX",
        amount_minor=40_000,
        msisdn=NOT_FOUND_NUMBER,
        idempotency_key="pay-ko",
        now=now,
    )
    transfer, req = _finish(momo, client, transfer, now)
    assert (transfer.status, req.reason_code) == ("failed", "PAYEE_NOT_FOUND")
    texts = outbox.sms_to(PHONE)
    assert len(texts) == 1
    assert "UGX 40,000" in texts[0]
    assert "This phone number has no active MoMo account." in texts[0]
    assert "PAYEE_NOT_FOUND" not in texts[0] and NOT_FOUND_NUMBER not in texts[0]
    failed = MomoResult(status="FAILED")
    assert flows.momo_apply(request_id=req.pk, result=failed, now=now) is False
    assert len(outbox.sms_to(PHONE)) == 1


def test_email_too_when_the_customer_has_one_and_french_for_a_french_customer(
    momo, outbox, client, now
):
    uid = momo_customer("owner", now, phone=f"+{NOT_FOUND_NUMBER}", wallet=1_000_000)
    profile_set_pii(user_id=uid, now=now, email="owner@example.com")
    Profile.objects.filter(user_id=uid).update(language="fr")
    transfer = flows.withdrawal_start(
        customer_id=uid, currency="UGX", amount_minor=60_000, idempotency_key="wd-ko", now=now
    )
    transfer, _req = _finish(momo, client, transfer, now)
    assert transfer.status == "failed"
    (sms,) = outbox.sms_to(f"+{NOT_FOUND_NUMBER}")
    assert "retrait" in sms and "UGX 60,000" in sms
    assert "Ce numéro n'a pas de compte MoMo actif." in sms
    email = outbox.latest_email("owner@example.com")
    assert email.text.startswith("Bonjour,") and "UGX 60,000" in email.text
    assert sorted(_momo_deliveries()) == [
        ("momo_payment_failed", "email", uid),
        ("momo_payment_failed", "sms", uid),
    ]


def test_a_customer_who_turned_transaction_sms_off_gets_none(momo, outbox, client, now):
    from lightway.application.notifications.service import notification_preference_set

    uid = momo_customer("quiet", now, phone=PHONE)
    notification_preference_set(
        user_id=uid, channel="sms", category="transactions", enabled=False, now=now
    )
    transfer = flows.deposit_start(
        customer_id=uid,
        currency="UGX",
        amount_minor=25_000,
        msisdn=OK_NUMBER,
        idempotency_key="dep-quiet",
        now=now,
    )
    transfer, _req = _finish(momo, client, transfer, now)
    assert transfer.status == "succeeded"
    assert outbox.sms_to(PHONE) == [] and _momo_deliveries() == []


@pytest.mark.parametrize("number", [OK_NUMBER, NOT_FOUND_NUMBER])
def test_a_remittance_notifies_nobody(momo, outbox, client, now, number):
    partner_user = momo_partner("acme", now, prefund=5_000_000)
    transfer = flows.remittance_payout_start(
        partner_user_id=partner_user,
        currency="UGX",
        amount_minor=150_000,
        msisdn=number,
        external_id="ACME-2026-0002",
        idempotency_key="rem-n",
        now=now,
    )
    transfer, _req = _finish(momo, client, transfer, now)
    assert transfer.status in ("succeeded", "failed")
    assert _momo_deliveries() == []
    assert not Delivery.objects.exists()


def test_the_outcome_and_its_message_roll_back_together(momo, outbox, client, now):
    """The delivery is written in the apply's transaction: no outcome, no message."""
    from django.db import transaction

    uid = momo_customer("payer", now, phone=PHONE)
    transfer = flows.deposit_start(
        customer_id=uid,
        currency="UGX",
        amount_minor=25_000,
        msisdn=OK_NUMBER,
        idempotency_key="dep-rb",
        now=now,
    )
    run_momo_jobs(now)
    req = request_of(transfer)
    ok = MomoResult(status="SUCCESSFUL", amount="25000", currency="UGX")

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        assert flows.momo_apply(request_id=req.pk, result=ok, now=now) is True
        assert len(_momo_deliveries()) == 1
        raise Boom
    assert reload(transfer).status != "succeeded" and _momo_deliveries() == []
    assert flows.momo_apply(request_id=req.pk, result=ok, now=now + timedelta(seconds=1))
    assert len(outbox.sms_to(PHONE)) == 1


@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize("kind", ["deposit", "withdrawal", "payout"])
def test_the_templates_name_the_kind_of_payment(kind, language):
    words = {
        "en": {"deposit": "deposit", "withdrawal": "withdrawal", "payout": "payment"},
        "fr": {"deposit": "dépôt", "withdrawal": "retrait", "payout": "paiement"},
    }[language]
    for template, extra in (
        ("momo_payment_succeeded", {}),
        ("momo_payment_failed", {"reason": "Declined."}),
    ):
        context = {"kind": kind, "amount": "UGX 1,000", **extra}
        sms = notification_render(
            template=template, channel="sms", language=language, context=context
        )
        email = notification_render(
            template=template, channel="email", language=language, context=context
        )
        assert words[kind] in sms.text and "UGX 1,000" in sms.text
        assert words[kind] in email.subject.lower() + email.text
        assert len(sms.text) <= 320
