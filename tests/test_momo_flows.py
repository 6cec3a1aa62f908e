"""MoMo money flows end to end against the simulator over real HTTP (docs/momo.md "Flows").

Every row of the sandbox test-number table (reference note §11.2) goes through each
operation family the flows use: request-to-pay (deposit), disbursement transfer
(withdrawal, payout) and remittance transfer (remittance payout). The expected outcome of
each row is written below from the reference note: the scenario name says the final status
and the reason code MoMo reports (a "Payer"/"Payee" scenario such as PayeeNotFound is
FAILED with PAYEE_NOT_FOUND; 450 "Failed" is INTERNAL_PROCESSING_ERROR per §11.3; Ongoing
stays PENDING; Delayed becomes SUCCESSFUL later; a number outside the table succeeds).
Then: validation, idempotency, refusals, limits, the beneficiary name check, submission
errors, 404 after acceptance, deadlines, the sweep and the webhook.
"""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import timedelta

import pytest
from django.db import connection

from lightway.application.errors import (
    IdempotencyConflict,
    NotFound,
    RequestRefused,
    ValidationFailed,
)
from lightway.application.momo import flows
from lightway.application.momo.callbacks import callback_body
from lightway.data.audit.models import AuditRecord
from lightway.data.identity.models import Profile
from lightway.data.intake.models import IntakeRejection
from lightway.data.ledger.models import AccountKind, HoldStatus, JournalEntry
from lightway.data.ledger.services import Leg, entry_post, holds_expire, house_account
from lightway.data.momo.models import CallbackOutcome, MomoCallback, MomoRequest
from lightway.integration.momo.port import MomoReason, MomoResult
from tests.momo_flow_support import (
    drop_queued_jobs,
    house_total,
    ledger_view,
    momo_customer,
    momo_partner,
    queued,
    reload,
    request_of,
    run_momo_jobs,
    settle,
    sim_count,
    wait_final,
)

pytestmark = pytest.mark.django_db

FEE = 500  # demo "Withdrawal Uganda": 1 % with a UGX 500 minimum (payouts fall back to it)
FEE_LIGHTWAY = 250  # its 50/50 split between LightWay and MTN
WALLET = 1_000_000
PREFUND = 5_000_000

# (MSISDN, scenario of §11.2, final transfer status, MoMo reason code)
REQUEST_TO_PAY_TABLE = [
    ("46733123450", "PayerFailed", "failed", "INTERNAL_PROCESSING_ERROR"),
    ("46733123451", "PayerRejected", "failed", "APPROVAL_REJECTED"),
    ("46733123452", "PayerExpired", "failed", "EXPIRED"),
    ("46733123453", "PayerOngoing", "pending", ""),
    ("46733123454", "PayerDelayed", "succeeded", ""),
    ("46733123455", "PayerNotFound", "failed", "PAYER_NOT_FOUND"),
    ("46733123456", "PayeeNotAllowedToReceive", "failed", "PAYEE_NOT_ALLOWED_TO_RECEIVE"),
    ("46733123457", "PayerNotAllowed", "failed", "NOT_ALLOWED"),
    ("46733123458", "NotAllowedTargetEnvironment", "failed", "NOT_ALLOWED_TARGET_ENVIRONMENT"),
    ("46733123459", "InvalidCallbackUrlHost", "failed", "INVALID_CALLBACK_URL_HOST"),
    ("46733123460", "InvalidCurrency", "failed", "INVALID_CURRENCY"),
    ("46733123461", "InternalProcessingError", "failed", "INTERNAL_PROCESSING_ERROR"),
    ("46733123462", "ServiceUnavailable", "failed", "SERVICE_UNAVAILABLE"),
    ("46733123463", "CouldNotPerformTransaction", "failed", "COULD_NOT_PERFORM_TRANSACTION"),
    ("46733123464", "TransfertypeUnknown", "failed", "TRANSFERTYPE_UNKNOWN"),
    ("46733123499", "(not in the table)", "succeeded", ""),
]
TRANSFER_TABLE = [
    ("46733123450", "PayeeFailed", "failed", "INTERNAL_PROCESSING_ERROR"),
    ("46733123451", "PayeeRejected", "failed", "APPROVAL_REJECTED"),
    ("46733123452", "PayeeExpired", "failed", "EXPIRED"),
    ("46733123453", "PayeeOngoing", "pending", ""),
    ("46733123454", "PayeeDelayed", "succeeded", ""),
    ("46733123455", "PayeeNotEnoughFunds", "failed", "NOT_ENOUGH_FUNDS"),
    ("46733123456", "PayeePayerLimitReached", "failed", "PAYER_LIMIT_REACHED"),
    ("46733123457", "PayeeNotFound", "failed", "PAYEE_NOT_FOUND"),
    ("46733123458", "PayeeNotAllowed", "failed", "NOT_ALLOWED"),
    ("46733123459", "NotAllowedTargetEnvironment", "failed", "NOT_ALLOWED_TARGET_ENVIRONMENT"),
    ("46733123460", "InvalidCallbackUrlHost", "failed", "INVALID_CALLBACK_URL_HOST"),
    ("46733123461", "InvalidCurrency", "failed", "INVALID_CURRENCY"),
    ("46733123462", "InternalProcessingError", "failed", "INTERNAL_PROCESSING_ERROR"),
    ("46733123463", "ServiceUnavailable", "failed", "SERVICE_UNAVAILABLE"),
    ("46733123499", "(not in the table)", "succeeded", ""),
]


