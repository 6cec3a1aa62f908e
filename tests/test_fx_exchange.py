"""Customer quotes and the exchange between a customer's own wallets (docs/fx.md): the
payment skeleton's two-currency movement, single use of a quote under concurrency, expiry,
refusals recorded, limits per currency, ledger verify, and the API."""

from __future__ import annotations

import uuid
from datetime import timedelta

import psycopg
import pytest
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from lightway.application.errors import RequestRefused
from lightway.application.fx.exchange import exchange_create
from lightway.application.fx.quotes import fx_quote_create
from lightway.application.fx.rates import FxUnavailable
from lightway.data.audit.models import AuditRecord
from lightway.data.fx.models import FxQuote, QuoteState
from lightway.data.ledger.models import Account, JournalEntry, Posting
from lightway.data.ledger.verify import ledger_verify
from lightway.data.wallets.models import Transfer
from tests.concurrency import run_concurrently
from tests.fx_support import feed_rate, fx_customer, usd_limits


@pytest.fixture
def market(now):
    """USD/UGX at 3700 with 100 bp either side; USD limits for Ugandan customers."""
    usd_limits(now)
    return feed_rate("USD", "UGX", "3700", 100, now)


def _balance(wallet) -> int:
    return Account.objects.get(pk=wallet.account_id).balance


def _house(kind: str, code: str) -> int:
    account = Account.objects.filter(code=f"house:{kind}:{code}").first()
    if account is None:
        return 0
    return sum(Posting.objects.filter(account_id=account.pk).values_list("amount", flat=True))


@pytest.mark.django_db
def test_exchange_posts_one_entry_per_currency_through_the_position_accounts(market, now):
    alice, _, ugx, usd = fx_customer("alice", now)
    quote = fx_quote_create(
        customer_id=alice,
        send_currency="UGX",
        receive_currency="USD",
        amount=370_000,
        fixed="send",
        now=now,
    )
    # UGX -> USD buys USD at the ask, 3737 UGX: 370000 / 3737 = 99.0099.. -> 99.00 USD;
    # at mid 370000 / 3700 = 100.00 USD, so the spread is 1.00 USD.
    assert (quote.send_amount, quote.receive_amount, quote.spread_amount) == (370_000, 9_900, 100)
    assert quote.state == QuoteState.ACTIVE and quote.expires_at == now + timedelta(seconds=60)
    assert quote.rate_source == "regional" and quote.fx_rate_id == market.pk
    assert "rounded down" in quote.rounding

    outcome = exchange_create(
        client_id=alice, idempotency_key="x-1", quote_id=quote.id, now=now + timedelta(seconds=5)
    )
    t = outcome.transfer
    assert (t.kind, t.status, t.currency, t.amount, t.fee) == (
        "exchange",
        "succeeded",
        "UGX",
        370_000,
        0,
    )
    assert (t.source_wallet_id, t.destination_wallet_id) == (ugx.id, usd.id)
    assert _balance(ugx) == 1_000_000 - 370_000 and _balance(usd) == 9_900
    assert _house("fx_position", "UGX") == 370_000
    assert _house("fx_position", "USD") == -10_000
    assert _house("fx_revenue", "USD") == 100
    entries = JournalEntry.objects.filter(reference=str(t.id)).order_by("id")
    assert [(e.kind, e.idempotency_key) for e in entries] == [
        ("exchange", None),
        ("exchange", f"fx:{t.id}"),
    ]
    assert t.entry_id == entries[0].pk
    quote.refresh_from_db()
    assert (quote.state, quote.transfer_id) == (QuoteState.USED, t.id)
    audit = AuditRecord.objects.get(object_id=str(t.id), action="transfer.succeeded")
    assert audit.data["quote"] == str(quote.id) and audit.data["receive_amount"] == 9_900
    assert ledger_verify().ok, ledger_verify().problems

    # A retry with the same key replays the stored result and moves nothing.
    again = exchange_create(
        client_id=alice, idempotency_key="x-1", quote_id=quote.id, now=now + timedelta(seconds=9)
    )
    assert again.replayed and again.transfer.id == t.id
    assert _balance(usd) == 9_900


