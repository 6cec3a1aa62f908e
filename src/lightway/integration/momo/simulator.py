"""A local MTN MoMo Open API: Collection, Disbursement, Remittance and sandbox provisioning.

Same paths, headers, status codes and bodies as MTN (reference note §2-§11, the vendored
OpenAPI specs): per-product subscription keys (401 APIM body), Basic-auth ``/token/`` and
Bearer tokens (401), ``X-Target-Environment`` (500 NOT_ALLOWED_TARGET_ENVIRONMENT),
UUID v4 ``X-Reference-Id`` (400) unique per resource (409 RESOURCE_ALREADY_EXIST),
``X-Callback-Url`` bound to the API user's ``providerCallbackHost`` (500
INVALID_CALLBACK_URL_HOST, nothing created), currency per environment (500
INVALID_CURRENCY), 202 with an empty body on create, 200 results on GET (FAILED included),
404 RESOURCE_NOT_FOUND. Outcomes follow the official sandbox test-number table (§11.2,
``sim_tables``) and, for every other number, wallets and float accounts with balances and
daily limits. Completion is asynchronous (a scheduler thread) and callbacks carry the same
JSON as the GET, by PUT or POST as each operation does (§10.2).

Fault knobs (``configure`` or ``POST /_sim/config``): lost, duplicated, late and reordered
callbacks, 5xx bursts, 404 just after a 202, slow answers, short token lifetimes and the
"observed" sandbox profile (§11.3). ``GET /_sim/statement`` exports the float account as the
partner portal's CSV, with drift knobs for reconciliation tests (``drift_amount``,
``drop_from_statement``, ``add_ghost``; over HTTP ``POST /_sim/drift``, ``/_sim/drop``,
``/_sim/ghost``).

Demo subscription keys: 32 hex digits like MTN's (``DEFAULT_SUBSCRIPTION_KEYS``; never
valid at MTN). MTN's gateway does not check a key's format, only whether it is one of the
product's keys, and neither does the simulator.

Run it: ``lightway simulators --only momo`` or ``python -m
lightway.integration.momo.simulator --port 8104`` (see ``docs/momo.md``).
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import heapq
import hmac
import io
import json
import logging
import random
import re
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from lightway.infrastructure.cli_args import port_arg
from lightway.integration import simulator_http as sim_http
from lightway.integration.momo.sim_tables import (
    ACTIVE_EMAILS,
    ACTIVE_ERRORS,
    ACTIVE_TABLE,
    CASH_TRANSFER_TABLE,
    CURRENCY_EXPONENT,
    DELAYED,
    ENVIRONMENTS,
    ONGOING,
    PAYEE_TABLE,
    PAYER_TABLE,
    PRODUCTS,
    REFUND_TABLE,
    REQUEST_TO_PAY_EXTRA,
    Scenario,
    message_for,
)

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8104
# 32 hex digits, the format of MTN's keys (Azure API Management), so that client libraries
# which check the format before sending accept them. The same values are the defaults of
# MOMO_SUBSCRIPTION_KEY_* (infrastructure/settings.py; a test keeps them equal).
DEFAULT_SUBSCRIPTION_KEYS: dict[str, str] = {
    "collection": "de40c011ec7100000000000000000001",
    "disbursement": "de40d15b000000000000000000000002",
    "remittance": "de40ae31700000000000000000000003",
}
# Opening float balances (major units) per product, in every environment's currency.
DEFAULT_FLOAT_BALANCES: dict[str, str] = {
    "collection": "0",
    "disbursement": "100000000",
    "remittance": "100000000",
}
MAX_BODY_BYTES = 1024 * 1024
HISTORY = 10_000  # requests / callback attempts kept for inspection
MESSAGE_MAX = 160
FORBIDDEN_TEXT = ("'", "&")
APIM_INVALID_KEY = (
    "Access denied due to invalid subscription key. "
    "Make sure to provide a valid key for an active subscription."
)
APIM_MISSING_KEY = (
    "Access denied due to missing subscription key. "
    "Make sure to include subscription key when making requests to an API."
)
APIM_BAD_TOKEN = "Unauthorized. Access token is missing or invalid."
PROFILE_DELAY = {"spec": 5.0, "observed": 25.0}
# The shape of ``reason`` in a FAILED result (GET and callback), the ``reason_shape`` knob:
# "object" is the spec's ErrorReason ``{"code", "message"}``; "string" is the bare code that
# MTN's community pages show and some clients expect (reference note §8.3).
REASON_SHAPES = ("object", "string")
STATEMENT_HEADER = [
    "Id",
    "External Transaction Id",
    "Reference Id",
    "Date",
    "Status",
    "Type",
    "Amount",
    "Fee",
    "Currency",
    "Balance",
]
TERMINAL = frozenset({"SUCCESSFUL", "FAILED"})


@dataclass(frozen=True)
class OpDef:
    """One creating operation as MTN defines it."""

    operation: str  # lightway.integration.momo.port.Operation value
    product: str
    version: str  # "v1_0" | "v2_0"
    resource: str  # path segment: requesttopay, transfer, ...
    status_resource: str  # the GET lives at /{status_version}/{resource}/{id}
    status_version: str
    party_field: str  # "payer" | "payee" | "" (refund)
    callback_method: str
    inbound: bool  # money comes into the float
    statement_type: str


# (operation, product, version, resource, party field, callback method, statement type);
# the status GET is /v1_0/{resource}/{id} except for cash transfer (/v2_0/...).
_OP_ROWS = [
    ("requesttopay", "collection", "v1_0", "requesttopay", "payer", "PUT", "PAYMENT"),
    ("requesttowithdraw", "collection", "v1_0", "requesttowithdraw", "payer", "POST", "WITHDRAWAL"),
    ("requesttowithdraw", "collection", "v2_0", "requesttowithdraw", "payer", "PUT", "WITHDRAWAL"),
    ("transfer", "disbursement", "v1_0", "transfer", "payee", "PUT", "TRANSFER"),
    ("deposit", "disbursement", "v1_0", "deposit", "payee", "POST", "DEPOSIT"),
    ("deposit", "disbursement", "v2_0", "deposit", "payee", "PUT", "DEPOSIT"),
    ("refund", "disbursement", "v1_0", "refund", "", "POST", "REFUND"),
    ("refund", "disbursement", "v2_0", "refund", "", "PUT", "REFUND"),
    ("remittance_transfer", "remittance", "v1_0", "transfer", "payee", "PUT", "REMITTANCE"),
    ("cashtransfer", "remittance", "v2_0", "cashtransfer", "payee", "PUT", "REMITTANCE"),
]
# (product, version, resource) -> operation. Callback methods per §10.2.
OPS: dict[tuple[str, str, str], OpDef] = {
    (product, version, resource): OpDef(
        operation=op,
        product=product,
        version=version,
        resource=resource,
        status_resource=resource,
        status_version="v2_0" if op == "cashtransfer" else "v1_0",
        party_field=party,
        callback_method=method,
        inbound=product == "collection",
        statement_type=stype,
    )
    for op, product, version, resource, party, method, stype in _OP_ROWS
}
# (product, version, resource) of every status GET.
STATUS_PATHS = {(d.product, d.status_version, d.status_resource) for d in OPS.values()}
CASH_TRANSFER_FIELDS = (
    "orginatingCountry",
    "originatingCountry",
    "originalAmount",
    "originalCurrency",
    "payerIdentificationType",
    "payerIdentificationNumber",
    "payerIdentity",
    "payerFirstName",
    "payerSurName",
    "payerSurname",
    "payerLanguageCode",
    "payerEmail",
    "payerMsisdn",
    "payerGender",
)
FIRST_NAMES = ("Amina", "Kwame", "Grace", "Joseph", "Esther", "Moses", "Aisha", "Samuel")
LAST_NAMES = ("Nakato", "Mensah", "Ndongo", "Okello", "Uwase", "Banda", "Kouassi", "Achieng")


@dataclass
class SimConfig:
    """Fault knobs; change them with :meth:`MomoSimulator.configure` or ``POST /_sim/config``."""

    completion_seconds: float = 0.2  # before a pending transaction completes
    # ... plus a random extra delay, uniform in [0, this]: 1 + 2 = an MTN-like 1-3 s
    completion_jitter_seconds: float = 0.0
    delayed_seconds: float | None = None  # "Delayed" numbers: None = profile default (5/25 s)
    callback_mode: str = "http"  # http: deliver to X-Callback-Url | queue: keep for the test
    callback_retry_schedule: list[float] = field(default_factory=list)  # [] = sent once
    callback_timeout_seconds: float = 5.0
    lost_callbacks: float = 0.0  # probability a callback is never sent
    duplicate_callbacks: float = 0.0  # probability a callback is sent twice
    late_callback_seconds: float = 0.0  # extra delay before every callback
    reorder_callbacks: bool = False  # hold a callback back until the next one was sent
    reorder_hold_seconds: float = 2.0  # ... or this long if no next one comes
    error_burst: int = 0  # the next N API calls answer 503 / 500 SERVICE_UNAVAILABLE
    accept_then_error: int = 0  # the next N creates are accepted but answered 503
    not_found_after_accept_seconds: float = 0.0  # GET answers 404 this long after the 202
    slow_seconds: float = 0.0  # sleep before answering every API call
    token_ttl_seconds: int = 3600
    token_type: str = "access_token"
    reject_token_body: bool = False  # a body on /token/ answers 400 (portal rule)
    profile: str = "spec"  # spec: official table | observed: live sandbox (§11.3)
    reason_shape: str = "object"  # FAILED results' reason: {code, message} | "string" (code)
    seed: int | None = None  # makes ids and fault draws reproducible
    notification_window_seconds: float = 3600.0  # delivery notification allowed this long
    wallet_default_balance: str = "1000000000"  # of any wallet not set with set_wallet
    wallet_daily_limit: str | None = None  # daily debit limit of wallets not set

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name: f for f in fields(self)}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"unknown knob {key!r}; known: {', '.join(sorted(known))}")
            current = getattr(type(self)(), key)
            if key == "callback_mode" and value not in ("http", "queue"):
                raise ValueError("callback_mode must be 'http' or 'queue'")
            if key == "profile" and value not in PROFILE_DELAY:
                raise ValueError("profile must be 'spec' or 'observed'")
            if key == "reason_shape" and value not in REASON_SHAPES:
                raise ValueError("reason_shape must be 'object' or 'string'")
            if key in ("lost_callbacks", "duplicate_callbacks") and not (
                isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1
            ):
                raise ValueError(f"{key} must be a probability between 0 and 1")
            if key == "callback_retry_schedule":
                if not isinstance(value, list) or not all(
                    isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in value
                ):
                    raise ValueError("callback_retry_schedule must be a list of seconds")
            elif key in ("seed", "delayed_seconds", "wallet_daily_limit"):
                if value is not None and (
                    isinstance(value, bool)
                    or (key == "seed" and not isinstance(value, int))
                    or (key == "delayed_seconds" and not isinstance(value, int | float))
                    or (key == "wallet_daily_limit" and _decimal(value) is None)
                ):
                    raise ValueError(f"{key} has the wrong type")
            elif key == "wallet_default_balance":
                if _decimal(value) is None:
                    raise ValueError(f"{key} must be a decimal amount")
                value = str(value)
            elif isinstance(current, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be true or false")
            elif isinstance(current, int | float):
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ValueError(f"{key} must be a number >= 0")
                if isinstance(current, int) and not isinstance(current, bool):
                    if not isinstance(value, int):
                        raise ValueError(f"{key} must be an integer")
            elif isinstance(current, str) and not isinstance(value, str):
                raise ValueError(f"{key} must be a string")
            setattr(self, key, value)


@dataclass(frozen=True)
class SimCallback:
    """A callback the simulator sent (``http`` mode) or queued for the test (``queue``)."""

    url: str
    method: str
    body: bytes
    reference_id: str

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class ApiUser:
    id: str
    callback_host: str  # providerCallbackHost exactly as sent (a host, or a URL)
    keys: set[str] = field(default_factory=set)

    @property
    def host(self) -> str:
        """The host an ``X-Callback-Url`` must have: ``providerCallbackHost`` itself, or the
        host of the URL it is (``https://platform.example/momo`` -> ``platform.example``)."""
        return callback_host_of(self.callback_host)


def callback_host_of(value: str) -> str:
    """The lower-case host name of a ``providerCallbackHost``: a bare host (``clinic.com``,
    MTN's example), a host with a port or path, or a full URL; "" when there is none."""
    text = value.strip()
    try:
        host = urlsplit(text if "//" in text else f"//{text}").hostname
    except ValueError:
        return ""
    return (host or "").lower()


@dataclass
class Wallet:
    balance: Decimal
    daily_limit: Decimal | None = None  # debits per UTC day
    receive_limit: Decimal | None = None  # credits per UTC day
    active: bool = True
    given_name: str = ""
    family_name: str = ""
    debited: dict[date, Decimal] = field(default_factory=dict)
    credited: dict[date, Decimal] = field(default_factory=dict)


@dataclass
class Txn:
    reference_id: str
    op: OpDef
    environment: str
    currency: str
    amount: Decimal
    amount_text: str
    external_id: str | None
    party: dict[str, str] | None
    payer_message: str | None
    payee_note: str | None
    api_user: str
    callback_url: str | None
    scenario: Scenario | None
    financial_id: str
    created_at: float
    accepted_mono: float
    extra: dict[str, Any] = field(default_factory=dict)
    status: str = "PENDING"
    reason: str | None = None
    completed_at: float | None = None
    notified: bool = False
    statement_amount: Decimal | None = None  # drift: the statement shows this instead
    hidden: bool = False  # dropped from the statement
    seq: int = 0  # creation order

    def result(self, reason_shape: str = "object") -> dict[str, Any]:
        """The GET body (and callback body) in the operation's result schema; ``reason`` as
        ``reason_shape`` says (the knob), except for a cash transfer, whose schema has a
        string."""
        body: dict[str, Any] = {"amount": self.amount_text, "currency": self.currency}
        if self.status == "SUCCESSFUL":
            body["financialTransactionId"] = self.financial_id
        if self.external_id is not None:
            body["externalId"] = self.external_id
        if self.party is not None:
            body["payer" if self.op.party_field == "payer" else "payee"] = dict(self.party)
        if self.op.operation == "cashtransfer":
            body.update({k: v for k, v in self.extra.items() if k in CASH_TRANSFER_FIELDS})
        if self.payer_message is not None:
            body["payerMessage"] = self.payer_message
        if self.payee_note is not None:
            body["payeeNote"] = self.payee_note
        body["status"] = self.status
        if self.status == "FAILED" and self.reason:
            if self.op.operation == "cashtransfer" or reason_shape == "string":
                body["reason"] = self.reason  # CashTransferResult.reason is a string
            else:
                body["reason"] = {"code": self.reason, "message": message_for(self.reason)}
        return body


@dataclass
class Ghost:
    financial_id: str
    reference_id: str
    product: str
    environment: str
    amount: Decimal  # signed, float's view
    currency: str
    at: float
    seq: int


class SimError(sim_http.Refusal):
    """An HTTP error answer: ``body`` is sent as JSON (None = empty body)."""

    def __init__(self, status: int, body: dict[str, Any] | None) -> None:
        super().__init__(status, f"{status} {body}")
        self.body = body

    def payload(self) -> dict[str, Any] | None:
        return self.body


def _reason_error(status: int, code: str, message: str | None = None) -> SimError:
    return SimError(status, {"code": code, "message": message or message_for(code)})


def _bad_request(message: str) -> SimError:
    return SimError(400, {"code": "BAD_REQUEST", "message": message})


def _apim(status: int, message: str) -> SimError:
    return SimError(status, {"statusCode": status, "message": message})


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        return None
    try:
        result = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


def _uuid4(value: str | None) -> str | None:
    if not value:
        return None
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    if parsed.version != 4 or len(value) != 36:
        return None
    return str(parsed)


def fmt_amount(amount: Decimal, currency: str) -> str:
    places = CURRENCY_EXPONENT.get(currency, 2)
    return f"{amount.quantize(Decimal(1).scaleb(-places)):f}"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class MomoSimulator:
    """``MomoSimulator().start()``, then ``.base_url``; ``.provision()`` an API user."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        subscription_keys: dict[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self.port = port
        self.subscription_keys = {**DEFAULT_SUBSCRIPTION_KEYS, **(subscription_keys or {})}
        self._clock = clock
        # Set by `lightway simulators`: the platform's URL and the host callbacks may go to.
        self.web_base = ""
        self.callback_host = "127.0.0.1"
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._token_secret = secrets.token_bytes(32)
        self._server: sim_http.SimServer | None = None
        self._clock_thread: threading.Thread | None = None
        self._http: httpx.Client | None = None
        self._stopping = False
        self._clear_state()

    def _clear_state(self) -> None:
        self.config = SimConfig()
        self._rng = random.Random()
        self.api_users: dict[str, ApiUser] = {}
        self._tokens: dict[str, tuple[str, str, float]] = {}  # token -> (user, product, exp)
        self._txns: dict[str, Txn] = {}
        self._refunded: dict[str, Decimal] = {}
        self._wallets: dict[str, Wallet] = {}
        self._floats: dict[tuple[str, str], Decimal] = {}
        # float account history: (at, seq, delta) of balance changes not tied to a line
        self._adjustments: dict[tuple[str, str], list[tuple[float, int, Decimal]]] = {}
        self._ghosts: list[Ghost] = []
        self._fin_ids: set[str] = set()
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self._held: tuple[SimCallback, float] | None = None
        self._callbacks_queued: list[SimCallback] = []
        # Recent history for tests and the control API (bounded: `lightway up` runs for days).
        self.callbacks_sent: deque[dict[str, Any]] = deque(maxlen=HISTORY)  # http attempts
        self.callbacks_lost: deque[SimCallback] = deque(maxlen=HISTORY)
        self.requests: deque[tuple[str, str]] = deque(maxlen=HISTORY)  # (method, path)

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return sim_http.http_url(self.host, self.port)

    def start(self) -> MomoSimulator:
        self._server = sim_http.SimServer(
            self.host, self.port, _Handler, name="momo-sim", attrs={"sim": self}
        )
        self.port = self._server.port
        self._http = httpx.Client()
        self._stopping = False
        self._server.start()
        self._clock_thread = threading.Thread(
            target=self._scheduler_loop, name="momo-sim-clock", daemon=True
        )
        self._clock_thread.start()
        return self

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._server is not None:
            self._server.stop()  # also ends kept-alive connections
            self._server = None
        if self._clock_thread is not None:
            self._clock_thread.join(timeout=5)
            self._clock_thread = None
        if self._http is not None:
            self._http.close()

    def __enter__(self) -> MomoSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget transactions, callbacks, API users, tokens, wallets, balances and knobs."""
        with self._wake:
            self._clear_state()
            self._wake.notify_all()

    def configure(self, **knobs: Any) -> SimConfig:
        with self._lock:
            self.config.update(knobs)
            if "seed" in knobs:
                self._rng = random.Random(knobs["seed"])
            return self.config

    def now(self) -> float:
        return self._clock()

    # -- provisioning --------------------------------------------------------------------

    def provision(
        self, api_user: str | None = None, callback_host: str = "127.0.0.1"
    ) -> tuple[str, str]:
        """Create an API user and its key, as POST /v1_0/apiuser + POST .../apikey do."""
        user_id = api_user or str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        self.apiuser_create(user_id, callback_host)
        return user_id, self.apikey_create(user_id)

    def apiuser_create(self, user_id: str, callback_host: str) -> None:
        canonical = _uuid4(user_id)
        if canonical is None:
            raise _bad_request("X-Reference-Id must be a UUID version 4")
        # MTN's sandbox stores what it is sent, a bare host or a full URL (two public client
        # libraries send a URL); callbacks must then go to that URL's host.
        if not isinstance(callback_host, str) or not callback_host.strip():
            raise _bad_request("providerCallbackHost is required")
        with self._lock:
            if canonical in self.api_users:
                raise _reason_error(409, "RESOURCE_ALREADY_EXIST")
            self.api_users[canonical] = ApiUser(canonical, callback_host)

    def apikey_create(self, user_id: str) -> str:
        canonical = _uuid4(user_id)
        if canonical is None:
            raise _bad_request("X-Reference-Id must be a UUID version 4")
        with self._lock:
            user = self.api_users.get(canonical)
            if user is None:
                raise _reason_error(404, "RESOURCE_NOT_FOUND")
            key = f"{self._rng.getrandbits(128):032x}"
            user.keys.add(key)
            return key

    # -- state helpers for tests ---------------------------------------------------------

    def transactions(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._txn_dict(t) for t in self._txns.values()]

    def transaction(self, reference_id: str) -> dict[str, Any]:
        with self._lock:
            return self._txn_dict(self._txn(reference_id))

    def _txn(self, reference_id: str) -> Txn:
        txn = self._txns.get(str(reference_id).lower())
        if txn is None:
            raise KeyError(f"no transaction {reference_id}")
        return txn

    def _txn_dict(self, t: Txn) -> dict[str, Any]:
        return {
            "referenceId": t.reference_id,
            "product": t.op.product,
            "operation": t.op.operation,
            "version": t.op.version,
            "status": t.status,
            "reason": t.reason,
            "amount": t.amount_text,
            "currency": t.currency,
            "externalId": t.external_id,
            "financialTransactionId": t.financial_id if t.status == "SUCCESSFUL" else None,
            "party": dict(t.party) if t.party else None,
            "environment": t.environment,
            "callbackUrl": t.callback_url,
            "created_at": datetime.fromtimestamp(t.created_at, tz=UTC),
            "completed_at": (
                datetime.fromtimestamp(t.completed_at, tz=UTC) if t.completed_at else None
            ),
            "result": t.result(self.config.reason_shape),
        }

    def complete(
        self, reference_id: str, status: str = "SUCCESSFUL", reason: str | None = None
    ) -> dict[str, Any]:
        """Complete a pending transaction now (money moves even if a balance goes short)."""
        if status not in TERMINAL:
            raise ValueError("status must be SUCCESSFUL or FAILED")
        with self._wake:
            txn = self._txn(reference_id)
            if txn.status in TERMINAL:
                raise ValueError(f"transaction {reference_id} is already {txn.status}")
            self._finish(txn, status, reason or "INTERNAL_PROCESSING_ERROR", forced=True)
            return self._txn_dict(txn)

    def wait_status(
        self, reference_id: str, statuses: tuple[str, ...] = tuple(TERMINAL), timeout: float = 10
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                txn = self._txns.get(str(reference_id).lower())
                if txn is not None and txn.status in statuses:
                    return self._txn_dict(txn)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{reference_id} not in {statuses} after {timeout}s")
            time.sleep(0.02)

    def callbacks_queued(self) -> list[SimCallback]:
        with self._lock:
            return list(self._callbacks_queued)

    def callbacks_take(self) -> list[SimCallback]:
        """The queued callbacks, removing them from the queue."""
        with self._lock:
            taken, self._callbacks_queued = self._callbacks_queued, []
            return taken

    def callbacks_clear(self) -> None:
        with self._lock:
            self._callbacks_queued.clear()

    def wait_callbacks(self, count: int, timeout: float = 10) -> list[SimCallback]:
        """Block until ``count`` callbacks are queued (queue mode)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if len(self._callbacks_queued) >= count:
                    return list(self._callbacks_queued)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self._callbacks_queued)} of {count} callbacks queued")
            time.sleep(0.02)

    def set_balance(self, product: str, environment: str, amount: str) -> None:
        """Set a float account's available balance (major units)."""
        value = _decimal(amount)
        if product not in PRODUCTS or environment not in ENVIRONMENTS or value is None:
            raise ValueError("unknown product/environment or bad amount")
        with self._lock:
            key = (product, environment)
            delta = value - self._float(key)
            self._floats[key] = value
            self._seq += 1
            self._adjustments.setdefault(key, []).append((self.now(), self._seq, delta))

    def balance(self, product: str, environment: str) -> Decimal:
        with self._lock:
            return self._float((product, environment))

    def set_wallet(
        self,
        msisdn: str,
        *,
        balance: str | None = None,
        daily_limit: str | None = None,
        receive_limit: str | None = None,
        active: bool = True,
        given_name: str | None = None,
        family_name: str | None = None,
    ) -> None:
        """Create or change the wallet of an MSISDN (or e-mail / party code)."""
        with self._lock:
            wallet = self._wallet(msisdn)
            if balance is not None:
                wallet.balance = Decimal(balance)
            wallet.daily_limit = None if daily_limit is None else Decimal(daily_limit)
            wallet.receive_limit = None if receive_limit is None else Decimal(receive_limit)
            wallet.active = active
            if given_name is not None:
                wallet.given_name = given_name
            if family_name is not None:
                wallet.family_name = family_name

    def wallet(self, msisdn: str) -> dict[str, Any]:
        with self._lock:
            w = self._wallet(msisdn)
            return {
                "balance": w.balance,
                "daily_limit": w.daily_limit,
                "receive_limit": w.receive_limit,
                "active": w.active,
                "given_name": w.given_name,
                "family_name": w.family_name,
            }

    def _wallet(self, party_id: str) -> Wallet:
        key = party_id.strip().lower()
        wallet = self._wallets.get(key)
        if wallet is None:
            digest = int(hashlib.sha256(key.encode()).hexdigest(), 16)
            limit = self.config.wallet_daily_limit
            wallet = Wallet(
                balance=Decimal(self.config.wallet_default_balance),
                daily_limit=None if limit is None else Decimal(limit),
                given_name=FIRST_NAMES[digest % len(FIRST_NAMES)],
                family_name=LAST_NAMES[(digest // 7) % len(LAST_NAMES)],
            )
            self._wallets[key] = wallet
        return wallet

    def _float(self, key: tuple[str, str]) -> Decimal:
        if key not in self._floats:
            self._floats[key] = Decimal(DEFAULT_FLOAT_BALANCES[key[0]])
        return self._floats[key]

    # -- statement and drift -------------------------------------------------------------

    def drift_amount(self, reference_id: str, amount: str) -> None:
        """The statement shows ``amount`` (major units, unsigned) for this transaction."""
        value = _decimal(amount)
        if value is None:
            raise ValueError("amount must be a decimal")
        with self._lock:
            self._txn(reference_id).statement_amount = abs(value)

    def drop_from_statement(self, reference_id: str) -> None:
        with self._lock:
            self._txn(reference_id).hidden = True

    def add_ghost(self, product: str, environment: str, amount: str, currency: str) -> str:
        """A SUCCESSFUL MoMo-side transaction the platform never made; moves the float.
        ``amount`` is unsigned for the product's usual direction (collection in, the others
        out) or explicitly signed ("+500" in, "-500" out). Returns its financialTransactionId.
        """
        value = _decimal(amount)
        if product not in PRODUCTS or environment not in ENVIRONMENTS or value is None:
            raise ValueError("unknown product/environment or bad amount")
        text = str(amount).strip()
        if not text.startswith(("+", "-")):
            value = abs(value) if product == "collection" else -abs(value)
        with self._lock:
            self._seq += 1
            ghost = Ghost(
                financial_id=self._new_fin_id(),
                reference_id=str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
                product=product,
                environment=environment,
                amount=value,
                currency=currency,
                at=self.now(),
                seq=self._seq,
            )
            self._ghosts.append(ghost)
            key = (product, environment)
            self._floats[key] = self._float(key) + value
            return ghost.financial_id

    def statement_csv(
        self,
        product: str,
        environment: str,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> str:
        """The float account's statement (partner-portal export), lines in [start, end)."""
        if product not in PRODUCTS or environment not in ENVIRONMENTS:
            raise ValueError("unknown product or environment")
        key = (product, environment)
        with self._lock:
            # (at, seq, actual delta, row or None)
            events: list[tuple[float, int, Decimal, list[str] | None]] = []
            opening = Decimal(DEFAULT_FLOAT_BALANCES[product])
            for at, seq, delta in self._adjustments.get(key, []):
                events.append((at, seq, delta, None))
            for t in self._txns.values():
                if t.op.product != product or t.environment != environment:
                    continue
                at = t.completed_at or t.created_at
                sign = 1 if t.op.inbound else -1
                delta = sign * t.amount if t.status == "SUCCESSFUL" else Decimal(0)
                shown = sign * (t.statement_amount if t.statement_amount is not None else t.amount)
                row = None
                if not t.hidden:
                    row = [
                        t.financial_id,
                        t.external_id or "",
                        t.reference_id,
                        _iso(at),
                        t.status if t.status in TERMINAL else "PENDING",
                        t.op.statement_type,
                        fmt_amount(shown, t.currency),
                        fmt_amount(Decimal(0), t.currency),
                        t.currency,
                    ]
                events.append((at, t.seq, delta, row))
            for g in self._ghosts:
                if g.product != product or g.environment != environment:
                    continue
                stype = {"collection": "PAYMENT", "disbursement": "TRANSFER"}.get(
                    product, "REMITTANCE"
                )
                if g.amount > 0 and product != "collection":
                    stype = "DEPOSIT"
                row = [
                    g.financial_id,
                    "",
                    g.reference_id,
                    _iso(g.at),
                    "SUCCESSFUL",
                    stype,
                    fmt_amount(g.amount, g.currency),
                    fmt_amount(Decimal(0), g.currency),
                    g.currency,
                ]
                events.append((g.at, g.seq, g.amount, row))
        events.sort(key=lambda e: (e[0], e[1]))
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(STATEMENT_HEADER)
        balance = opening
        env_currency = ENVIRONMENTS[environment]
        lo = start.timestamp() if start else None
        hi = end.timestamp() if end else None
        for at, _seq, delta, row in events:
            balance += delta
            if row is None:
                continue
            if (lo is not None and at < lo) or (hi is not None and at >= hi):
                continue
            writer.writerow([*row, fmt_amount(balance, env_currency)])
        return out.getvalue()

    # -- ids, tokens, auth ---------------------------------------------------------------

    def _new_fin_id(self) -> str:
        while True:
            candidate = str(self._rng.randrange(10**8, 10**10))
            if candidate not in self._fin_ids:
                self._fin_ids.add(candidate)
                return candidate

    def _subscription_check(self, product: str | None, headers: Any, query: dict[str, str]) -> None:
        key = headers.get("Ocp-Apim-Subscription-Key") or query.get("subscription-key")
        if not key:
            raise _apim(401, APIM_MISSING_KEY)
        allowed = (
            set(self.subscription_keys.values())
            if product is None
            else {self.subscription_keys[product]}
        )
        if key not in allowed:
            raise _apim(401, APIM_INVALID_KEY)

    def token_issue(self, product: str, headers: Any, body: bytes) -> dict[str, Any]:
        auth = headers.get("Authorization") or ""
        if body.strip() and self.config.reject_token_body:
            raise _bad_request("The token request must not have a body")
        env = headers.get("X-Target-Environment")
        if env is not None and env not in ENVIRONMENTS:
            raise _reason_error(500, "NOT_ALLOWED_TARGET_ENVIRONMENT")
        if not auth.startswith("Basic "):
            raise SimError(401, {"error": "login_failed"})
        try:
            decoded = base64.b64decode(auth[6:].strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            raise SimError(401, {"error": "login_failed"}) from None
        user_id, _, api_key = decoded.partition(":")
        with self._lock:
            user = self.api_users.get(user_id.lower())
            if user is None or not _compare_any(api_key, user.keys):
                raise SimError(401, {"error": "login_failed"})
            ttl = int(self.config.token_ttl_seconds)
            now = self.now()
            payload = {
                "clientId": user.id,
                "product": product,
                "sessionId": str(uuid.uuid4()),
                "expires": _iso(now + ttl),
            }
            head = _b64url(json.dumps({"typ": "JWT", "alg": "R256"}).encode())
            claims = _b64url(json.dumps(payload).encode())
            sig = _b64url(
                hmac.new(self._token_secret, f"{head}.{claims}".encode(), "sha256").digest()
            )
            token = f"{head}.{claims}.{sig}"
            self._tokens[token] = (user.id, product, now + ttl)
            return {"access_token": token, "token_type": self.config.token_type, "expires_in": ttl}

    def _bearer(self, product: str, headers: Any) -> ApiUser:
        auth = headers.get("Authorization") or ""
        if not auth.startswith("Bearer "):
            raise _apim(401, APIM_BAD_TOKEN)
        entry = self._tokens.get(auth[7:].strip())
        if entry is None or entry[1] != product or entry[2] <= self.now():
            raise _apim(401, APIM_BAD_TOKEN)
        user = self.api_users.get(entry[0])
        if user is None:
            raise _apim(401, APIM_BAD_TOKEN)
        return user

    @staticmethod
    def _environment(headers: Any) -> str:
        env = headers.get("X-Target-Environment")
        if env not in ENVIRONMENTS:
            raise _reason_error(500, "NOT_ALLOWED_TARGET_ENVIRONMENT")
        return str(env)

    # -- the API -------------------------------------------------------------------------

    def api(
        self, method: str, target: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, Any] | None]:
        """Answer one API call: (status, JSON body or None for an empty body)."""
        path, _, query_text = target.partition("?")
        query = sim_http.query_params(query_text)
        with self._lock:
            self.requests.append((method, path))
            slow = self.config.slow_seconds
            burst = self.config.error_burst
            if burst > 0:
                self.config.error_burst -= 1
        if slow:
            time.sleep(slow)
        if burst > 0:
            status = 503 if burst % 2 == 1 else 500
            raise _reason_error(status, "SERVICE_UNAVAILABLE")
        if path.startswith("/v1_0/apiuser"):
            return self._provisioning(method, path, headers, body, query)
        parts = path.split("/")
        if len(parts) < 3 or parts[1] not in PRODUCTS:
            raise _apim(404, "Resource not found")
        product = parts[1]
        rest = "/" + "/".join(parts[2:])
        self._subscription_check(product, headers, query)
        if rest == "/token/" and method == "POST":
            return 200, self.token_issue(product, headers, body)
        with self._lock:
            user = self._bearer(product, headers)
        return self._product_call(product, method, rest, headers, body, user)

    def _provisioning(
        self, method: str, path: str, headers: Any, body: bytes, query: dict[str, str]
    ) -> tuple[int, dict[str, Any] | None]:
        self._subscription_check(None, headers, query)
        if path == "/v1_0/apiuser" and method == "POST":
            data = sim_http.json_object(body)
            host = data.get("providerCallbackHost")
            if not isinstance(host, str):
                raise _bad_request("providerCallbackHost is required")
            self.apiuser_create(headers.get("X-Reference-Id") or "", host)
            return 201, None
        match = re.fullmatch(r"/v1_0/apiuser/([^/]+)(/apikey)?", path)
        if match is None:
            raise _apim(404, "Resource not found")
        if match.group(2) and method == "POST":
            return 201, {"apiKey": self.apikey_create(unquote(match.group(1)))}
        if not match.group(2) and method == "GET":
            canonical = _uuid4(unquote(match.group(1)))
            if canonical is None:
                raise _bad_request("X-Reference-Id must be a UUID version 4")
            with self._lock:
                user = self.api_users.get(canonical)
                if user is None:
                    raise _reason_error(404, "RESOURCE_NOT_FOUND")
                return 200, {
                    "providerCallbackHost": user.callback_host,
                    "targetEnvironment": "sandbox",
                }
        raise _apim(404, "Resource not found")

    def _product_call(
        self, product: str, method: str, rest: str, headers: Any, body: bytes, user: ApiUser
    ) -> tuple[int, dict[str, Any] | None]:
        segs = [unquote(s) for s in rest.strip("/").split("/")]
        if method == "POST" and len(segs) == 2 and (product, segs[0], segs[1]) in OPS:
            env = self._environment(headers)
            return self._create(OPS[(product, segs[0], segs[1])], env, headers, body, user)
        if method == "GET" and len(segs) == 3 and (product, segs[0], segs[1]) in STATUS_PATHS:
            env = self._environment(headers)
            return 200, self._status(product, segs[1], segs[2], env)
        if (
            product == "collection"
            and method == "POST"
            and len(segs) == 4
            and segs[:2] == ["v1_0", "requesttopay"]
            and segs[3] == "deliverynotification"
        ):
            self._environment(headers)
            return self._delivery_notification(segs[2], headers, body)
        if method == "GET" and segs[:3] == ["v1_0", "account", "balance"] and len(segs) <= 4:
            env = self._environment(headers)
            currency = ENVIRONMENTS[env]
            if len(segs) == 4 and segs[3].upper() != currency:
                raise _reason_error(500, "INVALID_CURRENCY")
            with self._lock:
                amount = self._float((product, env))
            return 200, {"availableBalance": fmt_amount(amount, currency), "currency": currency}
        if method == "GET" and len(segs) == 5 and segs[:2] == ["v1_0", "accountholder"]:
            self._environment(headers)
            if segs[4] == "active":
                return 200, self._active(segs[2], segs[3])
            if segs[4] == "basicuserinfo":
                return 200, self._basic_user_info(segs[2], segs[3])
        raise _apim(404, "Resource not found")

    # -- create / status -----------------------------------------------------------------

    def _create(
        self, op: OpDef, env: str, headers: Any, body: bytes, user: ApiUser
    ) -> tuple[int, dict[str, Any] | None]:
        reference = _uuid4(headers.get("X-Reference-Id"))
        if reference is None:
            raise _bad_request("X-Reference-Id must be a UUID version 4")
        data = sim_http.json_object(body)
        amount_raw = data.get("amount")
        amount = _decimal(amount_raw)
        if amount is None or amount <= 0:
            raise _bad_request("amount must be a positive decimal string")
        currency = data.get("currency")
        if not isinstance(currency, str) or not re.fullmatch(r"[A-Za-z]{3}", currency):
            raise _bad_request("currency must be an ISO 4217 code")
        external_id = data.get("externalId")
        if external_id is not None and not isinstance(external_id, str | int):
            raise _bad_request("externalId must be a string")
        texts: dict[str, str | None] = {}
        for name in ("payerMessage", "payeeNote"):
            value = data.get(name)
            if value is not None:
                if not isinstance(value, str):
                    raise _bad_request(f"{name} must be a string")
                if len(value) > MESSAGE_MAX or any(c in value for c in FORBIDDEN_TEXT):
                    raise _bad_request(
                        f"{name} must be at most {MESSAGE_MAX} characters without ' or &"
                    )
            texts[name] = value
        party = None
        if op.party_field:
            party = _party(data.get(op.party_field), op.party_field)
        extra: dict[str, Any] = {}
        if op.operation == "refund":
            target = data.get("referenceIdToRefund")
            if not isinstance(target, str) or not (
                target in REFUND_TABLE or _uuid4(target) is not None
            ):
                raise _bad_request("referenceIdToRefund must be the UUID of a request to pay")
            extra["referenceIdToRefund"] = target
        if op.operation == "cashtransfer":
            extra.update({k: data[k] for k in CASH_TRANSFER_FIELDS if k in data})
        if currency != ENVIRONMENTS[env]:
            raise _reason_error(500, "INVALID_CURRENCY")
        callback_url = headers.get("X-Callback-Url")
        if callback_url is not None:
            host = (urlsplit(callback_url.strip()).hostname or "").lower()
            if not host or host != user.host:
                raise _reason_error(500, "INVALID_CALLBACK_URL_HOST")
        with self._wake:
            if reference in self._txns:
                raise _reason_error(409, "RESOURCE_ALREADY_EXIST")
            self._seq += 1
            txn = Txn(
                reference_id=reference,
                op=op,
                environment=env,
                currency=currency,
                amount=amount,
                amount_text=str(amount_raw),
                external_id=None if external_id is None else str(external_id),
                party=party,
                payer_message=texts.get("payerMessage"),
                payee_note=texts.get("payeeNote"),
                api_user=user.id,
                callback_url=callback_url.strip() if callback_url else None,
                scenario=self._scenario(op, party, extra, external_id),
                financial_id=self._new_fin_id(),
                created_at=self.now(),
                accepted_mono=time.monotonic(),
                extra=extra,
            )
            txn.seq = self._seq
            self._txns[reference] = txn
            self._plan(txn)
            error_after = self.config.accept_then_error > 0
            if error_after:
                self.config.accept_then_error -= 1
        if error_after:
            raise _reason_error(503, "SERVICE_UNAVAILABLE")
        return 202, None

    @staticmethod
    def _scenario(
        op: OpDef, party: dict[str, str] | None, extra: dict[str, Any], external_id: Any
    ) -> Scenario | None:
        if op.operation == "refund":
            return REFUND_TABLE.get(str(extra.get("referenceIdToRefund")))
        if op.operation == "cashtransfer" and str(external_id) in CASH_TRANSFER_TABLE:
            return CASH_TRANSFER_TABLE[str(external_id)]
        if party is None or party["partyIdType"].upper() != "MSISDN":
            return None
        number = party["partyId"]
        if op.operation == "requesttopay" and number in REQUEST_TO_PAY_EXTRA:
            return REQUEST_TO_PAY_EXTRA[number]
        payer_family = op.operation in ("requesttopay", "requesttowithdraw", "deposit")
        table = PAYER_TABLE if payer_family else PAYEE_TABLE
        return table.get(number)

    def _plan(self, txn: Txn) -> None:
        """Schedule the outcome of a new transaction (caller holds the lock)."""
        observed = self.config.profile == "observed"
        scenario = txn.scenario
        delay = self.config.completion_seconds
        if self.config.completion_jitter_seconds:
            delay += self._rng.uniform(0.0, self.config.completion_jitter_seconds)
        if scenario is not None and scenario.outcome == ONGOING:
            return  # stays PENDING until complete()
        if scenario is not None and scenario.outcome == DELAYED:
            if observed:
                txn.status = "CREATED"
            wait = self.config.delayed_seconds
            if wait is None:
                wait = PROFILE_DELAY[self.config.profile]
            self._schedule(wait, lambda: self._auto_finish(txn, "SUCCESSFUL", None))
            return
        if scenario is not None:
            outcome: tuple[str, str | None] = ("FAILED", scenario.reason)
        else:
            outcome = ("SUCCESSFUL", None)
        if observed:  # the live sandbox answers these at once
            self._auto_finish(txn, *outcome)
        else:
            self._schedule(delay, lambda: self._auto_finish(txn, *outcome))

    def _auto_finish(self, txn: Txn, status: str, reason: str | None) -> None:
        if txn.status in TERMINAL or self._txns.get(txn.reference_id) is not txn:
            return  # completed by hand meanwhile, or reset
        self._finish(txn, status, reason, forced=False)

    def _finish(self, txn: Txn, status: str, reason: str | None, *, forced: bool) -> None:
        """Move the money and set the final status; caller holds the lock."""
        if status == "SUCCESSFUL":
            failure = self._move_money(txn, forced=forced)
            if failure is not None:
                status, reason = "FAILED", failure
        txn.status = status
        txn.reason = reason if status == "FAILED" else None
        txn.completed_at = self.now()
        self._callback_emit(txn)

    def _move_money(self, txn: Txn, *, forced: bool) -> str | None:
        """Apply a successful transaction to wallets and the float, or return why not."""
        today = datetime.fromtimestamp(self.now(), tz=UTC).date()
        key = (txn.op.product, txn.environment)
        amount = txn.amount
        party_wallet = None
        if txn.op.operation == "refund" and txn.scenario is None:
            original = self._txns.get(str(txn.extra.get("referenceIdToRefund")))
            if original is None or original.op.product != "collection":
                return "RESOURCE_NOT_FOUND"
            refunded = self._refunded.get(original.reference_id, Decimal(0))
            if not forced:
                if original.status != "SUCCESSFUL" or refunded + amount > original.amount:
                    return "NOT_ALLOWED"
                if original.currency != txn.currency:
                    return "INVALID_CURRENCY"
            self._refunded[original.reference_id] = refunded + amount
            if original.party is not None:
                txn.party = dict(original.party)
        if txn.party is not None:
            party_wallet = self._wallet(txn.party["partyId"])
        if txn.op.inbound:
            assert party_wallet is not None
            if not forced:
                if not party_wallet.active:
                    return "PAYER_NOT_FOUND"
                if party_wallet.balance < amount:
                    observed = self.config.profile == "observed"
                    return "INTERNAL_PROCESSING_ERROR" if observed else "NOT_ENOUGH_FUNDS"
                spent = party_wallet.debited.get(today, Decimal(0))
                if party_wallet.daily_limit is not None and spent + amount > (
                    party_wallet.daily_limit
                ):
                    return "PAYER_LIMIT_REACHED"
            party_wallet.balance -= amount
            party_wallet.debited[today] = party_wallet.debited.get(today, Decimal(0)) + amount
            self._floats[key] = self._float(key) + amount
            return None
        if not forced:
            if self._float(key) < amount:
                return "NOT_ENOUGH_FUNDS"
            if party_wallet is not None:
                got = party_wallet.credited.get(today, Decimal(0))
                if party_wallet.receive_limit is not None and got + amount > (
                    party_wallet.receive_limit
                ):
                    return "PAYEE_NOT_ALLOWED_TO_RECEIVE"
                if not party_wallet.active:
                    return "PAYEE_NOT_FOUND"
        self._floats[key] = self._float(key) - amount
        if party_wallet is not None:
            party_wallet.balance += amount
            party_wallet.credited[today] = party_wallet.credited.get(today, Decimal(0)) + amount
        return None

    def _status(self, product: str, resource: str, reference_id: str, env: str) -> dict[str, Any]:
        if _uuid4(reference_id) is None:
            # The spec: "400 Bad request, e.g. an incorrectly formatted reference id".
            raise _bad_request("referenceId must be a UUID version 4")
        with self._lock:
            txn = self._txns.get(reference_id.lower())
            if (
                txn is None
                or txn.op.product != product
                or txn.op.resource != resource
                or txn.environment != env
            ):
                raise _reason_error(404, "RESOURCE_NOT_FOUND")
            window = self.config.not_found_after_accept_seconds
            if window and time.monotonic() - txn.accepted_mono < window:
                raise _reason_error(404, "RESOURCE_NOT_FOUND")
            return txn.result(self.config.reason_shape)

    def _delivery_notification(
        self, reference_id: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, Any] | None]:
        message = headers.get("notificationMessage")
        if body.strip():
            data = sim_http.json_object(body)
            message = data.get("notificationMessage", message)
        if not isinstance(message, str) or not message or len(message) > MESSAGE_MAX:
            raise _bad_request(f"notificationMessage is required, at most {MESSAGE_MAX} chars")
        if _uuid4(reference_id) is None:
            raise _bad_request("referenceId must be a UUID version 4")
        with self._lock:
            txn = self._txns.get(reference_id.lower())
            if txn is None or txn.op.operation != "requesttopay":
                raise _reason_error(404, "RESOURCE_NOT_FOUND")
            if txn.status != "SUCCESSFUL":
                raise _reason_error(
                    409, "TRANSACTION_NOT_COMPLETED", "The transaction is not successful."
                )
            assert txn.completed_at is not None
            if self.now() - txn.completed_at > self.config.notification_window_seconds:
                raise _reason_error(410, "EXPIRED", "The notification window has expired.")
            if txn.notified:
                raise _reason_error(429, "NOT_ALLOWED", "A delivery notification was already sent.")
            txn.notified = True
        return 200, None

    def _lookup_scenario(self, id_type: str, holder: str) -> str | None:
        kind = id_type.lower()
        if kind == "msisdn":
            if not re.fullmatch(r"\d{6,15}", holder):
                raise _bad_request("accountHolderId must be an MSISDN (digits, country code)")
            return ACTIVE_TABLE.get(holder)
        if kind == "email":
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", holder):
                raise _bad_request("accountHolderId must be an e-mail address")
            return ACTIVE_EMAILS.get(holder.split("@", 1)[0].lower())
        if kind in ("party_code", "id", "alias"):
            return None
        raise _bad_request("accountHolderIdType must be msisdn, email or party_code")

    def _active(self, id_type: str, holder: str) -> dict[str, Any]:
        scenario = self._lookup_scenario(id_type, holder)
        if scenario in ACTIVE_ERRORS:
            status, code = ACTIVE_ERRORS[scenario]
            raise _reason_error(status, code)
        if scenario in ("NotFound", "NotActive"):
            return {"result": False}
        with self._lock:
            wallet = self._wallets.get(holder.strip().lower())
            return {"result": wallet is None or wallet.active}

    def _basic_user_info(self, id_type: str, holder: str) -> dict[str, Any]:
        scenario = self._lookup_scenario(id_type, holder)
        if scenario in ACTIVE_ERRORS:
            status, code = ACTIVE_ERRORS[scenario]
            raise _reason_error(status, code)
        if scenario == "NotFound":
            raise _reason_error(404, "RESOURCE_NOT_FOUND")
        with self._lock:
            wallet = self._wallet(holder)
            active = wallet.active and scenario != "NotActive"
            return {
                "given_name": wallet.given_name,
                "family_name": wallet.family_name,
                "birthdate": "1990-01-01",
                "locale": "en",
                "gender": "U",
                "status": "ACTIVE" if active else "INACTIVE",
            }

    # -- scheduler and callbacks ---------------------------------------------------------

    def _schedule(self, delay: float, action: Callable[[], None]) -> None:
        """Run ``action`` (under the lock) after ``delay`` seconds; caller holds the lock."""
        self._seq += 1
        heapq.heappush(self._queue, (time.monotonic() + max(0.0, delay), self._seq, action))
        self._wake.notify_all()

    def _scheduler_loop(self) -> None:
        while True:
            with self._wake:
                while True:
                    if self._stopping:
                        return
                    now = time.monotonic()
                    if self._held is not None:
                        held, since = self._held
                        if now - since >= self.config.reorder_hold_seconds:
                            self._held = None
                            self._dispatch(held, 0.0)
                    if self._queue and self._queue[0][0] <= now:
                        _due, _seq, action = heapq.heappop(self._queue)
                        break
                    waits = [0.5]
                    if self._queue:
                        waits.append(self._queue[0][0] - now)
                    if self._held is not None:
                        waits.append(self._held[1] + self.config.reorder_hold_seconds - now)
                    self._wake.wait(timeout=max(0.005, min(waits)))
                try:
                    action()
                except Exception:
                    logger.exception("momo simulator: scheduled action failed")

    def _callback_emit(self, txn: Txn) -> None:
        """Send (or queue) the callback of a completed transaction, with the fault knobs."""
        if not txn.callback_url:
            return
        callback = SimCallback(
            url=txn.callback_url,
            method=txn.op.callback_method,
            body=json.dumps(txn.result(self.config.reason_shape), separators=(",", ":")).encode(),
            reference_id=txn.reference_id,
        )
        cfg = self.config
        if cfg.lost_callbacks and self._rng.random() < cfg.lost_callbacks:
            self.callbacks_lost.append(callback)
            return
        copies = (
            2 if cfg.duplicate_callbacks and self._rng.random() < cfg.duplicate_callbacks else 1
        )
        if cfg.reorder_callbacks:
            if self._held is None:
                self._held = (callback, time.monotonic())
                if copies == 2:
                    self._dispatch(callback, cfg.late_callback_seconds + 0.1)
                self._wake.notify_all()
                return
            held, _since = self._held
            self._held = None
            for _ in range(copies):
                self._dispatch(callback, cfg.late_callback_seconds)
            self._dispatch(held, cfg.late_callback_seconds + 0.3)  # the older one comes last
            return
        for n in range(copies):
            self._dispatch(callback, cfg.late_callback_seconds + 0.1 * n)

    def _dispatch(self, callback: SimCallback, delay: float) -> None:
        """Deliver after ``delay`` (caller holds the lock)."""
        if self.config.callback_mode == "queue":
            if delay <= 0:
                self._callbacks_queued.append(callback)
            else:
                self._schedule(delay, lambda: self._callbacks_queued.append(callback))
            return
        schedule = list(self.config.callback_retry_schedule)
        timeout = self.config.callback_timeout_seconds
        self._schedule(delay, lambda: self._send_async(callback, 1, schedule, timeout))

    def _send_async(
        self, callback: SimCallback, attempt: int, schedule: list[float], timeout: float
    ) -> None:
        threading.Thread(
            target=self._send,
            args=(callback, attempt, schedule, timeout),
            name="momo-sim-callback",
            daemon=True,
        ).start()

    def _send(
        self, callback: SimCallback, attempt: int, schedule: list[float], timeout: float
    ) -> None:
        status: int | str
        try:
            assert self._http is not None
            response = self._http.request(
                callback.method,
                callback.url,
                content=callback.body,
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": "lightway-momo-simulator",
                },
                timeout=timeout,
            )
            status, ok = response.status_code, 200 <= response.status_code < 300
        except (httpx.HTTPError, RuntimeError) as exc:
            status, ok = type(exc).__name__, False
        with self._wake:
            self.callbacks_sent.append(
                {
                    "url": callback.url,
                    "method": callback.method,
                    "reference_id": callback.reference_id,
                    "attempt": attempt,
                    "status": status,
                    "ok": ok,
                }
            )
            if not ok and attempt <= len(schedule):
                self._schedule(
                    schedule[attempt - 1],
                    lambda: self._send_async(callback, attempt + 1, schedule, timeout),
                )


def _compare_any(value: str, candidates: set[str]) -> bool:
    found = False
    for candidate in candidates:
        found |= hmac.compare_digest(value.encode(), candidate.encode())
    return found


def _party(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _bad_request(f"{name} is required: {{partyIdType, partyId}}")
    kind = value.get("partyIdType")
    party_id = value.get("partyId")
    if isinstance(party_id, int) and not isinstance(party_id, bool):
        party_id = str(party_id)
    if not isinstance(kind, str) or kind.upper() not in ("MSISDN", "EMAIL", "PARTY_CODE"):
        raise _bad_request(f"{name}.partyIdType must be MSISDN, EMAIL or PARTY_CODE")
    if not isinstance(party_id, str) or not party_id:
        raise _bad_request(f"{name}.partyId is required")
    upper = kind.upper()
    if upper == "MSISDN" and not re.fullmatch(r"\d{6,15}", party_id):
        raise _bad_request(f"{name}.partyId must be an MSISDN: digits with country code")
    if upper == "EMAIL" and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", party_id):
        raise _bad_request(f"{name}.partyId must be an e-mail address")
    if upper == "PARTY_CODE":
        try:
            uuid.UUID(party_id)
        except ValueError:
            raise _bad_request(f"{name}.partyId must be a UUID") from None
    return {"partyIdType": kind, "partyId": party_id}


class _Handler(sim_http.SimHandler):
    sim: MomoSimulator
    server_version = "MomoSimulator/1"
    max_body_bytes = MAX_BODY_BYTES
    request_log = logger

    def route(self, method: str, target: str, body: bytes) -> None:
        if target.startswith("/_sim/"):
            self._sim_control(method, target, body)
        else:
            status, data = self.sim.api(method, target, self.headers, body)
            self.send_json(status, data)

    def refusal(self, status: int, message: str) -> SimError:
        return SimError(status, {"code": "BAD_REQUEST", "message": message})

    def internal_error(self) -> SimError:
        return _reason_error(500, "INTERNAL_PROCESSING_ERROR")

    def _sim_control(self, method: str, target: str, body: bytes) -> None:
        sim = self.sim
        path, _, query_text = target.partition("?")
        query = sim_http.query_params(query_text)
        try:
            if path == "/_sim/config" and method == "GET":
                self.send_json(200, asdict(sim.config))
            elif path == "/_sim/config" and method == "POST":
                self.send_json(200, asdict(sim.configure(**sim_http.json_object(body))))
            elif path == "/_sim/reset" and method == "POST":
                sim.reset()
                self.send_json(200, {"ok": True})
            elif path == "/_sim/transactions" and method == "GET":
                self.send_json(200, sim.transactions())
            elif path == "/_sim/callbacks" and method == "GET":
                cbs = [{**asdict(c), "body": c.body.decode()} for c in sim.callbacks_queued()]
                self.send_json(200, {"queued": cbs, "sent": list(sim.callbacks_sent)})
            elif path == "/_sim/complete" and method == "POST":
                data = sim_http.json_object(body)
                self.send_json(
                    200,
                    sim.complete(
                        str(data.get("referenceId")),
                        str(data.get("status", "SUCCESSFUL")),
                        data.get("reason"),
                    ),
                )
            elif path == "/_sim/balance" and method == "POST":
                data = sim_http.json_object(body)
                sim.set_balance(
                    str(data.get("product")), str(data.get("environment")), str(data.get("amount"))
                )
                self.send_json(200, {"ok": True})
            elif path == "/_sim/drift" and method == "POST":
                data = sim_http.json_object(body)
                ref = _sim_field(data, "referenceId")
                amount = _sim_amount(data)
                _sim_known(sim, ref)
                sim.drift_amount(ref, amount)
                self.send_json(200, {"ok": True})
            elif path == "/_sim/drop" and method == "POST":
                ref = _sim_field(sim_http.json_object(body), "referenceId")
                _sim_known(sim, ref)
                sim.drop_from_statement(ref)
                self.send_json(200, {"ok": True})
            elif path == "/_sim/ghost" and method == "POST":
                data = sim_http.json_object(body)
                product = _sim_field(data, "product")
                environment = _sim_field(data, "environment")
                amount = _sim_amount(data)
                currency = _sim_field(data, "currency")
                if product not in PRODUCTS:
                    raise _bad_request(
                        f"product must be one of {', '.join(sorted(PRODUCTS))}, not {product!r}"
                    )
                if environment not in ENVIRONMENTS:
                    raise _bad_request(f"unknown target environment {environment!r}")
                if currency != ENVIRONMENTS[environment]:
                    raise _bad_request(
                        f"{environment} uses {ENVIRONMENTS[environment]}, not {currency!r}"
                    )
                if _decimal(amount) == 0:
                    raise _bad_request("amount must not be 0")
                fin_id = sim.add_ghost(product, environment, amount, currency)
                self.send_json(200, {"financialTransactionId": fin_id})
            elif path == "/_sim/statement" and method == "GET":
                start = _parse_dt(query.get("from"))
                end = _parse_dt(query.get("to"))
                text = sim.statement_csv(
                    query.get("product", ""), query.get("environment", ""), start, end
                )
                self.send_body(200, text.encode(), "text/csv; charset=utf-8")
            else:
                raise _apim(404, "Resource not found")
        except (ValueError, KeyError) as exc:
            raise _bad_request(str(exc)) from None


def _sim_field(data: dict[str, Any], name: str) -> str:
    """A required non-empty string field of a /_sim/ control body (else 400)."""
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _bad_request(f"{name} is required (a non-empty string)")
    return value.strip()


def _sim_amount(data: dict[str, Any]) -> str:
    """The ``amount`` of a /_sim/ control body: a decimal in major units, as a string."""
    value = data.get("amount")
    if value is None:
        raise _bad_request('amount is required (a decimal in major units, e.g. "1000")')
    if _decimal(value) is None:
        raise _bad_request(f"amount must be a decimal in major units, not {value!r}")
    return str(value).strip()


def _sim_known(sim: MomoSimulator, reference_id: str) -> None:
    try:
        sim.transaction(reference_id)
    except KeyError:
        raise _bad_request(f"no transaction with referenceId {reference_id}") from None


def _parse_dt(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lightway.integration.momo.simulator",
        description="A local MTN MoMo Open API (collection, disbursement, remittance, "
        "sandbox provisioning) with callbacks and fault knobs (see docs/momo.md).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=port_arg, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    sim = MomoSimulator(host=args.host, port=args.port)
    return sim_http.simulator_main(
        sim,
        name="momo simulator",
        address=f"{args.host}:{args.port}",
        ready=lambda: f"MoMo simulator on {sim.base_url}",
    )


if __name__ == "__main__":
    raise SystemExit(main())
