"""Per-partner limits (application/remittances/limits.py): a currency without limits is not
enabled; per transaction, daily and outstanding limits enforced at confirm, race-free
(threads confirming at once, each with its own clock reading); the staff page that sets
them (permission-checked, audited)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from lightway.application.errors import PaymentRefused, RequestRefused
from lightway.application.remittances.limits import partner_limit_set
from lightway.application.remittances.quotes import QuoteRequest, quote_create
from lightway.application.remittances.remittances import (
    RemittanceRequest,
    remittance_confirm,
    remittance_create,
)
from lightway.data.audit.models import AuditRecord
from lightway.data.remittances.models import PartnerDailyUsage, PartnerLimit, Remittance
from lightway.data.wallets.models import Transfer
from lightway.security.policy import Role
from tests.concurrency import run_concurrently
from tests.factories import staff
from tests.momo_flow_support import run_momo_jobs
from tests.remit_support import error, prefund, remit_partner, signed

SENDER = {"name": "John Smith", "country": "GB"}


def _remittance(partner, n: int, amount: int, now) -> Remittance:
    quote, _ = quote_create(
        partner_id=partner.partner_id,
        ask=QuoteRequest("UGX", "UGX", amount, "SEND"),
        now=now,
    )
    remittance, _ = remittance_create(
        partner_id=partner.partner_id,
        idempotency_key=f"create-{n}",
        request=RemittanceRequest(
            external_id=f"LIM-{n}",
            quote_id=quote.id,
            beneficiary_msisdn="256772555301",
            beneficiary_name="Amina Nakato",
            sender=SENDER,
        ),
        now=now,
    )
    return remittance


def _confirm(partner, remittance: Remittance) -> str:
    try:
        remittance_confirm(
            partner_id=partner.partner_id,
            remittance_id=remittance.id,
            idempotency_key="confirm",
            now=timezone.now(),
        )
    except PaymentRefused as refused:
        return refused.code
    return "confirmed"


@pytest.mark.django_db
def test_a_currency_without_limits_is_not_enabled(momo, client):
    partner = remit_partner("lim-cur", timezone.now(), prefund={"UGX": 1_000_000})
    resp = signed(
        client,
        partner,
        "POST",
        "/api/v1/partner/quotes",
        {"send_currency": "GHS", "receive_currency": "UGX", "amount": 100, "amount_type": "SEND"},
    )
    err = error(resp, 422, "currency_not_enabled")
    assert (err["path"], err["category"]) == ("send_currency", "payer")


@pytest.mark.django_db
def test_per_transaction_daily_and_outstanding_limits(momo):
    now = timezone.now()
    # UGX 1,000,000 per payout, 3,500,000 a day, 2,200,000 reserved at once (fees count)
    partner = remit_partner(
        "lim-all",
        now,
        prefund={"UGX": 50_000_000},
        limits={"UGX": (1_000_000, 3_500_000, 2_200_000)},
    )
    with pytest.raises(PaymentRefused) as too_big:
        quote_create(
            partner_id=partner.partner_id,
            ask=QuoteRequest("UGX", "UGX", 1_000_001, "SEND"),
            now=now,
        )
    assert too_big.value.details["limit"] == "per_transaction"
    one, two, three, four = (_remittance(partner, n, 1_000_000, now) for n in range(4))
    assert _confirm(partner, one) == "confirmed"  # reserves 1,000,000 + 15,000 fee
    assert _confirm(partner, two) == "confirmed"  # 2,030,000 reserved
    with pytest.raises(PaymentRefused) as outstanding:
        remittance_confirm(
            partner_id=partner.partner_id,
            remittance_id=three.id,
            idempotency_key="c3",
            now=timezone.now(),
        )
    assert (outstanding.value.code, outstanding.value.details["limit"]) == (
        "limit_exceeded",
        "outstanding",
    )
    assert prefund("lim-all", "UGX").held == 2_030_000
    # The first two complete: nothing outstanding; the third goes, the day is at 3,000,000.
    run_momo_jobs(timezone.now())
    from lightway.application.momo import flows
    from lightway.data.momo.models import MomoRequest

    for request in MomoRequest.objects.all():
        momo.sim.wait_status(str(request.reference_id), timeout=10)
        flows.momo_poll(request_id=request.pk, now=timezone.now() + timedelta(minutes=2))
    assert prefund("lim-all", "UGX").held == 0
    assert _confirm(partner, three) == "confirmed"
    with pytest.raises(PaymentRefused) as daily:
        remittance_confirm(
            partner_id=partner.partner_id,
            remittance_id=four.id,
            idempotency_key="c4",
            now=timezone.now(),
        )
    assert daily.value.details["limit"] == "daily"
    usage = PartnerDailyUsage.objects.get(partner_id=partner.partner_id, currency="UGX")
    assert usage.amount == 3_000_000  # the refused confirms left nothing behind
    # Refused confirms are recorded as failed transfers under their own keys, nothing held.
    assert Transfer.objects.filter(status="failed", failure_code="limit_exceeded").count() == 2
    assert Remittance.objects.get(pk=four.id).state == "CREATED"


@pytest.mark.django_db(transaction=True)
def test_concurrent_confirms_never_exceed_the_daily_limit(momo):
    """Twelve confirms of UGX 100,000 at once against a daily limit of 500,000: exactly five
    go through, whatever order the threads' clocks and locks come in."""
    now = timezone.now()
    partner = remit_partner(
        "lim-race", now, prefund={"UGX": 50_000_000}, limits={"UGX": (100_000, 500_000, 10**12)}
    )
    remittances = [_remittance(partner, n, 100_000, now) for n in range(12)]
    results = run_concurrently(_confirm, [(partner, r) for r in remittances])
    assert sorted(results).count("confirmed") == 5
    assert sorted(results).count("limit_exceeded") == 7
    usage = PartnerDailyUsage.objects.get(partner_id=partner.partner_id, currency="UGX")
    assert usage.amount == 500_000
    assert prefund("lim-race", "UGX").held == 5 * (100_000 + 1_500)
    assert Remittance.objects.filter(state="CONFIRMED").count() == 5


