"""Shared benchmark plumbing: a throw-away database, a real server, a keep-alive load client."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parents[1]


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def bench_database_url(name: str, *, create: bool = True) -> str:
    """A fresh, empty database ``name`` on the same server the platform uses (with
    ``create=False``: the URL of the one a previous run left)."""
    import psycopg

    base = os.environ.get("DATABASE_URL")
    if not base:
        sys.path.insert(0, str(ROOT / "src"))
        from lightway.infrastructure import embedded_pg

        base = embedded_pg.ensure_urls().owner
    parsed = urlparse(base)
    admin_url = urlunparse(parsed._replace(path="/postgres"))
    if not create:
        return urlunparse(parsed._replace(path=f"/{name}"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunparse(parsed._replace(path=f"/{name}"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


@dataclass
class LoadResult:
    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, float]:
        lat = sorted(self.latencies_ms)
        return {
            "p50_ms": round(percentile(lat, 50), 2),
            "p95_ms": round(percentile(lat, 95), 2),
            "p99_ms": round(percentile(lat, 99), 2),
        }


class Server:
    """``lightway serve`` as a child process on a free port."""

    def __init__(
        self,
        env: dict[str, str],
        workers: int,
        threads: int,
        server: str = "granian",
        *,
        ready_seconds: float = 60,
    ) -> None:
        self.port = free_port()
        self.ready_seconds = ready_seconds
        self.env = env
        self.args = [
            str(Path(sys.executable).parent / "lightway"),
            "serve",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--server",
            server,
            "--no-collectstatic",
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        self.proc = subprocess.Popen(self.args, env=self.env, cwd=ROOT)
        # a loaded machine may need longer (BENCH_READY_SECONDS); never leave it running
        ready_seconds = max(self.ready_seconds, float(os.environ.get("BENCH_READY_SECONDS", 0)))
        deadline = time.monotonic() + ready_seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(
                        b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                    )
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        return self
            except OSError:
                pass
            time.sleep(0.3)
        self.__exit__()
        raise RuntimeError(f"server did not become ready in {ready_seconds:g} s")

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


async def _client(
    port: int,
    make_request: Callable[[random.Random], bytes],
    ok_status: bytes,
    stop_at: float,
    measure_from: float,
    result: LoadResult,
    seed: int,
    budget: list[int] | None = None,
) -> None:
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            now = time.perf_counter()
            if now >= stop_at:
                return
            if budget is not None:  # shared by the clients of one event loop: no lock needed
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            writer.write(make_request(rng))
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            close = False
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                lname = name.strip().lower()
                if lname == b"content-length":
                    length = int(value.strip())
                elif lname == b"connection" and value.strip().lower() == b"close":
                    close = True
            body = await reader.readexactly(length) if length else b""
            done = time.perf_counter()
            if now >= measure_from:
                if status_line.split(b" ", 2)[1:2] == [ok_status]:
                    result.ok += 1
                    result.latencies_ms.append((done - now) * 1000)
                else:
                    result.errors += 1
                    if len(result.error_samples) < 5:
                        result.error_samples.append(
                            (status_line + body[:300]).decode(errors="replace")
                        )
            if close or not status_line:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


def http_load(
    port: int,
    make_request: Callable[[random.Random], bytes],
    *,
    concurrency: int,
    seconds: float,
    warmup: float,
    ok_status: bytes = b"201",
) -> LoadResult:
    """``concurrency`` keep-alive clients send requests back to back for warmup + seconds."""
    result = LoadResult(seconds=seconds)

    async def run() -> None:
        start = time.perf_counter()
        measure_from = start + warmup
        stop_at = measure_from + seconds
        await asyncio.gather(
            *(
                _client(port, make_request, ok_status, stop_at, measure_from, result, i)
                for i in range(concurrency)
            )
        )

    asyncio.run(run())
    return result


def http_send(
    port: int,
    make_request: Callable[[random.Random], bytes],
    *,
    concurrency: int,
    total: int,
    ok_status: bytes = b"201",
) -> LoadResult:
    """``concurrency`` keep-alive clients send ``total`` requests between them, back to back,
    as fast as the server answers (an open loop: nothing waits for the work to finish)."""
    result = LoadResult()
    budget = [total]

    async def run() -> None:
        await asyncio.gather(
            *(
                _client(port, make_request, ok_status, float("inf"), 0.0, result, i, budget)
                for i in range(concurrency)
            )
        )

    started = time.perf_counter()
    asyncio.run(run())
    result.seconds = time.perf_counter() - started
    return result


BASELINE_KIND = "bench"  # the journal entries the raw baseline posts (no transfer behind them)
ORPHAN_CHECK = "every journal entry belongs to a transfer, a committed hold or a standalone kind"


@dataclass
class Verified:
    ok: bool
    problems: list[str]
    baseline_entries: int


def ledger_verified(progress: Callable[[str], None] | None = None) -> Verified:
    """``ledger verify`` over everything the benchmark wrote. The raw baseline posts bare
    entries (kind ``bench``) that belong to no transfer, which verify rightly reports as
    orphans: they are expected here, and only here. The ledger counts as verified when every
    other check passes and the orphans are exactly the baseline's entries."""
    from django.db import connection

    from lightway.data.ledger.verify import ledger_verify

    result = ledger_verify(progress=progress)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM ledger_journal_entry WHERE kind = %s", [BASELINE_KIND])
        baseline_entries = int(cur.fetchone()[0])
    failed = dict(result.failed)
    orphans = failed.pop(ORPHAN_CHECK, 0)
    problems = [p for p in result.problems if f"({BASELINE_KIND}, " not in p]
    problems = [p for p in problems if not p.endswith(f"more: {ORPHAN_CHECK}")]
    ok = not failed and orphans == baseline_entries
    if not ok and orphans != baseline_entries:
        problems.append(
            f"{orphans} entries belong to nothing, of which {baseline_entries} are the baseline's"
        )
    return Verified(ok=ok, problems=problems, baseline_entries=baseline_entries)