def _deposit(uid, amount, msisdn, *, key, now):
    """A UGX deposit of ``amount`` from ``msisdn`` into the customer's wallet."""
    return flows.deposit_start(
        customer_id=uid,
        currency="UGX",
        amount_minor=amount,
        msisdn=msisdn,
        idempotency_key=key,
        now=now,
    )


def _payout(uid, amount, msisdn, *, key, now, **extra):
    """A UGX payout of ``amount`` from the customer's wallet to ``msisdn``."""
    return flows.payout_start(
        customer_id=uid,
        currency="UGX",
        amount_minor=amount,
        msisdn=msisdn,
        idempotency_key=key,
        now=now,
        **extra,
    )


def _ids(table):
    return [f"{number}-{scenario}" for number, scenario, _s, _r in table]


def _finish(momo, client, transfer, now, expected):
    """Submit (as the job would), then let MoMo decide and deliver its callback."""
    run_momo_jobs(now)
    req = request_of(transfer)
    assert req.status == "accepted"
    if expected == "pending":
        with pytest.raises(TimeoutError):
            momo.sim.wait_status(str(req.reference_id), timeout=0.6)
        assert flows.momo_poll(request_id=req.pk, now=now + timedelta(seconds=30)) == "pending"
    else:
        wait_final(momo.sim, req.reference_id)
        settle(momo, client, now)
    req.refresh_from_db()
    assert sim_count(momo.sim, req.reference_id) == 1
    return reload(transfer), req


def _assert_outcome(transfer, req, expected, reason):
    assert transfer.status == expected
    if expected == "failed":
        assert req.status == "failed"
        assert req.reason_code == reason
        assert transfer.failure_code == f"momo_{reason.lower()}"
        assert transfer.failure_message  # a customer-facing sentence
        assert transfer.entry_id is None
    elif expected == "succeeded":
        assert req.status == "successful"
        assert req.financial_transaction_id
        entry = JournalEntry.objects.get(pk=transfer.entry_id)
        assert entry.idempotency_key == f"momo:{req.reference_id}"
        assert entry.reference == str(transfer.id)
    else:
        assert req.status == "accepted" and req.momo_status == "PENDING"
        assert transfer.entry_id is None


@pytest.mark.parametrize(
    ("msisdn", "scenario", "expected", "reason"),
    REQUEST_TO_PAY_TABLE,
    ids=_ids(REQUEST_TO_PAY_TABLE),
)
def test_deposit_request_to_pay_for_every_test_number(
    momo, client, now, msisdn, scenario, expected, reason
):
    momo.configure(delayed_seconds=0.3)
    uid = momo_customer("payer", now, phone="+256772123401", wallet=1_000)
    transfer = _deposit(uid, 25_000, msisdn, key="dep-1", now=now)
    assert transfer.status == "submitted" and transfer.kind == "deposit"
    transfer, req = _finish(momo, client, transfer, now, expected)
    _assert_outcome(transfer, req, expected, reason)
    view = ledger_view(transfer, req)
    credited = 25_000 if expected == "succeeded" else 0
    assert view.source_balance == 1_000 + credited
    assert view.float_total == -credited  # the collection float holds the money (an asset)
    assert view.entries == (1 if credited else 0)
    assert view.hold_status is None  # a deposit reserves nothing
    assert momo.sim.transaction(str(req.reference_id))["party"] == {
        "partyIdType": "MSISDN",
        "partyId": msisdn,
    }


@pytest.mark.parametrize(
    ("msisdn", "scenario", "expected", "reason"), TRANSFER_TABLE, ids=_ids(TRANSFER_TABLE)
)
def test_payout_transfer_for_every_test_number(
    momo, client, now, msisdn, scenario, expected, reason
):
    momo.configure(delayed_seconds=0.3)
    uid = momo_customer("sender", now, phone="+256772123402", wallet=WALLET)
    transfer = _payout(uid, 40_000, msisdn, key="pay-1", now=now, note="school fees")
    assert (transfer.status, transfer.fee) == ("submitted", FEE)
    transfer, req = _finish(momo, client, transfer, now, expected)
    _assert_outcome(transfer, req, expected, reason)
    view = ledger_view(transfer, req)
    if expected == "succeeded":
        assert (view.source_balance, view.source_held) == (WALLET - 40_000 - FEE, 0)
        assert view.float_total == 40_000  # the disbursement float paid out (less negative)
        assert view.fee_revenue == FEE_LIGHTWAY
        assert (view.entries, view.hold_status) == (1, HoldStatus.COMMITTED)
    elif expected == "failed":
        assert (view.source_balance, view.source_held) == (WALLET, 0)
        assert (view.float_total, view.fee_revenue, view.entries) == (0, 0, 0)
        assert view.hold_status == HoldStatus.VOIDED
    else:  # still pending: the money stays reserved, nothing posted
        assert (view.source_balance, view.source_held) == (WALLET, 40_000 + FEE)
        assert (view.float_total, view.entries, view.hold_status) == (0, 0, HoldStatus.ACTIVE)


