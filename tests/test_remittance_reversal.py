"""Reversal of a COMPLETED remittance, with maker-checker (docs/partner-api.md, "Reversals").

Remittances are completed for real: signed partner requests through the API, the payout on
MoMo's simulator over HTTP, its callback. The reversal is asked for and approved through the
staff pages (and the services), then checked from every side: what the partner sees (GET
the remittance, GET /events), the prefund, the house accounts, the settlement positions,
the commission records, the audit trail and ``lightway ledger verify``; the database's own
maker-checker rules; two approvals racing; a forged reversal caught by verify."""

from __future__ import annotations

import re
import threading

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone

from lightway.application.errors import RequestRefused, ValidationFailed
from lightway.application.remittances.reversals import (
    NotReversible,
    ReversalDecided,
    ReversalPending,
    remittance_reversal_approve,
    remittance_reversal_reject,
    remittance_reversal_request,
)
from lightway.data.audit.models import AuditRecord
from lightway.data.commission.models import CommissionRecord
from lightway.data.ledger.kinds import REVERSAL
from lightway.data.ledger.models import AccountKind, JournalEntry, Posting
from lightway.data.ledger.verify import ledger_verify
from lightway.data.momo.models import MomoRequest
from lightway.data.partners.services import partner_events_sequence
from lightway.data.remittances.models import Remittance, RemittanceReversal
from lightway.data.settlement.models import PositionDelta
from lightway.data.wallets.models import Transfer
from lightway.security.policy import Role
from tests.conftest import VerifiedClient
from tests.factories import staff
from tests.momo_flow_support import house_total, run_momo_jobs, settle, wait_final
from tests.remit_support import (
    fx_rate,
    new_key,
    prefund,
    remit_partner,
    remittance_body,
    signed,
)

API = "/api/v1/partner"
USD_PREFUND = 1_000_000  # USD 10,000.00
UGX_PREFUND = 5_000_000
PAGES = "/staff/remittances/"


@pytest.fixture
def acme(momo):
    t0 = timezone.now()
    partner = remit_partner("acme-remit", t0, prefund={"USD": USD_PREFUND, "UGX": UGX_PREFUND})
    fx_rate("USD", "UGX", "3700", 100, t0)  # bid 3663, ask 3737
    momo.sim.set_wallet("256772555201", given_name="Amina", family_name="Nakato")
    return partner


def _created(client, partner, external_id, **quote):
    body = {"send_currency": "USD", "receive_currency": "UGX", "amount": 10_000}
    body.update(amount_type="SEND", **quote)
    q = signed(client, partner, "POST", f"{API}/quotes", body)
    assert q.status_code == 201, q.content
    resp = signed(
        client,
        partner,
        "POST",
        f"{API}/remittances",
        remittance_body(q.json()["id"], external_id),
        key=new_key(),
    )
    assert resp.status_code == 201, resp.content
    return resp.json()["id"]


def _completed(momo, client, partner, external_id, **quote) -> Remittance:
    """A remittance paid out on the MoMo simulator: COMPLETED, version 4."""
    rid = _created(client, partner, external_id, **quote)
    resp = signed(client, partner, "POST", f"{API}/remittances/{rid}/confirm", {}, key=new_key())
    assert resp.status_code == 201, resp.content
    run_momo_jobs(timezone.now())
    request = MomoRequest.objects.get(transfer_id=Remittance.objects.get(pk=rid).transfer_id)
    wait_final(momo.sim, request.reference_id)
    settle(momo, client, timezone.now())
    remittance = Remittance.objects.get(pk=rid)
    assert (remittance.state, remittance.version) == ("COMPLETED", 4)
    return remittance


def _signed_in(username: str, roles, now) -> VerifiedClient:
    user_id = staff(username, roles, now)
    browser = VerifiedClient()
    browser.force_login(get_user_model().objects.get(pk=user_id))
    return browser


def _actor(username: str) -> str:
    return f"staff:{get_user_model().objects.get(username=username).pk}"


def _approve_buttons(html: str) -> list[str]:
    return re.findall(r'aria-label="Approve the reversal of remittance ([^"]+)"', html)


def _ask(remittance: Remittance, actor: str, **extra) -> RemittanceReversal:
    fields = {
        "reason_code": "momo_recalled",
        "reason": "MTN recalled the payout on the sender's complaint",
        "momo_reference": "MTN-RECALL-0001",
    }
    fields.update(extra)
    return remittance_reversal_request(
        remittance_id=remittance.id, actor=actor, now=timezone.now(), **fields
    )


