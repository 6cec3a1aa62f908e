"""``lightway momo``: MoMo operations from the command line (docs/momo.md).

    lightway momo reconcile [--from ISO --to ISO] [--fetch-statement]
    lightway momo statement-import FILE [--product P --environment E]
    lightway momo float-check
    lightway momo fault-run [--payouts N] [--currency CODE]

``fault-run`` is the demo of reconciliation against the MoMo **simulator** of ``lightway up``
(``make run``): payouts under a fault profile (lost, duplicated and reordered callbacks, an
error burst), statement drift, then a reconciliation run whose page it prints. The payouts
come from the fault run's own test account (``demo-fault-run``, made and topped up by the
run), never from a customer's wallet.

Results go to stdout, progress to stderr (``interfaces/cli/progress.py``).
"""

from __future__ import annotations

import argparse
import os
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightway.interfaces.cli import ops
from lightway.interfaces.cli.ops import CommandError
from lightway.interfaces.cli.progress import Progress, note, say

if TYPE_CHECKING:
    from lightway.application.momo.floats import FloatCheckResult

CATEGORY_LABELS = (
    ("matched", "Matched"),
    ("missing_at_momo", "Missing at MoMo"),
    ("missing_on_platform", "Missing on the platform"),
    ("amount_mismatch", "Amount mismatch"),
    ("status_mismatch", "Status mismatch"),
)


def _iso(raw: str) -> datetime:
    text = raw.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not an ISO 8601 time (e.g. 2026-11-24T08:00:00Z)"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _domain_call(action: Any) -> Any:
    from lightway.application.errors import DomainError

    try:
        return action()
    except DomainError as exc:
        raise CommandError(exc.message) from exc


