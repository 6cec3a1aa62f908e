"""AML demo data for ``lightway seed-demo`` (idempotent): the default rules (thresholds for
UG, GH, RW, ZM, CI and CM), the demo sanctions list (fictitious names), a demo-only
velocity rule with a low limit, a few small demo payments that trip it, and the two cases
they open: one left open for a compliance officer to work, one whose STR filing the demo
officers ``compliance`` (maker) and ``compliance2`` (checker) already proposed and
approved, so an STR can be exported right after seeding (the seed releases it at once,
as the queued ``aml_str_release`` job would)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from lightway.application.aml.batch import aml_run
from lightway.application.aml.cases import (
    OPEN_STATES,
    case_approve_filing,
    case_note,
    case_propose_filing,
    case_str_release,
    str_fiu,
)
from lightway.application.aml.rules import rule_version_add, rules_seed_defaults
from lightway.application.aml.sanctions import active_list, customers_screen, sanctions_import
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.data.aml.models import Case, CaseState, RuleVersion
from lightway.data.wallets.models import Wallet

DEMO_LIST = Path(__file__).parent / "data" / "demo_un_list.xml"
DEMO_RULE = "DEMO_VELOCITY"
# (payer, payee, amount in UGX, how many)
DEMO_PAYMENTS = (("amara", "kofi", 5_000, 3), ("kofi", "amara", 7_000, 3))
FILING_REASON = (
    "Three wallet-to-wallet payments to the same counterparty within minutes, just after "
    "the counterparty paid this customer the same way: possible layering between the two "
    "accounts (demo case)."
)


def aml_demo_seed(*, users: dict[str, int], maker_id: int, checker_id: int, now: datetime) -> int:
    """``users``: the demo customers' ids by user name. Returns how many records it made."""
    # in force over the periodic job's look-back (four days), so it checks the demo's past
    created = rules_seed_defaults(effective_from=now - timedelta(days=4), now=now)
    if not RuleVersion.objects.filter(code=DEMO_RULE).exists():
        rule_version_add(
            code=DEMO_RULE,
            kind="velocity",
            effective_from=now - timedelta(days=4),
            mode="batch",
            action="flag",
            parameters={"max_count": 2, "window_hours": 24},
            note="demo only: a low limit so that the demo payments raise alerts",
            now=now,
        )
        created += 1
    if active_list() is None:
        sanctions_import(data=DEMO_LIST.read_bytes(), file_name=DEMO_LIST.name, now=now)
        customers_screen(now=now)
        created += 1
    moments = []
    for payer, payee, amount, count in DEMO_PAYMENTS:
        source = Wallet.objects.get(owner_id=users[payer], currency="UGX")
        target = Wallet.objects.get(owner_id=users[payee], currency="UGX")
        for n in range(count):
            outcome = transfer_create(
                client_id=users[payer],
                idempotency_key=f"demo:aml:{payer}:{n}",
                request=TransferRequest(source.id, target.id, amount, "UGX", "demo"),
                now=now,
            )
            moments.append(outcome.transfer.created_at)
            created += 0 if outcome.replayed else 1
    start, end = min(moments), max(moments) + timedelta(seconds=1)
    created += aml_run(start=start, end=end, now=now).alerts
    # kofi's case: proposed by one officer, approved by the other
    case = Case.objects.filter(subject_ref=f"user:{users['kofi']}").order_by("id").first()
    if case is not None and case.state in OPEN_STATES:
        case_note(
            reference=case.reference,
            text="Both customers paid each other three times within minutes.",
            actor_id=maker_id,
            now=now,
        )
        case = case_propose_filing(
            reference=case.reference,
            reason=FILING_REASON,
            action="accounts under review; no payment refused",
            actor_id=maker_id,
            now=now,
        )
    if case is not None and case.state == CaseState.FILING_PROPOSED:
        case_approve_filing(reference=case.reference, actor_id=checker_id, now=now)
        created += 1
        if str_fiu():
            # what the queued ``aml_str_release`` job does, done here so the STR is released
            # right after seeding without a worker (the job then finds it done)
            case_str_release(case_id=case.pk, fiu=str_fiu(), actor_id=checker_id, now=now)
    return created
