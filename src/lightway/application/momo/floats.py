"""MoMo float monitoring: periodic balance reads per market and product, low-balance
thresholds, and one alert per fall below a threshold (docs/momo.md, "Float monitoring").

Every MoMo product (collection, disbursement, remittance) has its own account per market
(``X-Target-Environment``). ``float_check`` reads each balance through the gateway, stores
a :class:`FloatReading` (a failed read is stored with its error: one market failing never
stops the others), and compares it with the :class:`FloatThreshold` of that account:

- falling below the threshold (``available < low``) moves the threshold's ``alert_state``
  to ``low``: one alert email goes out through the notification service and
  ``lightway_momo_float_low_total{product}`` counts it;
- staying low sends nothing more;
- back at or above the threshold moves it to ``ok`` and sends one recovery notice.

The state change, its notification and its counter commit together (the threshold row is
locked while deciding), so two checks running at once still alert once. Disbursement and
remittance floats matter most: a payout from an empty float fails with ``NOT_ENOUGH_FUNDS``
(or, as MTN warns, a bare ``INTERNAL_PROCESSING_ERROR``).

Alerts go to ``LIGHTWAY_MOMO_ALERT_EMAIL`` (comma-separated addresses) when set, else to the
email of every active staff member whose roles may set thresholds (``momo_float.manage``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction

from lightway.application.errors import ValidationFailed
from lightway.application.momo.gateway import (
    momo_configured,
    momo_environments,
    momo_gateway,
    momo_target,
)
from lightway.application.notifications.service import staff_alert_email
from lightway.data.audit.services import audit_record
from lightway.data.momo.models import FloatReading, FloatThreshold, Product
from lightway.data.momo.selectors import float_readings_latest
from lightway.data.money import Money, MoneyError, Rounding, currency
from lightway.infrastructure import metrics
from lightway.infrastructure.jobs import job_enqueue
from lightway.integration.momo.port import MomoError
from lightway.integration.momo.port import Product as PortProduct
from lightway.security.policy import MATRIX, Action

logger = logging.getLogger(__name__)

PRODUCTS: tuple[str, ...] = tuple(p.value for p in Product)
# Payouts draw on these: a low float here makes payouts fail (NOT_ENOUGH_FUNDS).
PAYOUT_PRODUCTS = frozenset({Product.DISBURSEMENT.value, Product.REMITTANCE.value})

STATE_OK = "ok"
STATE_LOW = "low"
STATE_ERROR = "error"  # result only: the read failed, the stored state is unchanged
STATE_UNMONITORED = "unmonitored"  # result only: no threshold for this account

TEMPLATE_LOW = "momo_float_low"
TEMPLATE_RECOVERED = "momo_float_recovered"
FLOAT_PAGE = "/staff/momo/float/"
# A threshold above this many minor units is a typing mistake, not a float size.
MAX_THRESHOLD_MINOR = 10**15


@dataclass(frozen=True)
class FloatMarket:
    currency: str
    environment: str


def float_markets() -> list[FloatMarket]:
    """The configured markets (``MOMO_ENVIRONMENTS``: ``UGX:mtnuganda,...``), in order,
    parsed as the gateway parses them. A broken setting gives no market (logged; ``lightway
    check`` and every MoMo payment report it too); unknown currencies are skipped."""
    try:
        mapping = momo_environments()
    except MomoError as exc:
        logger.error("MOMO_ENVIRONMENTS is not readable", extra={"error": str(exc)[:200]})
        return []
    out: list[FloatMarket] = []
    seen: set[str] = set()
    for code, environment in mapping.items():
        if environment in seen:
            continue
        try:
            currency(code)
        except MoneyError:
            continue
        seen.add(environment)
        out.append(FloatMarket(code, environment))
    return out


def _market(environment: str) -> FloatMarket | None:
    return next((m for m in float_markets() if m.environment == environment), None)


# --- the periodic check ----------------------------------------------------------------------


@dataclass(frozen=True)
class FloatCheckResult:
    product: str
    environment: str
    currency: str
    available_minor: int | None
    error: str
    state: str  # ok | low | unknown | error | unmonitored
    alert: str = ""  # "low" or "recovered" when this check sent one

    @property
    def key(self) -> tuple[str, str]:
        return (self.environment, self.product)

    @property
    def available(self) -> str:
        if self.available_minor is None:
            return ""
        return Money.of(self.available_minor, self.currency).format()


def _read_balance(product: str, market: FloatMarket) -> tuple[int | None, str]:
    """(available minor units, "") or (None, error) for one account; never raises."""
    try:
        target = momo_target(market.currency)
        balance = momo_gateway().balance(
            PortProduct(product), target=target, currency=market.currency
        )
    except MomoError as exc:
        message = str(exc) or type(exc).__name__
        if exc.code and exc.code not in message:
            message = f"{exc.code}: {message}"
        return None, message[:300]
    except Exception as exc:  # one broken market must not stop the others
        logger.exception(
            "momo float read raised unexpectedly",
            extra={"product": product, "environment": market.environment},
        )
        return None, f"unexpected {type(exc).__name__}"
    if (balance.currency or market.currency).upper() != market.currency:
        return None, f"MoMo answered in {balance.currency}, expected {market.currency}"[:300]
    try:
        # A decimal string ("1500000", "12500.50"): exact, never through a float. Rounded
        # down so a fraction never makes a float look fuller than it is.
        amount = Money.from_major(
            str(balance.available_balance).strip(), market.currency, Rounding.FLOOR
        )
    except MoneyError:
        return None, "MoMo sent an unreadable availableBalance"
    return amount.amount, ""


def float_check(*, now: datetime) -> list[FloatCheckResult]:
    """Read every configured market's collection, disbursement and remittance balance,
    store the readings and alert on thresholds (see the module docstring). Returns one
    result per account read. Without MoMo configured nothing is read."""
    if not momo_configured():
        logger.info("momo float check skipped: MoMo is not configured")
        return []
    results: list[FloatCheckResult] = []
    for market in float_markets():
        for product in PRODUCTS:
            available, error = _read_balance(product, market)
            results.append(_record(product, market, available, error, now=now))
    low = sum(1 for r in results if r.state == STATE_LOW)
    failed = sum(1 for r in results if r.state == STATE_ERROR)
    logger.info(
        "momo float check done",
        extra={"accounts": len(results), "low": low, "failed": failed},
    )
    return results


def _record(
    product: str, market: FloatMarket, available: int | None, error: str, *, now: datetime
) -> FloatCheckResult:
    """Store one reading and move its threshold's state, in one transaction."""
    log = {"product": product, "environment": market.environment}
    with transaction.atomic():
        FloatReading.objects.create(
            product=product,
            target_environment=market.environment,
            currency=market.currency,
            available_minor=available,
            error=error,
            read_at=now,
        )
        threshold = (
            FloatThreshold.objects.select_for_update()
            .filter(product=product, target_environment=market.environment)
            .first()
        )
        if available is None:
            logger.warning("momo float read failed", extra={**log, "error": error[:120]})
            return FloatCheckResult(
                product, market.environment, market.currency, None, error, STATE_ERROR
            )
        if threshold is None:
            return FloatCheckResult(
                product, market.environment, market.currency, available, "", STATE_UNMONITORED
            )
        if threshold.currency != market.currency:
            # The market changed currency since the threshold was set: not comparable.
            message = f"threshold is in {threshold.currency}, balance in {market.currency}"
            return FloatCheckResult(
                product, market.environment, market.currency, available, message, STATE_ERROR
            )
        is_low = available < threshold.low_minor
        previous = threshold.alert_state
        alert = ""
        if is_low and previous != STATE_LOW:
            alert = STATE_LOW
            threshold.alert_state = STATE_LOW
            threshold.alerted_at = now
        elif not is_low and previous != STATE_OK:
            alert = "recovered" if previous == STATE_LOW else ""
            threshold.alert_state = STATE_OK
        if threshold.alert_state != previous:
            threshold.updated_at = now
            threshold.save(update_fields=["alert_state", "alerted_at", "updated_at"])
        if alert:
            _alert_send(alert, threshold, available, now=now)
            if alert == STATE_LOW:
                transaction.on_commit(metrics.momo_float_low_total.labels(product=product).inc)
            logger.warning(
                "momo float low" if alert == STATE_LOW else "momo float recovered",
                extra={**log, "available_minor": available, "low_minor": threshold.low_minor},
            )
        return FloatCheckResult(
            product,
            market.environment,
            market.currency,
            available,
            "",
            threshold.alert_state,
            alert,
        )