def cmd_momo_reconcile(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.momo.reconciliation.schedule import schedule_window

    now = timezone.now()
    if (args.start is None) != (args.end is None):
        raise CommandError("give both --from and --to, or neither (the last two whole hours)")
    start, end = (args.start, args.end) if args.start is not None else schedule_window(now)
    _reconcile_and_report(start, end, now, fetch_statement=args.fetch_statement)
    return 0


def _reconcile_and_report(
    start: datetime, end: datetime, now: datetime, *, fetch_statement: bool
) -> Any:
    """Reconcile ``[start, end)`` (first importing the simulator's statement if asked) and
    print the counts per category; returns the run (``reconcile`` and ``fault-run``)."""
    from lightway.application.momo.reconciliation.runs import reconcile
    from lightway.application.momo.reconciliation.schedule import statements_fetch_simulator

    say(f"Window: {start.isoformat()} to {end.isoformat()}")
    if fetch_statement:
        for fetched in statements_fetch_simulator(window_start=start, window_end=end, now=now):
            (say if fetched.ok else note)(f"Statement {fetched.account}: {fetched.message}")
    progress = Progress("Reconciling")
    run = _domain_call(
        lambda: reconcile(window_start=start, window_end=end, now=now, progress=progress)
    )
    progress.finish(f"run #{run.pk}")
    width = max(len(label) for _, label in CATEGORY_LABELS)
    for key, label in CATEGORY_LABELS:
        say(f"  {label:<{width}}  {int(run.counts.get(key, 0)):>6}")
    unverified = int(run.counts.get("unverified", 0))
    if unverified:
        say(f"  {'Not verified':<{width}}  {unverified:>6}")
    say(f"Auto-resolved (lost callbacks): {run.auto_resolved}")
    say(f"Cases opened: {run.cases_opened}")
    say(f"Run #{run.pk}: {run.status}")
    if run.error:
        note(run.error)
    return run


# --- fault-run: the reconciliation demo against the simulator --------------------------------

FAULT_PROFILE: dict[str, Any] = {
    "lost_callbacks": 0.5,
    "duplicate_callbacks": 0.5,
    "reorder_callbacks": True,
    "error_burst": 2,
}
NORMAL_PROFILE: dict[str, Any] = {
    "lost_callbacks": 0.0,
    "duplicate_callbacks": 0.0,
    "reorder_callbacks": False,
    "error_burst": 0,
}
FAULT_RUN_AMOUNT_MINOR = 1_000
SIM_COMPLETION_TIMEOUT = 30.0  # seconds the simulator gets to complete the payouts
PLATFORM_SETTLE_SECONDS = 6.0  # the running worker applying the callbacks that did arrive
SIM_FINAL = ("SUCCESSFUL", "FAILED")
NOT_SIMULATOR = "fault-run only works against the MoMo simulator"


def _momo_env_from_up() -> str | None:
    """A second terminal does not have the ``MOMO_*`` variables, the public URL and the log
    format ``lightway up`` handed its web server and worker: take them from the file it wrote
    (``var/up.env``). Only in a fresh process (never once Django is set up) and only keys
    not set already."""
    from django.conf import settings

    if settings.configured:
        return None
    from lightway.interfaces.cli.runner import up_env_file

    path = up_env_file()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    taken = False
    for line in lines:
        key, _, value = line.partition("=")
        wanted = key.startswith("MOMO_") or key in {"LIGHTWAY_PUBLIC_URL", "LIGHTWAY_LOG_FORMAT"}
        if wanted and value and not os.environ.get(key):
            os.environ[key] = value
            taken = True
    return str(path) if taken else None


def _sim_call(http: Any, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    import httpx

    try:
        response = http.request(method, path, json=body)
    except httpx.HTTPError as exc:
        raise CommandError(f"the MoMo simulator did not answer {method} {path}: {exc}") from exc
    if response.status_code != 200:
        raise CommandError(
            f"the MoMo simulator refused {method} {path}: {response.status_code} {response.text}"
        )
    return response.json()


def _sim_wait_completed(http: Any, references: list[str], timeout: float) -> dict[str, str]:
    """Poll ``GET /_sim/transactions`` until every reference is final (or ``timeout``);
    returns reference -> MoMo status of those the simulator has."""
    wanted = {r.lower() for r in references}
    deadline = time.monotonic() + timeout
    progress = Progress("MoMo completing", total=len(wanted))
    shown = -1
    while True:
        rows = _sim_call(http, "GET", "/_sim/transactions")
        statuses = {
            str(row["referenceId"]).lower(): str(row["status"])
            for row in rows
            if str(row.get("referenceId", "")).lower() in wanted
        }
        done = sum(1 for s in statuses.values() if s in SIM_FINAL)
        if done != shown:
            progress(done, len(wanted))
            shown = done
        if done == len(wanted) or time.monotonic() > deadline:
            progress.finish(f"{done} final")
            return statuses
        time.sleep(0.25)


def _platform_statuses(transfers: list[Any]) -> dict[str, str]:
    """reference -> the platform's request status, for the run's transfers."""
    from lightway.application.momo import flows

    out: dict[str, str] = {}
    for transfer in transfers:
        request = flows.momo_request_for_transfer(transfer.id)
        if request is not None:
            out[str(request.reference_id).lower()] = str(request.status)
    return out


def _platform_settle(transfers: list[Any], seconds: float) -> dict[str, str]:
    """Give the running worker a moment to apply the callbacks that did arrive: wait until
    the number of final requests has not changed for 1.5 s (at most ``seconds``)."""
    deadline = time.monotonic() + seconds
    statuses = _platform_statuses(transfers)
    final = sum(1 for s in statuses.values() if s in ("successful", "failed"))
    stable_since = time.monotonic()
    while final < len(transfers) and time.monotonic() < deadline:
        time.sleep(0.25)
        statuses = _platform_statuses(transfers)
        now_final = sum(1 for s in statuses.values() if s in ("successful", "failed"))
        if now_final != final:
            final, stable_since = now_final, time.monotonic()
        elif time.monotonic() - stable_since >= 1.5:
            break
    return statuses


def _random_msisdn(prefix: str) -> str:
    """A MoMo number of the market (outside the sandbox test table 46733123450-464)."""
    return prefix + "".join(secrets.choice("0123456789") for _ in range(8))


MSISDN_PREFIX = {  # country code + a mobile prefix of MTN's markets; sandbox: any
    "UGX": "25677",
    "GHS": "23324",
    "XAF": "23767",
    "RWF": "25078",
    "ZMW": "26096",
    "XOF": "22505",
    "EUR": "46733",
}


def cmd_momo_fault_run(args: argparse.Namespace) -> int:
    if not 1 <= args.payouts <= 200:
        raise CommandError("--payouts must be between 1 and 200")
    env_file = _momo_env_from_up()
    ops.bootstrap()
    import httpx
    from django.conf import settings
    from django.utils import timezone

    from lightway.application.momo import flows
    from lightway.application.momo.gateway import momo_target
    from lightway.data.money import Money, MoneyError

    base_url = str(getattr(settings, "MOMO_BASE_URL", "") or "").strip().rstrip("/")
    if not base_url:
        raise CommandError(
            f"MOMO_BASE_URL is not set; {NOT_SIMULATOR} (start it with `make run` /"
            " `lightway up`, which runs the simulator)"
        )
    if env_file:
        note(f"Settings of the running `lightway up` (MoMo, public URL) taken from {env_file}")
    code = args.currency.strip().upper()
    try:
        money = Money.of(FAULT_RUN_AMOUNT_MINOR, code)
    except MoneyError as exc:
        raise CommandError(f"--currency {args.currency}: {exc}") from exc
    target = _domain_call(lambda: momo_target(code))
    with httpx.Client(base_url=base_url, timeout=10) as http:
        try:
            probe = http.get("/_sim/config")
            probe.raise_for_status()
            probe.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise CommandError(
                f"{NOT_SIMULATOR}: {base_url}/_sim/config did not answer ({exc}); is"
                " `make run` still going?"
            ) from exc
        say(f"MoMo simulator at {base_url}, {code} payouts in {target.environment}")
        start = timezone.now()
        account = _fault_run_account(args.payouts, money, start)
        say(
            f"Paying from the fault run's own test account {account.username} (wallet"
            f" {account.wallet_id}); no customer's money or limits are used"
        )
        try:
            _sim_call(http, "POST", "/_sim/config", FAULT_PROFILE)
            say(
                "Fault profile: half the callbacks lost, half duplicated, reordered;"
                f" the next {FAULT_PROFILE['error_burst']} API calls fail"
            )
            transfers = _fault_payouts(args, account.user_id, code, flows)
            references = [
                str(r.reference_id)
                for r in (flows.momo_request_for_transfer(t.id) for t in transfers)
                if r is not None
            ]
            sim_status = _sim_wait_completed(http, references, SIM_COMPLETION_TIMEOUT)
            platform = _platform_settle(transfers, PLATFORM_SETTLE_SECONDS)
            waiting = sum(1 for s in platform.values() if s in ("new", "accepted"))
            say(
                f"MoMo final: {sum(1 for s in sim_status.values() if s in SIM_FINAL)}"
                f" of {len(references)}; still pending on the platform (callback lost or"
                f" not yet applied): {waiting}"
            )
            _fault_drift(http, sim_status, platform, money, target.environment)
        finally:
            try:
                _sim_call(http, "POST", "/_sim/config", NORMAL_PROFILE)
                say("Simulator back to its normal profile")
            except CommandError as exc:
                note(f"could not restore the simulator's normal profile: {exc}")
    now = timezone.now()
    run = _reconcile_and_report(
        start - timedelta(hours=1), now + timedelta(minutes=1), now, fetch_statement=True
    )
    public = str(settings.LIGHTWAY_PUBLIC_URL).rstrip("/")
    say(f"Open {public}/staff/reconciliation/runs/{run.pk}/")
    return 0


def _fault_run_account(payouts: int, money: Any, now: datetime) -> Any:
    """The fault run's own account, holding enough for ``payouts`` payouts and their fees."""
    from lightway.application.demo import demo_fault_run_account
    from lightway.application.momo.common import fee_for
    from lightway.data.wallets.models import TransferKind

    _kind, quote = fee_for(TransferKind.PAYOUT, money, now)
    return _domain_call(
        lambda: demo_fault_run_account(
            currency_code=money.currency.code,
            needed_minor=payouts * (money.amount + quote.fee.amount),
            run_key=uuid.uuid4().hex,
            now=now,
        )
    )


def _fault_payouts(args: argparse.Namespace, customer_id: int, code: str, flows: Any) -> list[Any]:
    """Start ``args.payouts`` payouts and submit each at once (as the worker would; the
    worker, if running, finds them taken or already accepted). Requests left ``new`` by the
    error burst are submitted again, with the same reference, as the worker's retry would."""
    from django.utils import timezone

    progress = Progress("Payouts", total=args.payouts)
    prefix = MSISDN_PREFIX.get(code, "46733")
    batch = uuid.uuid4().hex[:12]
    transfers = []
    outcomes: dict[str, int] = {}
    for n in range(args.payouts):
        transfer = _domain_call(
            lambda n=n: flows.payout_start(
                customer_id=customer_id,
                currency=code,
                amount_minor=FAULT_RUN_AMOUNT_MINOR,
                msisdn=_random_msisdn(prefix),
                idempotency_key=f"fault-run-{batch}-{n}",
                now=timezone.now(),
                note="fault-run",
            )
        )
        transfers.append(transfer)
        request = flows.momo_request_for_transfer(transfer.id)
        result = "refused" if request is None else _submit(flows, request.pk)
        outcomes[result] = outcomes.get(result, 0) + 1
        progress(f"{transfer.status} ({result})")
    for _round in range(5):
        retry = [
            r
            for r in (flows.momo_request_for_transfer(t.id) for t in transfers)
            if r is not None and r.status == "new"
        ]
        if not retry:
            break
        time.sleep(0.5)
        for request in retry:
            _submit(flows, request.pk)
    progress.finish(", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items())))
    return transfers


def _submit(flows: Any, request_id: int) -> str:
    from django.utils import timezone

    return str(flows.momo_submit(request_id=request_id, now=timezone.now()))


def _fault_drift(
    http: Any, sim_status: dict[str, str], platform: dict[str, str], money: Any, environment: str
) -> None:
    """Bend MoMo's statement: one amount drifted, one line dropped, one ghost line. The
    drift and the drop go to payouts the platform already settled when there are some."""
    successful = [ref for ref, status in sim_status.items() if status == "SUCCESSFUL"]
    successful.sort(key=lambda ref: platform.get(ref) != "successful")
    major = money.to_major()
    if successful:
        ref = successful.pop(0)
        _sim_call(http, "POST", "/_sim/drift", {"referenceId": ref, "amount": str(major + 1)})
        say(f"Drift: the statement shows {ref} with {major + 1} instead of {major}")
    if successful:
        ref = successful.pop(0)
        _sim_call(http, "POST", "/_sim/drop", {"referenceId": ref})
        say(f"Drift: {ref} dropped from the statement")
    ghost = _sim_call(
        http,
        "POST",
        "/_sim/ghost",
        {
            "product": "disbursement",
            "environment": environment,
            "amount": str(major),
            "currency": money.currency.code,
        },
    )
    say(f"Drift: a payout the platform never made (ghost {ghost['financialTransactionId']})")


def cmd_momo_statement_import(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.errors import DomainError
    from lightway.application.momo.statements import (
        MAX_BYTES,
        StatementDuplicate,
        StatementInvalid,
        statement_import,
    )

    path = Path(args.file)
    if not path.is_file():
        raise CommandError(f"{args.file} is not a file")
    if path.stat().st_size > MAX_BYTES:
        raise CommandError(f"{args.file} is larger than {MAX_BYTES // 1024 // 1024} MB")
    data = path.read_bytes()
    try:
        result = statement_import(
            data=data,
            filename=path.name,
            product=args.product or "",
            environment=args.environment or "",
            actor="system:cli",
            now=timezone.now(),
        )
    except StatementInvalid as exc:
        for problem in exc.errors:
            say(f"  {problem}")
        raise CommandError(
            f"{path.name}: {len(exc.errors)} problem(s); nothing was imported"
        ) from exc
    except (StatementDuplicate, DomainError) as exc:
        raise CommandError(exc.message) from exc
    say(f"Imported {path.name} as statement #{result.import_id}")
    say(f"  Lines in the file:  {result.lines_total}")
    say(f"  Lines imported:     {result.imported}")
    say(f"  Already known:      {result.skipped} (skipped)")
    if result.period_start and result.period_end:
        say(
            f"  Period:             {result.period_start:%Y-%m-%d %H:%M} to "
            f"{result.period_end:%Y-%m-%d %H:%M} UTC"
        )
    if not (args.product and args.environment):
        note(
            "No --product/--environment: the lines are matched, but a transaction missing "
            "from this statement is not flagged as missing at MoMo."
        )
    return 0


def cmd_momo_float_check(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.momo import floats

    readings = _domain_call(lambda: floats.float_check(now=timezone.now()))
    for reading in readings:
        say(f"  {_reading_line(reading)}")
    say(f"Float balances read: {len(readings)}")
    return 0


def _reading_line(reading: FloatCheckResult) -> str:
    """One float check result: the balance and its state, or why it was not read."""
    name = f"{reading.product}/{reading.environment}"
    if reading.error or reading.available_minor is None:
        return f"{name}: not read ({reading.error or 'no balance'})"
    from lightway.data.money import Money, MoneyError

    try:
        shown = Money.of(reading.available_minor, reading.currency).format()
    except MoneyError:
        shown = f"{reading.available_minor} {reading.currency}"
    alert = f", alert sent: {reading.alert}" if reading.alert else ""
    return f"{name}: {shown} ({reading.state}{alert})"


def add_momo_commands(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Register ``lightway momo ...`` on the main parser's subcommands."""
    p = sub.add_parser("momo", help="MTN MoMo operations (reconciliation, statements, float)")
    momo = p.add_subparsers(dest="momo_command", metavar="<action>", parser_class=parser_class)
    momo.required = True

    rec = momo.add_parser(
        "reconcile",
        help="compare a window of MoMo requests with MoMo (status reads, statement lines)",
        description="Classify every MoMo request of the window and every statement line as"
        " matched, missing at MoMo, missing on the platform, amount or status mismatch;"
        " resolve lost callbacks; open cases for the rest. Prints counts per category.",
    )
    rec.add_argument(
        "--from", dest="start", metavar="ISO", type=_iso, help="window start, ISO 8601"
    )
    rec.add_argument(
        "--to", dest="end", metavar="ISO", type=_iso, help="window end, ISO 8601 (exclusive)"
    )
    rec.add_argument(
        "--fetch-statement",
        action="store_true",
        help="first import the window's statement from the MoMo simulator (demo only: MTN"
        " has no statement API; import the portal's file with statement-import)",
    )
    rec.set_defaults(handler=cmd_momo_reconcile)

    imp = momo.add_parser(
        "statement-import",
        help="import a float statement CSV (as MTN's partner portal exports it)",
        description="Every line is checked first; one bad line refuses the whole file and"
        " every problem is printed with its line number. A file is imported once.",
    )
    imp.add_argument("file", metavar="FILE", help="the statement CSV")
    imp.add_argument(
        "--product", choices=("collection", "disbursement", "remittance"), help="the account"
    )
    imp.add_argument("--environment", metavar="E", help="target environment, e.g. mtnuganda")
    imp.set_defaults(handler=cmd_momo_statement_import)

    fc = momo.add_parser("float-check", help="read the MoMo float balances now (and alert)")
    fc.set_defaults(handler=cmd_momo_float_check)

    fr = momo.add_parser(
        "fault-run",
        help="demo: payouts under lost/duplicated callbacks and statement drift, then reconcile",
        description="Against the MoMo simulator of `lightway up` only: switch it to a fault"
        " profile (half the callbacks lost, half duplicated, reordered, an error burst), make N"
        " small payouts from its own test account (demo-fault-run, never a customer's) to"
        " random MoMo numbers, drift the statement (one amount, one dropped line, one ghost),"
        " restore the normal profile, fetch the"
        " statement and reconcile the last hour. Prints the counts and the run's page.",
    )
    fr.add_argument(
        "--payouts", type=int, default=12, metavar="N", help="how many payouts (default 12)"
    )
    fr.add_argument("--currency", default="UGX", metavar="CODE", help="currency (default UGX)")
    fr.set_defaults(handler=cmd_momo_fault_run)
