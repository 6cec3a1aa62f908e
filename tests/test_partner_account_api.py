"""The partner's own account through the signed API (interfaces/api/partner_account.py):
the events feed pages without gaps, balances and movements agree with the ledger, and a
day's statement reconciles (opening + entries = closing = the prefund balance at the day's
end, the next day opening with it), in JSON and CSV."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.db import DatabaseError, connection, transaction

from lightway.application.partners.account import partner_statement_cuts_take
from lightway.application.partners.keys import partner_key_create
from lightway.application.partners.onboarding import partner_onboard
from lightway.data.ledger.kinds import OPENING_BALANCE, REVERSAL
from lightway.data.ledger.models import Account, AccountKind
from lightway.data.ledger.rollups import account_balance_before
from lightway.data.ledger.services import Leg, entry_post, house_account
from lightway.data.partners.models import StatementCut
from lightway.data.partners.services import partner_event_record
from tests.partner_support import details, signed_get
from tests.query_cost import checkpoints_roll_up

pytestmark = pytest.mark.django_db

DAY1 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
DAY2, DAY3, DAY4 = (DAY1 + timedelta(days=n) for n in (1, 2, 3))


@pytest.fixture
def partner(now):
    result = partner_onboard(details=details(), actor="staff:1", now=now)
    key_id, secret = partner_key_create(partner_id=result.partner_id, actor="s", now=now)
    return result.partner_id, key_id, secret


def _get(client, partner, target):
    _pid, key_id, secret = partner
    return signed_get(client, key_id, secret, target)


def _post(kind: str, amount: int, at: datetime, *, leg: str = "", reference: str = "") -> None:
    """Money into (+) or out of (-) the UGX prefund, against equity."""
    prefund = Account.objects.get(owner_ref="acme-remit", currency="UGX")
    equity = house_account(kind=AccountKind.EQUITY, currency="UGX", now=at)
    with transaction.atomic():
        entry_post(
            kind=kind,
            currency="UGX",
            legs=[Leg(prefund.pk, amount, leg), Leg(equity.pk, -amount)],
            reference=reference,
            description=f"{kind} {amount}",
            now=at,
        )


def test_the_events_feed_pages_in_order_without_gaps_and_only_the_partners_own(
    client, partner, now
):
    pid = partner[0]
    other = partner_onboard(details=details(code="other-remit"), actor="s", now=now).partner_id
    mine = []
    for n in range(7):
        mine.append(
            partner_event_record(
                partner_id=pid,
                type="t",
                object_type="remittance",
                object_id=f"m{n}",
                data={"version": n},
                now=now,
            ).event_id
        )
        partner_event_record(
            partner_id=other,
            type="t",
            object_type="remittance",
            object_id=f"o{n}",
            data={},
            now=now,
        )
    seen, after, pages = [], 0, 0
    while True:
        response = _get(client, partner, f"/api/v1/partner/events?after={after}&limit=3")
        assert response.status_code == 200, response.content
        page = response.json()
        pages += 1
        if not page["events"]:
            assert page["next_after"] == after
            break
        seqs = [e["seq"] for e in page["events"]]
        assert seqs == sorted(seqs) and seqs[0] > after
        after = page["next_after"]
        assert after == seqs[-1]
        seen += page["events"]
    assert pages == 4
    assert [e["event_id"] for e in seen] == [str(e) for e in mine]
    assert [e["data"]["version"] for e in seen] == list(range(7))
    assert {e["object_id"] for e in seen} == {f"m{n}" for n in range(7)}
    assert _get(client, partner, "/api/v1/partner/events?after=-1").status_code == 422
    assert _get(client, partner, "/api/v1/partner/events?limit=501").status_code == 422


def test_balances_and_movements_agree_with_the_ledger(client, partner, now):
    _post(OPENING_BALANCE, 100_000, now)
    for n in range(4):
        _post("remittance", -(10_000 + n), now, reference=f"r{n}")
    _post("remittance", -500, now, leg="fee")
    prefund = Account.objects.get(owner_ref="acme-remit", currency="UGX")
    prefund.refresh_from_db()
    body = _get(client, partner, "/api/v1/partner/balances").json()
    ugx = next(b for b in body["balances"] if b["currency"] == "UGX")
    assert ugx == {
        "currency": "UGX",
        "balance": prefund.balance,
        "reserved": prefund.held,
        "available": prefund.balance - prefund.held,
    }
    assert ugx["balance"] == 100_000 - 40_006 - 500
    assert {b["currency"] for b in body["balances"]} == {"UGX", "GHS"}

    lines, cursor = [], ""
    while True:
        page = _get(
            client, partner, f"/api/v1/partner/balances/UGX/movements?limit=2{cursor}"
        ).json()
        lines += page["movements"]
        if not page["next_cursor"]:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert len(lines) == 6
    assert [m["type"] for m in lines] == ["FEE", "PAYOUT", "PAYOUT", "PAYOUT", "PAYOUT", "TOPUP"]
    assert lines[0]["balance_after"] == prefund.balance
    for newer, older in itertools.pairwise(lines):
        assert newer["balance_after"] - newer["amount"] == older["balance_after"]
    assert lines[-1]["balance_after"] == lines[-1]["amount"] == 100_000
    missing = _get(client, partner, "/api/v1/partner/balances/EUR/movements")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    assert _get(client, partner, "/api/v1/partner/balances/ugx/movements").status_code == 422


def test_daily_statements_reconcile_and_chain(client, partner):
    _post(OPENING_BALANCE, 500_000, DAY1)
    _post("remittance", -70_000, DAY1)
    partner_statement_cuts_take(now=DAY2.replace(hour=0, minute=6))  # the base cut
    _post("remittance", -120_000, DAY2)
    _post("remittance", -1_500, DAY2, leg="fee")
    _post(REVERSAL, 120_000, DAY2 + timedelta(hours=3))
    checkpoints_roll_up(every=2)  # statements read checkpoints, not history
    _post(OPENING_BALANCE, 30_000, DAY2 + timedelta(hours=13, minutes=59))
    assert partner_statement_cuts_take(now=DAY3.replace(hour=0, minute=4)) == 0  # too early
    assert partner_statement_cuts_take(now=DAY3.replace(hour=0, minute=6)) == 1
    _post("remittance", -9_999, DAY3)
    partner_statement_cuts_take(now=DAY4.replace(hour=0, minute=6))

    prefund = Account.objects.get(owner_ref="acme-remit", currency="UGX")
    day2 = _get(client, partner, "/api/v1/partner/statements?date=2026-11-21&currency=UGX")
    assert day2.status_code == 200, day2.content
    s2 = day2.json()
    assert s2["opening_balance"] == 430_000
    assert [e["type"] for e in s2["entries"]] == ["PAYOUT", "FEE", "REVERSAL", "TOPUP"]
    assert s2["closing_balance"] == s2["opening_balance"] + sum(e["amount"] for e in s2["entries"])
    cut2 = StatementCut.objects.get(day="2026-11-21")
    assert s2["closing_balance"] == account_balance_before(
        account_id=prefund.pk, before_id=cut2.last_posting_id + 1
    )
    assert (s2["total_in"], s2["total_out"]) == (150_000, 121_500)
    s3 = _get(client, partner, "/api/v1/partner/statements?date=2026-11-22&currency=UGX").json()
    assert s3["opening_balance"] == s2["closing_balance"]
    assert s2["closing_balance"] == 458_500
    prefund.refresh_from_db()
    assert s3["closing_balance"] == prefund.balance == 448_501

    response = _get(
        client, partner, "/api/v1/partner/statements?date=2026-11-21&currency=UGX&format=csv"
    )
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[1][:4] == ["date", "posting_id", "occurred_at", "type"]
    assert rows[2][3] == "OPENING" and int(rows[2][5]) == s2["opening_balance"]
    assert rows[-1][3] == "CLOSING" and int(rows[-1][5]) == s2["closing_balance"]
    assert [r[3] for r in rows[3:-1]] == ["PAYOUT", "FEE", "REVERSAL", "TOPUP"]

    for date, status, code in (
        ("2026-11-20", 404, "statement_unavailable"),  # the base day
        ("2026-11-01", 404, "statement_unavailable"),
        ("2026-11-23", 409, "statement_not_ready"),
        ("2027-01-01", 409, "statement_not_ready"),
    ):
        answer = _get(client, partner, f"/api/v1/partner/statements?date={date}&currency=UGX")
        assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), date
    bad = _get(client, partner, "/api/v1/partner/statements?date=2026-02-30&currency=UGX")
    assert bad.status_code == 422
    assert bad.json()["error"]["details"]["fields"][0]["field"] == "query.date"
    assert (
        _get(client, partner, "/api/v1/partner/statements?date=2026-11-21&currency=EUR").status_code
        == 404
    )


def test_a_posting_dated_before_midnight_that_commits_after_the_cut_is_on_the_next_day(
    client, partner
):
    _post(OPENING_BALANCE, 1_000, DAY1)
    partner_statement_cuts_take(now=DAY2.replace(hour=0, minute=6))
    _post("remittance", -100, DAY2)
    partner_statement_cuts_take(now=DAY3.replace(hour=0, minute=6))
    # Dated on day 2, but inserted after day 2 was cut: day 3 holds it.
    _post("remittance", -7, DAY2.replace(hour=23, minute=59))
    partner_statement_cuts_take(now=DAY4.replace(hour=0, minute=6))
    s2 = _get(client, partner, "/api/v1/partner/statements?date=2026-11-21&currency=UGX").json()
    s3 = _get(client, partner, "/api/v1/partner/statements?date=2026-11-22&currency=UGX").json()
    assert [e["amount"] for e in s2["entries"]] == [-100]
    assert [e["amount"] for e in s3["entries"]] == [-7]
    assert s3["opening_balance"] == s2["closing_balance"] == 900
    assert s3["closing_balance"] == 893


def test_day_cuts_are_consecutive_and_final(db, now):
    partner_statement_cuts_take(now=DAY2.replace(hour=1))
    assert partner_statement_cuts_take(now=DAY2.replace(hour=2)) == 0
    assert partner_statement_cuts_take(now=DAY4.replace(hour=1)) == 2  # catches up in order
    assert list(StatementCut.objects.values_list("day", flat=True)) == [
        DAY1.date(),
        DAY2.date(),
        DAY3.date(),
    ]
    with pytest.raises(DatabaseError), transaction.atomic():
        StatementCut.objects.create(
            day=DAY4.date() + timedelta(days=3), last_posting_id=0, taken_at=now
        )
    with pytest.raises(DatabaseError), transaction.atomic():
        StatementCut.objects.filter(day=DAY1.date()).update(last_posting_id=5)


def _checkpoint_state(partner_id: int) -> dict[str, object]:
    """What the roll-up left, to explain a statement that read too much."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.account_id, c.posting_id FROM ledger_balance_checkpoint c"
            " ORDER BY c.posting_id DESC LIMIT 12"
        )
        latest = cur.fetchall()
        cur.execute("SELECT min(id), max(id), count(*) FROM ledger_posting")
        postings = cur.fetchone()
    cuts = list(StatementCut.objects.values_list("day", "last_posting_id"))
    return {"checkpoints": latest, "postings": postings, "cuts": cuts, "partner": partner_id}


