"""``lightway archive`` and ``lightway partitions``: monthly partitions and archived months
(``application/archive/service.py``, docs/operations.md "Partitions and archival").

    lightway archive list                       partitions, strays, archived months
    lightway archive run --month YYYY-MM        export, verify, detach one closed month
    lightway archive verify [--month YYYY-MM]   re-check archive files (and the rows)
    lightway archive restore --month YYYY-MM [--table T]   bring an archived month back
    lightway archive drop --month YYYY-MM [--table T] [--grace-days N]
    lightway partitions ensure [--months-ahead N]          create months ahead

Results go to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from lightway.interfaces.cli import ops
from lightway.interfaces.cli.ops import CommandError
from lightway.interfaces.cli.progress import Progress, note, say

T = TypeVar("T")


def _call(action: Callable[[], T]) -> T:
    from lightway.application.errors import DomainError

    try:
        return action()
    except DomainError as exc:
        raise CommandError(exc.message) from exc


def _month(raw: str) -> Any:
    from lightway.application.archive.service import ArchiveError, month_parse

    try:
        return month_parse(raw)
    except ArchiveError as exc:
        raise CommandError(exc.message) from exc


def cmd_list(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from lightway.application.archive.service import month_label, partitions_status
    from lightway.data.archive.models import ArchiveManifest

    for status in partitions_status():
        months = [p for p in status.partitions if p.month is not None]
        span = (
            f"{month_label(months[0].month)} .. {month_label(months[-1].month)}"  # type: ignore[arg-type]
            if months
            else "none"
        )
        keep = "" if status.detachable else f"  (kept attached: {status.reason})"
        say(f"{status.table}: {len(months)} month partition(s) {span}{keep}")
        if status.default_rows:
            say(f"  WARNING: {status.default_rows} row(s) in the default partition")
    manifests = list(ArchiveManifest.objects.order_by("month", "table_name"))
    if not manifests:
        say("No archived months.")
    for m in manifests:
        say(
            f"{month_label(m.month)}  {m.table_name:<24} {m.state:<9} {m.row_count:>10} rows"
            f"  {m.file_name}  sha256 {m.file_sha256[:16]}"
        )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    month = _month(args.month)
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.archive.service import archive_month_run, partitioned_tables

    progress = Progress(f"Archiving {args.month}", total=len(partitioned_tables()) * 3)
    results = _call(lambda: archive_month_run(month=month, now=timezone.now(), progress=progress))
    progress.finish(f"{len(results)} table(s)")
    for r in results:
        say(f"{r.table:<24} {r.state:<9} {r.rows:>10} rows  {r.note}".rstrip())
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    month = _month(args.month) if args.month else None
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.archive.service import (
        archive_month_verify,
        archive_verify_all,
        month_label,
    )
    from lightway.data.archive.models import ArchiveManifest

    now = timezone.now()
    if month is None:
        total = ArchiveManifest.objects.count()
        progress = Progress("Verifying archives", total=total)
        checked = _call(lambda: archive_verify_all(now=now, progress=progress))
        progress.finish(f"{len(checked)} archive(s)")
    else:
        tables = list(
            ArchiveManifest.objects.filter(month=month).values_list("table_name", flat=True)
        )
        if not tables:
            raise CommandError(f"nothing was archived for {args.month}")
        progress = Progress(f"Verifying {args.month}", total=len(tables))
        checked = []
        for table in tables:

            def verify_one(t: str = table) -> Any:
                return archive_month_verify(table=t, month=month, now=now)

            checked.append(_call(verify_one))
            progress(table)
        progress.finish(f"{len(checked)} archive(s)")
    for m in checked:
        say(f"OK {month_label(m.month)} {m.table_name}: {m.row_count} rows, {m.state}")
    return 0


def _tables(args: argparse.Namespace, month: Any) -> list[str]:
    from lightway.data.archive.models import ArchiveManifest

    if args.table:
        return [args.table]
    tables = list(
        ArchiveManifest.objects.filter(month=month, state__in=["detached", "dropped"])
        .order_by("table_name")
        .values_list("table_name", flat=True)
    )
    if not tables:
        raise CommandError(f"no archived (detached or dropped) table for {args.month}")
    return tables


def cmd_restore(args: argparse.Namespace) -> int:
    month = _month(args.month)
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.archive.service import archive_month_restore

    for table in _tables(args, month):
        progress = Progress(f"Restoring {table} {args.month}")

        def restore_one(t: str = table, progress: Progress = progress) -> int:
            return archive_month_restore(
                table=t, month=month, now=timezone.now(), progress=progress
            )

        rows = _call(restore_one)
        progress.finish(f"{rows} rows")
        say(f"{table} {args.month}: {rows} rows attached again")
    return 0


def cmd_drop(args: argparse.Namespace) -> int:
    month = _month(args.month)
    ops.bootstrap()
    from django.conf import settings

    from lightway.application.archive.service import archive_month_drop

    days = settings.LIGHTWAY_ARCHIVE_DROP_GRACE_DAYS if args.grace_days is None else args.grace_days
    for table in _tables(args, month):

        def drop_one(t: str = table) -> int:
            return archive_month_drop(table=t, month=month, grace=timedelta(days=days))

        rows = _call(drop_one)
        say(f"{table} {args.month}: dropped ({rows} rows kept in the archive file)")
    return 0


def cmd_partitions_ensure(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.archive.service import default_partition_strays, partitions_ensure

    made = _call(lambda: partitions_ensure(now=timezone.now(), months_ahead=args.months_ahead))
    say(f"{made} partition(s) created")
    for table, rows in default_partition_strays().items():
        note(f"WARNING: {table} has {rows} row(s) in its default partition")
    return 0


def _non_negative(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {raw!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def add_archive_commands(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Register ``lightway archive ...`` and ``lightway partitions ...``."""
    p = sub.add_parser("archive", help="archive closed months of the partitioned tables")
    ar = p.add_subparsers(dest="archive_command", metavar="<action>", parser_class=parser_class)
    ar.required = True
    ar.add_parser(
        "list", help="partitions, default-partition strays, archived months"
    ).set_defaults(handler=cmd_list)
    r = ar.add_parser("run", help="export, verify and detach one closed month")
    r.add_argument("--month", required=True, metavar="YYYY-MM")
    r.set_defaults(handler=cmd_run)
    v = ar.add_parser("verify", help="re-read archive files against manifests and rows")
    v.add_argument("--month", metavar="YYYY-MM", help="one month (default: every archive)")
    v.set_defaults(handler=cmd_verify)
    s = ar.add_parser("restore", help="attach an archived month again (from the file if dropped)")
    s.add_argument("--month", required=True, metavar="YYYY-MM")
    s.add_argument("--table", metavar="TABLE", help="one table (default: every archived one)")
    s.set_defaults(handler=cmd_restore)
    d = ar.add_parser("drop", help="drop detached months after the grace period")
    d.add_argument("--month", required=True, metavar="YYYY-MM")
    d.add_argument("--table", metavar="TABLE")
    d.add_argument("--grace-days", type=_non_negative, metavar="N")
    d.set_defaults(handler=cmd_drop)

    p = sub.add_parser("partitions", help="monthly partitions of the high-volume tables")
    pa = p.add_subparsers(dest="partitions_command", metavar="<action>", parser_class=parser_class)
    pa.required = True
    e = pa.add_parser("ensure", help="create this month's and the next months' partitions")
    e.add_argument("--months-ahead", type=_non_negative, metavar="N")
    e.set_defaults(handler=cmd_partitions_ensure)
