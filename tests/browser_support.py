"""Where the browser tests find Chromium, and how they launch it.

Debian's ``chromium`` package (``.ci/run`` installs it; ``LIGHTWAY_CHROMIUM`` may point at
another build). Without it the browser tests are skipped on a developer machine with a
message saying how to install it, and fail under CI (``CI`` set), where it must be present.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest


def chromium_path() -> str:
    found = os.environ.get("LIGHTWAY_CHROMIUM") or shutil.which("chromium")
    if found and os.path.exists(found):
        return found
    message = "Chromium is not installed (apt-get install chromium, or set LIGHTWAY_CHROMIUM)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def chromium_launch(playwright: Any, **options: Any) -> Any:
    """A headless Chromium from Playwright's sync API."""
    return playwright.chromium.launch(
        executable_path=chromium_path(), headless=True, args=["--no-sandbox"], **options
    )
