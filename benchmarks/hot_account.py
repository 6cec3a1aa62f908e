#!/usr/bin/env python
"""Hot account benchmark: many concurrent remittance confirms through the partner API, all
debiting ONE partner's prefund, against the same workload spread over many partners.

Confirming a remittance reserves its send amount + fee on the partner's prefund account (a
ledger hold: the account row is locked and its ``held`` raised). A partner that sends most
of the traffic therefore makes that row the hottest in the database. The confirm takes the
row's lock with its transaction's last statements (``HoldFunds.last``,
docs/performance.md "Hot prefund accounts"), so concurrent confirms of one partner wait for
each other only for those; this benchmark measures what that leaves.

In one run, on a fresh database (``lightway_bench_hot_account``) on the same PostgreSQL
server:
  1. migrates, seeds the demo fee schedules; starts the MoMo simulator in this process (the
     payouts are only queued: no worker runs, MoMo is never called);
  2. seeds one "hot" partner and --partners "spread" partners, each with a UGX prefund that
     covers every payout, generous limits and an API key;
  3. prepares --remittances CREATED remittances (quote + create, UGX 5,000 each) for the hot
     partner, the same number spread round-robin over the spread partners, and a few for a
     warm-up, through the application (not timed);
  4. starts the real server (``lightway serve``) and, with C keep-alive clients, sends a
     signed ``POST /api/v1/partner/remittances/{id}/confirm`` (fresh nonce, fresh
     Idempotency-Key) for every prepared remittance: warm-up, then hot, then spread;
  5. counts ``overdrafts`` (prefund accounts whose held amount exceeds their balance, or
     whose held amount is not what their confirmed remittances reserved), verifies the
     ledger and writes var/bench/hot_account.json.

Targets (issue 12): hot_ratio = hot_rate_per_s / spread_rate_per_s >= 0.8; overdrafts 0.

Usage: python benchmarks/hot_account.py [--remittances 1500] [--partners 32]
       [--concurrency 32] [--workers 2] [--threads 4] [--database lightway_bench_hot_account]
       [--output var/bench/hot_account.json]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import random
import secrets
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    ROOT,
    LoadResult,
    Server,
    bench_database_url,
    http_send,
    ledger_verified,
    say,
)
from transfers import database_prepare, setup_django, verdict

AMOUNT = 5_000  # UGX per payout
RATIO_TARGET = 0.8
WARMUP = 100


@dataclass(frozen=True)
class BenchPartner:
    code: str
    partner_id: int
    key_id: str
    secret: str


def partners_seed(codes: Sequence[str], *, prefund: int) -> list[BenchPartner]:
    """Partners with an API user, a UGX prefund of ``prefund``, generous limits and a key."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from lightway.application.identity.profiles import profile_create
    from lightway.application.partners.keys import partner_key_create
    from lightway.application.partners.prefund import partner_prefund_account
    from lightway.application.remittances.limits import partner_limit_set
    from lightway.data.identity.models import Partner, Realm
    from lightway.data.ledger.kinds import OPENING_BALANCE
    from lightway.data.ledger.models import AccountKind
    from lightway.data.ledger.services import Leg, entry_post, house_account

    now = timezone.now()
    equity = house_account(kind=AccountKind.EQUITY, currency="UGX", now=now)
    out = []
    for code in codes:
        partner = Partner.objects.create(code=code, name=f"{code} (bench)", created_at=now)
        user = get_user_model().objects.create_user(username=f"partner-{code}", password="!")
        profile_create(user_id=user.pk, realm=Realm.PARTNER, now=now, partner_id=partner.pk)
        account = partner_prefund_account(partner_code=code, currency_code="UGX", now=now)
        entry_post(
            kind=OPENING_BALANCE,
            currency="UGX",
            legs=[Leg(equity.pk, -prefund), Leg(account.pk, prefund)],
            now=now,
        )
        big = 10**14
        partner_limit_set(
            partner_id=partner.pk,
            currency_code="UGX",
            per_transaction_max=big,
            daily_max=big,
            outstanding_max=big,
            actor="bench",
            now=now,
        )
        key_id, secret = partner_key_create(partner_id=partner.pk, actor="bench", now=now)
        out.append(BenchPartner(code, partner.pk, key_id, secret))
    return out


