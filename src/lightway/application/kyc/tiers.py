"""KYC tiers and their limits: what a customer may send, per country, currency and date.

Tiers (``KycTier``): 0 registered (phone not verified: no payments at all), 1 phone verified,
2 basic identity, 3 Sumsub verified. Each (country, tier, currency) has effective-dated
limits (``KycTierLimit``): per transaction, daily and monthly sums of what the customer
sends, and the largest balance a wallet may hold. The row with the latest
``effective_from`` not after ``now`` applies; rows in effect are frozen by the database
(identity migration 0002): a change is a new row with a later date.

Which row: the customer's own country first; a currency that is not their country's (a
Ugandan customer's GHS wallet) falls back to the limits of that currency's home market for
the same tier (GH for GHS, CM for XAF, CI for XOF). No row at all: payments in that currency
are refused with a message saying so.

Days and months are calendar days and months in the customer's country's time zone.
What counts as "sent": the customer's P2P transfers, withdrawals and payouts that succeeded
or are still in flight (not failed, not reversed); amounts, not fees. The database keeps
those sums as usage counters per local day and month (wallets migration 0005), updated in
the transaction that records the payment; the maximum balance counts the balance plus the
credit of deposits still on the way in.

``KycTierLimits`` is the default limits policy of the payment skeleton
(``application/payments``), which calls it once the payment is recorded.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db import DatabaseError, IntegrityError, connection, transaction

from lightway.application.errors import NotFound, PaymentRefused, ValidationFailed
from lightway.application.identity.phones import MARKETS
from lightway.data.audit.services import audit_record
from lightway.data.identity.models import KycTier, KycTierLimit, Profile, Realm
from lightway.data.money import Money, MoneyError, currency
from lightway.data.wallets.models import TransferKind, Wallet

log = logging.getLogger(__name__)

# Each market's currency and its home market (for wallets in another market's currency).
CURRENCY_HOME: dict[str, str] = {code: country for country, code in MARKETS.items()}
MARKET_TIME_ZONES: dict[str, str] = {
    "UG": "Africa/Kampala",
    "GH": "Africa/Accra",
    "RW": "Africa/Kigali",
    "ZM": "Africa/Lusaka",
    "CI": "Africa/Abidjan",
    "CM": "Africa/Douala",
}
OUTGOING_KINDS = (TransferKind.P2P.value, TransferKind.WITHDRAWAL.value, TransferKind.PAYOUT.value)
LIMIT_FIELDS = ("per_transaction", "daily", "monthly", "max_balance")
LIMIT_NAMES = {
    "per_transaction": "per-transaction limit",
    "daily": "daily limit",
    "monthly": "monthly limit",
    "max_balance": "maximum balance",
}
MIN_REASON = 3


def _fmt(amount: int | None, code: str) -> str:
    if amount is None:
        return "no limit"
    try:
        return Money(amount, currency(code)).format()
    except MoneyError:
        return f"{code} {amount} (minor units)"


def _is_staff(actor: str) -> bool:
    return actor.startswith("staff:")


# --- looking limits up ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Lookup:
    """One customer's limits in one currency at one time, and what they already sent."""

    tier: int
    country: str
    limit_id: int | None
    limit_country: str
    per_transaction: int | None
    daily: int | None
    monthly: int | None
    max_balance: int | None
    effective_from: datetime | None
    source: str
    spent_today: int  # sent today, the payment being checked included once it is recorded
    spent_month: int
    balance: int
    pending_in: int  # credit of deposits still on the way in
    # the customer's approved limit override laid over the tier row (wallets migration 0013)
    override_id: int | None = None
    override_expires_at: datetime | None = None


