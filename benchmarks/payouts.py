#!/usr/bin/env python
"""Payouts benchmark: MoMo payouts through the whole pipeline, open loop and closed loop,
against the P2P API rate of the same server.

In one run, on a fresh database (``lightway_bench_payouts``) on the same PostgreSQL server:
  1. seeds N customers with funded UGX wallets and API tokens (as benchmarks/transfers.py);
  2. baseline: the foundation's raw double-entry transfer (one SQL round trip), C threads;
  3. starts the MoMo simulator (in this process, callbacks over HTTP), the real web server
     (``lightway serve``) and the job worker (``lightway worker``);
  4. api: a short P2P phase (``transfers.api_phase``: POST /api/v1/transfers, 32 clients)
     against that server, the rate the payout pipeline is held to;
  5. closed loop (latency): C clients each POST /api/v1/momo/payouts and follow that payout
     with GET /api/v1/momo/transfers/{id} until it is final before sending the next, with
     the simulator completing after 50 ms: the pipeline's own latency, not a queue's;
  6. open loop (throughput): with the simulator completing each payout after an MTN-like
     1-3 s, 32 clients submit --payouts payouts (5,000) back to back without waiting for
     them; the run then waits until every payout is final, printing submitted / final /
     pending counts. ``rate_per_s`` = payouts made final / (last final - first submit);
     ``p50_ms``/``p99_ms`` = submit → final, from the transfers' own timestamps.
     Each payout goes submit job → MoMo transfer (202) → simulator completes → callback →
     status read → ledger commit, all in the worker;
  7. counts over every payout of the run: ``lost`` (accepted payouts that never reached a
     final state, or that MoMo paid and the ledger does not show, or the reverse) and
     ``duplicated`` (a second MoMo transaction or a second journal entry for one payout);
     verifies the ledger, prints the figures with their targets and writes
     var/bench/payouts.json.

Target (issue 10): rate_per_s >= 0.25 x the P2P api_tps of the same run, lost 0,
duplicated 0, ledger verified.

Usage: python benchmarks/payouts.py [--payouts 5000] [--wallets 200] [--concurrency 16]
       [--seconds 10] [--database lightway_bench_payouts]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    ROOT,
    LoadResult,
    Server,
    bench_database_url,
    http_send,
    ledger_verified,
    percentile,
    say,
)
from transfers import Customer, api_phase, baseline, seed, setup_django, verdict

if TYPE_CHECKING:
    import psycopg

AMOUNT = 5_000  # UGX per payout: within every tier limit and the simulator's daily limits
RATE_TARGET = 0.25  # open-loop rate_per_s >= RATE_TARGET x api_tps
FINAL = ("succeeded", "failed")


class Worker:
    """``lightway worker`` as a child process; entering waits until it has registered (its
    first heartbeat in ``procrastinate_workers``), so no phase measures its start-up."""

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
        import psycopg

        with psycopg.connect(self.env["DATABASE_URL"], autocommit=True) as conn:
            before = _workers_seen(conn)
            self.proc = subprocess.Popen(self.args, env=self.env, cwd=ROOT)
            deadline = time.monotonic() + 120
            while _workers_seen(conn) == before:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"worker exited with {self.proc.returncode}")
                if time.monotonic() > deadline:
                    raise RuntimeError("worker did not register in 120 s")
                time.sleep(0.3)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _workers_seen(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
    return int(row[0]) if row else 0


def payout_body(rng: random.Random, note: str) -> dict[str, object]:
    return {
        "currency": "UGX",
        "amount": AMOUNT,
        "msisdn": f"2567{rng.randint(10_000_000, 99_999_999)}",
        "note": note,
    }


def closed_loop(
    port: int, wallets: Sequence[Customer], concurrency: int, seconds: float
) -> LoadResult:
    """C clients: submit a payout, follow it until final, repeat, for ``seconds``."""
    import httpx

    result = LoadResult(seconds=seconds)
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client(seed_: int) -> None:
        rng = random.Random(seed_)
        ok, errors = 0, 0
        lat: list[float] = []
        samples: list[str] = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            while time.perf_counter() < stop_at:
                payer = rng.choice(wallets)
                auth = {"Authorization": f"Bearer {payer.token}"}
                t0 = time.perf_counter()
                answer = http.post(
                    "/api/v1/momo/payouts",
                    headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
                    json=payout_body(rng, "bench closed loop"),
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


def payout_counts(conn: psycopg.Connection[Any], since: datetime | None) -> tuple[int, int]:
    """(payouts created since ``since``, of which final) on a psycopg connection."""
    row = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE status = ANY(%s)) FROM wallets_transfer"
        " WHERE kind = 'payout' AND (%s::timestamptz IS NULL OR created_at >= %s)",
        [list(FINAL), since, since],
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


class Progress:
    """Prints submitted / final / pending every ``every`` seconds from its own connection,
    while the payouts are sent and until they are all final; remembers the peak pending."""

    def __init__(self, url: str, since: datetime | None, every: float = 3.0) -> None:
        self.url, self.since, self.every = url, since, every
        self.stop = threading.Event()
        self.peak_pending = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.wait(self.every):
                submitted, final = payout_counts(conn, self.since)
                self.peak_pending = max(self.peak_pending, submitted - final)
                say(f"  submitted {submitted}, final {final}, pending {submitted - final}")

    def __enter__(self) -> Progress:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def wait_final(url: str, since: datetime | None, deadline_s: float) -> int:
    """Wait until no payout (created since ``since``) is in flight; return how many still
    are when the deadline passes (0 when all are final)."""
    import psycopg

    end = time.monotonic() + deadline_s
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            submitted, final = payout_counts(conn, since)
            if submitted == final or time.monotonic() > end:
                return submitted - final
            time.sleep(0.5)


def database_now(url: str) -> datetime:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT now()").fetchone()
    assert row is not None and isinstance(row[0], datetime)
    return row[0]


@dataclass
class OpenLoop:
    payouts: int
    open_concurrency: int
    submitted: int  # payouts the platform created
    refused: int  # POSTs answered other than 201
    submit_seconds: float
    submit_rate_per_s: float
    peak_pending: int
    final: int
    in_flight_at_end: int
    span_seconds: float  # first submit → last final
    rate_per_s: float  # final / span_seconds
    p50_ms: float  # submit → final
    p95_ms: float
    p99_ms: float


def open_loop(
    port: int,
    url: str,
    wallets: Sequence[Customer],
    *,
    payouts: int,
    concurrency: int,
    drain_seconds: float,
) -> OpenLoop:
    """Submit ``payouts`` payouts as fast as ``concurrency`` clients can, then wait until all
    are final; figures from the database's timestamps (transfer created → last update)."""
    import psycopg

    def make_request(rng: random.Random) -> bytes:
        payer = rng.choice(wallets)
        body = json.dumps(payout_body(rng, "bench open loop")).encode()
        return (
            f"POST /api/v1/momo/payouts HTTP/1.1\r\nHost: localhost\r\n"
            f"Authorization: Bearer {payer.token}\r\nIdempotency-Key: {uuid.uuid4()}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    since = database_now(url)
    with Progress(url, since) as progress:
        sent = http_send(port, make_request, concurrency=concurrency, total=payouts)
        say(
            f"  {sent.ok} submitted in {sent.seconds:.1f} s ({sent.rate:.0f}/s),"
            f" refused {sent.errors}; waiting for every payout to become final ..."
        )
        for sample in sent.error_samples:
            say(f"  refused: {sample[:200]!r}")
        in_flight = wait_final(url, since, drain_seconds)
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT created_at, updated_at, status FROM wallets_transfer"
            " WHERE kind = 'payout' AND created_at >= %s",
            [since],
        ).fetchall()
    final = [(c, u) for c, u, status in rows if status in FINAL]
    latencies = sorted((u - c).total_seconds() * 1000 for c, u in final)
    first_submit = min((c for c, _u, _s in rows), default=None)
    last_final = max((u for _c, u in final), default=None)
    span = (last_final - first_submit).total_seconds() if first_submit and last_final else 0.0
    return OpenLoop(
        payouts=payouts,
        open_concurrency=concurrency,
        submitted=len(rows),
        refused=sent.errors,
        submit_seconds=round(sent.seconds, 1),
        submit_rate_per_s=round(sent.rate, 1),
        peak_pending=progress.peak_pending,
        final=len(final),
        in_flight_at_end=in_flight,
        span_seconds=round(span, 1),
        rate_per_s=round(len(final) / span, 1) if span else 0.0,
        p50_ms=round(percentile(latencies, 50), 1),
        p95_ms=round(percentile(latencies, 95), 1),
        p99_ms=round(percentile(latencies, 99), 1),
    )


