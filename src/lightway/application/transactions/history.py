"""A customer's payment history: search, filters, date range and keyset pages whose cost
does not grow with the transfer table (docs/panels.md, "Money": History).

A customer's payments come from two index ranges of ``wallets_transfer``:

- the payments they made (``transfer_client_keyset``: client, created_at, id): P2P sent,
  withdrawals, payouts, exchanges, deposits (a deposit is asked for by the customer);
- the payments made by someone else into one of their wallets
  (``transfer_incoming_keyset``: destination wallet, created_at, id; one range per wallet):
  P2P received, remittances, and the receive side of an exchange. A payment someone else
  tried that was refused is not shown to the recipient: nothing arrived, and whether the
  sender had the money is the sender's business.

**Bounded pages.** Each source is read newest first from its index, from the cursor on,
at most ``SCAN_CAP`` entries per page (``LIMIT`` inside a materialised CTE); the filters
and the text search apply to those rows only. A page therefore reads at most
``SCAN_CAP`` rows per source whatever the table holds or the filters ask for. When a
filter is so narrow that a source's ``SCAN_CAP`` rows hold fewer matches than a page, the
page ends where the scan stopped and says so ("searched back to ..."), with a link that
carries on from there. Pages go by keyset (``created_at``, ``id``), never OFFSET, and
nothing is counted.

**Search.** A full reference (the transfer id, or MoMo's ``X-Reference-Id``) is one
primary-key / unique-index read. A phone number is a counterparty: the LightWay customer
holding it (blind index ``profile.phone_bidx``) or the MoMo number paid (``momo_request``
``party_token``); never decrypted to compare. Anything else is matched against the
descriptions of the rows scanned (bounded as above): a description is free text no index
serves without a trigram index on every transfer insert.

**Refused is not a payment.** A refusal (insufficient funds, a limit, an inactive
account, an expired quote) is recorded as a failed transfer that never moved money; for a
MoMo payment, "refused" means no request ever went to MoMo. Rows say so
(``refused``) and show the amount without a sign; ``status=refused`` filters them and
``status=failed`` shows MoMo's failures only.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.utils.translation import gettext as _

from lightway.application.errors import NotFound, ValidationFailed
from lightway.application.identity.profiles import profile_find
from lightway.application.kyc.tiers import MARKET_TIME_ZONES
from lightway.application.transactions.recipients import phone_international
from lightway.data.identity.models import Profile
from lightway.data.momo.models import MomoRequest
from lightway.data.wallets.models import Transfer, TransferKind, TransferStatus, Wallet
from lightway.infrastructure.db import index_order
from lightway.security.crypto import decrypt_optional, pii_token
from lightway.security.masking import mask_name, mask_phone

PAGE_SIZE = 25
SCAN_CAP = 500  # index entries read per source per page

MOMO_KINDS = ("deposit", "withdrawal", "payout")
OUTGOING_KINDS = ("p2p", "withdrawal", "payout", "exchange")
IN_PROGRESS = ("created", "validated", "held", "submitted", "pending")
KINDS = ("p2p", "deposit", "withdrawal", "payout", "exchange", "remittance")
STATUSES = ("succeeded", "in_progress", "failed", "refused", "reversed")
DIRECTIONS = ("in", "out")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"^(\d{1,19})\.([0-9a-f]{32})$")
_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)
_PHONE = re.compile(r"^\+?[\d\s\-.()]{7,20}$")


# --- the page's request ------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryFilter:
    kind: str = ""
    status: str = ""
    direction: str = ""
    currency: str = ""
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    q: str = ""

    def active(self) -> bool:
        return any(
            (self.kind, self.status, self.direction, self.currency, self.date_from, self.date_to)
        ) or bool(self.q)


@dataclass(frozen=True, order=True)
class Position:
    """A place in the history, newest first: (created_at, id) of a row."""

    created_at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        micros = (self.created_at - _EPOCH) // timedelta(microseconds=1)
        return f"{micros}.{self.id.hex}"


def position_decode(text: str) -> Position | None:
    """A page link's ``before`` as a position; None for none; ValidationFailed when bad."""
    if not text:
        return None
    match = _CURSOR.match(text)
    if match is None:
        raise ValidationFailed(_("this page link is not valid"), details={"field": "before"})
    micros, hex_id = match.groups()
    try:
        at = _EPOCH + timedelta(microseconds=int(micros))
    except OverflowError:
        raise ValidationFailed(
            _("this page link is not valid"), details={"field": "before"}
        ) from None
    return Position(at, uuid.UUID(hex_id))


