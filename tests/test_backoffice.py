"""The back office's customers and transactions (docs/panels.md, "Back office: customers
and transactions"): who may open what, maker-checker actions (the database refuses
self-approval), freeze blocking a payment and unfreeze restoring it, a second-factor reset,
a reversal through the payment skeleton, support notes (append-only), search by each kind
of reference with a bounded read, the list's keyset pages, the timeline's order, the CSV
export (masked, audited, permission-gated) and form errors beside their fields."""

from __future__ import annotations

import base64
import csv
import io
import itertools
import time
import uuid
from datetime import timedelta

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice

from lightway.application.authentication import mfa
from lightway.application.backoffice.actions import action_approve, action_request
from lightway.application.backoffice.transactions import (
    PAGE_SIZE,
    TransferFilter,
    transaction_detail,
    transaction_search,
    transactions_list,
)
from lightway.application.errors import RequestRefused
from lightway.application.identity.pii import customer_search
from lightway.application.identity.profiles import profile_set_pii
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.data.audit.models import AuditRecord
from lightway.data.backoffice.models import ActionRequest, SupportNote
from lightway.data.identity.models import Profile
from lightway.data.ledger.models import Account
from lightway.data.ledger.verify import ledger_verify
from lightway.data.momo.models import MomoRequest
from lightway.data.wallets.models import Transfer
from lightway.security.crypto import encrypt, pii_token
from lightway.security.mfa.models import TotpDevice
from lightway.security.policy import Role
from tests.conftest import VerifiedClient
from tests.factories import customer, funded_wallet, staff
from tests.query_cost import rows_read, scans_without_seqscan

pytestmark = pytest.mark.django_db

_n = itertools.count()
REASON = "ticket SUP-4411: customer reports a stolen phone"


def _as(role: str, now) -> tuple[VerifiedClient, int]:
    client = VerifiedClient()
    user_id = staff(f"bo{next(_n)}.{role}", [role], now)
    client.force_login(get_user_model().objects.get(pk=user_id))
    return client, user_id


def _subject(user_id: int) -> str:
    return Profile.objects.get(user_id=user_id).subject


def _pay(client_id, source, destination, amount, key=None):
    return transfer_create(
        client_id=client_id,
        idempotency_key=key or str(uuid.uuid4()),
        request=TransferRequest(
            source_wallet_id=source.id,
            destination_wallet_id=destination.id,
            amount=amount,
            currency="UGX",
        ),
        now=timezone.now(),
    ).transfer


@pytest.fixture
def pair(now):
    alice, _ = customer("alice", now)
    bob, _ = customer("bob", now)
    return alice, funded_wallet(alice, "UGX", 200_000, now), bob, funded_wallet(bob, "UGX", 0, now)


# --- who may open what ----------------------------------------------------------------------


def test_mtn_staff_reach_none_of_the_back_office(now, pair):
    alice, *_ = pair
    mtn, _ = _as(Role.MTN_MONITORING, now)
    for url in (
        "/staff/customers/",
        f"/staff/customers/{_subject(alice)}/",
        "/staff/transactions/",
        "/staff/transactions/export.csv",
        "/staff/approvals/",
    ):
        assert mtn.get(url).status_code == 403, url
    assert (
        mtn.post(f"/staff/customers/{_subject(alice)}/notes/", {"body": "hello"}).status_code == 403
    )


