"""A local simulator of the notification providers: an SMS HTTP API and an SMTP sink.

One object, two servers, both on loopback by default and both in background threads:

- **SMS provider API** (stdlib ``ThreadingHTTPServer``) — what ``HttpSmsGateway`` talks to:

  - ``POST /v1/messages`` JSON ``{to, text, sender, reference}`` with the key in
    ``X-API-Key`` → ``202 {"id", "status": "queued"}``; ``401`` for a wrong key,
    ``400 {"error": {"code": "invalid_number"}}`` when ``to`` is not a valid E.164 number;
  - ``POST /_sim/faults`` JSON ``{"sms_errors": N, "sms_status": 503, "sms_delay_ms": 0,
    "smtp_errors": N, "smtp_code": 451}``: the next N SMS requests fail with that status
    (503 by default, 429 works too), each request waits ``sms_delay_ms`` first, the next N
    SMTP messages are refused with that reply code; ``{}`` clears the faults;
  - ``POST /_sim/reset`` forgets every message and fault;
  - ``GET /_sim/messages?to=...&channel=sms|email`` → ``{"messages": [...]}``, newest first;
  - ``GET /inbox`` (and ``/``) → an HTML page with every SMS and email, newest first, that
    refreshes itself every few seconds; links in emails are clickable. This is how a person
    trying the demo reads their one-time code.

- **SMTP sink** (aiosmtpd ``Controller``) — accepts every message for any recipient and
  shows it in the same inbox.

Messages live in memory only (never in the platform's database) and are lost on stop.

Run it as a process::

    python -m lightway.integration.notify.simulator --port 8025 --smtp-port 1025

and point the platform at it with ``NOTIFY_BASE_URL=http://127.0.0.1:8025``,
``NOTIFY_SMS_API_KEY`` (same key as ``--api-key``), ``LIGHTWAY_SMTP_HOST=127.0.0.1`` and
``LIGHTWAY_SMTP_PORT=1025``.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import html
import itertools
import json
import os
import re
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import phonenumbers
from aiosmtpd.controller import Controller

DEMO_SMS_API_KEY = "lightway-demo-sms-key"
API_KEY_HEADER = "X-API-Key"
MAX_BODY_BYTES = 64 * 1024
MAX_MESSAGES = 2000
INBOX_REFRESH_SECONDS = 3
_URL_RE = re.compile(r"https?://[^\s<>\"']+")


@dataclass
class SimMessage:
    id: str
    channel: str  # "sms" | "email"
    to: str
    sender: str
    text: str
    subject: str = ""
    reference: str = ""
    received_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


@dataclass
class Faults:
    sms_errors: int = 0
    sms_status: int = 503
    sms_delay_ms: int = 0
    smtp_errors: int = 0
    smtp_code: int = 451


class _Store:
    """Messages and the fault profile, shared by both servers' threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[SimMessage] = []
        self._ids = itertools.count(1)
        self.faults = Faults()
        self.sms_requests = 0

    def add(self, channel: str, **fields: str) -> SimMessage:
        with self._lock:
            message = SimMessage(id=f"sim-{channel}-{next(self._ids)}", channel=channel, **fields)
            self._messages.append(message)
            del self._messages[:-MAX_MESSAGES]
            return message

    def list(self, *, to: str | None = None, channel: str | None = None) -> list[SimMessage]:
        with self._lock:
            found = [
                m
                for m in self._messages
                if (to is None or m.to.casefold() == to.casefold())
                and (channel is None or m.channel == channel)
            ]
        return found[::-1]

    def set_faults(self, **values: int) -> Faults:
        with self._lock:
            known = set(asdict(Faults()))
            unknown = set(values) - known
            if unknown:
                raise ValueError(f"unknown fault setting(s): {', '.join(sorted(unknown))}")
            profile = Faults(**{k: int(v) for k, v in values.items()})
            self.faults = profile
            return profile

    def take_sms_fault(self) -> tuple[int, int | None]:
        """(delay in ms, failing status or None) for the next SMS request."""
        with self._lock:
            self.sms_requests += 1
            faults = self.faults
            if faults.sms_errors > 0:
                faults.sms_errors -= 1
                return faults.sms_delay_ms, faults.sms_status
            return faults.sms_delay_ms, None

    def take_smtp_fault(self) -> int | None:
        with self._lock:
            if self.faults.smtp_errors > 0:
                self.faults.smtp_errors -= 1
                return self.faults.smtp_code
            return None

    def reset(self) -> None:
        with self._lock:
            self._messages.clear()
            self._ids = itertools.count(1)
            self.faults = Faults()
            self.sms_requests = 0


