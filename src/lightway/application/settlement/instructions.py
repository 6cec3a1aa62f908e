"""Settlement instructions: made at close, sent to the LightWay Finance Settlement API,
confirmed asynchronously, posted exactly once (docs/settlement.md, "Instructions").

- :func:`instructions_build`: one instruction per counterparty whose cash positions in the
  window do not net to zero; LightWay pays a positive net (``pay``, with its pain.001), the
  counterparty pays a negative one (``collect``). Ids: ``InstrId`` (our idempotency key at
  the API), ``EndToEndId`` and a UETR, fixed when the instruction is made.
- :func:`instruction_send` (job ``settlement_instruction_send`` and the sweep): POST it;
  only after the window's transaction committed; the same ``InstrId`` on every attempt, so
  a retry after a timeout can never pay twice.
- :func:`instruction_apply`: the one place a confirmation moves money. Under the
  instruction's row lock: a final instruction is left alone (a duplicate or late
  confirmation does nothing); ``ACSC`` whose references and amount are the instruction's
  posts the settlement entry (key ``settlement:<InstrId>``, unique in the database): each
  cash position's account is cleared by its window amount and the net goes through the
  settlement bank account; ``RJCT`` records the reason. Then the window is SETTLED once
  every counterparty has a settled instruction.
- callbacks (:func:`settlement_callback_receive`, ``_process``): verified (HMAC over
  timestamp and body), stored as received, applied by a job; a lost callback is found by
  the sweep's status read (:func:`settlement_sweep`).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from django.conf import settings
from django.db import transaction

from lightway.application.errors import Conflict, NotFound
from lightway.application.settlement.config import settlement_configured, settlement_gateway
from lightway.application.settlement.parties import settlement_party
from lightway.data.audit.services import audit_record
from lightway.data.ledger.models import AccountKind
from lightway.data.ledger.services import Leg, entry_post, house_account_id
from lightway.data.settlement.models import (
    LIGHTWAY,
    CallbackStatus,
    Direction,
    Instruction,
    InstructionStatus,
    Position,
    SettlementCallback,
    SettlementWindow,
    WindowState,
)
from lightway.infrastructure.db import retry_transient
from lightway.infrastructure.jobs import job_enqueue
from lightway.integration.settlement import iso20022 as iso
from lightway.integration.settlement.port import (
    InstructionRequest,
    Party,
    SettlementConflict,
    SettlementError,
    SettlementRefused,
    SettlementUnauthorized,
    SettlementUnavailable,
)
from lightway.integration.settlement.port import (
    InstructionStatus as ApiStatus,
)
from lightway.integration.settlement.signing import (
    HEADER_KEY_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    callback_signature,
    signature_matches,
    timestamp_fresh,
)

logger = logging.getLogger("lightway.settlement")

SEND_TASK = "settlement_instruction_send"
CALLBACK_TASK = "settlement_callback_process"
SETTLEMENT_KIND = "settlement"  # the journal entry kind (data/ledger/kinds.py)
MAX_CALLBACK_BYTES = 64 * 1024


def _poll_delay() -> timedelta:
    return timedelta(seconds=max(1, int(settings.SETTLEMENT_POLL_SECONDS)))


# --- making them (at close) -------------------------------------------------------------------


def _ids(window_id: int, index: int, reissue: int) -> tuple[str, str]:
    """(InstrId, EndToEndId): unique, at most 35 characters of Max35Text."""
    tail = f"{window_id:010d}C{index:03d}R{reissue:02d}"
    return f"LWS{tail}", f"LWE{tail}"


def _instruction(
    window: SettlementWindow,
    counterparty: str,
    net: int,
    index: int,
    reissue: int,
    now: datetime,
) -> Instruction:
    code = window.market
    ours = settlement_party(counterparty=LIGHTWAY, currency_code=code)
    theirs = settlement_party(counterparty=counterparty, currency_code=code)
    direction = Direction.PAY if net > 0 else Direction.COLLECT
    debtor, creditor = (ours, theirs) if direction == Direction.PAY else (theirs, ours)
    instr_id, end_to_end_id = _ids(window.pk, index, reissue)
    uetr = uuid.uuid4()
    remittance = f"LightWay settlement window {window.pk} {code} {counterparty}"[:140]
    requested = now.date()
    pain = ""
    if direction == Direction.PAY:
        pain = iso.pain001_build(
            iso.CreditTransfer(
                msg_id=instr_id,
                instr_id=instr_id,
                end_to_end_id=end_to_end_id,
                uetr=uetr,
                amount_minor=abs(net),
                currency=code,
                requested_date=requested,
                debtor_name=debtor.name,
                debtor_account=debtor.account,
                debtor_agent=debtor.agent_bic,
                creditor_name=creditor.name,
                creditor_account=creditor.account,
                creditor_agent=creditor.agent_bic,
                remittance_info=remittance,
                created_at=now,
            )
        )
    return Instruction.objects.create(
        window=window,
        counterparty=counterparty,
        currency=code,
        amount=abs(net),
        direction=direction,
        instr_id=instr_id,
        end_to_end_id=end_to_end_id,
        uetr=uetr,
        status=InstructionStatus.NEW,
        requested_date=requested,
        debtor_name=debtor.name,
        debtor_account=debtor.account,
        debtor_agent=debtor.agent_bic,
        creditor_name=creditor.name,
        creditor_account=creditor.account,
        creditor_agent=creditor.agent_bic,
        remittance_info=remittance,
        pain001=pain,
        next_check_at=now,
        created_at=now,
        updated_at=now,
    )


def instructions_build(
    *, window: SettlementWindow, positions: list[Position], now: datetime
) -> list[Instruction]:
    """The window's instructions (in its close transaction) and their send jobs."""
    nets: dict[str, int] = {}
    for position in positions:
        if position.cash:
            nets[position.counterparty] = nets.get(position.counterparty, 0) + position.amount
    made = []
    for index, (counterparty, net) in enumerate(sorted(nets.items())):
        if net == 0:
            continue  # nothing to move: the components net out (docs/settlement.md)
        instruction = _instruction(window, counterparty, net, index, 0, now)
        job_enqueue(SEND_TASK, instruction_id=instruction.pk)
        made.append(instruction)
    return made


