"""FX rates in the LightWay back office (/staff/fx/): the current rate of each watched pair
with its age and source, the proposals waiting for a second person (a proposer sees no
approve button on their own), a form to propose a treasury rate, the rate feeds' last runs,
and each pair's history (/staff/fx/history/<BASE>/<QUOTE>/, keyset paged). Thin: each view
checks its action, reads the form and makes one application call (docs/fx.md)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from lightway.application.errors import DomainError
from lightway.application.fx.browse import (
    fx_feeds,
    fx_history_page,
    fx_pair_rows,
    fx_pending,
)
from lightway.application.fx.ratebook import fx_rate_approve, fx_rate_propose, fx_rate_reject
from lightway.interfaces.panels.common import apply_errors
from lightway.interfaces.panels.lightway.forms import FxDecisionForm, FxRateProposeForm
from lightway.interfaces.panels.templatetags.fx_format import fx_rate
from lightway.interfaces.web.authz import requires
from lightway.security.policy import Action, allows, user_roles

FX_URL = "/staff/fx/"


def _actor(request: HttpRequest) -> str:
    return f"staff:{request.user.pk}"


def _page(
    request: HttpRequest, form: FxRateProposeForm | None = None, status: int = 200
) -> HttpResponse:
    roles = user_roles(request.user)
    response = render(
        request,
        "panels/staff/fx.html",
        {
            "pairs": fx_pair_rows(now=timezone.now()),
            "pending": fx_pending(),
            "feeds": fx_feeds(),
            "form": form or FxRateProposeForm(),
            "me": _actor(request),
            "can_propose": allows(roles, Action.FX_RATES_PROPOSE),
            "can_approve": allows(roles, Action.FX_RATES_APPROVE),
        },
        status=status,
    )
    response["Cache-Control"] = "no-store"
    return response


@requires(Action.FX_RATES_VIEW)
@require_GET
def fx_rates(request: HttpRequest) -> HttpResponse:
    return _page(request)


@requires(Action.FX_RATES_PROPOSE)
@require_POST
def fx_propose(request: HttpRequest) -> HttpResponse:
    form = FxRateProposeForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=422)
    data = form.cleaned_data
    try:
        row = fx_rate_propose(
            base=data["base"],
            quote=data["quote"],
            mid=data["mid"],
            spread_bps=data["spread_bps"],
            bid=data["bid"],
            ask=data["ask"],
            actor=_actor(request),
            now=timezone.now(),
        )
    except DomainError as exc:
        apply_errors(form, exc, default_field="mid")
        return _page(request, form, status=422)
    messages.success(
        request,
        f"Rate {row.base}/{row.quote} {fx_rate(row.mid)} proposed. Another member of finance must"
        " approve it before it prices anything.",
    )
    return HttpResponseRedirect(FX_URL)


def _decide(request: HttpRequest, approve: bool) -> HttpResponse:
    form = FxDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a proposed rate.")
        return HttpResponseRedirect(FX_URL)
    decide = fx_rate_approve if approve else fx_rate_reject
    try:
        row = decide(
            rate_id=form.cleaned_data["rate_id"], actor=_actor(request), now=timezone.now()
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(FX_URL)
    verb = "approved: it prices quotes from now on" if approve else "rejected"
    messages.success(request, f"Rate {row.base}/{row.quote} {fx_rate(row.mid)} {verb}.")
    return HttpResponseRedirect(FX_URL)


@requires(Action.FX_RATES_APPROVE)
@require_POST
def fx_approve(request: HttpRequest) -> HttpResponse:
    return _decide(request, approve=True)


@requires(Action.FX_RATES_APPROVE)
@require_POST
def fx_reject(request: HttpRequest) -> HttpResponse:
    return _decide(request, approve=False)


@requires(Action.FX_RATES_VIEW)
@require_GET
def fx_history(request: HttpRequest, base: str, quote: str) -> HttpResponse:
    try:
        rows, next_cursor = fx_history_page(
            base=base, quote=quote, before=request.GET.get("before", "")[:80]
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(FX_URL)
    return render(
        request,
        "panels/staff/fx_history.html",
        {
            "pair": f"{base.upper()}/{quote.upper()}",
            "base": base.upper(),
            "quote": quote.upper(),
            "rows": rows,
            "next_cursor": next_cursor,
        },
    )
