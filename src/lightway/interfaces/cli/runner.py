"""`lightway up` (everything, supervised) and `lightway serve` (the web server alone).

``up`` prepares the database (embedded server when DATABASE_URL is unset, migrations, demo
seed), then runs two children — gunicorn and ``lightway worker`` — each in its own session
so a terminal Ctrl-C reaches only the supervisor, which then stops them exactly once:
SIGTERM, wait up to LIGHTWAY_STOP_TIMEOUT, then SIGKILL of the child's whole process group.
On Linux the children also get SIGTERM if the supervisor itself dies. If a child exits on
its own, ``up`` says so, stops the other and exits non-zero.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from lightway.infrastructure import embedded_pg, metrics
from lightway.infrastructure.config import Env
from lightway.interfaces.cli import ops
from lightway.interfaces.cli.ops import CommandError
from lightway.interfaces.cli.progress import error, note, say


@dataclass(frozen=True)
class WebOptions:
    host: str
    port: int
    workers: int
    threads: int
    timeout: int
    server: str = "granian"


def web_options(args: Any) -> WebOptions:
    from django.conf import settings

    return WebOptions(
        host=args.host or settings.LIGHTWAY_HOST,
        port=args.port or settings.LIGHTWAY_PORT,
        workers=args.workers or settings.LIGHTWAY_WEB_WORKERS,
        threads=args.threads or settings.LIGHTWAY_WEB_THREADS,
        timeout=settings.LIGHTWAY_WEB_TIMEOUT,
        server=getattr(args, "server", None) or settings.LIGHTWAY_WEB_SERVER,
    )


def web_argv(options: WebOptions, *, graceful_timeout: int) -> list[str]:
    """The command line of the configured HTTP server."""
    if options.server == "granian":
        return granian_argv(options, graceful_timeout=graceful_timeout)
    return gunicorn_argv(options, graceful_timeout=graceful_timeout)


def granian_log_config() -> Path:
    """Granian's log configuration (a JSON dictConfig file under ``var/``): its own lines in
    the project's JSON form on stderr, like gunicorn's (``gunicorn_conf.logconfig_dict``)."""
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "lightway.infrastructure.logs.JsonFormatter"}},
        "handlers": {
            "console": {"()": "lightway.infrastructure.logs.StderrHandler", "formatter": "json"}
        },
        "loggers": {
            "_granian": {"handlers": ["console"], "propagate": False},
            "granian.access": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        },
    }
    path = embedded_pg.var_dir() / "granian-logging.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2))
    return path


def granian_argv(options: WebOptions, *, graceful_timeout: int) -> list[str]:
    """Granian (a Rust HTTP server) serving the same WSGI application: ``workers``
    processes, each running the application in ``threads`` blocking threads. No access log
    (as with gunicorn: it would carry client addresses and URLs with identifiers)."""
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "wsgi",
        "--host",
        options.host.strip("[]"),
        "--port",
        str(options.port),
        "--workers",
        str(max(options.workers, 1)),
        "--blocking-threads",
        str(max(options.threads, 1)),
        "--runtime-mode",
        "st",
        "--http",
        "1",
        "--no-ws",
        "--no-access-log",
        "--log-level",
        Env.str("LIGHTWAY_LOG_LEVEL", "info").lower(),
        "--log-config",
        str(granian_log_config()),
        "--workers-kill-timeout",
        f"{graceful_timeout}s",
        "--respawn-failed-workers",
        "lightway.interfaces.web.wsgi:application",
    ]


def gunicorn_argv(options: WebOptions, *, graceful_timeout: int) -> list[str]:
    host = (
        f"[{options.host}]"
        if ":" in options.host and not options.host.startswith("[")
        else options.host
    )
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:lightway.interfaces.cli.gunicorn_conf",
        "--bind",
        f"{host}:{options.port}",
        "--workers",
        str(max(options.workers, 1)),
        "--threads",
        str(max(options.threads, 1)),
        "--timeout",
        str(options.timeout),
        "--graceful-timeout",
        str(graceful_timeout),
        "lightway.interfaces.web.wsgi:application",
    ]


def port_check(host: str, port: int) -> None:
    """Fail early, with a clear reason, when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {host}:{port} ({exc.strerror}); is something else running"
                " there? Choose another with --port"
            ) from exc


