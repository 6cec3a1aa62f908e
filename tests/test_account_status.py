"""Freezing and unfreezing ledger accounts (application.transactions.accounts): one
transaction, accounts locked in id order, a closed account stays closed, a reason is
required, and each change is audited with the actor and the reason; the admin's Freeze and
Unfreeze actions go through it."""

from __future__ import annotations

import threading
import time

import pytest
from django.contrib.auth import get_user_model
from django.db import OperationalError, connection, connections, transaction

from lightway.application.errors import NotFound, ValidationFailed
from lightway.application.transactions.accounts import account_freeze, account_unfreeze
from lightway.data.audit.models import AuditRecord
from lightway.data.ledger.models import Account, AccountStatus
from lightway.data.ledger.services import account_set_status
from lightway.security.policy import Role
from tests.factories import customer, funded_wallet, staff

REASON = "ticket OPS-1234: suspected account takeover"


def _wallet_accounts(now, *names):
    ids = []
    for name in names:
        owner, _ = customer(name, now)
        ids.append(funded_wallet(owner, "UGX", 1_000, now).account_id)
    return sorted(ids)


def _status(account_id):
    return Account.objects.get(pk=account_id).status


def _audits(verb):
    return list(AuditRecord.objects.filter(action=f"ledger.account.{verb}").order_by("id"))


@pytest.mark.django_db
def test_freeze_and_unfreeze_change_the_status_and_audit_actor_and_reason(now):
    a, b = _wallet_accounts(now, "alice", "bob")
    account_set_status(account_id=b, status=AccountStatus.FROZEN)

    result = account_freeze(account_ids=[b, a], reason=f"  {REASON}  ", actor="staff:7", now=now)

    assert (result.status, result.changed, result.unchanged) == ("frozen", (a,), (b,))
    assert (_status(a), _status(b)) == ("frozen", "frozen")
    (record,) = _audits("freeze")  # the account already frozen gets none
    assert (record.actor, record.object_type, record.object_id) == (
        "staff:7",
        "ledger.account",
        str(a),
    )
    assert record.data == {"from": "active", "to": "frozen", "reason": REASON}

    result = account_unfreeze(account_ids=[a, b], reason=REASON, actor="staff:8", now=now)
    assert result.changed == (a, b) and result.unchanged == ()
    assert (_status(a), _status(b)) == ("active", "active")
    assert [(r.actor, r.object_id, r.data["from"], r.data["to"]) for r in _audits("unfreeze")] == [
        ("staff:8", str(a), "frozen", "active"),
        ("staff:8", str(b), "frozen", "active"),
    ]


@pytest.mark.django_db
def test_a_closed_account_stays_closed_and_refuses_the_whole_batch(now):
    a, b = _wallet_accounts(now, "alice", "bob")
    account_set_status(account_id=b, status=AccountStatus.CLOSED)

    for change in (account_freeze, account_unfreeze):
        with pytest.raises(ValidationFailed, match="closed account stays closed") as refused:
            change(account_ids=[a, b], reason=REASON, actor="staff:7", now=now)
        assert refused.value.details["closed"] == [b]
    assert (_status(a), _status(b)) == ("active", "closed")
    assert not _audits("freeze") and not _audits("unfreeze")


@pytest.mark.django_db
def test_a_reason_is_required_and_unknown_accounts_are_refused(now):
    (a,) = _wallet_accounts(now, "alice")
    with pytest.raises(ValidationFailed, match="reason of at least 10") as short:
        account_freeze(account_ids=[a], reason="because", actor="staff:7", now=now)
    assert short.value.details == {"field": "reason"}
    with pytest.raises(ValidationFailed, match="at most 300"):
        account_freeze(account_ids=[a], reason="x" * 301, actor="staff:7", now=now)
    with pytest.raises(ValidationFailed, match="at least one account"):
        account_freeze(account_ids=[], reason=REASON, actor="staff:7", now=now)
    with pytest.raises(NotFound) as missing:
        account_freeze(account_ids=[a, a + 10_000], reason=REASON, actor="staff:7", now=now)
    assert missing.value.details == {"account_ids": [a + 10_000]}
    assert _status(a) == "active" and not _audits("freeze")


