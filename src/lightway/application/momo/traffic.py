"""Live MoMo traffic for the MTN portal (``/mtn/``): MoMo-routed transfers (deposits,
withdrawals, payouts, remittances) newest first, filtered and searched, 50 a page.

Bounded reads only, whatever the size of the transfer table:

- the list walks the partial index ``transfer_momo_recent`` (MoMo-routed kinds, newest
  first) from a keyset position (``before``: created_at and id of the last row shown),
  the filters (kind, status, currency, date range) applied on the way, ``PAGE_SIZE + 1``
  rows at most;
- a search (a reference) is answered through the MoMo request's indexes: its
  X-Reference-Id, transfer id (whole or the first characters the pages show), external id
  or financial transaction id (``browse.request_search``), then the transfers by key;
- the MoMo request of each shown transfer is read by its unique transfer key, and the
  payer's or payee's number is decrypted only to be masked; the customer appears by the
  opaque reference of their profile (``sub_...``), never by name.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Q

from lightway.application.momo.browse import money_text, party_masked, request_search
from lightway.data.identity.models import Profile
from lightway.data.momo.models import MomoRequest
from lightway.data.wallets.models import Transfer, TransferKind, TransferStatus
from lightway.security.policy import scope_transfers

PAGE_SIZE = 50
SEARCH_CAP = 200
MOMO_KINDS = (
    TransferKind.DEPOSIT.value,
    TransferKind.WITHDRAWAL.value,
    TransferKind.PAYOUT.value,
    TransferKind.REMITTANCE.value,
)
KIND_CHOICES = [(k, TransferKind(k).label) for k in MOMO_KINDS]
STATUS_CHOICES = list(TransferStatus.choices)


@dataclass(frozen=True)
class TrafficFilter:
    kind: str = ""
    status: str = ""
    currency: str = ""
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""


@dataclass(frozen=True)
class TrafficRow:
    transfer_id: uuid.UUID
    kind: str
    status: str
    status_label: str
    amount: str
    fee: str
    party: str  # the MoMo number, masked
    client: str  # the customer's (or partner's) opaque reference, never a name
    operation: str
    reference_id: uuid.UUID | None
    momo_status: str
    financial_transaction_id: str
    reason_code: str
    created_at: datetime

    @property
    def short_ref(self) -> str:
        return str(self.transfer_id)[:8]


@dataclass(frozen=True)
class TrafficPage:
    rows: list[TrafficRow]
    has_next: bool
    next_cursor: str
    first: bool
    searched: bool


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"^(\d{1,17})\.([0-9a-f]{32})$")


def traffic_cursor(created_at: datetime, transfer_id: uuid.UUID) -> str:
    """The position just after a row: "<created_at in µs since the epoch>.<id hex>"."""
    delta = created_at - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return f"{micros}.{transfer_id.hex}"


def traffic_cursor_parse(text: str) -> tuple[datetime, uuid.UUID] | None:
    match = _CURSOR.match(text or "")
    if match is None:
        return None
    try:
        at = _EPOCH + timedelta(microseconds=int(match.group(1)))
    except OverflowError:
        return None
    return at, uuid.UUID(hex=match.group(2))


def momo_traffic(
    *, roles: frozenset[str], user_id: int, filters: TrafficFilter, before: str = ""
) -> TrafficPage:
    """MoMo-routed transfers the holder of ``roles`` may see, matching ``filters``, newest
    first, the page after ``before`` (see the module docstring for what each read costs)."""
    rows = scope_transfers(
        Transfer.objects.filter(kind__in=MOMO_KINDS), roles=roles, user_id=user_id
    )
    if filters.kind:
        rows = rows.filter(kind=filters.kind)
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.currency:
        rows = rows.filter(currency=filters.currency)
    if filters.date_from:
        rows = rows.filter(created_at__gte=datetime.combine(filters.date_from, time(), UTC))
    if filters.date_to and filters.date_to < date.max:
        end = datetime.combine(filters.date_to, time(), UTC) + timedelta(days=1)
        rows = rows.filter(created_at__lt=end)
    searched = bool(filters.q.strip())
    if searched:
        ids = list(
            MomoRequest.objects.filter(
                request_search(filters.q), transfer__isnull=False
            ).values_list("transfer_id", flat=True)[:SEARCH_CAP]
        )
        try:
            ids.append(uuid.UUID(filters.q.strip()))
        except ValueError:
            pass
        rows = rows.filter(pk__in=ids)
    position = traffic_cursor_parse(before) if before else None
    if position is not None:
        at, last_id = position
        rows = rows.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=last_id))
    chunk = list(rows.order_by("-created_at", "-id")[: PAGE_SIZE + 1])
    shown = chunk[:PAGE_SIZE]
    requests = {
        r.transfer_id: r for r in MomoRequest.objects.filter(transfer_id__in=[t.pk for t in shown])
    }
    subjects = dict(
        Profile.objects.filter(user_id__in={t.client_id for t in shown}).values_list(
            "user_id", "subject"
        )
    )
    out = []
    for t in shown:
        req = requests.get(t.pk)
        out.append(
            TrafficRow(
                transfer_id=t.pk,
                kind=TransferKind(t.kind).label,
                status=t.status,
                status_label=TransferStatus(t.status).label,
                amount=money_text(t.amount, t.currency),
                fee=money_text(t.fee, t.currency),
                party=party_masked(req) if req is not None else "",
                client=subjects.get(t.client_id, f"user {t.client_id}"),
                operation=req.operation if req is not None else "",
                reference_id=req.reference_id if req is not None else None,
                momo_status=req.momo_status if req is not None else "",
                financial_transaction_id=req.financial_transaction_id if req is not None else "",
                reason_code=(req.reason_code if req is not None else "") or t.failure_code,
                created_at=t.created_at,
            )
        )
    has_next = len(chunk) > PAGE_SIZE
    return TrafficPage(
        rows=out,
        has_next=has_next,
        next_cursor=traffic_cursor(shown[-1].created_at, shown[-1].pk) if has_next else "",
        first=position is None,
        searched=searched,
    )
