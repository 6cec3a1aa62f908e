"""A partner's webhook endpoint, simulated: records what LightWay delivers and checks it.

It plays the receiving side of docs/partner-webhooks.md the way a careful partner would
write it, independently of the platform's signing code:

- ``POST /hooks/<name>`` (any name: one per partner): the delivery. It is recorded with its
  headers, body, the event id, whether it repeats an event already received, and whether
  its signature verifies: some ``v1=`` entry of ``X-LW-Signature`` must equal HMAC-SHA256
  over ``"<X-LW-Timestamp>.<raw body>"`` with a secret registered for the endpoint, and the
  timestamp must be within ``tolerance_seconds`` of this simulator's clock (0: not
  checked). Answers ``200 {"received": true}``; ``401`` when secrets are registered and
  none verifies (``verified: null`` when none is registered: accepted unchecked).
- Fault knobs, ``POST /_sim/faults`` ``{"mode": ..., "slow_seconds": 6, "status": 500}``:
  ``ok``; ``down`` (503 with Retry-After, as a maintenance page); ``refuse`` (the connection
  is dropped without an answer); ``error`` (``status``, 500 by default); ``slow`` (sleeps
  ``slow_seconds``, then 200). A stopped simulator refuses connections for real.
  Deliveries are recorded whatever the mode, with the answer given (``answered``).
- ``POST /_sim/secrets`` ``{"path": "/hooks/acme", "key_id": "whk_...", "secret": "..."}``:
  register a secret for an endpoint (several: a rotation's old and new);
  ``POST /_sim/tolerance`` ``{"seconds": 300}``; ``POST /_sim/reset`` forgets everything
  but the secrets.
- ``GET /_sim/deliveries?path=&event_id=`` → ``{"deliveries": [...]}`` oldest first (the JSON
  inbox); ``GET /inbox`` the same as a page for people trying the demo; ``GET /health``.

Everything lives in memory and is lost on stop. Run it alone with
``python -m lightway.integration.webhooks.simulator --port 8113``.
"""

from __future__ import annotations

import argparse
import builtins
import hashlib
import hmac
import html
import itertools
import json
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from lightway.infrastructure.cli_args import port_arg
from lightway.integration import simulator_http as sim_http

MODES = ("ok", "down", "refuse", "error", "slow")
MAX_DELIVERIES = 5000
MAX_BODY_BYTES = 256 * 1024
HOOKS_PREFIX = "/hooks/"
DEFAULT_TOLERANCE_SECONDS = 300
INBOX_REFRESH_SECONDS = 3


@dataclass
class Received:
    id: int
    path: str
    received_at: str
    event_id: str
    delivery_id: str
    key_ids: list[str]
    timestamp: str
    verified: bool | None  # None: no secret registered for the endpoint
    duplicate: bool  # the event id was received before (at-least-once delivery)
    mode: str
    answered: int | None  # the status answered; None: the connection was dropped
    body: Any
    raw_body: str  # the bytes as received (UTF-8), for checking signatures again
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Faults:
    mode: str = "ok"
    slow_seconds: float = 6.0
    status: int = 500


def signature_valid(
    *,
    secrets: list[str],
    timestamp: str,
    signature_header: str,
    body: bytes,
    now: float,
    tolerance_seconds: float,
) -> bool:
    """The receiver's check (the partner's side of docs/partner-webhooks.md)."""
    if not timestamp.isdigit():
        return False
    if tolerance_seconds and abs(now - int(timestamp)) > tolerance_seconds:
        return False
    offered = [
        part.strip()[3:] for part in signature_header.split(",") if part.strip().startswith("v1=")
    ]
    signed = timestamp.encode() + b"." + body
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return True
    return False


