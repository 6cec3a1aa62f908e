#!/usr/bin/env python
"""Transfers benchmark: raw double-entry baseline vs the full POST /api/v1/transfers path.

In one run, on a fresh database ``lightway_bench`` on the same PostgreSQL server:
  1. seeds N customers, each with a funded UGX wallet and an API token (and the demo fee
     schedules, so every transfer carries fee and commission legs);
  2. baseline: C threads each post a minimal double-entry transfer (one journal entry, two
     postings, balances applied by the same triggers) in ONE round trip, back to back;
  3. api: starts the real server (``lightway serve``, gunicorn) and C keep-alive HTTP clients
     send POST /api/v1/transfers back to back (random payer and payee, fresh Idempotency-Key);
  4. runs the ledger verification, prints the figures and writes var/bench/transfers.json.

Usage: python benchmarks/transfers.py [--wallets 1000] [--concurrency 32] [--seconds 15]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, LoadResult, Server, bench_database_url, http_load, say

OPENING = 10_000_000  # UGX per wallet: nobody runs out, and under the tier-3 maximum balance


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lightway.infrastructure.settings")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()


def seed(n: int) -> list[tuple[str, str, int]]:
    """N customers with funded UGX wallets: [(token, wallet_id, account_id)]."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from lightway.application.identity.profiles import profile_create
    from lightway.application.kyc.tiers import kyc_limits_seed_defaults
    from lightway.application.transactions.commission_seed import fee_schedules_seed_defaults
    from lightway.application.transactions.wallets import wallet_open
    from lightway.data.identity.models import KycTier, Profile
    from lightway.data.ledger.models import AccountKind
    from lightway.data.ledger.services import Leg, entry_post, house_account
    from lightway.security.tokens import token_issue

    say("migrating the benchmark database ...")
    call_command("migrate", verbosity=0)
    now = timezone.now()
    fee_schedules_seed_defaults(now=now)
    kyc_limits_seed_defaults(now=now)
    users = get_user_model()
    users.objects.bulk_create(
        [users(username=f"bench{i}", password="!") for i in range(n)], batch_size=1000
    )
    equity = house_account(kind=AccountKind.EQUITY, currency="UGX", now=now)
    out = []
    for i, user in enumerate(users.objects.filter(username__startswith="bench").order_by("id")):
        # A verified Ugandan customer (KYC tier 3), so the default tier limits apply.
        profile_create(user_id=user.pk, realm="customer", now=now, country="UG")
        Profile.objects.filter(pk=user.pk).update(
            kyc_tier=KycTier.SUMSUB_VERIFIED, phone_verified_at=now
        )
        wallet = wallet_open(owner_id=user.pk, currency_code="UGX", now=now)
        entry_post(
            kind="opening_balance",
            currency="UGX",
            legs=[Leg(equity.pk, -OPENING), Leg(wallet.account_id, OPENING)],
            now=now,
        )
        out.append((token_issue(user_id=user.pk, now=now), str(wallet.id), wallet.account_id))
        if (i + 1) % 200 == 0 or i + 1 == n:
            say(f"  seeded {i + 1}/{n} wallets")
    return out


BASELINE_SQL = """
WITH e AS (
  INSERT INTO ledger_journal_entry (kind, reference, description, posting_count, created_at)
  VALUES ('bench', '', '', 2, now()) RETURNING id)
INSERT INTO ledger_posting (entry_id, account_id, currency, amount, leg, created_at)
SELECT e.id, v.account_id, 'UGX', v.amount, '', now()
FROM e, (VALUES (%s::bigint, %s::bigint), (%s::bigint, %s::bigint)) AS v(account_id, amount)
"""


