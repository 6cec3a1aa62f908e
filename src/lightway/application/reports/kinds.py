"""The platform's reports: what each kind reads and the tables and charts it gives.

A report is described as plain data (:class:`ReportData`: parameters, typed tables, charts)
and written as CSV, XLSX or PDF by ``render.py``. Amounts stay integers in minor units
beside their currency here; only the writers turn them into major units with the
currency's exponent.

Where the figures come from (``docs/reports.md``, "Sources and cost"), each read bounded by
the period, never a scan of the whole history:

- ``volumes``: the analytics rollups (``analytics_transfer_rollup``, grain ``day``): one
  index range of the period's day buckets;
- ``commission``: ``commission_record`` by its ``(created_at, id)`` index, summed per
  party, currency and transaction kind in the database;
- ``kyc``: ``kyc_applicant`` through the three indexes of ``reports`` migration 0002
  (started, approved, finally rejected in the period);
- ``failures``: failed transfers by the ``(status, created_at)`` index, per failure code,
  and MoMo's own failures per reason code from ``analytics_provider_rollup``;
- ``floats``: the float accounts (MoMo floats, partners' prefunds, the settlement bank):
  the current balance (stored, or checkpoint plus tail for derived ones), then the
  account's postings read newest first by the ``(account_id, id)`` index down to the start
  of the period, so the work is the postings since the period began, not the account's
  history; and MoMo's own balance readings by their ``(product, environment, read_at)``
  index.

Days are UTC days, ``start`` to ``end`` included.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection

from lightway.application.identity.phones import MARKETS
from lightway.application.reports.pdf import BarChart, Chart, LineChart, PieChart
from lightway.data.analytics.models import Grain
from lightway.data.analytics.selectors import provider_sums, transfer_sums
from lightway.data.ledger.models import Account, AccountKind
from lightway.data.ledger.selectors import account_balance
from lightway.data.money import Money, MoneyError, currency

# Column types: how a writer types a cell (XLSX) and aligns it (PDF).
TEXT = "text"
INT = "int"
MONEY = "money"  # an integer in minor units; the row's currency is in ``currency_column``
DATE = "date"

Progress = Callable[[int, int], None]  # (steps done, steps in all)

CURRENCY_MARKET = {code: market for market, code in MARKETS.items()}
FLOAT_KINDS = (AccountKind.MOMO_FLOAT, AccountKind.SETTLEMENT_BANK, AccountKind.IMTO_PREFUND)
ASSET_KINDS = frozenset({AccountKind.MOMO_FLOAT, AccountKind.SETTLEMENT_BANK})
FLOAT_PAGE = 5000


@dataclass(frozen=True)
class Column:
    name: str
    type: str = TEXT
    currency_column: int | None = None  # for MONEY: the index of the row's currency code


@dataclass(frozen=True)
class Table:
    title: str
    columns: Sequence[Column]
    rows: Sequence[Sequence[object]]
    empty: str = "Nothing in this period"


@dataclass(frozen=True)
class ReportData:
    title: str
    parameters: Sequence[tuple[str, str]]
    tables: Sequence[Table]  # the first is the main one (the CSV's content)
    charts: Sequence[Chart] = ()
    notes: Sequence[str] = ()


@dataclass(frozen=True)
class Filters:
    market: str = ""  # ISO 3166 alpha-2 of a market (UG, GH, ...)
    currency: str = ""
    partner: str = ""  # a partner's code

    def describe(self) -> str:
        parts = [
            f"{name} {value}"
            for name, value in (
                ("market", self.market),
                ("currency", self.currency),
                ("partner", self.partner),
            )
            if value
        ]
        return ", ".join(parts) or "none"

    @property
    def currencies(self) -> list[str] | None:
        """The currencies the market and currency filters leave (None: every one)."""
        codes: set[str] | None = None
        if self.market:
            codes = {MARKETS[self.market]}
        if self.currency:
            codes = {self.currency} if codes is None else codes & {self.currency}
        return None if codes is None else sorted(codes)


@dataclass(frozen=True)
class KindInfo:
    key: str
    label: str
    description: str
    filters: frozenset[str]  # which of market, currency, partner it takes
    builder: Callable[..., ReportData] = field(repr=False)


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return (
        datetime.combine(start, time.min, tzinfo=UTC),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC),
    )


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _major(amount: int, code: str) -> Decimal:
    try:
        return Money(amount, currency(code)).to_major()
    except MoneyError:
        return Decimal(amount)


def _label(day: date) -> str:
    return day.strftime("%d %b")


def _per_key(
    chart: type[BarChart] | type[PieChart], title: str, counts: dict[str, int], unit: str
) -> BarChart | PieChart:
    """A chart of counts per key (a kind, a failure code), the keys in order."""
    keys = sorted(counts)
    return chart(title=title, labels=keys, values=[Decimal(counts[k]) for k in keys], unit=unit)


def _params(
    kind: str, start: date, end: date, filters: Filters, now: datetime
) -> list[tuple[str, str]]:
    return [
        ("Report", kind),
        ("Period (UTC)", f"{start.isoformat()} to {end.isoformat()}, both included"),
        ("Filters", filters.describe()),
        ("Generated", now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")),
    ]


def _day_of(at: datetime | date) -> date:
    return at.astimezone(UTC).date() if isinstance(at, datetime) else at


# --- volumes ------------------------------------------------------------------------------


def volumes_report(
    *, start: date, end: date, filters: Filters, now: datetime, progress: Progress
) -> ReportData:
    """Transfers that ended in the period per kind, market, currency and partner: count,
    value and fees of those that succeeded, and how many failed or were reversed; the value
    per day and currency; from the day rollups."""
    since, until = _bounds(start, end)
    rows = transfer_sums(
        grain=Grain.DAY,
        since=since,
        until=until,
        by=("bucket_start", "kind", "market", "currency", "partner", "outcome"),
    )
    progress(1, 3)
    codes = filters.currencies
    rows = [
        r
        for r in rows
        if (codes is None or r["currency"] in codes)
        and (not filters.market or r["market"] == filters.market)
        and (not filters.partner or r["partner"] == filters.partner)
    ]
    summary: dict[tuple[str, str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    per_day: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    per_kind: dict[str, int] = defaultdict(int)
    for r in rows:
        key = (r["kind"], r["market"], r["currency"], r["partner"])
        n, value, fees = int(r["n"]), int(r["value"]), int(r["fees"])
        if r["outcome"] == "succeeded":
            summary[key][0] += n
            summary[key][1] += value
            summary[key][2] += fees
            day = per_day[(_day_of(r["bucket_start"]), r["currency"])]
            day[0] += n
            day[1] += value
            day[2] += fees
            per_kind[r["kind"]] += n
        elif r["outcome"] == "failed":
            summary[key][3] += n
        elif r["outcome"] == "reversed":
            summary[key][4] += n
    progress(2, 3)
    money = Column("Value", MONEY, 2)
    table = Table(
        "Per transaction kind, market, currency and partner",
        (
            Column("Kind"),
            Column("Market"),
            Column("Currency"),
            Column("Partner"),
            Column("Succeeded", INT),
            money,
            Column("Fees", MONEY, 2),
            Column("Failed", INT),
            Column("Reversed", INT),
        ),
        [
            (kind, market, code, partner, *values)
            for (kind, market, code, partner), values in sorted(summary.items())
        ],
    )
    daily = Table(
        "Per day and currency (succeeded)",
        (
            Column("Day", DATE),
            Column("Currency"),
            Column("Transactions", INT),
            Column("Value", MONEY, 1),
            Column("Fees", MONEY, 1),
        ),
        [(day, code, *values) for (day, code), values in sorted(per_day.items())],
    )
    days = _days(start, end)
    charts: list[Chart] = []
    for code in sorted({c for _, c in per_day}):
        charts.append(
            BarChart(
                title=f"Value of succeeded transfers per day, {code}",
                labels=[_label(d) for d in days],
                values=[_major(per_day.get((d, code), [0, 0, 0])[1], code) for d in days],
                unit=f"{code} (major units)",
            )
        )
    charts.append(_per_key(PieChart, "Succeeded transfers per kind", per_kind, "transactions"))
    return ReportData(
        title="Volumes and values",
        parameters=_params("Volumes and values", start, end, filters, now),
        tables=(table, daily),
        charts=charts,
        notes=(
            "Counted from the analytics rollups when a transfer reaches its final state "
            "(succeeded, failed, reversed), on the UTC day it did.",
        ),
    )


# --- commission ---------------------------------------------------------------------------

_COMMISSION_SQL = """
SELECT (created_at AT TIME ZONE 'UTC')::date AS day, party, party_ref, currency,
       transaction_kind, count(*), sum(amount)
  FROM commission_record
 WHERE created_at >= %(since)s AND created_at < %(until)s
   AND (%(codes)s::text[] IS NULL OR currency = ANY(%(codes)s::text[]))
   AND (%(partner)s = '' OR (party = 'partner' AND party_ref = %(partner)s))
 GROUP BY 1, 2, 3, 4, 5
 ORDER BY 1, 2, 3, 4, 5