def history_filter_clean(
    *,
    kind: str = "",
    status: str = "",
    direction: str = "",
    currency: str = "",
    date_from: str = "",
    date_to: str = "",
    q: str = "",
) -> HistoryFilter:
    """The filters as typed, checked; ValidationFailed names the field that is wrong
    (``details.errors``: field -> message, every wrong field at once)."""
    errors: dict[str, str] = {}
    kind, status, direction = kind.strip(), status.strip(), direction.strip()
    if kind and kind not in KINDS:
        errors["kind"] = _("Choose one of the kinds in the list.")
    if status and status not in STATUSES:
        errors["status"] = _("Choose one of the statuses in the list.")
    if direction and direction not in DIRECTIONS:
        errors["direction"] = _("Choose money in or money out.")
    code = currency.strip().upper()
    if code and not re.fullmatch(r"[A-Z]{3}", code):
        errors["currency"] = _("Choose one of your wallets.")
    start = _date(date_from, "date_from", errors)
    end = _date(date_to, "date_to", errors)
    if start and end and end < start:
        errors["date_to"] = _("The end date is before the start date.")
    text = " ".join(q.split())
    if len(text) > 100:
        errors["q"] = _("Search for at most 100 characters.")
    elif text and not text.isprintable():
        errors["q"] = _("Use plain text only.")
    if errors:
        raise ValidationFailed(next(iter(errors.values())), details={"errors": errors})
    return HistoryFilter(kind, status, direction, code, start, end, text)


def _date(text: str, name: str, errors: dict[str, str]) -> date | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = date.fromisoformat(text)
    except ValueError:
        errors[name] = _("Enter the date as YYYY-MM-DD, for example 2026-03-31.")
        return None
    if not date(2000, 1, 1) <= value <= date(2100, 12, 31):
        errors[name] = _("Enter a date between 2000 and 2100.")
        return None
    return value


# --- rows ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    transfer: Transfer
    direction: str  # "in", "out" or "both" (an exchange between one's own wallets)
    state: str  # succeeded, in_progress, failed, refused, reversed
    counterparty: str  # masked, "" when there is none to show
    momo: MomoRequest | None = None
    receive_currency: str = ""  # an exchange's other side
    receive_amount: int = 0


@dataclass(frozen=True)
class HistoryPage:
    rows: list[HistoryRow]
    next_before: str  # "" on the last page
    searched_to: datetime | None = None  # the scan stopped here before the page filled
    filters: HistoryFilter = field(default_factory=HistoryFilter)


def transfer_state(transfer: Transfer, momo: MomoRequest | None) -> str:
    """What a row is, from the data: ``refused`` is a failed transfer that never moved
    money (for MoMo kinds: no request was ever sent to MoMo)."""
    status = transfer.status
    if status == TransferStatus.SUCCEEDED:
        return "succeeded"
    if status == TransferStatus.REVERSED:
        return "reversed"
    if status == TransferStatus.FAILED:
        if transfer.kind in MOMO_KINDS and momo is not None:
            return "failed"
        return "refused"
    return "in_progress"


# --- the query -----------------------------------------------------------------------------------

_SCAN = """
WITH scanned AS MATERIALIZED (
  SELECT t.id, t.created_at, t.kind, t.status, t.currency, t.description,
         t.client_id, t.destination_wallet_id
  FROM wallets_transfer t
  WHERE {source} AND (t.created_at, t.id) < (%(at)s, %(id)s) {dates}
  ORDER BY t.created_at DESC, t.id DESC
  LIMIT %(cap)s
), edge AS (
  SELECT count(*) AS n FROM scanned
), oldest AS (
  SELECT created_at, id FROM scanned ORDER BY created_at, id LIMIT 1
)
SELECT e.n, o.created_at, o.id, m.id, m.created_at
FROM edge e LEFT JOIN oldest o ON true
LEFT JOIN LATERAL (
  SELECT s.id, s.created_at FROM scanned s WHERE {where}
  ORDER BY s.created_at DESC, s.id DESC LIMIT %(page)s
) m ON true
"""