@pytest.mark.parametrize(
    ("msisdn", "scenario", "expected", "reason"),
    [row for row in TRANSFER_TABLE if row[0] in ("46733123450", "46733123457", "46733123499")],
    ids=_ids(
        [row for row in TRANSFER_TABLE if row[0] in ("46733123450", "46733123457", "46733123499")]
    ),
)
def test_withdrawal_to_own_number(momo, client, now, msisdn, scenario, expected, reason):
    uid = momo_customer("owner", now, phone=f"+{msisdn}", wallet=WALLET)
    transfer = flows.withdrawal_start(
        customer_id=uid, currency="UGX", amount_minor=60_000, idempotency_key="wd-1", now=now
    )
    fee = 600  # 1 % of 60,000
    assert transfer.fee == fee
    transfer, req = _finish(momo, client, transfer, now, expected)
    _assert_outcome(transfer, req, expected, reason)
    # it went to the customer's own verified number
    assert momo.sim.transaction(str(req.reference_id))["party"]["partyId"] == msisdn
    assert flows.momo_request_party(req) == msisdn
    view = ledger_view(transfer, req)
    spent = 60_000 + fee if expected == "succeeded" else 0
    assert (view.source_balance, view.source_held) == (WALLET - spent, 0)
    assert view.float_total == (60_000 if spent else 0)


@pytest.mark.parametrize(
    ("msisdn", "scenario", "expected", "reason"), TRANSFER_TABLE, ids=_ids(TRANSFER_TABLE)
)
def test_remittance_payout_for_every_test_number(
    momo, client, now, msisdn, scenario, expected, reason
):
    momo.configure(delayed_seconds=0.3)
    partner_user = momo_partner("acme", now, prefund=PREFUND)
    transfer = flows.remittance_payout_start(
        partner_user_id=partner_user,
        currency="UGX",
        amount_minor=150_000,
        msisdn=msisdn,
        external_id="ACME-2026-0001",
        idempotency_key="rem-1",
        now=now,
    )
    assert (transfer.status, transfer.kind, transfer.fee) == ("submitted", "remittance", 0)
    transfer, req = _finish(momo, client, transfer, now, expected)
    _assert_outcome(transfer, req, expected, reason)
    assert (req.product, req.operation) == ("remittance", "remittance_transfer")
    assert momo.sim.transaction(str(req.reference_id))["externalId"] == "ACME-2026-0001"
    view = ledger_view(transfer, req)  # the "source" is the partner's prefund account
    if expected == "succeeded":
        assert (view.source_balance, view.source_held) == (PREFUND - 150_000, 0)
        assert view.float_total == 150_000
        assert view.hold_status == HoldStatus.COMMITTED
    elif expected == "failed":
        assert (view.source_balance, view.source_held) == (PREFUND, 0)
        assert (view.float_total, view.hold_status) == (0, HoldStatus.VOIDED)
    else:
        assert (view.source_balance, view.source_held) == (PREFUND, 150_000)
        assert view.hold_status == HoldStatus.ACTIVE


def test_ongoing_payout_completes_when_momo_does_and_the_poll_applies_it(momo, client, now):
    uid = momo_customer("sender", now, phone="+256772123402", wallet=WALLET)
    transfer = _payout(uid, 40_000, "46733123453", key="pay-ongoing", now=now)
    transfer, req = _finish(momo, client, transfer, now, "pending")
    momo.sim.complete(str(req.reference_id), "SUCCESSFUL")
    momo.sim.callbacks_clear()  # lost: only the poll tells us
    assert flows.momo_poll(request_id=req.pk, now=now + timedelta(minutes=2)) == "final"
    transfer = reload(transfer)
    assert transfer.status == "succeeded"
    assert ledger_view(transfer, req).source_balance == WALLET - 40_000 - FEE


# --- start: validation, idempotency, refusals ------------------------------------------------


def test_replay_returns_the_first_transfer_and_a_changed_body_is_a_conflict(momo, now):
    uid = momo_customer("rep", now, phone="+256772123403", wallet=WALLET)
    args = dict(customer_id=uid, currency="UGX", amount_minor=10_000, msisdn="256772999001")
    first = flows.payout_start(**args, idempotency_key="same", now=now)
    again = flows.payout_start(**args, idempotency_key="same", now=now + timedelta(seconds=5))
    assert again.id == first.id
    assert MomoRequest.objects.count() == 1
    assert len(queued("momo_submit")) == 1
    with pytest.raises(IdempotencyConflict):
        flows.payout_start(**{**args, "amount_minor": 10_001}, idempotency_key="same", now=now)
    with pytest.raises(IdempotencyConflict):
        flows.payout_start(**{**args, "msisdn": "256772999002"}, idempotency_key="same", now=now)


@pytest.mark.parametrize(
    ("change", "error", "field"),
    [
        ({"amount_minor": 0}, ValidationFailed, "amount"),
        ({"amount_minor": -5}, ValidationFailed, "amount"),
        ({"msisdn": "12345"}, ValidationFailed, "msisdn"),
        ({"msisdn": "+25677212340a"}, ValidationFailed, "msisdn"),
        ({"msisdn": "2567721234011234"}, ValidationFailed, "msisdn"),  # 16 digits
        ({"currency": "NGN"}, RequestRefused, "currency"),  # not a MoMo market here
        ({"currency": "XYZ"}, ValidationFailed, "currency"),
        ({"currency": "GHS"}, NotFound, "currency"),  # a market, but no GHS wallet
        ({"idempotency_key": ""}, ValidationFailed, None),
    ],
)
def test_request_errors_record_nothing(momo, now, change, error, field):
    uid = momo_customer("val", now, phone="+256772123404", wallet=WALLET)
    args = dict(
        customer_id=uid,
        currency="UGX",
        amount_minor=10_000,
        msisdn="256772999001",
        idempotency_key="v1",
        now=now,
    )
    with pytest.raises(error) as info:
        flows.payout_start(**{**args, **change})
    if field:
        assert info.value.details.get("field") == field
    assert MomoRequest.objects.count() == 0
    assert not queued("momo_submit")


