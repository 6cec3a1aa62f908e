#!/usr/bin/env python
"""Payouts benchmark: MoMo payouts through the whole pipeline vs the raw ledger baseline.

In one run, on a fresh database ``lightway_bench_payouts`` on the same PostgreSQL server:
  1. seeds N customers with funded UGX wallets and API tokens (as benchmarks/transfers.py);
  2. baseline: the foundation's raw double-entry transfer (one SQL round trip), C threads;
  3. starts the MoMo simulator (in this process, callbacks over HTTP), the real web server
     (``lightway serve``) and the job worker (``lightway worker``);
  4. C clients, for S seconds, each POST /api/v1/momo/payouts (random payer wallet, random
     MoMo number, fresh Idempotency-Key) and then follow that payout with
     GET /api/v1/momo/transfers/{id} until it is final before sending the next (a closed
     loop: C payouts in flight, so the latency is the pipeline's, not a queue's). Each
     payout goes submit job → MoMo transfer (202) → simulator completes → callback →
     status read → ledger commit, all in the worker;
  5. waits until every payout is final, then counts: ``lost`` (accepted payouts that never
     reached a final state, or that MoMo paid and the ledger does not show) and
     ``duplicated`` (a second MoMo transaction or a second journal entry for one payout);
  6. prints the figures and writes var/bench/payouts.json: ``rate_per_s`` (payouts made
     final per second), ``p99_ms`` (POST → the client sees it final), ``lost``,
     ``duplicated`` (both must be 0) and ``ratio`` = rate_per_s / baseline_tps.

Usage: python benchmarks/payouts.py [--wallets 200] [--concurrency 16] [--seconds 15]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, LoadResult, Server, bench_database_url, percentile, say
from transfers import baseline, seed, setup_django

AMOUNT = 5_000  # UGX per payout: within every tier limit and the simulator's daily limits


class Worker:
    """``lightway worker`` as a child process."""

    def __init__(self, env: dict[str, str], concurrency: int) -> None:
        self.args = [
            str(Path(sys.executable).parent / "lightway"),
            "worker",
            "--concurrency",
            str(concurrency),
        ]
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Worker:
        self.proc = subprocess.Popen(self.args, env=self.env, cwd=ROOT)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def closed_loop(
    port: int, wallets: list[tuple[str, str, int]], concurrency: int, seconds: float
) -> LoadResult:
    """C clients: submit a payout, follow it until final, repeat, for ``seconds``."""
    import httpx

    result = LoadResult(seconds=seconds)
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client(seed_: int) -> None:
        rng = random.Random(seed_)
        ok, errors, lat, samples = 0, 0, [], []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            while time.perf_counter() < stop_at:
                token, _wallet, _account = rng.choice(wallets)
                auth = {"Authorization": f"Bearer {token}"}
                t0 = time.perf_counter()
                answer = http.post(
                    "/api/v1/momo/payouts",
                    headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
                    json={
                        "currency": "UGX",
                        "amount": AMOUNT,
                        "msisdn": f"2567{rng.randint(10_000_000, 99_999_999)}",
                        "note": "bench payout",
                    },
                )
                if answer.status_code != 201:
                    errors += 1
                    if len(samples) < 3:
                        samples.append(f"{answer.status_code} {answer.text[:200]}")
                    continue
                transfer_id = answer.json()["id"]
                final = False
                while not final and time.perf_counter() < stop_at + 60:
                    time.sleep(0.1)  # a status page polls far less often
                    state = http.get(f"/api/v1/momo/transfers/{transfer_id}", headers=auth)
                    final = state.status_code == 200 and bool(state.json()["terminal"])
                if final:
                    ok += 1
                    lat.append((time.perf_counter() - t0) * 1000)
        with lock:
            result.ok += ok
            result.errors += errors
            result.latencies_ms.extend(lat)
            result.error_samples.extend(samples)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = max(seconds, time.perf_counter() - (stop_at - seconds))
    return result


def wait_final(deadline_s: float) -> tuple[int, int]:
    """Wait until no payout is still in flight; return (total, in_flight)."""
    from lightway.data.wallets.models import TERMINAL, Transfer

    end = time.monotonic() + deadline_s
    last = -1
    while True:
        payouts = Transfer.objects.filter(kind="payout")
        total = payouts.count()
        open_ = payouts.exclude(status__in=[str(s) for s in TERMINAL]).count()
        if open_ != last:
            say(f"  {total - open_}/{total} payouts final")
            last = open_
        if open_ == 0 or time.monotonic() > end:
            return total, open_
        time.sleep(1)


def measure(sim_transactions: list[dict[str, object]]) -> dict[str, object]:
    from django.db.models import Count, Max, Min

    from lightway.data.ledger.models import JournalEntry
    from lightway.data.momo.models import MomoRequest
    from lightway.data.wallets.models import Transfer

    payouts = Transfer.objects.filter(kind="payout")
    statuses = Counter(payouts.values_list("status", flat=True))
    requests = {
        str(r.reference_id): r
        for r in MomoRequest.objects.filter(transfer__kind="payout").select_related("transfer")
    }
    per_reference = Counter(str(t["referenceId"]) for t in sim_transactions)
    momo_paid = {str(t["referenceId"]) for t in sim_transactions if t.get("status") == "SUCCESSFUL"}
    duplicated = sum(n - 1 for n in per_reference.values() if n > 1)
    duplicated += sum(1 for ref in per_reference if ref not in requests)  # unknown to us
    entries = Counter(
        JournalEntry.objects.filter(reference__in=[str(r.transfer_id) for r in requests.values()])
        .values("reference")
        .annotate(n=Count("id"))
        .values_list("reference", "n")
    )
    duplicated += sum(n - 1 for n in entries.values() if n > 1)
    lost = payouts.exclude(status__in=["succeeded", "failed"]).count()
    lost += sum(
        1 for ref in momo_paid if ref in requests and requests[ref].transfer.status != "succeeded"
    )
    lost += sum(
        1
        for r in requests.values()
        if r.transfer.status == "succeeded" and str(r.reference_id) not in momo_paid
    )
    done = payouts.filter(status__in=["succeeded", "failed"])
    latencies = sorted(
        (t.updated_at - t.created_at).total_seconds() * 1000
        for t in done.only("created_at", "updated_at")
    )
    span = done.aggregate(first=Min("created_at"), last=Max("updated_at"))
    seconds = (
        (span["last"] - span["first"]).total_seconds() if span["first"] and span["last"] else 0
    )
    return {
        "payouts": payouts.count(),
        "succeeded": statuses.get("succeeded", 0),
        "failed": statuses.get("failed", 0),
        "momo_transactions": len(sim_transactions),
        # The same from the database: transfer created → its final update (ledger commit).
        "ledger_rate_per_s": round(len(latencies) / seconds, 1) if seconds else 0.0,
        "ledger_p50_ms": round(percentile(latencies, 50), 1),
        "ledger_p99_ms": round(percentile(latencies, 99), 1),
        "lost": lost,
        "duplicated": duplicated,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wallets", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--baseline-seconds", type=float, default=8.0)
    parser.add_argument("--worker-concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WEB_WORKERS", 2)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_WEB_THREADS", 4)))
    parser.add_argument("--drain-seconds", type=float, default=180.0)
    args = parser.parse_args()
    if args.wallets < 1 or args.concurrency < 1 or args.seconds <= 0:
        parser.error("need --wallets >= 1, --concurrency >= 1 and --seconds > 0")

    url = bench_database_url("lightway_bench_payouts")
    setup_django(url)
    wallets = seed(args.wallets)

    say(f"baseline: {args.concurrency} connections, {args.baseline_seconds:.0f} s ...")
    base = baseline(
        url, [w[2] for w in wallets], args.concurrency, args.baseline_seconds, args.warmup
    )

    from lightway.integration.momo.simulator import MomoSimulator

    sim = MomoSimulator(host="127.0.0.1", port=0).start()
    sim.configure(callback_mode="http", completion_seconds=0.05)
    api_user, api_key = sim.provision(callback_host="127.0.0.1")
    server = Server({}, args.workers, args.threads)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MOMO_BASE_URL": sim.base_url,
        "MOMO_API_USER": api_user,
        "MOMO_API_KEY": api_key,
        "MOMO_CALLBACK_URL": f"http://127.0.0.1:{server.port}/webhooks/momo",
        "LIGHTWAY_AUDIT_CHECKPOINT_FILE": "",
        "LIGHTWAY_LOG_LEVEL": "WARNING",
    }
    server.env = env

    try:
        with server, Worker(env, args.worker_concurrency):
            say(f"payouts: {args.concurrency} clients, {args.seconds:.0f} s ...")
            load = closed_loop(server.port, wallets, args.concurrency, args.seconds)
            for sample in load.error_samples:
                say(f"  refused: {sample[:200]!r}")
            say("waiting for every payout to become final ...")
            total, in_flight = wait_final(args.drain_seconds)
            time.sleep(1)  # late duplicate callbacks would land now
            figures = measure(sim.transactions())
    finally:
        sim.stop()

    from lightway.data.ledger.selectors import ledger_verify

    verified = ledger_verify()
    rate = round(load.rate, 1)
    client = load.summary()
    ratio = rate / base.rate if base.rate else 0.0
    out_figures = {
        "wallets": args.wallets,
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "worker_concurrency": args.worker_concurrency,
        "rate_per_s": rate,
        "p50_ms": round(client["p50_ms"], 1),
        "p95_ms": round(client["p95_ms"], 1),
        "p99_ms": round(client["p99_ms"], 1),
        "refused": load.errors,
        **figures,
        "in_flight_at_end": in_flight,
        "baseline_tps": round(base.rate, 1),
        "ratio": round(ratio, 4),
        "ledger_verified": verified.ok,
    }
    out = ROOT / "var" / "bench" / "payouts.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(out_figures, indent=2) + "\n")
    print()
    print(f"{'baseline (raw ledger, SQL)':32} {base.rate:10.1f} transfers/s")
    print(f"{'payouts (API → MoMo → ledger)':32} {rate:10.1f} payouts/s   ({total} payouts)")
    print(f"{'ratio payouts/baseline':32} {ratio:10.4f}")
    print(
        f"{'POST → seen final, ms':32} p50 {client['p50_ms']}  p95 {client['p95_ms']}"
        f"  p99 {client['p99_ms']}"
    )
    print(
        f"{'lost / duplicated':32} {figures['lost']} / {figures['duplicated']}   (both must be 0)"
    )
    print(f"{'ledger verified':32} {verified.ok}")
    print(f"wrote {out.relative_to(ROOT)}")
    good = (
        verified.ok
        and figures["lost"] == 0
        and figures["duplicated"] == 0
        and total > 0
        and load.errors == 0
    )
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
