"""A local LightWay Finance Settlement API (docs/settlement-api.yaml, docs/settlement.md).

It behaves as the real service is specified: signed requests (``signing``), instructions
idempotent by ``InstrId`` (same body: the stored status, 200; another body: 409), an
asynchronous outcome (``ACSC`` settled, or ``RJCT`` with a reason) posted to the callback URL
signed with the callback secret and readable by ``GET /v1/instructions/{InstrId}``; every
booking on an account produces a camt.054 notification (``GET .../notifications``) and
appears in the day's camt.053 statement (``GET .../statements/{date}``, ``.001.08`` or
``?version=camt.053.001.02``). Documents are built with pyiso20022 and validated against
the XSDs (``iso20022``); a ``Pain001`` sent with an instruction is validated too.

Fault knobs (``configure(...)`` or ``POST /_sim/config``):

- ``outcome``: ``confirm`` (default) or ``reject`` (``reject_code``, ``reject_reason``);
- ``confirm_delay_seconds``: how long until the outcome (default 0.2);
- ``duplicate_confirmation``: post every callback twice;
- ``drop_callbacks``: post none (the status read must find the outcome);
- ``statement_unexpected_line``: the statement carries a line nobody instructed;
- ``statement_amount_delta``: the first instructed line of a statement is off by this;
- ``statement_drop_instructed``: the statement omits the first instructed line;
- ``fail_next``: answer that many requests 503 (a retry with the same InstrId is safe);
- ``business_date``: the bank's booking date (ISO date; default the UTC date).

``POST /_sim/credit`` books an incoming transfer (a partner's top-up): a camt.054 credit
notification and a statement line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from lightway.data.money import MoneyError, currency
from lightway.integration import simulator_http as sim_http
from lightway.integration.settlement import iso20022 as iso
from lightway.integration.settlement.port import REJECTED, SETTLED
from lightway.integration.settlement.signing import (
    HEADER_KEY_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    callback_signature,
    request_signature,
    signature_matches,
    timestamp_fresh,
)

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8105
DEFAULT_KEY_ID = "lwf-demo-key"
DEFAULT_SECRET = "lightway-demo-settlement-secret"
DEFAULT_CALLBACK_KEY_ID = "lwf-demo-callback-key"
DEFAULT_CALLBACK_SECRET = "lightway-demo-settlement-callback-secret"
ACCEPTED = "ACTC"
_MAX35 = re.compile(r"^[A-Za-z0-9/\-?:().,'+ ]{1,35}$")
_UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_CCY = re.compile(r"^[A-Z]{3}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class SimConfig:
    outcome: str = "confirm"
    reject_code: str = "AC04"
    reject_reason: str = "Closed account number"
    confirm_delay_seconds: float = 0.2
    duplicate_confirmation: bool = False
    drop_callbacks: bool = False
    statement_unexpected_line: bool = False
    statement_amount_delta: int = 0
    statement_drop_instructed: bool = False
    fail_next: int = 0
    business_date: str = ""

    def update(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if not hasattr(self, key):
                raise ValueError(f"unknown setting {key}")
            current = getattr(self, key)
            if isinstance(current, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be true or false")
            elif isinstance(current, int | float) and not isinstance(value, int | float):
                raise ValueError(f"{key} must be a number")
            elif isinstance(current, str) and not isinstance(value, str):
                raise ValueError(f"{key} must be a string")
            if key == "outcome" and value not in ("confirm", "reject"):
                raise ValueError("outcome is confirm or reject")
            setattr(self, key, type(current)(value))


class SimError(sim_http.Refusal):
    """The API's error shape: ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, message)
        self.code = code

    def payload(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": str(self)}}


@dataclass
class SimInstruction:
    body: dict[str, Any]
    digest: str
    status: str = ACCEPTED
    settled_on: date | None = None
    acct_svcr_ref: str = ""
    reason_code: str = ""
    reason_text: str = ""

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "InstrId": self.body["InstrId"],
            "EndToEndId": self.body["EndToEndId"],
            "UETR": self.body["UETR"],
            "TxSts": self.status,
            "IntrBkSttlmAmt": self.body["IntrBkSttlmAmt"],
        }
        if self.settled_on is not None:
            data["IntrBkSttlmDt"] = self.settled_on.isoformat()
        if self.acct_svcr_ref:
            data["AcctSvcrRef"] = self.acct_svcr_ref
        if self.status == REJECTED:
            data["StsRsnInf"] = {"Rsn": {"Cd": self.reason_code}, "AddtlInf": self.reason_text}
        return data


