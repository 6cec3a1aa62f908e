"""What makes the customer panel an installable web app: the manifest, a service worker
(served from /app/ so its scope covers the panel; it caches the app shell: static files and
the offline page in each language, never pages or personal data; a page that cannot be
reached shows the offline page) and the icons (drawn here, so the package ships no
binaries)."""

from __future__ import annotations

import json
import struct
import zlib
from functools import cache
from pathlib import Path

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.templatetags.static import static
from django.views.decorators.cache import cache_control

from lightway.application.onboarding.registration import LANGUAGES
from lightway.interfaces.panels.access import public

STATIC_DIR = Path(__file__).resolve().parent / "static" / "panels"
BRAND = (0x0E, 0x5A, 0x8A)  # deep blue
ACCENT = (0xFF, 0xC2, 0x33)  # MoMo-ish yellow


@public
def manifest(request: HttpRequest) -> HttpResponse:
    data = {
        "name": "LightWay MoMo",
        "short_name": "LightWay",
        "description": "Your LightWay wallet: send, receive and track money with MTN MoMo.",
        "id": "/app/",
        "start_url": "/app/",
        "scope": "/app/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#f5f7fb",
        "theme_color": "#0e5a8a",
        "icons": [
            {"src": "/app/icons/icon-192.png", "sizes": "192x192", "type": "image/png"},
            {"src": "/app/icons/icon-512.png", "sizes": "512x512", "type": "image/png"},
            {
                "src": "/app/icons/icon-512.png",
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
            {"src": "/app/icons/icon.svg", "sizes": "any", "type": "image/svg+xml"},
        ],
    }
    response = JsonResponse(data, json_dumps_params={"indent": 2})
    response["Content-Type"] = "application/manifest+json"
    return response


@cache
def _sw_source() -> str:
    return (STATIC_DIR / "sw.js").read_text()


@public
@cache_control(no_cache=True)
def service_worker(request: HttpRequest) -> HttpResponse:
    # The list of files to pre-cache, with their real (possibly hashed) static URLs.
    assets = [
        static("panels/app.css"),
        static("panels/app.js"),
        static("vendor/htmx/htmx.min.js"),
        "/app/icons/icon-192.png",
        "/app/icons/icon.svg",
    ]
    offline = {code: f"/app/offline/?lang={code}" for code in LANGUAGES}
    prefix = static("panels/")
    source = _sw_source().replace("__ASSETS__", json.dumps(assets))
    source = source.replace("__OFFLINE__", json.dumps(offline))
    source = source.replace("__PREFIX__", prefix)
    response = HttpResponse(source, content_type="application/javascript")
    response["Service-Worker-Allowed"] = "/app/"
    return response


def _png(size: int) -> bytes:
    """A square icon: brand background, a yellow disc, a white 'wave' bar across it."""
    rows = []
    centre = (size - 1) / 2
    radius = size * 0.30
    bar_half = size * 0.055
    for y in range(size):
        row = bytearray([0])  # filter type 0
        for x in range(size):
            dx, dy = x - centre, y - centre
            colour = BRAND
            if dx * dx + dy * dy <= radius * radius:
                colour = ACCENT
                if abs(dy + dx * 0.35) <= bar_half:
                    colour = (0xFF, 0xFF, 0xFF)
            row.extend(colour)
        rows.append(bytes(row))
    raw = b"".join(rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


@cache
def icon_png(size: int) -> bytes:
    return _png(size)


SVG_ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">'
    '<rect width="100" height="100" rx="20" fill="#0e5a8a"/>'
    '<circle cx="50" cy="50" r="30" fill="#ffc233"/>'
    '<path d="M20 60 L80 39 L80 50 L20 71 Z" fill="#fff" clip-path="circle(30px at 50px 50px)"/>'
    "</svg>"
)


@public
@cache_control(max_age=86400, public=True)
def icon(request: HttpRequest, name: str) -> HttpResponse:
    if name == "icon.svg":
        return HttpResponse(SVG_ICON, content_type="image/svg+xml")
    sizes = {"icon-192.png": 192, "icon-512.png": 512}
    if name not in sizes:
        return HttpResponse(status=404)
    return HttpResponse(icon_png(sizes[name]), content_type="image/png")


@public
@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico for pages that name no icon (the Django admin): a small PNG."""
    return HttpResponse(icon_png(48), content_type="image/png")
