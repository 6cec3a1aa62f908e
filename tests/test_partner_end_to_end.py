"""Issue 12 end to end, over real HTTP, across every part it added: an IMTO onboarded by
staff quotes USD -> UGX through the signed partner API, sends and confirms a remittance
(the prefund held), the MoMo simulator pays the beneficiary, the partner's webhook
receiver gets every status change signed and verified, the events feed and the balance
agree, the UGX settlement window closes, its instruction goes to the Settlement API
simulator and its signed confirmation settles it, the settlement statements for MTN and
for the partner and the partner's commission statement show the remittance, and
``ledger verify`` is clean at the end."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from lightway.application.partners.keys import partner_key_create
from lightway.application.partners.onboarding import partner_onboard
from lightway.application.partners.webhooks import partner_events_pump
from lightway.application.remittances.limits import partner_limit_set
from lightway.application.remittances.partners import partner_client_id
from lightway.application.settlement.statements import statement_json, window_statement
from lightway.application.settlement.windows import window_close
from lightway.application.transactions.commission_seed import fee_schedules_seed_defaults
from lightway.data.identity.models import Partner
from lightway.data.ledger.verify import ledger_verify
from lightway.data.momo.models import MomoRequest
from lightway.data.remittances.models import Remittance
from lightway.data.settlement.models import Instruction, SettlementWindow
from lightway.integration.webhooks.simulator import WebhookReceiverSimulator
from tests.momo_flow_support import run_momo_jobs, settle, wait_final
from tests.partner_support import details
from tests.remit_support import RemitPartner, fx_rate, new_key, prefund, prefund_top_up, signed
from tests.settlement_support import parties, run_settlement_jobs

pytestmark = pytest.mark.django_db

API = "/api/v1/partner"
CODE = "e2e-remit"
BIG = 10**12


@pytest.fixture
def receiver():
    sim = WebhookReceiverSimulator(port=0).start()
    sim.set_tolerance(0)
    yield sim
    sim.stop()


@pytest.fixture
def partner(receiver):
    now = timezone.now()
    fee_schedules_seed_defaults(now=now)
    onboarded = partner_onboard(
        details=details(
            CODE,
            currencies=("USD", "UGX"),
            webhook_url=receiver.hook_url(CODE),
        ),
        actor="staff:1",
        now=now,
    )
    receiver.secret_add(
        path=receiver.hook_path(CODE),
        key_id=onboarded.webhook_key_id,
        secret=onboarded.webhook_secret,
    )
    user_id = partner_client_id(partner=Partner.objects.get(pk=onboarded.partner_id), now=now)
    prefund_top_up(CODE, "USD", 1_000_000, now)  # USD 10,000.00
    partner_limit_set(
        partner_id=onboarded.partner_id,
        currency_code="USD",
        per_transaction_max=BIG,
        daily_max=BIG,
        outstanding_max=BIG,
        actor="staff:2",
        now=now,
    )
    key_id, secret = partner_key_create(partner_id=onboarded.partner_id, actor="staff:1", now=now)
    fx_rate("USD", "UGX", "3700", 100, now)  # bid 3663
    return RemitPartner(CODE, onboarded.partner_id, user_id, key_id, secret)


def _ok(resp, status=200):
    assert resp.status_code == status, resp.content
    return resp.json()


def test_quote_send_track_webhook_settle_and_state(momo, settlement, client, partner, receiver):
    now = timezone.now()
    momo.sim.set_wallet("256772555301", given_name="Amina", family_name="Nakato")
    parties(now, CODE, currencies=("UGX", "USD"))

    # 1. quote, beneficiary check, create, confirm (the prefund is held)
    quote = _ok(
        signed(
            client,
            partner,
            "POST",
            f"{API}/quotes",
            {
                "send_currency": "USD",
                "receive_currency": "UGX",
                "amount": 10_000,
                "amount_type": "SEND",
            },
        ),
        201,
    )
    assert (quote["receive_amount"], quote["fee"], quote["state"]) == (366_300, 299, "ACTIVE")
    check = _ok(
        signed(
            client,
            partner,
            "POST",
            f"{API}/beneficiary-validations",
            {"msisdn": "256772555301", "expected_name": "Amina Nakato"},
        ),
        201,
    )
    assert (check["account_status"], check["name_match"]) == ("ACTIVE", "MATCH")
    assert "Nakato" not in json.dumps(check)  # the holder's name is masked
    body = {
        "external_id": "E2E-0001",
        "quote_id": quote["id"],
        "beneficiary_validation_id": check["id"],
        "beneficiary": {"msisdn": "256772555301", "name": "Amina Nakato"},
        "sender": {"name": "John Smith", "country": "GB"},
        "purpose": "family_support",
    }
    created = _ok(signed(client, partner, "POST", f"{API}/remittances", body, key=new_key()), 201)
    rid = created["id"]
    confirmed = _ok(
        signed(client, partner, "POST", f"{API}/remittances/{rid}/confirm", {}, key=new_key()),
        201,
    )
    assert confirmed["state"] == "CONFIRMED"
    usd = prefund(CODE, "USD")
    assert (usd.balance, usd.held) == (1_000_000, 10_299)

    # 2. the payout on the MoMo simulator
    run_momo_jobs(now)
    request = MomoRequest.objects.get(transfer_id=Remittance.objects.get(pk=rid).transfer_id)
    wait_final(momo.sim, request.reference_id)
    settle(momo, client, now)
    tracked = _ok(signed(client, partner, "GET", f"{API}/remittances/{rid}"))
    assert tracked["state"] == "COMPLETED"
    by_ref = _ok(signed(client, partner, "GET", f"{API}/remittances/ext-E2E-0001"))
    assert by_ref["id"] == rid
    usd = prefund(CODE, "USD")
    assert (usd.balance, usd.held) == (1_000_000 - 10_299, 0)

    # 3. every status change reaches the partner's endpoint, signed and verified, and the
    #    catch-up feed holds the same events in order
    from tests.test_partner_webhooks import _run_due

    partner_events_pump(now=now)
    assert set(_run_due(now)) == {"delivered"}
    got = [json.loads(d.raw_body) for d in receiver.deliveries()]
    assert all(d.verified for d in receiver.deliveries())
    states = sorted((e["data"]["version"], e["data"]["state"]) for e in got)
    assert [s for _v, s in states] == ["CREATED", "CONFIRMED", "SUBMITTED", "COMPLETED"]
    feed = _ok(signed(client, partner, "GET", f"{API}/events?after=0&limit=50"))
    assert [e["event_id"] for e in feed["events"]] == sorted(
        (e["event_id"] for e in got), key=[e["event_id"] for e in feed["events"]].index
    )
    assert len(feed["events"]) == 4
    balances = _ok(signed(client, partner, "GET", f"{API}/balances"))
    usd_line = next(b for b in balances["balances"] if b["currency"] == "USD")
    assert (usd_line["balance"], usd_line["reserved"]) == (1_000_000 - 10_299, 0)

    # 4. the UGX window closes; MTN is paid through the Settlement API; confirmed, settled
    window = SettlementWindow.objects.get(market="UGX", state="open")
    closed = window_close(window_id=window.pk, now=now, actor="staff:2")
    assert closed.instructions, "the payout is MTN's position: an instruction to pay"
    run_settlement_jobs(now)
    settlement.forward_callbacks(client, len(closed.instructions))
    run_settlement_jobs(now)
    window.refresh_from_db()
    assert window.state == "settled"
    assert set(Instruction.objects.filter(window=window).values_list("status", flat=True)) == {
        "settled"
    }

    # 5. statements: MTN's and the partner's for the window, the partner's commission
    mtn = statement_json(window_statement(window_id=window.pk, counterparty="mtn"))
    assert mtn["direction"] == "lightway_pays" and mtn["net_cash_minor"] >= 366_300
    # the payout (UGX 366,300 from the MoMo float) is in MTN's position, net of nothing
    assert mtn["net_cash_minor"] >= 366_300
    # the partner's side is in the USD window: its prefund used and its commission share
    usd_window = SettlementWindow.objects.get(market="USD", state="open")
    closed_usd = window_close(window_id=usd_window.pk, now=now, actor="staff:2")
    run_settlement_jobs(now)
    settlement.forward_callbacks(client, len(closed_usd.instructions))
    run_settlement_jobs(now)
    mine = statement_json(window_statement(window_id=usd_window.pk, counterparty=f"partner:{CODE}"))
    assert mine["prefund_used_minor"] == 10_299
    assert mine["net_cash_minor"] == 60 and mine["direction"] == "lightway_pays"
    day = now.date().isoformat()
    commission = _ok(
        signed(
            client,
            partner,
            "GET",
            f"{API}/commission-statements?from={day}&to={day}&format=json",
        )
    )
    shares = [
        line
        for line in commission["lines"]
        if line["reference"] == str(Remittance.objects.get(pk=rid).transfer_id)
    ]
    assert len(shares) == 1 and shares[0]["currency"] == "USD"
    assert shares[0]["party_share"] == 60  # 20 % of USD 2.99, rounded as the schedule says

    # 6. the books balance
    result = ledger_verify()
    assert result.ok, result.problems
