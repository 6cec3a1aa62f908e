"""The `lightway` command.

    lightway up [--port N] [--host H] [--no-seed] [--keep-db]   everything, for development
    lightway serve [--port N] [--host H]                       the web server (gunicorn)
    lightway worker [--concurrency N] [--queue Q ...]          background jobs + audit linker
    lightway migrate                                           apply database migrations
    lightway seed-demo                                         demo users, wallets, tokens
    lightway check                                             is everything reachable?
    lightway ledger verify                                     ledger invariants hold?
    lightway audit verify [--checkpoints FILE] [--expect-head SEQ:HASH]
                                                               audit hash chain intact?

Results go to stdout, progress to stderr. Exit code 0 means success; any failure prints one
line ``lightway: error: <reason>`` and exits non-zero (2 for a usage error).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightway.interfaces.cli import ops
from lightway.interfaces.cli.ops import CommandError
from lightway.interfaces.cli.progress import Progress, error, note, say

if TYPE_CHECKING:
    from lightway.infrastructure.audit_checkpoints import Checkpoint

Handler = Callable[[argparse.Namespace], int]


def _port(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is out of range (1-65535)")
    return port


def _positive(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _expected_head(raw: str) -> Checkpoint:
    from lightway.infrastructure.audit_checkpoints import CheckpointFileError, head_parse

    try:
        return head_parse(raw)
    except CheckpointFileError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number of seconds") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must not be negative")
    return value


# --- command handlers ---------------------------------------------------------------------


def cmd_up(args: argparse.Namespace) -> int:
    from lightway.interfaces.cli import runner

    return runner.up(args)


def cmd_serve(args: argparse.Namespace) -> int:
    from lightway.interfaces.cli import runner

    ops.bootstrap()
    return runner.serve(args)


def cmd_worker(args: argparse.Namespace) -> int:
    from lightway.interfaces.cli.worker import worker_run

    ops.bootstrap()
    from django.conf import settings

    interval = (
        args.audit_interval
        if args.audit_interval is not None
        else settings.LIGHTWAY_AUDIT_LINK_INTERVAL_MS / 1000
    )
    return worker_run(
        concurrency=args.concurrency or settings.LIGHTWAY_WORKER_CONCURRENCY,
        audit_interval=interval,
        queues=args.queue or None,
        metrics_port=args.metrics_port or 0,
    )


def cmd_migrate(args: argparse.Namespace) -> int:
    ops.bootstrap()
    ops.migrate_run()
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    ops.bootstrap()
    result = ops.seed_run()
    for line in ops.seed_result_lines(result):
        say(line)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from lightway.interfaces.cli.checks import checks_all, checks_run, checks_table

    ops.bootstrap()
    results = checks_run(checks_all())
    for line in checks_table(results):
        say(line)
    failed = [r.name for r in results if r.status == "FAIL"]
    if failed:
        error(f"{len(failed)} check(s) failed: {', '.join(failed)}")
        return 1
    return 0


def cmd_ledger_verify(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from lightway.data.ledger.selectors import ledger_verify

    progress = Progress("Verifying ledger")
    result = ledger_verify(progress=progress)
    progress.finish(f"{result.checked} checked")
    return _verify_report("ledger", result.ok, result.checked, list(result.problems))


def cmd_audit_verify(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from django.utils import timezone

    from lightway.data.audit.selectors import audit_checkpoints_check, audit_verify
    from lightway.infrastructure.audit_checkpoints import (
        CheckpointFileError,
        checkpoint_path,
        checkpoints_read,
    )

    checkpoint_file = _checkpoint_file(args.checkpoints, checkpoint_path())
    progress = Progress("Verifying audit chain")
    result = audit_verify(now=timezone.now(), progress=progress)
    progress.finish(f"{result.checked} checked")
    say(f"Chain head: seq {result.head_seq} hash {result.head_hash}")
    if result.unlinked:
        say(f"{result.unlinked} record(s) not linked into the chain yet (the worker links them)")

    anchors: list[Iterable[Checkpoint]] = []
    if checkpoint_file is not None:
        anchors.append(checkpoints_read(checkpoint_file))
    if args.expect_head is not None:
        anchors.append([args.expect_head])
    problems = list(result.problems)
    first_bad = result.first_bad_seq
    if anchors:
        try:
            anchored = audit_checkpoints_check(itertools.chain.from_iterable(anchors))
        except (CheckpointFileError, OSError) as exc:
            raise CommandError(f"cannot read the checkpoints: {exc}") from exc
        source = ", ".join(
            ([str(checkpoint_file)] if checkpoint_file else [])
            + (["--expect-head"] if args.expect_head else [])
        )
        say(f"Checkpoints: {anchored.checked} compared ({source})")
        problems += anchored.problems
        bad_seqs = [seq for seq in (first_bad, anchored.first_bad_seq) if seq is not None]
        first_bad = min(bad_seqs) if bad_seqs else None
    else:
        say(
            "Checkpoints: none compared (no checkpoint file): an edited and re-hashed chain, or"
            " one cut short, is only caught against checkpoints kept outside the database"
        )
    detail = f"; first bad seq {first_bad}" if first_bad is not None else ""
    return _verify_report("audit chain", not problems, result.checked, problems, detail)


def _checkpoint_file(given: str | None, configured: Path | None) -> Path | None:
    """--checkpoints FILE (must exist), else the configured file when it exists."""
    if given is not None:
        path = Path(given)
        if not path.is_file():
            raise CommandError(f"checkpoint file {given} does not exist")
        return path
    if configured is not None and configured.is_file():
        return configured
    return None


def _verify_report(what: str, ok: bool, checked: int, problems: list[Any], detail: str = "") -> int:
    for problem in problems:
        say(f"  problem: {problem}")
    if ok and not problems:
        say(f"OK: {what} verified ({checked} checked)")
        return 0
    error(f"{what} verification failed: {len(problems)} problem(s) in {checked} checked{detail}")
    return 1


# --- parser -------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"lightway: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lightway",
        description="LightWay MoMo: run and operate the platform.",
        epilog="Run `lightway <command> --help` for a command's options.",
    )
    parser.add_argument(
        "--traceback", action="store_true", help="show the full traceback of an unexpected error"
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>", parser_class=_Parser)

    def web_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("--host", help="address to listen on (LIGHTWAY_HOST, 127.0.0.1)")
        p.add_argument("--port", type=_port, help="port to listen on (LIGHTWAY_PORT, 8000)")
        p.add_argument(
            "--workers", type=_positive, help="gunicorn processes (LIGHTWAY_WEB_WORKERS)"
        )
        p.add_argument(
            "--threads", type=_positive, help="threads per process (LIGHTWAY_WEB_THREADS)"
        )

    p = sub.add_parser(
        "up",
        help="migrate, seed demo data, run the web server and the worker until Ctrl-C",
        description="Start everything for development: embedded PostgreSQL under var/ when"
        " DATABASE_URL is unset, migrations, demo data, the web server and the worker.",
    )
    web_arguments(p)
    p.add_argument("--no-seed", action="store_true", help="do not seed demo data")
    p.add_argument(
        "--keep-db", action="store_true", help="leave the embedded PostgreSQL running on exit"
    )
    p.add_argument(
        "--ready-timeout", type=_seconds, default=120.0, help="seconds to wait for /readyz (120)"
    )
    p.set_defaults(handler=cmd_up)

    p = sub.add_parser("serve", help="run the web server only (gunicorn)")
    web_arguments(p)
    p.add_argument("--no-collectstatic", action="store_true", help="skip collectstatic")
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser("worker", help="run the background job worker and audit linker")
    p.add_argument(
        "--concurrency", type=_positive, help="jobs run in parallel (LIGHTWAY_WORKER_CONCURRENCY)"
    )
    p.add_argument(
        "--queue", action="append", metavar="NAME", help="only these queues (repeatable)"
    )
    p.add_argument(
        "--audit-interval",
        type=_seconds,
        help="seconds between audit-chain links, 0 disables (LIGHTWAY_AUDIT_LINK_INTERVAL_MS)",
    )
    p.add_argument(
        "--metrics-port", type=_port, help="also serve this worker's /metrics on this port"
    )
    p.set_defaults(handler=cmd_worker)

    p = sub.add_parser("migrate", help="apply database migrations")
    p.set_defaults(handler=cmd_migrate)

    p = sub.add_parser("seed-demo", help="create demo data (idempotent) and print the logins")
    p.set_defaults(handler=cmd_seed_demo)

    p = sub.add_parser("check", help="check database, migrations, worker and external systems")
    p.set_defaults(handler=cmd_check)

    p = sub.add_parser("ledger", help="ledger operations")
    ledger = p.add_subparsers(dest="ledger_command", metavar="<action>", parser_class=_Parser)
    ledger.required = True
    ledger.add_parser("verify", help="check the ledger invariants").set_defaults(
        handler=cmd_ledger_verify
    )

    p = sub.add_parser("audit", help="audit log operations")
    audit = p.add_subparsers(dest="audit_command", metavar="<action>", parser_class=_Parser)
    audit.required = True
    p = audit.add_parser(
        "verify",
        help="check the audit hash chain (and its checkpoints)",
        description="Recompute the audit hash chain, print its head, and compare it with"
        " checkpoints kept outside the database: every checkpoint must match the record"
        " with its seq.",
    )
    p.add_argument(
        "--checkpoints",
        metavar="FILE",
        help="checkpoint file to compare with (default: LIGHTWAY_AUDIT_CHECKPOINT_FILE,"
        " var/audit/checkpoints.log, when it exists)",
    )
    p.add_argument(
        "--expect-head",
        metavar="SEQ:HASH",
        type=_expected_head,
        help="a head recorded earlier (as `Chain head:` prints it): the record with that seq"
        " must still have that hash",
    )
    p.set_defaults(handler=cmd_audit_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return handler(args)
    except CommandError as exc:
        error(str(exc))
        return 1
    except KeyboardInterrupt:
        note("")
        error("interrupted")
        return 130
    except Exception as exc:
        if args.traceback:
            raise
        error(_one_line(exc))
        return 1


def _one_line(exc: BaseException) -> str:
    from django.db import DatabaseError

    reason = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, DatabaseError):
        return f"database error: {reason or type(exc).__name__}"
    return f"unexpected {type(exc).__name__}: {reason} (run with --traceback for details)"


if __name__ == "__main__":
    sys.exit(main())
