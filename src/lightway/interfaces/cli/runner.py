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
from lightway.infrastructure.config import Env, local_url
from lightway.infrastructure.logs import logging_config
from lightway.interfaces.cli import ops
from lightway.interfaces.cli.ops import CommandError
from lightway.interfaces.cli.progress import PROGRESS_TO_LOG, announce, error, note, say


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
    """Granian's log configuration (a dictConfig JSON file under ``var/``): its own lines in
    the form and to the places of the rest (``infrastructure/logs.py``), like gunicorn's
    (``gunicorn_conf.logconfig_dict``)."""
    config = logging_config(
        {
            "_granian": {"propagate": False},
            "granian.access": {"level": "WARNING", "propagate": False},
        }
    )
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
    note(f"Serving on {local_url(options.host, options.port)}/")
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


def console_logging_defaults() -> Path | None:
    """``lightway up`` on the embedded default (``DATABASE_URL`` unset) with no
    ``LIGHTWAY_LOG_FORMAT`` chosen is someone trying the platform at a terminal: readable
    logs, every record in ``var/log/lightway.log``, only warnings and errors on the terminal.
    With a log file (that default, or ``LIGHTWAY_LOG_FILE`` set) the start-up progress goes
    to it too, and the previous run's file is kept as ``<file>.1``. Set for this process and
    its children, before Django reads its settings; returns the log file, or None (the
    configured logging as it is: JSON on stderr, for a log collector)."""
    if not os.environ.get("DATABASE_URL") and not os.environ.get("LIGHTWAY_LOG_FORMAT"):
        os.environ["LIGHTWAY_LOG_FORMAT"] = "console"
        os.environ.setdefault(
            "LIGHTWAY_LOG_FILE", str(embedded_pg.var_dir() / "log" / "lightway.log")
        )
        os.environ.setdefault("LIGHTWAY_LOG_CONSOLE_LEVEL", "WARNING")
    raw = os.environ.get("LIGHTWAY_LOG_FILE", "").strip()
    if not raw:
        return None
    path = Path(raw)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.replace(path.with_name(path.name + ".1"))
    os.environ[PROGRESS_TO_LOG] = "1"
    return path


def up_env_file() -> Path:
    """What ``lightway up`` handed its children (public URL, simulator settings), for
    commands run in a second terminal (``lightway momo fault-run``)."""
    return embedded_pg.var_dir() / "up.env"


