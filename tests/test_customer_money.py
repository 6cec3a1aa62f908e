"""The customer's money pages (docs/panels.md, "Money"): send to a LightWay user, the
history (filters, search, keyset pages), a payment's detail and receipt, monthly
statements; their services; realm checks; what they cost on a large table."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from lightway.application.identity.profiles import profile_set_pii
from lightway.application.partners.account import partner_statement_cuts_take
from lightway.application.transactions import history as history_module
from lightway.application.transactions.history import (
    HistoryFilter,
    history_filter_clean,
    history_page,
    position_decode,
)
from lightway.application.transactions.statements import (
    statement_csv,
    wallet_statement_month,
)
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.application.transactions.wallets import wallet_list
from lightway.data.wallets.models import Transfer
from tests.factories import funded_wallet
from tests.momo_flow_support import momo_customer
from tests.query_cost import rows_read

pytestmark = pytest.mark.django_db

AMARA_PHONE = "+256772123401"
KOFI_PHONE = "+256772123402"
KEY_RE = re.compile(r'name="key" value="([^"]+)"')
CHALLENGE_RE = re.compile(r'name="challenge" value="([^"]+)"')


@pytest.fixture
def now() -> datetime:
    return timezone.now()


@pytest.fixture
def people(now, client):
    """Amara (UGX 1,000,000, signed in) and Kofi (an empty UGX wallet), both verified."""
    amara = momo_customer("amara", now, phone=AMARA_PHONE, wallet=1_000_000)
    kofi = momo_customer("kofi", now, phone=KOFI_PHONE)
    profile_set_pii(user_id=kofi, now=now, name="Kofi Mensah")
    funded_wallet(kofi, "UGX", 0, now)
    client.force_login(get_user_model().objects.get(pk=amara))
    return amara, kofi


def _wallet(uid: int, code: str = "UGX"):
    return next(w for w in wallet_list(owner_id=uid) if w.wallet.currency == code)


def _form(**values: str) -> dict[str, str]:
    base = {"phone": "0772 123 402", "currency": "UGX", "amount": "15,000", "description": ""}
    base.update(values)
    return base


# --- send ----------------------------------------------------------------------------------------


def test_send_to_a_user_reviews_asks_for_the_sms_code_and_pays_once(client, people, outbox):
    amara, kofi = people
    page = client.get("/app/send/")
    assert page.status_code == 200
    key = KEY_RE.search(page.content.decode()).group(1)
    review = client.post("/app/send/", _form(key=key, description="lunch"))
    text = review.content.decode()
    assert review.status_code == 200 and 'data-testid="review"' in text
    assert "K••• M•••••" in text and "Kofi" not in text  # the name, masked
    assert "UGX 15,000" in text
    fee = 15_000 + 0  # demo P2P fee schedule: read the total the page states
    assert 'data-testid="review-total"' in text
    # confirm: a first payment to this wallet needs the SMS code (the API's step-up rule)
    asked = client.post("/app/send/", {**_form(key=key, description="lunch"), "confirm": "1"})
    assert asked.status_code == 200 and 'data-testid="step-up"' in asked.content.decode()
    assert not Transfer.objects.filter(client_id=amara).exists()
    challenge = CHALLENGE_RE.search(asked.content.decode()).group(1)
    wrong = client.post(
        "/app/send/",
        {
            **_form(key=key, description="lunch"),
            "confirm": "1",
            "challenge": challenge,
            "code": "000000",
        },
    )
    assert wrong.status_code == 400 and "id_code_error" in wrong.content.decode()
    code = outbox.latest_code(AMARA_PHONE)
    body = {
        **_form(key=key, description="lunch"),
        "confirm": "1",
        "challenge": challenge,
        "code": code,
    }
    done = client.post("/app/send/", body)
    assert done.status_code == 302
    transfer = Transfer.objects.get(client_id=amara)
    assert done["Location"] == f"/app/history/{transfer.id}/"
    assert transfer.status == "succeeded" and transfer.amount == 15_000
    assert transfer.description == "lunch"
    # a double click (the same key again): the same payment, not a second one
    again = client.post("/app/send/", body)
    assert again.status_code == 302 and again["Location"] == done["Location"]
    assert Transfer.objects.filter(client_id=amara).count() == 1
    assert _wallet(kofi).balance == 15_000
    assert _wallet(amara).balance == 1_000_000 - 15_000 - transfer.fee
    assert fee <= 15_000 + transfer.fee


def test_send_form_errors_are_400_beside_the_field_and_keep_what_was_typed(client, people):
    bad_amount = client.post("/app/send/", _form(amount="12.5x", key="k1"))
    text = bad_amount.content.decode()
    assert bad_amount.status_code == 400
    assert 'id="id_amount_error"' in text and 'value="12.5x"' in text
    assert "error-summary" in text
    unknown = client.post("/app/send/", _form(phone="0772 999 888", key="k2"))
    text = unknown.content.decode()
    assert unknown.status_code == 400 and 'id="id_phone_error"' in text
    assert "no LightWay UGX wallet for this number" in text and "0772 999 888" in text
    not_a_number = client.post("/app/send/", _form(phone="hello", key="k3"))
    assert not_a_number.status_code == 400
    assert 'id="id_phone_error"' in not_a_number.content.decode()
    own = client.post("/app/send/", _form(phone=AMARA_PHONE, key="k4"))
    assert own.status_code == 400 and "your own number" in own.content.decode()
    too_much = client.post("/app/send/", _form(amount="2000000", key="k5"))
    assert too_much.status_code == 400 and "available" in too_much.content.decode()
    assert not Transfer.objects.exists()


# --- refusals are not payments -------------------------------------------------------------------


def _refused(amara: int, kofi: int, now: datetime) -> Transfer:
    """A payment the API refused (above the tier's per-transaction limit): recorded as a
    failed transfer that never moved money."""
    outcome = transfer_create(
        client_id=amara,
        idempotency_key=f"refused-{uuid.uuid4()}",
        request=TransferRequest(
            source_wallet_id=_wallet(amara).wallet.id,
            destination_wallet_id=_wallet(kofi).wallet.id,
            amount=99_999_999,
            currency="UGX",
        ),
        now=now,
    )
    assert outcome.transfer.status == "failed"
    return outcome.transfer


def test_a_refused_api_attempt_does_not_look_like_a_payment(client, people, now):
    """Regression: the MoMo list showed "(minus) UGX 99,999,999 Failed" for a refusal."""
    amara, kofi = people
    refused = _refused(amara, kofi, now)
    for url in ("/app/history/", "/app/momo/"):
        text = client.get(url).content.decode()
        assert "UGX 99,999,999" in text, url
        assert "\u2212 UGX 99,999,999" not in text, url
        assert "Refused, no money moved" in text, url
    detail = client.get(f"/app/history/{refused.id}/").content.decode()
    assert "Refused, no money moved" in detail and "Taken from your wallet" not in detail
    # the recipient never sees someone else's refused attempt
    client.force_login(get_user_model().objects.get(pk=kofi))
    assert "99,999,999" not in client.get("/app/history/").content.decode()
    assert client.get(f"/app/history/{refused.id}/").status_code == 404


# --- history -------------------------------------------------------------------------------------


def _row(client_id, source, destination, created, *, kind="p2p", status="pending", desc=""):
    return Transfer.objects.create(
        kind=kind,
        status=status,
        failure_code="test" if status == "failed" else "",
        client_id=client_id,
        idempotency_key=str(uuid.uuid4()),
        request_hash="x",
        source_wallet=source,
        destination_wallet=destination,
        currency=(source or destination).currency,
        amount=100,
        description=desc,
        created_at=created,
        updated_at=created,
    )


def _all_pages(customer_id: int, filters: HistoryFilter, size: int) -> list[uuid.UUID]:
    seen: list[uuid.UUID] = []
    before = None
    for _ in range(100):
        page = history_page(
            customer_id=customer_id, filters=filters, before=before, country="UG", page_size=size
        )
        seen += [r.transfer.id for r in page.rows]
        if not page.next_before:
            return seen
        before = position_decode(page.next_before)
    raise AssertionError("the pages never ended")


def test_history_pages_by_keyset_through_equal_timestamps_and_both_directions(people, now):
    amara, kofi = people
    a, k = _wallet(amara).wallet, _wallet(kofi).wallet
    same = now - timedelta(hours=1)
    made = [_row(amara, a, k, same if i % 2 else now - timedelta(minutes=i)) for i in range(14)]
    got = [
        _row(kofi, k, a, same if i % 3 else now - timedelta(minutes=i, seconds=30))
        for i in range(9)
    ]
    _row(kofi, k, a, now, status="failed")  # someone else's refusal: not mine to see
    _row(kofi, k, k, now)  # nothing to do with Amara
    expected = sorted(made + got, key=lambda t: (t.created_at, t.id), reverse=True)
    for size in (1, 4, 7, 50):
        assert _all_pages(amara, HistoryFilter(), size) == [t.id for t in expected], size


def test_history_filters_and_search(people, now):
    amara, kofi = people
    a, k = _wallet(amara).wallet, _wallet(kofi).wallet
    ghs = funded_wallet(amara, "GHS", 0, now)
    sent = _row(amara, a, k, now - timedelta(days=1), desc="School fees March", status="pending")
    got = _row(kofi, k, a, now - timedelta(days=2), desc="rent share")
    refused = _row(amara, a, k, now - timedelta(days=3), status="failed")
    withdrawal = _row(amara, a, None, now - timedelta(days=4), kind="withdrawal")
    old = _row(amara, ghs, None, now - timedelta(days=40), kind="withdrawal", status="pending")

    def ids(**typed: str) -> set[uuid.UUID]:
        filters = history_filter_clean(**typed)
        return set(_all_pages(amara, filters, 10))

    assert ids() == {sent.id, got.id, refused.id, withdrawal.id, old.id}
    assert ids(direction="in") == {got.id}
    assert ids(direction="out") == {sent.id, refused.id, withdrawal.id, old.id}
    assert ids(kind="withdrawal") == {withdrawal.id, old.id}
    assert ids(status="refused") == {refused.id}
    assert ids(status="in_progress") == {sent.id, got.id, withdrawal.id, old.id}
    assert ids(currency="GHS") == {old.id}
    assert ids(q="school") == {sent.id}
    assert ids(q=str(got.id)) == {got.id}
    assert ids(q=str(uuid.uuid4())) == set()
    assert ids(q="0772 123 402") == {sent.id, got.id, refused.id}  # Kofi, by phone
    day = (now - timedelta(days=2)).astimezone(UTC).date()
    assert got.id in ids(
        date_from=str(day - timedelta(days=1)), date_to=str(day + timedelta(days=1))
    )
    assert old.id not in ids(date_from=str(day - timedelta(days=10)))
    with pytest.raises(Exception) as bad:
        history_filter_clean(kind="nope", date_from="2026-13-01", date_to="x")
    assert set(bad.value.details["errors"]) == {"kind", "date_from", "date_to"}


def test_a_narrow_filter_stops_after_a_bounded_scan_and_carries_on(people, now, monkeypatch):
    amara, kofi = people
    a, k = _wallet(amara).wallet, _wallet(kofi).wallet
    monkeypatch.setattr(history_module, "SCAN_CAP", 10)
    wanted = _row(amara, a, k, now - timedelta(days=5), desc="needle")
    for i in range(25):
        _row(amara, a, k, now - timedelta(minutes=i), desc="hay")
    filters = history_filter_clean(q="needle")
    first = history_page(customer_id=amara, filters=filters, country="UG")
    assert first.rows == [] and first.next_before and first.searched_to is not None
    assert _all_pages(amara, filters, 25) == [wanted.id]
    # her own deposits fill her wallet's incoming index: they count toward its cap too
    for i in range(25):
        _row(amara, None, a, now - timedelta(minutes=i, seconds=30), kind="deposit")
    with connection.cursor() as cur:
        # As on a large table: on a month partition of a few dozen rows without statistics,
        # a bitmap scan of the customer's rows and a sort is the cheaper plan; on a million,
        # the ordered keyset index scan that stops at the cap (this setting lasts until the
        # end of the test's transaction).
        cur.execute("SET LOCAL enable_bitmapscan = off")
    read = rows_read(
        lambda: history_page(customer_id=amara, filters=filters, country="UG"),
        as_on_a_large_table=True,
    )["wallets_transfer"]
    assert read <= 2 * 10 + 5, read


def test_history_page_errors_are_400_with_the_message_beside_the_field(client, people):
    page = client.get("/app/history/?date_from=31-03-2026&kind=p2p")
    text = page.content.decode()
    assert page.status_code == 400 and 'id="id_date_from_error"' in text
    assert 'value="31-03-2026"' in text
    assert client.get("/app/history/?before=zz").status_code == 400
    not_mine = client.get("/app/history/?currency=EUR")  # a wallet she does not have
    assert not_mine.status_code == 400 and 'id="id_currency_error"' in not_mine.content.decode()


def test_the_history_page_lists_and_pages(client, people, now):
    amara, kofi = people
    a, k = _wallet(amara).wallet, _wallet(kofi).wallet
    rows = [_row(amara, a, k, now - timedelta(minutes=i), desc=f"row {i}") for i in range(30)]
    first = client.get("/app/history/")
    text = first.content.decode()
    assert first.status_code == 200 and text.count('data-testid="history-row"') == 25
    assert "K••• M•••••" in text and "row 0" in text
    link = re.search(r'href="(/app/history/\?[^"]*before=[^"]+)"', text).group(1)
    second = client.get(link.replace("&amp;", "&")).content.decode()
    assert second.count('data-testid="history-row"') == 5 and "row 29" in second
    assert rows


# --- detail, receipt, realm ----------------------------------------------------------------------


def test_detail_and_receipt_are_the_customers_own(client, people, now):
    amara, kofi = people
    outcome = transfer_create(
        client_id=amara,
        idempotency_key="k-detail",
        request=TransferRequest(
            source_wallet_id=_wallet(amara).wallet.id,
            destination_wallet_id=_wallet(kofi).wallet.id,
            amount=20_000,
            currency="UGX",
            description="books",
        ),
        now=now,
    )
    t = outcome.transfer
    page = client.get(f"/app/history/{t.id}/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "\u2212 UGX 20,000" in text and "books" in text and "K••• M•••••" in text
    assert str(t.id) in text and 'data-testid="timeline"' in text
    receipt = client.get(f"/app/history/{t.id}/receipt.pdf")
    assert receipt.status_code == 200 and receipt["Content-Type"] == "application/pdf"
    assert receipt.content.startswith(b"%PDF")
    # the recipient sees it too, as money in, without the payer's fee
    client.force_login(get_user_model().objects.get(pk=kofi))
    theirs = client.get(f"/app/history/{t.id}/").content.decode()
    assert "+ UGX 20,000" in theirs and "Fee" not in theirs
    # a third customer: not found, page and receipt alike
    stranger = momo_customer("stranger", now, phone="+256772123409")
    client.force_login(get_user_model().objects.get(pk=stranger))
    assert client.get(f"/app/history/{t.id}/").status_code == 404
    assert client.get(f"/app/history/{t.id}/receipt.pdf").status_code == 404
    found = client.get(f"/app/history/?q={t.id}").content.decode()
    assert 'data-testid="history-row"' not in found and "No payment matches." in found


# --- statements ----------------------------------------------------------------------------------


def test_statement_of_the_month_to_date_reconciles_with_the_ledger(client, people, now):
    amara, kofi = people
    for i, amount in enumerate((10_000, 2_500)):
        transfer_create(
            client_id=amara,
            idempotency_key=f"k-st-{i}",
            request=TransferRequest(
                source_wallet_id=_wallet(amara).wallet.id,
                destination_wallet_id=_wallet(kofi).wallet.id,
                amount=amount,
                currency="UGX",
            ),
            now=now,
        )
    wallet = _wallet(amara)
    statement = wallet_statement_month(
        owner_id=amara, wallet_id=wallet.wallet.id, month=now.date(), now=now
    )
    assert not statement.final
    assert statement.opening_balance == 0  # the wallet opened this month
    moved = sum(line.amount for line in statement.lines)
    assert statement.opening_balance + moved == statement.closing_balance == wallet.balance
    assert statement.total_in - statement.total_out == moved
    csv_text = statement_csv(statement)
    assert "OPENING" in csv_text and f"CLOSING,,,,{wallet.balance}".replace(",,,,", ",,,,,")
    pdf = client.get(f"/app/statements/?wallet={wallet.wallet.id}&month={now:%Y-%m}&format=pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    csv = client.get(f"/app/statements/?wallet={wallet.wallet.id}&month={now:%Y-%m}&format=csv")
    assert csv.status_code == 200 and csv.content.decode().splitlines()[-1].endswith(
        f",{wallet.balance}"
    )
    # another customer's wallet is not one of mine
    other = _wallet(kofi).wallet.id
    refused = client.get(f"/app/statements/?wallet={other}&month={now:%Y-%m}&format=pdf")
    assert refused.status_code == 400 and 'id="id_wallet_error"' in refused.content.decode()
    bad = client.get(f"/app/statements/?wallet={wallet.wallet.id}&month=2026-13&format=pdf")
    assert bad.status_code == 400 and 'value="2026-13"' in bad.content.decode()


def test_closed_months_chain_opening_to_closing_through_the_day_cuts(people):
    """A closed month's statement is cut by the ledger's day cuts: its closing balance is
    the next month's opening balance, and a month whose cut is not taken is not ready."""
    amara, kofi = people
    october = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
    ghs = funded_wallet(amara, "GHS", 0, october)
    funded_wallet(kofi, "GHS", 0, october)
    from lightway.data.ledger.kinds import OPENING_BALANCE
    from lightway.data.ledger.models import AccountKind
    from lightway.data.ledger.services import Leg, entry_post, house_account

    equity = house_account(kind=AccountKind.EQUITY, currency="GHS", now=october)
    entry_post(
        kind=OPENING_BALANCE,
        currency="GHS",
        legs=[Leg(equity.pk, -50_000), Leg(ghs.account_id, 50_000)],
        now=october,
    )
    with pytest.raises(Exception) as early:
        wallet_statement_month(
            owner_id=amara,
            wallet_id=ghs.id,
            month=date(2026, 10, 1),
            now=datetime(2026, 11, 1, 0, 5, tzinfo=UTC),
        )
    assert getattr(early.value, "code", "") in ("statement_not_ready", "statement_unavailable")
    # the daily cuts up to the end of October, then a November movement
    partner_statement_cuts_take(now=datetime(2026, 10, 31, 2, 0, tzinfo=UTC))
    partner_statement_cuts_take(now=datetime(2026, 11, 1, 2, 0, tzinfo=UTC))
    november = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    entry_post(
        kind=OPENING_BALANCE,
        currency="GHS",
        legs=[Leg(equity.pk, -7_000), Leg(ghs.account_id, 7_000)],
        now=november,
    )
    october_statement = wallet_statement_month(
        owner_id=amara, wallet_id=ghs.id, month=date(2026, 10, 1), now=november
    )
    november_statement = wallet_statement_month(
        owner_id=amara, wallet_id=ghs.id, month=date(2026, 11, 1), now=november
    )
    assert october_statement.final and october_statement.closing_balance == 50_000
    assert [line.amount for line in october_statement.lines] == [50_000]
    assert november_statement.opening_balance == october_statement.closing_balance
    assert [line.amount for line in november_statement.lines] == [7_000]
    assert november_statement.closing_balance == 57_000


# --- cost on a large table -----------------------------------------------------------------------


def test_history_and_momo_pages_read_a_bounded_number_of_transfers(
    owner_db, client, people, now, monkeypatch
):
    """Regression (issue 13 item 6): the pages' reads of wallets_transfer stay within a
    bound set by the page and the scan cap, not by the table or the customer's history."""
    amara, kofi = people
    a, k = _wallet(amara).wallet, _wallet(kofi).wallet
    monkeypatch.setattr(history_module, "SCAN_CAP", 40)
    bulk = now - timedelta(days=1)  # written in one go with one clock reading
    for i in range(120):
        _row(amara, a, k, now - timedelta(minutes=i), desc="x")
        _row(amara, a, k, bulk, desc="x")
        _row(kofi, k, a, now - timedelta(minutes=i, seconds=20))
        _row(kofi, k, k, now - timedelta(minutes=i, seconds=40))
    from lightway.data.momo.selectors import transfers_recent_of

    # committed (owner_db makes the test transactional) and analysed, as autovacuum would:
    # with statistics that say a page's matches are few, "fetch them all and sort" is the
    # cheaper plan for a date filter unless the scan is held to its index's order
    # (index_order in the history scan; without it the deep page read 130 rows)
    owner_db.execute("ANALYZE wallets_transfer, momo_request")
    history_rows = rows_read(
        lambda: history_page(
            customer_id=amara, filters=history_filter_clean(q="needle"), country="UG"
        ),
        as_on_a_large_table=True,
    )["wallets_transfer"]
    assert history_rows <= 2 * 40 + 10, history_rows
    plain = rows_read(
        lambda: history_page(customer_id=amara, filters=HistoryFilter(), country="UG"),
        as_on_a_large_table=True,
    )["wallets_transfer"]
    assert plain <= 2 * 40 + 30, plain
    momo_rows = rows_read(
        lambda: transfers_recent_of(customer_id=amara, limit=50), as_on_a_large_table=True
    )["wallets_transfer"]
    assert momo_rows <= 3 * 50 + 10, momo_rows
    # deeper down, where 120 of her payments share one timestamp (a bulk import): a page
    # across them reads the page, not the whole group
    deep = history_filter_clean(date_to=str((bulk + timedelta(hours=1)).date()))
    deep_rows = rows_read(
        lambda: history_page(customer_id=amara, filters=deep, country="UG", page_size=10),
        as_on_a_large_table=True,
    )["wallets_transfer"]
    assert deep_rows <= 2 * 40 + 30, deep_rows
    momo_page = rows_read(lambda: client.get("/app/momo/"), as_on_a_large_table=True)
    assert momo_page["wallets_transfer"] <= 3 * 50 + 10, momo_page


def test_the_momo_list_reads_one_page_when_the_newest_payments_share_a_timestamp(people, now):
    """Regression (issue 13 item 6, ``/app/momo/`` 160 ms at 1.2M transfers): with the
    indexes on (client, created_at) and (wallet, created_at) only, ``ORDER BY created_at
    DESC, id DESC LIMIT 50`` read and sorted every payment sharing the newest timestamp
    (a bulk import, a seeded volume); with ``id`` in the indexes it reads the page."""
    amara, kofi = people
    a, k = _wallet(amara).wallet, _wallet(kofi).wallet
    same = now - timedelta(seconds=1)
    for _i in range(300):
        _row(amara, a, k, same, desc="bulk")
        _row(kofi, k, a, same)
    from lightway.data.momo.selectors import transfers_recent_of

    newest = transfers_recent_of(customer_id=amara, limit=50)
    assert len(newest) == 50
    # A planner that would rather walk an index than sort (as statistics of a small table,
    # left by an earlier test, made it in a full run): the page still reads one page.
    with connection.cursor() as cur:
        cur.execute("SET LOCAL enable_sort = off")  # this test's transaction only
    read = rows_read(
        lambda: transfers_recent_of(customer_id=amara, limit=50), as_on_a_large_table=True
    )["wallets_transfer"]
    assert read <= 3 * 51, read


# --- cross-currency ------------------------------------------------------------------------------


@pytest.fixture
def usd_recipient(people, now, settings):
    """Kofi also holds a USD wallet; USD/UGX quotes (tier 3 USD limits in Uganda)."""
    from tests.fx_support import feed_rate, usd_limits

    amara, kofi = people
    feed_rate("USD", "UGX", "3700", 100, now)
    usd_limits(now)
    funded_wallet(kofi, "USD", 0, now)
    return amara, kofi


def _fx_form(key: str, **values: str) -> dict[str, str]:
    return _form(key=key, receive_currency="USD", amount="10.00", description="books", **values)


QUOTE_RE = re.compile(r'name="quote" value="([^"]+)"')


def test_send_to_a_wallet_in_another_currency_at_a_quoted_price(client, usd_recipient, outbox):
    amara, kofi = usd_recipient
    before = _wallet(amara).balance
    review = client.post("/app/send/", _fx_form("fx-1"))
    text = review.content.decode()
    assert review.status_code == 200, text
    assert 'data-testid="review-rate"' in text and "1 UGX = 0.000" in text
    assert 'data-testid="quote-expiry"' in text and "This price holds until" in text
    assert "USD 10.00" in text and "K••• M•••••" in text
    quote = QUOTE_RE.search(text).group(1)
    body = {**_fx_form("fx-1"), "quote": quote, "confirm": "1"}
    asked = client.post("/app/send/", body)
    assert 'data-testid="step-up"' in asked.content.decode()
    challenge = CHALLENGE_RE.search(asked.content.decode()).group(1)
    body.update(challenge=challenge, code=outbox.latest_code(AMARA_PHONE))
    done = client.post("/app/send/", body)
    assert done.status_code == 302, done.content.decode()
    sent = Transfer.objects.get(client_id=amara, kind="p2p")
    exchange = Transfer.objects.get(client_id=amara, kind="exchange")
    assert done["Location"] == f"/app/history/{sent.id}/"
    assert (sent.currency, sent.amount, sent.status) == ("USD", 1_000, "succeeded")
    assert exchange.status == "succeeded" and exchange.currency == "UGX"
    assert _wallet(kofi, "USD").balance == 1_000
    assert _wallet(amara, "USD").balance == 0  # the exchange delivered amount + fee
    assert _wallet(amara).balance == before - exchange.amount
    # a second submit of the same form: the same payment
    again = client.post("/app/send/", body)
    assert again.status_code == 302 and again["Location"] == done["Location"]
    assert Transfer.objects.filter(client_id=amara).count() == 2
    from lightway.data.ledger.verify import ledger_verify

    result = ledger_verify()
    assert result.ok, result.problems


def test_an_expired_price_is_refused_with_a_way_to_get_a_new_one(client, usd_recipient, settings):
    amara, _kofi = usd_recipient
    settings.FX_QUOTE_SECONDS = 1
    review = client.post("/app/send/", _fx_form("fx-2"))
    quote = QUOTE_RE.search(review.content.decode()).group(1)
    import time

    time.sleep(1.2)
    late = client.post("/app/send/", {**_fx_form("fx-2"), "quote": quote, "confirm": "1"})
    text = late.content.decode()
    assert late.status_code == 400
    assert "This price has expired" in text and "Get a new price" in text
    assert 'value="10.00"' in text  # what was typed is kept
    assert not Transfer.objects.filter(client_id=amara).exists()
    # "Get a new price": the same form again gives a fresh quote
    fresh = client.post("/app/send/", _fx_form("fx-2"))
    assert fresh.status_code == 200 and QUOTE_RE.search(fresh.content.decode()).group(1) != quote


def test_a_refused_second_leg_undoes_the_exchange(usd_recipient, now):
    """The recipient's maximum USD balance refuses the payment: the exchange before it is
    rolled back with it, nothing is recorded and the quote can still be used."""
    from lightway.application.errors import PaymentRefused
    from lightway.application.transactions.fx_send import fx_send, fx_send_quote
    from lightway.data.fx.models import FxQuote
    from tests.fx_support import usd_limits

    amara, kofi = usd_recipient
    usd_limits(now + timedelta(seconds=1), max_balance=500)
    later = now + timedelta(seconds=2)
    price = fx_send_quote(
        client_id=amara, send_currency="UGX", receive_currency="USD", amount=1_000, now=later
    )
    before = _wallet(amara).balance
    with pytest.raises(PaymentRefused) as refused:
        fx_send(
            client_id=amara,
            idempotency_key="fx-3",
            quote_id=price.quote.id,
            destination_wallet_id=_wallet(kofi, "USD").wallet.id,
            amount=1_000,
            description="",
            interactive=False,
            proof=None,
            now=later,
        )
    assert refused.value.code == "limit_exceeded", refused.value.message
    assert _wallet(amara).balance == before
    assert not Transfer.objects.filter(client_id=amara).exists()
    assert FxQuote.objects.get(id=price.quote.id).state == "active"
