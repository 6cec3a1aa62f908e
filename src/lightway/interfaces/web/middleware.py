"""Request metrics: count every request by method, route name and status class, and time it."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from lightway.infrastructure import metrics

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
        return response