# One statement (the database function ``payments_limits_lookup``, wallets migration 0008,
# which the limits check in the payment's own round trip calls too): the customer's tier and
# country, the limit row that applies (own country first, else the currency's home market),
# what they sent today and this month (the usage counters the database keeps per local day
# and month, wallets migration 0005: one indexed row each, however many payments the month
# holds; not read when ``spending`` is false), their balance in that currency and the credit
# of their deposits still on the way in. A row of NULLs when the user has no customer profile.
_LOOKUP_SQL = (
    "SELECT * FROM payments_limits_lookup(%(user)s, %(currency)s, %(home)s, %(now)s, %(spending)s)"
)
_LOOKUP_FIELDS = (
    "tier",
    "country",
    "limit_id",
    "limit_country",
    "per_transaction",
    "daily",
    "monthly",
    "max_balance",
    "effective_from",
    "source",
    "spent_today",
    "spent_month",
    "balance",
    "pending_in",
    "override_id",
    "override_expires_at",
)


def _lookup(*, user_id: int, code: str, now: datetime, spending: bool = True) -> _Lookup | None:
    """None when the user has no customer profile."""
    with connection.cursor() as cursor:
        cursor.execute(
            _LOOKUP_SQL,
            {
                "user": user_id,
                "currency": code,
                "home": CURRENCY_HOME.get(code, ""),
                "now": now,
                "spending": spending,
            },
        )
        row = cursor.fetchone()
    return _found(dict(zip(_LOOKUP_FIELDS, row, strict=True)))


def _found(values: dict[str, Any]) -> _Lookup | None:
    """A lookup from the function's columns (a row, or the JSON a refusal carries)."""
    if values.get("tier") is None:
        return None
    effective_from = values["effective_from"]
    if isinstance(effective_from, str):
        effective_from = datetime.fromisoformat(effective_from)
    expires = values.get("override_expires_at")
    if isinstance(expires, str):
        expires = datetime.fromisoformat(expires)
    return _Lookup(
        tier=int(values["tier"]),
        country=str(values["country"] or ""),
        limit_id=values["limit_id"],
        limit_country=str(values["limit_country"] or ""),
        per_transaction=values["per_transaction"],
        daily=values["daily"],
        monthly=values["monthly"],
        max_balance=values["max_balance"],
        effective_from=effective_from,
        source=str(values["source"] or ""),
        spent_today=int(values["spent_today"] or 0),
        spent_month=int(values["spent_month"] or 0),
        balance=int(values["balance"] or 0),
        pending_in=int(values["pending_in"] or 0),
        override_id=values.get("override_id"),
        override_expires_at=expires,
    )


@dataclass(frozen=True, slots=True)
class LimitView:
    """A customer's limits in one currency, for display (amounts in minor units; ``None``
    is "no limit"; ``defined`` False when no limits exist, so no payments in it)."""

    currency: str
    tier: int
    country: str  # the market whose limits apply
    defined: bool
    per_transaction: int | None
    daily: int | None
    monthly: int | None
    max_balance: int | None
    effective_from: datetime | None
    source: str
    spent_today: int
    spent_month: int
    balance: int
    # A limit override approved by a second member of staff (back office), if one applies:
    # the request's id, its expiry (None: until replaced) and the tier's own amounts.
    override_id: int | None = None
    override_expires_at: datetime | None = None
    defaults: dict[str, int | None] | None = None

    @property
    def overridden(self) -> dict[str, bool]:
        """Which amounts the override changed."""
        if self.defaults is None:
            return {}
        return {f: getattr(self, f) != self.defaults.get(f) for f in LIMIT_FIELDS}

    @property
    def default_text(self) -> dict[str, str]:
        """The tier's own amounts, formatted (empty without an override)."""
        if self.defaults is None:
            return {}
        return {f: _fmt(self.defaults.get(f), self.currency) for f in LIMIT_FIELDS}

    @property
    def tier_label(self) -> str:
        return str(KycTier(self.tier).label)

    @property
    def remaining_today(self) -> int | None:
        return None if self.daily is None else max(self.daily - self.spent_today, 0)

    @property
    def remaining_month(self) -> int | None:
        return None if self.monthly is None else max(self.monthly - self.spent_month, 0)

    @property
    def text(self) -> dict[str, str]:
        """Every amount formatted in the currency ("UGX 5,000,000", "no limit")."""
        return {
            "per_transaction": _fmt(self.per_transaction, self.currency),
            "daily": _fmt(self.daily, self.currency),
            "monthly": _fmt(self.monthly, self.currency),
            "max_balance": _fmt(self.max_balance, self.currency),
            "spent_today": _fmt(self.spent_today, self.currency),
            "spent_month": _fmt(self.spent_month, self.currency),
            "remaining_today": _fmt(self.remaining_today, self.currency),
            "remaining_month": _fmt(self.remaining_month, self.currency),
            "balance": _fmt(self.balance, self.currency),
        }


