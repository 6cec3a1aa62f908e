"""Builders and probes for the MoMo flow tests (test_momo_flows / _exactly_once).

``run_momo_jobs`` does what the worker would: it runs every queued ``momo_*`` job through
its use case (at the given ``now``) and removes the job row, until none is left.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Sum

from lightway.application.identity.profiles import profile_create, profile_set_pii
from lightway.application.momo import flows
from lightway.application.partners.prefund import partner_prefund_account
from lightway.application.transactions.commission_seed import fee_schedules_seed_defaults
from lightway.data.identity.models import Partner, Realm
from lightway.data.ledger.kinds import OPENING_BALANCE
from lightway.data.ledger.models import Account, AccountKind, Hold, JournalEntry, Posting
from lightway.data.ledger.services import Leg, entry_post, house_account
from lightway.data.momo.models import MomoCallback, MomoRequest
from lightway.data.wallets.models import Transfer
from tests.factories import customer, funded_wallet

MOMO_TASKS = ("momo_submit", "momo_poll", "momo_callback_process")


def momo_customer(
    username: str, now: datetime, *, phone: str, wallet: int = 0, code: str = "UGX"
) -> int:
    """A verified (tier 3) Ugandan customer whose phone is ``phone`` and, with ``wallet``, a
    funded wallet in ``code``; the demo fee schedules are seeded too."""
    user_id, _token = customer(username, now, tier=3, country="UG")
    profile_set_pii(user_id=user_id, now=now, phone=phone)
    fee_schedules_seed_defaults(now=now)
    if wallet:
        funded_wallet(user_id, code, wallet, now)
    return user_id


def momo_partner(code: str, now: datetime, *, prefund: int, currency: str = "UGX") -> int:
    """A partner (IMTO) user whose prefund account in ``currency`` holds ``prefund``."""
    partner = Partner.objects.create(code=code, name=f"{code} (test)", created_at=now)
    user = get_user_model().objects.create_user(username=f"partner-{code}", password="x-U-123")
    profile_create(user_id=user.pk, realm=Realm.PARTNER, now=now, partner_id=partner.pk)
    account = partner_prefund_account(partner_code=code, currency_code=currency, now=now)
    if prefund:
        equity = house_account(kind=AccountKind.EQUITY, currency=currency, now=now)
        entry_post(
            kind=OPENING_BALANCE,
            currency=currency,
            legs=[Leg(equity.pk, -prefund), Leg(account.pk, prefund)],
            now=now,
        )
    return int(user.pk)


def todo_jobs(tasks: Sequence[str]) -> list[tuple[int, str, dict[str, Any]]]:
    """The queued jobs of ``tasks``, oldest first: (id, task, args)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, task_name, args FROM procrastinate_jobs"
            " WHERE status = 'todo' AND task_name = ANY(%s) ORDER BY id",
            [list(tasks)],
        )
        rows = cursor.fetchall()
    return [(int(i), str(t), json.loads(a) if isinstance(a, str) else dict(a)) for i, t, a in rows]


def jobs_run(
    handlers: Mapping[str, Callable[[dict[str, Any]], str]], *, rounds: int = 10
) -> list[tuple[str, str]]:
    """Run the queued jobs of the tasks in ``handlers`` as the worker would, round after
    round while running them queues more; (task, result) each."""
    done: list[tuple[str, str]] = []
    for _ in range(rounds):
        jobs = todo_jobs(list(handlers))
        if not jobs:
            return done
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM procrastinate_jobs WHERE id = ANY(%s)", [[j[0] for j in jobs]]
            )
        for _job_id, task, args in jobs:
            done.append((task, handlers[task](args)))
    raise AssertionError(f"{', '.join(handlers)} jobs kept being queued")


def run_momo_jobs(now: datetime, *, rounds: int = 10) -> list[tuple[str, str]]:
    """Run the queued momo jobs as the worker would (at ``now``); (task, result) each."""
    return jobs_run(
        {
            "momo_submit": lambda a: flows.momo_submit(request_id=a["request_id"], now=now),
            "momo_poll": lambda a: flows.momo_poll(request_id=a["request_id"], now=now),
            "momo_callback_process": lambda a: flows.callback_process(
                callback_id=a["callback_id"], now=now
            ),
        },
        rounds=rounds,
    )


def queued(task: str) -> list[dict[str, Any]]:
    return [args for _i, t, args in todo_jobs(MOMO_TASKS) if t == task]


def drop_queued_jobs() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM procrastinate_jobs WHERE status = 'todo' AND task_name = ANY(%s)",
            [list(MOMO_TASKS)],
        )


def wait_final(sim: Any, reference_id: Any, timeout: float = 10) -> dict[str, Any]:
    return dict(sim.wait_status(str(reference_id), timeout=timeout))


def wait_callbacks(momo: Any, count: int, timeout: float = 10) -> None:
    momo.sim.wait_callbacks(count, timeout=timeout)


def settle(momo: Any, client: Any, now: datetime, *, callbacks: int = 1) -> None:
    """Wait for ``callbacks`` queued callbacks, deliver them through the webhook and run
    the jobs that queues."""
    momo.deliver_callbacks(client, wait_for=callbacks)
    run_momo_jobs(now)


def request_of(transfer: Transfer) -> MomoRequest:
    found = flows.momo_request_for_transfer(transfer.id)
    assert found is not None
    return found


def reload(transfer: Transfer) -> Transfer:
    return Transfer.objects.get(pk=transfer.pk)


def account_total(account_id: int) -> int:
    total = Posting.objects.filter(account_id=account_id).aggregate(t=Sum("amount"))["t"]
    return int(total or 0)


def house_total(kind: str, code: str, owner_ref: str = "") -> int:
    suffix = f":{owner_ref}" if owner_ref else ""
    account = Account.objects.filter(code=f"house:{kind}:{code}{suffix}").first()
    return account_total(account.pk) if account else 0


@dataclass(frozen=True)
class Money:
    """What the ledger says about one transfer."""

    entries: int
    source_balance: int | None
    source_held: int | None
    float_total: int
    fee_revenue: int
    hold_status: str | None


def ledger_view(transfer: Transfer, request: MomoRequest) -> Money:
    transfer = reload(transfer)
    account: Account | None = None
    if transfer.source_wallet_id:
        account = transfer.source_wallet.account  # type: ignore[union-attr]
    elif transfer.destination_wallet_id:
        account = transfer.destination_wallet.account  # type: ignore[union-attr]
    elif request.hold_id:
        account = Hold.objects.get(pk=request.hold_id).account
    if account is not None:
        account.refresh_from_db()
    hold = Hold.objects.filter(pk=request.hold_id).first() if request.hold_id else None
    return Money(
        entries=JournalEntry.objects.filter(reference=str(transfer.id)).count(),
        source_balance=account.balance if account else None,
        source_held=account.held if account else None,
        float_total=house_total(AccountKind.MOMO_FLOAT, transfer.currency, request.product),
        fee_revenue=house_total(AccountKind.FEE_REVENUE, transfer.currency),
        hold_status=hold.status if hold else None,
    )


def sim_count(sim: Any, reference_id: Any) -> int:
    ref = str(reference_id).lower()
    return sum(1 for t in sim.transactions() if t["referenceId"] == ref)


def callbacks_of(request: MomoRequest) -> list[MomoCallback]:
    return list(MomoCallback.objects.filter(reference_id=str(request.reference_id)).order_by("id"))


def until(predicate: Any, timeout: float = 10, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(step)
