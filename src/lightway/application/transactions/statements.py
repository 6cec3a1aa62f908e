"""A customer's monthly wallet statements (``/app/statements/``), PDF and CSV.

A statement covers one wallet and one UTC month: the opening balance, every posting of the
wallet's ledger account in the month, the balance after each, and the closing balance, so
opening + movements = closing holds exactly and each month closes at the balance the next
one opens with. It is read from the ledger itself, never from the transfers.

**Month boundaries** are the ledger's day cuts (``partners_statement_cut``, taken by the
periodic job once a UTC day has ended and every transaction that could still add a
posting below the cut has finished; ``application/partners/account.py``): the month's
postings are the wallet's postings after the cut of the day before the month and up to
the cut of its last day. A wallet opened during the month opens at zero. The current
month is the month to date (up to the newest posting, marked "not final"); a closed month
whose last cut is not taken yet is ``statement_not_ready``; a month before the first cut
is ``statement_unavailable``.

**Cost.** The month's postings of one account (an index range on ``ledger_posting
(account_id, id)``) and the opening balance from the balance checkpoints (at most
``CHECKPOINT_EVERY`` postings): the same on the first month and after years.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.utils.translation import gettext as _

from lightway.application.errors import NotFound, RequestRefused, postings_archived_refused
from lightway.application.reports.cells import csv_safe, money_text
from lightway.application.reports.pdf import ReportDocument, ReportTable, Writable, pdf_write
from lightway.data.ledger.selectors import account_postings_range
from lightway.data.partners.models import StatementCut
from lightway.data.wallets.models import Wallet

MAX_MONTHS = 24  # months offered on the page (older ones: ask support)


@dataclass(frozen=True)
class StatementLine:
    posting_id: int
    occurred_at: datetime
    kind: str
    leg: str
    amount: int
    balance_after: int
    reference: str
    description: str


@dataclass(frozen=True)
class WalletStatement:
    wallet_id: uuid.UUID
    currency: str
    month: date  # its first day
    final: bool  # False for the month to date
    opening_balance: int
    closing_balance: int
    total_in: int
    total_out: int
    lines: list[StatementLine]
    generated_at: datetime


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def _at(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _wallet(owner_id: int, wallet_id: uuid.UUID) -> Wallet:
    wallet = Wallet.objects.filter(id=wallet_id, owner_id=owner_id).first()
    if wallet is None:
        raise NotFound(_("wallet not found"), details={"field": "wallet"})
    return wallet


@dataclass(frozen=True)
class StatementChoice:
    wallet_id: uuid.UUID
    currency: str
    months: list[date]  # newest first: the month to date, then closed months


def statement_choices(*, owner_id: int, now: datetime) -> list[StatementChoice]:
    """The months each of the customer's wallets has a statement for (newest first, at
    most ``MAX_MONTHS``): from the month the wallet opened to the current month. Whether
    a closed month's cut is taken is checked when the statement is asked for."""
    current = month_start(now.astimezone(UTC).date())
    out = []
    for wallet in Wallet.objects.filter(owner_id=owner_id).order_by("currency"):
        first = month_start(wallet.created_at.astimezone(UTC).date())
        months: list[date] = []
        month = current
        while month >= first and len(months) < MAX_MONTHS:
            months.append(month)
            month = month_start(month - timedelta(days=1))
        out.append(StatementChoice(wallet.id, wallet.currency, months))
    return out


def wallet_statement_month(
    *, owner_id: int, wallet_id: uuid.UUID, month: date, now: datetime
) -> WalletStatement:
    """The statement of ``month`` (any day of it) for one of the customer's wallets
    (module docstring)."""
    wallet = _wallet(owner_id, wallet_id)
    first = month_start(month)
    after_month = next_month(first)
    today = now.astimezone(UTC).date()
    if first > today:
        raise RequestRefused(
            "statement_not_ready",
            _("There is no statement for a month that has not started."),
            details={"field": "month"},
        )
    opened = wallet.created_at.astimezone(UTC)
    if opened >= _at(after_month):
        raise NotFound(_("This wallet did not exist in that month."), details={"field": "month"})
    wanted = [first - timedelta(days=1), after_month - timedelta(days=1)]
    cuts = dict(StatementCut.objects.filter(day__in=wanted).values_list("day", "last_posting_id"))
    if opened >= _at(first):
        after = 0  # opened during the month: every posting of the account is in it
    elif wanted[0] in cuts:
        after = int(cuts[wanted[0]])
    else:
        raise RequestRefused(
            "statement_unavailable",
            _(
                "No statement exists for this month: statements start with the first month "
                "the ledger's daily cuts cover."
            ),
            details={"field": "month"},
        )
    final = after_month <= today
    if not final:
        upto: int | None = None
    elif wanted[1] in cuts:
        upto = int(cuts[wanted[1]])
    else:
        raise RequestRefused(
            "statement_not_ready",
            _("This month's statement is made shortly after the month ends. Try again later."),
            details={"field": "month"},
        )
    with postings_archived_refused():
        opening, postings = account_postings_range(
            account_id=wallet.account_id, after=after, upto=upto
        )
    balance = opening
    lines = []
    for p in postings:
        balance += p.amount
        lines.append(
            StatementLine(
                posting_id=p.posting_id,
                occurred_at=p.created_at,
                kind=p.kind,
                leg=p.leg,
                amount=p.amount,
                balance_after=balance,
                reference=p.reference,
                description=p.description,
            )
        )
    return WalletStatement(
        wallet_id=wallet.id,
        currency=wallet.currency,
        month=first,
        final=final,
        opening_balance=opening,
        closing_balance=balance,
        total_in=sum(line.amount for line in lines if line.amount > 0),
        total_out=-sum(line.amount for line in lines if line.amount < 0),
        lines=lines,
        generated_at=now,
    )


