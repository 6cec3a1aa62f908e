"""``lightway aml``: AML monitoring from the command line (docs/aml.md).

    lightway aml run --from DATE --to DATE          the batch rules over [from, to) (progress)
    lightway aml import-sanctions FILE [--no-screen] import a UN consolidated list XML,
                                                     then screen every customer
    lightway aml screen                              screen every customer against the list
    lightway aml seed-rules                          the default rules (idempotent)

Dates are ``YYYY-MM-DD`` (midnight UTC) or ISO 8601 times. Results go to stdout, progress
to stderr.
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from lightway.interfaces.cli import ops
from lightway.interfaces.cli.ops import CommandError
from lightway.interfaces.cli.progress import Progress, say


def _when(raw: str) -> datetime:
    try:
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), datetime.min.time(), tzinfo=UTC)
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not a date (YYYY-MM-DD) or an ISO 8601 time"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def cmd_run(args: argparse.Namespace) -> int:
    if args.end <= args.start:
        raise CommandError("--to must be after --from")
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.aml.batch import aml_run

    progress = Progress("AML batch rules (windows)")
    result = aml_run(start=args.start, end=args.end, now=timezone.now(), progress=progress)
    progress.finish(f"{result.windows} windows")
    say(
        f"{result.windows} rule windows, {result.transfers} transfers read, "
        f"{result.alerts} new alerts"
    )
    return 0


def _screen() -> tuple[int, int]:
    from django.utils import timezone

    from lightway.application.aml.sanctions import customers_screen
    from lightway.data.identity.models import Profile, Realm

    total = Profile.objects.filter(realm=Realm.CUSTOMER, name_ct__isnull=False).count()
    progress = Progress("Screening customers", total=total)
    done = [0]

    def step(count: int) -> None:
        done[0] += count
        progress(done[0], total)

    screened, hits = customers_screen(now=timezone.now(), progress=step)
    progress.finish(f"{screened} screened")
    return screened, hits


def cmd_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.aml.sanctions import sanctions_import
    from lightway.application.errors import DomainError

    try:
        listed = sanctions_import(data=data, file_name=path.name, now=timezone.now())
    except DomainError as exc:
        raise CommandError(f"{path.name}: {exc.message}; the previous list stays active") from None
    say(f"imported list {listed.pk}: {listed.entries} entries, sha256 {listed.sha256}")
    if not args.no_screen:
        screened, hits = _screen()
        say(f"{screened} customers screened, {hits} new hits")
    return 0


def cmd_screen(args: argparse.Namespace) -> int:
    ops.bootstrap()
    screened, hits = _screen()
    say(f"{screened} customers screened, {hits} new hits")
    return 0


def cmd_seed_rules(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.aml.rules import rules_seed_defaults

    now = timezone.now()
    say(f"{rules_seed_defaults(effective_from=now, now=now)} rules added")
    return 0


def add_aml_commands(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Register ``lightway aml ...`` on the main parser's subcommands."""
    p = sub.add_parser("aml", help="AML monitoring: batch rules, sanctions lists")
    aml = p.add_subparsers(dest="aml_command", metavar="<action>", parser_class=parser_class)
    aml.required = True

    r = aml.add_parser("run", help="run the batch AML rules over a period (idempotent)")
    r.add_argument("--from", dest="start", type=_when, required=True, metavar="DATE")
    r.add_argument("--to", dest="end", type=_when, required=True, metavar="DATE")
    r.set_defaults(handler=cmd_run)

    i = aml.add_parser("import-sanctions", help="import a UN consolidated list XML file")
    i.add_argument("file", metavar="FILE")
    i.add_argument("--no-screen", action="store_true", help="do not screen customers after")
    i.set_defaults(handler=cmd_import)

    s = aml.add_parser("screen", help="screen every customer against the active list")
    s.set_defaults(handler=cmd_screen)

    d = aml.add_parser("seed-rules", help="add the default AML rules (idempotent)")
    d.set_defaults(handler=cmd_seed_rules)