"""


def commission_report(
    *, start: date, end: date, filters: Filters, now: datetime, progress: Progress
) -> ReportData:
    """Commission per party (LightWay, MTN, each partner), currency and transaction kind
    over the period, and per day, from the commission records."""
    since, until = _bounds(start, end)
    with connection.cursor() as cur:
        cur.execute(
            _COMMISSION_SQL,
            {
                "since": since,
                "until": until,
                "codes": filters.currencies,
                "partner": filters.partner,
            },
        )
        rows = cur.fetchall()
    progress(1, 2)
    summary: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    per_day: dict[tuple[date, str], int] = defaultdict(int)
    per_party: dict[tuple[str, str], int] = defaultdict(int)
    for day, party, ref, code, kind, n, total in rows:
        who = ref if party != "partner" else f"partner:{ref}"
        summary[(who, code, kind)][0] += int(n)
        summary[(who, code, kind)][1] += int(total)
        per_day[(day, code)] += int(total)
        per_party[(code, who)] += int(total)
    table = Table(
        "Commission per party, currency and transaction kind",
        (
            Column("Party"),
            Column("Currency"),
            Column("Transaction kind"),
            Column("Records", INT),
            Column("Commission", MONEY, 1),
        ),
        [(who, code, kind, *v) for (who, code, kind), v in sorted(summary.items())],
    )
    daily = Table(
        "Commission per day and currency (every party)",
        (Column("Day", DATE), Column("Currency"), Column("Commission", MONEY, 1)),
        [(day, code, total) for (day, code), total in sorted(per_day.items())],
    )
    days = _days(start, end)
    charts: list[Chart] = []
    for code in sorted({c for _, c in per_day}):
        charts.append(
            BarChart(
                title=f"Commission per day, {code}",
                labels=[_label(d) for d in days],
                values=[_major(per_day.get((d, code), 0), code) for d in days],
                unit=f"{code} (major units)",
            )
        )
        parties = sorted(w for c, w in per_party if c == code)
        charts.append(
            PieChart(
                title=f"Commission per party, {code}",
                labels=parties,
                values=[_major(per_party[(code, w)], code) for w in parties],
                unit=f"{code} (major units)",
            )
        )
    return ReportData(
        title="Commission per party",
        parameters=_params("Commission per party", start, end, filters, now),
        tables=(table, daily),
        charts=charts,
    )


# --- KYC ----------------------------------------------------------------------------------

_KYC_DAY_SQL = """
SELECT (a.{column} AT TIME ZONE 'UTC')::date, count(*)
  FROM kyc_applicant a LEFT JOIN identity_profile p ON p.user_id = a.user_id
 WHERE a.{column} >= %(since)s AND a.{column} < %(until)s
   AND (%(market)s = '' OR p.country = %(market)s)
 GROUP BY 1
