"""MoMo requests as the staff panels show them: a filtered list and one request's detail
(timeline, attempts, polls, callbacks with their raw body), personal data masked.

Read-only. The payer/payee number is decrypted only to be masked (``+256 •••••••01``);
callback bodies are shown as received except that the fields that carry personal data
(party ids, names, e-mail, identity numbers, free-text messages) are masked, and any other
long digit run or e-mail address in a body that is not JSON.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Q, QuerySet

from lightway.application.errors import NotFound
from lightway.application.momo.callbacks import callback_body
from lightway.data.momo.models import (
    CallbackOutcome,
    MomoCallback,
    MomoRequest,
    Product,
    RequestStatus,
)
from lightway.data.money import Money, MoneyError
from lightway.infrastructure.jsonsafe import json_loads_bounded
from lightway.integration.momo.port import Operation
from lightway.security.crypto import CryptoError, decrypt
from lightway.security.masking import DOT, mask_email, mask_id_number, mask_name, mask_party

PARTY_CONTEXT = "momo.party"
PAGE_SIZE = 50
# The list's count reads at most this many rows ("1000+ requests").
COUNT_CAP = 1000
# Requests a reference search reads at most (a reference's first four characters already
# narrow a million requests to about fifteen).
SEARCH_CAP = 1000

OPERATION_LABELS: dict[str, str] = {
    Operation.REQUEST_TO_PAY.value: "Request to pay (deposit)",
    Operation.REQUEST_TO_WITHDRAW.value: "Request to withdraw",
    Operation.TRANSFER.value: "Transfer (payout)",
    Operation.DEPOSIT.value: "Deposit (to wallet)",
    Operation.REFUND.value: "Refund",
    Operation.REMITTANCE_TRANSFER.value: "Remittance transfer",
    Operation.CASH_TRANSFER.value: "Cash transfer",
}


def operation_label(operation: str) -> str:
    return OPERATION_LABELS.get(operation, operation)


# --- masking -----------------------------------------------------------------------------------


def party_masked(row: MomoRequest) -> str:
    """The request's payer/payee id, decrypted only to be masked."""
    try:
        value = decrypt(bytes(row.party_ct), context=PARTY_CONTEXT)
    except (CryptoError, ValueError, TypeError):
        return DOT * 3
    return mask_party(row.party_id_type, value)


# Body fields that carry personal data, and how each is masked.
_NAME_KEYS = frozenset(
    {
        "payerfirstname",
        "payersurname",
        "payeefirstname",
        "payeelastname",
        "given_name",
        "family_name",
        "name",
        "middle_name",
        "payeridentity",
    }
)
_TEXT_KEYS = frozenset({"payermessage", "payeenote", "notificationmessage", "description"})
_ID_KEYS = frozenset({"payeridentificationnumber", "birthdate", "identification_value"})
_PHONE_KEYS = frozenset({"payermsisdn", "msisdn", "phone_number"})
_EMAIL_KEYS = frozenset({"payeremail", "email"})
_LONG_DIGITS = re.compile(r"\+?\d{6,}")
_EMAIL_LIKE = re.compile(r"[^\s\"'<>@]+@[^\s\"'<>@]+\.[A-Za-z]{2,}")


def _mask_value(key: str, value: Any, party_type: str = "") -> Any:
    k = key.lower()
    if isinstance(value, dict):
        return _mask_json(value)
    if isinstance(value, list):
        return [_mask_value(key, v) for v in value]
    if value is None or isinstance(value, bool):
        return value
    text = str(value)
    if k == "partyid":
        return mask_party(party_type, text)
    if k in _PHONE_KEYS:
        return mask_party("MSISDN", text)
    if k in _EMAIL_KEYS:
        return mask_email(text)
    if k in _NAME_KEYS:
        return mask_name(text)
    if k in _ID_KEYS:
        return mask_id_number(text)
    if k in _TEXT_KEYS:
        return f"{DOT * 3} ({len(text)} characters)" if text else text
    return value


