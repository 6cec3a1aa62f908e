"""The customer's identity verification page (/app/kyc/), with Sumsub.

``GET`` shows the tier and the verification state; ``POST`` (the "Verify my identity"
button) calls ``kyc_start`` and shows the verification step: the simulator's WebSDK page in
a frame (and as a link) when Sumsub is the local simulator, else a link to the WebSDK page
Sumsub hosts for the user. No script: the page works under the site's strict CSP.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from lightway.application.errors import DomainError
from lightway.application.kyc.verification import (
    KycSession,
    KycState,
    KycUnavailable,
    kyc_start,
    kyc_status,
)
from lightway.interfaces.panels.common import now
from lightway.interfaces.panels.customer_labels import tier_label
from lightway.interfaces.web.authz import requires

STATE_TEXT = {
    KycState.NOT_STARTED: _("Not started"),
    KycState.IN_PROGRESS: _("Started, waiting for your document"),
    KycState.IN_REVIEW: _("Submitted, being checked"),
    KycState.RETRY: _("Please try again"),
    KycState.APPROVED: _("Verified"),
    KycState.REJECTED: _("Refused"),
}
START_LABEL = {
    KycState.NOT_STARTED: _("Verify my identity"),
    KycState.IN_PROGRESS: _("Continue verification"),
    KycState.IN_REVIEW: _("Open verification"),
    KycState.RETRY: _("Start again"),
}


def _user_id(request: HttpRequest) -> int:
    pk = request.user.pk
    if pk is None:  # the decorator lets only signed-in customers through
        raise PermissionDenied
    return int(pk)


def _page(
    request: HttpRequest, *, session: KycSession | None = None, error: str = "", status: int = 200
) -> HttpResponse:
    view = kyc_status(user_id=_user_id(request))
    return render(
        request,
        "panels/customer/kyc.html",
        {
            "kyc": view,
            "state_text": STATE_TEXT[view.state],
            "start_label": START_LABEL.get(view.state, START_LABEL[KycState.NOT_STARTED]),
            "tier_label": tier_label(view.tier),
            "session": session,
            "error": error,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@requires("self.kyc")
def kyc_page(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request)
    try:
        session = kyc_start(user_id=_user_id(request), now=now())
    except KycUnavailable as exc:  # Sumsub is down: like the API's fee_unavailable
        response = _page(request, error=exc.message, status=503)
        response["Retry-After"] = "60"
        return response
    except DomainError as exc:
        return _page(request, error=exc.message, status=409)
    return _page(request, session=session)


# Mounted at /app/kyc/ by the project's urls.py: path("app/kyc/", include(kyc_urlpatterns)).
kyc_urlpatterns = [
    path("", kyc_page, name="customer-kyc"),
]
