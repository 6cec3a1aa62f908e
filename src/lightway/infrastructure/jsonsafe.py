"""JSON from outside, parsed within bounds.

``json.loads`` recurses once per nesting level: a body of 20,000 ``[`` raises
``RecursionError`` (not ``ValueError``), which slipped past every ``except ValueError`` and
became a 500. :func:`json_loads_bounded` measures the nesting first (without recursion) and
refuses anything deeper than ``LIGHTWAY_JSON_MAX_DEPTH`` with :class:`JsonRefused`, a
``ValueError``, so callers that already treat invalid JSON as bad input need no change.
Numbers longer than Python's integer-string limit and invalid UTF-8 are refused the same
way. Every place that parses a body from outside (the API, the webhooks, the panels' JSON
endpoints) uses it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings

DEFAULT_MAX_DEPTH = 64

# A JSON string (with its escapes), so brackets inside strings are not counted.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


class JsonRefused(ValueError):
    """The text is not JSON this platform accepts; the message says why."""


def max_depth() -> int:
    return int(getattr(settings, "LIGHTWAY_JSON_MAX_DEPTH", DEFAULT_MAX_DEPTH))


def json_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in ``data`` (iteratively, any size)."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', data)):
        if match.group(0) in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def json_loads_bounded(
    data: bytes | str, *, limit: int | None = None, parse_float: Callable[[str], Any] | None = None
) -> Any:
    """``json.loads`` that raises :class:`JsonRefused` (a ``ValueError``) for input nested
    deeper than ``limit`` (default ``LIGHTWAY_JSON_MAX_DEPTH``), invalid UTF-8, numbers too
    long to convert and anything else that is not JSON; never ``RecursionError``."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    bound = max_depth() if limit is None else limit
    if json_depth(raw) > bound:
        raise JsonRefused(f"JSON nested deeper than {bound} levels")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise JsonRefused("the body is not valid UTF-8") from None
    try:
        return json.loads(text, parse_float=parse_float)
    except RecursionError:  # a bound above what the interpreter's stack allows
        raise JsonRefused(f"JSON nested deeper than {bound} levels") from None
    except ValueError as exc:  # JSONDecodeError, or an integer too long to convert
        raise JsonRefused(f"not valid JSON: {exc}") from None
