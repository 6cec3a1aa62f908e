"""Settlement statements per window and counterparty (MTN, each IMTO) in CSV and JSON, and
the reads of the staff pages (docs/settlement.md, "Statements").

A statement says, for one window and one counterparty: each position component (MoMo
float per product, commission, prefund used) with its number of payments and amount in
minor units and as a decimal, the net cash position and who pays whom, the instructions
and their states; the CSV also lists every payment of the window (streamed in id order,
so its cost is the window's size, never history).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lightway.application.errors import NotFound
from lightway.data.settlement.models import (
    BankStatement,
    Instruction,
    Position,
    PositionDelta,
    ReconItem,
    SettlementWindow,
    Topup,
)
from lightway.integration.settlement.iso20022 import decimal_amount

PAGE = 50


@dataclass(frozen=True)
class CounterpartyStatement:
    window: SettlementWindow
    counterparty: str
    positions: list[Position]
    instructions: list[Instruction]

    @property
    def net_cash(self) -> int:
        """What LightWay pays the counterparty (+) or collects from it (-)."""
        return sum(p.amount for p in self.positions if p.cash)

    @property
    def funded(self) -> int:
        """Prefund used in the window (settled from the prefund when each payment was made)."""
        return sum(p.amount for p in self.positions if not p.cash)


def window_get(*, window_id: int) -> SettlementWindow:
    found = SettlementWindow.objects.filter(pk=window_id).first()
    if found is None:
        raise NotFound("no such window", details={"window_id": window_id})
    return found


def windows_page(
    *, market: str = "", before: int | None = None, limit: int = PAGE
) -> list[SettlementWindow]:
    """Windows newest first, keyset-paginated on id (``before``: the last id shown)."""
    query = SettlementWindow.objects.order_by("-id")
    if market:
        query = query.filter(market=market)
    if before is not None:
        query = query.filter(id__lt=before)
    return list(query[:limit])


def window_counterparties(*, window_id: int) -> list[str]:
    return sorted(
        set(Position.objects.filter(window_id=window_id).values_list("counterparty", flat=True))
    )


def window_statement(*, window_id: int, counterparty: str) -> CounterpartyStatement:
    window = window_get(window_id=window_id)
    positions = list(
        Position.objects.filter(window=window, counterparty=counterparty).order_by("component")
    )
    instructions = list(
        Instruction.objects.filter(window=window, counterparty=counterparty).order_by("id")
    )
    if not positions and not instructions:
        raise NotFound(
            f"{counterparty} has no position in window {window_id}",
            details={"counterparty": counterparty},
        )
    return CounterpartyStatement(window, counterparty, positions, instructions)


def _decimal(amount: int, code: str) -> str:
    return str(decimal_amount(amount, code))


def statement_json(statement: CounterpartyStatement) -> dict[str, Any]:
    window = statement.window
    code = window.market
    net = statement.net_cash
    return {
        "window": window.pk,
        "market": code,
        "state": window.state,
        "opened_at": window.opened_at,
        "closed_at": window.closed_at,
        "cutoff_at": window.cutoff_at,
        "counterparty": statement.counterparty,
        "currency": code,
        "positions": [
            {
                "component": p.component,
                "cash": p.cash,
                "payments": p.deltas,
                "amount_minor": p.amount,
                "amount": _decimal(p.amount, code),
            }
            for p in statement.positions
        ],
        "net_cash_minor": net,
        "net_cash": _decimal(net, code),
        "direction": "lightway_pays" if net > 0 else "counterparty_pays" if net < 0 else "none",
        "prefund_used_minor": -statement.funded,
        "instructions": [
            {
                "InstrId": i.instr_id,
                "EndToEndId": i.end_to_end_id,
                "UETR": str(i.uetr),
                "direction": i.direction,
                "amount_minor": i.amount,
                "amount": _decimal(i.amount, i.currency),
                "status": i.status,
                "IntrBkSttlmDt": i.settlement_date,
                "AcctSvcrRef": i.bank_reference,
                "reject_code": i.reject_code,
                "reject_reason": i.reject_reason,
            }
            for i in statement.instructions
        ],
    }


def _csv_line(values: list[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


def statement_csv(statement: CounterpartyStatement, *, chunk: int = 5000) -> Iterator[str]:
    """The statement as CSV lines: summary, positions, instructions, then every payment."""
    window = statement.window
    code = window.market
    yield _csv_line(["section", "key", "value", "amount_minor", "amount", "detail"])
    yield _csv_line(["window", "id", window.pk, "", "", window.state])
    yield _csv_line(["window", "market", code, "", "", ""])
    yield _csv_line(["window", "closed_at", window.closed_at or "", "", "", ""])
    yield _csv_line(["window", "counterparty", statement.counterparty, "", "", ""])
    for p in statement.positions:
        yield _csv_line(
            [
                "position",
                p.component,
                p.deltas,
                p.amount,
                _decimal(p.amount, code),
                "cash" if p.cash else "funded from prefund",
            ]
        )
    net = statement.net_cash
    yield _csv_line(
        [
            "net",
            "cash",
            "",
            net,
            _decimal(net, code),
            "lightway pays" if net > 0 else "counterparty pays" if net < 0 else "",
        ]
    )
    for i in statement.instructions:
        yield _csv_line(
            [
                "instruction",
                i.instr_id,
                i.status,
                i.amount,
                _decimal(i.amount, code),
                f"{i.direction} {i.end_to_end_id} {i.bank_reference} {i.reject_code}".strip(),
            ]
        )
    deltas = (
        PositionDelta.objects.filter(window_id=window.pk, counterparty=statement.counterparty)
        .order_by("id")
        .values_list("transfer_id", "entry_id", "account_id", "amount", "carried_from")
    )
    labels = {p.account_id: p.component for p in statement.positions}
    for transfer_id, entry_id, account_id, amount, carried in deltas.iterator(chunk_size=chunk):
        source = f"carried from window {carried}" if carried else f"entry {entry_id}"
        yield _csv_line(
            [
                "payment",
                transfer_id or "",
                labels.get(account_id, account_id),
                amount,
                _decimal(amount, code),
                source,
            ]
        )


def window_instructions(*, window_id: int) -> list[Instruction]:
    return list(Instruction.objects.filter(window_id=window_id).order_by("counterparty", "id"))


def window_positions_list(*, window_id: int) -> list[Position]:
    return list(Position.objects.filter(window_id=window_id).order_by("counterparty", "component"))


def bank_statements_recent(*, limit: int = PAGE) -> list[BankStatement]:
    return list(BankStatement.objects.order_by("-id")[:limit])


def recon_items(*, statement_id: int) -> list[ReconItem]:
    return list(
        ReconItem.objects.filter(statement_id=statement_id)
        .select_related("instruction", "topup")
        .order_by("id")
    )


def topups_recent(*, limit: int = PAGE) -> list[Topup]:
    return list(Topup.objects.order_by("-id")[:limit])
