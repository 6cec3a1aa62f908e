"""The notification delivery log (/staff/notifications/, ``notifications.log``): every SMS
and email, newest first, masked, with the SMS provider that took it, its delivery report
and cost; the SMS cost per day; each provider's circuit; reports for unknown message ids
(docs/notifications.md "Reading the delivery log")."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from lightway.application.errors import ValidationFailed
from lightway.application.notifications.deliverylog import delivery_log
from lightway.data.notify.models import Channel, DeliveryStatus
from lightway.interfaces.panels.forms import AccessibleForm
from lightway.interfaces.web.authz import requires
from lightway.security.policy import Action

_INPUT = {"class": "input"}


class LogFilterForm(AccessibleForm):
    channel = forms.ChoiceField(
        required=False,
        choices=[("", "Any"), *Channel.choices],
        widget=forms.Select(attrs=_INPUT),
    )
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any"), *DeliveryStatus.choices],
        widget=forms.Select(attrs=_INPUT),
    )


@requires(Action.NOTIFICATIONS_LOG)
@require_GET
def delivery_log_page(request: HttpRequest) -> HttpResponse:
    form = LogFilterForm(request.GET or None)
    status = 200
    log = None
    if form.is_bound and not form.is_valid():
        status = 400
    else:
        data = form.cleaned_data if form.is_bound else {}
        try:
            log = delivery_log(
                channel=str(data.get("channel") or ""),
                status=str(data.get("status") or ""),
                before=str(request.GET.get("before") or ""),
                today=timezone.now().date(),
            )
        except ValidationFailed as exc:
            form.add_error(None, exc.message)
            status = 400
    query = "&".join(
        f"{name}={request.GET[name]}"
        for name in ("channel", "status")
        if request.GET.get(name) and form.is_bound and not form.errors
    )
    return render(
        request,
        "panels/staff/notifications.html",
        {"form": form, "log": log, "query": query},
        status=status,
    )