def test_lightway_roles_get_what_the_policy_gives(now, pair):
    alice, *_ = pair
    subject = _subject(alice)
    support, _ = _as(Role.LW_SUPPORT, now)
    ops, _ = _as(Role.LW_OPERATIONS, now)
    kyc, _ = _as(Role.LW_KYC_REVIEWER, now)
    admin, _ = _as(Role.LW_ADMIN, now)
    assert support.get("/staff/transactions/").status_code == 200
    assert support.get("/staff/transactions/export.csv").status_code == 403  # no export
    assert support.get("/staff/approvals/").status_code == 403  # asks, never decides
    assert ops.get("/staff/approvals/").status_code == 200
    support.post(
        f"/staff/customers/{subject}/actions/", {"kind": "wallets_freeze", "reason": REASON}
    )
    waiting = ops.get("/staff/approvals/").content.decode()
    assert "/approve/" in waiting and "/reject/" in waiting  # the decision buttons
    assert ops.get("/staff/transactions/export.csv").status_code == 200
    assert kyc.get("/staff/transactions/").status_code == 403
    assert kyc.post(f"/staff/customers/{subject}/notes/", {"body": "hi there"}).status_code == 403
    assert admin.get(f"/staff/customers/{subject}/").status_code == 403  # no customers.view
    page = support.get(f"/staff/customers/{subject}/").content.decode()
    assert 'href="/staff/transactions/"' in page and "Approvals</a>" not in page


# --- freeze, unfreeze: maker-checker, and a frozen wallet refuses payments -------------------


def test_freeze_blocks_a_payment_and_unfreeze_restores_it(now, pair):
    alice, a_wallet, _, b_wallet = pair
    carol, _ = customer("carol", now)
    c_wallet = funded_wallet(carol, "UGX", 10_000, now)
    subject = _subject(alice)
    support, support_id = _as(Role.LW_SUPPORT, now)
    ops, _ = _as(Role.LW_OPERATIONS, now)

    answer = support.post(
        f"/staff/customers/{subject}/actions/", {"kind": "wallets_freeze", "reason": REASON}
    )
    assert answer.status_code == 302
    request = ActionRequest.objects.get(customer_id=alice)
    assert request.state == "pending" and request.requested_by_id == support_id
    # Nothing changed yet; the requester sees no decision button.
    assert Account.objects.get(pk=a_wallet.account_id).status == "active"
    page = support.get(f"/staff/customers/{subject}/").content.decode()
    assert (
        "Waiting for a colleague" in page and f"/staff/approvals/{request.pk}/approve/" not in page
    )

    assert ops.post(f"/staff/approvals/{request.pk}/approve/", {"note": ""}).status_code == 302
    request.refresh_from_db()
    assert request.state == "approved" and request.result["changed"] == [a_wallet.account_id]
    assert Account.objects.get(pk=a_wallet.account_id).status == "frozen"
    refused = _pay(alice, a_wallet, b_wallet, 1_000)
    assert (refused.status, refused.failure_code) == ("failed", "account_not_active")
    refused = _pay(carol, c_wallet, a_wallet, 1_000)  # nor is it paid
    assert (refused.status, refused.failure_code) == ("failed", "account_not_active")

    support.post(
        f"/staff/customers/{subject}/actions/", {"kind": "wallets_unfreeze", "reason": REASON}
    )
    unfreeze = ActionRequest.objects.get(customer_id=alice, kind="wallets_unfreeze")
    ops.post(f"/staff/approvals/{unfreeze.pk}/approve/", {"note": "checked with the customer"})
    assert Account.objects.get(pk=a_wallet.account_id).status == "active"
    paid = _pay(alice, a_wallet, b_wallet, 1_000)
    assert paid.status == "succeeded"
    actions = set(
        AuditRecord.objects.filter(action__startswith="backoffice.action.").values_list(
            "action", flat=True
        )
    )
    assert actions == {"backoffice.action.requested", "backoffice.action.approved"}
    assert AuditRecord.objects.filter(action="ledger.account.freeze").count() == 1