"""

_KYC_STATUS_SQL = """
SELECT a.review_status, a.review_answer, a.reject_type, count(*)
  FROM kyc_applicant a LEFT JOIN identity_profile p ON p.user_id = a.user_id
 WHERE a.created_at >= %(since)s AND a.created_at < %(until)s
   AND (%(market)s = '' OR p.country = %(market)s)
 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""

KYC_COLUMNS = (
    ("created_at", "Started"),
    ("approved_at", "Approved"),
    ("final_rejected_at", "Rejected (final)"),
)


def kyc_report(
    *, start: date, end: date, filters: Filters, now: datetime, progress: Progress
) -> ReportData:
    """Identity verifications per day: started, approved and finally rejected in the
    period; and where the ones started in the period stand now."""
    since, until = _bounds(start, end)
    args: dict[str, datetime | str] = {"since": since, "until": until, "market": filters.market}
    per_day: dict[str, dict[date, int]] = {}
    with connection.cursor() as cur:
        for i, (column, _) in enumerate(KYC_COLUMNS):
            # ``column`` is one of the three constant names above, never input.
            cur.execute(_KYC_DAY_SQL.format(column=column), args)
            per_day[column] = {day: int(n) for day, n in cur.fetchall()}
            progress(i + 1, 5)
        cur.execute(_KYC_STATUS_SQL, args)
        statuses = cur.fetchall()
    progress(4, 5)
    days = _days(start, end)
    daily = Table(
        "Per day",
        (Column("Day", DATE), *[Column(label, INT) for _, label in KYC_COLUMNS]),
        [
            (d, *[per_day[c].get(d, 0) for c, _ in KYC_COLUMNS])
            for d in days
            if any(per_day[c].get(d, 0) for c, _ in KYC_COLUMNS)
        ],
    )
    totals = Table(
        "Totals of the period",
        (Column("Event"), Column("Applicants", INT)),
        [(label, sum(per_day[c].values())) for c, label in KYC_COLUMNS],
    )
    standing = Table(
        "Applicants started in the period, by where they stand now",
        (
            Column("Review status"),
            Column("Answer"),
            Column("Reject type"),
            Column("Applicants", INT),
        ),
        [(s, a, r, int(n)) for s, a, r, n in statuses],
    )
    charts: list[Chart] = [
        LineChart(
            title="Identity verifications per day",
            labels=[_label(d) for d in days],
            series=[
                (label, [Decimal(per_day[c].get(d, 0)) for d in days]) for c, label in KYC_COLUMNS
            ],
            unit="applicants",
        ),
        PieChart(
            title="Applicants started in the period, by answer",
            labels=[f"{s} {a or ''}".strip() for s, a, _, _ in statuses],
            values=[Decimal(int(n)) for *_, n in statuses],
            unit="applicants",
        ),
    ]
    return ReportData(
        title="KYC statistics",
        parameters=_params("KYC statistics", start, end, filters, now),
        tables=(totals, daily, standing),
        charts=charts,
    )


