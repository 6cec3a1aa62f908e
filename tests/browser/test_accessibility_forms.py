"""Every form of the panels answers bad input inline (400, or 422 where docs/panels.md says
so), with an error summary, the message beside its field and what was typed kept, and passes
axe-core in that state at desktop and phone size (docs/panels.md, "Accessibility"). The forms
and helpers are in tests/browser/accessibility_support.py (shared with
test_accessibility_pages.py, a separate module so the two long tests run on two workers).
"""

from __future__ import annotations

import pytest

from tests.browser.accessibility_support import (
    FORMS,
    _bad_submit,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_every_form_rejects_bad_input_inline_and_keeps_it(realms) -> None:
    r = realms
    problems: list[str] = []
    for size in ("desktop", "phone"):
        for bad in FORMS:
            problems += _bad_submit(r.watch(bad.realm, size), r.site, bad, size)
    for w in r.watches.values():
        problems += [p for p in w.problems if "status of 4" not in p]
    assert not problems, "\n".join(problems)
