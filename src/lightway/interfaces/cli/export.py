"""``lightway export``: regulatory exports from the command line (docs/goaml.md).

    lightway export goaml --report {STR,CTR} --fiu NAME --from DATE --to DATE --out FILE
    lightway export return --kind {large-transactions,str-register} --fiu NAME
                           --from DATE --to DATE --out FILE

Every file is validated against the FIU's XSD before it is released, stored sealed and
recorded in the audit trail with its SHA-256 (as ``system:cli``); the same bytes are
written to ``--out``. When a CTR period needs several reports (``ctr_batch_size``) or
several STRs are due, the files are ``FILE-001.xml``, ``FILE-002.xml``, ... Dates are the
FIU's local days, both included. A period without data is said so and exits 0; errors
(unknown FIU, bad dates, a file that does not validate) exit 1.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from lightway.interfaces.cli import ops
from lightway.interfaces.cli.ops import CommandError
from lightway.interfaces.cli.progress import Progress, say

REPORTS = ("STR", "CTR")
RETURN_KINDS = ("large-transactions", "str-register")


def _date(raw: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a date (YYYY-MM-DD)") from None


def _check_out(out: Path) -> None:
    if out.is_dir():
        raise CommandError(f"--out {out} is a directory; give a file name")
    if not out.parent.is_dir():
        raise CommandError(f"the directory of --out does not exist: {out.parent}")


def _paths(out: Path, count: int) -> list[Path]:
    if count == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{i:03d}{out.suffix}") for i in range(1, count + 1)]


def _write(paths: Sequence[Path], contents: Sequence[bytes]) -> None:
    written: list[Path] = []
    try:
        for path, content in zip(paths, contents, strict=True):
            path.write_bytes(content)
            written.append(path)
    except OSError as exc:
        for path in written:  # no half set of files left behind
            with contextlib.suppress(OSError):
                path.unlink()
        raise CommandError(f"cannot write {exc.filename or paths[0]}: {exc.strerror}") from exc


def cmd_export_goaml(args: argparse.Namespace) -> int:
    out = Path(args.out)
    _check_out(out)
    if args.end < args.start:
        raise CommandError(f"--to {args.end} is before --from {args.start}")
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.errors import DomainError
    from lightway.application.goaml.config import fiu_config_in_force
    from lightway.application.goaml.service import (
        Released,
        goaml_export_ctr,
        goaml_export_strs,
        period_check,
    )

    now = timezone.now()
    released: list[Released] = []
    try:
        period_check(start=args.start, end=args.end)
        fiu_config_in_force(fiu=args.fiu, on=args.end)
        if args.report == "CTR":
            progress = Progress(f"Reading transfers for the {args.fiu} CTR")
            released = goaml_export_ctr(
                fiu=args.fiu,
                start=args.start,
                end=args.end,
                actor="system:cli",
                now=now,
                progress=progress,
            )
            progress.finish(f"{sum(r.transactions for r in released)} transaction(s)")
        else:
            released = goaml_export_strs(
                fiu=args.fiu, start=args.start, end=args.end, actor="system:cli", now=now
            )
    except DomainError as exc:
        raise CommandError(exc.message) from exc
    if not released:
        what = "no transfer reached the CTR threshold" if args.report == "CTR" else "no STR due"
        say(f"No data: {what} for FIU {args.fiu} from {args.start} to {args.end}; no file written.")
        return 0
    paths = _paths(out, len(released))
    _write(paths, [r.content for r in released])
    say(f"{args.report} for FIU {args.fiu}, {args.start} to {args.end} (local days, included)")
    for path, item in zip(paths, released, strict=True):
        say(f"File:         {path}")
        say(f"  reference:    {item.reference}")
        say(f"  transactions: {item.transactions}")
        say(f"  size:         {item.size} bytes, validated against the FIU's XSD")
        say(f"  SHA-256:      {item.sha256}")
    say(f"Files: {len(released)}, transactions: {sum(r.transactions for r in released)}")
    return 0


def cmd_export_return(args: argparse.Namespace) -> int:
    out = Path(args.out)
    _check_out(out)
    if args.end < args.start:
        raise CommandError(f"--to {args.end} is before --from {args.start}")
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.errors import DomainError
    from lightway.application.goaml.returns import goaml_return

    progress = Progress(f"Writing the {args.kind} return")
    try:
        result = goaml_return(
            kind=args.kind,
            fiu=args.fiu,
            start=args.start,
            end=args.end,
            actor="system:cli",
            now=timezone.now(),
            progress=progress,
        )
    except DomainError as exc:
        raise CommandError(exc.message) from exc
    if result is None:
        progress.finish("no rows")
        say(
            f"No data: the {args.kind} return of FIU {args.fiu} from {args.start} to {args.end}"
            " has no row; no file written."
        )
        return 0
    progress.finish(f"{result.transactions} row(s)")
    _write([out], [result.content])
    say(f"Return:  {out} ({args.kind}, FIU {args.fiu}, {args.start} to {args.end})")
    say(f"Rows:    {result.transactions}")
    say(f"Size:    {result.size} bytes")
    say(f"SHA-256: {result.sha256} (reference {result.reference})")
    return 0


def add_export_commands(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("export", help="regulatory exports: goAML XML, central-bank returns")
    actions = p.add_subparsers(dest="export_command", metavar="<export>", parser_class=parser_class)
    actions.required = True
    goaml = actions.add_parser(
        "goaml",
        help="goAML STR or CTR files for an FIU, validated against its XSD (audited)",
        description="Generate goAML XML for an FIU over whole local days, validate it against"
        " the FIU's XSD, store it sealed, record its SHA-256 in the audit trail and write it"
        " to --out.",
    )
    goaml.add_argument("--report", required=True, choices=REPORTS, help="STR or CTR")
    _period_args(goaml)
    goaml.set_defaults(handler=cmd_export_goaml)
    ret = actions.add_parser(
        "return",
        help="a CSV return for the central bank (large transactions, STR register) (audited)",
    )
    ret.add_argument("--kind", required=True, choices=RETURN_KINDS, help="which return")
    _period_args(ret)
    ret.set_defaults(handler=cmd_export_return)


def _period_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fiu", required=True, metavar="NAME", help="the FIU's configuration")
    parser.add_argument(
        "--from", dest="start", required=True, type=_date, metavar="DATE", help="first day"
    )
    parser.add_argument(
        "--to", dest="end", required=True, type=_date, metavar="DATE", help="last day, included"
    )
    parser.add_argument("--out", required=True, metavar="FILE", help="the file to write")