def _mask_json(data: dict[str, Any]) -> dict[str, Any]:
    party_type = str(data.get("partyIdType") or "")
    return {k: _mask_value(k, v, party_type) for k, v in data.items()}


def _mask_text(text: str) -> str:
    text = _EMAIL_LIKE.sub(lambda m: mask_email(m.group(0)), text)
    return _LONG_DIGITS.sub(lambda m: mask_party("MSISDN", m.group(0)), text)


def callback_body_masked(body: bytes) -> tuple[str, bool]:
    """(text to show, whether it was JSON). JSON is pretty-printed in its own key order."""
    text = bytes(body).decode("utf-8", errors="replace")
    try:
        data = json_loads_bounded(bytes(body))
    except ValueError:  # not JSON, or nested deeper than the bound: shown as text
        return _mask_text(text), False
    if isinstance(data, dict):
        data = _mask_json(data)
    elif isinstance(data, list):
        data = [_mask_json(d) if isinstance(d, dict) else d for d in data]
    else:
        return _mask_text(text), True
    return json.dumps(data, indent=2, ensure_ascii=False), True


# --- the list ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestFilter:
    operation: str = ""
    product: str = ""
    status: str = ""
    needs_review: bool = False
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""


@dataclass(frozen=True)
class RequestRow:
    reference_id: uuid.UUID
    product: str
    operation: str
    operation_label: str
    status: str
    status_label: str
    needs_review: bool
    amount: str
    party: str
    momo_status: str
    reason_code: str
    created_at: datetime
    completed_at: datetime | None

    @property
    def short_ref(self) -> str:
        return str(self.reference_id)[:8]


@dataclass(frozen=True)
class RequestPage:
    rows: list[RequestRow]
    has_next: bool
    total: int  # matching requests, counted up to COUNT_CAP
    total_capped: bool  # more than COUNT_CAP match
    next_cursor: str  # the ``before`` of the next (older) page; "" on the last one
    first: bool  # the newest page


def money_text(amount: int, code: str) -> str:
    """An amount as people read it ("UGX 25,000"); the raw figures if the code is unknown."""
    try:
        return Money.of(int(amount), code).format()
    except MoneyError:
        return f"{code} {amount}"


def _row(r: MomoRequest) -> RequestRow:
    return RequestRow(
        reference_id=r.reference_id,
        product=r.product,
        operation=r.operation,
        operation_label=operation_label(r.operation),
        status=r.status,
        status_label=RequestStatus(r.status).label if r.status in RequestStatus.values else "",
        needs_review=r.needs_review,
        amount=money_text(r.amount, r.currency),
        party=party_masked(r),
        momo_status=r.momo_status,
        reason_code=r.reason_code,
        created_at=r.created_at,
        completed_at=r.completed_at,
    )


_HEXISH = re.compile(r"^[0-9a-fA-F-]{4,36}$")


def request_search(q: str) -> Q:
    """Any reference: the X-Reference-Id (whole or its first characters as the panels show
    it), the transfer id (likewise), the external id or MoMo's financial transaction id."""
    q = q.strip()
    match = Q(external_id=q) | Q(financial_transaction_id=q)
    try:
        exact = uuid.UUID(q)
    except ValueError:
        if _HEXISH.match(q):
            prefix = q.lower()
            match |= Q(reference_id__startswith=prefix) | Q(transfer__id__startswith=prefix)
    else:
        match |= Q(reference_id=exact) | Q(transfer_id=exact)
    return match