def _deltas(transfer_id, entry_id) -> dict[tuple[str, int], int]:
    return {
        (d.counterparty, d.account_id): d.amount
        for d in PositionDelta.objects.filter(transfer_id=transfer_id, entry_id=entry_id)
    }


# --- the flow --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_operations_ask_finance_approves_and_the_partner_sees_it_reversed(momo, client, acme, now):
    remittance = _completed(momo, client, acme, "ACME-REV-1", send_currency="UGX", amount=200_000)
    total = 200_000 + 3_000  # the demo UGX fee: 1.5 %
    ugx = prefund("acme-remit", "UGX")
    assert ugx.balance == UGX_PREFUND - total
    records = list(CommissionRecord.objects.order_by("id").values_list("id", "party", "amount"))
    assert sum(amount for _i, _p, amount in records) == 3_000
    assert house_total(AccountKind.MOMO_FLOAT, "UGX", "remittance") == 200_000

    ops = _signed_in("ops", [Role.LW_OPERATIONS], now)
    fin = _signed_in("fin", [Role.LW_FINANCE], now)
    both = _signed_in("both", [Role.LW_OPERATIONS, Role.LW_FINANCE], now)
    # found by the partner's own reference, its page offers the form
    found = ops.get(PAGES, {"q": f"acme-remit/{remittance.external_id}"})
    assert found.status_code == 302 and found["Location"] == f"{PAGES}{remittance.id}/"
    page = ops.get(f"{PAGES}{remittance.id}/").content.decode()
    assert 'data-testid="reversal-form"' in page and "COMPLETED" in page
    assert "256772555201" not in page and "Amina Nakato" not in page  # masked
    # a mistake comes back beside its field, nothing recorded
    bad = ops.post(
        f"{PAGES}{remittance.id}/reverse/",
        {"reason_code": "momo_recalled", "reason": "MTN recalled it from the wallet"},
    )
    assert bad.status_code == 422 and "Give MTN&#x27;s reference" in bad.content.decode()
    assert not RemittanceReversal.objects.exists()
    asked = both.post(
        f"{PAGES}{remittance.id}/reverse/",
        {
            "reason_code": "momo_recalled",
            "momo_reference": "MTN-RECALL-0001",
            "reason": "MTN recalled the payout on the sender's complaint",
        },
    )
    assert asked.status_code == 302, asked.content
    request = RemittanceReversal.objects.get()
    assert (request.state, request.requested_by) == ("PENDING", _actor("both"))
    # Nothing moved yet.
    remittance.refresh_from_db()
    assert remittance.state == "COMPLETED"
    assert prefund("acme-remit", "UGX").balance == UGX_PREFUND - total

    # The requester sees no approve button on their own request, and a forced one is refused
    # (they hold finance's role too); operations alone may not decide at all.
    assert _approve_buttons(both.get(PAGES).content.decode()) == []
    forced = both.post(f"{PAGES}reversals/{request.pk}/approve/", follow=True)
    assert "another person must approve" in forced.content.decode()
    assert ops.post(f"{PAGES}reversals/{request.pk}/approve/").status_code == 403
    assert ops.get(PAGES).status_code == 200
    request.refresh_from_db()
    assert request.state == "PENDING"

    assert _approve_buttons(fin.get(PAGES).content.decode()) == [str(remittance.id)]
    approved = fin.post(
        f"{PAGES}reversals/{request.pk}/approve/", {"back": f"{PAGES}{remittance.id}/"}
    )
    assert approved.status_code == 302 and approved["Location"] == f"{PAGES}{remittance.id}/"
    request.refresh_from_db()
    assert (request.state, request.decided_by) == ("APPROVED", _actor("fin"))

    # What the partner sees: the remittance and the event feed.
    seen = signed(client, acme, "GET", f"{API}/remittances/{remittance.id}").json()
    assert (seen["state"], seen["version"], seen["reason_code"]) == (
        "REVERSED",
        5,
        "momo_recalled",
    )
    partner_events_sequence()
    feed = signed(client, acme, "GET", f"{API}/events?after=0&limit=500").json()["events"]
    last = [e for e in feed if e["object_id"] == str(remittance.id)][-1]
    assert last["type"] == "remittance.status_changed"
    assert {k: last["data"][k] for k in ("state", "previous_state", "version", "reason_code")} == {
        "state": "REVERSED",
        "previous_state": "COMPLETED",
        "version": 5,
        "reason_code": "momo_recalled",
    }

    # The money: the prefund gets back exactly what it paid; the float and the fee splits
    # are undone; the commission records stay as written.
    ugx = prefund("acme-remit", "UGX")
    assert (ugx.balance, ugx.held) == (UGX_PREFUND, 0)
    moves = signed(client, acme, "GET", f"{API}/balances/UGX/movements?limit=2").json()
    assert {(m["type"], m["amount"], m["external_id"]) for m in moves["movements"]} == {
        ("REVERSAL", 200_000, "ACME-REV-1"),
        ("FEE", 3_000, "ACME-REV-1"),
    }
    assert house_total(AccountKind.MOMO_FLOAT, "UGX", "remittance") == 0
    assert house_total(AccountKind.FEE_REVENUE, "UGX") == 0
    assert house_total(AccountKind.COMMISSION_PAYABLE, "UGX", "mtn") == 0
    assert house_total(AccountKind.COMMISSION_PAYABLE, "UGX", "acme-remit") == 0
    assert (
        list(CommissionRecord.objects.order_by("id").values_list("id", "party", "amount"))
        == records
    )
    transfer = Transfer.objects.get(pk=remittance.transfer_id)
    assert transfer.status == "reversed"
    entry = JournalEntry.objects.get(pk=transfer.reversal_entry_id)
    assert (entry.kind, entry.reference) == (REVERSAL, str(transfer.id))
    original = {
        (p.account_id, p.leg): p.amount for p in Posting.objects.filter(entry_id=transfer.entry_id)
    }
    mirror = {(p.account_id, p.leg): p.amount for p in Posting.objects.filter(entry_id=entry.pk)}
    assert mirror == {key: -amount for key, amount in original.items()}

    # Settlement: the reversal's position deltas are the payout's, negated (MTN's float
    # and commission, the partner's prefund and commission), booked by the trigger.
    paid = _deltas(transfer.id, transfer.entry_id)
    assert paid and _deltas(transfer.id, entry.pk) == {k: -v for k, v in paid.items()}

    # Audited, each step with its actor; the ledger verifies.
    actions = dict(
        AuditRecord.objects.filter(object_type="remittance.reversal").values_list("action", "actor")
    )
    assert actions == {
        "remittance.reversal_requested": _actor("both"),
        "remittance.reversal_approved": _actor("fin"),
    }
    assert AuditRecord.objects.filter(action="transfer.reversed", object_id=str(transfer.id))
    result = ledger_verify()
    assert result.ok, result.problems

    # Approving again changes nothing; the page shows the end of the story.
    again = remittance_reversal_approve(
        reversal_id=request.pk, actor=_actor("fin"), now=timezone.now()
    )
    assert not again.changed
    assert JournalEntry.objects.filter(kind=REVERSAL).count() == 1
    page = fin.get(f"{PAGES}{remittance.id}/").content.decode()
    assert "REVERSED" in page and 'data-testid="reversal-form"' not in page
    assert page.count("<tr><td>") == 5  # the timeline: five states
    assert _approve_buttons(fin.get(PAGES).content.decode()) == []


