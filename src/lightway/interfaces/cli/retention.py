"""``lightway retention``: retention policies, legal holds and the retention job
(docs/retention.md).

    lightway retention policies [--on DATE]       the versions in force per class and country
    lightway retention plan [--as-of ISO]         what a run would erase or delete (dry run)
    lightway retention run [--batch N]            erase and purge what is due (progress)
    lightway retention reseal [--batch N]         move personal data sealed before per-person
                                                  keys to them (batched, resumable)

``plan`` and ``run`` are recorded (``retention_run``) and audited as ``system:cli``.
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from typing import Any

from lightway.interfaces.cli import ops
from lightway.interfaces.cli.progress import Progress, say


def _date(raw: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a date (YYYY-MM-DD)") from None


def _moment(raw: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not a date or time (YYYY-MM-DD or YYYY-MM-DDTHH:MM)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _batch(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if not 1 <= value <= 10_000:
        raise argparse.ArgumentTypeError(f"{value} must be between 1 and 10000")
    return value


def _now(args: argparse.Namespace) -> datetime:
    from django.utils import timezone

    return getattr(args, "as_of", None) or timezone.now()


def cmd_policies(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from lightway.application.retention.policies import policies_in_force

    on = args.on or _now(args).date()
    say(f"Retention policies in force on {on.isoformat()} ('*' = default):")
    for row in policies_in_force(on=on):
        say(
            f"  {row.data_class:<17} {row.country or '*':<3} {row.period:<18}"
            f" from {row.effective_from.isoformat()}  {row.legal_source}"
        )
    return 0


def _print_lines(counts: list[dict[str, Any]]) -> None:
    for line in counts:
        say(f"  {line['data_class']:<17} {line['country']:<3} {line['count']:>8}  {line['action']}")


def cmd_plan(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from lightway.application.retention.jobs import retention_run

    run = retention_run(now=_now(args), actor="system:cli", mode="plan")
    say(f"Retention plan as of {run.as_of.isoformat()} (dry run, nothing changed; run {run.pk}):")
    _print_lines(run.counts)
    say(f"Total due: {run.total}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from lightway.application.retention.jobs import retention_run

    progress = Progress("Retention")
    run = retention_run(now=_now(args), actor="system:cli", batch=args.batch, progress=progress)
    progress.finish(f"{run.total} row(s) or person(s)")
    say(f"Retention run {run.pk} as of {run.as_of.isoformat()}:")
    _print_lines(run.counts)
    say(f"Total: {run.total}")
    return 0


def cmd_reseal(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.datakeys.rotation import keys_rotate

    progress = Progress("Re-sealing personal data with per-person keys")
    result = keys_rotate(now=timezone.now(), batch=args.batch, progress=progress, person_only=True)
    progress.finish(f"{result.resealed} value(s) moved")
    say(f"Examined {result.examined} value(s), moved {result.resealed} to per-person keys")
    for column, count in sorted((result.by_column or {}).items()):
        say(f"  {column:<40} {count}")
    return 0


def add_retention_commands(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("retention", help="retention policies, erasure and purges")
    actions = p.add_subparsers(
        dest="retention_command", metavar="<action>", parser_class=parser_class
    )
    actions.required = True
    q = actions.add_parser("policies", help="the policy versions in force per class and country")
    q.add_argument("--on", type=_date, metavar="DATE", help="the day (default: today)")
    q.set_defaults(handler=cmd_policies)
    q = actions.add_parser("plan", help="what a run would erase or delete now (dry run)")
    q.add_argument(
        "--as-of", dest="as_of", type=_moment, metavar="ISO", help="plan as of this moment"
    )
    q.set_defaults(handler=cmd_plan)
    q = actions.add_parser("run", help="erase personal data and delete rows that are due")
    q.add_argument("--batch", type=_batch, default=200, help="rows per transaction (200)")
    q.set_defaults(handler=cmd_run)
    q = actions.add_parser(
        "reseal", help="move personal data sealed before per-person keys to them (resumable)"
    )
    q.add_argument("--batch", type=_batch, default=500, help="rows per transaction (500)")
    q.set_defaults(handler=cmd_reseal)
