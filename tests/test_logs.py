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


@pytest.mark.django_db
def test_request_logs_carry_paths_without_query_strings(client, monkeypatch) -> None:
    """Issue 11 finding 10: Django's request logger passes the request as an extra field; its
    text is the full path with the query string (a searched phone number or email). Every
    record names the path only, in the message and in every field."""
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter())
    django_request = logging.getLogger("django.request")
    monkeypatch.setattr(django_request, "handlers", [handler])
    monkeypatch.setattr(django_request, "propagate", False)
    client.get("/no-such-page/", {"q": "+256772123456", "email": "amara@example.com"})
    logged = out.getvalue()
    record = json.loads(logged.splitlines()[-1])
    assert record["status_code"] == 404
    assert "/no-such-page/" in logged
    assert "256772123456" not in logged and "amara" not in logged and "?" not in logged


@pytest.mark.parametrize(
    "message",
    [
        '"GET /staff/customers/?q=%2B256772123456 HTTP/1.1" 200 512',  # django.server
        "redirect to https://wallet.example/app/?email=amara@example.com done",
        "Not Found: /app/x?phone=0772123456",
    ],
)
def test_query_strings_are_dropped_from_any_logged_text(monkeypatch, message) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter())
    _logger(handler).warning("%s", message, extra={"url": message})
    record = json.loads(out.getvalue())
    for text in (record["event"], record["url"]):
        assert "772123456" not in text and "amara" not in text, text
        assert "/" in text


def test_the_gunicorn_access_log_format_has_no_query_string_or_client_address() -> None:
    """Rendered by gunicorn itself, as it would write an access-log line."""
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    from lightway.interfaces.cli import gunicorn_conf

    cfg = Config()
    cfg.set("access_log_format", gunicorn_conf.access_log_format)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/staff/customers/?q=%2B256772123456",
        "PATH_INFO": "/staff/customers/",
        "QUERY_STRING": "q=%2B256772123456",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.77",
        "HTTP_REFERER": "https://lw.example/staff/customers/?q=amara@example.com",
    }
    response = SimpleNamespace(status="200 OK", sent=512, headers=[])
    request = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
    atoms = Logger(cfg).atoms(response, request, environ, timedelta(milliseconds=12))
    line = gunicorn_conf.access_log_format % atoms
    assert line == '"GET /staff/customers/" 200 512 12ms'
