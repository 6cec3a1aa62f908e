"""Customer limit overrides with maker-checker (issue 13, back office): proposed on the
customer's page, approved by a second person (the database refuses the requester), applied
by ``payments_limits_lookup`` (wallets migration 0013) in both limits paths until expiry.

UG tier 2 (seeded defaults): per transaction 2.5M, daily 10M, monthly 50M, balance 10M.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from lightway.application.backoffice.actions import action_approve
from lightway.application.backoffice.limits import OverrideProposal, limit_override_request
from lightway.application.errors import PaymentRefused, RequestRefused, ValidationFailed
from lightway.application.kyc.tiers import KycTierLimits, kyc_limits_for
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.data.audit.models import AuditRecord
from lightway.data.backoffice.models import ActionRequest
from lightway.data.identity.models import Profile
from lightway.data.money import Money
from lightway.security.policy import Role
from tests.conftest import VerifiedClient
from tests.factories import customer, funded_wallet, staff
from tests.query_cost import scans_without_seqscan

REASON = "ticket OPS-2210: trader pays suppliers above the tier limit"
_n = itertools.count()
pytestmark = pytest.mark.django_db


def _as(role: str, now) -> tuple[VerifiedClient, int]:
    client = VerifiedClient()
    user_id = staff(f"lim{next(_n)}.{role}", [role], now)
    client.force_login(get_user_model().objects.get(pk=user_id))
    return client, user_id


def _subject(user_id: int) -> str:
    return Profile.objects.get(user_id=user_id).subject


def _pay(client_id, src, dst, amount, at):
    return transfer_create(
        client_id=client_id,
        idempotency_key=str(uuid.uuid4()),
        request=TransferRequest(src.id, dst.id, amount, "UGX", ""),
        now=at,
    ).transfer


@pytest.fixture
def trader(now):
    alice, _ = customer("alice", now, tier=2)
    bob, _ = customer("bob", now, tier=3)
    return alice, funded_wallet(alice, "UGX", 9_000_000, now), funded_wallet(bob, "UGX", 0, now)


def _python_check(customer_id: int, amount: int, at) -> None:
    """The Python limits path (``KycTierLimits.check``, as a payment held at MoMo uses)."""
    with transaction.atomic():
        KycTierLimits().check(
            customer_id=customer_id, kind="p2p", amount=Money.of(amount, "UGX"), now=at
        )


def test_a_payment_above_the_default_passes_only_once_a_second_person_approves(now, trader):
    alice, wa, wb = trader
    subject = _subject(alice)
    ops, ops_id = _as(Role.LW_OPERATIONS, now)
    compliance, _ = _as(Role.LW_COMPLIANCE, now)
    at = timezone.now() + timedelta(minutes=5)  # the pages decide at the real time

    refused = _pay(alice, wa, wb, 3_000_000, at)
    assert (refused.status, refused.failure_code) == ("failed", "limit_exceeded")

    answer = ops.post(
        f"/staff/customers/{subject}/limits/",
        {"currency": "UGX", "per_transaction": "4,000,000", "daily": "", "reason": REASON},
    )
    assert answer.status_code == 302
    row = ActionRequest.objects.get(customer_id=alice, kind="limit_override")
    assert row.state == "pending"
    assert row.params == {
        "currency": "UGX",
        "per_transaction": 4_000_000,
        "daily": None,
        "monthly": None,
        "max_balance": None,
        "expires_at": None,
    }
    # Not yet approved: still refused, on both paths.
    refused = _pay(alice, wa, wb, 3_000_000, at)
    assert (refused.status, refused.failure_code) == ("failed", "limit_exceeded")
    with pytest.raises(PaymentRefused):
        _python_check(alice, 3_000_000, at)
    # The requester cannot approve it (page, service).
    answer = ops.post(f"/staff/approvals/{row.pk}/approve/", follow=True)
    assert "another person must approve or reject it" in answer.content.decode()
    with pytest.raises(RequestRefused):
        action_approve(request_id=row.pk, actor_id=ops_id, now=now)
    # The approvals page lists it with what it asks for.
    page = compliance.get("/staff/approvals/").content.decode()
    assert "Override the customer&#x27;s limits" in page
    assert "per-transaction limit UGX 4,000,000" in page and "daily limit as the tier" in page

    assert compliance.post(f"/staff/approvals/{row.pk}/approve/").status_code == 302
    row.refresh_from_db()
    assert row.state == "approved"
    paid = _pay(alice, wa, wb, 3_000_000, at)
    assert paid.status == "succeeded", paid.failure_message
    _python_check(alice, 3_500_000, at)
    over = _pay(alice, wa, wb, 4_500_000, at)
    assert over.failure_code == "limit_exceeded"
    assert "a limit set for your account" in over.failure_message

    # The customer page shows the override beside the tier's limit.
    page = ops.get(f"/staff/customers/{subject}/").content.decode()
    assert f'data-override="{row.pk}"' in page
    assert "UGX 4,000,000" in page and "(tier UGX 2,500,000)" in page and "until replaced" in page
    actions = set(
        AuditRecord.objects.filter(
            object_id=subject, action__startswith="backoffice.action."
        ).values_list("action", flat=True)
    )
    assert actions == {"backoffice.action.requested", "backoffice.action.approved"}
    requested = AuditRecord.objects.get(object_id=subject, action="backoffice.action.requested")
    assert requested.data["params"]["per_transaction"] == 4_000_000


def test_the_database_refuses_self_approval_and_rewriting_the_override(now, trader):
    alice, *_ = trader
    _, ops_id = _as(Role.LW_OPERATIONS, now)
    row = limit_override_request(
        subject=_subject(alice),
        proposal=OverrideProposal(currency="UGX", per_transaction="4000000"),
        reason=REASON,
        actor_id=ops_id,
        now=now,
    )
    with pytest.raises(DatabaseError, match="another person must decide"):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                "UPDATE backoffice_action_request SET state = 'approved', decided_by_id = %s,"
                " decided_at = now() WHERE id = %s",
                [ops_id, row.pk],
            )
    # The runtime role may write only the decision's columns (and the guard the same).
    with pytest.raises(DatabaseError, match="permission denied"):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                "UPDATE backoffice_action_request SET params = params || '{\"daily\": 1}'"
                " WHERE id = %s",
                [row.pk],
            )
    # A malformed override never gets in, whatever the code does.
    for params in (
        '{"currency": "UGX", "daily": -5}',
        '{"currency": "UGX", "daily": "lots"}',
        '{"currency": "UGX", "daily": 1.5}',
        '{"currency": "ugx"}',
        '{"currency": "UGX", "expires_at": "tomorrow"}',
    ):
        with pytest.raises(DatabaseError, match="backoffice_action_limit_override_params"):
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute(
                    "INSERT INTO backoffice_action_request (kind, state, customer_id, reason,"
                    " requested_by_id, requested_at, decision_note, result, params) VALUES"
                    " ('limit_override', 'pending', %s, 'a reason', %s, now(), '', '{}', %s)",
                    [alice, ops_id, params],
                )
    row.refresh_from_db()
    assert row.state == "pending" and row.params["per_transaction"] == 4_000_000


def test_an_expired_override_stops_applying(now, trader):
    alice, wa, wb = trader
    _, asker = _as(Role.LW_COMPLIANCE, now)
    _, approver = _as(Role.LW_OPERATIONS, now)
    row = limit_override_request(
        subject=_subject(alice),
        proposal=OverrideProposal(
            currency="UGX", per_transaction="4000000", expires_at=now + timedelta(days=1)
        ),
        reason=REASON,
        actor_id=asker,
        now=now,
    )
    action_approve(request_id=row.pk, actor_id=approver, now=now)
    before = now + timedelta(hours=23)
    assert _pay(alice, wa, wb, 3_000_000, before).status == "succeeded"
    shown = kyc_limits_for(user_id=alice, now=before)[0]
    assert shown.override_id == row.pk and shown.per_transaction == 4_000_000
    assert shown.defaults and shown.defaults["per_transaction"] == 2_500_000
    after = now + timedelta(days=1)
    refused = _pay(alice, wa, wb, 3_000_000, after)
    assert refused.failure_code == "limit_exceeded"
    assert "KYC tier 2" in refused.failure_message
    with pytest.raises(PaymentRefused):
        _python_check(alice, 3_000_000, after)
    shown = kyc_limits_for(user_id=alice, now=after)[0]
    assert shown.override_id is None and shown.per_transaction == 2_500_000
    # One that expired before anyone approved it cannot be approved.
    late = limit_override_request(
        subject=_subject(alice),
        proposal=OverrideProposal(currency="UGX", daily="1", expires_at=after + timedelta(hours=1)),
        reason=REASON,
        actor_id=asker,
        now=after,
    )
    with pytest.raises(RequestRefused, match="expired before it was approved"):
        action_approve(request_id=late.pk, actor_id=approver, now=after + timedelta(hours=2))


def test_a_newer_override_replaces_the_older_and_the_lookup_reads_one_indexed_row(now, trader):
    alice, wa, wb = trader
    _, asker = _as(Role.LW_COMPLIANCE, now)
    _, approver = _as(Role.LW_OPERATIONS, now)
    for amount, at in (("4000000", now), ("", now + timedelta(minutes=1))):
        row = limit_override_request(
            subject=_subject(alice),
            proposal=OverrideProposal(currency="UGX", per_transaction=amount, daily="0"),
            reason=REASON,
            actor_id=asker,
            now=at,
        )
        action_approve(request_id=row.pk, actor_id=approver, now=at)
    later = now + timedelta(minutes=2)
    refused = _pay(alice, wa, wb, 100_000, later)  # daily 0 now, per transaction the tier's
    assert refused.failure_code == "limit_exceeded" and "daily limit" in refused.failure_message
    shown = kyc_limits_for(user_id=alice, now=later)[0]
    assert (shown.per_transaction, shown.daily) == (2_500_000, 0)
    # Both at zero: payments stopped, said as such (not "verify your phone").
    row = limit_override_request(
        subject=_subject(alice),
        proposal=OverrideProposal(currency="UGX", per_transaction="0", daily="0"),
        reason=REASON,
        actor_id=asker,
        now=later,
    )
    action_approve(request_id=row.pk, actor_id=approver, now=later)
    stopped = _pay(alice, wa, wb, 100_000, later + timedelta(minutes=1))
    assert stopped.failure_message == (
        "payments in UGX are stopped on your account (a limit set for your account)"
    )
    scans = scans_without_seqscan(
        "SELECT r.id FROM backoffice_action_request r WHERE r.customer_id = %s"
        " AND (r.params->>'currency') = 'UGX' AND r.kind = 'limit_override'"
        " AND r.state = 'approved' AND r.decided_at <= now()"
        " ORDER BY r.decided_at DESC, r.id DESC LIMIT 1",
        [alice],
    )
    assert [s.get("Index Name") for s in scans] == ["backoffice_limit_override_effective"]


@pytest.mark.parametrize(
    ("field", "typed", "message"),
    [
        ("per_transaction", "-5", "cannot be negative"),
        ("daily", "lots", "as a number in UGX"),
        ("monthly", "12.5", "UGX amounts have no decimals"),
        ("max_balance", "9" * 20, "too large"),
        ("per_transaction", "1e9", "as a number in UGX"),
    ],
)
def test_bad_input_comes_back_400_with_what_was_typed(now, trader, field, typed, message):
    alice, *_ = trader
    ops, _ = _as(Role.LW_OPERATIONS, now)
    answer = ops.post(
        f"/staff/customers/{_subject(alice)}/limits/",
        {"currency": "UGX", field: typed, "reason": REASON},
    )
    page = answer.content.decode()
    assert answer.status_code == 400
    assert message in page and f'value="{typed}"' in page and REASON in page
    assert 'aria-invalid="true"' in page
    assert not ActionRequest.objects.filter(kind="limit_override").exists()


def test_other_bad_input_and_who_may_ask(now, trader):
    alice, *_ = trader
    subject = _subject(alice)
    ops, _ = _as(Role.LW_OPERATIONS, now)
    support, _ = _as(Role.LW_SUPPORT, now)
    cases = [
        ({"currency": "GHS", "daily": "5", "reason": REASON}, "Select a valid choice"),
        ({"currency": "UGX", "daily": "5", "reason": "short"}, "at least 10 characters"),
        ({"currency": "UGX", "daily": "50", "monthly": "10", "reason": REASON}, "above the"),
        ({"currency": "UGX", "last_day": "2020-01-01", "reason": REASON}, "in the future"),
        ({"currency": "UGX", "last_day": "2026-02-31", "reason": REASON}, "valid date"),
    ]
    for data, message in cases:
        answer = ops.post(f"/staff/customers/{subject}/limits/", data)
        assert answer.status_code == 400, data
        assert message in answer.content.decode(), data
    assert not ActionRequest.objects.filter(kind="limit_override").exists()
    with pytest.raises(ValidationFailed):
        limit_override_request(
            subject=subject,
            proposal=OverrideProposal(currency="XAF", daily="5"),
            reason=REASON,
            actor_id=1,
            now=now,
        )
    # Support may ask for freezes but not for other limits; the page hides the form.
    answer = support.post(
        f"/staff/customers/{subject}/limits/", {"currency": "UGX", "daily": "5", "reason": REASON}
    )
    assert answer.status_code == 403
    assert "/limits/" not in support.get(f"/staff/customers/{subject}/").content.decode()
    assert "/limits/" in ops.get(f"/staff/customers/{subject}/").content.decode()
