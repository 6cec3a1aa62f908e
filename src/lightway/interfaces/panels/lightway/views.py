"""Staff and roles (/staff/roles/), integration keys (/staff/integration-keys/), customers
(/staff/customers/). Thin: each view checks
its action (``requires``), reads the form and makes one application call."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lightway.application.audit.access import audit_data_access
from lightway.application.authentication.mfa_reset import (
    mfa_reset_approve,
    mfa_reset_pending,
    mfa_reset_reject,
    mfa_reset_request,
)
from lightway.application.errors import DomainError, NotFound
from lightway.application.identity.pii import customer_get, customer_search, pii_reveal
from lightway.application.integrations.keys import (
    integration_key_create,
    integration_key_list,
    integration_key_revoke,
    max_days,
)
from lightway.application.kyc.tiers import kyc_limits_for, kyc_tier_set
from lightway.application.staff.accounts import (
    role_grant,
    role_revoke,
    staff_create,
    staff_deactivate,
    staff_list,
)
from lightway.interfaces.panels.common import apply_errors
from lightway.interfaces.panels.lightway.backoffice_context import customer_backoffice_context
from lightway.interfaces.panels.lightway.forms import (
    FIELD_LABELS,
    CustomerSearchForm,
    IntegrationKeyCreateForm,
    MfaResetRequestForm,
    RevealForm,
    RoleChangeForm,
    StaffCreateForm,
    StaffDeactivateForm,
    TierForm,
)
from lightway.interfaces.web.authz import requires
from lightway.security.policy import (
    ROLE_REALM,
    Action,
    Role,
    allows,
    user_roles,
    user_roles_clear,
)

ROLES_URL = "/staff/roles/"
ROLE_LABELS = {r.value: r.label for r in Role}


def _actor(request: HttpRequest) -> str:
    return f"staff:{request.user.pk}"


def _actor_id(request: HttpRequest) -> int:
    return int(str(request.user.pk))


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


# --- staff and roles ----------------------------------------------------------------------


def _roles_page(
    request: HttpRequest,
    create_form: StaffCreateForm | None = None,
    status: int = 200,
    reset_form: MfaResetRequestForm | None = None,
) -> HttpResponse:
    """The roles page; with the new-staff form or a member's reset request as submitted (the
    reset's mistakes show beside that member's reason field)."""
    staff = staff_list()
    rows = [
        {
            "member": member,
            "roles": [(r, ROLE_LABELS.get(r, r)) for r in member.roles],
            "grantable": [
                (r, label)
                for r, label in ROLE_LABELS.items()
                if ROLE_REALM.get(r) == member.realm and r not in member.roles
            ],
        }
        for member in staff
    ]
    return _no_store(
        render(
            request,
            "panels/staff/roles.html",
            {
                "rows": rows,
                "create_form": create_form or StaffCreateForm(),
                "resets": mfa_reset_pending(),
                "me": request.user.pk,
                "reset_form": reset_form,
                "reset_for": reset_form.cleaned_data.get("user_id") if reset_form else None,
            },
            status=status,
        )
    )


@requires(Action.STAFF_ROLES)
@require_GET
def roles(request: HttpRequest) -> HttpResponse:
    return _roles_page(request)


@requires(Action.STAFF_ROLES)
@require_POST
def staff_new(request: HttpRequest) -> HttpResponse:
    form = StaffCreateForm(request.POST)
    if not form.is_valid():
        return _roles_page(request, form, status=422)
    data = form.cleaned_data
    try:
        staff_create(
            username=data["username"],
            realm=data["realm"],
            roles=data["roles"],
            actor=_actor(request),
            now=timezone.now(),
            email=data["email"] or None,
            name=data["name"] or None,
        )
    except DomainError as exc:
        apply_errors(form, exc, default_field="username")
        return _roles_page(request, form, status=422)
    messages.success(
        request,
        f"Staff account {data['username']} created. It signs in once a password is set in "
        "the administration site.",
    )
    return HttpResponseRedirect(ROLES_URL)


def _role_change(request: HttpRequest, verb: str) -> HttpResponse:
    form = RoleChangeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a staff member and a role.")
        return HttpResponseRedirect(ROLES_URL)
    user_id, role = form.cleaned_data["user_id"], form.cleaned_data["role"]
    change = role_grant if verb == "grant" else role_revoke
    try:
        changed = change(user_id=user_id, role=role, actor=_actor(request), now=timezone.now())
    except DomainError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(ROLES_URL)
    user_roles_refresh(request)
    label = ROLE_LABELS.get(role, role)
    if not changed:
        messages.info(request, f"Nothing to do: the role {label} was already so.")
    elif verb == "grant":
        messages.success(request, f"Role {label} granted.")
    else:
        messages.success(request, f"Role {label} revoked.")
    return HttpResponseRedirect(ROLES_URL)


def user_roles_refresh(request: HttpRequest) -> None:
    """The signed-in user may have changed their own roles: forget the cached ones."""
    user_roles_clear(request.user)


@requires(Action.STAFF_ROLES)
@require_POST
def role_grant_view(request: HttpRequest) -> HttpResponse:
    return _role_change(request, "grant")


@requires(Action.STAFF_ROLES)
@require_POST
def role_revoke_view(request: HttpRequest) -> HttpResponse:
    return _role_change(request, "revoke")


@requires(Action.STAFF_ROLES)
@require_POST
def staff_deactivate_view(request: HttpRequest) -> HttpResponse:
    form = StaffDeactivateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a staff member.")
        return HttpResponseRedirect(ROLES_URL)
    try:
        changed = staff_deactivate(
            user_id=form.cleaned_data["user_id"], actor=_actor(request), now=timezone.now()
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(ROLES_URL)
    messages.success(request, "Account deactivated." if changed else "Already inactive.")
    return HttpResponseRedirect(ROLES_URL)


# --- second-factor resets (maker-checker) ---------------------------------------------------


@requires(Action.STAFF_ROLES)
@require_POST
def mfa_reset_request_view(request: HttpRequest) -> HttpResponse:
    form = MfaResetRequestForm(request.POST)
    if not form.is_valid():
        if "user_id" in form.errors:  # not a member's card: a forged or stale request
            messages.error(request, "Choose a staff member.")
            return HttpResponseRedirect(ROLES_URL)
        return _roles_page(request, status=400, reset_form=form)
    try:
        mfa_reset_request(
            actor_id=_actor_id(request),
            target_user_id=form.cleaned_data["user_id"],
            reason=form.cleaned_data["reason"],
            now=timezone.now(),
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(ROLES_URL)
    messages.success(
        request, "Reset requested. Another administrator must approve it before it takes effect."
    )
    return HttpResponseRedirect(ROLES_URL)


@requires(Action.STAFF_ROLES)
@require_POST
def mfa_reset_approve_view(request: HttpRequest, request_id: int) -> HttpResponse:
    try:
        mfa_reset_approve(actor_id=_actor_id(request), request_id=request_id, now=timezone.now())
    except DomainError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(ROLES_URL)
    messages.success(
        request, "Second factor reset. The staff member enrols a new one at the next sign-in."
    )
    return HttpResponseRedirect(ROLES_URL)


@requires(Action.STAFF_ROLES)
@require_POST
def mfa_reset_reject_view(request: HttpRequest, request_id: int) -> HttpResponse:
    try:
        mfa_reset_reject(actor_id=_actor_id(request), request_id=request_id, now=timezone.now())
    except DomainError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(ROLES_URL)
    messages.success(request, "Reset request rejected.")
    return HttpResponseRedirect(ROLES_URL)


# --- integration keys (machine credentials of the reporting systems) ------------------------

INTEGRATION_KEYS_URL = "/staff/integration-keys/"


def _integration_keys_page(
    request: HttpRequest,
    form: IntegrationKeyCreateForm | None = None,
    *,
    created: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    now = timezone.now()
    keys = [(key, key.state(now)) for key in integration_key_list()]
    context = {
        "keys": keys,
        "form": form or IntegrationKeyCreateForm(initial={"days": min(90, max_days())}),
        "created": created,
        "max_days": max_days(),
    }
    return _no_store(render(request, "panels/staff/integration_keys.html", context, status=status))


@requires(Action.INTEGRATION_KEYS_MANAGE)
@require_GET
def integration_keys(request: HttpRequest) -> HttpResponse:
    return _integration_keys_page(request)


@requires(Action.INTEGRATION_KEYS_MANAGE)
@require_POST
def integration_key_new(request: HttpRequest) -> HttpResponse:
    """The secret is on this response only (no-store; never in the session or a redirect)."""
    form = IntegrationKeyCreateForm(request.POST)
    if not form.is_valid():
        return _integration_keys_page(request, form, status=422)
    data = form.cleaned_data
    try:
        key_id, secret = integration_key_create(
            realm=data["realm"],
            name=data["name"],
            scopes=data["scopes"],
            days=data["days"],
            reason=data["reason"],
            actor=_actor(request),
            now=timezone.now(),
        )
    except DomainError as exc:
        apply_errors(form, exc, default_field="name")
        return _integration_keys_page(request, form, status=422)
    return _integration_keys_page(
        request, created={"key_id": key_id, "secret": secret, "name": data["name"]}
    )


@requires(Action.INTEGRATION_KEYS_MANAGE)
@require_POST
def integration_key_revoke_view(request: HttpRequest, key_id: str) -> HttpResponse:
    try:
        revoked = integration_key_revoke(key_id=key_id, actor=_actor(request), now=timezone.now())
    except DomainError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(INTEGRATION_KEYS_URL)
    messages.success(request, "Key revoked." if revoked else "The key was already revoked.")
    return HttpResponseRedirect(INTEGRATION_KEYS_URL)


# --- customers ----------------------------------------------------------------------------


@requires(Action.CUSTOMERS_VIEW)
@require_http_methods(["GET", "POST"])
def customers(request: HttpRequest) -> HttpResponse:
    """Search by POST only: a phone number or email in the URL would end up in browser
    history and in proxy and access logs. A query string searches nothing."""
    form = CustomerSearchForm(request.POST if request.method == "POST" else None)
    results = None
    status = 200
    if form.is_bound and not form.is_valid():
        status = 400
    elif form.is_bound and form.cleaned_data["q"]:
        results = customer_search(
            query=form.cleaned_data["q"], country=form.cleaned_data["country"] or ""
        )
        # One record per search; the search term itself is personal data and stays out.
        audit_data_access(
            actor=_actor(request),
            kind="search",
            what="customers.search",
            rows=len(results),
            details={"subjects": [c.subject for c in results[:20]]},
            now=timezone.now(),
        )
    return _no_store(
        render(
            request,
            "panels/staff/customers.html",
            {"form": form, "results": results},
            status=status,
        )
    )


def _customer_page(
    request: HttpRequest,
    subject: str,
    *,
    reveal_form: RevealForm | None = None,
    tier_form: TierForm | None = None,
    revealed: dict[str, str] | None = None,
    status: int = 200,
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    try:
        customer = customer_get(subject=subject)
    except NotFound:
        return _no_store(
            render(request, "panels/staff/customer.html", {"missing": subject}, status=404)
        )
    roles = user_roles(request.user)
    context: dict[str, Any] = {
        "customer": customer,
        "fields": [
            (name, label, customer.masked.get(name, "")) for name, label in FIELD_LABELS.items()
        ],
        "limits": kyc_limits_for(user_id=customer.user_id, now=timezone.now()),
        "can_reveal": allows(roles, Action.PII_REVEAL),
        "can_set_tier": allows(roles, Action.KYC_REVIEW),
        "reveal_form": reveal_form or RevealForm(),
        "tier_form": tier_form or TierForm(initial={"tier": customer.kyc_tier}),
        "revealed": [(FIELD_LABELS[k], v) for k, v in (revealed or {}).items()],
        **customer_backoffice_context(request, customer, extra),
    }
    return _no_store(render(request, "panels/staff/customer.html", context, status=status))


@requires(Action.CUSTOMERS_VIEW)
@require_GET
def customer(request: HttpRequest, subject: str) -> HttpResponse:
    response = _customer_page(request, subject)
    if response.status_code == 200:
        audit_data_access(
            actor=_actor(request),
            kind="view",
            what="customer",
            rows=1,
            object_type="identity.profile",
            object_id=subject,
            now=timezone.now(),
        )
    return response


@requires(Action.PII_REVEAL)
@require_POST
def customer_reveal(request: HttpRequest, subject: str) -> HttpResponse:
    """Clear values on this response only (never stored in the session, never cached)."""
    form = RevealForm(request.POST)
    if not form.is_valid():
        return _customer_page(request, subject, reveal_form=form, status=422)
    try:
        values = pii_reveal(
            subject=subject,
            fields=form.cleaned_data["fields_wanted"],
            reason=form.cleaned_data["reason"],
            actor=_actor(request),
            now=timezone.now(),
        )
    except DomainError as exc:
        apply_errors(form, exc, default_field="reason")
        return _customer_page(request, subject, reveal_form=form, status=422)
    return _customer_page(request, subject, revealed=values)


@requires(Action.KYC_REVIEW)
@require_POST
def customer_tier(request: HttpRequest, subject: str) -> HttpResponse:
    form = TierForm(request.POST)
    if not form.is_valid():
        return _customer_page(request, subject, tier_form=form, status=422)
    try:
        target = customer_get(subject=subject)
        changed = kyc_tier_set(
            user_id=target.user_id,
            tier=form.cleaned_data["tier"],
            actor=_actor(request),
            reason=form.cleaned_data["reason"],
            now=timezone.now(),
        )
    except DomainError as exc:
        apply_errors(form, exc, default_field="reason")
        return _customer_page(request, subject, tier_form=form, status=422)
    messages.success(request, "KYC tier changed." if changed else "The tier was already so.")
    return HttpResponseRedirect(f"/staff/customers/{subject}/")
