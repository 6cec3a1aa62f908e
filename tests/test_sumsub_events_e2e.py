"""Sumsub's other review events end to end: the simulator drives each one (its WebSDK page,
``/_sim/...`` and the ``moveToLevel`` API) and posts it, signed, over real HTTP into a live
server; the platform's processing is then checked against docs/kyc.md.

Events: applicantPrechecked, applicantOnHold, applicantWorkflowCompleted,
applicantLevelChanged (issue 15 item 5)."""

from __future__ import annotations

import httpx
import pytest

from lightway.application.kyc.verification import KycState, kyc_start, kyc_status
from lightway.data.audit.models import AuditRecord
from lightway.data.identity.models import KycTier, Profile
from lightway.data.kyc.models import KycApplicant, SumsubWebhookEvent, WebhookStatus
from lightway.integration.sumsub.client import SumsubClient
from lightway.integration.sumsub.simulator import (
    DEFAULT_APP_TOKEN,
    DEFAULT_LEVEL,
    DEFAULT_SECRET_KEY,
    SumsubSimulator,
)
from tests.sumsub_support import clear_kyc_jobs, make_customer, run_kyc_jobs, sim_settings

ENHANCED_LEVEL = "enhanced-kyc-level"


def _sim(settings, live_server, **kwargs) -> SumsubSimulator:
    simulator = SumsubSimulator(
        webhook_url=f"{live_server.url}/webhooks/sumsub",
        webhook_secret="kyc-tests-webhook-secret",
        **kwargs,
    ).start()
    simulator.configure(webhook_retry_schedule=[0.1, 0.2, 0.5])
    sim_settings(settings, simulator)
    return simulator


@pytest.fixture
def live_sim(settings, live_server):
    simulator = _sim(settings, live_server, levels=(DEFAULT_LEVEL, ENHANCED_LEVEL))
    yield simulator
    simulator.stop()
    clear_kyc_jobs()


@pytest.fixture
def workflow_sim(settings, live_server):
    # The platform's level is run as a workflow at Sumsub.
    simulator = _sim(settings, live_server, levels=(), workflow_levels=(DEFAULT_LEVEL,))
    yield simulator
    simulator.stop()
    clear_kyc_jobs()


def submit(sim: SumsubSimulator, sdk_url: str) -> str:
    token = sdk_url.split("token=")[1]
    response = httpx.post(
        f"{sim.base_url}/websdk/submit",
        data={"token": token, "idDocType": "PASSPORT", "country": "UGA", "number": "PB77"},
    )
    assert response.status_code == 303
    return token


def choose(sim: SumsubSimulator, token: str, decision: str) -> None:
    response = httpx.post(
        f"{sim.base_url}/websdk/decide", data={"token": token, "decision": decision}
    )
    assert response.status_code == 303, response.text


def stored_types() -> list[str]:
    return list(SumsubWebhookEvent.objects.order_by("id").values_list("event_type", flat=True))


def statuses() -> dict[str, str]:
    return dict(SumsubWebhookEvent.objects.values_list("event_type", "status"))


def actions(name: str) -> int:
    return AuditRecord.objects.filter(action=name).count()


@pytest.mark.django_db(transaction=True)
def test_prechecked_over_http_is_in_review(live_sim, now):
    user_id, _profile = make_customer(now)
    session = kyc_start(user_id=user_id, now=now)
    token = submit(live_sim, session.sdk_url)
    assert "Precheck only" in httpx.get(session.sdk_url).text
    choose(live_sim, token, "PRECHECK")
    live_sim.wait_deliveries(3)
    assert stored_types() == ["applicantCreated", "applicantPending", "applicantPrechecked"]
    prechecked = live_sim.events[-1]
    assert prechecked["reviewStatus"] == "prechecked" and "reviewResult" not in prechecked
    run_kyc_jobs()
    assert set(statuses().values()) == {WebhookStatus.PROCESSED}
    kyc = KycApplicant.objects.get(user_id=user_id)
    assert kyc.review_status == "prechecked"
    view = kyc_status(user_id=user_id)
    assert view.state == KycState.IN_REVIEW and view.review_status == "prechecked"
    assert Profile.objects.get(user_id=user_id).kyc_tier == KycTier.PHONE_VERIFIED
    # the page now offers the decisions and hold, not a second precheck
    page = httpx.get(session.sdk_url).text
    assert "Put on hold" in page and "Precheck only" not in page