def test_momo_not_configured_is_a_clear_error(momo, settings, now):
    uid = momo_customer("nocfg", now, phone="+256772123405", wallet=WALLET)
    settings.MOMO_BASE_URL = ""
    with pytest.raises(flows.MomoUnavailable):
        flows.withdrawal_start(
            customer_id=uid, currency="UGX", amount_minor=1_000, idempotency_key="n", now=now
        )


def test_insufficient_funds_is_a_recorded_refusal_without_a_momo_request(momo, now):
    uid = momo_customer("poor", now, phone="+256772123406", wallet=40_000)
    transfer = flows.payout_start(
        customer_id=uid,
        currency="UGX",
        amount_minor=40_000,  # + 500 fee > 40,000
        msisdn="256772999001",
        idempotency_key="poor-1",
        now=now,
    )
    assert (transfer.status, transfer.failure_code) == ("failed", "insufficient_funds")
    assert MomoRequest.objects.count() == 0 and not queued("momo_submit")
    again = _payout(uid, 40_000, "256772999001", key="poor-1", now=now)
    assert again.id == transfer.id  # the retry gets the same answer


def test_withdrawal_above_the_kyc_limit_is_refused_and_nothing_is_held(momo, now):
    uid = momo_customer("big", now, phone="+256772123407", wallet=30_000_000)
    transfer = flows.withdrawal_start(
        customer_id=uid,
        currency="UGX",
        amount_minor=6_000_000,  # tier 3: single payment up to UGX 5M
        idempotency_key="big-1",
        now=now,
    )
    assert (transfer.status, transfer.failure_code) == ("failed", "limit_exceeded")
    wallet = transfer.source_wallet.account
    wallet.refresh_from_db()
    assert wallet.held == 0 and MomoRequest.objects.count() == 0


def test_deposit_over_the_maximum_balance_is_refused_and_the_probe_leaves_no_trace(momo, now):
    uid = momo_customer("rich", now, phone="+256772123408", wallet=19_000_000)
    entries = JournalEntry.objects.count()
    transfer = flows.deposit_start(
        customer_id=uid,
        currency="UGX",
        amount_minor=2_000_000,  # 21M would exceed the tier 3 balance cap of UGX 20M
        msisdn="256772999001",
        idempotency_key="rich-1",
        now=now,
    )
    assert (transfer.status, transfer.failure_code) == ("failed", "limit_exceeded")
    assert JournalEntry.objects.count() == entries  # the limits probe was rolled back
    assert house_total(AccountKind.COLLECTION_IN_FLIGHT, "UGX") == 0
    ok = _deposit(uid, 500_000, "256772999001", key="rich-2", now=now)
    assert ok.status == "submitted"


def test_deposit_without_a_number_asks_the_customers_own_phone_and_opens_the_wallet(momo, now):
    uid = momo_customer("own", now, phone="+256772123409")  # no wallet yet
    transfer = _deposit(uid, 5_000, "", key="own-1", now=now)
    assert transfer.status == "submitted" and transfer.destination_wallet_id is not None
    assert flows.momo_request_party(request_of(transfer)) == "256772123409"


def test_withdrawal_needs_a_verified_phone(momo, now):
    uid = momo_customer("unverified", now, phone="+256772123410", wallet=WALLET)
    Profile.objects.filter(user_id=uid).update(phone_verified_at=None)
    with pytest.raises(RequestRefused, match="not verified"):
        flows.withdrawal_start(
            customer_id=uid, currency="UGX", amount_minor=1_000, idempotency_key="u", now=now
        )


def test_the_party_is_encrypted_and_the_logs_and_audit_hold_no_number(momo, now, caplog):
    uid = momo_customer("priv", now, phone="+256772123411", wallet=WALLET)
    caplog.set_level("DEBUG")
    transfer = _payout(uid, 10_000, "256772777666", key="p1", now=now)
    run_momo_jobs(now)
    req = request_of(transfer)
    assert b"256772777666" not in bytes(req.party_ct)
    assert req.party_token.startswith("msisdn_")
    assert "256772777666" not in caplog.text and "772777666" not in caplog.text
    audit = json.dumps([r.data for r in AuditRecord.objects.all()])
    assert "772777666" not in audit


# --- beneficiary name check --------------------------------------------------------------------


def test_payout_name_check_matches_refuses_or_proceeds_when_unavailable(momo, now):
    uid = momo_customer("namer", now, phone="+256772123412", wallet=WALLET)
    momo.sim.set_wallet("256772555001", given_name="Amara", family_name="Nakato")
    base = dict(customer_id=uid, currency="UGX", amount_minor=10_000, now=now)

    ok = flows.payout_start(
        **base, msisdn="256772555001", idempotency_key="n1", beneficiary_name="nakato  AMARA"
    )
    assert ok.status == "submitted"
    refused = flows.payout_start(
        **base, msisdn="256772555001", idempotency_key="n2", beneficiary_name="John Okello"
    )
    assert (refused.status, refused.failure_code) == ("failed", "beneficiary_name_mismatch")
    # 46733123455: the account-holder lookups answer 503 ServiceUnavailable
    unavailable = flows.payout_start(
        **base, msisdn="46733123455", idempotency_key="n3", beneficiary_name="Anyone"
    )
    assert unavailable.status == "submitted"
    checks = {
        r.object_id: r.data.get("name_check")
        for r in AuditRecord.objects.filter(object_type="transfer")
    }
    assert checks[str(ok.id)] == "matched"
    assert checks[str(refused.id)] == "mismatch"
    assert checks[str(unavailable.id)] == "unavailable"
    assert MomoRequest.objects.count() == 2  # nothing was sent for the refused one