def _filtered(filters: RequestFilter) -> QuerySet[MomoRequest]:
    rows = MomoRequest.objects.all()
    if filters.operation:
        rows = rows.filter(operation=filters.operation)
    if filters.product:
        rows = rows.filter(product=filters.product)
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.needs_review:
        rows = rows.filter(needs_review=True)
    if filters.date_from:
        rows = rows.filter(created_at__gte=datetime.combine(filters.date_from, time(), UTC))
    if filters.date_to and filters.date_to < date.max:  # 9999-12-31: no end (no overflow)
        end = datetime.combine(filters.date_to, time(), UTC) + timedelta(days=1)
        rows = rows.filter(created_at__lt=end)
    if filters.q.strip():
        # The matches first, through the reference indexes (the X-Reference-Id and
        # transfer-id prefix indexes, the external ids'), then the page is cut from them, as
        # the MTN traffic list does: with the search OR-ed into "newest first" the planner
        # may walk every request by time instead (a month partition without statistics,
        # or stale ones), which on a large table reads them all.
        matches = list(
            MomoRequest.objects.filter(request_search(filters.q)).values_list("pk", flat=True)[
                :SEARCH_CAP
            ]
        )
        rows = rows.filter(pk__in=matches)
    return rows


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"^(\d{1,17})\.(\d{1,18})$")


def request_cursor(created_at: datetime, request_id: int) -> str:
    """The position just after a row, for the next page: "<created_at in µs>.<id>"."""
    delta = created_at - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return f"{micros}.{request_id}"


def request_cursor_parse(text: str) -> tuple[datetime, int] | None:
    """(created_at, id) of a cursor, or None when it is not one."""
    match = _CURSOR.match(text or "")
    if match is None:
        return None
    try:
        at = _EPOCH + timedelta(microseconds=int(match.group(1)))
    except OverflowError:
        return None
    return at, int(match.group(2))


def momo_requests(*, filters: RequestFilter, before: str = "") -> RequestPage:
    """Requests matching ``filters``, newest first, ``PAGE_SIZE`` a page, the page starting
    after the ``before`` cursor (keyset: no OFFSET, so an old page costs what the first
    does). The count stops at ``COUNT_CAP``."""
    rows = _filtered(filters)
    total = rows[: COUNT_CAP + 1].count()
    position = request_cursor_parse(before) if before else None
    if position is not None:
        at, request_id = position
        rows = rows.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=request_id))
    chunk = list(rows.order_by("-created_at", "-id")[: PAGE_SIZE + 1])
    shown = chunk[:PAGE_SIZE]
    has_next = len(chunk) > PAGE_SIZE
    return RequestPage(
        rows=[_row(r) for r in shown],
        has_next=has_next,
        total=min(total, COUNT_CAP),
        total_capped=total > COUNT_CAP,
        next_cursor=request_cursor(shown[-1].created_at, shown[-1].pk) if has_next else "",
        first=position is None,
    )


def momo_request_counts() -> dict[str, int]:
    """Open requests and those waiting for review (shown beside the filters)."""
    base = MomoRequest.objects
    return {
        "open": base.filter(status__in=[RequestStatus.NEW, RequestStatus.ACCEPTED]).count(),
        "needs_review": base.filter(needs_review=True).count(),
    }


# --- one request ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallbackView:
    id: int
    received_at: datetime
    processed_at: datetime | None
    method: str
    content_type: str
    claimed_status: str
    outcome: str
    outcome_label: str
    body: str
    body_is_json: bool
    size: int


@dataclass(frozen=True)
class TimelineStep:
    label: str
    at: datetime | None
    note: str = ""
    kind: str = ""  # created | submitted | accepted | callback | completed


@dataclass(frozen=True)
class RequestDetail:
    row: RequestRow
    currency: str
    target_environment: str
    base_url: str
    external_id: str
    financial_transaction_id: str
    reason_message: str
    party_id_type: str
    attempts: int
    polls: int
    callback_count: int
    last_error: str
    next_check_at: datetime | None
    deadline_at: datetime
    submitted_at: datetime | None
    accepted_at: datetime | None
    updated_at: datetime
    transfer_id: uuid.UUID | None
    transfer_kind: str
    transfer_status: str
    transfer_failure: str
    client_subject: str
    entry_id: int | None
    hold_id: int | None
    timeline: list[TimelineStep] = field(default_factory=list)
    callbacks: list[CallbackView] = field(default_factory=list)


