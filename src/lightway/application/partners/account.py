"""What a partner reads about its own account through the API: the events feed, its
prefund balances, their movements and daily statements (docs/partner-webhooks.md).

Every read costs the same on the first day and after years:

- balances are the prefund accounts' stored balance and held amount (one row each);
- movements page by keyset over the account's postings (index ``ledger_posting_account_id``),
  the balance after each line from the balance checkpoints (``ledger/rollups.py``);
- a day's statement is the account's postings between two ``StatementCut`` posting ids,
  its opening balance the balance before the first of them (checkpoint + at most
  ``CHECKPOINT_EVERY`` postings), so it reads that day's postings and nothing older.

**Statement days** are UTC days. The cut of day D is taken by the periodic job
``partner_statement_cuts_take`` once D has ended (``LIGHTWAY_STATEMENT_CUT_DELAY_SECONDS``
after midnight) and every transaction that could still add a posting below it has ended:
it is the highest posting id dated before midnight. A posting belongs to the day whose
cut first includes it, so opening + entries = closing holds exactly, and each statement
closes at the balance the next one opens with. Statements exist for the days after the
first cut (the first cut is the base) up to yesterday; today's is not final yet.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction

from lightway.application.errors import NotFound, RequestRefused, postings_archived_refused
from lightway.application.partners.prefund import partner_prefund_accounts
from lightway.application.partners.webhooks import partner_event_payload
from lightway.data.identity.models import Partner
from lightway.data.ledger.kinds import OPENING_BALANCE, REVERSAL
from lightway.data.ledger.models import Account
from lightway.data.ledger.rollups import ledger_horizon_wait
from lightway.data.ledger.selectors import account_postings_range, account_statement
from lightway.data.momo.models import MomoRequest
from lightway.data.partners.models import StatementCut
from lightway.data.partners.selectors import partner_events_after
from lightway.data.partners.services import partner_events_sequence

logger = logging.getLogger(__name__)

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


# --- events feed ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventsPage:
    events: list[dict[str, object]]
    next_after: int


def partner_events_page(*, partner_id: int, after: int, limit: int) -> EventsPage:
    """The partner's events with ``seq > after`` in ``seq`` order: numbers what committed
    just now first, so the page is as fresh as it can be, and never skips an event (the
    sequence follows commit order). ``next_after`` is the ``after`` of the next call."""
    partner_events_sequence()
    events = partner_events_after(partner_id=partner_id, after=after, limit=limit)
    return EventsPage(
        events=[partner_event_payload(e) for e in events],
        next_after=int(events[-1].seq or after) if events else after,
    )


# --- balances and movements --------------------------------------------------------------------


@dataclass(frozen=True)
class BalanceView:
    currency: str
    balance: int
    reserved: int
    available: int


def _partner(partner_id: int) -> Partner:
    partner = Partner.objects.filter(pk=partner_id).first()
    if partner is None:
        raise NotFound("partner not found", details={"partner_id": partner_id})
    return partner


def partner_balances(*, partner_id: int) -> list[BalanceView]:
    """Balance, reserved (held for remittances on their way) and available, per currency."""
    partner = _partner(partner_id)
    return [
        BalanceView(a.currency, a.balance, a.held, a.balance - a.held)
        for a in partner_prefund_accounts(partner_code=partner.code)
    ]


def _account(partner_id: int, currency: str) -> Account:
    partner = _partner(partner_id)
    code = (currency or "").upper()
    account = next(
        (a for a in partner_prefund_accounts(partner_code=partner.code) if a.currency == code),
        None,
    )
    if account is None:
        raise NotFound(
            f"you have no prefund account in {code or 'that currency'}",
            details={"currency": code},
        )
    return account


def entry_type(*, kind: str, leg: str) -> str:
    """What a prefund posting is, as statements name it."""
    if leg.startswith("fee"):
        return "FEE"
    if kind == REVERSAL:
        return "REVERSAL"
    if kind == "remittance":
        return "PAYOUT"
    if kind == OPENING_BALANCE or "topup" in kind:
        return "TOPUP"
    return kind.upper() or "OTHER"


def _external_ids(references: set[str]) -> dict[str, str]:
    """The partner's own reference (MoMo externalId) of the transfers named, where known."""
    ids = [r for r in references if _UUID.match(r)]
    if not ids:
        return {}
    return {
        str(t): e
        for t, e in MomoRequest.objects.filter(transfer_id__in=ids).values_list(
            "transfer_id", "external_id"
        )
    }


@dataclass(frozen=True)
class MovementView:
    id: int  # the posting id: the keyset
    occurred_at: datetime
    type: str
    amount: int  # signed, minor units: + money in, - money out
    balance_after: int
    reference: str
    external_id: str
    description: str


def partner_movements(
    *, partner_id: int, currency: str, before: int | None, limit: int
) -> list[MovementView]:
    """The prefund's postings, newest first, with the balance after each; the next page
    is ``before`` = the last line's id."""
    account = _account(partner_id, currency)
    with postings_archived_refused():
        lines = account_statement(account=account, before_id=before, limit=limit)
    external = _external_ids({line.reference for line in lines})
    return [
        MovementView(
            id=line.posting_id,
            occurred_at=line.created_at,
            type=entry_type(kind=line.kind, leg=line.leg),
            amount=line.amount,
            balance_after=line.balance_after,
            reference=line.reference,
            external_id=external.get(line.reference, ""),
            description=line.description,
        )
        for line in lines
    ]


# --- daily statements --------------------------------------------------------------------------


