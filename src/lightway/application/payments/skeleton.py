"""The payment skeleton: one way to record a payment of any kind (package docstring).

``payment_create`` is the entry point. In order:

1. the Idempotency-Key is checked and looked up (``payment_replay``): a retry returns the
   stored transfer after one indexed read, before any validation or pricing; the same key
   with a different request (another ``digest``) is a 409 ``idempotency_key_reused``;
2. the caller's ``build`` validates the request and returns a :class:`PaymentPlan`;
   request errors raise from there and nothing is recorded;
3. a plan that carries a ``refusal`` is recorded as a failed transfer; otherwise, in ONE
   database transaction: the ledger movement (:class:`PostEntry`, :class:`PostFx`,
   :class:`HoldFunds` or :class:`ReserveInbound`: account rows locked first, always), the
   transfer row (the
   database adds it to the payer's usage counters or to the recipient's pending inbound
   amount, wallets migration 0005), the limits policy (``limits``), the commission records
   of a posted fee, the caller's own rows (``plan.record``: a MoMo request and its job) and
   the audit record. A refusal on the way (insufficient funds, an account that is not
   active, a limit) rolls all of it back and is recorded as a failed transfer with its code,
   so a retry gets the same answer;
4. two requests with the same key racing each other: the unique index lets one commit, the
   other replays it.

A hold on a hot account (a partner's prefund, which many payments debit at once) is placed
LAST instead (``HoldFunds(last=True)``): its id is reserved first so the caller's rows can
name it, and the account row is locked only by the transaction's final statements, then
``plan.finish`` runs the caller's checks under that lock (a partner's limits).

Lock order, everywhere: account rows (in id order, by the posting trigger or explicitly),
then the transfer row and the usage counters it updates. So payments never deadlock on
each other's counters.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import DatabaseError, IntegrityError, connection, transaction

from lightway.application.aml.inline import findings_record, inline_check
from lightway.application.errors import IdempotencyConflict, PaymentRefused, ValidationFailed
from lightway.application.payments.limits import (
    DatabaseLimits,
    LimitsPolicy,
    database_limits,
    limits_policy,
)
from lightway.application.text import text_printable
from lightway.application.transactions.commission import (
    FeeQuote,
    commission_error,
    commission_parties,
    commission_records_create,
)
from lightway.data.audit.chain import normalize_data
from lightway.data.audit.services import audit_record
from lightway.data.ledger.errors import AccountNotActive, InsufficientFunds
from lightway.data.ledger.kinds import REVERSAL
from lightway.data.ledger.models import AccountKind, JournalEntry, Posting
from lightway.data.ledger.services import (
    Leg,
    account_lock,
    entry_post,
    hold_id_reserve,
    hold_place,
    house_account_id,
    ledger_error,
    legs_ordered,
)
from lightway.data.money import Money
from lightway.data.wallets.models import Transfer, TransferStatus
from lightway.data.wallets.selectors import transfer_by_key
from lightway.data.wallets.services import (
    transfer_insert,
    transfer_new,
    transfer_posted_record,
    transfer_reverse,
)
from lightway.infrastructure.db import retry_transient
from lightway.infrastructure.metrics import transfers_total

MAX_KEY_LENGTH = 200
FUNDS_MESSAGE = "the available balance does not cover the amount and fee"


# --- what a payment moves --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PostEntry:
    """Post the entry now (P2P): ``legs`` (the principal) plus the fee, taken from
    ``fee_account_id`` and split by the plan's quote. The entry's reference is the transfer
    id; commission records are written with it."""

    legs: tuple[Leg, ...]
    fee_account_id: int


@dataclass(frozen=True, slots=True)
class HoldFunds:
    """Reserve ``amount`` on ``account_id`` until the outcome is known (outbound MoMo
    payments); the hold's idempotency key is ``<key_prefix>:<transfer id>``.

    ``last``: the account is hot (a partner prefund that many payments debit at once), so
    its row is locked by the transaction's LAST statements, not its first: the hold's id is
    reserved first (the caller's rows name it), the transfer, the caller's rows and the
    audit record are written, then the hold is placed and ``plan.finish`` runs its checks
    under the account's lock, and the transaction commits. Concurrent payments from the
    account then wait for each other only for those few statements, and overdraft stays
    impossible (the hold trigger checks the locked row). Lock order stays "account row,
    then the caller's counters": nothing the caller writes before the hold is a row other
    payments of the account lock."""

    account_id: int
    amount: int
    expires_at: datetime
    key_prefix: str
    last: bool = False


@dataclass(frozen=True, slots=True)
class ReserveInbound:
    """Money on its way into ``account_id`` (a deposit): the wallet's account row is locked
    (and must be active) before the transfer row adds the credit to the pending inbound
    amount, so the maximum-balance check and every other credit to the wallet are ordered."""

    account_id: int


@dataclass(frozen=True, slots=True)
class PostFx:
    """Post a two-currency movement now (an exchange between a customer's own wallets): one
    balanced entry per currency, as ``application.fx.postings.fx_legs`` builds them (through
    the FX position accounts, the spread to FX revenue). The send entry is the transfer's
    entry (reference: the transfer id), with the fee, if any, taken from
    ``fee_account_id`` in the send currency; the receive entry has the same reference and
    the idempotency key ``fx:<transfer id>`` (``RECEIVE_ENTRY_KEY``), which is how
    ``ledger verify`` finds it. Every account row both entries touch is locked first, in id
    order, so two exchanges of one customer in opposite directions never deadlock."""

    send_currency: str
    send_legs: tuple[Leg, ...]
    receive_currency: str
    receive_legs: tuple[Leg, ...]
    fee_account_id: int
    # The accounts that keep a stored balance (the customer's wallets): locked first.
    lock_account_ids: tuple[int, ...]


# The idempotency key of a PostFx movement's receive entry.
RECEIVE_ENTRY_KEY = "fx:{transfer_id}"


Movement = PostEntry | PostFx | HoldFunds | ReserveInbound


@dataclass(frozen=True, slots=True)
class Recorded:
    """What the movement made, for the caller's own rows."""

    entry_id: int | None = None
    hold_id: int | None = None
    receive_entry_id: int | None = None  # a PostFx movement's second entry


@dataclass(frozen=True, slots=True)
class PaymentPlan:
    """One payment, as its kind's use case validated and priced it."""

    kind: str  # TransferKind
    client_id: int
    money: Money
    fee: FeeQuote
    commission_kind: str  # the fee schedule kind the fee was priced under
    movement: Movement
    status: str  # the transfer's status once recorded (succeeded, or submitted to MoMo)
    source_wallet_id: uuid.UUID | None = None
    destination_wallet_id: uuid.UUID | None = None
    description: str = ""
    check_limits: bool = True
    recipient_id: int | None = None  # the customer credited (maximum balance), if any
    refusal: PaymentRefused | None = None  # refused before anything moves
    # What ``recipient_id``'s wallet is credited when that is another currency than
    # ``money`` (an exchange): the limits policy checks the payer against ``money`` and the
    # recipient (its maximum balance) against ``credit``, each in its own currency.
    credit: Money | None = None
    funds_message: str = FUNDS_MESSAGE  # what an insufficient-funds refusal says
    audit: Mapping[str, object] = field(default_factory=dict)
    # The caller's rows in the same transaction (a MoMo request, its job); returns data for
    # the audit record.
    record: Callable[[Transfer, Recorded, datetime], Mapping[str, object]] | None = None
    # The caller's checks and counters after the movement, under its account locks (a
    # ``PaymentRefused`` here is a refusal like a limit's: everything is rolled back).
    finish: Callable[[Transfer, Recorded, datetime], None] | None = None

    @property
    def fee_amount(self) -> int:
        return self.fee.fee.amount


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    transfer: Transfer
    replayed: bool


# --- idempotency -----------------------------------------------------------------------------


def request_digest(**values: object) -> str:
    """SHA-256 of a request's canonical JSON (what a retry must repeat exactly)."""
    body = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def idempotency_key_check(key: str) -> None:
    if not text_printable(key or "", min_length=1, max_length=MAX_KEY_LENGTH):
        raise ValidationFailed(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters",
            details={"header": "Idempotency-Key"},
        )


def payment_replay(*, client_id: int, key: str, digest: str) -> Transfer | None:
    """The transfer already recorded for (client, key), or None; a different request under
    the same key raises ``IdempotencyConflict``."""
    existing = transfer_by_key(client_id=client_id, idempotency_key=key)
    if existing is None:
        return None
    if existing.request_hash != digest:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used with a different request",
            details={"transfer_id": str(existing.id)},
        )
    return existing


# --- the skeleton ----------------------------------------------------------------------------


def payment_create(
    *,
    client_id: int,
    idempotency_key: str,
    digest: str,
    build: Callable[[], PaymentPlan],
    now: datetime,
) -> PaymentOutcome:
    """Record one payment per (client, Idempotency-Key); see the module docstring."""
    idempotency_key_check(idempotency_key)
    replay = payment_replay(client_id=client_id, key=idempotency_key, digest=digest)
    if replay is not None:
        return PaymentOutcome(replay, replayed=True)
    return payment_record(build(), idempotency_key=idempotency_key, digest=digest, now=now)


def payment_record(
    plan: PaymentPlan, *, idempotency_key: str, digest: str, now: datetime
) -> PaymentOutcome:
    """Steps 3 and 4 of the module docstring, for a caller that has already looked the key
    up with ``payment_replay`` (and validated the request) itself."""
    try:
        transfer = retry_transient(lambda: _record(plan, idempotency_key, digest, now))
    except IntegrityError as exc:
        diag = getattr(exc.__cause__, "diag", None)
        if getattr(diag, "constraint_name", None) != "transfer_idempotency":
            raise
        replay = payment_replay(client_id=plan.client_id, key=idempotency_key, digest=digest)
        if replay is None:
            # the key is held by a transfer of an archived month (its key table keeps the
            # keys of every month, docs/partitions.md): never a second payment
            raise IdempotencyConflict(
                "this Idempotency-Key was used by a payment that is now archived;"
                " send a new key for a new payment"
            ) from None
        return PaymentOutcome(replay, replayed=True)
    transfers_total.labels(outcome=transfer.status, currency=transfer.currency).inc()
    return PaymentOutcome(transfer, replayed=False)


def insufficient_funds(needed: int, message: str = FUNDS_MESSAGE) -> PaymentRefused:
    return PaymentRefused("insufficient_funds", message, details={"needed": needed})


def _record(plan: PaymentPlan, key: str, digest: str, now: datetime) -> Transfer:
    transfer_id = uuid.uuid4()
    fields: dict[str, Any] = {
        "transfer_id": transfer_id,
        "kind": plan.kind,
        "client_id": plan.client_id,
        "idempotency_key": key,
        "request_hash": digest,
        "source_wallet_id": plan.source_wallet_id,
        "destination_wallet_id": plan.destination_wallet_id,
        "currency": plan.money.currency.code,
        "amount": plan.money.amount,
        "fee": plan.fee_amount,
        "description": plan.description[:140],
        "now": now,
    }
    refused = plan.refusal
    aml = None
    if refused is None:
        # The inline AML rules (cached per process, no query unless one fires): a refusal is
        # recorded like any other, a flag writes its alert in the payment's transaction.
        aml = inline_check(
            kind=plan.kind,
            client_id=plan.client_id,
            money=plan.money,
            recipient_id=plan.recipient_id,
            now=now,
        )
        refused = aml.refusal
    if refused is None:
        assert aml is not None
        policy = limits_policy() if plan.check_limits else None
        try:
            in_database = database_limits(policy)
            if not aml.flags and _in_one_statement(plan, policy, in_database):
                return _record_posted(plan, fields, in_database)
            with transaction.atomic():
                late = isinstance(plan.movement, HoldFunds) and plan.movement.last
                if late:
                    recorded = Recorded(hold_id=hold_id_reserve())
                else:
                    recorded = _move(plan, transfer_id, now)
                transfer = transfer_insert(status=plan.status, entry_id=recorded.entry_id, **fields)
                if policy is not None:
                    _limits_check(policy, plan, transfer_id, now)
                if aml.flags:
                    findings_record(aml, transfer_id=transfer.id, now=now)
                if recorded.entry_id is not None and plan.fee_amount:
                    commission_records_create(
                        entry_id=recorded.entry_id,
                        reference=str(transfer_id),
                        kind=plan.commission_kind,
                        quote=plan.fee,
                        now=now,
                    )
                extra = dict(plan.record(transfer, recorded, now)) if plan.record else {}
                _audit(plan, transfer, now, recorded, extra)
                if late:
                    _move(plan, transfer_id, now, hold_id=recorded.hold_id)
                if plan.finish is not None:
                    plan.finish(transfer, recorded, now)
                return transfer
        except InsufficientFunds:
            refused = insufficient_funds(plan.money.amount + plan.fee_amount, plan.funds_message)
        except AccountNotActive:
            # frozen or closed between the read and the movement (the database refused it)
            refused = PaymentRefused(
                "account_not_active", "an account of this payment cannot take part in payments"
            )
        except PaymentRefused as limit:
            refused = limit  # a limit: the movement was rolled back
    with transaction.atomic():
        transfer = transfer_insert(
            status=TransferStatus.FAILED,
            failure_code=refused.code,
            failure_message=refused.message[:300],
            **fields,
        )
        _audit(plan, transfer, now, Recorded(), {})
        if aml is not None and aml.refusal is refused and aml.flags:
            findings_record(aml, transfer_id=transfer.id, now=now)
    return transfer


def _limits_check(
    policy: LimitsPolicy, plan: PaymentPlan, transfer_id: uuid.UUID, now: datetime
) -> None:
    """The limits of one payment; a two-currency one (``plan.credit``) is checked once per
    currency: the payer against what leaves, the recipient against what arrives."""
    if plan.credit is None or plan.credit.currency == plan.money.currency:
        policy.check(
            customer_id=plan.client_id,
            kind=plan.kind,
            amount=plan.money,
            now=now,
            recipient_id=plan.recipient_id,
            transfer_id=transfer_id,
        )
        return
    policy.check(
        customer_id=plan.client_id,
        kind=plan.kind,
        amount=plan.money,
        now=now,
        recipient_id=None,
        transfer_id=transfer_id,
    )
    policy.check(
        customer_id=plan.client_id,
        kind=plan.kind,
        amount=plan.credit,
        now=now,
        recipient_id=plan.recipient_id,
        transfer_id=transfer_id,
    )


def _in_one_statement(
    plan: PaymentPlan, policy: LimitsPolicy | None, in_database: DatabaseLimits | None
) -> bool:
    """Whether ``payments_record`` can record the whole payment: an entry posted now, no
    rows of the caller's own, and limits (if any) that the database checks."""
    return (
        isinstance(plan.movement, PostEntry)
        and plan.record is None
        and (policy is None or in_database is not None)
    )


def _record_posted(
    plan: PaymentPlan, fields: dict[str, Any], policy: DatabaseLimits | None
) -> Transfer:
    """Step 3 of the module docstring for a posted payment, in ONE statement
    (``payments_record``, wallets migration 0008; in autocommit that is the whole
    transaction, one round trip): the same rows, in the same order and under the same
    locks, as the ``transaction.atomic()`` path of :func:`_record`; a refusal raises as
    there (``InsufficientFunds``, ``AccountNotActive``, a limit's ``PaymentRefused``,
    ``FeeError``) and leaves nothing."""
    movement = plan.movement
    assert isinstance(movement, PostEntry)
    code = plan.money.currency.code
    now = fields["now"]
    legs = legs_ordered([*movement.legs, *fee_legs(movement.fee_account_id, plan.fee, code, now)])
    commission = None
    schedule_id = plan.fee.schedule_id
    if plan.fee_amount:
        parties = commission_parties(plan.fee)
        if parties is not None:
            schedule_id = parties[0]
            commission = {
                "schedule": parties[0],
                "kind": plan.commission_kind,
                "parties": parties[1],
            }
    limits = None
    if policy is not None:
        limits = policy.arguments(amount=plan.money, recipient_id=plan.recipient_id)
    transfer = transfer_new(
        status=plan.status, entry_id=None, failure_code="", failure_message="", **fields
    )
    audit = normalize_data(
        payment_audit_data(transfer, _audit_data(plan, transfer, Recorded(), {}))
    )
    # A savepoint only inside a caller's transaction (tests); in autocommit the statement
    # is its own transaction.
    with transaction.atomic() if connection.in_atomic_block else nullcontext():
        try:
            return transfer_posted_record(
                transfer,
                entry_description=plan.description,
                legs=[(leg.account_id, leg.amount, leg.leg) for leg in legs],
                limits=limits,
                commission=commission,
                audit=audit,
            )
        except IntegrityError as exc:
            refused = ledger_error(exc) or commission_error(exc, schedule_id)
            if refused is None:
                raise
            raise refused from exc
        except DatabaseError as exc:
            limit = policy.refusal(exc, amount=plan.money) if policy is not None else None
            if limit is None:
                raise
            raise limit from None


def _move(
    plan: PaymentPlan, transfer_id: uuid.UUID, now: datetime, *, hold_id: int | None = None
) -> Recorded:
    movement = plan.movement
    code = plan.money.currency.code
    if isinstance(movement, PostEntry):
        legs = [*movement.legs, *fee_legs(movement.fee_account_id, plan.fee, code, now)]
        entry = entry_post(
            kind=plan.kind,
            currency=code,
            legs=legs,
            now=now,
            reference=str(transfer_id),
            description=plan.description,
        )
        return Recorded(entry_id=entry.pk)
    if isinstance(movement, PostFx):
        return _move_fx(plan, movement, transfer_id, now)
    if isinstance(movement, HoldFunds):
        hold = hold_place(
            account_id=movement.account_id,
            amount=movement.amount,
            now=now,
            expires_at=movement.expires_at,
            reference=str(transfer_id),
            idempotency_key=f"{movement.key_prefix}:{transfer_id}",
            hold_id=hold_id,
        )
        return Recorded(hold_id=hold.pk)
    account_lock(account_id=movement.account_id)
    return Recorded()


def _move_fx(
    plan: PaymentPlan, movement: PostFx, transfer_id: uuid.UUID, now: datetime
) -> Recorded:
    """Both entries of a :class:`PostFx`, their account rows locked first in id order (house
    accounts keep no stored balance and take no lock, ``ledger.services.HOUSE_KINDS``)."""
    send_legs = [
        *movement.send_legs,
        *fee_legs(movement.fee_account_id, plan.fee, movement.send_currency, now),
    ]
    for account_id in sorted(set(movement.lock_account_ids)):
        account_lock(account_id=account_id)
    send = entry_post(
        kind=plan.kind,
        currency=movement.send_currency,
        legs=send_legs,
        now=now,
        reference=str(transfer_id),
        description=plan.description,
    )
    receive = entry_post(
        kind=plan.kind,
        currency=movement.receive_currency,
        legs=movement.receive_legs,
        now=now,
        idempotency_key=RECEIVE_ENTRY_KEY.format(transfer_id=transfer_id),
        reference=str(transfer_id),
        description=plan.description,
    )
    return Recorded(entry_id=send.pk, receive_entry_id=receive.pk)


def _audit(
    plan: PaymentPlan,
    transfer: Transfer,
    now: datetime,
    recorded: Recorded,
    extra: Mapping[str, object],
) -> None:
    data = _audit_data(plan, transfer, recorded, extra)
    payment_audit(transfer, now, actor=f"user:{transfer.client_id}", data=data)


def _audit_data(
    plan: PaymentPlan, transfer: Transfer, recorded: Recorded, extra: Mapping[str, object]
) -> dict[str, object]:
    """What a payment's audit record holds besides ``payment_audit``'s own fields (the
    entry id is added by the database on the one-statement path)."""
    data: dict[str, object] = {}
    if isinstance(plan.movement, PostEntry | PostFx):
        data["entry"] = recorded.entry_id
    if isinstance(plan.movement, PostFx):
        data["receive_entry"] = recorded.receive_entry_id
    data["failure_code"] = transfer.failure_code
    data.update(plan.audit)
    data.update(extra)
    return data


# --- fees and audit, shared with the outcome of MoMo payments ----------------------------------


def fee_legs(account_id: int, quote: FeeQuote, code: str, now: datetime) -> list[Leg]:
    """The fee out of ``account_id`` and one posting per split: ``lightway`` to fee revenue,
    any other party to its commission payable account."""
    if not quote.fee.amount:
        return []
    legs = [Leg(account_id, -quote.fee.amount, "fee")]
    for split in quote.splits:
        if not split.amount:
            continue
        if split.party == "lightway":
            target = house_account_id(kind=AccountKind.FEE_REVENUE, currency=code, now=now)
        else:
            target = house_account_id(
                kind=AccountKind.COMMISSION_PAYABLE,
                currency=code,
                owner_ref=split.party_ref,
                now=now,
            )
        legs.append(Leg(target, split.amount, f"fee:{split.party}"))
    return legs


def payment_audit(
    transfer: Transfer, now: datetime, *, actor: str, data: Mapping[str, object], status: str = ""
) -> None:
    """Audit ``transfer`` reaching ``status`` (its own status unless given): its kind and
    money, then ``data``. Every kind of payment writes the same record."""
    audit_record(
        actor=actor,
        action=f"transfer.{status or transfer.status}",
        object_type="transfer",
        object_id=str(transfer.id),
        data=payment_audit_data(transfer, data),
        now=now,
    )


def payment_audit_data(transfer: Transfer, data: Mapping[str, object]) -> dict[str, object]:
    return {
        "kind": transfer.kind,
        "currency": transfer.currency,
        "amount": transfer.amount,
        "fee": transfer.fee,
        **data,
    }


def entry_mirror(entry_id: int) -> list[Leg]:
    """The legs that undo entry ``entry_id``: the same accounts and legs, opposite amounts
    (what ``lightway ledger verify`` expects of a reversal entry)."""
    return [
        Leg(account_id, -amount, leg)
        for account_id, amount, leg in Posting.objects.filter(entry_id=entry_id)
        .order_by("id")
        .values_list("account_id", "amount", "leg")
    ]


def reversal_post(
    *, entry_id: int, currency: str, transfer_id: object, key: str, description: str, now: datetime
) -> JournalEntry:
    """Post the mirror of entry ``entry_id`` (kind ``reversal``) as the reversal of transfer
    ``transfer_id``, keyed ``key`` so it is posted once: every reversal (a payment's, a
    remittance's and its receive-currency leg) goes through here."""
    return entry_post(
        kind=REVERSAL,
        currency=currency,
        legs=entry_mirror(entry_id),
        now=now,
        idempotency_key=key,
        reference=str(transfer_id),
        description=description,
    )


def payment_reverse(
    transfer: Transfer, now: datetime, *, actor: str, data: Mapping[str, object]
) -> int:
    """Undo a succeeded single-currency ``transfer`` (locked by the caller, in its open
    transaction): post the mirror of its entry (kind ``reversal``, keyed
    ``reversal:<transfer id>``, so it is posted once), move the transfer ``succeeded ->
    reversed`` and audit ``transfer.reversed`` with ``data``. Returns the reversal entry's
    id. Raises ``LedgerError`` when the ledger refuses (an account frozen, closed or short
    of funds): nothing is changed then."""
    assert transfer.entry_id is not None
    entry = reversal_post(
        entry_id=transfer.entry_id,
        currency=transfer.currency,
        transfer_id=transfer.id,
        key=f"reversal:{transfer.id}",
        description=f"reversal of {transfer.kind} {transfer.id}",
        now=now,
    )
    if not transfer_reverse(transfer_id=transfer.id, reversal_entry_id=entry.pk, now=now):
        raise IntegrityError(f"transfer {transfer.id} is no longer succeeded")
    payment_audit(
        transfer,
        now,
        actor=actor,
        data={"reversal_entry": entry.pk, **data},
        status=TransferStatus.REVERSED,
    )
    return int(entry.pk)
