"""The LightWay staff home dashboard (``/staff/``) and the MTN monitoring portal (``/mtn/``).

Thin views: each reads the viewer's roles, makes one application call
(``application.analytics.dashboard``, ``application.momo.traffic``) and renders. The live
part of each page is a fragment (``/staff/live/``, ``/mtn/live/``) that the page fetches
again every 10 s with HTMX (``hx-get`` + ``hx-trigger="every 10s"``); the polling sends
``X-Lightway-Poll: 1`` so it does not count as activity for the idle timeout.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET

from lightway.application.analytics.dashboard import Dashboard, mtn_dashboard, staff_dashboard
from lightway.application.authentication.login import user_realm
from lightway.application.momo.traffic import (
    KIND_CHOICES,
    STATUS_CHOICES,
    TrafficFilter,
    momo_traffic,
    traffic_cursor_parse,
)
from lightway.data.identity.models import Realm
from lightway.data.ledger.models import CURRENCY_CHOICES
from lightway.interfaces.panels.access import requires
from lightway.interfaces.panels.chart_config import bar_chart, line_chart
from lightway.interfaces.panels.common import now
from lightway.interfaces.panels.middleware import idle_limit_seconds
from lightway.interfaces.panels.momo_staff import DateRangeFilterForm, _input
from lightway.security.policy import Action, user_roles


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def _charts(board: Dashboard) -> dict[str, Any]:
    """The Chart.js configurations of a dashboard (their figures are tables on the page)."""
    charts: dict[str, Any] = {}
    if board.transfers is not None:
        series = board.transfers.series
        charts["volume"] = line_chart(
            series.labels,
            {
                "succeeded": ("Succeeded", series.values["succeeded"]),
                "failed": ("Failed", series.values["failed"]),
            },
        )
        kinds = board.transfers.kinds
        charts["kinds"] = bar_chart(
            [k.label for k in kinds],
            {
                "succeeded": ("Succeeded", [k.succeeded for k in kinds]),
                "failed": ("Failed", [k.failed for k in kinds]),
            },
            horizontal=True,
        )
    if board.provider is not None:
        series = board.provider.series
        charts["momo"] = line_chart(
            series.labels,
            {
                "created": ("Created", series.values["created"]),
                "successful": ("Successful", series.values["successful"]),
                "failed": ("Failed", series.values["failed"]),
            },
        )
        reasons = board.provider.reasons[:8]
        charts["reasons"] = bar_chart(
            [f"{r.operation} · {r.reason}" for r in reasons],
            {"failed": ("Failures", [r.count for r in reasons])},
            horizontal=True,
        )
    latency = [row for row in board.momo_latency if row.operation != "all"][:8]
    if latency:
        charts["latency"] = bar_chart(
            [row.operation for row in latency],
            {
                "p50": ("p50 (ms)", [round(row.p50_ms or 0) for row in latency]),
                "p95": ("p95 (ms)", [round(row.p95_ms or 0) for row in latency]),
                "p99": ("p99 (ms)", [round(row.p99_ms or 0) for row in latency]),
            },
            stacked=False,
        )
    if board.queue is not None and board.queue.series.starts:
        series = board.queue.series
        charts["queue"] = line_chart(
            series.labels,
            {
                "waiting": ("Jobs waiting", series.values["waiting"]),
                "lag_s": ("Oldest job's wait (s)", series.values["lag_s"]),
            },
        )
    return charts


def _staff_context(request: HttpRequest) -> dict[str, Any]:
    board = staff_dashboard(roles=user_roles(request.user), now=now())
    return {"board": board, "charts": _charts(board), "live_url": "/staff/live/"}


@requires(Action.STAFF_PANEL)
@require_GET
def staff_home(request: HttpRequest) -> HttpResponse:
    if user_realm(request.user) == Realm.MTN:
        return HttpResponseRedirect("/mtn/")
    context = _staff_context(request)
    context["idle_minutes"] = max(1, idle_limit_seconds(Realm.LIGHTWAY) // 60)
    return _no_store(render(request, "panels/staff/home.html", context))


@requires(Action.STAFF_PANEL)
@require_GET
def staff_live(request: HttpRequest) -> HttpResponse:
    """The dashboard's live part alone (HTMX polls it)."""
    if user_realm(request.user) == Realm.MTN:
        return HttpResponseRedirect("/mtn/live/")
    return _no_store(render(request, "panels/staff/_dashboard.html", _staff_context(request)))


# --- the MTN portal ------------------------------------------------------------------------------


class TrafficFilterForm(DateRangeFilterForm):
    q = forms.CharField(
        label="Reference",
        help_text="Transfer id or X-Reference-Id (or their first 8 characters), external id "
        "or MoMo's financial transaction id",
        max_length=64,
        required=False,
        widget=forms.TextInput(attrs=_input(autocomplete="off", inputmode="search")),
    )
    kind = forms.ChoiceField(
        choices=[("", "Any kind"), *KIND_CHOICES],
        required=False,
        widget=forms.Select(attrs=_input()),
    )
    status = forms.ChoiceField(
        choices=[("", "Any status"), *STATUS_CHOICES],
        required=False,
        widget=forms.Select(attrs=_input()),
    )
    currency = forms.ChoiceField(
        choices=[("", "Any currency"), *CURRENCY_CHOICES],
        required=False,
        widget=forms.Select(attrs=_input()),
    )
    before = forms.CharField(max_length=60, required=False, widget=forms.HiddenInput)

    def clean_before(self) -> str:
        value = str(self.cleaned_data.get("before") or "")
        if value and traffic_cursor_parse(value) is None:
            raise forms.ValidationError("This page link is not valid: start from the newest.")
        return value


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("before", None)
    return query.urlencode()


def _mtn_context(request: HttpRequest) -> dict[str, Any]:
    board = mtn_dashboard(roles=user_roles(request.user), now=now())
    return {"board": board, "charts": _charts(board), "live_url": "/mtn/live/"}


@requires(Action.TRANSACTIONS_VIEW_MOMO)
@require_GET
def mtn_home(request: HttpRequest) -> HttpResponse:
    form = TrafficFilterForm(request.GET or None)
    status, page = 200, None
    if form.is_bound and not form.is_valid():
        status = 400
    else:
        data = form.cleaned_data if form.is_bound else {}
        page = momo_traffic(
            roles=user_roles(request.user),
            user_id=int(request.user.pk or 0),
            filters=TrafficFilter(
                kind=data.get("kind") or "",
                status=data.get("status") or "",
                currency=data.get("currency") or "",
                date_from=data.get("date_from"),
                date_to=data.get("date_to"),
                q=data.get("q") or "",
            ),
            before=data.get("before") or "",
        )
    context = _mtn_context(request)
    context.update({"form": form, "page": page, "query": _query_without_page(request)})
    return _no_store(render(request, "panels/staff/mtn.html", context, status=status))


@requires(Action.TRANSACTIONS_VIEW_MOMO)
@require_GET
def mtn_live(request: HttpRequest) -> HttpResponse:
    """The MTN portal's live figures alone (HTMX polls them)."""
    return _no_store(render(request, "panels/staff/_mtn_dashboard.html", _mtn_context(request)))
