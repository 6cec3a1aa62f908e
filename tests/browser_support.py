"""Where the browser tests find Chromium, how they launch it, and what they share: a page
that records problems (``Watch``) and the staff sign-in.

Debian's ``chromium`` package (``.ci/run`` installs it; ``LIGHTWAY_CHROMIUM`` may point at
another build). Without it the browser tests are skipped on a developer machine with a
message saying how to install it, and fail under CI (``CI`` set), where it must be present.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path
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


# Playwright's sync API runs an event loop in this thread; Django's ORM refuses to run in
# such a thread unless told it is fine (the tests' own queries are synchronous).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"
STAFF_PASSWORD = "Browser-staff-password-26"
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
MOBILE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True}


class Watch:
    """A page plus every CSP violation, page error and console error it reports.

    ``prefix`` starts the screenshots' file names; a console error about ``expected_status``
    (a form with mistakes answers it on purpose) is not a problem, any other is.
    """

    def __init__(self, context: Any, *, prefix: str = "", expected_status: int = 400) -> None:
        self.context = context
        self.page = context.new_page()
        self.prefix = prefix
        self.expected = f"status of {expected_status}"
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        # securitypolicyviolation events are reported to the console as well; this also
        # catches those that Chromium reports only as events.
        self.page.add_init_script(
            "document.addEventListener('securitypolicyviolation', e => "
            "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
        )

    def _console(self, message: Any) -> None:
        text = message.text
        if "Content Security Policy" in text or "CSP violation" in text:
            self.problems.append(text)
        elif message.type == "error" and self.expected not in text:
            where = (message.location or {}).get("url", "")
            self.problems.append(f"console error: {text} ({where} on {self.page.url})")

    def visit(self, url: str) -> None:
        response = self.page.goto(url)
        assert response is not None and response.status < 400, (url, response and response.status)
        self.page.wait_for_load_state("networkidle")

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{self.prefix}{name}.png"), full_page=True)

    def fits_width(self) -> None:
        """The page as a whole does not scroll sideways (a wide table may, inside its
        ``.table-scroll``): what a phone-sized viewport must hold on every page.

        Measured against the layout viewport (``clientWidth``): on a mobile viewport
        Chromium zooms out to show a page that is too wide, and ``window.innerWidth`` grows
        with it, so comparing with that would never fail.
        """
        wide, viewport = self.page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        if wide > viewport:
            # What sticks out: elements, and text (a long word overflows its box unseen).
            culprits = self.page.evaluate(
                """w => {
                  const out = [], boxes = '.table-scroll, .table-wrap';
                  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
                  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
                    const r = document.createRange(); r.selectNodeContents(n);
                    const e = n.parentElement;
                    if (r.getBoundingClientRect().right > w && !e.closest(boxes))
                      out.push(e.tagName + '.' + e.className + ': ' + n.textContent.trim());
                  }
                  for (const e of document.querySelectorAll('body *'))
                    if (e.getBoundingClientRect().right > w && !e.closest(boxes))
                      out.push(e.tagName + '.' + e.className);
                  return out.slice(0, 8);
                }""",
                viewport,
            )
            raise AssertionError(
                f"{self.page.url} is {wide}px wide on a {viewport}px screen: {culprits}"
            )

    def clean(self) -> None:
        assert self.problems == [], self.problems


def staff_user(username: str, role: str, *, email: str | None = None) -> Any:
    """A staff member of ``role``'s realm with ``STAFF_PASSWORD`` (no second factor yet)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from lightway.application.identity.profiles import profile_create
    from lightway.application.staff.accounts import role_grant
    from lightway.data.identity.models import Realm
    from lightway.security.policy import ROLE_REALM

    now = timezone.now()
    realm = ROLE_REALM[role]
    user = get_user_model().objects.create_user(
        username, password=STAFF_PASSWORD, is_staff=realm == Realm.LIGHTWAY
    )
    profile_create(user_id=user.pk, realm=realm, now=now, email=email)
    role_grant(user_id=user.pk, role=role, actor="system", now=now)
    return user


