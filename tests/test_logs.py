"""Structured logs: one JSON object per record, extra fields kept, and the console handler
follows sys.stderr when it is replaced (a closed old stream must not swallow records)."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from lightway.infrastructure.logs import JsonFormatter, StderrHandler


def _logger(handler: logging.Handler) -> logging.Logger:
    log = logging.getLogger("lightway.test_logs")
    log.handlers = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    return log


def test_records_are_json_with_their_extra_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter())
    _logger(handler).info("momo transfer submitted", extra={"transfer": 42})
    record = json.loads(out.getvalue())
    assert record["event"] == "momo transfer submitted"
    assert record["transfer"] == 42 and record["level"] == "info"


def test_handler_writes_to_the_current_stderr_after_the_old_one_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter())
    log = _logger(handler)
    log.info("one")
    first.close()
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    log.info("two")
    assert json.loads(second.getvalue())["event"] == "two"
    handler.setStream(io.StringIO())  # assignments cannot pin an old stream
    log.info("three")
    assert "three" in second.getvalue()