@pytest.mark.django_db
def test_a_cross_currency_reversal_undoes_both_entries_each_in_its_currency(momo, client, acme):
    remittance = _completed(momo, client, acme, "ACME-REV-FX")
    assert remittance.fx_entry_id is not None
    assert house_total(AccountKind.FX_REVENUE, "UGX") == 3_700
    request = _ask(remittance, "staff:1", reason_code="paid_in_error", momo_reference="")
    decision = remittance_reversal_approve(
        reversal_id=request.pk, actor="staff:2", note="confirmed with MTN", now=timezone.now()
    )
    assert decision.changed and decision.reversal.decision_note == "confirmed with MTN"
    remittance.refresh_from_db()
    assert (remittance.state, remittance.version, remittance.reason_code) == (
        "REVERSED",
        5,
        "paid_in_error",
    )
    fx_rev = JournalEntry.objects.get(pk=remittance.fx_reversal_entry_id)
    assert (fx_rev.kind, fx_rev.posting_count) == (REVERSAL, 3)
    assert set(Posting.objects.filter(entry_id=fx_rev.pk).values_list("currency", flat=True)) == {
        "UGX"
    }
    usd = prefund("acme-remit", "USD")
    assert (usd.balance, usd.held) == (USD_PREFUND, 0)
    for kind, ccy, owner in (
        (AccountKind.FX_POSITION, "USD", ""),
        (AccountKind.FX_POSITION, "UGX", ""),
        (AccountKind.FX_REVENUE, "UGX", ""),
        (AccountKind.MOMO_FLOAT, "UGX", "remittance"),
        (AccountKind.FEE_REVENUE, "USD", ""),
        (AccountKind.COMMISSION_PAYABLE, "USD", "acme-remit"),
    ):
        assert house_total(kind, ccy, owner) == 0, (kind, ccy)
    result = ledger_verify()
    assert result.ok, result.problems