_REFUSED = (
    "(s.status = 'failed' AND (s.kind NOT IN ('deposit', 'withdrawal', 'payout')"
    " OR NOT EXISTS (SELECT 1 FROM momo_request r WHERE r.transfer_id = s.id)))"
)
_FAILED = (
    "(s.status = 'failed' AND s.kind IN ('deposit', 'withdrawal', 'payout')"
    " AND EXISTS (SELECT 1 FROM momo_request r WHERE r.transfer_id = s.id))"
)


@dataclass(frozen=True)
class _Search:
    reference: uuid.UUID | None = None
    counterparty_wallets: tuple[uuid.UUID, ...] = ()
    counterparty_user: int | None = None
    party_token: str = ""
    text: str = ""
    nothing: bool = False  # a phone number nobody we know holds: no rows


def _search(q: str, country: str) -> _Search:
    if not q:
        return _Search()
    compact = q.replace(" ", "")
    if _UUID.match(compact):
        return _Search(reference=uuid.UUID(compact))
    if _PHONE.match(q) and sum(ch.isdigit() for ch in q) >= 7:
        digits = "".join(ch for ch in q if ch.isdigit())
        international = _international(q, country)
        profile = profile_find(kind="phone", value=international) if international else None
        if profile is not None and profile.phone_verified_at is None:
            profile = None
        wallets: tuple[uuid.UUID, ...] = ()
        if profile is not None:
            wallets = tuple(
                Wallet.objects.filter(owner_id=profile.user_id).values_list("id", flat=True)
            )
        party = (international or "+" + digits).lstrip("+")
        return _Search(
            counterparty_wallets=wallets,
            counterparty_user=profile.user_id if profile is not None else None,
            party_token=pii_token("msisdn", party),
        )
    return _Search(text=q)


def _international(q: str, country: str) -> str:
    """A typed number in E.164 (a national number read in the customer's market), or ""."""
    try:
        return phone_international(q, country=country)
    except ValidationFailed:
        return ""


def _source_filters(
    side: str, filters: HistoryFilter, search: _Search, params: dict[str, Any]
) -> list[str]:
    """SQL conditions on the scanned rows ``s`` of one source ("out": made by the
    customer; "in": paid into their wallet by someone else)."""
    where: list[str] = []
    if filters.kind:
        params["kind"] = filters.kind
        where.append("s.kind = %(kind)s")
    if filters.direction == "out":
        where.append(
            "s.kind IN ('p2p', 'withdrawal', 'payout', 'exchange')" if side == "out" else "false"
        )
    elif filters.direction == "in":
        where.append("s.kind IN ('deposit', 'exchange')" if side == "out" else "true")
    if filters.status == "succeeded":
        where.append("s.status = 'succeeded'")
    elif filters.status == "reversed":
        where.append("s.status = 'reversed'")
    elif filters.status == "in_progress":
        where.append("s.status IN ('created', 'validated', 'held', 'submitted', 'pending')")
    elif filters.status == "refused":
        where.append(_REFUSED)
    elif filters.status == "failed":
        where.append(_FAILED)
    if filters.currency and side == "out":
        params["currency"] = filters.currency
        where.append(
            "(s.currency = %(currency)s OR (s.kind = 'exchange' AND s.destination_wallet_id"
            " IN (SELECT id FROM wallets_wallet WHERE owner_id = %(me)s"
            " AND currency = %(currency)s)))"
        )
    if search.text:
        params["text"] = "%" + _like_escape(search.text) + "%"
        where.append("s.description ILIKE %(text)s")
    if search.counterparty_user is not None or search.party_token:
        options = []
        if side == "out":
            if search.counterparty_wallets:
                params["their_wallets"] = list(search.counterparty_wallets)
                options.append("s.destination_wallet_id = ANY(%(their_wallets)s::uuid[])")
            if search.party_token:
                params["party"] = search.party_token
                options.append(
                    "EXISTS (SELECT 1 FROM momo_request r WHERE r.transfer_id = s.id"
                    " AND r.party_token = %(party)s)"
                )
        elif search.counterparty_user is not None:
            params["them"] = search.counterparty_user
            options.append("s.client_id = %(them)s")
        where.append("(" + " OR ".join(options) + ")" if options else "false")
    return where or ["true"]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass
class _Scan:
    matched: list[Position]
    capped: bool
    oldest: Position | None


