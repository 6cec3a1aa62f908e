"""The browser tests' fixtures: one headless Chromium per module, a desktop or phone-sized
page that records problems (``tests.browser_support.Watch``) and the live server's address.

A test module names its screenshots with ``SHOT_PREFIX`` and may expect form mistakes to
answer ``FORM_ERROR_STATUS`` (400 unless it says otherwise).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser_support import DESKTOP, MOBILE, Watch, chromium_launch


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = chromium_launch(p)
        yield chromium
        chromium.close()


def _watch(
    request: pytest.FixtureRequest, browser: Any, options: dict[str, Any]
) -> Iterator[Watch]:
    context = browser.new_context(**options)
    yield Watch(
        context,
        prefix=getattr(request.module, "SHOT_PREFIX", ""),
        expected_status=getattr(request.module, "FORM_ERROR_STATUS", 400),
    )
    context.close()


@pytest.fixture
def desktop(request: pytest.FixtureRequest, browser: Any) -> Iterator[Watch]:
    yield from _watch(request, browser, DESKTOP)


@pytest.fixture
def mobile(request: pytest.FixtureRequest, browser: Any) -> Iterator[Watch]:
    yield from _watch(request, browser, MOBILE)


@pytest.fixture
def site(live_server, settings) -> str:
    settings.LIGHTWAY_PUBLIC_URL = live_server.url
    settings.LIGHTWAY_WEBAUTHN_RP_ID = ""
    return str(live_server.url)


# The accessibility tests' people, browser contexts and objects (two modules share them).
from tests.browser.accessibility_support import realms, world  # noqa: E402, F401
