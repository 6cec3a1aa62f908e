#!/usr/bin/env python
"""Partitions benchmark: the P2P API (POST /api/v1/transfers) on monthly-partitioned tables
against the same API on the tables before partitioning, measured in the same run.

1. two throw-away databases on the same PostgreSQL server: ``lightway_bench_flat``, at the
   head of every migration except the ones that partition tables (``PARTITION_MIGRATIONS``,
   recorded as applied without running), and ``lightway_bench_parted``, at the head;
   each gets the demo fee schedules, the KYC tier limits and N funded customers with API
   tokens (a subprocess per database: one Django setup each);
2. for each round, for each database (the order alternates between rounds, so neither
   always runs on a warmer machine): the real server (``lightway serve``) against that
   database, C keep-alive clients posting random P2P transfers for S seconds;
3. prints each rate, the ratio partitioned / flat over all rounds (issue 14 target: >= 0.95)
   and writes var/bench/partitions.json.

Usage: python benchmarks/partitions.py [--wallets 300] [--concurrency 16] [--seconds 15]
       [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, Server, bench_database_url, say
from transfers import Customer, api_phase, customers_seed, setup_django

TARGET_RATIO = 0.95
# The migrations that turn tables into partitioned ones (lightway.data.archive), in two
# groups: the archive functions each group needs come before it (archive 0003, then 0004).
PARTITION_MIGRATIONS = (
    ("ledger", "0008_partition_postings_by_month", "0007_posting_account_single_index"),
    ("notify", "0003_partition_by_month", "0002_inbox"),
    ("audit", "0006_partition_by_month", "0005_viewer_indexes"),
)
REFERENCED_MIGRATIONS = (
    ("ledger", "0009_partition_journal_entries_by_month", "0008_partition_postings_by_month"),
    ("wallets", "0014_partition_transfers_by_month", "0013_limits_lookup_overrides"),
    ("momo", "0005_partition_requests_by_month", "0004_callback_body_sealed"),
)
PARTITIONED = (
    "ledger_posting",
    "notify_delivery",
    "audit_record",
    "ledger_journal_entry",
    "wallets_transfer",
    "momo_request",
)
DATABASES = {"flat": "lightway_bench_flat", "parted": "lightway_bench_parted"}


def prepare(kind: str, url: str, wallets: int, out: Path) -> None:
    """(Subprocess) migrate ``url`` flat or partitioned, seed customers, write them to out."""
    setup_django(url)
    from django.core.management import call_command
    from django.utils import timezone

    from lightway.application.kyc.tiers import kyc_limits_seed_defaults
    from lightway.application.transactions.commission_seed import fee_schedules_seed_defaults

    say(f"{kind}: migrating ...")
    if kind == "flat":
        # each group: the migrations before it for real, the archive functions it uses for
        # real, then the group itself recorded as applied without running
        for group, archive in (
            (PARTITION_MIGRATIONS, "0003_unique_across_months"),
            (REFERENCED_MIGRATIONS, "0004_referenced_tables"),
        ):
            for app, _, before in group:
                call_command("migrate", app, before, verbosity=0)
            call_command("migrate", "archive", archive, verbosity=0)
            for app, name, _ in group:
                call_command("migrate", app, name, fake=True, verbosity=0)
    call_command("migrate", verbosity=0)
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
            " WHERE c.relname = ANY (%s)",
            [list(PARTITIONED)],
        )
        parted = cur.fetchone()[0]
    expected = 0 if kind == "flat" else len(PARTITIONED)
    if parted != expected:
        raise SystemExit(f"{kind}: {parted} partitioned tables, expected {expected}")
    now = timezone.now()
    fee_schedules_seed_defaults(now=now)
    kyc_limits_seed_defaults(now=now)
    customers = customers_seed(wallets, prefix="bench")
    out.write_text(json.dumps([list(c) for c in customers]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wallets", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WEB_WORKERS", 2)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_WEB_THREADS", 4)))
    parser.add_argument(
        "--server",
        choices=("gunicorn", "granian"),
        default=os.environ.get("BENCH_WEB_SERVER", "granian"),
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the two databases and customers of the previous run (payments add up)",
    )
    parser.add_argument("--prepare", choices=sorted(DATABASES), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.wallets < 2 or args.concurrency < 1 or args.seconds <= 0 or args.rounds < 1:
        parser.error("need --wallets >= 2, --concurrency >= 1, --seconds > 0, --rounds >= 1")
    if args.prepare:
        prepare(args.prepare, args.url, args.wallets, args.out)
        return 0

    work = ROOT / "var" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    urls: dict[str, str] = {}
    customers: dict[str, list[Customer]] = {}
    for kind, name in DATABASES.items():
        out = work / f"partitions-{kind}-customers.json"
        if args.reuse and out.exists():
            urls[kind] = bench_database_url(name, create=False)
            customers[kind] = [Customer(*c) for c in json.loads(out.read_text())]
            say(f"{kind}: reusing {name} ({len(customers[kind])} customers)")
            continue
        urls[kind] = bench_database_url(name)
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--prepare",
                kind,
                "--url",
                urls[kind],
                "--out",
                str(out),
                "--wallets",
                str(args.wallets),
            ],
            check=True,
        )
        customers[kind] = [Customer(*c) for c in json.loads(out.read_text())]

    totals = {kind: {"ok": 0, "seconds": 0.0, "errors": 0} for kind in DATABASES}
    rounds = []
    for r in range(args.rounds):
        order = list(DATABASES) if r % 2 == 0 else list(reversed(DATABASES))
        for kind in order:
            env = {
                **os.environ,
                "DATABASE_URL": urls[kind],
                "LIGHTWAY_LOG_LEVEL": "WARNING",
                # this checkout's code, whichever checkout the virtualenv was installed from
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH", "")) if p
                ),
            }
            env.pop("DATABASE_OWNER_URL", None)
            say(f"round {r + 1}, {kind}:")
            # a loaded machine (CI, shared hosts) may take a while to start the server
            with Server(env, args.workers, args.threads, args.server, ready_seconds=180) as server:
                phase = api_phase(server.port, customers[kind], args)
            res = phase.result
            totals[kind]["ok"] += res.ok
            totals[kind]["seconds"] += res.seconds
            totals[kind]["errors"] += res.errors
            rounds.append(
                {
                    "round": r + 1,
                    "tables": kind,
                    "tps": round(res.rate, 1),
                    "errors": res.errors,
                    **res.summary(),
                }
            )
    rate = {k: v["ok"] / v["seconds"] if v["seconds"] else 0.0 for k, v in totals.items()}
    ratio = round(rate["parted"] / rate["flat"], 3) if rate["flat"] else 0.0
    # Each round measures both back to back: the median of the per-round ratios is less
    # moved by load that other work puts on the machine for minutes at a time.
    pairs = []
    for r in range(1, args.rounds + 1):
        tps = {row["tables"]: float(row["tps"]) for row in rounds if row["round"] == r}
        if tps.get("flat"):
            pairs.append(tps["parted"] / tps["flat"])
    median_ratio = round(statistics.median(pairs), 3) if pairs else 0.0
    errors = sum(int(v["errors"]) for v in totals.values())
    figures = {
        "wallets": args.wallets,
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "rounds": rounds,
        "flat_tps": round(rate["flat"], 1),
        "partitioned_tps": round(rate["parted"], 1),
        "ratio": ratio,
        "round_ratios": [round(p, 3) for p in pairs],
        "median_round_ratio": median_ratio,
        "target_ratio_min": TARGET_RATIO,
        "errors": errors,
        "passed": ratio >= TARGET_RATIO and errors == 0,
    }
    out = work / "partitions.json"
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print()
    for row in rounds:
        print(
            f"round {row['round']} {row['tables']:<7} {row['tps']:9.1f}/s  p99 {row['p99_ms']} ms"
        )
    print(f"{'before partitioning (flat)':30} {rate['flat']:9.1f}/s")
    print(f"{'partitioned':30} {rate['parted']:9.1f}/s")
    verdict = "PASS" if figures["passed"] else "FAIL"
    print(f"{'ratio partitioned / flat':30} {ratio:9.3f}  target >= {TARGET_RATIO}  {verdict}")
    print(f"{'median of the rounds ratios':30} {median_ratio:9.3f}  {figures['round_ratios']}")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
