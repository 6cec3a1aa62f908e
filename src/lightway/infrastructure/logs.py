"""Structured logs. Callers pass identifiers and tokens, never personal data.

Two forms of the same records (``LIGHTWAY_LOG_FORMAT``): ``json``, one JSON object per line
for a log collector (production), and ``console``, one readable line per record for a person
at a terminal (``lightway up`` on the embedded default). ``LIGHTWAY_LOG_FILE`` adds a file
that receives every record; ``LIGHTWAY_LOG_CONSOLE_LEVEL`` keeps the console (stderr) to that
level and above. ``logging_config`` builds the one configuration Django, gunicorn and Granian
use (docs/operations.md, "Logs").

Paths are logged without their query strings: a query string can carry what someone typed
into a search box or a link (a phone number, an email address). Django's own loggers pass
the request object as an extra field (its text is the full path); it is logged as method and
path, and any URL or path in a message or text field loses everything from ``?`` on.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


def _extra_fields(record: logging.LogRecord) -> dict[str, object]:
    """The record's own fields (``extra=``), as logged: no query strings."""
    return {
        key: _field(value)
        for key, value in vars(record).items()
        if key not in _RESERVED and not key.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": without_query(record.getMessage()),
        }
        payload.update(_extra_fields(record))
        if record.exc_info:
            payload["exc"] = without_query(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)


class ConsoleFormatter(logging.Formatter):
    """The same record as one line a person reads: UTC time, level, logger, event, then its
    fields as ``key=value`` (``12:00:16 WARNING momo.floats: momo float low product=...``)."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, tz=UTC).strftime("%H:%M:%S")
        name = record.name.removeprefix("lightway.").removeprefix("application.")
        fields = " ".join(
            f"{key}={_console_value(value)}" for key, value in _extra_fields(record).items()
        )
        line = f"{when} {record.levelname:<7} {name}: {without_query(record.getMessage())}"
        if fields:
            line = f"{line}  {fields}"
        if record.exc_info:
            line = f"{line}\n{without_query(self.formatException(record.exc_info))}"
        return line


def _console_value(value: object) -> str:
    if isinstance(value, str) and value and not any(ch.isspace() for ch in value):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


FORMATTERS = {"json": JsonFormatter, "console": ConsoleFormatter}


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


class LogFileHandler(logging.FileHandler):
    """Appends to a log file, creating its directory. Several processes (``lightway up``'s
    web server, worker and simulators) share one file: each record is one append."""

    def __init__(self, filename: str) -> None:
        Path(filename).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(filename, mode="a", encoding="utf-8", delay=True)


def log_format() -> str:
    """``LIGHTWAY_LOG_FORMAT``: ``json`` (the default) or ``console``."""
    chosen = os.environ.get("LIGHTWAY_LOG_FORMAT", "").strip().lower() or "json"
    if chosen not in FORMATTERS:
        raise ValueError(f"LIGHTWAY_LOG_FORMAT must be json or console, not {chosen!r}")
    return chosen


def _level(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip().upper() or default
    if value not in {"NOTSET", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError(f"{name} must be DEBUG, INFO, WARNING or ERROR, not {value!r}")
    return value


def logging_config(
    loggers: dict[str, dict[str, Any]], *, root_level: str | None = None
) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dictionary: the console (stderr) in the chosen format,
    at ``LIGHTWAY_LOG_CONSOLE_LEVEL`` and above when set, plus ``LIGHTWAY_LOG_FILE`` when
    set. Each logger in ``loggers`` without its own ``handlers`` gets both; with
    ``root_level`` the root logger does too."""
    chosen = log_format()
    handlers: dict[str, dict[str, Any]] = {
        "console": {
            "()": "lightway.infrastructure.logs.StderrHandler",
            "formatter": chosen,
            "level": _level("LIGHTWAY_LOG_CONSOLE_LEVEL", "NOTSET"),
        }
    }
    log_file = os.environ.get("LIGHTWAY_LOG_FILE", "").strip()
    if log_file:
        handlers["file"] = {
            "()": "lightway.infrastructure.logs.LogFileHandler",
            "filename": log_file,
            "formatter": chosen,
        }
    names = list(handlers)
    config: dict[str, Any] = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            name: {"()": f"lightway.infrastructure.logs.{cls.__name__}"}
            for name, cls in FORMATTERS.items()
        },
        "handlers": handlers,
        "loggers": {
            name: ({"handlers": names} | spec) if spec.get("propagate") is False else spec
            for name, spec in loggers.items()
        },
    }
    if root_level is not None:
        config["root"] = {"handlers": names, "level": root_level}
    return config
