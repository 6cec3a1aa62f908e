"""Reads and exports of personal data are audited through one helper
(``lightway.application.audit.access``): the customer search, a customer's page, the
transactions CSV (rows and SHA-256 of what was sent); one record per page view, none with
personal data in it. The reconciliation and settlement downloads are checked in their own
test files (test_momo_reconciliation.py, test_settlement_staff_pages.py)."""

from __future__ import annotations

import hashlib
import itertools
import json
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from lightway.application.audit.access import audit_data_access, audited_export
from lightway.application.identity.profiles import profile_set_pii
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.data.audit.models import AuditRecord
from lightway.data.identity.models import Profile
from lightway.security.policy import Role
from tests.conftest import VerifiedClient
from tests.factories import customer, funded_wallet, staff

pytestmark = pytest.mark.django_db

PHONE = "+256772123401"
NAME = "Alice Nakato"
_n = itertools.count()


def _as(role: str, now) -> tuple[VerifiedClient, int]:
    client = VerifiedClient()
    user_id = staff(f"da{next(_n)}.{role}", [role], now)
    client.force_login(get_user_model().objects.get(pk=user_id))
    return client, user_id


def _records(action: str) -> list[AuditRecord]:
    return list(AuditRecord.objects.filter(action=action).order_by("id"))


@pytest.fixture
def alice(now) -> Profile:
    user_id, _ = customer("alice", now)
    profile_set_pii(user_id=user_id, now=now, phone=PHONE, name=NAME)
    return Profile.objects.get(user_id=user_id)


def test_the_helper_writes_one_record_and_refuses_what_it_does_not_know(now) -> None:
    record_id = audit_data_access(
        actor="staff:7",
        kind="download",
        what="reports.volumes.pdf",
        rows=12,
        sha256="a" * 64,
        object_type="report.run",
        object_id="5",
        details={"format": "pdf"},
        now=now,
    )
    record = AuditRecord.objects.get(pk=record_id)
    assert record.action == "data_access.download" and record.actor == "staff:7"
    assert record.data == {
        "what": "reports.volumes.pdf",
        "rows": 12,
        "sha256": "a" * 64,
        "format": "pdf",
    }
    with pytest.raises(ValueError, match="unknown data access kind"):
        audit_data_access(actor="staff:7", kind="peek", what="x", rows=1, now=now)
    with pytest.raises(ValueError, match="dotted lower-case"):
        audit_data_access(actor="staff:7", kind="view", what="Bad Name", rows=1, now=now)
    with pytest.raises(ValueError, match="sha256"):
        audit_data_access(actor="staff:7", kind="export", what="x", rows=1, sha256="zz", now=now)


def test_a_stream_is_audited_when_it_ends_even_when_cut_short(now) -> None:
    lines = ["h\n", "1\n", "2\n", "3\n"]
    sent = "".join(audited_export(iter(lines), actor="staff:1", what="t.csv", clock=lambda: now))
    [record] = _records("data_access.export")
    assert record.data == {
        "what": "t.csv",
        "rows": 3,
        "sha256": hashlib.sha256(sent.encode()).hexdigest(),
        "complete": True,
    }
    stream = audited_export(iter(lines), actor="staff:1", what="t.csv", clock=lambda: now)
    assert next(stream) == "h\n" and next(stream) == "1\n"
    stream.close()  # the client went away
    partial = _records("data_access.export")[-1]
    assert partial.data["rows"] == 1 and partial.data["complete"] is False
    assert partial.data["sha256"] == hashlib.sha256(b"h\n1\n").hexdigest()


def test_inside_a_business_transaction_it_rolls_back_with_it(now) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_data_access(actor="staff:1", kind="view", what="customer", rows=1, now=now)
        raise RuntimeError("the page failed")
    assert not _records("data_access.view")


def test_a_customer_search_is_audited_once_without_the_search_term(alice, now) -> None:
    support, support_id = _as(Role.LW_SUPPORT, now)
    page = support.post("/staff/customers/", {"q": PHONE})
    assert page.status_code == 200 and alice.subject in page.content.decode()
    [record] = _records("data_access.search")
    assert record.actor == f"staff:{support_id}"
    assert record.data == {"what": "customers.search", "rows": 1, "subjects": [alice.subject]}
    assert "772123401" not in json.dumps(record.data)
    # An invalid form or an empty search reads nothing: no record.
    support.post("/staff/customers/", {"q": ""})
    assert len(_records("data_access.search")) == 1


def test_a_customer_page_view_is_one_record(alice, now) -> None:
    support, support_id = _as(Role.LW_SUPPORT, now)
    assert support.get(f"/staff/customers/{alice.subject}/").status_code == 200
    assert support.get(f"/staff/customers/{alice.subject}/").status_code == 200
    records = _records("data_access.view")
    assert len(records) == 2  # one per view, not one per field or row
    assert records[0].actor == f"staff:{support_id}"
    assert (records[0].object_type, records[0].object_id) == ("identity.profile", alice.subject)
    assert records[0].data == {"what": "customer", "rows": 1}
    assert support.get("/staff/customers/sub_missing/").status_code == 404
    assert len(_records("data_access.view")) == 2  # nothing was read
    # A reveal is audited as before, with its reason (pii.reveal).
    officer, _ = _as(Role.LW_COMPLIANCE, now)
    officer.post(
        f"/staff/customers/{alice.subject}/reveal/",
        {"fields_wanted": ["phone"], "reason": "ticket CMP-12: regulator request"},
    )
    assert _records("pii.reveal")[0].object_id == alice.subject


def test_the_transactions_export_records_rows_and_the_sha256_of_what_was_sent(alice, now) -> None:
    bob, _ = customer("bob", now)
    source = funded_wallet(alice.user_id, "UGX", 100_000, now)
    target = funded_wallet(bob, "UGX", 0, now)
    for amount in (1_000, 2_000):
        transfer_create(
            client_id=alice.user_id,
            idempotency_key=str(uuid.uuid4()),
            request=TransferRequest(
                source_wallet_id=source.id,
                destination_wallet_id=target.id,
                amount=amount,
                currency="UGX",
            ),
            now=timezone.now(),
        )
    ops, ops_id = _as(Role.LW_OPERATIONS, now)
    answer = ops.get("/staff/transactions/export.csv", {"kind": "p2p"})
    assert answer.status_code == 200
    assert not _records("data_access.export")  # written when the stream ends
    body = b"".join(answer.streaming_content)
    [record] = _records("data_access.export")
    assert record.actor == f"staff:{ops_id}"
    assert record.data["what"] == "transactions.csv" and record.data["complete"] is True
    assert record.data["rows"] == body.decode().count("\n") - 1 == 2
    assert record.data["sha256"] == hashlib.sha256(body).hexdigest()