def measure(sim_transactions: list[dict[str, object]]) -> dict[str, object]:
    """Correctness over every payout of the run: lost and duplicated."""
    from django.db.models import Count

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
    lost = payouts.exclude(status__in=FINAL).count()
    lost += sum(
        1 for ref in momo_paid if ref in requests and requests[ref].transfer.status != "succeeded"
    )
    lost += sum(
        1
        for r in requests.values()
        if r.transfer.status == "succeeded" and str(r.reference_id) not in momo_paid
    )
    return {
        "payouts_total": payouts.count(),
        "succeeded": statuses.get("succeeded", 0),
        "failed": statuses.get("failed", 0),
        "momo_transactions": len(sim_transactions),
        "lost": lost,
        "duplicated": duplicated,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payouts", type=int, default=5_000, help="open loop: how many")
    parser.add_argument("--open-concurrency", type=int, default=32, help="open loop clients")
    parser.add_argument("--wallets", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16, help="closed loop clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="closed loop duration")
    parser.add_argument("--api-concurrency", type=int, default=32, help="P2P api phase clients")
    parser.add_argument("--api-seconds", type=float, default=8.0, help="P2P api phase duration")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--baseline-seconds", type=float, default=8.0)
    parser.add_argument("--worker-concurrency", type=int, default=8)
    parser.add_argument(
        "--worker-processes",
        type=int,
        default=int(os.environ.get("BENCH_WORKER_PROCESSES", 1)),
        help="lightway worker processes sharing the queue (BENCH_WORKER_PROCESSES)",
    )
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WEB_WORKERS", 2)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_WEB_THREADS", 4)))
    parser.add_argument(
        "--server",
        choices=("gunicorn", "granian"),
        default=os.environ.get("BENCH_WEB_SERVER", "granian"),
        help="the HTTP server (lightway serve --server; BENCH_WEB_SERVER)",
    )
    parser.add_argument("--drain-seconds", type=float, default=600.0)
    parser.add_argument(
        "--database",
        default=os.environ.get("BENCH_PAYOUTS_DATABASE", "lightway_bench_payouts"),
        help="name of the throw-away database (dropped and created; BENCH_PAYOUTS_DATABASE)",
    )
    args = parser.parse_args()
    if args.wallets < 2 or args.concurrency < 1 or args.seconds <= 0 or args.payouts < 1:
        parser.error("need --wallets >= 2, --concurrency >= 1, --seconds > 0, --payouts >= 1")
    if args.worker_processes < 1:
        parser.error("need --worker-processes >= 1")

    url = bench_database_url(args.database)
    setup_django(url)
    wallets = seed(args.wallets)

    say(f"baseline: {args.concurrency} connections, {args.baseline_seconds:g} s ...")
    base = baseline(
        url, [w.account_id for w in wallets], args.concurrency, args.baseline_seconds, args.warmup
    )

    from lightway.integration.momo.simulator import MomoSimulator

    sim = MomoSimulator(host="127.0.0.1", port=0).start()
    sim.configure(callback_mode="http", completion_seconds=0.05)
    api_user, api_key = sim.provision(callback_host="127.0.0.1")
    server = Server({}, args.workers, args.threads, args.server)
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
        with server, contextlib.ExitStack() as workers:
            for _ in range(args.worker_processes):
                workers.enter_context(Worker(env, args.worker_concurrency))
            api = api_phase(
                server.port,
                wallets,
                argparse.Namespace(
                    concurrency=args.api_concurrency, seconds=args.api_seconds, warmup=args.warmup
                ),
            ).result
            say(f"closed loop: {args.concurrency} clients, {args.seconds:g} s, MoMo 50 ms ...")
            closed = closed_loop(server.port, wallets, args.concurrency, args.seconds)
            closed_p = closed.summary()
            say(
                f"  {closed.ok} final, {closed.rate:.1f}/s, p50 {closed_p['p50_ms']} ms,"
                f" p99 {closed_p['p99_ms']} ms, refused {closed.errors}"
            )
            for sample in closed.error_samples:
                say(f"  refused: {sample[:200]!r}")
            closed_in_flight = wait_final(url, None, args.drain_seconds)
            sim.configure(completion_seconds=1.0, completion_jitter_seconds=2.0)
            say(
                f"open loop: {args.payouts} payouts, {args.open_concurrency} clients,"
                " MoMo completes each after 1-3 s ..."
            )
            opened = open_loop(
                server.port,
                url,
                wallets,
                payouts=args.payouts,
                concurrency=args.open_concurrency,
                drain_seconds=args.drain_seconds,
            )
            time.sleep(1)  # late duplicate callbacks would land now
            correctness = measure(sim.transactions())
    finally:
        sim.stop()

    verified = ledger_verified()
    api_tps = round(api.rate, 1)
    target_rate = round(RATE_TARGET * api_tps, 1)
    rate = opened.rate_per_s
    closed_s = closed.summary()
    refused = opened.refused + closed.errors + api.errors
    checks = {
        "rate_per_s": rate >= target_rate,
        "lost": correctness["lost"] == 0,
        "duplicated": correctness["duplicated"] == 0,
        "refused": refused == 0,
        "ledger_verified": verified.ok,
    }
    figures: dict[str, object] = {
        "wallets": args.wallets,
        "worker_concurrency": args.worker_concurrency,
        "worker_processes": args.worker_processes,
        "web_workers": args.workers,
        "web_threads": args.threads,
        "web_server": args.server,
        **asdict(opened),
        "target_rate": target_rate,
        "api_tps": api_tps,
        "api_p99_ms": api.summary()["p99_ms"],
        "api_concurrency": args.api_concurrency,
        "closed_loop": {
            "concurrency": args.concurrency,
            "seconds": args.seconds,
            "payouts": closed.ok,
            "rate_per_s": round(closed.rate, 1),
            "p50_ms": round(closed_s["p50_ms"], 1),
            "p95_ms": round(closed_s["p95_ms"], 1),
            "p99_ms": round(closed_s["p99_ms"], 1),
            "refused": closed.errors,
            "in_flight_at_end": closed_in_flight,
        },
        **correctness,
        "refused_total": refused,
        "baseline_tps": round(base.rate, 1),
        "ratio": round(rate / base.rate, 4) if base.rate else 0.0,
        "ledger_verified": verified.ok,
        "targets": {
            "rate_per_s_min": f"{RATE_TARGET} x api_tps",
            "lost": 0,
            "duplicated": 0,
            "ledger_verified": True,
        },
        "passed": checks,
    }
    out = ROOT / "var" / "bench" / "payouts.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")

    print()
    print(f"{'baseline (raw ledger, SQL)':36} {base.rate:10.1f} transfers/s")
    print(f"{'P2P api (POST /api/v1/transfers)':36} {api_tps:10.1f} transfers/s")
    print(
        f"{'closed loop (MoMo 50 ms)':36} {closed.rate:10.1f} payouts/s   POST → seen final ms:"
        f" p50 {closed_s['p50_ms']}  p95 {closed_s['p95_ms']}  p99 {closed_s['p99_ms']}"
    )
    print(
        f"{'open loop (MoMo 1-3 s)':36} {rate:10.1f} payouts/s   ({opened.final} final of"
        f" {opened.submitted} in {opened.span_seconds} s; submitted at"
        f" {opened.submit_rate_per_s}/s, peak pending {opened.peak_pending})"
    )
    print(
        f"{'open loop submit → final ms':36} p50 {opened.p50_ms}  p95 {opened.p95_ms}"
        f"  p99 {opened.p99_ms}"
    )
    print()
    rows = [
        ("rate_per_s (open loop)", f"{rate:.1f}", f">= {target_rate} (0.25 x api)", "rate_per_s"),
        ("lost", f"{correctness['lost']}", "0", "lost"),
        ("duplicated", f"{correctness['duplicated']}", "0", "duplicated"),
        ("refused requests", f"{refused}", "0", "refused"),
        ("ledger verified", f"{verified.ok}", "True", "ledger_verified"),
    ]
    print(f"{'figure':36} {'value':>10}  {'target':28} result")
    for label, value, target, key in rows:
        print(f"{label:36} {value:>10}  {target:28} {verdict(checks[key])}")
    print(f"wrote {out.relative_to(ROOT)}")
    good = (
        verified.ok
        and correctness["lost"] == 0
        and correctness["duplicated"] == 0
        and opened.final > 0
        and refused == 0
    )
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
