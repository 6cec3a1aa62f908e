"""The API's lean middleware stack (interfaces/web/wsgi.py): ``/api/`` requests skip the
session, CSRF, user, second-factor, messages and idle-timeout middleware, and still get the
security headers, the error shape and their metrics; every other path keeps the full stack."""

from __future__ import annotations

import io

import pytest
from django.conf import settings
from django.core import signals
from django.db import close_old_connections

from lightway.interfaces.web.wsgi import application
from tests.factories import customer


def _call(method, path, headers=None, body=b""):
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
        **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in (headers or {}).items()},
    }
    seen = {}

    def start_response(status, response_headers, exc_info=None):
        seen["status"] = int(status.split()[0])
        seen["headers"] = {k.lower(): v for k, v in response_headers}

    # As Django's test client does: the test's transaction must outlive the request.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        response = application(environ, start_response)
        body_out = b"".join(response)
        response.close()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    return seen["status"], seen["headers"], body_out


@pytest.mark.django_db
def test_api_requests_take_the_lean_stack_and_keep_headers_and_error_shape(now):
    assert "django.contrib.sessions.middleware.SessionMiddleware" not in settings.API_MIDDLEWARE
    _uid, token = customer("alice", now)
    status, headers, body = _call("GET", "/api/v1/wallets", {"Authorization": f"Bearer {token}"})
    assert status == 200
    assert "set-cookie" not in headers and "cookie" not in headers.get("vary", "").lower()
    assert headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" in headers
    assert headers["content-length"] == str(len(body))
    status, headers, body = _call("GET", "/api/v1/no-such-thing")
    assert status == 404 and b'"error"' in body  # the API's error shape


@pytest.mark.django_db
def test_panels_keep_the_full_stack():
    status, headers, _ = _call("GET", "/app/login/")
    assert status == 200
    assert "csrftoken" in headers.get("set-cookie", "")  # the CSRF middleware ran