@pytest.mark.django_db
def test_only_a_completed_remittance_can_be_reversed(momo, client, acme, now):
    rid = _created(client, acme, "ACME-REV-NEW")
    remittance = Remittance.objects.get(pk=rid)
    with pytest.raises(NotReversible, match="only a COMPLETED remittance can be reversed"):
        _ask(remittance, "staff:1")
    ops = _signed_in("ops", [Role.LW_OPERATIONS], now)
    page = ops.get(f"{PAGES}{rid}/").content.decode()
    assert "CREATED" in page and 'data-testid="reversal-form"' not in page
    refused = ops.post(
        f"{PAGES}{rid}/reverse/",
        {
            "reason_code": "paid_in_error",
            "reason": "The partner says it was sent twice",
        },
    )
    assert refused.status_code == 422
    assert "only a COMPLETED remittance can be reversed: this one is CREATED" in (
        refused.content.decode()
    )
    # the database refuses it too
    with pytest.raises(DatabaseError, match="only a COMPLETED remittance"):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                "INSERT INTO remittances_reversal (remittance_id, reason_code, reason,"
                " momo_reference, state, requested_by, requested_at, decided_by,"
                " decision_note) VALUES (%s, 'paid_in_error', 'sent twice, says the partner',"
                " '', 'PENDING', 'staff:1', now(), '', '')",
                [rid],
            )
    # unknown ids: a clear answer, never a 500
    assert ops.get(f"{PAGES}?q=acme-remit/NO-SUCH").status_code == 404
    assert ops.get(f"{PAGES}00000000-0000-0000-0000-000000000001/").status_code == 302
    assert not RemittanceReversal.objects.exists()


@pytest.mark.django_db
def test_a_rejection_moves_nothing_and_one_request_waits_at_a_time(momo, client, acme):
    remittance = _completed(momo, client, acme, "ACME-REV-REJ", send_currency="UGX")
    request = _ask(remittance, "staff:1")
    with pytest.raises(ReversalPending):
        _ask(remittance, "staff:3")
    with pytest.raises(ValidationFailed):
        remittance_reversal_reject(
            reversal_id=request.pk, actor="staff:2", note="", now=timezone.now()
        )
    with pytest.raises(RequestRefused, match="another person"):
        remittance_reversal_reject(
            reversal_id=request.pk, actor="staff:1", note="changed my mind", now=timezone.now()
        )
    decision = remittance_reversal_reject(
        reversal_id=request.pk, actor="staff:2", note="MTN has not recalled it", now=timezone.now()
    )
    assert decision.changed and decision.reversal.state == "REJECTED"
    remittance.refresh_from_db()
    assert (remittance.state, remittance.version) == ("COMPLETED", 4)
    assert not JournalEntry.objects.filter(kind=REVERSAL).exists()
    with pytest.raises(ReversalDecided, match="already rejected"):
        remittance_reversal_approve(reversal_id=request.pk, actor="staff:2", now=timezone.now())
    # a new request may follow a decided one
    assert _ask(remittance, "staff:3").state == "PENDING"


def _refused(sql: str, params: list[object], *, immediate: bool = False) -> str:
    with pytest.raises(DatabaseError) as caught, transaction.atomic(), connection.cursor() as cur:
        if immediate:  # check the deferred rules now, not at a commit this test never makes
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.execute(sql, params)
    return str(caught.value)


@pytest.mark.django_db
def test_the_database_keeps_maker_checker(momo, client, acme):
    remittance = _completed(momo, client, acme, "ACME-REV-DB", send_currency="UGX")
    request = _ask(remittance, "staff:1")
    table = "UPDATE remittances_reversal SET "
    assert "another person must decide" in _refused(
        table + "state = 'APPROVED', decided_by = 'staff:1', decided_at = now() WHERE id = %s",
        [request.pk],
    )
    assert "(or by no one): another person must decide" in _refused(
        table + "state = 'REJECTED', decided_by = '', decided_at = now() WHERE id = %s",
        [request.pk],
    )
    # The runtime role may write the decision's columns only, and never delete (grants;
    # the owner meets the trigger: test_verify_catches_a_forged_reversal).
    for sql in (
        table + "reason = 'something else entirely' WHERE id = %s",
        "DELETE FROM remittances_reversal WHERE id = %s",
    ):
        assert "permission denied" in _refused(sql, [request.pk])
    # approved while the remittance is not reversed; reversed without an approval
    assert "is not REVERSED" in _refused(
        table + "state = 'APPROVED', decided_by = 'staff:2', decided_at = now() WHERE id = %s",
        [request.pk],
        immediate=True,
    )
    assert "without an approved reversal request" in _refused(
        "UPDATE remittances_remittance SET state = 'REVERSED', version = version + 1 WHERE id = %s",
        [remittance.id],
        immediate=True,
    )
    # a decided request is final
    remittance_reversal_reject(
        reversal_id=request.pk, actor="staff:2", note="not recalled after all", now=timezone.now()
    )
    assert "never changes again" in _refused(
        table + "decision_note = 'edited' WHERE id = %s", [request.pk]
    )


