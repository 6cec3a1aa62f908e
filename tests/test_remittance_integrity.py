"""What PostgreSQL enforces for quotes, beneficiary validations and remittances
(data/remittances/migrations/0002_integrity.py), each rule tried against the database as
the application's runtime role; and what ``ledger verify`` catches when a superuser forges
a remittance's rows with the triggers off; and the token-aware name comparison."""

from __future__ import annotations

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from lightway.application.remittances.beneficiaries import names_compare
from lightway.application.remittances.quotes import QuoteRequest, quote_create
from lightway.application.remittances.remittances import (
    RemittanceRequest,
    remittance_confirm,
    remittance_create,
)
from lightway.data.ledger.verify import ledger_verify
from lightway.data.momo.models import MomoRequest
from lightway.data.remittances.models import (
    TRANSITIONS,
    BeneficiaryValidation,
    PartnerDailyUsage,
    Remittance,
)
from tests.momo_flow_support import run_momo_jobs, settle, wait_final
from tests.remit_support import fx_rate, remit_partner


def _refused(sql: str, params: list[object] | None = None) -> str:
    with pytest.raises(DatabaseError) as caught, transaction.atomic(), connection.cursor() as cur:
        cur.execute(sql, params or [])
    return str(caught.value)


def _world(momo, now, *, code="integ", send="USD"):
    partner = remit_partner(code, now, prefund={"USD": 10_000_000, "UGX": 10_000_000})
    fx_rate("USD", "UGX", "3700", 100, now)
    quote, _ = quote_create(
        partner_id=partner.partner_id, ask=QuoteRequest(send, "UGX", 10_000, "SEND"), now=now
    )
    remittance, _ = remittance_create(
        partner_id=partner.partner_id,
        idempotency_key="k1",
        request=RemittanceRequest(
            external_id="INTEG-1",
            quote_id=quote.id,
            beneficiary_msisdn="256772555401",
            beneficiary_name="Amina Nakato",
            sender={"name": "John Smith", "country": "GB"},
        ),
        now=now,
    )
    return partner, quote, remittance


@pytest.mark.django_db
def test_remittance_rows_follow_their_rules(momo):
    _partner, quote, rem = _world(momo, timezone.now())
    table = "remittances_remittance"
    assert "not an allowed transition" in _refused(
        f"UPDATE {table} SET state = 'COMPLETED', version = version + 1 WHERE id = %s", [rem.id]
    )
    assert "version must rise by one" in _refused(
        f"UPDATE {table} SET state = 'CANCELLED' WHERE id = %s", [rem.id]
    )
    assert "version must rise by one" in _refused(
        f"UPDATE {table} SET version = version + 2, state = 'CANCELLED' WHERE id = %s", [rem.id]
    )
    assert "are fixed" in _refused(
        f"UPDATE {table} SET send_amount = 1, version = version + 1 WHERE id = %s", [rem.id]
    )
    # the runtime role may not delete (db_roles.TABLE_RULES); the owner is refused by the
    # trigger (test_verify_catches_a_forged_cross_currency_payout)
    assert "permission denied" in _refused(f"DELETE FROM {table} WHERE id = %s", [rem.id])
    # every allowed transition is in the trigger, and nothing else
    assert TRANSITIONS["SUBMITTED"] == {"COMPLETED", "FAILED"}
    assert "CANCELLED" not in TRANSITIONS["SUBMITTED"]
    with connection.cursor() as cur:
        cur.execute(
            f"UPDATE {table} SET state = 'CANCELLED', version = version + 1 WHERE id = %s",
            [rem.id],
        )
    assert "not an allowed transition" in _refused(
        f"UPDATE {table} SET state = 'CREATED', version = version + 1 WHERE id = %s", [rem.id]
    )
    assert "its terms never change" in _refused(
        "UPDATE remittances_quote SET fee = 0 WHERE id = %s", [quote.id]
    )
    assert "not an allowed transition" in _refused(
        "UPDATE remittances_quote SET state = 'ACTIVE' WHERE id = %s", [quote.id]
    )
    assert "permission denied" in _refused(
        "DELETE FROM remittances_quote WHERE id = %s", [quote.id]
    )


@pytest.mark.django_db
def test_a_remittance_is_born_created_and_one_per_quote(momo):
    _partner, _quote, rem = _world(momo, timezone.now())
    cols = (
        "id, partner_id, external_id, idempotency_key, request_hash, quote_id, send_currency,"
        " send_amount, fee, receive_currency, receive_amount, spread, beneficiary_msisdn_ct,"
        " beneficiary_msisdn_token, beneficiary_name_ct, sender_ct, purpose, note, state,"
        " version, reason_code, created_at, updated_at"
    )
    copy = (
        f"INSERT INTO remittances_remittance ({cols}) SELECT gen_random_uuid(), partner_id,"
        " external_id || %s, idempotency_key || %s, request_hash, quote_id, send_currency,"
        " send_amount, fee, receive_currency, receive_amount, spread, beneficiary_msisdn_ct,"
        " beneficiary_msisdn_token, beneficiary_name_ct, sender_ct, purpose, note, %s, 1, '',"
        " created_at, updated_at FROM remittances_remittance WHERE id = %s"
    )
    assert "created as CREATED" in _refused(copy, ["-x", "-x", "CONFIRMED", rem.id])
    assert "quote_id" in _refused(copy, ["-y", "-y", "CREATED", rem.id])  # one per quote


