"""The authorization policy: matrix properties, roles of users, masking, object scoping."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser

from lightway.application.identity.profiles import profile_create
from lightway.data.identity.models import Partner, Realm
from lightway.data.wallets.models import Transfer
from lightway.data.wallets.services import transfer_insert
from lightway.security.models import RoleAssignment
from lightway.security.policy import (
    ADMIN_PERMISSIONS,
    MATRIX,
    ROLE_REALM,
    STAFF_ACTIONS,
    STAFF_REALMS,
    Action,
    Role,
    allows,
    django_permissions,
    matrix_markdown,
    must_mask,
    scope_transfers,
    user_roles,
)
from tests.factories import customer, funded_wallet, staff

SELF = {a.value for a in Action if a.value.startswith("self.")}
DOCS = Path(__file__).resolve().parents[1] / "docs" / "security.md"


# --- the matrix ---------------------------------------------------------------------------


def test_every_role_has_a_row_and_every_action_is_known() -> None:
    assert set(MATRIX) == {r.value for r in Role} == set(ROLE_REALM)
    known = {a.value for a in Action}
    for role, actions in MATRIX.items():
        assert actions <= known, (role, actions - known)
        assert Action.PUBLIC not in actions, "public is implicit, never granted"
    for action in Action:
        assert action.label and len(action.label) < 100, action  # a one-line description


def test_each_role_holds_only_its_realms_actions() -> None:
    for role, actions in MATRIX.items():
        realm = ROLE_REALM[role]
        if realm == Realm.CUSTOMER:
            assert actions == SELF
        elif realm == Realm.PARTNER:
            assert actions == {
                Action.PARTNER_TRANSFERS,
                Action.PARTNER_ACCOUNT,
                Action.PARTNER_REMITTANCES,
            }
        elif realm == Realm.MTN:
            assert actions <= {
                Action.STAFF_SIGN_IN,
                Action.STAFF_PANEL,
                Action.TRANSACTIONS_VIEW_MOMO,
                Action.REPORTS_VIEW,
                Action.FLOAT_VIEW,
            }, role
            assert Action.STAFF_PANEL in actions and Action.TRANSACTIONS_VIEW_MOMO in actions
        else:
            assert realm == Realm.LIGHTWAY
            assert actions <= STAFF_ACTIONS, (role, actions - STAFF_ACTIONS)
            assert Action.STAFF_PANEL in actions and Action.STAFF_SIGN_IN in actions


def test_staff_actions_are_never_granted_to_customers_or_partners() -> None:
    outsiders = [Role.CUSTOMER, Role.PARTNER]
    for action in STAFF_ACTIONS:
        assert not allows(outsiders, action), action
    for action in SELF:
        staff_roles = [r for r, realm in ROLE_REALM.items() if realm in STAFF_REALMS]
        assert not allows([*staff_roles, Role.PARTNER], action), action


def test_least_privilege_examples() -> None:
    assert allows([Role.LW_SUPPORT], Action.CUSTOMERS_VIEW)
    assert not allows([Role.LW_SUPPORT], Action.PII_REVEAL)
    assert allows([Role.LW_COMPLIANCE], Action.PII_REVEAL)
    assert allows([Role.LW_COMPLIANCE], Action.AUDIT_VIEW)
    assert allows([Role.LW_KYC_REVIEWER], Action.KYC_REVIEW)
    assert not allows([Role.LW_KYC_REVIEWER], Action.PII_REVEAL)
    assert allows([Role.LW_FINANCE], Action.LEDGER_VIEW) and allows(
        [Role.LW_FINANCE], Action.FEES_EDIT
    )
    assert allows([Role.LW_OPERATIONS], Action.JOBS_MANAGE)
    # Only the administrator manages staff; it sees no customers and no audit trail.
    assert [r for r in MATRIX if Action.STAFF_ROLES in MATRIX[r]] == [Role.LW_ADMIN]
    assert not allows([Role.LW_ADMIN], Action.CUSTOMERS_VIEW)
    assert not allows([Role.LW_ADMIN], Action.AUDIT_VIEW)
    assert allows([Role.MTN_FINANCE], Action.REPORTS_VIEW)
    assert not allows([Role.MTN_ADMIN], Action.REPORTS_VIEW)
    for role in (Role.MTN_ADMIN, Role.MTN_MONITORING, Role.MTN_FINANCE):
        assert not allows([role], Action.CUSTOMERS_VIEW)
        assert not allows([role], Action.TRANSACTIONS_VIEW)


def test_allows_public_unknown_and_union() -> None:
    assert allows([], Action.PUBLIC)
    assert not allows([], Action.SELF_WALLETS)
    assert not allows([Role.LW_ADMIN, Role.LW_COMPLIANCE], "no.such.action")
    assert not allows(["no_such_role"], Action.STAFF_PANEL)
    assert allows([Role.LW_ADMIN, Role.LW_COMPLIANCE], Action.PII_REVEAL)
    assert allows([Role.LW_ADMIN, Role.LW_COMPLIANCE], Action.STAFF_ROLES)


def test_admin_permissions_follow_the_actions() -> None:
    assert django_permissions([Role.LW_SUPPORT]) == frozenset()  # no admin site at all
    assert django_permissions([Role.CUSTOMER]) == frozenset()
    finance = django_permissions([Role.LW_FINANCE])
    assert "commission.change_feeschedule" in finance
    assert "audit.view_auditrecord" not in finance
    assert "audit.view_auditrecord" in django_permissions([Role.LW_COMPLIANCE])
    assert "auth.change_user" in django_permissions([Role.LW_ADMIN])
    for action, perms in ADMIN_PERMISSIONS.items():
        assert action in STAFF_ACTIONS
        assert all("." in p for p in perms)


def test_docs_carry_exactly_the_matrix_table() -> None:
    assert matrix_markdown() in DOCS.read_text(encoding="utf-8")


# --- roles of users -----------------------------------------------------------------------

pytest_db = pytest.mark.django_db


@pytest_db
def test_user_roles_by_realm_and_assignment(now) -> None:
    User = get_user_model()
    cust_id, _ = customer("cust", now)
    assert user_roles(User.objects.get(pk=cust_id)) == {Role.CUSTOMER}

    ops_id = staff("ops.one", [Role.LW_OPERATIONS, Role.LW_SUPPORT], now)
    assert user_roles(User.objects.get(pk=ops_id)) == {Role.LW_OPERATIONS, Role.LW_SUPPORT}

    # An assignment of another realm's role (bypassing the services) is ignored.
    RoleAssignment.objects.create(
        user_id=ops_id, role=Role.MTN_ADMIN, granted_by="test", granted_at=now
    )
    RoleAssignment.objects.create(
        user_id=cust_id, role=Role.LW_ADMIN, granted_by="test", granted_at=now
    )
    assert user_roles(User.objects.get(pk=ops_id)) == {Role.LW_OPERATIONS, Role.LW_SUPPORT}
    assert user_roles(User.objects.get(pk=cust_id)) == {Role.CUSTOMER}

    partner = Partner.objects.create(code="acme", name="Acme", created_at=now)
    client = User.objects.create_user("acme-client")
    profile_create(user_id=client.pk, realm=Realm.PARTNER, now=now, partner_id=partner.pk)
    assert user_roles(User.objects.get(pk=client.pk)) == {Role.PARTNER}


@pytest_db
def test_superuser_without_roles_has_no_rights_and_inactive_users_none(now) -> None:
    User = get_user_model()
    root = User.objects.create_superuser("root", "", "Sup3r-secret-long")
    assert user_roles(root) == frozenset()
    assert not allows(user_roles(root), Action.STAFF_ADMIN_SITE)
    RoleAssignment.objects.create(
        user_id=root.pk, role=Role.LW_ADMIN, granted_by="test", granted_at=now
    )
    assert user_roles(User.objects.get(pk=root.pk)) == {Role.LW_ADMIN}

    admin_id = staff("adm.one", [Role.LW_ADMIN], now)
    User.objects.filter(pk=admin_id).update(is_active=False)
    assert user_roles(User.objects.get(pk=admin_id)) == frozenset()
    assert user_roles(AnonymousUser()) == frozenset()
    assert user_roles(None) == frozenset()


def test_masking_rules() -> None:
    assert not must_mask([Role.CUSTOMER])
    for role in (Role.MTN_ADMIN, Role.MTN_MONITORING, Role.MTN_FINANCE, Role.PARTNER):
        assert must_mask([role]) and must_mask([role], revealed=True)
    assert must_mask([Role.LW_COMPLIANCE])
    assert not must_mask([Role.LW_COMPLIANCE], revealed=True)
    assert must_mask([Role.LW_SUPPORT], revealed=True)  # no pii.reveal
    assert must_mask([])


# --- object scoping -----------------------------------------------------------------------


def _transfer(kind, client_id, now, *, source=None, destination=None):
    return transfer_insert(
        transfer_id=uuid.uuid4(),
        kind=kind,
        status="pending",
        client_id=client_id,
        idempotency_key=str(uuid.uuid4()),
        request_hash="0" * 64,
        source_wallet_id=source.id if source else None,
        destination_wallet_id=destination.id if destination else None,
        currency="UGX",
        amount=1_000,
        fee=0,
        description="",
        now=now,
    ).id


@pytest_db
def test_scoping_returns_exactly_the_right_transfers(now) -> None:
    User = get_user_model()
    a_id, _ = customer("a", now)
    b_id, _ = customer("b", now)
    c_id, _ = customer("c", now)
    wa, wb, wc = (funded_wallet(u, "UGX", 0, now) for u in (a_id, b_id, c_id))
    partners = []
    for code in ("p-one", "p-two"):
        partner = Partner.objects.create(code=code, name=code, created_at=now)
        client = User.objects.create_user(f"{code}-client")
        profile_create(user_id=client.pk, realm=Realm.PARTNER, now=now, partner_id=partner.pk)
        partners.append((partner.pk, client.pk))
    (p1, p1_client), (p2, p2_client) = partners

    t_p2p = _transfer("p2p", a_id, now, source=wa, destination=wb)
    t_deposit = _transfer("deposit", a_id, now, destination=wa)
    t_withdrawal = _transfer("withdrawal", b_id, now, source=wb)
    t_remittance = _transfer("remittance", p1_client, now, destination=wc)
    t_payout = _transfer("payout", p2_client, now)
    every = {t_p2p, t_deposit, t_withdrawal, t_remittance, t_payout}

    def seen(roles, user_id=None, partner_id=None):
        qs = scope_transfers(
            Transfer.objects.all(), roles=roles, user_id=user_id, partner_id=partner_id
        )
        return set(qs.values_list("id", flat=True))

    assert seen([Role.CUSTOMER], a_id) == {t_p2p, t_deposit}
    assert seen([Role.CUSTOMER], b_id) == {t_p2p, t_withdrawal}
    assert seen([Role.CUSTOMER], c_id) == {t_remittance}
    for role in (Role.MTN_ADMIN, Role.MTN_MONITORING, Role.MTN_FINANCE):
        assert seen([role], 999) == {t_deposit, t_withdrawal, t_remittance, t_payout}
    assert seen([Role.PARTNER], p1_client, p1) == {t_remittance}
    assert seen([Role.PARTNER], p2_client, p2) == {t_payout}
    assert seen([Role.PARTNER], p1_client, None) == set()
    for role in (Role.LW_OPERATIONS, Role.LW_FINANCE, Role.LW_COMPLIANCE, Role.LW_SUPPORT):
        assert seen([role], 1) == every
    assert seen([Role.LW_ADMIN], 1) == set()
    assert seen([Role.LW_KYC_REVIEWER], 1) == set()
    assert seen([], a_id) == set()


@pytest.mark.django_db
def test_api_roles_of_a_customer_token_need_no_extra_query(django_assert_num_queries):
    """The token query already read the realm: a customer's request costs no roles query,
    while a staff principal still reads its assigned roles."""
    from django.test import RequestFactory

    from lightway.interfaces.web.authz import api_roles
    from lightway.security.apiauth.access import ApiPrincipal

    request = RequestFactory().get("/api/v1/wallets")
    request.auth = ApiPrincipal(user_id=1, kind="api_token", realm="customer")
    with django_assert_num_queries(0):
        assert api_roles(request) == frozenset({"customer"})
    request.auth = ApiPrincipal(user_id=1, kind="api_token", realm="")
    with django_assert_num_queries(1):
        assert api_roles(request) == frozenset()  # unknown user: looked up, no roles