@pytest.mark.django_db(transaction=True)
def test_on_hold_over_http_then_approved(live_sim, now):
    """docs/kyc.md: onHold is *in review* (nothing granted, no message); the verdict after
    the hold raises the tier once, and the hold delivered late does not undo it."""
    user_id, _profile = make_customer(now)
    session = kyc_start(user_id=user_id, now=now)
    token = submit(live_sim, session.sdk_url)
    live_sim.wait_deliveries(2)
    choose(live_sim, token, "HOLD")  # from pending: prechecked first, then onHold
    live_sim.wait_deliveries(4)
    assert stored_types()[-2:] == ["applicantPrechecked", "applicantOnHold"]
    assert live_sim.events[-1]["reviewStatus"] == "onHold"
    run_kyc_jobs()
    kyc = KycApplicant.objects.get(user_id=user_id)
    assert kyc.review_status == "onHold" and kyc.review_answer == ""
    assert kyc_status(user_id=user_id).state == KycState.IN_REVIEW
    assert Profile.objects.get(user_id=user_id).kyc_tier == KycTier.PHONE_VERIFIED
    assert "on hold" in httpx.get(session.sdk_url).text
    assert actions("kyc.approved") == actions("kyc.retry") == actions("kyc.rejected") == 0

    choose(live_sim, token, "GREEN")
    live_sim.wait_deliveries(5)
    run_kyc_jobs()
    assert Profile.objects.get(user_id=user_id).kyc_tier == KycTier.SUMSUB_VERIFIED
    assert KycApplicant.objects.get(user_id=user_id).review_status == "completed"
    assert actions("kyc.approved") == 1


@pytest.mark.django_db(transaction=True)
def test_on_hold_delivered_after_the_verdict_is_ignored(live_sim, now):
    user_id, _profile = make_customer(now)
    session = kyc_start(user_id=user_id, now=now)
    token = submit(live_sim, session.sdk_url)
    choose(live_sim, token, "PRECHECK")
    live_sim.wait_deliveries(3)
    live_sim.configure(webhook_reorder=True)
    choose(live_sim, token, "HOLD")
    choose(live_sim, token, "RETRY")
    delivered = [d["type"] for d in live_sim.wait_deliveries(5)]
    assert delivered[-2:] == ["applicantReviewed", "applicantOnHold"]
    run_kyc_jobs()
    assert statuses()["applicantOnHold"] == WebhookStatus.IGNORED_OUT_OF_ORDER
    kyc = KycApplicant.objects.get(user_id=user_id)
    assert (kyc.review_status, kyc.review_answer, kyc.reject_type) == (
        "completed",
        "RED",
        "RETRY",
    )
    assert kyc_status(user_id=user_id).state == KycState.RETRY
    assert actions("kyc.retry") == 1


@pytest.mark.django_db(transaction=True)
def test_workflow_completed_over_http(workflow_sim, now):
    """A workflow level: applicantReviewed then applicantWorkflowCompleted. Each one alone
    is a decision confirmed by the status API; together they raise the tier once."""
    user_id, _profile = make_customer(now)
    session = kyc_start(user_id=user_id, now=now)
    token = submit(workflow_sim, session.sdk_url)
    choose(workflow_sim, token, "GREEN")
    workflow_sim.wait_deliveries(5)
    assert stored_types()[-2:] == ["applicantReviewed", "applicantWorkflowCompleted"]
    completed = workflow_sim.events[-1]
    assert completed["type"] == "applicantWorkflowCompleted"
    assert completed["reviewStatus"] == "completed"
    assert completed["reviewResult"] == {"reviewAnswer": "GREEN"}
    assert completed["levelName"] == DEFAULT_LEVEL
    workflow = SumsubWebhookEvent.objects.get(event_type="applicantWorkflowCompleted")
    # the workflow's completion alone decides (the review event processed after it)
    assert run_kyc_jobs(only=[workflow.pk]) == [WebhookStatus.PROCESSED]
    assert Profile.objects.get(user_id=user_id).kyc_tier == KycTier.SUMSUB_VERIFIED
    run_kyc_jobs()
    assert statuses()["applicantReviewed"] == WebhookStatus.IGNORED_OUT_OF_ORDER
    assert actions("kyc.approved") == 1


