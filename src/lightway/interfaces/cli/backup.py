"""``lightway backup`` and ``lightway restore`` (docs/operations.md, "Backup and restore").

    lightway backup [--out DIR] [--encrypt]       pg_dump + manifest + fingerprint (+ AES-GCM)
    lightway backup drill [--encrypt] [--keep DIR]
                                                  back up, restore into a scratch database,
                                                  compare the fingerprints, drop the scratch
    lightway backup pitr-drill [--payments N] [--keep]
                                                  pgBackRest point-in-time recovery drill on
                                                  a cluster of its own (initdb, free port)
    lightway backup keygen                        a new LIGHTWAY_BACKUP_KEY
    lightway restore --from DIR --database NAME [--replace]

The backup reads the database as its owner (``DATABASE_OWNER_URL``, else ``DATABASE_URL``).
Progress goes to stderr, results to stdout; a drill that finds a difference prints each one
and exits 1.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from lightway.interfaces.cli import ops
from lightway.interfaces.cli.ops import CommandError
from lightway.interfaces.cli.progress import Progress, error, say


def _payments(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if not 10 <= value <= 100_000:
        raise argparse.ArgumentTypeError(f"{value} must be from 10 to 100,000")
    return value


def _source_url() -> str:
    from django.conf import settings

    return str(settings.DATABASE_OWNER_URL or settings.DATABASE_URL)


def _key(required: bool) -> bytes | None:
    from django.conf import settings

    from lightway.infrastructure.backup_crypto import BackupCryptoError, backup_key_parse

    raw = str(getattr(settings, "LIGHTWAY_BACKUP_KEY", "") or "")
    if not raw:
        if required:
            raise CommandError(
                "--encrypt needs LIGHTWAY_BACKUP_KEY (base64 of 32 random bytes;"
                " `lightway backup keygen` prints one): keep it in the secrets store"
            )
        return None
    try:
        return backup_key_parse(raw)
    except BackupCryptoError as exc:
        raise CommandError(str(exc)) from exc


def _backup_base() -> Path:
    from django.conf import settings

    from lightway.infrastructure.embedded_pg import var_dir

    configured = str(getattr(settings, "LIGHTWAY_BACKUP_DIR", "") or "")
    return Path(configured) if configured else var_dir() / "backups"


def cmd_backup(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.backup.logical import (
        BackupError,
        backup_audit,
        backup_create,
        backup_directory_default,
    )
    from lightway.data.backup.fingerprint import fingerprint_lines

    key = _key(args.encrypt)
    now = timezone.now()
    out = Path(args.out) if args.out else backup_directory_default(_backup_base(), now)
    progress = Progress("Backing up")
    try:
        result = backup_create(
            source_url=_source_url(),
            out_dir=out,
            now=now,
            key=key if args.encrypt else None,
            progress=progress,
        )
    except BackupError as exc:
        raise CommandError(str(exc)) from exc
    progress.finish(f"{result.manifest['size']:,} bytes")
    manifest = result.manifest
    backup_audit(action="backup.create", manifest=manifest, actor="system:cli", now=now)
    say(f"Backup:    {result.directory}")
    say(
        f"Database:  {manifest['database']} (PostgreSQL {manifest['server_version']},"
        f" pg_dump {manifest['pg_dump_version']})"
    )
    say(f"File:      {manifest['file']}, {manifest['size']:,} bytes")
    say(f"SHA-256:   {manifest['sha256']}")
    if manifest["encryption"]:
        sealed = manifest["encryption"]
        say(f"Encrypted: {sealed['algorithm']}, key {sealed['key_id']}")
    for line in fingerprint_lines(result.fingerprint):
        say(line)
    say(f"Took:      {result.seconds:.1f} s")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from lightway.application.backup.logical import BackupError, backup_restore

    progress = Progress("Restoring")
    try:
        result = backup_restore(
            directory=Path(args.source),
            source_url=_source_url(),
            database=args.database,
            replace=args.replace,
            key=_key(False),
            progress=progress,
        )
    except BackupError as exc:
        raise CommandError(str(exc)) from exc
    progress.finish(f"into {result.database}")
    say(f"Restored {args.source} into database {result.database} in {result.seconds:.1f} s")
    say(
        "Next: point DATABASE_URL at it and run `lightway migrate`, `lightway ledger verify`,"
        " `lightway audit verify --full` (docs/operations.md)"
    )
    return 0


def cmd_backup_drill(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.backup.logical import BackupError, backup_audit, backup_drill
    from lightway.data.backup.fingerprint import fingerprint_lines

    key = _key(args.encrypt)
    progress = Progress("Backup drill")
    work = Path(args.keep) if args.keep else None
    try:
        with tempfile.TemporaryDirectory(prefix="lightway-drill-") as tmp:
            result = backup_drill(
                source_url=_source_url(),
                work_dir=work or Path(tmp),
                now=timezone.now(),
                key=key if args.encrypt else None,
                keep_backup=work is not None,
                progress=progress,
            )
    except BackupError as exc:
        raise CommandError(str(exc)) from exc
    progress.finish("compared")
    backup_audit(
        action="backup.drill",
        manifest=result.backup.manifest,
        actor="system:cli",
        now=timezone.now(),
        differences=len(result.differences),
    )
    source = result.backup.manifest["database"]
    say(f"Source:    {source}; scratch database {result.scratch} (dropped)")
    for line in fingerprint_lines(result.fingerprint):
        say(line)
    say("Timings:   " + ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items()))
    if work is not None:
        say(f"Backup kept in {result.backup.directory}")
    if not result.ok:
        for difference in result.differences:
            say(f"  differs: {difference}")
        error(f"backup drill failed: {len(result.differences)} difference(s) after the restore")
        return 1
    say("OK: the restored database matches the backup's fingerprint")
    return 0


def cmd_backup_pitr_drill(args: argparse.Namespace) -> int:
    from lightway.application.backup.pitr import PitrError, pitr_drill
    from lightway.data.backup.fingerprint import fingerprint_lines

    progress = Progress("PITR drill")
    try:
        result = pitr_drill(payments=args.payments, keep=args.keep, progress=progress)
    except PitrError as exc:
        raise CommandError(str(exc)) from exc
    progress.finish("done")
    say(f"Cluster:   PostgreSQL {result.server_version} on port {result.port}, {result.directory}")
    say(f"Target:    {result.target_time} (before the bad change)")
    if result.expected is not None:
        for line in fingerprint_lines(result.expected):
            say(line)
    say(f"Timeline:  {result.timeline_before} -> {result.timeline_after} after the restore")
    say(f"Backups:   {', '.join(result.backups)}")
    say("Timings:   " + ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items()))
    if result.differences:
        for difference in result.differences:
            say(f"  differs: {difference}")
        error(f"PITR drill failed: {len(result.differences)} difference(s) after the restore")
        return 1
    say(
        "OK: ledger balances, every transfer and the audit chain head are as they were at the"
        " target time"
    )
    return 0


def cmd_backup_keygen(args: argparse.Namespace) -> int:
    from lightway.infrastructure.backup_crypto import backup_key_new, backup_key_parse, key_id

    key = backup_key_new()
    say(key)
    from lightway.interfaces.cli.progress import note

    note(
        f"Key id {key_id(backup_key_parse(key))}. Set it as LIGHTWAY_BACKUP_KEY, keep it in the"
        " secrets store, never beside the backups."
    )
    return 0


def add_backup_commands(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "backup",
        help="logical backup (pg_dump + manifest + fingerprint), drills",
        description="Dump the platform database (pg_dump custom format) into a directory with"
        " a manifest: versions, size, SHA-256 and the fingerprint of the data (ledger"
        " balances, transfers, audit chain head) read from the same snapshot as the dump.",
    )
    p.add_argument(
        "--out", metavar="DIR", help="new directory (default var/backups/lightway-<time>)"
    )
    p.add_argument(
        "--encrypt", action="store_true", help="seal the dump with LIGHTWAY_BACKUP_KEY (AES-GCM)"
    )
    p.set_defaults(handler=cmd_backup)
    actions = p.add_subparsers(dest="backup_command", metavar="<action>", parser_class=parser_class)
    drill = actions.add_parser(
        "drill",
        help="back up, restore into a scratch database, compare the fingerprints",
    )
    drill.add_argument("--encrypt", action="store_true", help="drill an encrypted backup")
    drill.add_argument("--keep", metavar="DIR", help="keep the backup in DIR (default: removed)")
    drill.set_defaults(handler=cmd_backup_drill)
    pitr = actions.add_parser(
        "pitr-drill",
        help="pgBackRest point-in-time recovery drill on a cluster of its own",
        description="initdb a cluster on a free port (as the postgres user when run as root),"
        " archive its WAL with pgBackRest, load the schema and payments, take a full backup,"
        " make more payments, note the time, break the ledger as a saboteur would, restore to"
        " the noted time, prove the data is as it was then, and take a new full backup.",
    )
    pitr.add_argument(
        "--payments",
        type=_payments,
        default=200,
        help="payments before the backup (half as many after it; default 200)",
    )
    pitr.add_argument("--keep", action="store_true", help="keep the cluster's directory")
    pitr.set_defaults(handler=cmd_backup_pitr_drill)
    actions.add_parser("keygen", help="print a new LIGHTWAY_BACKUP_KEY").set_defaults(
        handler=cmd_backup_keygen
    )

    r = sub.add_parser(
        "restore",
        help="restore a `lightway backup` into a database (checksum verified first)",
        description="Verify the backup's SHA-256 (and decrypt it), then pg_restore it in one"
        " transaction into DATABASE (created when missing). A database that holds anything is"
        " refused unless --replace.",
    )
    r.add_argument("--from", dest="source", required=True, metavar="DIR", help="the backup")
    r.add_argument(
        "--database",
        required=True,
        metavar="NAME",
        help="database on the same server (or a postgresql:// URL)",
    )
    r.add_argument(
        "--replace",
        action="store_true",
        help="restore beside a non-empty DATABASE, then drop it and rename the restored one"
        " in its place (stop its processes first)",
    )
    r.set_defaults(handler=cmd_restore)
