"""AML rules: versioning with effective dates (frozen by the database), parameter
validation, and the inline rules inside the payment skeleton through the real P2P API."""

from __future__ import annotations

import json
from datetime import timedelta

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from lightway.application.aml import inline
from lightway.application.aml.rules import (
    inline_rules,
    rule_in_force,
    rule_version_add,
    rules_seed_defaults,
)
from lightway.application.errors import ValidationFailed
from lightway.data.aml.models import Alert, Case, HitStatus, RuleVersion, SanctionsHit
from lightway.data.ledger.models import Account
from lightway.data.wallets.models import Transfer
from tests.aml_support import rule
from tests.factories import customer, funded_wallet

pytestmark = pytest.mark.django_db

THRESHOLD = {"countries": {"UG": {"amount": 3_000_000}}}


def test_the_version_in_force_follows_effective_dates(now):
    v1 = rule("BIG", "threshold", THRESHOLD, now, mode="inline")
    v2 = rule_version_add(
        code="BIG",
        kind="threshold",
        effective_from=now + timedelta(days=3),
        mode="inline",
        action="refuse",
        parameters={"countries": {"UG": {"amount": 1_000_000}}},
        now=now,
    )
    assert (v1.version, v2.version) == (1, 2)
    assert rule_in_force(code="BIG", at=now).pk == v1.pk
    assert rule_in_force(code="BIG", at=now + timedelta(days=3)).pk == v2.pk
    assert rule_in_force(code="BIG", at=now - timedelta(days=500)) is None
    # a version that ends
    rule_version_add(
        code="BIG",
        kind="threshold",
        effective_from=now + timedelta(days=5),
        effective_to=now + timedelta(days=6),
        mode="inline",
        action="flag",
        parameters=THRESHOLD,
        now=now,
    )
    assert rule_in_force(code="BIG", at=now + timedelta(days=5, hours=1)).version == 3
    assert rule_in_force(code="BIG", at=now + timedelta(days=7)) is None
    assert [r.code for r in inline_rules(at=now)] == ["BIG"]
    assert inline_rules(at=now + timedelta(days=7)) == []


def test_a_version_in_force_or_past_is_frozen_by_the_database(now):
    v1 = rule("BIG", "threshold", THRESHOLD, now, mode="inline")
    for statement, refusal in (
        (f"UPDATE aml_rule_version SET parameters = '{{}}' WHERE id = {v1.pk}", "in force"),
        (f"UPDATE aml_rule_version SET enabled = false WHERE id = {v1.pk}", "in force"),
        # the runtime role may not delete at all (db_roles.TABLE_RULES)
        (f"DELETE FROM aml_rule_version WHERE id = {v1.pk}", "permission denied"),
    ):
        with pytest.raises(DatabaseError, match=refusal), transaction.atomic():
            with connection.cursor() as cur:
                cur.execute(statement)
    assert RuleVersion.objects.get(pk=v1.pk).enabled


@pytest.mark.django_db(transaction=True)
def test_the_owner_cannot_delete_a_version_in_force_either(now, owner_db):
    v1 = rule("BIG", "threshold", THRESHOLD, now, mode="inline")
    with pytest.raises(psycopg.errors.RestrictViolation, match="in force or past"):
        owner_db.execute("DELETE FROM aml_rule_version WHERE id = %s", [v1.pk])
    # a version that starts later may still be corrected
    later = rule_version_add(
        code="BIG",
        kind="threshold",
        effective_from=now + timedelta(days=3650),
        mode="inline",
        action="flag",
        parameters=THRESHOLD,
        now=now,
    )
    owner_db.execute("UPDATE aml_rule_version SET note = 'typo fixed' WHERE id = %s", [later.pk])


@pytest.mark.parametrize(
    ("kind", "mode", "action", "params", "message"),
    [
        ("threshold", "inline", "flag", {}, "countries"),
        ("threshold", "inline", "flag", {"countries": {"XX": {"amount": 1}}}, "unknown market"),
        ("threshold", "inline", "flag", {"countries": {"UG": {"amount": -5}}}, "between"),
        ("threshold", "inline", "flag", {"countries": {"UG": {"amount": "5"}}}, "whole number"),
        ("threshold", "batch", "flag", THRESHOLD, "runs inline"),
        ("velocity", "batch", "refuse", {}, "can flag"),
        ("velocity", "batch", "flag", {"window_hours": 0}, "window_hours"),
        ("velocity", "batch", "flag", {"foo": 1}, "unknown parameter"),
        ("nonsense", "batch", "flag", {}, "kind must be one of"),
        ("fan_in", "batch", "flag", [], "JSON object"),
        ("sanctions_screening", "batch", "flag", {"threshold": 20}, "threshold"),
    ],
)
def test_bad_parameters_are_refused_with_a_clear_message(now, kind, mode, action, params, message):
    with pytest.raises(ValidationFailed, match=message):
        rule_version_add(
            code="R1",
            kind=kind,
            effective_from=now,
            mode=mode,
            action=action,
            parameters=params,
            now=now,
        )
    assert not RuleVersion.objects.exists()


def test_a_rule_keeps_its_kind_and_history_is_not_rewritten(now):
    rule("BIG", "threshold", THRESHOLD, now, mode="inline", since=timedelta(days=1))
    with pytest.raises(ValidationFailed, match="kind cannot change"):
        rule_version_add(
            code="BIG",
            kind="velocity",
            effective_from=now,
            mode="batch",
            action="flag",
            parameters={},
            now=now,
        )
    with pytest.raises(ValidationFailed, match="before the latest"):
        rule_version_add(
            code="BIG",
            kind="threshold",
            effective_from=now - timedelta(days=2),
            mode="inline",
            action="flag",
            parameters=THRESHOLD,
            now=now,
        )


