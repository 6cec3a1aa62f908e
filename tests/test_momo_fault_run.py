"""``lightway momo fault-run`` end to end against the ``momo`` fixture's simulator
(docs/momo.md "Reconciliation", "Try it on make run").

The fixture keeps callbacks in a queue (there is no web server in the test): the test hands
the ones the fault profile did not lose to ``/webhooks/momo`` through Django's test client
and runs the jobs they queue, as the web server and worker of ``make run`` would, right
after the simulator completed the payouts.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from lightway.application.demo import FAULT_RUN_USERNAME
from lightway.application.transactions.wallets import wallet_list
from lightway.data.ledger.models import JournalEntry
from lightway.data.reconciliation.models import ReconRun
from lightway.data.wallets.models import Transfer, UsageCounter
from lightway.interfaces.cli import momo as momo_cli
from lightway.interfaces.cli.main import main
from tests.momo_flow_support import momo_customer, run_momo_jobs, sim_count

pytestmark = pytest.mark.django_db

MISMATCHES = ("amount_mismatch", "missing_on_platform", "status_mismatch")


def _customer_state(uid: int) -> tuple[object, ...]:
    """What a customer sees of her money: balances, limit usage, history."""
    return (
        [(w.wallet.currency, w.balance, w.available) for w in wallet_list(owner_id=uid)],
        sorted(
            UsageCounter.objects.filter(customer_id=uid).values_list(
                "currency", "period", "period_start", "amount"
            )
        ),
        sorted(str(t) for t in Transfer.objects.filter(client_id=uid).values_list("id")),
    )


def test_fault_run_reconciles_matched_and_mismatched_items(momo, client, capsys, monkeypatch):
    t0 = timezone.now()
    # The demo customer Amara: the fault run must leave her money, limits and history alone.
    amara = momo_customer("amara", t0, phone="+256772123401", wallet=500_000)
    before = _customer_state(amara)
    momo.configure(seed=20261124)  # reproducible lost / duplicated callbacks
    delivered: list[int] = []
    wait_completed = momo_cli._sim_wait_completed

    def completed_then_callbacks(http, references, timeout):
        statuses = wait_completed(http, references, timeout)
        # The platform's web server and worker: deliver what MoMo sent, apply it.
        delivered.append(len(momo.deliver_callbacks(client)))
        run_momo_jobs(timezone.now())
        return statuses

    monkeypatch.setattr(momo_cli, "_sim_wait_completed", completed_then_callbacks)
    monkeypatch.setattr(momo_cli, "PLATFORM_SETTLE_SECONDS", 0.5)

    argv = ["momo", "fault-run", "--payouts", "8"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert _customer_state(amara) == before  # her balance, limit usage and history
    uid = get_user_model().objects.get(username=FAULT_RUN_USERNAME).pk
    assert FAULT_RUN_USERNAME in captured.out
    # A test account without phone or email: its payouts notify nobody, and warn nothing.
    assert "no recipient for channel" not in captured.err

    run = ReconRun.objects.latest("pk")
    assert run.status == "completed"
    assert int(run.counts.get("matched", 0)) > 0
    assert sum(int(run.counts.get(key, 0)) for key in MISMATCHES) > 0
    assert int(run.counts.get("missing_on_platform", 0)) >= 1  # the ghost
    # One source of public URLs: the link is built on LIGHTWAY_PUBLIC_URL.
    assert f"{settings.LIGHTWAY_PUBLIC_URL}/staff/reconciliation/runs/{run.pk}/" in captured.out
    assert "localhost" not in captured.out or "localhost" in settings.LIGHTWAY_PUBLIC_URL
    assert "Matched" in captured.out and "Cases opened:" in captured.out
    assert "Payouts" in captured.err and "Reconciling" in captured.err  # progress displays

    # The fault profile was in force (callbacks lost and duplicated), then restored.
    assert delivered and momo.sim.callbacks_lost
    config = momo.sim.config
    assert (config.lost_callbacks, config.duplicate_callbacks) == (0, 0)
    assert (config.reorder_callbacks, config.error_burst) == (False, 0)

    # Every payout reached MoMo once and was settled (lost callbacks by the run's status
    # reads), and no money moved twice: one journal entry per succeeded transfer.
    transfers = list(Transfer.objects.filter(client_id=uid))
    assert len(transfers) == 8
    from lightway.application.momo import flows

    for transfer in transfers:
        request = flows.momo_request_for_transfer(transfer.id)
        assert request is not None and sim_count(momo.sim, request.reference_id) == 1
        assert transfer.status == "succeeded", (transfer.status, request.status)
        assert JournalEntry.objects.filter(reference=str(transfer.id)).count() == 1


def test_fault_run_refuses_without_the_simulator(momo, capsys, settings):
    settings.MOMO_BASE_URL = ""
    assert main(["momo", "fault-run"]) == 1
    assert "fault-run only works against the MoMo simulator" in capsys.readouterr().err

    settings.MOMO_BASE_URL = "http://127.0.0.1:9"  # nothing listens (discard port)
    assert main(["momo", "fault-run"]) == 1
    err = capsys.readouterr().err
    assert "fault-run only works against the MoMo simulator" in err
    assert not Transfer.objects.exists()  # nothing was started


def test_fault_run_checks_its_arguments(momo, capsys):
    assert main(["momo", "fault-run", "--payouts", "0"]) == 1
    assert "--payouts must be between 1 and 200" in capsys.readouterr().err
    # It pays from its own account only: no option names a customer to pay from.
    with pytest.raises(SystemExit):
        main(["momo", "fault-run", "--customer", "amara"])
    assert "unrecognized arguments: --customer" in capsys.readouterr().err