FLOAT_CHECK_TASK = "momo_float_check"


def float_check_enqueue(*, actor: str) -> int:
    """Ask the worker for a float check now (the "Check now" button). Returns the job id;
    if a check is already waiting, that job's id (one waits at most)."""
    with transaction.atomic():
        job_id = job_enqueue(FLOAT_CHECK_TASK, queueing_lock=FLOAT_CHECK_TASK)
    logger.info("momo float check requested", extra={"actor": actor, "job_id": job_id})
    return job_id


# --- alerts ------------------------------------------------------------------------------------


def float_alert_roles() -> frozenset[str]:
    """The roles whose holders receive float alerts (those that may set thresholds)."""
    return frozenset(role for role, actions in MATRIX.items() if Action.FLOAT_MANAGE in actions)


def _configured_addresses() -> list[str]:
    raw = str(getattr(settings, "LIGHTWAY_MOMO_ALERT_EMAIL", "") or "")
    return [a.strip() for a in raw.split(",") if "@" in a.strip()]


def _alert_send(kind: str, threshold: FloatThreshold, available: int, *, now: datetime) -> int:
    """Queue the alert (or recovery notice) email; return how many deliveries were queued."""
    base = str(settings.LIGHTWAY_PUBLIC_URL or "").rstrip("/")
    context = {
        "product": Product(threshold.product).label,
        "market": threshold.target_environment,
        "balance": Money.of(available, threshold.currency).format(),
        "threshold": Money.of(threshold.low_minor, threshold.currency).format(),
        "link": f"{base}{FLOAT_PAGE}",
    }
    template = TEMPLATE_LOW if kind == STATE_LOW else TEMPLATE_RECOVERED
    ids = staff_alert_email(
        template=template,
        context=context,
        addresses=_configured_addresses(),
        roles=float_alert_roles(),
        now=now,
    )
    if not ids:
        logger.warning(
            "momo float alert has no recipient: set LIGHTWAY_MOMO_ALERT_EMAIL or give finance "
            "staff an email",
            extra={"product": threshold.product, "environment": threshold.target_environment},
        )
    return len(ids)