def test_a_requester_cannot_approve_their_own_request_and_the_database_refuses_it(now, pair):
    alice, *_ = pair
    ops, ops_id = _as(Role.LW_OPERATIONS, now)
    row = action_request(
        kind="wallets_freeze", reason=REASON, subject=_subject(alice), actor_id=ops_id, now=now
    )
    # Forced through the page: refused with a message, nothing changes.
    answer = ops.post(f"/staff/approvals/{row.pk}/approve/", follow=True)
    assert "another person must approve or reject it" in answer.content.decode()
    with pytest.raises(RequestRefused):
        action_approve(request_id=row.pk, actor_id=ops_id, now=now)
    row.refresh_from_db()
    assert row.state == "pending"
    # And the database, whatever the code does.
    with pytest.raises(DatabaseError, match="another person must decide"):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                "UPDATE backoffice_action_request SET state = 'approved', decided_by_id = %s,"
                " decided_at = now() WHERE id = %s",
                [ops_id, row.pk],
            )
    with pytest.raises(DatabaseError):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                "INSERT INTO backoffice_action_request (kind, state, customer_id, reason,"
                " requested_by_id, requested_at, decided_by_id, decided_at, decision_note,"
                " result) VALUES ('wallets_unfreeze', 'approved', %s, 'x', %s, now(), %s,"
                " now(), '', '{}')",
                [alice, ops_id, ops_id],
            )
    with pytest.raises(DatabaseError, match="permission denied"):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("DELETE FROM backoffice_action_request WHERE id = %s", [row.pk])


# --- second-factor reset, reversal -----------------------------------------------------------


def test_a_second_factor_reset_removes_the_customers_devices(now, pair):
    alice, *_ = pair
    enrolment = mfa.totp_enrol_start(user_id=alice, now=now)
    secret = enrolment.secret.replace(" ", "")
    totp = TOTP(base64.b32decode(secret + "=" * (-len(secret) % 8)))
    totp.time = now.timestamp()
    mfa.totp_enrol_confirm(user_id=alice, code=f"{totp.token():06d}", now=now)
    mfa.backup_codes_regenerate(user_id=alice, now=now)
    _, asker = _as(Role.LW_SUPPORT, now)
    _, approver = _as(Role.LW_COMPLIANCE, now)
    row = action_request(
        kind="mfa_reset", reason=REASON, subject=_subject(alice), actor_id=asker, now=now
    )
    assert TotpDevice.objects.filter(user_id=alice).exists()
    action_approve(request_id=row.pk, actor_id=approver, now=now)
    assert not TotpDevice.objects.filter(user_id=alice).exists()
    assert not StaticDevice.objects.filter(user_id=alice).exists()
    row.refresh_from_db()
    assert row.result == {"removed": {"totp": 1, "backup_codes": 1, "passkeys": 0}}
    assert AuditRecord.objects.filter(action="backoffice.action.approved").count() == 1


def test_a_p2p_payment_is_reversed_through_the_skeleton_after_approval(now, pair):
    alice, a_wallet, _, b_wallet = pair
    paid = _pay(alice, a_wallet, b_wallet, 50_000)
    before = {a.pk: a.balance for a in Account.objects.filter(pk__in=[a_wallet.account_id])}
    support, _ = _as(Role.LW_SUPPORT, now)
    finance, _ = _as(Role.LW_FINANCE, now)
    assert (
        support.post(
            f"/staff/transactions/{paid.id}/actions/",
            {"kind": "transfer_reverse", "reason": REASON},
        ).status_code
        == 302
    )
    row = ActionRequest.objects.get(transfer_id=paid.id)
    answer = finance.post(f"/staff/approvals/{row.pk}/approve/", {"next": "/staff/approvals/"})
    assert answer.status_code == 302
    paid.refresh_from_db()
    assert paid.status == "reversed" and paid.reversal_entry_id is not None
    assert Account.objects.get(pk=b_wallet.account_id).balance == 0
    assert (
        Account.objects.get(pk=a_wallet.account_id).balance
        == before[a_wallet.account_id] + paid.amount + paid.fee
    )
    assert ledger_verify().ok
    # A second request for the same payment is refused: it is no longer succeeded.
    again = support.post(
        f"/staff/transactions/{paid.id}/actions/", {"kind": "transfer_reverse", "reason": REASON}
    )
    assert again.status_code == 400
    assert "only a succeeded payment can be reversed" in again.content.decode()