def instruction_reissue(*, instruction_id: int, actor: str, now: datetime) -> Instruction:
    """A rejected instruction made again under new ids (same window, counterparty and
    amount), after staff fixed what the rejection named (e.g. the bank account)."""
    with transaction.atomic():
        old = Instruction.objects.select_for_update().filter(pk=instruction_id).first()
        if old is None:
            raise NotFound("no such instruction", details={"instruction_id": instruction_id})
        window = SettlementWindow.objects.select_for_update().get(pk=old.window_id)
        if old.status != InstructionStatus.REJECTED:
            raise Conflict(f"instruction {old.instr_id} is {old.status}: only a rejected one")
        if window.state != WindowState.PENDING_SETTLEMENT:
            raise Conflict(f"window {window.pk} is {window.state}")
        siblings = Instruction.objects.filter(window=window, counterparty=old.counterparty)
        if siblings.exclude(status=InstructionStatus.REJECTED).exists():
            raise Conflict(f"{old.counterparty} already has a live instruction in this window")
        index = int(old.instr_id[14:17])
        net = old.signed_amount
        new = _instruction(window, old.counterparty, net, index, siblings.count(), now)
        job_enqueue(SEND_TASK, instruction_id=new.pk)
        audit_record(
            actor=actor,
            action="settlement.instruction_reissue",
            object_type="settlement_instruction",
            object_id=new.instr_id,
            data={"replaces": old.instr_id, "window": window.pk, "amount": new.amount},
            now=now,
        )
        return new


# --- sending --------------------------------------------------------------------------------


def _request(instruction: Instruction) -> InstructionRequest:
    return InstructionRequest(
        instr_id=instruction.instr_id,
        end_to_end_id=instruction.end_to_end_id,
        uetr=instruction.uetr,
        requested_date=instruction.requested_date,
        amount_minor=instruction.amount,
        currency=instruction.currency,
        debtor=Party(instruction.debtor_name, instruction.debtor_account, instruction.debtor_agent),
        creditor=Party(
            instruction.creditor_name, instruction.creditor_account, instruction.creditor_agent
        ),
        remittance_info=instruction.remittance_info,
        pain001=instruction.pain001,
    )


