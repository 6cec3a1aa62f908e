"""`lightway simulators`: runs the simulators, prints their URLs, stops on SIGTERM."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import psutil
import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(*args: str, **kw) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lightway.interfaces.cli", "simulators", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **kw},
    )


def test_one_simulator_on_a_chosen_port_serves_and_stops_on_sigterm():
    port = _free_port()
    proc = _run("--only", "notify", "--port", str(port), LIGHTWAY_SIM_SMTP_PORT=str(_free_port()))
    try:
        line = proc.stdout.readline()
        assert line.startswith("notify ") and f"http://127.0.0.1:{port}" in line, line
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/inbox", timeout=5) as response:
            assert response.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0


def test_every_simulator_starts_and_writes_the_environment_for_up(tmp_path):
    env_file = tmp_path / "sim.env"
    ports = {
        "LIGHTWAY_SIM_NOTIFY_PORT": str(_free_port()),
        "LIGHTWAY_SIM_SMTP_PORT": str(_free_port()),
        "LIGHTWAY_SIM_SUMSUB_PORT": str(_free_port()),
        "LIGHTWAY_SIM_MOMO_PORT": str(_free_port()),
        "LIGHTWAY_SIM_ECB_PORT": str(_free_port()),
        "LIGHTWAY_SIM_REGIONAL_PORT": str(_free_port()),
        "LIGHTWAY_SIM_WEBHOOKS_PORT": str(_free_port()),
    }
    proc = _run("--env-file", str(env_file), "--web-base", "http://localhost:8000", **ports)
    try:
        deadline = time.monotonic() + 30
        while not env_file.exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        env = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        notify = f"http://127.0.0.1:{ports['LIGHTWAY_SIM_NOTIFY_PORT']}"
        assert env["AFRICASTALKING_BASE_URL"] == env["TWILIO_BASE_URL"] == notify
        assert env["SUMSUB_BASE_URL"] == f"http://127.0.0.1:{ports['LIGHTWAY_SIM_SUMSUB_PORT']}"
        assert env["LIGHTWAY_SMTP_PORT"] == ports["LIGHTWAY_SIM_SMTP_PORT"]
        # The rate feeds serve their formats at their real paths.
        ecb = env["FX_ECB_BASE_URL"]
        assert ecb == f"http://127.0.0.1:{ports['LIGHTWAY_SIM_ECB_PORT']}"
        with urllib.request.urlopen(f"{ecb}/stats/eurofxref/eurofxref-daily.xml", timeout=5) as r:
            assert b"gesmes:Envelope" in r.read()
        regional = env["FX_REGIONAL_FEED_URL"]
        rates = urllib.request.Request(
            f"{regional}/v1/rates",
            headers={"Authorization": f"Bearer {env['FX_REGIONAL_FEED_KEY']}"},
        )
        with urllib.request.urlopen(rates, timeout=5) as r:
            assert json.load(r)["base"] == "USD"
        # The Sumsub simulator answers, and like Sumsub refuses an unsigned request.
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{env['SUMSUB_BASE_URL']}/resources/status/api", timeout=5)
        assert refused.value.code == 401
        # The MoMo simulator provisioned an API user over HTTP whose callback host is the
        # platform's host; its key gets a token.
        momo = env["MOMO_BASE_URL"]
        assert momo == f"http://127.0.0.1:{ports['LIGHTWAY_SIM_MOMO_PORT']}"
        assert env["MOMO_CALLBACK_URL"] == "http://localhost:8000/webhooks/momo"
        key = {"Ocp-Apim-Subscription-Key": "de40c011ec7100000000000000000001"}
        with urllib.request.urlopen(
            urllib.request.Request(f"{momo}/v1_0/apiuser/{env['MOMO_API_USER']}", headers=key),
            timeout=5,
        ) as response:
            assert json.load(response)["providerCallbackHost"] == "localhost"
        basic = base64.b64encode(f"{env['MOMO_API_USER']}:{env['MOMO_API_KEY']}".encode())
        request = urllib.request.Request(
            f"{momo}/disbursement/token/",
            method="POST",
            headers={
                "Ocp-Apim-Subscription-Key": "de40d15b000000000000000000000002",
                "Authorization": f"Basic {basic.decode()}",
            },
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.load(response)["expires_in"] == 3600
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0


def test_momo_simulator_on_a_chosen_port_prints_its_url():
    port = _free_port()
    proc = _run("--only", "momo", "--port", str(port))
    try:
        line = proc.stdout.readline()
        assert line.startswith("momo ") and f"http://127.0.0.1:{port}" in line, line
        # Like MTN: a product call without a subscription key is refused by the gateway.
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(
                urllib.request.Request(f"http://127.0.0.1:{port}/collection/token/", method="POST"),
                timeout=5,
            )
        assert refused.value.code == 401
        assert "missing subscription key" in json.load(refused.value)["message"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--only", "nosuch"),
            "unknown simulator nosuch; choose from notify, sumsub, momo, ecb, regional,"
            " settlement, webhooks",
        ),
        (("--port", "9"), "--port needs exactly one simulator"),
    ],
)
def test_bad_arguments_say_what_is_wrong(args, message):
    proc = _run(*args)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert f"lightway: error: {message}" in err


# --- a command leaves behind nothing it started ------------------------------------------------


_CLI = (sys.executable, "-m", "lightway.interfaces.cli")


def _embedded_env(var_dir) -> dict[str, str]:
    """The zero-configuration default: no DATABASE_URL, the embedded server under var_dir."""
    drop = {"DATABASE_URL", "DATABASE_OWNER_URL", "LIGHTWAY_NO_DATABASE"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["LIGHTWAY_VAR_DIR"] = str(var_dir)
    return env


def _postgres_of(var_dir) -> list[psutil.Process]:
    """Running PostgreSQL processes whose data directory is under ``var_dir``."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            if "postgres" in (proc.info["name"] or "") and str(var_dir) in " ".join(
                proc.info["cmdline"] or []
            ):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _stop_leftovers(var_dir) -> None:
    """Stop a server the code under test left behind (so a failing test cleans up)."""
    pidfile = var_dir / "pg" / "postmaster.pid"
    if pidfile.exists():
        try:
            os.kill(int(pidfile.read_text().splitlines()[0]), signal.SIGINT)
        except (OSError, ValueError, IndexError):
            pass
        deadline = time.monotonic() + 30
        while _postgres_of(var_dir) and time.monotonic() < deadline:
            time.sleep(0.2)