def test_a_retry_is_refused_for_a_payment_with_no_unknown_outcome(now, pair):
    alice, a_wallet, _, b_wallet = pair
    paid = _pay(alice, a_wallet, b_wallet, 1_000)
    _, asker = _as(Role.LW_OPERATIONS, now)
    with pytest.raises(RequestRefused, match="only a MoMo payment"):
        action_request(
            kind="transfer_retry", reason=REASON, transfer_id=paid.id, actor_id=asker, now=now
        )


# --- support notes ---------------------------------------------------------------------------


def test_support_notes_are_append_only_audited_and_newest_first(now, pair):
    alice, *_ = pair
    subject = _subject(alice)
    support, support_id = _as(Role.LW_SUPPORT, now)
    for text in ("First call: asked about fees.", "Second call: phone stolen."):
        assert support.post(f"/staff/customers/{subject}/notes/", {"body": text}).status_code == 302
    page = support.get(f"/staff/customers/{subject}/").content.decode()
    assert page.index("Second call") < page.index("First call")
    username = get_user_model().objects.get(pk=support_id).username
    assert username in page
    records = AuditRecord.objects.filter(action="support_note.add", object_id=subject)
    assert records.count() == 2 and "Second" not in str(records.first().data)
    note = SupportNote.objects.first()
    with pytest.raises(DatabaseError, match="permission denied"):
        with transaction.atomic():
            SupportNote.objects.filter(pk=note.pk).update(body="rewritten")
    with pytest.raises(DatabaseError, match="permission denied"):
        with transaction.atomic():
            SupportNote.objects.filter(pk=note.pk).delete()


def test_form_errors_come_back_beside_their_fields_with_what_was_typed(now, pair):
    alice, *_ = pair
    subject = _subject(alice)
    support, _ = _as(Role.LW_SUPPORT, now)
    answer = support.post(f"/staff/customers/{subject}/notes/", {"body": "  "})
    assert answer.status_code == 400
    assert 'class="field-error"' in answer.content.decode()
    answer = support.post(
        f"/staff/customers/{subject}/actions/", {"kind": "wallets_freeze", "reason": "too short"}
    )
    page = answer.content.decode()
    assert answer.status_code == 400 and "error-summary" in page and 'value="too short"' in page
    answer = support.post(
        f"/staff/customers/{subject}/actions/", {"kind": "launch_rockets", "reason": REASON}
    )
    assert answer.status_code == 400 and REASON in answer.content.decode()
    answer = support.get("/staff/transactions/?date_from=2026-13-45&currency=UGX")
    page = answer.content.decode()
    assert answer.status_code == 400 and 'value="2026-13-45"' in page and "field-error" in page
    answer = support.get("/staff/transactions/?date_from=2026-11-02&date_to=2026-11-01")
    assert answer.status_code == 400 and "The last day comes on or after the first" in (
        answer.content.decode()
    )
    assert support.get("/staff/transactions/?q=nothing-like-this").status_code == 404


# --- search, list, cost ----------------------------------------------------------------------


def _momo_for(transfer, n):
    return MomoRequest.objects.create(
        reference_id=uuid.uuid4(),
        product="collection",
        operation="requesttopay",
        external_id=f"ext-bo-{n}",
        financial_transaction_id=f"FIN{n:08d}",
        target_environment="mtnuganda",
        base_url="http://127.0.0.1:9",
        currency="UGX",
        amount=transfer.amount,
        party_ct=encrypt("256772123401", context="momo.party"),
        party_token=pii_token("msisdn", "256772123401"),
        status="successful",
        deadline_at=transfer.created_at + timedelta(minutes=15),
        created_at=transfer.created_at,
        completed_at=transfer.created_at,
        updated_at=transfer.created_at,
        transfer=transfer,
    )


def _bulk(client_id, source, destination, count, start):
    return Transfer.objects.bulk_create(
        [
            Transfer(
                kind="p2p",
                status="failed",
                failure_code="test",
                client_id=client_id,
                idempotency_key=f"bulk-{i}",
                request_hash="x",
                source_wallet=source,
                destination_wallet=destination,
                currency="UGX",
                amount=100 + i,
                created_at=start - timedelta(seconds=i),
                updated_at=start - timedelta(seconds=i),
            )
            for i in range(count)
        ]
    )