def web_prepare(*, port: int, collect_static: bool) -> Path:
    """Static files and the Prometheus multiprocess directory, before the web server starts.

    Unless PROMETHEUS_MULTIPROC_DIR is set, the directory is ``var/prometheus/<port>``: one
    per instance, so two instances sharing a checkout never wipe or mix each other's samples.
    """
    if collect_static:
        ops.static_collect()
    default = embedded_pg.var_dir() / "prometheus" / str(port)
    raw = os.environ.get(metrics.MULTIPROC_ENV) or str(default)
    directory = metrics.multiprocess_dir_prepare(Path(raw))
    os.environ[metrics.MULTIPROC_ENV] = str(directory)
    return directory


def serve(args: Any) -> int:
    """Replace this process with gunicorn (so signals reach gunicorn's master directly)."""
    from django.conf import settings
    from django.db import connections

    options = web_options(args)
    port_check(options.host, options.port)
    web_prepare(port=options.port, collect_static=not args.no_collectstatic)
    connections.close_all()
    argv = web_argv(options, graceful_timeout=max(settings.LIGHTWAY_STOP_TIMEOUT - 5, 5))
    note(f"Serving on http://{_display_host(options.host)}:{options.port}/")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)  # noqa: S606 - our own interpreter, fixed arguments
    return 0  # not reached


# --- lightway up -------------------------------------------------------------------------


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]


def _child_preexec(parent_pid: int) -> Callable[[], None]:
    """Runs in the child between fork and exec: die with the supervisor (Linux)."""
    prctl: Callable[..., int] | None = None
    if sys.platform.startswith("linux"):
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork
    pr_set_pdeathsig = 1
    sigterm = int(signal.SIGTERM)

    def preexec() -> None:
        if prctl is not None:
            prctl(pr_set_pdeathsig, sigterm, 0, 0, 0)
        if os.getppid() != parent_pid:  # the supervisor died before prctl took effect
            os.kill(os.getpid(), sigterm)

    return preexec


def child_start(name: str, argv: list[str]) -> Child:
    proc = subprocess.Popen(
        argv,
        start_new_session=True,
        preexec_fn=_child_preexec(os.getpid()),
    )
    note(f"  Started {name} (pid {proc.pid})")
    return Child(name=name, proc=proc)


def children_stop(children: list[Child], *, timeout: float) -> None:
    """SIGTERM each running child, wait up to ``timeout`` s, then SIGKILL its process group."""
    for child in children:
        if child.proc.poll() is None:
            _signal(child.proc.pid, signal.SIGTERM, group=False)
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            note(f"  {child.name} did not stop within {timeout:.0f} s: killing it")
            _signal(child.proc.pid, signal.SIGKILL, group=True)
            child.proc.wait()
        # Leftovers in the child's session (gunicorn workers) must not outlive it.
        _signal(child.proc.pid, signal.SIGKILL, group=True)


