"""Partner onboarding by staff (application/partners/onboarding.py): every field checked,
contacts sealed and masked, a prefund account per currency, the first webhook secret shown
once; the status the API enforces at once; closed is final (service and database)."""

from __future__ import annotations

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction

from lightway.application.errors import Conflict, ValidationFailed
from lightway.application.partners.keys import partner_key_create
from lightway.application.partners.onboarding import (
    ContactIn,
    partner_contact_add,
    partner_contact_remove,
    partner_get,
    partner_onboard,
    partner_status_set,
    partner_update,
)
from lightway.data.audit.models import AuditRecord
from lightway.data.identity.models import Partner, PartnerContact
from lightway.data.ledger.kinds import OPENING_BALANCE
from lightway.data.ledger.models import Account, AccountKind
from lightway.data.ledger.services import Leg, entry_post, house_account
from lightway.data.partners.models import WebhookCursor, WebhookKey
from tests.partner_support import CONTACT, details, signed_get

pytestmark = pytest.mark.django_db

HOOK = "http://127.0.0.1:9/hooks/acme-remit"
REASON = "TICKET-42 compliance review of the partner"


def test_onboarding_makes_the_partner_its_prefunds_and_its_first_webhook_secret(now):
    result = partner_onboard(details=details(webhook_url=HOOK), actor="staff:1", now=now)
    partner = Partner.objects.get(pk=result.partner_id)
    assert (partner.status, partner.markets, partner.currencies) == (
        "active",
        ["GH", "UG"],
        ["GHS", "UGX"],
    )
    prefunds = Account.objects.filter(kind=AccountKind.IMTO_PREFUND, owner_ref="acme-remit")
    assert sorted(prefunds.values_list("currency", flat=True)) == ["GHS", "UGX"]
    assert result.webhook_secret and result.webhook_secret.startswith("whsec_")
    key = WebhookKey.objects.get(partner=partner)
    assert key.key_id == result.webhook_key_id and key.expires_at is None
    assert result.webhook_secret.encode() not in bytes(key.secret_ct)  # sealed
    assert WebhookCursor.objects.filter(partner=partner).exists()
    record = AuditRecord.objects.get(action="partner.onboard")
    assert record.actor == "staff:1" and record.data["currencies"] == ["GHS", "UGX"]


def test_contacts_are_sealed_at_rest_and_masked_on_screen(now):
    result = partner_onboard(details=details(), actor="staff:1", now=now)
    contact = PartnerContact.objects.get(partner_id=result.partner_id)
    for clear in (b"Nia Okafor", b"nia.okafor@acme.example", b"+447911123456"):
        for column in (contact.name_ct, contact.email_ct, contact.phone_ct):
            assert clear not in bytes(column)
    with connection.cursor() as cur:
        cur.execute("SELECT row_to_json(c)::text FROM identity_partner_contact c")
        dump = cur.fetchone()[0]
    assert "Okafor" not in dump and "acme.example" not in dump
    (view,) = partner_get(code="acme-remit").contacts
    assert view.name == "N•• O•••••"
    assert view.email.startswith("n") and "acme" not in view.email
    assert view.phone.endswith("56") and "1234" not in view.phone


def test_every_bad_field_is_named_at_once(now):
    bad = details(
        code="Acme Remit!",
        name="",
        legal_name="A",
        registration_number="",
        country="XX",
        address="x",
        markets=("UG", "FR"),
        currencies=("UGX", "BTC"),
        webhook_url="http://partner.example/hooks",
        contacts=(ContactIn(role="boss", name="N", email="not-an-email", phone="12"),),
    )
    with pytest.raises(ValidationFailed) as refused:
        partner_onboard(details=bad, actor="staff:1", now=now)
    errors = refused.value.details["errors"]
    assert set(errors) == {
        "code",
        "name",
        "legal_name",
        "registration_number",
        "country",
        "address",
        "markets",
        "currencies",
        "webhook_url",
        "contacts.0.role",
        "contacts.0.name",
        "contacts.0.email",
        "contacts.0.phone",
    }
    assert "https" in errors["webhook_url"]
    assert not Partner.objects.exists()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://partner.example/hooks", "https"),
        ("file:///etc/passwd", "https"),
        ("https://user:pw@partner.example/hooks", "user name"),
        ("https://partner.example/hooks#x", "fragment"),
        ("https://partner.example:99999/hooks", "not a valid URL"),
        ("http://10.0.0.5/hooks", "https"),
    ],
)
def test_webhook_urls_are_https_or_local_http_in_development(now, url, problem):
    with pytest.raises(ValidationFailed) as refused:
        partner_onboard(details=details(webhook_url=url), actor="staff:1", now=now)
    assert problem in refused.value.details["errors"]["webhook_url"]
    for n, fine in enumerate(("https://partner.example/hooks", "http://localhost:8105/hooks/a")):
        assert partner_onboard(
            details=details(code=f"ok-{n}", webhook_url=fine), actor="staff:1", now=now
        )