def kyc_limits_for(*, user_id: int, now: datetime) -> list[LimitView]:
    """The limits of a customer in their country's currency and every wallet currency."""
    profile = Profile.objects.filter(user_id=user_id, realm=Realm.CUSTOMER).first()
    if profile is None:
        raise NotFound("customer not found", details={"user_id": user_id})
    codes = [MARKETS[profile.country]] if profile.country in MARKETS else []
    for code in (
        Wallet.objects.filter(owner_id=user_id)
        .order_by("currency")
        .values_list("currency", flat=True)
    ):
        if code not in codes:
            codes.append(code)
    views = []
    for code in codes:
        found = _lookup(user_id=user_id, code=code, now=now)
        if found is None:
            continue
        defaults = None
        if found.override_id is not None and found.limit_id is not None:
            row = KycTierLimit.objects.filter(pk=found.limit_id).values(*LIMIT_FIELDS).first()
            defaults = dict(row) if row else None
        views.append(
            LimitView(
                currency=code,
                tier=found.tier,
                country=found.limit_country or found.country,
                defined=found.limit_id is not None,
                per_transaction=found.per_transaction,
                daily=found.daily,
                monthly=found.monthly,
                max_balance=found.max_balance,
                effective_from=found.effective_from,
                source=found.source,
                spent_today=found.spent_today,
                spent_month=found.spent_month,
                balance=found.balance,
                override_id=found.override_id,
                override_expires_at=found.override_expires_at,
                defaults=defaults,
            )
        )
    return views


# --- the limits policy ------------------------------------------------------------------


def _refuse(limit: str, message: str, **details: object) -> PaymentRefused:
    return PaymentRefused("limit_exceeded", message, details={"limit": limit, **details})


class KycTierLimits:
    """The default limits policy: the KYC tier limits of the paying customer (per
    transaction, daily, monthly) and of the recipient (maximum balance).

    The payment skeleton has the database check them (``payments_limits_check``, wallets
    migration 0008: the one place the rules are decided) inside the payment's transaction
    once the payment is recorded: its ledger movement made (the wallets' account rows
    locked) and its transfer row inserted, so the usage counters already include it and are
    locked by this transaction until it ends. Concurrent payments of one customer are
    therefore checked one after the other, each against every payment before it, whatever
    their clocks said; and the recipient's balance plus pending deposits is read under the
    wallet's lock. A refusal comes back as SQLSTATE ``LW001`` with the rule and the figures;
    :meth:`refusal` turns it into the customer's message.

    ``in_database``: the skeleton may run the check inside its one-round-trip recording
    (``payments_record``) instead of calling :meth:`check`.
    """

    in_database = True

    def check(
        self,
        *,
        customer_id: int,
        kind: str,
        amount: Money,
        now: datetime,
        recipient_id: int | None = None,
        transfer_id: uuid.UUID | None = None,
    ) -> None:
        code = amount.currency.code
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "SELECT payments_limits_check(%s, %s, %s, %s, %s, %s, %s)",
                    [
                        customer_id,
                        kind,
                        code,
                        amount.amount,
                        now,
                        CURRENCY_HOME.get(code, ""),
                        recipient_id,
                    ],
                )
        except DatabaseError as exc:
            refused = self.refusal(exc, amount=amount)
            if refused is None:
                raise
            raise refused from None

    @staticmethod
    def arguments(*, amount: Money, recipient_id: int | None) -> dict[str, object]:
        """What ``payments_record`` passes on to ``payments_limits_check`` (``p_limits``)."""
        return {"home": CURRENCY_HOME.get(amount.currency.code, ""), "recipient": recipient_id}

    @staticmethod
    def refusal(exc: BaseException, *, amount: Money) -> PaymentRefused | None:
        """The refusal behind a database error raised by ``payments_limits_check``, with the
        customer's message; None for any other error."""
        cause = exc.__cause__ or exc
        diag = getattr(cause, "diag", None)
        if getattr(diag, "sqlstate", None) != LIMITS_SQLSTATE:
            return None
        detail = json.loads(getattr(diag, "message_detail", None) or "{}")
        return _limit_refusal(
            str(detail.get("rule", "")),
            detail.get("found") or {},
            payer=detail.get("who") == "payer",
            amount=amount,
        )


