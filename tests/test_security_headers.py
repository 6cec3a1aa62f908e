"""Every response carries the security headers; the CSP forbids inline code and framing."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from lightway.interfaces.web.security_headers import (
    SecurityHeadersMiddleware,
    content_security_policy,
)

pytestmark = pytest.mark.django_db


def directives(policy: str) -> dict[str, list[str]]:
    out = {}
    for part in policy.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


@pytest.mark.parametrize(
    "path", ["/app/login/", "/app/register/", "/staff/login/", "/healthz", "/api/v1/wallets"]
)
def test_pages_and_api_answers_carry_the_headers(path):
    response = Client().get(path)
    csp = directives(response["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert csp["style-src"] == ["'self'"]
    assert csp["img-src"] == ["'self'", "data:"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["form-action"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "geolocation=()" in response["Permissions-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in response  # plain HTTP, not behind TLS


def test_pages_have_no_inline_script_or_style():
    for path in ("/app/login/", "/app/register/", "/staff/login/"):
        html = Client().get(path).content.decode()
        assert "<style" not in html
        assert " style=" not in html
        for tag in html.split("<script")[1:]:
            assert tag.lstrip().startswith("src="), f"inline script on {path}"
        assert " onclick=" not in html and " onload=" not in html


def test_the_sumsub_origin_may_be_framed_when_configured(settings):
    settings.SUMSUB_BASE_URL = ""
    assert directives(content_security_policy())["frame-src"] == ["'self'"]
    settings.SUMSUB_BASE_URL = "http://127.0.0.1:8021/some/path"
    assert directives(content_security_policy())["frame-src"] == ["'self'", "http://127.0.0.1:8021"]


@override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
def test_hsts_behind_a_tls_proxy_only_on_https():
    https = Client().get("/app/login/", HTTP_X_FORWARDED_PROTO="https")
    assert https["Strict-Transport-Security"].startswith("max-age=31536000")
    plain = Client().get("/app/login/")
    assert "Strict-Transport-Security" not in plain


def test_the_middleware_keeps_a_header_a_view_set(rf, settings):
    from django.http import HttpResponse

    def view(request):
        response = HttpResponse("ok")
        response["Content-Security-Policy"] = "default-src 'none'"
        return response

    response = SecurityHeadersMiddleware(view)(rf.get("/"))
    assert response["Content-Security-Policy"] == "default-src 'none'"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_session_and_csrf_cookies_are_locked_down(settings):
    from django.conf import settings as live

    assert live.SESSION_COOKIE_SAMESITE == "Lax"
    assert live.SESSION_COOKIE_HTTPONLY is True
    assert live.CSRF_COOKIE_HTTPONLY is True
    client = Client()
    client.get("/app/login/")
    response = client.post(
        "/app/login/", {"country": "UG", "phone": "0772123456", "password": "x" * 12}
    )
    assert response.status_code == 400  # wrong login, but the form answered
    cookie = Client().get("/app/register/").cookies.get("csrftoken")
    assert cookie is not None and cookie["httponly"] and cookie["samesite"] == "Lax"