# --- thresholds ----------------------------------------------------------------------------------


def threshold_parse(raw: str, currency_code: str) -> int:
    """A threshold typed in major units ("1,500,000", "2500.50") as minor units; raises
    ``ValidationFailed`` (field ``amount``) with a message saying what is wrong."""
    cur = currency(currency_code)
    text = (raw or "").strip().replace(",", "").replace("_", "").replace(" ", "")
    text = text.removeprefix(cur.code).strip()
    if not text:
        raise ValidationFailed("Enter an amount.", details={"field": "amount"})
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValidationFailed(
            f"Enter a number in {cur.code}, for example 1500000.", details={"field": "amount"}
        ) from None
    if not value.is_finite():
        raise ValidationFailed("Enter a number.", details={"field": "amount"})
    if value < 0:
        raise ValidationFailed("The threshold cannot be negative.", details={"field": "amount"})
    scaled = value.scaleb(cur.exponent)
    if scaled != scaled.to_integral_value():
        message = (
            f"{cur.code} has no decimal places: enter a whole number."
            if cur.exponent == 0
            else f"{cur.code} has at most {cur.exponent} decimal places."
        )
        raise ValidationFailed(message, details={"field": "amount"})
    minor = int(scaled)
    if minor > MAX_THRESHOLD_MINOR:
        raise ValidationFailed(
            "That threshold is too large: check the number of digits.",
            details={"field": "amount"},
        )
    return minor


