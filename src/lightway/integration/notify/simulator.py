"""A local simulator of the notification providers: Africa's Talking's and Twilio's SMS
APIs, and an SMTP sink.

One object, two servers, both on loopback by default and both in background threads:

- **SMS provider APIs** (stdlib ``ThreadingHTTPServer``) — what the platform's adapters
  (``africastalking.py``, ``twilio.py``) and the providers' own client libraries talk to:

  - Africa's Talking's ``POST /version1/messaging`` and Twilio's ``POST
    /2010-04-01/Accounts/{AccountSid}/Messages.json``, with their delivery reports, as
    described in ``providers_sim.py``;
  - ``POST /_sim/faults`` JSON ``{"sms_errors": N, "sms_status": 503, "sms_delay_ms": 0,
    "smtp_errors": N, "smtp_code": 451}``: the next N SMS requests fail with that status
    (503 by default, 429 works too), each request waits ``sms_delay_ms`` first, the next N
    SMTP messages are refused with that reply code; ``{}`` clears the faults;
  - ``POST /_sim/reset`` forgets every message and fault;
  - ``GET /_sim/reports`` lists the reports posted (and
    the platform's answers), ``POST /_sim/config {"at_callback_url": URL}`` sets Africa's
    Talking's callback URL (the account setting a real dashboard holds);
  - ``GET /_sim/messages?to=...&channel=sms|email`` → ``{"messages": [...]}``, newest first;
  - ``GET /inbox`` (and ``/``) → an HTML page with every SMS and email, newest first, that
    refreshes itself every few seconds; links in emails are clickable. This is how a person
    trying the demo reads their one-time code.

- **SMTP sink** (aiosmtpd ``Controller``) — accepts every message for any recipient and
  shows it in the same inbox.

Messages live in memory only (never in the platform's database) and are lost on stop.

Run it as a process::

    python -m lightway.integration.notify.simulator --port 8025 --smtp-port 1025

and point the platform at it with ``AFRICASTALKING_BASE_URL=http://127.0.0.1:8025`` and
``TWILIO_BASE_URL=http://127.0.0.1:8025`` (the demo credentials are the settings'
defaults), ``LIGHTWAY_SMTP_HOST=127.0.0.1`` and ``LIGHTWAY_SMTP_PORT=1025``.
The project's earlier SMS API of its own (``POST /v1/messages``) is gone: no provider
offers it, and both real wire formats now serve the demo (issue 15).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import email
import email.policy
import html
import itertools
import json
import os
import re
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import phonenumbers
from aiosmtpd.controller import Controller

from lightway.infrastructure.cli_args import port_arg
from lightway.integration import simulator_http as sim_http
from lightway.integration.notify.providers_sim import (
    AT_PATH,
    TWILIO_PREFIX,
    ProviderAccounts,
    ProviderFaults,
    ProviderWire,
    ReportSender,
)

MAX_BODY_BYTES = 64 * 1024
BODY_RULE = "body must be JSON (at most 64 KiB)"
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
    provider: str = "lightway"  # which wire format it came in by


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


class _NotifyError(sim_http.Refusal):
    """An error answer of the SMS API: ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, message)
        self.code = code

    def payload(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": str(self)}}


class _Handler(sim_http.SimHandler):
    server_version = "LightWayNotifySimulator/1"
    protocol_version = "HTTP/1.0"  # one request per connection
    max_body_bytes = MAX_BODY_BYTES
    extra_headers = {"Cache-Control": "no-store"}
    json_compact = False
    json_type = "application/json"
    # request_log stays None: request lines would carry phone numbers in query strings.
    store: _Store
    wire: ProviderWire

    def refusal(self, status: int, message: str) -> _NotifyError:
        return _NotifyError(400, "invalid_request", BODY_RULE)

    def internal_error(self) -> _NotifyError:
        return _NotifyError(500, "internal_error", "Internal server error")

    def route(self, method: str, target: str, body: bytes) -> None:
        url = urlsplit(target)
        if method == "GET":
            self._get(url.path, sim_http.query_params(url.query))
        elif method == "POST" and (url.path == AT_PATH or url.path.startswith(TWILIO_PREFIX)):
            self._provider(url.path, body)
        elif method == "POST":
            try:
                data = json.loads(body or b"{}")
            except ValueError:
                raise _NotifyError(400, "invalid_request", BODY_RULE) from None
            self._post(url.path, data)
        else:
            raise _NotifyError(405, "method_not_allowed", f"{method} is not supported")

    def _get(self, path: str, query: dict[str, str]) -> None:
        if path in ("/", "/inbox"):
            page = inbox_html(self.store.list(to=query.get("to") or None), to=query.get("to"))
            self.send_html(200, page)
        elif path == "/_sim/messages":
            messages = self.store.list(
                to=query.get("to") or None, channel=query.get("channel") or None
            )
            self.send_json(200, {"messages": [asdict(m) for m in messages]})
        elif path == "/_sim/faults":
            self.send_json(200, {**asdict(self.store.faults), **asdict(self.wire.faults)})
        elif path == "/_sim/reports":
            sent = [asdict(r) for r in self.wire.reports.sent]
            self.send_json(200, {"reports": sent, "pending": self.wire.reports.pending()})
        elif path == "/health":
            self.send_json(200, {"status": "ok"})
        else:
            raise _NotifyError(404, "not_found", "no such page")

    def _post(self, path: str, body: Any) -> None:
        if path == "/_sim/faults":
            values = body if isinstance(body, dict) else {}
            wire_names = set(asdict(ProviderFaults()))
            try:
                wire = {k: int(v) for k, v in values.items() if k in wire_names}
                own = {k: v for k, v in values.items() if k not in wire_names}
                profile = self.store.set_faults(**own)
                wire_profile = self.wire.set_faults(wire)
            except (TypeError, ValueError) as exc:
                raise _NotifyError(400, "invalid_request", str(exc)) from None
            self.send_json(200, {**asdict(profile), **asdict(wire_profile)})
        elif path == "/_sim/config":
            url = body.get("at_callback_url") if isinstance(body, dict) else None
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise _NotifyError(400, "invalid_request", "'at_callback_url' must be a URL")
            self.wire.accounts = ProviderAccounts(
                **{**asdict(self.wire.accounts), "at_callback_url": url}
            )
            self.send_json(200, {"at_callback_url": url})
        elif path == "/_sim/reset":
            self.store.reset()
            self.wire.set_faults({})
            self.wire.reports.clear()
            self.send_json(200, {"status": "reset"})
        else:
            raise _NotifyError(404, "not_found", "no such endpoint")

    def _provider(self, path: str, body: bytes) -> None:
        """Africa's Talking's or Twilio's endpoint: form-encoded, their answers."""
        delay_ms, failing = self.store.take_sms_fault()
        if delay_ms:
            time.sleep(delay_ms / 1000)
        try:
            form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            form = {}
        if path == AT_PATH:
            if failing is not None:
                self.send_body(failing, HTTPStatus(failing).phrase.encode(), "text/plain")
                return
            status, answer = self.wire.africastalking(self.headers, form)
            if isinstance(answer, str):
                self.send_body(status, answer.encode(), "text/plain")
            else:
                self.send_json(status, answer)
            return
        if failing is not None:
            self.send_json(
                failing,
                {"code": 20500, "message": HTTPStatus(failing).phrase, "status": failing},
            )
            return
        status, payload = self.wire.twilio(path, _basic_auth(self.headers), form)
        self.send_json(status, payload)


def _basic_auth(headers: Any) -> tuple[str, str] | None:
    raw = str(headers.get("Authorization") or "")
    scheme, _, value = raw.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


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
        accounts: ProviderAccounts | None = None,
    ) -> None:
        self.host = host
        self.http_port = http_port
        self.smtp_port = smtp_port
        self.web_base = ""  # the platform's base URL, when a runner knows it
        self.store = _Store()
        self.reports = ReportSender()
        self.wire = ProviderWire(
            accounts or ProviderAccounts(), add_message=self._add_sms, reports=self.reports
        )
        self._http: sim_http.SimServer | None = None
        self._smtp: _SmtpController | None = None

    @property
    def base_url(self) -> str:
        return sim_http.http_url(self.host, self.http_port)

    @property
    def inbox_url(self) -> str:
        return f"{self.base_url}/inbox"

    def start(self) -> NotifySimulator:
        self._http = sim_http.SimServer(
            self.host,
            self.http_port,
            _Handler,
            name="notify-sim-http",
            attrs={"store": self.store, "wire": self.wire},
        )
        self.http_port = self._http.port
        self._http.start()
        self.reports.start()
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
        self.reports.stop()
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None
        if self._http is not None:
            self._http.stop()
            self._http = None

    def __enter__(self) -> NotifySimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Direct access for tests (the same data the JSON endpoints serve).
    def messages(self, *, to: str | None = None, channel: str | None = None) -> list[SimMessage]:
        return self.store.list(to=to, channel=channel)

    def set_faults(self, **values: int) -> Faults:
        wire_names = set(asdict(ProviderFaults()))
        self.wire.set_faults({k: v for k, v in values.items() if k in wire_names})
        return self.store.set_faults(**{k: v for k, v in values.items() if k not in wire_names})

    def reset(self) -> None:
        self.store.reset()
        self.wire.set_faults({})
        self.reports.clear()

    def configure(self, *, at_callback_url: str) -> None:
        """Africa's Talking's callback URL (a dashboard setting on the real service)."""
        self.wire.accounts = ProviderAccounts(
            **{**asdict(self.wire.accounts), "at_callback_url": at_callback_url}
        )

    def _add_sms(self, *, to: str, sender: str, text: str, provider: str) -> SimMessage:
        message = self.store.add("sms", to=to, sender=sender, text=text, reference="")
        message.provider = provider
        return message


