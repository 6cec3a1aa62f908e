"""Django admin lists on history tables cost the same however long the history is
(issue 10, docs/performance.md): capped counts, no SELECT DISTINCT filters, house-account
balances from checkpoints."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lightway.data.ledger.models import AccountKind
from lightway.data.ledger.services import Leg, account_open, entry_post, house_account
from tests.query_cost import checkpoints_roll_up, rows_read

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(now):
    equity = house_account(kind=AccountKind.EQUITY, currency="UGX", now=now)
    wallet = account_open(code="wallet:h", kind=AccountKind.WALLET, currency="UGX", now=now)
    for _ in range(30):
        entry_post(
            kind="p2p", currency="UGX", legs=[Leg(equity.pk, -10), Leg(wallet.pk, 10)], now=now
        )
    return equity, wallet


def _queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return response.content.decode(), [q["sql"] for q in captured.captured_queries]


@pytest.mark.parametrize(
    "url, table",
    [
        ("/admin/ledger/journalentry/", "ledger_journal_entry"),
        ("/admin/ledger/journalentry/?kind=p2p", "ledger_journal_entry"),
        ("/admin/ledger/account/", "ledger_account"),
        ("/admin/wallets/transfer/", "wallets_transfer"),
        ("/admin/ledger/hold/", "ledger_hold"),
        ("/admin/audit/auditrecord/", "audit_record"),
        ("/admin/procrastinate/procrastinatejob/", "procrastinate_jobs"),
    ],
)
def test_admin_lists_count_at_most_the_cap_and_list_no_distinct_values(
    admin_client, history, settings, url, table
):
    """Regression: every list view ran SELECT count(*) over the whole table (twice when
    filtered), and the kind filter / date hierarchy a SELECT DISTINCT over it."""
    settings.LIGHTWAY_ADMIN_COUNT_CAP = 5
    _, sqls = _queries(admin_client, url)
    on_table = [s for s in sqls if f'"{table}"' in s or f" {table} " in s]
    counts = [s for s in on_table if "COUNT(" in s.upper()]
    assert counts, "the list counts its rows"
    for sql in counts:
        assert "LIMIT 6" in sql.upper(), sql  # cap + 1 rows at most
    assert not [s for s in on_table if "DISTINCT" in s.upper()]


def test_a_capped_count_reads_cap_plus_on_the_page(admin_client, history, settings):
    settings.LIGHTWAY_ADMIN_COUNT_CAP = 5
    text, _ = _queries(admin_client, "/admin/ledger/journalentry/")
    assert "5+ journal entries" in text
    settings.LIGHTWAY_ADMIN_COUNT_CAP = 1000
    text, _ = _queries(admin_client, "/admin/ledger/journalentry/")
    assert "30 journal entries" in text


def test_account_list_reads_house_balances_from_checkpoints(admin_client, history, now):
    """Regression: each house account row summed all of its postings."""
    equity, wallet = history
    checkpoints_roll_up(every=10)
    entry_post(kind="p2p", currency="UGX", legs=[Leg(equity.pk, -7), Leg(wallet.pk, 7)], now=now)
    read = rows_read(lambda: admin_client.get("/admin/ledger/account/"))
    assert read["ledger_posting"] <= 1  # the one posting after the checkpoint, not 31
    text = admin_client.get("/admin/ledger/account/").content.decode()
    assert "-307" in text and "307" in text
