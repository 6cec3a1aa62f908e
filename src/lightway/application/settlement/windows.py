"""Settlement windows: close (idempotent), positions and instructions, abort, cut-off.

A window is closed in two short transactions (docs/settlement.md, "Closing a window"):

1. :func:`window_close` takes the market's advisory lock exclusively (payments take it
   shared while they pick the open window, migration 0002), locks the window row, moves it
   to ``closed`` and opens the market's next window, and commits. From then on no payment
   can add to the closed window; payments waited at most for this short transaction.
2. :func:`window_positions` (same call, right after; redone by the cut-off job after a
   crash) sums the window's deltas into positions once, makes one instruction per
   counterparty whose cash positions do not net to zero and queues their sending; the
   window goes ``pending_settlement`` (``settled`` at once when there is nothing to move).

Closing an already closed window returns what the first close made (no second position,
no second instruction): both steps look at the window's state under its row lock, and the
database refuses positions twice (unique index) and a second live instruction per
counterparty (partial unique index).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from lightway.application.errors import Conflict, NotFound, ValidationFailed
from lightway.application.settlement.config import last_cutoff, market_check, markets
from lightway.application.settlement.instructions import instructions_build
from lightway.application.text import text_printable
from lightway.data.audit.services import audit_record
from lightway.data.settlement.models import (
    Instruction,
    InstructionStatus,
    Position,
    SettlementWindow,
    WindowState,
)
from lightway.data.settlement.services import (
    deltas_carry,
    market_lock,
    positions_insert,
    window_insert_open,
    window_lock,
    window_open_id,
    window_open_lock,
)
from lightway.infrastructure.db import retry_transient

logger = logging.getLogger("lightway.settlement")


@dataclass(frozen=True)
class WindowClosed:
    window: SettlementWindow
    positions: list[Position]
    instructions: list[Instruction]
    already: bool  # the window was closed before this call (nothing new was made)


def window_close(
    *,
    now: datetime,
    actor: str,
    window_id: int | None = None,
    market: str | None = None,
    cutoff_at: datetime | None = None,
) -> WindowClosed:
    """Close a window (by id, or the market's open one) and settle its positions."""
    if window_id is None:
        if market is None:
            raise ValidationFailed("name a window or a market", details={"field": "window"})
        market = market_check(market)
        found = SettlementWindow.objects.filter(market=market, state=WindowState.OPEN).first()
        if found is None:
            raise NotFound(f"no open {market} window")
        window_id = found.pk
    started = time.perf_counter()
    closed, already = retry_transient(lambda: _close(window_id, now, actor, cutoff_at))
    result = window_positions(window_id=closed.pk, now=now, started=started)
    return WindowClosed(result.window, result.positions, result.instructions, already)


def _close(
    window_id: int, now: datetime, actor: str, cutoff_at: datetime | None
) -> tuple[SettlementWindow, bool]:
    with transaction.atomic():
        window = SettlementWindow.objects.filter(pk=window_id).first()
        if window is None:
            raise NotFound("no such window", details={"window_id": window_id})
        market_lock(market=window.market)
        window = window_lock(window_id=window_id)
        assert window is not None
        if window.state != WindowState.OPEN:
            return window, True
        window.state = WindowState.CLOSED
        window.closed_at = now
        window.closed_by = actor[:64]
        window.cutoff_at = cutoff_at
        window.save(update_fields=["state", "closed_at", "closed_by", "cutoff_at"])
        window_insert_open(market=window.market, now=now)
        audit_record(
            actor=actor,
            action="settlement.window_close",
            object_type="settlement_window",
            object_id=str(window.pk),
            data={"market": window.market, "cutoff_at": cutoff_at},
            now=now,
        )
        return window, False


@dataclass(frozen=True)
class _Positions:
    window: SettlementWindow
    positions: list[Position]
    instructions: list[Instruction]


def window_positions(*, window_id: int, now: datetime, started: float | None = None) -> _Positions:
    """Step 2 of the module docstring (once; later calls read what it made)."""
    started = time.perf_counter() if started is None else started
    with transaction.atomic():
        window = window_lock(window_id=window_id)
        if window is None:
            raise NotFound("no such window", details={"window_id": window_id})
        if window.state == WindowState.OPEN:
            raise Conflict(f"window {window.pk} is still open")
        if window.positions_at is not None or window.state == WindowState.ABORTED:
            return _Positions(
                window,
                list(window.positions.order_by("counterparty", "component")),
                list(window.instructions.order_by("counterparty", "id")),
            )
        positions = positions_insert(window_id=window.pk)
        instructions = instructions_build(window=window, positions=positions, now=now)
        window.deltas = sum(p.deltas for p in positions)
        window.positions_at = now
        window.state = WindowState.PENDING_SETTLEMENT if instructions else WindowState.SETTLED
        if not instructions:
            window.settled_at = now
        window.close_seconds = round(time.perf_counter() - started, 6)
        window.save(
            update_fields=["deltas", "positions_at", "state", "settled_at", "close_seconds"]
        )
        audit_record(
            actor="system:settlement",
            action="settlement.window_positions",
            object_type="settlement_window",
            object_id=str(window.pk),
            data={
                "market": window.market,
                "deltas": window.deltas,
                "positions": len(positions),
                "instructions": [i.instr_id for i in instructions],
            },
            now=now,
        )
    logger.info(
        "settlement window closed",
        extra={
            "window": window.pk,
            "market": window.market,
            "deltas": window.deltas,
            "instructions": len(instructions),
            "seconds": window.close_seconds,
        },
    )
    return _Positions(window, positions, instructions)


def window_abort(*, window_id: int, reason: str, actor: str, now: datetime) -> SettlementWindow:
    """Abort a closed window before anything was committed: no instruction accepted by the
    Settlement API (new ones are withdrawn). Its sums move into the market's open window,
    so nothing is lost; they settle with it."""
    reason = " ".join(str(reason or "").split())
    if not text_printable(reason, min_length=3, max_length=300):
        raise ValidationFailed("give a reason (3 to 300 characters)", details={"field": "reason"})
    with transaction.atomic():
        window = window_lock(window_id=window_id)
        if window is None:
            raise NotFound("no such window", details={"window_id": window_id})
        if window.state not in (WindowState.CLOSED, WindowState.PENDING_SETTLEMENT):
            raise Conflict(f"window {window.pk} is {window.state}: only a closed one is aborted")
        instructions = list(Instruction.objects.select_for_update().filter(window=window))
        committed = [
            i.instr_id
            for i in instructions
            if i.status in (InstructionStatus.SENT, InstructionStatus.SETTLED)
        ]
        if committed:
            raise Conflict(
                "the Settlement API has accepted instructions of this window: "
                + ", ".join(committed),
                details={"instructions": committed},
            )
        for instruction in instructions:
            if instruction.status == InstructionStatus.NEW:
                instruction.status = InstructionStatus.REJECTED
                instruction.reject_code = "ABRT"
                instruction.reject_reason = f"window aborted: {reason}"[:300]
                instruction.next_check_at = None
                instruction.updated_at = now
                instruction.save(
                    update_fields=[
                        "status",
                        "reject_code",
                        "reject_reason",
                        "next_check_at",
                        "updated_at",
                    ]
                )
        target = window_open_id(market=window.market, now=now)
        carried = deltas_carry(from_window_id=window.pk, to_window_id=target, now=now)
        window.state = WindowState.ABORTED
        window.aborted_at = now
        window.aborted_by = actor[:64]
        window.abort_reason = reason
        window.save(update_fields=["state", "aborted_at", "aborted_by", "abort_reason"])
        audit_record(
            actor=actor,
            action="settlement.window_abort",
            object_type="settlement_window",
            object_id=str(window.pk),
            data={"market": window.market, "carried_to": target, "rows": carried},
            now=now,
        )
    return window


def windows_close_due(*, now: datetime) -> list[int]:
    """The cut-off job: close every open window opened before its market's latest cut-off
    (idempotent per cut-off: the window opened by the close is after it), and finish the
    positions of any window a crash left closed without them. Returns the windows closed."""
    closed = []
    for window in SettlementWindow.objects.filter(state=WindowState.OPEN, market__in=markets()):
        cutoff = last_cutoff(window.market, now)
        if window.opened_at < cutoff <= now:
            window_close(window_id=window.pk, now=now, actor="system:cutoff", cutoff_at=cutoff)
            closed.append(window.pk)
    for window_id in SettlementWindow.objects.filter(
        state=WindowState.CLOSED, positions_at__isnull=True
    ).values_list("pk", flat=True):
        window_positions(window_id=window_id, now=now)
    return closed


def windows_open_ensure(*, now: datetime) -> int:
    """Open a window for every configured market that has none (payments open one too)."""
    opened = 0
    for market in markets():
        with transaction.atomic():
            if window_open_lock(market=market) is None:
                window_open_id(market=market, now=now)
                opened += 1
    return opened