def test_simulators_alone_start_no_database_and_leave_nothing_running(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("sim")
    port = _free_port()
    proc = subprocess.Popen(
        [*_CLI, "simulators", "--only", "momo", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_embedded_env(var_dir),
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("momo ") and f"http://127.0.0.1:{port}" in line, (
            line + proc.stderr.read() if proc.poll() is not None else line
        )
        # A simulator needs no database: none was started for it.
        assert _postgres_of(var_dir) == []
        assert not (var_dir / "pg" / "postmaster.pid").exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert _postgres_of(var_dir) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        _stop_leftovers(var_dir)


def test_a_command_stops_the_embedded_server_it_started(tmp_path_factory):
    """`lightway demo-totp` on a fresh checkout starts the embedded server to read the
    database (here a new, empty one: the command fails), and stops it when it ends."""
    var_dir = tmp_path_factory.mktemp("cmd")
    try:
        done = subprocess.run(
            [*_CLI, "demo-totp", "admin"],
            capture_output=True,
            text=True,
            env=_embedded_env(var_dir),
            timeout=180,
        )
        assert "Traceback" not in done.stderr, done.stderr
        assert (var_dir / "pg" / "PG_VERSION").exists()  # it did start one
        assert _postgres_of(var_dir) == [], done.stderr
        assert not (var_dir / "pg" / "postmaster.pid").exists()
    finally:
        _stop_leftovers(var_dir)


def test_the_server_stays_up_while_another_process_uses_it(tmp_path_factory):
    """The command that started the embedded server leaves it running when another client
    (a web server or worker started meanwhile elsewhere) is still connected to it."""
    var_dir = tmp_path_factory.mktemp("shared")
    script = (
        "import psycopg\n"
        "from lightway.interfaces.cli import ops\n"
        "ops.bootstrap()\n"
        "from django.conf import settings\n"
        "other = psycopg.connect(settings.DATABASE_URL)\n"
        "ops.embedded_release()\n"
        "print('running' if ops.embedded_postmaster_pid() else 'stopped')\n"
        "other.close()\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            env=_embedded_env(var_dir),
            timeout=180,
        )
        assert done.stdout.strip() == "running", done.stdout + done.stderr
        assert "1 other connection(s) use it" in done.stderr
    finally:
        _stop_leftovers(var_dir)
