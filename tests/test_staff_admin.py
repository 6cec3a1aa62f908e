"""Staff administration (roles granted and revoked, audited), customers masked by default and
revealed only with pii.reveal and a reason (audited), and the identity admin pages."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model

from lightway.application.errors import Conflict, NotFound, ValidationFailed
from lightway.application.identity.profiles import profile_set_pii
from lightway.application.staff.accounts import (
    role_grant,
    role_revoke,
    staff_create,
    staff_deactivate,
    staff_list,
)
from lightway.data.audit.models import AuditRecord
from lightway.data.identity.models import KycTierLimit, Partner, Profile
from lightway.security.models import RoleAssignment
from lightway.security.policy import Role, user_roles
from tests.factories import customer, staff

pytestmark = pytest.mark.django_db

User = get_user_model()
PHONE = "+256700123401"
EMAIL = "amara.nakato@example.com"
NAME = "Amara Nakato"


def _records(action):
    return list(AuditRecord.objects.filter(action=action).order_by("id"))


def _everything_audited() -> str:
    return json.dumps([[r.actor, r.object_id, r.data] for r in AuditRecord.objects.all()])


# --- services -----------------------------------------------------------------------------


def test_staff_create_keeps_personal_data_out_of_auth_user_and_is_audited(now):
    uid = staff_create(
        username="grace.ops",
        realm="lightway",
        roles=[Role.LW_OPERATIONS, Role.LW_SUPPORT],
        actor="staff:1",
        now=now,
        email="grace@example.com",
        name="Grace Achieng",
    )
    user = User.objects.get(pk=uid)
    assert user.is_staff and not user.is_superuser and not user.has_usable_password()
    assert (user.email, user.first_name, user.last_name) == ("", "", "")
    profile = Profile.objects.get(user_id=uid)
    assert profile.realm == "lightway"
    assert b"grace@example.com" not in bytes(profile.email_ct)
    assert user_roles(user) == {Role.LW_OPERATIONS, Role.LW_SUPPORT}
    (created,) = _records("auth.staff.create")
    assert created.actor == "staff:1" and created.data == {
        "realm": "lightway",
        "roles": ["lw_operations", "lw_support"],
    }
    assert [r.data["role"] for r in _records("auth.role.grant")] == [
        "lw_operations",
        "lw_support",
    ]
    assert "grace" not in _everything_audited().replace("grace.ops", "")
    mtn = staff_create(
        username="kofi.mtn", realm="mtn", roles=[Role.MTN_MONITORING], actor="staff:1", now=now
    )
    assert not User.objects.get(pk=mtn).is_staff  # Django's admin flag: LightWay staff only
    (view,) = [v for v in staff_list() if v.user_id == uid]
    assert view.masked == {"email": "g••••@e••••••.com", "name": "G•••• A••••••"}
    with pytest.raises(Conflict, match="username"):
        staff_create(username="grace.ops", realm="lightway", roles=[], actor="staff:1", now=now)
    with pytest.raises(ValidationFailed, match="belongs to the mtn realm"):
        staff_create(
            username="bad.mix", realm="lightway", roles=[Role.MTN_ADMIN], actor="s", now=now
        )
    with pytest.raises(ValidationFailed, match="realm"):
        staff_create(username="cust.x", realm="customer", roles=[], actor="s", now=now)


def test_grant_and_revoke_are_audited_and_respect_realms(now):
    uid = staff("kwame", [Role.LW_SUPPORT], now)
    assert role_grant(user_id=uid, role=Role.LW_FINANCE, actor="staff:9", now=now)
    assert not role_grant(user_id=uid, role=Role.LW_FINANCE, actor="staff:9", now=now)
    grants = [r for r in _records("auth.role.grant") if r.actor == "staff:9"]
    assert len(grants) == 1 and grants[0].object_id == str(uid)
    assert grants[0].data == {"role": "lw_finance"}

    assert role_revoke(user_id=uid, role=Role.LW_SUPPORT, actor="staff:9", now=now)
    assert not role_revoke(user_id=uid, role=Role.LW_SUPPORT, actor="staff:9", now=now)
    (revoked,) = _records("auth.role.revoke")
    assert (revoked.actor, revoked.data) == ("staff:9", {"role": "lw_support"})
    assert set(RoleAssignment.objects.filter(user_id=uid).values_list("role", flat=True)) == {
        "lw_finance"
    }

    with pytest.raises(ValidationFailed, match="belongs to the mtn realm"):
        role_grant(user_id=uid, role=Role.MTN_FINANCE, actor="staff:9", now=now)
    with pytest.raises(ValidationFailed, match="unknown role"):
        role_grant(user_id=uid, role="root", actor="staff:9", now=now)
    cust_id, _ = customer("cust", now)
    with pytest.raises(NotFound):  # customers are not staff: no roles to grant
        role_grant(user_id=cust_id, role=Role.LW_ADMIN, actor="staff:9", now=now)
    mtn = staff("mtn.one", [Role.MTN_ADMIN], now)
    with pytest.raises(ValidationFailed, match="belongs to the lightway realm"):
        role_grant(user_id=mtn, role=Role.LW_ADMIN, actor="staff:9", now=now)


def test_the_last_administrator_is_protected(now):
    first = staff("admin.one", [Role.LW_ADMIN], now)
    with pytest.raises(Conflict, match="last active LightWay administrator"):
        role_revoke(user_id=first, role=Role.LW_ADMIN, actor="staff:1", now=now)
    with pytest.raises(Conflict, match="last active LightWay administrator"):
        staff_deactivate(user_id=first, actor="staff:1", now=now)
    second = staff("admin.two", [Role.LW_ADMIN], now)
    assert staff_deactivate(user_id=second, actor="staff:1", now=now)
    assert not User.objects.get(pk=second).is_active
    (deactivated,) = _records("auth.staff.deactivate")
    assert deactivated.object_id == str(second)
    # The inactive one does not count: the first is still the last active administrator.
    with pytest.raises(Conflict):
        role_revoke(user_id=first, role=Role.LW_ADMIN, actor="staff:1", now=now)
    third = staff("admin.three", [Role.LW_ADMIN], now)
    assert role_revoke(user_id=first, role=Role.LW_ADMIN, actor=f"staff:{third}", now=now)
    assert not staff_deactivate(user_id=second, actor="staff:1", now=now)  # already


# --- the staff pages ----------------------------------------------------------------------


@pytest.fixture
def admin_staff(now):
    return User.objects.get(pk=staff("root.admin", [Role.LW_ADMIN], now))


def test_roles_page_lists_staff_masked_and_changes_roles(client, admin_staff, now):
    grace = staff_create(
        username="grace.ops",
        realm="lightway",
        roles=[Role.LW_SUPPORT],
        actor="staff:1",
        now=now,
        email="grace@example.com",
        name="Grace Achieng",
    )
    assert client.get("/staff/roles/").status_code == 302  # anonymous: to the login page
    client.force_login(admin_staff)
    page = client.get("/staff/roles/")
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    text = page.content.decode()
    assert "grace.ops" in text and "g••••@e••••••.com" in text and "G•••• A••••••" in text
    assert "grace@example.com" not in text and "Achieng" not in text

    response = client.post("/staff/roles/grant/", {"user_id": grace, "role": "lw_compliance"})
    assert response.status_code == 302
    assert user_roles(User.objects.get(pk=grace)) == {Role.LW_SUPPORT, Role.LW_COMPLIANCE}
    grant = _records("auth.role.grant")[-1]
    assert grant.actor == f"staff:{admin_staff.pk}" and grant.object_id == str(grace)

    client.post("/staff/roles/revoke/", {"user_id": grace, "role": "lw_support"})
    assert user_roles(User.objects.get(pk=grace)) == {Role.LW_COMPLIANCE}
    # Revoking the last administrator is refused with a message, nothing changes.
    response = client.post(
        "/staff/roles/revoke/", {"user_id": admin_staff.pk, "role": "lw_admin"}, follow=True
    )
    assert "last active LightWay administrator" in response.content.decode()
    assert RoleAssignment.objects.filter(user_id=admin_staff.pk, role="lw_admin").exists()
    # A realm mismatch is explained.
    response = client.post(
        "/staff/roles/grant/", {"user_id": grace, "role": "mtn_admin"}, follow=True
    )
    assert "belongs to the mtn realm" in response.content.decode()

    response = client.post(
        "/staff/roles/create/",
        {"username": "new.kyc", "realm": "lightway", "roles": ["lw_kyc_reviewer"]},
    )
    assert response.status_code == 302
    new = User.objects.get(username="new.kyc")
    assert user_roles(new) == {Role.LW_KYC_REVIEWER}
    assert _records("auth.staff.create")[-1].actor == f"staff:{admin_staff.pk}"
    response = client.post(
        "/staff/roles/create/", {"username": "x", "realm": "lightway", "roles": []}
    )
    assert response.status_code == 422 and "username" in response.content.decode()


def test_roles_page_is_for_administrators_only(client, now):
    support = User.objects.get(pk=staff("sam.support", [Role.LW_SUPPORT], now))
    client.force_login(support)
    assert client.get("/staff/roles/").status_code == 403
    response = client.post("/staff/roles/grant/", {"user_id": support.pk, "role": "lw_admin"})
    assert response.status_code == 403
    assert not RoleAssignment.objects.filter(role="lw_admin").exists()


@pytest.fixture
def amara(now):
    user_id, _ = customer("amara", now)
    profile_set_pii(user_id=user_id, now=now, phone=PHONE, email=EMAIL, name=NAME)
    return Profile.objects.get(user_id=user_id)


def test_customer_search_shows_masked_data(client, amara, now):
    support = User.objects.get(pk=staff("sam.support", [Role.LW_SUPPORT], now))
    client.force_login(support)
    for query in ({"q": "0700 123401", "country": "UG"}, {"q": PHONE}, {"q": EMAIL}):
        text = client.post("/staff/customers/", query).content.decode()
        assert amara.subject in text, query
        assert "+256 •••••••01" in text
        # The clear values appear only where the search box echoes what was typed.
        assert text.count(PHONE) == (query["q"] == PHONE)
        assert text.count(EMAIL) == (query["q"] == EMAIL) and "Nakato" not in text
    assert amara.subject in client.post("/staff/customers/", {"q": amara.subject}).content.decode()
    assert (
        "No customer matches"
        in client.post("/staff/customers/", {"q": "+256700999999"}).content.decode()
    )
    page = client.get(f"/staff/customers/{amara.subject}/")
    text = page.content.decode()
    assert page.status_code == 200 and "A•••• N•••••" in text and "Nakato" not in text
    assert "Reveal personal data" not in text  # support cannot reveal
    assert client.get("/staff/customers/sub_nobody/").status_code == 404


def test_customer_search_takes_personal_data_by_post_never_in_the_url(client, amara, now):
    """Issue 11 finding 10: a phone number or email in a URL ends up in browser history,
    proxy and access logs. The search form posts; a query string searches nothing."""
    support = User.objects.get(pk=staff("sam.support", [Role.LW_SUPPORT], now))
    client.force_login(support)
    page = client.get("/staff/customers/", {"q": PHONE})
    text = page.content.decode()
    assert page.status_code == 200
    assert amara.subject not in text and PHONE not in text  # nothing searched, nothing echoed
    assert 'method="post" action="/staff/customers/"' in text
    found = client.post("/staff/customers/", {"q": PHONE})
    assert found.status_code == 200 and amara.subject in found.content.decode()
    assert found["Cache-Control"] == "no-store"
    bad = client.post("/staff/customers/", {"q": "x" * 500})
    assert bad.status_code == 400 and "at most 120" in bad.content.decode()


def test_reveal_needs_the_permission_and_a_reason_and_is_audited(client, amara, now):
    url = f"/staff/customers/{amara.subject}/reveal/"
    form = {
        "fields_wanted": ["phone", "name"],
        "reason": "Ticket 4411: customer asked us to confirm",
    }
    support = User.objects.get(pk=staff("sam.support", [Role.LW_SUPPORT], now))
    client.force_login(support)
    assert client.post(url, form).status_code == 403
    assert _records("pii.reveal") == []

    officer = User.objects.get(pk=staff("cora.compliance", [Role.LW_COMPLIANCE], now))
    client.force_login(officer)
    response = client.post(url, {**form, "reason": "because"})
    assert response.status_code == 422 and PHONE not in response.content.decode()
    assert _records("pii.reveal") == []

    response = client.post(url, form)
    text = response.content.decode()
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    assert PHONE in text and NAME in text and EMAIL not in text
    (record,) = _records("pii.reveal")
    assert record.actor == f"staff:{officer.pk}" and record.object_id == amara.subject
    assert record.data == {"fields": ["phone", "name"], "reason": form["reason"]}
    assert PHONE not in _everything_audited() and "Nakato" not in _everything_audited()
    # Shown once: the next page view is masked again.
    again = client.get(f"/staff/customers/{amara.subject}/").content.decode()
    assert PHONE not in again and "+256 •••••••01" in again


def test_kyc_reviewer_sets_a_tier_from_the_customer_page(client, amara, now):
    reviewer = User.objects.get(pk=staff("kim.kyc", [Role.LW_KYC_REVIEWER], now))
    client.force_login(reviewer)
    url = f"/staff/customers/{amara.subject}/tier/"
    response = client.post(url, {"tier": "1", "reason": "document expired"})
    assert response.status_code == 302
    assert Profile.objects.get(pk=amara.pk).kyc_tier == 1
    record = _records("kyc.tier.set")[-1]
    assert record.actor == f"staff:{reviewer.pk}" and record.data["to"] == 1
    support = User.objects.get(pk=staff("sam.support", [Role.LW_SUPPORT], now))
    client.force_login(support)
    assert client.post(url, {"tier": "3", "reason": "please"}).status_code == 403


# --- admin pages --------------------------------------------------------------------------


def test_user_admin_shows_no_personal_data_columns(admin_client):
    text = admin_client.get("/admin/auth/user/").content.decode()
    assert "column-username" in text
    for column in ("column-email", "column-first_name", "column-last_name"):
        assert column not in text


def _limit_form(row, **changes):
    data = {
        "country": row.country,
        "tier": str(row.tier),
        "currency": row.currency,
        "effective_from_0": row.effective_from.strftime("%Y-%m-%d"),
        "effective_from_1": row.effective_from.strftime("%H:%M:%S"),
        "per_transaction": row.per_transaction if row.per_transaction is not None else "",
        "daily": row.daily if row.daily is not None else "",
        "monthly": row.monthly if row.monthly is not None else "",
        "max_balance": row.max_balance if row.max_balance is not None else "",
        "source": row.source,
    }
    data.update(changes)
    return data


def test_kyc_limit_admin_freezes_rows_in_effect_and_saves_as_new(client, now):
    from lightway.application.kyc.tiers import kyc_limits_seed_defaults

    kyc_limits_seed_defaults(now=now)
    row = KycTierLimit.objects.get(country="UG", tier=2, currency="UGX")
    url = f"/admin/identity/kyctierlimit/{row.pk}/change/"
    officer = User.objects.get(pk=staff("cora.compliance", [Role.LW_COMPLIANCE], now))
    client.force_login(officer)
    assert client.get("/admin/identity/kyctierlimit/").status_code == 200

    response = client.post(url, _limit_form(row, daily="1"))
    assert response.status_code == 200 and "cannot change" in response.content.decode()
    assert KycTierLimit.objects.get(pk=row.pk).daily == row.daily

    response = client.post(url, _limit_form(row, daily="12000000", _saveasnew="1"))
    assert response.status_code == 200 and "Must be in the future" in response.content.decode()
    response = client.post(
        url,
        _limit_form(
            row,
            daily="12000000",
            effective_from_0="2035-01-01",
            effective_from_1="00:00:00",
            _saveasnew="1",
        ),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    new = KycTierLimit.objects.get(country="UG", tier=2, currency="UGX", daily=12_000_000)
    assert new.effective_from == datetime(2035, 1, 1, tzinfo=UTC)
    assert new.created_by == f"staff:{officer.pk}"
    created = _records("identity.kyctierlimit.create")[-1]
    assert created.actor == f"staff:{officer.pk}" and created.object_id == str(new.pk)
    # In effect: no delete; a future row can go.
    assert (
        client.post(f"/admin/identity/kyctierlimit/{row.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    response = client.post(f"/admin/identity/kyctierlimit/{new.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not KycTierLimit.objects.filter(pk=new.pk).exists()

    finance = User.objects.get(pk=staff("fin.one", [Role.LW_FINANCE], now))
    client.force_login(finance)
    assert client.get("/admin/identity/kyctierlimit/").status_code == 200  # kyc_limits.view
    response = client.post(
        url,
        _limit_form(
            row, effective_from_0="2036-01-01", effective_from_1="00:00:00", _saveasnew="1"
        ),
    )
    assert response.status_code == 403


def test_partner_admin_is_read_only(client, now):
    """Partners are onboarded and changed on /staff/partners/ (validated, audited, prefund
    accounts opened); the admin only shows them."""
    admin_user = User.objects.get(pk=staff("root.admin", [Role.LW_ADMIN], now))
    client.force_login(admin_user)
    response = client.post("/admin/identity/partner/add/", {"code": "acme-remit", "name": "Acme"})
    assert response.status_code == 403
    assert not Partner.objects.filter(code="acme-remit").exists()
    partner = Partner.objects.create(code="acme-remit", name="Acme", created_at=now)
    assert client.get("/admin/identity/partner/").status_code == 200
    url = f"/admin/identity/partner/{partner.pk}/change/"
    assert client.get(url).status_code == 200  # the view page
    client.post(url, {"code": "acme-remit", "name": "Changed"})
    partner.refresh_from_db()
    assert partner.name == "Acme"


def test_django_permissions_come_from_the_roles(now):
    finance = User.objects.get(pk=staff("fin.one", [Role.LW_FINANCE], now))
    assert finance.has_perm("commission.change_feeschedule")
    assert not finance.has_perm("audit.view_auditrecord")
    assert finance.has_module_perms("commission") and not finance.has_module_perms("audit")
    officer = User.objects.get(pk=staff("cora.compliance", [Role.LW_COMPLIANCE], now))
    assert officer.has_perm("audit.view_auditrecord")
    assert officer.has_perm("identity.add_kyctierlimit")
    support = User.objects.get(pk=staff("sam.support", [Role.LW_SUPPORT], now))
    assert support.get_all_permissions() == set()  # no admin site, no admin permissions
