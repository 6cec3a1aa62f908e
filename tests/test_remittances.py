"""Partner remittances over real HTTP (Django's test client through the API's middleware,
signed requests checked for real) with MoMo's simulator over HTTP: quote -> validate ->
create -> confirm -> MoMo payout -> final state, with the partner events, the prefund and
the ledger checked at each step (docs/partner-api.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from lightway.application.remittances.remittances import remittances_expire
from lightway.data.identity.models import Partner
from lightway.data.ledger.models import AccountKind, Hold, HoldStatus, JournalEntry
from lightway.data.ledger.verify import ledger_verify
from lightway.data.momo.models import MomoRequest
from lightway.data.partners.models import PartnerEvent
from lightway.data.remittances.models import Quote, Remittance
from lightway.data.wallets.models import Transfer
from tests.momo_flow_support import house_total, run_momo_jobs, settle, wait_final
from tests.remit_support import (
    error,
    fx_rate,
    new_key,
    prefund,
    remit_partner,
    remittance_body,
    signed,
)

pytestmark = pytest.mark.django_db

API = "/api/v1/partner"
USD_PREFUND = 1_000_000  # USD 10,000.00
UGX_PREFUND = 5_000_000


@pytest.fixture
def acme(momo):
    t0 = timezone.now()
    partner = remit_partner("acme-remit", t0, prefund={"USD": USD_PREFUND, "UGX": UGX_PREFUND})
    fx_rate("USD", "UGX", "3700", 100, t0)  # bid 3663, ask 3737
    momo.sim.set_wallet("256772555201", given_name="Amina", family_name="Nakato")
    return partner


def quote(client, partner, **overrides):
    body = {
        "send_currency": "USD",
        "receive_currency": "UGX",
        "amount": 10_000,
        "amount_type": "SEND",
    }
    body.update(overrides)
    resp = signed(client, partner, "POST", f"{API}/quotes", body)
    assert resp.status_code == 201, resp.content
    return resp.json()


def create(client, partner, quote_id, external_id, key=None, **extra):
    return signed(
        client,
        partner,
        "POST",
        f"{API}/remittances",
        remittance_body(quote_id, external_id, **extra),
        key=key or new_key(),
    )


def confirm(client, partner, remittance_id, key=None):
    return signed(
        client,
        partner,
        "POST",
        f"{API}/remittances/{remittance_id}/confirm",
        {},
        key=key or new_key(),
    )


def get(client, partner, remittance_id):
    resp = signed(client, partner, "GET", f"{API}/remittances/{remittance_id}")
    assert resp.status_code == 200, resp.content
    return resp.json()


def events(remittance_id):
    return [
        (e.data["previous_state"], e.data["state"], e.data["version"])
        for e in PartnerEvent.objects.filter(object_id=str(remittance_id)).order_by("id")
    ]


def pay_out(momo, client, remittance_id):
    """What the worker does: submit, MoMo completes, callback, status read, outcome."""
    run_momo_jobs(timezone.now())
    request = MomoRequest.objects.get(
        transfer_id=Remittance.objects.get(pk=remittance_id).transfer_id
    )
    wait_final(momo.sim, request.reference_id)
    settle(momo, client, timezone.now())
    return MomoRequest.objects.get(pk=request.pk)


def test_cross_currency_quote_validate_create_confirm_pay_complete(momo, client, acme):
    q = quote(client, acme)
    assert q["state"] == "ACTIVE"
    assert (q["send_currency"], q["send_amount"], q["fee"], q["total_debit"]) == (
        "USD",
        10_000,
        299,
        10_299,
    )
    # USD 100.00 at the bid 3663: UGX 366,300; the mid would give 370,000, so the spread is 3,700
    assert (q["receive_currency"], q["receive_amount"]) == ("UGX", 366_300)
    assert (q["rate"], q["mid_rate"], q["rate_source"]) == (
        "3663.000000000000",
        "3700.000000000000",
        "treasury",
    )
    assert "rounded down" in q["rounding"]

    resp = signed(
        client,
        acme,
        "POST",
        f"{API}/beneficiary-validations",
        {"msisdn": "+256 772 555 201", "expected_name": "nakato AMINA"},
    )
    assert resp.status_code == 201, resp.content
    validation = resp.json()
    assert (validation["account_status"], validation["name_match"]) == ("ACTIVE", "MATCH")
    assert validation["masked_holder_name"] == "A•••• N•••••"

    resp = create(client, acme, q["id"], "ACME-0001", beneficiary_validation_id=validation["id"])
    assert resp.status_code == 201, resp.content
    rem = resp.json()
    assert (rem["state"], rem["version"], rem["send_amount"], rem["receive_amount"]) == (
        "CREATED",
        1,
        10_000,
        366_300,
    )
    assert rem["beneficiary"]["msisdn"].startswith("+256") and "•" in rem["beneficiary"]["msisdn"]
    assert Quote.objects.get(pk=q["id"]).state == "USED"

    resp = confirm(client, acme, rem["id"])
    assert resp.status_code == 201, resp.content
    assert (resp.json()["state"], resp.json()["version"]) == ("CONFIRMED", 2)
    usd = prefund("acme-remit", "USD")
    assert (usd.balance, usd.held) == (USD_PREFUND, 10_299)

    request = pay_out(momo, client, rem["id"])
    assert (request.status, request.currency, request.amount) == ("successful", "UGX", 366_300)
    final = get(client, acme, rem["id"])
    assert (final["state"], final["version"], final["reason_code"]) == ("COMPLETED", 4, None)
    usd.refresh_from_db()
    assert (usd.balance, usd.held) == (USD_PREFUND - 10_299, 0)
    assert events(rem["id"]) == [
        (None, "CREATED", 1),
        ("CREATED", "CONFIRMED", 2),
        ("CONFIRMED", "SUBMITTED", 3),
        ("SUBMITTED", "COMPLETED", 4),
    ]
    # The money: USD through the FX position, UGX out of the MoMo float, spread as revenue.
    remittance = Remittance.objects.get(pk=rem["id"])
    assert remittance.fx_entry_id is not None
    assert house_total(AccountKind.FX_POSITION, "USD") == 10_000
    assert house_total(AccountKind.FX_POSITION, "UGX") == -(366_300 + 3_700)
    assert house_total(AccountKind.FX_REVENUE, "UGX") == 3_700
    assert house_total(AccountKind.MOMO_FLOAT, "UGX", "remittance") == 366_300
    assert (
        house_total(AccountKind.FEE_REVENUE, "USD") == 149
    )  # 299 split 50:30:20, largest remainder
    assert house_total(AccountKind.COMMISSION_PAYABLE, "USD", "acme-remit") == 60
    result = ledger_verify()
    assert result.ok, result.problems


def test_same_currency_remittance_pays_the_fee_to_its_splits(momo, client, acme):
    q = quote(client, acme, send_currency="UGX", amount=200_000)
    assert (q["send_amount"], q["receive_amount"], q["fee"], q["rate"]) == (
        200_000,
        200_000,
        3_000,
        "1.000000000000",
    )
    rem = create(client, acme, q["id"], "ACME-UGX-1").json()
    assert confirm(client, acme, rem["id"]).status_code == 201
    pay_out(momo, client, rem["id"])
    assert get(client, acme, rem["id"])["state"] == "COMPLETED"
    ugx = prefund("acme-remit", "UGX")
    assert (ugx.balance, ugx.held) == (UGX_PREFUND - 203_000, 0)
    assert Remittance.objects.get(pk=rem["id"]).fx_entry_id is None
    result = ledger_verify()
    assert result.ok, result.problems
