"""The retention page (/staff/compliance/retention/, docs/retention.md) in real headless
Chromium against a live server: a compliance officer sees the policies in force, places a
legal hold (a mistake first: the message beside its field, the input kept), the page passes
axe-core; the officer who placed it cannot release it, a second officer does. On a phone-
sized screen the page does not scroll sideways.

Screenshots go to var/screenshots/retention-*.png (docs/screenshots/ keeps a copy).
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from lightway.application.retention.erasure import customer_close
from lightway.data.identity.models import Profile
from lightway.data.retention.defaults import policies_seed
from lightway.data.retention.models import LegalHold, RetentionPolicy
from lightway.security.policy import Role
from tests.browser_support import Watch, axe_check, staff_sign_in, staff_with_totp
from tests.factories import customer

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SHOT_PREFIX = "retention-"
PAGE = "/staff/compliance/retention/"


def _submit(w: Watch, form: str) -> None:
    with w.page.expect_navigation():
        w.page.click(f"{form} button[type=submit] >> nth=0")
    w.page.wait_for_load_state("networkidle")


def test_compliance_places_and_another_officer_releases_a_hold(desktop, mobile, site):
    policies_seed(RetentionPolicy)  # a transactional test starts from an emptied database
    now = timezone.now()
    user_id, _ = customer("former", now)
    customer_close(user_id=user_id, actor="system", now=now)
    subject = Profile.objects.get(pk=user_id).subject
    first = staff_with_totp("officer.one", Role.LW_COMPLIANCE)
    second = staff_with_totp("officer.two", Role.LW_COMPLIANCE)
    # the phone-size check signs in someone else: a TOTP code is accepted once, and the
    # same officer again within its 30 s step would be refused as a replay
    third = staff_with_totp("officer.three", Role.LW_COMPLIANCE)

    w = desktop
    staff_sign_in(w, site, "officer.one", first, "/staff/")
    w.visit(f"{site}{PAGE}")
    assert w.page.locator("[data-testid=retention-policies] tbody tr").count() >= 9
    w.page.fill("[data-testid=hold-form] #id_subject", "sub_nobody")
    w.page.fill("[data-testid=hold-form] #id_reason", "FIU letter 2026/14")
    _submit(w, "[data-testid=hold-form]")
    assert "no customer has this subject reference" in w.page.inner_text("main")
    assert w.page.input_value("#id_subject") == "sub_nobody"
    assert w.page.input_value("#id_reason") == "FIU letter 2026/14"
    axe_check(w)
    w.page.fill("[data-testid=hold-form] #id_subject", subject)
    _submit(w, "[data-testid=hold-form]")
    assert subject in w.page.inner_text("[data-testid=retention-holds]")
    axe_check(w)
    w.shot("staff-retention")
    hold = LegalHold.objects.get(user_id=user_id)
    w.page.fill("[data-testid=release-form] #id_release_reason", "FIU closed the case")
    _submit(w, "[data-testid=release-form]")
    assert "another compliance officer" in w.page.inner_text("main")

    w.context.clear_cookies()
    staff_sign_in(w, site, "officer.two", second, "/staff/")
    w.visit(f"{site}{PAGE}")
    w.page.select_option("[data-testid=release-form] #id_hold", str(hold.pk))
    w.page.fill("[data-testid=release-form] #id_release_reason", "FIU closed the case")
    _submit(w, "[data-testid=release-form]")
    assert "No legal hold is in force" in w.page.inner_text("main")
    hold.refresh_from_db()
    assert hold.released_at is not None
    w.clean()

    m = mobile
    staff_sign_in(m, site, "officer.three", third, "/staff/")
    m.visit(f"{site}{PAGE}")
    m.fits_width()
    axe_check(m)
    m.clean()