def valid_number(value: object) -> bool:
    if not isinstance(value, str) or not value.startswith("+"):
        return False
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(value, None))
    except phonenumbers.NumberParseException:
        return False


# --- HTTP ----------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server_version = "LightWayNotifySimulator/1"
    store: _Store
    api_key: str

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: request lines would carry phone numbers in query strings."""

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: object) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _error(self, status: int, code: str, message: str) -> None:
        self._json(status, {"error": {"code": code, "message": message}})

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise ValueError("request body too large")
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw or b"{}")

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path in ("/", "/inbox"):
            page = inbox_html(self.store.list(to=query.get("to") or None), to=query.get("to"))
            self._send(200, page.encode(), "text/html; charset=utf-8")
        elif url.path == "/_sim/messages":
            messages = self.store.list(
                to=query.get("to") or None, channel=query.get("channel") or None
            )
            self._json(200, {"messages": [asdict(m) for m in messages]})
        elif url.path == "/_sim/faults":
            self._json(200, asdict(self.store.faults))
        elif url.path == "/health":
            self._json(200, {"status": "ok"})
        else:
            self._error(404, "not_found", "no such page")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        try:
            body = self._body()
        except ValueError:
            self._error(400, "invalid_request", "body must be JSON (at most 64 KiB)")
            return
        if path == "/v1/messages":
            self._sms(body)
        elif path == "/_sim/faults":
            try:
                profile = self.store.set_faults(**(body if isinstance(body, dict) else {}))
            except (TypeError, ValueError) as exc:
                self._error(400, "invalid_request", str(exc))
                return
            self._json(200, asdict(profile))
        elif path == "/_sim/reset":
            self.store.reset()
            self._json(200, {"status": "reset"})
        else:
            self._error(404, "not_found", "no such endpoint")

    def _sms(self, body: Any) -> None:
        if self.headers.get(API_KEY_HEADER) != self.api_key:
            self._error(401, "unauthorized", "missing or wrong API key")
            return
        delay_ms, failing = self.store.take_sms_fault()
        if delay_ms:
            time.sleep(delay_ms / 1000)
        if failing is not None:
            self._error(failing, "simulated_fault", HTTPStatus(failing).phrase)
            return
        if not isinstance(body, dict):
            self._error(400, "invalid_request", "body must be a JSON object")
            return
        if not valid_number(body.get("to")):
            self._error(400, "invalid_number", "'to' must be a valid E.164 phone number")
            return
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            self._error(400, "invalid_request", "'text' must be a non-empty string")
            return
        message = self.store.add(
            "sms",
            to=body["to"],
            sender=str(body.get("sender") or ""),
            text=text,
            reference=str(body.get("reference") or ""),
        )
        self._json(202, {"id": message.id, "status": "queued"})


def _linkify(text: str) -> str:
    parts: list[str] = []
    last = 0
    for match in _URL_RE.finditer(text):
        url = match.group(0)
        parts.append(html.escape(text[last : match.start()]))
        parts.append(f'<a href="{html.escape(url, quote=True)}">{html.escape(url)}</a>')
        last = match.end()
    parts.append(html.escape(text[last:]))
    return "".join(parts)


def inbox_html(messages: list[SimMessage], *, to: str | None = None) -> str:
    rows = []
    for m in messages:
        heading = "SMS" if m.channel == "sms" else "Email"
        subject = f"<div class=subject>{html.escape(m.subject)}</div>" if m.subject else ""
        rows.append(
            f'<article class="{m.channel}"><header><b>{heading}</b> to '
            f"<code>{html.escape(m.to)}</code> from {html.escape(m.sender)} "
            f"<time>{html.escape(m.received_at[:19].replace('T', ' '))} UTC</time></header>"
            f"{subject}<pre>{_linkify(m.text)}</pre></article>"
        )
    empty = "<p class=empty>No messages yet.</p>"
    value = html.escape(to or "", quote=True)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{INBOX_REFRESH_SECONDS}">
<title>LightWay notify simulator: inbox</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem auto;max-width:48rem;padding:0 1rem;
color:#1b1b1b}}
article{{border:1px solid #ccd;border-radius:6px;margin:.75rem 0;padding:.6rem .9rem}}
article.sms{{border-left:5px solid #f5c400}} article.email{{border-left:5px solid #2a6df4}}
header{{font-size:.85rem;color:#555}} time{{float:right}}
pre{{white-space:pre-wrap;font-size:1rem;margin:.4rem 0 0}} .subject{{font-weight:600}}
</style></head><body>
<h1>Simulated SMS and email inbox</h1>
<p>Messages sent by LightWay while it runs against this simulator, newest first.
Kept in memory only; this page refreshes every {INBOX_REFRESH_SECONDS} s.</p>
<form method="get"><label>Recipient <input name="to" value="{value}"
placeholder="+256700000000 or name@example.com"></label> <button>Filter</button>
<a href="/inbox">all</a></form>
{"".join(rows) or empty}
</body></html>
"""