def staff_with_totp(username: str, role: str, *, email: str | None = None) -> str:
    """A staff member with a confirmed TOTP device; returns the TOTP key (hex)."""
    from django.utils import timezone

    from lightway.security.mfa.totp import totp_device_new

    user = staff_user(username, role, email=email)
    key = hashlib.sha256(f"browser:{username}".encode()).hexdigest()[:40]
    totp_device_new(
        user_id=user.pk, name="browser", now=timezone.now(), confirmed=True, key=bytes.fromhex(key)
    )
    return key


def staff_password_step(w: Watch, site: str, username: str, then: str = r".*/staff/mfa/.*") -> None:
    """The staff sign-in's first step (username and password), up to the second one."""
    page = w.page
    w.visit(f"{site}/staff/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("main form button[type=submit] >> nth=0")
    page.wait_for_url(re.compile(then))


def staff_sign_in(w: Watch, site: str, username: str, key: str, landing: str) -> None:
    """Both steps of the staff sign-in (``key`` from ``staff_with_totp``), to ``landing``."""
    from django_otp.oath import totp

    staff_password_step(w, site, username)
    w.page.fill("#id_code", f"{totp(bytes.fromhex(key)):06d}")
    w.page.click("main form button[type=submit] >> nth=0")
    w.page.wait_for_url(f"{site}{landing}")


def chart_drawn(page: Any, selector: str) -> dict[str, Any]:
    """Wait until Chart.js has drawn the canvas at ``selector`` (``panels/charts.js``) and
    return what it drew: ``{"type", "datasets", "width", "painted"}`` (``painted``: how many
    of the canvas's pixels are not transparent)."""
    page.wait_for_function(
        "s => { const c = document.querySelector(s);"
        " return !!(c && window.Chart && Chart.getChart(c)); }",
        arg=selector,
    )
    return page.evaluate(
        """s => { const c = document.querySelector(s); const chart = Chart.getChart(c);
                  const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let painted = 0; for (let i = 3; i < px.length; i += 4) if (px[i]) painted++;
                  return {type: chart.config.type, datasets: chart.data.datasets.length,
                          width: c.getBoundingClientRect().width, painted}; }""",
        selector,
    )


# --- Accessibility: axe-core and the focus ring ------------------------------------------------

AXE_SOURCE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.1 A and AA plus axe's best practices: what docs/panels.md, "Accessibility", promises.
AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice")
BLOCKING = ("critical", "serious")


def _axe_source() -> str:
    if not AXE_SOURCE.exists():
        pytest.fail(f"axe-core is not installed ({AXE_SOURCE}): run `make install` (npm ci)")
    return AXE_SOURCE.read_text(encoding="utf-8")


def axe_violations(watch_or_page: Watch | Any, *, tags: tuple[str, ...] = AXE_TAGS) -> list[dict]:
    """Every axe-core violation on the page as it is now: ``{id, impact, help, nodes}`` with
    the first few offending elements (selector and axe's summary) per rule.

    axe is evaluated through the DevTools protocol (``page.evaluate``), which the page's
    Content-Security-Policy does not govern, so the page itself needs no exception.
    """
    page = getattr(watch_or_page, "page", watch_or_page)
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    return list(
        page.evaluate(
            """async tags => {
              const result = await axe.run(document, {
                runOnly: {type: 'tag', values: tags}, resultTypes: ['violations'],
              });
              return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 4).map(n => n.target.join(' ') + ' :: '
                  + (n.failureSummary || '').replace(/\\s+/g, ' ').slice(0, 240)),
              }));
            }""",
            list(tags),
        )
    )


def axe_report(violations: list[dict]) -> str:
    """The violations as lines a person can act on."""
    return "\n".join(
        f"  [{v['impact']}] {v['id']}: {v['help']}\n" + "".join(f"      {n}\n" for n in v["nodes"])
        for v in violations
    )


def axe_check(watch_or_page: Watch | Any, *, tags: tuple[str, ...] = AXE_TAGS) -> list[dict]:
    """Fail on any serious or critical axe-core violation (moderate and minor ones are named
    in the failure text); return the non-blocking violations for the caller to judge."""
    page = getattr(watch_or_page, "page", watch_or_page)
    violations = axe_violations(page, tags=tags)
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    rest = [v for v in violations if v["impact"] not in BLOCKING]
    if blocking:
        raise AssertionError(
            f"axe-core on {page.url} ({page.viewport_size}):\n"
            + axe_report(blocking)
            + ("  and, not blocking:\n" + axe_report(rest) if rest else "")
        )
    return rest


# The contrast of the focus ring against what lies behind it (WCAG 2.1 SC 1.4.11: 3:1). The
# ring is the computed outline, or a box-shadow ring when the outline is none; the colour
# behind is the first opaque background among the element's ancestors, with the
# translucent ones above it composited on top.
_FOCUS_RING_JS = """el => {
  const parse = c => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const over = (top, under) => ({
    r: top.r * top.a + under.r * (1 - top.a), g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a), a: 1,
  });
  const lum = c => {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const style = getComputedStyle(el);
  let ring = null, how = '';
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 1;
  if (outline) {
    ring = parse(style.outlineColor);
    how = 'outline ' + style.outlineWidth + ' ' + style.outlineColor;
  } else if (style.boxShadow && style.boxShadow !== 'none') {
    ring = parse(style.boxShadow); how = 'box-shadow ' + style.boxShadow;
  }
  if (!ring) return {ratio: 0, how: 'no visible focus ring (' + style.outlineStyle + ')'};
  const layers = [];
  // A ring drawn inside the element (negative offset) lies on the element's own background.
  const inside = outline && parseFloat(style.outlineOffset) < 0;
  for (let e = inside ? el : el.parentElement; e; e = e.parentElement) {
    const bg = parse(getComputedStyle(e).backgroundColor);
    if (bg && bg.a > 0) { layers.push(bg); if (bg.a >= 1) break; }
  }
  let back = {r: 255, g: 255, b: 255, a: 1};
  for (const layer of layers.reverse()) back = over(layer, back);
  const front = over(ring, back);
  const [hi, lo] = [lum(front), lum(back)].sort((x, y) => y - x);
  const hex = c => '#' + [c.r, c.g, c.b]
    .map(v => Math.round(v).toString(16).padStart(2, '0')).join('');
  return {ratio: (hi + 0.05) / (lo + 0.05), how: how + ' on ' + hex(back)};
}"""


def focus_ring_contrast(watch_or_page: Watch | Any, selector: str) -> tuple[float, str]:
    """Focus the first element matching ``selector`` as a keyboard user would (the page has
    seen a key press, so ``:focus-visible`` applies) and measure its ring: (ratio, how)."""
    page = getattr(watch_or_page, "page", watch_or_page)
    page.keyboard.press("Shift")
    element = page.locator(selector).first
    element.focus()
    result = element.evaluate(_FOCUS_RING_JS)
    return float(result["ratio"]), str(result["how"])


def focus_ring_check(watch_or_page: Watch | Any, *selectors: str, minimum: float = 3.0) -> None:
    """Each selector's element, focused, shows a ring of at least ``minimum``:1 contrast."""
    page = getattr(watch_or_page, "page", watch_or_page)
    weak = []
    for selector in selectors:
        ratio, how = focus_ring_contrast(page, selector)
        if ratio < minimum:
            weak.append(f"{selector}: {ratio:.2f}:1 ({how})")
    assert not weak, f"focus ring below {minimum}:1 on {page.url}: {weak}"
