"""MoMo operations pages of the staff panels (LightWay ``/staff/momo/...`` and MTN
``/mtn/momo/...``): requests (list, detail), float balances and thresholds, analytics.

Thin: each view declares its action, reads a form and makes one application call. The same
views serve both panels; a member of the other realm is sent to their own panel's page.
Personal data is always masked here (``lightway.application.momo.browse``).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from lightway.application.authentication.login import user_realm
from lightway.application.errors import DomainError, NotFound
from lightway.application.momo import analytics as momo_analytics_app
from lightway.application.momo.browse import (
    OPERATION_CHOICES,
    PRODUCT_CHOICES,
    STATUS_CHOICES,
    RequestFilter,
    momo_request_counts,
    momo_request_detail,
    momo_requests,
    request_cursor_parse,
)
from lightway.application.momo.floats import (
    PRODUCTS,
    FloatAccount,
    float_accounts,
    float_check_enqueue,
    float_markets,
    float_threshold_set,
)
from lightway.data.identity.models import Realm
from lightway.data.money import Money
from lightway.interfaces.panels.chart_config import bar_chart, line_chart
from lightway.interfaces.panels.common import apply_errors, now
from lightway.interfaces.panels.forms import AccessibleForm
from lightway.interfaces.web.authz import requires
from lightway.security.policy import Action, allows, user_roles

FLOAT_HOURS = 24


def _input(**extra: str) -> dict[str, str]:
    return {"class": "input", **extra}


def _actor(request: HttpRequest) -> str:
    return f"staff:{request.user.pk}"


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def _panel(request: HttpRequest) -> str:
    """ "/mtn" or "/staff": the URL prefix of the panel this request is in."""
    return "/mtn" if request.path.startswith("/mtn/") else "/staff"


def _other_panel(request: HttpRequest) -> HttpResponse | None:
    """MTN staff belong on /mtn/..., LightWay staff on /staff/...: send them there."""
    on_mtn = request.path.startswith("/mtn/")
    is_mtn = user_realm(request.user) == Realm.MTN
    if on_mtn == is_mtn:
        return None
    target = ("/staff/" if on_mtn else "/mtn/") + request.path.split("/", 2)[2]
    query = request.META.get("QUERY_STRING", "")
    return HttpResponseRedirect(target + (f"?{query}" if query else ""))


def _can(request: HttpRequest, action: str) -> bool:
    return allows(user_roles(request.user), action)


# --- requests ------------------------------------------------------------------------------------


class DateRangeFilterForm(AccessibleForm):
    """From and to (UTC dates) of a list's filters; an end before the start is refused
    beside the field. The MoMo request list and the MTN traffic list share it."""

    date_from = forms.DateField(
        label="From (UTC)",
        required=False,
        widget=forms.DateInput(attrs=_input(type="date"), format="%Y-%m-%d"),
        error_messages={"invalid": "Enter a date as YYYY-MM-DD."},
    )
    date_to = forms.DateField(
        label="To (UTC)",
        required=False,
        widget=forms.DateInput(attrs=_input(type="date"), format="%Y-%m-%d"),
        error_messages={"invalid": "Enter a date as YYYY-MM-DD."},
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if isinstance(start, date) and isinstance(end, date) and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return data


class RequestFilterForm(DateRangeFilterForm):
    q = forms.CharField(
        label="Reference",
        help_text="X-Reference-Id, transfer id (or their first 8 characters), external id "
        "or MoMo's financial transaction id",
        max_length=64,
        required=False,
        widget=forms.TextInput(attrs=_input(autocomplete="off", inputmode="search")),
    )
    operation = forms.ChoiceField(
        choices=[("", "Any operation"), *OPERATION_CHOICES],
        required=False,
        widget=forms.Select(attrs=_input()),
    )
    product = forms.ChoiceField(
        choices=[("", "Any product"), *PRODUCT_CHOICES],
        required=False,
        widget=forms.Select(attrs=_input()),
    )
    status = forms.ChoiceField(
        choices=[("", "Any status"), *STATUS_CHOICES],
        required=False,
        widget=forms.Select(attrs=_input()),
    )
    needs_review = forms.BooleanField(
        label="Needs review only",
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "check"}),
    )
    before = forms.CharField(max_length=40, required=False, widget=forms.HiddenInput)

    def clean_before(self) -> str:
        value = str(self.cleaned_data.get("before") or "")
        if value and request_cursor_parse(value) is None:
            raise forms.ValidationError("This page link is not valid: start from the newest.")
        return value


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("before", None)
    return query.urlencode()


@requires(Action.TRANSACTIONS_VIEW_MOMO)
@require_GET
def requests_list(request: HttpRequest) -> HttpResponse:
    moved = _other_panel(request)
    if moved is not None:
        return moved
    form = RequestFilterForm(request.GET or None)
    status = 200
    page = None
    if form.is_bound and not form.is_valid():
        status = 400
    else:
        data = form.cleaned_data if form.is_bound else {}
        filters = RequestFilter(
            operation=data.get("operation") or "",
            product=data.get("product") or "",
            status=data.get("status") or "",
            needs_review=bool(data.get("needs_review")),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            q=data.get("q") or "",
        )
        page = momo_requests(filters=filters, before=data.get("before") or "")
    context = {
        "form": form,
        "page": page,
        "counts": momo_request_counts(),
        "base": _panel(request),
        "tab": "requests",
        "query": _query_without_page(request),
    }
    return _no_store(render(request, "panels/staff/momo_requests.html", context, status=status))


@requires(Action.TRANSACTIONS_VIEW_MOMO)
@require_GET
def request_detail(request: HttpRequest, reference_id: uuid.UUID) -> HttpResponse:
    moved = _other_panel(request)
    if moved is not None:
        return moved
    base = _panel(request)
    try:
        detail = momo_request_detail(reference_id=reference_id)
    except NotFound:
        return _no_store(
            render(
                request,
                "panels/staff/momo_request.html",
                {"missing": str(reference_id), "base": base, "tab": "requests"},
                status=404,
            )
        )
    roles = user_roles(request.user)
    context = {
        "d": detail,
        "r": detail.row,
        "base": base,
        "tab": "requests",
        # Ledger links open the (read-only) admin pages: ledger.view and the admin site.
        "can_ledger": allows(roles, Action.LEDGER_VIEW) and allows(roles, Action.STAFF_ADMIN_SITE),
    }
    return _no_store(render(request, "panels/staff/momo_request.html", context))


# --- float ---------------------------------------------------------------------------------------


class ThresholdForm(AccessibleForm):
    environment = forms.ChoiceField(label="Market", choices=[], widget=forms.Select(attrs=_input()))
    product = forms.ChoiceField(
        label="Product", choices=PRODUCT_CHOICES, widget=forms.Select(attrs=_input())
    )
    amount = forms.CharField(
        label="Alert below (major units)",
        help_text="The balance under which an alert is sent, in the market's currency, e.g. "
        "5000000 for UGX 5,000,000. 0 turns the alert off.",
        max_length=32,
        widget=forms.TextInput(attrs=_input(autocomplete="off", inputmode="decimal")),
        error_messages={"required": "Enter an amount."},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["environment"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [
            (m.environment, f"{m.environment} ({m.currency})") for m in float_markets()
        ]


def _major(minor: int, code: str) -> float:
    """For drawing only (never for money arithmetic): minor units as a number of major units."""
    return float(Money.of(minor, code).to_major())


def _account_chart(account: FloatAccount) -> dict[str, Any]:
    """The account's readings (and its threshold) as a Chart.js line chart; the page lists
    the same readings in a table."""
    labels = [p.read_at.strftime("%H:%M") for p in account.points]
    series = {
        "available": (
            f"Available ({account.currency})",
            [_major(p.available_minor, account.currency) for p in account.points],
        )
    }
    if account.threshold_minor is not None:
        level = _major(account.threshold_minor, account.currency)
        series["threshold"] = ("Alert threshold", [level] * len(labels))
    config = line_chart(labels, series)
    if account.threshold_minor is not None:
        config["data"]["datasets"][1]["borderDash"] = [6, 4]
    return config


def _float_page(
    request: HttpRequest, *, form: ThresholdForm | None = None, status: int = 200
) -> HttpResponse:
    moment = now()
    accounts = float_accounts(now=moment, hours=FLOAT_HOURS)
    rows: list[dict[str, Any]] = [{"account": a} for a in accounts]
    wanted = request.GET.get("account", "")
    selected = next((r for r in rows if r["account"].key == wanted), None)
    if selected is None:
        # Default: the first low account, else the first payout float with readings.
        selected = next((r for r in rows if r["account"].state == "low"), None) or next(
            (r for r in rows if r["account"].payout and r["account"].points), None
        )
    if selected is None and rows:
        selected = rows[0]
    if selected is not None:
        selected = {**selected, "chart": _account_chart(selected["account"])}
    can_manage = _can(request, Action.FLOAT_MANAGE)
    if form is None and can_manage:
        initial: dict[str, Any] = {}
        edit = request.GET.get("edit", "")
        target = next((r["account"] for r in rows if r["account"].key == edit), None)
        if target is not None:
            initial = {
                "environment": target.environment,
                "product": target.product,
                "amount": target.threshold_major,
            }
        form = ThresholdForm(initial=initial)
    context = {
        "rows": rows,
        "selected": selected,
        "low": [r["account"] for r in rows if r["account"].state == "low"],
        "can_manage": can_manage,
        "form": form,
        "hours": FLOAT_HOURS,
        "base": _panel(request),
        "tab": "float",
        "products": PRODUCTS,
        "markets": float_markets(),
    }
    return _no_store(render(request, "panels/staff/momo_float.html", context, status=status))


@requires(Action.FLOAT_VIEW)
@require_GET
def float_page(request: HttpRequest) -> HttpResponse:
    moved = _other_panel(request)
    if moved is not None:
        return moved
    return _float_page(request)


@requires(Action.FLOAT_MANAGE)
@require_POST
def float_threshold(request: HttpRequest) -> HttpResponse:
    form = ThresholdForm(request.POST)
    if not form.is_valid():
        return _float_page(request, form=form, status=422)
    data = form.cleaned_data
    try:
        change = float_threshold_set(
            product=data["product"],
            environment=data["environment"],
            amount=data["amount"],
            actor=_actor(request),
            now=now(),
        )
    except DomainError as exc:
        apply_errors(form, exc, default_field="amount")
        return _float_page(request, form=form, status=422)
    money = Money.of(change.new_minor, change.currency).format()
    label = dict(PRODUCT_CHOICES).get(change.product, change.product)
    if not change.changed:
        messages.info(request, f"Nothing to change: the threshold was already {money}.")
    elif change.new_minor == 0:
        messages.success(request, f"{change.environment} {label}: low-balance alert turned off.")
    else:
        messages.success(
            request,
            f"{change.environment} {label}: an alert is sent when the balance falls below "
            f"{money}. The next check (within 5 minutes) uses it.",
        )
    return HttpResponseRedirect(f"/staff/momo/float/?account={change.environment}:{change.product}")


@requires(Action.FLOAT_MANAGE)
@require_POST
def float_check_now(request: HttpRequest) -> HttpResponse:
    float_check_enqueue(actor=_actor(request))
    messages.success(
        request, "A balance check is queued; the worker reads every market in a moment."
    )
    return HttpResponseRedirect("/staff/momo/float/")


# --- analytics -----------------------------------------------------------------------------------


@requires(Action.TRANSACTIONS_VIEW_MOMO)
@require_GET
def analytics_page(request: HttpRequest) -> HttpResponse:
    moved = _other_panel(request)
    if moved is not None:
        return moved
    window = request.GET.get("window", momo_analytics_app.DEFAULT_WINDOW)
    if window not in momo_analytics_app.WINDOWS:
        window = momo_analytics_app.DEFAULT_WINDOW
    stats = momo_analytics_app.momo_analytics(now=now(), window=window)
    series = stats.figures.series
    reasons = stats.figures.reasons[:10]
    charts = {
        "requests": bar_chart(
            series.labels,
            {
                "successful": ("Successful", series.values["successful"]),
                "failed": ("Failed", series.values["failed"]),
            },
        ),
        "created": line_chart(series.labels, {"created": ("Created", series.values["created"])}),
        "reasons": bar_chart(
            [f"{r.operation} · {r.reason}" for r in reasons],
            {"failed": ("Failures", [r.count for r in reasons])},
            horizontal=True,
        ),
    }
    context = {
        "stats": stats,
        "charts": charts,
        "windows": list(momo_analytics_app.WINDOWS),
        "base": _panel(request),
        "tab": "analytics",
    }
    return _no_store(render(request, "panels/staff/momo_analytics.html", context))