# --- failures -----------------------------------------------------------------------------

_FAILED_SQL = """
SELECT (t.created_at AT TIME ZONE 'UTC')::date, t.kind, t.currency, t.failure_code,
       coalesce(p.country, ''), coalesce(pa.code, ''), count(*), sum(t.amount)
  FROM wallets_transfer t
  LEFT JOIN identity_profile p ON p.user_id = t.client_id
  LEFT JOIN identity_partner pa ON pa.id = p.partner_id
 WHERE t.status = 'failed' AND t.created_at >= %(since)s AND t.created_at < %(until)s
   AND (%(codes)s::text[] IS NULL OR t.currency = ANY(%(codes)s::text[]))
   AND (%(market)s = '' OR p.country = %(market)s)
   AND (%(partner)s = '' OR pa.code = %(partner)s)
 GROUP BY 1, 2, 3, 4, 5, 6
"""


def failures_report(
    *, start: date, end: date, filters: Filters, now: datetime, progress: Progress
) -> ReportData:
    """Failed transfers per failure code, kind and currency; MoMo's refusals per reason
    code; failures per day."""
    since, until = _bounds(start, end)
    with connection.cursor() as cur:
        cur.execute(
            _FAILED_SQL,
            {
                "since": since,
                "until": until,
                "codes": filters.currencies,
                "market": filters.market,
                "partner": filters.partner,
            },
        )
        rows = cur.fetchall()
    progress(1, 3)
    # MoMo's refusals are the provider's, not a partner's: none with a partner filter.
    codes = filters.currencies
    momo = [
        r
        for r in (
            provider_sums(
                grain=Grain.DAY,
                since=since,
                until=until,
                by=("product", "operation", "outcome", "reason", "currency"),
            )
            if not filters.partner
            else []
        )
        if r["outcome"] == "failed" and (codes is None or r["currency"] in codes)
    ]
    progress(2, 3)
    by_reason: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    per_day: dict[date, int] = defaultdict(int)
    per_code: dict[str, int] = defaultdict(int)
    for day, kind, code, reason, _market, _partner, n, total in rows:
        by_reason[(reason, kind, code)][0] += int(n)
        by_reason[(reason, kind, code)][1] += int(total)
        per_day[day] += int(n)
        per_code[reason] += int(n)
    table = Table(
        "Failed transfers per failure code, kind and currency",
        (
            Column("Failure code"),
            Column("Kind"),
            Column("Currency"),
            Column("Failed", INT),
            Column("Amount", MONEY, 2),
        ),
        [(reason, kind, code, *v) for (reason, kind, code), v in sorted(by_reason.items())],
    )
    provider = Table(
        "MoMo refusals per reason code",
        (
            Column("Product"),
            Column("Operation"),
            Column("Reason"),
            Column("Currency"),
            Column("Failed", INT),
            Column("Amount", MONEY, 3),
        ),
        [
            (r["product"], r["operation"], r["reason"], r["currency"], r["n"], r["value"])
            for r in momo
        ],
    )
    days = _days(start, end)
    daily = Table(
        "Failed transfers per day",
        (Column("Day", DATE), Column("Failed", INT)),
        [(d, per_day[d]) for d in days if per_day.get(d)],
    )
    charts: list[Chart] = [
        BarChart(
            title="Failed transfers per day",
            labels=[_label(d) for d in days],
            values=[Decimal(per_day.get(d, 0)) for d in days],
            unit="transfers",
        ),
        _per_key(BarChart, "Failed transfers per failure code", per_code, "transfers"),
    ]
    return ReportData(
        title="Failures by reason",
        parameters=_params("Failures by reason", start, end, filters, now),
        tables=(table, provider, daily),
        charts=charts,
        notes=(
            "Transfers by the day they were created; MoMo refusals by the day MoMo answered "
            "(analytics rollups). Refusals before any money moved are failed transfers too.",
        ),
    )


