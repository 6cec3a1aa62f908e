"""Settlement end to end over real HTTP (docs/settlement.md): payments of every kind
through the MoMo simulator add their positions; the window closes; the instruction goes to
the Settlement API simulator; its signed confirmation comes back through the webhook and
settles the window with its postings, exactly once; ``ledger verify`` stays clean.
Rejection and re-issue, duplicated and delayed (lost) confirmations, and a partner's
commission share."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db.models import Sum

from lightway.application.momo import flows
from lightway.application.settlement.instructions import (
    instruction_reissue,
    settlement_sweep,
)
from lightway.application.settlement.statements import (
    statement_csv,
    statement_json,
    window_statement,
)
from lightway.application.settlement.windows import window_close
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.data.ledger.models import Account, JournalEntry, Posting
from lightway.data.ledger.services import Leg, entry_post, house_account
from lightway.data.ledger.verify import ledger_verify
from lightway.data.settlement.models import (
    Instruction,
    PositionDelta,
    SettlementCallback,
    SettlementWindow,
)
from lightway.data.wallets.models import Transfer, Wallet
from tests.momo_flow_support import (
    momo_customer,
    momo_partner,
    reload,
    request_of,
    run_momo_jobs,
    settle,
    wait_final,
)
from tests.settlement_support import parties, run_settlement_jobs

pytestmark = pytest.mark.django_db


def _decide(momo, client, transfer, now):
    run_momo_jobs(now)
    wait_final(momo.sim, request_of(transfer).reference_id)
    settle(momo, client, now)
    return reload(transfer)


def _open_window(code="UGX"):
    return SettlementWindow.objects.get(market=code, state="open")


def _p2p(now, alice, bob, amount, key):
    source = Wallet.objects.get(owner_id=alice)
    destination = Wallet.objects.get(owner_id=bob)
    return transfer_create(
        client_id=alice,
        idempotency_key=key,
        request=TransferRequest(source.id, destination.id, amount, "UGX"),
        now=now,
    ).transfer


def _component_sums(window_id):
    rows = (
        PositionDelta.objects.filter(window_id=window_id)
        .values("counterparty", "account_id")
        .annotate(total=Sum("amount"))
    )
    codes = dict(Account.objects.values_list("id", "code"))
    return {(r["counterparty"], codes[r["account_id"]]): r["total"] for r in rows}


def _legs(transfer, leg_filter):
    return int(
        Posting.objects.filter(entry_id=transfer.entry_id, **leg_filter).aggregate(t=Sum("amount"))[
            "t"
        ]
        or 0
    )


def test_every_kind_adds_its_position_and_the_window_settles_once(momo, settlement, client, now):
    momo.configure(delayed_seconds=0.2)
    alice = momo_customer("alice", now, phone="+256772100001", wallet=1_000_000)
    bob = momo_customer("bob", now, phone="+256772100002", wallet=1_000)
    partner_user = momo_partner("acme", now, prefund=1_000_000)
    parties(now, "acme")
    common = {"customer_id": alice, "currency": "UGX", "now": now}

    p2p = _p2p(now, alice, bob, 50_000, "p2p-1")
    deposit = _decide(
        momo,
        client,
        flows.deposit_start(
            **common, amount_minor=20_000, msisdn="256772999001", idempotency_key="dep-1"
        ),
        now,
    )
    withdrawal = _decide(
        momo,
        client,
        flows.withdrawal_start(**common, amount_minor=10_000, idempotency_key="wd-1"),
        now,
    )
    payout = _decide(
        momo,
        client,
        flows.payout_start(
            **common, amount_minor=5_000, msisdn="256772999002", idempotency_key="po-1"
        ),
        now,
    )
    remittance = _decide(
        momo,
        client,
        flows.remittance_payout_start(
            partner_user_id=partner_user,
            currency="UGX",
            amount_minor=7_000,
            msisdn="256772999003",
            external_id="acme-1",
            idempotency_key="rem-1",
            now=now,
        ),
        now,
    )
    moved = [p2p, deposit, withdrawal, payout, remittance]
    assert all(t.status == "succeeded" for t in moved), [(t.kind, t.status) for t in moved]
    window = _open_window()
    sums = _component_sums(window.pk)
    mtn_fees = sum(_legs(t, {"leg": "fee:mtn"}) for t in moved)
    assert sums == {
        ("mtn", "house:momo_float:UGX:collection"): -20_000,  # MTN collected for us
        ("mtn", "house:momo_float:UGX:disbursement"): 15_000,  # MTN paid out for us
        ("mtn", "house:momo_float:UGX:remittance"): 7_000,
        ("mtn", "house:commission_payable:UGX:mtn"): mtn_fees,
        ("partner:acme", "prefund:acme:UGX"): -7_000,  # funded from the prefund at payout
    }
    assert mtn_fees > 0

    closed = window_close(window_id=window.pk, now=now, actor="test")
    net = 2_000 + mtn_fees
    [instruction] = closed.instructions  # the partner's position was funded: nothing to pay
    assert (instruction.counterparty, instruction.direction, instruction.amount) == (
        "mtn",
        "pay",
        net,
    )
    run_settlement_jobs(now)  # sends it: accepted, confirmation on its way
    assert reload_instruction(instruction).status == "sent"
    [response] = settlement.forward_callbacks(client, 1)
    assert response.status_code == 200
    run_settlement_jobs(now)
    instruction = reload_instruction(instruction)
    assert instruction.status == "settled" and instruction.bank_reference.startswith("LWF")
    window.refresh_from_db()
    assert window.state == "settled"
    # the window's positions are cleared: every MoMo float and MTN's commission back to 0
    for code in (
        "house:momo_float:UGX:collection",
        "house:momo_float:UGX:disbursement",
        "house:momo_float:UGX:remittance",
        "house:commission_payable:UGX:mtn",
    ):
        account = Account.objects.get(code=code)
        total = Posting.objects.filter(account=account).aggregate(t=Sum("amount"))["t"]
        assert total == 0, code
    bank = Account.objects.get(code="house:settlement_bank:UGX")
    assert Posting.objects.get(account=bank).amount == net
    assert ledger_verify().ok, ledger_verify().problems

    mtn = statement_json(window_statement(window_id=window.pk, counterparty="mtn"))
    assert mtn["net_cash_minor"] == net and mtn["direction"] == "lightway_pays"
    assert mtn["instructions"][0]["status"] == "settled"
    acme = window_statement(window_id=window.pk, counterparty="partner:acme")
    assert statement_json(acme)["prefund_used_minor"] == 7_000
    lines = "".join(statement_csv(acme)).splitlines()
    assert any(line.startswith(f"payment,{remittance.id},prefund,-7000") for line in lines)


def reload_instruction(instruction):
    return Instruction.objects.get(pk=instruction.pk)


def _p2p_window(now, prefix="x"):
    alice = momo_customer(f"{prefix}-alice", now, phone="+256772100011", wallet=1_000_000)
    bob = momo_customer(f"{prefix}-bob", now, phone="+256772100012", wallet=1)
    parties(now)
    _p2p(now, alice, bob, 100_000, f"{prefix}-1")
    window = _open_window()
    return window, window_close(window_id=window.pk, now=now, actor="test").instructions[0]


def test_a_duplicated_confirmation_settles_once(settlement, client, now):
    settlement.configure(duplicate_confirmation=True)
    _window, instruction = _p2p_window(now)
    run_settlement_jobs(now)
    responses = settlement.forward_callbacks(client, 2)
    assert [r.status_code for r in responses] == [200, 200]
    run_settlement_jobs(now)
    assert SettlementCallback.objects.count() == 2
    assert sorted(SettlementCallback.objects.values_list("outcome", flat=True)) == [
        "settled",
        "unchanged",
    ]
    assert JournalEntry.objects.filter(kind="settlement").count() == 1
    assert reload_instruction(instruction).status == "settled"
    assert ledger_verify().ok, ledger_verify().problems


def test_a_delayed_and_lost_confirmation_is_found_by_the_sweep(settlement, settings, now):
    settlement.configure(drop_callbacks=True, confirm_delay_seconds=0.3)
    window, instruction = _p2p_window(now)
    run_settlement_jobs(now)
    assert reload_instruction(instruction).status == "sent"
    assert settlement_sweep(now=now) == 0  # not due yet: the callback has time to come
    settlement.sim.wait_outcomes(1)  # decided at the bank; its callback is lost
    later = now + timedelta(seconds=settings.SETTLEMENT_POLL_SECONDS + 1)
    assert settlement_sweep(now=later) == 1  # the status read finds it
    assert reload_instruction(instruction).status == "settled"
    assert settlement.sink.received == []
    window.refresh_from_db()
    assert window.state == "settled"
    assert ledger_verify().ok, ledger_verify().problems


def test_a_rejection_keeps_the_window_pending_until_reissued(settlement, client, now):
    settlement.configure(outcome="reject", reject_code="AC04", reject_reason="Closed account")
    window, instruction = _p2p_window(now)
    run_settlement_jobs(now)
    settlement.forward_callbacks(client, 1)
    run_settlement_jobs(now)
    rejected = reload_instruction(instruction)
    assert (rejected.status, rejected.reject_code, rejected.reject_reason) == (
        "rejected",
        "AC04",
        "Closed account",
    )
    assert rejected.entry_id is None
    window.refresh_from_db()
    assert window.state == "pending_settlement"
    settlement.configure(outcome="confirm")
    again = instruction_reissue(instruction_id=instruction.pk, actor="staff:1", now=now)
    assert again.instr_id != instruction.instr_id and again.amount == instruction.amount
    run_settlement_jobs(now)
    settlement.forward_callbacks(client, 1)
    run_settlement_jobs(now)
    assert reload_instruction(again).status == "settled"
    window.refresh_from_db()
    assert window.state == "settled"
    assert ledger_verify().ok, ledger_verify().problems


def test_a_forged_or_stale_callback_is_refused(settlement, client, now):
    _window, instruction = _p2p_window(now)
    run_settlement_jobs(now)
    [(headers, body)] = settlement.sink.take(1)
    forged = body.replace(b"ACSC", b"RJCT")
    extra = {
        f"HTTP_{k.upper().replace('-', '_')}": v
        for k, v in headers.items()
        if k.lower().startswith("x-lwf-")
    }
    assert extra
    response = client.post(
        "/webhooks/settlement", data=forged, content_type="application/json", **extra
    )
    assert response.status_code == 401
    assert (
        client.post("/webhooks/settlement", data=body, content_type="application/json").status_code
        == 401
    )
    assert SettlementCallback.objects.count() == 0
    assert reload_instruction(instruction).status == "sent"


def test_a_partners_commission_share_is_its_cash_position(now):
    """The fee split of a priced remittance (the remittances work adds the fees): the
    partner's share of commission payable is what LightWay pays it at settlement."""
    partner_user = momo_partner("beta", now, prefund=0)
    parties(now, "beta")
    payable = house_account(kind="commission_payable", currency="UGX", owner_ref="beta", now=now)
    revenue = house_account(kind="fee_revenue", currency="UGX", now=now)
    transfer_id = uuid.uuid4()
    entry = entry_post(
        kind="remittance",
        currency="UGX",
        legs=[Leg(revenue.pk, -300), Leg(payable.pk, 300, "fee:partner")],
        now=now,
        reference=str(transfer_id),
    )
    transfer = Transfer.objects.create(
        id=transfer_id,
        kind="remittance",
        status="succeeded",
        client_id=partner_user,
        idempotency_key="beta-1",
        request_hash="x",
        currency="UGX",
        amount=10_000,
        fee=300,
        entry_id=entry.pk,
        created_at=now,
        updated_at=now,
    )
    delta = PositionDelta.objects.get(transfer_id=transfer.id)
    assert (delta.counterparty, delta.amount) == ("partner:beta", 300)
    closed = window_close(window_id=delta.window_id, now=now, actor="test")
    [instruction] = closed.instructions
    assert (instruction.counterparty, instruction.direction, instruction.amount) == (
        "partner:beta",
        "pay",
        300,
    )