# --- races and forgeries (transactional: several connections) --------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_approvals_racing_reverse_once(momo, client, acme):
    remittance = _completed(momo, client, acme, "ACME-REV-RACE", send_currency="UGX")
    request = _ask(remittance, "staff:1")
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def approve(actor: str) -> None:
        try:
            barrier.wait()
            outcomes.append(
                remittance_reversal_approve(
                    reversal_id=request.pk, actor=actor, now=timezone.now()
                ).changed
            )
        except Exception as exc:  # reported by the assertion below
            outcomes.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=approve, args=(f"staff:{n}",)) for n in (2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes, key=str) == [False, True], outcomes
    assert JournalEntry.objects.filter(kind=REVERSAL).count() == 1
    remittance.refresh_from_db()
    assert (remittance.state, remittance.version) == ("REVERSED", 5)
    assert prefund("acme-remit", "UGX").balance == UGX_PREFUND
    result = ledger_verify()
    assert result.ok, result.problems


@pytest.mark.django_db(transaction=True)
def test_verify_catches_a_forged_reversal(momo, client, acme, owner_db):
    remittance = _completed(momo, client, acme, "ACME-REV-FORGE")
    request = _ask(remittance, "staff:1")
    # The owner (a superuser) is refused by the triggers while they are on.
    with pytest.raises(psycopg.Error, match="only its decision may be written"):
        owner_db.execute("UPDATE remittances_reversal SET reason = 'another story, longer'")
    remittance_reversal_approve(reversal_id=request.pk, actor="staff:2", now=timezone.now())
    remittance.refresh_from_db()
    transfer = Transfer.objects.get(pk=remittance.transfer_id)
    assert ledger_verify().ok, ledger_verify().problems
    for sql, message in (
        ("UPDATE remittances_reversal SET decision_note = 'edited'", "never changes again"),
        ("DELETE FROM remittances_reversal", "never deleted"),
        ("TRUNCATE remittances_reversal", "TRUNCATE refused"),
    ):
        with pytest.raises(psycopg.Error, match=message):
            owner_db.execute(sql)
    usd = prefund("acme-remit", "USD")
    owner_db.execute("SET session_replication_role = replica")
    # The reversal pays the prefund one cent more than it paid, taken from LightWay's fee
    # revenue: balanced, and the stored balance follows, but not the mirror.
    owner_db.execute(
        "UPDATE ledger_posting SET amount = amount + 1 WHERE entry_id = %s AND account_id = %s"
        " AND leg = 'principal'",
        [transfer.reversal_entry_id, usd.pk],
    )
    owner_db.execute(
        "UPDATE ledger_posting SET amount = amount - 1 WHERE entry_id = %s"
        " AND leg = 'fee:lightway'",
        [transfer.reversal_entry_id],
    )
    owner_db.execute("UPDATE ledger_account SET balance = balance + 1 WHERE id = %s", [usd.pk])
    result = ledger_verify()
    assert any(
        f"transfer {transfer.id} (reversal of remittance): entry {transfer.reversal_entry_id}" in p
        for p in result.problems
    ), result.problems
    # The UGX leg's mirror gives the MoMo float back one unit too few, into FX revenue.
    owner_db.execute(
        "UPDATE ledger_posting SET amount = amount + 1 WHERE entry_id = %s AND leg = 'principal'",
        [remittance.fx_reversal_entry_id],
    )
    owner_db.execute(
        "UPDATE ledger_posting SET amount = amount - 1 WHERE entry_id = %s AND leg = 'fx:spread'",
        [remittance.fx_reversal_entry_id],
    )
    result = ledger_verify()
    assert result.failed.get(
        "cross-currency remittances match their receive-currency entries, posting by posting"
    ), result.problems
    # And a remittance REVERSED whose approved request has gone (the maker-checker record).
    owner_db.execute("DELETE FROM remittances_reversal WHERE id = %s", [request.pk])
    result = ledger_verify()
    assert any("approved by a second person" in p for p in result.problems), result.problems
    owner_db.execute("SET session_replication_role = origin")