@pytest.mark.django_db
def test_a_quote_is_used_once_and_not_after_it_expires(market, now):
    alice, *_ = fx_customer("alice", now)
    first = fx_quote_create(
        customer_id=alice,
        send_currency="UGX",
        receive_currency="USD",
        amount=37_000,
        fixed="send",
        now=now,
    )
    exchange_create(client_id=alice, idempotency_key="a", quote_id=first.id, now=now)
    with pytest.raises(RequestRefused) as used:
        exchange_create(client_id=alice, idempotency_key="b", quote_id=first.id, now=now)
    assert used.value.code == "quote_used"

    late = fx_quote_create(
        customer_id=alice,
        send_currency="UGX",
        receive_currency="USD",
        amount=37_000,
        fixed="send",
        now=now,
    )
    with pytest.raises(RequestRefused) as expired:
        exchange_create(client_id=alice, idempotency_key="c", quote_id=late.id, now=late.expires_at)
    assert expired.value.code == "quote_expired"
    late.refresh_from_db()
    assert late.state == QuoteState.EXPIRED
    assert not Transfer.objects.filter(idempotency_key__in=["b", "c"]).exists()


@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_using_a_quote_late_twice_or_changing_its_price(market, now, owner_db):
    alice, *_ = fx_customer("alice", now)
    quote = fx_quote_create(
        customer_id=alice,
        send_currency="UGX",
        receive_currency="USD",
        amount=37_000,
        fixed="send",
        now=now,
    )
    rows = FxQuote.objects.filter(id=quote.id)
    with pytest.raises(IntegrityError, match="used after it expired"), transaction.atomic():
        rows.update(
            state="used", used_at=quote.expires_at + timedelta(seconds=1), transfer_id=uuid.uuid4()
        )
    # The application's role may not even try to change the price (column grants) ...
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        rows.update(receive_amount=quote.receive_amount + 1)
    # ... and the trigger refuses it to the owner too.
    cur = owner_db.cursor()
    with pytest.raises(psycopg.errors.RestrictViolation, match="price is fixed"):
        cur.execute(
            "UPDATE fx_quote SET receive_amount = receive_amount + 1 WHERE id = %s", [quote.id]
        )
    rows.update(state="expired")
    with pytest.raises(IntegrityError, match="never changes again"), transaction.atomic():
        rows.update(state="active")
    with pytest.raises(psycopg.errors.RestrictViolation, match="never deleted"):
        cur.execute("DELETE FROM fx_quote WHERE id = %s", [quote.id])


@pytest.mark.django_db
def test_a_refused_exchange_is_recorded_and_leaves_the_quote_usable(market, now):
    alice, _, ugx, usd = fx_customer("alice", now, ugx=10_000)
    quote = fx_quote_create(
        customer_id=alice,
        send_currency="UGX",
        receive_currency="USD",
        amount=37_000,
        fixed="send",
        now=now,
    )
    t = exchange_create(
        client_id=alice, idempotency_key="poor", quote_id=quote.id, now=now
    ).transfer
    assert (t.status, t.failure_code) == ("failed", "insufficient_funds")
    quote.refresh_from_db()
    assert quote.state == QuoteState.ACTIVE
    assert _balance(ugx) == 10_000 and _balance(usd) == 0
    assert ledger_verify().ok


@pytest.mark.django_db
def test_the_receiving_wallet_s_maximum_balance_is_checked_in_its_own_currency(now):
    usd_limits(now, max_balance=5_000)  # USD 50.00
    feed_rate("USD", "UGX", "3700", 100, now)
    alice, _, ugx, usd = fx_customer("alice", now)
    quote = fx_quote_create(
        customer_id=alice,
        send_currency="UGX",
        receive_currency="USD",
        amount=370_000,
        fixed="send",
        now=now,
    )
    t = exchange_create(client_id=alice, idempotency_key="big", quote_id=quote.id, now=now).transfer
    assert (t.status, t.failure_code) == ("failed", "limit_exceeded")
    assert "maximum balance" in t.failure_message
    quote.refresh_from_db()
    assert quote.state == QuoteState.ACTIVE  # the claim was rolled back with the movement
    assert _balance(ugx) == 1_000_000 and _balance(usd) == 0
    assert ledger_verify().ok