def _basis(found: _Lookup) -> str:
    """What set the limit: the KYC tier, or a limit override the back office approved."""
    if found.override_id is not None:
        return "a limit set for your account"
    return f"KYC tier {found.tier}"


# SQLSTATE of a payment refused by ``payments_limits_check``.
LIMITS_SQLSTATE = "LW001"


def _limit_refusal(
    rule: str, values: dict[str, Any], *, payer: bool, amount: Money
) -> PaymentRefused:
    """The message of a limit the database found broken (``rule``), from its figures."""
    code = amount.currency.code
    value = amount.amount
    found = _found(values)
    if rule == "no_profile" or found is None:
        return _refuse("no_profile", "this account has no verified customer profile: it cannot pay")
    common: dict[str, object] = {"currency": code, "tier": found.tier}
    if rule == "undefined":
        if not payer:  # the customer's own wallet credited (a deposit)
            return _refuse(
                "undefined",
                f"no limits are defined for {code} in {found.country} for KYC tier "
                f"{found.tier}: your wallet cannot receive {code}",
                **common,
            )
        return _refuse(
            "undefined",
            f"no limits are defined for {code} in {found.country or 'your country'} for "
            f"KYC tier {found.tier}: payments in {code} are not available",
            **common,
        )
    if rule == "unverified" and found.override_id is not None:
        return _refuse(
            "per_transaction",
            f"payments in {code} are stopped on your account ({_basis(found)})",
            limit_amount=0,
            remaining=0,
            **common,
        )
    if rule == "unverified":
        return _refuse(
            "per_transaction",
            f"your account cannot make payments in {code} yet (KYC tier {found.tier}): "
            "verify your phone number first",
            limit_amount=0,
            remaining=0,
            **common,
        )
    if rule == "per_transaction" and found.per_transaction is not None:
        return _refuse(
            "per_transaction",
            f"{_fmt(value, code)} is above your per-transaction limit of "
            f"{_fmt(found.per_transaction, code)} ({_basis(found)}): you can send up "
            f"to {_fmt(found.per_transaction, code)} in one payment",
            limit_amount=found.per_transaction,
            remaining=found.per_transaction,
            **common,
        )
    # The counters already hold this payment (its transfer row is recorded).
    periods = {
        "daily": (found.daily, found.spent_today, "today"),
        "monthly": (found.monthly, found.spent_month, "this month"),
    }
    if rule in periods and periods[rule][0] is not None:
        limit, spent, period = periods[rule]
        assert limit is not None
        remaining = max(limit - (spent - value), 0)
        return _refuse(
            rule,
            f"this payment would go over your {LIMIT_NAMES[rule]} of {_fmt(limit, code)} "
            f"({_basis(found)}): you can send {_fmt(remaining, code)} more {period}",
            limit_amount=limit,
            remaining=remaining,
            **common,
        )
    if rule == "recipient_undefined":
        return _refuse("recipient", f"the destination wallet cannot receive {code}")
    if rule == "max_balance" and found.max_balance is not None:
        # What the wallet will hold: its balance and every deposit on its way in (this one's
        # credit included).
        before = found.balance + found.pending_in - value
        remaining = max(found.max_balance - before, 0)
        return _refuse(
            "max_balance",
            f"this would take your balance above your maximum balance of "
            f"{_fmt(found.max_balance, code)} ({_basis(found)}): you can receive "
            f"{_fmt(remaining, code)} more",
            limit_amount=found.max_balance,
            remaining=remaining,
            **common,
        )
    if rule == "recipient_max_balance":
        # The payer is not told the recipient's balance, limit or tier.
        return _refuse(
            "recipient_max_balance",
            "the destination wallet cannot receive this amount: it would go over the "
            "recipient's maximum balance",
            currency=code,
        )
    log.error("limits.unknown_refusal", extra={"rule": rule})
    return _refuse(rule or "unknown", "this payment is over a limit of your account")


