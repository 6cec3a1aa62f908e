"""What the database enforces on transfers, wallets, accounts and holds beyond the entry
rules (each test tries to break one rule with SQL that bypasses the services)."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import psycopg
import pytest
from django.db import DatabaseError, IntegrityError, connection, connections, transaction

from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.data.audit.models import AuditRecord
from lightway.data.ledger.errors import AccountNotActive, HoldNotActive, LedgerError
from lightway.data.ledger.models import Account, AccountKind, Hold, JournalEntry
from lightway.data.ledger.selectors import account_statement
from lightway.data.ledger.services import (
    Leg,
    account_open,
    entry_post,
    hold_commit,
    hold_place,
    house_account_id,
)
from lightway.data.ledger.verify import ledger_verify
from tests.factories import customer, funded_wallet

pytestmark = pytest.mark.django_db


def _sql(sql, params=()):
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.execute(sql, params)


def _as_owner(owner: psycopg.Connection, sql: str, params=(), *, triggers: bool = True) -> None:
    """Run ``sql`` in one transaction on the owner's connection (``owner_db``), optionally as
    an attacker with superuser rights who switched triggers off."""
    with owner.transaction():
        if not triggers:
            owner.execute("SET LOCAL session_replication_role = replica")
        owner.execute(sql, list(params))


@pytest.fixture
def paid(now):
    a_id, _ = customer("alice", now)
    b_id, _ = customer("bob", now)
    wa = funded_wallet(a_id, "UGX", 100_000, now)
    wb = funded_wallet(b_id, "UGX", 0, now)
    out = transfer_create(
        client_id=a_id,
        idempotency_key="k",
        request=TransferRequest(wa.id, wb.id, 1_000, "UGX", "rent"),
        now=now,
    )
    assert out.transfer.status == "succeeded"
    return out.transfer, wa, wb


@pytest.mark.parametrize(
    "change",
    [
        "amount = amount + 1",
        "fee = fee + 1",
        "currency = 'GHS'",
        "description = 'edited'",
        "created_at = created_at - interval '1 day'",
        "destination_wallet_id = source_wallet_id",
    ],
)
def test_transfer_facts_are_fixed(paid, change):
    t, _, _ = paid
    with pytest.raises(DatabaseError, match="are fixed"):
        _sql(f"UPDATE wallets_transfer SET {change} WHERE id = %s", [t.id])


def test_transfer_entry_is_set_once_and_must_be_its_own(paid, now):
    t, wa, wb = paid
    own = entry_post(
        kind="t",
        currency="UGX",
        legs=[Leg(wa.account_id, -1), Leg(wb.account_id, 1)],
        reference=str(t.id),  # even an entry posted for this transfer
        now=now,
    )
    with pytest.raises(DatabaseError, match="set once"):
        _sql("UPDATE wallets_transfer SET entry_id = %s WHERE id = %s", [own.pk, t.id])
    # a succeeded transfer cannot be forged onto an entry posted for something else
    other = entry_post(
        kind="t",
        currency="UGX",
        legs=[Leg(wa.account_id, -1), Leg(wb.account_id, 1)],
        reference="something-else",
        now=now,
    )
    forged = uuid.uuid4()
    with pytest.raises(DatabaseError, match="was not posted for it"):
        _sql(
            "INSERT INTO wallets_transfer (id, kind, status, client_id, idempotency_key,"
            " request_hash, source_wallet_id, destination_wallet_id, currency, amount, fee,"
            " description, entry_id, failure_code, failure_message, created_at, updated_at)"
            " VALUES (%s, 'p2p', 'succeeded', %s, 'forged', 'x', %s, %s, 'UGX', 999999, 0, '',"
            " %s, '', '', now(), now())",
            [forged, t.client_id, wa.id, wb.id, other.pk],
        )


def test_reversal_needs_its_entry_and_terminal_states_are_final(paid):
    t, _, _ = paid
    with pytest.raises(IntegrityError, match="transfer_reversed_has_reversal_entry"):
        _sql("UPDATE wallets_transfer SET status = 'reversed' WHERE id = %s", [t.id])
    with pytest.raises(DatabaseError, match="not an allowed transition"):
        _sql(
            "UPDATE wallets_transfer SET status = 'failed', failure_code = 'x' WHERE id = %s",
            [t.id],
        )


def test_failed_transfer_never_changes(now):
    a_id, _ = customer("alice", now)
    b_id, _ = customer("bob", now)
    wa = funded_wallet(a_id, "UGX", 10, now)
    wb = funded_wallet(b_id, "UGX", 0, now)
    t = transfer_create(
        client_id=a_id,
        idempotency_key="f",
        request=TransferRequest(wa.id, wb.id, 500, "UGX"),
        now=now,
    ).transfer
    assert t.status == "failed"
    with pytest.raises(DatabaseError, match="never changes again"):
        _sql("UPDATE wallets_transfer SET failure_message = 'other' WHERE id = %s", [t.id])


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM wallets_transfer",
        "TRUNCATE wallets_transfer CASCADE",
        "DELETE FROM wallets_wallet",
        "TRUNCATE wallets_wallet CASCADE",
        "TRUNCATE ledger_account CASCADE",
        "TRUNCATE ledger_hold CASCADE",
    ],
)
def test_nothing_is_deleted_or_truncated(paid, owner_db, sql):
    # The application's role may not even try (tests/test_db_roles.py); the owner may, and
    # the triggers refuse.
    with pytest.raises(DatabaseError, match="permission denied"):
        _sql(sql)
    with pytest.raises(psycopg.Error, match=r"never|refused"):
        _as_owner(owner_db, sql)


def test_wallet_owner_and_account_are_fixed(paid):
    _, wa, wb = paid
    with pytest.raises(DatabaseError, match="fixed"):
        _sql("UPDATE wallets_wallet SET owner_id = %s WHERE id = %s", [wb.owner_id, wa.id])


@pytest.mark.parametrize(
    "change",
    ["allow_negative = true", "kind = 'fee_revenue'", "owner_ref = 'user:999'", "code = 'x'"],
)
def test_account_policy_is_fixed(paid, change):
    _, wa, _ = paid
    with pytest.raises(DatabaseError, match="fixed"):
        _sql(f"UPDATE ledger_account SET {change} WHERE id = %s", [wa.account_id])


def test_customer_accounts_cannot_be_created_overdraftable(now):
    with pytest.raises(IntegrityError, match="ledger_account_customer_policy"):
        with transaction.atomic():
            Account.objects.create(
                code="wallet:evil",
                kind=AccountKind.WALLET,
                currency="UGX",
                derived_balance=True,
                created_at=now,
            )


def test_closed_is_final(paid):
    _, wa, _ = paid
    _sql("UPDATE ledger_account SET status = 'closed' WHERE id = %s", [wa.account_id])
    with pytest.raises(DatabaseError, match="closed for good"):
        _sql("UPDATE ledger_account SET status = 'active' WHERE id = %s", [wa.account_id])


def test_frozen_account_neither_sends_nor_receives(paid, now):
    _, wa, wb = paid
    Account.objects.filter(pk=wa.account_id).update(status="frozen")
    for legs in (
        [Leg(wa.account_id, -1), Leg(wb.account_id, 1)],
        [Leg(wb.account_id, -1), Leg(wa.account_id, 1)],
    ):
        with pytest.raises(AccountNotActive, match="frozen"), transaction.atomic():
            entry_post(kind="t", currency="UGX", legs=legs, now=now)
    with pytest.raises(AccountNotActive):
        hold_place(
            account_id=wa.account_id, amount=1, now=now, expires_at=now + timedelta(minutes=1)
        )


@pytest.mark.django_db(transaction=True)
def test_freeze_racing_a_transfer_wins(now):
    """Staff freeze the sender while a transfer is between its (unlocked) read and its
    posting: the database refuses the debit, so nothing leaves a frozen wallet."""
    a_id, _ = customer("alice", now)
    b_id, _ = customer("bob", now)
    wa = funded_wallet(a_id, "UGX", 10_000, now)
    wb = funded_wallet(b_id, "UGX", 0, now)
    locked = threading.Event()

    def staff():
        try:
            with transaction.atomic():
                list(Account.objects.select_for_update().filter(pk=wa.account_id))
                Account.objects.filter(pk=wa.account_id).update(status="frozen")
                locked.set()
                time.sleep(0.5)
        finally:
            connections.close_all()

    thread = threading.Thread(target=staff)
    thread.start()
    locked.wait(5)
    out = transfer_create(
        client_id=a_id,
        idempotency_key="race",
        request=TransferRequest(wa.id, wb.id, 100, "UGX"),
        now=now,
    )
    thread.join()
    assert (out.transfer.status, out.transfer.failure_code) == ("failed", "account_not_active")
    assert Account.objects.get(pk=wa.account_id).balance == 10_000
    connection.close()


def test_hold_rules(paid, now):
    _, wa, wb = paid
    soon = now + timedelta(minutes=5)
    hold = hold_place(account_id=wa.account_id, amount=500, now=now, expires_at=soon)
    with pytest.raises(DatabaseError, match="only status may change"):
        _sql(
            "UPDATE ledger_hold SET expires_at = expires_at + interval '1 day' WHERE id = %s",
            [hold.pk],
        )
    with pytest.raises(LedgerError, match="must debit exactly"):
        hold_commit(
            hold_id=hold.pk,
            kind="w",
            currency="UGX",
            legs=[Leg(wa.account_id, -400), Leg(wb.account_id, 400)],
            now=now,
        )
    with pytest.raises(HoldNotActive, match="expired"):
        hold_commit(
            hold_id=hold.pk,
            kind="w",
            currency="UGX",
            legs=[Leg(wa.account_id, -500), Leg(wb.account_id, 500)],
            now=soon,
        )
    entry = hold_commit(
        hold_id=hold.pk,
        kind="w",
        currency="UGX",
        legs=[Leg(wa.account_id, -500), Leg(wb.account_id, 500)],
        now=now,
    )
    assert Hold.objects.get(pk=hold.pk).entry_id == entry.pk
    actions = set(AuditRecord.objects.filter(object_type="hold").values_list("action", flat=True))
    assert {"hold.place", "hold.commit"} <= actions
    with pytest.raises(DatabaseError, match="set once"):
        _sql(
            "UPDATE ledger_hold SET entry_id = %s WHERE id = %s",
            [JournalEntry.objects.first().pk, hold.pk],
        )


def test_verify_catches_a_forged_transfer(paid, owner_db):
    t, _, _ = paid
    # an attacker with superuser rights
    _as_owner(
        owner_db,
        "UPDATE wallets_transfer SET amount = amount * 10 WHERE id = %s",
        [t.id],
        triggers=False,
    )
    problems = " | ".join(ledger_verify().problems)
    assert f"transfer {t.id}" in problems


def test_customer_policy_holds_even_with_triggers_off(paid, owner_db):
    _, wa, _ = paid
    with pytest.raises(psycopg.errors.CheckViolation, match="ledger_account_customer_policy"):
        _as_owner(
            owner_db,
            "UPDATE ledger_account SET allow_negative = true WHERE id = %s",
            [wa.account_id],
            triggers=False,
        )


def test_house_account_cache_survives_a_rollback(now):
    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        house_account_id(kind=AccountKind.FEE_REVENUE, currency="GHS", now=now)
        raise Rollback
    fresh = house_account_id(kind=AccountKind.FEE_REVENUE, currency="GHS", now=now)
    assert Account.objects.filter(pk=fresh).exists()


def test_statement_is_one_snapshot(paid, now):
    _, wa, _ = paid
    account = Account.objects.get(pk=wa.account_id)
    stale = Account.objects.get(pk=wa.account_id)  # loaded before more money moves
    account_open(code="x", kind=AccountKind.WALLET, currency="UGX", now=now)
    lines = account_statement(account=stale, limit=10)
    account.refresh_from_db()
    assert lines[0].balance_after == account.balance
