"""Text as the goAML schemas accept it.

goAML person names must match ``[a-zA-Z0-9 .'-]*`` (section 2.6 of the compliance notes):
no accents, no Cyrillic or Arabic letters. :func:`name_latin` transliterates with
``anyascii`` (Cyrillic "Дмитрий" -> "Dmitriy", Arabic "محمد" -> "mhmd", "Côte" -> "Cote"),
drops whatever is still outside the allowed set, collapses spaces and truncates to the
schema's maximum length. The original spelling goes into the party's ``comments`` so
nothing is lost. Free text (reason, descriptions) keeps its Unicode (the schemas allow
it) but loses control characters XML cannot carry, and is truncated to its maximum.
"""

from __future__ import annotations

import re

from anyascii import anyascii

_NOT_NAME = re.compile(r"[^a-zA-Z0-9 .'-]+")
_SPACES = re.compile(r"\s+")
# Characters XML 1.0 cannot carry at all (C0 controls other than tab, newline, return).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def name_latin(value: str, *, max_length: int = 100) -> str:
    """``value`` transliterated to the goAML name alphabet, at most ``max_length`` long."""
    ascii_text = anyascii(value or "")
    ascii_text = ascii_text.replace("`", "'")
    cleaned = _SPACES.sub(" ", _NOT_NAME.sub(" ", ascii_text)).strip()
    return cleaned[:max_length].rstrip()


def name_split(full_name: str) -> tuple[str, str]:
    """(first names, last name) of a full name in the goAML alphabet; a single word is
    both, since both elements are required and the name must still match the KYC record."""
    words = name_latin(full_name, max_length=500).split(" ")
    words = [w for w in words if w]
    if not words:
        return "", ""
    if len(words) == 1:
        return words[0][:100], words[0][:100]
    return " ".join(words[:-1])[:100].rstrip(), words[-1][:100]


def text_clip(value: str, *, max_length: int) -> str:
    """Free text without XML-illegal characters, at most ``max_length`` characters."""
    cleaned = _XML_ILLEGAL.sub(" ", value or "").strip()
    return cleaned[:max_length].rstrip()


def code_clip(value: str, *, max_length: int) -> str:
    """An identifier (transaction number, account) in plain ASCII, truncated."""
    return text_clip(anyascii(value or ""), max_length=max_length)
