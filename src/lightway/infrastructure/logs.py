"""Structured JSON logs. Callers pass identifiers and tokens, never personal data.

Paths are logged without their query strings: a query string can carry what someone typed
into a search box or a link (a phone number, an email address). Django's own loggers pass
the request object as an extra field (its text is the full path); it is logged as method and
path, and any URL or path in a message or text field loses everything from ``?`` on.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

# A URL (scheme://...) or an absolute path (after a space, quote, colon or bracket, or at the
# start), followed by a query string: keep the URL or path, drop the query.
_QUERY = re.compile(
    r"((?:\b[a-zA-Z][a-zA-Z0-9+.-]*://|(?:(?<=[\s\"'(\[:=])|^)/)[^\s?#\"']*)\?[^\s#\"']*"
)


def without_query(text: str) -> str:
    """``text`` with the query string of every URL and path in it removed."""
    return _QUERY.sub(r"\1", text) if "?" in text else text


def _field(value: object) -> object:
    """A log field as JSON can carry it, with no query string in it."""
    path = getattr(value, "path", None)
    method = getattr(value, "method", None)
    if isinstance(path, str) and isinstance(method, str):  # an HTTP request object
        return {"method": method, "path": path}
    if isinstance(value, str):
        return without_query(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple | dict):
        return json.loads(without_query(json.dumps(value, default=str)))
    return without_query(str(value))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": without_query(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = _field(value)
        if record.exc_info:
            payload["exc"] = without_query(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes to whatever ``sys.stderr`` is when a record is emitted.

    A plain StreamHandler keeps the stream it was built with; when that stream is replaced
    and closed (a test's captured output, a daemonised process), every later record fails
    with "I/O operation on closed file" and is lost.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        """The stream is always the current sys.stderr; assignments are ignored."""
