"""Balance checkpoints (data/ledger/rollups.py): exact, guarded by the database, and they
keep balances and statements from reading an account's whole history."""

from __future__ import annotations

import threading

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from lightway.data.ledger.models import AccountKind, BalanceCheckpoint, Posting
from lightway.data.ledger.rollups import (
    account_balance_before,
    ledger_checkpoints_advance,
    ledger_checkpoints_verify,
)
from lightway.data.ledger.selectors import account_balance, account_statement
from lightway.data.ledger.services import Leg, account_open, entry_post, house_account
from tests.query_cost import rows_read

pytestmark = pytest.mark.django_db

EVERY = 10


@pytest.fixture
def ledger(now):
    """Equity (derived balance) funds a wallet 60 times: 60 postings on each."""
    equity = house_account(kind=AccountKind.EQUITY, currency="UGX", now=now)
    wallet = account_open(code="wallet:r", kind=AccountKind.WALLET, currency="UGX", now=now)
    for i in range(60):
        entry_post(
            kind="fund",
            currency="UGX",
            legs=[Leg(equity.pk, -(100 + i)), Leg(wallet.pk, 100 + i)],
            now=now,
        )
    return equity, wallet


def _pay(equity, wallet, amount, now):
    entry_post(
        kind="fund", currency="UGX", legs=[Leg(equity.pk, -amount), Leg(wallet.pk, amount)], now=now
    )


def _full_sum(account_id: int, before: int | None = None) -> int:
    qs = Posting.objects.filter(account_id=account_id)
    if before is not None:
        qs = qs.filter(id__lt=before)
    return sum(qs.values_list("amount", flat=True))


def test_checkpoints_equal_the_full_sums(ledger, now):
    equity, wallet = ledger
    result = ledger_checkpoints_advance(every=EVERY, wait_seconds=2)
    assert result.waited and result.postings == 120
    _pay(equity, wallet, 7, now)
    ledger_checkpoints_advance(every=EVERY, wait_seconds=2)
    assert ledger_checkpoints_verify() == []
    for cp in BalanceCheckpoint.objects.all():
        assert cp.balance == _full_sum(cp.account_id, cp.posting_id + 1)
    # every EVERY postings of each account, plus each run's last posting
    wallet_cps = BalanceCheckpoint.objects.filter(account_id=wallet.pk).count()
    assert wallet_cps >= 6
    assert account_balance(account=equity) == _full_sum(equity.pk) == -(sum(range(100, 160)) + 7)
    ids = list(
        Posting.objects.filter(account_id=wallet.pk).order_by("id").values_list("id", flat=True)
    )
    for before in (ids[0], ids[5], ids[10], ids[11], ids[37], ids[-1], None):
        assert account_balance_before(account_id=wallet.pk, before_id=before) == _full_sum(
            wallet.pk, before
        )


def test_statement_balances_match_a_full_recomputation(ledger, now):
    equity, wallet = ledger
    ledger_checkpoints_advance(every=EVERY, wait_seconds=2)
    _pay(equity, wallet, 5, now)  # a tail after the last checkpoint
    for account in (equity, wallet):
        lines, before = [], None
        while True:
            page = account_statement(account=account, before_id=before, limit=7)
            lines += page
            if len(page) < 7:
                break
            before = page[-1].posting_id
        assert len(lines) == 61
        for line in lines:
            assert line.balance_after == _full_sum(account.pk, line.posting_id + 1)


def test_derived_balance_reads_only_the_tail(ledger, now):
    """Regression (issue 10): a house account's balance summed all its postings."""
    equity, wallet = ledger
    ledger_checkpoints_advance(every=EVERY, wait_seconds=2)
    _pay(equity, wallet, 1, now)
    _pay(equity, wallet, 2, now)
    # as on a large table: a month of a test's postings has no statistics, and the planner
    # reads a partition without statistics whole
    read = rows_read(lambda: account_balance(account=equity), as_on_a_large_table=True)
    assert account_balance(account=equity) == _full_sum(equity.pk)
    assert read["ledger_posting"] <= 2, read  # the two postings after the checkpoint, not 62


def test_statement_page_deep_in_history_reads_a_bounded_range(ledger, now):
    """Regression (issue 10): a statement page summed every posting after it."""
    _, wallet = ledger
    ledger_checkpoints_advance(every=EVERY, wait_seconds=2)
    ids = list(
        Posting.objects.filter(account_id=wallet.pk).order_by("id").values_list("id", flat=True)
    )
    before = ids[15]  # 45 postings after the page
    read = rows_read(
        lambda: account_statement(account=wallet, before_id=before, limit=5),
        as_on_a_large_table=True,
    )
    # the page (5 rows) and at most EVERY postings back to the nearest checkpoint; the
    # page's 5 entries, each found by id (one index probe per month: monthly partitions)
    assert read["ledger_posting"] <= 5 + EVERY, read
    assert read["ledger_journal_entry"] <= 5, read


