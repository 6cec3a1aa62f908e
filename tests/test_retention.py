"""Retention (docs/retention.md): policies per class and country with effective dates,
legal holds, erasure by destroying per-person keys, re-sealing, purges."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from django.contrib.sessions.models import Session
from django.db import DatabaseError, IntegrityError, connection, transaction

from lightway.application.datakeys.rotation import keys_rotate, keys_status
from lightway.application.errors import ValidationFailed
from lightway.application.identity.profiles import (
    ERASED,
    pii_context,
    profile_find,
    profile_pii,
    profile_set_pii,
)
from lightway.application.retention.erasure import customer_close, person_erase
from lightway.application.retention.holds import hold_place, hold_release
from lightway.application.retention.jobs import retention_plan, retention_run
from lightway.application.retention.policies import (
    policies_in_force,
    policy_add,
    policy_in_force,
)
from lightway.application.transactions.transfers import TransferRequest, transfer_create
from lightway.data.audit.models import AuditRecord
from lightway.data.audit.selectors import audit_verify
from lightway.data.audit.services import AuditInputError, audit_chain_link, audit_record
from lightway.data.identity.models import PersonKey, Profile
from lightway.data.ledger.models import Account
from lightway.data.ledger.verify import ledger_verify
from lightway.data.notify.models import Delivery
from lightway.data.retention.defaults import policies_seed
from lightway.data.retention.models import RetentionPolicy
from lightway.data.wallets.models import Transfer
from lightway.security import crypto
from lightway.security.personkeys import person_key_destroy, person_key_ensure
from tests.factories import customer, funded_wallet, staff

pytestmark = pytest.mark.django_db

PHONE = "+256772000111"


def _closed(now: datetime, name: str, *, country: str = "UG", years_ago: int = 11) -> int:
    user_id, _ = customer(name, now, country=country, phone=PHONE if name == "ana" else None)
    profile_set_pii(user_id=user_id, now=now, name=f"{name.title()} Example")
    customer_close(user_id=user_id, actor="system", now=now - timedelta(days=366 * years_ago))
    return user_id


def test_policy_in_force_by_country_and_date(now):
    # Seeded: Ghana keeps AML records 5 years, Uganda 10, Zambia has none of its own.
    on = now.date()
    assert policy_in_force(data_class="aml_records", country="GH", on=on).years == 5
    assert policy_in_force(data_class="aml_records", country="UG", on=on).years == 10
    zambia = policy_in_force(data_class="aml_records", country="ZM", on=on)
    assert (zambia.country, zambia.years) == ("", 10)
    assert policy_in_force(data_class="web_sessions", country="UG", on=on).days == 30
    # A new Ghana version from a later date: the old one is in force until then.
    policy_add(
        data_class="aml_records",
        country="gh",
        years=7,
        days=0,
        effective_from=date(2027, 1, 1),
        legal_source="Ghana FIC directive (test)",
        actor="staff:1",
        now=now,
    )
    assert policy_in_force(data_class="aml_records", country="GH", on=date(2026, 12, 31)).years == 5
    assert policy_in_force(data_class="aml_records", country="GH", on=date(2027, 1, 1)).years == 7
    assert AuditRecord.objects.filter(action="retention.policy_add").count() == 1


def test_the_page_lists_the_version_in_force_of_each_class_and_country_in_two_queries(now):
    """policies_in_force (the staff retention page, `lightway retention policies`) answers
    exactly what policy_in_force answers for each class and country, in two queries however
    many countries have versions of their own (it probed each class and country: ~60
    queries, ~0.8 s a page under load)."""
    from django.db import connection as conn
    from django.test.utils import CaptureQueriesContext

    from lightway.application.retention.policies import policy_countries
    from lightway.data.retention.models import DataClass

    on = now.date()
    for country, years in (("KE", 6), ("ng", 8)):
        policy_add(
            data_class="aml_records",
            country=country,
            years=years,
            days=0,
            effective_from=on,
            legal_source="test",
            actor="staff:1",
            now=now,
        )
    policy_add(  # not in force yet: the current one is listed
        data_class="aml_records",
        country="GH",
        years=7,
        days=0,
        effective_from=on + timedelta(days=30),
        legal_source="test",
        actor="staff:1",
        now=now,
    )
    expected = []
    for country in ["", *policy_countries()]:
        for data_class in DataClass:
            row = policy_in_force(data_class=data_class.value, country=country, on=on)
            if row is not None and not (country and row.country == ""):
                expected.append((row.pk, row.country, row.data_class))
    with CaptureQueriesContext(conn) as queries:
        views = policies_in_force(on=on)
    got = [
        (
            RetentionPolicy.objects.get(
                data_class=v.data_class, country=v.country, effective_from=v.effective_from
            ).pk,
            v.country,
            v.data_class,
        )
        for v in views
    ]
    assert got == expected
    assert {("KE", "aml_records"), ("NG", "aml_records")} <= {(c, d) for _, c, d in got}
    assert len(queries) == 2, [q["sql"] for q in queries.captured_queries]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"data_class": "everything"}, "data_class"),
        ({"country": "Uganda"}, "country"),
        ({"years": 0, "days": 0}, "years"),
        ({"years": -1}, "years"),
        ({"data_class": "aml_records", "years": 3}, "years"),
        ({"legal_source": "  "}, "legal_source"),
        ({"effective_from": date(2020, 1, 1)}, "effective_from"),
        ({"effective_from": date(2020, 1, 1) + timedelta(days=0), "country": ""}, "effective_from"),
    ],
)
def test_policy_add_refuses_bad_input_clearly(now, changes, field):
    args = {
        "data_class": "kyc",
        "country": "UG",
        "years": 6,
        "days": 0,
        "effective_from": date(2027, 1, 1),
        "legal_source": "test",
        "actor": "staff:1",
        "now": now,
        **changes,
    }
    with pytest.raises(ValidationFailed) as err:
        policy_add(**args)
    assert err.value.details["field"] == field


def _owner_refused(owner_db, sql: str, params: list, match: str) -> None:
    """The owner (who may bypass grants, not triggers) is refused by the trigger."""
    with pytest.raises(psycopg.Error, match=match):
        owner_db.execute(sql, params)


def test_policy_versions_are_immutable_in_the_database(now, owner_db):
    row = RetentionPolicy.objects.get(data_class="kyc", country="GH")
    for sql in (
        "UPDATE retention_policy SET years = 1 WHERE id = %s",
        "DELETE FROM retention_policy WHERE id = %s",
    ):
        _owner_refused(owner_db, sql, [row.pk], "never changed or deleted")
    with pytest.raises(DatabaseError, match="permission denied"):  # the runtime role: no grant
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("UPDATE retention_policy SET years = 1 WHERE id = %s", [row.pk])
    # Back-dating a new version is refused too, and AML below the legal minimum.
    with pytest.raises(IntegrityError, match="cannot start before"):
        with transaction.atomic():
            RetentionPolicy.objects.create(
                data_class="kyc", country="GH", years=6, effective_from=date(2024, 1, 1),
                legal_source="x", created_at=now, created_by="staff:1",
            )  # fmt: skip
    with pytest.raises(IntegrityError, match="aml_legal_minimum"):
        with transaction.atomic():
            RetentionPolicy.objects.create(
                data_class="aml_records", country="GH", years=2, effective_from=date(2027, 1, 1),
                legal_source="x", created_at=now, created_by="staff:1",
            )  # fmt: skip


def test_personal_data_is_sealed_with_the_persons_own_key(now):
    user_id, _ = customer("ana", now, phone=PHONE)
    profile = Profile.objects.get(pk=user_id)
    assert crypto.is_person_sealed(bytes(profile.phone_ct))
    assert crypto.person_of(bytes(profile.phone_ct)) == user_id
    key = PersonKey.objects.get(pk=user_id)
    assert crypto.key_version(bytes(key.key_ct)) == crypto.keyring().current
    assert profile_pii(profile).phone == PHONE
    # Another person's context does not open it.
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt(bytes(profile.phone_ct), context=pii_context("phone", user_id + 1))


def test_erasure_destroys_the_key_and_money_and_audit_still_verify(now):
    ana = _closed(now, "ana")
    payee, _ = customer("ben", now)
    # Ana's money moved before she closed: the transfer and balances must survive erasure.
    Profile.objects.filter(pk=ana).update(closed_at=None)
    source = funded_wallet(ana, "UGX", 5_000, now)
    target = funded_wallet(payee, "UGX", 0, now)
    transfer = transfer_create(
        client_id=ana,
        idempotency_key="ret-1",
        request=TransferRequest(
            source_wallet_id=source.id, destination_wallet_id=target.id, amount=1_000,
            currency="UGX",
        ),
        now=now,
    ).transfer  # fmt: skip
    Profile.objects.filter(pk=ana).update(closed_at=now - timedelta(days=366 * 11))
    balances = dict(Account.objects.values_list("pk", "balance"))

    run = retention_run(now=now, actor="system")
    assert {"data_class": "personal_data", "country": "UG", "action": "erased", "count": 1} in (
        run.counts
    )
    pii = profile_pii(Profile.objects.get(pk=ana))
    assert pii.erased and pii.phone is None and pii.masked()["phone"] == ERASED
    assert profile_find(kind="phone", value=PHONE) is None  # blind index gone
    assert PersonKey.objects.get(pk=ana).key_ct is None
    with pytest.raises(crypto.PersonDataErased):
        crypto.decrypt(
            bytes(Profile.objects.get(pk=ana).phone_ct), context=pii_context("phone", ana)
        )
    # The other customer is untouched; money, transfer and chains are intact.
    assert profile_pii(Profile.objects.get(pk=payee)).erased is False
    assert dict(Account.objects.values_list("pk", "balance")) == balances
    assert Transfer.objects.get(pk=transfer.pk).amount == 1_000
    assert ledger_verify().ok
    audit_chain_link()
    assert audit_verify(now=now).ok
    # No audit record holds the person's personal data in clear.
    texts = [str(data) for data in AuditRecord.objects.values_list("data", flat=True)]
    assert not any(PHONE in t or "Ana Example" in t for t in texts)
    # Erasing again is a no-op; a second run finds nobody.
    assert person_erase(user_id=ana, actor="system", now=now, reason="again") is False
    assert retention_run(now=now).total == 0


def test_an_open_or_recent_customer_is_not_erased(now):
    recent = _closed(now, "cleo", years_ago=3)
    ghana = _closed(now, "dan", country="GH", years_ago=6)  # Ghana: 5 years
    open_id, _ = customer("eve", now)
    plan = {(p.data_class, p.country): p.count for p in retention_plan(now=now)}
    assert plan[("personal_data", "UG")] == 0
    assert plan[("personal_data", "GH")] == 1
    with pytest.raises(ValidationFailed, match="closed customer"):
        person_erase(user_id=open_id, actor="system", now=now, reason="x")
    retention_run(now=now)
    assert profile_pii(Profile.objects.get(pk=recent)).erased is False
    assert profile_pii(Profile.objects.get(pk=ghana)).erased is True


def test_closing_needs_empty_wallets(now):
    user_id, _ = customer("fay", now)
    funded_wallet(user_id, "UGX", 10, now)
    with pytest.raises(ValidationFailed, match="pay out"):
        customer_close(user_id=user_id, actor="system", now=now)


def test_a_legal_hold_prevents_erasure_until_another_officer_releases_it(now, owner_db):
    ana = _closed(now, "ana")
    officer = staff("comp1", ["lw_compliance"], now)
    other = staff("comp2", ["lw_compliance"], now)
    subject = Profile.objects.get(pk=ana).subject
    hold = hold_place(
        subject=subject, case_ref="AML-7", reason="FIU request", placed_by=officer, now=now
    )
    assert retention_run(now=now).total == 0
    with pytest.raises(ValidationFailed, match="legal hold"):
        person_erase(user_id=ana, actor="system", now=now, reason="x")
    with pytest.raises(DatabaseError, match="under legal hold"):  # the database refuses too
        with transaction.atomic():
            person_key_destroy(user_id=ana, now=now, reason="forced")
    person_key_ensure(user_id=ana, now=now)
    with pytest.raises(ValidationFailed, match="another compliance officer"):
        hold_release(hold_id=hold.pk, released_by=officer, reason="done here", now=now)
    with pytest.raises(DatabaseError, match="another person must release"):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                "UPDATE retention_legal_hold SET released_at = now(), released_by_id = %s,"
                " release_reason = 'x' WHERE id = %s",
                [officer, hold.pk],
            )
    _owner_refused(
        owner_db, "DELETE FROM retention_legal_hold WHERE id = %s", [hold.pk], "never deleted"
    )
    _owner_refused(
        owner_db,
        "UPDATE identity_person_key SET key_ct = NULL, destroyed_at = now(),"
        " destroyed_reason = 'x' WHERE user_id = %s",
        [ana],
        "under legal hold",
    )
    hold_release(hold_id=hold.pk, released_by=other, reason="case closed by FIU", now=now)
    assert retention_run(now=now).counts[0]["count"] == 1
    assert profile_pii(Profile.objects.get(pk=ana)).erased
    actions = set(AuditRecord.objects.values_list("action", flat=True))
    assert {"retention.hold_place", "retention.hold_release", "retention.erase"} <= actions


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"subject": "", "case_ref": ""}, "subject"),
        ({"subject": "sub_nobody"}, "subject"),
        ({"reason": "x"}, "reason"),
        ({"case_ref": "A" * 65}, "case_ref"),
    ],
)
def test_hold_place_refuses_bad_input(now, kwargs, field):
    officer = staff("comp1", ["lw_compliance"], now)
    args = {"subject": "", "case_ref": "AML-1", "reason": "a good reason", **kwargs}
    with pytest.raises(ValidationFailed) as err:
        hold_place(placed_by=officer, now=now, **args)
    assert err.value.details["field"] == field


def test_destroyed_keys_are_final(now, owner_db):
    ana = _closed(now, "ana")
    assert person_erase(user_id=ana, actor="system", now=now, reason="test")
    _owner_refused(
        owner_db,
        "UPDATE identity_person_key SET destroyed_reason = 'undo' WHERE user_id = %s",
        [ana],
        "never changes again",
    )
    _owner_refused(
        owner_db, "DELETE FROM identity_person_key WHERE user_id = %s", [ana], "never deleted"
    )
    with pytest.raises(ValueError, match="erased"):
        profile_set_pii(user_id=ana, now=now, name="Back Again")


def test_reseal_moves_data_sealed_before_person_keys(now):
    ids = []
    for name in ("gus", "hal", "ivy"):
        user_id, _ = customer(name, now)
        # Written the old way: under the keyring, no person key.
        Profile.objects.filter(pk=user_id).update(
            name_ct=crypto.encrypt(f"{name} old", context=pii_context("name", user_id))
        )
        ids.append(user_id)
    PersonKey.objects.filter(pk__in=ids).count()
    assert keys_status()["identity.Profile.name_ct"][crypto.keyring().current] == 3
    seen = []
    result = keys_rotate(now=now, batch=2, person_only=True, progress=lambda *a: seen.append(a))
    assert result.resealed == 3 and (2, 3, "identity.Profile.name_ct") in seen
    assert keys_status()["identity.Profile.name_ct"] == {"person": 3}
    assert keys_rotate(now=now, person_only=True).resealed == 0  # resumable: nothing left
    for user_id, name in zip(ids, ("gus", "hal", "ivy"), strict=True):
        assert profile_pii(Profile.objects.get(pk=user_id)).name == f"{name} old"


def test_erasure_of_data_sealed_the_old_way_still_erases_it(now):
    ana = _closed(now, "ana")
    Profile.objects.filter(pk=ana).update(
        name_ct=crypto.encrypt("Old Name", context=pii_context("name", ana))
    )
    assert person_erase(user_id=ana, actor="system", now=now, reason="test")
    blob = bytes(Profile.objects.get(pk=ana).name_ct)
    assert crypto.is_person_sealed(blob)
    assert profile_pii(Profile.objects.get(pk=ana)).erased


def _delivery(now: datetime, created: datetime, user_id: int | None, status: str) -> Delivery:
    return Delivery.objects.create(
        channel="sms", template="t", category="security", language="en", user_id=user_id,
        recipient_ct=b"x", recipient_bidx="b", recipient_masked="m", status=status,
        created_at=created, attempts=0 if status == "queued" else 1,
        last_attempt_at=None if status == "queued" else created,
        sent_at=created if status == "sent" else None,
        next_attempt_at=created if status == "queued" else None,
    )  # fmt: skip


def test_purges_run_in_bounded_batches_and_keep_held_people(now):
    old = now - timedelta(days=40)
    for i in range(5):
        Session.objects.create(session_key=f"old{i}", session_data="x", expire_date=old)
    Session.objects.create(session_key="fresh", session_data="x", expire_date=now)
    held = _closed(now, "ana", years_ago=1)
    hold_place(
        subject=Profile.objects.get(pk=held).subject, case_ref="", reason="investigation",
        placed_by=staff("comp1", ["lw_compliance"], now), now=now,
    )  # fmt: skip
    three_years = now - timedelta(days=3 * 366)
    purged = [_delivery(now, three_years, None, "sent") for _ in range(3)]
    kept = [
        _delivery(now, three_years, held, "sent"),
        _delivery(now, three_years, None, "queued"),
        _delivery(now, now - timedelta(days=10), None, "sent"),
    ]
    plan = {(p.data_class, p.country): p.count for p in retention_plan(now=now)}
    assert plan[("web_sessions", "*")] == 5 and plan[("notification_log", "*")] == 3
    steps = []
    run = retention_run(now=now, batch=2, progress=lambda d, t, c: steps.append((d, c)))
    assert (2, "web_sessions") in steps and (4, "web_sessions") in steps  # batches of 2
    counts = {(c["data_class"], c["action"]): c["count"] for c in run.counts}
    assert counts[("web_sessions", "deleted")] == 5
    assert counts[("notification_log", "deleted")] == 3
    assert list(Session.objects.values_list("session_key", flat=True)) == ["fresh"]
    assert not Delivery.objects.filter(pk__in=[d.pk for d in purged]).exists()
    assert Delivery.objects.filter(pk__in=[d.pk for d in kept]).count() == 3


def test_wrapping_key_rotation_keeps_person_data_readable(settings, now):
    import base64
    import os

    k1, k2 = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    settings.LIGHTWAY_DATA_KEYS = f"v1:{k1}"
    crypto.keyring_cache_clear()
    try:
        user_id, _ = customer("ana", now, phone=PHONE)
        settings.LIGHTWAY_DATA_KEYS = f"v2:{k2},v1:{k1}"
        crypto.keyring_cache_clear()
        keys_rotate(now=now)
        settings.LIGHTWAY_DATA_KEYS = f"v2:{k2}"
        crypto.keyring_cache_clear()
        assert profile_pii(Profile.objects.get(pk=user_id)).phone == PHONE
    finally:
        crypto.keyring_cache_clear()


def test_run_records_and_audits(now):
    run = retention_run(now=now, mode="plan")
    assert run.finished_at == now and run.mode == "plan"
    assert AuditRecord.objects.filter(action="retention.plan", object_id=str(run.pk)).exists()
    assert datetime(2020, 1, 1, tzinfo=UTC) <= now


@pytest.fixture(autouse=True)
def _default_policies(db):
    """A transactional test's flush empties the seeded policies: put them back."""
    policies_seed(RetentionPolicy)