# --- floats -------------------------------------------------------------------------------


def _position(kind: str, balance: int) -> int:
    """What the account holds as a position: an asset account's balance is negative when
    it holds money (``data/ledger/models.py``, sign convention), so its sign is turned."""
    return -balance if kind in ASSET_KINDS else balance


def _account_days(
    account: Account, since: datetime, until: datetime
) -> tuple[int, dict[date, int]]:
    """(balance at ``until``, {day: net movement} of the postings in [since, until)): the
    current balance less the postings after ``until``, read newest first by the
    ``(account_id, id)`` index and stopping at the first posting before ``since``."""
    balance = account_balance(account=account)
    after_until = 0
    movements: dict[date, int] = defaultdict(int)
    before_id: int | None = None
    with connection.cursor() as cur:
        while True:
            cur.execute(
                "SELECT id, amount, created_at FROM ledger_posting"
                " WHERE account_id = %s AND id < %s ORDER BY id DESC LIMIT %s",
                [account.pk, before_id if before_id is not None else 2**63 - 1, FLOAT_PAGE],
            )
            page = cur.fetchall()
            for pid, amount, at in page:
                if at < since:
                    return balance - after_until, movements
                if at >= until:
                    after_until += int(amount)
                else:
                    movements[_day_of(at)] += int(amount)
                before_id = int(pid)
            if len(page) < FLOAT_PAGE:
                return balance - after_until, movements