def up(args: Any) -> int:
    host = args.host or Env.str("LIGHTWAY_HOST", "127.0.0.1")
    port = args.port or Env.int("LIGHTWAY_PORT", 8000)
    # Check the port before anything slow (first start of the embedded server runs initdb).
    port_check(host, port)
    # One source of public URLs: where this server listens, unless configured.
    os.environ.setdefault("LIGHTWAY_PUBLIC_URL", local_url(host, port))
    log_file = console_logging_defaults()
    if log_file is not None:
        announce(
            "Starting LightWay MoMo: embedded PostgreSQL, migrations, demo data, simulators,"
            " web server and worker (the first start takes a minute)."
        )
        announce(f"Start-up details: {_shown_path(log_file)}")
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
        announce("  Killing the children now")  # second Ctrl-C: stop waiting politely
        for child in children:
            _signal(child.proc.pid, signal.SIGKILL, group=True)

    signal.signal(signal.SIGTERM, on_signal_startup)
    exit_code = 0
    try:
        ops.serving_allowed("lightway up")
        ops.migrate_run()
        seed: Any = None
        if not args.no_seed:
            try:
                seed = ops.seed_run()
            except ops.SeedUnavailable as exc:
                note(f"  Demo seed skipped: {exc}")
        prom_dir = web_prepare(port=options.port, collect_static=True)
        note(f"  Metrics directory: {prom_dir}")
        metrics_token = metrics_token_for_up()
        connections.close_all()  # the supervisor holds no database connection while it waits

        listen_url = local_url(options.host, options.port)
        public_url = str(settings.LIGHTWAY_PUBLIC_URL).rstrip("/")
        simulators = simulators_start(children, listen_url)
        up_env_write(public_url, simulators.environment)

        graceful = max(int(stop_timeout) - 5, 5)
        children.append(child_start("web", web_argv(options, graceful_timeout=graceful)))
        children.append(
            child_start("worker", [sys.executable, "-m", "lightway.interfaces.cli", "worker"])
        )
        ready_wait(listen_url, children, timeout=args.ready_timeout)

        signal.signal(signal.SIGINT, on_signal_running)
        signal.signal(signal.SIGTERM, on_signal_running)
        for line in banner_lines(
            public_url,
            seed=seed,
            simulators=simulators,
            log_file=log_file,
            metrics_token=metrics_token,
        ):
            say(line)

        while not stop_signals:
            dead = next((c for c in children if c.proc.poll() is not None), None)
            if dead is not None:
                error(f"{dead.name} {_exit_reason(dead.proc.returncode)}; stopping everything")
                exit_code = 1
                break
            time.sleep(0.2)
        else:
            announce("\nStopping (Ctrl-C again to kill) ...")
    except KeyboardInterrupt:
        announce("\nInterrupted during startup; stopping ...")
        exit_code = 130
    except CommandError:
        exit_code = 1
        if log_file is not None:
            announce(f"Details: {_shown_path(log_file)}")
        raise
    finally:
        signal.signal(signal.SIGINT, on_signal_stopping)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        children_stop(children, timeout=stop_timeout)
        if children:
            note("  Web server and worker stopped.")
        up_env_file().unlink(missing_ok=True)
        if boot.started_embedded and args.keep_db:
            ops.embedded_keep()
        elif boot.started_embedded:
            connections.close_all()
            note("  Stopping embedded PostgreSQL ...")
            ops.embedded_keep()  # stopped here, not again by main
            if not ops.embedded_stop():
                announce("  warning: embedded PostgreSQL did not stop within 30 s")
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if exit_code == 0:
        announce("Stopped.")
    return exit_code