@pytest.mark.django_db
def test_without_usd_limits_exchanging_into_usd_is_refused_as_undefined(now):
    feed_rate("USD", "UGX", "3700", 100, now)
    alice, *_ = fx_customer("alice", now)
    quote = fx_quote_create(
        customer_id=alice,
        send_currency="UGX",
        receive_currency="USD",
        amount=37_000,
        fixed="send",
        now=now,
    )
    t = exchange_create(client_id=alice, idempotency_key="u", quote_id=quote.id, now=now).transfer
    assert (t.status, t.failure_code) == ("failed", "limit_exceeded")


@pytest.mark.django_db
def test_quoting_a_pair_without_a_rate_is_refused(now):
    alice, *_ = fx_customer("alice", now)
    with pytest.raises(FxUnavailable) as refused:
        fx_quote_create(
            customer_id=alice,
            send_currency="UGX",
            receive_currency="GHS",
            amount=1000,
            fixed="send",
            now=now,
        )
    assert refused.value.code == "fx_rate_unavailable"


@pytest.mark.django_db(transaction=True)
def test_racing_exchanges_on_one_quote_move_money_once(market, now):
    alice, _, ugx, usd = fx_customer("alice", now)
    quote = fx_quote_create(
        customer_id=alice,
        send_currency="UGX",
        receive_currency="USD",
        amount=37_000,
        fixed="send",
        now=now,
    )

    def attempt(key: str) -> str:
        try:
            out = exchange_create(client_id=alice, idempotency_key=key, quote_id=quote.id, now=now)
        except RequestRefused as exc:  # it saw the quote used before it started
            return exc.code
        return (
            out.transfer.status if out.transfer.status == "succeeded" else out.transfer.failure_code
        )

    results = run_concurrently(attempt, [(f"race-{i}",) for i in range(6)])
    assert sorted(results).count("succeeded") == 1, results
    assert set(results) <= {"succeeded", "quote_used"}
    assert _balance(usd) == quote.receive_amount
    assert _balance(ugx) == 1_000_000 - quote.send_amount
    assert Transfer.objects.filter(kind="exchange", status="succeeded").count() == 1
    assert ledger_verify().ok


@pytest.mark.django_db(transaction=True)
def test_exchanges_in_opposite_directions_do_not_deadlock(market, now):
    alice, *_ = fx_customer("alice", now, usd=100_000)
    quotes = []
    for i in range(4):
        send, receive = ("UGX", "USD") if i % 2 else ("USD", "UGX")
        quotes.append(
            fx_quote_create(
                customer_id=alice,
                send_currency=send,
                receive_currency=receive,
                amount=1_000 if send == "USD" else 37_000,
                fixed="send",
                now=now,
            )
        )

    def attempt(q) -> str:
        return exchange_create(
            client_id=alice, idempotency_key=f"dir-{q.id}", quote_id=q.id, now=now
        ).transfer.status

    assert run_concurrently(attempt, [(q,) for q in quotes]) == ["succeeded"] * 4
    assert ledger_verify().ok