# --- changing a customer's tier ---------------------------------------------------------


# Tier 2 and above reserve the account's ID number (identity migration 0004).
ID_NUMBER_CLAIM = "profile_claimed_id_number_unique"


def _constraint(exc: IntegrityError) -> str:
    return str(getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None) or "")


def kyc_tier_set(
    *, user_id: int, tier: int, actor: str, reason: str, now: datetime, announce: bool = True
) -> bool:
    """Set a customer's KYC tier; True when it changed.

    Raising is for everyone (phone verification, Sumsub approval...); lowering only for
    staff (``actor`` ``"staff:<id>"``): any other actor asking for a lower tier changes
    nothing (False). Audited as ``kyc.tier.set`` with the old and new tier and the reason;
    a raise notifies the customer (``limits_raised``) unless ``announce`` is False (the
    caller sends a message that says it already: Sumsub's approval, ``kyc_approved``, so the
    customer gets one SMS, not two). A raise to tier 2 or above of an
    account whose ID number another account at that tier holds changes nothing (False) and
    is audited as ``user.id_number_conflict`` for compliance, whoever asked.
    """
    try:
        new = KycTier(int(tier))
    except (TypeError, ValueError):
        raise ValidationFailed(
            f"tier must be one of {', '.join(str(t.value) for t in KycTier)}",
            details={"field": "tier"},
        ) from None
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON:
        raise ValidationFailed("a reason is required", details={"field": "reason"})
    with transaction.atomic():
        profile = Profile.objects.select_for_update().filter(user_id=user_id).first()
        if profile is None or profile.realm != Realm.CUSTOMER:
            raise NotFound("customer not found", details={"user_id": user_id})
        old = int(profile.kyc_tier)
        if new == old:
            return False
        if new < old and not _is_staff(actor):
            log.info(
                "kyc tier not lowered: only staff may lower a tier",
                extra={"subject": profile.subject, "actor": actor, "tier": old, "asked": int(new)},
            )
            return False
        profile.kyc_tier = new
        profile.updated_at = now
        try:
            with transaction.atomic():
                profile.save(update_fields=["kyc_tier", "updated_at"])
        except IntegrityError as exc:
            if _constraint(exc) != ID_NUMBER_CLAIM:
                raise
            # Tier 2 and above reserve the ID number (identity migration 0004): another
            # account at that tier holds this one. Nothing changes; compliance follows up.
            audit_record(
                actor=actor,
                action="user.id_number_conflict",
                object_type="identity.profile",
                object_id=str(user_id),
                data={"fields": ["id_number"], "tier": int(new)},
                now=now,
            )
            log.warning(
                "kyc tier not raised: the id number is held by another account",
                extra={"subject": profile.subject, "actor": actor, "asked": int(new)},
            )
            return False
        audit_record(
            actor=actor,
            action="kyc.tier.set",
            object_type="identity.profile",
            object_id=str(user_id),
            data={"from": old, "to": int(new), "reason": reason[:200]},
            now=now,
        )
        if new > old and new >= KycTier.BASIC_IDENTITY:
            # KYC approval screens the customer's name against the sanctions list (an open
            # hit blocks their payments; docs/aml.md)
            from lightway.application.aml.sanctions import customer_screen

            customer_screen(user_id=user_id, now=now)
        if new > old and announce:
            from lightway.application.notifications.service import notify

            notify(template="limits_raised", context={"tier": int(new)}, user_id=user_id, now=now)
    log.info(
        "kyc tier set",
        extra={"subject": profile.subject, "actor": actor, "from": old, "to": int(new)},
    )
    return True


# --- staff edits and the regulator defaults ---------------------------------------------


