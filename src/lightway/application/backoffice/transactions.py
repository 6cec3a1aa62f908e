"""Transactions as the back office sees them: search by any reference, a filtered list
(keyset pages), one payment's timeline, and the CSV export of the filtered list.

**Search** is a handful of exact lookups, each on a unique key or an index, never a scan:

- a UUID: the transfer's id, a MoMo request's X-Reference-Id, a remittance's id;
- ``<customer subject>/<Idempotency-Key>``: the customer's own key (``transfer_idempotency``);
- ``<partner code>/<external id>``: a partner's remittance (``remittances_external_id``);
- anything else: MoMo's financial transaction id or the MoMo request's external id
  (``momo_request_fin_id``, ``momo_request_external_id``).

**The list** reads newest first from ``transfer_created`` (``created_at, id``; wallets
migration 0012) or ``transfer_status_age`` when a status is chosen, ``PAGE_SIZE`` a page
after a cursor (no OFFSET, no COUNT).

**The timeline** of one payment puts in time order: its creation and every status it
reached (its ``transfer.*`` audit records), the MoMo request's steps and callbacks, the
journal entries (with their postings), the remittance's state changes, the back-office
requests and every other audit record about it.

**The export** streams the filtered list as CSV (no personal data: the customer's opaque
subject, never a name, number or description), at most ``EXPORT_MAX`` rows, audited.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Q, QuerySet

from lightway.application.backoffice.actions import ActionView, actions_of
from lightway.application.backoffice.customers import cursor_parse, cursor_text, older_than
from lightway.application.errors import NotFound
from lightway.application.momo.browse import RequestDetail, momo_request_detail
from lightway.application.reports.cells import csv_safe, money_text
from lightway.data.audit.models import AuditRecord
from lightway.data.audit.services import audit_record
from lightway.data.identity.models import Profile
from lightway.data.ledger.models import JournalEntry, Posting
from lightway.data.momo.models import MomoRequest
from lightway.data.partners.selectors import partner_events_of_object
from lightway.data.remittances.models import Remittance
from lightway.data.remittances.selectors import remittance_by_partner_reference
from lightway.data.wallets.models import Transfer, TransferKind, TransferStatus

PAGE_SIZE = 50
EXPORT_MAX = 100_000
EXPORT_CHUNK = 1_000
TIMELINE_AUDIT_MAX = 200


@dataclass(frozen=True)
class TransferFilter:
    kind: str = ""
    status: str = ""
    currency: str = ""
    date_from: date | None = None
    date_to: date | None = None

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "status": self.status,
            "currency": self.currency,
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
        }


@dataclass(frozen=True)
class TransferRow:
    id: uuid.UUID
    kind: str
    kind_label: str
    status: str
    status_label: str
    currency: str
    amount: str
    fee: str
    client: str  # the customer's opaque subject (or "user <id>")
    created_at: datetime

    @property
    def short_id(self) -> str:
        return str(self.id)[:8]


@dataclass(frozen=True)
class TransferPage:
    rows: list[TransferRow]
    next_cursor: str
    first: bool


def _subjects(user_ids: set[int]) -> dict[int, str]:
    return dict(Profile.objects.filter(user_id__in=user_ids).values_list("user_id", "subject"))


def _rows(transfers: list[Transfer]) -> list[TransferRow]:
    subjects = _subjects({t.client_id for t in transfers})
    return [
        TransferRow(
            id=t.id,
            kind=t.kind,
            kind_label=t.get_kind_display(),
            status=t.status,
            status_label=t.get_status_display(),
            currency=t.currency,
            amount=money_text(t.amount, t.currency),
            fee=money_text(t.fee, t.currency),
            client=subjects.get(t.client_id, f"user {t.client_id}"),
            created_at=t.created_at,
        )
        for t in transfers
    ]


# --- search ----------------------------------------------------------------------------------


def transaction_search(*, query: str) -> list[TransferRow]:
    """The payments a reference names (see the module docstring); [] when none."""
    text = (query or "").strip()
    if not text or len(text) > 250:
        return []
    ids: set[uuid.UUID] = set()
    try:
        wanted = uuid.UUID(text)
    except ValueError:
        wanted = None
    if wanted is not None:
        ids.update(Transfer.objects.filter(pk=wanted).values_list("id", flat=True))
        ids.update(
            MomoRequest.objects.filter(reference_id=wanted, transfer_id__isnull=False).values_list(
                "transfer_id", flat=True
            )
        )
        ids.update(
            Remittance.objects.filter(pk=wanted, transfer_id__isnull=False).values_list(
                "transfer_id", flat=True
            )
        )
    else:
        head, _, tail = text.partition("/")
        if head.startswith("sub_") and tail:
            client = Profile.objects.filter(subject=head).values_list("user_id", flat=True).first()
            if client is not None:
                ids.update(
                    Transfer.objects.filter(client_id=client, idempotency_key=tail).values_list(
                        "id", flat=True
                    )
                )
        elif head and tail:
            found = remittance_by_partner_reference(partner_code=head, external_id=tail)
            if found is not None and found.transfer_id is not None:
                ids.add(found.transfer_id)
        if not ids:
            ids.update(
                MomoRequest.objects.filter(
                    Q(financial_transaction_id=text) | Q(external_id=text),
                    transfer_id__isnull=False,
                ).values_list("transfer_id", flat=True)[:20]
            )
    found_rows = list(Transfer.objects.filter(pk__in=ids).order_by("-created_at", "-id"))
    return _rows(found_rows)


# --- the list --------------------------------------------------------------------------------


def _filtered(filters: TransferFilter) -> QuerySet[Transfer]:
    rows = Transfer.objects.all()
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
    return rows


def transactions_list(*, filters: TransferFilter, before: str = "") -> TransferPage:
    """Payments matching ``filters``, newest first, ``PAGE_SIZE`` a page after ``before``."""
    position = cursor_parse(before) if before else None
    chunk = list(
        older_than(_filtered(filters), position).order_by("-created_at", "-id")[: PAGE_SIZE + 1]
    )
    shown = chunk[:PAGE_SIZE]
    more = len(chunk) > PAGE_SIZE
    return TransferPage(
        rows=_rows(shown),
        next_cursor=cursor_text(shown[-1].created_at, shown[-1].id) if more else "",
        first=position is None,
    )


CSV_HEADER = [
    "transfer_id",
    "created_at",
    "kind",
    "status",
    "currency",
    "amount_minor",
    "fee_minor",
    "amount",
    "fee",
    "customer_subject",
    "failure_code",
]


def transactions_csv(*, filters: TransferFilter, actor: str, now: datetime) -> Iterator[str]:
    """The filtered list as CSV lines, newest first, read in keyset chunks. The export is
    audited (``backoffice.transactions.export`` with the filters) before the first line."""
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="backoffice.transactions.export",
            object_type="transfer",
            object_id="",
            data={"filters": filters.as_dict(), "max_rows": EXPORT_MAX},
            now=now,
        )
    return _csv_lines(filters)


def _csv_line(values: list[object]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow([csv_safe(v) for v in values])
    return out.getvalue()


def _csv_lines(filters: TransferFilter) -> Iterator[str]:
    yield _csv_line(list(CSV_HEADER))
    position: tuple[datetime, uuid.UUID] | None = None
    sent = 0
    while sent < EXPORT_MAX:
        chunk = list(
            older_than(_filtered(filters), position).order_by("-created_at", "-id")[
                : min(EXPORT_CHUNK, EXPORT_MAX - sent)
            ]
        )
        if not chunk:
            return
        subjects = _subjects({t.client_id for t in chunk})
        for t in chunk:
            yield _csv_line(
                [
                    str(t.id),
                    t.created_at.isoformat(),
                    t.kind,
                    t.status,
                    t.currency,
                    t.amount,
                    t.fee,
                    money_text(t.amount, t.currency),
                    money_text(t.fee, t.currency),
                    subjects.get(t.client_id, ""),
                    t.failure_code,
                ]
            )
        sent += len(chunk)
        position = (chunk[-1].created_at, chunk[-1].id)


# --- one payment -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    source: str  # "state", "momo", "ledger", "remittance", "audit", "request"
    title: str
    detail: str = ""
    postings: list[tuple[int, str, str]] = field(default_factory=list)  # account, leg, amount


@dataclass(frozen=True)
class TransferDetail:
    row: TransferRow
    transfer: Transfer
    momo: RequestDetail | None
    remittance_id: uuid.UUID | None
    timeline: list[TimelineEvent]
    actions: list[ActionView]

    @property
    def reversible(self) -> bool:
        t = self.transfer
        return (
            t.status == TransferStatus.SUCCEEDED
            and t.kind in (TransferKind.P2P, TransferKind.DEPOSIT)
            and not any(a.state == "pending" and a.kind == "transfer_reverse" for a in self.actions)
        )

    @property
    def retryable(self) -> bool:
        m = self.momo
        if m is None:
            return False
        open_ = m.row.status not in ("succeeded", "failed") or m.row.needs_review
        return open_ and not any(
            a.state == "pending" and a.kind == "transfer_retry" for a in self.actions
        )


def _entries(transfer: Transfer, remittance: Remittance | None) -> list[TimelineEvent]:
    ids = [transfer.entry_id, transfer.reversal_entry_id]
    if remittance is not None:
        ids += [remittance.fx_entry_id, remittance.fx_reversal_entry_id]
    wanted = [i for i in ids if i]
    postings: dict[int, list[tuple[int, str, str]]] = {}
    for p in Posting.objects.filter(entry_id__in=wanted).order_by("id"):
        postings.setdefault(p.entry_id, []).append(
            (p.account_id, p.leg, money_text(p.amount, p.currency))
        )
    return [
        TimelineEvent(
            at=e.created_at,
            source="ledger",
            title=f"Journal entry {e.pk} posted ({e.kind})",
            detail=e.description,
            postings=postings.get(e.pk, []),
        )
        for e in JournalEntry.objects.filter(pk__in=wanted).order_by("created_at", "id")
    ]


def _audits(object_ids: list[tuple[str, str]]) -> list[TimelineEvent]:
    match = Q(pk__in=[])
    for object_type, object_id in object_ids:
        match |= Q(object_type=object_type, object_id=object_id)
    rows = AuditRecord.objects.filter(match).order_by("occurred_at", "id")[:TIMELINE_AUDIT_MAX]
    out = []
    for r in rows:
        source = "state" if r.action.startswith("transfer.") else "audit"
        title = (
            f"Status {r.action.removeprefix('transfer.')}"
            if source == "state"
            else f"Audit: {r.action}"
        )
        out.append(TimelineEvent(at=r.occurred_at, source=source, title=title, detail=r.actor))
    return out


def transaction_detail(*, transfer_id: uuid.UUID) -> TransferDetail:
    transfer = Transfer.objects.filter(pk=transfer_id).first()
    if transfer is None:
        raise NotFound("No payment has this id.", details={"transfer_id": str(transfer_id)})
    momo_ref = (
        MomoRequest.objects.filter(transfer_id=transfer.id)
        .values_list("reference_id", flat=True)
        .first()
    )
    momo = momo_request_detail(reference_id=momo_ref) if momo_ref else None
    remittance = Remittance.objects.filter(transfer_id=transfer.id).first()
    events = [
        TimelineEvent(
            at=transfer.created_at,
            source="state",
            title=f"Created ({transfer.get_kind_display().lower()})",
            detail=money_text(transfer.amount, transfer.currency),
        )
    ]
    if momo is not None:
        events += [
            TimelineEvent(at=s.at, source="momo", title=f"MoMo: {s.label}", detail=s.note)
            for s in momo.timeline
            if s.at is not None
        ]
    events += _entries(transfer, remittance)
    objects = [("transfer", str(transfer.id))]
    if remittance is not None:
        objects.append(("remittance", str(remittance.id)))
        for e in partner_events_of_object(
            object_type="remittance", object_id=str(remittance.id), limit=100
        ):
            events.append(
                TimelineEvent(
                    at=e.occurred_at,
                    source="remittance",
                    title=f"Remittance {e.data.get('previous_state') or '—'} → "
                    f"{e.data.get('state', '')}",
                    detail=str(e.data.get("reason_code") or ""),
                )
            )
    events += _audits(objects)
    actions = actions_of(transfer_id=transfer.id)
    events.sort(key=lambda e: e.at)
    (row,) = _rows([transfer])
    return TransferDetail(
        row=row,
        transfer=transfer,
        momo=momo,
        remittance_id=remittance.id if remittance is not None else None,
        timeline=events,
        actions=actions,
    )
