"""Checks every API request passes before any operation sees it (docs/api.md, "Requests").

They hold for every operation, present and future, so the OpenAPI document declares their
answers on every operation (``lightway.interfaces.api.openapi``):

- 400 ``repeated_parameter``: a query parameter is given more than once. Django would keep
  the last value and drop the others silently; a client that sends ``?limit=1&limit=500``
  would then get an answer to a question it did not ask, and a proxy or signature check
  that reads the first value would disagree with the handler that reads the last.
- 414 ``uri_too_long``: the path and query are longer than
  ``LIGHTWAY_API_MAX_URI_LENGTH`` characters (below the web server's own request-line
  limit, ``limit_request_line`` in ``interfaces/cli/gunicorn_conf.py``, so the client gets
  this answer in the API's error shape).
- 400 ``bad_request``: a query parameter without a name (``?=x``).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from lightway.interfaces.api.errors import error_response

API_PREFIX = "/api/"


def repeated_parameters(query_string: str) -> list[str]:
    """The names of query parameters that appear more than once, in order of first use
    (a parameter without a name, ``?=x``, counts as one named "")."""
    names = [name for name, _ in parse_qsl(query_string, keep_blank_values=True)]
    seen: set[str] = set()
    repeated: list[str] = []
    for name in names:
        if name in seen and name not in repeated:
            repeated.append(name)
        seen.add(name)
    return repeated


class ApiRequestGuardMiddleware:
    """Refuses, for ``/api/`` paths only, requests no operation can answer exactly."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path.startswith(API_PREFIX):
            refused = self._refusal(request)
            if refused is not None:
                return refused
        return self.get_response(request)

    @staticmethod
    def _refusal(request: HttpRequest) -> HttpResponseBase | None:
        query = request.META.get("QUERY_STRING", "")
        if any(not name for name, _ in parse_qsl(query, keep_blank_values=True)):
            return error_response(
                400,
                "bad_request",
                "a query parameter has no name",
                {"fields": [{"field": "", "problem": "a parameter without a name"}]},
            )
        repeated = repeated_parameters(query)
        if repeated:
            return error_response(
                400,
                "repeated_parameter",
                "a query parameter is given more than once; send each at most once",
                {
                    "fields": [
                        {"field": name, "problem": "given more than once"} for name in repeated
                    ]
                },
            )
        limit = int(settings.LIGHTWAY_API_MAX_URI_LENGTH)
        target = request.get_full_path()
        if len(target) > limit:
            return error_response(
                414,
                "uri_too_long",
                f"the path and query are longer than {limit} characters",
                {"max_length": limit},
            )
        return None