def remittances_prepare(
    partners: Sequence[BenchPartner], count: int, label: str
) -> list[tuple[BenchPartner, str]]:
    """``count`` CREATED remittances, round-robin over ``partners``: (partner, id)."""
    from django.utils import timezone

    from lightway.application.remittances.quotes import QuoteRequest, quote_create
    from lightway.application.remittances.remittances import (
        RemittanceRequest,
        remittance_create,
    )

    out = []
    for i in range(count):
        partner = partners[i % len(partners)]
        now = timezone.now()
        quote, _ = quote_create(
            partner_id=partner.partner_id, ask=QuoteRequest("UGX", "UGX", AMOUNT, "SEND"), now=now
        )
        remittance, _ = remittance_create(
            partner_id=partner.partner_id,
            idempotency_key=f"{label}-{i}",
            request=RemittanceRequest(
                external_id=f"{label}-{i}",
                quote_id=quote.id,
                beneficiary_msisdn=f"2567{random.randint(10_000_000, 99_999_999)}",
                beneficiary_name="Amina Nakato",
                sender={"name": "John Smith", "country": "GB"},
            ),
            now=now,
        )
        out.append((partner, str(remittance.id)))
        if (i + 1) % 500 == 0 or i + 1 == count:
            say(f"  prepared {i + 1}/{count} {label} remittances")
    return out


