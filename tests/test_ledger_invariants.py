"""Every database-enforced ledger invariant, each proven by an attempt to break it."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from lightway.data.ledger.errors import HoldNotActive, InsufficientFunds, UnbalancedEntry
from lightway.data.ledger.kinds import OPENING_BALANCE
from lightway.data.ledger.models import Account, AccountKind, Hold, JournalEntry, Posting
from lightway.data.ledger.selectors import account_balance, account_statement
from lightway.data.ledger.services import (
    Leg,
    account_open,
    entry_post,
    hold_commit,
    hold_place,
    hold_void,
    holds_expire,
    house_account,
)
from lightway.data.ledger.verify import ledger_verify

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts(now):
    equity = house_account(kind=AccountKind.EQUITY, currency="UGX", now=now)
    a = account_open(code="wallet:a", kind=AccountKind.WALLET, currency="UGX", now=now)
    b = account_open(code="wallet:b", kind=AccountKind.WALLET, currency="UGX", now=now)
    entry_post(
        kind=OPENING_BALANCE, currency="UGX", legs=[Leg(equity.pk, -1000), Leg(a.pk, 1000)], now=now
    )
    return equity, a, b


# The raw entries and holds these tests make belong to no transfer: verify names them and,
# since the ledger itself is sound, nothing else.
ORPHANS = "every journal entry belongs to a transfer, a committed hold or a standalone kind"
HOLDS = "holds agree with their entries and transfers"


def _sql(sql, params=()):
    with transaction.atomic(), connection.cursor() as cur:
        # run the test's pending deferred checks first (TRUNCATE/ALTER refuse to run after them)
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.execute(sql, params)


def _as_owner(owner: psycopg.Connection, sql: str, params=(), *, triggers: bool = True) -> None:
    """Run ``sql`` in one transaction on the owner's connection (``owner_db``), optionally as
    an attacker with superuser rights who switched triggers off."""
    with owner.transaction():
        if not triggers:
            owner.execute("SET LOCAL session_replication_role = replica")
        owner.execute(sql, list(params))


def test_balances_follow_postings(accounts, now):
    equity, a, b = accounts
    entry_post(kind="t", currency="UGX", legs=[Leg(a.pk, -300), Leg(b.pk, 300)], now=now)
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.balance, b.balance) == (700, 300)
    # equity is derived: no stored balance, sum of postings
    equity.refresh_from_db()
    assert equity.balance == 0
    assert account_balance(account=equity) == -1000
    result = ledger_verify()
    assert set(result.failed) == {ORPHANS}
    assert all("(t, reference '')" in p for p in result.problems)


def test_unbalanced_entry_refused_by_database(accounts, now):
    _, a, b = accounts
    with pytest.raises(IntegrityError, match="does not balance"):
        with transaction.atomic():
            entry = JournalEntry.objects.create(kind="x", posting_count=2, created_at=now)
            Posting.objects.bulk_create(
                [
                    Posting(entry=entry, account=a, currency="UGX", amount=-5, created_at=now),
                    Posting(entry=entry, account=b, currency="UGX", amount=4, created_at=now),
                ]
            )


def test_entry_with_missing_postings_refused(accounts, now):
    _, a, _ = accounts
    with pytest.raises(IntegrityError, match="has 1 postings, declared 2"):
        with transaction.atomic():
            entry = JournalEntry.objects.create(kind="x", posting_count=2, created_at=now)
            Posting.objects.create(entry=entry, account=a, currency="UGX", amount=5, created_at=now)
            _sql("SET CONSTRAINTS ALL IMMEDIATE")


def test_postings_cannot_be_added_to_an_old_entry(accounts, now):
    _, a, b = accounts
    entry = entry_post(kind="t", currency="UGX", legs=[Leg(a.pk, -1), Leg(b.pk, 1)], now=now)
    with pytest.raises(IntegrityError, match="has 4 postings, declared 2"):
        with transaction.atomic():  # a balanced pair, still refused
            Posting.objects.bulk_create(
                [
                    Posting(entry=entry, account=a, currency="UGX", amount=-1, created_at=now),
                    Posting(entry=entry, account=b, currency="UGX", amount=1, created_at=now),
                ]
            )


def test_postings_of_an_entry_arrive_in_one_statement(accounts, now):
    _, a, b = accounts
    with pytest.raises(IntegrityError, match="has 1 postings, declared 2"):
        with transaction.atomic():
            entry = JournalEntry.objects.create(kind="x", posting_count=2, created_at=now)
            Posting.objects.create(
                entry=entry, account=a, currency="UGX", amount=-5, created_at=now
            )
            Posting.objects.create(entry=entry, account=b, currency="UGX", amount=5, created_at=now)


def test_service_rejects_unbalanced_legs_before_the_database(accounts, now):
    _, a, b = accounts
    with pytest.raises(UnbalancedEntry), transaction.atomic():
        entry_post(kind="t", currency="UGX", legs=[Leg(a.pk, -1), Leg(b.pk, 2)], now=now)


def test_posting_currency_must_match_account(accounts, now):
    _, a, _ = accounts
    ghs = account_open(code="wallet:g", kind=AccountKind.WALLET, currency="GHS", now=now)
    with pytest.raises(IntegrityError, match=r"posting in UGX to account .* which holds GHS"):
        with transaction.atomic():
            entry = JournalEntry.objects.create(kind="x", posting_count=2, created_at=now)
            Posting.objects.bulk_create(
                [
                    Posting(entry=entry, account=a, currency="UGX", amount=-5, created_at=now),
                    Posting(entry=entry, account=ghs, currency="UGX", amount=5, created_at=now),
                ]
            )


def test_posting_to_an_unknown_account_is_refused(accounts, now):
    _, a, _ = accounts
    with pytest.raises(IntegrityError, match="does not exist"):
        with transaction.atomic():
            entry = JournalEntry.objects.create(kind="x", posting_count=2, created_at=now)
            Posting.objects.bulk_create(
                [
                    Posting(entry=entry, account=a, currency="UGX", amount=-5, created_at=now),
                    Posting(
                        entry=entry, account_id=10**12, currency="UGX", amount=5, created_at=now
                    ),
                ]
            )


def test_account_identity_is_fixed(accounts):
    _, a, _ = accounts
    with pytest.raises(DatabaseError, match="fixed"):
        _sql("UPDATE ledger_account SET currency = 'GHS' WHERE id = %s", [a.pk])
    with pytest.raises(DatabaseError, match="fixed"):
        _sql("UPDATE ledger_account SET id = id + 1000000 WHERE id = %s", [a.pk])


def test_no_overdraft_on_accounts_that_may_not_go_negative(accounts, now):
    _, a, b = accounts
    with pytest.raises(InsufficientFunds), transaction.atomic():
        entry_post(kind="t", currency="UGX", legs=[Leg(a.pk, -1001), Leg(b.pk, 1001)], now=now)
    # and by raw SQL, bypassing the service
    with pytest.raises(IntegrityError, match="ledger_account_no_overdraft"):
        with transaction.atomic():
            entry = JournalEntry.objects.create(kind="x", posting_count=2, created_at=now)
            Posting.objects.bulk_create(
                [
                    Posting(entry=entry, account=a, currency="UGX", amount=-2000, created_at=now),
                    Posting(entry=entry, account=b, currency="UGX", amount=2000, created_at=now),
                ]
            )
    a.refresh_from_db()
    assert a.balance == 1000


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ledger_posting SET amount = amount + 1",
        "DELETE FROM ledger_posting",
        "UPDATE ledger_journal_entry SET kind = 'edited'",
        "DELETE FROM ledger_journal_entry",
        "TRUNCATE ledger_posting CASCADE",
        "TRUNCATE ledger_journal_entry CASCADE",
    ],
)
def test_entries_and_postings_are_append_only(accounts, owner_db, sql):
    # The application's role may not even try (tests/test_db_roles.py); the owner may, and
    # the triggers refuse.
    with pytest.raises(DatabaseError, match="permission denied"):
        _sql(sql)
    with pytest.raises(psycopg.Error, match="append-only"):
        _as_owner(owner_db, sql)


def test_stored_balance_cannot_be_edited_directly(accounts, owner_db):
    _, a, _ = accounts
    with pytest.raises(DatabaseError, match="only change through postings"):
        _sql("UPDATE ledger_account SET balance = balance + 1000000 WHERE id = %s", [a.pk])
    with pytest.raises(DatabaseError, match="permission denied"):
        _sql("DELETE FROM ledger_account WHERE id = %s", [a.pk])
    with pytest.raises(psycopg.Error, match="never deleted"):
        _as_owner(owner_db, "DELETE FROM ledger_account WHERE id = %s", [a.pk])


def test_new_account_cannot_start_with_a_balance(now):
    with pytest.raises(DatabaseError, match="starts at zero"):
        with transaction.atomic():
            Account.objects.create(
                code="w:x", kind=AccountKind.WALLET, currency="UGX", balance=5, created_at=now
            )


def test_idempotency_keys_are_unique(accounts, now):
    _, a, b = accounts
    entry_post(
        kind="t", currency="UGX", legs=[Leg(a.pk, -1), Leg(b.pk, 1)], idempotency_key="k1", now=now
    )
    with pytest.raises(IntegrityError, match="idempotency_key"):
        with transaction.atomic():
            entry_post(
                kind="t",
                currency="UGX",
                legs=[Leg(a.pk, -1), Leg(b.pk, 1)],
                idempotency_key="k1",
                now=now,
            )


def test_postings_to_a_closed_account_are_refused(accounts, now):
    _, a, b = accounts
    Account.objects.filter(pk=b.pk).update(status="closed")
    with pytest.raises(Exception, match="closed"), transaction.atomic():
        entry_post(kind="t", currency="UGX", legs=[Leg(a.pk, -1), Leg(b.pk, 1)], now=now)


def test_hold_reserves_then_commit_spends(accounts, now):
    _equity, a, b = accounts
    hold = hold_place(account_id=a.pk, amount=600, now=now, expires_at=now + timedelta(minutes=5))
    a.refresh_from_db()
    assert (a.balance, a.held) == (1000, 600)
    with pytest.raises(InsufficientFunds), transaction.atomic():  # only 400 available
        entry_post(kind="t", currency="UGX", legs=[Leg(a.pk, -500), Leg(b.pk, 500)], now=now)
    with pytest.raises(InsufficientFunds):
        hold_place(account_id=a.pk, amount=401, now=now, expires_at=now + timedelta(minutes=5))
    entry = hold_commit(
        hold_id=hold.pk, kind="w", currency="UGX", legs=[Leg(a.pk, -600), Leg(b.pk, 600)], now=now
    )
    a.refresh_from_db()
    hold.refresh_from_db()
    assert (a.balance, a.held, hold.status, hold.entry_id) == (400, 0, "committed", entry.pk)
    with pytest.raises(HoldNotActive):
        hold_void(hold_id=hold.pk, now=now)
    assert ledger_verify().failed == {HOLDS: 1}  # a hold of no MoMo request


def test_hold_void_and_expiry_release_funds(accounts, now):
    _, a, _ = accounts
    h1 = hold_place(account_id=a.pk, amount=100, now=now, expires_at=now + timedelta(minutes=1))
    h2 = hold_place(account_id=a.pk, amount=200, now=now, expires_at=now + timedelta(hours=1))
    hold_void(hold_id=h1.pk, now=now)
    assert holds_expire(now=now + timedelta(minutes=30)) == 0
    assert holds_expire(now=now + timedelta(hours=2)) == 1
    a.refresh_from_db()
    assert a.held == 0
    assert Hold.objects.get(pk=h2.pk).status == "expired"


def test_hold_transitions_are_enforced_by_database(accounts, now, owner_db):
    _, a, _ = accounts
    hold = hold_place(account_id=a.pk, amount=100, now=now, expires_at=now + timedelta(minutes=1))
    with pytest.raises(DatabaseError, match="only status may change"):
        _sql("UPDATE ledger_hold SET amount = 1 WHERE id = %s", [hold.pk])
    hold_void(hold_id=hold.pk, now=now)
    with pytest.raises(DatabaseError, match="already voided"):
        _sql(
            "UPDATE ledger_hold SET status = 'active', resolved_at = NULL WHERE id = %s", [hold.pk]
        )
    with pytest.raises(DatabaseError, match="permission denied"):
        _sql("DELETE FROM ledger_hold WHERE id = %s", [hold.pk])
    with pytest.raises(psycopg.Error, match="never deleted"):
        _as_owner(owner_db, "DELETE FROM ledger_hold WHERE id = %s", [hold.pk])


def test_statement_pages_with_running_balance(accounts, now):
    _, a, b = accounts
    for i in range(5):
        entry_post(kind="t", currency="UGX", legs=[Leg(a.pk, -(i + 1)), Leg(b.pk, i + 1)], now=now)
    a.refresh_from_db()
    page1 = account_statement(account=a, limit=3)
    assert [line.amount for line in page1] == [-5, -4, -3]
    assert page1[0].balance_after == a.balance == 1000 - 15
    page2 = account_statement(account=a, before_id=page1[-1].posting_id, limit=3)
    assert [line.amount for line in page2] == [-2, -1, 1000]
    assert page2[-1].balance_after == 1000
    assert page2[0].balance_after == page1[-1].balance_after - page1[-1].amount


def test_verify_names_what_is_wrong(accounts, now, owner_db):
    _, a, _ = accounts
    # An attacker with superuser rights bypasses the triggers and edits a balance.
    _as_owner(
        owner_db, "UPDATE ledger_account SET balance = 5 WHERE id = %s", [a.pk], triggers=False
    )
    result = ledger_verify()
    assert not result.ok
    assert any("wallet:a" in p and "stored balance 5" in p for p in result.problems)


def test_verify_reports_a_disabled_trigger(accounts, owner_db):
    _as_owner(owner_db, "ALTER TABLE ledger_posting DISABLE TRIGGER ledger_posting_apply")
    try:
        result = ledger_verify()
    finally:
        _as_owner(owner_db, "ALTER TABLE ledger_posting ENABLE TRIGGER ledger_posting_apply")
    assert any("ledger_posting_apply" in p and "disabled" in p for p in result.problems)