def _shown_path(path: Path) -> str:
    """``path`` relative to the current directory when it is under it (``var/log/...``)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def up_env_write(public_url: str, simulator_environment: dict[str, str]) -> None:
    """Write ``var/up.env``: the public URL, the log format and the simulators' settings
    ``up`` handed its children (see ``simulators_start``)."""
    values = {"LIGHTWAY_PUBLIC_URL": public_url, **simulator_environment}
    if os.environ.get("LIGHTWAY_LOG_FORMAT"):  # the second terminal's logs read the same
        values["LIGHTWAY_LOG_FORMAT"] = os.environ["LIGHTWAY_LOG_FORMAT"]
    path = up_env_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")


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


@dataclass(frozen=True)
class SimulatorsUp:
    """The simulators ``up`` started (name -> base URL) and the providers that are real."""

    started: dict[str, str]
    real: dict[str, str]
    environment: dict[str, str]  # what the web server and worker were pointed at


def simulators_start(children: list[Child], base_url: str) -> SimulatorsUp:
    """Run the simulators of the providers that are not configured (one child process) and
    point the web server and worker at them through the environment."""
    from django.conf import settings

    from lightway.interfaces.cli.simulators import PROVIDER_URL_SETTING, SIMULATORS

    # a simulator serving several providers (notify: Africa's Talking and Twilio) names
    # their settings as "A|B": any of them configured means the real providers are used
    wanted = [
        name
        for name, setting in PROVIDER_URL_SETTING.items()
        if not any(os.environ.get(one) for one in setting.split("|"))
    ]
    real = {
        name: ", ".join(
            str(getattr(settings, one)) for one in setting.split("|") if getattr(settings, one)
        )
        for name, setting in PROVIDER_URL_SETTING.items()
        if name not in wanted
    }
    if not wanted:
        return SimulatorsUp(started={}, real=real, environment={})
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
    environment: dict[str, str] = {}
    for line in env_file.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        if key:
            os.environ[key] = environment[key] = value
    started = {
        name: local_url(
            "127.0.0.1", Env.int(SIMULATORS[name].port_env, SIMULATORS[name].default_port)
        )
        for name in wanted
    }
    for name, url in started.items():
        note(f"  Simulator {name}: {url} ({SIMULATORS[name].description})")
    return SimulatorsUp(started=started, real=real, environment=environment)


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited unexpectedly with code {code}"


# The simulator pages a person opens in a browser: (label, simulator, path). The other
# simulators (Sumsub, rate feeds, Settlement API) are APIs: their URLs are in the log.
SIMULATOR_PAGES = (
    ("SMS + email inbox", "notify", "/inbox"),
    ("MoMo payments seen", "momo", "/_sim/transactions"),
    ("Partner webhooks", "webhooks", "/inbox"),
)


def banner_lines(
    public_url: str,
    *,
    seed: Any,
    simulators: SimulatorsUp,
    log_file: Path | None,
    metrics_token: str,
) -> list[str]:
    """The short banner ``lightway up`` prints once everything answers: where to go, how to
    sign in, where the logs are. Every URL in it answers GET with 200 or a redirect
    (``/metrics`` with the token shown; tests/test_up_smoke.py checks them all)."""
    base = public_url.rstrip("/")
    lines = ["", f"LightWay MoMo is running at {base}/", ""]
    pages = [
        ("Customer app", f"{base}/app/"),
        ("LightWay back office", f"{base}/staff/"),
        ("MTN portal", f"{base}/mtn/"),
        ("API docs", f"{base}/api/v1/docs"),
        ("Django admin", f"{base}/admin/"),
    ]
    pages += [
        (label, simulators.started[name] + path)
        for label, name, path in SIMULATOR_PAGES
        if name in simulators.started
    ]
    width = max(len(label) for label, _url in pages)
    lines += [f"  {label:<{width}}  {url}" for label, url in pages]
    lines += _banner_logins(seed)
    lines.append("")
    if log_file is not None:
        lines.append(f"Logs: {_shown_path(log_file)} has everything; only warnings and errors")
        lines.append("show here.")
    lines.append(f"Metrics: {base}/metrics")
    lines.append(f"  with the header Authorization: Bearer {metrics_token}")
    for name, url in simulators.real.items():
        lines.append(f"Real provider: {name} at {url}")
    lines += ["", "Press Ctrl-C to stop."]
    return lines


def _banner_logins(seed: Any) -> list[str]:
    """The demo logins, as the sign-in pages ask for them."""
    if seed is None:
        return ["", "No demo data this time (--no-seed); `lightway seed-demo` makes it."]
    logins = list(getattr(seed, "logins", []))
    customers = [login for login in logins if getattr(login, "phone", "")]
    staff = [login.username for login in logins if not getattr(login, "phone", "")]
    password = next((login.password for login in logins), "")
    lines = ["", f"Demo logins, password {password} for all:"]
    if customers:
        lines.append("  Customer app: country and phone number (codes: SMS + email inbox)")
        for login in customers:
            country = COUNTRY_NAMES.get(login.country, login.country)
            lines.append(
                f"    {login.username.capitalize():<6} {country:<9} {login.phone:<14}"
                f" API token {login.token}"
            )
    if staff:
        lightway = " ".join(name for name in staff if not name.startswith("mtn"))
        mtn = " ".join(name for name in staff if name.startswith("mtn"))
        lines.append("  Back office and MTN portal: user name")
        lines.append(f"    LightWay staff: {lightway}")
        lines.append(f"    MTN staff:      {mtn}")
        lines.append("    Second factor:  .venv/bin/lightway demo-totp USERNAME")
    for key in getattr(seed, "partner_api", []):
        lines.append(f"  Partner API ({key.partner}): key {key.key_id}")
        lines.append(f"    secret {key.secret}")
    lines.append("  " + ops.created_words(int(getattr(seed, "created", 0))))
    return lines


COUNTRY_NAMES = {
    "UG": "Uganda",
    "GH": "Ghana",
    "RW": "Rwanda",
    "ZM": "Zambia",
    "CI": "Côte d'Ivoire",
    "CM": "Cameroon",
}
