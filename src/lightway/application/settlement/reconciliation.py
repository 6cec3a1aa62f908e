"""The bank's camt.053 end-of-day statement against our instructions and top-ups
(docs/settlement.md, "Reconciliation").

Every booked line of the statement is paired with what we expected on LightWay's account:
a settled instruction (by EndToEndId, else InstrId; a ``pay`` is a debit, a ``collect`` a
credit) or a top-up (by the bank's AcctSvcrRef). A pair with equal amounts is ``matched``,
otherwise ``amount_mismatch``; a line nothing explains is ``unexpected``; an instruction
settled, or a top-up booked, on the statement's date that no line carries is ``missing``.
The statement is kept as received (XSD-validated, ``.001.08`` or ``.001.02``), once per
statement id, with its items.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db import transaction

from lightway.application.errors import NotFound, ValidationFailed
from lightway.application.settlement.config import settlement_gateway
from lightway.application.settlement.parties import settlement_party
from lightway.data.audit.services import audit_record
from lightway.data.settlement.models import (
    LIGHTWAY,
    BankStatement,
    Instruction,
    InstructionStatus,
    ReconCategory,
    ReconItem,
    Topup,
)
from lightway.integration.settlement import iso20022 as iso

STATEMENTS = frozenset({iso.CAMT_053, iso.CAMT_053_V2})


@dataclass(frozen=True)
class Reconciled:
    statement: BankStatement
    items: list[ReconItem]
    already: bool

    def counts(self) -> dict[str, int]:
        out = {c.value: 0 for c in ReconCategory}
        for item in self.items:
            out[item.category] += 1
        return out


def statement_reconcile(*, xml: str, actor: str, now: datetime) -> Reconciled:
    """Import one camt.053 and reconcile it (see the module docstring)."""
    try:
        report = iso.report_read(xml, expect=STATEMENTS)
    except iso.IsoInvalid as exc:
        raise ValidationFailed(f"camt.053 refused: {exc}") from None
    if report.statement_date is None or not report.report_id:
        raise ValidationFailed("the statement names no date or id")
    existing = BankStatement.objects.filter(stmt_id=report.report_id[:35]).first()
    if existing is not None:
        return Reconciled(existing, list(existing.items.order_by("id")), True)
    on = report.statement_date
    code = report.currency
    with transaction.atomic():
        statement = BankStatement.objects.create(
            stmt_id=report.report_id[:35],
            msg_id=report.msg_id[:35],
            version=report.message,
            account=report.account[:34],
            currency=code,
            statement_date=on,
            xml=xml,
            lines=len(report.entries),
            imported_at=now,
            imported_by=actor[:64],
        )
        items = _pair(statement, report, on, code)
        ReconItem.objects.bulk_create(items)
        audit_record(
            actor=actor,
            action="settlement.statement_reconcile",
            object_type="settlement_bank_statement",
            object_id=statement.stmt_id,
            data={"lines": statement.lines, "version": statement.version},
            now=now,
        )
    return Reconciled(statement, list(statement.items.order_by("id")), False)


def _pair(statement: BankStatement, report: iso.BankReport, on: date, code: str) -> list[ReconItem]:
    items: list[ReconItem] = []
    matched_instructions: set[int] = set()
    matched_topups: set[int] = set()
    for entry in report.entries:
        if entry.status != "BOOK":
            continue
        instruction = None
        if entry.end_to_end_id:
            instruction = Instruction.objects.filter(end_to_end_id=entry.end_to_end_id).first()
        if instruction is None and entry.instr_id:
            instruction = Instruction.objects.filter(instr_id=entry.instr_id).first()
        if instruction is not None and instruction.status == InstructionStatus.SETTLED:
            expected = -instruction.signed_amount  # the bank's view: a payment is a debit
            matched_instructions.add(instruction.pk)
            items.append(
                _item(
                    statement,
                    instruction=instruction,
                    reference=instruction.instr_id,
                    code=code,
                    expected=expected,
                    booked=entry.signed,
                )
            )
            continue
        topup = (
            Topup.objects.filter(bank_reference=entry.acct_svcr_ref).first()
            if (entry.acct_svcr_ref)
            else None
        )
        if topup is not None:
            matched_topups.add(topup.pk)
            items.append(
                _item(
                    statement,
                    topup=topup,
                    reference=topup.bank_reference,
                    code=code,
                    expected=topup.amount,
                    booked=entry.signed,
                )
            )
            continue
        detail = entry.remittance_info or "no reference we know"
        if instruction is not None:
            detail = f"instruction {instruction.instr_id} is {instruction.status}"
        items.append(
            ReconItem(
                statement=statement,
                category=ReconCategory.UNEXPECTED,
                instruction=instruction,
                reference=(entry.end_to_end_id or entry.acct_svcr_ref)[:64],
                currency=code,
                booked=entry.signed,
                detail=detail[:300],
            )
        )
    for instruction in Instruction.objects.filter(
        status=InstructionStatus.SETTLED, settlement_date=on, currency=code
    ).exclude(pk__in=matched_instructions):
        items.append(
            ReconItem(
                statement=statement,
                category=ReconCategory.MISSING,
                instruction=instruction,
                reference=instruction.instr_id,
                currency=code,
                expected=-instruction.signed_amount,
                detail="settled by the Settlement API, not on the statement",
            )
        )
    for topup in Topup.objects.filter(booked_on=on, currency=code).exclude(pk__in=matched_topups):
        items.append(
            ReconItem(
                statement=statement,
                category=ReconCategory.MISSING,
                topup=topup,
                reference=topup.bank_reference,
                currency=code,
                expected=topup.amount,
                detail="top-up credited, not on the statement",
            )
        )
    return items


def _item(
    statement: BankStatement,
    *,
    reference: str,
    code: str,
    expected: int,
    booked: int,
    instruction: Instruction | None = None,
    topup: Topup | None = None,
) -> ReconItem:
    same = expected == booked
    return ReconItem(
        statement=statement,
        category=ReconCategory.MATCHED if same else ReconCategory.AMOUNT_MISMATCH,
        instruction=instruction,
        topup=topup,
        reference=reference[:64],
        currency=code,
        expected=expected,
        booked=booked,
        detail="" if same else f"expected {expected}, booked {booked}",
    )


def statement_fetch_reconcile(
    *, currency_code: str, on: date, actor: str, now: datetime, version: str = ""
) -> Reconciled:
    """Fetch LightWay's statement of ``on`` from the Settlement API and reconcile it."""
    party = settlement_party(counterparty=LIGHTWAY, currency_code=currency_code)
    xml = settlement_gateway().statement(account=party.account, on=on, version=version)
    return statement_reconcile(xml=xml, actor=actor, now=now)


def statement_get(*, statement_id: int) -> BankStatement:
    found = BankStatement.objects.filter(pk=statement_id).first()
    if found is None:
        raise NotFound("no such statement", details={"statement_id": statement_id})
    return found
