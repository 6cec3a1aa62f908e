"""Helpers for the partner tests: onboarding details, signed API calls, the receiver."""

from __future__ import annotations

import time
from dataclasses import replace

from lightway.application.partners.onboarding import ContactIn, PartnerDetails
from lightway.security.signatures import sign_request

CONTACT = ContactIn(
    role="technical", name="Nia Okafor", email="nia.okafor@acme.example", phone="+447911123456"
)


def details(code: str = "acme-remit", **over: object) -> PartnerDetails:
    base = PartnerDetails(
        code=code,
        name="Acme Remit",
        legal_name="Acme Remit Limited",
        registration_number="GB-0123456",
        country="GB",
        address="1 Long Lane, London EC1",
        markets=("UG", "GH"),
        currencies=("UGX", "GHS"),
        webhook_url="",
        contacts=(CONTACT,),
    )
    return replace(base, **over)  # type: ignore[arg-type]


def meta(headers: dict[str, str]) -> dict[str, str]:
    return {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}


def signed_get(client, key_id: str, secret: str, target: str):
    headers = sign_request(
        key_id=key_id, secret=secret, method="GET", target=target, timestamp=int(time.time())
    )
    return client.get(target, **meta(headers))
