"""The WSGI application: API requests through a lean middleware stack, the rest through all.

A bearer-token API request (``/api/``) needs no session, CSRF cookie, signed-in user,
second factor, messages or idle timeout, and each of those middleware costs time on every
request. ``application`` therefore hands ``/api/`` paths to a Django handler built with
``API_MIDDLEWARE`` (request metrics, the API error shape, the security headers, content
length) and every other path to the handler built with ``MIDDLEWARE``. Both run the same
URL configuration, views and settings. The test client does the same
(``tests/conftest.py``), so the API tests exercise the lean stack.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lightway.infrastructure.settings")

import django
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

API_PREFIX = "/api/"
_LOADING = threading.Lock()


@contextmanager
def api_middleware() -> Iterator[None]:
    """``settings.MIDDLEWARE`` is ``API_MIDDLEWARE`` while a handler loads its middleware
    inside this block. Django's ``BaseHandler.load_middleware`` reads the setting and
    offers no other way to give one handler another list; this runs once per handler, at
    start-up, under a lock."""
    with _LOADING:
        saved = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.API_MIDDLEWARE
        try:
            yield
        finally:
            settings.MIDDLEWARE = saved


class ApiWSGIHandler(WSGIHandler):
    """Django's WSGI handler with the API's middleware."""

    def load_middleware(self, is_async: bool = False) -> None:
        with api_middleware():
            super().load_middleware(is_async)


class PathDispatch:
    """Send ``/api/`` paths to ``api``, everything else to ``full``."""

    def __init__(self, full: Callable[..., Any], api: Callable[..., Any]) -> None:
        self.full = full
        self.api = api

    def __call__(self, environ: dict[str, Any], *args: Any) -> Any:
        handler = self.api if environ.get("PATH_INFO", "").startswith(API_PREFIX) else self.full
        return handler(environ, *args)


def _application() -> PathDispatch:
    django.setup(set_prefix=False)
    from lightway.security.secret_settings import secrets_enforce

    # Under production settings a weak or default secret stops the web server here, whoever
    # started it (``lightway serve``, gunicorn directly, another WSGI server).
    secrets_enforce("the web application")
    return PathDispatch(full=WSGIHandler(), api=ApiWSGIHandler())


application = _application()
