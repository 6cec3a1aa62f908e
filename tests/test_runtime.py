"""Runtime: health endpoints, metrics, job enqueueing in transactions, tasks, CLI."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from django.db import OperationalError, connection, transaction
from procrastinate.contrib.django import app as procrastinate_app

from lightway.infrastructure.jobs import job_enqueue
from lightway.interfaces.cli.main import main
from lightway.interfaces.web import health

# A task name no worker knows: enqueueing by name does not need the task to exist, and no
# worker that might be running against the test database will pick these jobs up.
TEST_TASK = "runtime_test_noop"


# --- health and metrics ---------------------------------------------------------------------


def test_healthz_answers_without_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_rejects_writes(client):
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_readyz_ready_when_database_answers_and_migrations_applied(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok"},
    }


@pytest.mark.django_db
def test_readyz_503_with_reason_when_migrations_pending(client, monkeypatch):
    monkeypatch.setattr(health, "migrations_pending", lambda: ["ledger.9999_future"])
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert "1 migration(s) not applied" in body["reason"]
    assert body["checks"] == {"database": "ok", "migrations": "fail"}


def test_readyz_503_with_reason_when_database_unreachable(client, monkeypatch):
    def refuse() -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(health, "database_ping", refuse)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["reason"] == "database unreachable"
    assert "connection refused" not in response.content.decode()


@pytest.mark.django_db
def test_metrics_counts_requests_by_route_name_and_status_class(client, settings):
    settings.LIGHTWAY_METRICS_TOKEN = "scrape-secret-for-the-test-0001"
    client.get("/healthz")
    client.get("/no-such-page-for-metrics")
    response = client.get(
        "/metrics", HTTP_AUTHORIZATION=f"Bearer {settings.LIGHTWAY_METRICS_TOKEN}"
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert 'lightway_http_requests_total{method="GET",route="healthz",status="2xx"}' in text
    assert 'lightway_http_requests_total{method="GET",route="unmatched",status="4xx"}' in text
    assert (
        'lightway_http_request_duration_seconds_bucket{le="0.005",method="GET",route="healthz"}'
        in text
    )
    # Job-queue gauges read from procrastinate's tables at scrape time.
    assert "lightway_workers_alive" in text
    assert "lightway_jobs_oldest_waiting_seconds" in text
    # The raw path never becomes a label.
    assert "no-such-page-for-metrics" not in text


@pytest.mark.django_db
def test_metrics_token_required_when_configured(client, settings):
    settings.LIGHTWAY_METRICS_TOKEN = "scrape-secret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert ok.status_code == 200


@pytest.mark.django_db
def test_metrics_are_closed_without_a_configured_token(client, settings):
    """Issue 11 finding 11: /metrics is not public by default. With no token configured
    every scrape is refused (403, saying what to set), with or without a header."""
    settings.LIGHTWAY_METRICS_TOKEN = ""
    refused = client.get("/metrics")
    assert refused.status_code == 403
    assert "LIGHTWAY_METRICS_TOKEN" in refused.json()["error"]["message"]
    assert b"lightway_http_requests_total" not in refused.content
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403


def test_the_worker_metrics_port_needs_the_token_too():
    """The worker's own metrics server (``lightway worker --metrics-port``), over HTTP."""
    import httpx

    from lightway.infrastructure import metrics

    for token, header, status in [
        ("", None, 403),
        ("", "Bearer anything", 403),
        ("worker-scrape-secret-00000001", None, 401),
        ("worker-scrape-secret-00000001", "Bearer wrong", 401),
        ("worker-scrape-secret-00000001", "Bearer worker-scrape-secret-00000001", 200),
    ]:
        server = metrics.metrics_server_start(port=0, addr="127.0.0.1", token=token)
        try:
            url = f"http://127.0.0.1:{server.server_port}/metrics"
            headers = {"Authorization": header} if header else {}
            response = httpx.get(url, headers=headers, timeout=5)
        finally:
            server.shutdown()
            server.server_close()
        assert response.status_code == status, (token, header)
        assert (b"lightway_http_requests_total" in response.content) == (status == 200)


# --- jobs join the caller's transaction ----------------------------------------------------


def _jobs_with_marker(marker: str) -> list[tuple[int, str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, task_name, status FROM procrastinate_jobs WHERE args->>'marker' = %s",
            [marker],
        )
        return list(cursor.fetchall())


def _other_connection_sees(job_id: int) -> bool:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params) as other:
        row = other.execute("SELECT count(*) FROM procrastinate_jobs WHERE id = %s", [job_id])
        return row.fetchone()[0] == 1


