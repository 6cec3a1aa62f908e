"""The goAML export page in real headless Chromium (Playwright) against a live server
(docs/goaml.md):

- a compliance officer opens /staff/compliance/goaml/ from the navigation, submits a
  backwards period first (400: the message beside the field, the dates kept), then
  generates the CTR of the day: the file is listed; its download is the sealed file's bytes
  (same SHA-256 as listed and audited) and validates against the FIU's XSD;
- on a phone-sized screen (another officer) the page does not scroll sideways as a whole;
  other roles' 403 is tested in tests/test_goaml_pages.py;
- no page logs a console error or breaks the Content-Security-Policy.

Screenshots go to var/screenshots/goaml-*.png (docs/screenshots/ keeps goaml-export.png).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from lightway.application.goaml.schema import schema_violations
from lightway.data.audit.models import AuditRecord
from lightway.data.goaml.models import GoamlFile
from lightway.security.policy import Role
from tests.browser_support import Watch, staff_sign_in, staff_with_totp
from tests.goaml_support import UAE, make_config, p2p, two_customers

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SHOT_PREFIX = "goaml-"
URL = "/staff/compliance/goaml/"


def _submit(w: Watch, form: str) -> int:
    with w.page.expect_navigation() as answer:
        w.page.click(f"{form} button[type=submit] >> nth=0")
    w.page.wait_for_load_state("networkidle")
    return answer.value.status if answer.value else 0


def test_compliance_generates_and_downloads_a_valid_ctr(site, desktop: Watch, mobile: Watch):
    now = timezone.now()
    make_config(now, UAE)
    a, b = two_customers(now)
    p2p(now, a, b, 2_500_000, "br1", "Land deposit")
    p2p(now, a, b, 1_200_000, "br2", "School fees")
    officer = staff_with_totp("cleo.compliance", Role.LW_COMPLIANCE)
    colleague = staff_with_totp("cara.compliance", Role.LW_COMPLIANCE)
    day = timezone.localtime(now, timezone=ZoneInfo(UAE["timezone"]))
    day_text = day.date().isoformat()

    w, page = desktop, desktop.page
    staff_sign_in(w, site, "cleo.compliance", officer, "/staff/")
    page.click("nav[aria-label=Staff] >> text=goAML")
    page.wait_for_url(f"{site}{URL}")
    assert "No file has been released yet." in page.content()

    form = "[data-testid=goaml-form]"
    page.select_option(f"{form} #id_what", "CTR")
    page.fill(f"{form} #id_start", day_text)
    page.fill(f"{form} #id_end", "2020-01-01")
    assert _submit(w, form) == 400
    assert page.locator(".error-summary").is_visible()
    assert "must not be before the first" in page.locator("#id_end").locator("..").inner_text()
    assert page.input_value(f"{form} #id_start") == day_text
    assert page.input_value(f"{form} #id_end") == "2020-01-01"
    w.shot("export-errors")

    page.fill(f"{form} #id_end", day_text)
    assert _submit(w, form) == 200
    assert "Released 1 file(s) with 2 transaction(s)" in page.content()
    row = GoamlFile.objects.get()
    listed = page.locator("[data-testid=goaml-files] tbody tr")
    assert listed.count() == 1 and row.reference in listed.first.inner_text()
    w.shot("export")

    with page.expect_download() as info:
        page.click("[data-testid=download]")
    path = info.value.path()
    assert path is not None and info.value.suggested_filename == row.filename
    body = Path(path).read_bytes()
    assert hashlib.sha256(body).hexdigest() == row.sha256
    assert schema_violations(xsd_file=UAE["xsd_file"], document=body) == []
    assert AuditRecord.objects.filter(action="goaml.file.download").count() == 1
    w.clean()

    # the page on a phone (a TOTP code is accepted once: another officer signs in)
    staff_sign_in(mobile, site, "cara.compliance", colleague, "/staff/")
    mobile.visit(f"{site}{URL}")
    assert mobile.page.locator("[data-testid=goaml-files] tbody tr").count() == 1
    mobile.fits_width()
    mobile.shot("export-phone")
    mobile.clean()
