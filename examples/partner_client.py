#!/usr/bin/env python
"""A small LightWay partner API client: quote -> validate -> create -> confirm -> track.

Every request is signed as docs/api.md "Partner signatures" describes: HMAC-SHA256, keyed
with your secret, over METHOD, PATH?QUERY, X-LW-Timestamp, X-LW-Nonce and the SHA-256 of the
exact body bytes sent. Amounts are integers in the currency's minor unit (UGX has none, USD
100.00 is 10000). Needs only httpx.

Run the walk-through of docs/partner-api.md against `make run` (it prints the demo
partner's key and secret):

    LW_API=http://127.0.0.1:8000 LW_KEY=pk_live_... LW_SECRET=sk_live_... \\
        python examples/partner_client.py --send USD --amount 2500 --msisdn 256772100154 \\
        --name "Amina Nakato"
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import secrets
import sys
import time
import uuid
from typing import Any

import httpx

FINAL = {"COMPLETED", "FAILED", "CANCELLED", "EXPIRED", "REVERSED"}


class PartnerApiError(Exception):
    """An answer in the API's error shape: ``code``, ``category``, ``retryable``, ..."""

    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(f"{status} {error.get('code')}: {error.get('message')}")
        self.status = status
        self.error = error
        self.code = str(error.get("code"))
        self.retryable = bool(error.get("retryable"))


class PartnerClient:
    def __init__(
        self, base_url: str, key_id: str, secret: str, *, client: httpx.Client | None = None
    ) -> None:
        self.key_id = key_id
        self.secret = secret
        self.http = client or httpx.Client(base_url=base_url, timeout=httpx.Timeout(30.0))

    # -- signing ---------------------------------------------------------------------------

    def _headers(self, method: str, target: str, body: bytes) -> dict[str, str]:
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        canonical = "\n".join([method, target, timestamp, nonce, hashlib.sha256(body).hexdigest()])
        signature = hmac.new(self.secret.encode(), canonical.encode(), hashlib.sha256)
        return {
            "X-LW-Key": self.key_id,
            "X-LW-Timestamp": timestamp,
            "X-LW-Nonce": nonce,
            "X-LW-Signature": signature.hexdigest(),
            "X-LW-Signature-Alg": "HMAC-SHA256",
        }

    def request(
        self,
        method: str,
        target: str,
        payload: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """One signed call; the JSON answer, or PartnerApiError. ``target`` is the path and
        query exactly as sent (signed as is)."""
        body = json.dumps(payload).encode() if payload is not None else b""
        headers = self._headers(method, target, body)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        response = self.http.request(method, target, content=body, headers=headers)
        data = response.json()
        if response.status_code >= 400:
            raise PartnerApiError(response.status_code, data.get("error", {}))
        return data

    # -- the API ---------------------------------------------------------------------------

    def quote(
        self, *, send_currency: str, receive_currency: str, amount: int, amount_type: str = "SEND"
    ) -> dict[str, Any]:
        return self.request(
            "POST",
            "/api/v1/partner/quotes",
            {
                "send_currency": send_currency,
                "receive_currency": receive_currency,
                "amount": amount,
                "amount_type": amount_type,
            },
        )

    def validate(self, *, msisdn: str, expected_name: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"msisdn": msisdn}
        if expected_name:
            payload["expected_name"] = expected_name
        return self.request("POST", "/api/v1/partner/beneficiary-validations", payload)

    def create(
        self,
        *,
        quote_id: str,
        external_id: str,
        msisdn: str,
        name: str,
        sender: dict[str, str],
        validation_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Keep ``idempotency_key`` with your record: resend it with the same body after a
        timeout and you get the same remittance, never a second one."""
        payload: dict[str, Any] = {
            "external_id": external_id,
            "quote_id": quote_id,
            "beneficiary": {"msisdn": msisdn, "name": name},
            "sender": sender,
        }
        if validation_id:
            payload["beneficiary_validation_id"] = validation_id
        return self.request(
            "POST",
            "/api/v1/partner/remittances",
            payload,
            idempotency_key=idempotency_key or str(uuid.uuid4()),
        )

    def confirm(self, remittance_id: str, *, idempotency_key: str | None = None) -> dict[str, Any]:
        return self.request(
            "POST",
            f"/api/v1/partner/remittances/{remittance_id}/confirm",
            {},
            idempotency_key=idempotency_key or str(uuid.uuid4()),
        )

    def cancel(self, remittance_id: str) -> dict[str, Any]:
        return self.request("POST", f"/api/v1/partner/remittances/{remittance_id}/cancel", {})

    def get(self, remittance_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/v1/partner/remittances/{remittance_id}")

    def get_by_external_id(self, external_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/v1/partner/remittances/ext-{external_id}")

    def track(
        self, remittance_id: str, *, timeout: float = 120, every: float = 2
    ) -> dict[str, Any]:
        """Poll until the remittance is final (webhooks tell you sooner; docs/partner-api.md)."""
        deadline = time.monotonic() + timeout
        while True:
            remittance = self.get(remittance_id)
            if remittance["state"] in FINAL or time.monotonic() > deadline:
                return remittance
            time.sleep(every)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--send", default="USD", help="the send currency (your prefund's)")
    parser.add_argument("--receive", default="UGX")
    parser.add_argument("--amount", type=int, default=2500, help="minor units of --send")
    parser.add_argument("--msisdn", default="256772100154")
    parser.add_argument("--name", default="Amina Nakato")
    args = parser.parse_args()
    client = PartnerClient(
        os.environ.get("LW_API", "http://127.0.0.1:8000"),
        os.environ["LW_KEY"],
        os.environ["LW_SECRET"],
    )
    quote = client.quote(send_currency=args.send, receive_currency=args.receive, amount=args.amount)
    print("quote", json.dumps(quote, indent=2))
    validation = client.validate(msisdn=args.msisdn, expected_name=args.name)
    print("beneficiary", json.dumps(validation, indent=2))
    if validation["account_status"] != "ACTIVE" or validation["name_match"] == "NO_MATCH":
        print("the beneficiary cannot be paid as given", file=sys.stderr)
        return 1
    remittance = client.create(
        quote_id=quote["id"],
        external_id=f"EXAMPLE-{uuid.uuid4().hex[:12]}",
        msisdn=args.msisdn,
        name=args.name,
        sender={"name": "John Smith", "country": "GB"},
        validation_id=validation["id"],
    )
    print("created", remittance["id"], remittance["state"])
    confirmed = client.confirm(remittance["id"])
    print("confirmed", confirmed["state"], "version", confirmed["version"])
    final = client.track(remittance["id"])
    print("final", json.dumps(final, indent=2))
    return 0 if final["state"] == "COMPLETED" else 1


if __name__ == "__main__":
    sys.exit(main())