class _Store:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._ids = itertools.count(1)
        self._seen_events: set[tuple[str, str]] = set()
        self.secrets: dict[str, dict[str, str]] = {}  # path -> key_id -> secret
        self.faults = Faults()
        self.tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS

    def record(self, **fields: Any) -> Received:
        with self._lock:
            seen_key = (fields["path"], fields["event_id"])
            duplicate = bool(fields["event_id"]) and seen_key in self._seen_events
            if fields["event_id"] and fields.get("verified") is not False:
                self._seen_events.add(seen_key)
            item = Received(id=next(self._ids), duplicate=duplicate, **fields)
            self._received.append(item)
            del self._received[:-MAX_DELIVERIES]
            return item

    def list(self, *, path: str | None = None, event_id: str | None = None) -> list[Received]:
        with self._lock:
            return [
                r
                for r in self._received
                if (path is None or r.path == path) and (event_id is None or r.event_id == event_id)
            ]

    def secrets_for(self, path: str) -> builtins.list[str]:
        with self._lock:
            return list(self.secrets.get(path, {}).values())

    def secret_add(self, path: str, key_id: str, secret: str) -> None:
        with self._lock:
            self.secrets.setdefault(path, {})[key_id] = secret

    def set_faults(self, **values: Any) -> Faults:
        known = set(asdict(Faults()))
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(sorted(unknown))}")
        profile = Faults(
            mode=str(values.get("mode", "ok")),
            slow_seconds=float(values.get("slow_seconds", 6.0)),
            status=int(values.get("status", 500)),
        )
        if profile.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if not 100 <= profile.status <= 599 or not 0 <= profile.slow_seconds <= 120:
            raise ValueError("status must be 100-599 and slow_seconds 0-120")
        with self._lock:
            self.faults = profile
        return profile

    def reset(self) -> None:
        with self._lock:
            self._received.clear()
            self._seen_events.clear()
            self._ids = itertools.count(1)
            self.faults = Faults()
            self.tolerance_seconds = DEFAULT_TOLERANCE_SECONDS


class _Handler(sim_http.SimHandler):
    server_version = "LightWayWebhookReceiver/1"
    max_body_bytes = MAX_BODY_BYTES
    extra_headers = {"Cache-Control": "no-store"}
    store: _Store

    def route(self, method: str, target: str, body: bytes) -> None:
        url = urlsplit(target)
        if method == "POST" and url.path.startswith(HOOKS_PREFIX):
            self._delivery(url.path, body)
        elif method == "GET" and url.path in ("/", "/inbox"):
            self.send_html(200, inbox_html(self.store.list()))
        elif method == "GET" and url.path == "/_sim/deliveries":
            query = sim_http.query_params(url.query)
            found = self.store.list(path=query.get("path"), event_id=query.get("event_id"))
            self.send_json(200, {"deliveries": [asdict(r) for r in found]})
        elif method == "GET" and url.path == "/_sim/faults":
            self.send_json(200, asdict(self.store.faults))
        elif method == "GET" and url.path == "/health":
            self.send_json(200, {"status": "ok"})
        elif method == "POST" and url.path.startswith("/_sim/"):
            self._control(url.path, sim_http.json_object(body))
        else:
            raise sim_http.Refusal(404, "no such endpoint")

    def _control(self, path: str, data: dict[str, Any]) -> None:
        try:
            if path == "/_sim/faults":
                self.send_json(200, asdict(self.store.set_faults(**data)))
            elif path == "/_sim/secrets":
                hook, key_id, secret = data.get("path"), data.get("key_id"), data.get("secret")
                if not all(isinstance(v, str) and v for v in (hook, key_id, secret)):
                    raise ValueError("path, key_id and secret are required strings")
                assert isinstance(hook, str) and isinstance(key_id, str)
                assert isinstance(secret, str)
                self.store.secret_add(hook, key_id, secret)
                self.send_json(200, {"path": hook, "key_id": key_id})
            elif path == "/_sim/tolerance":
                self.store.tolerance_seconds = float(data.get("seconds", 300))
                self.send_json(200, {"seconds": self.store.tolerance_seconds})
            elif path == "/_sim/reset":
                self.store.reset()
                self.send_json(200, {"status": "reset"})
            else:
                raise sim_http.Refusal(404, "no such endpoint")
        except (TypeError, ValueError) as exc:
            raise sim_http.Refusal(400, str(exc)) from None

    def _delivery(self, path: str, body: bytes) -> None:
        faults = self.store.faults
        secrets = self.store.secrets_for(path)
        timestamp = self.headers.get("X-LW-Timestamp") or ""
        verified: bool | None = None
        if secrets:
            verified = signature_valid(
                secrets=secrets,
                timestamp=timestamp,
                signature_header=self.headers.get("X-LW-Signature") or "",
                body=body,
                now=time.time(),
                tolerance_seconds=self.store.tolerance_seconds,
            )
        try:
            parsed: Any = json.loads(body or b"null")
        except ValueError:
            parsed = body.decode("utf-8", errors="replace")
        answered: int | None
        if faults.mode == "refuse":
            answered = None
        elif faults.mode == "down":
            answered = 503
        elif faults.mode == "error":
            answered = faults.status
        elif verified is False:
            answered = 401
        else:
            answered = 200
        self.store.record(
            path=path,
            received_at=datetime.now(UTC).isoformat(),
            event_id=self.headers.get("X-LW-Event-Id") or "",
            delivery_id=self.headers.get("X-LW-Delivery-Id") or "",
            key_ids=[k for k in (self.headers.get("X-LW-Key-Id") or "").split(",") if k],
            timestamp=timestamp,
            verified=verified,
            mode=faults.mode,
            answered=answered,
            body=parsed,
            raw_body=body.decode("utf-8", errors="replace"),
            headers={k: v for k, v in self.headers.items() if k.lower().startswith("x-lw-")},
        )
        if answered is None:
            self.close_connection = True
            return
        if faults.mode == "slow":
            time.sleep(faults.slow_seconds)
        if answered == 503:
            self.send_json(503, {"error": "down for maintenance"}, {"Retry-After": "60"})
        elif answered == 401:
            self.send_json(401, {"error": "signature does not verify"})
        elif answered >= 300:
            self.send_json(answered, {"error": "simulated failure"})
        else:
            self.send_json(200, {"received": True})