def _scan(
    side: str,
    *,
    customer_id: int,
    wallet_id: uuid.UUID | None,
    filters: HistoryFilter,
    search: _Search,
    before: Position,
    dates: tuple[datetime | None, datetime | None],
    page: int,
) -> _Scan:
    params: dict[str, Any] = {
        "me": customer_id,
        "at": before.created_at,
        "id": before.id,
        "cap": SCAN_CAP,
        "page": page,
    }
    if side == "out":
        source = "t.client_id = %(me)s"
    else:
        params["wallet"] = wallet_id
        # Every payment into the wallet counts toward the scan's cap, the customer's own
        # deposits and exchanges included (they come from the other source): filtered
        # after the LIMIT, so a wallet of a million deposits costs a page like any other.
        source = "t.destination_wallet_id = %(wallet)s"
    date_sql = ""
    if dates[0] is not None:
        params["from"] = dates[0]
        date_sql += " AND t.created_at >= %(from)s"
    if dates[1] is not None:
        params["to"] = dates[1]
        date_sql += " AND t.created_at < %(to)s"
    conditions = _source_filters(side, filters, search, params)
    if side == "in":
        # someone else's payment into my wallet, and not a refused one
        conditions.append("s.client_id <> %(me)s AND s.status <> 'failed'")
    where = " AND ".join(conditions)
    sql = _SCAN.format(source=source, dates=date_sql, where=where)
    # a walk of the source's keyset index from the cursor, stopping at the cap, whatever the
    # statistics of its months say (a date filter with many matches would otherwise be
    # planned as "fetch them all and sort")
    with index_order(), connection.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    scanned = int(rows[0][0]) if rows else 0
    oldest = Position(rows[0][1], rows[0][2]) if rows and rows[0][1] is not None else None
    matched = [Position(r[4], r[3]) for r in rows if r[3] is not None]
    return _Scan(matched, scanned >= SCAN_CAP, oldest)


def _bounds(filters: HistoryFilter, country: str) -> tuple[datetime | None, datetime | None]:
    zone = ZoneInfo(MARKET_TIME_ZONES.get(country, "UTC"))
    start = (
        datetime.combine(filters.date_from, time.min, tzinfo=zone) if filters.date_from else None
    )
    end = (
        datetime.combine(filters.date_to + timedelta(days=1), time.min, tzinfo=zone)
        if filters.date_to
        else None
    )
    return start, end


_FAR_FUTURE = Position(datetime(9999, 1, 1, tzinfo=UTC), uuid.UUID(int=(1 << 128) - 1))


def history_page(
    *,
    customer_id: int,
    filters: HistoryFilter,
    before: Position | None = None,
    country: str = "",
    page_size: int = PAGE_SIZE,
) -> HistoryPage:
    """One page of the customer's history, newest first (module docstring)."""
    search = _search(filters.q, country)
    if search.reference is not None:
        rows = _by_reference(customer_id, search.reference)
        return HistoryPage(rows=rows, next_before="", filters=filters)
    wallets = dict(Wallet.objects.filter(owner_id=customer_id).values_list("id", "currency"))
    cursor = before or _FAR_FUTURE
    dates = _bounds(filters, country)
    scans: list[_Scan] = []
    sides: list[tuple[str, uuid.UUID | None]] = [("out", None)]
    if filters.direction != "out" and filters.kind not in ("deposit", "withdrawal", "payout"):
        sides += [
            ("in", wid)
            for wid, code in wallets.items()
            if not filters.currency or code == filters.currency
        ]
    for side, wallet_id in sides:
        scans.append(
            _scan(
                side,
                customer_id=customer_id,
                wallet_id=wallet_id,
                filters=filters,
                search=search,
                before=cursor,
                dates=dates,
                page=page_size + 1,
            )
        )
    # Rows are certain only down to the highest place a capped scan stopped at.
    floor = max((s.oldest for s in scans if s.capped and s.oldest), default=None)
    found = sorted({p for s in scans for p in s.matched}, reverse=True)
    if floor is not None:
        found = [p for p in found if p >= floor]
    shown = found[:page_size]
    next_before, searched_to = "", None
    if len(found) > page_size:
        next_before = shown[-1].encode()
    elif floor is not None:
        next_before = floor.encode()
        searched_to = floor.created_at
    return HistoryPage(
        rows=history_rows(customer_id=customer_id, ids=[p.id for p in shown]),
        next_before=next_before,
        searched_to=searched_to,
        filters=filters,
    )