# --- submission errors -------------------------------------------------------------------------


def test_transient_errors_are_retried_with_the_same_reference(momo, now):
    uid = momo_customer("flaky", now, phone="+256772123413", wallet=WALLET)
    transfer = _payout(uid, 10_000, "256772999001", key="f1", now=now)
    momo.configure(error_burst=2)  # token + first create answer 503
    req = request_of(transfer)
    assert flows.momo_submit(request_id=req.pk, now=now) == "retry"
    req.refresh_from_db()
    assert (req.status, req.attempts) == ("new", 1)
    assert req.next_check_at > now and req.last_error
    drop_queued_jobs()
    later = req.next_check_at
    assert flows.momo_sweep(now=later) == 1
    run_momo_jobs(later)
    req.refresh_from_db()
    if req.status == "new":  # the burst outlasted the first retry
        assert flows.momo_sweep(now=req.next_check_at) == 1
        run_momo_jobs(req.next_check_at)
        req.refresh_from_db()
    assert req.status == "accepted"
    assert sim_count(momo.sim, req.reference_id) == 1
    assert reload(transfer).status == "pending"


def test_a_definite_refusal_fails_the_payment_and_releases_the_hold(momo, settings, now):
    settings.MOMO_ENVIRONMENTS = "UGX:mtnghana"  # the market MoMo says is not ours
    uid = momo_customer("refused", now, phone="+256772123414", wallet=WALLET)
    transfer = _payout(uid, 10_000, "256772999001", key="r1", now=now)
    run_momo_jobs(now)
    transfer, req = reload(transfer), request_of(transfer)
    assert (req.status, req.reason_code) == ("failed", "INVALID_CURRENCY")
    assert (transfer.status, transfer.failure_code) == ("failed", "momo_invalid_currency")
    view = ledger_view(transfer, req)
    assert (view.source_held, view.hold_status) == (0, HoldStatus.VOIDED)
    assert momo.sim.transactions() == []


def test_our_misconfiguration_never_fails_a_payment(momo, settings, client, now):
    settings.MOMO_CALLBACK_URL = "http://wrong-host.example/webhooks/momo"
    uid = momo_customer("cfg", now, phone="+256772123415", wallet=WALLET)
    transfer = _payout(uid, 10_000, "256772999001", key="c1", now=now)
    assert run_momo_jobs(now) == [("momo_submit", "review")]
    req = request_of(transfer)
    assert (req.status, req.needs_review, req.attempts) == ("new", True, 0)
    assert "INVALID_CALLBACK_URL_HOST" in req.last_error
    assert reload(transfer).status == "submitted"
    assert ledger_view(transfer, req).hold_status == HoldStatus.ACTIVE
    # an operator fixes the setting; the sweep sends it again
    settings.MOMO_CALLBACK_URL = "http://127.0.0.1/webhooks/momo"
    later = req.next_check_at
    assert flows.momo_sweep(now=later) == 1
    run_momo_jobs(later)
    req.refresh_from_db()
    assert (req.status, req.needs_review) == ("accepted", False)
    wait_final(momo.sim, req.reference_id)
    settle(momo, client, later)
    assert reload(transfer).status == "succeeded"


def test_not_found_just_after_acceptance_is_pending_then_decided_by_kind(momo, now):
    momo.configure(not_found_after_accept_seconds=3600)
    uid = momo_customer("ghost", now, phone="+256772123416", wallet=WALLET)
    deposit = _deposit(uid, 5_000, "256772999001", key="g1", now=now)
    payout = _payout(uid, 5_000, "256772999001", key="g2", now=now)
    run_momo_jobs(now)
    dep, pay = request_of(deposit), request_of(payout)
    soon = now + timedelta(seconds=10)
    assert flows.momo_poll(request_id=dep.pk, now=soon) == "pending"
    assert flows.momo_poll(request_id=pay.pk, now=soon) == "pending"
    late = now + timedelta(seconds=120)  # past MOMO_NOT_FOUND_GRACE_SECONDS
    assert flows.momo_poll(request_id=dep.pk, now=late) == "failed"
    assert reload(deposit).failure_code == "momo_not_found"
    assert flows.momo_poll(request_id=pay.pk, now=late) == "review"
    pay.refresh_from_db()
    assert (pay.status, pay.needs_review) == ("accepted", True)
    assert reload(payout).status == "pending"  # never failed: it may still be paid
    assert ledger_view(payout, pay).hold_status == HoldStatus.ACTIVE
    assert sim_count(momo.sim, pay.reference_id) == 1  # and never re-sent


def test_a_success_with_another_amount_moves_no_money_and_is_flagged(momo, now):
    uid = momo_customer("drift", now, phone="+256772123417", wallet=WALLET)
    transfer = _deposit(uid, 5_000, "256772999001", key="d1", now=now)
    run_momo_jobs(now)
    req = request_of(transfer)
    lie = MomoResult(
        status="SUCCESSFUL", amount="50000", currency="UGX", financial_transaction_id="F1"
    )
    assert flows.momo_apply(request_id=req.pk, result=lie, now=now) is False
    req.refresh_from_db()
    assert (req.status, req.needs_review, req.financial_transaction_id) == ("accepted", True, "F1")
    assert "amount" in req.last_error
    assert ledger_view(transfer, req).entries == 0
    other = MomoResult(status="SUCCESSFUL", amount="5000", currency="GHS")
    assert flows.momo_apply(request_id=req.pk, result=other, now=now) is False
    assert ledger_view(transfer, req).entries == 0


