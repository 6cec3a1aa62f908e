"""Sumsub KYC in the platform: start, webhook receipt (digest, storage, dedupe, ordering)
and processing (GREEN / RED+RETRY / RED+FINAL), against the simulator over real HTTP."""

from __future__ import annotations

import json
from datetime import timedelta

import psycopg
import pytest
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from lightway.application.errors import NotFound
from lightway.application.intake import intake_housekeeping
from lightway.application.kyc.verification import (
    KycAlreadyVerified,
    KycRefused,
    KycState,
    KycUnavailable,
    WebhookOutcome,
    created_at_ms,
    kyc_event_process,
    kyc_start,
    kyc_status,
    kyc_webhook_receive,
    webhook_body_context,
    webhook_event_body,
)
from lightway.data.audit.models import AuditRecord
from lightway.data.identity.models import KycTier, Profile
from lightway.data.intake.models import IntakeRejection
from lightway.data.kyc.models import KycApplicant, SumsubWebhookEvent, WebhookStatus
from lightway.integration.sumsub.port import SumsubUnavailable
from lightway.integration.sumsub.simulator import SumsubSimulator
from lightway.security.crypto import payload_digest, seal
from tests.sumsub_support import (
    make_customer,
    queued_event_ids,
    run_kyc_jobs,
    signed,
    sim_settings,
)

pytestmark = pytest.mark.django_db

PHONE = "+256700000321"
EMAIL = "kyc-amara@example.test"


@pytest.fixture
def sim(settings):
    simulator = SumsubSimulator().start()  # no webhook URL: tests deliver sim.events
    sim_settings(settings, simulator)
    yield simulator
    simulator.stop()


@pytest.fixture
def customer(now):
    user_id, _profile = make_customer(now, phone=PHONE, email=EMAIL)
    return user_id


def receive(payload, *, alg="HMAC_SHA256_HEX", now=None, **kw):
    body, headers = signed(payload, alg=alg, **kw)
    from django.utils import timezone

    return kyc_webhook_receive(raw_body=body, headers=headers, now=now or timezone.now())


def events(sim, event_type):
    return [e for e in sim.events if e["type"] == event_type]


def submit(sim, applicant_id):
    applicant = sim.applicants[applicant_id]
    sim.doc_add(applicant, {"idDocType": "PASSPORT", "country": "UGA", "number": "P1"})
    sim.submit(applicant)


def audit_actions(prefix="kyc."):
    return list(
        AuditRecord.objects.filter(action__startswith=prefix)
        .order_by("id")
        .values_list("action", flat=True)
    )


def tier(user_id):
    return Profile.objects.get(user_id=user_id).kyc_tier


# --- start ---------------------------------------------------------------------------------


def test_start_creates_the_applicant_under_the_subject(sim, customer, now):
    session = kyc_start(user_id=customer, now=now)
    profile = Profile.objects.get(user_id=customer)
    applicant = sim.applicants[session.applicant_id]
    assert applicant.external_user_id == profile.subject != PHONE
    assert (applicant.phone, applicant.email) == (PHONE, EMAIL)
    assert applicant.fixed_info == {"country": "UGA", "dob": "1990-05-01"}
    assert session.access_token.startswith("_act-") and session.simulated
    assert session.sdk_url == f"{sim.base_url}/websdk/?token={session.access_token}"
    kyc = KycApplicant.objects.get(user_id=customer)
    assert (kyc.applicant_id, kyc.level_name, kyc.review_status) == (
        session.applicant_id,
        "basic-kyc-level",
        "init",
    )
    assert audit_actions() == ["kyc.applicant_create", "kyc.start"]
    record = AuditRecord.objects.get(action="kyc.start")
    assert PHONE not in json.dumps(record.data) and EMAIL not in json.dumps(record.data)
    # starting again: same applicant, a new token
    again = kyc_start(user_id=customer, now=now)
    assert again.applicant_id == session.applicant_id
    assert again.access_token != session.access_token
    assert len(sim.applicants) == 1
    assert kyc_status(user_id=customer).state == KycState.IN_PROGRESS


def test_start_recovers_an_applicant_that_exists_at_sumsub(sim, customer, now):
    subject = Profile.objects.get(user_id=customer).subject
    existing = sim.applicant_create(external_user_id=subject, level_name="basic-kyc-level")
    session = kyc_start(user_id=customer, now=now)
    assert session.applicant_id == existing.id
    assert KycApplicant.objects.get(user_id=customer).applicant_id == existing.id


