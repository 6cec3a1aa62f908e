"""Retention (/staff/compliance/retention/): the policies in force per data class and
country, the legal holds with the forms to place and release one, and the job's last runs
(docs/retention.md). Compliance officers: ``retention.view`` to see, ``retention.manage``
to place or release a hold (released by another officer than the one who placed it)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from lightway.application.errors import DomainError
from lightway.application.retention.holds import (
    hold_place,
    hold_release,
    holds_active,
    holds_recent_released,
)
from lightway.application.retention.jobs import retention_runs_recent
from lightway.application.retention.policies import policies_in_force
from lightway.interfaces.panels.common import apply_errors
from lightway.interfaces.panels.forms import AccessibleForm
from lightway.interfaces.web.authz import requires
from lightway.security.policy import Action, allows, user_roles

PAGE_URL = "/staff/compliance/retention/"
_INPUT = {"class": "input"}


class HoldPlaceForm(AccessibleForm):
    subject = forms.CharField(
        required=False,
        max_length=40,
        label="Customer (subject reference, sub_…)",
        widget=forms.TextInput(attrs={**_INPUT, "autocomplete": "off"}),
    )
    case_ref = forms.CharField(
        required=False,
        max_length=64,
        label="Case reference",
        widget=forms.TextInput(attrs={**_INPUT, "autocomplete": "off"}),
    )
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={**_INPUT, "rows": 2}))


class HoldReleaseForm(AccessibleForm):
    hold = forms.TypedChoiceField(
        coerce=int, label="Hold", widget=forms.Select(attrs=_INPUT), choices=()
    )
    release_reason = forms.CharField(
        max_length=500,
        label="Why release it",
        widget=forms.TextInput(attrs={**_INPUT, "autocomplete": "off"}),
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        field = self.fields["hold"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [
            (h.pk, f"#{h.pk} {h.case_ref or ''} {h.user.profile.subject if h.user else ''}")
            for h in holds_active()
        ]


def _page(
    request: HttpRequest,
    *,
    place: HoldPlaceForm | None = None,
    release: HoldReleaseForm | None = None,
    status: int = 200,
) -> HttpResponse:
    now = timezone.now()
    context = {
        "policies": policies_in_force(on=now.date()),
        "holds": holds_active(),
        "released": holds_recent_released(),
        "runs": retention_runs_recent(),
        "place": place or HoldPlaceForm(),
        "release": release or HoldReleaseForm(),
        "can_manage": allows(user_roles(request.user), Action.RETENTION_MANAGE),
    }
    return render(request, "panels/staff/retention.html", context, status=status)


@requires(Action.RETENTION_VIEW)
@require_http_methods(["GET"])
def retention_page(request: HttpRequest) -> HttpResponse:
    return _page(request)


@requires(Action.RETENTION_MANAGE)
@require_http_methods(["POST"])
def hold_place_view(request: HttpRequest) -> HttpResponse:
    form = HoldPlaceForm(request.POST)
    if not form.is_valid():
        return _page(request, place=form, status=400)
    data = form.cleaned_data
    try:
        hold = hold_place(
            subject=data["subject"],
            case_ref=data["case_ref"],
            reason=data["reason"],
            placed_by=int(str(request.user.pk)),
            now=timezone.now(),
        )
    except DomainError as exc:
        apply_errors(form, exc, default_field="subject")
        return _page(request, place=form, status=400)
    messages.success(request, f"Legal hold {hold.pk} placed.")
    return HttpResponseRedirect(PAGE_URL)


@requires(Action.RETENTION_MANAGE)
@require_http_methods(["POST"])
def hold_release_view(request: HttpRequest) -> HttpResponse:
    form = HoldReleaseForm(request.POST)
    if not form.is_valid():
        return _page(request, release=form, status=400)
    try:
        hold = hold_release(
            hold_id=form.cleaned_data["hold"],
            released_by=int(str(request.user.pk)),
            reason=form.cleaned_data["release_reason"],
            now=timezone.now(),
        )
    except DomainError as exc:
        apply_errors(form, exc, default_field="release_reason")
        return _page(request, release=form, status=400)
    messages.success(request, f"Legal hold {hold.pk} released.")
    return HttpResponseRedirect(PAGE_URL)
