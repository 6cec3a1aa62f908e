"""Structured logs: one JSON object per record, extra fields kept, and the console handler
follows sys.stderr when it is replaced (a closed old stream must not swallow records)."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import os
import re
import subprocess
import sys

import pytest

from lightway.infrastructure.logs import (
    ConsoleFormatter,
    JsonFormatter,
    StderrHandler,
    logging_config,
)


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


# --- the two forms, the log file, the console level (LIGHTWAY_LOG_*) ---------------------------


def test_console_lines_are_readable_and_carry_the_same_fields_without_query_strings(
    monkeypatch,
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    handler = StderrHandler()
    handler.setFormatter(ConsoleFormatter())
    _logger(handler).warning(
        "momo float low",
        extra={"product": "disbursement", "available_minor": 100, "url": "/x?q=0772123456"},
    )
    line = out.getvalue().strip()
    assert not line.startswith("{")
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d WARNING test_logs: momo float low  product=disbursement"
        r" available_minor=100 url=/x",
        line,
    ), line


@pytest.fixture(autouse=True)
def _logging_restored():
    """A test here that reconfigures logging leaves the project's configuration behind."""
    yield
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


def _configured(monkeypatch, **env: str) -> logging.Logger:
    for name in ("LIGHTWAY_LOG_FORMAT", "LIGHTWAY_LOG_FILE", "LIGHTWAY_LOG_CONSOLE_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = logging_config({"lightway.test_cfg": {"level": "INFO", "propagate": False}})
    logging.config.dictConfig(config)
    return logging.getLogger("lightway.test_cfg")


def test_json_on_the_console_by_default(monkeypatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    _configured(monkeypatch).info("started", extra={"jobs": 3})
    assert json.loads(out.getvalue())["jobs"] == 3


def test_a_log_file_gets_everything_and_the_console_only_warnings(monkeypatch, tmp_path) -> None:
    """What `lightway up` sets on the embedded default: readable lines, every record in the
    file (its directory made), the terminal kept for warnings and errors."""
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    path = tmp_path / "log" / "lightway.log"
    log = _configured(
        monkeypatch,
        LIGHTWAY_LOG_FORMAT="console",
        LIGHTWAY_LOG_FILE=str(path),
        LIGHTWAY_LOG_CONSOLE_LEVEL="WARNING",
    )
    log.info("migrations applied")
    log.warning("momo float low")
    for handler in log.handlers:
        handler.flush()
    assert "migrations applied" not in out.getvalue() and "momo float low" in out.getvalue()
    logged = path.read_text()
    assert " INFO    test_cfg: migrations applied" in logged and "momo float low" in logged
    for handler in log.handlers:
        handler.close()


def test_an_unknown_log_format_is_refused(monkeypatch) -> None:
    with pytest.raises(ValueError, match="LIGHTWAY_LOG_FORMAT must be json or console"):
        _configured(monkeypatch, LIGHTWAY_LOG_FORMAT="yaml")


def test_the_public_url_defaults_to_where_the_server_listens() -> None:
    """One source of public URLs: unset, LIGHTWAY_PUBLIC_URL is the address `up` and the
    banner use (127.0.0.1 and LIGHTWAY_PORT), never another spelling of it."""
    drop = {"LIGHTWAY_PUBLIC_URL", "LIGHTWAY_HOST", "LIGHTWAY_PORT"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    code = "from django.conf import settings; print(settings.LIGHTWAY_PUBLIC_URL)"
    for extra, expected in (
        ({}, "http://127.0.0.1:8000"),
        ({"LIGHTWAY_PORT": "8123", "LIGHTWAY_HOST": "0.0.0.0"}, "http://127.0.0.1:8123"),
    ):
        shown = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            env={**env, **extra, "DJANGO_SETTINGS_MODULE": "lightway.infrastructure.settings"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert shown.stdout.strip() == expected, shown.stderr
