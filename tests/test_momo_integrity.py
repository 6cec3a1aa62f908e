"""What PostgreSQL enforces for MoMo requests and callbacks: one test per rule of
``data/momo/migrations/0002_request_integrity.py`` (and the checks of 0001).

Each refusal is made by the database itself (plain UPDATE/DELETE/TRUNCATE statements, not
our services), and each has a positive control showing the same kind of statement passes
when the rule allows it. Statements the application's role may not even run (DELETE,
TRUNCATE, editing what a callback received: tests/test_db_roles.py) are tried as the owner
(``owner_db``), to whom only the triggers say no.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import psycopg
import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from lightway.application.momo.callbacks import callback_body, callback_context
from lightway.data.ledger.services import hold_place
from lightway.data.momo.models import MomoCallback, MomoRequest
from lightway.data.momo.services import (
    momo_callback_insert,
    momo_callback_next_id,
    momo_request_insert,
)
from lightway.data.wallets.models import TransferStatus
from lightway.data.wallets.services import transfer_insert
from lightway.security.crypto import keyring_cache_clear, seal
from tests.factories import customer, funded_wallet

pytestmark = pytest.mark.django_db


def _request(now, *, status: str = "new") -> MomoRequest:
    uid, _ = customer(f"int-{uuid.uuid4().hex[:8]}", now)
    wallet = funded_wallet(uid, "UGX", 100_000, now)
    transfer = transfer_insert(
        transfer_id=uuid.uuid4(),
        kind="payout",
        status=TransferStatus.SUBMITTED,
        client_id=uid,
        idempotency_key=uuid.uuid4().hex,
        request_hash="0" * 64,
        source_wallet_id=wallet.pk,
        destination_wallet_id=None,
        currency="UGX",
        amount=1_000,
        fee=0,
        description="",
        now=now,
    )
    request = momo_request_insert(
        reference_id=uuid.uuid4(),
        product="disbursement",
        operation="transfer",
        transfer_id=transfer.id,
        hold_id=None,
        external_id=str(transfer.id),
        target_environment="mtnuganda",
        base_url="http://127.0.0.1:1",
        currency="UGX",
        amount=1_000,
        party_id_type="MSISDN",
        party_ct=b"LW1-sealed-party",
        party_token="msisdn_0123456789abcdef",
        payer_message="",
        payee_note="",
        deadline_at=now + timedelta(hours=1),
        next_check_at=now,
        now=now,
    )
    if status != "new":
        _sql("UPDATE momo_request SET status = 'accepted' WHERE id = %s", request.pk)
        if status in ("successful", "failed"):
            _sql(
                "UPDATE momo_request SET status = %s, completed_at = %s,"
                " reason_code = %s, financial_transaction_id = %s WHERE id = %s",
                status,
                now,
                "EXPIRED" if status == "failed" else "",
                "F1" if status == "successful" else "",
                request.pk,
            )
    return request


def _sql(statement: str, *params: object) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, list(params))


def _refused(
    statement: str, *params: object, match: str, owner: psycopg.Connection | None = None
) -> None:
    """The database refuses ``statement``: run as the application, or as the owner."""
    if owner is not None:
        with pytest.raises(psycopg.Error, match=match):
            owner.execute(statement, list(params))
        return
    with pytest.raises(DatabaseError, match=match), transaction.atomic():
        _sql(statement, *params)


def _callback(now, request: MomoRequest | None = None) -> MomoCallback:
    callback_id = momo_callback_next_id()
    return momo_callback_insert(
        id=callback_id,
        reference_id=str(request.reference_id) if request else "unknown",
        request_id=request.pk if request else None,
        method="PUT",
        content_type="application/json",
        body=seal(b'{"status":"SUCCESSFUL"}', context=callback_context(callback_id)),
        remote_addr="127.0.0.1",
        claimed_status="SUCCESSFUL",
        now=now,
    )


# --- requests: identity ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("reference_id", uuid.uuid4()),
        ("product", "collection"),
        ("operation", "requesttopay"),
        ("amount", 999),
        ("currency", "GHS"),
        ("party_token", "msisdn_ffffffffffffffff"),
        ("party_id_type", "EMAIL"),
        ("target_environment", "mtnghana"),
        ("base_url", "https://elsewhere.example"),
        ("external_id", "changed"),
        ("created_at", "2020-01-01T00:00:00Z"),
        ("transfer_id", None),
    ],
)
def test_a_requests_identity_party_and_amount_never_change(now, column, value):
    request = _request(now)
    _refused(
        f"UPDATE momo_request SET {column} = %s WHERE id = %s",
        value,
        request.pk,
        match="identity, party and amount are fixed",
    )


def test_the_encrypted_party_may_be_re_encrypted_by_key_rotation(now):
    """party_ct changes when `lightway keys rotate` re-encrypts it; party_token (the keyed
    hash of the number) stays fixed, so the number itself still cannot change."""
    request = _request(now)
    _sql("UPDATE momo_request SET party_ct = %s WHERE id = %s", b"LW1-resealed", request.pk)
    request.refresh_from_db()
    assert bytes(request.party_ct) == b"LW1-resealed"


def test_a_hold_is_linked_once_and_then_fixed(now):
    request = _request(now)
    transfer = request.transfer
    assert transfer is not None and transfer.source_wallet is not None
    account = transfer.source_wallet.account_id
    first = hold_place(account_id=account, amount=10, now=now, expires_at=now + timedelta(days=1))
    second = hold_place(account_id=account, amount=10, now=now, expires_at=now + timedelta(days=1))
    _sql("UPDATE momo_request SET hold_id = %s WHERE id = %s", first.pk, request.pk)  # allowed
    request.refresh_from_db()
    assert request.hold_id == first.pk
    _refused(
        "UPDATE momo_request SET hold_id = %s WHERE id = %s",
        second.pk,
        request.pk,
        match="identity, party and amount are fixed",
    )
    _refused(
        "UPDATE momo_request SET hold_id = NULL WHERE id = %s",
        request.pk,
        match="identity, party and amount are fixed",
    )


def test_the_working_fields_of_an_open_request_may_change(now):
    request = _request(now)
    _sql(
        "UPDATE momo_request SET attempts = 3, polls = 2, callbacks = 1, last_error = 'x',"
        " needs_review = true, momo_status = 'PENDING', next_check_at = %s,"
        " financial_transaction_id = 'F7' WHERE id = %s",
        now,
        request.pk,
    )
    request.refresh_from_db()
    assert (request.attempts, request.needs_review, request.financial_transaction_id) == (
        3,
        True,
        "F7",
    )


# --- requests: transitions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "target"),
    [
        ("new", "accepted"),
        ("new", "successful"),
        ("new", "failed"),
        ("accepted", "successful"),
        ("accepted", "failed"),
    ],
)
def test_allowed_transitions_pass(now, start, target):
    request = _request(now, status=start)
    _sql(
        "UPDATE momo_request SET status = %s, completed_at = %s, reason_code = %s WHERE id = %s",
        target,
        now if target in ("successful", "failed") else None,
        "EXPIRED" if target == "failed" else "",
        request.pk,
    )
    request.refresh_from_db()
    assert request.status == target


@pytest.mark.parametrize(("start", "target"), [("accepted", "new")])
def test_a_request_never_goes_back(now, start, target):
    request = _request(now, status=start)
    with pytest.raises(IntegrityError, match="is not an allowed transition"), transaction.atomic():
        _sql("UPDATE momo_request SET status = %s WHERE id = %s", target, request.pk)


@pytest.mark.parametrize(
    ("start", "change"),
    [
        ("successful", "status = 'failed', reason_code = 'X'"),
        ("successful", "status = 'accepted'"),
        ("successful", "financial_transaction_id = 'F2'"),
        ("successful", "completed_at = completed_at + interval '1 second'"),
        ("failed", "status = 'successful'"),
        ("failed", "reason_code = 'OTHER'"),
        ("failed", "financial_transaction_id = 'F3'"),
        ("failed", "status = 'new'"),
    ],
)
def test_a_final_outcome_never_changes(now, start, change):
    request = _request(now, status=start)
    _refused(
        f"UPDATE momo_request SET {change} WHERE id = %s",
        request.pk,
        match="its outcome never changes",
    )


def test_a_final_request_may_still_be_flagged_and_counted(now):
    request = _request(now, status="successful")
    _sql(
        "UPDATE momo_request SET needs_review = true, callbacks = callbacks + 1 WHERE id = %s",
        request.pk,
    )


def test_requests_are_never_deleted(now, owner_db):
    request = _request(now)
    _refused(
        "DELETE FROM momo_request WHERE id = %s", request.pk, match="never deleted", owner=owner_db
    )


def test_requests_are_never_truncated(now, owner_db):
    _request(now)
    _refused("TRUNCATE momo_request CASCADE", match="never truncated", owner=owner_db)


# --- requests: the checks of 0001 ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "constraint"),
    [
        (
            "status = 'failed', completed_at = now(), reason_code = ''",
            "momo_request_failed_has_reason",
        ),
        ("status = 'successful'", "momo_request_terminal_has_time"),
    ],
)
def test_request_checks(now, change, constraint):
    request = _request(now)
    _refused(f"UPDATE momo_request SET {change} WHERE id = %s", request.pk, match=constraint)


@pytest.mark.parametrize(
    ("override", "constraint"),
    [
        ({"amount": 0}, "momo_request_amount_positive"),
        ({"product": "lending"}, "momo_request_product_valid"),
        ({"status": "lost"}, "momo_request_status_valid"),
    ],
)
def test_request_insert_checks(now, override, constraint):
    request = _request(now)
    values = {"amount": request.amount, "product": request.product, "status": "new", **override}
    _refused(
        "INSERT INTO momo_request (reference_id, product, operation, external_id,"
        " target_environment, base_url, currency, amount, party_id_type, party_ct, party_token,"
        " payer_message, payee_note, status, needs_review, momo_status,"
        " financial_transaction_id, reason_code, reason_message, attempts, polls, callbacks,"
        " last_error, deadline_at, created_at, updated_at)"
        " VALUES (%s, %s, 'transfer', 'x', 'mtnuganda', 'http://x', 'UGX', %s, 'MSISDN', %s,"
        " 't', '', '', %s, false, '', '', '', '', 0, 0, 0, '', %s, %s, %s)",
        uuid.uuid4(),
        values["product"],
        values["amount"],
        b"x",
        values["status"],
        now,
        now,
        now,
        match=constraint,
    )


# --- callbacks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("method", "POST"),
        ("reference_id", "another"),
        ("received_at", "2020-01-01T00:00:00Z"),
        ("content_type", "text/plain"),
    ],
)
def test_what_a_callback_received_is_kept_as_received(now, owner_db, column, value):
    callback = _callback(now, _request(now))
    _refused(
        f"UPDATE momo_callback SET {column} = %s WHERE id = %s",
        value,
        callback.pk,
        match="is kept as received",
        owner=owner_db,
    )


@pytest.mark.parametrize(
    "body",
    [b"{}", b"LW1", "sealed again under the same key"],
    ids=["clear", "magic-only", "same-key"],
)
def test_a_callbacks_body_changes_only_by_a_reseal_under_another_key(now, owner_db, body):
    """Issue 11 finding 1: the body is sealed; it can neither go back to clear nor be
    swapped for another sealed value under the same key (the owner cannot either)."""
    callback = _callback(now, _request(now))
    if body == "sealed again under the same key":
        body = seal(b'{"status":"FAILED"}', context=callback_context(callback.pk))
    _refused(
        "UPDATE momo_callback SET body = %s WHERE id = %s",
        body,
        callback.pk,
        match="re-seal|momo_callback_body_sealed",
        owner=owner_db,
    )


def test_a_clear_callback_body_is_refused_by_the_database(now):
    with pytest.raises(IntegrityError, match="momo_callback_body_sealed"), transaction.atomic():
        momo_callback_insert(
            id=momo_callback_next_id(),
            reference_id="unknown",
            request_id=None,
            method="PUT",
            content_type="application/json",
            body=b'{"payer": {"partyId": "256772000111"}}',
            remote_addr="127.0.0.1",
            claimed_status="",
            now=now,
        )


def test_key_rotation_reseals_a_callback_body(now, settings):
    from lightway.application.datakeys.rotation import keys_rotate

    first = "v1:" + "A" * 43 + "="
    settings.LIGHTWAY_DATA_KEYS = first
    keyring_cache_clear()
    callback = _callback(now)
    settings.LIGHTWAY_DATA_KEYS = "v2:" + "B" * 43 + "=," + first
    keyring_cache_clear()
    result = keys_rotate(now=now)
    assert result.by_column is not None and result.by_column["momo.MomoCallback.body"] == 1
    callback.refresh_from_db()
    assert bytes(callback.body)[4:6] == b"v2"
    assert callback_body(callback) == b'{"status":"SUCCESSFUL"}'


def test_key_rotation_seals_a_body_stored_in_clear_before_sealing(now, owner_db):
    """Rows from before migration 0004 (its CHECK is NOT VALID) are sealed by the first
    ``lightway keys rotate``; ``keys status`` counts them as "clear" until then."""
    from lightway.application.datakeys.rotation import keys_rotate, keys_status

    callback = _callback(now)
    owner_db.execute("ALTER TABLE momo_callback DROP CONSTRAINT momo_callback_body_sealed")
    owner_db.execute("ALTER TABLE momo_callback DISABLE TRIGGER momo_callback_guard")
    owner_db.execute(
        "UPDATE momo_callback SET body = %s WHERE id = %s", [b'{"partyId": "1"}', callback.pk]
    )
    owner_db.execute("ALTER TABLE momo_callback ENABLE TRIGGER momo_callback_guard")
    owner_db.execute(
        "ALTER TABLE momo_callback ADD CONSTRAINT momo_callback_body_sealed"
        " CHECK (lw_is_sealed(body)) NOT VALID"
    )
    assert keys_status()["momo.MomoCallback.body"]["clear"] == 1
    keys_rotate(now=now)
    callback.refresh_from_db()
    assert callback_body(callback) == b'{"partyId": "1"}'
    assert "clear" not in keys_status()["momo.MomoCallback.body"]


def test_a_callbacks_processing_fields_may_change(now):
    request = _request(now)
    callback = _callback(now)
    _sql(
        "UPDATE momo_callback SET outcome = 'applied', processed_at = %s, request_id = %s"
        " WHERE id = %s",
        now,
        request.pk,
        callback.pk,
    )
    callback.refresh_from_db()
    assert (callback.outcome, callback.request_id) == ("applied", request.pk)


def test_callbacks_are_never_deleted(now, owner_db):
    callback = _callback(now)
    _refused(
        "DELETE FROM momo_callback WHERE id = %s",
        callback.pk,
        match="never deleted",
        owner=owner_db,
    )


def test_callbacks_are_never_truncated(now, owner_db):
    _callback(now)
    _refused("TRUNCATE momo_callback", match="never truncated", owner=owner_db)
