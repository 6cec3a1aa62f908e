"""Security headers on every response: CSP, referrer, permissions, COOP, nosniff, HSTS.

The Content-Security-Policy allows scripts, styles, fonts and connections from the site
itself only: no inline script or style, no eval. Images may also be ``data:`` URIs (QR
codes). ``frame-src`` allows the Sumsub origin (``SUMSUB_BASE_URL``) when one is
configured, for the identity-check widget. Pages may not be framed (``frame-ancestors
'none'``), forms post only to the site, and ``<base>`` cannot move relative URLs.
HSTS is sent on HTTPS requests when the site runs behind a TLS proxy
(``LIGHTWAY_BEHIND_TLS_PROXY``).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase


def _origin(url: str) -> str:
    parts = urlsplit(url or "")
    if parts.scheme in {"http", "https"} and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return ""


def permissions_policy() -> str:
    # The camera only for the site and the identity-check widget (document photos, selfie).
    sumsub = _origin(str(getattr(settings, "SUMSUB_BASE_URL", "") or ""))
    camera = f'(self "{sumsub}")' if sumsub else "(self)"
    return (
        f"accelerometer=(), camera={camera}, geolocation=(), gyroscope=(), magnetometer=(), "
        "microphone=(), payment=(), usb=()"
    )


def content_security_policy() -> str:
    frame = ["'self'"]
    sumsub = _origin(str(getattr(settings, "SUMSUB_BASE_URL", "") or ""))
    if sumsub:
        frame.append(sumsub)
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        f"frame-src {' '.join(frame)}",
        "worker-src 'self'",
        "manifest-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
    return "; ".join(directives)


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.csp = content_security_policy()
        self.permissions = permissions_policy()
        self.behind_tls = bool(getattr(settings, "SECURE_PROXY_SSL_HEADER", None))
        self.hsts_seconds = int(getattr(settings, "LIGHTWAY_HSTS_SECONDS", 31536000))

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.csp)
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", self.permissions)
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if self.behind_tls and self.hsts_seconds > 0 and request.is_secure():
            response.headers.setdefault(
                "Strict-Transport-Security", f"max-age={self.hsts_seconds}; includeSubDomains"
            )
        return response