def sim_accounts(*, at_callback_url: str = "") -> ProviderAccounts:
    """The simulator's provider accounts: the platform's configured credentials when the
    environment names them (so ``make run`` and the simulator agree), else the demo's."""
    defaults = ProviderAccounts()
    return ProviderAccounts(
        at_username=os.environ.get("AFRICASTALKING_USERNAME") or defaults.at_username,
        at_api_key=os.environ.get("AFRICASTALKING_API_KEY") or defaults.at_api_key,
        at_callback_url=at_callback_url,
        twilio_account_sid=os.environ.get("TWILIO_ACCOUNT_SID") or defaults.twilio_account_sid,
        twilio_auth_token=os.environ.get("TWILIO_AUTH_TOKEN") or defaults.twilio_auth_token,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lightway.integration.notify.simulator",
        description=(
            "Simulated SMS providers (Africa's Talking, Twilio), SMTP sink and inbox page"
            " (memory only)."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=port_arg, default=8025, help="HTTP port (0 = any)")
    parser.add_argument("--smtp-port", type=port_arg, default=1025, help="SMTP port (0 = any)")
    parser.add_argument(
        "--at-callback-url",
        default="",
        help="where Africa's Talking delivery reports go (the account's callback URL)",
    )
    args = parser.parse_args(argv)
    simulator = NotifySimulator(
        host=args.host,
        http_port=args.port,
        smtp_port=args.smtp_port,
        accounts=sim_accounts(at_callback_url=args.at_callback_url),
    )
    return sim_http.simulator_main(
        simulator,
        name="notify simulator",
        address=f"{args.host}:{args.port} (HTTP), {args.host}:{args.smtp_port} (SMTP)",
        ready=lambda: json.dumps(
            {
                "message": "notify simulator ready",
                "inbox": simulator.inbox_url,
                "sms_api": simulator.base_url,
                "smtp": f"{args.host}:{simulator.smtp_port}",
            }
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
