"""Local stand-ins for the rate feeds (``lightway simulators``: ``ecb`` and ``regional``).

:class:`EcbSimulator` serves ``/stats/eurofxref/eurofxref-daily.xml`` in the ECB's exact
format; :class:`RegionalFeedSimulator` serves ``/v1/rates`` in the regional feed's JSON
format (docs/fx.md), behind its bearer key. Both have the same knobs, set in-process with
``configure(...)`` or over HTTP with ``POST /sim/configure`` (a JSON object of the same
names) and ``POST /sim/reset``:

- ``day`` (ECB) / ``as_of`` (regional): the publication's date or time, e.g. an old one for a
  stale feed; by default the ECB's latest publication day before now (weekdays after 16:00
  Berlin time) and the current hour for the regional feed;
- ``rates``: ``{"USD": "1.1355", ...}`` replaces the rates published;
- ``fault``: ``""`` (none), ``"malformed"`` (a body that is not a publication), ``"5xx"``
  (503) or ``"slow"`` (answers after ``delay_seconds``, default 5 s).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar
from xml.sax.saxutils import quoteattr

from lightway.integration import simulator_http as sim_http
from lightway.integration.ratefeed import ecb, regional
from lightway.integration.ratefeed.ecb import PUBLISHED_AT, PUBLISHED_TZ

logger = logging.getLogger(__name__)

# What the ECB published on 4 December 2026, give or take: the currencies the platform
# keeps, plus a few it ignores (they must be skipped, not refused).
ECB_DEFAULT_RATES: dict[str, str] = {
    "USD": "1.1642",
    "JPY": "180.41",
    "GBP": "0.87345",
    "CHF": "0.9363",
    "ZAR": "19.8745",
}
REGIONAL_DEFAULT_RATES: dict[str, str] = {
    "UGX": "3652.40",
    "GHS": "11.46",
    "RWF": "1452.75",
    "ZMW": "23.12",
    "KES": "129.20",
}
REGIONAL_DEMO_KEY = "lightway-demo-rates-key"
FAULTS = ("", "malformed", "5xx", "slow")


def ecb_latest_day(now: datetime) -> date:
    """The last weekday whose 16:00 Berlin publication is at or before ``now`` (TARGET
    holidays are not modelled: the simulator publishes on them too)."""
    local = now.astimezone(PUBLISHED_TZ)
    day = local.date() if local.time() >= PUBLISHED_AT else local.date() - timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def ecb_document(day: date, rates: dict[str, str]) -> bytes:
    """An ``eurofxref-daily.xml`` publication of ``rates`` on ``day``."""
    cubes = "\n".join(
        f"\t\t\t<Cube currency={quoteattr(code)} rate={quoteattr(rate)}/>"
        for code, rate in rates.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<gesmes:Envelope xmlns:gesmes="{ecb.GESMES}" xmlns="{ecb.EUROFXREF}">\n'
        "\t<gesmes:subject>Reference rates</gesmes:subject>\n"
        "\t<gesmes:Sender>\n\t\t<gesmes:name>European Central Bank</gesmes:name>\n"
        "\t</gesmes:Sender>\n"
        f"\t<Cube>\n\t\t<Cube time='{day.isoformat()}'>\n{cubes}\n\t\t</Cube>\n\t</Cube>\n"
        "</gesmes:Envelope>\n"
    ).encode()


class _Knobs:
    def __init__(self, rates: dict[str, str]) -> None:
        self._default_rates = dict(rates)
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.rates = dict(self._default_rates)
        self.day: date | None = None
        self.as_of: datetime | None = None
        self.fault = ""
        self.delay_seconds = 5.0
        self.requests = 0

    def configure(self, values: dict[str, Any]) -> None:
        unknown = set(values) - {"day", "as_of", "rates", "fault", "delay_seconds"}
        if unknown:
            raise ValueError(f"unknown knob(s): {', '.join(sorted(unknown))}")
        fault = values.get("fault", self.fault) or ""
        if fault not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}")
        with self.lock:
            if "day" in values:
                self.day = date.fromisoformat(values["day"]) if values["day"] else None
            if "as_of" in values:
                raw = values["as_of"]
                self.as_of = datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw else None
            if "rates" in values:
                rates = values["rates"]
                if not isinstance(rates, dict):
                    raise ValueError("rates must be an object of currency: decimal string")
                self.rates = {str(k): str(v) for k, v in rates.items()}
            self.fault = fault
            if "delay_seconds" in values:
                self.delay_seconds = float(values["delay_seconds"])


class _SimRefusal(sim_http.Refusal):
    def payload(self) -> Any:
        return {"error": {"code": "refused", "message": str(self)}}


class _Handler(sim_http.SimHandler):
    knobs: ClassVar[_Knobs]
    sim: ClassVar[Any]
    server_version = "LightWayRateFeedSimulator/1.0"
    request_log = logger

    def refusal(self, status: int, message: str) -> sim_http.Refusal:
        return _SimRefusal(status, message)

    def route(self, method: str, target: str, body: bytes) -> None:
        path = target.split("?", 1)[0]
        if method == "POST" and path == "/sim/configure":
            try:
                self.knobs.configure(sim_http.json_object(body))
            except (ValueError, TypeError) as exc:
                raise _SimRefusal(400, str(exc)) from None
            self.send_json(200, {"ok": True})
            return
        if method == "POST" and path == "/sim/reset":
            self.knobs.reset()
            self.send_json(200, {"ok": True})
            return
        if method not in ("GET", "HEAD") or path != self.sim.path:
            raise _SimRefusal(404, "not found")
        self.sim.authorize(self.headers)
        with self.knobs.lock:
            self.knobs.requests += 1
            fault, delay = self.knobs.fault, self.knobs.delay_seconds
        if fault == "5xx":
            raise _SimRefusal(503, "service unavailable")
        if fault == "slow":
            time.sleep(delay)
        if fault == "malformed":
            self.send_body(200, self.sim.malformed(), self.sim.content_type)
            return
        self.send_body(200, self.sim.document(), self.sim.content_type)


class _FeedSimulator:
    path = ""
    content_type = ""
    name = ""
    default_rates: ClassVar[dict[str, str]] = {}

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.knobs = _Knobs(self.default_rates)
        self._server: sim_http.SimServer | None = None

    @property
    def base_url(self) -> str:
        return sim_http.http_url(self.host, self.port)

    @property
    def requests(self) -> int:
        return self.knobs.requests

    def start(self) -> _FeedSimulator:
        self._server = sim_http.SimServer(
            self.host,
            self.port,
            _Handler,
            name=f"{self.name}-sim",
            attrs={"knobs": self.knobs, "sim": self},
        )
        self.port = self._server.port
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def reset(self) -> None:
        self.knobs.reset()

    def configure(self, **values: Any) -> None:
        self.knobs.configure(
            {k: (v.isoformat() if isinstance(v, date | datetime) else v) for k, v in values.items()}
        )

    def authorize(self, headers: Any) -> None:
        """Refuse a request the real feed would refuse (nothing by default)."""

    def document(self) -> bytes:
        raise NotImplementedError

    def malformed(self) -> bytes:
        raise NotImplementedError


class EcbSimulator(_FeedSimulator):
    """The ECB's ``eurofxref-daily.xml``, exactly as published."""

    path = ecb.PATH
    content_type = "text/xml"
    name = "ecb"
    default_rates = ECB_DEFAULT_RATES

    def document(self) -> bytes:
        with self.knobs.lock:
            day = self.knobs.day or ecb_latest_day(datetime.now(UTC))
            rates = dict(self.knobs.rates)
        return ecb_document(day, rates)

    def malformed(self) -> bytes:
        # Cut off mid-element, as a truncated download would be.
        return self.document()[:180]


class RegionalFeedSimulator(_FeedSimulator):
    """The regional feed's ``/v1/rates`` (docs/fx.md), behind its bearer key."""

    path = regional.PATH
    content_type = "application/json"
    name = "regional"
    default_rates = REGIONAL_DEFAULT_RATES

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, api_key: str = REGIONAL_DEMO_KEY
    ) -> None:
        super().__init__(host=host, port=port)
        self.api_key = api_key

    def authorize(self, headers: Any) -> None:
        if headers.get("Authorization", "") != f"Bearer {self.api_key}":
            raise _SimRefusal(401, "missing or wrong bearer key")

    def document(self) -> bytes:
        with self.knobs.lock:
            as_of = self.knobs.as_of or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
            rates = dict(self.knobs.rates)
        body = {"base": "USD", "as_of": as_of.isoformat(), "rates": rates}
        return json.dumps(body).encode()

    def malformed(self) -> bytes:
        return b'{"base": "USD", "rates": {"UGX": 3652.4}}'
