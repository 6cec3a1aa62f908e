"""``lightway commission``: commission statements from the command line (docs/commission.md).

    lightway commission statement --party mtn|lightway|partner:<code>
                                  (--month YYYY-MM | --from DATE --to DATE)
                                  [--format csv|pdf|json] --out FILE

The file is written to ``--out`` (its format from ``--format``, else from the file's
extension) and recorded in the audit trail with its SHA-256, as ``system:cli``. Progress
goes to stderr, the result (file, lines, SHA-256, totals) to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
from datetime import date
from pathlib import Path
from typing import Any

from lightway.interfaces.cli import ops
from lightway.interfaces.cli.ops import CommandError
from lightway.interfaces.cli.progress import Progress, say

FORMATS = ("csv", "pdf", "json")


def _date(raw: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a date (YYYY-MM-DD)") from None


def _format_of(args: argparse.Namespace, out: Path) -> str:
    if args.format:
        return str(args.format)
    suffix = out.suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return suffix
    raise CommandError(f"give --format ({', '.join(FORMATS)}): {out.name} has no known extension")


def cmd_commission_statement(args: argparse.Namespace) -> int:
    out = Path(args.out)
    fmt = _format_of(args, out)
    if args.month is not None and (args.start is not None or args.end is not None):
        raise CommandError("give either --month or --from and --to, not both")
    if args.month is None and (args.start is None or args.end is None):
        raise CommandError("give the period: --month YYYY-MM, or --from DATE and --to DATE")
    if out.is_dir():
        raise CommandError(f"--out {out} is a directory; give a file name")
    if not out.parent.is_dir():
        raise CommandError(f"the directory of --out does not exist: {out.parent}")
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.errors import DomainError
    from lightway.application.reports.cells import money_text
    from lightway.application.reports.commission import (
        commission_statement_generate,
        statement_month,
        statement_party,
        statement_period,
    )

    try:
        party = statement_party(text=args.party)
        if args.month is not None:
            start, end = statement_month(text=args.month)
        else:
            start, end = statement_period(start=args.start, end=args.end)
    except DomainError as exc:
        raise CommandError(exc.message) from exc
    progress = Progress(f"Reading {party.key} commission records")
    written = False
    try:
        with out.open("wb") as handle:
            result = commission_statement_generate(
                party=party,
                start=start,
                end=end,
                fmt=fmt,
                out=handle,
                actor="system:cli",
                now=timezone.now(),
                progress=progress,
            )
        written = True
    except DomainError as exc:
        raise CommandError(exc.message) from exc
    except OSError as exc:
        raise CommandError(f"cannot write {out}: {exc.strerror or exc}") from exc
    finally:
        if not written:  # no half-written statement left behind
            with contextlib.suppress(OSError):
                out.unlink()
    progress.finish(f"{result.lines} line(s)")
    say(f"Statement: {out}")
    say(f"Party:     {party.label} [{party.key}]")
    say(f"Period:    {start.isoformat()} to {end.isoformat()} (UTC days, both included)")
    say(f"Format:    {fmt}, {result.size} bytes, {result.lines} line(s)")
    say(f"SHA-256:   {result.sha256} (audit record {result.audit_id})")
    for row in result.summary:
        say(
            f"  {row.currency} {row.transaction_kind:<11} {row.count:>7} transaction(s)  "
            f"fee {money_text(row.fee, row.currency)}  share {money_text(row.share, row.currency)}"
        )
    return 0


def add_commission_commands(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("commission", help="commission statements (CSV, PDF, JSON)")
    actions = p.add_subparsers(
        dest="commission_command", metavar="<action>", parser_class=parser_class
    )
    actions.required = True
    statement = actions.add_parser(
        "statement",
        help="one party's commission statement over a period, to a file (audited)",
        description="Write the commission statement of one party (LightWay, MTN with its"
        " share, or a partner) over whole UTC days to a file, and record its SHA-256 in the"
        " audit trail.",
    )
    statement.add_argument(
        "--party", required=True, metavar="PARTY", help="mtn, lightway or partner:<code>"
    )
    statement.add_argument("--month", metavar="YYYY-MM", help="a calendar month")
    statement.add_argument(
        "--from", dest="start", type=_date, metavar="DATE", help="first day (YYYY-MM-DD)"
    )
    statement.add_argument(
        "--to", dest="end", type=_date, metavar="DATE", help="last day, included (YYYY-MM-DD)"
    )
    statement.add_argument(
        "--format", choices=FORMATS, help="csv, pdf or json (default: from --out's extension)"
    )
    statement.add_argument("--out", required=True, metavar="FILE", help="the file to write")
    statement.set_defaults(handler=cmd_commission_statement)