def test_a_success_after_the_hold_expired_is_not_lost(momo, now):
    uid = momo_customer("slow", now, phone="+256772123418", wallet=WALLET)
    transfer = _payout(uid, 10_000, "256772999001", key="h1", now=now)
    run_momo_jobs(now)
    req = request_of(transfer)
    much_later = now + timedelta(days=31)  # MOMO_HOLD_DAYS = 30
    ok = MomoResult(
        status="SUCCESSFUL", amount="10000", currency="UGX", financial_transaction_id="F9"
    )
    assert flows.momo_apply(request_id=req.pk, result=ok, now=much_later) is True
    transfer = reload(transfer)
    view = ledger_view(transfer, req)
    assert transfer.status == "succeeded"
    assert (view.source_balance, view.source_held, view.entries) == (WALLET - 10_500, 0, 1)
    assert view.hold_status == HoldStatus.VOIDED  # released, then debited directly


def test_a_success_after_the_hold_expired_and_the_money_was_spent_goes_to_review(momo, now):
    uid = momo_customer("spent", now, phone="+256772123419", wallet=20_000)
    transfer = _payout(uid, 10_000, "256772999001", key="h2", now=now)
    run_momo_jobs(now)
    req = request_of(transfer)
    much_later = now + timedelta(days=31)
    holds_expire(now=much_later)
    # the customer spends the released money elsewhere
    equity = house_account(kind=AccountKind.EQUITY, currency="UGX", now=now)
    wallet = transfer.source_wallet.account
    entry_post(
        kind="test_spend",
        currency="UGX",
        legs=[Leg(wallet.pk, -15_000), Leg(equity.pk, 15_000)],
        now=much_later,
    )
    ok = MomoResult(
        status="SUCCESSFUL", amount="10000", currency="UGX", financial_transaction_id="F8"
    )
    assert flows.momo_apply(request_id=req.pk, result=ok, now=much_later) is False
    req.refresh_from_db()
    assert (req.status, req.needs_review, req.financial_transaction_id) == ("accepted", True, "F8")
    assert "hold had ended" in req.last_error
    assert JournalEntry.objects.filter(reference=str(transfer.id)).count() == 0
    assert reload(transfer).status == "pending"


def test_a_failure_with_an_unknown_reason_keeps_it_verbatim(momo, now):
    uid = momo_customer("odd", now, phone="+256772123420", wallet=WALLET)
    transfer = _payout(uid, 10_000, "256772999001", key="o1", now=now)
    run_momo_jobs(now)
    req = request_of(transfer)
    weird = MomoResult(status="FAILED", reason=MomoReason("WALLET-LOCKED.2", "locked"))
    assert flows.momo_apply(request_id=req.pk, result=weird, now=now) is True
    req.refresh_from_db()
    transfer = reload(transfer)
    assert (req.reason_code, req.reason_message) == ("WALLET-LOCKED.2", "locked")
    assert transfer.failure_code == "momo_wallet_locked_2"
    assert transfer.failure_message.startswith("MoMo could not complete the payment")
    assert (
        flows.momo_apply(request_id=req.pk, result=MomoResult(status="CREATED"), now=now) is False
    )


# --- deadlines and the sweep -------------------------------------------------------------------


def test_request_to_pay_never_approved_fails_expired_after_its_deadline(momo, now, settings):
    uid = momo_customer("waiting", now, phone="+256772123421", wallet=0)
    transfer = flows.deposit_start(
        customer_id=uid,
        currency="UGX",
        amount_minor=5_000,
        msisdn="46733123453",  # PayerOngoing: the customer never approves
        idempotency_key="w1",
        now=now,
    )
    run_momo_jobs(now)
    req = request_of(transfer)
    assert req.deadline_at == now + timedelta(seconds=settings.MOMO_COLLECTION_DEADLINE_SECONDS)
    # polls before the deadline leave it pending, and never schedule past the deadline
    clock = now
    while True:
        req.refresh_from_db()
        assert req.next_check_at <= req.deadline_at or req.terminal
        clock = req.next_check_at
        flows.momo_sweep(now=clock)
        run_momo_jobs(clock)
        req.refresh_from_db()
        if req.terminal:
            break
        assert clock < req.deadline_at
    assert clock == req.deadline_at  # decided at its deadline (one sweep after, at most)
    assert (req.status, req.reason_code) == ("failed", "EXPIRED")
    transfer = reload(transfer)
    assert (transfer.status, transfer.failure_code) == ("failed", "momo_expired")
    assert ledger_view(transfer, req).entries == 0


def test_outbound_payment_stuck_pending_is_flagged_never_failed(momo, now, settings):
    momo.configure(profile="observed")  # 46733123453 sticks in PENDING
    uid = momo_customer("stuck", now, phone="+256772123422", wallet=WALLET)
    transfer = _payout(uid, 10_000, "46733123453", key="s1", now=now)
    run_momo_jobs(now)
    req = request_of(transfer)
    past = req.deadline_at + timedelta(seconds=1)
    assert flows.momo_sweep(now=past) == 1
    assert run_momo_jobs(past) == [("momo_poll", "review")]
    req.refresh_from_db()
    assert (req.status, req.needs_review) == ("accepted", True)
    assert "never failed automatically" in req.last_error
    assert req.next_check_at == past + timedelta(seconds=settings.MOMO_POLL_MAX_SECONDS)
    transfer = reload(transfer)
    assert transfer.status == "pending"
    view = ledger_view(transfer, req)
    assert (view.source_held, view.hold_status, view.entries) == (10_500, HoldStatus.ACTIVE, 0)
    # still polled: when MoMo pays after all, the money moves once
    momo.sim.complete(str(req.reference_id), "SUCCESSFUL")
    later = req.next_check_at
    assert flows.momo_sweep(now=later) == 1
    run_momo_jobs(later)
    assert reload(transfer).status == "succeeded"
    assert ledger_view(transfer, req).entries == 1


