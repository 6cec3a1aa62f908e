"""Customer limit overrides with maker-checker (back office, issue 13).

A member of staff with ``customers.limits_override`` proposes, on the customer's page, new
limits for one of the customer's currencies: any of the four dimensions of the KYC tier
limits (per transaction, daily, monthly, maximum balance; a blank one keeps the tier's),
with a reason and an optional expiry. The proposal is an ordinary back-office action
request (kind ``limit_override``, ``application/backoffice/actions.py``): another person
approves or rejects it, the database refuses a decision by the requester, and every step
is audited (``backoffice.action.requested`` / ``.approved`` / ``.rejected``).

Nothing is copied on approval: the approved request *is* the override. The database
function that reads a customer's limits (``payments_limits_lookup``, wallets migration
0013) lays the newest approved override of the customer in the currency over the tier's
row, until its expiry; every limits check (the payment's one-statement recording and the
Python policy) goes through it. A newer override replaces an older one; one with every
amount blank is a return to the tier's limits.

Amounts are typed in major units of the currency ("5,000,000", "1500.50"), stored in
minor units; 0 is allowed (it stops that kind of payment).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from lightway.application.backoffice.actions import action_request
from lightway.application.errors import ValidationFailed
from lightway.application.identity.phones import MARKETS
from lightway.application.identity.pii import customer_get
from lightway.application.kyc.tiers import LIMIT_FIELDS, LIMIT_NAMES
from lightway.data.backoffice.models import ActionKind, ActionRequest
from lightway.data.money import Money, MoneyError, currency
from lightway.data.wallets.models import Wallet

# The database's bound (backoffice migration 0003): 10^15 minor units.
MAX_LIMIT_MINOR = 10**15

_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_GROUPED = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d+)?$")


def limit_amount_parse(text: str | None, code: str, *, field: str) -> int | None:
    """A limit typed in major units of ``code`` as minor units; None when blank (the tier's
    limit applies). ``ValidationFailed`` on ``field`` saying what is wrong otherwise."""
    raw = (text or "").strip().replace(" ", "").replace("\u00a0", "")
    if not raw:
        return None
    name = LIMIT_NAMES.get(field, field)
    cur = currency(code)
    if raw.startswith("-"):
        raise ValidationFailed(
            f"the {name} cannot be negative: enter 0 or more", details={"field": field}
        )
    if _GROUPED.match(raw):
        raw = raw.replace(",", "")
    if not _NUMBER.match(raw):
        example = "5000000" if cur.exponent == 0 else "1500.00"
        raise ValidationFailed(
            f"enter the {name} as a number in {code}, for example {example}",
            details={"field": field},
        )
    try:
        value = Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern only lets numbers through
        raise ValidationFailed(f"enter the {name} as a number", details={"field": field}) from None
    if len(raw.partition(".")[2].rstrip("0")) > cur.exponent:
        raise ValidationFailed(
            f"{code} amounts have no decimals"
            if cur.exponent == 0
            else f"{code} amounts have at most {cur.exponent} decimals",
            details={"field": field},
        )
    minor = int(value.scaleb(cur.exponent))
    if minor > MAX_LIMIT_MINOR:
        raise ValidationFailed(
            f"the {name} is too large: at most {Money(MAX_LIMIT_MINOR, cur).format()}",
            details={"field": field},
        )
    return minor


def customer_limit_currencies(*, user_id: int, country: str) -> list[str]:
    """The currencies a customer's limits can be overridden in: their market's and their
    wallets' (the same list as the customer page's limits)."""
    codes = [MARKETS[country]] if country in MARKETS else []
    for code in (
        Wallet.objects.filter(owner_id=user_id)
        .order_by("currency")
        .values_list("currency", flat=True)
    ):
        if code not in codes:
            codes.append(code)
    return codes


@dataclass(frozen=True)
class OverrideProposal:
    """What the form sends: amounts as typed (major units, "" = the tier's)."""

    currency: str
    per_transaction: str = ""
    daily: str = ""
    monthly: str = ""
    max_balance: str = ""
    expires_at: datetime | None = None


def limit_override_request(
    *, subject: str, proposal: OverrideProposal, reason: str, actor_id: int, now: datetime
) -> ActionRequest:
    """Propose a limit override for the customer ``subject``; a colleague decides.
    ``ValidationFailed`` (with the field of each problem in ``details["errors"]``) for bad
    amounts, a currency the customer has no limits in, or an expiry not in the future."""
    customer = customer_get(subject=subject)
    codes = customer_limit_currencies(user_id=customer.user_id, country=customer.country)
    errors: dict[str, str] = {}
    code = proposal.currency
    if code not in codes:
        raise ValidationFailed(
            "choose one of the customer's currencies: " + (", ".join(codes) or "none yet"),
            details={"field": "currency"},
        )
    amounts: dict[str, int | None] = {}
    for field in LIMIT_FIELDS:
        try:
            amounts[field] = limit_amount_parse(getattr(proposal, field), code, field=field)
        except (ValidationFailed, MoneyError) as exc:
            errors[field] = str(getattr(exc, "message", exc))
    daily, monthly = amounts.get("daily"), amounts.get("monthly")
    if daily is not None and monthly is not None and daily > monthly and "daily" not in errors:
        errors["daily"] = "the daily limit cannot be above the monthly limit"
    expires = proposal.expires_at
    if expires is not None:
        expires = expires.astimezone(UTC).replace(microsecond=0)
        if expires <= now:
            errors["expires_at"] = "the expiry must be in the future"
    if errors:
        first = next(iter(errors.values()))
        raise ValidationFailed(first, details={"errors": errors})
    params: dict[str, object] = {
        "currency": code,
        **amounts,
        "expires_at": expires.isoformat() if expires is not None else None,
    }
    return action_request(
        kind=ActionKind.LIMIT_OVERRIDE,
        reason=reason,
        subject=subject,
        actor_id=actor_id,
        now=now,
        params=params,
    )


def limit_override_summary(params: dict[str, object]) -> str:
    """One line for the approvals list: "UGX: per-transaction limit UGX 8,000,000, daily
    limit as the tier; until 2026-12-31 00:00 UTC"."""
    code = str(params.get("currency") or "")
    parts = []
    for field in LIMIT_FIELDS:
        value = params.get(field)
        if value is None:
            parts.append(f"{LIMIT_NAMES[field]} as the tier")
            continue
        try:
            text = Money.of(int(str(value)), code).format()
        except (MoneyError, ValueError):
            text = f"{value} (minor units)"
        parts.append(f"{LIMIT_NAMES[field]} {text}")
    expires = params.get("expires_at")
    until = (
        f"until {datetime.fromisoformat(str(expires)):%Y-%m-%d %H:%M} UTC"
        if expires
        else "until replaced"
    )
    return f"{code}: {', '.join(parts)}; {until}"
