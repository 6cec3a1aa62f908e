"""The regional rate feed: the currencies the ECB does not carry (UGX, GHS, RWF, ZMW).

A simple JSON feed over HTTPS, the platform's own documented format (docs/fx.md,
"The regional feed") so any provider or treasury system can be put behind it::

    GET {FX_REGIONAL_FEED_URL}/v1/rates
    Authorization: Bearer <FX_REGIONAL_FEED_KEY>

    200 {"base": "USD", "as_of": "2026-12-07T09:00:00Z",
         "rates": {"UGX": "3700.25", "GHS": "15.42", "RWF": "1420.10", "ZMW": "26.85"}}

Rates are decimal strings (numbers are refused: a float cannot carry an exact rate), units
of the currency per one ``base``. ``as_of`` is an ISO 8601 time with its offset. The whole
publication is refused when any part of it is not as documented.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation

import httpx

from lightway.data.money import CURRENCY_CODES
from lightway.integration.http import is_allowed_base_url
from lightway.integration.ratefeed.port import (
    MAX_BODY_BYTES,
    FeedMalformed,
    FeedNotConfigured,
    FeedPublication,
    FeedRate,
    FeedUnavailable,
)

PATH = "/v1/rates"
_RATE = re.compile(r"\d{1,12}(\.\d{1,12})?")


def regional_parse(body: bytes) -> FeedPublication:
    """A publication from the JSON body, or :class:`FeedMalformed` saying why not."""
    if len(body) > MAX_BODY_BYTES:
        raise FeedMalformed("the regional feed's answer is larger than any publication")
    try:
        data = json.loads(body)
    except ValueError:
        raise FeedMalformed("the regional feed's answer is not JSON") from None
    if not isinstance(data, dict):
        raise FeedMalformed("the regional feed's answer is not a JSON object")
    base, raw_as_of, rates = data.get("base"), data.get("as_of"), data.get("rates")
    if not isinstance(base, str) or base not in CURRENCY_CODES:
        raise FeedMalformed("the regional feed's base is not a supported currency")
    try:
        as_of = datetime.fromisoformat(str(raw_as_of).replace("Z", "+00:00"))
    except ValueError:
        raise FeedMalformed("the regional feed's as_of is not an ISO 8601 time") from None
    if not isinstance(raw_as_of, str) or as_of.tzinfo is None:
        raise FeedMalformed("the regional feed's as_of has no time zone offset")
    if not isinstance(rates, dict) or not rates:
        raise FeedMalformed("the regional feed has no rates")
    out: list[FeedRate] = []
    for code, raw in sorted(rates.items()):
        if code not in CURRENCY_CODES or code == base:
            raise FeedMalformed(f"the regional feed quotes {str(code)[:8]!r}, not a currency")
        if not isinstance(raw, str) or not _RATE.fullmatch(raw):
            raise FeedMalformed(f"the regional rate of {code} is not a decimal string")
        try:
            value = Decimal(raw)
        except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
            raise FeedMalformed(f"the regional rate of {code} is not a decimal") from None
        if value <= 0:
            raise FeedMalformed(f"the regional rate of {code} is not positive")
        out.append(FeedRate(base, code, value))
    return FeedPublication("regional", as_of, tuple(out))


class RegionalFeedClient:
    """A :class:`~lightway.integration.ratefeed.port.RateFeed` over the regional feed."""

    name = "regional"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url:
            raise FeedNotConfigured("FX_REGIONAL_FEED_URL is not set")
        if not is_allowed_base_url(base_url):
            raise FeedNotConfigured(
                "FX_REGIONAL_FEED_URL must be an https:// URL (http:// only for a loopback host)"
            )
        self._url = base_url.rstrip("/") + PATH
        self._key = api_key
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0))
        self._transport = transport

    def fetch(self) -> FeedPublication:
        headers = {"Accept": "application/json", "Authorization": f"Bearer {self._key}"}
        try:
            with httpx.Client(timeout=self._timeout, transport=self._transport) as http:
                response = http.get(self._url, headers=headers)
        except httpx.TimeoutException:
            raise FeedUnavailable("the regional feed did not answer in time") from None
        except httpx.HTTPError as exc:
            raise FeedUnavailable(
                f"the regional feed could not be reached ({type(exc).__name__})"
            ) from None
        if response.status_code in (401, 403):
            raise FeedUnavailable(
                f"the regional feed refused our key ({response.status_code}):"
                " check FX_REGIONAL_FEED_KEY"
            )
        if response.status_code >= 500 or response.status_code == 429:
            raise FeedUnavailable(f"the regional feed answered {response.status_code}")
        if response.status_code != 200:
            raise FeedMalformed(f"the regional feed answered {response.status_code}")
        return regional_parse(response.content)