def test_no_contact_and_a_taken_code_are_refused(now):
    with pytest.raises(ValidationFailed) as refused:
        partner_onboard(details=details(contacts=()), actor="staff:1", now=now)
    assert "contacts" in refused.value.details["errors"]
    partner_onboard(details=details(), actor="staff:1", now=now)
    with pytest.raises(Conflict) as taken:
        partner_onboard(details=details(), actor="staff:1", now=now)
    assert taken.value.details["field"] == "code"


def test_update_adds_a_currency_with_its_prefund_and_a_first_url_makes_a_key(now):
    result = partner_onboard(details=details(), actor="staff:1", now=now)
    assert not WebhookKey.objects.exists()
    updated = partner_update(
        partner_id=result.partner_id,
        details=details(code="ignored", currencies=("UGX", "GHS", "XAF"), webhook_url=HOOK),
        actor="staff:2",
        now=now,
    )
    assert updated.webhook_secret and updated.code == "acme-remit"
    assert Account.objects.filter(owner_ref="acme-remit", currency="XAF").exists()
    record = AuditRecord.objects.get(action="partner.update")
    assert set(record.data["fields"]) == {"currencies", "webhook_url"}
    again = partner_update(
        partner_id=result.partner_id, details=details(webhook_url=HOOK), actor="staff:2", now=now
    )
    assert again.webhook_secret is None  # a live key exists: rotate to get a new one


def test_contacts_are_added_and_removed_one_by_one_and_one_always_stays(now):
    result = partner_onboard(details=details(), actor="staff:1", now=now)
    (first,) = partner_get(code="acme-remit").contacts
    with pytest.raises(Conflict):
        partner_contact_remove(partner_id=result.partner_id, ref=first.ref, actor="s", now=now)
    with pytest.raises(ValidationFailed) as bad:
        partner_contact_add(
            partner_id=result.partner_id,
            contact=ContactIn(role="finance", name="Bo", email="bo@", phone=""),
            actor="s",
            now=now,
        )
    assert set(bad.value.details["errors"]) == {"email"}
    ref = partner_contact_add(
        partner_id=result.partner_id,
        contact=ContactIn(role="finance", name="Bo Lee", email="bo@acme.example"),
        actor="s",
        now=now,
    )
    partner_contact_remove(partner_id=result.partner_id, ref=first.ref, actor="s", now=now)
    assert [c.ref for c in partner_get(code="acme-remit").contacts] == [ref]


def test_suspension_refuses_the_very_next_signed_request_and_reactivation_restores(client, now):
    result = partner_onboard(details=details(), actor="staff:1", now=now)
    key_id, secret = partner_key_create(partner_id=result.partner_id, actor="s", now=now)
    assert signed_get(client, key_id, secret, "/api/v1/partner/whoami").status_code == 200
    partner_status_set(
        partner_id=result.partner_id, status="suspended", reason=REASON, actor="staff:1", now=now
    )
    refused = signed_get(client, key_id, secret, "/api/v1/partner/balances")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "partner_suspended"
    assert "WWW-Authenticate" not in refused
    with pytest.raises(Conflict):
        partner_key_create(partner_id=result.partner_id, actor="s", now=now)
    partner_status_set(
        partner_id=result.partner_id, status="active", reason=REASON, actor="staff:1", now=now
    )
    assert signed_get(client, key_id, secret, "/api/v1/partner/whoami").status_code == 200
    statuses = [r.data["status"] for r in AuditRecord.objects.filter(action="partner.status_set")]
    assert statuses == ["suspended", "active"]


def test_a_status_change_needs_a_reason(now):
    result = partner_onboard(details=details(), actor="staff:1", now=now)
    with pytest.raises(ValidationFailed) as refused:
        partner_status_set(
            partner_id=result.partner_id, status="suspended", reason="bad", actor="s", now=now
        )
    assert refused.value.details["field"] == "reason"
    with pytest.raises(DatabaseError), transaction.atomic():
        Partner.objects.filter(pk=result.partner_id).update(status="suspended")  # no reason


