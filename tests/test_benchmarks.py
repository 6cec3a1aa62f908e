"""The measuring instruments of benchmarks/transfers.py (docs/performance.md).

The benchmark-only HTTP floor endpoint: absent by default (404, not in OpenAPI); with
LIGHTWAY_BENCH_FLOOR=1 the real server (``lightway serve``) answers it behind the same bearer
authentication as /transfers and runs the baseline's SQL; the settings refuse the flag in
production. The history seeding: its rows are succeeded P2P payments earlier this month that
pass ``ledger verify``, with every trigger enabled again afterwards.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import runpy
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from lightway.data.ledger.models import Account, JournalEntry
from lightway.data.wallets.models import Transfer
from lightway.infrastructure import settings as settings_module
from lightway.infrastructure.config import url_from_database
from lightway.interfaces.api.bench_floor import FLOOR_SQL
from tests.factories import customer, funded_wallet

ROOT = Path(__file__).resolve().parents[1]
URL = "/api/v1/bench/floor-transfer"


@functools.cache
def _benchmark_module():
    """benchmarks/transfers.py, imported under its own name (it is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "bench_transfers", ROOT / "benchmarks" / "transfers.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    saved = list(sys.path)
    try:
        spec.loader.exec_module(module)  # it puts benchmarks/ on sys.path for its helpers
    finally:
        sys.path[:] = saved
    return module


def test_the_floor_runs_the_baseline_sql_verbatim():
    assert _benchmark_module().BASELINE_SQL == FLOOR_SQL


@pytest.mark.django_db
def test_absent_by_default(client, now):
    _user, token = customer("floor-off", now)
    a = funded_wallet(_user, "UGX", 10_000, now)
    b_user, _ = customer("floor-off-b", now)
    b = funded_wallet(b_user, "UGX", 0, now)
    body = {"debit_account_id": a.account_id, "credit_account_id": b.account_id, "amount": 1}
    for headers in ({"HTTP_AUTHORIZATION": f"Bearer {token}"}, {}):
        response = client.post(
            URL, data=json.dumps(body), content_type="application/json", **headers
        )
        assert response.status_code == 404, response.content
    assert JournalEntry.objects.filter(kind="bench").count() == 0
    assert "/bench" not in client.get("/api/v1/openapi.json").content.decode()


def _settings_namespace(monkeypatch, **env: str) -> dict[str, object]:
    for name in ("LIGHTWAY_DEBUG", "LIGHTWAY_DATA_KEYS", "LIGHTWAY_BLIND_INDEX_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(Path(settings_module.__file__)))


def test_the_settings_refuse_the_floor_in_production(monkeypatch):
    key = "v1:" + "A" * 43 + "="
    with pytest.raises(ImproperlyConfigured, match="refused in production"):
        _settings_namespace(monkeypatch, LIGHTWAY_BENCH_FLOOR="1", LIGHTWAY_DATA_KEYS=key)
    with pytest.raises(ImproperlyConfigured, match="refused in production"):
        _settings_namespace(monkeypatch, LIGHTWAY_BENCH_FLOOR="1", LIGHTWAY_BLIND_INDEX_KEY="k")
    # development keys, or debug on: allowed; unset: off
    assert _settings_namespace(monkeypatch, LIGHTWAY_BENCH_FLOOR="1")["LIGHTWAY_BENCH_FLOOR"]
    on_debug = _settings_namespace(
        monkeypatch, LIGHTWAY_BENCH_FLOOR="1", LIGHTWAY_DEBUG="1", LIGHTWAY_DATA_KEYS=key
    )
    assert on_debug["LIGHTWAY_BENCH_FLOOR"] is True
    monkeypatch.delenv("LIGHTWAY_BENCH_FLOOR", raising=False)
    assert _settings_namespace(monkeypatch, LIGHTWAY_DATA_KEYS=key)["LIGHTWAY_BENCH_FLOOR"] is False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=["gunicorn", "granian"])
def floor_server(request, tx_db):
    """``lightway serve --server <each server>`` on the test database with
    LIGHTWAY_BENCH_FLOOR=1."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    for name in ("LIGHTWAY_DATA_KEYS", "LIGHTWAY_BLIND_INDEX_KEY"):
        env.pop(name, None)
    env.update(
        DATABASE_URL=url_from_database(connection.settings_dict),
        LIGHTWAY_BENCH_FLOOR="1",
        LIGHTWAY_LOG_LEVEL="WARNING",
    )
    script = Path(sys.executable).with_name("lightway")
    command = (
        [str(script)] if script.exists() else [sys.executable, "-m", "lightway.interfaces.cli"]
    )
    server = subprocess.Popen(
        [
            *command,
            "serve",
            "--port",
            str(port),
            "--workers",
            "1",
            "--threads",
            "2",
            "--server",
            request.param,
            "--no-collectstatic",
        ],
        env=env,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, f"server exited with {server.returncode}"
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server not ready in 90 s"
            time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.slow
def test_present_with_the_setting(floor_server, now):
    payer, token = customer("floor-on", now)
    a = funded_wallet(payer, "UGX", 10_000, now)
    payee, _ = customer("floor-on-b", now)
    b = funded_wallet(payee, "UGX", 0, now)
    _other, other_token = customer("floor-on-c", now)
    auth = {"Authorization": f"Bearer {token}"}

    def post(body: object, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.post(
            f"{floor_server}{URL}", json=body, headers=auth if headers is None else headers
        )

    good = {"debit_account_id": a.account_id, "credit_account_id": b.account_id, "amount": 2_500}
    answer = post(good)
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"posted": True}
    balances = dict(
        Account.objects.filter(pk__in=[a.account_id, b.account_id]).values_list("pk", "balance")
    )
    assert balances == {a.account_id: 7_500, b.account_id: 2_500}
    assert JournalEntry.objects.filter(kind="bench").count() == 1

    # the same bearer authentication as /transfers
    assert post(good, {}).status_code == 401
    assert post(good, {"Authorization": "Bearer lw_not-a-token"}).status_code == 401
    assert post(good, {"Authorization": f"Bearer {other_token}"}).status_code == 201  # any customer
    # bad input: a clear 4xx in the API's error shape, never a 500
    for body, code in (
        ({**good, "amount": 0}, "validation_failed"),
        ({**good, "amount": "5"}, "validation_failed"),
        ({**good, "credit_account_id": a.account_id}, "validation_failed"),
        ({**good, "extra": 1}, "validation_failed"),
        ({**good, "amount": 1_000_000}, "floor_refused"),  # more than the payer holds
        ({**good, "credit_account_id": 9_999_999}, "floor_refused"),  # no such account
    ):
        refused = post(body)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.json()["error"]["code"] == code, refused.text
    assert httpx.post(f"{floor_server}{URL}", content=b"{", headers=auth).status_code == 400
    assert JournalEntry.objects.filter(kind="bench").count() == 2

    # never in the OpenAPI document, even when mounted
    document = httpx.get(f"{floor_server}/api/v1/openapi.json").text
    assert "/api/v1/transfers" in document and "/bench" not in document

    # the real payment endpoint, on the same server: recorded once, then replayed
    payment = {
        "source_wallet_id": str(a.id),
        "destination_wallet_id": str(b.id),
        "amount": 1_000,
        "currency": "UGX",
    }
    keyed = {**auth, "Idempotency-Key": "floor-server-payment"}
    first = httpx.post(f"{floor_server}/api/v1/transfers", json=payment, headers=keyed)
    assert first.status_code == 201, first.text
    again = httpx.post(f"{floor_server}/api/v1/transfers", json=payment, headers=keyed)
    assert (again.status_code, again.headers.get("Idempotent-Replayed")) == (200, "true")
    assert again.json()["id"] == first.json()["id"]


# --- the history phase's seeding --------------------------------------------------------


def test_history_window_is_earlier_this_month_in_kampala():
    window = _benchmark_module().history_window
    kampala = ZoneInfo("Africa/Kampala")
    # 24 Nov 09:00 UTC = 12:00 in Kampala: from 1 Nov 00:00 to 24 Nov 00:00 there
    start, end = window(datetime(2026, 11, 24, 9, 0, tzinfo=UTC), "Africa/Kampala")
    assert (start, end) == (
        datetime(2026, 11, 1, tzinfo=kampala),
        datetime(2026, 11, 24, tzinfo=kampala),
    )
    # 30 Nov 22:00 UTC is already 1 Dec in Kampala: no earlier day, so today before now
    now = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)
    start, end = window(now, "Africa/Kampala")
    assert start == datetime(2026, 12, 1, tzinfo=kampala)
    assert start < end < now


def test_aml_configure_puts_the_rules_in_force_and_one_customer_under_a_sanctions_hit(tx_db, now):
    """The inline-AML phase's set-up (``--aml-only`` and ``make bench``) runs on the current
    schema: a model change once broke it with nothing in the suite noticing."""
    from lightway.application.aml.sanctions import hit_subject_name
    from lightway.data.aml.models import RuleVersion, SanctionsHit

    bench = _benchmark_module()
    bench.aml_configure([])
    [hit] = SanctionsHit.objects.filter(status="open")
    assert hit.subject_type == "customer" and hit_subject_name(hit) == "bench"
    assert RuleVersion.objects.exists()


def test_history_seed_writes_verified_succeeded_payments(tx_db, db_roles, now):
    from lightway.data.ledger.verify import ledger_verify
    from lightway.data.wallets.models import Transfer

    bench = _benchmark_module()
    payers = []
    for i in range(3):
        user_id, token = customer(f"history-{i}", now)
        wallet = funded_wallet(user_id, "UGX", 10_000, now)
        payers.append(bench.Customer(token, str(wallet.id), wallet.account_id, user_id))
    said: list[str] = []
    bench.history_seed(
        url_from_database({**connection.settings_dict, **db_roles.owner}),
        payers,
        per_payer=7,
        now=now,
        batch_per_payer=3,
        progress=said.append,
    )
    assert any("7" in line for line in said)
    rows = Transfer.objects.filter(kind="p2p")
    assert rows.filter(status="succeeded").count() == rows.count() == 21
    start = datetime(2026, 11, 1, tzinfo=ZoneInfo("Africa/Kampala"))
    today = datetime(2026, 11, 24, tzinfo=ZoneInfo("Africa/Kampala"))
    for payer in payers:
        mine = rows.filter(client_id=payer.user_id)
        assert mine.count() == 7
        assert all(start <= t.created_at < today for t in mine)
        assert all(100 <= t.amount <= 300 and t.entry_id for t in mine)
    # each payer paid and was paid the same amounts: balances where they started
    balances = Account.objects.filter(pk__in=[p.account_id for p in payers])
    assert set(balances.values_list("balance", flat=True)) == {10_000}
    result = ledger_verify()  # also reports a trigger left disabled
    assert result.ok, result.problems
    from lightway.data.wallets.selectors import usage_counters_problems

    assert usage_counters_problems() == []  # the seeded counters match the seeded payments
    from lightway.data.wallets.models import UsageCounter

    month = UsageCounter.objects.get(customer_id=payers[0].user_id, period="month")
    assert month.amount == sum(
        rows.filter(client_id=payers[0].user_id).values_list("amount", flat=True)
    )


def _settlement_module():
    """benchmarks/settlement.py, imported under its own name."""
    spec = importlib.util.spec_from_file_location(
        "bench_settlement", ROOT / "benchmarks" / "settlement.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    saved = list(sys.path)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved
    return module


def test_settlement_benchmark_smoke(tx_db, tmp_path):
    """benchmarks/settlement.py with a tiny count, as the runtime role: the payments'
    effects go through the payment trigger's window function and guard, every window
    closes with its positions, and the figures are written."""
    bench = _settlement_module()
    result = bench.run(transactions=500, earlier_windows=2)
    assert result["transactions"] == 500
    assert result["history_deltas"] == 1500
    assert 0 < result["seconds"] < bench.TARGET_SECONDS
    assert result["seconds_after_ten_windows"] > 0 and result["ratio"] > 0
    assert result["instructions"] >= 1
    path = tmp_path / "settlement.json"
    bench.write_result(result, path)
    assert json.loads(path.read_text())["transactions"] == 500


# --- benchmarks/hot_account.py --------------------------------------------------------------


@pytest.mark.slow
def test_hot_account_benchmark_runs_with_tiny_counts(tmp_path, db_roles):
    """The hot-prefund benchmark end to end with a handful of confirms: it seeds, serves,
    confirms through the signed partner API, checks the prefunds and the ledger, and writes
    its figures (not timed: the figures of a real run are in docs/performance.md)."""
    output = tmp_path / "hot_account.json"
    database = f"{connection.settings_dict['NAME']}_hot_smoke"
    owner = db_roles.owner
    base = url_from_database(
        {**connection.settings_dict, **{k: owner[k] for k in ("USER", "PASSWORD", "HOST", "PORT")}}
    )
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    for name in ("LIGHTWAY_DATA_KEYS", "LIGHTWAY_BLIND_INDEX_KEY"):
        env.pop(name, None)
    env.update(DATABASE_URL=base, PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}")
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "hot_account.py"),
            "--remittances",
            "6",
            "--partners",
            "2",
            "--concurrency",
            "2",
            "--workers",
            "1",
            "--threads",
            "2",
            "--warmup",
            "2",
            "--database",
            database,
            "--output",
            str(output),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    import psycopg

    # the maintenance database on the same server: rebuilt from the settings, not cut from
    # the URL (a Unix-socket server's URL ends in ``?host=/dir``, which holds slashes too)
    admin_url = url_from_database({**connection.settings_dict, **owner, "NAME": "postgres"})
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    assert output.exists(), run.stderr[-3000:]
    figures = json.loads(output.read_text())
    assert {"hot_rate_per_s", "spread_rate_per_s", "hot_ratio", "p99_ms", "overdrafts"} <= set(
        figures
    )
    assert (figures["overdrafts"], figures["errors"], figures["ledger_verified"]) == (0, 0, True)
    assert figures["hot_rate_per_s"] > 0 and figures["spread_rate_per_s"] > 0


# --- benchmarks/pages.py and benchmarks/live.py (issue 13) -----------------------------------


def _bench_module(name: str):
    """benchmarks/<name>.py, imported under its own name (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        f"bench_{name}", ROOT / "benchmarks" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    saved = list(sys.path)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved
    return module


def test_pages_benchmark_smoke(tx_db, tmp_path):
    """The pages benchmark at a tiny scale: it signs in for real as each realm, measures
    every page that exists, skips those that do not with a note, and writes its figures."""
    from django.utils import timezone

    from lightway.application.demo import demo_seed
    from lightway.application.volume import volume_seed

    now = timezone.now()
    demo_seed(now=now)
    volume_seed(payments=60, customers=4, days=3, now=now)
    bench = _bench_module("pages")
    result = bench.run(repeat=1, progress=lambda _line: None)
    pages = result["pages"]
    assert result["transactions"] == Transfer.objects.count() >= 60
    for url in ("/app/", "/app/momo/", "/staff/", "/mtn/", "/api/v1/wallets"):
        assert pages[url]["status"] == 200 and pages[url]["p50_ms"] > 0, url
    admin = [url for url in pages if url.startswith("/admin/")]
    assert "/admin/wallets/transfer/" in admin and any("?q=" in url for url in admin)
    assert all(f["queries"] > 0 and f["ratio"] for f in pages.values())
    assert result["p95_ms"] > 0 and result["baseline"]["url"] == "/healthz"
    assert all("404" in why or "no demo user" in why for why in result["skipped"].values())
    path = tmp_path / "pages.json"
    bench.write_result(result, path)
    written = json.loads(path.read_text())
    assert {"p95_ms", "transactions", "pages"} <= set(written)
    assert any(line.startswith("p95 over every page") for line in bench.table(result))


def test_live_traffic_reaches_the_running_platform(live_server):
    """benchmarks/live.py pays through the API of a running server (make bench moves the
    dashboards of `make run`)."""
    from django.utils import timezone

    from lightway.application.demo import demo_seed

    demo_seed(now=timezone.now())
    live = _bench_module("live")
    before = Transfer.objects.filter(kind="p2p").count()
    counts = live.run(live_server.url, seconds=2, rate=10)
    assert counts["transfers"] > 0
    made = Transfer.objects.filter(kind="p2p", description="live traffic")
    assert (
        made.count() == counts["transfers"] == Transfer.objects.filter(kind="p2p").count() - before
    )
    assert made.filter(status="succeeded").count() == counts["transfers"]