def confirm_request(partner: BenchPartner, remittance_id: str, port: int) -> bytes:
    """The raw bytes of one signed confirm (docs/api.md, "Partner signatures")."""
    body = b"{}"
    target = f"/api/v1/partner/remittances/{remittance_id}/confirm"
    timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
    canonical = "\n".join(["POST", target, timestamp, nonce, hashlib.sha256(body).hexdigest()])
    signature = hmac.new(partner.secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()
    head = (
        f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"X-LW-Key: {partner.key_id}\r\nX-LW-Timestamp: {timestamp}\r\nX-LW-Nonce: {nonce}\r\n"
        f"X-LW-Signature: {signature}\r\nIdempotency-Key: {uuid.uuid4()}\r\n\r\n"
    )
    return head.encode() + body


def confirms(
    port: int, work: Sequence[tuple[BenchPartner, str]]
) -> Callable[[random.Random], bytes]:
    todo = deque(work)  # one event loop sends them all: no lock needed

    def make(_rng: random.Random) -> bytes:
        partner, remittance_id = todo.popleft()
        return confirm_request(partner, remittance_id, port)

    return make


def phase(
    port: int, name: str, work: Sequence[tuple[BenchPartner, str]], concurrency: int
) -> LoadResult:
    say(f"{name}: {len(work)} confirms, {concurrency} clients ...")
    result = http_send(port, confirms(port, work), concurrency=concurrency, total=len(work))
    p = result.summary()
    say(
        f"  {result.rate:.0f}/s, p50 {p['p50_ms']} ms, p99 {p['p99_ms']} ms, errors {result.errors}"
    )
    for sample in result.error_samples:
        say(f"  error sample: {sample[:200]!r}")
    return result


def overdrafts() -> int:
    """Prefund accounts overdrawn (held above balance), or whose held amount is not what
    their confirmed remittances reserve (send amount + fee each)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            """SELECT count(*) FROM ledger_account a
               LEFT JOIN (SELECT p.code, sum(r.send_amount + r.fee) AS reserved
                            FROM remittances_remittance r
                            JOIN identity_partner p ON p.id = r.partner_id
                           WHERE r.state IN ('CONFIRMED', 'SUBMITTED')
                           GROUP BY p.code) x ON x.code = a.owner_ref
              WHERE a.kind = 'imto_prefund'
                AND (a.balance - a.held < 0 OR a.held <> COALESCE(x.reserved, 0))"""
        )
        return int(cur.fetchone()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--remittances", type=int, default=1500, help="per phase")
    parser.add_argument("--partners", type=int, default=32, help="of the spread phase")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WEB_WORKERS", 2)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_WEB_THREADS", 4)))
    parser.add_argument(
        "--server",
        choices=("gunicorn", "granian"),
        default=os.environ.get("BENCH_WEB_SERVER", "granian"),
    )
    parser.add_argument("--warmup", type=int, default=WARMUP)
    parser.add_argument(
        "--database", default=os.environ.get("BENCH_DATABASE", "lightway_bench_hot_account")
    )
    parser.add_argument("--output", default=str(ROOT / "var" / "bench" / "hot_account.json"))
    args = parser.parse_args()
    if args.remittances < 1 or args.partners < 1 or args.concurrency < 1:
        parser.error("need --remittances, --partners and --concurrency >= 1")

    sys.path.insert(0, str(ROOT / "src"))
    from lightway.integration.momo.simulator import MomoSimulator

    simulator = MomoSimulator(host="127.0.0.1", port=0).start()
    os.environ["MOMO_BASE_URL"] = simulator.base_url
    url = bench_database_url(args.database)
    setup_django(url)
    database_prepare()
    per_partner = (args.remittances + args.warmup) * (AMOUNT + 1_000) * 2
    say(f"seeding 1 hot and {args.partners} spread partners ...")
    hot, *spread = partners_seed(
        ["hot-imto", *(f"spread-{i}" for i in range(args.partners))], prefund=per_partner
    )
    warm = remittances_prepare(spread, args.warmup, "warm") if args.warmup else []
    hot_work = remittances_prepare([hot], args.remittances, "hot")
    spread_work = remittances_prepare(spread, args.remittances, "spread")

    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MOMO_BASE_URL": simulator.base_url,
        "LIGHTWAY_LOG_LEVEL": "WARNING",
    }
    say(f"server: {args.server}, {args.workers} web workers x {args.threads} threads")
    try:
        with Server(env, args.workers, args.threads, args.server) as server:
            if warm:
                phase(server.port, "warm-up", warm, args.concurrency)
            hot_result = phase(server.port, "hot (one partner)", hot_work, args.concurrency)
            spread_result = phase(
                server.port, f"spread ({args.partners} partners)", spread_work, args.concurrency
            )
    finally:
        simulator.stop()

    say("checking the prefunds and verifying the ledger ...")
    overdrawn = overdrafts()
    verified = ledger_verified()
    ratio = hot_result.rate / spread_result.rate if spread_result.rate else 0.0
    hot_p, spread_p = hot_result.summary(), spread_result.summary()
    figures = {
        "remittances_per_phase": args.remittances,
        "spread_partners": args.partners,
        "concurrency": args.concurrency,
        "web": f"{args.server} {args.workers}x{args.threads}",
        "hot_rate_per_s": round(hot_result.rate, 1),
        "spread_rate_per_s": round(spread_result.rate, 1),
        "hot_ratio": round(ratio, 3),
        "p99_ms": hot_p["p99_ms"],
        "p50_ms": hot_p["p50_ms"],
        "spread_p99_ms": spread_p["p99_ms"],
        "errors": hot_result.errors + spread_result.errors,
        "overdrafts": overdrawn,
        "ledger_verified": verified.ok,
        "targets": {"hot_ratio": RATIO_TARGET, "overdrafts": 0},
    }
    ok = (
        ratio >= RATIO_TARGET
        and overdrawn == 0
        and verified.ok
        and figures["errors"] == 0
        and hot_result.ok == args.remittances
    )
    say(f"hot      {figures['hot_rate_per_s']}/s  p99 {figures['p99_ms']} ms")
    say(f"spread   {figures['spread_rate_per_s']}/s  p99 {figures['spread_p99_ms']} ms")
    passed = verdict(ratio >= RATIO_TARGET)
    say(f"ratio    {figures['hot_ratio']} (target >= {RATIO_TARGET}) {passed}")
    say(f"overdrafts {overdrawn} {verdict(overdrawn == 0)}; ledger {verdict(verified.ok)}")
    for problem in verified.problems[:10]:
        say(f"  {problem}")
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