def test_sweep_hands_each_due_request_out_once_and_leases_it(momo, now):
    uid = momo_customer("sweep", now, phone="+256772123423", wallet=WALLET)
    for i in range(3):
        _payout(uid, 1_000, "46733123453", key=f"sw{i}", now=now)
    run_momo_jobs(now)
    due = now + timedelta(minutes=5)
    assert flows.momo_sweep(now=due) == 3
    assert len(queued("momo_poll")) == 3
    assert flows.momo_sweep(now=due) == 0  # leased meanwhile
    later = due + timedelta(minutes=2)
    assert flows.momo_sweep(now=later) == 3  # lease over, job still waiting: not doubled
    assert len(queued("momo_poll")) == 3


def test_sweep_requeues_a_callback_whose_job_was_lost(momo, client, now):
    uid = momo_customer("lost", now, phone="+256772123426", wallet=WALLET)
    req = request_of(_payout(uid, 1_000, "46733123453", key="lost", now=now))
    response = client.put(
        f"/webhooks/momo/{req.reference_id}", data=b"{}", content_type="application/json"
    )
    assert response.status_code == 200
    drop_queued_jobs()  # the job is lost
    callback = MomoCallback.objects.get()
    flows.momo_sweep(now=callback.received_at + timedelta(minutes=2))
    assert {"callback_id": callback.pk} in queued("momo_callback_process")
    run_momo_jobs(now)
    callback.refresh_from_db()
    assert callback.outcome != CallbackOutcome.RECEIVED


# --- the webhook -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["put", "post"])
def test_webhook_stores_the_raw_body_first_and_answers_200(momo, client, now, method):
    uid = momo_customer("hook", now, phone="+256772123424", wallet=WALLET)
    transfer = _payout(uid, 1_000, "256772999001", key="hk", now=now)
    req = request_of(transfer)
    body = b'{"status":"SUCCESSFUL", "amount": "1000",\n "weird": "\xc3\xa9"}'
    response = getattr(client, method)(
        f"/webhooks/momo/{req.reference_id}", data=body, content_type="application/json"
    )
    assert response.status_code == 200 and response.json() == {"ok": True}
    stored = MomoCallback.objects.get()
    assert bytes(stored.body)[:3] == b"LW1" and b"SUCCESSFUL" not in bytes(stored.body)
    assert callback_body(stored) == body  # byte for byte, sealed
    assert (stored.method, stored.request_id) == (method.upper(), req.pk)
    assert (stored.claimed_status, stored.outcome) == ("SUCCESSFUL", CallbackOutcome.RECEIVED)
    assert queued("momo_callback_process") == [{"callback_id": stored.pk}]


def test_webhook_keeps_garbage_for_a_known_reference_and_only_counts_unknown_ones(
    momo, client, now
):
    """Issue 11 finding 6: a callback for a reference no request has is answered 200 (as
    MoMo expects) but not stored and queues nothing: one count in its minute."""
    uid = momo_customer("garbage", now, phone="+256772123427", wallet=WALLET)
    req = request_of(_payout(uid, 1_000, "46733123453", key="garbage", now=now))
    drop_queued_jobs()
    unknown = [
        ("not-a-uuid", b"\x00\xff garbage"),
        (str(uuid.uuid4()), b'{"status": "SUCCESSFUL"}'),
        ("x" * 100, b""),
    ]
    for reference, body in unknown:
        response = client.post(f"/webhooks/momo/{reference}", data=body, content_type="text/plain")
        assert response.status_code == 200 and response.json() == {"ok": True}
    assert not MomoCallback.objects.exists()
    assert queued("momo_callback_process") == []
    (rejection,) = IntakeRejection.objects.all()
    assert (rejection.source, rejection.reason, rejection.count) == ("momo", "unknown_reference", 3)
    assert rejection.bytes_total == sum(len(b) for _r, b in unknown)

    known = [b"\x00\xff garbage", b"[1, 2, 3]", b"", b"[" * 20_000 + b"]" * 20_000]
    for body in known:
        response = client.post(
            f"/webhooks/momo/{req.reference_id}", data=body, content_type="text/plain"
        )
        assert response.status_code == 200
    rows = list(MomoCallback.objects.order_by("id"))
    assert [callback_body(r) for r in rows] == known  # whatever arrives, kept (sealed)
    run_momo_jobs(now)
    outcomes = {MomoCallback.objects.get(pk=r.pk).outcome for r in rows}
    assert outcomes == {CallbackOutcome.INVALID}


def test_webhook_stores_at_most_the_cap_of_callbacks_per_reference(momo, client, now, settings):
    settings.LIGHTWAY_MOMO_CALLBACKS_PER_REFERENCE = 3
    uid = momo_customer("cap", now, phone="+256772123428", wallet=WALLET)
    req = request_of(_payout(uid, 1_000, "46733123453", key="cap", now=now))
    for _ in range(5):
        response = client.put(
            f"/webhooks/momo/{req.reference_id}", data=b"{}", content_type="application/json"
        )
        assert response.status_code == 200
    assert MomoCallback.objects.count() == 3
    rejection = IntakeRejection.objects.get()
    assert (rejection.reason, rejection.count) == ("too_many_callbacks", 2)