def test_start_when_sumsub_is_down_is_a_clear_error(sim, customer, now):
    sim.configure(fail_next=5)
    with pytest.raises(KycUnavailable):
        kyc_start(user_id=customer, now=now)
    assert not KycApplicant.objects.exists()


def test_start_without_sumsub_configured_is_a_clear_error(settings, customer, now):
    settings.SUMSUB_BASE_URL = ""
    with pytest.raises(KycUnavailable, match="not available right now"):
        kyc_start(user_id=customer, now=now)


def test_start_needs_a_profile_and_an_unverified_user(sim, now):
    with pytest.raises(NotFound):
        kyc_start(user_id=987654, now=now)
    verified, _profile = make_customer(now, tier=KycTier.SUMSUB_VERIFIED)
    with pytest.raises(KycAlreadyVerified):
        kyc_start(user_id=verified, now=now)
    assert kyc_status(user_id=verified).state == KycState.APPROVED


# --- receipt: digest, storage -------------------------------------------------------------


@pytest.mark.parametrize("alg", ["HMAC_SHA1_HEX", "HMAC_SHA256_HEX", "HMAC_SHA512_HEX"])
def test_valid_digest_is_accepted_for_each_algorithm(sim, customer, now, client, alg):
    kyc_start(user_id=customer, now=now)
    body, headers = signed(events(sim, "applicantCreated")[0], alg=alg)
    response = client.post(
        "/webhooks/sumsub",
        data=body,
        content_type="application/json",
        headers={k: v for k, v in headers.items() if k != "Content-Type"},
    )
    assert response.status_code == 200 and response.json() == {"ok": True}
    event = SumsubWebhookEvent.objects.get()
    assert bytes(event.raw_body)[:3] == b"LW1"  # sealed (issue 11 finding 1)
    assert webhook_event_body(event) == body  # byte for byte
    assert event.digest_ok and event.status == WebhookStatus.RECEIVED
    assert event.event_type == "applicantCreated"
    assert set(event.headers) == {"content-type", "x-payload-digest", "x-payload-digest-alg"}
    assert event.headers["x-payload-digest-alg"] == alg
    assert queued_event_ids() == [event.pk]  # processing queued in the same transaction
    assert run_kyc_jobs() == [WebhookStatus.PROCESSED]