@dataclass(frozen=True)
class ThresholdChange:
    product: str
    environment: str
    currency: str
    old_minor: int | None
    new_minor: int

    @property
    def changed(self) -> bool:
        return self.old_minor != self.new_minor


def float_threshold_set(
    *, product: str, environment: str, amount: str, actor: str, now: datetime
) -> ThresholdChange:
    """Set the low-balance threshold of one account (``amount`` in major units; 0 turns the
    alert off). Audited as ``momo_float.threshold_set``. The next check compares against it."""
    if product not in PRODUCTS:
        raise ValidationFailed("Choose a MoMo product.", details={"field": "product"})
    market = _market(environment)
    if market is None:
        raise ValidationFailed(
            "Choose a market configured in MOMO_ENVIRONMENTS.", details={"field": "environment"}
        )
    minor = threshold_parse(amount, market.currency)
    with transaction.atomic():
        row = (
            FloatThreshold.objects.select_for_update()
            .filter(product=product, target_environment=environment)
            .first()
        )
        old = row.low_minor if row is not None else None
        change = ThresholdChange(product, environment, market.currency, old, minor)
        if row is None:
            row = _threshold_create(change, now)
        elif old != minor or row.currency != market.currency:
            row.low_minor = minor
            row.currency = market.currency
            row.updated_at = now
            row.save(update_fields=["low_minor", "currency", "updated_at"])
        if change.changed:
            _threshold_audit(row, change, actor=actor, now=now)
    return change


def float_thresholds_seed(
    *, values: dict[tuple[str, str], int], now: datetime, actor: str = "system"
) -> int:
    """Create the thresholds in ``values`` ((product, environment) -> minor units) that do
    not exist yet, for configured markets only; existing ones are left alone. Returns how
    many were created (the demo seed uses this)."""
    created = 0
    for (product, environment), minor in values.items():
        market = _market(environment)
        if market is None or product not in PRODUCTS:
            continue
        with transaction.atomic():
            if FloatThreshold.objects.filter(
                product=product, target_environment=environment
            ).exists():
                continue
            change = ThresholdChange(product, environment, market.currency, None, minor)
            row = _threshold_create(change, now)
            _threshold_audit(row, change, actor=actor, now=now, seed=True)
            created += 1
    return created


def _threshold_create(change: ThresholdChange, now: datetime) -> FloatThreshold:
    return FloatThreshold.objects.create(
        product=change.product,
        target_environment=change.environment,
        currency=change.currency,
        low_minor=change.new_minor,
        updated_at=now,
    )


def _threshold_audit(
    row: FloatThreshold, change: ThresholdChange, *, actor: str, now: datetime, **extra: object
) -> None:
    audit_record(
        actor=actor,
        action="momo_float.threshold_set",
        object_type="momo.float_threshold",
        object_id=str(row.pk),
        data={
            "product": change.product,
            "environment": change.environment,
            "currency": change.currency,
            "old_minor": change.old_minor,
            "new_minor": change.new_minor,
            **extra,
        },
        now=now,
    )


# --- what the float page shows ------------------------------------------------------------


@dataclass(frozen=True)
class FloatPoint:
    read_at: datetime
    available_minor: int


