"""The staff FX pages (/staff/fx/): maker-checker through the panel (no approve button on
one's own proposal, and refused if forced), who sees what, the feed panel and a pair's
history paged by keyset."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from lightway.application.fx.browse import fx_history_page
from lightway.application.fx.feeds import fx_feed_import
from lightway.data.fx.models import FxRate
from lightway.integration.ratefeed.peg import PegFeed
from lightway.security.policy import Role
from tests.conftest import VerifiedClient
from tests.factories import staff
from tests.fx_support import feed_rate

pytestmark = pytest.mark.django_db


def _signed_in(username: str, roles, now) -> VerifiedClient:
    user_id = staff(username, roles, now)
    client = VerifiedClient()
    client.force_login(get_user_model().objects.get(pk=user_id))
    return client


def _approve_buttons(html: str) -> list[str]:
    return re.findall(r'aria-label="Approve ([^"]+)"', html)


def test_a_rate_proposed_in_the_panel_is_approved_by_a_colleague(now, settings):
    settings.FX_WATCH_PAIRS = ["USD/UGX", "EUR/XOF"]
    fx_feed_import(feed=PegFeed(), now=timezone.now())
    maker = _signed_in("maker", [Role.LW_FINANCE], now)
    checker = _signed_in("checker", [Role.LW_FINANCE], now)
    page = maker.get("/staff/fx/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-pair="EUR/XOF"' in html and "does not age" in html
    assert 'data-pair="USD/UGX"' in html and "stopped" in html  # no rate yet

    proposed = maker.post(
        "/staff/fx/propose/",
        {"base": "USD", "quote": "UGX", "mid": "3700.25", "spread_bps": "80"},
    )
    assert proposed.status_code == 302
    rate = FxRate.objects.get(base="USD", quote="UGX")
    assert rate.status == "proposed"
    # The proposer sees it waiting, without an approve button; a forced approval is refused.
    assert _approve_buttons(maker.get("/staff/fx/").content.decode()) == []
    forced = maker.post("/staff/fx/approve/", {"rate_id": rate.pk}, follow=True)
    assert "another person must approve" in forced.content.decode()
    rate.refresh_from_db()
    assert rate.status == "proposed"

    assert _approve_buttons(checker.get("/staff/fx/").content.decode()) == ["USD/UGX 3700.25"]
    assert checker.post("/staff/fx/approve/", {"rate_id": rate.pk}).status_code == 302
    rate.refresh_from_db()
    assert rate.status == "approved" and rate.decided_by.startswith("staff:")
    html = checker.get("/staff/fx/").content.decode()
    row = html.split('data-pair="USD/UGX"', 1)[1].split("</tr>", 1)[0]
    assert "quoting" in row and "treasury" in row and "3700.25" in row


def test_a_bad_proposal_is_shown_beside_its_field(now):
    maker = _signed_in("maker", [Role.LW_FINANCE], now)
    page = maker.post("/staff/fx/propose/", {"base": "USD", "quote": "UGX", "mid": "abc"})
    assert page.status_code == 422
    assert "must be a number" in page.content.decode()
    assert not FxRate.objects.exists()


def test_operations_see_the_rates_but_cannot_propose_or_approve(now):
    ops = _signed_in("ops", [Role.LW_OPERATIONS], now)
    page = ops.get("/staff/fx/")
    assert page.status_code == 200 and "Propose a treasury rate" not in page.content.decode()
    assert ops.post("/staff/fx/propose/", {"base": "USD", "quote": "UGX"}).status_code == 403
    assert ops.post("/staff/fx/approve/", {"rate_id": 1}).status_code == 403
    support = _signed_in("support", [Role.LW_SUPPORT], now)
    assert support.get("/staff/fx/").status_code == 403


def test_the_feed_panel_shows_each_feed_s_last_run(now, settings):
    settings.FX_ECB_BASE_URL = "http://127.0.0.1:9"  # nothing listens: the run fails
    from lightway.application.fx.feeds import fx_feeds_import

    fx_feeds_import(now=timezone.now())
    html = _signed_in("maker", [Role.LW_FINANCE], now).get("/staff/fx/").content.decode()
    ecb = html.split('data-feed="ecb"', 1)[1].split("</tr>", 1)[0]
    assert "never" in ecb and "could not be reached" in ecb
    peg = html.split('data-feed="peg"', 1)[1].split("</tr>", 1)[0]
    assert "never" not in peg.split("</td>", 1)[0]


def test_a_pair_s_history_is_paged_by_keyset(now):
    for i in range(7):
        feed_rate("USD", "UGX", f"{3700 + i}", 100, now + timedelta(minutes=i))
    first, cursor = fx_history_page(base="USD", quote="UGX", before="", limit=3)
    assert [r.mid for r in first] == [3706, 3705, 3704]
    second, cursor = fx_history_page(base="USD", quote="UGX", before=cursor, limit=3)
    assert [r.mid for r in second] == [3703, 3702, 3701]
    last, cursor = fx_history_page(base="usd", quote="ugx", before=cursor, limit=3)
    assert [r.mid for r in last] == [3700] and cursor is None
    client = _signed_in("maker", [Role.LW_FINANCE], now)
    page = client.get("/staff/fx/history/USD/UGX/")
    assert page.status_code == 200 and page.content.decode().count("data-rate=") == 7
    bad = client.get("/staff/fx/history/USD/UGX/?before=nonsense")
    assert bad.status_code == 302
