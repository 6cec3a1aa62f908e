"""Builders for the partner remittance tests: a partner with an API key, a prefund, limits
and approved FX rates; signed requests through Django's test client (the real signature
check, the real clock: signatures are checked against it)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lightway.application.fx.ratebook import fx_rate_approve, fx_rate_propose
from lightway.application.partners.keys import partner_key_create
from lightway.application.remittances.limits import partner_limit_set
from lightway.application.transactions.commission_seed import fee_schedules_seed_defaults
from lightway.data.fx.models import FxRate
from lightway.data.identity.models import Partner
from lightway.data.ledger.kinds import OPENING_BALANCE
from lightway.data.ledger.models import Account, AccountKind
from lightway.data.ledger.services import Leg, entry_post, house_account
from lightway.security.signatures import sign_request
from tests.momo_flow_support import momo_partner

BIG = 10**12


@dataclass(frozen=True)
class RemitPartner:
    code: str
    partner_id: int
    user_id: int
    key_id: str
    secret: str


def remit_partner(
    code: str,
    now: datetime,
    *,
    prefund: dict[str, int],
    limits: dict[str, tuple[int, int, int]] | None = None,
) -> RemitPartner:
    """A partner with an API key, a funded prefund per currency and limits (per transaction,
    daily, outstanding) per currency (generous by default); demo fee schedules seeded."""
    fee_schedules_seed_defaults(now=now)
    first, *rest = prefund.items()
    user_id = momo_partner(code, now, prefund=first[1], currency=first[0])
    for ccy, amount in rest:
        prefund_top_up(code, ccy, amount, now)
    partner = Partner.objects.get(code=code)
    for ccy in prefund:
        per_tx, daily, outstanding = (limits or {}).get(ccy, (BIG, BIG, BIG))
        partner_limit_set(
            partner_id=partner.pk,
            currency_code=ccy,
            per_transaction_max=per_tx,
            daily_max=daily,
            outstanding_max=outstanding,
            actor="test",
            now=now,
        )
    key_id, secret = partner_key_create(partner_id=partner.pk, actor="test", now=now)
    return RemitPartner(code, partner.pk, user_id, key_id, secret)


def prefund_top_up(code: str, ccy: str, amount: int, now: datetime) -> Account:
    from lightway.application.partners.prefund import partner_prefund_account

    account = partner_prefund_account(partner_code=code, currency_code=ccy, now=now)
    if amount:
        equity = house_account(kind=AccountKind.EQUITY, currency=ccy, now=now)
        entry_post(
            kind=OPENING_BALANCE,
            currency=ccy,
            legs=[Leg(equity.pk, -amount), Leg(account.pk, amount)],
            now=now,
        )
    return account


def prefund(code: str, ccy: str) -> Account:
    return Account.objects.get(kind=AccountKind.IMTO_PREFUND, owner_ref=code, currency=ccy)


def fx_rate(base: str, quote: str, mid: str, bps: int, now: datetime) -> FxRate:
    """A treasury rate as finance staff make one: proposed by one person, approved by
    another (``application/fx/ratebook.py``), priced from ``now``."""
    proposed = fx_rate_propose(
        base=base, quote=quote, mid=mid, spread_bps=bps, actor="staff:9001", now=now
    )
    return fx_rate_approve(rate_id=proposed.pk, actor="staff:9002", now=now)


def signed(
    client: Any,
    partner: RemitPartner,
    method: str,
    target: str,
    body: dict[str, Any] | None = None,
    *,
    key: str | None = None,
) -> Any:
    """A signed partner request (``key``: the Idempotency-Key header)."""
    raw = json.dumps(body).encode() if body is not None else b""
    headers = sign_request(
        key_id=partner.key_id,
        secret=partner.secret,
        method=method,
        target=target,
        body=raw,
        timestamp=int(time.time()),
    )
    if key is not None:
        headers["Idempotency-Key"] = key
    meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
    if method == "GET":
        return client.get(target, **meta)
    return client.generic(method, target, data=raw, content_type="application/json", **meta)


def error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.content
    body = resp.json()
    assert set(body["error"]) == {"code", "category", "message", "path", "retryable", "details"}
    assert body["error"]["code"] == code, body
    return body["error"]


def remittance_body(
    quote_id: str, external_id: str, msisdn: str = "256772555201", **extra: Any
) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "quote_id": quote_id,
        "beneficiary": {"msisdn": msisdn, "name": "Amina Nakato"},
        "sender": {
            "name": "John Smith",
            "country": "GB",
            "id_type": "passport",
            "id_number": "P1234567",
        },
        "purpose": "family support",
        **extra,
    }


def new_key() -> str:
    return str(uuid.uuid4())
