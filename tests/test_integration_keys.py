"""Integration keys: scoped, expiring machine credentials of MTN's and LightWay's reporting
systems (issue 11, finding 9; docs/api.md "Integration keys").

What a key reads is in tests/test_momo_status_api.py (a signed status and report, and the
refusals: expired, revoked, forged, replayed, another scope, another endpoint). Here:

- every API operation other than the read-only MoMo status and report operations refuses
  an integration key holding every scope (operations from the OpenAPI document, checked
  against the URL resolver), and staff bearer tokens stay refused on those operations;
- issuing: the rules (realm, scopes, the longest validity from the setting, a reason),
  the audit trail without a secret, the secret sealed at rest;
- the database keeps a key as issued: no deletion by the runtime role, revocation final;
- the staff page (a LightWay administrator past the second factor) and the CLI.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from datetime import timedelta

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test import Client
from django.utils import timezone

from lightway.application.errors import NotFound, ValidationFailed
from lightway.application.integrations.keys import (
    integration_key_create,
    integration_key_list,
    integration_key_revoke,
)
from lightway.data.audit.models import AuditRecord
from lightway.interfaces.cli.main import main
from lightway.interfaces.web import authz
from lightway.security.apiauth.models import (
    INTEGRATION_REALM_VALUES,
    INTEGRATION_SCOPE_VALUES,
    IntegrationKey,
)
from lightway.security.models import ApiToken
from lightway.security.policy import (
    INTEGRATION_REALMS,
    INTEGRATION_SCOPES,
    Action,
    Role,
    integration_allows,
)
from lightway.security.signatures import sign_request
from tests.factories import staff
from tests.test_authz_matrix import API_NAMESPACE, _schema_example, api_operations, walk_urls

pytestmark = pytest.mark.django_db

REASON = "TICKET-42: MTN's nightly reconciliation export"
ALL_SCOPES = tuple(sorted(INTEGRATION_SCOPES))


def _create(**overrides):
    args = {
        "realm": "mtn",
        "name": "MTN reporting",
        "scopes": ALL_SCOPES,
        "days": 30,
        "reason": REASON,
        "actor": "system:test",
        "now": timezone.now(),
    }
    args.update(overrides)
    return integration_key_create(**args)


def _signed(method: str, target: str, key: tuple[str, str], body: bytes = b"") -> dict[str, str]:
    headers = sign_request(
        key_id=key[0],
        secret=key[1],
        method=method,
        target=target,
        body=body,
        timestamp=int(time.time()),
    )
    return {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}


def _example_request(method: str, path: str, op: dict, components: dict) -> tuple[str, bytes]:
    query = {}
    for param in op.get("parameters", []):
        value = _schema_example(param.get("schema", {}), components)
        if param["in"] == "path":
            path = path.replace("{" + param["name"] + "}", str(value))
        elif param["in"] == "query" and param.get("required"):
            query[param["name"]] = str(value)
    body = b""
    content = op.get("requestBody", {}).get("content", {}).get("application/json")
    if content:
        body = json.dumps(_schema_example(content["schema"], components)).encode()
    target = path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    return target, body


# --- the policy and the table say the same --------------------------------------------------


def test_the_policy_and_the_table_allow_the_same_realms_and_scopes():
    assert set(INTEGRATION_REALM_VALUES) == {str(r) for r in INTEGRATION_REALMS}
    assert set(INTEGRATION_SCOPE_VALUES) == {str(a) for a in INTEGRATION_SCOPES}
    # read-only reporting actions, nothing a person does in a panel
    assert INTEGRATION_SCOPES == {Action.TRANSACTIONS_VIEW_MOMO, Action.REPORTS_VIEW}
    assert not integration_allows(ALL_SCOPES, Action.PARTNER_TRANSFERS)
    assert not integration_allows(["reports.view"], Action.TRANSACTIONS_VIEW_MOMO)


# --- every other API operation refuses an integration key ------------------------------------


def test_every_api_operation_but_the_reporting_ones_refuses_an_integration_key(client, now):
    from lightway.interfaces.api.v1 import api

    schema = api.get_openapi_schema()
    components = schema.get("components", {}).get("schemas", {})
    operations = api_operations()
    # the OpenAPI document names every API route the URL resolver serves
    documented = {path for _, path, _ in operations}
    for url in walk_urls({}):
        if url.namespace == API_NAMESPACE and authz.url_declared_action(url.name) is None:
            route = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", url.route)
            assert route in documented, route
    key = _create(realm="mtn", scopes=ALL_SCOPES)
    staff_id = staff("ik-mtn-finance", [Role.MTN_FINANCE], now)
    planted = f"lw_planted_{uuid.uuid4().hex}"
    ApiToken.objects.create(
        user_id=staff_id,
        key_hash=hashlib.sha256(planted.encode()).hexdigest(),
        prefix=planted[:10],
        created_at=now,
    )
    reporting, refused, problems = [], 0, []
    for method, path, op in operations:
        action = op.get(authz.OPENAPI_ACTION_KEY)
        if action in (None, Action.PUBLIC):
            continue  # public operations take no credential (sign-in, the document itself)
        target, body = _example_request(method, path, op, components)
        response = Client().generic(
            method,
            target,
            data=body,
            content_type="application/json",
            **_signed(method, target, key, body),
        )
        if action in INTEGRATION_SCOPES:
            reporting.append(path)
            if response.status_code in (401, 403):
                problems.append(f"{method} {path}: refused {response.status_code}")
            staff_response = Client().get(target, HTTP_AUTHORIZATION=f"Bearer {planted}")
            if staff_response.status_code != 401:
                problems.append(f"{method} {path}: staff token got {staff_response.status_code}")
        else:
            refused += 1
            if response.status_code not in (401, 403):
                problems.append(f"{method} {path} ({action}): got {response.status_code}")
    assert not problems, "\n".join(problems)
    assert sorted(reporting) == [
        "/api/v1/momo/reconciliation/runs",
        "/api/v1/momo/reconciliation/runs/{run_id}",
        "/api/v1/momo/reconciliation/runs/{run_id}.csv",
        "/api/v1/momo/transactions/{reference}",
    ]
    assert refused > 15


# --- issuing and revoking -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"realm": "partner"}, "realm"),
        ({"realm": "customer"}, "realm"),
        ({"scopes": ()}, "scopes"),
        ({"scopes": ("partner.transfers",)}, "scopes"),
        ({"scopes": ("reports.view", "transactions.view")}, "scopes"),
        ({"days": 0}, "days"),
        ({"days": 91}, "days"),
        ({"reason": "because"}, "reason"),
        ({"reason": ""}, "reason"),
        ({"name": "  "}, "name"),
        ({"name": "x\x00y"}, "name"),
    ],
)
def test_a_key_is_refused_outside_the_rules(overrides, field):
    with pytest.raises(ValidationFailed) as err:
        _create(**overrides)
    assert err.value.details["field"] == field
    assert not IntegrationKey.objects.exists()


def test_the_longest_validity_is_the_setting(settings):
    settings.LIGHTWAY_INTEGRATION_KEY_MAX_DAYS = 7
    with pytest.raises(ValidationFailed) as err:
        _create(days=8)
    assert err.value.details == {"field": "days", "max_days": 7}
    now = timezone.now()
    key_id, _ = _create(days=7, now=now)
    assert IntegrationKey.objects.get(key_id=key_id).expires_at == now + timedelta(days=7)


def test_create_and_revoke_are_audited_and_the_secret_is_kept_nowhere_in_clear():
    now = timezone.now()
    key_id, secret = _create(now=now)
    assert key_id.startswith("ik_live_") and secret.startswith("is_live_")
    row = IntegrationKey.objects.get(key_id=key_id)
    assert secret.encode() not in bytes(row.secret_ct)
    assert (row.realm, row.name, sorted(row.scopes), row.reason) == (
        "mtn",
        "MTN reporting",
        list(ALL_SCOPES),
        REASON,
    )
    assert integration_key_revoke(key_id=key_id, actor="staff:7", now=now) is True
    assert integration_key_revoke(key_id=key_id, actor="staff:7", now=now) is False
    records = list(AuditRecord.objects.filter(object_id=key_id).order_by("id"))
    assert [(r.action, r.actor) for r in records] == [
        ("integration_key.create", "system:test"),
        ("integration_key.revoke", "staff:7"),
    ]
    assert records[0].data["reason"] == REASON
    assert records[0].data["scopes"] == list(ALL_SCOPES)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM audit_record WHERE data::text LIKE %s", [f"%{secret}%"])
        assert cur.fetchone()[0] == 0
    (view,) = integration_key_list()
    assert view.state(now) == "revoked" and view.revoked_by == "staff:7"
    assert secret not in repr(view)
    with pytest.raises(NotFound):
        integration_key_revoke(key_id="ik_live_nothing", actor="staff:7", now=now)


# --- the database keeps a key as issued ---------------------------------------------------------


def _db_refused(statement: str, params=()) -> DatabaseError:
    with pytest.raises(DatabaseError) as err, transaction.atomic(), connection.cursor() as cur:
        cur.execute(statement, params)
    return err.value


def test_keys_are_never_deleted_and_a_revocation_is_final():
    key_id, _ = _create()
    err = _db_refused("DELETE FROM apiauth_integration_key WHERE key_id = %s", [key_id])
    assert getattr(err.__cause__, "sqlstate", None) == "42501"  # no DELETE privilege
    # scopes, realm and expiry are as issued
    for column, value in (
        ("scopes", "{reports.view}"),
        ("realm", "lightway"),
        ("expires_at", "2099-01-01"),
    ):
        err = _db_refused(
            f"UPDATE apiauth_integration_key SET {column} = %s WHERE key_id = %s",
            [value, key_id],
        )
        assert getattr(err.__cause__, "sqlstate", None) in ("42501", "23514"), column
    integration_key_revoke(key_id=key_id, actor="system:test", now=timezone.now())
    err = _db_refused(
        "UPDATE apiauth_integration_key SET revoked_at = NULL, revoked_by = '' WHERE key_id = %s",
        [key_id],
    )
    assert "revocation is final" in str(err)


def test_the_table_refuses_unknown_scopes_realms_and_endless_keys():
    now = timezone.now()
    base = {
        "key_id": "ik_live_" + "a" * 24,
        "realm": "mtn",
        "name": "planted",
        "scopes": ["reports.view"],
        "secret_ct": b"x",
        "reason": REASON,
        "created_at": now,
        "created_by": "system:test",
        "expires_at": now + timedelta(days=1),
    }
    for change in (
        {"scopes": ["partner.transfers"]},
        {"scopes": []},
        {"realm": "partner"},
        {"expires_at": now},
        {"key_id": "pk_live_" + "a" * 24},
        {"reason": ""},
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            IntegrationKey.objects.create(**{**base, **change})


# --- the staff page: a LightWay administrator past the second factor ---------------------------

PAGE = "/staff/integration-keys/"


def _form(**overrides):
    data = {
        "realm": "mtn",
        "name": "MTN reporting",
        "scopes": list(ALL_SCOPES),
        "days": "30",
        "reason": REASON,
    }
    data.update(overrides)
    return data


def test_an_administrator_creates_and_revokes_keys_in_the_staff_panel(client, now):
    from django.contrib.auth import get_user_model

    admin_id = staff("ik-admin", [Role.LW_ADMIN], now)
    client.force_login(get_user_model().objects.get(pk=admin_id))
    page = client.get(PAGE)
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    created = client.post(PAGE + "create/", _form())
    assert created.status_code == 200 and created["Cache-Control"] == "no-store"
    key = IntegrationKey.objects.get()
    text = created.content.decode()
    secret = re.search(r'data-testid="secret">([^<]+)<', text).group(1)
    assert secret.startswith("is_live_") and key.key_id in text
    assert secret not in client.get(PAGE).content.decode()  # shown once
    assert secret not in str(dict(client.session))
    record = AuditRecord.objects.get(action="integration_key.create")
    assert record.actor == f"staff:{admin_id}" and secret not in json.dumps(record.data)
    # the key works
    target = "/api/v1/momo/reconciliation/runs"
    assert Client().get(target, **_signed("GET", target, (key.key_id, secret))).status_code == 200
    # bad input: 422 and a message beside the field, nothing created
    for bad, message in (
        (_form(reason="short"), "at least 10"),
        (_form(days="400"), "days"),
        (_form(scopes=["partner.transfers"]), "valid choice"),
        (_form(realm="partner"), "valid choice"),
    ):
        refused = client.post(PAGE + "create/", bad)
        assert refused.status_code == 422 and message in refused.content.decode()
    assert IntegrationKey.objects.count() == 1
    revoked = client.post(f"{PAGE}{key.key_id}/revoke/")
    assert revoked.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == f"staff:{admin_id}"
    assert Client().get(target, **_signed("GET", target, (key.key_id, secret))).status_code == 401


def test_only_administrators_past_the_second_factor_manage_keys(client, now):
    from django.contrib.auth import get_user_model

    User = get_user_model()
    for role in (Role.LW_FINANCE, Role.LW_OPERATIONS, Role.MTN_ADMIN, Role.MTN_FINANCE):
        uid = staff(f"ik-{role.replace('_', '-')}", [role], now)
        member = VerifiedClientFor(User.objects.get(pk=uid))
        assert member.get(PAGE).status_code == 403
        assert member.post(PAGE + "create/", _form()).status_code == 403
    admin = User.objects.get(pk=staff("ik-admin2", [Role.LW_ADMIN], now))
    unverified = Client()
    unverified.force_login(admin)  # password only: no second factor yet
    response = unverified.post(PAGE + "create/", _form())
    assert response.status_code == 302 and response["Location"].startswith("/staff/mfa/")
    assert not IntegrationKey.objects.exists()


def VerifiedClientFor(user):
    from tests.conftest import VerifiedClient

    c = VerifiedClient()
    c.force_login(user)
    return c


# --- the CLI -----------------------------------------------------------------------------------


def test_the_cli_creates_lists_and_revokes(capsys):
    argv = ["integration-key", "create", "--realm", "lightway", "--name", "LightWay BI"]
    argv += ["--scope", "reports.view", "--days", "14", "--reason", REASON]
    assert main(argv) == 0
    out = capsys.readouterr().out
    key_id = re.search(r"Key id:\s+(\S+)", out).group(1)
    secret = re.search(r"Secret:\s+(\S+)", out).group(1)
    assert IntegrationKey.objects.get(key_id=key_id).scopes == ["reports.view"]
    assert main(["integration-key", "list"]) == 0
    listing = capsys.readouterr().out
    assert key_id in listing and "live until" in listing and secret not in listing
    assert main(["integration-key", "revoke", "--key", key_id]) == 0
    assert f"Revoked {key_id}" in capsys.readouterr().out
    assert main(["integration-key", "list", "--realm", "lightway"]) == 0
    assert "revoked" in capsys.readouterr().out
    # bad input: one line and a non-zero exit, nothing created
    bad = ["integration-key", "create", "--realm", "mtn", "--name", "x y z", "--scope"]
    assert main([*bad, "reports.view", "--days", "91", "--reason", REASON]) == 1
    assert "1 to 90 days" in capsys.readouterr().err
    assert main(["integration-key", "revoke", "--key", "ik_live_none"]) == 1
    assert IntegrationKey.objects.count() == 1
    assert main([*bad, "partner.transfers", "--days", "9", "--reason", REASON]) == 1
    assert "choose one or more scopes of: reports.view" in capsys.readouterr().err
    assert IntegrationKey.objects.count() == 1


# --- the worked example of docs/api.md ("Integration keys") --------------------------------


def test_the_worked_example_in_the_api_guide_is_true():
    from pathlib import Path

    headers = sign_request(
        key_id="ik_live_0a1b2c3d4e5f60718293a4b5",
        secret="is_live_Xb7Qn2Lr9Tz4Wc6Hp1Vs8Kd3Mf5Gj0Ya2Ue7Ro4Ni9Bq",
        method="GET",
        target="/api/v1/momo/reconciliation/runs/8?category=missing_on_platform",
        timestamp=1795510800,
        nonce="3f9a1c7e5b2d4086a1c3e5f7",
    )
    signature = "ac1df68c1892fdb7ba8be862c21f44b79068dd87ffff892b05e84876ae42517f"
    assert headers["X-LW-Signature"] == signature
    guide = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text(encoding="utf-8")
    assert signature in guide and "ik_live_0a1b2c3d4e5f60718293a4b5" in guide
