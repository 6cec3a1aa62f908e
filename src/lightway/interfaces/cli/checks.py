"""`lightway check`: is every part the platform depends on reachable and healthy?

Each check is a function returning a :class:`CheckResult`. To watch another external system,
add its base-URL setting to ``EXTERNAL_SYSTEMS`` (it is probed over HTTP when configured)
or append a function to the list returned by :func:`checks_all`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Status = Literal["OK", "WARN", "FAIL", "SKIP"]

# A worker refreshes its heartbeat every 10 s; procrastinate calls it stalled after 30 s.
WORKER_HEARTBEAT_MAX_AGE_S = 30
# A due job waiting longer than this means the workers are missing or overloaded.
JOB_WAIT_WARN_S = 60

# (name shown, Django setting holding the base URL). A system whose setting is absent or
# empty is skipped; any HTTP answer (even 4xx) counts as reachable.
EXTERNAL_SYSTEMS: list[tuple[str, str]] = [
    ("momo", "MOMO_BASE_URL"),
    ("sumsub", "SUMSUB_BASE_URL"),
    ("settlement", "SETTLEMENT_BASE_URL"),
    ("sms-africastalking", "AFRICASTALKING_BASE_URL"),
    ("sms-twilio", "TWILIO_BASE_URL"),
]
HTTP_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    detail: str


Check = Callable[[], CheckResult]


def check_database() -> CheckResult:
    from django.db import connection

    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version')")
        version = cursor.fetchone()[0]
    elapsed_ms = (time.monotonic() - started) * 1000
    return CheckResult("database", "OK", f"PostgreSQL {version}, answered in {elapsed_ms:.0f} ms")


def check_migrations() -> CheckResult:
    from lightway.interfaces.cli.ops import migrations_pending

    pending = migrations_pending()
    if pending:
        shown = ", ".join(pending[:3]) + (" ..." if len(pending) > 3 else "")
        return CheckResult(
            "migrations", "FAIL", f"{len(pending)} not applied ({shown}); run `lightway migrate`"
        )
    return CheckResult("migrations", "OK", "all applied")


def production_settings() -> bool:
    """Whether this process runs with production settings (``LIGHTWAY_DEBUG`` off and the
    personal-data keys configured): ``lightway.security.secret_settings``."""
    from lightway.security.secret_settings import production_settings as production

    return production()


def check_secrets() -> CheckResult:
    """No shared secret is a public default or too short. FAIL under production settings
    (the web server and worker refuse to start then too), WARN in development."""
    from lightway.security.secret_settings import secret_problems

    problems = secret_problems()
    if not problems:
        return CheckResult("secrets", "OK", "every secret in use is set, long and not a default")
    if production_settings():
        return CheckResult("secrets", "FAIL", "; ".join(problems)[:600])
    return CheckResult("secrets", "WARN", f"{len(problems)} weak or default (development settings)")


def check_database_role() -> CheckResult:
    """The application's database role is restricted: not a superuser, owner of nothing,
    no role attributes (docs/operations.md, "Database roles"). FAIL in production settings,
    WARN in development."""
    from django.conf import settings
    from django.db import connection

    from lightway.infrastructure.db_roles import runtime_role_report

    with connection.cursor() as cursor:
        report = runtime_role_report(cursor)
    owner_set = bool(str(getattr(settings, "DATABASE_OWNER_URL", "") or ""))
    one_role = "" if owner_set else "; DATABASE_OWNER_URL unset: migrations run as this role"
    if not report.problems:
        return CheckResult(
            "database_role", "OK", f"{report.role}: restricted, owns nothing{one_role}"
        )
    status: Status = "FAIL" if production_settings() else "WARN"
    detail = f"{report.role} {', '.join(report.problems)}{one_role}"
    if status == "WARN":
        detail += " (development settings)"
    return CheckResult("database_role", status, detail[:400])


def check_worker() -> CheckResult:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE last_heartbeat > now() - make_interval(secs => %s)),"
            " EXTRACT(EPOCH FROM now() - max(last_heartbeat))"
            " FROM procrastinate_workers",
            [WORKER_HEARTBEAT_MAX_AGE_S],
        )
        alive, last_age = cursor.fetchone()
    if alive:
        return CheckResult(
            "worker", "OK", f"{alive} alive, last heartbeat {float(last_age):.0f} s ago"
        )
    if last_age is None:
        return CheckResult("worker", "FAIL", "no worker has registered; start `lightway worker`")
    return CheckResult(
        "worker",
        "FAIL",
        f"no heartbeat for {float(last_age):.0f} s (limit {WORKER_HEARTBEAT_MAX_AGE_S} s);"
        " start `lightway worker`",
    )


def check_jobs() -> CheckResult:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE status = 'todo'),"
            " count(*) FILTER (WHERE status = 'doing')"
            " FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
        )
        waiting, running = cursor.fetchone()
        cursor.execute(
            "SELECT EXTRACT(EPOCH FROM now() - min(e.at)) FROM procrastinate_jobs j"
            " JOIN procrastinate_events e ON e.job_id = j.id AND e.type = 'deferred'"
            " WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())"
        )
        oldest = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM procrastinate_jobs j JOIN procrastinate_events e"
            " ON e.job_id = j.id AND e.type = 'failed'"
            " WHERE j.status = 'failed' AND e.at > now() - interval '24 hours'"
        )
        failed = cursor.fetchone()[0]
    detail = f"{waiting} waiting, {running} running, {failed} failed in 24 h"
    if oldest is not None and float(oldest) > JOB_WAIT_WARN_S:
        return CheckResult("jobs", "WARN", f"{detail}; oldest due job waited {float(oldest):.0f} s")
    return CheckResult("jobs", "OK", detail)


def check_http(name: str, setting: str) -> Check:
    def run() -> CheckResult:
        import httpx
        from django.conf import settings

        url = str(getattr(settings, setting, "") or "")
        if not url:
            return CheckResult(name, "SKIP", f"{setting} not configured")
        started = time.monotonic()
        try:
            response = httpx.get(url, timeout=HTTP_TIMEOUT_S, follow_redirects=False)
        except httpx.HTTPError as exc:
            return CheckResult(name, "FAIL", f"{url} unreachable ({type(exc).__name__})")
        elapsed_ms = (time.monotonic() - started) * 1000
        return CheckResult(
            name, "OK", f"{url} answered HTTP {response.status_code} in {elapsed_ms:.0f} ms"
        )

    run.__name__ = f"check_{name}"
    return run


def check_sms_routes() -> CheckResult:
    """``LIGHTWAY_SMS_ROUTES`` parses, and every route has a configured provider."""
    from lightway.integration.notify.gateways import sms_provider_configured, sms_routes

    routes = sms_routes()  # NotifyNotConfigured (a FAIL with its reason) when malformed
    shown = []
    empty = []
    for country, chain in sorted(routes.items()):
        usable = [name for name in chain if sms_provider_configured(name)]
        shown.append(f"{country}: {' > '.join(usable) or 'none'}")
        if not usable:
            empty.append(country)
    detail = "; ".join(shown) or "no route"
    if empty or not routes:
        return CheckResult("sms_routes", "WARN", f"{detail} (no configured provider: SMS fail)")
    return CheckResult("sms_routes", "OK", detail)


def check_data_keys() -> CheckResult:
    """Personal data must be sealed with configured keys, not the built-in development ones."""
    from lightway.security.crypto import CryptoError, blind_key, keyring, using_development_keys

    try:
        ring = keyring()
        blind_key()
    except CryptoError as exc:
        return CheckResult("data_keys", "FAIL", str(exc))
    if using_development_keys():
        return CheckResult(
            "data_keys",
            "WARN",
            "development keys in use: set LIGHTWAY_DATA_KEYS and LIGHTWAY_BLIND_INDEX_KEY",
        )
    return CheckResult("data_keys", "OK", f"sealing with {ring.current}; {len(ring.keys)} key(s)")


def check_momo_auth() -> CheckResult:
    """MoMo credentials work: a token is issued for each product (Collection, Disbursement,
    Remittance) with its own subscription key, for the first MOMO_ENVIRONMENTS market."""
    from django.conf import settings

    from lightway.application.momo.gateway import momo_client, momo_environments
    from lightway.integration.momo.port import (
        MomoAuthError,
        MomoError,
        MomoTarget,
        MomoTransient,
        Product,
    )

    name = "momo_auth"
    if not str(getattr(settings, "MOMO_BASE_URL", "") or "").strip():
        return CheckResult(name, "SKIP", "MOMO_BASE_URL not configured")
    try:
        client = momo_client()
        environment = next(iter(momo_environments().values()), "")
        if not environment:
            return CheckResult(name, "FAIL", "MOMO_ENVIRONMENTS lists no target environment")
    except MomoError as exc:
        return CheckResult(name, "FAIL", str(exc))
    target = MomoTarget(base_url=client.base_url, environment=environment)
    ok: list[str] = []
    failed: list[str] = []
    lifetime = 0.0
    for product in Product:
        upper = product.value.upper()
        try:
            lifetime = client.token_refresh(product, target=target).lifetime
        except MomoAuthError as exc:
            failed.append(
                f"{product.value}: API user/key refused ({exc.code or exc.http_status});"
                f" check MOMO_{upper}_API_USER/_API_KEY or MOMO_API_USER/MOMO_API_KEY"
            )
        except MomoTransient as exc:
            failed.append(f"{product.value}: {exc}")
            break  # unreachable or timing out: the other products would wait the same
        except MomoError as exc:
            failed.append(f"{product.value}: {exc}")
        else:
            ok.append(product.value)
    if failed:
        return CheckResult(name, "FAIL", "; ".join(failed)[:400])
    return CheckResult(
        name,
        "OK",
        f"tokens issued for {', '.join(ok)} ({environment}, valid {lifetime:.0f} s)",
    )


def checks_all() -> list[Check]:
    return [
        check_database,
        check_database_role,
        check_migrations,
        check_data_keys,
        check_secrets,
        check_worker,
        check_jobs,
        *(check_http(name, setting) for name, setting in EXTERNAL_SYSTEMS),
        check_sms_routes,
        check_momo_auth,
    ]


# Checks that only read the database: skipped (not repeated as failures) when it is down.
NEEDS_DATABASE = frozenset({"database_role", "migrations", "worker", "jobs"})


def checks_run(checks: list[Check]) -> list[CheckResult]:
    """Run every check; an exception becomes a FAIL with its one-line reason."""
    results: list[CheckResult] = []
    for check in checks:
        name = check.__name__.removeprefix("check_")
        database_down = any(r.name == "database" and r.status == "FAIL" for r in results)
        if name in NEEDS_DATABASE and database_down:
            results.append(CheckResult(name, "SKIP", "database unreachable"))
            continue
        try:
            results.append(check())
        except Exception as exc:
            reason = (str(exc).strip().splitlines() or [""])[0]
            results.append(CheckResult(name, "FAIL", f"{type(exc).__name__}: {reason}"[:200]))
            _reset_connection()
    return results


def checks_table(results: list[CheckResult]) -> list[str]:
    width = max([len("CHECK"), *(len(r.name) for r in results)])
    lines = [f"{'CHECK'.ljust(width)}  STATUS  DETAIL"]
    lines += [f"{r.name.ljust(width)}  {r.status.ljust(6)}  {r.detail}" for r in results]
    return lines


def _reset_connection() -> None:
    from django.db import connection

    try:
        connection.close()
    except Exception:  # noqa: S110 - best effort after a failed check
        pass