# --- files ---------------------------------------------------------------------------------------


def line_label(kind: str, leg: str) -> str:
    """What a posting is, in words: the payment kind, and "fee" for a fee posting."""
    labels = {
        "p2p": _("Wallet to wallet"),
        "deposit": _("Deposit from MoMo"),
        "withdrawal": _("Withdrawal to MoMo"),
        "payout": _("Sent to a MoMo number"),
        "remittance": _("Money from abroad"),
        "reversal": _("Reversal"),
        "exchange": _("Currency exchange"),
        "opening_balance": _("Opening balance"),
    }
    label = labels.get(kind, kind)
    return _("%(label)s: fee") % {"label": label} if leg == "fee" else label


CSV_COLUMNS = (
    "date",
    "posting_id",
    "type",
    "description",
    "reference",
    "amount_minor",
    "balance_after_minor",
)


def statement_csv(statement: WalletStatement) -> str:
    """The statement as CSV: a header line (wallet, currency, month, final), the column
    names, an OPENING line, one line per posting, a CLOSING line. Amounts in minor units;
    text a spreadsheet would read as a formula is prefixed with an apostrophe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "wallet",
            str(statement.wallet_id),
            "currency",
            statement.currency,
            "month",
            statement.month.strftime("%Y-%m"),
            "final",
            "yes" if statement.final else "no (month to date)",
        ]
    )
    writer.writerow(CSV_COLUMNS)
    writer.writerow(["", "", "OPENING", "", "", "", statement.opening_balance])
    for line in statement.lines:
        writer.writerow(
            [
                line.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                line.posting_id,
                f"{line.kind}:{line.leg}" if line.leg else line.kind,
                csv_safe(line.description),
                csv_safe(line.reference),
                line.amount,
                line.balance_after,
            ]
        )
    writer.writerow(["", "", "CLOSING", "", "", "", statement.closing_balance])
    return out.getvalue()


def statement_pdf(statement: WalletStatement, out: Writable) -> None:
    """The statement as a PDF (the platform's statement layout, ``reports/pdf.py``)."""
    code = statement.currency
    month = statement.month.strftime("%Y-%m")
    document = ReportDocument(
        title=_("LightWay wallet statement %(month)s (%(currency)s)")
        % {"month": month, "currency": code},
        parameters=[
            (_("Wallet"), str(statement.wallet_id)),
            (
                _("Month"),
                month + ("" if statement.final else " " + _("(month to date, not final)")),
            ),
            (_("Made"), statement.generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ],
        summary_title=_("Summary"),
        summary=ReportTable(
            headers=[_("Opening balance"), _("Money in"), _("Money out"), _("Closing balance")],
            rows=[
                [
                    money_text(statement.opening_balance, code),
                    money_text(statement.total_in, code),
                    money_text(statement.total_out, code),
                    money_text(statement.closing_balance, code),
                ]
            ],
            numeric=frozenset({0, 1, 2, 3}),
        ),
        notes=[
            _("Opening balance + money in - money out = closing balance. Times are UTC."),
        ],
        detail_title=_("Movements"),
        detail=ReportTable(
            headers=[
                _("Date (UTC)"),
                _("What"),
                _("Description"),
                _("Reference"),
                _("Amount"),
                _("Balance"),
            ],
            rows=[
                [
                    line.occurred_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
                    line_label(line.kind, line.leg),
                    line.description[:60],
                    line.reference,
                    money_text(line.amount, code),
                    money_text(line.balance_after, code),
                ]
                for line in statement.lines
            ],
            numeric=frozenset({4, 5}),
            widths=[0.12, 0.17, 0.22, 0.27, 0.11, 0.11],
        ),
    )
    pdf_write(document, out)
