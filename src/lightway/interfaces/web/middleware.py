"""Request metrics (every request counted by method, route name and status class, and timed)
and the hostile-input guard (NUL characters, JSON nesting)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponseBadRequest, HttpResponseBase
from django.utils import timezone

from lightway.data.analytics.samples import latency_record
from lightway.infrastructure import metrics
from lightway.infrastructure.jsonsafe import json_depth, max_depth

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_label(request: HttpRequest) -> str:
    """A low-cardinality name for the matched route: never the raw path (it holds ids)."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    if match.view_name:
        return str(match.view_name)
    return str(match.route) or "unnamed"


class RequestMetricsMiddleware:
    """Outermost middleware, so the latency includes every other middleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        method = request.method if request.method in _METHODS else "OTHER"
        route = route_label(request)
        metrics.http_requests_total.labels(
            method=method, route=route, status=f"{response.status_code // 100}xx"
        ).inc()
        metrics.http_request_duration_seconds.labels(method=method, route=route).observe(elapsed)
        # The same sample for the analytics rollups: counted in memory, flushed every few
        # seconds outside any transaction (data/analytics/samples.py).
        latency_record(
            source="api",
            operation=f"{method} {route}",
            result=f"{response.status_code // 100}xx",
            at=timezone.now(),
            elapsed_ms=elapsed * 1000,
        )
        return response


class HostileInputMiddleware:
    """Refuse, with a 400 that says what is wrong, input no view can store or parse safely
    (issue 11 finding 8): a NUL character (PostgreSQL text cannot hold one) in the path,
    the query string, a form field (name or value) or a JSON body, and JSON nested deeper
    than ``LIGHTWAY_JSON_MAX_DEPTH`` (parsing it recursed until ``RecursionError``).

    Views that take the raw body as bytes and promise to store whatever arrives (the
    webhooks, marked with :func:`raw_body_intake`) are left alone: they seal the bytes and
    clean what they keep as text themselves. Runs in ``process_view`` (the view is known),
    before CSRF and the views read the body. ``/api/`` answers in the API's error shape.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponseBase | None:
        if getattr(view_func, RAW_BODY_INTAKE, False):
            return None
        problem = hostile_input_problem(request)
        if problem is None:
            return None
        if request.path_info.startswith("/api/"):
            from lightway.interfaces.api.errors import error_response

            return error_response(400, "bad_request", problem)
        return HttpResponseBadRequest(problem, content_type="text/plain; charset=utf-8")


RAW_BODY_INTAKE = "lightway_raw_body_intake"


def raw_body_intake(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view that stores the raw body as bytes whatever it holds (webhooks)."""
    setattr(view, RAW_BODY_INTAKE, True)
    return view


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def hostile_input_problem(request: HttpRequest) -> str | None:
    """What is wrong with the request's input, or None."""
    if "\x00" in request.path_info:
        return "the address contains a NUL character"
    if "\x00" in unquote(request.META.get("QUERY_STRING", ""), errors="replace"):
        return "a query parameter contains a NUL character"
    content_type = str(request.META.get("CONTENT_TYPE") or "").lower()
    if request.method in ("GET", "HEAD", "OPTIONS") or not content_type:
        return None
    if content_type.startswith(_FORM_TYPES):
        try:
            if request.path_info.startswith("/api/"):
                # Read the raw bytes first (the API's bodies are bounded): parsing the form
                # from the stream would leave ``request.body`` unreadable, and a partner's
                # signature is checked over those bytes (a 500 otherwise, found by fuzzing).
                _ = request.body
            fields = list(request.POST.lists())
        except (ValueError, RequestDataTooBig):
            return None  # Django answers these itself (400 / 413)
        for name, values in fields:
            if "\x00" in name or any("\x00" in str(v) for v in values):
                return f"form field {name.replace(chr(0), '?')[:40]!r} contains a NUL character"
        return None
    if "json" in content_type:
        try:
            body = request.body
        except RequestDataTooBig:
            return None
        # The API validates every JSON field against its schema, which refuses control
        # characters naming the field (422): only the panels' JSON endpoints need this.
        api = request.path_info.startswith("/api/")
        if not api and (b"\x00" in body or re.search(rb"(?<!\\)(?:\\\\)*\\u0000", body)):
            return "the JSON body contains a NUL character"
        limit = max_depth()
        if json_depth(body) > limit:
            return f"the JSON body is nested deeper than {limit} levels"
    return None
