"""A local Sumsub: the same endpoints, signatures, error bodies and webhooks.

Implements the simulator blueprint of the reference note (§8): app-token signature checks
(±60 s, 401/4003), applicants in memory with the duplicate-``externalUserId`` 409, a levels
registry, the review state machine, ``status/pending``, the sandbox's ``status/testCompleted``,
reset, SDK access tokens (``_act-<uuid>``), a 429 rate limiter and a webhook emitter that
signs each delivery with ``X-Payload-Digest`` / ``X-Payload-Digest-Alg`` and retries on
failure. Fault knobs (duplicate, reorder, delay, drop deliveries; 5xx; slow answers; clock
skew) are switched with ``POST /_sim/config``.

The review runs like Sumsub's: ``init`` → ``pending`` (``applicantPending``) →
``prechecked`` (``applicantPrechecked``) → optionally ``onHold`` (``applicantOnHold``) →
``completed`` (``applicantReviewed``; on a *workflow level* then
``applicantWorkflowCompleted``). Moving an applicant to another level (``moveToLevel``, or
``POST /_sim/applicants/{id}/level`` in the sandbox) fires ``applicantLevelChanged``.
Webhooks say ``sandboxMode: true`` only for applicants made with a sandbox (``sbx:``) token.

Sandbox has no automatic decisions, so the simulator serves a *simulated WebSDK page*:
``GET /websdk/?token=_act-...`` lets the applicant "upload" an ID document and then choose the
sandbox decision (Approve / Reject-retry / Reject-final, or Precheck only / Put on hold),
which has ``testCompleted`` semantics. ``POST /_sim/applicants/{id}/precheck``, ``.../hold``
and ``.../level`` drive the same transitions without the page.

Webhook payloads carry ids and statuses only, never personal data (as Sumsub's).

Run it: ``python -m lightway.integration.sumsub.simulator --port 8092 --webhook-url
http://127.0.0.1:8000/webhooks/sumsub`` (see ``docs/kyc.md``).
"""

from __future__ import annotations

import argparse
import heapq
import html
import json
import logging
import math
import re
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs, quote, unquote

import httpx

from lightway.infrastructure.cli_args import port_arg
from lightway.integration import simulator_http as sim_http
from lightway.integration.sumsub.signing import (
    DIGEST_ALGORITHMS,
    payload_digest,
    request_signature_valid,
)

logger = logging.getLogger(__name__)

# Demo credentials: the defaults of SUMSUB_* in settings.py match these, so `lightway up`
# works without configuration. Never valid against the real Sumsub.
DEFAULT_APP_TOKEN = "sbx:lightway-demo-app-token"
DEFAULT_SECRET_KEY = "lightway-demo-sumsub-secret-key"
DEFAULT_WEBHOOK_SECRET = "lightway-demo-sumsub-webhook-secret"
DEFAULT_LEVEL = "basic-kyc-level"
DEFAULT_PORT = 8092
CLOCK_TOLERANCE_SECONDS = 60
MAX_BODY_BYTES = 10 * 1024 * 1024
CLIENT_ID = "lightway-sim"
BUSY_STATES = frozenset({"pending", "queued", "prechecked", "onHold"})
SANDBOX_PREFIX = "sbx:"
REVIEW_RESULT_EVENTS = frozenset({"applicantReviewed", "applicantWorkflowCompleted"})
ID_DOC_TYPES = ("ID_CARD", "PASSPORT", "DRIVERS", "RESIDENCE_PERMIT")
COUNTRIES = ("UGA", "GHA", "RWA", "ZMB", "CIV", "CMR")

# The simulated WebSDK's sandbox decisions: (answer, reject type, labels, moderation comment)
DECISIONS: dict[str, tuple[str, str | None, list[str], str | None]] = {
    "GREEN": ("GREEN", None, [], None),
    "RETRY": (
        "RED",
        "RETRY",
        ["UNSATISFACTORY_PHOTOS"],
        "The photo of your document is not readable. Please take a new photo and try again.",
    ),
    "FINAL": ("RED", "FINAL", ["FORGERY"], "We could not verify your identity."),
}


@dataclass
class SimConfig:
    """Fault knobs and limits; change them with ``POST /_sim/config`` or :meth:`configure`."""

    webhook_alg: str = "HMAC_SHA256_HEX"
    webhook_duplicate: bool = False  # deliver every event twice
    webhook_reorder: bool = False  # hold an event back and deliver it after the next one
    webhook_reorder_hold_seconds: float = 2.0  # ... or after this long if no next one comes
    webhook_delay_seconds: float = 0.0  # before the first attempt
    webhook_drop_first: int = 0  # the next N attempts are "lost" (never reach the receiver)
    # Sumsub retries after 5 min, 1 h, 5 h, 18 h; compressed here.
    webhook_retry_schedule: list[float] = field(default_factory=lambda: [0.5, 2.0, 5.0, 10.0])
    webhook_timeout_seconds: float = 10.0
    rate_limit_get: int = 300  # per window and app token
    rate_limit_post: int = 50
    rate_limit_window_seconds: float = 5.0
    fail_next: int = 0  # the next N API calls answer 500
    slow_ms: int = 0  # delay every API answer
    clock_offset_seconds: float = 0.0  # the simulator's clock skew
    auto_review: str | None = None  # GREEN | RETRY | FINAL: decide at once on submission

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name: f for f in fields(self)}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"unknown knob {key!r}; known: {', '.join(sorted(known))}")
            if key == "webhook_alg" and value not in DIGEST_ALGORITHMS:
                raise ValueError(f"webhook_alg must be one of {', '.join(DIGEST_ALGORITHMS)}")
            if key == "auto_review" and value not in (None, *DECISIONS):
                raise ValueError("auto_review must be null, GREEN, RETRY or FINAL")
            current = getattr(self, key)
            if isinstance(current, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be true or false")
            elif isinstance(current, int | float) and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise ValueError(f"{key} must be a number")
            elif key == "webhook_retry_schedule" and (
                not isinstance(value, list) or not all(isinstance(v, int | float) for v in value)
            ):
                raise ValueError("webhook_retry_schedule must be a list of seconds")
            setattr(self, key, value)


@dataclass
class SimApplicant:
    id: str
    external_user_id: str
    level_name: str
    created_at: datetime
    email: str | None = None
    phone: str | None = None
    lang: str | None = None
    fixed_info: dict[str, Any] = field(default_factory=dict)
    id_docs: list[dict[str, Any]] = field(default_factory=list)
    review_status: str = "init"
    review_result: dict[str, Any] | None = None
    review_id: str = field(default_factory=lambda: secrets.token_hex(3))
    attempt_id: str = field(default_factory=lambda: secrets.token_hex(3))
    attempt_cnt: int = 0
    create_date: datetime | None = None
    review_date: datetime | None = None
    sandbox: bool = True  # made with a sandbox (``sbx:``) app token: webhooks say sandboxMode
    previous_level_name: str | None = None  # the level before the last moveToLevel

    def review_json(self) -> dict[str, Any]:
        review: dict[str, Any] = {
            "reviewId": self.review_id,
            "attemptId": self.attempt_id,
            "attemptCnt": self.attempt_cnt,
            "levelName": self.level_name,
            "createDate": _ts_zone(self.create_date or self.created_at),
            "reviewStatus": self.review_status,
            "priority": 0,
            "reprocessing": False,
        }
        if self.review_date is not None:
            review["reviewDate"] = _ts_zone(self.review_date)
        if self.review_result is not None:
            review["reviewResult"] = dict(self.review_result)
        return review

    def json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "createdAt": self.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            "key": "SIMKEY",
            "clientId": CLIENT_ID,
            "inspectionId": self.id,
            "externalUserId": self.external_user_id,
            "type": "individual",
            "fixedInfo": dict(self.fixed_info),
            "info": {"idDocs": [dict(d) for d in self.id_docs]},
            "requiredIdDocs": {
                "docSets": [{"idDocSetType": "IDENTITY", "types": list(ID_DOC_TYPES)}]
            },
            "review": self.review_json(),
            "applicantPlatform": "API",
        }
        for key in ("email", "phone", "lang"):
            if getattr(self, key):
                body[key] = getattr(self, key)
        return body


