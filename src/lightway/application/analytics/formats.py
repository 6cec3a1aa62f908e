"""How rates and durations read on the pages: integer arithmetic, no float rounding."""

from __future__ import annotations


def rate(part: int, whole: int) -> str:
    """``part / whole`` as a percentage with one decimal ("97.5%"), rounded half up, in
    integers; "" when ``whole`` is 0."""
    if whole <= 0:
        return ""
    permille = (part * 1000 + whole // 2) // whole
    return f"{permille // 10}.{permille % 10}%"


def duration(ms: int | None) -> str:
    """A latency for people: "850 ms", "4.2 s", "3 min 20 s" ("" when unknown)."""
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        tenths = (ms + 50) // 100
        return f"{tenths // 10}.{tenths % 10} s"
    seconds = (ms + 500) // 1000
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