@pytest.fixture
def marker(tx_db):
    value = uuid.uuid4().hex
    yield value
    # procrastinate's tables are not flushed between tests (unmanaged models): clean up.
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs WHERE args->>'marker' = %s", [value])


class _Rollback(Exception):
    pass


def test_job_enqueued_in_rolled_back_transaction_leaves_no_job(marker):
    with pytest.raises(_Rollback), transaction.atomic():
        job_id = job_enqueue(TEST_TASK, marker=marker, transfer_id=42)
        assert _jobs_with_marker(marker) == [(job_id, TEST_TASK, "todo")]
        raise _Rollback
    assert _jobs_with_marker(marker) == []


def test_job_enqueued_in_committed_transaction_appears_only_at_commit(marker):
    with transaction.atomic():
        job_id = job_enqueue(TEST_TASK, marker=marker)
        # Same connection, same transaction: not visible to anyone else yet.
        assert not _other_connection_sees(job_id)
    assert _other_connection_sees(job_id)
    assert _jobs_with_marker(marker) == [(job_id, TEST_TASK, "todo")]


def test_queueing_lock_returns_waiting_job_and_keeps_transaction_usable(marker):
    lock = f"runtime-test-{marker}"
    with transaction.atomic():
        first = job_enqueue(TEST_TASK, queueing_lock=lock, marker=marker)
        second = job_enqueue(TEST_TASK, queueing_lock=lock, marker=marker)
        assert second == first
        # The conflict ran in a savepoint: the caller's transaction still works.
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)
    assert [job[0] for job in _jobs_with_marker(marker)] == [first]


# --- tasks ---------------------------------------------------------------------------------


def test_tasks_and_periodic_schedules_registered():
    procrastinate_app.perform_import_paths()
    assert {"audit_link", "holds_expire", "jobs_retry_stalled", "jobs_prune"} <= set(
        procrastinate_app.tasks
    )
    schedules = {
        name: periodic.cron
        for (name, _id), periodic in procrastinate_app.periodic_registry.periodic_tasks.items()
    }
    assert schedules["audit_link"] == "* * * * * *"  # every second, the scheduler's floor
    assert schedules["holds_expire"] == "* * * * *"  # every minute
    assert schedules["ledger_checkpoints_advance"] == "* * * * * */10"  # every 10 s
    assert schedules["remittances_expire"] == "* * * * *"  # every minute
    assert schedules["analytics_rollup"] == "* * * * * */10"  # every 10 s


def test_task_entry_points_call_their_use_cases(tx_db):
    from lightway.interfaces import tasks

    assert tasks.holds_expire(timestamp=0) >= 0
    assert tasks.audit_link() >= 0
    assert tasks.ledger_checkpoints_advance(timestamp=0) >= 0
    assert tasks.remittances_expire(timestamp=0) == 0
    assert tasks.analytics_rollup(timestamp=0) >= 0


# --- CLI -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["up", "--port", "http"], "'http' is not a port number"),
        (["up", "--port", "70000"], "70000 is out of range (1-65535)"),
        (["worker", "--concurrency", "0"], "0 must be at least 1"),
        (["ledger"], "the following arguments are required: <action>"),
        (["audit", "erase"], "invalid choice: 'erase'"),
    ],
)
def test_cli_usage_errors_exit_2_with_a_clear_message(argv, expected, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "lightway: error:" in err
    assert expected in err
    assert "Traceback" not in err


def test_cli_without_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "<command>" in capsys.readouterr().err


@pytest.mark.django_db
def test_cli_check_prints_table_and_fails_without_worker(capsys):
    assert main(["check"]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == ["CHECK", "STATUS", "DETAIL"]
    status = {line.split()[0]: line.split()[1] for line in lines[1:]}
    assert status["database"] == "OK"
    assert status["migrations"] == "OK"
    assert status["worker"] == "FAIL"
    assert "lightway: error: 1 check(s) failed: worker" in err


@pytest.mark.django_db(transaction=True)  # migrate reconnects as the owner
def test_cli_migrate_when_up_to_date(capsys):
    assert main(["migrate"]) == 0
    assert "already up to date" in capsys.readouterr().err


@pytest.mark.django_db
def test_cli_ledger_verify_on_clean_ledger(capsys):
    assert main(["ledger", "verify"]) == 0
    assert "OK: ledger verified" in capsys.readouterr().out


def test_cli_unexpected_error_is_one_line(monkeypatch, capsys):
    from lightway.interfaces.cli import main as cli_main

    def broken(args):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(cli_main, "cmd_migrate", broken)
    assert cli_main.main(["migrate"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "lightway: error: unexpected RuntimeError: disk on fire (run with --traceback for details)"
    ]