def test_a_checkpoint_must_follow_from_the_postings(ledger):
    equity, wallet = ledger
    last = Posting.objects.filter(account_id=wallet.pk).order_by("-id").first()
    assert last is not None
    real = _full_sum(wallet.pk)
    with pytest.raises(IntegrityError, match="the ledger"):
        with transaction.atomic():
            BalanceCheckpoint.objects.create(
                posting_id=last.pk, account_id=wallet.pk, balance=real + 1, postings=60
            )
    with pytest.raises(IntegrityError, match="is not a posting of account"):
        with transaction.atomic():
            BalanceCheckpoint.objects.create(
                posting_id=last.pk, account_id=equity.pk, balance=real, postings=60
            )
    BalanceCheckpoint.objects.create(
        posting_id=last.pk, account_id=wallet.pk, balance=real, postings=60
    )
    earlier = Posting.objects.filter(account_id=wallet.pk).order_by("id").first()
    assert earlier is not None
    with pytest.raises(IntegrityError, match="is not after its last one"):
        with transaction.atomic():
            BalanceCheckpoint.objects.create(
                posting_id=earlier.pk, account_id=wallet.pk, balance=earlier.amount, postings=1
            )


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ledger_balance_checkpoint SET balance = balance + 1",
        "DELETE FROM ledger_balance_checkpoint",
        "TRUNCATE ledger_balance_checkpoint",
    ],
)
def test_checkpoints_are_append_only(ledger, sql):
    ledger_checkpoints_advance(every=EVERY, wait_seconds=2)
    assert BalanceCheckpoint.objects.exists()
    # refused to the application by privilege (and to the owner by the trigger)
    with pytest.raises(DatabaseError, match=r"permission denied|append-only"):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cur.execute(sql)


def test_rollup_waits_for_a_posting_still_uncommitted_below_the_horizon(tx_db, now):
    """Posting ids are allocated before commit: a lower id can become visible after a
    higher one. The job must not roll past it (it would be missing from every balance)."""
    equity = house_account(kind=AccountKind.EQUITY, currency="UGX", now=now)
    wallet = account_open(code="wallet:late", kind=AccountKind.WALLET, currency="UGX", now=now)
    other = account_open(code="wallet:early", kind=AccountKind.WALLET, currency="UGX", now=now)
    posted, release, done = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def slow_payment() -> None:
        try:
            with transaction.atomic():
                _pay(equity, wallet, 500, now)  # the lower posting ids, not yet committed
                posted.set()
                release.wait(10)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()
            done.set()

    thread = threading.Thread(target=slow_payment)
    thread.start()
    try:
        assert posted.wait(10)
        _pay(equity, other, 20, now)  # higher ids, committed first (no row lock shared)
        blocked = ledger_checkpoints_advance(every=EVERY, wait_seconds=0.3)
        assert not blocked.waited and blocked.postings == 0
        assert not BalanceCheckpoint.objects.exists()
    finally:
        release.set()
        thread.join(10)
    assert done.is_set() and not errors
    result = ledger_checkpoints_advance(every=EVERY, wait_seconds=2)
    assert result.waited and result.postings == 4
    assert ledger_checkpoints_verify() == []
    assert account_balance(account=equity) == -520


def test_a_later_run_counts_the_postings_earlier_runs_left_without_a_checkpoint(ledger, now):
    """Regression (seen seeding a million payments): a run rolls an account's postings up
    without a checkpoint of that account unless it reaches the EVERY-th posting or holds
    the run's last posting. The next run that checkpointed the account started from its
    last checkpoint plus only the postings of its own batch, so the checkpoint missed the
    ones in between and the database refused it (the job failed from then on)."""
    equity, wallet = ledger
    ledger_checkpoints_advance(every=EVERY, wait_seconds=2)  # the 60 fixture postings
    other = account_open(code="wallet:other", kind=AccountKind.WALLET, currency="UGX", now=now)
    for amount in (1, 2, 3):  # the wallet's 61st-63rd postings, no checkpoint of its own
        _pay(equity, wallet, amount, now)
    _pay(equity, other, 4, now)  # this run's last posting is the other wallet's
    ledger_checkpoints_advance(every=EVERY, wait_seconds=2)
    assert BalanceCheckpoint.objects.filter(account_id=wallet.pk).count() == 6  # 10, ..., 60
    _pay(equity, wallet, 5, now)  # now the wallet holds the run's last posting
    result = ledger_checkpoints_advance(every=EVERY, wait_seconds=2)
    assert result.waited and result.postings == 2
    latest = BalanceCheckpoint.objects.filter(account_id=wallet.pk).latest("posting_id")
    assert latest.postings == 64
    assert latest.balance == _full_sum(wallet.pk)
    assert ledger_checkpoints_verify() == []
