"""What counts as printable text in the API: one rule for the OpenAPI document's patterns
and the server's own checks, so what the document allows the server accepts, and nothing
else (docs/api.md, "Text fields").

Refused anywhere in a name, note, reference or login: C0 and C1 control characters and
DEL, the soft hyphen, line and paragraph separators, and the invisible formatting and
direction controls (zero-width characters, bidi embeddings, overrides and isolates, the
byte order mark) that can make a text display as something it is not. Everything else,
letters of any script and spaces included, is allowed.

The character class is written with ``\\xNN`` and ``\\uNNNN`` escapes only, which the
regular expression engines that read it agree on: Python's ``re``, pydantic's validator
and the ECMA-262 dialect of JSON Schema.
"""

from __future__ import annotations

import re

UNPRINTABLE = (
    r"\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f"
    r"\ufeff\ufff9-\ufffb"
)
PRINTABLE_CHAR = f"[^{UNPRINTABLE}]"


def printable_pattern(*, min_length: int = 0, max_length: int) -> str:
    """A regular expression for ``min_length`` to ``max_length`` printable characters."""
    return f"^{PRINTABLE_CHAR}{{{min_length},{max_length}}}$"


def text_printable(value: str, *, min_length: int = 0, max_length: int) -> bool:
    """Whether ``value`` is ``min_length`` to ``max_length`` printable characters (and
    valid Unicode: a lone surrogate from a JSON escape is not text)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    pattern = printable_pattern(min_length=min_length, max_length=max_length)
    return re.fullmatch(pattern, value) is not None