def floats_report(
    *, start: date, end: date, filters: Filters, now: datetime, progress: Progress
) -> ReportData:
    """Float positions: each MoMo float, partner prefund and settlement bank account's
    position at the start and end of the period, money in and out, its position at the end
    of each day; and MoMo's own balance readings."""
    since, until = _bounds(start, end)
    accounts = Account.objects.filter(kind__in=FLOAT_KINDS).order_by("kind", "currency", "code")
    codes = filters.currencies
    if codes is not None:
        accounts = accounts.filter(currency__in=codes)
    if filters.partner:
        accounts = accounts.filter(kind=AccountKind.IMTO_PREFUND, owner_ref=filters.partner)
    chosen = list(accounts)
    total = len(chosen) + 2
    rows = []
    daily_rows = []
    series: dict[str, list[tuple[str, list[Decimal]]]] = defaultdict(list)
    days = _days(start, end)
    for i, account in enumerate(chosen):
        closing_balance, moves = _account_days(account, since, until)
        net = sum(moves.values())
        opening_balance = closing_balance - net
        changes = [_position(account.kind, m) for m in moves.values()]
        pos_in = sum(c for c in changes if c > 0)
        pos_out = -sum(c for c in changes if c < 0)
        rows.append(
            (
                account.code,
                AccountKind(account.kind).label,
                account.currency,
                CURRENCY_MARKET.get(account.currency, ""),
                _position(account.kind, opening_balance),
                pos_in,
                pos_out,
                _position(account.kind, closing_balance),
            )
        )
        running = opening_balance
        values = []
        for d in days:
            running += moves.get(d, 0)
            values.append(_major(_position(account.kind, running), account.currency))
            daily_rows.append((d, account.code, account.currency, _position(account.kind, running)))
        series[account.currency].append((account.code, values))
        progress(i + 1, total)
    readings = _float_readings(since, until, codes)
    progress(total - 1, total)
    table = Table(
        "Positions per account",
        (
            Column("Account"),
            Column("Kind"),
            Column("Currency"),
            Column("Market"),
            Column("Opening", MONEY, 2),
            Column("Net days up", MONEY, 2),
            Column("Net days down", MONEY, 2),
            Column("Closing", MONEY, 2),
        ),
        rows,
    )
    daily = Table(
        "Position at the end of each day",
        (Column("Day", DATE), Column("Account"), Column("Currency"), Column("Position", MONEY, 2)),
        daily_rows,
    )
    momo = Table(
        "MoMo's balance readings (the provider's own figure)",
        (
            Column("Product"),
            Column("Environment"),
            Column("Currency"),
            Column("Readings", INT),
            Column("Lowest", MONEY, 2),
            Column("Last", MONEY, 2),
            Column("Last read (UTC)"),
        ),
        readings,
        empty="No balance reading in this period",
    )
    charts: list[Chart] = [
        LineChart(
            title=f"Float positions at the end of each day, {code}",
            labels=[_label(d) for d in days],
            series=lines,
            unit=f"{code} (major units)",
        )
        for code, lines in sorted(series.items())
    ]
    return ReportData(
        title="Float positions",
        parameters=_params("Float positions", start, end, filters, now),
        tables=(table, daily, momo),
        charts=charts,
        notes=(
            "Positions from the ledger: what a MoMo float or the settlement bank account "
            "holds, what the platform owes a partner on its prefund. Days up and down add "
            "the days whose net movement raised or lowered the position.",
        ),
    )


_READINGS_SQL = """
SELECT t.product, t.target_environment, t.currency, r.n, r.lowest, l.available_minor, l.read_at
  FROM momo_float_threshold t
  CROSS JOIN LATERAL (
    SELECT count(*) AS n, min(available_minor) AS lowest FROM momo_float_reading
     WHERE product = t.product AND target_environment = t.target_environment
       AND read_at >= %(since)s AND read_at < %(until)s) r
  LEFT JOIN LATERAL (
    SELECT available_minor, read_at FROM momo_float_reading
     WHERE product = t.product AND target_environment = t.target_environment
       AND read_at >= %(since)s AND read_at < %(until)s AND available_minor IS NOT NULL
     ORDER BY read_at DESC LIMIT 1) l ON true
 WHERE (%(codes)s::text[] IS NULL OR t.currency = ANY(%(codes)s::text[]))
 ORDER BY 1, 2
"""


def _float_readings(
    since: datetime, until: datetime, codes: list[str] | None
) -> list[tuple[object, ...]]:
    """Per MoMo account with a threshold: readings in the period, the lowest and the last
    (``momo_float_recent`` index ranges)."""
    with connection.cursor() as cur:
        cur.execute(_READINGS_SQL, {"since": since, "until": until, "codes": codes})
        return [
            (
                product,
                env,
                code,
                int(n),
                int(lowest) if lowest is not None else None,
                int(last) if last is not None else None,
                at.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if at else "-",
            )
            for product, env, code, n, lowest, last, at in cur.fetchall()
        ]


ALL_FILTERS = frozenset({"market", "currency", "partner"})
KINDS: dict[str, KindInfo] = {
    k.key: k
    for k in (
        KindInfo(
            "volumes",
            "Volumes and values",
            "Transfers per kind, market, currency and partner, per day",
            ALL_FILTERS,
            volumes_report,
        ),
        KindInfo(
            "commission",
            "Commission per party",
            "Each party's commission per currency and kind, per day",
            ALL_FILTERS,
            commission_report,
        ),
        KindInfo(
            "kyc",
            "KYC statistics",
            "Verifications started, approved and rejected, per day",
            frozenset({"market"}),
            kyc_report,
        ),
        KindInfo(
            "failures",
            "Failures by reason",
            "Failed transfers per failure code; MoMo refusals per reason",
            ALL_FILTERS,
            failures_report,
        ),
        KindInfo(
            "floats",
            "Float positions",
            "MoMo floats, partner prefunds, settlement bank: positions per day",
            ALL_FILTERS,
            floats_report,
        ),
    )
}