def _note(instruction_id: int, *, error: str, next_check_at: datetime, now: datetime) -> None:
    with transaction.atomic():
        found = Instruction.objects.select_for_update().filter(pk=instruction_id).first()
        if found is None or found.status not in (InstructionStatus.NEW, InstructionStatus.SENT):
            return
        found.attempts += 1
        found.last_error = error[:300]
        found.next_check_at = next_check_at
        found.updated_at = now
        found.save(update_fields=["attempts", "last_error", "next_check_at", "updated_at"])


def instruction_send(*, instruction_id: int, now: datetime) -> str:
    """Send a new instruction (or re-send it: same InstrId); returns what happened."""
    instruction = Instruction.objects.filter(pk=instruction_id).first()
    if instruction is None:
        return "missing"
    if instruction.status != InstructionStatus.NEW:
        return f"already {instruction.status}"
    if not settlement_configured():
        _note(
            instruction_id,
            error="SETTLEMENT_BASE_URL is not set",
            next_check_at=now + _poll_delay(),
            now=now,
        )
        return "not_configured"
    try:
        status = settlement_gateway().instruction_submit(_request(instruction))
    except SettlementUnavailable as exc:
        backoff = timedelta(seconds=min(_poll_delay().total_seconds(), 5 * 2**instruction.attempts))
        _note(instruction_id, error=str(exc), next_check_at=now + backoff, now=now)
        return "retry"
    except (SettlementRefused, SettlementConflict) as exc:
        rejected = ApiStatus(
            instr_id=instruction.instr_id,
            end_to_end_id=instruction.end_to_end_id,
            uetr=str(instruction.uetr),
            status="RJCT",
            reason_code=(exc.code or "NARR")[:8],
            reason_text=(exc.message or str(exc))[:300],
        )
        instruction_apply(instruction_id=instruction_id, status=rejected, now=now)
        return "refused"
    except (SettlementUnauthorized, SettlementError) as exc:
        # our credentials or the API's answer: an operator must look; retried later
        logger.error("settlement submit failed", extra={"instr_id": instruction.instr_id})
        _note(instruction_id, error=str(exc), next_check_at=now + _poll_delay(), now=now)
        return "error"
    return instruction_apply(instruction_id=instruction_id, status=status, now=now).value


def instruction_poll(*, instruction_id: int, now: datetime) -> str:
    """Read a sent instruction's status and apply it (the callback may be lost)."""
    instruction = Instruction.objects.filter(pk=instruction_id).first()
    if instruction is None or instruction.status != InstructionStatus.SENT:
        return "nothing to do"
    if not settlement_configured():
        return "not_configured"
    try:
        status = settlement_gateway().instruction_status(instruction.instr_id)
    except SettlementError as exc:
        _note(instruction_id, error=str(exc), next_check_at=now + _poll_delay(), now=now)
        return "retry"
    return instruction_apply(instruction_id=instruction_id, status=status, now=now).value


# --- applying an outcome ------------------------------------------------------------------------


class Applied(Enum):
    SETTLED = "settled"
    REJECTED = "rejected"
    SENT = "sent"  # accepted, outcome still to come
    UNCHANGED = "unchanged"  # already final, or still waiting
    DISAGREES = "disagrees"  # the confirmation does not match the instruction: no money moved


def _disagreement(instruction: Instruction, status: ApiStatus) -> str:
    if status.end_to_end_id and status.end_to_end_id != instruction.end_to_end_id:
        return f"EndToEndId {status.end_to_end_id[:35]!r}"
    if status.uetr and status.uetr != str(instruction.uetr):
        return f"UETR {status.uetr[:36]!r}"
    if status.currency and status.currency != instruction.currency:
        return f"currency {status.currency[:3]!r}"
    if status.amount_minor is not None and status.amount_minor != instruction.amount:
        return f"amount {status.amount_minor}"
    return ""


def instruction_apply(*, instruction_id: int, status: ApiStatus, now: datetime) -> Applied:
    """Apply what the API says, exactly once (see the module docstring)."""
    return retry_transient(lambda: _apply(instruction_id, status, now))