def test_search_finds_a_payment_by_each_kind_of_reference(now, pair):
    alice, a_wallet, _, b_wallet = pair
    paid = _pay(alice, a_wallet, b_wallet, 2_000, key="order-77")
    other = _pay(alice, a_wallet, b_wallet, 3_000)
    momo = _momo_for(other, 1)
    subject = _subject(alice)
    for query, expected in (
        (str(paid.id), paid.id),
        (f"{subject}/order-77", paid.id),
        (str(momo.reference_id), other.id),
        ("FIN00000001", other.id),
        ("ext-bo-1", other.id),
    ):
        assert [r.id for r in transaction_search(query=query)] == [expected], query
    assert transaction_search(query="order-77") == []  # a key alone names no customer
    assert transaction_search(query=str(uuid.uuid4())) == []
    support, _ = _as(Role.LW_SUPPORT, now)
    page = support.get("/staff/transactions/", {"q": f"{subject}/order-77"}).content.decode()
    assert f'href="/staff/transactions/{paid.id}/"' in page


def test_a_search_and_a_page_read_a_bounded_number_of_rows(now, pair):
    """On a transfer table much larger than a page, a search reads the row it names and a
    list page at most a page and one (keyset, from ``transfer_created``), the first page as
    the tenth."""
    alice, a_wallet, _, b_wallet = pair
    rows = _bulk(alice, a_wallet, b_wallet, 600, now)
    subject = _subject(alice)
    with connection.cursor() as cur:
        # As on a large table: on 600 rows a bitmap scan and a sort of every older row is the
        # cheaper plan, on a million the ordered index scan that stops at the page (this
        # setting lasts until the end of the test's transaction).
        cur.execute("SET LOCAL enable_bitmapscan = off")
    read = rows_read(lambda: transaction_search(query=str(rows[300].id)), as_on_a_large_table=True)
    assert read["wallets_transfer"] <= 2, read
    # The subject/key search is an equality on (client, idempotency_key), which the index
    # transfer_idempotency answers with one row on a live table (the key is unique across
    # months by its key table, docs/partitions.md). On a test's table without statistics
    # (the runtime role may not ANALYZE) the planner ties it with transfer_client_keyset,
    # which also leads with the client, so the plan is not measured here; the index it
    # needs is, and the key's uniqueness.
    assert [r.id for r in transaction_search(query=f"{subject}/bulk-300")] == [rows[300].id]
    with connection.cursor() as cur:
        cur.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'transfer_idempotency'")
        assert "(client_id, idempotency_key)" in cur.fetchone()[0]
        cur.execute(
            "SELECT columns FROM archive_key_table WHERE constraint_name = 'transfer_idempotency'"
        )
        assert cur.fetchone()[0] == ["client_id", "idempotency_key"]
    first = transactions_list(filters=TransferFilter())
    read = rows_read(lambda: transactions_list(filters=TransferFilter()), as_on_a_large_table=True)
    assert read["wallets_transfer"] <= 2 * (PAGE_SIZE + 1), read
    later = transactions_list(filters=TransferFilter(), before=first.next_cursor)
    read = rows_read(
        lambda: transactions_list(filters=TransferFilter(), before=first.next_cursor),
        as_on_a_large_table=True,
    )
    assert read["wallets_transfer"] <= 2 * (PAGE_SIZE + 1), read
    with CaptureQueriesContext(connection) as captured:
        transactions_list(filters=TransferFilter(), before=first.next_cursor)
    (scan,) = [
        n
        for n in scans_without_seqscan(captured.captured_queries[0]["sql"])
        if n.get("Relation Name") == "wallets_transfer"
    ]
    assert scan["Index Name"] == "transfer_created"
    assert "ROW(created_at, id) <" in scan["Index Cond"]
    assert [r.id for r in first.rows] == [t.id for t in rows[:PAGE_SIZE]]
    assert [r.id for r in later.rows] == [t.id for t in rows[PAGE_SIZE : 2 * PAGE_SIZE]]


