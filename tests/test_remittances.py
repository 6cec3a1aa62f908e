"""Partner remittances over real HTTP (Django's test client through the API's middleware,
signed requests checked for real) with MoMo's simulator over HTTP: quote -> validate ->
create -> confirm -> MoMo payout -> final state, with the partner events, the prefund and
the ledger checked at each step (docs/partner-api.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from lightway.application.remittances.remittances import remittances_expire
from lightway.data.ledger.models import AccountKind, Hold, HoldStatus, JournalEntry
from lightway.data.ledger.verify import ledger_verify
from lightway.data.momo.models import MomoRequest
from lightway.data.partners.models import PartnerEvent
from lightway.data.remittances.models import Quote, Remittance
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


# --- idempotency and expiry (reference notes §4.1, §4.3) -----------------------------------


def test_same_body_replays_the_stored_result_and_another_body_is_a_409(momo, client, acme):
    q = quote(client, acme)
    body = remittance_body(q["id"], "ACME-IDEM-1")
    first = signed(client, acme, "POST", f"{API}/remittances", body, key="key-1")
    assert first.status_code == 201, first.content
    again = signed(client, acme, "POST", f"{API}/remittances", body, key="key-1")
    assert (again.status_code, again["Idempotent-Replayed"]) == (200, "true")
    assert again.json()["id"] == first.json()["id"]
    # the same external_id under a new key, same body: the same remittance
    same_ext = signed(client, acme, "POST", f"{API}/remittances", body, key="key-2")
    assert (same_ext.status_code, same_ext.json()["id"]) == (200, first.json()["id"])
    other = dict(body, note="changed")
    err = error(
        signed(client, acme, "POST", f"{API}/remittances", other, key="key-1"),
        409,
        "idempotency_conflict",
    )
    assert (err["category"], err["retryable"], err["details"]["remittance_id"]) == (
        "client",
        False,
        first.json()["id"],
    )
    q2 = quote(client, acme)
    reused_ext = remittance_body(q2["id"], "ACME-IDEM-1")
    error(
        signed(client, acme, "POST", f"{API}/remittances", reused_ext, key="key-3"),
        409,
        "idempotency_conflict",
    )
    assert Remittance.objects.count() == 1
    assert Quote.objects.get(pk=q2["id"]).state == "ACTIVE"  # nothing was used by the 409


def test_an_expired_quote_is_refused_and_an_earlier_create_still_replays(momo, client, acme):
    from lightway.application.remittances.quotes import QuoteRequest, quote_create

    real_now = timezone.now()
    fx_rate("USD", "UGX", "3700", 100, real_now - timedelta(hours=2))
    q = quote(client, acme)
    body = remittance_body(q["id"], "ACME-EXP-1")
    created = signed(client, acme, "POST", f"{API}/remittances", body, key="exp-1")
    assert created.status_code == 201
    # a quote made 31 minutes ago: past its 30-minute lock
    old, _ = quote_create(
        partner_id=acme.partner_id,
        ask=QuoteRequest("USD", "UGX", 10_000, "SEND"),
        now=real_now - timedelta(minutes=31),
    )
    err = error(create(client, acme, str(old.id), "ACME-EXP-2"), 409, "quote_expired")
    assert (err["path"], err["retryable"]) == ("quote_id", False)
    assert Quote.objects.get(pk=old.id).state == "EXPIRED"
    assert signed(client, acme, "GET", f"{API}/quotes/{old.id}").json()["state"] == "EXPIRED"
    # later the first quote expires too and the job expires its CREATED remittance ...
    assert remittances_expire(now=real_now + timedelta(minutes=31)) == 1
    # ... and the very same create still answers with the stored remittance
    replay = signed(client, acme, "POST", f"{API}/remittances", body, key="exp-1")
    assert (replay.status_code, replay.json()["id"], replay.json()["state"]) == (
        200,
        created.json()["id"],
        "EXPIRED",
    )
    error(confirm(client, acme, created.json()["id"]), 409, "remittance_not_confirmable")
    assert events(created.json()["id"])[-1] == ("CREATED", "EXPIRED", 2)


def test_a_quote_is_used_by_one_remittance_only(momo, client, acme):
    q = quote(client, acme)
    assert create(client, acme, q["id"], "ACME-ONE-1").status_code == 201
    error(create(client, acme, q["id"], "ACME-ONE-2"), 409, "quote_used")


# --- the prefund ---------------------------------------------------------------------------


def test_insufficient_prefund_is_refused_with_nothing_held_then_a_top_up_lets_it_go(
    momo, client, acme
):
    from tests.remit_support import prefund_top_up

    q = quote(client, acme, amount=USD_PREFUND)  # USD 10,000.00 + 2.99 fee: 299 short
    rem = create(client, acme, q["id"], "ACME-FUNDS-1").json()
    err = error(confirm(client, acme, rem["id"], key="c-1"), 422, "insufficient_funds")
    assert (err["category"], err["retryable"]) == ("payer", False)
    usd = prefund("acme-remit", "USD")
    assert (usd.balance, usd.held) == (USD_PREFUND, 0)
    assert get(client, acme, rem["id"])["state"] == "CREATED"
    assert not Hold.objects.filter(account_id=usd.pk).exists()
    error(confirm(client, acme, rem["id"], key="c-1"), 422, "insufficient_funds")  # replayed
    prefund_top_up("acme-remit", "USD", 299, timezone.now())
    ok = confirm(client, acme, rem["id"], key="c-2")
    assert (ok.status_code, ok.json()["state"]) == (201, "CONFIRMED")
    usd.refresh_from_db()
    assert (usd.balance, usd.held) == (USD_PREFUND + 299, USD_PREFUND + 299)
    again = confirm(client, acme, rem["id"], key="c-3")
    assert (again.status_code, again.json()["version"]) == (200, 2)
    assert ledger_verify().ok


def test_a_payout_failure_refunds_the_prefund_exactly_once(momo, client, acme):
    q = quote(client, acme)
    rem = create(client, acme, q["id"], "ACME-FAIL-1", msisdn="46733123450").json()  # PayeeFailed
    assert confirm(client, acme, rem["id"]).status_code == 201
    request = pay_out(momo, client, rem["id"])
    assert request.status == "failed"
    final = get(client, acme, rem["id"])
    assert (final["state"], final["reason_code"]) == ("FAILED", "internal_processing_error")
    usd = prefund("acme-remit", "USD")
    assert (usd.balance, usd.held) == (USD_PREFUND, 0)
    assert Hold.objects.get(pk=request.hold_id).status == HoldStatus.VOIDED
    # the callback again, and another status read: nothing more happens
    from lightway.application.momo import flows

    callback_path = f"/webhooks/momo/{request.reference_id}"
    client.post(
        callback_path,
        data={"referenceId": str(request.reference_id), "status": "FAILED"},
        content_type="application/json",
    )
    run_momo_jobs(timezone.now())
    flows.momo_poll(request_id=request.pk, now=timezone.now())
    usd.refresh_from_db()
    assert (usd.balance, usd.held) == (USD_PREFUND, 0)
    assert [e[1] for e in events(rem["id"])] == ["CREATED", "CONFIRMED", "SUBMITTED", "FAILED"]
    from lightway.data.remittances.models import PartnerDailyUsage

    assert PartnerDailyUsage.objects.get(partner_id=acme.partner_id, currency="USD").amount == 0
    assert not JournalEntry.objects.filter(reference=str(request.transfer_id)).exists()
    assert ledger_verify().ok


def test_a_timeout_at_mtn_leaves_it_submitted_until_a_status_read_decides(
    momo, client, acme, settings
):
    from lightway.application.momo import flows

    settings.MOMO_TIMEOUT_SECONDS = 1
    momo.clear_gateway_cache()
    q = quote(client, acme)
    rem = create(client, acme, q["id"], "ACME-TIMEOUT-1").json()
    assert confirm(client, acme, rem["id"]).status_code == 201
    request = MomoRequest.objects.get(transfer_id=Remittance.objects.get(pk=rem["id"]).transfer_id)
    momo.configure(slow_seconds=1.3)  # MoMo takes the payout but answers after our timeout
    assert flows.momo_submit(request_id=request.pk, now=timezone.now()) == "retry"
    momo.configure(slow_seconds=0)
    assert get(client, acme, rem["id"])["state"] == "SUBMITTED"
    error(
        signed(client, acme, "POST", f"{API}/remittances/{rem['id']}/cancel", {}),
        409,
        "remittance_not_cancellable",
    )
    # the retry (same X-Reference-Id) gets 409, reads the status and applies it
    wait_final(momo.sim, request.reference_id)
    later = timezone.now() + timedelta(minutes=1)
    assert flows.momo_submit(request_id=request.pk, now=later) == "final"
    assert get(client, acme, rem["id"])["state"] == "COMPLETED"
    assert (
        momo.sim.transactions()
        and sum(1 for t in momo.sim.transactions() if t["referenceId"] == str(request.reference_id))
        == 1
    )
    assert ledger_verify().ok


# --- cancel -------------------------------------------------------------------------------


def test_cancel_before_the_payout_is_sent_and_not_after(momo, client, acme):
    q1, q2, q3 = quote(client, acme), quote(client, acme), quote(client, acme)
    created = create(client, acme, q1["id"], "ACME-CANCEL-1").json()
    resp = signed(client, acme, "POST", f"{API}/remittances/{created['id']}/cancel", {})
    assert (resp.status_code, resp.json()["state"], resp.json()["reason_code"]) == (
        200,
        "CANCELLED",
        "cancelled",
    )
    again = signed(client, acme, "POST", f"{API}/remittances/{created['id']}/cancel", {})
    assert (again.status_code, again.json()["version"]) == (200, 2)
    error(confirm(client, acme, created["id"]), 409, "remittance_not_confirmable")

    confirmed = create(client, acme, q2["id"], "ACME-CANCEL-2").json()
    assert confirm(client, acme, confirmed["id"]).status_code == 201
    usd = prefund("acme-remit", "USD")
    assert usd.held == 10_299
    resp = signed(client, acme, "POST", f"{API}/remittances/{confirmed['id']}/cancel", {})
    assert (resp.status_code, resp.json()["state"]) == (200, "CANCELLED")
    usd.refresh_from_db()
    assert (usd.balance, usd.held) == (USD_PREFUND, 0)
    assert run_momo_jobs(timezone.now()) == [("momo_submit", "skipped")]  # never sent
    assert momo.sim.transactions() == []

    sent = create(client, acme, q3["id"], "ACME-CANCEL-3").json()
    assert confirm(client, acme, sent["id"]).status_code == 201
    run_momo_jobs(timezone.now())
    error(
        signed(client, acme, "POST", f"{API}/remittances/{sent['id']}/cancel", {}),
        409,
        "remittance_not_cancellable",
    )
    assert ledger_verify().ok


# --- partner status -------------------------------------------------------------------------


def test_suspended_partner_mid_flight(momo, client, acme):
    """Suspension stops everything new at once; a confirmed payout not yet sent to MoMo is
    not sent (CANCELLED, partner_suspended, prefund released); one MoMo already has is
    left to finish."""
    from lightway.application.momo import flows
    from lightway.application.remittances.partners import PartnerSuspended
    from lightway.application.remittances.quotes import QuoteRequest, quote_create

    qa, qb = quote(client, acme), quote(client, acme)
    a = create(client, acme, qa["id"], "ACME-SUSP-A").json()
    b = create(client, acme, qb["id"], "ACME-SUSP-B").json()
    assert confirm(client, acme, a["id"]).status_code == 201
    assert confirm(client, acme, b["id"]).status_code == 201
    request_a = MomoRequest.objects.get(transfer_id=Remittance.objects.get(pk=a["id"]).transfer_id)
    assert flows.momo_submit(request_id=request_a.pk, now=timezone.now()) == "accepted"
    from lightway.application.partners.onboarding import partner_status_set

    partner_status_set(
        partner_id=acme.partner_id,
        status="suspended",
        reason="compliance review of the partner",
        actor="staff:1",
        now=timezone.now(),
    )
    # the API refuses the suspended partner at once, saying why
    refused_api = signed(
        client,
        acme,
        "POST",
        f"{API}/quotes",
        {"send_currency": "USD", "receive_currency": "UGX", "amount": 1, "amount_type": "SEND"},
    )
    assert refused_api.status_code == 403
    assert refused_api.json()["error"]["code"] == "partner_suspended"
    with pytest.raises(PartnerSuspended) as refused:
        quote_create(
            partner_id=acme.partner_id,
            ask=QuoteRequest("USD", "UGX", 100, "SEND"),
            now=timezone.now(),
        )
    assert refused.value.code == "partner_suspended"
    run_momo_jobs(timezone.now())  # B's submit job: not sent
    wait_final(momo.sim, request_a.reference_id)
    settle(momo, client, timezone.now())
    states = {r.id: (r.state, r.reason_code) for r in Remittance.objects.all()}
    assert states[Remittance.objects.get(pk=a["id"]).id] == ("COMPLETED", "")
    assert states[Remittance.objects.get(pk=b["id"]).id] == ("CANCELLED", "partner_suspended")
    usd = prefund("acme-remit", "USD")
    assert (usd.balance, usd.held) == (USD_PREFUND - 10_299, 0)
    assert len(momo.sim.transactions()) == 1
    assert ledger_verify().ok


# --- beneficiaries ----------------------------------------------------------------------------


def test_beneficiary_not_found_is_refused_before_anything_is_paid(momo, client, acme):
    resp = signed(
        client,
        acme,
        "POST",
        f"{API}/beneficiary-validations",
        {"msisdn": "46733123450", "expected_name": "Amina Nakato", "receive_currency": "UGX"},
    )
    v = resp.json()
    assert (resp.status_code, v["account_status"], v["name_match"], v["masked_holder_name"]) == (
        201,
        "NOT_FOUND",
        "NOT_CHECKED",
        "",
    )
    q = quote(client, acme)
    err = error(
        create(
            client,
            acme,
            q["id"],
            "ACME-BNF-1",
            msisdn="46733123450",
            beneficiary_validation_id=v["id"],
        ),
        422,
        "beneficiary_not_found",
    )
    assert (err["category"], err["path"]) == ("payee", "beneficiary.msisdn")
    assert Quote.objects.get(pk=q["id"]).state == "ACTIVE"


def test_unavailable_lookup_is_never_a_match_and_a_wrong_name_is_no_match(momo, client, acme):
    resp = signed(
        client,
        acme,
        "POST",
        f"{API}/beneficiary-validations",
        {"msisdn": "46733123455", "expected_name": "Amina Nakato", "receive_currency": "UGX"},
    )
    assert (resp.json()["account_status"], resp.json()["name_match"]) == (
        "UNAVAILABLE",
        "NOT_CHECKED",
    )
    wrong = signed(
        client,
        acme,
        "POST",
        f"{API}/beneficiary-validations",
        {"msisdn": "256772555201", "expected_name": "Anna Nakato"},
    ).json()
    assert (wrong["account_status"], wrong["name_match"]) == ("ACTIVE", "NO_MATCH")
    q = quote(client, acme)
    body = remittance_body(q["id"], "ACME-NM-1", beneficiary_validation_id=wrong["id"])
    body["beneficiary"]["name"] = "Anna Nakato"
    error(
        signed(client, acme, "POST", f"{API}/remittances", body, key=new_key()),
        422,
        "beneficiary_name_mismatch",
    )


# --- reads ----------------------------------------------------------------------------------


def test_read_by_id_and_external_id_and_list_by_keyset(momo, client, acme):
    ids = []
    for n in range(5):
        q = quote(client, acme, amount=1_000 + n)
        ids.append(create(client, acme, q["id"], f"ACME-LIST-{n}").json()["id"])
    assert confirm(client, acme, ids[1]).status_code == 201
    by_ext = signed(client, acme, "GET", f"{API}/remittances/ext-ACME-LIST-3")
    assert (by_ext.status_code, by_ext.json()["id"]) == (200, ids[3])
    query = signed(client, acme, "GET", f"{API}/remittances?external_id=ACME-LIST-4").json()
    assert [r["id"] for r in query["items"]] == [ids[4]]
    error(signed(client, acme, "GET", f"{API}/remittances/ext-NOPE"), 404, "not_found")
    seen, cursor = [], None
    while True:
        target = f"{API}/remittances?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = signed(client, acme, "GET", target).json()
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # oldest change first: the confirmed one changed last
    assert seen == [ids[0], ids[2], ids[3], ids[4], ids[1]]
    confirmed = signed(client, acme, "GET", f"{API}/remittances?state=CONFIRMED").json()
    assert [r["id"] for r in confirmed["items"]] == [ids[1]]
    # another partner sees none of them
    other = remit_partner("other-imto", timezone.now(), prefund={"USD": 1})
    assert signed(client, other, "GET", f"{API}/remittances").json()["items"] == []
    error(signed(client, other, "GET", f"{API}/remittances/{ids[0]}"), 404, "not_found")
