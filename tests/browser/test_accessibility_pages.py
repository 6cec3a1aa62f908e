"""axe-core over every page of the customer app, the LightWay back office and the MTN portal,
at desktop and phone size, in real headless Chromium against a live server; every panel page
visited or excluded with a reason (docs/panels.md, "Accessibility"). The pages, the people
and the helpers are in tests/browser/accessibility_support.py (shared with
test_accessibility_forms.py, a separate module so the two long tests run on two workers).
"""

from __future__ import annotations

import pytest

from tests.browser.accessibility_support import (
    EXCLUDED,
    PAGES,
    WHOLE_ON_DESKTOP,
    _keyboard_problems,
    _page_problems,
    _tables_cut,
    panel_routes,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_every_panel_page_is_visited_or_excluded_with_a_reason() -> None:
    routes = panel_routes()
    both = set(PAGES) & set(EXCLUDED)
    assert not both, f"both visited and excluded: {sorted(both)}"
    missing = routes - set(PAGES) - set(EXCLUDED)
    assert not missing, (
        "pages the accessibility test neither visits nor excludes (add each to PAGES in "
        "tests/browser/accessibility_support.py, or to EXCLUDED with the reason): "
        f"{sorted(missing)}"
    )
    stale = (set(PAGES) | set(EXCLUDED)) - routes
    assert not stale, f"no such URL pattern any more: {sorted(stale)}"
    assert all(len(reason) > 10 for reason in EXCLUDED.values())


def test_every_page_passes_axe_core_at_desktop_and_phone_size(realms, world) -> None:
    r = realms
    problems: list[str] = []
    visited = 0
    for size in ("desktop", "phone"):
        for route, (realm, template) in PAGES.items():
            w = r.watch(realm, size)
            path = template.format(**world)
            response = w.page.goto(f"{r.site}{path}")  # (waits for the load event)
            status = response.status if response else 0
            if status >= 400 or not w.page.url.endswith(path):
                problems.append(f"{route} ({realm}, {size}): {status} at {w.page.url}")
                continue
            visited += 1
            problems += _page_problems(w, path, size)
            if size == "desktop" and route in WHOLE_ON_DESKTOP:
                problems += _tables_cut(w, path)
    for w in r.watches.values():
        problems += [p for p in w.problems if "status of 4" not in p]
    problems += _keyboard_problems(r, world)
    assert not problems, "\n".join(problems)
    assert visited == 2 * len(PAGES)