@dataclass(frozen=True)
class StatementEntry:
    posting_id: int
    occurred_at: datetime
    type: str
    amount: int
    balance_after: int
    reference: str
    external_id: str
    description: str


@dataclass(frozen=True)
class Statement:
    partner: str
    currency: str
    day: date
    opening_balance: int
    closing_balance: int
    total_in: int
    total_out: int
    entries: list[StatementEntry]
    first_posting_id: int  # exclusive: the previous day's cut
    last_posting_id: int  # inclusive: this day's cut


def partner_statement(*, partner_id: int, currency: str, day: date) -> Statement:
    """The prefund statement of one UTC day (see the module docstring). Refused with
    ``statement_not_ready`` for a day whose cut is not taken yet (today, or the job is
    behind) and ``statement_unavailable`` for a day before the first cut."""
    account = _account(partner_id, currency)
    cuts = {c.day: c for c in StatementCut.objects.filter(day__in=[day - timedelta(days=1), day])}
    cut, previous = cuts.get(day), cuts.get(day - timedelta(days=1))
    if cut is None:
        if StatementCut.objects.filter(day__gt=day).exists():
            raise RequestRefused(
                "statement_unavailable",
                f"no statement exists for {day.isoformat()}: statements start after the first "
                "statement day",
                details={"date": day.isoformat()},
            )
        raise RequestRefused(
            "statement_not_ready",
            f"the statement of {day.isoformat()} is not ready: a day's statement is made "
            "shortly after the day ends (UTC)",
            details={"date": day.isoformat()},
        )
    if previous is None:
        raise RequestRefused(
            "statement_unavailable",
            f"no statement exists for {day.isoformat()}: statements start after the first "
            "statement day",
            details={"date": day.isoformat()},
        )
    with postings_archived_refused():
        opening, postings = account_postings_range(
            account_id=account.pk, after=previous.last_posting_id, upto=cut.last_posting_id
        )
    external = _external_ids({p.reference for p in postings})
    entries: list[StatementEntry] = []
    balance = opening
    for p in postings:
        balance += p.amount
        entries.append(
            StatementEntry(
                posting_id=p.posting_id,
                occurred_at=p.created_at,
                type=entry_type(kind=p.kind, leg=p.leg),
                amount=p.amount,
                balance_after=balance,
                reference=p.reference,
                external_id=external.get(p.reference, ""),
                description=p.description,
            )
        )
    return Statement(
        partner=_partner(partner_id).code,
        currency=account.currency,
        day=day,
        opening_balance=opening,
        closing_balance=balance,
        total_in=sum(e.amount for e in entries if e.amount > 0),
        total_out=-sum(e.amount for e in entries if e.amount < 0),
        entries=entries,
        first_posting_id=previous.last_posting_id,
        last_posting_id=cut.last_posting_id,
    )


CSV_COLUMNS = (
    "date",
    "posting_id",
    "occurred_at",
    "type",
    "amount",
    "balance_after",
    "reference",
    "external_id",
    "description",
)


def statement_csv(statement: Statement) -> str:
    """The statement as CSV: a header row, an OPENING line, one line per entry, a CLOSING
    line. Amounts in minor units of the currency; text cells that a spreadsheet would read
    as a formula are prefixed with an apostrophe."""

    def cell(value: str) -> str:
        return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["partner", statement.partner, "currency", statement.currency])
    writer.writerow(CSV_COLUMNS)
    day = statement.day.isoformat()
    writer.writerow([day, "", "", "OPENING", "", statement.opening_balance, "", "", ""])
    for e in statement.entries:
        writer.writerow(
            [
                day,
                e.posting_id,
                e.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                e.type,
                e.amount,
                e.balance_after,
                cell(e.reference),
                cell(e.external_id),
                cell(e.description),
            ]
        )
    writer.writerow([day, "", "", "CLOSING", "", statement.closing_balance, "", "", ""])
    return out.getvalue()


# --- the day cuts (periodic job) -----------------------------------------------------------------

_CUT_SQL = """
SELECT id FROM ledger_posting WHERE id <= %s AND created_at < %s ORDER BY id DESC LIMIT 1
"""


def _last_cuttable_day(now: datetime) -> date:
    delay = timedelta(seconds=int(settings.LIGHTWAY_STATEMENT_CUT_DELAY_SECONDS))
    return (now - delay).astimezone(UTC).date() - timedelta(days=1)


def partner_statement_cuts_take(*, now: datetime, wait_seconds: float = 5.0) -> int:
    """Cut every ended UTC day not cut yet, in order (the first run cuts yesterday only:
    the base); returns how many days were cut. Waits for the in-flight transactions that
    could still add a posting below the horizon; if they outlive ``wait_seconds`` nothing
    is cut and the next run tries again."""
    last_day = _last_cuttable_day(now)
    latest = StatementCut.objects.order_by("-day").first()
    first = latest.day + timedelta(days=1) if latest is not None else last_day
    if first > last_day:
        return 0
    horizon, ready = ledger_horizon_wait(timeout_seconds=wait_seconds)
    if not ready:
        logger.warning("statement cut postponed: in-flight transactions outlived the wait")
        return 0
    made = 0
    previous = latest.last_posting_id if latest is not None else 0
    day = first
    while day <= last_day:
        end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(_CUT_SQL, [horizon, end])
            row = cur.fetchone()
            cut = max(previous, int(row[0]) if row else 0)
            StatementCut.objects.create(day=day, last_posting_id=cut, taken_at=now)
        previous = cut
        made += 1
        day += timedelta(days=1)
    logger.info("statement days cut", extra={"days": made, "last_posting_id": previous})
    return made
