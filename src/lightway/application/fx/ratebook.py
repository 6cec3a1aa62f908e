"""Rates entered by finance staff, with maker-checker (docs/fx.md, "Treasury rates").

One person proposes (``fx_rate_propose``: a pair, a mid rate plus a spread in basis
points, or a bid and an ask), another approves or rejects (``fx_rate_approve``,
``fx_rate_reject``); neither alone. The services refuse a proposer deciding their own
rate with a clear message, and the database refuses it too (trigger ``fx_rate_guard``,
fx migration 0003), so no code path can skip the second person. A decided rate never
changes. Every step is audited (``fx.rate_proposed``, ``fx.rate_approved``,
``fx.rate_rejected``) with the actor.

Actors are ``staff:<user id>``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from django.db import IntegrityError, transaction

from lightway.application.errors import NotFound, RequestRefused, ValidationFailed
from lightway.application.fx.pricing import RATE_PLACES, FxPricingError, rate_sides
from lightway.data.audit.services import audit_record
from lightway.data.fx.models import FxRate, RateStatus
from lightway.data.money import MoneyError, currency

TREASURY = "treasury"
# A figure with more integer digits than this is a typing mistake (the column holds 18).
MAX_RATE = Decimal("1000000000000")


def _decimal(raw: object, field: str) -> Decimal:
    text = str(raw if raw is not None else "").strip().replace(",", "").replace("_", "")
    if not text:
        raise ValidationFailed(f"Enter the {field}.", details={"field": field})
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValidationFailed(
            f"The {field} must be a number such as 3700.25.", details={"field": field}
        ) from None
    if not value.is_finite() or value <= 0:
        raise ValidationFailed(f"The {field} must be above zero.", details={"field": field})
    if value >= MAX_RATE:
        raise ValidationFailed(f"The {field} is too large.", details={"field": field})
    if value != value.quantize(RATE_PLACES, rounding=ROUND_HALF_EVEN):
        raise ValidationFailed(
            f"The {field} has more than 12 decimal places.", details={"field": field}
        )
    return value


def _pair(base: str, quote: str) -> tuple[str, str]:
    try:
        b, q = currency(base).code, currency(quote).code
    except MoneyError as exc:
        raise ValidationFailed(str(exc), details={"field": "pair"}) from None
    if b == q:
        raise ValidationFailed("A rate needs two different currencies.", details={"field": "pair"})
    return b, q


def fx_rate_propose(
    *,
    base: str,
    quote: str,
    actor: str,
    now: datetime,
    mid: object = None,
    spread_bps: int | None = None,
    bid: object = None,
    ask: object = None,
    as_of: datetime | None = None,
) -> FxRate:
    """Propose a treasury rate of ``base/quote`` (1 base = mid quote): ``mid`` and
    ``spread_bps``, or ``bid`` and ``ask`` (the mid is then their midpoint). ``as_of``
    (default ``now``) is when the figure was true; it may not be in the future. Audited."""
    b, q = _pair(base, quote)
    if bid not in (None, "") or ask not in (None, ""):
        if mid not in (None, "") or spread_bps is not None:
            raise ValidationFailed(
                "Give either a mid rate and a spread, or a bid and an ask, not both.",
                details={"field": "mid"},
            )
        low, high = _decimal(bid, "bid"), _decimal(ask, "ask")
        if low > high:
            raise ValidationFailed("The bid cannot be above the ask.", details={"field": "bid"})
        middle = ((low + high) / 2).quantize(RATE_PLACES, rounding=ROUND_HALF_EVEN)
        sides = (low, high)
    else:
        middle = _decimal(mid, "mid")
        if spread_bps is None:
            raise ValidationFailed("Enter the spread in basis points.", details={"field": "spread"})
        try:
            sides = rate_sides(middle, int(spread_bps))
        except FxPricingError as exc:
            raise ValidationFailed(str(exc), details={"field": "spread"}) from None
    when = as_of or now
    if when > now:
        raise ValidationFailed(
            "The rate cannot be as of a future time.", details={"field": "as_of"}
        )
    with transaction.atomic():
        row = FxRate.objects.create(
            base=b,
            quote=q,
            mid=middle,
            bid=sides[0],
            ask=sides[1],
            source=TREASURY,
            as_of=when,
            status=RateStatus.PROPOSED,
            proposed_by=actor,
            created_at=now,
        )
        audit_record(
            actor=actor,
            action="fx.rate_proposed",
            object_type="fx.rate",
            object_id=str(row.pk),
            data=_audit_data(row),
            now=now,
        )
    return row


def _audit_data(row: FxRate) -> dict[str, object]:
    return {
        "pair": f"{row.base}/{row.quote}",
        "mid": str(row.mid),
        "bid": str(row.bid),
        "ask": str(row.ask),
        "source": row.source,
        "as_of": row.as_of.isoformat(),
        "proposed_by": row.proposed_by,
    }


def _decide(*, rate_id: int, actor: str, now: datetime, approve: bool) -> FxRate:
    with transaction.atomic():
        row = FxRate.objects.select_for_update().filter(pk=rate_id).first()
        if row is None:
            raise NotFound("no such rate", details={"rate_id": rate_id})
        if row.status != RateStatus.PROPOSED:
            raise RequestRefused(
                "rate_decided",
                f"this rate was already {row.status}",
                details={"rate_id": rate_id, "status": row.status},
            )
        if row.proposed_by == actor:
            raise RequestRefused(
                "self_approval",
                "you proposed this rate: another person must approve or reject it",
                details={"rate_id": rate_id},
            )
        row.status = RateStatus.APPROVED if approve else RateStatus.REJECTED
        row.decided_by = actor
        row.approved_at = now if approve else None
        try:
            with transaction.atomic():
                row.save(update_fields=["status", "decided_by", "approved_at"])
        except IntegrityError as exc:  # the database's maker-checker rule (a race, a bug)
            raise RequestRefused("self_approval", "another person must decide") from exc
        audit_record(
            actor=actor,
            action="fx.rate_approved" if approve else "fx.rate_rejected",
            object_type="fx.rate",
            object_id=str(row.pk),
            data=_audit_data(row),
            now=now,
        )
    return row


def fx_rate_approve(*, rate_id: int, actor: str, now: datetime) -> FxRate:
    """Approve a proposed rate: it prices quotes from ``now`` on. Refused for its proposer."""
    return _decide(rate_id=rate_id, actor=actor, now=now, approve=True)


def fx_rate_reject(*, rate_id: int, actor: str, now: datetime) -> FxRate:
    """Reject a proposed rate: it never prices anything. Refused for its proposer."""
    return _decide(rate_id=rate_id, actor=actor, now=now, approve=False)
