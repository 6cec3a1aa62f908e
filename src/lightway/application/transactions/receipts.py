"""One payment in detail (``/app/history/<id>/``) and its PDF receipt.

The detail is what the customer may know of one of their payments: kind, state, amounts
and fee, what left or reached their wallet, the FX rate of an exchange, the counterparty
masked, the references (LightWay's transfer id, MoMo's X-Reference-Id and financial
transaction id), and the timeline of its states from the audit trail (index
``audit_record_object_time``). A payment someone else made toward the customer shows no
fee (the payer's business). Anyone else's payment is "not found".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.utils.translation import gettext as _

from lightway.application.reports.pdf import ReportDocument, ReportTable, Writable, pdf_write
from lightway.application.transactions.history import HistoryRow, history_item
from lightway.data.audit.models import AuditRecord
from lightway.data.fx.models import FxQuote
from lightway.data.wallets.models import Transfer, TransferKind

TIMELINE_MAX = 20


@dataclass(frozen=True)
class TimelineStep:
    at: datetime
    status: str


@dataclass(frozen=True)
class PaymentDetail:
    row: HistoryRow
    timeline: list[TimelineStep]
    show_fee: bool
    wallet_change: int  # signed, in the transfer's currency: what left or reached the wallet
    rate: Decimal | None  # an exchange's rate (receive per send)
    failure: str  # why it failed or was refused, "" otherwise

    @property
    def transfer(self) -> Transfer:
        return self.row.transfer


def payment_detail(*, customer_id: int, transfer_id: uuid.UUID) -> PaymentDetail:
    """The customer's payment ``transfer_id`` (NotFound for anyone else's)."""
    row = history_item(customer_id=customer_id, transfer_id=transfer_id)
    t = row.transfer
    timeline = [
        TimelineStep(at, action.removeprefix("transfer."))
        for at, action in AuditRecord.objects.filter(object_type="transfer", object_id=str(t.id))
        .filter(action__startswith="transfer.")
        .order_by("id")
        .values_list("occurred_at", "action")[:TIMELINE_MAX]
    ]
    if not timeline:
        timeline = [TimelineStep(t.created_at, t.status)]
    mine = t.client_id == customer_id
    moved = row.state in ("succeeded", "in_progress", "reversed")
    if not moved:
        change = 0
    elif t.kind == TransferKind.DEPOSIT:
        change = t.amount - t.fee
    elif not mine:
        change = t.amount
    else:
        change = -(t.amount + t.fee)
    rate = None
    if t.kind == TransferKind.EXCHANGE:
        rate = FxQuote.objects.filter(transfer_id=t.id).values_list("rate", flat=True).first()
    failure = ""
    if row.state in ("failed", "refused"):
        failure = t.failure_message or (row.momo.reason_message if row.momo else "")
    return PaymentDetail(
        row=row,
        timeline=timeline,
        show_fee=mine,
        wallet_change=change,
        rate=rate,
        failure=failure,
    )


def receipt_pdf(
    detail: PaymentDetail,
    out: Writable,
    *,
    fields: list[tuple[str, str]],
    title: str,
    now: datetime,
) -> None:
    """The receipt: ``fields`` (label, value: already in words and formatted by the page
    that shows the same detail) and the timeline, with the shared statement layout."""
    pdf_write(
        ReportDocument(
            title=title,
            parameters=[
                (_("Reference"), str(detail.transfer.id)),
                (_("Made"), now.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")),
            ],
            summary_title=_("Payment"),
            summary=ReportTable(
                headers=[_("Item"), _("Value")],
                rows=[list(f) for f in fields],
                widths=[0.3, 0.7],
            ),
            detail_title=_("Timeline (UTC)"),
            detail=ReportTable(
                headers=[_("Time"), _("Status")],
                rows=[
                    [step.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"), step.status]
                    for step in detail.timeline
                ],
                widths=[0.3, 0.7],
            ),
        ),
        out,
    )
