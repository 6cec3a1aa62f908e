"""Partner (IMTO) endpoints, mounted at /api/v1/partner: every request is signed with an API
key (``lightway.security.signatures``; the guide is docs/api.md, "Partner signatures")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router
from ninja.security import APIKeyHeader

from lightway.interfaces.api.schemas import ErrorOut, PartnerWhoAmIOut
from lightway.interfaces.web.authz import api_action, api_requires
from lightway.security.signatures import HEADER_KEY, PartnerPrincipal, signature_verify


class SignedRequest(APIKeyHeader):
    """X-LW-Key plus the X-LW-Timestamp, X-LW-Nonce and X-LW-Signature headers (HMAC-SHA256
    over method, path and query, timestamp, nonce and body hash), checked whole by
    ``verify`` (which raises on any problem); subclasses name the kind of key."""

    param_name = HEADER_KEY
    verify: Callable[..., Any] = staticmethod(signature_verify)

    def __call__(self, request: HttpRequest) -> Any:
        return self.verify(
            method=request.method or "GET",
            target=request.get_full_path(),
            headers=request.headers,
            body=request.body,
            now=timezone.now(),
        )

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:  # pragma: no cover
        return None  # __call__ does the whole check


class PartnerSignature(SignedRequest):
    """A partner's API key (an IMTO)."""

    openapi_description = (
        "Partner API key id. Every request also carries X-LW-Timestamp (unix seconds), "
        "X-LW-Nonce (16-64 of [A-Za-z0-9_-], once per key) and X-LW-Signature: hex "
        "HMAC-SHA256, keyed with the key's secret, of METHOD\\nPATH?QUERY\\nTIMESTAMP\\n"
        "NONCE\\nSHA256HEX(body). See the API guide."
    )
    verify = staticmethod(signature_verify)


router = Router(tags=["partner"], auth=PartnerSignature())


@router.get(
    "/whoami",
    response={200: PartnerWhoAmIOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut},
    summary="The partner a signed request authenticates as (to test your signing code)",
    **api_action("partner.transfers"),
)
def partner_whoami(request: HttpRequest) -> Any:
    api_requires(request, "partner.transfers")
    principal: PartnerPrincipal = request.auth  # type: ignore[attr-defined]
    return {"partner": principal.partner_code, "key_id": principal.key_id}