@dataclass(frozen=True)
class FloatAccount:
    """One (market, product) account as the float page shows it."""

    product: str
    environment: str
    currency: str
    latest_minor: int | None
    latest_at: datetime | None
    latest_error: str
    last_good_minor: int | None
    last_good_at: datetime | None
    threshold_minor: int | None
    state: str  # ok | low | unknown | unmonitored
    alerted_at: datetime | None
    points: tuple[FloatPoint, ...]
    failures: int  # failed reads in the window

    @property
    def product_label(self) -> str:
        return Product(self.product).label

    @property
    def payout(self) -> bool:
        return self.product in PAYOUT_PRODUCTS

    def money(self, minor: int | None) -> str:
        return "" if minor is None else Money.of(minor, self.currency).format()

    @property
    def latest(self) -> str:
        return self.money(self.latest_minor)

    @property
    def last_good(self) -> str:
        return self.money(self.last_good_minor)

    @property
    def threshold(self) -> str:
        return self.money(self.threshold_minor)

    @property
    def threshold_major(self) -> str:
        if self.threshold_minor is None:
            return ""
        return str(Money.of(self.threshold_minor, self.currency).to_major())

    @property
    def key(self) -> str:
        return f"{self.environment}:{self.product}"


def float_accounts(*, now: datetime, hours: int = 24) -> list[FloatAccount]:
    """Every configured account (plus any with readings or a threshold in an environment no
    longer configured), with its latest reading, threshold, state and the readings of the
    last ``hours`` for the chart. Ordered by market, then product."""
    since = now - timedelta(hours=max(hours, 1))
    markets = {m.environment: m.currency for m in float_markets()}
    thresholds = {
        (t.product, t.target_environment): t for t in FloatThreshold.objects.order_by("id")
    }
    readings: dict[tuple[str, str], list[FloatReading]] = {}
    for r in FloatReading.objects.filter(read_at__gte=since, read_at__lte=now).order_by(
        "read_at", "id"
    ):
        readings.setdefault((r.product, r.target_environment), []).append(r)
    keys: list[tuple[str, str]] = [(p, env) for env in markets for p in PRODUCTS]
    for key in [*thresholds, *readings]:
        if key not in keys:
            keys.append(key)
    order = {env: i for i, env in enumerate(markets)}
    keys.sort(key=lambda k: (order.get(k[1], len(order)), k[1], PRODUCTS.index(k[0])))
    # Accounts without a reading in the window: their latest readings, all in two queries
    # (a page of 6 markets x 3 products made up to 36 queries one by one).
    quiet = [k for k in keys if not readings.get(k)]
    latest_of = float_readings_latest(keys=quiet, now=now)
    unread_good = [
        k for k in keys if not any(r.available_minor is not None for r in readings.get(k, []))
    ]
    good_of = float_readings_latest(keys=unread_good, now=now, good=True)
    out: list[FloatAccount] = []
    for product, environment in keys:
        rows = readings.get((product, environment), [])
        latest = rows[-1] if rows else latest_of.get((product, environment))
        good = [r for r in rows if r.available_minor is not None]
        last_good = good[-1] if good else good_of.get((product, environment))
        threshold = thresholds.get((product, environment))
        code = (
            markets.get(environment)
            or (threshold.currency if threshold else None)
            or (latest.currency if latest else "EUR")
        )
        out.append(
            FloatAccount(
                product=product,
                environment=environment,
                currency=code,
                latest_minor=latest.available_minor if latest else None,
                latest_at=latest.read_at if latest else None,
                latest_error=latest.error if latest else "",
                last_good_minor=last_good.available_minor if last_good else None,
                last_good_at=last_good.read_at if last_good else None,
                threshold_minor=threshold.low_minor if threshold else None,
                state=threshold.alert_state if threshold else STATE_UNMONITORED,
                alerted_at=threshold.alerted_at if threshold else None,
                points=tuple(
                    FloatPoint(r.read_at, int(r.available_minor))
                    for r in good
                    if r.currency == code and r.available_minor is not None
                ),
                failures=sum(1 for r in rows if r.available_minor is None),
            )
        )
    return out