def kyc_limit_add(
    *,
    country: str,
    tier: int,
    currency_code: str,
    effective_from: datetime,
    actor: str,
    now: datetime,
    source: str = "",
    **limits: int | None,
) -> KycTierLimit:
    """A new limits row for later (``effective_from`` after ``now``); audited.

    Rows in effect never change: to change limits, add a row that starts later.
    """
    unknown = set(limits) - set(LIMIT_FIELDS)
    if unknown:
        raise ValueError(f"unknown limit fields {sorted(unknown)}")
    if country not in MARKETS:
        raise ValidationFailed(
            f"country must be one of {', '.join(sorted(MARKETS))}", details={"field": "country"}
        )
    try:
        currency(currency_code)
        KycTier(int(tier))
    except (MoneyError, ValueError):
        raise ValidationFailed("unknown currency or tier", details={"field": "currency"}) from None
    if effective_from <= now:
        raise ValidationFailed(
            "limits in effect cannot change: the new row must start after now",
            details={"field": "effective_from"},
        )
    for name, value in limits.items():
        if value is not None and value < 0:
            raise ValidationFailed(f"{name} cannot be negative", details={"field": name})
    with transaction.atomic():
        row = KycTierLimit.objects.create(
            country=country,
            tier=int(tier),
            currency=currency_code,
            effective_from=effective_from,
            source=source[:200],
            created_at=now,
            created_by=actor[:40],
            **limits,
        )
        audit_record(
            actor=actor,
            action="identity.kyctierlimit.create",
            object_type="identity.kyctierlimit",
            object_id=str(row.pk),
            data={"fields": sorted(["country", "tier", "currency", "effective_from", *limits])},
            now=now,
        )
    return row


def _at(country: str, year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=ZoneInfo(MARKET_TIME_ZONES[country]))


def _major(country: str, value: int | None) -> int | None:
    """Major units (the regulator's figures) to minor units of the market's currency."""
    if value is None:
        return None
    return int(value * 10 ** currency(MARKETS[country]).exponent)


@dataclass(frozen=True, slots=True)
class _Seed:
    country: str
    tier: int
    date: tuple[int, int, int]
    # major units: per transaction, daily, monthly, max balance (None = no limit)
    figures: tuple[int | None, int | None, int | None, int | None]
    source: str


_TIER0 = "LightWay policy: no payments before the phone number is verified (tier 0)"

