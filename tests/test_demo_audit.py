"""Demo seeding creates money (opening balances from equity): each entry is audited with it."""

from __future__ import annotations

from datetime import datetime

import pytest

from lightway.application import demo
from lightway.application.goaml import demo as goaml_demo
from lightway.data.audit.models import AuditRecord
from lightway.data.audit.services import AuditInputError
from lightway.data.ledger.models import JournalEntry
from lightway.data.wallets.models import Wallet

pytestmark = pytest.mark.django_db


def test_every_opening_balance_entry_has_one_audit_record(now: datetime) -> None:
    demo.demo_seed(now=now)
    records = list(
        AuditRecord.objects.filter(action="ledger.opening_balance", object_type="wallet").order_by(
            "id"
        )
    )
    expected = {
        (username, code): amount
        for username, _d, _t, per in demo.CUSTOMERS
        for code, amount in per.items()
    }
    # the goAML demo's two customers (application/goaml/demo.py), UGX only
    expected.update({(c[0], "UGX"): c[-1] for c in goaml_demo.DEMO_CUSTOMERS})
    assert len(records) == len(expected) == 8
    seen = set()
    for record in records:
        wallet = Wallet.objects.select_related("owner").get(pk=record.object_id)
        entry = JournalEntry.objects.get(idempotency_key=f"demo:opening:{wallet.id}")
        assert entry.kind == "opening_balance"
        assert (record.actor, record.object_type) == ("system", "wallet")
        assert record.data == {
            "entry": entry.id,
            "currency": wallet.currency,
            "amount": expected[(wallet.owner.username, wallet.currency)],
        }
        seen.add((wallet.owner.username, wallet.currency))
    assert seen == set(expected)
    # No personal data: no usernames or display names anywhere in the records.
    stored = repr([(r.actor, r.object_id, r.data) for r in records]).lower()
    assert not any(name in stored for name, *_rest in demo.CUSTOMERS)

    # The demo partner's prefund opening balances too, one record each.
    prefunds = AuditRecord.objects.filter(
        action="ledger.opening_balance", object_type="partner_prefund"
    )
    assert sorted((r.data["currency"], r.data["amount"]) for r in prefunds) == sorted(
        demo.DEMO_PREFUND.items()
    )
    for record in prefunds:
        entry = JournalEntry.objects.get(pk=record.data["entry"])
        assert entry.kind == "opening_balance" and record.object_id.startswith("prefund:")

    # Seeding again creates no money and writes no further record.
    demo.demo_seed(now=now)
    assert AuditRecord.objects.filter(action="ledger.opening_balance").count() == 8 + len(
        demo.DEMO_PREFUND
    )


def test_an_opening_balance_that_cannot_be_audited_is_not_posted(
    now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(**kwargs: object) -> None:
        raise AuditInputError("audit refused")

    monkeypatch.setattr(demo, "audit_record", refuse)
    with pytest.raises(AuditInputError):
        demo.demo_seed(now=now)
    assert not JournalEntry.objects.filter(kind="opening_balance").exists()
