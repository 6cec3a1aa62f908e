"""Fees and commission: price a transaction, split the fee, record the splits.

A transfer service calls :func:`fee_quote`, posts one ledger posting per split of the quote
(``lightway`` to fee revenue, ``mtn`` to MTN commission payable, ``partner`` to that
partner's commission payable) and then :func:`commission_records_create` in the same
database transaction.

How a fee is computed (:func:`fee_compute`), all in integer minor units:

1. flat: the schedule's ``flat_amount``;
   percentage: ``amount x percentage`` rounded to a minor unit with the schedule's mode;
   tiered: the one band with ``lower_bound <= amount < upper_bound`` applies to the whole
   amount: ``band.flat_amount + amount x band.percentage`` (rounded likewise);
2. clamped to ``[min_fee, max_fee]``;
3. split over the schedule's splits in proportion to their weights with
   :func:`lightway.data.money.allocate`, so the parts always add up to the fee. Parts of
   zero are left out of the quote, so every split is a non-zero, postable amount.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, connection, transaction

from lightway.application.errors import DomainError, ValidationFailed
from lightway.data.commission.models import (
    PARTY_ORDER,
    FeeMethod,
    FeeSchedule,
    Party,
    TransactionKind,
)
from lightway.data.commission.selectors import fee_schedule_cache_clear, fee_schedule_for
from lightway.data.commission.services import commission_records_insert, commission_refusal
from lightway.data.money import Money, allocate

PARTNER_REF_MAX = 64


class FeeError(DomainError):
    """A fee cannot be computed or recorded (unknown kind, schedule misconfigured, ...)."""

    code = "fee_unavailable"


@dataclass(frozen=True, slots=True)
class FeeSplitQuote:
    party: str  # "lightway" | "mtn" | "partner"
    party_ref: str  # "lightway", "mtn" or the partner's code
    amount: int  # minor units of the quote's fee currency, > 0


@dataclass(frozen=True, slots=True)
class FeeQuote:
    fee: Money
    schedule_id: int | None  # None: no schedule applies, the fee is zero
    splits: tuple[FeeSplitQuote, ...]


def _party_ref(party: str, partner_ref: str, schedule_id: int) -> str:
    if party == Party.LIGHTWAY:
        return "lightway"
    if party == Party.MTN:
        return "mtn"
    if not partner_ref:
        raise FeeError(
            f"fee schedule {schedule_id} pays a partner share: a partner_ref is needed",
            details={"schedule_id": schedule_id},
        )
    return partner_ref


def _base_fee(schedule: FeeSchedule, amount: Money) -> int:
    rounding = schedule.rounding_mode
    if schedule.method == FeeMethod.FLAT:
        return schedule.flat_amount
    if schedule.method == FeeMethod.PERCENTAGE:
        return amount.times(schedule.percentage, rounding).amount
    if schedule.method == FeeMethod.TIERED:
        for band in schedule.bands.all():
            if band.contains(amount.amount):
                return band.flat_amount + amount.times(band.percentage, rounding).amount
        raise FeeError(
            f"fee schedule {schedule.pk} has no band for {amount}",
            details={"schedule_id": schedule.pk},
        )
    raise FeeError(f"fee schedule {schedule.pk} has unknown method {schedule.method!r}")


def fee_compute(*, schedule: FeeSchedule | None, amount: Money, partner_ref: str = "") -> FeeQuote:
    """The fee for ``amount`` under ``schedule`` and its split; pure (no query when the
    schedule's bands and splits are prefetched, as :func:`fee_schedule_for` returns them)."""
    if amount.amount < 0:
        raise ValidationFailed(
            "a fee is quoted on a non-negative amount", details={"amount": amount.amount}
        )
    if partner_ref in ("lightway", "mtn") or len(partner_ref) > PARTNER_REF_MAX:
        raise FeeError(f"invalid partner_ref {partner_ref!r}")
    if schedule is None:
        return FeeQuote(fee=Money(0, amount.currency), schedule_id=None, splits=())
    if schedule.currency != amount.currency.code:
        raise FeeError(
            f"fee schedule {schedule.pk} is for {schedule.currency}, not {amount.currency}",
            details={"schedule_id": schedule.pk},
        )
    fee = max(_base_fee(schedule, amount), schedule.min_fee)
    if schedule.max_fee is not None:
        fee = min(fee, schedule.max_fee)
    splits = sorted(schedule.splits.all(), key=lambda s: PARTY_ORDER.get(s.party, len(PARTY_ORDER)))
    if not splits:
        raise FeeError(
            f"fee schedule {schedule.pk} has no splits", details={"schedule_id": schedule.pk}
        )
    parts = allocate(fee, [s.weight for s in splits])
    refs = [_party_ref(s.party, partner_ref, schedule.pk) for s in splits]
    quotes = tuple(
        FeeSplitQuote(party=s.party, party_ref=ref, amount=part)
        for s, ref, part in zip(splits, refs, parts, strict=True)
        if part
    )
    return FeeQuote(fee=Money(fee, amount.currency), schedule_id=schedule.pk, splits=quotes)


def fee_quote(
    *,
    kind: str,
    amount: Money,
    corridor: str = "",
    kyc_tier: int | None = None,
    partner_ref: str = "",
    now: datetime,
) -> FeeQuote:
    """The fee of a ``kind`` transaction of ``amount`` at ``now``: schedule lookup + compute.

    No schedule for the scope means a zero fee with no splits. An unknown ``kind`` raises
    :class:`FeeError` rather than pricing the transaction at zero.
    """
    if kind not in TransactionKind.values:
        raise FeeError(f"unknown transaction kind {kind!r}", details={"kind": str(kind)})
    schedule = fee_schedule_for(
        kind=kind, currency=amount.currency.code, corridor=corridor, kyc_tier=kyc_tier, now=now
    )
    return fee_compute(schedule=schedule, amount=amount, partner_ref=partner_ref)


# FeeError messages for records the database refused (API clients see them, with a 503).
_RECORD_REFUSED = {
    "commission_rec_schedule_in_effect": (
        "fee schedule {} stopped applying while this transaction was being made; try again"
    ),
    "commission_rec_schedule": (
        "fee schedule {} was removed while this transaction was being made; try again"
    ),
    "commission_rec_not_ahead_of_clock": (
        "this server's clock is ahead of the database's, so the commission records of this "
        "transaction (schedule {}) were refused; try again once the clocks agree"
    ),
}
# Refusals that mean the schedule changed after this process read it: drop cached schedules.
_SCHEDULE_CHANGED = ("commission_rec_schedule_in_effect", "commission_rec_schedule")
_RECORD_REFUSED_OTHER = "the commission records of this transaction were refused (schedule {})"


def commission_records_create(
    *, entry_id: int, reference: str, kind: str, quote: FeeQuote, now: datetime
) -> None:
    """Record each non-zero split of ``quote`` against journal entry ``entry_id``.

    One bulk insert. Call it in the transaction that posts the entry. The database refuses a
    record whose schedule is not in effect at ``now`` (its period ended, or it was deleted,
    after the quote: a cached or just-changed schedule), does not match kind and currency, or
    is dated more than ``RECORD_CLOCK_SKEW`` ahead of the database clock (this server's clock
    is wrong); such a refusal raises :class:`FeeError` (``fee_unavailable``), chained to the
    database error, after dropping this process's cached schedules when the schedule changed
    so that a retry sees the change.
    The transaction cannot go on after it: the error must leave the caller's
    ``transaction.atomic()`` block, which is marked for rollback.
    """
    found = commission_parties(quote)
    if found is None:
        return
    schedule_id, parties = found
    try:
        commission_records_insert(
            entry_id=entry_id,
            schedule_id=schedule_id,
            reference=reference,
            kind=kind,
            currency=quote.fee.currency.code,
            parties=parties,
            now=now,
        )
    except IntegrityError as exc:
        refused = commission_error(exc, schedule_id)
        if refused is None:
            raise
        raise refused from exc


def commission_parties(quote: FeeQuote) -> tuple[int, list[tuple[str, str, int]]] | None:
    """The schedule and the (party, party_ref, amount) rows of a quote's non-zero splits,
    or None when there are none; raises :class:`FeeError` for a quote that is not whole."""
    if sum(s.amount for s in quote.splits) != quote.fee.amount:
        raise FeeError("the quote's splits do not add up to its fee")
    splits = [s for s in quote.splits if s.amount]
    if not splits:
        return None
    if quote.schedule_id is None:
        raise FeeError("a quote with splits needs its schedule_id")
    return quote.schedule_id, [(s.party, s.party_ref, s.amount) for s in splits]


def commission_error(exc: BaseException, schedule_id: int | None) -> FeeError | None:
    """The :class:`FeeError` (``fee_unavailable``) for a database error that refused a
    commission record, or None when the error is about something else. Drops this process's
    cached schedules when the schedule changed, so that a retry sees the change, and marks
    the open ``transaction.atomic()`` block for rollback (the transaction cannot go on)."""
    refusal = commission_refusal(exc)
    if refusal is None or not refusal.constraint.startswith("commission_rec_"):
        return None
    if connection.in_atomic_block:
        transaction.set_rollback(True)
    if refusal.constraint in _SCHEDULE_CHANGED:
        fee_schedule_cache_clear()
    return FeeError(
        _RECORD_REFUSED.get(refusal.constraint, _RECORD_REFUSED_OTHER).format(schedule_id),
        details={"schedule_id": schedule_id, "rule": refusal.constraint},
    )


def fee_schedule_supersede(*, schedule_id: int, successor_from: datetime) -> FeeSchedule:
    """End schedule ``schedule_id`` at ``successor_from`` so a new version can start then.

    Used when staff save a schedule as a new version. A period already ending at or before
    ``successor_from`` is left alone. The database refuses to end the period of a frozen
    schedule (in effect, starting within ``SCHEDULE_CHANGE_LEAD``, or used by this
    transaction) less than ``SCHEDULE_CHANGE_LEAD`` ahead of its clock: that is raised as
    :class:`ValidationFailed` (this function's savepoint is rolled back, the caller's
    transaction can go on). It checks that again when the transaction commits. Neither takes
    a lock that priced payments wait for, nor waits for them.
    """
    try:
        with transaction.atomic():
            schedule = FeeSchedule.objects.select_for_update(no_key=True).get(pk=schedule_id)
            if successor_from <= schedule.effective_from:
                raise ValidationFailed(
                    f"a new version must start after {schedule.effective_from.isoformat()}",
                    details={"schedule_id": schedule_id},
                )
            if schedule.effective_to is None or schedule.effective_to > successor_from:
                schedule.effective_to = successor_from
                schedule.save(update_fields=["effective_to"])
            return schedule
    except IntegrityError as exc:
        refusal = commission_refusal(exc)
        if refusal is None:
            raise
        raise ValidationFailed(
            refusal.message, details={"schedule_id": schedule_id, "rule": refusal.constraint}
        ) from exc