@dataclass
class SimBooking:
    account: str
    booking: iso.Booking
    instructed: bool
    seq: int


@dataclass
class Delivery:
    body: bytes
    instr_id: str
    attempts: int = 0
    outcomes: list[str] = field(default_factory=list)


class SettlementSimulator:
    """``SettlementSimulator(callback_url=...).start()``, then ``.base_url``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        key_id: str = DEFAULT_KEY_ID,
        secret: str = DEFAULT_SECRET,
        callback_url: str | None = None,
        callback_key_id: str = DEFAULT_CALLBACK_KEY_ID,
        callback_secret: str = DEFAULT_CALLBACK_SECRET,
    ) -> None:
        self.host = host
        self.port = port
        self.keys = {key_id: secret}
        self.callback_url = callback_url
        self.callback_key_id = callback_key_id
        self.callback_secret = callback_secret
        self.config = SimConfig()
        self._lock = threading.RLock()
        self.instructions: dict[str, SimInstruction] = {}
        self.bookings: list[SimBooking] = []
        self.notifications: list[tuple[int, str, str]] = []  # (seq, account, camt.054)
        self.deliveries: list[Delivery] = []
        self.requests: list[tuple[str, str, int]] = []  # (method, target, status)
        self.exchanges: list[dict[str, Any]] = []  # requests and answers, for conformance
        self._seq = 0
        self._timers: list[threading.Timer] = []
        self._server: sim_http.SimServer | None = None
        self._http: httpx.Client | None = None

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return sim_http.http_url(self.host, self.port)

    def start(self) -> SettlementSimulator:
        self._server = sim_http.SimServer(
            self.host, self.port, _Handler, name="settlement-sim", attrs={"sim": self}
        )
        self.port = self._server.port
        self._http = httpx.Client(timeout=5.0)
        self._server.start()
        return self

    def stop(self) -> None:
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> SettlementSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def configure(self, **values: Any) -> None:
        with self._lock:
            self.config.update(values)

    def reset(self) -> None:
        with self._lock:
            timers, self._timers = self._timers, []
            self.config = SimConfig()
            self.instructions.clear()
            self.bookings.clear()
            self.notifications.clear()
            self.deliveries.clear()
            self.requests.clear()
            self.exchanges.clear()
        for timer in timers:
            timer.cancel()

    def today(self) -> date:
        if self.config.business_date:
            return date.fromisoformat(self.config.business_date)
        return datetime.now(UTC).date()

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def wait_outcomes(self, count: int, *, timeout: float = 10.0) -> None:
        """Block until ``count`` instructions have their outcome (tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                done = sum(1 for i in self.instructions.values() if i.status in (SETTLED, REJECTED))
            if done >= count:
                return
            time.sleep(0.02)
        raise TimeoutError(f"fewer than {count} settlement outcomes")

    def wait_deliveries(self, count: int, *, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if sum(d.attempts for d in self.deliveries) >= count:
                    return
            time.sleep(0.02)
        raise TimeoutError(f"fewer than {count} callback deliveries")

    # -- authentication --------------------------------------------------------------------

    def authenticate(self, method: str, target: str, headers: Any, body: bytes) -> None:
        key_id = headers.get(HEADER_KEY_ID) or ""
        timestamp = headers.get(HEADER_TIMESTAMP) or ""
        signature = headers.get(HEADER_SIGNATURE) or ""
        secret = self.keys.get(key_id)
        if secret is None:
            raise SimError(401, "unknown_key", "X-LWF-Key-Id names no key")
        if not timestamp_fresh(timestamp, time.time()):
            raise SimError(401, "stale_timestamp", "X-LWF-Timestamp is missing or not fresh")
        expected = request_signature(
            secret=secret, timestamp=timestamp, method=method, target=target, body=body
        )
        if not signature_matches(expected, signature):
            raise SimError(401, "bad_signature", "X-LWF-Signature does not match the request")

    # -- the API ---------------------------------------------------------------------------

    def api(self, method: str, target: str, headers: Any, body: bytes) -> tuple[int, Any, str]:
        """(status, body, content type) of one ``/v1/...`` call."""
        self.authenticate(method, target, headers, body)
        with self._lock:
            if self.config.fail_next > 0:
                self.config.fail_next -= 1
                raise SimError(503, "unavailable", "Service unavailable (simulated)")
        path, _, query = target.partition("?")
        params = sim_http.query_params(query)
        if path == "/v1/instructions":
            if method != "POST":
                raise SimError(405, "method_not_allowed", "use POST")
            return self.instruction_create(sim_http.json_object(body))
        if m := re.fullmatch(r"/v1/instructions/([^/]+)", path):
            if method != "GET":
                raise SimError(405, "method_not_allowed", "use GET")
            from urllib.parse import unquote

            with self._lock:
                found = self.instructions.get(unquote(m.group(1)))
                if found is None:
                    raise SimError(404, "not_found", "no such instruction")
                return 200, found.json(), sim_http.JSON_TYPE
        if m := re.fullmatch(r"/v1/accounts/([^/]+)/notifications", path):
            if method != "GET":
                raise SimError(405, "method_not_allowed", "use GET")
            return 200, self.notifications_page(m.group(1), params), sim_http.JSON_TYPE
        if m := re.fullmatch(r"/v1/accounts/([^/]+)/statements/([^/]+)", path):
            if method != "GET":
                raise SimError(405, "method_not_allowed", "use GET")
            version = params.get("version") or iso.CAMT_053
            if version not in (iso.CAMT_053, iso.CAMT_053_V2):
                raise SimError(400, "bad_version", f"version {version} is not offered")
            if not _DATE.match(m.group(2)):
                raise SimError(400, "bad_date", "the statement date is YYYY-MM-DD")
            xml = self.statement(m.group(1), date.fromisoformat(m.group(2)), version)
            return 200, xml, "application/xml; charset=utf-8"
        raise SimError(404, "not_found", "Not found")

    def instruction_create(self, body: dict[str, Any]) -> tuple[int, Any, str]:
        problem = _body_problem(body)
        if problem:
            raise SimError(400, "invalid_request", problem)
        pain = body.get("Pain001")
        if pain is not None:
            try:
                iso.validate(pain, iso.PAIN_001)
            except iso.IsoInvalid as exc:
                raise SimError(400, "invalid_pain001", str(exc)) from None
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        with self._lock:
            found = self.instructions.get(body["InstrId"])
            if found is not None:
                if found.digest != digest:
                    raise SimError(
                        409, "DUPL", "this InstrId was already used with a different body"
                    )
                return 200, found.json(), sim_http.JSON_TYPE
            instruction = SimInstruction(body=body, digest=digest)
            self.instructions[body["InstrId"]] = instruction
            delay = self.config.confirm_delay_seconds
            timer = threading.Timer(delay, self._decide, args=(body["InstrId"],))
            timer.daemon = True
            self._timers.append(timer)
            timer.start()
            return 202, instruction.json(), sim_http.JSON_TYPE

    def _decide(self, instr_id: str) -> None:
        with self._lock:
            instruction = self.instructions.get(instr_id)
            if instruction is None or instruction.status != ACCEPTED:
                return
            if self.config.outcome == "reject":
                instruction.status = REJECTED
                instruction.reason_code = self.config.reject_code
                instruction.reason_text = self.config.reject_reason
            else:
                instruction.status = SETTLED
                instruction.settled_on = self.today()
                instruction.acct_svcr_ref = f"LWF{self._next():010d}"
                self._book_instruction(instruction)
            payload = json.dumps(instruction.json(), separators=(",", ":")).encode()
            copies = 0 if self.config.drop_callbacks or not self.callback_url else 1
            if copies and self.config.duplicate_confirmation:
                copies = 2
        for _ in range(copies):
            self._deliver(Delivery(body=payload, instr_id=instr_id))

    def _book_instruction(self, instruction: SimInstruction) -> None:
        body = instruction.body
        code = body["IntrBkSttlmAmt"]["Ccy"]
        minor = iso.minor_amount(body["IntrBkSttlmAmt"]["Amt"], code)
        for account, credit in ((body["DbtrAcct"]["Id"], False), (body["CdtrAcct"]["Id"], True)):
            self._book(
                account,
                iso.Booking(
                    amount_minor=minor,
                    currency=code,
                    credit=credit,
                    booked_on=instruction.settled_on or self.today(),
                    acct_svcr_ref=instruction.acct_svcr_ref,
                    instr_id=body["InstrId"],
                    end_to_end_id=body["EndToEndId"],
                    uetr=body["UETR"],
                    remittance_info=body["RmtInf"]["Ustrd"],
                    debtor_name=body["Dbtr"]["Nm"],
                    creditor_name=body["Cdtr"]["Nm"],
                ),
                instructed=True,
            )

    def _book(self, account: str, booking: iso.Booking, *, instructed: bool) -> None:
        seq = self._next()
        self.bookings.append(SimBooking(account, booking, instructed, seq))
        xml = iso.camt054_build(
            msg_id=f"N{seq:010d}",
            account=account,
            code=booking.currency,
            booking=booking,
            created_at=datetime.now(UTC),
        )
        self.notifications.append((seq, account, xml))

    def credit(
        self, *, account: str, amount_minor: int, code: str, debtor: str, reference: str
    ) -> str:
        """Book an incoming transfer (a partner's top-up); returns its AcctSvcrRef."""
        with self._lock:
            ref = f"LWF{self._next():010d}"
            self._book(
                account,
                iso.Booking(
                    amount_minor=amount_minor,
                    currency=code,
                    credit=True,
                    booked_on=self.today(),
                    acct_svcr_ref=ref,
                    end_to_end_id=f"E2E-{ref}",
                    uetr=str(uuid.uuid4()),
                    remittance_info=reference,
                    debtor_name=debtor,
                    creditor_name="LightWay",
                ),
                instructed=False,
            )
            return ref

    def _deliver(self, delivery: Delivery) -> None:
        with self._lock:
            self.deliveries.append(delivery)
        for attempt in range(3):
            delivery.attempts += 1
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                HEADER_KEY_ID: self.callback_key_id,
                HEADER_TIMESTAMP: timestamp,
                HEADER_SIGNATURE: callback_signature(
                    secret=self.callback_secret, timestamp=timestamp, body=delivery.body
                ),
            }
            try:
                assert self._http is not None and self.callback_url
                response = self._http.post(
                    self.callback_url, content=delivery.body, headers=headers
                )
                delivery.outcomes.append(str(response.status_code))
                if 200 <= response.status_code < 300:
                    return
            except (httpx.HTTPError, AssertionError) as exc:
                delivery.outcomes.append(type(exc).__name__)
            time.sleep(0.2 * (attempt + 1))

    def notifications_page(self, account: str, params: dict[str, str]) -> dict[str, Any]:
        try:
            after = int(params.get("after") or 0)
            limit = max(1, min(int(params.get("limit") or 100), 500))
        except ValueError:
            raise SimError(400, "bad_cursor", "after and limit are whole numbers") from None
        with self._lock:
            items = [
                (seq, xml)
                for seq, acct, xml in self.notifications
                if acct == account and seq > after
            ][:limit]
        nxt = str(items[-1][0]) if items else str(after)
        return {"Ntfctns": [{"Id": str(seq), "Camt054": xml} for seq, xml in items], "Next": nxt}

    def statement(self, account: str, on: date, version: str) -> str:
        with self._lock:
            before = [b for b in self.bookings if b.account == account and b.booking.booked_on < on]
            lines = [b for b in self.bookings if b.account == account and b.booking.booked_on == on]
            config = self.config
            code = next((b.booking.currency for b in (*lines, *before)), _account_currency(account))
            opening = sum(
                b.booking.amount_minor if b.booking.credit else -b.booking.amount_minor
                for b in before
            )
            bookings = [b.booking for b in lines]
            instructed = [i for i, b in enumerate(lines) if b.instructed]
            if instructed and config.statement_drop_instructed:
                bookings.pop(instructed[0])
                instructed = []
            if instructed and config.statement_amount_delta:
                first = bookings[instructed[0]]
                bookings[instructed[0]] = iso.Booking(
                    **{
                        **asdict(first),
                        "amount_minor": first.amount_minor + config.statement_amount_delta,
                    }
                )
            if config.statement_unexpected_line:
                bookings.append(
                    iso.Booking(
                        amount_minor=10 ** currency(code).exponent * 1000,
                        currency=code,
                        credit=False,
                        booked_on=on,
                        acct_svcr_ref=f"LWF-CHG-{on:%Y%m%d}",
                        remittance_info="Account maintenance charge",
                    )
                )
            seq = self._next()
        return iso.camt053_build(
            msg_id=f"S{seq:010d}",
            stmt_id=f"STMT-{account}-{on:%Y%m%d}"[:35],
            account=account,
            code=code,
            statement_date=on,
            opening=opening,
            bookings=bookings,
            created_at=datetime.now(UTC),
            version=version,
        )


def _account_currency(account: str) -> str:
    """An account with no bookings yet: the currency its id names, else UGX."""
    for part in re.split(r"[^A-Z]", account.upper()):
        if len(part) == 3:
            try:
                return currency(part).code
            except MoneyError:
                continue
    return "UGX"


def _text(body: dict[str, Any], *path: str) -> Any:
    node: Any = body
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _body_problem(body: dict[str, Any]) -> str:
    """What is wrong with an instruction body ('' when nothing)."""
    for name in ("InstrId", "EndToEndId"):
        value = body.get(name)
        if not isinstance(value, str) or not _MAX35.match(value):
            return f"{name} must be 1 to 35 characters of the ISO 20022 Max35Text set"
    if not isinstance(body.get("UETR"), str) or not _UUID4.match(body["UETR"]):
        return "UETR must be a lower-case UUID version 4"
    if not isinstance(body.get("ReqdExctnDt"), str) or not _DATE.match(body["ReqdExctnDt"]):
        return "ReqdExctnDt must be YYYY-MM-DD"
    amount, code = _text(body, "IntrBkSttlmAmt", "Amt"), _text(body, "IntrBkSttlmAmt", "Ccy")
    if not isinstance(code, str) or not _CCY.match(code):
        return "IntrBkSttlmAmt.Ccy must be an ISO 4217 code"
    try:
        minor = iso.minor_amount(Decimal(str(amount)), code)
    except (InvalidOperation, iso.IsoInvalid, MoneyError, TypeError, ValueError):
        return "IntrBkSttlmAmt.Amt must be a decimal amount in the currency's units"
    if minor <= 0:
        return "IntrBkSttlmAmt.Amt must be positive"
    if body.get("ChrgBr") not in ("DEBT", "CRED", "SHAR", "SLEV"):
        return "ChrgBr must be DEBT, CRED, SHAR or SLEV"
    for party in ("Dbtr", "Cdtr"):
        name = _text(body, party, "Nm")
        if not isinstance(name, str) or not 1 <= len(name) <= 140:
            return f"{party}.Nm must be 1 to 140 characters"
        account = _text(body, f"{party}Acct", "Id")
        if not isinstance(account, str) or not 1 <= len(account) <= 34:
            return f"{party}Acct.Id must be 1 to 34 characters"
    ustrd = _text(body, "RmtInf", "Ustrd")
    if not isinstance(ustrd, str) or not 1 <= len(ustrd) <= 140:
        return "RmtInf.Ustrd must be 1 to 140 characters"
    return ""


class _Handler(sim_http.SimHandler):
    sim: SettlementSimulator
    server_version = "LightWayFinanceSettlementSimulator/1"
    request_log = logger

    def route(self, method: str, target: str, body: bytes) -> None:
        if target.startswith("/v1/"):
            try:
                status, data, content_type = self.sim.api(method, target, self.headers, body)
            except SimError as exc:
                self._record(method, target, body, exc.status, exc.payload(), sim_http.JSON_TYPE)
                raise
            self._record(method, target, body, status, data, content_type)
            if isinstance(data, str):
                self.send_body(status, data.encode(), content_type)
            else:
                self.send_json(status, data)
        elif target.startswith("/_sim/"):
            self._control(method, target, body)
        else:
            raise SimError(404, "not_found", "Not found")

    def _record(
        self, method: str, target: str, body: bytes, status: int, data: Any, content_type: str
    ) -> None:
        with self.sim._lock:
            self.sim.requests.append((method, target, status))
            self.sim.exchanges.append(
                {
                    "method": method,
                    "path": target.partition("?")[0],
                    "request": json.loads(body) if body else None,
                    "status": status,
                    "response": data,
                    "content_type": content_type,
                }
            )

    def refusal(self, status: int, message: str) -> SimError:
        return SimError(status, "invalid_request", message)

    def internal_error(self) -> SimError:
        return SimError(500, "internal", "Internal server error")

    def _control(self, method: str, target: str, body: bytes) -> None:
        path = target.partition("?")[0]
        if path == "/_sim/config" and method == "GET":
            self.send_json(200, asdict(self.sim.config))
        elif path == "/_sim/config" and method == "POST":
            try:
                self.sim.configure(**sim_http.json_object(body))
            except ValueError as exc:
                raise SimError(400, "bad_config", str(exc)) from None
            self.send_json(200, asdict(self.sim.config))
        elif path == "/_sim/credit" and method == "POST":
            data = sim_http.json_object(body)
            try:
                code = currency(str(data.get("ccy") or "")).code
                minor = iso.minor_amount(str(data.get("amount")), code)
            except (MoneyError, iso.IsoInvalid, InvalidOperation) as exc:
                raise SimError(400, "bad_credit", str(exc)) from None
            if minor <= 0 or not data.get("account") or not data.get("reference"):
                raise SimError(400, "bad_credit", "account, a positive amount and reference")
            ref = self.sim.credit(
                account=str(data["account"]),
                amount_minor=minor,
                code=code,
                debtor=str(data.get("debtor") or "Unknown remitter")[:140],
                reference=str(data["reference"])[:140],
            )
            self.send_json(201, {"AcctSvcrRef": ref})
        elif path == "/_sim/instructions" and method == "GET":
            with self.sim._lock:
                self.send_json(200, {k: v.json() for k, v in self.sim.instructions.items()})
        else:
            raise SimError(404, "not_found", "Not found")


def main(argv: list[str] | None = None) -> int:
    from lightway.infrastructure.cli_args import port_arg
    from lightway.infrastructure.config import Env

    parser = argparse.ArgumentParser(
        prog="python -m lightway.integration.settlement.simulator",
        description="A local LightWay Finance Settlement API (see docs/settlement.md).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=port_arg, default=DEFAULT_PORT)
    parser.add_argument("--callback-url", default=None, help="where to POST confirmations")
    args = parser.parse_args(argv)
    sim = SettlementSimulator(
        host=args.host,
        port=args.port,
        key_id=Env.str("SETTLEMENT_KEY_ID", DEFAULT_KEY_ID),
        secret=Env.str("SETTLEMENT_SECRET", DEFAULT_SECRET),
        callback_url=args.callback_url,
        callback_key_id=Env.str("SETTLEMENT_CALLBACK_KEY_ID", DEFAULT_CALLBACK_KEY_ID),
        callback_secret=Env.str("SETTLEMENT_CALLBACK_SECRET", DEFAULT_CALLBACK_SECRET),
    )
    return sim_http.simulator_main(
        sim,
        name="settlement simulator",
        address=f"{args.host}:{args.port}",
        ready=lambda: f"Settlement simulator on {sim.base_url}",
    )


if __name__ == "__main__":
    raise SystemExit(main())