def test_the_list_filters_by_kind_status_currency_and_day(now, pair):
    alice, a_wallet, _, b_wallet = pair
    _bulk(alice, a_wallet, b_wallet, 3, now - timedelta(days=3))
    paid = _pay(alice, a_wallet, b_wallet, 4_000)
    day = paid.created_at.date()
    page = transactions_list(filters=TransferFilter(status="succeeded", date_from=day, date_to=day))
    assert [r.id for r in page.rows] == [paid.id]
    assert transactions_list(filters=TransferFilter(currency="GHS")).rows == []
    assert len(transactions_list(filters=TransferFilter(kind="p2p", status="failed")).rows) == 3


# --- timeline, export ------------------------------------------------------------------------


def test_the_timeline_puts_state_changes_ledger_and_audit_in_time_order(now, pair):
    alice, a_wallet, _, b_wallet = pair
    paid = _pay(alice, a_wallet, b_wallet, 5_000)
    _, asker = _as(Role.LW_SUPPORT, now)
    _, approver = _as(Role.LW_OPERATIONS, now)
    row = action_request(
        kind="transfer_reverse",
        reason=REASON,
        transfer_id=paid.id,
        actor_id=asker,
        now=timezone.now(),
    )
    action_approve(request_id=row.pk, actor_id=approver, now=timezone.now())
    detail = transaction_detail(transfer_id=paid.id)
    times = [e.at for e in detail.timeline]
    assert times == sorted(times)
    titles = [e.title for e in detail.timeline]
    sources = {e.source for e in detail.timeline}
    assert {"state", "ledger", "audit"} <= sources
    assert titles[0].startswith("Created")
    assert titles.index("Status succeeded") < titles.index("Audit: backoffice.action.requested")
    # The reversal is made by the approval, in its transaction.
    assert titles.index("Audit: backoffice.action.requested") < titles.index("Status reversed")
    assert titles.index("Status reversed") < titles.index("Audit: backoffice.action.approved")
    entries = [e for e in detail.timeline if e.source == "ledger"]
    assert len(entries) == 2 and all(e.postings for e in entries)
    ops = VerifiedClient()
    ops.force_login(get_user_model().objects.get(pk=approver))
    page = ops.get(f"/staff/transactions/{paid.id}/").content.decode()
    assert page.count('data-source="ledger"') == 2