def inbox_html(received: list[Received]) -> str:
    rows = []
    for r in reversed(received):
        badge = {True: "verified", False: "BAD SIGNATURE", None: "not checked"}[r.verified]
        rows.append(
            f"<article><header><code>{html.escape(r.path)}</code> "
            f"event <code>{html.escape(r.event_id)}</code> · signature {badge}"
            f"{' · duplicate' if r.duplicate else ''} · answered {r.answered or 'nothing'}"
            f"<time>{html.escape(r.received_at[:19].replace('T', ' '))} UTC</time></header>"
            f"<pre>{html.escape(json.dumps(r.body, indent=2, default=str))}</pre></article>"
        )
    empty = "<p>No webhook received yet.</p>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{INBOX_REFRESH_SECONDS}">
<title>LightWay webhook receiver simulator</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem auto;max-width:56rem;padding:0 1rem}}
article{{border:1px solid #ccd;border-left:5px solid #2a6df4;border-radius:6px;
margin:.75rem 0;padding:.6rem .9rem}} header{{font-size:.85rem;color:#555}}
time{{float:right}} pre{{white-space:pre-wrap;margin:.4rem 0 0}}
</style></head><body>
<h1>Webhooks received (simulated partner endpoint)</h1>
<p>What LightWay delivered to <code>/hooks/&lt;partner&gt;</code>, newest first. Kept in
memory only; this page refreshes every {INBOX_REFRESH_SECONDS} s.</p>
{"".join(rows) or empty}
</body></html>
"""


class WebhookReceiverSimulator:
    """``WebhookReceiverSimulator(port=0).start()``; partners' URLs are
    ``hook_url("acme-remit")``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.store = _Store()
        self._server: sim_http.SimServer | None = None

    @property
    def base_url(self) -> str:
        return sim_http.http_url(self.host, self.port)

    def hook_path(self, name: str) -> str:
        return f"{HOOKS_PREFIX}{name}"

    def hook_url(self, name: str) -> str:
        return self.base_url + self.hook_path(name)

    def start(self) -> WebhookReceiverSimulator:
        self._server = sim_http.SimServer(
            self.host, self.port, _Handler, name="webhook-receiver-sim", attrs={"store": self.store}
        )
        self.port = self._server.port
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> WebhookReceiverSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Direct access for tests (the same data the JSON endpoints serve).
    def deliveries(self, *, path: str | None = None, event_id: str | None = None) -> list[Received]:
        return self.store.list(path=path, event_id=event_id)

    def secret_add(self, *, path: str, key_id: str, secret: str) -> None:
        self.store.secret_add(path, key_id, secret)

    def set_faults(self, **values: Any) -> Faults:
        return self.store.set_faults(**values)

    def set_tolerance(self, seconds: float) -> None:
        self.store.tolerance_seconds = float(seconds)

    def reset(self) -> None:
        self.store.reset()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lightway.integration.webhooks.simulator",
        description="Simulated partner webhook endpoint (records and verifies deliveries).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=port_arg, default=8113, help="HTTP port (0 = any)")
    args = parser.parse_args(argv)
    simulator = WebhookReceiverSimulator(host=args.host, port=args.port)
    return sim_http.simulator_main(
        simulator,
        name="webhook receiver simulator",
        address=f"{args.host}:{args.port}",
        ready=lambda: json.dumps(
            {"message": "webhook receiver ready", "inbox": f"{simulator.base_url}/inbox"}
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