def test_webhook_stores_nul_bytes_in_the_path_headers_and_claim_without_a_500(momo, client, now):
    """PostgreSQL text cannot hold NUL: the callback is still stored (NUL as U+FFFD)."""
    uid = momo_customer("nul", now, phone="+256772123429", wallet=WALLET)
    req = request_of(_payout(uid, 1_000, "46733123453", key="nul", now=now))
    response = client.put(
        f"/webhooks/momo/{req.reference_id}",
        data='{"status": "SUCCESSFUL\\u0000"}',
        content_type="application/json\x00",
    )
    assert response.status_code == 200
    stored = MomoCallback.objects.get()
    assert stored.content_type == "application/json\ufffd"
    assert stored.claimed_status == "SUCCESSFUL\ufffd"
    response = client.put(
        f"/webhooks/momo/{req.reference_id}%00", data="{}", content_type="application/json"
    )
    assert response.status_code == 200  # an unknown reference (NUL and all): counted only
    assert IntakeRejection.objects.get().reason == "unknown_reference"


def test_webhook_garbage_for_a_known_reference_is_invalid_but_still_reads_the_status(
    momo, client, now
):
    uid = momo_customer("garb", now, phone="+256772123425", wallet=WALLET)
    transfer = _deposit(uid, 1_000, "256772999001", key="gb", now=now)
    run_momo_jobs(now)
    req = request_of(transfer)
    wait_final(momo.sim, req.reference_id)
    momo.sim.callbacks_clear()
    response = client.put(
        f"/webhooks/momo/{req.reference_id}", data=b"<xml>oops</xml>", content_type="text/xml"
    )
    assert response.status_code == 200
    run_momo_jobs(now)
    assert MomoCallback.objects.get().outcome == CallbackOutcome.INVALID
    assert reload(transfer).status == "succeeded"  # the status read settled it


def test_webhook_refuses_oversize_bodies_and_other_methods(momo, client):
    ref = uuid.uuid4()
    big = b"{" + b" " * (64 * 1024) + b"}"
    response = client.put(f"/webhooks/momo/{ref}", data=big, content_type="application/json")
    assert response.status_code == 413
    for method in ("get", "delete", "patch"):
        assert getattr(client, method)(f"/webhooks/momo/{ref}").status_code == 405
    assert MomoCallback.objects.count() == 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM procrastinate_jobs WHERE task_name LIKE 'momo%%'")
        assert cursor.fetchone()[0] == 0


def test_the_sweep_is_scheduled_every_ten_seconds_and_the_momo_tasks_exist():
    from datetime import UTC, datetime

    from procrastinate.contrib.django import app

    app.perform_import_paths()
    assert {"momo_submit", "momo_poll", "momo_callback_process", "momo_sweep"} <= set(app.tasks)
    periodic = {name: p for (name, _id), p in app.periodic_registry.periodic_tasks.items()}
    cron = periodic["momo_sweep"].croniter
    cron.set_current(start_time=datetime(2026, 11, 24, 7, 11, 3, tzinfo=UTC))
    ticks = [cron.get_next(datetime) for _ in range(4)]
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(ticks)] == [10, 10, 10]


def test_observed_sandbox_created_then_successful_is_pending_until_successful(momo, client, now):
    momo.configure(profile="observed", delayed_seconds=1.0)  # 46733123454: CREATED, then paid
    uid = momo_customer("observed", now, phone="+256772123426", wallet=0)
    transfer = _deposit(uid, 7_000, "46733123454", key="obs-1", now=now)
    run_momo_jobs(now)
    req = request_of(transfer)
    assert flows.momo_poll(request_id=req.pk, now=now + timedelta(seconds=20)) == "pending"
    req.refresh_from_db()
    assert (req.status, req.momo_status) == ("accepted", "CREATED")
    wait_final(momo.sim, req.reference_id)
    settle(momo, client, now + timedelta(seconds=25))
    transfer = reload(transfer)
    assert transfer.status == "succeeded"
    assert ledger_view(transfer, req).source_balance == 7_000


def test_after_the_last_attempt_momo_is_only_asked_and_a_404_fails_it_not_created(
    momo, settings, now
):
    settings.MOMO_SUBMIT_MAX_ATTEMPTS = 2
    uid = momo_customer("gaveup", now, phone="+256772123427", wallet=WALLET)
    transfer = _payout(uid, 10_000, "256772999001", key="gu", now=now)
    req = request_of(transfer)
    momo.configure(error_burst=2)  # both attempts answer 5xx (nothing reaches MoMo)
    clock = now
    for _ in range(2):
        assert flows.momo_submit(request_id=req.pk, now=clock) == "retry"
        req.refresh_from_db()
        clock = req.next_check_at
    assert req.attempts == 2
    posts = [p for m, p in momo.sim.requests if m == "POST" and p.endswith("/transfer")]
    assert flows.momo_submit(request_id=req.pk, now=clock) == "pending"  # 404, within grace
    assert [p for m, p in momo.sim.requests if m == "POST" and p.endswith("/transfer")] == posts
    late = req.submitted_at + timedelta(seconds=settings.MOMO_NOT_FOUND_GRACE_SECONDS)
    assert flows.momo_submit(request_id=req.pk, now=late) == "failed"
    req.refresh_from_db()
    transfer = reload(transfer)
    assert (req.status, req.reason_code, req.attempts) == ("failed", "NOT_CREATED", 2)
    assert (transfer.status, transfer.failure_code) == ("failed", "momo_not_created")
    assert ledger_view(transfer, req).hold_status == HoldStatus.VOIDED
    assert momo.sim.transactions() == []
