"""``lightway seed-volume`` (application/volume.py) at a small size: every database trigger
stays on, and the platform's own verifiers pass over what it wrote."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from lightway.application import volume
from lightway.application.volume import VolumeSeedRefused, volume_seed
from lightway.data.audit.selectors import audit_verify
from lightway.data.commission.models import CommissionRecord
from lightway.data.ledger.models import Account, Hold
from lightway.data.ledger.rollups import ledger_checkpoints_verify
from lightway.data.ledger.verify import ledger_verify
from lightway.data.momo.models import MomoRequest
from lightway.data.wallets.models import Transfer
from lightway.interfaces.cli.main import main

PAYMENTS = 600
CUSTOMERS = 12


@pytest.fixture
def seeded(tx_db):
    said: list[tuple[object, ...]] = []
    result = volume_seed(
        payments=PAYMENTS,
        customers=CUSTOMERS,
        seed=7,
        days=30,
        now=timezone.now(),
        progress=lambda *args: said.append(args),
        batch=150,  # several batches, each its own transaction
        checkpoint_batch=100,  # one roll-up call covers 2,000 postings: fewer than the seed's
    )
    return result, said


def test_the_payments_pass_ledger_and_audit_verify(seeded):
    result, said = seeded
    assert result.payments == PAYMENTS and result.transfers_total == PAYMENTS
    assert said[-1][:2] == (PAYMENTS, PAYMENTS)  # the progress bar reached the end
    verified = ledger_verify()
    assert verified.ok, verified.problems
    assert ledger_checkpoints_verify() == []
    chain = audit_verify(now=timezone.now())
    assert chain.ok, chain
    # the triggers were on: every one is installed and enabled (ledger verify checks it) and
    # the balances they keep are right (verify compared them with the postings)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM audit_record WHERE seq IS NULL")
        assert cur.fetchone()[0] == 0  # every record linked into the chain
        # every balance is rolled up to the last posting, as the worker keeps a running
        # platform: house-account balances sum no tail on a page load
        cur.execute(
            "SELECT (SELECT max(id) FROM ledger_posting),"
            " (SELECT max(posting_id) FROM ledger_balance_checkpoint)"
        )
        last_posting, last_checkpoint = cur.fetchone()
        assert last_checkpoint == last_posting


def test_the_mix_is_realistic_and_nobody_is_overdrawn(seeded):
    transfers = Transfer.objects.all()
    kinds = {
        k: transfers.filter(kind=k).count() for k in ("p2p", "deposit", "withdrawal", "payout")
    }
    assert kinds["deposit"] >= CUSTOMERS  # a funding deposit each, then more
    assert kinds["p2p"] > kinds["withdrawal"] > 0 and kinds["payout"] > 0
    assert transfers.filter(status="failed", failure_code="insufficient_funds").exists()
    assert transfers.filter(status="succeeded", fee__gt=0).exists()
    momo = transfers.filter(kind__in=["deposit", "withdrawal", "payout"], status="succeeded")
    assert MomoRequest.objects.filter(status="successful").count() == momo.count()
    assert Hold.objects.filter(status="committed", entry__isnull=False).count() == (
        kinds["withdrawal"] + kinds["payout"]
    )
    assert CommissionRecord.objects.filter(party="mtn").exists()
    assert not Account.objects.filter(kind="wallet", balance__lt=0).exists()
    first = transfers.order_by("created_at").first()
    assert first is not None and first.kind == "deposit"  # funding comes first


def test_a_second_run_needs_force(seeded):
    with pytest.raises(VolumeSeedRefused, match="--force"):
        volume_seed(payments=20, customers=2, now=timezone.now())
    result = volume_seed(payments=20, customers=2, force=True, now=timezone.now())
    assert result.run == 2 and result.transfers_total == PAYMENTS + 20
    assert ledger_verify().ok


def test_refused_under_production_settings(tx_db, monkeypatch):
    monkeypatch.setattr(volume, "production_settings", lambda: True)
    with pytest.raises(VolumeSeedRefused, match="production"):
        volume_seed(payments=10, customers=2, now=timezone.now())
    assert not Transfer.objects.exists()


def test_bad_sizes_are_refused(tx_db, capsys):
    with pytest.raises(VolumeSeedRefused, match="--payments must be at least --customers"):
        volume_seed(payments=3, customers=5, now=timezone.now())
    assert not Transfer.objects.exists()
    with pytest.raises(SystemExit):
        main(["seed-volume", "--payments", "0"])  # a usage error, before anything runs
    assert "must be at least 1" in capsys.readouterr().err


def test_runs_started_together_get_their_own_numbers(tx_db):
    """Regression: two runs started at once both took run 2 and the second failed on the
    username of its first customer."""
    import threading

    from django.db import connections

    volume_seed(payments=10, customers=2, now=timezone.now())
    results: list[object] = []

    def one() -> None:
        try:
            results.append(volume_seed(payments=10, customers=2, force=True, now=timezone.now()))
        except Exception as exc:  # reported below
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.run for r in results) == [2, 3], results  # type: ignore[attr-defined]
    assert ledger_verify().ok
