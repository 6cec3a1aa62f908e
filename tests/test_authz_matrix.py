"""Every URL and every API operation, against every role: allowed or denied as the matrix says.

The URL patterns are walked from ``lightway.interfaces.web.urls`` (the Django admin
included); API operations are read from the OpenAPI document (``x-lightway-action``). A URL
or operation without a declared action fails the first test. The second requests each one
as every role (one user per role; staff with a second factor verified) and anonymously:

- allowed: not a 403 and not a redirect to a sign-in / second-factor page;
- denied: anonymous -> a redirect to a sign-in page (API: 401); signed in -> 403, or a
  redirect to a sign-in / second-factor page (API: 403, or 401 when the principal's kind of
  credential does not apply to the operation);
- staff roles on API operations: 401 whatever the role allows in the panels (staff hold no
  bearer credential; their tokens are planted in the database to prove the refusal);
- an integration key (the machine credential of MTN's reporting system, every scope) on API
  operations: allowed exactly where ``integration_allows`` says, 401 or 403 everywhere else.

Admin pages need ``staff.admin_site`` and, per model, the Django permission the policy's
actions give (``django_permissions``), within what the page itself ever allows (read-only
pages allow no change whatever the permissions). POST-only views are requested with POST.
"""

from __future__ import annotations

import functools
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern
from django.utils import timezone

from lightway.application.identity.profiles import profile_create
from lightway.application.kyc.tiers import kyc_limits_seed_defaults
from lightway.data.identity.models import Partner, Realm
from lightway.interfaces.web import authz
from lightway.security.policy import (
    ROLE_REALM,
    STAFF_REALMS,
    Action,
    Role,
    allows,
    django_permissions,
    integration_allows,
)
from tests.factories import customer, funded_wallet, staff

pytestmark = pytest.mark.django_db

ANONYMOUS = "anonymous"
INTEGRATION = "integration"  # an MTN integration key holding every scope (API only)
LOGIN_PAGES = ("/app/login/", "/staff/login/", "/admin/login/", "/staff/mfa/", "/app/login/2fa/")


# --- walking the URLs ---------------------------------------------------------------------


@dataclass(frozen=True)
class Url:
    route: str  # the pattern, for messages
    name: str  # namespaced ("admin:auth_user_changelist")
    callback: Any
    namespace: str
    example: tuple[str, ...]  # example paths (regex alternations give several)


_CONVERTER = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")
_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<body>[^()]*)\)")


def _route_examples(route: str, values: dict[str, str]) -> tuple[str, ...]:
    def fill(match: re.Match[str]) -> str:
        conv, name = match.group("conv") or "str", match.group("name")
        if name in values:
            return values[name]
        return {"int": "1", "uuid": str(uuid.UUID(int=1)), "path": "1"}.get(conv, "x")

    return (_CONVERTER.sub(fill, route),)


def _regex_examples(regex: str) -> tuple[str, ...]:
    text = regex.lstrip("^").rstrip("$")
    options: list[str] = [text]
    while True:
        match = next((m for t in options for m in [_GROUP.search(t)] if m), None)
        if match is None:
            break
        body = match.group("body")
        if "|" in body or re.fullmatch(r"[\w./-]+", body):
            choices = body.split("|")
        elif body in (".*", ".+"):
            choices = ["zzz-no-such-page/"]
        elif body in (r"\d+", "[0-9]+"):
            choices = ["1"]
        else:
            choices = ["x"]
        options = [
            t.replace(match.group(0), c, 1) if match.group(0) in t else t
            for t in options
            for c in choices
        ]
    return tuple(o.replace("\\", "").replace("$", "").lstrip("^") for o in options)