def baseline(
    url: str, accounts: list[int], concurrency: int, seconds: float, warmup: float
) -> LoadResult:
    """Minimal double-entry transfer in one round trip per transaction (autocommit)."""
    import psycopg

    result = LoadResult(seconds=seconds)
    lock = threading.Lock()
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + seconds

    def run(seed_: int) -> None:
        rng = random.Random(seed_)
        ok, lat, errors = 0, [], 0
        with psycopg.connect(url, autocommit=True) as conn:
            while (t0 := time.perf_counter()) < stop_at:
                a, b = rng.sample(accounts, 2)
                amount = rng.randint(1, 10_000)
                legs = sorted([(a, -amount), (b, amount)])  # stable lock order, as the service
                try:
                    conn.execute(BASELINE_SQL, [legs[0][0], legs[0][1], legs[1][0], legs[1][1]])
                    good = True
                except psycopg.Error:
                    good = False
                t1 = time.perf_counter()
                if t0 >= measure_from:
                    if good:
                        ok += 1
                        lat.append((t1 - t0) * 1000)
                    else:
                        errors += 1
        with lock:
            result.ok += ok
            result.errors += errors
            result.latencies_ms.extend(lat)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wallets", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WEB_WORKERS", 2)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_WEB_THREADS", 4)))
    args = parser.parse_args()
    if args.wallets < 2 or args.concurrency < 1 or args.seconds <= 0:
        parser.error("need --wallets >= 2, --concurrency >= 1 and --seconds > 0")

    url = bench_database_url("lightway_bench")
    setup_django(url)
    wallets = seed(args.wallets)
    accounts = [w[2] for w in wallets]

    say(f"baseline: {args.concurrency} connections, {args.seconds:.0f} s ...")
    base = baseline(url, accounts, args.concurrency, args.seconds, args.warmup)
    say(f"  {base.rate:.0f} transfers/s, errors {base.errors}")

    def make_request(rng: random.Random) -> bytes:
        src, dst = rng.sample(wallets, 2)
        body = json.dumps(
            {
                "source_wallet_id": src[1],
                "destination_wallet_id": dst[1],
                "amount": rng.randint(500, 50_000),
                "currency": "UGX",
            }
        ).encode()
        return (
            f"POST /api/v1/transfers HTTP/1.1\r\nHost: localhost\r\n"
            f"Authorization: Bearer {src[0]}\r\nIdempotency-Key: {uuid.uuid4()}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    env = {**os.environ, "DATABASE_URL": url, "LIGHTWAY_LOG_LEVEL": "WARNING"}
    say(f"api: {args.workers} web workers x {args.threads} threads, {args.concurrency} clients")
    with Server(env, args.workers, args.threads) as server:
        api = http_load(
            server.port,
            make_request,
            concurrency=args.concurrency,
            seconds=args.seconds,
            warmup=args.warmup,
        )
    say(f"  {api.rate:.0f} transfers/s, errors {api.errors}")
    for sample in api.error_samples:
        say(f"  error sample: {sample[:200]!r}")

    say("verifying the ledger ...")
    from django.db import connection

    connection.close()
    from lightway.data.ledger.selectors import ledger_verify

    verified = ledger_verify(progress=lambda step: say(f"  checked: {step}"))
    for problem in verified.problems:
        say(f"  PROBLEM: {problem}")

    ratio = api.rate / base.rate if base.rate else 0.0
    figures = {
        "wallets": args.wallets,
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "web_workers": args.workers,
        "web_threads": args.threads,
        "baseline_tps": round(base.rate, 1),
        "baseline_p99_ms": base.summary()["p99_ms"],
        "api_tps": round(api.rate, 1),
        "ratio": round(ratio, 3),
        **api.summary(),
        "errors": api.errors + base.errors,
        "ledger_verified": verified.ok,
    }
    out = ROOT / "var" / "bench" / "transfers.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print()
    base_p99 = base.summary()["p99_ms"]
    print(f"{'baseline (1 round trip, SQL)':32} {base.rate:10.1f} transfers/s  p99 {base_p99} ms")
    print(f"{'api (POST /api/v1/transfers)':32} {api.rate:10.1f} transfers/s")
    print(f"{'ratio api/baseline':32} {ratio:10.3f}   (target >= 0.5)")
    s = api.summary()
    print(
        f"{'api latency ms':32} p50 {s['p50_ms']}  p95 {s['p95_ms']}  p99 {s['p99_ms']}"
        "   (target p99 < 100)"
    )
    print(f"{'errors':32} {api.errors + base.errors}")
    print(f"{'ledger verified':32} {verified.ok}")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0 if verified.ok and figures["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