def test_seed_defaults_is_idempotent(now):
    assert rules_seed_defaults(effective_from=now, now=now) == 9
    assert rules_seed_defaults(effective_from=now, now=now) == 0
    assert RuleVersion.objects.count() == 9


# --- inline, through the real P2P API ------------------------------------------------------------


def _post(client, token, wa, wb, amount, key):
    return client.post(
        "/api/v1/transfers",
        data=json.dumps(
            {
                "source_wallet_id": str(wa.id),
                "destination_wallet_id": str(wb.id),
                "amount": amount,
                "currency": "UGX",
            }
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_IDEMPOTENCY_KEY=key,
    )


@pytest.fixture
def pair(now):
    a_id, token = customer("alice", now, tier=3)
    b_id, _ = customer("bob", now, tier=3)
    wa = funded_wallet(a_id, "UGX", 20_000_000, now)
    wb = funded_wallet(b_id, "UGX", 0, now)
    return a_id, b_id, token, wa, wb


def test_inline_threshold_flags_a_large_payment_in_its_own_transaction(client, pair, now):
    a_id, _b, token, wa, wb = pair
    rule("BIG", "threshold", THRESHOLD, now, mode="inline", action="flag")
    small = _post(client, token, wa, wb, 2_999_999, "k1")
    assert small.status_code == 201 and not Alert.objects.exists()
    big = _post(client, token, wa, wb, 3_000_000, "k2")
    assert big.status_code == 201 and big.json()["status"] == "succeeded"
    alert = Alert.objects.get()
    assert alert.rule_code == "BIG" and alert.subject_user_id == a_id
    assert [str(t) for t in alert.transfer_ids] == [big.json()["id"]]
    assert alert.evidence["threshold"] == 3_000_000 and alert.evidence["market"] == "UG"
    assert alert.case is not None and alert.case.reference.startswith("AML-")
    # a replay raises nothing new
    assert _post(client, token, wa, wb, 3_000_000, "k2").status_code == 200
    assert Alert.objects.count() == 1


def test_inline_threshold_refuses_when_configured_to(client, pair, now):
    _a, _b, token, wa, wb = pair
    rule("BIG", "threshold", THRESHOLD, now, mode="inline", action="refuse")
    resp = _post(client, token, wa, wb, 3_500_000, "k1")
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert error["code"] == "aml_refused" and "BIG" not in error["message"]
    transfer = Transfer.objects.get()
    assert (transfer.status, transfer.failure_code) == ("failed", "aml_refused")
    assert Account.objects.get(pk=wb.account_id).balance == 0
    assert Alert.objects.get().evidence["refused"] is True


def test_a_threshold_of_another_market_does_not_apply(client, pair, now):
    _a, _b, token, wa, wb = pair
    rule("BIG", "threshold", {"countries": {"GH": {"amount": 100}}}, now, mode="inline")
    assert _post(client, token, wa, wb, 5_000_000, "k1").status_code == 201
    assert not Alert.objects.exists()


def test_a_sanctioned_recipient_is_refused(client, pair, now):
    from tests.test_aml_sanctions import hit_for

    _a, b_id, token, wa, wb = pair
    rule("SANCTIONED", "sanctioned_party", {}, now, mode="inline", action="refuse")
    assert _post(client, token, wa, wb, 1000, "k1").status_code == 201
    hit = hit_for(b_id, now)
    inline.aml_caches_clear()
    resp = _post(client, token, wa, wb, 1000, "k2")
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "aml_refused"
    alert = Alert.objects.get()
    assert alert.subject_user_id == b_id and alert.evidence["party"] == "recipient"
    # dismissed as a false positive: payments pass again
    SanctionsHit.objects.filter(pk=hit.pk).update(status=HitStatus.DISMISSED)
    inline.aml_caches_clear()
    assert _post(client, token, wa, wb, 1000, "k3").status_code == 201


def test_a_disabled_version_switches_the_rule_off(client, pair, now):
    _a, _b, token, wa, wb = pair
    rule("BIG", "threshold", THRESHOLD, now, mode="inline", action="refuse")
    rule_version_add(
        code="BIG",
        kind="threshold",
        effective_from=now - timedelta(days=1),
        mode="inline",
        action="refuse",
        parameters=THRESHOLD,
        now=now,
        enabled=False,
    )
    assert _post(client, token, wa, wb, 3_500_000, "k1").status_code == 201


def test_inline_rules_cost_no_query_per_payment_once_cached(pair, now, settings):
    from lightway.data.money import Money

    settings.LIGHTWAY_AML_CACHE_SECONDS = 60
    rule("BIG", "threshold", THRESHOLD, now, mode="inline")
    rule("SANCTIONED", "sanctioned_party", {}, now, mode="inline", action="refuse")
    inline.inline_check(
        kind="p2p", client_id=pair[0], money=Money.of(10, "UGX"), recipient_id=pair[1], now=now
    )
    with CaptureQueriesContext(connection) as queries:
        for _ in range(50):
            outcome = inline.inline_check(
                kind="p2p",
                client_id=pair[0],
                money=Money.of(10, "UGX"),
                recipient_id=pair[1],
                now=now,
            )
            assert outcome.refusal is None and not outcome.flags
    assert len(queries) == 0


def test_turned_off_by_setting(client, pair, now, settings):
    _a, _b, token, wa, wb = pair
    rule("BIG", "threshold", THRESHOLD, now, mode="inline", action="refuse")
    settings.LIGHTWAY_AML_INLINE = False
    assert _post(client, token, wa, wb, 3_500_000, "k1").status_code == 201
    assert not Case.objects.exists()