# --- ledger verify: a forged exchange is caught ----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_ledger_verify_catches_a_forged_exchange(market, now, owner_db):
    alice, _, _, usd = fx_customer("alice", now)
    quote = fx_quote_create(
        customer_id=alice,
        send_currency="UGX",
        receive_currency="USD",
        amount=370_000,
        fixed="send",
        now=now,
    )
    t = exchange_create(client_id=alice, idempotency_key="f", quote_id=quote.id, now=now).transfer
    assert ledger_verify().ok
    receive = JournalEntry.objects.get(idempotency_key=f"fx:{t.id}")
    with owner_db.transaction():
        cur = owner_db.cursor()
        cur.execute("SET LOCAL session_replication_role = replica")
        # 1 USD more to the wallet, taken from the position account: balanced, and the
        # wallet's stored balance agrees, but the quote never priced it.
        cur.execute(
            "UPDATE ledger_posting SET amount = amount + 100"
            " WHERE entry_id = %s AND account_id = %s",
            [receive.pk, usd.account_id],
        )
        cur.execute(
            "UPDATE ledger_posting SET amount = amount - 100 WHERE entry_id = %s AND leg = 'fx'",
            [receive.pk],
        )
        cur.execute(
            "UPDATE ledger_account SET balance = balance + 100 WHERE id = %s", [usd.account_id]
        )
    result = ledger_verify()
    assert "transfers whose money moved match their entries, posting by posting" in result.failed
    assert any(str(t.id) in p and "does not call for" in p for p in result.problems), (
        result.problems
    )


@pytest.mark.django_db(transaction=True)
def test_ledger_verify_catches_an_exchange_without_its_receive_entry_or_quote(
    market, now, owner_db
):
    alice, *_ = fx_customer("alice", now)
    quote = fx_quote_create(
        customer_id=alice,
        send_currency="UGX",
        receive_currency="USD",
        amount=37_000,
        fixed="send",
        now=now,
    )
    t = exchange_create(client_id=alice, idempotency_key="g", quote_id=quote.id, now=now).transfer
    with owner_db.transaction():
        cur = owner_db.cursor()
        cur.execute("SET LOCAL session_replication_role = replica")
        cur.execute(
            "UPDATE fx_quote SET transfer_id = NULL, state = 'active', used_at = NULL"
            " WHERE id = %s",
            [quote.id],
        )
    result = ledger_verify()
    assert any(
        f"transfer {t.id} (exchange, succeeded): no FX quote was used for it" in p
        for p in result.problems
    ), result.problems


# --- the API ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_quote_and_exchange_over_the_api(now, client):
    usd_limits(now)
    feed_rate("USD", "UGX", "3700", 100, timezone.now())  # the API reads the real clock
    _, token, *_ = fx_customer("alice", now)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    quoted = client.post(
        "/api/v1/fx/quotes",
        {"send_currency": "UGX", "receive_currency": "USD", "amount": 10_000, "fixed": "receive"},
        content_type="application/json",
        **auth,
    )
    assert quoted.status_code == 201, quoted.content
    body = quoted.json()
    # 100.00 USD fixed: 10000 cents * 37.37 UGX per cent -> 373700 UGX, rounded up
    assert (body["receive_amount"], body["send_amount"], body["fixed"]) == (
        10_000,
        373_700,
        "receive",
    )
    assert body["state"] == "active" and body["rate_source"] == "regional"

    def exchange(key: str):
        return client.post(
            "/api/v1/wallets/exchange",
            {"quote_id": body["id"]},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=key,
            **auth,
        )

    done = exchange("api-1")
    assert done.status_code == 201, done.content
    out = done.json()
    assert (out["kind"], out["status"], out["receive_amount"]) == ("exchange", "succeeded", 10_000)
    replay = exchange("api-1")
    assert replay.status_code == 200 and replay["Idempotent-Replayed"] == "true"
    reused = exchange("api-2")
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "quote_used"
    unknown = client.post(
        "/api/v1/wallets/exchange",
        {"quote_id": str(uuid.uuid4())},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="api-3",
        **auth,
    )
    assert unknown.status_code == 404
    stopped = client.post(
        "/api/v1/fx/quotes",
        {"send_currency": "GHS", "receive_currency": "RWF", "amount": 100},
        content_type="application/json",
        **auth,
    )
    assert stopped.status_code == 503 and stopped.json()["error"]["code"] == "fx_rate_unavailable"
    same = client.post(
        "/api/v1/fx/quotes",
        {"send_currency": "UGX", "receive_currency": "UGX", "amount": 100},
        content_type="application/json",
        **auth,
    )
    assert same.status_code == 422 and same.json()["error"]["code"] == "same_currency"