@pytest.mark.django_db
def test_validations_and_usage_counters_are_kept(momo, client):
    from tests.remit_support import signed

    partner, _quote, _rem = _world(momo, timezone.now())
    resp = signed(
        client,
        partner,
        "POST",
        "/api/v1/partner/beneficiary-validations",
        {"msisdn": "256772555401", "expected_name": "Amina"},
    )
    assert resp.status_code == 201, resp.content
    vid = BeneficiaryValidation.objects.get().pk
    assert "permission denied" in _refused(
        "UPDATE remittances_beneficiary_validation SET name_match = 'MATCH' WHERE id = %s", [vid]
    )
    with connection.cursor() as cur:  # key rotation re-seals the sealed columns
        cur.execute(
            "UPDATE remittances_beneficiary_validation SET msisdn_ct = msisdn_ct WHERE id = %s",
            [vid],
        )
    PartnerDailyUsage.objects.create(
        partner_id=partner.partner_id, currency="UGX", day=timezone.now().date(), amount=5
    )
    assert "permission denied" in _refused("DELETE FROM remittances_partner_usage")
    assert "remittances_partner_usage_nonneg" in _refused(
        "UPDATE remittances_partner_usage SET amount = -1"
    )


def test_names_are_compared_token_by_token():
    cases = [
        ("Amina Nakato", "Amina Nakato", "MATCH"),
        ("NAKATO amina", "Amina Nakato", "MATCH"),
        ("Amína Nakató", "Amina Nakato", "MATCH"),
        ("Jean-Pierre Kouassi", "Jean Pierre Kouassi", "MATCH"),
        ("O'Brien Mensah", "OBrien Mensah", "NO_MATCH"),  # different words, never guessed
        ("A. Nakato", "Amina Nakato", "PARTIAL"),  # an initial: never MATCH
        ("A Nakato", "Amina Nakato", "PARTIAL"),
        ("Amina Nakato", "Amina Grace Nakato", "PARTIAL"),  # a middle name missing
        ("Ann Nakato", "Anna Nakato", "NO_MATCH"),  # no prefix or suffix matching
        ("Amina Okello", "Amina Nakato", "NO_MATCH"),
        ("Amina", "Amina Nakato", "PARTIAL"),
        ("A. B.", "Amina Banda", "NO_MATCH"),  # initials alone prove nothing
        ("", "Amina Nakato", "NO_MATCH"),
        ("Amina Amina", "Amina Nakato", "NO_MATCH"),
    ]
    for expected, registered, verdict in cases:
        assert names_compare(expected, registered) == verdict, (expected, registered)


@pytest.mark.django_db(transaction=True)
def test_verify_catches_a_forged_cross_currency_payout(momo, client, owner_db):
    now = timezone.now()
    partner, _quote, rem = _world(momo, now, code="forge")
    remittance_confirm(
        partner_id=partner.partner_id, remittance_id=rem.id, idempotency_key="c", now=now
    )
    run_momo_jobs(timezone.now())
    request = MomoRequest.objects.get()
    wait_final(momo.sim, request.reference_id)
    settle(momo, client, timezone.now())
    rem = Remittance.objects.get(pk=rem.pk)
    assert rem.state == "COMPLETED" and rem.fx_entry_id is not None
    assert ledger_verify().ok, ledger_verify().problems
    # the owner (a superuser) is refused by the triggers while they are on
    owner_db.execute(
        "INSERT INTO remittances_beneficiary_validation (id, partner_id, msisdn_ct,"
        " msisdn_token, account_status, name_match, expires_at, created_at) VALUES"
        " (gen_random_uuid(), %s, '\\x00', 't', 'ACTIVE', 'NOT_CHECKED', now(), now())",
        [partner.partner_id],
    )
    for sql, message in (
        ("DELETE FROM remittances_remittance", "never deleted"),
        ("DELETE FROM remittances_quote", "never deleted"),
        ("TRUNCATE remittances_remittance CASCADE", "TRUNCATE refused"),
        ("UPDATE remittances_beneficiary_validation SET name_match = 'MATCH'", "append-only"),
        ("DELETE FROM remittances_partner_usage", "never deleted"),
    ):
        with pytest.raises(psycopg.Error, match=message):
            owner_db.execute(sql)
    owner_db.execute("SET session_replication_role = replica")
    # the FX revenue posting moved onto the FX position: balanced, but not what was quoted
    owner_db.execute(
        "UPDATE ledger_posting SET leg = 'fx' WHERE entry_id = %s AND leg = 'fx:spread'",
        [rem.fx_entry_id],
    )
    result = ledger_verify()
    assert result.failed.get(
        "cross-currency remittances match their receive-currency entries, posting by posting"
    ), result.problems
    # and a remittance that says COMPLETED without its FX entry
    owner_db.execute("UPDATE remittances_remittance SET fx_entry_id = NULL WHERE id = %s", [rem.pk])
    result = ledger_verify()
    assert any("without its FX entry" in p for p in result.problems), result.problems
    assert any("belongs to no transfer or hold" in p for p in result.problems), result.problems
    owner_db.execute("SET session_replication_role = origin")