@pytest.mark.django_db(transaction=True)
def test_workflow_completed_red_final_blocks(workflow_sim, now):
    user_id, _profile = make_customer(now)
    session = kyc_start(user_id=user_id, now=now)
    token = submit(workflow_sim, session.sdk_url)
    choose(workflow_sim, token, "FINAL")
    workflow_sim.wait_deliveries(5)
    assert workflow_sim.events[-1]["reviewResult"]["reviewRejectType"] == "FINAL"
    run_kyc_jobs()
    assert KycApplicant.objects.get(user_id=user_id).final_rejected_at is not None
    assert kyc_status(user_id=user_id).state == KycState.REJECTED
    assert actions("kyc.rejected") == 1


@pytest.mark.django_db(transaction=True)
def test_level_changed_over_http_then_approved_on_the_new_level(live_sim, now):
    """An operator moves a customer who must retry to a stricter level (Sumsub's
    ``moveToLevel``). The platform records the new level and forgets the old answer; the
    approval on the new level raises the tier. Before the fix, the platform kept the old
    level and refused that approval as "for another level": the customer stayed stuck."""
    user_id, _profile = make_customer(now)
    session = kyc_start(user_id=user_id, now=now)
    token = submit(live_sim, session.sdk_url)
    choose(live_sim, token, "RETRY")
    live_sim.wait_deliveries(4)
    run_kyc_jobs()
    assert kyc_status(user_id=user_id).state == KycState.RETRY

    operator = SumsubClient(
        base_url=live_sim.base_url, app_token=DEFAULT_APP_TOKEN, secret_key=DEFAULT_SECRET_KEY
    )
    operator.request(
        "POST",
        f"/resources/applicants/{session.applicant_id}/moveToLevel",
        params={"name": ENHANCED_LEVEL},
    )
    operator.close()
    live_sim.wait_deliveries(5)
    changed = live_sim.events[-1]
    assert changed["type"] == "applicantLevelChanged"
    assert changed["levelName"] == ENHANCED_LEVEL
    assert changed["previousLevelName"] == DEFAULT_LEVEL
    assert changed["reviewStatus"] == "init"
    run_kyc_jobs()
    kyc = KycApplicant.objects.get(user_id=user_id)
    assert kyc.level_name == ENHANCED_LEVEL
    assert (kyc.review_answer, kyc.reject_type, kyc.moderation_comment) == ("", "", "")
    assert kyc_status(user_id=user_id).state == KycState.IN_PROGRESS
    audit = AuditRecord.objects.get(action="kyc.level_changed")
    assert audit.data["previous_level"] == DEFAULT_LEVEL and audit.data["level"] == ENHANCED_LEVEL

    again = kyc_start(user_id=user_id, now=now)  # a token for the new level
    assert again.applicant_id == session.applicant_id
    assert live_sim.tokens[again.access_token].level_name == ENHANCED_LEVEL
    token = submit(live_sim, again.sdk_url)
    choose(live_sim, token, "GREEN")
    live_sim.wait_deliveries(8)
    run_kyc_jobs()
    assert Profile.objects.get(user_id=user_id).kyc_tier == KycTier.SUMSUB_VERIFIED
    assert actions("kyc.approved") == 1


@pytest.mark.django_db(transaction=True)
def test_level_changed_by_the_sandbox_keeps_a_final_rejection(live_sim, now):
    user_id, _profile = make_customer(now)
    session = kyc_start(user_id=user_id, now=now)
    token = submit(live_sim, session.sdk_url)
    choose(live_sim, token, "FINAL")
    live_sim.wait_deliveries(4)
    run_kyc_jobs()  # (processed later, the verdict would no longer be Sumsub's status)
    assert KycApplicant.objects.get(user_id=user_id).final_rejected_at is not None
    response = httpx.post(
        f"{live_sim.base_url}/_sim/applicants/{session.applicant_id}/level",
        json={"levelName": ENHANCED_LEVEL},
    )
    assert response.status_code == 200 and response.json()["levelName"] == ENHANCED_LEVEL
    live_sim.wait_deliveries(5)
    run_kyc_jobs()
    kyc = KycApplicant.objects.get(user_id=user_id)
    assert kyc.level_name == ENHANCED_LEVEL and kyc.final_rejected_at is not None
    assert kyc_status(user_id=user_id).state == KycState.REJECTED
