"""Per-partner limits: per transaction, per UTC day and outstanding, per currency.

A currency is enabled for a partner exactly when a ``PartnerLimit`` row exists for it:
quotes and remittances in any other currency are refused (``currency_not_enabled``). The
limits are set by LightWay staff (``partner_limit_set``: audited, staff page
``/staff/partner-limits/``) and enforced when a remittance is confirmed:

- **per transaction**: the send amount, checked before anything is written;
- **daily**: the send amounts confirmed in the UTC day, a counter row per partner,
  currency and day, raised in the confirm's transaction (one upsert) and given back when
  the payout fails or is cancelled;
- **outstanding**: what the prefund holds reserved for confirmed and submitted payouts
  (send + fee each), which is the prefund account's ``held`` amount, kept by the ledger's
  hold trigger.

Both running figures are read in the confirm's last statement, after the prefund hold, so
the prefund row and the day's counter are locked: concurrent confirms of one partner are
checked one after the other, each against all earlier ones, and a check costs one row
whatever the history (``tests/test_remittance_limits.py`` races them with threads).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.db import transaction

from lightway.application.errors import PaymentRefused, RequestRefused, ValidationFailed
from lightway.data.audit.services import audit_record
from lightway.data.identity.models import Partner
from lightway.data.money import Money, MoneyError, currency
from lightway.data.remittances.models import PartnerLimit
from lightway.data.remittances.selectors import partner_limit_for
from lightway.data.remittances.services import partner_usage_add, partner_usage_give_back

LIMIT_EXCEEDED = "limit_exceeded"
MAX_LIMIT = 10**15


def usage_day(at: datetime) -> date:
    """The UTC day a confirm at ``at`` (timezone-aware) counts in."""
    return at.astimezone(UTC).date()


def currency_enabled(*, partner_id: int, currency_code: str, field: str) -> PartnerLimit:
    """The partner's limits in ``currency_code``; refused when it has none."""
    found = partner_limit_for(partner_id=partner_id, currency=currency_code)
    if found is None:
        raise RequestRefused(
            "currency_not_enabled",
            f"{currency_code} is not enabled for your account",
            details={"field": field, "currency": currency_code},
        )
    return found


def per_transaction_check(limit: PartnerLimit, send: Money) -> None:
    if send.amount > limit.per_transaction_max:
        raise PaymentRefused(
            LIMIT_EXCEEDED,
            f"the amount is above your per-transaction limit of {limit.per_transaction_max}"
            f" {limit.currency} minor units",
            details={"limit": "per_transaction", "max": limit.per_transaction_max},
        )


@dataclass(frozen=True)
class UsageCheck:
    partner_id: int
    limit: PartnerLimit
    send: Money
    day: date
    prefund_account_id: int


def usage_add_check(check: UsageCheck) -> None:
    """Raise the day's usage and check it and the prefund's reserved amount against the
    limits (call after the prefund hold; a refusal rolls the confirm back)."""
    used, held = partner_usage_add(
        partner_id=check.partner_id,
        currency=check.send.currency.code,
        day=check.day,
        amount=check.send.amount,
        prefund_account_id=check.prefund_account_id,
    )
    if used > check.limit.daily_max:
        raise PaymentRefused(
            LIMIT_EXCEEDED,
            f"this would take today's confirmed amount to {used}, above your daily limit of"
            f" {check.limit.daily_max} {check.limit.currency} minor units",
            details={"limit": "daily", "max": check.limit.daily_max},
        )
    if held > check.limit.outstanding_max:
        raise PaymentRefused(
            LIMIT_EXCEEDED,
            f"this would reserve {held} on your prefund for payouts in flight, above your"
            f" outstanding limit of {check.limit.outstanding_max} {check.limit.currency}"
            " minor units",
            details={"limit": "outstanding", "max": check.limit.outstanding_max},
        )


def usage_give_back(*, partner_id: int, send: Money, day: date) -> None:
    partner_usage_give_back(
        partner_id=partner_id, currency=send.currency.code, day=day, amount=send.amount
    )


def partner_limit_set(
    *,
    partner_id: int,
    currency_code: str,
    per_transaction_max: int,
    daily_max: int,
    outstanding_max: int,
    actor: str,
    now: datetime,
) -> PartnerLimit:
    """Create or change a partner's limits in a currency (enables the currency), audited
    with the old and new figures (amounts only, nothing personal)."""
    try:
        currency(currency_code)
    except MoneyError as exc:
        raise ValidationFailed(str(exc), details={"field": "currency"}) from None
    figures = {
        "per_transaction_max": per_transaction_max,
        "daily_max": daily_max,
        "outstanding_max": outstanding_max,
    }
    for name, value in figures.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LIMIT:
            raise ValidationFailed(
                f"{name} must be a whole number of minor units from 0 to {MAX_LIMIT}",
                details={"field": name},
            )
    if per_transaction_max > daily_max:
        raise ValidationFailed(
            "the per-transaction limit cannot be above the daily limit",
            details={"field": "per_transaction_max"},
        )
    with transaction.atomic():
        partner = Partner.objects.select_for_update().filter(pk=partner_id).first()
        if partner is None:
            raise ValidationFailed("no such partner", details={"field": "partner"})
        row = PartnerLimit.objects.filter(partner_id=partner_id, currency=currency_code).first()
        before = (
            None
            if row is None
            else {name: getattr(row, name) for name in figures}  # the old figures
        )
        if row is None:
            row = PartnerLimit(partner_id=partner_id, currency=currency_code)
        for name, value in figures.items():
            setattr(row, name, value)
        row.updated_at = now
        row.updated_by = actor[:64]
        row.save()
        audit_record(
            actor=actor,
            action="partner_limit.set",
            object_type="partner_limit",
            object_id=f"{partner.code}:{currency_code}",
            data={"partner": partner.code, "currency": currency_code, "before": before, **figures},
            now=now,
        )
    return row
