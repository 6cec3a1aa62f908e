"""Settlement settings read in one place: markets, cut-offs, the Settlement API client."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from django.conf import settings

from lightway.application.errors import ValidationFailed
from lightway.data.money import MoneyError, currency
from lightway.integration.settlement.client import SettlementClient
from lightway.integration.settlement.port import SettlementApi

# Each market's local time zone (the cut-off is local: 17:00 in Kampala is 14:00 UTC).
MARKET_ZONES: dict[str, str] = {
    "UGX": "Africa/Kampala",
    "GHS": "Africa/Accra",
    "XAF": "Africa/Douala",
    "XOF": "Africa/Abidjan",
    "RWF": "Africa/Kigali",
    "ZMW": "Africa/Lusaka",
    "NGN": "Africa/Lagos",
    "KES": "Africa/Nairobi",
    "TZS": "Africa/Dar_es_Salaam",
    "ZAR": "Africa/Johannesburg",
    # Partners' prefund currencies: the cut-off is the bank's local time.
    "USD": "America/New_York",
    "EUR": "Europe/Brussels",
    "GBP": "Europe/London",
}
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def market_check(code: str) -> str:
    """A market code (a currency) this platform settles, else ValidationFailed."""
    try:
        code = currency(str(code or "").strip().upper()).code
    except MoneyError:
        raise ValidationFailed(f"unknown market {code!r}", details={"field": "market"}) from None
    if code not in markets():
        raise ValidationFailed(
            f"{code} is not a settlement market here ({', '.join(markets())})",
            details={"field": "market"},
        )
    return code


def markets() -> tuple[str, ...]:
    return tuple(
        m.strip().upper() for m in settings.LIGHTWAY_SETTLEMENT_MARKETS.split(",") if m.strip()
    )


def _clock(text: str, name: str) -> time:
    match = _HHMM.match(text.strip())
    if match is None:
        raise ValueError(f"{name} must be HH:MM (24 h), got {text!r}")
    return time(int(match.group(1)), int(match.group(2)))


def cutoff_time(market: str) -> time:
    """The market's daily cut-off (local time)."""
    for part in settings.LIGHTWAY_SETTLEMENT_CUTOFFS.split(","):
        name, _, value = part.partition("=")
        if name.strip().upper() == market:
            return _clock(value, f"LIGHTWAY_SETTLEMENT_CUTOFFS[{market}]")
    return _clock(settings.LIGHTWAY_SETTLEMENT_CUTOFF, "LIGHTWAY_SETTLEMENT_CUTOFF")


def market_zone(market: str) -> ZoneInfo:
    return ZoneInfo(MARKET_ZONES.get(market, "UTC"))


def last_cutoff(market: str, now: datetime) -> datetime:
    """The latest cut-off instant of ``market`` at or before ``now``."""
    zone = market_zone(market)
    local = now.astimezone(zone)
    candidate = datetime.combine(local.date(), cutoff_time(market), zone)
    if candidate > local:
        candidate -= timedelta(days=1)
    return candidate


def settlement_configured() -> bool:
    return bool(settings.SETTLEMENT_BASE_URL)


@cache
def _client(base_url: str, key_id: str, secret: str, timeout: int) -> SettlementClient:
    import httpx

    return SettlementClient(
        base_url=base_url,
        key_id=key_id,
        secret=secret,
        timeout=httpx.Timeout(float(timeout), connect=min(5.0, float(timeout))),
    )


def settlement_gateway() -> SettlementApi:
    """The Settlement API client built from the settings (cached per configuration)."""
    return _client(
        settings.SETTLEMENT_BASE_URL,
        settings.SETTLEMENT_KEY_ID,
        settings.SETTLEMENT_SECRET,
        settings.SETTLEMENT_TIMEOUT_SECONDS,
    )


def gateway_cache_clear() -> None:
    _client.cache_clear()