# --- SMTP ----------------------------------------------------------------------------------


class _SmtpHandler:
    def __init__(self, store: _Store) -> None:
        self.store = store

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        failing = self.store.take_smtp_fault()
        if failing is not None:
            return f"{failing} Simulated failure, try again later"
        content = envelope.original_content or envelope.content
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        part = parsed.get_body(preferencelist=("plain", "html"))
        text = part.get_content().replace("\r\n", "\n") if part is not None else ""
        for rcpt in envelope.rcpt_tos:
            self.store.add(
                "email",
                to=rcpt,
                sender=str(parsed.get("From") or envelope.mail_from or ""),
                subject=str(parsed.get("Subject") or ""),
                text=text,
                reference=str(parsed.get("X-LightWay-Reference") or ""),
            )
        return "250 Message accepted for delivery"


class _SmtpController(Controller):
    """aiosmtpd's controller, able to listen on port 0 (the OS picks a free port)."""

    def _trigger_server(self) -> None:
        if self.port == 0 and self.server is not None:
            sockets = getattr(self.server, "sockets", None) or []
            self.port = int(sockets[0].getsockname()[1])
        super()._trigger_server()  # type: ignore[no-untyped-call]


# --- the simulator -------------------------------------------------------------------------


class NotifySimulator:
    """SMS provider API + SMTP sink + inbox, in background threads.

    ``NotifySimulator(http_port=0, smtp_port=0).start()`` picks free ports; read them from
    ``.base_url`` and ``.smtp_port``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        http_port: int = 0,
        smtp_port: int = 0,
        api_key: str = DEMO_SMS_API_KEY,
    ) -> None:
        self.host = host
        self.http_port = http_port
        self.smtp_port = smtp_port
        self.api_key = api_key
        self.store = _Store()
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._smtp: _SmtpController | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.http_port}"

    @property
    def inbox_url(self) -> str:
        return f"{self.base_url}/inbox"

    def start(self) -> NotifySimulator:
        handler = type("Handler", (_Handler,), {"store": self.store, "api_key": self.api_key})
        self._http = ThreadingHTTPServer((self.host, self.http_port), handler)
        self._http.daemon_threads = True
        self.http_port = int(self._http.server_address[1])
        self._http_thread = threading.Thread(
            target=self._http.serve_forever, name="notify-sim-http", daemon=True
        )
        self._http_thread.start()
        try:
            self._smtp = _SmtpController(
                _SmtpHandler(self.store),
                hostname=self.host,
                port=self.smtp_port,
                server_hostname="notify-simulator",
                ident="LightWay notify simulator",
            )
            self._smtp.start()
        except BaseException:
            self.stop()
            raise
        self.smtp_port = int(self._smtp.port)
        return self

    def stop(self) -> None:
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._http_thread is not None:
            self._http_thread.join(timeout=5)
            self._http_thread = None

    def __enter__(self) -> NotifySimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Direct access for tests (the same data the JSON endpoints serve).
    def messages(self, *, to: str | None = None, channel: str | None = None) -> list[SimMessage]:
        return self.store.list(to=to, channel=channel)

    def set_faults(self, **values: int) -> Faults:
        return self.store.set_faults(**values)

    def reset(self) -> None:
        self.store.reset()


def _port(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is out of range (0-65535)")
    return port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lightway.integration.notify.simulator",
        description="Simulated SMS provider API, SMTP sink and inbox page (memory only).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=_port, default=8025, help="HTTP port (0 = any)")
    parser.add_argument("--smtp-port", type=_port, default=1025, help="SMTP port (0 = any)")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("NOTIFY_SMS_API_KEY") or DEMO_SMS_API_KEY,
        help="key the SMS API expects in X-API-Key (default: $NOTIFY_SMS_API_KEY or the demo key)",
    )
    args = parser.parse_args(argv)
    simulator = NotifySimulator(
        host=args.host, http_port=args.port, smtp_port=args.smtp_port, api_key=args.api_key
    ).start()
    stopping = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(
        json.dumps(
            {
                "message": "notify simulator ready",
                "inbox": simulator.inbox_url,
                "sms_api": simulator.base_url,
                "smtp": f"{args.host}:{simulator.smtp_port}",
            }
        ),
        flush=True,
    )
    try:
        while not stopping.wait(1.0):
            pass
    finally:
        simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