def _signal(pid: int, sig: int, *, group: bool) -> None:
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _display_host(host: str) -> str:
    if host in {"0.0.0.0", "", "::", "[::]"}:  # noqa: S104 - only for display
        return "127.0.0.1"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def ready_wait(base_url: str, children: list[Child], *, timeout: float) -> None:
    """Poll /readyz until it answers 200; fail if a child exits or time runs out."""
    deadline = time.monotonic() + timeout
    last_reason = "no answer yet"
    while time.monotonic() < deadline:
        for child in children:
            code = child.proc.poll()
            if code is not None:
                raise CommandError(f"{child.name} {_exit_reason(code)} during startup")
        try:
            with urllib.request.urlopen(f"{base_url}/readyz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            try:
                last_reason = json.loads(exc.read() or b"{}").get("reason", f"HTTP {exc.code}")
            except ValueError:
                last_reason = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last_reason = f"not answering ({type(exc).__name__})"
        time.sleep(0.25)
    raise CommandError(f"web server not ready after {timeout:.0f} s: {last_reason}")


def up(args: Any) -> int:
    # Check the port before anything slow (first start of the embedded server runs initdb).
    port_check(
        args.host or Env.str("LIGHTWAY_HOST", "127.0.0.1"),
        args.port or Env.int("LIGHTWAY_PORT", 8000),
    )
    boot = ops.bootstrap()

    from django.conf import settings
    from django.db import connections

    options = web_options(args)
    stop_timeout = float(settings.LIGHTWAY_STOP_TIMEOUT)
    children: list[Child] = []
    stop_signals: list[int] = []

    def on_signal_startup(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    def on_signal_running(signum: int, frame: FrameType | None) -> None:
        stop_signals.append(signum)

    def on_signal_stopping(signum: int, frame: FrameType | None) -> None:
        note("  Killing the children now")  # second Ctrl-C: stop waiting politely
        for child in children:
            _signal(child.proc.pid, signal.SIGKILL, group=True)

    signal.signal(signal.SIGTERM, on_signal_startup)
    exit_code = 0
    try:
        ops.serving_allowed("lightway up")
        ops.migrate_run()
        seed_lines: list[str] = []
        if not args.no_seed:
            try:
                seed_lines = ops.seed_result_lines(ops.seed_run())
            except ops.SeedUnavailable as exc:
                note(f"  Demo seed skipped: {exc}")
        prom_dir = web_prepare(port=options.port, collect_static=True)
        note(f"  Metrics directory: {prom_dir}")
        metrics_token = metrics_token_for_up()
        connections.close_all()  # the supervisor holds no database connection while it waits

        base_url = f"http://{_display_host(options.host)}:{options.port}"
        simulator_lines = simulators_start(children, base_url)

        graceful = max(int(stop_timeout) - 5, 5)
        children.append(child_start("web", web_argv(options, graceful_timeout=graceful)))
        children.append(
            child_start("worker", [sys.executable, "-m", "lightway.interfaces.cli", "worker"])
        )
        ready_wait(base_url, children, timeout=args.ready_timeout)

        signal.signal(signal.SIGINT, on_signal_running)
        signal.signal(signal.SIGTERM, on_signal_running)
        _banner(base_url, seed_lines, simulator_lines, metrics_token=metrics_token)

        while not stop_signals:
            dead = next((c for c in children if c.proc.poll() is not None), None)
            if dead is not None:
                error(f"{dead.name} {_exit_reason(dead.proc.returncode)}; stopping everything")
                exit_code = 1
                break
            time.sleep(0.2)
        else:
            note("\nStopping (Ctrl-C again to kill) ...")
    except KeyboardInterrupt:
        note("\nInterrupted during startup; stopping ...")
        exit_code = 130
    except CommandError:
        exit_code = 1
        raise
    finally:
        signal.signal(signal.SIGINT, on_signal_stopping)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        children_stop(children, timeout=stop_timeout)
        if children:
            note("  Web server and worker stopped.")
        if boot.started_embedded and not args.keep_db:
            connections.close_all()
            note("  Stopping embedded PostgreSQL ...")
            if not ops.embedded_stop():
                note("  warning: embedded PostgreSQL did not stop within 30 s")
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if exit_code == 0:
        note("Stopped.")
    return exit_code


def metrics_token_for_up() -> str:
    """``/metrics`` is closed without a token (docs/operations.md, "Metrics"): when
    LIGHTWAY_METRICS_TOKEN is unset, ``up`` makes a random one for this run (the children
    inherit it) and the banner shows it, so a local Prometheus can still scrape."""
    from django.conf import settings

    token = str(settings.LIGHTWAY_METRICS_TOKEN or "")
    if not token:
        token = secrets.token_urlsafe(24)
        os.environ["LIGHTWAY_METRICS_TOKEN"] = token
        settings.LIGHTWAY_METRICS_TOKEN = token
    return token


def simulators_start(children: list[Child], base_url: str) -> list[str]:
    """Run the simulators of the providers that are not configured (one child process) and
    point the web server and worker at them through the environment; returns banner lines."""
    from django.conf import settings

    from lightway.interfaces.cli.simulators import PROVIDER_URL_SETTING

    wanted = [name for name, setting in PROVIDER_URL_SETTING.items() if not os.environ.get(setting)]
    configured = [n for n in PROVIDER_URL_SETTING if n not in wanted]
    lines = [
        f"{name:<8} real provider at {getattr(settings, PROVIDER_URL_SETTING[name])}"
        for name in configured
    ]
    if not wanted:
        return lines
    env_file = embedded_pg.var_dir() / "simulators.env"
    env_file.parent.mkdir(parents=True, exist_ok=True)
    env_file.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "lightway.interfaces.cli", "simulators", "--web-base", base_url]
    argv += [arg for name in wanted for arg in ("--only", name)]
    child = child_start("simulators", [*argv, "--env-file", str(env_file)])
    children.append(child)
    deadline = time.monotonic() + 20
    while not env_file.exists():
        code = child.proc.poll()
        if code is not None:
            raise CommandError(f"simulators {_exit_reason(code)} during startup")
        if time.monotonic() > deadline:
            raise CommandError("simulators did not start within 20 s")
        time.sleep(0.1)
    for line in env_file.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        if key:
            os.environ[key] = value
    notify = os.environ.get("NOTIFY_BASE_URL", "")
    if "notify" in wanted:
        lines.append(f"SMS + email inbox  {notify}/inbox   (codes and links sent by the demo)")
    if "sumsub" in wanted:
        lines.append(f"Sumsub sandbox     {os.environ.get('SUMSUB_BASE_URL', '')}")
    if "momo" in wanted:
        lines.append(f"MTN MoMo sandbox   {os.environ.get('MOMO_BASE_URL', '')}")
    if "ecb" in wanted:
        lines.append(f"ECB rates          {os.environ.get('FX_ECB_BASE_URL', '')}")
    if "regional" in wanted:
        lines.append(f"Regional rates     {os.environ.get('FX_REGIONAL_FEED_URL', '')}")
    if "settlement" in wanted:
        lines.append(f"Settlement API     {os.environ.get('SETTLEMENT_BASE_URL', '')}")
    if "webhooks" in wanted:
        port = Env.int("LIGHTWAY_SIM_WEBHOOKS_PORT", 8113)
        lines.append(f"Partner webhooks   http://127.0.0.1:{port}/inbox   (the demo partner's)")
    return lines


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited unexpectedly with code {code}"


def _banner(
    base_url: str, seed_lines: list[str], simulator_lines: list[str], *, metrics_token: str
) -> None:
    say("")
    say("LightWay MoMo is running")
    for label, path in [
        ("Customer app", "/app/"),
        ("Register", "/app/register/"),
        ("Staff login", "/staff/login/"),
        ("MTN panel", "/mtn/"),
        ("API", "/api/v1/"),
        ("OpenAPI", "/api/v1/openapi.json"),
        ("API docs", "/api/v1/docs"),
        ("Django admin", "/admin/"),
        ("Metrics", "/metrics"),
        ("Health", "/healthz"),
        ("Readiness", "/readyz"),
    ]:
        say(f"  {label:<13} {base_url}{path}")
        if path == "/metrics":
            say(f"  {'':<13} Authorization: Bearer {metrics_token}")
    if simulator_lines:
        say("")
        say("Simulators (external systems)")
        for line in simulator_lines:
            say(f"  {line}")
    if seed_lines:
        say("")
        say("Demo data")
        for line in seed_lines:
            say(f"  {line}")
    say("")
    say("Press Ctrl-C to stop.")
