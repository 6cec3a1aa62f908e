"""The partner pages of the staff panel (/staff/partners/): who may open and use them,
onboarding with field errors beside their fields, the secret shown once, contacts masked,
status changes and redelivery audited."""

from __future__ import annotations

from itertools import count

import pytest
from django.contrib.auth import get_user_model

from lightway.application.partners.onboarding import partner_onboard
from lightway.application.partners.webhooks import partner_events_pump
from lightway.data.audit.models import AuditRecord
from lightway.data.identity.models import Partner
from lightway.data.partners.models import WebhookDelivery
from lightway.data.partners.services import partner_event_record
from lightway.security.policy import Role
from tests.conftest import VerifiedClient
from tests.factories import staff
from tests.partner_support import details

pytestmark = pytest.mark.django_db

REASON = "TICKET-11 fraud review of the partner"
FORM = {
    "code": "zeta-pay",
    "name": "Zeta Pay",
    "legal_name": "Zeta Payments Limited",
    "registration_number": "GB-99887766",
    "country": "GB",
    "address": "2 Market Street, Leeds",
    "markets": ["UG"],
    "currencies": ["UGX"],
    "webhook_url": "https://hooks.zeta.example/lightway",
    "contact_role": "technical",
    "contact_name": "Ada Mensah",
    "contact_email": "ada.mensah@zeta.example",
    "contact_phone": "+447911123456",
}


_n = count(1)


def _as(role: str, now) -> VerifiedClient:
    client = VerifiedClient()
    user_id = staff(f"user{next(_n)}.{role}", [role], now)
    client.force_login(get_user_model().objects.get(pk=user_id))
    return client


def test_who_may_open_what(now):
    partner_onboard(details=details(), actor="s", now=now)
    for role, view, manage, redeliver in (
        (Role.LW_ADMIN, 200, 200, True),
        (Role.LW_OPERATIONS, 200, 403, True),
        (Role.LW_FINANCE, 200, 403, False),
        (Role.LW_COMPLIANCE, 200, 403, False),
        (Role.LW_SUPPORT, 403, 403, False),
        (Role.MTN_ADMIN, 403, 403, False),
    ):
        client = _as(role, now)
        assert client.get("/staff/partners/").status_code == view, role
        assert client.get("/staff/partners/acme-remit/").status_code == view, role
        assert client.get("/staff/partners/new/").status_code == manage, role
        answer = client.post("/staff/partners/acme-remit/redeliver-dead/", {"reason": REASON})
        assert (answer.status_code != 403) == redeliver, role
    assert _as(Role.LW_ADMIN, now).get("/staff/partners/nobody/").status_code == 404


def test_onboarding_shows_the_secret_once_and_the_errors_beside_their_fields(now):
    admin = _as(Role.LW_ADMIN, now)
    page = admin.get("/staff/partners/new/")
    assert page.status_code == 200 and b'name="contact_email"' in page.content
    bad = admin.post(
        "/staff/partners/new/",
        {**FORM, "webhook_url": "http://hooks.zeta.example/", "contact_email": "nope"},
    )
    assert bad.status_code == 422
    html = bad.content.decode()
    assert "must use https://" in html and "not a valid email address" in html
    assert not Partner.objects.filter(code="zeta-pay").exists()

    done = admin.post("/staff/partners/new/", FORM)
    assert done.status_code == 200 and done["Cache-Control"] == "no-store"
    html = done.content.decode()
    assert 'data-testid="new-webhook-secret"' in html and "whsec_" in html
    # Contacts are masked; the clear values appear nowhere on the page.
    assert "ada.mensah@zeta.example" not in html and "Ada Mensah" not in html
    assert "A•• M•••••" in html
    again = admin.get("/staff/partners/zeta-pay/").content.decode()
    assert "whsec_" not in again  # shown once
    record = AuditRecord.objects.get(action="partner.onboard")
    assert record.actor.startswith("staff:")


def test_suspending_from_the_page_needs_a_reason_and_is_audited(now):
    partner_onboard(details=details(), actor="s", now=now)
    admin = _as(Role.LW_ADMIN, now)
    refused = admin.post(
        "/staff/partners/acme-remit/status/", {"status": "suspended", "reason": ""}
    )
    assert refused.status_code == 422
    done = admin.post(
        "/staff/partners/acme-remit/status/", {"status": "suspended", "reason": REASON}
    )
    assert done.status_code == 302
    assert Partner.objects.get(code="acme-remit").status == "suspended"
    page = admin.get("/staff/partners/acme-remit/").content.decode()
    assert REASON in page
    assert AuditRecord.objects.get(action="partner.status_set").data["reason"] == REASON


def test_the_delivery_log_and_redelivery_from_the_page(now):
    result = partner_onboard(
        details=details(webhook_url="http://127.0.0.1:9/hooks/acme-remit"), actor="s", now=now
    )
    event = partner_event_record(
        partner_id=result.partner_id,
        type="remittance.status_changed",
        object_type="remittance",
        object_id="rem_1",
        data={"version": 1},
        now=now,
    )
    partner_events_pump(now=now)
    ops = _as(Role.LW_OPERATIONS, now)
    page = ops.get("/staff/partners/acme-remit/").content.decode()
    assert str(event.event_id) in page and 'data-testid="delivery-log"' in page
    busy = ops.post(
        "/staff/partners/acme-remit/redeliver/", {"event_id": str(event.event_id), "reason": REASON}
    )
    assert busy.status_code == 422  # the first delivery is still open
    WebhookDelivery.objects.update(status="dead", next_attempt_at=None)
    done = ops.post(
        "/staff/partners/acme-remit/redeliver/", {"event_id": str(event.event_id), "reason": REASON}
    )
    assert done.status_code == 302
    assert WebhookDelivery.objects.filter(trigger="redelivery").count() == 1
    assert AuditRecord.objects.filter(action="partner_webhook.redeliver").count() == 1


def test_api_keys_and_webhook_secret_rotation_from_the_page(now):
    partner_onboard(details=details(webhook_url="https://hooks.acme.example/x"), actor="s", now=now)
    admin = _as(Role.LW_ADMIN, now)
    made = admin.post("/staff/partners/acme-remit/api-keys/")
    assert made.status_code == 200 and "sk_live_" in made.content.decode()
    rotated = admin.post("/staff/partners/acme-remit/webhook-secret/", {"overlap_hours": "24"})
    assert rotated.status_code == 200 and "whsec_" in rotated.content.decode()
    too_long = admin.post("/staff/partners/acme-remit/webhook-secret/", {"overlap_hours": "9999"})
    assert too_long.status_code == 422
    assert AuditRecord.objects.filter(action="partner_key.create").count() == 1
