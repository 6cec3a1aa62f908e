"""The HTTP plumbing the local simulators share (``notify``, ``sumsub`` and ``momo``).

Each simulator is an object with ``start()``, ``stop()`` and ``base_url`` that serves its
API from a stdlib ``ThreadingHTTPServer`` in a background thread. What they have in common
lives here:

- :class:`SimServer`: the server on a port (0: the OS picks a free one, read it back from
  ``.port``), served from a daemon thread; ``stop()`` also ends kept-alive connections, so a
  stopped simulator answers nothing (as a provider that went away);
- :class:`SimHandler`: the request handler. It normalises the request target (absolute
  form), reads the body within a size limit, hands ``(method, target, body)`` to the
  simulator's ``route`` and turns what ``route`` raises into an answer: a
  :class:`Refusal` (the simulator's own error shape), a :class:`BodyRefused` (through the
  simulator's ``refusal`` hook), anything else a logged 500. ``send_json``, ``send_html`` and
  ``send_body`` write answers (no body for HEAD; a client that hung up is not an error);
- helpers for routes: :func:`query_params`, :func:`json_object`;
- :func:`simulator_main`: run one simulator as a process until SIGTERM or Ctrl-C (its
  ``--port`` is an ``infrastructure.cli_args.port_arg``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Protocol
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)

JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"


class Refusal(Exception):
    """An answer other than success, raised from anywhere below ``route``: ``status``, the
    JSON :meth:`payload` and extra ``headers``. Each simulator subclasses it with its
    provider's error shape."""

    def __init__(
        self, status: int, message: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})

    def payload(self) -> Any:
        """The JSON body of the answer (None: an empty body)."""
        return {"error": str(self)}


class BodyRefused(Exception):
    """The request body cannot be used (its length is not a number or over the limit, or it
    is not the JSON object a route needs). The handler's ``refusal`` hook turns it into the
    simulator's own error answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def http_url(host: str, port: int) -> str:
    """``http://host:port``, with an IPv6 host in brackets."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def query_params(query: str, *, keep_blank: bool = False) -> dict[str, str]:
    """A query string as a dict; a name given twice keeps its last value."""
    return {k: v[-1] for k, v in parse_qs(query, keep_blank_values=keep_blank).items()}


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object (an empty body is ``{}``), else :class:`BodyRefused` (400)."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise BodyRefused(400, "The request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BodyRefused(400, "The request body must be a JSON object")
    return data


class SimServer(ThreadingHTTPServer):
    """A simulator's HTTP server: bound at construction (``port`` 0 picks a free port),
    served from a daemon thread by :meth:`start`, ended by :meth:`stop`. ``attrs`` become
    class attributes of the handler (typically ``sim``, the simulator it answers for)."""

    daemon_threads = True

    def __init__(
        self,
        host: str,
        port: int,
        handler: type[SimHandler],
        *,
        name: str,
        attrs: Mapping[str, Any] | None = None,
    ) -> None:
        bound = type(handler.__name__, (handler,), dict(attrs or {}))
        super().__init__((host, port), bound)
        self.name = name
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, args=(0.05,), name=self.name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close the socket and every kept-alive connection, join the thread."""
        self.shutdown()
        self.server_close()
        with self._lock:
            open_connections, self._connections = list(self._connections), set()
        for conn in open_connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def connection_opened(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)

    def connection_closed(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)


class SimHandler(BaseHTTPRequestHandler):
    """A simulator's request handler; subclasses implement :meth:`route`."""

    server: SimServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # answers are one small write; no 40 ms delayed-ACK stalls
    max_body_bytes = 1024 * 1024
    # Where request lines are logged (at debug); None: not at all (they may carry personal
    # data in query strings).
    request_log: ClassVar[logging.Logger | None] = None
    # Headers added to every answer.
    extra_headers: ClassVar[Mapping[str, str]] = {}
    # How JSON answers are written: compact (no spaces after separators) and their type.
    json_compact: ClassVar[bool] = True
    json_type: ClassVar[str] = JSON_TYPE

    # -- what a simulator provides -------------------------------------------------------

    def route(self, method: str, target: str, body: bytes) -> None:
        """Answer one request (``target``: path and query, never absolute)."""
        raise NotImplementedError

    def refusal(self, status: int, message: str) -> Refusal:
        """The simulator's error answer for a body the plumbing refused."""
        return Refusal(status, message)

    def refusal_send(self, target: str, refusal: Refusal) -> None:
        """Send a refusal (a simulator may answer some paths with a page instead)."""
        self.send_json(refusal.status, refusal.payload(), refusal.headers)

    def internal_error(self) -> Refusal:
        """The answer to an unexpected exception (logged)."""
        return Refusal(500, "Internal server error")

    # -- the plumbing --------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        if self.request_log is not None:
            self.request_log.debug(f"{self.server_version}: " + format, *args)

    def setup(self) -> None:
        super().setup()
        self.server.connection_opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.connection_closed(self.connection)

    def handle_request(self) -> None:
        target = self.request_target()
        try:
            try:
                self.route(self.command, target, self.body_read())
            except BodyRefused as exc:
                raise self.refusal(exc.status, exc.message) from None
        except Refusal as exc:
            self.refusal_send(target, exc)
        except Exception:
            (self.request_log or logger).exception("%s: unexpected error", self.server_version)
            self.refusal_send(target, self.internal_error())

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_request

    def request_target(self) -> str:
        """The request's path and query (an absolute-form target loses scheme and host)."""
        target = self.path
        if target.startswith(("http://", "https://")):
            parts = urlsplit(target)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
        return target

    def body_read(self) -> bytes:
        """The request body, at most ``max_body_bytes``. A body that cannot be skipped (a
        length that is not a number, or too large) also ends the connection."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            raise BodyRefused(400, "Content-Length is not a number") from None
        if length < 0 or length > self.max_body_bytes:
            self.close_connection = True
            raise BodyRefused(413, "Request body is too large")
        return self.rfile.read(length) if length else b""

    def send_body(
        self,
        status: int,
        body: bytes,
        content_type: str | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in {**self.extra_headers, **(headers or {})}.items():
            self.send_header(key, value)
        try:
            self.end_headers()
            if self.command != "HEAD" and body:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up first (a timeout test, a slow-answer fault): nothing to do.
            self.close_connection = True

    def send_json(self, status: int, data: Any, headers: Mapping[str, str] | None = None) -> None:
        """``data`` as JSON; None sends an empty body without a content type."""
        if data is None:
            self.send_body(status, b"", None, headers)
            return
        separators = (",", ":") if self.json_compact else None
        body = json.dumps(data, separators=separators, default=str).encode()
        self.send_body(status, body, self.json_type, headers)

    def send_html(self, status: int, text: str, headers: Mapping[str, str] | None = None) -> None:
        self.send_body(status, text.encode(), HTML_TYPE, headers)


class _Simulator(Protocol):
    def start(self) -> object: ...

    def stop(self) -> None: ...


def simulator_main(
    simulator: _Simulator, *, name: str, address: str, ready: Callable[[], str]
) -> int:
    """Run ``simulator`` as a process: start it (1 when it cannot listen on ``address``),
    print ``ready()``, serve until SIGTERM or Ctrl-C, stop it. Returns the exit status."""
    try:
        simulator.start()
    except OSError as exc:
        print(f"{name}: cannot listen on {address}: {exc.strerror}", file=sys.stderr)
        return 1
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    print(ready(), flush=True)
    try:
        while not stopping.wait(1.0):
            pass
    finally:
        simulator.stop()
    return 0