def test_tampered_body_is_only_counted_then_refused(sim, customer, now, client):
    """Issue 11 finding 6: a delivery that fails the digest leaves no row, no body and no
    audit record of its own: one count in its minute (size, keyed digest), audited once per
    minute by the housekeeping job."""
    kyc_start(user_id=customer, now=now)
    body, headers = signed(events(sim, "applicantCreated")[0])
    tampered = body.replace(b'"init"', b'"completed"')
    response = client.post(
        "/webhooks/sumsub",
        data=tampered,
        content_type="application/json",
        headers={k: v for k, v in headers.items() if k != "Content-Type"},
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    assert not SumsubWebhookEvent.objects.exists()
    (rejection,) = IntakeRejection.objects.all()
    assert (rejection.source, rejection.reason, rejection.count) == ("sumsub", "bad_digest", 1)
    assert rejection.bytes_total == len(tampered)
    assert rejection.last_digest == payload_digest(tampered)
    assert queued_event_ids() == []
    assert "kyc.webhook_rejected" not in audit_actions()
    assert intake_housekeeping(now=timezone.now() + timedelta(minutes=2)) == 1
    (record,) = AuditRecord.objects.filter(action="intake.rejected")
    assert record.object_id == "sumsub"
    assert record.data["count"] == 1 and record.data["reason"] == "bad_digest"
    assert intake_housekeeping(now=timezone.now() + timedelta(minutes=3)) == 0  # once
    # the authentic delivery still gets through afterwards
    response = client.post(
        "/webhooks/sumsub",
        data=body,
        content_type="application/json",
        headers={k: v for k, v in headers.items() if k != "Content-Type"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "alg_header",
    ["HMAC_MD5_HEX", "hmac_sha256_hex", "", None],
    ids=["md5", "lower", "empty", "none"],
)
def test_unknown_or_missing_algorithm_is_refused(sim, now, client, alg_header):
    body, headers = signed({"applicantId": "a" * 24, "type": "applicantCreated"})
    extra = {"X-Payload-Digest": headers["X-Payload-Digest"]}
    if alg_header is not None:
        extra["X-Payload-Digest-Alg"] = alg_header
    response = client.post(
        "/webhooks/sumsub", data=body, content_type="application/json", headers=extra
    )
    assert response.status_code == 401
    assert not SumsubWebhookEvent.objects.exists()
    assert IntakeRejection.objects.get().reason == "bad_digest"


def test_missing_digest_and_wrong_secret_are_refused(sim, now, client):
    body, headers = signed({"applicantId": "a" * 24, "type": "x"}, secret="app-token-secret")
    response = client.post(
        "/webhooks/sumsub",
        data=body,
        content_type="application/json",
        headers={"X-Payload-Digest-Alg": "HMAC_SHA256_HEX"},
    )
    assert response.status_code == 401
    response = client.post(
        "/webhooks/sumsub",
        data=body,
        content_type="application/json",
        headers={k: v for k, v in headers.items() if k != "Content-Type"},
    )
    assert response.status_code == 401
    assert not SumsubWebhookEvent.objects.exists()
    assert IntakeRejection.objects.get().count == 2


def test_unparseable_body_is_stored_and_answered_400(sim, now, client):
    for raw in (b"{not json", b"[1, 2]", b'{"type": "applicantReviewed"}'):
        body, headers = signed(raw)
        response = client.post(
            "/webhooks/sumsub",
            data=body,
            content_type="application/json",
            headers={k: v for k, v in headers.items() if k != "Content-Type"},
        )
        assert response.status_code == 400, raw
        assert response.json()["error"]["code"] == "bad_request"
    stored = SumsubWebhookEvent.objects.order_by("id")
    assert [webhook_event_body(e) for e in stored] == [
        b"{not json",
        b"[1, 2]",
        b'{"type": "applicantReviewed"}',
    ]
    assert {e.status for e in stored} == {WebhookStatus.ERROR}
    assert all(e.dedupe_key.startswith("hmac:") for e in stored)  # keyed, like the digest
    assert queued_event_ids() == []


def test_webhook_view_limits(client):
    assert client.get("/webhooks/sumsub").status_code == 405
    big = b'{"pad":"' + b"x" * (300 * 1024) + b'"}'
    response = client.post("/webhooks/sumsub", data=big, content_type="application/json")
    assert response.status_code == 413
    assert not SumsubWebhookEvent.objects.exists()


def test_stored_delivery_cannot_be_altered(sim, now, owner_db):
    receipt = receive(
        {
            "applicantId": "b" * 24,
            "type": "applicantCreated",
            "createdAtMs": "2026-01-05 10:00:00.123",
        }
    )
    event = SumsubWebhookEvent.objects.get(pk=receipt.event_id)
    # the sealed body: never back to clear, never another value under the same key (only
    # key rotation re-seals it, under another key version)
    for value in (b"{}", seal(b"{}", context=webhook_body_context(event.pk))):
        with pytest.raises(DatabaseError, match="cannot be altered"), transaction.atomic():
            SumsubWebhookEvent.objects.filter(pk=event.pk).update(raw_body=value)
    for field, value in (("dedupe_key", "x"), ("digest_ok", False)):
        # the application's role may not write what was received (docs/operations.md,
        # "Database roles"); the owner may, and the trigger refuses
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            SumsubWebhookEvent.objects.filter(pk=event.pk).update(**{field: value})
        with pytest.raises(psycopg.errors.IntegrityError, match="cannot be altered"):
            owner_db.execute(
                f"UPDATE kyc_sumsub_webhook_event SET {field} = %s WHERE id = %s",
                [value, event.pk],
            )
    # a delivery cannot claim a failed digest and still be queued
    with pytest.raises(IntegrityError), transaction.atomic():
        SumsubWebhookEvent.objects.create(
            raw_body=seal(b"{}", context="kyc.webhook.body:0"),
            received_at=now,
            digest_ok=False,
            status=WebhookStatus.RECEIVED,
            dedupe_key="y",
        )


def test_created_at_ms_parsing():
    assert created_at_ms("2026-01-05 10:00:00.123") == 1767607200123
    assert created_at_ms("2026-01-05 10:00:00") == 1767607200000
    assert created_at_ms("2026-01-05 10:00:00.124") > created_at_ms("2026-01-05 10:00:00.123")
    assert created_at_ms("yesterday") is None and created_at_ms(None) is None


# --- dedupe and ordering ------------------------------------------------------------------


def test_duplicate_delivery_is_processed_once(sim, customer, now, outbox):
    session = kyc_start(user_id=customer, now=now)
    submit(sim, session.applicant_id)
    sim.decide(sim.applicants[session.applicant_id], "GREEN")
    reviewed = events(sim, "applicantReviewed")[0]
    first = receive(reviewed)
    second = receive(reviewed)
    assert (first.outcome, second.outcome) == (WebhookOutcome.ACCEPTED, WebhookOutcome.DUPLICATE)
    assert second.event_id == first.event_id
    event = SumsubWebhookEvent.objects.get()
    assert event.deliveries == 2
    assert event.dedupe_key == (
        f"{session.applicant_id}|applicantReviewed|{reviewed['createdAtMs']}"
    )
    assert len(queued_event_ids()) == 1
    assert run_kyc_jobs() == [WebhookStatus.PROCESSED]
    # a job run twice (worker retry) changes nothing either
    assert kyc_event_process(event_id=event.pk, now=now) == WebhookStatus.PROCESSED
    assert tier(customer) == KycTier.SUMSUB_VERIFIED
    assert audit_actions().count("kyc.approved") == 1
    assert (
        outbox.sms_to(PHONE).count(
            "LightWay: your identity is verified. Your higher limits are now active."
        )
        == 1
    )


def test_reviewed_before_pending_then_pending_is_ignored(sim, customer, now):
    session = kyc_start(user_id=customer, now=now)
    submit(sim, session.applicant_id)
    sim.decide(sim.applicants[session.applicant_id], "GREEN")
    pending, reviewed = events(sim, "applicantPending")[0], events(sim, "applicantReviewed")[0]
    assert created_at_ms(pending["createdAtMs"]) < created_at_ms(reviewed["createdAtMs"])
    # both arrive before the worker runs, newest first: processing ignores the older one
    assert receive(reviewed).outcome == WebhookOutcome.ACCEPTED
    assert receive(pending).outcome == WebhookOutcome.ACCEPTED
    assert run_kyc_jobs() == [WebhookStatus.PROCESSED, WebhookStatus.IGNORED_OUT_OF_ORDER]
    kyc = KycApplicant.objects.get(user_id=customer)
    assert (kyc.review_status, kyc.review_answer) == ("completed", "GREEN")
    assert kyc.last_event_at_ms == created_at_ms(reviewed["createdAtMs"])
    assert tier(customer) == KycTier.SUMSUB_VERIFIED
    # a late re-delivery of an old event is recognised on receipt: stored, not queued
    created = events(sim, "applicantCreated")[0]
    receipt = receive(created)
    assert receipt.outcome == WebhookOutcome.OUT_OF_ORDER
    assert SumsubWebhookEvent.objects.get(pk=receipt.event_id).status == (
        WebhookStatus.IGNORED_OUT_OF_ORDER
    )
    assert queued_event_ids() == []


def test_older_decision_after_newer_is_ignored(sim, customer, now, outbox):
    session = kyc_start(user_id=customer, now=now)
    applicant = sim.applicants[session.applicant_id]
    submit(sim, session.applicant_id)
    sim.decide(applicant, "RETRY")
    submit(sim, session.applicant_id)
    sim.decide(applicant, "GREEN")
    retry, green = events(sim, "applicantReviewed")
    assert receive(green).outcome == WebhookOutcome.ACCEPTED
    run_kyc_jobs()
    assert receive(retry).outcome == WebhookOutcome.OUT_OF_ORDER
    assert run_kyc_jobs() == []
    assert kyc_status(user_id=customer).state == KycState.APPROVED
    texts = outbox.sms_to(PHONE)
    assert not any("could not verify your identity yet" in t for t in texts)


# --- decisions ----------------------------------------------------------------------------


def test_green_raises_the_tier_and_notifies(sim, customer, now, outbox):
    """Small defect of issue 13: two SMS arrived at once on reaching tier 3 (the tier's
    "limits were raised" and the approval's "identity is verified"). The approval says the
    higher limits are active, so it is the only one."""
    sms_before = len(outbox.sms_to(PHONE))
    session = kyc_start(user_id=customer, now=now)
    submit(sim, session.applicant_id)
    sim.decide(sim.applicants[session.applicant_id], "GREEN")
    for payload in sim.events:
        receive(payload)
    run_kyc_jobs(now)
    assert tier(customer) == KycTier.SUMSUB_VERIFIED
    kyc = KycApplicant.objects.get(user_id=customer)
    assert kyc.approved_at == now and kyc.review_answer == "GREEN"
    assert outbox.latest_email(EMAIL).subject
    new_sms = outbox.sms_to(PHONE)[: len(outbox.sms_to(PHONE)) - sms_before]
    assert len(new_sms) == 1, new_sms
    assert "identity is verified" in new_sms[0] and "higher limits" in new_sms[0]
    assert not any("limits were raised" in t for t in outbox.sms_to(PHONE))
    assert any("identity is verified" in e.text for e in outbox.emails_to(EMAIL))
    actions = audit_actions()
    assert "kyc.approved" in actions and "kyc.tier.set" in actions
    tier_record = AuditRecord.objects.get(action="kyc.tier.set")
    assert tier_record.actor == "sumsub" and tier_record.data["to"] == 3
    status = kyc_status(user_id=customer)
    assert (status.state, status.tier, status.can_start) == (KycState.APPROVED, 3, False)


def test_a_webhook_alone_never_grants(sim, customer, now):
    """A correctly signed GREEN that Sumsub's status API does not confirm changes nothing."""
    session = kyc_start(user_id=customer, now=now)
    submit(sim, session.applicant_id)
    forged = dict(events(sim, "applicantPending")[0])
    forged.update(
        type="applicantReviewed",
        reviewStatus="completed",
        reviewResult={"reviewAnswer": "GREEN"},
        createdAtMs="2099-01-01 00:00:00.000",
    )
    assert receive(forged).outcome == WebhookOutcome.ACCEPTED
    assert run_kyc_jobs() == [WebhookStatus.PROCESSED]
    assert tier(customer) == KycTier.PHONE_VERIFIED
    kyc = KycApplicant.objects.get(user_id=customer)
    assert (kyc.review_status, kyc.review_answer) == ("pending", "")
    assert "kyc.approved" not in audit_actions()
    assert ("GET", f"/resources/applicants/{session.applicant_id}/status") in sim.requests


def test_red_retry_lets_the_user_start_again(sim, customer, now, outbox):
    session = kyc_start(user_id=customer, now=now)
    submit(sim, session.applicant_id)
    sim.decide(sim.applicants[session.applicant_id], "RETRY")
    for payload in sim.events:
        receive(payload)
    run_kyc_jobs(now)
    status = kyc_status(user_id=customer)
    comment = "The photo of your document is not readable. Please take a new photo and try again."
    assert (status.state, status.can_start, status.moderation_comment) == (
        KycState.RETRY,
        True,
        comment,
    )
    kyc = KycApplicant.objects.get(user_id=customer)
    assert (kyc.reject_type, kyc.reject_labels, kyc.final_rejected_at) == (
        "RETRY",
        ["UNSATISFACTORY_PHOTOS"],
        None,
    )
    assert comment in outbox.latest_sms(PHONE)
    assert "Simulated decision" not in outbox.latest_email(EMAIL)  # never the client comment
    assert tier(customer) == KycTier.PHONE_VERIFIED
    assert "kyc.retry" in audit_actions()
    # start again: a new token for the same applicant, who can submit again
    again = kyc_start(user_id=customer, now=now)
    assert again.applicant_id == session.applicant_id
    assert again.access_token != session.access_token
    submit(sim, session.applicant_id)
    sim.decide(sim.applicants[session.applicant_id], "GREEN")
    for payload in sim.events[-2:]:
        receive(payload)
    run_kyc_jobs(now)
    assert tier(customer) == KycTier.SUMSUB_VERIFIED
    assert kyc_status(user_id=customer).moderation_comment is None


def test_red_final_blocks_further_starts(sim, customer, now, outbox):
    session = kyc_start(user_id=customer, now=now)
    submit(sim, session.applicant_id)
    sim.decide(sim.applicants[session.applicant_id], "FINAL")
    for payload in sim.events:
        receive(payload)
    run_kyc_jobs(now)
    kyc = KycApplicant.objects.get(user_id=customer)
    assert (kyc.review_answer, kyc.reject_type, kyc.final_rejected_at) == ("RED", "FINAL", now)
    status = kyc_status(user_id=customer)
    assert (status.state, status.can_start) == (KycState.REJECTED, False)
    with pytest.raises(KycRefused, match="cannot be started again"):
        kyc_start(user_id=customer, now=now)
    assert "could not verify your identity" in outbox.latest_sms(PHONE)
    assert "kyc.rejected" in audit_actions()
    assert tier(customer) == KycTier.PHONE_VERIFIED
    # a later (newer) reset at Sumsub does not lift the block
    sim.reset(sim.applicants[session.applicant_id])
    receive(sim.events[-1])
    run_kyc_jobs(now)
    with pytest.raises(KycRefused):
        kyc_start(user_id=customer, now=now)


def test_sumsub_outage_while_processing_keeps_the_event_for_a_retry(sim, customer, now):
    session = kyc_start(user_id=customer, now=now)
    submit(sim, session.applicant_id)
    sim.decide(sim.applicants[session.applicant_id], "GREEN")
    receipt = receive(events(sim, "applicantReviewed")[0])
    sim.configure(fail_next=1)
    with pytest.raises(SumsubUnavailable):
        kyc_event_process(event_id=receipt.event_id, now=now)
    assert SumsubWebhookEvent.objects.get(pk=receipt.event_id).status == WebhookStatus.RECEIVED
    assert tier(customer) == KycTier.PHONE_VERIFIED
    assert kyc_event_process(event_id=receipt.event_id, now=now) == WebhookStatus.PROCESSED
    assert tier(customer) == KycTier.SUMSUB_VERIFIED


def test_event_of_an_unknown_applicant_is_kept_as_error(sim, now):
    receipt = receive(
        {
            "applicantId": "c" * 24,
            "type": "applicantPending",
            "externalUserId": "sub_nobody",
            "createdAtMs": "2026-01-05 10:00:00.123",
        }
    )
    assert run_kyc_jobs() == [WebhookStatus.ERROR]
    assert SumsubWebhookEvent.objects.get(pk=receipt.event_id).error == "unknown applicant"


def test_applicant_created_by_the_sdk_is_attached_by_subject(sim, customer, now):
    """The SDK (or a start whose own record was lost) created the applicant: its events
    find the user by externalUserId (the subject)."""
    subject = Profile.objects.get(user_id=customer).subject
    applicant = sim.applicant_create(external_user_id=subject, level_name="basic-kyc-level")
    receive(events(sim, "applicantCreated")[0])
    assert run_kyc_jobs() == [WebhookStatus.PROCESSED]
    assert KycApplicant.objects.get(user_id=customer).applicant_id == applicant.id
    assert kyc_start(user_id=customer, now=now).applicant_id == applicant.id


# --- applicantLevelChanged (issue 15 item 5) ---------------------------------------------


def test_level_change_moves_later_decisions_to_the_new_level(sim, customer, now):
    """Regression: the platform kept the old level after ``applicantLevelChanged``, so the
    approval on the new level was refused as "for another level" and the customer could
    never reach tier 3; the RETRY answer of the old level also stayed in place."""
    sim.levels.add("enhanced-kyc-level")
    session = kyc_start(user_id=customer, now=now)
    applicant = sim.applicants[session.applicant_id]
    submit(sim, session.applicant_id)
    sim.decide(applicant, "RETRY")
    sim.move_to_level(applicant, "enhanced-kyc-level")
    submit(sim, session.applicant_id)
    assert [e["type"] for e in sim.events[3:]] == [
        "applicantReviewed",
        "applicantLevelChanged",
        "applicantPending",
    ]
    for payload in sim.events[:5]:  # up to the level change; not the new attempt yet
        receive(payload)
    run_kyc_jobs(now)
    kyc = KycApplicant.objects.get(user_id=customer)
    assert kyc.level_name == "enhanced-kyc-level"
    assert (kyc.review_status, kyc.review_answer, kyc.reject_type) == ("init", "", "")
    assert kyc_status(user_id=customer).state == KycState.IN_PROGRESS
    assert audit_actions()[-2:] == ["kyc.level_changed", "kyc.event"]
    sim.decide(applicant, "GREEN")
    for payload in sim.events[5:]:  # pending, prechecked, reviewed on the new level
        receive(payload)
    run_kyc_jobs(now)
    assert tier(customer) == KycTier.SUMSUB_VERIFIED
    assert KycApplicant.objects.get(user_id=customer).review_answer == "GREEN"


def test_level_change_without_a_level_name_changes_nothing(sim, customer, now):
    session = kyc_start(user_id=customer, now=now)
    created = events(sim, "applicantCreated")[0]
    forged = dict(created, type="applicantLevelChanged", levelName=["x"])
    forged["createdAtMs"] = created["createdAtMs"][:-3] + "999"
    assert receive(forged).outcome == WebhookOutcome.ACCEPTED
    run_kyc_jobs(now)
    assert KycApplicant.objects.get(applicant_id=session.applicant_id).level_name == (
        "basic-kyc-level"
    )
    assert "kyc.level_changed" not in audit_actions()