# The regulator figures of docs/security.md "KYC tiers and limits" (from the reference
# note on MoMo markets). Missing figures are derived conservatively, and the source says
# which: per transaction = the daily cap; daily = 2 x per transaction (Rwanda); monthly =
# 5 x daily; maximum balance = the daily cap.
DEFAULT_LIMITS: tuple[_Seed, ...] = (
    # Ghana: Bank of Ghana Minimum / Medium / Enhanced KYC = tiers 1 / 2 / 3.
    _Seed("GH", 0, (2020, 3, 20), (0, 0, 0, 0), _TIER0),
    _Seed(
        "GH",
        1,
        (2020, 3, 20),
        (1_000, 1_000, 6_000, 2_000),
        "BoG COVID revision 20 Mar 2020, Minimum KYC: balance GHS 2,000, daily 1,000, monthly "
        "6,000; per-transaction derived = daily",
    ),
    _Seed(
        "GH",
        2,
        (2020, 3, 20),
        (5_000, 5_000, None, 15_000),
        "BoG COVID revision 20 Mar 2020, Medium KYC: balance GHS 15,000, daily 5,000, no "
        "monthly limit; per-transaction derived = daily",
    ),
    _Seed(
        "GH",
        3,
        (2020, 3, 20),
        (10_000, 10_000, None, 30_000),
        "BoG COVID revision 20 Mar 2020, Enhanced KYC: balance GHS 30,000, daily 10,000, no "
        "monthly limit; per-transaction derived = daily",
    ),
    _Seed(
        "GH",
        1,
        (2024, 3, 1),
        (3_000, 3_000, 10_000, 5_000),
        "BoG limits from 1 Mar 2024, Minimum KYC: balance GHS 5,000, daily 3,000, monthly "
        "10,000; per-transaction derived = daily",
    ),
    _Seed(
        "GH",
        2,
        (2024, 3, 1),
        (15_000, 15_000, None, 40_000),
        "BoG limits from 1 Mar 2024, Medium KYC: balance GHS 40,000, daily 15,000, no monthly "
        "limit; per-transaction derived = daily",
    ),
    _Seed(
        "GH",
        3,
        (2024, 3, 1),
        (25_000, 25_000, None, 75_000),
        "BoG limits from 1 Mar 2024, Enhanced KYC: balance GHS 75,000, daily 25,000, no "
        "monthly limit; per-transaction derived = daily",
    ),
    # Uganda: one published cap set (BoU directive of 1 Mar 2022), no tier table.
    _Seed("UG", 0, (2022, 3, 1), (0, 0, 0, 0), _TIER0),
    _Seed(
        "UG",
        1,
        (2022, 3, 1),
        (1_000_000, 1_000_000, 5_000_000, 2_000_000),
        "Derived: BoU requires ID above UGX 1 million (Apr 2024), so no-ID tier capped at 1M "
        "per payment and day; monthly 5 x daily; balance 2M (conservative)",
    ),
    _Seed(
        "UG",
        2,
        (2022, 3, 1),
        (2_500_000, 10_000_000, 50_000_000, 10_000_000),
        "Derived: half of the BoU caps of 1 Mar 2022 (balance and daily UGX 20M, single "
        "withdrawal 5M); monthly 5 x daily (conservative)",
    ),
    _Seed(
        "UG",
        3,
        (2022, 3, 1),
        (5_000_000, 20_000_000, 100_000_000, 20_000_000),
        "BoU directive 1 Mar 2022: balance and daily UGX 20M, single withdrawal 5M; monthly "
        "derived = 5 x daily",
    ),
    # Rwanda: BNR per-transfer limits of 18 Mar 2020 (Tier 1 1.5M, Tier 2 4M).
    _Seed("RW", 0, (2020, 3, 18), (0, 0, 0, 0), _TIER0),
    _Seed(
        "RW",
        1,
        (2020, 3, 18),
        (500_000, 1_000_000, 5_000_000, 1_000_000),
        "BNR Tier 1 per-transfer RWF 500,000 (before Mar 2020), kept for phone-only wallets; "
        "derived: daily 2 x, monthly 5 x daily, balance = daily",
    ),
    _Seed(
        "RW",
        2,
        (2020, 3, 18),
        (1_500_000, 3_000_000, 15_000_000, 3_000_000),
        "BNR Tier 1 per-transfer RWF 1,500,000 (18 Mar 2020); derived: daily 2 x, monthly "
        "5 x daily, balance = daily",
    ),
    _Seed(
        "RW",
        3,
        (2020, 3, 18),
        (4_000_000, 8_000_000, 40_000_000, 8_000_000),
        "BNR Tier 2 per-transfer RWF 4,000,000 (18 Mar 2020); derived: daily 2 x, monthly "
        "5 x daily, balance = daily",
    ),
    # Zambia: BoZ daily limits of 20 Mar 2020 (tier-1 K20,000; tier-2 K100,000, balance same).
    _Seed("ZM", 0, (2020, 3, 20), (0, 0, 0, 0), _TIER0),
    _Seed(
        "ZM",
        1,
        (2020, 3, 20),
        (10_000, 10_000, 50_000, 10_000),
        "BoZ tier-1 daily ZMW 10,000 (before Mar 2020), kept for phone-only wallets; derived: "
        "per-transaction and balance = daily, monthly 5 x daily",
    ),
    _Seed(
        "ZM",
        2,
        (2020, 3, 20),
        (20_000, 20_000, 100_000, 20_000),
        "BoZ tier-1 individuals daily ZMW 20,000 (20 Mar 2020); derived: per-transaction and "
        "balance = daily, monthly 5 x daily",
    ),
    _Seed(
        "ZM",
        3,
        (2020, 3, 20),
        (100_000, 100_000, 500_000, 100_000),
        "BoZ tier-2 individuals daily ZMW 100,000, balance 100,000 (20 Mar 2020); derived: "
        "per-transaction = daily, monthly 5 x daily",
    ),
    # Côte d'Ivoire: BCEAO Instruction 008-05-2015 (21 May 2015).
    _Seed("CI", 0, (2015, 5, 21), (0, 0, 0, 0), _TIER0),
    _Seed(
        "CI",
        1,
        (2015, 5, 21),
        (200_000, 200_000, 1_000_000, 200_000),
        "BCEAO: accounts without ID capped at XOF 200,000; derived: per-transaction and daily "
        "= cap, monthly 5 x daily",
    ),
    _Seed(
        "CI",
        2,
        (2015, 5, 21),
        (1_000_000, 1_000_000, 5_000_000, 1_000_000),
        "Derived: half of the BCEAO Instr. 008-05-2015 identified-client caps (balance XOF 2M, "
        "monthly 10M) until Sumsub verification",
    ),
    _Seed(
        "CI",
        3,
        (2015, 5, 21),
        (2_000_000, 2_000_000, 10_000_000, 2_000_000),
        "BCEAO Instr. 008-05-2015 art. 31: balance XOF 2M, monthly reloads 10M; derived: "
        "per-transaction and daily = balance cap",
    ),
    # Cameroon: BEAC/COBAC withdrawal caps (30 Mar 2018): 500,000 per transaction, 750,000/day.
    _Seed("CM", 0, (2018, 3, 30), (0, 0, 0, 0), _TIER0),
    _Seed(
        "CM",
        1,
        (2018, 3, 30),
        (100_000, 150_000, 750_000, 150_000),
        "Derived: one fifth of the BEAC caps of 30 Mar 2018 (XAF 500,000 per transaction, "
        "750,000 a day) for phone-only wallets; monthly 5 x daily",
    ),
    _Seed(
        "CM",
        2,
        (2018, 3, 30),
        (250_000, 375_000, 1_875_000, 375_000),
        "Derived: half of the BEAC caps of 30 Mar 2018 (XAF 500,000 per transaction, 750,000 "
        "a day); monthly 5 x daily, balance = daily",
    ),
    _Seed(
        "CM",
        3,
        (2018, 3, 30),
        (500_000, 750_000, 3_750_000, 750_000),
        "BEAC/COBAC caps 30 Mar 2018: XAF 500,000 per transaction, 750,000 a day; derived: "
        "monthly 5 x daily, balance = daily",
    ),
)