def walk_urls(values: dict[str, str]) -> list[Url]:
    out: list[Url] = []

    def walk(patterns: Any, prefix: str, namespace: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = namespace
                if p.namespace:
                    ns = f"{namespace}{p.namespace}:"
                walk(p.url_patterns, prefix + _pattern_text(p.pattern), ns)
            elif isinstance(p, URLPattern):
                text = prefix + _pattern_text(p.pattern)
                if isinstance(p.pattern, RegexPattern) or "(?P<" in text:
                    examples = _regex_examples(text)
                else:
                    examples = _route_examples(text, values)
                out.append(
                    Url(
                        route=text,
                        name=f"{namespace}{p.name or ''}",
                        callback=p.callback,
                        namespace=namespace.rstrip(":"),
                        example=tuple("/" + e for e in examples),
                    )
                )

    walk(get_resolver().url_patterns, "", "")
    return out


def _pattern_text(pattern: Any) -> str:
    if isinstance(pattern, RoutePattern):
        return str(pattern._route)
    return str(pattern.regex.pattern)


# --- what each URL declares -------------------------------------------------------------------

API_NAMESPACE = "api-v1"


def declared_action(url: Url) -> str | None:
    action = authz.url_declared_action(url.name)
    if action is not None:
        return action
    if url.namespace == "admin":
        return Action.STAFF_ADMIN_SITE
    return authz.view_action(url.callback)


@functools.cache
def _openapi() -> dict[str, Any]:
    """The OpenAPI document, built once per test process (building it takes ~0.5 s; the
    matrix used to rebuild it for each of its ~700 API requests). Callers only read it."""
    from lightway.interfaces.api.v1 import api

    return api.get_openapi_schema()  # type: ignore[no-any-return]


def api_operations() -> list[tuple[str, str, dict[str, Any]]]:
    ops = []
    for path, methods in _openapi()["paths"].items():
        for method, op in methods.items():
            ops.append((method.upper(), path, op))
    return ops


def test_every_url_and_api_operation_declares_an_action() -> None:
    missing = []
    known = {a.value for a in Action}
    api_paths = {path for _, path, _ in api_operations()}
    for url in walk_urls({}):
        if url.namespace == API_NAMESPACE and authz.url_declared_action(url.name) is None:
            # an operation: declared in the OpenAPI document (checked below) - but it must be
            # in the document, or nothing would declare it
            path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", url.route)
            if path not in api_paths:
                missing.append(f"{url.route} ({url.name}): an API route missing from OpenAPI")
            continue
        action = declared_action(url)
        if action is None:
            missing.append(f"/{url.route} ({url.name or 'unnamed'})")
        elif action not in known:
            missing.append(f"/{url.route}: unknown action {action!r}")
    for method, path, op in api_operations():
        action = op.get(authz.OPENAPI_ACTION_KEY)
        if action is None:
            missing.append(f"API {method} {path} ({op.get('operationId')})")
        elif action not in known:
            missing.append(f"API {method} {path}: unknown action {action!r}")
    assert not missing, "no declared action:\n  " + "\n  ".join(missing)


# --- the world: one user per role, and something of every kind for the admin pages ----------


@dataclass
class World:
    users: dict[str, Any]
    tokens: dict[str, str]
    partner_key: tuple[str, str]
    integration_key: tuple[str, str]
    values: dict[str, str]
    objects: dict[str, Any]  # "app_label.model_name" -> an instance
    # role -> the session data one force_login left (see _client)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)


def _planted_token(user_id: int, now) -> str:
    import hashlib

    from lightway.security.models import ApiToken

    raw = f"lw_planted_{uuid.uuid4().hex}"
    ApiToken.objects.create(
        user_id=user_id,
        key_hash=hashlib.sha256(raw.encode()).hexdigest(),
        prefix=raw[:10],
        created_at=now,
    )
    return raw


def _make_world(now) -> World:
    User = get_user_model()
    kyc_limits_seed_defaults(now=now)
    users: dict[str, Any] = {}
    tokens: dict[str, str] = {}
    cust_id, tokens[Role.CUSTOMER] = customer("matrix-customer", now)
    other_id, _ = customer("matrix-other", now)
    users[Role.CUSTOMER] = User.objects.get(pk=cust_id)
    wallet = funded_wallet(cust_id, "UGX", 50_000, now)
    funded_wallet(other_id, "UGX", 0, now)
    for role, realm in ROLE_REALM.items():
        if realm in (Realm.LIGHTWAY, Realm.MTN):
            uid = staff(f"m-{role.replace('_', '-')}", [role], now)
            users[role] = User.objects.get(pk=uid)
            # Staff are never issued bearer credentials (issue 11, finding 9): a token row
            # planted in the database shows that every API operation refuses it.
            tokens[role] = _planted_token(uid, now)
    from lightway.application.partners.keys import partner_key_create

    partner = Partner.objects.create(code="matrix-imto", name="Matrix IMTO", created_at=now)
    client_user = User.objects.create_user("matrix-imto-client")
    profile_create(user_id=client_user.pk, realm=Realm.PARTNER, now=now, partner_id=partner.pk)
    users[Role.PARTNER] = client_user
    key = partner_key_create(partner_id=partner.pk, actor="system:test", now=now)

    from lightway.application.integrations.keys import integration_key_create
    from lightway.security.policy import INTEGRATION_SCOPES

    integration = integration_key_create(
        realm=Realm.MTN,
        name="matrix reporting",
        scopes=INTEGRATION_SCOPES,
        days=1,
        reason="the authorization matrix test",
        actor="system:test",
        now=timezone.now(),  # checked against the real clock when a request is signed
    )
    objects = _admin_objects(now, users, wallet)
    subject = users[Role.CUSTOMER].profile.subject
    # the revoke page is requested with an unknown key id (an administrator's request would
    # otherwise revoke the key the API part of the test signs with)
    values = {"subject": subject, "token": "x", "name": "icon.svg", "id": str(cust_id)}
    return World(users, tokens, key, integration, values, objects)


def _admin_objects(now, users, wallet) -> dict[str, Any]:
    """One instance of every model the admin shows, where one is cheap to make."""
    from django.contrib.auth.models import Group

    from lightway.application.transactions.transfers import TransferRequest, transfer_create
    from lightway.data.ledger.services import hold_place

    Group.objects.create(name="matrix-group")
    other = get_user_model().objects.get(username="matrix-other").wallets.get()
    transfer_create(
        client_id=users[Role.CUSTOMER].pk,
        idempotency_key="matrix",
        request=TransferRequest(wallet.id, other.id, 1_000, "UGX"),
        now=now,
    )
    from datetime import timedelta

    hold_place(account_id=wallet.account_id, amount=1, now=now, expires_at=now + timedelta(days=1))
    objects: dict[str, Any] = {}
    for model in admin.site._registry:
        instance = model._default_manager.order_by("pk").first()
        if instance is not None:
            objects[model._meta.label_lower] = instance
    return objects


# --- one request, and what it means -----------------------------------------------------------


def _client(world: World, role: str) -> Client:
    """A new client with a fresh session signed in as ``role`` (staff: second factor passed).

    Each role is signed in once with ``force_login``; each client then gets a new session
    (its own key, its own row) holding a copy of exactly what that sign-in stored: the same
    thing a ``force_login`` per client gives, without running the sign-in (its signals and
    writes) for each of the ~8,000 requests. The copy is re-taken whenever the sign-in it was
    taken from would no longer hold (a request changed the user's password hash or active
    flag, or removed the staff user's verified device).
    """
    from importlib import import_module

    from django.conf import settings
    from django.http import HttpRequest

    from tests.conftest import VerifiedClient

    client = VerifiedClient()
    if role == ANONYMOUS:
        return client
    data = world.sessions.get(role)
    if data is None or not _sign_in_still_valid(world.users[role], data):
        signer = VerifiedClient()
        signer.force_login(world.users[role])
        data = world.sessions[role] = dict(signer.session.items())
    request = HttpRequest()
    request.session = import_module(settings.SESSION_ENGINE).SessionStore()
    request.session.update(data)
    request.session.create()  # a new session key, saved
    client._set_login_cookies(request)
    return client


def _sign_in_still_valid(user: Any, data: dict[str, Any]) -> bool:
    from django.contrib.auth import HASH_SESSION_KEY
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.models import Device

    fresh = get_user_model().objects.filter(pk=user.pk).first()
    if fresh is None or not fresh.is_active:
        return False
    if data.get(HASH_SESSION_KEY) != fresh.get_session_auth_hash():
        return False
    if DEVICE_ID_SESSION_KEY not in data:
        return True
    device = Device.from_persistent_id(data[DEVICE_ID_SESSION_KEY])
    return device is not None and device.confirmed and device.user_id == user.pk


def _is_login_redirect(response: Any) -> bool:
    location = response.get("Location", "") if response.status_code in (301, 302, 303) else ""
    return location.startswith(LOGIN_PAGES)


def _request(world: World, role: str, path: str, *, admin_page: bool) -> Any:
    client = _client(world, role)  # a fresh, signed-in session for every request
    response = client.get(path)
    if response.status_code == 405 and not admin_page:
        response = _client(world, role).post(path)
    if (
        role != ANONYMOUS
        and response.status_code == 302
        and response["Location"].startswith("/admin/login/")
    ):
        # The admin sends a signed-in user it refuses to its login page, which answers 403.
        response = client.get(response["Location"])
    return response


def _denied(role: str, response: Any, *, also: tuple[int, ...] = ()) -> bool:
    """Anonymous: sent to sign in. Signed in: 403, or sent to a sign-in / second-factor page
    (a customer's session reaching a staff page, say) - either way, nothing is shown."""
    if role == ANONYMOUS:
        return _is_login_redirect(response)
    return response.status_code in (403, *also) or _is_login_redirect(response)


def _allowed(response: Any) -> bool:
    return response.status_code != 403 and not _is_login_redirect(response)


def _roles(role: str) -> frozenset[str]:
    return frozenset() if role == ANONYMOUS else frozenset({role})


# --- admin pages: the Django permission each needs ------------------------------------------

_KINDS = ("changelist", "add", "history", "delete", "change", "password_change", "config", "qrcode")


def _superuser_request() -> Any:
    request = RequestFactory().get("/admin/")
    request.user = SimpleNamespace(
        is_active=True,
        is_staff=True,
        is_superuser=True,
        is_authenticated=True,
        pk=0,
        has_perm=lambda *a, **k: True,
        has_perms=lambda *a, **k: True,
        has_module_perms=lambda *a, **k: True,
    )
    return request


def _admin_expectation(url: Url, role: str, world: World) -> tuple[bool | None, tuple[int, ...]]:
    """(allowed?, extra statuses that also mean denied); None: cannot tell (no object)."""
    roles = _roles(role)
    door = allows(roles, Action.STAFF_ADMIN_SITE)
    short = url.name.split(":", 1)[1]
    if short == "app_list":
        app_label = url.example[0].strip("/").split("/")[1]
        perms = django_permissions(roles)
        return door and any(p.startswith(f"{app_label}.") for p in perms), (404,)
    if short == "autocomplete":
        return False, ()  # without a field that uses it, the page refuses everybody
    for model, model_admin in admin.site._registry.items():
        prefix = f"{model._meta.app_label}_{model._meta.model_name}_"
        if not short.startswith(prefix) or short[len(prefix) :] not in _KINDS:
            continue
        kind = short[len(prefix) :]
        obj = world.objects.get(model._meta.label_lower)
        if not door:
            return False, ()
        if obj is None and kind == "history":
            return None, ()
        perms = django_permissions(roles)
        label, name = model._meta.app_label, model._meta.model_name
        stub = _superuser_request()
        if kind == "add":
            return f"{label}.add_{name}" in perms and model_admin.has_add_permission(stub), ()
        if kind == "delete":
            structural = model_admin.has_delete_permission(stub, obj)
            return f"{label}.delete_{name}" in perms and structural, ()
        if kind == "password_change":
            structural = model_admin.has_change_permission(stub, obj)
            return f"{label}.change_{name}" in perms and structural, ()
        view_or_change = {f"{label}.view_{name}", f"{label}.change_{name}"} & perms
        return bool(view_or_change) and model_admin.has_view_or_change_permission(stub, obj), ()
    return door, ()  # site pages: index, password change, jsi18n, view on site, catch-all


def _object_values(url: Url, world: World) -> dict[str, str]:
    short = url.name.split(":", 1)[1] if ":" in url.name else ""
    for model in admin.site._registry:
        if short.startswith(f"{model._meta.app_label}_{model._meta.model_name}_") or (
            f"/{model._meta.app_label}/{model._meta.model_name}/" in "/" + url.route
        ):
            obj = world.objects.get(model._meta.label_lower)
            pk = str(obj.pk) if obj is not None else "999999"
            return {"object_id": pk, "pk": pk, "id": pk}
    return {}


# --- the API ----------------------------------------------------------------------------------


def _schema_example(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    if "$ref" in schema:
        return _schema_example(components[schema["$ref"].rsplit("/", 1)[1]], components)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return _schema_example(options[0], components)
    if "default" in schema:
        return schema["default"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {k: _schema_example(v, components) for k, v in props.items()}
    if kind == "array":
        return [_schema_example(schema.get("items", {}), components)] * schema.get("minItems", 0)
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), int(schema.get("exclusiveMinimum", 0)) + 1)
    if kind == "number":
        return 1
    if kind == "boolean":
        return False
    fmt = schema.get("format")
    if fmt == "uuid":
        return str(uuid.uuid4())
    if fmt == "date-time":
        return "2026-01-01T00:00:00Z"
    if fmt == "email":
        return "nobody@example.com"
    pattern = schema.get("pattern")
    for candidate in ("UGX", "+256700000001", "x" * max(1, schema.get("minLength", 1))):
        if pattern is None or re.search(pattern, candidate):
            return candidate
    return "x"


def _api_request(world: World, role: str, method: str, path: str, op: dict[str, Any]) -> Any:
    schema = _openapi()  # cached
    components = schema.get("components", {}).get("schemas", {})
    headers: dict[str, str] = {}
    query: dict[str, str] = {}
    for param in op.get("parameters", []):
        value = _schema_example(param.get("schema", {}), components)
        if param["in"] == "path":
            path = path.replace("{" + param["name"] + "}", str(value))
        elif param["in"] == "query" and param.get("required"):
            query[param["name"]] = str(value)
        elif param["in"] == "header" and param.get("required"):
            headers[param["name"]] = (
                f"matrix-{uuid.uuid4()}" if "key" in param["name"].lower() else str(value)
            )
    body = b""
    content = op.get("requestBody", {}).get("content", {}).get("application/json")
    if content:
        body = json.dumps(_schema_example(content["schema"], components)).encode()
    target = path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    if role in (Role.PARTNER, INTEGRATION):
        from lightway.security.signatures import sign_request

        key_id, secret = world.partner_key if role == Role.PARTNER else world.integration_key
        headers.update(
            sign_request(
                key_id=key_id,
                secret=secret,
                method=method,
                target=target,
                body=body,
                timestamp=int(time.time()),
            )
        )
    elif role != ANONYMOUS:
        headers["Authorization"] = f"Bearer {world.tokens[role]}"
    meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
    return Client().generic(method, target, data=body, content_type="application/json", **meta)


def _error_code(response: Any) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return ""


# --- the test ---------------------------------------------------------------------------------


def test_every_role_is_allowed_or_denied_exactly_as_the_matrix_says(now, settings) -> None:
    # /metrics is public to roles but needs its own scrape token: with one configured, a
    # request without it is a 401 (never a role's 403).
    settings.LIGHTWAY_METRICS_TOKEN = "matrix-scrape-token-0123456789"
    world = _make_world(now)
    roles = [ANONYMOUS, *(r.value for r in Role)]
    problems: list[str] = []
    checked = 0
    for url in walk_urls(world.values):
        if url.namespace == API_NAMESPACE and authz.url_declared_action(url.name) is None:
            continue  # operations: below, from the OpenAPI document
        action = declared_action(url)
        if action is None:
            continue  # reported by the test above
        admin_page = url.namespace == "admin"
        if admin_page:
            values = {**world.values, **_object_values(url, world)}
            url = Url(
                url.route, url.name, url.callback, url.namespace, (walk_examples(url, values))
            )
        for path in url.example:
            for role in roles:
                response = _request(world, role, path, admin_page=admin_page)
                checked += 1
                got = f"{response.status_code} {response.get('Location', '')}".strip()
                if action == Action.PUBLIC:
                    if response.status_code == 403:
                        problems.append(f"{path} [{role}] public but got {got}")
                    continue
                if admin_page:
                    expected, also = _admin_expectation(url, role, world)
                else:
                    expected, also = allows(_roles(role), action), ()
                if expected is None:
                    continue
                if expected and not _allowed(response):
                    problems.append(f"{path} [{role}] {action}: should be allowed, got {got}")
                elif not expected and not _denied(role, response, also=also):
                    problems.append(f"{path} [{role}] {action}: should be denied, got {got}")
    for method, path, op in api_operations():
        action = op.get(authz.OPENAPI_ACTION_KEY)
        if action is None:
            continue
        for role in [*roles, INTEGRATION]:
            response = _api_request(world, role, method, path, op)
            checked += 1
            code = _error_code(response)
            got = f"{response.status_code} {code}"
            if action == Action.PUBLIC:
                if response.status_code == 403 and code == "forbidden":
                    problems.append(f"API {method} {path} [{role}] public but got {got}")
                continue
            if role == INTEGRATION:
                from lightway.security.policy import INTEGRATION_SCOPES

                may = integration_allows(INTEGRATION_SCOPES, action)
                if may and response.status_code in (401, 403):
                    problems.append(f"API {method} {path} [{role}] should be allowed, got {got}")
                elif not may and response.status_code not in (401, 403):
                    problems.append(f"API {method} {path} [{role}] should be refused, got {got}")
            elif ROLE_REALM.get(role) in STAFF_REALMS:
                # staff hold no bearer credential whatever their roles allow in the panels
                if response.status_code != 401:
                    problems.append(f"API {method} {path} [{role}] staff token: got {got}")
            elif allows(_roles(role), action):
                if response.status_code in (401, 403):
                    problems.append(f"API {method} {path} [{role}] should be allowed, got {got}")
            elif role == ANONYMOUS:
                if response.status_code != 401:
                    problems.append(f"API {method} {path} [{role}] should be 401, got {got}")
            elif response.status_code not in (401, 403):
                problems.append(f"API {method} {path} [{role}] should be denied, got {got}")
    assert checked > 100
    assert not problems, f"{len(problems)} of {checked} checks failed:\n  " + "\n  ".join(problems)


def walk_examples(url: Url, values: dict[str, str]) -> tuple[str, ...]:
    if "(?P<" in url.route:
        return tuple("/" + e for e in _regex_examples(url.route))
    return tuple("/" + e for e in _route_examples(url.route, values))