@pytest.mark.django_db(transaction=True)
def test_concurrent_confirms_never_overdraw_the_prefund(momo):
    """Ten confirms of UGX 100,000 (+1,500 fee) at once against a prefund of 450,000: four
    go through, the rest are refused for funds; the balance never goes below zero."""
    now = timezone.now()
    partner = remit_partner("lim-funds", now, prefund={"UGX": 450_000})
    remittances = [_remittance(partner, n, 100_000, now) for n in range(10)]
    results = run_concurrently(_confirm, [(partner, r) for r in remittances])
    assert sorted(results).count("confirmed") == 4
    assert sorted(results).count("insufficient_funds") == 6
    account = prefund("lim-funds", "UGX")
    assert (account.balance, account.held) == (450_000, 4 * 101_500)


@pytest.mark.django_db
def test_limits_are_validated_and_audited():
    now = timezone.now()
    partner = remit_partner("lim-audit", now, prefund={"UGX": 1})
    with pytest.raises(Exception, match="per-transaction limit cannot be above"):
        partner_limit_set(
            partner_id=partner.partner_id,
            currency_code="UGX",
            per_transaction_max=10,
            daily_max=5,
            outstanding_max=5,
            actor="user:1",
            now=now,
        )
    partner_limit_set(
        partner_id=partner.partner_id,
        currency_code="UGX",
        per_transaction_max=5,
        daily_max=50,
        outstanding_max=20,
        actor="user:1",
        now=now,
    )
    record = AuditRecord.objects.filter(action="partner_limit.set").order_by("-id").first()
    assert record.data["before"] == {
        "per_transaction_max": 10**12,
        "daily_max": 10**12,
        "outstanding_max": 10**12,
    }
    assert (record.data["daily_max"], record.object_id) == (50, "lim-audit:UGX")
    with pytest.raises(RequestRefused):
        from lightway.application.remittances.limits import currency_enabled

        currency_enabled(partner_id=partner.partner_id, currency_code="GHS", field="x")


@pytest.mark.django_db
def test_the_staff_page_sets_limits_for_finance_only(client):
    now = timezone.now()
    partner = remit_partner("lim-page", now, prefund={"UGX": 1})
    support = staff("support-1", [Role.LW_SUPPORT], now)
    finance = staff("finance-1", [Role.LW_FINANCE], now)
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    client.force_login(users.get(pk=support))
    assert client.get("/staff/partner-limits/").status_code == 403
    client.force_login(users.get(pk=finance))
    page = client.get("/staff/partner-limits/")
    assert page.status_code == 200 and b"lim-page" in page.content
    resp = client.post(
        "/staff/partner-limits/",
        {
            "partner": partner.partner_id,
            "currency": "GHS",
            "per_transaction_max": "1000",
            "daily_max": "5000",
            "outstanding_max": "3000",
        },
    )
    assert resp.status_code == 302, resp.content
    row = PartnerLimit.objects.get(partner_id=partner.partner_id, currency="GHS")
    assert (row.per_transaction_max, row.daily_max, row.outstanding_max) == (1000, 5000, 3000)
    assert row.updated_by == f"staff:{finance}"
    bad = client.post(
        "/staff/partner-limits/",
        {
            "partner": partner.partner_id,
            "currency": "GHS",
            "per_transaction_max": "-1",
            "daily_max": "5",
            "outstanding_max": "5",
        },
    )
    # Bad input: 400, the error summary, the message beside its field, the input kept.
    html = bad.content.decode()
    assert bad.status_code == 400 and "from 0 to" in html
    assert 'class="error-summary"' in html and 'id="id_per_transaction_max_error"' in html
    assert 'name="per_transaction_max" value="-1"' in html and 'aria-invalid="true"' in html
