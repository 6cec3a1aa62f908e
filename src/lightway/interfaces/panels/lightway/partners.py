"""Partner pages (/staff/partners/): the list, onboarding, a partner's page (company,
currencies, prefund balances, API keys, webhook configuration and delivery log) and its
actions. Thin: each view checks its action (``requires``), reads the form and makes one
application call. Secrets (a new webhook secret, a new API key) are shown on the response
that made them only (no-store, never in the session or a redirect)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lightway.application.errors import DomainError, NotFound
from lightway.application.partners.account import partner_balances
from lightway.application.partners.keys import (
    partner_key_create,
    partner_key_list,
    partner_key_revoke,
)
from lightway.application.partners.onboarding import (
    ContactIn,
    PartnerDetails,
    PartnerView,
    partner_contact_add,
    partner_contact_remove,
    partner_details_of,
    partner_get,
    partner_list,
    partner_onboard,
    partner_status_set,
    partner_update,
)
from lightway.application.partners.webhooks import (
    COUNT_CAP,
    partner_webhook_counts,
    partner_webhook_keys,
    partner_webhook_log,
    partner_webhook_redeliver,
    partner_webhook_secret_rotate,
    partner_webhooks_redeliver_dead,
)
from lightway.interfaces.panels.common import apply_errors
from lightway.interfaces.panels.lightway.forms import (
    ContactForm,
    PartnerForm,
    PartnerOnboardForm,
    PartnerStatusForm,
    RedeliverDeadForm,
    RedeliverForm,
    WebhookRotateForm,
)
from lightway.interfaces.web.authz import requires
from lightway.security.policy import Action, allows, user_roles

PARTNERS_URL = "/staff/partners/"
LOG_PAGE = 50


def _actor(request: HttpRequest) -> str:
    return f"staff:{request.user.pk}"


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def _partner(code: str) -> PartnerView | None:
    try:
        return partner_get(code=code)
    except NotFound:
        return None


def _not_found(request: HttpRequest) -> HttpResponse:
    return render(request, "panels/staff/partners/missing.html", status=404)


def _details(data: dict[str, Any], contacts: tuple[ContactIn, ...] = ()) -> PartnerDetails:
    return PartnerDetails(
        code=data.get("code") or "",
        name=data["name"],
        legal_name=data["legal_name"],
        registration_number=data["registration_number"],
        country=data["country"],
        address=data["address"],
        markets=tuple(data["markets"]),
        currencies=tuple(data["currencies"]),
        webhook_url=data.get("webhook_url") or "",
        contacts=contacts,
    )


def _contact(data: dict[str, Any]) -> ContactIn:
    return ContactIn(
        role=data["contact_role"],
        name=data["contact_name"],
        email=data["contact_email"],
        phone=data.get("contact_phone") or "",
    )


def _errors_to_form(form: Any, exc: DomainError) -> None:
    """Domain field names to form field names (``contacts.0.name`` → ``contact_name``)."""
    errors = exc.details.get("errors")
    if isinstance(errors, dict):
        mapped = {}
        for key, message in errors.items():
            name = str(key)
            if name.startswith("contacts."):
                name = "contact_" + name.rsplit(".", 1)[-1]
            mapped[name] = message
        exc.details["errors"] = mapped
    apply_errors(form, exc, default_field="code")


# --- list and onboarding ---------------------------------------------------------------------


@requires(Action.PARTNERS_VIEW)
@require_GET
def partners(request: HttpRequest) -> HttpResponse:
    can_manage = allows(user_roles(request.user), Action.PARTNERS_MANAGE)
    return render(
        request,
        "panels/staff/partners/list.html",
        {"partners": partner_list(), "can_manage": can_manage},
    )


@requires(Action.PARTNERS_MANAGE)
@require_http_methods(["GET", "POST"])
def partner_new(request: HttpRequest) -> HttpResponse:
    form = PartnerOnboardForm(request.POST if request.method == "POST" else None)
    if request.method == "GET":
        return render(request, "panels/staff/partners/new.html", {"form": form})
    if not form.is_valid():
        return render(request, "panels/staff/partners/new.html", {"form": form}, status=422)
    data = form.cleaned_data
    try:
        result = partner_onboard(
            details=_details(data, (_contact(data),)),
            actor=_actor(request),
            now=timezone.now(),
        )
    except DomainError as exc:
        _errors_to_form(form, exc)
        return render(request, "panels/staff/partners/new.html", {"form": form}, status=422)
    created = (
        {"key_id": result.webhook_key_id or "", "secret": result.webhook_secret}
        if result.webhook_secret
        else None
    )
    messages.success(request, f"Partner {result.code} onboarded.")
    return _detail_page(request, result.code, webhook_secret=created)


# --- a partner's page -------------------------------------------------------------------------


def _detail_page(
    request: HttpRequest,
    code: str,
    *,
    webhook_secret: dict[str, str] | None = None,
    api_secret: dict[str, str] | None = None,
    forms: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    partner = _partner(code)
    if partner is None:
        return _not_found(request)
    roles = user_roles(request.user)
    log_status = request.GET.get("log") if request.GET.get("log") in ("dead",) else None
    before = request.GET.get("before", "")
    now = timezone.now()
    context = {
        "partner": partner,
        "balances": partner_balances(partner_id=partner.id),
        "api_keys": [(k, k.live(now)) for k in partner_key_list(partner_id=partner.id)],
        "webhook_keys": [(k, k.live(now)) for k in partner_webhook_keys(partner_id=partner.id)],
        "counts": partner_webhook_counts(partner_id=partner.id),
        "count_cap": COUNT_CAP,
        "log": partner_webhook_log(
            partner_id=partner.id,
            status=log_status,
            before=int(before) if before.isdigit() and len(before) < 19 else None,
            limit=LOG_PAGE,
        ),
        "log_status": log_status or "",
        "log_page": LOG_PAGE,
        "webhook_secret": webhook_secret,
        "api_secret": api_secret,
        "can_manage": allows(roles, Action.PARTNERS_MANAGE),
        "can_redeliver": allows(roles, Action.PARTNER_WEBHOOKS_REDELIVER),
        "status_form": PartnerStatusForm(),
        "contact_form": ContactForm(),
        "rotate_form": WebhookRotateForm(initial={"overlap_hours": 24}),
        "redeliver_form": RedeliverForm(),
        "redeliver_dead_form": RedeliverDeadForm(),
        **(forms or {}),
    }
    return _no_store(render(request, "panels/staff/partners/detail.html", context, status=status))


@requires(Action.PARTNERS_VIEW)
@require_GET
def partner_detail(request: HttpRequest, code: str) -> HttpResponse:
    return _detail_page(request, code)


@requires(Action.PARTNERS_MANAGE)
@require_http_methods(["GET", "POST"])
def partner_edit(request: HttpRequest, code: str) -> HttpResponse:
    partner = _partner(code)
    if partner is None:
        return _not_found(request)
    if request.method == "GET":
        details = partner_details_of(partner_id=partner.id)
        form = PartnerForm(
            initial={
                "code": details.code,
                "name": details.name,
                "legal_name": details.legal_name,
                "registration_number": details.registration_number,
                "country": details.country,
                "address": details.address,
                "markets": list(details.markets),
                "currencies": list(details.currencies),
                "webhook_url": details.webhook_url,
            }
        )
        return render(
            request, "panels/staff/partners/edit.html", {"form": form, "partner": partner}
        )
    post = request.POST.copy()
    post["code"] = partner.code  # fixed
    form = PartnerForm(post)
    if not form.is_valid():
        context = {"form": form, "partner": partner}
        return render(request, "panels/staff/partners/edit.html", context, status=422)
    try:
        result = partner_update(
            partner_id=partner.id,
            details=_details(form.cleaned_data),
            actor=_actor(request),
            now=timezone.now(),
        )
    except DomainError as exc:
        _errors_to_form(form, exc)
        context = {"form": form, "partner": partner}
        return render(request, "panels/staff/partners/edit.html", context, status=422)
    messages.success(request, "Partner details saved.")
    if result.webhook_secret:
        created = {"key_id": result.webhook_key_id or "", "secret": result.webhook_secret}
        return _detail_page(request, code, webhook_secret=created)
    return HttpResponseRedirect(f"{PARTNERS_URL}{code}/")


def _post_action(
    request: HttpRequest, code: str, form: Any, form_name: str, run: Any
) -> HttpResponse:
    """Validate ``form``, make the one application call ``run(partner, data)`` and go back
    to the partner's page (with the form's errors on it when refused)."""
    partner = _partner(code)
    if partner is None:
        return _not_found(request)
    if not form.is_valid():
        return _detail_page(request, code, forms={form_name: form}, status=422)
    try:
        message = run(partner, form.cleaned_data)
    except DomainError as exc:
        _errors_to_form(form, exc)
        return _detail_page(request, code, forms={form_name: form}, status=422)
    if isinstance(message, HttpResponse):
        return message
    messages.success(request, message)
    return HttpResponseRedirect(f"{PARTNERS_URL}{code}/")


@requires(Action.PARTNERS_MANAGE)
@require_POST
def partner_status(request: HttpRequest, code: str) -> HttpResponse:
    def run(partner: PartnerView, data: dict[str, Any]) -> str:
        partner_status_set(
            partner_id=partner.id,
            status=data["status"],
            reason=data["reason"],
            actor=_actor(request),
            now=timezone.now(),
        )
        return f"The partner is now {data['status']}."

    return _post_action(request, code, PartnerStatusForm(request.POST), "status_form", run)


@requires(Action.PARTNERS_MANAGE)
@require_POST
def partner_contact_new(request: HttpRequest, code: str) -> HttpResponse:
    def run(partner: PartnerView, data: dict[str, Any]) -> str:
        partner_contact_add(
            partner_id=partner.id, contact=_contact(data), actor=_actor(request), now=timezone.now()
        )
        return "Contact added."

    return _post_action(request, code, ContactForm(request.POST), "contact_form", run)


@requires(Action.PARTNERS_MANAGE)
@require_POST
def partner_contact_delete(request: HttpRequest, code: str, ref: str) -> HttpResponse:
    partner = _partner(code)
    if partner is None:
        return _not_found(request)
    try:
        partner_contact_remove(
            partner_id=partner.id, ref=ref, actor=_actor(request), now=timezone.now()
        )
        messages.success(request, "Contact removed.")
    except DomainError as exc:
        messages.error(request, exc.message)
    return HttpResponseRedirect(f"{PARTNERS_URL}{code}/")


@requires(Action.PARTNERS_MANAGE)
@require_POST
def partner_webhook_rotate(request: HttpRequest, code: str) -> HttpResponse:
    def run(partner: PartnerView, data: dict[str, Any]) -> HttpResponse:
        key_id, secret = partner_webhook_secret_rotate(
            partner_id=partner.id,
            overlap_seconds=int(data["overlap_hours"]) * 3600,
            actor=_actor(request),
            now=timezone.now(),
        )
        return _detail_page(request, code, webhook_secret={"key_id": key_id, "secret": secret})

    return _post_action(request, code, WebhookRotateForm(request.POST), "rotate_form", run)


@requires(Action.PARTNERS_MANAGE)
@require_POST
def partner_api_key_new(request: HttpRequest, code: str) -> HttpResponse:
    partner = _partner(code)
    if partner is None:
        return _not_found(request)
    try:
        key_id, secret = partner_key_create(
            partner_id=partner.id, actor=_actor(request), now=timezone.now()
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(f"{PARTNERS_URL}{code}/")
    return _detail_page(request, code, api_secret={"key_id": key_id, "secret": secret})


@requires(Action.PARTNERS_MANAGE)
@require_POST
def partner_api_key_revoke(request: HttpRequest, code: str, key_id: str) -> HttpResponse:
    partner = _partner(code)
    if partner is None:
        return _not_found(request)
    if key_id not in {k.key_id for k in partner_key_list(partner_id=partner.id)}:
        return _not_found(request)
    try:
        revoked = partner_key_revoke(key_id=key_id, actor=_actor(request), now=timezone.now())
        messages.success(request, "API key revoked." if revoked else "It was already revoked.")
    except DomainError as exc:
        messages.error(request, exc.message)
    return HttpResponseRedirect(f"{PARTNERS_URL}{code}/")


@requires(Action.PARTNER_WEBHOOKS_REDELIVER)
@require_POST
def partner_redeliver(request: HttpRequest, code: str) -> HttpResponse:
    def run(partner: PartnerView, data: dict[str, Any]) -> str:
        delivery = partner_webhook_redeliver(
            partner_id=partner.id,
            event_id=str(data["event_id"]),
            reason=data["reason"],
            actor=_actor(request),
            now=timezone.now(),
        )
        return f"Event queued for redelivery (delivery {delivery})."

    return _post_action(request, code, RedeliverForm(request.POST), "redeliver_form", run)


@requires(Action.PARTNER_WEBHOOKS_REDELIVER)
@require_POST
def partner_redeliver_dead(request: HttpRequest, code: str) -> HttpResponse:
    def run(partner: PartnerView, data: dict[str, Any]) -> str:
        count = partner_webhooks_redeliver_dead(
            partner_id=partner.id, reason=data["reason"], actor=_actor(request), now=timezone.now()
        )
        return f"{count} dead-lettered event(s) queued for redelivery."

    return _post_action(request, code, RedeliverDeadForm(request.POST), "redeliver_dead_form", run)
