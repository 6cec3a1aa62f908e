"""The `lightway` command.

    lightway up [--port N] [--host H] [--no-seed] [--keep-db]   everything, for development
    lightway serve [--port N] [--host H]                       the web server (gunicorn)
    lightway worker [--concurrency N] [--queue Q ...]          background jobs + audit linker
    lightway migrate                                           apply database migrations
    lightway seed-demo                                         demo users, wallets, tokens
    lightway seed-volume [--payments N] [--customers M] [--seed S] [--days D] [--force]
                                                               1,000,000 payments for perf work
    lightway check                                             is everything reachable?
    lightway ledger verify                                     ledger invariants hold?
    lightway audit verify [--checkpoints [FILE]] [--expect-head SEQ:HASH] [--full]
                                                               audit hash chain intact?
    lightway audit public-key                                  the checkpoint signing key (PEM)
    lightway simulators [--only NAME] [--port P]               local MoMo/Sumsub/SMS/email stand-ins
    lightway demo-totp USER                                    a demo staff user's current 2FA code
    lightway keys status                                       values per data-key version
    lightway keys rotate [--batch N]                           re-seal data under the current key
    lightway partner-key create|list --partner CODE            partner API keys (secret shown once)
    lightway partner-key rotate|revoke --key KEY_ID [--overlap-hours H]
    lightway integration-key create --realm mtn|lightway --name N --scope S [--scope S]
                             --days D --reason R                 a reporting system's key
    lightway integration-key revoke --key KEY_ID | list [--realm R]   (secret shown once)
    lightway momo reconcile [--from ISO --to ISO] [--fetch-statement]
                                                               MoMo reconciliation of a window
    lightway momo statement-import FILE [--product P --environment E]
                                                               import a float statement CSV
    lightway momo float-check                                  read MoMo float balances now
    lightway momo fault-run [--payouts N] [--currency C]      demo: faults + drift, reconcile
    lightway commission statement --party mtn|lightway|partner:CODE
                             (--month YYYY-MM | --from DATE --to DATE) [--format csv|pdf|json]
                             --out FILE                        a commission statement (audited)
    lightway report run KIND --from DATE --to DATE [--format csv|xlsx|pdf] [--out FILE]
                             [--market M] [--currency C] [--partner CODE]
                                                               a report now (progress, SHA-256)
    lightway settlement status [--market M] [--sweep]          settlement windows, instructions
    lightway settlement close --market M | --window ID         close a window (positions, pay)
    lightway settlement abort|party|statement|reconcile ...    see `lightway settlement -h`
    lightway backup [--out DIR] [--encrypt]                    pg_dump + manifest + fingerprint
    lightway backup drill | pitr-drill | keygen                restore drills (logical, PITR)
    lightway restore --from DIR --database NAME [--replace]    restore a backup (checked first)
    lightway export goaml --report STR|CTR --fiu NAME --from DATE --to DATE --out FILE
                                                               goAML XML, validated (audited)
    lightway export return --kind large-transactions|str-register --fiu NAME
                           --from DATE --to DATE --out FILE    a central-bank CSV return
    lightway retention policies|plan|run|reseal                retention (docs/retention.md)
    lightway archive list | run --month YYYY-MM | verify [--month YYYY-MM]
                     | restore --month YYYY-MM [--table T] | drop --month YYYY-MM
                                                               archive closed months
    lightway partitions ensure [--months-ahead N]              create months ahead
    lightway aml run --from DATE --to DATE                     batch AML rules over a period
    lightway aml import-sanctions FILE                         import a UN sanctions list XML

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

from lightway.infrastructure.cli_args import listen_port_arg
from lightway.interfaces.cli import ops
from lightway.interfaces.cli.ops import CommandError
from lightway.interfaces.cli.progress import Progress, error, note, say

if TYPE_CHECKING:
    from lightway.infrastructure.audit_checkpoints import Checkpoint

Handler = Callable[[argparse.Namespace], int]


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
    ops.serving_allowed("lightway serve")
    return runner.serve(args)


def cmd_worker(args: argparse.Namespace) -> int:
    from lightway.interfaces.cli.worker import worker_run

    ops.bootstrap()
    ops.serving_allowed("lightway worker")
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


def cmd_seed_volume(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.volume import VolumeSeedRefused, volume_seed

    ops.migrate_run()
    ops.seed_run()  # the demo logins and fee schedules the pages are measured with
    progress = Progress("Seeding payments", total=args.payments)
    try:
        result = volume_seed(
            payments=args.payments,
            customers=args.customers,
            seed=args.seed,
            days=args.days,
            force=args.force,
            now=timezone.now(),
            progress=progress,
        )
    except VolumeSeedRefused as exc:
        raise CommandError(exc.message) from exc
    progress.finish(f"{result.payments:,} payments in {result.seconds:.0f} s")
    say(f"Run:              {result.run}")
    say(f"Customers added:  {result.customers:,} (usernames vol{result.run}-<n>)")
    say(f"Payments added:   {result.payments:,}")
    say(f"Transfers in DB:  {result.transfers_total:,}")
    say("Check it with:    lightway ledger verify && lightway audit verify")
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
    from lightway.data.ledger.verify import boundary_note, ledger_verify

    progress = Progress("Verifying ledger")
    result = ledger_verify(progress=progress)
    progress.finish(f"{result.checked} checked")
    if result.boundary_months:
        say(boundary_note(result))
    else:
        say("No posting month is archived: every balance is verified from genesis")
    return _verify_report("ledger", result.ok, result.checked, list(result.problems))


def cmd_audit_verify(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.audit.checkpoints import (
        boundary_checkpoint_problem,
        checkpoints_verify,
    )
    from lightway.data.audit.selectors import audit_checkpoints_check, audit_verify
    from lightway.infrastructure.audit_checkpoints import (
        CheckpointFileError,
        checkpoint_path,
        checkpoints_read,
    )
    from lightway.security.audit_signing import AuditKeyError

    signed_mode = args.checkpoints is not None
    checkpoint_file = _checkpoint_file(args.checkpoints or None, checkpoint_path())
    expected = [args.expect_head] if args.expect_head is not None else []
    anchored = None
    signed = None
    if signed_mode:
        # Every signature first (table and file), then each signed head against the chain.
        try:
            signed = checkpoints_verify(file=checkpoint_file, extra=expected)
        except (CheckpointFileError, OSError, AuditKeyError) as exc:
            raise CommandError(f"cannot verify the signed checkpoints: {exc}") from exc
        anchored = signed.chain
    else:
        anchors: list[Iterable[Checkpoint]] = []
        if checkpoint_file is not None:
            anchors.append(checkpoints_read(checkpoint_file))
        if expected:
            anchors.append(expected)
        if anchors:
            # First the checkpoints: the last one that matches is where the walk may resume.
            try:
                anchored = audit_checkpoints_check(itertools.chain.from_iterable(anchors))
            except (CheckpointFileError, OSError) as exc:
                raise CommandError(f"cannot read the checkpoints: {exc}") from exc
    resume = None
    anchors_ok = anchored is not None and anchored.ok and (signed is None or signed.ok)
    if anchors_ok and anchored is not None and not args.full:
        resume = anchored.last_good
    progress = Progress("Verifying audit chain")
    result = audit_verify(now=timezone.now(), progress=progress, after=resume)
    progress.finish(f"{result.checked} checked")
    if result.resumed_after:
        say(
            f"Walked the records after checkpoint seq {result.resumed_after} (--full walks the"
            " whole chain)"
        )
    say(f"Chain head: seq {result.head_seq} hash {result.head_hash}")
    if result.unlinked:
        say(f"{result.unlinked} record(s) not linked into the chain yet (the worker links them)")

    problems = list(result.problems)
    boundary_bad: int | None = None
    if result.archived_months and not result.boundary_seq:
        say(f"Archived months {', '.join(result.archived_months)} (before the walk's start)")
    elif result.archived_months:
        say(
            f"Archived months {', '.join(result.archived_months)}: the chain is walked from the"
            f" signed checkpoint seq {result.boundary_seq} at their boundary (hash"
            f" {result.boundary_hash}); {result.below_boundary} record(s) at or below it still"
            " in the database checked one by one (`lightway archive verify` re-reads the"
            " archived files; with no month archived the walk starts from the genesis hash)"
        )
        if result.boundary_seq:
            try:
                trouble = boundary_checkpoint_problem(
                    seq=result.boundary_seq, hash=result.boundary_hash
                )
            except AuditKeyError as exc:
                raise CommandError(f"cannot verify the boundary checkpoint: {exc}") from exc
            if trouble is not None:
                problems.append(trouble)
                boundary_bad = result.boundary_seq
    first_bad = result.first_bad_seq
    if boundary_bad is not None and (first_bad is None or boundary_bad < first_bad):
        first_bad = boundary_bad
    if signed is not None:
        say(
            f"Signed checkpoints: {signed.signed_ok} signature(s) verified with key(s)"
            f" {', '.join(signed.key_ids)}; {signed.bad_signatures} refused"
        )
        if signed.unsigned:
            say(
                f"Unsigned checkpoints: {signed.unsigned} old file line(s) without a signature,"
                " compared but trusted only as far as the file is"
            )
        say(
            f"Checkpoints: {signed.chain.checked} compared with the chain (audit_checkpoint"
            + (f", {checkpoint_file}" if checkpoint_file else "")
            + (", --expect-head" if expected else "")
            + ")"
            + (
                f"; {signed.chain.archived} of them in archived months, not compared"
                if signed.chain.archived
                else ""
            )
        )
        if signed.uncovered:
            say(
                f"Not yet covered: {signed.uncovered} linked record(s) after the last signed"
                f" checkpoint seq {signed.last_signed_seq}"
            )
        problems += signed.problems
        bad_seqs = [seq for seq in (first_bad, signed.first_bad_seq) if seq is not None]
        first_bad = min(bad_seqs) if bad_seqs else None
    elif anchored is not None:
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
            " (--checkpoints verifies the signed ones)"
        )
    detail = f"; first bad seq {first_bad}" if first_bad is not None else ""
    return _verify_report("audit chain", not problems, result.checked, problems, detail)


def cmd_audit_public_key(args: argparse.Namespace) -> int:
    ops.bootstrap(database=False)
    from lightway.security.audit_signing import AuditKeyError, public_pem, signing_key

    try:
        key = signing_key()
    except AuditKeyError as exc:
        raise CommandError(str(exc)) from exc
    note(f"Audit checkpoint key id {key.key_id} (from {key.source})")
    sys.stdout.write(public_pem(key.public))
    return 0


def cmd_simulators(args: argparse.Namespace) -> int:
    ops.bootstrap(database=False)  # the simulators need none: start no server for them
    from lightway.interfaces.cli.simulators import simulators_run

    only = [n.strip() for item in (args.only or []) for n in item.split(",") if n.strip()]
    return simulators_run(
        only=only or None,
        host=args.host,
        port=args.port,
        web_base=args.web_base or _public_url(),
        env_file=args.env_file,
    )


def _public_url() -> str:
    from django.conf import settings

    return str(settings.LIGHTWAY_PUBLIC_URL).rstrip("/")


def cmd_demo_totp(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.demo import demo_totp_key
    from lightway.security.mfa.models import TotpDevice
    from lightway.security.mfa.totp import totp_code, totp_key

    # Only the seeded demo devices, and only while they still hold the demo secret.
    key = bytes.fromhex(demo_totp_key(args.username))
    device = TotpDevice.objects.filter(
        user__username=args.username, name="demo", confirmed=True
    ).first()
    if device is None or totp_key(device) != key:
        raise CommandError(f"{args.username!r} is not a demo staff user with the demo 2FA device")
    say(totp_code(device, now=timezone.now()))
    return 0


def cmd_keys_status(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from lightway.application.datakeys.rotation import keys_status
    from lightway.security.crypto import keyring

    ring = keyring()
    say(f"Current key: {ring.current} (configured: {', '.join(ring.keys)})")
    for column, counts in keys_status().items():
        versions = ", ".join(f"{v}: {n}" for v, n in sorted(counts.items())) or "no values"
        say(f"  {column:<40} {versions}")
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.datakeys.rotation import keys_rotate
    from lightway.security.crypto import CryptoError, keyring

    progress = Progress(f"Re-sealing under key {keyring().current}")
    try:
        result = keys_rotate(now=timezone.now(), batch=args.batch, progress=progress)
    except CryptoError as exc:
        raise CommandError(f"cannot rotate: {exc}") from exc
    progress.finish(f"{result.examined} values examined")
    say(f"Re-sealed {result.resealed} of {result.examined} values under key {keyring().current}")
    return 0


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


# --- translations (docs/panels.md, "Languages") ------------------------------------------


def cmd_messages_update(args: argparse.Namespace) -> int:
    from lightway.infrastructure import messages

    for language in messages.LANGUAGES:
        total, missing = messages.catalogue_update(language)
        say(f"{messages.po_path(language)}: {total} strings, {missing} to translate")
    return 0


def cmd_messages_compile(args: argparse.Namespace) -> int:
    from lightway.infrastructure import messages

    for language in messages.LANGUAGES:
        say(f"wrote {messages.catalogue_compile(language)}")
    return 0


def cmd_messages_check(args: argparse.Namespace) -> int:
    from lightway.infrastructure import messages

    problems = [p for language in messages.LANGUAGES for p in messages.catalogue_problems(language)]
    for problem in problems:
        error(problem)
    if problems:
        return 1
    say("OK: every marked string is translated and the .mo files match")
    return 0


# --- parser -------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"lightway: error: {message}\n")


# The HTTP servers ``lightway serve`` / ``up`` can run the WSGI application under
# (docs/operations.md, "Web server"; docs/performance.md says what each costs).
WEB_SERVERS = ("gunicorn", "granian")


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
        p.add_argument(
            "--port", type=listen_port_arg, help="port to listen on (LIGHTWAY_PORT, 8000)"
        )
        p.add_argument(
            "--server",
            choices=WEB_SERVERS,
            help="the HTTP server: gunicorn (gthread workers) or granian (LIGHTWAY_WEB_SERVER)",
        )
        p.add_argument("--workers", type=_positive, help="web processes (LIGHTWAY_WEB_WORKERS)")
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

    p = sub.add_parser("serve", help="run the web server only (gunicorn or granian)")
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
        "--metrics-port",
        type=listen_port_arg,
        help="also serve this worker's /metrics on this port",
    )
    p.set_defaults(handler=cmd_worker)

    p = sub.add_parser("migrate", help="apply database migrations")
    p.set_defaults(handler=cmd_migrate)

    p = sub.add_parser("seed-demo", help="create demo data (idempotent) and print the logins")
    p.set_defaults(handler=cmd_seed_demo)

    p = sub.add_parser(
        "seed-volume",
        help="add a large payment history (default 1,000,000 payments) for performance work",
        description="Migrate, seed the demo data, then add M customers and N payments between"
        " them (deposits, P2P, withdrawals, payouts, refusals) through every database"
        " trigger, set-based, in batches. Refused under production settings, and a second"
        " time without --force (docs/performance.md).",
    )
    p.add_argument("--payments", type=_positive, default=1_000_000, help="default 1,000,000")
    p.add_argument("--customers", type=_positive, default=5_000, help="default 5,000")
    p.add_argument("--seed", type=int, default=1, help="random seed of the plan (default 1)")
    p.add_argument(
        "--days", type=_positive, default=90, help="spread over the last D days (default 90)"
    )
    p.add_argument("--force", action="store_true", help="add another run on top of earlier ones")
    p.set_defaults(handler=cmd_seed_volume)

    p = sub.add_parser("check", help="check database, migrations, worker and external systems")
    p.set_defaults(handler=cmd_check)

    p = sub.add_parser("messages", help="translations of the customer app (update, compile, check)")
    msgs = p.add_subparsers(dest="messages_command", metavar="<action>", parser_class=_Parser)
    msgs.required = True
    msgs.add_parser(
        "update", help="add the strings the code marks to locale/*/django.po (keeps translations)"
    ).set_defaults(handler=cmd_messages_update)
    msgs.add_parser("compile", help="write django.mo from django.po (Babel)").set_defaults(
        handler=cmd_messages_compile
    )
    msgs.add_parser(
        "check", help="fail when a marked string has no translation or a .mo is stale"
    ).set_defaults(handler=cmd_messages_check)

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
        nargs="?",
        const="",
        help="verify the signed checkpoints (the audit_checkpoint table and the checkpoint"
        " file) against the published key(s), then compare them with the chain; FILE"
        " (default: LIGHTWAY_AUDIT_CHECKPOINT_FILE, var/audit/checkpoints.log, when it exists)",
    )
    p.add_argument(
        "--expect-head",
        metavar="SEQ:HASH",
        type=_expected_head,
        help="a head recorded earlier (as `Chain head:` prints it): the record with that seq"
        " must still have that hash",
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="walk the whole chain; by default the walk resumes after the last checkpoint"
        " that matches (when every checkpoint does)",
    )
    p.set_defaults(handler=cmd_audit_verify)
    audit.add_parser(
        "public-key",
        help="print the public key that signs the audit checkpoints (PEM)",
        description="Print the Ed25519 public key of LIGHTWAY_AUDIT_SIGNING_KEY as PEM (its"
        " key id on stderr); it is also served at /.well-known/lightway-audit-key.pem.",
    ).set_defaults(handler=cmd_audit_public_key)
    _add_keys_commands(sub)
    _add_partner_key_commands(sub)
    _add_integration_key_commands(sub)
    from lightway.interfaces.cli.momo import add_momo_commands

    add_momo_commands(sub, _Parser)  # lightway momo reconcile, statement-import, float-check, ...
    from lightway.interfaces.cli.commission import add_commission_commands

    add_commission_commands(sub, _Parser)  # lightway commission statement
    from lightway.interfaces.cli.reports import add_report_commands

    add_report_commands(sub, _Parser)  # lightway report run
    from lightway.interfaces.cli.settlement import add_settlement_commands

    add_settlement_commands(sub, _Parser)  # lightway settlement status, close, abort, ...
    from lightway.interfaces.cli.backup import add_backup_commands

    add_backup_commands(sub, _Parser)  # lightway backup [drill|pitr-drill|keygen], restore
    from lightway.interfaces.cli.export import add_export_commands

    add_export_commands(sub, _Parser)  # lightway export goaml, lightway export return
    from lightway.interfaces.cli.retention import add_retention_commands

    add_retention_commands(sub, _Parser)  # lightway retention policies, plan, run, reseal
    from lightway.interfaces.cli.archive import add_archive_commands

    add_archive_commands(sub, _Parser)  # lightway archive list|run|verify|restore|drop, partitions
    from lightway.interfaces.cli.aml import add_aml_commands

    add_aml_commands(sub, _Parser)  # lightway aml run, import-sanctions, screen, seed-rules

    p = sub.add_parser(
        "simulators", help="run the simulators of the external systems and print their URLs"
    )
    p.add_argument(
        "--only", action="append", metavar="NAME", help="only this simulator (repeatable)"
    )
    p.add_argument("--port", type=listen_port_arg, help="port (with exactly one --only)")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    p.add_argument(
        "--web-base",
        default=None,
        help="base URL of the platform, for webhooks and callbacks (LIGHTWAY_PUBLIC_URL)",
    )
    p.add_argument("--env-file", help=argparse.SUPPRESS)  # used by `lightway up`
    p.set_defaults(handler=cmd_simulators)

    p = sub.add_parser("demo-totp", help="print a demo staff user's current 2FA (TOTP) code")
    p.add_argument("username", help="a demo staff user, e.g. admin")
    p.set_defaults(handler=cmd_demo_totp)
    return parser


def _add_keys_commands(sub: Any) -> None:
    p = sub.add_parser("keys", help="data-encryption keys (personal data at rest)")
    keys = p.add_subparsers(dest="keys_command", metavar="<action>", parser_class=_Parser)
    keys.required = True
    keys.add_parser("status", help="count encrypted values per key version").set_defaults(
        handler=cmd_keys_status
    )
    rotate = keys.add_parser("rotate", help="re-seal every encrypted value under the current key")
    rotate.add_argument("--batch", type=_positive, default=500, help="rows per transaction")
    rotate.set_defaults(handler=cmd_keys_rotate)


# --- partner API keys (docs/api.md, "Partner signatures") ---------------------------------


def _partner_key_call(action: Callable[[], Any]) -> Any:
    from lightway.application.errors import DomainError

    try:
        return action()
    except DomainError as exc:
        raise CommandError(exc.message) from exc


def cmd_partner_key_create(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.partners.keys import partner_key_create
    from lightway.data.identity.models import Partner

    partner = Partner.objects.filter(code=args.partner).first()
    if partner is None:
        raise CommandError(f"no partner with code {args.partner!r}")
    key_id, secret = _partner_key_call(
        lambda: partner_key_create(partner_id=partner.pk, actor="system:cli", now=timezone.now())
    )
    say(f"Key id:  {key_id}")
    say(f"Secret:  {secret}")
    note("The secret is shown only now: hand it to the partner over a secure channel.")
    return 0


def cmd_partner_key_rotate(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.partners.keys import partner_key_rotate

    now = timezone.now()
    overlap = int(args.overlap_hours * 3600)
    key_id, secret = _partner_key_call(
        lambda: partner_key_rotate(
            key_id=args.key, overlap_seconds=overlap, actor="system:cli", now=now
        )
    )
    say(f"Key id:  {key_id}")
    say(f"Secret:  {secret}")
    note(
        f"{args.key} keeps working for {args.overlap_hours:g} h more. The secret is shown "
        "only now: hand it to the partner over a secure channel."
    )
    return 0


def cmd_partner_key_revoke(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.partners.keys import partner_key_revoke

    revoked = _partner_key_call(
        lambda: partner_key_revoke(key_id=args.key, actor="system:cli", now=timezone.now())
    )
    say(f"Revoked {args.key}" if revoked else f"{args.key} was already revoked")
    return 0


def cmd_partner_key_list(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.partners.keys import partner_key_list
    from lightway.data.identity.models import Partner

    partner = Partner.objects.filter(code=args.partner).first()
    if partner is None:
        raise CommandError(f"no partner with code {args.partner!r}")
    now = timezone.now()
    for key in partner_key_list(partner_id=partner.pk):
        if key.revoked_at is not None:
            state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}"
        elif key.expires_at is not None:
            verb = "expires" if key.live(now) else "expired"
            state = f"{verb} {key.expires_at:%Y-%m-%d %H:%M}"
        else:
            state = "live"
        say(f"{key.key_id}  created {key.created_at:%Y-%m-%d %H:%M}  {state}")
    return 0


def _overlap_hours(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number of hours") from None
    if not 0 <= value <= 720:
        raise argparse.ArgumentTypeError(f"{value:g} must be from 0 to 720 hours")
    return value


def _add_partner_key_commands(sub: Any) -> None:
    p = sub.add_parser("partner-key", help="partner API keys (create, rotate, revoke, list)")
    keys = p.add_subparsers(dest="partner_key_command", metavar="<action>", parser_class=_Parser)
    keys.required = True
    create = keys.add_parser("create", help="a new API key for a partner (secret shown once)")
    create.add_argument("--partner", required=True, metavar="CODE", help="the partner's code")
    create.set_defaults(handler=cmd_partner_key_create)
    rotate = keys.add_parser(
        "rotate", help="replace a key; the old one works during the overlap (secret shown once)"
    )
    rotate.add_argument("--key", required=True, metavar="KEY_ID", help="the key to replace")
    rotate.add_argument(
        "--overlap-hours",
        type=_overlap_hours,
        default=24.0,
        help="hours the old key keeps working (0 to 720, default 24)",
    )
    rotate.set_defaults(handler=cmd_partner_key_rotate)
    revoke = keys.add_parser("revoke", help="stop a key at once")
    revoke.add_argument("--key", required=True, metavar="KEY_ID", help="the key to revoke")
    revoke.set_defaults(handler=cmd_partner_key_revoke)
    listing = keys.add_parser("list", help="a partner's keys and their state (no secrets)")
    listing.add_argument("--partner", required=True, metavar="CODE", help="the partner's code")
    listing.set_defaults(handler=cmd_partner_key_list)


# --- integration keys (docs/api.md "Integration keys"; docs/operations.md) -------------------


def cmd_integration_key_create(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.integrations.keys import integration_key_create

    key_id, secret = _partner_key_call(
        lambda: integration_key_create(
            realm=args.realm,
            name=args.name,
            scopes=args.scope,
            days=args.days,
            reason=args.reason,
            actor="system:cli",
            now=timezone.now(),
        )
    )
    say(f"Key id:  {key_id}")
    say(f"Secret:  {secret}")
    note(
        f"Expires in {args.days} days. The secret is shown only now: hand it to the system's "
        "owners over a secure channel. To rotate, create a new key, switch, revoke this one."
    )
    return 0


def cmd_integration_key_revoke(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.integrations.keys import integration_key_revoke

    revoked = _partner_key_call(
        lambda: integration_key_revoke(key_id=args.key, actor="system:cli", now=timezone.now())
    )
    say(f"Revoked {args.key}" if revoked else f"{args.key} was already revoked")
    return 0


def cmd_integration_key_list(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.integrations.keys import integration_key_list

    now = timezone.now()
    for key in integration_key_list(realm=args.realm):
        state = key.state(now)
        when = {"revoked": key.revoked_at, "expired": key.expires_at}.get(state)
        until = (
            f"{state} {when:%Y-%m-%d %H:%M}"
            if when
            else f"live until {key.expires_at:%Y-%m-%d %H:%M}"
        )
        used = f"last used {key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never used"
        say(
            f"{key.key_id}  {key.realm}  {key.name!r}  {','.join(key.scopes)}  "
            f"created {key.created_at:%Y-%m-%d %H:%M} by {key.created_by}  {until}  {used}"
        )
    return 0


def _add_integration_key_commands(sub: Any) -> None:
    # No choices here: the parser is built before Django is set up, and the service refuses
    # a realm or scope outside the policy with a message that lists the allowed ones.
    p = sub.add_parser(
        "integration-key",
        help="integration keys of MTN's and LightWay's reporting systems (create, revoke, list)",
    )
    keys = p.add_subparsers(
        dest="integration_key_command", metavar="<action>", parser_class=_Parser
    )
    keys.required = True
    create = keys.add_parser("create", help="a new, expiring key (secret shown once; audited)")
    create.add_argument("--realm", required=True, help="whose system it is: mtn or lightway")
    create.add_argument("--name", required=True, help="which system uses it (3-80 characters)")
    create.add_argument(
        "--scope",
        required=True,
        action="append",
        help="what it may call, repeatable: transactions.view_momo (statuses), "
        "reports.view (reconciliation reports)",
    )
    create.add_argument(
        "--days",
        required=True,
        type=_positive,
        help="days until it expires (at most LIGHTWAY_INTEGRATION_KEY_MAX_DAYS, default 90)",
    )
    create.add_argument(
        "--reason", required=True, help="the ticket and why (10-300 characters; audited)"
    )
    create.set_defaults(handler=cmd_integration_key_create)
    revoke = keys.add_parser("revoke", help="stop a key at once (audited)")
    revoke.add_argument("--key", required=True, metavar="KEY_ID", help="the key to revoke")
    revoke.set_defaults(handler=cmd_integration_key_revoke)
    listing = keys.add_parser("list", help="the keys and their state (no secrets)")
    listing.add_argument("--realm", help="only this realm's keys (mtn or lightway)")
    listing.set_defaults(handler=cmd_integration_key_list)


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
    finally:
        ops.embedded_release()  # whatever a command started, it stops


def _one_line(exc: BaseException) -> str:
    from django.db import DatabaseError

    reason = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, DatabaseError):
        return f"database error: {reason or type(exc).__name__}"
    return f"unexpected {type(exc).__name__}: {reason} (run with --traceback for details)"


if __name__ == "__main__":
    sys.exit(main())