def test_the_csv_export_is_masked_audited_and_follows_the_filters(now, pair):
    alice, a_wallet, _, b_wallet = pair
    profile_set_pii(user_id=alice, now=now, phone="+256772123401", name="Alice Nakato")
    _bulk(alice, a_wallet, b_wallet, 3, now)
    paid = _pay(alice, a_wallet, b_wallet, 6_000)
    ops, ops_id = _as(Role.LW_OPERATIONS, now)
    answer = ops.get("/staff/transactions/export.csv", {"status": "succeeded"})
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/csv")
    body = b"".join(answer.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [r["transfer_id"] for r in rows] == [str(paid.id)]
    assert rows[0]["customer_subject"] == _subject(alice)
    assert "772123401" not in body and "Nakato" not in body
    record = AuditRecord.objects.get(action="backoffice.transactions.export")
    assert record.actor == f"staff:{ops_id}" and record.data["filters"]["status"] == "succeeded"
    bad = ops.get("/staff/transactions/export.csv", {"date_to": "yesterday"})
    assert bad.status_code == 400


# --- customers: search by ID number, the page --------------------------------------------------


def test_customers_are_found_by_id_number_and_their_page_shows_wallets_and_history(now, pair):
    alice, a_wallet, _, b_wallet = pair
    profile_set_pii(user_id=alice, now=now, id_number="CM12345678")
    assert [c.user_id for c in customer_search(query="cm 1234-5678")] == [alice]
    for i in range(3):
        _pay(alice, a_wallet, b_wallet, 1_000 + i)
    support, _ = _as(Role.LW_SUPPORT, now)
    page = support.get(f"/staff/customers/{_subject(alice)}/").content.decode()
    assert 'data-testid="wallets"' in page and "UGX" in page
    assert page.count("paid</td>") == 3
    assert "CM12345678" not in page  # masked


@pytest.mark.django_db(transaction=True)
def test_the_triggers_hold_even_for_the_owner(now, owner_db):
    """The runtime role may neither delete nor rewrite these rows (privileges); the
    triggers refuse it to the tables' owner too, and refuse a self-decision to anyone."""
    alice, _ = customer("alice", now)
    _, asker = _as(Role.LW_SUPPORT, now)
    row = action_request(
        kind="mfa_reset", reason=REASON, subject=_subject(alice), actor_id=asker, now=now
    )
    note = SupportNote.objects.create(customer_id=alice, author_id=asker, body="hi", created_at=now)
    for sql, params, message in (
        ("DELETE FROM backoffice_action_request WHERE id = %s", [row.pk], "never deleted"),
        (
            "UPDATE backoffice_action_request SET state = 'approved', decided_by_id ="
            " requested_by_id, decided_at = now() WHERE id = %s",
            [row.pk],
            "another person must decide",
        ),
        (
            "UPDATE backoffice_action_request SET reason = 'something else entirely' WHERE id = %s",
            [row.pk],
            "only its decision may be written",
        ),
        ("UPDATE backoffice_support_note SET body = 'x' WHERE id = %s", [note.pk], "append-only"),
        ("DELETE FROM backoffice_support_note WHERE id = %s", [note.pk], "append-only"),
        ("TRUNCATE backoffice_support_note", [], "append-only"),
    ):
        with pytest.raises(psycopg.Error, match=message):
            owner_db.execute(sql, params)


def test_a_retry_reads_momos_status_again_and_never_pays_twice(momo, now):
    """A deposit submitted to MoMo (the simulator, over HTTP) whose outcome we have not
    read yet: the approved retry reads its status (the same X-Reference-Id) and applies it;
    once the outcome is known no retry may be asked for."""
    from lightway.application.momo import flows
    from tests.momo_flow_support import momo_customer, request_of

    uid = momo_customer("payer", now, phone="+256772123401", wallet=1_000)
    deposit = flows.deposit_start(
        customer_id=uid,
        currency="UGX",
        amount_minor=25_000,
        msisdn="46733123499",
        idempotency_key="dep-retry",
        now=now,
    )
    flows.momo_submit(request_id=request_of(deposit).pk, now=now)
    deposit.refresh_from_db()
    assert deposit.status in ("submitted", "pending")
    # MoMo completes it after its processing time (the simulator's clock thread); wait for
    # that, so the retry's status read finds the outcome however busy the machine is.
    reference = str(request_of(deposit).reference_id)
    deadline = time.monotonic() + 15
    while momo.sim.transaction(reference)["status"] == "PENDING" and time.monotonic() < deadline:
        time.sleep(0.05)
    _, asker = _as(Role.LW_SUPPORT, now)
    _, approver = _as(Role.LW_OPERATIONS, now)
    row = action_request(
        kind="transfer_retry", reason=REASON, transfer_id=deposit.id, actor_id=asker, now=now
    )
    said = action_approve(request_id=row.pk, actor_id=approver, now=now)
    assert "final" in said
    deposit.refresh_from_db()
    assert deposit.status == "succeeded"
    assert momo.sim.transaction(str(request_of(deposit).reference_id))  # one request at MoMo
    done = AuditRecord.objects.get(action="backoffice.transfer_retry.done")
    assert done.data == {"request": row.pk, "outcome": "final"}
    with pytest.raises(RequestRefused, match="outcome is known"):
        action_request(
            kind="transfer_retry", reason=REASON, transfer_id=deposit.id, actor_id=asker, now=now
        )
