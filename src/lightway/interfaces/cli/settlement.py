"""``lightway settlement``: settlement windows from the command line (docs/settlement.md).

    lightway settlement status [--market M] [--sweep]     windows, positions, instructions
    lightway settlement close (--market M | --window ID)  close a window (idempotent by id)
    lightway settlement abort --window ID --reason TEXT   abort a closed window
    lightway settlement party set --party P --currency C --name N --account A [--bic B]
    lightway settlement statement --window ID --party P [--format csv|json] [--output FILE]
    lightway settlement reconcile --currency C --date YYYY-MM-DD [--file CAMT053.xml]

Results go to stdout, progress to stderr (``interfaces/cli/progress.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

from lightway.interfaces.cli import ops
from lightway.interfaces.cli.ops import CommandError
from lightway.interfaces.cli.progress import Progress, note, say

ACTOR = "cli:settlement"


def _call(action: Any) -> Any:
    from lightway.application.errors import DomainError

    try:
        return action()
    except DomainError as exc:
        raise CommandError(exc.message) from exc


def _money(amount: int, code: str) -> str:
    from lightway.data.money import Money

    return Money.of(amount, code).format()


def cmd_status(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.settlement.config import markets, settlement_configured
    from lightway.application.settlement.instructions import instructions_due, settlement_sweep
    from lightway.application.settlement.statements import window_instructions, windows_page

    now = timezone.now()
    chosen = [args.market.upper()] if args.market else list(markets())
    if args.sweep:
        due = instructions_due(now=now)
        progress = Progress("Sending and reading instructions", total=len(due))
        done = _call(lambda: settlement_sweep(now=now))
        progress(done, len(due))
        progress.finish(f"{done} instruction(s)")
    say(f"Settlement API: {'configured' if settlement_configured() else 'NOT configured'}")
    for market in chosen:
        windows = windows_page(market=market, limit=args.last)
        if not windows:
            say(f"{market}: no window yet")
            continue
        say(f"{market}:")
        for window in windows:
            closed = f" closed {window.closed_at:%Y-%m-%d %H:%M}" if window.closed_at else ""
            say(
                f"  window {window.pk:>6}  {window.state:<18} opened"
                f" {window.opened_at:%Y-%m-%d %H:%M}{closed}  payments {window.deltas}"
            )
            for i in window_instructions(window_id=window.pk):
                reason = f" {i.reject_code} {i.reject_reason}" if i.reject_code else ""
                say(
                    f"      {i.instr_id}  {i.direction:<7} {i.counterparty:<24}"
                    f" {_money(i.amount, i.currency):>18}  {i.status}{reason}"
                )
    return 0


def cmd_close(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.settlement.windows import window_close

    if (args.market is None) == (args.window is None):
        raise CommandError("give --market or --window (one of them)")
    progress = Progress("Closing")
    result = _call(
        lambda: window_close(
            now=timezone.now(),
            actor=ACTOR,
            window_id=args.window,
            market=args.market,
        )
    )
    window = result.window
    progress.finish(f"window {window.pk}")
    if result.already:
        note(f"window {window.pk} was already closed: nothing new was made")
    say(f"Window {window.pk} ({window.market}): {window.state}, {window.deltas} payment effects")
    if window.close_seconds is not None:
        say(f"Close took {window.close_seconds:.3f} s")
    for position in result.positions:
        say(
            f"  {position.counterparty:<24} {position.component:<26}"
            f" {_money(position.amount, position.currency):>18}"
            f"  ({position.deltas} payments{'' if position.cash else ', funded'})"
        )
    for i in result.instructions:
        say(f"  instruction {i.instr_id}: {i.direction} {_money(i.amount, i.currency)} {i.status}")
    return 0


def cmd_abort(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.settlement.windows import window_abort

    window = _call(
        lambda: window_abort(
            window_id=args.window, reason=args.reason, actor=ACTOR, now=timezone.now()
        )
    )
    say(f"Window {window.pk} aborted; its positions moved to the open {window.market} window")
    return 0


def cmd_party_set(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.settlement.parties import settlement_party_set

    party = _call(
        lambda: settlement_party_set(
            counterparty=args.party,
            currency_code=args.currency.upper(),
            name=args.name,
            account=args.account,
            agent_bic=args.bic or "",
            actor=ACTOR,
            now=timezone.now(),
        )
    )
    say(f"{party.counterparty} {party.currency}: {party.name}, account {party.account}")
    return 0


def cmd_statement(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from django.core.serializers.json import DjangoJSONEncoder

    from lightway.application.settlement.statements import (
        statement_csv,
        statement_json,
        window_statement,
    )

    statement = _call(lambda: window_statement(window_id=args.window, counterparty=args.party))
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        if args.format == "json":
            out.write(json.dumps(statement_json(statement), cls=DjangoJSONEncoder, indent=2))
            out.write("\n")
        else:
            for line in statement_csv(statement):
                out.write(line)
    finally:
        if args.output:
            out.close()
            note(f"statement written to {args.output}")
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    ops.bootstrap()
    from django.utils import timezone

    from lightway.application.settlement.reconciliation import (
        statement_fetch_reconcile,
        statement_reconcile,
    )

    now = timezone.now()
    if args.file:
        try:
            xml = Path(args.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {args.file}: {exc}") from exc
        result = _call(lambda: statement_reconcile(xml=xml, actor=ACTOR, now=now))
    else:
        if not args.currency or not args.date:
            raise CommandError("give --currency and --date (or --file)")
        from lightway.integration.settlement.port import SettlementError

        try:
            result = _call(
                lambda: statement_fetch_reconcile(
                    currency_code=args.currency.upper(), on=args.date, actor=ACTOR, now=now
                )
            )
        except SettlementError as exc:
            raise CommandError(f"the Settlement API did not give the statement: {exc}") from exc
    statement = result.statement
    if result.already:
        note(f"statement {statement.stmt_id} was imported before: its results are shown")
    say(f"Statement {statement.stmt_id} ({statement.version}) of {statement.statement_date}")
    for category, count in result.counts().items():
        say(f"  {category:<16} {count:>6}")
    for item in result.items:
        if item.category != "matched":
            say(f"  {item.category}: {item.reference} {item.detail}")
    return 0


def _date(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a date (YYYY-MM-DD)") from None


def add_settlement_commands(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Register ``lightway settlement ...`` on the main parser's subcommands."""
    p = sub.add_parser("settlement", help="settlement windows, instructions and statements")
    st = p.add_subparsers(dest="settlement_command", metavar="<action>", parser_class=parser_class)
    st.required = True

    s = st.add_parser("status", help="windows per market, their positions and instructions")
    s.add_argument("--market", metavar="CCY", help="one market (a currency, e.g. UGX)")
    s.add_argument("--last", type=int, default=3, metavar="N", help="windows per market (3)")
    s.add_argument(
        "--sweep",
        action="store_true",
        help="first send due instructions and read late outcomes (with progress)",
    )
    s.set_defaults(handler=cmd_status)

    c = st.add_parser(
        "close",
        help="close a window: positions, instructions (idempotent by window id)",
        description="--window ID closes that window; closing it again changes nothing."
        " --market M closes the market's window that is open now (run twice, it closes the"
        " window the first run opened).",
    )
    c.add_argument("--market", metavar="CCY", help="close the market's open window")
    c.add_argument("--window", type=int, metavar="ID", help="close this window")
    c.set_defaults(handler=cmd_close)

    a = st.add_parser("abort", help="abort a closed window before anything was accepted")
    a.add_argument("--window", type=int, required=True, metavar="ID")
    a.add_argument("--reason", required=True, metavar="TEXT")
    a.set_defaults(handler=cmd_abort)

    party = st.add_parser("party", help="counterparties' bank accounts")
    ps = party.add_subparsers(dest="party_command", metavar="<action>", parser_class=parser_class)
    ps.required = True
    pset = ps.add_parser("set", help="set a counterparty's account in a currency (audited)")
    pset.add_argument("--party", required=True, help="lightway, mtn or partner:<code>")
    pset.add_argument("--currency", required=True, metavar="CCY")
    pset.add_argument("--name", required=True)
    pset.add_argument("--account", required=True, help="IBAN or account number")
    pset.add_argument("--bic", help="the bank's BIC")
    pset.set_defaults(handler=cmd_party_set)

    stm = st.add_parser("statement", help="a window's statement for one counterparty")
    stm.add_argument("--window", type=int, required=True, metavar="ID")
    stm.add_argument("--party", required=True, help="mtn or partner:<code>")
    stm.add_argument("--format", choices=("csv", "json"), default="csv")
    stm.add_argument("--output", metavar="FILE", help="write here instead of stdout")
    stm.set_defaults(handler=cmd_statement)

    rec = st.add_parser(
        "reconcile", help="reconcile the bank's camt.053 statement against the instructions"
    )
    rec.add_argument("--currency", metavar="CCY", help="LightWay's account in this currency")
    rec.add_argument("--date", type=_date, metavar="YYYY-MM-DD", help="the statement's day")
    rec.add_argument("--file", metavar="CAMT053", help="a camt.053 file instead of the API")
    rec.set_defaults(handler=cmd_reconcile)
