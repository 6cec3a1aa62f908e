"""Human-readable CLI output: results on stdout, progress and notes on stderr.

With ``LIGHTWAY_PROGRESS_TO_LOG=1`` (what ``lightway up`` sets on the embedded default, for
itself and its children) notes and progress are log records instead (logger
``lightway.cli``, INFO): they go to the log file, and the terminal keeps the banner.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import TextIO

PROGRESS_TO_LOG = "LIGHTWAY_PROGRESS_TO_LOG"
_log = logging.getLogger("lightway.cli")


def progress_to_log() -> bool:
    return os.environ.get(PROGRESS_TO_LOG, "") == "1"


_BAR_WIDTH = 24


def say(message: str = "") -> None:
    """A result line (stdout)."""
    print(message, flush=True)


def note(message: str) -> None:
    """A progress or status line (stderr, or the log), so stdout stays clean for results."""
    if progress_to_log():
        if message.strip():
            _log.info(message.strip())
        return
    print(message, file=sys.stderr, flush=True)


def announce(message: str) -> None:
    """A status line a person must see even when progress goes to the log (stderr)."""
    print(message, file=sys.stderr, flush=True)


def error(message: str) -> None:
    """The one-line reason of a failure (stderr)."""
    print(f"lightway: error: {message}", file=sys.stderr, flush=True)


class Progress:
    """Progress of long work on stderr: a bar on a terminal, one line per step otherwise.

    Pass the instance as a ``progress`` callback. It accepts ``progress("message")`` (one
    step done) and ``progress(done, total)`` / ``progress(done, total, "message")``.
    """

    def __init__(self, label: str, *, total: int | None = None, stream: TextIO | None = None):
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.to_log = stream is None and progress_to_log()
        self.tty = not self.to_log and bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._drawn = False

    def __call__(self, *args: object) -> None:
        message = ""
        if len(args) == 1 and isinstance(args[0], int) and not isinstance(args[0], bool):
            self.done = args[0]  # progress(count_so_far)
        elif len(args) >= 2 and isinstance(args[0], int) and isinstance(args[1], int):
            self.done, self.total = args[0], args[1]
            message = " ".join(str(a) for a in args[2:])
        else:
            self.done += 1
            message = " ".join(str(a) for a in args)
        self._draw(message)

    step = __call__

    def _counter(self) -> str:
        if self.total:
            return f"{self.done}/{self.total}"
        return str(self.done)

    def _draw(self, message: str) -> None:
        if self.to_log:
            _log.info(f"{self.label} [{self._counter()}] {message}".strip())
            return
        if not self.tty:
            suffix = f" {message}" if message else ""
            self.stream.write(f"  {self.label} [{self._counter()}]{suffix}\n")
            self.stream.flush()
            return
        now = time.monotonic()
        if self.total and self.done < self.total and now - self._last_draw < 0.05:
            return  # redraw at most 20 times a second
        self._last_draw = now
        if self.total:
            filled = min(_BAR_WIDTH, _BAR_WIDTH * self.done // max(self.total, 1))
            bar = "#" * filled + "." * (_BAR_WIDTH - filled)
            head = f"  {self.label} [{bar}] {self._counter()}"
        else:
            head = f"  {self.label} [{self._counter()}]"
        line = f"{head} {message}" if message else head
        width = 100
        self.stream.write("\r" + line[:width].ljust(width))
        self.stream.flush()
        self._drawn = True

    def finish(self, message: str = "done") -> None:
        elapsed = time.monotonic() - self.started
        if self.to_log:
            _log.info(f"{self.label}: {message} ({elapsed:.1f} s)")
            return
        if self.tty and self._drawn:
            self.stream.write("\r" + " " * 100 + "\r")
        self.stream.write(f"  {self.label}: {message} ({elapsed:.1f} s)\n")
        self.stream.flush()