def _by_reference(customer_id: int, reference: uuid.UUID) -> list[HistoryRow]:
    ids = [reference]
    via_momo = (
        MomoRequest.objects.filter(reference_id=reference)
        .values_list("transfer_id", flat=True)
        .first()
    )
    if via_momo is not None:
        ids.append(via_momo)
    return history_rows(customer_id=customer_id, ids=ids)


def history_rows(*, customer_id: int, ids: list[uuid.UUID]) -> list[HistoryRow]:
    """The rows of ``ids`` the customer may see (made by them, or paid into their wallet by
    someone else and not refused), newest first, with what each row shows."""
    if not ids:
        return []
    transfers = list(
        Transfer.objects.filter(id__in=ids)
        .select_related("momo_request", "destination_wallet", "source_wallet")
        .order_by("-created_at", "-id")
    )
    visible = [t for t in transfers if _visible(t, customer_id)]
    return _rows(visible, customer_id)


def _visible(t: Transfer, customer_id: int) -> bool:
    if t.client_id == customer_id:
        return True
    wallet = t.destination_wallet
    return (
        wallet is not None and wallet.owner_id == customer_id and t.status != TransferStatus.FAILED
    )


def _rows(transfers: list[Transfer], customer_id: int) -> list[HistoryRow]:
    others: set[int] = set()
    for t in transfers:
        if t.kind == TransferKind.P2P:
            if t.client_id != customer_id:
                others.add(t.client_id)
            elif t.destination_wallet is not None:
                others.add(t.destination_wallet.owner_id)
    names = _masked_names(others)
    quotes = _exchange_quotes([t.id for t in transfers if t.kind == TransferKind.EXCHANGE])
    rows = []
    for t in transfers:
        momo = getattr(t, "momo_request", None) if t.kind in MOMO_KINDS else None
        if t.kind == TransferKind.EXCHANGE:
            direction = "both"
        elif t.client_id != customer_id or t.kind == TransferKind.DEPOSIT:
            direction = "in"
        else:
            direction = "out"
        counterparty = ""
        if t.kind == TransferKind.P2P:
            other = (
                t.client_id
                if t.client_id != customer_id
                else (t.destination_wallet.owner_id if t.destination_wallet else None)
            )
            counterparty = names.get(other, "") if other is not None else ""
        elif momo is not None:
            counterparty = momo_party_masked(momo)
        quote = quotes.get(t.id)
        rows.append(
            HistoryRow(
                transfer=t,
                direction=direction,
                state=transfer_state(t, momo),
                counterparty=counterparty,
                momo=momo,
                receive_currency=quote[0] if quote else "",
                receive_amount=quote[1] if quote else 0,
            )
        )
    return rows


def _masked_names(user_ids: set[int]) -> dict[int, str]:
    """Each customer's name masked (first letters only, ``masking.mask_name``), or their
    phone number masked when they have not given a name yet."""
    out: dict[int, str] = {}
    for profile in Profile.objects.filter(user_id__in=user_ids):
        out[profile.user_id] = profile_masked_name(profile)
    return out


def profile_masked_name(profile: Profile) -> str:
    uid = profile.user_id
    name = decrypt_optional(profile.name_ct, context=f"identity.profile.name:{uid}")
    if name:
        return mask_name(name)
    phone = decrypt_optional(profile.phone_ct, context=f"identity.profile.phone:{uid}")
    return mask_phone(phone)


def momo_party_masked(momo: MomoRequest) -> str:
    """The MoMo number of a request, masked like every number on screen."""
    from lightway.application.momo.flows import momo_request_party

    try:
        digits = momo_request_party(momo)
    except Exception:  # an unreadable number is simply not shown (no personal data logged)
        return ""
    return mask_phone("+" + digits.lstrip("+"))


def _exchange_quotes(ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[str, int]]:
    if not ids:
        return {}
    from lightway.data.fx.models import FxQuote

    return {
        tid: (code, amount)
        for tid, code, amount in FxQuote.objects.filter(transfer_id__in=ids).values_list(
            "transfer_id", "receive_currency", "receive_amount"
        )
        if tid is not None
    }


def history_item(*, customer_id: int, transfer_id: uuid.UUID) -> HistoryRow:
    """One of the customer's payments (NotFound for anyone else's, or a refusal someone
    else made toward them)."""
    rows = history_rows(customer_id=customer_id, ids=[transfer_id])
    if not rows:
        raise NotFound("payment not found", details={"transfer_id": str(transfer_id)})
    return rows[0]