@dataclass
class SimToken:
    """A WebSDK access token (``_act-...``) or the token behind a WebSDK link."""

    user_id: str
    level_name: str
    expires: float
    sandbox: bool
    identifiers: dict[str, str] = field(default_factory=dict)  # applicantIdentifiers


@dataclass
class Delivery:
    body: bytes
    event_type: str
    applicant_id: str
    created_at_ms: str
    attempt: int = 0


def _ts_zone(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S+0000")


def _correlation_id() -> str:
    return secrets.token_hex(16)


class SimError(sim_http.Refusal):
    """An API error answered with Sumsub's error body (§6)."""

    def __init__(
        self,
        status: int,
        description: str,
        *,
        error_code: int | None = None,
        error_name: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, description, headers=headers)
        self.description = description
        self.error_code = error_code
        self.error_name = error_name

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "description": self.description,
            "code": self.status,
            "correlationId": _correlation_id(),
        }
        if self.error_code is not None:
            body["errorCode"] = self.error_code
        if self.error_name is not None:
            body["errorName"] = self.error_name
        return body


def _signature_error() -> SimError:
    return SimError(
        401,
        "Request signature mismatch",
        error_code=4003,
        error_name="app-token-signature mismatch",
    )


class SumsubSimulator:
    """The simulator: ``SumsubSimulator(webhook_url=...).start()``, then ``.base_url``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        app_token: str = DEFAULT_APP_TOKEN,
        secret_key: str = DEFAULT_SECRET_KEY,
        webhook_url: str | None = None,
        webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
        webhook_alg: str = "HMAC_SHA256_HEX",
        levels: tuple[str, ...] = (DEFAULT_LEVEL,),
        workflow_levels: tuple[str, ...] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self.port = port
        self.secrets: dict[str, str] = {app_token: secret_key}
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.levels: set[str] = set(levels) | set(workflow_levels)
        # Levels run as a workflow: the review is followed by applicantWorkflowCompleted.
        self.workflow_levels: set[str] = set(workflow_levels)
        self.config = SimConfig(webhook_alg=webhook_alg)
        self.config.update({"webhook_alg": webhook_alg})
        self._clock = clock
        self._lock = threading.RLock()
        self.applicants: dict[str, SimApplicant] = {}
        self._by_external: dict[str, str] = {}
        self.tokens: dict[str, SimToken] = {}
        self._rate: dict[tuple[str, str], deque[float]] = {}
        self._last_event_ms = 0
        self.events: list[dict[str, Any]] = []  # every webhook payload emitted, in order
        self.deliveries: list[dict[str, Any]] = []  # every delivery attempt and its outcome
        self.requests: list[tuple[str, str]] = []  # (method, raw target) of API calls
        self._queue: list[tuple[float, int, Delivery]] = []
        self._queue_seq = 0
        self._held: tuple[Delivery, float] | None = None
        self._wake = threading.Condition(self._lock)
        self._stopping = False
        self._server: sim_http.SimServer | None = None
        self._emit_thread: threading.Thread | None = None
        self._http: httpx.Client | None = None

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return sim_http.http_url(self.host, self.port)

    def start(self) -> SumsubSimulator:
        self._server = sim_http.SimServer(
            self.host, self.port, _Handler, name="sumsub-sim", attrs={"sim": self}
        )
        self.port = self._server.port
        self._http = httpx.Client(timeout=self.config.webhook_timeout_seconds)
        self._stopping = False
        self._server.start()
        self._emit_thread = threading.Thread(
            target=self._deliver_loop, name="sumsub-sim-webhooks", daemon=True
        )
        self._emit_thread.start()
        return self

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._server is not None:
            self._server.stop()  # kept-alive connections too: a stopped Sumsub answers nothing
            self._server = None
        if self._emit_thread is not None:
            self._emit_thread.join(timeout=5)
            self._emit_thread = None
        if self._http is not None:
            self._http.close()

    def __enter__(self) -> SumsubSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def configure(self, **values: Any) -> None:
        with self._lock:
            self.config.update(values)

    def now(self) -> float:
        return self._clock() + self.config.clock_offset_seconds

    def _now_dt(self) -> datetime:
        return datetime.fromtimestamp(self.now(), tz=UTC)

    def wait_deliveries(
        self, count: int, *, timeout: float = 10.0, ok_only: bool = True
    ) -> list[dict[str, Any]]:
        """Block until ``count`` deliveries (successful ones by default) happened."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                done = [d for d in self.deliveries if d["ok"] or not ok_only]
                if len(done) >= count:
                    return done
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(done)} of {count} webhook deliveries after {timeout}s")
            time.sleep(0.02)

    # -- state ---------------------------------------------------------------------------

    def applicant(self, applicant_id: str) -> SimApplicant:
        with self._lock:
            try:
                return self.applicants[applicant_id]
            except KeyError:
                raise SimError(404, "Applicant not found") from None

    def applicant_by_external(self, external_user_id: str) -> SimApplicant | None:
        with self._lock:
            applicant_id = self._by_external.get(external_user_id)
            return self.applicants[applicant_id] if applicant_id else None

    def _level(self, name: str | None) -> str:
        if not name:
            raise SimError(400, "levelName is required")
        if name not in self.levels:
            raise SimError(404, f"Level '{name}' not found")
        return name

    def level_add(self, name: str, *, workflow: bool = False) -> None:
        """Create a level (as in the dashboard); ``workflow``: it ends with a workflow."""
        if not re.fullmatch(r"[A-Za-z0-9 ._@+-]{1,64}", name):
            raise SimError(400, "A level name is 1 to 64 letters, digits or ' ._@+-'")
        with self._lock:
            self.levels.add(name)
            if workflow:
                self.workflow_levels.add(name)
            else:
                self.workflow_levels.discard(name)

    def applicant_create(
        self,
        *,
        external_user_id: str,
        level_name: str,
        body: dict[str, Any] | None = None,
        sandbox: bool = True,
    ) -> SimApplicant:
        body = body or {}
        with self._lock:
            existing = self._by_external.get(external_user_id)
            if existing is not None:
                raise SimError(
                    409,
                    f"Applicant with external user id '{external_user_id}' already exists: "
                    f"{existing}",
                )
            applicant = SimApplicant(
                id=secrets.token_hex(12),
                external_user_id=external_user_id,
                level_name=level_name,
                created_at=self._now_dt(),
                email=body.get("email"),
                phone=body.get("phone"),
                lang=body.get("lang"),
                fixed_info=dict(body.get("fixedInfo") or {}),
                sandbox=sandbox,
            )
            self.applicants[applicant.id] = applicant
            self._by_external[external_user_id] = applicant.id
            self._emit("applicantCreated", applicant)
            return applicant

    def doc_add(self, applicant: SimApplicant, metadata: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if applicant.review_status in BUSY_STATES:
                raise SimError(
                    409,
                    "Uploading documents is not allowed while the applicant is being checked",
                    error_code=1006,
                    error_name="no-upload-verification-in-progress",
                )
            if applicant.review_result and applicant.review_result.get("reviewRejectType") == (
                "FINAL"
            ):
                raise SimError(409, "Applicant is finally rejected")
            doc_type = metadata.get("idDocType")
            country = metadata.get("country")
            if not doc_type or not country:
                raise SimError(400, "idDocType and country are required")
            doc = {k: v for k, v in metadata.items() if isinstance(v, str | int)}
            doc["imageId"] = str(secrets.randbelow(10**9))
            applicant.id_docs = [
                d
                for d in applicant.id_docs
                if (d.get("idDocType"), d.get("country")) != (doc_type, country)
            ] + [doc]
            return doc

    def submit(self, applicant: SimApplicant, *, reason: str | None = None) -> None:
        """``status/pending``: all required data is in, the check starts."""
        with self._lock:
            if applicant.review_status in BUSY_STATES:
                raise SimError(409, f"Applicant is already {applicant.review_status}")
            result = applicant.review_result or {}
            if applicant.review_status == "completed" and result.get("reviewAnswer") == "GREEN":
                raise SimError(409, "Applicant is already approved")
            if result.get("reviewRejectType") == "FINAL":
                raise SimError(409, "Applicant is finally rejected")
            if not applicant.id_docs:
                raise SimError(
                    409,
                    "Not all required documents or data are submitted. Make sure to complete "
                    "[IDENTITY] verification steps beforehand.",
                )
            applicant.review_status = "pending"
            applicant.review_result = None
            applicant.review_date = None
            applicant.attempt_cnt += 1
            applicant.attempt_id = secrets.token_hex(3)
            applicant.create_date = self._now_dt()
            self._emit("applicantPending", applicant)
            if self.config.auto_review:
                self.decide(applicant, self.config.auto_review)

    def precheck(self, applicant: SimApplicant) -> None:
        """``pending`` → ``prechecked``: the automatic checks are done (``applicantPrechecked``)."""
        with self._lock:
            if applicant.review_status != "pending":
                raise SimError(
                    409,
                    f"Only a pending applicant can be prechecked; it is {applicant.review_status}",
                )
            applicant.review_status = "prechecked"
            self._emit("applicantPrechecked", applicant)

    def hold(self, applicant: SimApplicant) -> None:
        """Put the check on hold for a compliance officer (``onHold``, ``applicantOnHold``)."""
        with self._lock:
            if applicant.review_status == "pending":
                self.precheck(applicant)
            if applicant.review_status not in ("prechecked", "queued"):
                raise SimError(
                    409,
                    "Only an applicant being checked can be put on hold; it is "
                    f"{applicant.review_status}",
                )
            applicant.review_status = "onHold"
            self._emit("applicantOnHold", applicant)

    def move_to_level(self, applicant: SimApplicant, level_name: str | None) -> bool:
        """``moveToLevel``: the applicant now needs the other level's steps (``init``), and
        an answer given on the old level no longer holds. Fires ``applicantLevelChanged``;
        answers False (no event) when the applicant is on that level already."""
        with self._lock:
            level = self._level(level_name)
            if applicant.review_status in ("pending", "prechecked", "queued"):
                raise SimError(
                    409, f"Cannot change the level while the applicant is {applicant.review_status}"
                )
            if level == applicant.level_name:
                return False
            applicant.previous_level_name = applicant.level_name
            applicant.level_name = level
            applicant.review_status = "init"
            applicant.review_result = None
            applicant.review_date = None
            applicant.review_id = secrets.token_hex(3)
            self._emit("applicantLevelChanged", applicant)
            return True

    def review_complete(
        self,
        applicant: SimApplicant,
        *,
        answer: str,
        labels: list[str],
        reject_type: str | None,
        moderation_comment: str | None = None,
        client_comment: str | None = None,
    ) -> None:
        with self._lock:
            if applicant.review_status == "pending":
                self.precheck(applicant)  # as at Sumsub: never pending straight to completed
            result: dict[str, Any] = {"reviewAnswer": answer}
            if answer == "RED":
                result["rejectLabels"] = list(labels)
                if reject_type:
                    result["reviewRejectType"] = reject_type
                if moderation_comment:
                    result["moderationComment"] = moderation_comment
                if client_comment:
                    result["clientComment"] = client_comment
                result["buttonIds"] = []
            applicant.review_status = "completed"
            applicant.review_result = result
            applicant.review_date = self._now_dt()
            self._emit("applicantReviewed", applicant)
            if applicant.level_name in self.workflow_levels:
                self._emit("applicantWorkflowCompleted", applicant)

    def decide(self, applicant: SimApplicant, decision: str) -> None:
        answer, reject_type, labels, comment = DECISIONS[decision]
        client_comment = "Simulated decision in the sandbox" if answer == "RED" else None
        self.review_complete(
            applicant,
            answer=answer,
            labels=labels,
            reject_type=reject_type,
            moderation_comment=comment,
            client_comment=client_comment,
        )

    def reset(self, applicant: SimApplicant) -> None:
        with self._lock:
            if applicant.review_status in BUSY_STATES:
                raise SimError(409, f"Cannot reset an applicant that is {applicant.review_status}")
            applicant.review_status = "init"
            applicant.review_result = None
            applicant.review_date = None
            applicant.id_docs = []
            applicant.review_id = secrets.token_hex(3)
            self._emit("applicantReset", applicant)

    def token_issue(
        self,
        *,
        user_id: str,
        level_name: str,
        ttl: int,
        sandbox: bool = True,
        identifiers: dict[str, str] | None = None,
    ) -> str:
        token = f"_act-{uuid.uuid4()}"
        with self._lock:
            self.tokens[token] = SimToken(
                user_id, level_name, self.now() + ttl, sandbox, dict(identifiers or {})
            )
        return token

    def token_applicant(self, token: str) -> SimApplicant:
        """The applicant of a WebSDK token; the SDK creates it when none exists yet."""
        with self._lock:
            entry = self.tokens.get(token)
            if entry is None or entry.expires < self.now():
                raise SimError(401, "Access token is expired or unknown")
            applicant = self.applicant_by_external(entry.user_id)
            if applicant is None:
                applicant = self.applicant_create(
                    external_user_id=entry.user_id,
                    level_name=entry.level_name,
                    body=entry.identifiers,
                    sandbox=entry.sandbox,
                )
            return applicant

    # -- webhooks ------------------------------------------------------------------------

    def _event_ms(self) -> int:
        ms = int(self.now() * 1000)
        self._last_event_ms = max(ms, self._last_event_ms + 1)
        return self._last_event_ms

    def _emit(self, event_type: str, applicant: SimApplicant) -> None:
        """Record one event and queue its delivery (caller holds the lock)."""
        moment = datetime.fromtimestamp(self._event_ms() / 1000, tz=UTC)
        payload: dict[str, Any] = {
            "applicantId": applicant.id,
            "inspectionId": applicant.id,
            "applicantType": "individual",
            "correlationId": f"req-{uuid.uuid4()}",
            "levelName": applicant.level_name,
            "sandboxMode": applicant.sandbox,
            "externalUserId": applicant.external_user_id,
            "type": event_type,
            "reviewStatus": applicant.review_status,
            "createdAt": _ts_zone(moment),
            "createdAtMs": moment.strftime("%Y-%m-%d %H:%M:%S.")
            + f"{moment.microsecond // 1000:03d}",
            "clientId": CLIENT_ID,
        }
        if event_type in REVIEW_RESULT_EVENTS and applicant.review_result is not None:
            payload["reviewResult"] = dict(applicant.review_result)
        if event_type == "applicantLevelChanged" and applicant.previous_level_name:
            payload["previousLevelName"] = applicant.previous_level_name
        self.events.append(payload)
        if not self.webhook_url:
            return
        delivery = Delivery(
            body=json.dumps(payload, separators=(",", ":")).encode(),
            event_type=event_type,
            applicant_id=applicant.id,
            created_at_ms=payload["createdAtMs"],
        )
        due = time.monotonic() + self.config.webhook_delay_seconds
        if self.config.webhook_reorder:
            if self._held is None:
                self._held = (delivery, time.monotonic())
                self._wake.notify_all()
                return
            held, _since = self._held
            self._held = None
            self._enqueue(delivery, due)
            self._enqueue(held, due + 0.3)  # the older event arrives after the newer one
        else:
            self._enqueue(delivery, due)

    def _enqueue(self, delivery: Delivery, due: float) -> None:
        """Schedule a new delivery (twice with the duplicate knob; caller holds the lock)."""
        self._schedule(delivery, due)
        if self.config.webhook_duplicate:
            twin = Delivery(
                delivery.body, delivery.event_type, delivery.applicant_id, delivery.created_at_ms
            )
            self._schedule(twin, due + 0.15)

    def _schedule(self, delivery: Delivery, due: float) -> None:
        self._queue_seq += 1
        heapq.heappush(self._queue, (due, self._queue_seq, delivery))
        self._wake.notify_all()

    def _deliver_loop(self) -> None:
        while True:
            with self._wake:
                while True:
                    if self._stopping:
                        return
                    now = time.monotonic()
                    if self._held is not None:
                        held, since = self._held
                        if now - since >= self.config.webhook_reorder_hold_seconds:
                            self._held = None
                            self._enqueue(held, now)
                    if self._queue and self._queue[0][0] <= now:
                        _due, _seq, delivery = heapq.heappop(self._queue)
                        break
                    waits = [0.5]
                    if self._queue:
                        waits.append(self._queue[0][0] - now)
                    if self._held is not None:
                        waits.append(self._held[1] + self.config.webhook_reorder_hold_seconds - now)
                    self._wake.wait(timeout=max(0.01, min(waits)))
                drop = self.config.webhook_drop_first > 0
                if drop:
                    self.config.webhook_drop_first -= 1
                alg = self.config.webhook_alg
                schedule = list(self.config.webhook_retry_schedule)
            self._attempt(delivery, alg=alg, drop=drop, schedule=schedule)

    def _attempt(self, delivery: Delivery, *, alg: str, drop: bool, schedule: list[float]) -> None:
        delivery.attempt += 1
        status: int | str
        if drop:
            status, ok = "dropped", False
        else:
            headers = {
                "Content-Type": "application/json",
                "X-Payload-Digest": payload_digest(
                    secret=self.webhook_secret, body=delivery.body, alg=alg
                ),
                "X-Payload-Digest-Alg": alg,
                "User-Agent": "lightway-sumsub-simulator",
            }
            try:
                assert self._http is not None and self.webhook_url
                response = self._http.post(self.webhook_url, content=delivery.body, headers=headers)
                status, ok = response.status_code, 200 <= response.status_code < 300
            except httpx.HTTPError as exc:
                status, ok = type(exc).__name__, False
        with self._wake:
            self.deliveries.append(
                {
                    "type": delivery.event_type,
                    "applicantId": delivery.applicant_id,
                    "createdAtMs": delivery.created_at_ms,
                    "attempt": delivery.attempt,
                    "status": status,
                    "ok": ok,
                }
            )
            if not ok and delivery.attempt <= len(schedule):
                self._schedule(delivery, time.monotonic() + schedule[delivery.attempt - 1])
        if not ok:
            logger.info(
                "sumsub simulator webhook failed",
                extra={"type": delivery.event_type, "attempt": delivery.attempt, "status": status},
            )

    # -- API -------------------------------------------------------------------------------

    def authenticate(self, method: str, target: str, headers: Any, body: bytes) -> str:
        token = headers.get("X-App-Token")
        ts = headers.get("X-App-Access-Ts")
        signature = headers.get("X-App-Access-Sig")
        if not token or not ts or not signature:
            raise SimError(401, "Missing app token authentication headers")
        secret = self.secrets.get(token)
        if secret is None:
            raise SimError(401, "App token is unknown")
        if not ts.isdigit() or abs(self.now() - int(ts)) > CLOCK_TOLERANCE_SECONDS:
            raise _signature_error()
        if not request_signature_valid(
            secret_key=secret,
            ts=ts,
            method=method,
            path_with_query=target.encode("latin-1"),
            body=body,
            signature=signature,
        ):
            raise _signature_error()
        return str(token)

    def rate_check(self, token: str, method: str) -> None:
        kind = "GET" if method == "GET" else "POST"
        limit = self.config.rate_limit_get if kind == "GET" else self.config.rate_limit_post
        window = self.config.rate_limit_window_seconds
        now = time.monotonic()
        with self._lock:
            stamps = self._rate.setdefault((token, kind), deque())
            while stamps and now - stamps[0] >= window:
                stamps.popleft()
            if len(stamps) >= limit:
                retry_after = max(1, math.ceil(window - (now - stamps[0])))
                raise SimError(
                    429,
                    "Too many requests, slow down",
                    headers={"Retry-After": str(retry_after)},
                )
            stamps.append(now)

    def api(
        self, method: str, target: str, headers: Any, body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        """Answer one ``/resources/...`` call: (status, JSON body, extra headers)."""
        token = self.authenticate(method, target, headers, body)
        self.rate_check(token, method)
        with self._lock:
            self.requests.append((method, target))
            fail = self.config.fail_next > 0
            if fail:
                self.config.fail_next -= 1
            slow = self.config.slow_ms
        if slow:
            time.sleep(slow / 1000)
        if fail:
            raise SimError(500, "Internal server error (simulated)")
        path, _, query = target.partition("?")
        params = sim_http.query_params(query, keep_blank=True)
        for pattern, handlers in _ROUTES:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            handler = handlers.get(method)
            if handler is None:
                raise SimError(405, f"Method {method} is not allowed here")
            return handler(self, match, params, headers, body, token)
        raise SimError(404, "Not found")


def _h_create(
    sim: SumsubSimulator,
    m: re.Match[str],
    params: dict[str, str],
    headers: Any,
    body: bytes,
    token: str,
) -> tuple[int, Any, dict[str, str]]:
    level = sim._level(params.get("levelName"))
    if "json" not in (headers.get("Content-Type") or ""):
        raise SimError(415, "Content-Type must be application/json")
    data = sim_http.json_object(body)
    external = data.get("externalUserId") or f"sim-{uuid.uuid4()}"
    if not isinstance(external, str):
        raise SimError(400, "externalUserId must be a string")
    if data.get("type", "individual") != "individual":
        raise SimError(400, "Level is for individual applicants")
    applicant = sim.applicant_create(
        external_user_id=external,
        level_name=level,
        body=data,
        sandbox=token.startswith(SANDBOX_PREFIX),
    )
    return 200, applicant.json(), {}


def _h_one(sim: SumsubSimulator, m: re.Match[str], *_: Any) -> tuple[int, Any, dict[str, str]]:
    return 200, sim.applicant(m.group(1)).json(), {}


def _h_one_external(
    sim: SumsubSimulator, m: re.Match[str], *_: Any
) -> tuple[int, Any, dict[str, str]]:
    applicant = sim.applicant_by_external(unquote(m.group(1)))
    if applicant is None:
        raise SimError(404, "Applicant not found")
    return 200, applicant.json(), {}


def _h_exists(sim: SumsubSimulator, m: re.Match[str], *_: Any) -> tuple[int, Any, dict[str, str]]:
    applicant = sim.applicant_by_external(unquote(m.group(1)))
    if applicant is None:
        return 200, {"exists": False}, {}
    return 200, {"exists": True, "applicant": applicant.json()}, {}


def _h_status(sim: SumsubSimulator, m: re.Match[str], *_: Any) -> tuple[int, Any, dict[str, str]]:
    applicant = sim.applicant(m.group(1))
    with sim._lock:
        review = applicant.review_json()
        review["elapsedSincePendingMs"] = 0
        review["elapsedSinceQueuedMs"] = 0
    return 200, review, {}


def _h_docs_status(
    sim: SumsubSimulator, m: re.Match[str], *_: Any
) -> tuple[int, Any, dict[str, str]]:
    applicant = sim.applicant(m.group(1))
    with sim._lock:
        if not applicant.id_docs:
            return 200, {"IDENTITY": None}, {}
        doc = applicant.id_docs[-1]
        step: dict[str, Any] = {
            "country": doc.get("country"),
            "idDocType": doc.get("idDocType"),
            "imageIds": [doc["imageId"]],
        }
        if applicant.review_status == "completed" and applicant.review_result:
            step["reviewResult"] = dict(applicant.review_result)
    return 200, {"IDENTITY": step}, {}


def _h_id_doc(
    sim: SumsubSimulator,
    m: re.Match[str],
    params: dict[str, str],
    headers: Any,
    body: bytes,
    token: str,
) -> tuple[int, Any, dict[str, str]]:
    applicant = sim.applicant(m.group(1))
    content_type = headers.get("Content-Type") or ""
    if not content_type.startswith("multipart/form-data"):
        raise SimError(415, "Content-Type must be multipart/form-data")
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    metadata: dict[str, Any] | None = None
    content_size = None
    for part in message.iter_parts() if message.is_multipart() else ():
        name = part.get_param("name", header="content-disposition")
        raw = part.get_payload(decode=True)
        payload = raw if isinstance(raw, bytes) else b""
        if name == "metadata":
            metadata = sim_http.json_object(payload)
        elif name == "content":
            content_size = len(payload)
    if metadata is None:
        raise SimError(400, "The metadata part is required")
    if content_size == 0:
        raise SimError(400, "Empty file", error_code=1003, error_name="empty-file")
    doc = sim.doc_add(applicant, metadata)
    echo = {k: v for k, v in doc.items() if k != "imageId"}
    return 200, echo, {"X-Image-Id": doc["imageId"]}


def _h_pending(
    sim: SumsubSimulator, m: re.Match[str], params: dict[str, str], *_: Any
) -> tuple[int, Any, dict[str, str]]:
    sim.submit(sim.applicant(m.group(1)), reason=params.get("reason"))
    return 200, {"ok": 1}, {}


def _h_test_completed(
    sim: SumsubSimulator,
    m: re.Match[str],
    params: dict[str, str],
    headers: Any,
    body: bytes,
    token: str,
) -> tuple[int, Any, dict[str, str]]:
    if not token.startswith("sbx:"):
        raise SimError(403, "testCompleted is available with sandbox app tokens only")
    applicant = sim.applicant(m.group(1))
    data = sim_http.json_object(body)
    answer = data.get("reviewAnswer")
    if answer not in ("GREEN", "RED"):
        raise SimError(400, "reviewAnswer must be GREEN or RED")
    labels = data.get("rejectLabels")
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise SimError(400, "rejectLabels is required (a list, may be empty)")
    reject_type = data.get("reviewRejectType")
    if reject_type not in (None, "RETRY", "FINAL"):
        raise SimError(400, "reviewRejectType must be RETRY or FINAL")
    sim.review_complete(
        applicant,
        answer=answer,
        labels=labels,
        reject_type=reject_type if answer == "RED" else None,
        moderation_comment=data.get("moderationComment"),
        client_comment=data.get("clientComment"),
    )
    return 200, {"ok": 1}, {}


def _h_reset(sim: SumsubSimulator, m: re.Match[str], *_: Any) -> tuple[int, Any, dict[str, str]]:
    sim.reset(sim.applicant(m.group(1)))
    return 200, {"ok": 1}, {}


def _ttl(raw: Any) -> int:
    try:
        ttl = int(raw if raw is not None else 600)
    except (TypeError, ValueError):
        raise SimError(400, "ttlInSecs must be an integer") from None
    if not 1 <= ttl <= 86400:
        raise SimError(400, "ttlInSecs must be between 1 and 86400")
    return ttl


def _h_token_sdk(
    sim: SumsubSimulator,
    m: re.Match[str],
    params: dict[str, str],
    headers: Any,
    body: bytes,
    token: str,
) -> tuple[int, Any, dict[str, str]]:
    data = sim_http.json_object(body)
    user_id = data.get("userId")
    if not isinstance(user_id, str) or not user_id:
        raise SimError(400, "userId is required")
    level = sim._level(data.get("levelName"))
    act = sim.token_issue(
        user_id=user_id,
        level_name=level,
        ttl=_ttl(data.get("ttlInSecs")),
        sandbox=token.startswith(SANDBOX_PREFIX),
        identifiers=_identifiers(data.get("applicantIdentifiers")),
    )
    return 200, {"token": act, "userId": user_id}, {}


def _identifiers(raw: Any) -> dict[str, str]:
    """``applicantIdentifiers``: the email and phone the WebSDK creates the applicant with."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(
        key in ("email", "phone") and isinstance(value, str) for key, value in raw.items()
    ):
        raise SimError(400, "applicantIdentifiers must be an object with email and/or phone")
    return {key: value for key, value in raw.items() if value}


def _h_token_legacy(
    sim: SumsubSimulator,
    m: re.Match[str],
    params: dict[str, str],
    headers: Any,
    body: bytes,
    token: str,
) -> tuple[int, Any, dict[str, str]]:
    user_id = params.get("userId")
    if not user_id:
        raise SimError(400, "userId is required")
    level = sim._level(params.get("levelName"))
    act = sim.token_issue(
        user_id=user_id,
        level_name=level,
        ttl=_ttl(params.get("ttlInSecs")),
        sandbox=token.startswith(SANDBOX_PREFIX),
    )
    return 200, {"token": act, "userId": user_id}, {}


def _h_websdk_link(
    sim: SumsubSimulator,
    m: re.Match[str],
    params: dict[str, str],
    headers: Any,
    body: bytes,
    token: str,
) -> tuple[int, Any, dict[str, str]]:
    """The WebSDK link: today's form ``levels/-/websdkLink`` with a JSON body (``levelName``,
    ``userId`` or ``externalUserId``, ``applicantIdentifiers``, ``ttlInSecs``, ``redirect``),
    and the older one
    with the level in the path and ``externalUserId`` / ``ttlInSecs`` in the query."""
    path_level = unquote(m.group(1))
    identifiers: dict[str, str] = {}
    if path_level == "-":
        if "json" not in (headers.get("Content-Type") or ""):
            raise SimError(415, "Content-Type must be application/json")
        data = sim_http.json_object(body)
        level = sim._level(data.get("levelName"))
        # ``userId`` in Sumsub's documentation; some clients name it ``externalUserId``.
        user_id = data.get("userId") or data.get("externalUserId")
        if not isinstance(user_id, str) or not user_id:
            raise SimError(400, "userId is required")
        if data.get("externalActionId") is not None:
            raise SimError(400, "Applicant actions (externalActionId) are not simulated")
        redirect = data.get("redirect")
        if redirect is not None and not isinstance(redirect, dict):
            raise SimError(400, "redirect must be an object")
        identifiers = _identifiers(data.get("applicantIdentifiers"))
        ttl = _ttl(data.get("ttlInSecs", params.get("ttlInSecs")))
    else:
        level = sim._level(path_level)
        user_id = params.get("externalUserId")
        if not user_id:
            raise SimError(400, "externalUserId is required")
        ttl = _ttl(params.get("ttlInSecs"))
    act = sim.token_issue(
        user_id=user_id,
        level_name=level,
        ttl=ttl,
        sandbox=token.startswith(SANDBOX_PREFIX),
        identifiers=identifiers,
    )
    return 200, {"url": f"{sim.base_url}/websdk/?token={quote(act)}"}, {}


def _h_move_to_level(
    sim: SumsubSimulator, m: re.Match[str], params: dict[str, str], *_: Any
) -> tuple[int, Any, dict[str, str]]:
    applicant = sim.applicant(m.group(1))
    sim.move_to_level(applicant, params.get("name"))
    with sim._lock:
        return 200, applicant.json(), {}


def _h_levels(sim: SumsubSimulator, *_: Any) -> tuple[int, Any, dict[str, str]]:
    items = [{"name": name, "applicantType": "individual"} for name in sorted(sim.levels)]
    return 200, {"items": items, "totalItems": len(items)}, {}


def _h_health(sim: SumsubSimulator, *_: Any) -> tuple[int, Any, dict[str, str]]:
    return 200, {"ok": 1}, {}


_ID = r"([0-9a-f]{24})"
_ROUTES: list[tuple[re.Pattern[str], dict[str, Callable[..., tuple[int, Any, dict[str, str]]]]]] = [
    (re.compile(r"/resources/applicants"), {"POST": _h_create}),
    (re.compile(r"/resources/applicants/-/levels"), {"GET": _h_levels}),
    (re.compile(r"/resources/applicants/-;externalUserId=([^/]+)/one"), {"GET": _h_one_external}),
    (re.compile(r"/resources/applicants/-/byExternalUserId/([^/]+)"), {"GET": _h_exists}),
    (re.compile(rf"/resources/applicants/{_ID}/one"), {"GET": _h_one}),
    (re.compile(rf"/resources/applicants/{_ID}/status"), {"GET": _h_status}),
    (re.compile(rf"/resources/applicants/{_ID}/requiredIdDocsStatus"), {"GET": _h_docs_status}),
    (re.compile(rf"/resources/applicants/{_ID}/info/idDoc"), {"POST": _h_id_doc}),
    (re.compile(rf"/resources/applicants/{_ID}/status/pending"), {"POST": _h_pending}),
    (re.compile(rf"/resources/applicants/{_ID}/status/testCompleted"), {"POST": _h_test_completed}),
    (re.compile(rf"/resources/applicants/{_ID}/reset"), {"POST": _h_reset}),
    (re.compile(rf"/resources/applicants/{_ID}/moveToLevel"), {"POST": _h_move_to_level}),
    (re.compile(r"/resources/accessTokens/sdk"), {"POST": _h_token_sdk}),
    (re.compile(r"/resources/accessTokens"), {"POST": _h_token_legacy}),
    (
        re.compile(r"/resources/sdkIntegrations/levels/([^/]+)/websdkLink"),
        {"POST": _h_websdk_link},
    ),
    (re.compile(r"/resources/status/api"), {"GET": _h_health}),
]


# -- the simulated WebSDK page ----------------------------------------------------------------

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Identity verification (simulated)</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font-family:system-ui,sans-serif;margin:1.5rem;max-width:34rem;color:#1b1f24}}
.note{{background:#fff6d6;border:1px solid #e8d48a;padding:.5rem .75rem;border-radius:6px}}
.comment{{background:#fdecec;border:1px solid #e6a4a4;padding:.5rem .75rem;border-radius:6px}}
label{{display:block;margin:.6rem 0 .2rem}} select,input{{padding:.35rem;width:100%}}
button{{margin:.6rem .4rem 0 0;padding:.5rem .9rem;border-radius:6px;border:1px solid #555}}
</style></head><body>
<p class="note">Simulated Sumsub WebSDK &mdash; sandbox. No real document is checked.</p>
<h1>Identity verification</h1>
<p id="status">Status: <strong>{status}</strong></p>
{content}
</body></html>"""


def _websdk_html(token: str, applicant: SimApplicant, message: str = "") -> str:
    esc = html.escape
    result = applicant.review_result or {}
    answer = result.get("reviewAnswer")
    reject_type = result.get("reviewRejectType")
    parts: list[str] = []
    if message:
        parts.append(f'<p class="comment" role="alert">{esc(message)}</p>')
    status = applicant.review_status
    hidden = f'<input type="hidden" name="token" value="{esc(token)}">'
    if status == "completed" and answer == "GREEN":
        label = "approved"
        parts.append("<p>Your identity has been verified. You can close this page.</p>")
    elif status == "completed" and reject_type == "FINAL":
        label = "rejected"
        parts.append("<p>Your identity could not be verified.</p>")
    elif status in BUSY_STATES:
        label = (
            "on hold for a compliance officer"
            if status == "onHold"
            else ("submitted, waiting for review")
        )
        parts.append(
            "<p>Your document was submitted. The sandbox makes no automatic decision: choose"
            " one.</p>"
        )
        choices = [("GREEN", "Approve"), ("RETRY", "Reject (retry)"), ("FINAL", "Reject (final)")]
        if status == "pending":
            choices.append(("PRECHECK", "Precheck only"))
        if status in ("pending", "prechecked", "queued"):
            choices.append(("HOLD", "Put on hold"))
        for decision, text in choices:
            parts.append(
                f'<form method="post" action="/websdk/decide" style="display:inline">{hidden}'
                f'<input type="hidden" name="decision" value="{decision}">'
                f'<button type="submit">{text}</button></form>'
            )
    else:
        label = "documents requested"
        if status == "completed" and reject_type == "RETRY":
            label = "resubmission requested"
            comment = result.get("moderationComment") or "Please submit your document again."
            parts.append(f'<p class="comment" id="moderation-comment">{esc(comment)}</p>')
        doc_options = "".join(
            f'<option value="{t}">{t.replace("_", " ").title()}</option>' for t in ID_DOC_TYPES
        )
        country_options = "".join(f'<option value="{c}">{c}</option>' for c in COUNTRIES)
        parts.append(
            f'<form method="post" action="/websdk/submit">{hidden}'
            f'<label for="idDocType">Document type</label>'
            f'<select id="idDocType" name="idDocType">{doc_options}</select>'
            f'<label for="country">Issuing country</label>'
            f'<select id="country" name="country">{country_options}</select>'
            f'<label for="number">Document number</label>'
            f'<input id="number" name="number" required maxlength="40" autocomplete="off">'
            f'<button type="submit">Submit document</button></form>'
        )
    return _PAGE.format(status=esc(label), content="\n".join(parts))


class _Handler(sim_http.SimHandler):
    sim: SumsubSimulator
    server_version = "SumsubSimulator/1"
    max_body_bytes = MAX_BODY_BYTES
    request_log = logger

    def route(self, method: str, target: str, body: bytes) -> None:
        if target.startswith("/resources/"):
            status, data, headers = self.sim.api(method, target, self.headers, body)
            self.send_json(status, data, headers)
        elif target.startswith("/websdk/"):
            self._websdk(method, target, body)
        elif target.startswith("/_sim/"):
            self._sim_control(method, target, body)
        else:
            raise SimError(404, "Not found")

    def refusal(self, status: int, message: str) -> SimError:
        return SimError(status, message)

    def refusal_send(self, target: str, refusal: sim_http.Refusal) -> None:
        if target.startswith("/websdk/") and isinstance(refusal, SimError):
            page = _PAGE.format(status="error", content=html.escape(refusal.description))
            self.send_html(refusal.status, page)
        else:
            super().refusal_send(target, refusal)

    def internal_error(self) -> SimError:
        return SimError(500, "Internal server error")

    def _websdk(self, method: str, target: str, body: bytes) -> None:
        path, _, query = target.partition("?")
        if path == "/websdk/" and method in ("GET", "HEAD"):
            token = parse_qs(query).get("token", [""])[-1]
            applicant = self.sim.token_applicant(token)
            with self.sim._lock:
                page = _websdk_html(token, applicant)
            self.send_html(200, page)
            return
        if method != "POST" or path not in ("/websdk/submit", "/websdk/decide"):
            raise SimError(404, "Not found")
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        token = form.get("token", "")
        applicant = self.sim.token_applicant(token)
        if path == "/websdk/submit":
            number = form.get("number", "").strip()
            doc_type = form.get("idDocType", "")
            country = form.get("country", "")
            if not number or doc_type not in ID_DOC_TYPES or country not in COUNTRIES:
                with self.sim._lock:
                    page = _websdk_html(
                        token,
                        applicant,
                        "Choose a document type and country and enter the document number.",
                    )
                self.send_html(400, page)
                return
            self.sim.doc_add(
                applicant, {"idDocType": doc_type, "country": country, "number": number}
            )
            self.sim.submit(applicant)
        else:
            decision = form.get("decision", "")
            if decision not in (*DECISIONS, "PRECHECK", "HOLD"):
                raise SimError(400, "Unknown decision")
            if applicant.review_status not in BUSY_STATES:
                raise SimError(409, "Submit a document before choosing a decision")
            if decision == "PRECHECK":
                self.sim.precheck(applicant)
            elif decision == "HOLD":
                self.sim.hold(applicant)
            else:
                self.sim.decide(applicant, decision)
        self.send_body(303, b"", "text/plain", {"Location": f"/websdk/?token={quote(token)}"})

    def _sim_control(self, method: str, target: str, body: bytes) -> None:
        path = target.partition("?")[0]
        if path == "/_sim/config" and method == "GET":
            self.send_json(200, asdict(self.sim.config))
        elif path == "/_sim/config" and method == "POST":
            try:
                self.sim.configure(**sim_http.json_object(body))
            except ValueError as exc:
                raise SimError(400, str(exc)) from None
            self.send_json(200, asdict(self.sim.config))
        elif path == "/_sim/deliveries" and method == "GET":
            with self.sim._lock:
                self.send_json(200, {"events": self.sim.events, "deliveries": self.sim.deliveries})
        elif path == "/_sim/levels" and method == "POST":
            data = sim_http.json_object(body)
            workflow = data.get("workflow", False)
            if not isinstance(workflow, bool):
                raise SimError(400, "workflow must be true or false")
            name = data.get("name")
            if not isinstance(name, str):
                raise SimError(400, "name is required")
            self.sim.level_add(name, workflow=workflow)
            with self.sim._lock:
                self.send_json(
                    200,
                    {
                        "levels": sorted(self.sim.levels),
                        "workflowLevels": sorted(self.sim.workflow_levels),
                    },
                )
        elif (found := _SIM_APPLICANT.fullmatch(path)) is not None and method == "POST":
            applicant = self.sim.applicant(found.group(1))
            action = found.group(2)
            if action == "precheck":
                self.sim.precheck(applicant)
            elif action == "hold":
                self.sim.hold(applicant)
            else:
                level = sim_http.json_object(body).get("levelName")
                if not isinstance(level, str):
                    raise SimError(400, "levelName is required")
                self.sim.move_to_level(applicant, level)
            with self.sim._lock:
                self.send_json(200, applicant.review_json())
        else:
            raise SimError(404, "Not found")


_SIM_APPLICANT = re.compile(rf"/_sim/applicants/{_ID}/(precheck|hold|level)")


def main(argv: list[str] | None = None) -> int:
    from lightway.infrastructure.config import Env

    parser = argparse.ArgumentParser(
        prog="python -m lightway.integration.sumsub.simulator",
        description="A local Sumsub API with WebSDK page and webhooks (see docs/kyc.md).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=port_arg, default=DEFAULT_PORT)
    parser.add_argument("--app-token", default=Env.str("SUMSUB_APP_TOKEN", DEFAULT_APP_TOKEN))
    parser.add_argument("--secret-key", default=Env.str("SUMSUB_SECRET_KEY", DEFAULT_SECRET_KEY))
    parser.add_argument("--webhook-url", default=None, help="where to POST webhooks")
    parser.add_argument(
        "--webhook-secret", default=Env.str("SUMSUB_WEBHOOK_SECRET", DEFAULT_WEBHOOK_SECRET)
    )
    parser.add_argument(
        "--webhook-alg", default="HMAC_SHA256_HEX", choices=sorted(DIGEST_ALGORITHMS)
    )
    parser.add_argument(
        "--level", action="append", default=None, help=f"a level name (default {DEFAULT_LEVEL})"
    )
    parser.add_argument(
        "--workflow-level",
        action="append",
        default=[],
        help="a level run as a workflow: applicantWorkflowCompleted follows each review",
    )
    args = parser.parse_args(argv)
    levels = tuple(args.level or (Env.str("SUMSUB_LEVEL_NAME", DEFAULT_LEVEL),))
    sim = SumsubSimulator(
        host=args.host,
        port=args.port,
        app_token=args.app_token,
        secret_key=args.secret_key,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        webhook_alg=args.webhook_alg,
        levels=levels,
        workflow_levels=tuple(args.workflow_level),
    )
    return sim_http.simulator_main(
        sim,
        name="sumsub simulator",
        address=f"{args.host}:{args.port}",
        ready=lambda: (
            f"Sumsub simulator on {sim.base_url} (webhooks to {args.webhook_url or 'nowhere'})"
        ),
    )


if __name__ == "__main__":
    raise SystemExit(main())