def test_a_statement_reads_its_day_not_the_history(partner):
    from lightway.application.partners.account import partner_movements, partner_statement
    from tests.query_cost import rows_read

    pid = partner[0]
    # Other accounts' postings, so the posting table is not the few hundred rows of this
    # test: on a table that small the planner's choice (an index on the account, or the
    # table's id range) depended on statistics other tests had left, and the count below
    # measured those instead of the statement's query.
    a = house_account(kind=AccountKind.FEE_REVENUE, currency="UGX", now=DAY1)
    b = house_account(kind=AccountKind.EQUITY, currency="UGX", owner_ref="noise", now=DAY1)
    entry_post(
        kind=OPENING_BALANCE,
        currency="UGX",
        legs=[Leg(a.pk, 1), Leg(b.pk, -1)] * 5_000,
        description="other accounts' history",
        now=DAY1,
    )
    _post(OPENING_BALANCE, 10_000_000, DAY1)
    for n in range(150):  # a long history before the day
        _post("remittance", -(n + 1), DAY1)
    partner_statement_cuts_take(now=DAY2.replace(hour=0, minute=6))
    for _ in range(3):
        _post("remittance", -1_000, DAY2)
    partner_statement_cuts_take(now=DAY3.replace(hour=0, minute=6))
    checkpoints_roll_up(every=20)
    day = DAY2.date()
    statement = partner_statement(partner_id=pid, currency="UGX", day=day)
    assert statement.opening_balance == 10_000_000 - sum(range(1, 151))
    read = rows_read(
        lambda: partner_statement(partner_id=pid, currency="UGX", day=day),
        as_on_a_large_table=True,
    )
    # the day's 3 postings, and at most a checkpoint interval's worth for the opening
    assert read["ledger_posting"] <= 3 + 20 + 2, (read, _checkpoint_state(pid))
    page = rows_read(
        lambda: partner_movements(partner_id=pid, currency="UGX", before=None, limit=5),
        as_on_a_large_table=True,
    )
    assert page["ledger_posting"] <= 5 + 20 + 2, (page, _checkpoint_state(pid))