def _waiting_on_a_lock() -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_accounts_are_locked_in_ascending_id_order(now):
    """A payment locks its accounts in id order. While another transaction holds the higher
    account, a freeze of both must already hold the lower one (and wait for the higher):
    taking them in the other order could deadlock with a payment."""
    low, high = _wallet_accounts(now, "alice", "bob")
    holding, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold_high() -> None:
        try:
            with transaction.atomic():
                list(Account.objects.select_for_update().filter(pk=high))
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    def freeze_both() -> None:
        try:
            account_freeze(account_ids=[high, low], reason=REASON, actor="staff:7", now=now)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_high)
    holder.start()
    assert holding.wait(5)
    freezer = threading.Thread(target=freeze_both)
    freezer.start()
    try:
        deadline = time.monotonic() + 5
        while _waiting_on_a_lock() < 1:
            assert time.monotonic() < deadline, "the freeze never waited for the held account"
            time.sleep(0.02)
        with pytest.raises(OperationalError, match="could not obtain lock"):
            with transaction.atomic():
                list(Account.objects.select_for_update(nowait=True).filter(pk=low))
        assert _status(low) == "active"  # nothing visible before the freeze commits
    finally:
        release.set()
        holder.join(10)
        freezer.join(10)
    assert not errors, errors
    assert (_status(low), _status(high)) == ("frozen", "frozen")
    connection.close()


@pytest.fixture
def operator(client, now):
    user = get_user_model().objects.get(pk=staff("olga.ops", [Role.LW_OPERATIONS], now))
    client.force_login(user)
    return user


@pytest.mark.django_db
def test_admin_freeze_asks_for_a_reason_then_calls_the_service(client, operator, now):
    a, b = _wallet_accounts(now, "alice", "bob")
    url = "/admin/ledger/account/"
    selection = {"action": "freeze", "_selected_action": [str(a), str(b)]}

    page = client.post(url, selection)
    assert page.status_code == 200
    assert 'name="reason"' in page.content.decode() and _status(a) == "active"

    page = client.post(url, {**selection, "apply": "yes", "reason": "too short"})
    assert page.status_code == 200 and "at least 10 characters" in page.content.decode()
    assert _status(a) == "active" and not _audits("freeze")

    done = client.post(url, {**selection, "apply": "yes", "reason": REASON}, follow=True)
    assert done.status_code == 200 and "2 account(s) set to frozen" in done.content.decode()
    assert (_status(a), _status(b)) == ("frozen", "frozen")
    assert [(r.actor, r.data["reason"]) for r in _audits("freeze")] == [
        (f"staff:{operator.pk}", REASON)
    ] * 2

    account_set_status(account_id=b, status=AccountStatus.CLOSED)
    refused = client.post(
        url,
        {
            "action": "unfreeze",
            "_selected_action": [str(a), str(b)],
            "apply": "yes",
            "reason": REASON,
        },
        follow=True,
    )
    assert "closed account stays closed" in refused.content.decode()
    assert (_status(a), _status(b)) == ("frozen", "closed") and not _audits("unfreeze")


@pytest.mark.django_db
def test_admin_freeze_needs_the_permission(client, now):
    (a,) = _wallet_accounts(now, "alice")
    finance = get_user_model().objects.get(pk=staff("fin.one", [Role.LW_FINANCE], now))
    client.force_login(finance)
    response = client.post(
        "/admin/ledger/account/",
        {"action": "freeze", "_selected_action": [str(a)], "apply": "yes", "reason": REASON},
    )
    # Finance may view accounts but not freeze them: the admin does not offer the action.
    assert response.status_code == 200 and 'name="reason"' not in response.content.decode()
    assert _status(a) == "active" and not _audits("freeze")