def _apply(instruction_id: int, status: ApiStatus, now: datetime) -> Applied:
    with transaction.atomic():
        instruction = Instruction.objects.select_for_update().filter(pk=instruction_id).first()
        if instruction is None:
            raise NotFound("no such instruction", details={"instruction_id": instruction_id})
        if instruction.status in (InstructionStatus.SETTLED, InstructionStatus.REJECTED):
            return Applied.UNCHANGED
        if status.instr_id != instruction.instr_id:
            raise Conflict(f"status of {status.instr_id[:35]} applied to {instruction.instr_id}")
        if status.settled:
            problem = _disagreement(instruction, status)
            if problem:
                instruction.last_error = f"confirmation with {problem}: no money moved"[:300]
                instruction.updated_at = now
                instruction.save(update_fields=["last_error", "updated_at"])
                logger.error(
                    "settlement confirmation disagrees",
                    extra={"instr_id": instruction.instr_id, "problem": problem},
                )
                return Applied.DISAGREES
            _settle(instruction, status, now)
            _window_settle_if_done(instruction.window_id, now)
            return Applied.SETTLED
        if status.rejected:
            instruction.status = InstructionStatus.REJECTED
            instruction.reject_code = status.reason_code or "NARR"
            instruction.reject_reason = status.reason_text
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
            _audit(instruction, "rejected", now, code=instruction.reject_code)
            logger.warning(
                "settlement instruction rejected",
                extra={"instr_id": instruction.instr_id, "code": instruction.reject_code},
            )
            return Applied.REJECTED
        if instruction.status == InstructionStatus.NEW:
            instruction.status = InstructionStatus.SENT
            instruction.sent_at = now
            instruction.next_check_at = now + _poll_delay()
            instruction.last_error = ""
            instruction.updated_at = now
            instruction.save(
                update_fields=["status", "sent_at", "next_check_at", "last_error", "updated_at"]
            )
            _audit(instruction, "sent", now)
            return Applied.SENT
        instruction.next_check_at = now + _poll_delay()
        instruction.updated_at = now
        instruction.save(update_fields=["next_check_at", "updated_at"])
        return Applied.UNCHANGED


def settlement_legs(instruction: Instruction, now: datetime) -> list[Leg]:
    """The settlement entry: every cash position of the counterparty in the window cleared
    (its account posted the opposite of its window amount), the net through the bank."""
    positions = Position.objects.filter(
        window_id=instruction.window_id,
        counterparty=instruction.counterparty,
        currency=instruction.currency,
        cash=True,
    ).exclude(amount=0)
    legs = [Leg(p.account_id, -p.amount, "position") for p in positions]
    bank = house_account_id(
        kind=AccountKind.SETTLEMENT_BANK, currency=instruction.currency, now=now
    )
    legs.append(Leg(bank, instruction.signed_amount, "bank"))
    return legs


def _settle(instruction: Instruction, status: ApiStatus, now: datetime) -> None:
    entry = entry_post(
        kind=SETTLEMENT_KIND,
        currency=instruction.currency,
        legs=settlement_legs(instruction, now),
        now=now,
        idempotency_key=f"settlement:{instruction.instr_id}",
        reference=instruction.instr_id,
        description=f"settlement window {instruction.window_id} {instruction.counterparty}",
    )
    instruction.status = InstructionStatus.SETTLED
    instruction.entry_id = entry.pk
    instruction.settlement_date = status.settlement_date or now.date()
    instruction.bank_reference = status.acct_svcr_ref
    instruction.settled_at = now
    instruction.sent_at = instruction.sent_at or now
    instruction.next_check_at = None
    instruction.last_error = ""
    instruction.updated_at = now
    instruction.save(
        update_fields=[
            "status",
            "entry_id",
            "settlement_date",
            "bank_reference",
            "settled_at",
            "sent_at",
            "next_check_at",
            "last_error",
            "updated_at",
        ]
    )
    _audit(instruction, "settled", now, entry=entry.pk, bank_reference=status.acct_svcr_ref)
    logger.info(
        "settlement instruction settled",
        extra={"instr_id": instruction.instr_id, "entry": entry.pk},
    )


def _window_settle_if_done(window_id: int, now: datetime) -> None:
    window = SettlementWindow.objects.select_for_update().get(pk=window_id)
    if window.state != WindowState.PENDING_SETTLEMENT:
        return
    rows = Instruction.objects.filter(window_id=window_id).values_list("counterparty", "status")
    done: dict[str, bool] = {}
    for counterparty, status in rows:
        done[counterparty] = done.get(counterparty, False) or status == InstructionStatus.SETTLED
    if done and all(done.values()):
        window.state = WindowState.SETTLED
        window.settled_at = now
        window.save(update_fields=["state", "settled_at"])
        audit_record(
            actor="system:settlement",
            action="settlement.window_settled",
            object_type="settlement_window",
            object_id=str(window.pk),
            data={"market": window.market},
            now=now,
        )