def _callbacks(r: MomoRequest) -> list[CallbackView]:
    labels = dict(CallbackOutcome.choices)
    rows = MomoCallback.objects.filter(
        Q(request_id=r.pk) | Q(reference_id=str(r.reference_id))
    ).order_by("received_at", "id")
    out = []
    for c in rows:
        raw = callback_body(c)
        body, is_json = callback_body_masked(raw)
        out.append(
            CallbackView(
                id=c.pk,
                received_at=c.received_at,
                processed_at=c.processed_at,
                method=c.method,
                content_type=c.content_type,
                claimed_status=c.claimed_status,
                outcome=c.outcome,
                outcome_label=labels.get(c.outcome, c.outcome),
                body=body,
                body_is_json=is_json,
                size=len(raw),
            )
        )
    return out


def _timeline(r: MomoRequest, callbacks: list[CallbackView]) -> list[TimelineStep]:
    steps = [
        TimelineStep("Created", r.created_at, "reference stored before the first call", "created"),
        TimelineStep(
            "Submitted to MoMo",
            r.submitted_at,
            f"{r.attempts} attempt{'s' if r.attempts != 1 else ''}",
            "submitted",
        ),
        TimelineStep("Accepted by MoMo (202)", r.accepted_at, "", "accepted"),
    ]
    for c in callbacks:
        claimed = f"claims {c.claimed_status}, " if c.claimed_status else ""
        steps.append(
            TimelineStep(
                f"Callback received ({c.method})",
                c.received_at,
                claimed + c.outcome_label,
                "callback",
            )
        )
    if r.completed_at is not None:
        outcome = RequestStatus(r.status).label if r.status in RequestStatus.values else r.status
        reason = f": {r.reason_code}" if r.reason_code else ""
        steps.append(
            TimelineStep(
                f"Completed, {outcome.lower()}", r.completed_at, reason.lstrip(": "), "completed"
            )
        )
    known = sorted((s for s in steps if s.at is not None), key=lambda s: s.at or r.created_at)
    pending = [s for s in steps if s.at is None]
    return known + pending


def momo_request_detail(*, reference_id: uuid.UUID | str) -> RequestDetail:
    """One request by its X-Reference-Id; raises ``NotFound``."""
    try:
        ref = uuid.UUID(str(reference_id))
    except ValueError:
        raise NotFound("No MoMo request has this reference.") from None
    r = (
        MomoRequest.objects.select_related("transfer__client__profile")
        .filter(reference_id=ref)
        .first()
    )
    if r is None:
        raise NotFound("No MoMo request has this reference.")
    callbacks = _callbacks(r)
    transfer = r.transfer
    subject = ""
    if transfer is not None:
        profile = getattr(transfer.client, "profile", None)
        subject = profile.subject if profile is not None else f"user {transfer.client_id}"
    return RequestDetail(
        row=_row(r),
        currency=r.currency,
        target_environment=r.target_environment,
        base_url=r.base_url,
        external_id=r.external_id,
        financial_transaction_id=r.financial_transaction_id,
        reason_message=r.reason_message,
        party_id_type=r.party_id_type,
        attempts=r.attempts,
        polls=r.polls,
        callback_count=r.callbacks,
        last_error=r.last_error,
        next_check_at=r.next_check_at,
        deadline_at=r.deadline_at,
        submitted_at=r.submitted_at,
        accepted_at=r.accepted_at,
        updated_at=r.updated_at,
        transfer_id=transfer.id if transfer is not None else None,
        transfer_kind=transfer.get_kind_display() if transfer is not None else "",
        transfer_status=transfer.get_status_display() if transfer is not None else "",
        transfer_failure=transfer.failure_code if transfer is not None else "",
        client_subject=subject,
        entry_id=transfer.entry_id if transfer is not None else None,
        hold_id=r.hold_id,
        timeline=_timeline(r, callbacks),
        callbacks=callbacks,
    )


PRODUCT_CHOICES = Product.choices
STATUS_CHOICES = RequestStatus.choices
OPERATION_CHOICES = list(OPERATION_LABELS.items())