@pytest.mark.parametrize(
    ("data", "object_id"),
    [
        ({"to": "+256772000111"}, "1"),
        ({"nested": {"contacts": ["ana@example.com"]}}, "1"),
        ({}, "+256772000111"),
    ],
)
def test_the_audit_chain_refuses_personal_data_in_clear(now, data, object_id):
    """compliance.md §5.3: a hashed record cannot be erased, so it never holds PII."""
    with pytest.raises(AuditInputError, match="no personal data in clear"):
        with transaction.atomic():
            audit_record(
                actor="system", action="t.x", object_type="t", object_id=object_id,
                data=data, now=now,
            )  # fmt: skip


def test_the_staff_page_places_and_releases_holds(client, now):
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    ana = _closed(now, "ana")
    subject = Profile.objects.get(pk=ana).subject
    ops = staff("ops1", ["lw_operations"], now)
    first = staff("comp1", ["lw_compliance"], now)
    second = staff("comp2", ["lw_compliance"], now)
    page_url = "/staff/compliance/retention/"
    client.force_login(users.get(pk=ops))
    assert client.get(page_url).status_code == 403
    assert client.post(page_url + "holds/", {"reason": "x"}).status_code == 403
    client.force_login(users.get(pk=first))
    page = client.get(page_url)
    html = page.content.decode()
    assert page.status_code == 200 and 'data-testid="retention-policies"' in html
    assert "Ghana AML Act 2020" in html
    # Bad input: 400, the message beside its field, the input kept.
    bad = client.post(page_url + "holds/", {"subject": "sub_nobody", "reason": "FIU letter"})
    html = bad.content.decode()
    assert bad.status_code == 400 and "no customer has this subject reference" in html
    assert 'value="sub_nobody"' in html and "FIU letter" in html
    assert client.post(page_url + "holds/", {"subject": "", "reason": ""}).status_code == 400
    ok = client.post(page_url + "holds/", {"subject": subject, "reason": "FIU letter 12"})
    assert ok.status_code == 302
    hold = ana_hold = Profile.objects.get(pk=ana).user.legal_holds.get()
    # The one who placed it cannot release it; another officer can.
    mine = client.post(
        page_url + "holds/release/", {"hold": hold.pk, "release_reason": "no longer needed"}
    )
    assert mine.status_code == 400 and "another compliance officer" in mine.content.decode()
    junk = client.post(page_url + "holds/release/", {"hold": "abc", "release_reason": ""})
    assert junk.status_code == 400
    client.force_login(users.get(pk=second))
    done = client.post(
        page_url + "holds/release/", {"hold": ana_hold.pk, "release_reason": "no longer needed"}
    )
    assert done.status_code == 302
    ana_hold.refresh_from_db()
    assert ana_hold.released_by_id == second
