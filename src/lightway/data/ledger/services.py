"""Writes to the ledger. Callers pass ``now``; every function runs inside one transaction.

``entry_post`` is the only way money moves. It inserts the entry and its postings ordered by
account id (so concurrent entries lock account rows in one stable order); the database
applies balances, refuses overdrafts and checks the entry balances at commit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, connection, transaction

from lightway.data.audit.services import audit_record
from lightway.data.ledger.errors import (
    AccountNotActive,
    HoldNotActive,
    InsufficientFunds,
    LedgerError,
    UnbalancedEntry,
)
from lightway.data.ledger.models import (
    Account,
    AccountKind,
    AccountStatus,
    Hold,
    HoldStatus,
    JournalEntry,
)


@dataclass(frozen=True, slots=True)
class Leg:
    """One posting to be made: ``amount`` minor units (signed) on ``account_id``."""

    account_id: int
    amount: int
    leg: str = ""


def _translate(exc: IntegrityError) -> LedgerError:
    constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None) or ""
    if constraint == "ledger_account_no_overdraft":
        return InsufficientFunds("insufficient funds")
    if constraint == "ledger_account_not_active":
        return AccountNotActive(str(exc.__cause__).splitlines()[0])
    if constraint in {"ledger_entry_balanced", "ledger_entry_posting_count"}:
        return UnbalancedEntry(str(exc.__cause__).splitlines()[0])
    raise exc


def account_open(
    *,
    code: str,
    kind: str,
    currency: str,
    now: datetime,
    owner_ref: str = "",
    allow_negative: bool = False,
    derived_balance: bool = False,
) -> Account:
    """Create an account, or return the existing one with that code (idempotent)."""
    account, _ = Account.objects.get_or_create(
        code=code,
        defaults={
            "kind": kind,
            "currency": currency,
            "owner_ref": owner_ref,
            "allow_negative": allow_negative,
            "derived_balance": derived_balance,
            "created_at": now,
        },
    )
    if account.currency != currency or account.kind != kind:
        raise LedgerError(f"account {code} exists with another kind or currency")
    return account


# House accounts are touched by most transactions (fees, commission, floats, in-flight), so
# none keeps a stored balance: each balance is the sum of its postings and posting to it
# takes no row lock. Under the sign convention they may all go negative (assets and
# revenue sit on opposite sides of zero); customer and partner balances keep the check.
HOUSE_KINDS = frozenset(
    {
        AccountKind.FEE_REVENUE,
        AccountKind.FX_REVENUE,
        AccountKind.COMMISSION_PAYABLE,
        AccountKind.FX_POSITION,
        AccountKind.MOMO_FLOAT,
        AccountKind.SETTLEMENT_BANK,
        AccountKind.COLLECTION_IN_FLIGHT,
        AccountKind.DISBURSEMENT_IN_FLIGHT,
        AccountKind.EQUITY,
    }
)


_house_ids: dict[str, int] = {}


def house_account_id(*, kind: str, currency: str, now: datetime, owner_ref: str = "") -> int:
    """Id of the house account, cached per process (accounts are never deleted)."""
    suffix = f":{owner_ref}" if owner_ref else ""
    code = f"house:{kind}:{currency}{suffix}"
    account_id = _house_ids.get(code)
    if account_id is None:
        found = house_account(kind=kind, currency=currency, now=now, owner_ref=owner_ref).pk
        # Cache only once committed: an account created in a transaction that rolls back
        # must not stay cached (on_commit runs at once outside a transaction).
        transaction.on_commit(lambda: _house_ids.setdefault(code, found))
        account_id = found
    return account_id


def house_account_cache_clear() -> None:
    """Forget cached house account ids (tests that empty the database call this)."""
    _house_ids.clear()


def house_account(*, kind: str, currency: str, now: datetime, owner_ref: str = "") -> Account:
    """The house account of ``kind`` for ``currency`` (and owner, e.g. "mtn"), created once."""
    if AccountKind(kind) not in HOUSE_KINDS:
        raise LedgerError(f"{kind} is not a house account kind")
    suffix = f":{owner_ref}" if owner_ref else ""
    return account_open(
        code=f"house:{kind}:{currency}{suffix}",
        kind=kind,
        currency=currency,
        owner_ref=owner_ref,
        allow_negative=True,
        derived_balance=True,
        now=now,
    )


def legs_ordered(legs: Sequence[Leg]) -> list[Leg]:
    """``legs`` checked (at least two, none zero, summing to zero: else
    :class:`UnbalancedEntry`) and in account id order, the order every posting locks the
    account rows in."""
    if len(legs) < 2:
        raise UnbalancedEntry("an entry needs at least two postings")
    if sum(leg.amount for leg in legs) != 0:
        raise UnbalancedEntry("postings do not sum to zero")
    if any(leg.amount == 0 for leg in legs):
        raise UnbalancedEntry("a posting amount cannot be zero")
    return sorted(legs, key=lambda leg: leg.account_id)


def ledger_error(exc: IntegrityError) -> LedgerError | None:
    """The ledger refusal behind a database error (insufficient funds, an account that is
    not active, an unbalanced entry), or None."""
    try:
        return _translate(exc)
    except IntegrityError:
        return None


def entry_post(
    *,
    kind: str,
    currency: str,
    legs: Sequence[Leg],
    now: datetime,
    idempotency_key: str | None = None,
    reference: str = "",
    description: str = "",
) -> JournalEntry:
    """Post one balanced journal entry. Raises InsufficientFunds / AccountNotActive / ..."""
    ordered = legs_ordered(legs)
    try:
        # No savepoint: on error the caller's transaction is rolled back as a whole.
        with transaction.atomic(savepoint=False), connection.cursor() as cur:
            cur.execute(
                _ENTRY_SQL,
                [
                    kind,
                    idempotency_key,
                    reference,
                    description,
                    len(ordered),
                    now,
                    json.dumps([[leg.account_id, leg.amount, leg.leg] for leg in ordered]),
                    currency,
                ],
            )
            entry_id = cur.fetchone()[0]
    except IntegrityError as exc:
        raise _translate(exc) from exc
    return JournalEntry(
        id=entry_id,
        kind=kind,
        idempotency_key=idempotency_key,
        reference=reference,
        description=description,
        posting_count=len(ordered),
        created_at=now,
    )


# One round trip: the entry and its postings, inserted in account id order (the order of
# the balance trigger's row locks). The database checks the balance at commit.
_ENTRY_SQL = """
WITH entry AS (
  INSERT INTO ledger_journal_entry
    (kind, idempotency_key, reference, description, posting_count, created_at)
  VALUES (%s, %s, %s, %s, %s, %s) RETURNING id, created_at
), legs AS (
  SELECT (l.v->>0)::bigint AS account_id, (l.v->>1)::bigint AS amount, l.v->>2 AS leg, l.n
  FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS l(v, n)
), posted AS (
  INSERT INTO ledger_posting (entry_id, account_id, currency, amount, leg, created_at)
  SELECT entry.id, legs.account_id, %s, legs.amount, legs.leg, entry.created_at
  FROM entry CROSS JOIN legs ORDER BY legs.n
  RETURNING 1
)
SELECT id, (SELECT count(*) FROM posted) FROM entry
"""


def _audit_hold(hold: Hold, action: str, now: datetime, **extra: object) -> None:
    audit_record(
        actor="system",
        action=f"hold.{action}",
        object_type="hold",
        object_id=str(hold.pk),
        data={"account": hold.account_id, "amount": hold.amount, "reference": hold.reference}
        | extra,
        now=now,
    )


def hold_place(
    *,
    account_id: int,
    amount: int,
    now: datetime,
    expires_at: datetime,
    reference: str = "",
    idempotency_key: str | None = None,
    hold_id: int | None = None,
) -> Hold:
    """Reserve ``amount`` on an active account; the database refuses it beyond the available
    balance (InsufficientFunds) or on an account that is not active (AccountNotActive).
    ``hold_id``: an id taken earlier with :func:`hold_id_reserve` (rows written before the
    hold already name it)."""
    if amount <= 0:
        raise LedgerError("a hold amount must be positive")
    if expires_at <= now:
        raise LedgerError("a hold must expire in the future")
    try:
        with transaction.atomic():
            hold = Hold.objects.create(
                id=hold_id,
                account_id=account_id,
                amount=amount,
                reference=reference,
                idempotency_key=idempotency_key,
                created_at=now,
                expires_at=expires_at,
            )
            _audit_hold(hold, "place", now, expires_at=expires_at)
            return hold
    except IntegrityError as exc:
        raise _translate(exc) from exc


def hold_id_reserve() -> int:
    """A new hold id from the table's sequence, for a hold placed later in the transaction
    (a hot account's row is then locked only by the transaction's last statements)."""
    with connection.cursor() as cur:
        cur.execute("SELECT nextval(pg_get_serial_sequence('ledger_hold', 'id'))")
        return int(cur.fetchone()[0])


def _hold_resolve(hold_id: int, status: str, now: datetime) -> Hold:
    updated = Hold.objects.filter(pk=hold_id, status=HoldStatus.ACTIVE).update(
        status=status, resolved_at=now
    )
    if updated != 1:
        raise HoldNotActive(f"hold {hold_id} is not active")
    hold = Hold.objects.get(pk=hold_id)
    _audit_hold(hold, str(status), now)
    return hold


def hold_commit(
    *,
    hold_id: int,
    kind: str,
    currency: str,
    legs: Sequence[Leg],
    now: datetime,
    idempotency_key: str | None = None,
    reference: str = "",
) -> JournalEntry:
    """Release the hold and post the entry that spends it, atomically.

    The entry must debit the held account by exactly the held amount, and the hold must not
    have expired (an expired hold is released by ``holds_expire``, never spent)."""
    with transaction.atomic():
        hold = Hold.objects.select_for_update().get(pk=hold_id)
        if hold.status != HoldStatus.ACTIVE:
            raise HoldNotActive(f"hold {hold_id} is {hold.status}")
        if hold.expires_at <= now:
            raise HoldNotActive(f"hold {hold_id} expired at {hold.expires_at.isoformat()}")
        spent = sum(leg.amount for leg in legs if leg.account_id == hold.account_id)
        if spent != -hold.amount:
            raise LedgerError(
                f"hold {hold_id} reserves {hold.amount}; the entry must debit exactly that "
                f"from account {hold.account_id}, not {-spent}"
            )
        # Released first (the overdraft check counts held funds), linked once posted.
        Hold.objects.filter(pk=hold_id).update(status=HoldStatus.COMMITTED, resolved_at=now)
        entry = entry_post(
            kind=kind,
            currency=currency,
            legs=legs,
            now=now,
            idempotency_key=idempotency_key,
            reference=reference or hold.reference,
        )
        Hold.objects.filter(pk=hold_id).update(entry=entry)
        _audit_hold(hold, "commit", now, entry=entry.pk)
    return entry


def hold_void(*, hold_id: int, now: datetime) -> Hold:
    with transaction.atomic():
        return _hold_resolve(hold_id, HoldStatus.VOIDED, now)


def holds_expire(*, now: datetime, batch: int = 500) -> int:
    """Expire active holds past their expiry (periodic task). Returns how many expired."""
    expired = 0
    while True:
        with transaction.atomic():
            ids = list(
                Hold.objects.select_for_update(skip_locked=True)
                .filter(status=HoldStatus.ACTIVE, expires_at__lte=now)
                .order_by("id")
                .values_list("id", flat=True)[:batch]
            )
            for hold_id in ids:
                _hold_resolve(hold_id, HoldStatus.EXPIRED, now)
        expired += len(ids)
        if len(ids) < batch:
            return expired


def account_lock(*, account_id: int) -> None:
    """Lock an account's row for the rest of the transaction (as a posting to it would) and
    check it can take part in payments: AccountNotActive when frozen or closed."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT status FROM ledger_account WHERE id = %s FOR NO KEY UPDATE", [account_id]
        )
        row = cur.fetchone()
    if row is None:
        raise LedgerError(f"account {account_id} does not exist")
    if row[0] != AccountStatus.ACTIVE:
        raise AccountNotActive(f"account {account_id} is {row[0]}")


def account_set_status(*, account_id: int, status: str) -> None:
    AccountStatus(status)
    Account.objects.filter(pk=account_id).update(status=status)
