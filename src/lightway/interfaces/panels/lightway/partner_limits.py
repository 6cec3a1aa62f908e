"""Partners' remittance limits (/staff/partner-limits/): the list of every partner's limits
per currency and a form to set one (enables the currency for the partner). Finance staff
(``partner_limits.manage``); every change is audited by ``partner_limit_set``."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from lightway.application.errors import DomainError
from lightway.application.remittances.limits import MAX_LIMIT, partner_limit_set
from lightway.data.identity.models import Partner
from lightway.data.money import CURRENCY_CODES
from lightway.data.remittances.selectors import partner_limits
from lightway.interfaces.panels.common import apply_errors
from lightway.interfaces.panels.forms import AccessibleForm
from lightway.interfaces.web.authz import requires
from lightway.security.policy import Action

PAGE_URL = "/staff/partner-limits/"
_AMOUNT_ERRORS = {
    "min_value": f"Give a whole number of minor units from 0 to {MAX_LIMIT}.",
    "max_value": f"Give a whole number of minor units from 0 to {MAX_LIMIT}.",
    "invalid": f"Give a whole number of minor units from 0 to {MAX_LIMIT}.",
}


_INPUT = {"class": "input"}


def _amount() -> forms.NumberInput:
    return forms.NumberInput(attrs={**_INPUT, "inputmode": "numeric"})


class PartnerLimitForm(AccessibleForm):
    partner = forms.ModelChoiceField(
        queryset=Partner.objects.order_by("code"),
        to_field_name="pk",
        widget=forms.Select(attrs=_INPUT),
    )
    currency = forms.ChoiceField(
        choices=[(c, c) for c in CURRENCY_CODES], widget=forms.Select(attrs=_INPUT)
    )
    per_transaction_max = forms.IntegerField(
        min_value=0,
        max_value=MAX_LIMIT,
        label="Per transaction (minor units)",
        widget=_amount(),
        error_messages=_AMOUNT_ERRORS,
    )
    daily_max = forms.IntegerField(
        min_value=0,
        max_value=MAX_LIMIT,
        label="Per UTC day (minor units)",
        widget=_amount(),
        error_messages=_AMOUNT_ERRORS,
    )
    outstanding_max = forms.IntegerField(
        min_value=0,
        max_value=MAX_LIMIT,
        label="Reserved at once (minor units, fees included)",
        widget=_amount(),
        error_messages=_AMOUNT_ERRORS,
    )


def _page(
    request: HttpRequest, form: PartnerLimitForm | None = None, status: int = 200
) -> HttpResponse:
    context = {"limits": partner_limits(), "form": form or PartnerLimitForm()}
    return render(request, "panels/staff/partner_limits.html", context, status=status)


@requires(Action.PARTNER_LIMITS_MANAGE)
@require_http_methods(["GET", "POST"])
def partner_limits_page(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request)
    form = PartnerLimitForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    data = form.cleaned_data
    try:
        partner_limit_set(
            partner_id=data["partner"].pk,
            currency_code=data["currency"],
            per_transaction_max=data["per_transaction_max"],
            daily_max=data["daily_max"],
            outstanding_max=data["outstanding_max"],
            actor=f"staff:{request.user.pk}",
            now=timezone.now(),
        )
    except DomainError as exc:
        apply_errors(form, exc, default_field="per_transaction_max")
        return _page(request, form, status=400)
    messages.success(request, f"Limits of {data['partner'].code} in {data['currency']} saved.")
    return HttpResponseRedirect(PAGE_URL)
