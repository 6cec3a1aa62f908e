"""The European Central Bank's euro foreign exchange reference rates
(``/stats/eurofxref/eurofxref-daily.xml``).

The file is a gesmes envelope::

    <gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01"
                     xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
      <gesmes:subject>Reference rates</gesmes:subject>
      <gesmes:Sender><gesmes:name>European Central Bank</gesmes:name></gesmes:Sender>
      <Cube><Cube time="2026-12-04"><Cube currency="USD" rate="1.1355"/>...</Cube></Cube>
    </gesmes:Envelope>

Each rate is units of the currency per 1 EUR (base EUR, quote the currency). The ECB
publishes once per TARGET working day at about 16:00 CET, so a publication's ``as_of`` is
its date at 16:00 Europe/Berlin. The body is untrusted: it is parsed with defusedxml (no
DTDs, no entities, no network) and refused as a whole (:class:`FeedMalformed`) when
anything in it is not as above. Only currencies the platform knows are kept.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

import httpx
from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

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

PATH = "/stats/eurofxref/eurofxref-daily.xml"
GESMES = "http://www.gesmes.org/xml/2002-08-01"
EUROFXREF = "http://www.ecb.int/vocabulary/2002-08-01/eurofxref"
PUBLISHED_AT = time(16, 0)
PUBLISHED_TZ = ZoneInfo("Europe/Berlin")
_CURRENCY = re.compile(r"[A-Z]{3}")
_RATE = re.compile(r"\d{1,12}(\.\d{1,12})?")


def ecb_as_of(day: date) -> datetime:
    """When a publication of ``day`` is true: that day at 16:00 Europe/Berlin, in UTC."""
    return datetime.combine(day, PUBLISHED_AT, tzinfo=PUBLISHED_TZ).astimezone(UTC)


def ecb_parse(body: bytes) -> FeedPublication:
    """A publication from the file's bytes, or :class:`FeedMalformed` saying why not."""
    if len(body) > MAX_BODY_BYTES:
        raise FeedMalformed("the ECB file is larger than any publication")
    try:
        root = ElementTree.fromstring(body, forbid_dtd=True)
    except DefusedXmlException:
        raise FeedMalformed("the ECB file declares a DTD or entities: refused") from None
    except ElementTree.ParseError:
        raise FeedMalformed("the ECB file is not well-formed XML") from None
    if root.tag != f"{{{GESMES}}}Envelope":
        raise FeedMalformed("the ECB file is not a gesmes envelope")
    days = root.findall(f"{{{EUROFXREF}}}Cube/{{{EUROFXREF}}}Cube")
    if len(days) != 1:
        raise FeedMalformed(f"the ECB file holds {len(days)} publication days, not one")
    raw_day = days[0].get("time") or ""
    try:
        day = date.fromisoformat(raw_day)
    except ValueError:
        raise FeedMalformed("the ECB publication has no valid time attribute") from None
    rates: dict[str, Decimal] = {}
    for cube in days[0]:
        code, raw = cube.get("currency") or "", cube.get("rate") or ""
        if cube.tag != f"{{{EUROFXREF}}}Cube" or not _CURRENCY.fullmatch(code):
            raise FeedMalformed("the ECB publication has an entry without a currency code")
        if not _RATE.fullmatch(raw):
            raise FeedMalformed(f"the ECB rate of {code} is not a decimal number")
        try:
            value = Decimal(raw)
        except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
            raise FeedMalformed(f"the ECB rate of {code} is not a decimal number") from None
        if value <= 0:
            raise FeedMalformed(f"the ECB rate of {code} is not positive")
        if code in rates:
            raise FeedMalformed(f"the ECB publication gives {code} twice")
        rates[code] = value
    if not rates:
        raise FeedMalformed("the ECB publication has no rates")
    kept = tuple(
        FeedRate("EUR", code, value)
        for code, value in sorted(rates.items())
        if code in CURRENCY_CODES and code != "EUR"
    )
    return FeedPublication("ecb", ecb_as_of(day), kept)


class EcbClient:
    """A :class:`~lightway.integration.ratefeed.port.RateFeed` reading the ECB file over
    HTTP (httpx, explicit timeouts, TLS verified; plain http only to a loopback host)."""

    name = "ecb"

    def __init__(
        self,
        *,
        base_url: str,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url:
            raise FeedNotConfigured("FX_ECB_BASE_URL is not set")
        if not is_allowed_base_url(base_url):
            raise FeedNotConfigured(
                "FX_ECB_BASE_URL must be an https:// URL (http:// only for a loopback host)"
            )
        self._url = base_url.rstrip("/") + PATH
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0))
        self._transport = transport

    def fetch(self) -> FeedPublication:
        try:
            with httpx.Client(timeout=self._timeout, transport=self._transport) as http:
                response = http.get(self._url, headers={"Accept": "application/xml, text/xml"})
        except httpx.TimeoutException:
            raise FeedUnavailable("the ECB did not answer in time") from None
        except httpx.HTTPError as exc:
            raise FeedUnavailable(f"the ECB could not be reached ({type(exc).__name__})") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise FeedUnavailable(f"the ECB answered {response.status_code}")
        if response.status_code != 200:
            raise FeedMalformed(f"the ECB answered {response.status_code}, not the file")
        return ecb_parse(response.content)
