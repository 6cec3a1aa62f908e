"""Sanctions lists: the UN consolidated list importer (safe parsing, atomic replacement,
bad files), name matching (transliterated, misspelt, reordered; unrelated names do not
match; the threshold decides), customer screening and the blocking index."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lightway.application.aml import sanctions
from lightway.application.aml.sanctions import (
    SanctionsFileError,
    customer_screen,
    customers_screen,
    list_index,
    names_match,
    sanctions_import,
)
from lightway.application.identity.profiles import profile_set_pii
from lightway.data.aml.models import (
    Alert,
    SanctionsEntry,
    SanctionsHit,
    SanctionsList,
)
from lightway.data.audit.models import AuditRecord
from tests.aml_support import rule
from tests.factories import customer

pytestmark = pytest.mark.django_db

SMALL = Path(__file__).parent / "data" / "un_consolidated_small.xml"


def load(now):
    return sanctions_import(data=SMALL.read_bytes(), file_name=SMALL.name, now=now)


def hit_for(user_id: int, now) -> SanctionsHit:
    """An open hit recorded against ``user_id`` (for the inline rule's tests)."""
    listed = load(now)
    entry = SanctionsEntry.objects.filter(sanctions_list=listed).first()
    return SanctionsHit.objects.create(
        sanctions_list=listed,
        entry=entry,
        subject_type="customer",
        subject_ref=f"user:{user_id}",
        user_id=user_id,
        subject_name_ct=sanctions.hit_subject_seal(
            "x", subject_ref=f"user:{user_id}", user_id=user_id, now=now
        ),
        entry_name=entry.primary_name,
        entry_normalised="x",
        name_source="primary",
        scorer=sanctions.SCORER,
        score=100.0,
        threshold=88.0,
        created_at=now,
    )


def test_import_reads_individuals_entities_aliases_and_original_script(now):
    listed = load(now)
    assert listed.active and listed.entries == 4 and listed.generated_on.startswith("2026-11-01")
    ivan = SanctionsEntry.objects.get(sanctions_list=listed, data_id="9100001")
    assert ivan.kind == "individual" and ivan.primary_name == "IVAN SERGEYEVICH PETROVSKY"
    sources = {(n["source"], n["name"]) for n in ivan.names}
    assert ("original_script", "Иван Сергеевич Петровский") in sources
    assert ("alias", "Vanya Petrovsky") in sources
    assert len(ivan.names) == 3  # the empty alias is skipped
    assert ivan.details["dates_of_birth"][0]["date"] == "1970-05-02"
    assert ivan.details["nationalities"] == ["Testland"]
    entity = SanctionsEntry.objects.get(sanctions_list=listed, data_id="9200001")
    assert entity.kind == "entity" and len(entity.names) == 2
    assert AuditRecord.objects.filter(action="aml.sanctions.import").count() == 1


def test_a_new_import_replaces_the_list_atomically(now):
    first = load(now)
    second = load(now)
    assert list(SanctionsList.objects.filter(active=True)) == [second]
    assert not SanctionsList.objects.get(pk=first.pk).active


BAD_FILES = [
    (b"", "empty"),
    (b"<CONSOLIDATED_LIST><INDIVIDUALS>", "not well-formed"),
    (b"<OTHER/>", "expected CONSOLIDATED_LIST"),
    (b"<CONSOLIDATED_LIST/>", "no INDIVIDUAL or ENTITY"),
    (
        b"<CONSOLIDATED_LIST><INDIVIDUALS><INDIVIDUAL><FIRST_NAME>A</FIRST_NAME>"
        b"</INDIVIDUAL></INDIVIDUALS></CONSOLIDATED_LIST>",
        "no DATAID",
    ),
    (
        b"<CONSOLIDATED_LIST><INDIVIDUALS><INDIVIDUAL><DATAID>1</DATAID></INDIVIDUAL>"
        b"</INDIVIDUALS></CONSOLIDATED_LIST>",
        "no FIRST_NAME",
    ),
    (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b"<CONSOLIDATED_LIST><INDIVIDUALS><INDIVIDUAL><DATAID>1</DATAID>"
        b"<FIRST_NAME>&e;</FIRST_NAME></INDIVIDUAL></INDIVIDUALS></CONSOLIDATED_LIST>",
        "DOCTYPE",
    ),
    (
        b"<CONSOLIDATED_LIST><ENTITIES><ENTITY><DATAID>1</DATAID><FIRST_NAME>A B</FIRST_NAME>"
        b"</ENTITY><ENTITY><DATAID>1</DATAID><FIRST_NAME>C D</FIRST_NAME></ENTITY></ENTITIES>"
        b"</CONSOLIDATED_LIST>",
        "appears twice",
    ),
]


@pytest.mark.parametrize(("data", "message"), BAD_FILES)
def test_a_bad_file_is_refused_and_the_previous_list_stays(now, data, message):
    good = load(now)
    with pytest.raises(SanctionsFileError, match=message):
        sanctions_import(data=data, file_name="bad.xml", now=now)
    assert list(SanctionsList.objects.filter(active=True)) == [good]
    assert SanctionsList.objects.count() == 1


@pytest.mark.parametrize(
    ("name", "data_id", "source"),
    [
        ("Иван Петровский", "9100001", "original_script"),  # Cyrillic, two of three names
        ("Petrovsky Ivan Sergeyevich", "9100001", "primary"),  # reordered
        ("Ivan Petrovski", "9100001", "original_script"),  # misspelt (closest: Петровский)
        ("عبد الله يوسف القراوي", "9100002", "original_script"),  # Arabic script
        ("Abdulla Yousuf Al Qarawi", "9100002", "primary"),  # transliteration variant
        ("Marcelo Okonkow", "9100003", "primary"),  # misspelt subset
        ("Golden Crescent Traders Ltd.", "9200001", "alias"),
    ],
)
def test_matching_names_hit(now, name, data_id, source):
    listed = load(now)
    matches = names_match(name, list_index(listed.pk), threshold=88)
    assert matches, name
    assert (matches[0].data_id, matches[0].name_source) == (data_id, source)
    assert matches[0].score >= 88 and matches[0].threshold == 88


@pytest.mark.parametrize(
    "name", ["Sarah Nakato", "David Okello", "Ivan Ochieng", "Mary Abdullah", "Ali", "Ivan"]
)
def test_unrelated_names_do_not_hit(now, name):
    listed = load(now)
    assert names_match(name, list_index(listed.pk), threshold=88) == []


def test_the_threshold_decides(now):
    listed = load(now)
    index = list_index(listed.pk)
    assert names_match("Ivan Petrenko", index, threshold=88) == []
    loose = names_match("Ivan Petrenko", index, threshold=75)
    assert [m.data_id for m in loose] == ["9100001"] and 75 <= loose[0].score < 88


def test_customer_screening_records_why_and_opens_a_case(now):
    user_id, _ = customer("ivan", now)
    profile_set_pii(user_id=user_id, now=now, name="Иван Петровский")
    other_id, _ = customer("sarah", now)
    profile_set_pii(user_id=other_id, now=now, name="Sarah Nakato")
    rule("SCREEN", "sanctions_screening", {"threshold": 90}, now)
    load(now)
    assert customer_screen(user_id=other_id, now=now) == 0
    assert customer_screen(user_id=user_id, now=now) == 1
    hit = SanctionsHit.objects.get()
    assert hit.user_id == user_id and hit.threshold == 90 and hit.score == 100
    assert hit.entry_name == "Иван Сергеевич Петровский" and hit.name_source == "original_script"
    assert sanctions.hit_subject_name(hit) == "ivan petrovskiy"
    assert hit.entry_normalised == "ivan petrovskiy sergeevich"
    alert = Alert.objects.get()
    assert alert.rule_code == "SCREEN" and alert.subject_user_id == user_id
    assert alert.evidence["data_id"] == "9100001" and alert.case is not None
    # screening again adds nothing; the batch over everyone neither
    assert customer_screen(user_id=user_id, now=now) == 0
    assert customers_screen(now=now) == (2, 0)
    assert Alert.objects.count() == 1


def test_kyc_approval_screens_the_customer(now):
    from lightway.application.kyc.tiers import kyc_tier_set

    load(now)
    user_id, _ = customer("abdullah", now, tier=1)
    profile_set_pii(user_id=user_id, now=now, name="Abdullah Yusuf Al Qarawi")
    kyc_tier_set(user_id=user_id, tier=2, actor="system", reason="documents checked", now=now)
    assert SanctionsHit.objects.get().user_id == user_id


def _big_list(count: int) -> bytes:
    import random

    rng = random.Random(5)
    syllables = ["ka", "ra", "mo", "na", "li", "to", "be", "su", "di", "ve", "ro", "an", "el"]

    def word() -> str:
        return "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))).upper()

    parts = ["<CONSOLIDATED_LIST><INDIVIDUALS>"]
    for i in range(count):
        parts.append(
            f"<INDIVIDUAL><DATAID>{i}</DATAID><FIRST_NAME>{word()}</FIRST_NAME>"
            f"<SECOND_NAME>{word()}</SECOND_NAME><THIRD_NAME>{word()}</THIRD_NAME>"
            f"<INDIVIDUAL_ALIAS><QUALITY>Low</QUALITY><ALIAS_NAME>{word()} {word()}"
            "</ALIAS_NAME></INDIVIDUAL_ALIAS></INDIVIDUAL>"
        )
    parts.append(
        "<INDIVIDUAL><DATAID>x1</DATAID><FIRST_NAME>MARCEL</FIRST_NAME>"
        "<SECOND_NAME>DUVALIER</SECOND_NAME><THIRD_NAME>OKONKWO</THIRD_NAME></INDIVIDUAL>"
    )
    parts.append("</INDIVIDUALS></CONSOLIDATED_LIST>")
    return "".join(parts).encode()


def test_a_10k_list_is_screened_through_the_blocking_index(now, monkeypatch):
    listed = sanctions_import(data=_big_list(10_000), file_name="big.xml", now=now)
    index = list_index(listed.pk)
    assert len(index.names) == 20_001
    scored = []
    real = sanctions.name_score
    monkeypatch.setattr(sanctions, "name_score", lambda q, c: scored.append(c) or real(q, c))
    started = time.perf_counter()
    for _ in range(100):
        matches = names_match("Marcelo Okonkow", index, threshold=88)
    per_name = (time.perf_counter() - started) / 100
    assert [m.data_id for m in matches] == ["x1"]
    # only the names sharing a block key were scored, not the 20,001 names of the list
    assert len(scored) / 100 < 500
    assert per_name < 0.05
    print(
        f"\n10k-entry list: {len(scored) / 100:.0f} names scored, {per_name * 1000:.2f} ms per name"
    )


def test_a_sanctioned_remittance_beneficiary_is_refused_inline(momo, client, now):
    from django.utils import timezone

    from lightway.data.remittances.models import Remittance
    from tests.remit_support import error, fx_rate, new_key, remit_partner, remittance_body, signed

    t0 = timezone.now()
    partner = remit_partner("acme-remit", t0, prefund={"USD": 1_000_000})
    fx_rate("USD", "UGX", "3700", 100, t0)
    load(t0)
    api = "/api/v1/partner"

    def quote():
        body = {
            "send_currency": "USD",
            "receive_currency": "UGX",
            "amount": 10_000,
            "amount_type": "SEND",
        }
        resp = signed(client, partner, "POST", f"{api}/quotes", body)
        assert resp.status_code == 201, resp.content
        return resp.json()["id"]

    body = remittance_body(quote(), "ACME-S1")
    body["beneficiary"]["name"] = "Abdulla Yousuf Al Qarawi"
    refused = signed(client, partner, "POST", f"{api}/remittances", body, key=new_key())
    err = error(refused, 422, "beneficiary_refused")
    assert "Qarawi" not in err["message"] and "sanction" not in err["message"]
    assert not Remittance.objects.exists()
    hit = SanctionsHit.objects.get()
    assert hit.subject_type == "beneficiary" and hit.subject_ref.endswith(":ACME-S1")
    # an unrelated beneficiary passes
    ok = signed(
        client,
        partner,
        "POST",
        f"{api}/remittances",
        remittance_body(quote(), "ACME-S2"),
        key=new_key(),
    )
    assert ok.status_code == 201, ok.content


def test_a_hits_subject_name_is_sealed_with_the_customers_key_and_erased_with_them(now):
    """Issue 14 review finding 2: the hit's subject name is sealed with the customer's own
    key (a beneficiary's under the keyring); erasing the customer shreds it, and the
    sanctions page then says "erased"."""
    from django.contrib.auth import get_user_model

    from lightway.application.retention.erasure import customer_close, person_erase
    from lightway.security.crypto import is_person_sealed, is_sealed, person_of
    from tests.conftest import VerifiedClient
    from tests.factories import staff

    user_id, _ = customer("ivan", now)
    profile_set_pii(user_id=user_id, now=now, name="Иван Петровский")
    load(now)
    assert customer_screen(user_id=user_id, now=now) == 1
    hit = SanctionsHit.objects.get()
    blob = bytes(hit.subject_name_ct)
    assert is_person_sealed(blob) and person_of(blob) == user_id
    assert b"ivan" not in blob and b"petrovsk" not in blob
    assert sanctions.hit_subject_name(hit) == "ivan petrovskiy"
    beneficiary = sanctions.beneficiary_screen(
        name="Ivan Petrovskiy", subject_ref="remittance:p:1", now=now
    )
    assert beneficiary
    other = SanctionsHit.objects.get(subject_type="beneficiary")
    assert is_sealed(bytes(other.subject_name_ct))
    assert not is_person_sealed(bytes(other.subject_name_ct))
    assert sanctions.hit_subject_name(other) == "ivan petrovskiy"

    officer = VerifiedClient()
    officer.force_login(
        get_user_model().objects.get(pk=staff("hits.viewer", ["lw_compliance"], now))
    )
    page = officer.get("/staff/compliance/sanctions/").content.decode()
    # the subject's name masked (beside the list's own normalised name, which is public)
    assert "i••• p••••••••• / ivan" in page and "ivan petrovskiy / ivan" not in page

    customer_close(user_id=user_id, actor="test", now=now)
    assert person_erase(user_id=user_id, actor="test", now=now, reason="retention elapsed")
    hit.refresh_from_db()
    assert sanctions.hit_subject_name(hit) is None
    assert sanctions.hit_subject_name(other) == "ivan petrovskiy"  # nobody's key: kept
    page = officer.get("/staff/compliance/sanctions/").content.decode()
    assert "erased" in page


def test_the_database_refuses_a_hit_with_a_clear_subject_name(now):
    from django.db import IntegrityError, transaction

    user_id, _ = customer("clear", now)
    with pytest.raises(IntegrityError, match="aml_hit_subject_sealed"), transaction.atomic():
        hit = hit_for(user_id, now)
        SanctionsHit.objects.filter(pk=hit.pk).update(subject_name_ct=b"ivan petrovskiy")


@pytest.mark.django_db(transaction=True)
def test_migration_0003_seals_the_subject_names_stored_in_clear(now, db_roles):
    """The data migration: a hit stored in clear by the old schema is sealed under the
    keyring (erasure or `lightway keys rotate` then move a customer's to their key), and
    going back unseals it. Run as the owner inside one transaction that is rolled back."""
    from django.db import connection, transaction
    from django.db.migrations.executor import MigrationExecutor

    from lightway.application.datakeys.rotation import keys_rotate
    from lightway.security.crypto import is_person_sealed, is_sealed
    from tests.conftest import _connect_default_as

    user_id, _ = customer("legacy", now)
    listed = load(now)
    entry = SanctionsEntry.objects.filter(sanctions_list=listed).first()
    _connect_default_as(db_roles.owner)

    class Rollback(Exception):
        pass

    try:
        with transaction.atomic():
            executor = MigrationExecutor(connection)
            executor.migrate([("aml", "0002_guards")])
            with connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO aml_sanctions_hit (sanctions_list_id, entry_id, subject_type,"
                    " subject_ref, user_id, subject_normalised, entry_name, entry_normalised,"
                    " name_source, scorer, score, threshold, status, created_at) VALUES"
                    " (%s, %s, 'customer', %s, %s, 'legacy person', 'x', 'x', 'primary', 's',"
                    " 90, 88, 'open', now()) RETURNING id",
                    [listed.pk, entry.pk, f"user:{user_id}", user_id],
                )
                (hit_id,) = cursor.fetchone()
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending FK checks
            executor = MigrationExecutor(connection)
            executor.loader.build_graph()
            executor.migrate([("aml", "0003_sanctions_hit_subject_sealed")])
            hit = SanctionsHit.objects.get(pk=hit_id)
            blob = bytes(hit.subject_name_ct)
            assert is_sealed(blob) and not is_person_sealed(blob) and b"legacy" not in blob
            assert sanctions.hit_subject_name(hit) == "legacy person"
            keys_rotate(now=now, person_only=True, user_id=user_id)  # what erasure does first
            hit.refresh_from_db()
            assert is_person_sealed(bytes(hit.subject_name_ct))
            assert sanctions.hit_subject_name(hit) == "legacy person"
            executor = MigrationExecutor(connection)
            executor.loader.build_graph()
            executor.migrate([("aml", "0002_guards")])
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT subject_normalised FROM aml_sanctions_hit WHERE id = %s", [hit_id]
                )
                assert cursor.fetchone() == ("legacy person",)
            raise Rollback
    except Rollback:
        pass
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM django_migrations WHERE app = 'aml' AND name LIKE '0003%%'")
        assert cursor.fetchone() is not None  # the rollback left the schema as it was