def _audit(instruction: Instruction, what: str, now: datetime, **data: object) -> None:
    audit_record(
        actor="system:settlement",
        action=f"settlement.instruction_{what}",
        object_type="settlement_instruction",
        object_id=instruction.instr_id,
        data={
            "window": instruction.window_id,
            "counterparty": instruction.counterparty,
            "currency": instruction.currency,
            "amount": instruction.amount,
            "direction": instruction.direction,
            **data,
        },
        now=now,
    )


# --- callbacks ---------------------------------------------------------------------------------


class CallbackOutcome(Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"  # missing or wrong signature: 401
    INVALID = "invalid"  # authentic but not a status document: 400


@dataclass(frozen=True)
class CallbackReceipt:
    outcome: CallbackOutcome
    callback_id: int | None = None


def settlement_callback_receive(
    *, raw_body: bytes, headers: dict[str, str], now: datetime
) -> CallbackReceipt:
    """Verify a confirmation the Settlement API posted, store it, queue its processing."""
    lowered = {k.lower(): v for k, v in headers.items()}
    key_id = lowered.get(HEADER_KEY_ID.lower(), "")
    timestamp = lowered.get(HEADER_TIMESTAMP.lower(), "")
    signature = lowered.get(HEADER_SIGNATURE.lower(), "")
    expected = callback_signature(
        secret=settings.SETTLEMENT_CALLBACK_SECRET, timestamp=timestamp, body=raw_body
    )
    if (
        key_id != settings.SETTLEMENT_CALLBACK_KEY_ID
        or not timestamp_fresh(timestamp, now.timestamp())
        or not signature_matches(expected, signature)
    ):
        logger.warning("settlement callback refused: signature")
        return CallbackReceipt(CallbackOutcome.REJECTED)
    try:
        status = ApiStatus.from_json(json.loads(raw_body))
    except (ValueError, iso.IsoInvalid):
        return CallbackReceipt(CallbackOutcome.INVALID)
    with transaction.atomic():
        callback = SettlementCallback.objects.create(
            instr_id=status.instr_id[:35],
            key_id=key_id[:64],
            body=raw_body.decode("utf-8"),
            status=CallbackStatus.RECEIVED,
            received_at=now,
        )
        job_enqueue(CALLBACK_TASK, callback_id=callback.pk)
    return CallbackReceipt(CallbackOutcome.ACCEPTED, callback.pk)


def settlement_callback_process(*, callback_id: int, now: datetime) -> str:
    """Apply a stored, verified confirmation (idempotent: a processed one is left alone)."""
    callback = SettlementCallback.objects.filter(pk=callback_id).first()
    if callback is None or callback.status != CallbackStatus.RECEIVED:
        return "nothing to do"
    status = ApiStatus.from_json(json.loads(callback.body))
    instruction = Instruction.objects.filter(instr_id=status.instr_id).first()
    if instruction is None:
        outcome, state = "unknown instruction", CallbackStatus.IGNORED
    else:
        outcome = instruction_apply(instruction_id=instruction.pk, status=status, now=now).value
        state = CallbackStatus.PROCESSED
    SettlementCallback.objects.filter(pk=callback_id, status=CallbackStatus.RECEIVED).update(
        status=state, processed_at=now, outcome=outcome[:64]
    )
    return outcome


# --- the sweep ---------------------------------------------------------------------------------


def instructions_due(*, now: datetime, limit: int = 100) -> list[tuple[int, str]]:
    return list(
        Instruction.objects.filter(
            status__in=[InstructionStatus.NEW, InstructionStatus.SENT], next_check_at__lte=now
        )
        .order_by("next_check_at")
        .values_list("pk", "status")[:limit]
    )


def settlement_sweep(*, now: datetime) -> int:
    """Send every due new instruction and read the status of every due sent one."""
    done = 0
    for instruction_id, status in instructions_due(now=now):
        if status == InstructionStatus.NEW:
            instruction_send(instruction_id=instruction_id, now=now)
        else:
            instruction_poll(instruction_id=instruction_id, now=now)
        done += 1
    return done
