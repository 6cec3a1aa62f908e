"""``lightway report``: the platform's reports from the command line (docs/reports.md).

    lightway report run KIND --from DATE --to DATE [--format csv|xlsx|pdf]
                             [--market M] [--currency C] [--partner CODE] [--out FILE]

The run is recorded like one asked on the staff page (requested by ``system:cli``) and
produced at once in this process, with a progress bar on stderr; the file is written to
``--out`` (default: the run's file name in the current directory) and its SHA-256 printed.
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

KIND_CHOICES = ("volumes", "commission", "kyc", "failures", "floats")
FORMATS = ("csv", "xlsx", "pdf")


def _date(raw: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a date (YYYY-MM-DD)") from None


def cmd_report_run(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else None
    if out is not None:
        if out.is_dir():
            raise CommandError(f"--out {out} is a directory; give a file name")
        if not out.parent.is_dir():
            raise CommandError(f"the directory of --out does not exist: {out.parent}")
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.errors import DomainError
    from lightway.application.reports.runs import (
        report_download,
        report_params,
        report_run_execute,
        report_run_request,
    )

    try:
        params = report_params(
            kind=args.kind,
            start=args.start,
            end=args.end,
            fmt=args.format,
            market=args.market or "",
            currency=args.currency or "",
            partner=args.partner or "",
        )
    except DomainError as exc:
        raise CommandError(exc.message) from exc
    run = report_run_request(
        params=params, requested_by="system:cli", now=timezone.now(), enqueue=False
    )
    progress = Progress(f"Running {params.kind} (run {run.pk})")
    ended = report_run_execute(run_id=int(run.pk), clock=timezone.now, progress=progress)
    if ended.status != "done":
        raise CommandError(f"report run {run.pk} failed: {ended.error}")
    progress.finish(f"{ended.size} bytes")
    target = out or Path(ended.filename)
    download = report_download(run_id=int(run.pk), actor="system:cli", now=timezone.now())
    written = False
    try:
        target.write_bytes(download.content)
        written = True
    except OSError as exc:
        raise CommandError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        if not written:
            with contextlib.suppress(OSError):
                target.unlink()
    say(f"Report:    {target}")
    say(f"Run:       {run.pk} ({params.kind}, {params.format})")
    say(f"Period:    {params.start.isoformat()} to {params.end.isoformat()} (UTC days)")
    say(f"Filters:   {params.filters.describe()}")
    say(f"Size:      {ended.size} bytes")
    say(f"SHA-256:   {ended.sha256}")
    return 0


def add_report_commands(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", help="the platform's reports (CSV, XLSX, PDF)")
    actions = p.add_subparsers(dest="report_command", metavar="<action>", parser_class=parser_class)
    actions.required = True
    run = actions.add_parser(
        "run",
        help="produce one report now, to a file (recorded as a run, downloads audited)",
        description="Produce a report over whole UTC days: volumes (per kind, market,"
        " currency, partner), commission (per party), kyc (statistics), failures (by reason)"
        " or floats (positions). The run is recorded with its SHA-256.",
    )
    run.add_argument("kind", choices=KIND_CHOICES, help="which report")
    run.add_argument(
        "--from", dest="start", type=_date, required=True, metavar="DATE", help="first day"
    )
    run.add_argument(
        "--to", dest="end", type=_date, required=True, metavar="DATE", help="last day, included"
    )
    run.add_argument("--format", choices=FORMATS, default="pdf", help="csv, xlsx or pdf (pdf)")
    run.add_argument("--market", metavar="CC", help="only this market (UG, GH, ...)")
    run.add_argument("--currency", metavar="CODE", help="only this currency")
    run.add_argument("--partner", metavar="CODE", help="only this partner")
    run.add_argument("--out", metavar="FILE", help="the file to write (default: its name)")
    run.set_defaults(handler=cmd_report_run)