def kyc_limits_seed_defaults(*, now: datetime) -> int:
    """Insert the regulator defaults that are missing; the number of rows added.

    Idempotent (a row is identified by country, tier, currency and start date). Rows start
    at the regulator's date, so they apply at once; the database allows such back-dated
    rows only while no older row of theirs is in effect (a first seeding).
    """
    rows = [
        KycTierLimit(
            country=s.country,
            tier=s.tier,
            currency=MARKETS[s.country],
            effective_from=_at(s.country, *s.date),
            per_transaction=_major(s.country, s.figures[0]),
            daily=_major(s.country, s.figures[1]),
            monthly=_major(s.country, s.figures[2]),
            max_balance=_major(s.country, s.figures[3]),
            source=s.source[:200],
            created_at=now,
            created_by="system:seed",
        )
        for s in DEFAULT_LIMITS
    ]
    with transaction.atomic():
        existing = set(
            KycTierLimit.objects.values_list("country", "tier", "currency", "effective_from")
        )
        missing = [
            r for r in rows if (r.country, r.tier, r.currency, r.effective_from) not in existing
        ]
        if not missing:
            return 0
        created = KycTierLimit.objects.bulk_create(missing, ignore_conflicts=True)
        audit_record(
            actor="system",
            action="identity.kyctierlimit.seed",
            object_type="identity.kyctierlimit",
            object_id="",
            data={
                "rows": len(created),
                "markets": sorted({r.country for r in missing}),
            },
            now=now,
        )
    return len(missing)


def limit_row_summary(row: KycTierLimit) -> dict[str, Any]:
    """A row's amounts formatted in its currency (admin and staff pages)."""
    return {name: _fmt(getattr(row, name), row.currency) for name in LIMIT_FIELDS}