def test_closed_is_final_in_the_service_and_in_the_database(client, now):
    result = partner_onboard(details=details(), actor="staff:1", now=now)
    key_id, secret = partner_key_create(partner_id=result.partner_id, actor="s", now=now)
    partner_status_set(
        partner_id=result.partner_id, status="closed", reason=REASON, actor="staff:1", now=now
    )
    refused = signed_get(client, key_id, secret, "/api/v1/partner/whoami")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "partner_closed")
    for status in ("active", "suspended"):
        with pytest.raises(Conflict, match="final"):
            partner_status_set(
                partner_id=result.partner_id, status=status, reason=REASON, actor="s", now=now
            )
    with pytest.raises(Conflict):
        partner_update(partner_id=result.partner_id, details=details(), actor="s", now=now)
    # The database refuses it whoever asks: the runtime role ...
    with pytest.raises(DatabaseError, match="closed"), transaction.atomic():
        Partner.objects.filter(pk=result.partner_id).update(status="active", status_reason="")
    with pytest.raises(DatabaseError), transaction.atomic():
        Partner.objects.filter(pk=result.partner_id).delete()


def test_the_owner_cannot_reopen_or_delete_a_closed_partner_either(owner_db, now):
    result = partner_onboard(details=details(), actor="staff:1", now=now)
    partner_status_set(
        partner_id=result.partner_id, status="closed", reason=REASON, actor="staff:1", now=now
    )
    with pytest.raises(psycopg.errors.RestrictViolation, match="closed"):
        owner_db.execute(
            "UPDATE identity_partner SET status = 'active', status_reason = '' WHERE id = %s",
            [result.partner_id],
        )
    with pytest.raises(psycopg.errors.RestrictViolation, match="never deleted"):
        owner_db.execute("DELETE FROM identity_partner WHERE id = %s", [result.partner_id])
    other = partner_onboard(details=details(code="other-remit"), actor="staff:1", now=now)
    with pytest.raises(psycopg.errors.RestrictViolation, match="never changes"):
        owner_db.execute(
            "UPDATE identity_partner SET code = 'renamed' WHERE id = %s", [other.partner_id]
        )


def test_closing_needs_an_empty_prefund(now):
    result = partner_onboard(details=details(), actor="staff:1", now=now)
    prefund = Account.objects.get(owner_ref="acme-remit", currency="UGX")
    equity = house_account(kind=AccountKind.EQUITY, currency="UGX", now=now)
    with transaction.atomic():
        entry_post(
            kind=OPENING_BALANCE,
            currency="UGX",
            legs=[Leg(equity.pk, -5000), Leg(prefund.pk, 5000)],
            now=now,
        )
    with pytest.raises(Conflict, match="UGX"):
        partner_status_set(
            partner_id=result.partner_id, status="closed", reason=REASON, actor="s", now=now
        )
    assert Partner.objects.get(pk=result.partner_id).status == "active"
    assert CONTACT.name not in str(AuditRecord.objects.values_list("data", flat=True))


def test_key_rotation_reseals_contacts_and_webhook_secrets(now, settings):
    import base64
    import os

    from lightway.application.datakeys.rotation import keys_rotate, keys_status
    from lightway.application.partners.webhooks import partner_webhook_signing_secrets
    from lightway.security import crypto

    k1, k2 = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    settings.LIGHTWAY_DATA_KEYS = f"v1:{k1}"
    crypto.keyring_cache_clear()
    try:
        result = partner_onboard(details=details(webhook_url=HOOK), actor="staff:1", now=now)
        settings.LIGHTWAY_DATA_KEYS = f"v2:{k2},v1:{k1}"
        crypto.keyring_cache_clear()
        keys_rotate(now=now)
        status = keys_status()
        for column in ("name_ct", "email_ct", "phone_ct"):
            assert status[f"identity.PartnerContact.{column}"] == {"v2": 1}
        assert status["partners.WebhookKey.secret_ct"] == {"v2": 1}
        settings.LIGHTWAY_DATA_KEYS = f"v2:{k2}"
        crypto.keyring_cache_clear()
        assert partner_get(code="acme-remit").contacts[0].name == "N•• O•••••"
        assert partner_webhook_signing_secrets(partner_code="acme-remit", now=now) == [
            (result.webhook_key_id, result.webhook_secret)
        ]
    finally:
        crypto.keyring_cache_clear()
