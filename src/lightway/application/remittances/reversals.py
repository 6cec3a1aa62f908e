"""Reversing a COMPLETED remittance, with maker-checker (docs/partner-api.md, "Reversals").

Exceptional: MTN recalled the payout from the beneficiary's wallet (its reference kept with
the request), or it was paid in error or to a fraudster and the money came back. One
member of LightWay staff asks (``remittance_reversal_request``, operations: a reason code
and an explanation); another decides (``remittance_reversal_approve`` /
``remittance_reversal_reject``, finance). The requester can never decide their own
request: the service refuses it with a clear message, and the database refuses it too
(``remittances_reversal_guard``, remittances migration 0004), which also makes sure no
remittance becomes REVERSED without an approved request. Every step is audited
(``remittance.reversal_requested`` / ``_approved`` / ``_rejected``) with the actor.

**Approval** is ONE database transaction, in the lock order of every remittance path
(``outcome`` docstring: transfer, accounts, remittance), after the request's own row:

1. the reversal entry, kind ``reversal`` (``data/ledger/kinds.py``), posted through the
   ledger service ``entry_post``: the exact mirror of the transfer's entry (same accounts
   and legs, opposite amounts), so the partner's prefund gets back send amount + fee, the
   MoMo float (or, for two currencies, the send currency's FX position) gives back what it
   received, and each fee split (LightWay's fee revenue, MTN's and the partner's commission
   payable) is undone; keyed ``reversal:<transfer id>`` (unique: a second one cannot be
   posted);
2. for a cross-currency remittance, the mirror of its receive-currency entry
   (``Remittance.fx_entry``: FX position, MoMo float, FX revenue for the spread), keyed
   ``reversal-fx:<transfer id>``, recorded as ``fx_reversal_entry``. Each entry balances in
   its own currency;
3. the transfer ``succeeded -> reversed`` with its ``reversal_entry``: the settlement
   trigger books the reversal's position deltas (the opposite of the payout's) in the
   window open now (docs/settlement.md);
4. the remittance COMPLETED -> REVERSED (version + 1) with the request's reason code, and its
   ``remittance.status_changed`` partner event (webhook and ``GET /events``);
5. the request APPROVED, the audit records (the request's and the transfer's).

Approving again, or two approvals racing, reverse once: the request row is locked first and
an APPROVED request is returned as it is (``changed`` False).

**Commission records** stay as written: they are append-only and positive (``commission``
app), and they record each party's share of the fee as it was charged. The undoing is in the
ledger: the reversal entry mirrors every ``fee:<party>`` leg, so fee revenue and commission
payable drop back, and ``lightway ledger verify`` checks that mirror posting by posting.
The marker that a record's transaction was reversed is its transfer's status ``reversed``
(the record's ``reference`` is the transfer id).

**The partner's daily usage** is not given back: the payout was made on its day.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction

from lightway.application.errors import (
    Conflict,
    NotFound,
    RequestRefused,
    ValidationFailed,
)
from lightway.application.payments.skeleton import payment_audit, reversal_post
from lightway.application.remittances.remittances import RemittanceView, remittance_view
from lightway.application.remittances.states import remittance_transition
from lightway.application.reports.cells import money_text
from lightway.application.text import text_printable
from lightway.data.audit.services import audit_record
from lightway.data.ledger.errors import LedgerError
from lightway.data.momo.models import MomoRequest
from lightway.data.momo.selectors import momo_request_of_transfer
from lightway.data.momo.services import momo_transfer_lock
from lightway.data.partners.selectors import partner_events_of_object
from lightway.data.remittances.models import (
    Remittance,
    RemittanceReversal,
    RemittanceState,
    ReversalReason,
    ReversalState,
)
from lightway.data.remittances.selectors import (
    remittance_by_partner_reference,
    remittance_get,
    remittance_reversals_of,
    remittance_reversals_pending,
)
from lightway.data.wallets.models import Transfer, TransferStatus
from lightway.data.wallets.services import transfer_reverse
from lightway.infrastructure.db import retry_transient

logger = logging.getLogger("lightway.remittances")

REASON_MIN, REASON_MAX = 10, 500
REFERENCE_PATTERN = re.compile(r"^[A-Za-z0-9._:/-]{1,64}$")
TIMELINE_MAX = 100
PENDING_PAGE = 100


class NotReversible(Conflict):
    code = "remittance_not_reversible"


class ReversalPending(Conflict):
    code = "reversal_pending"


class ReversalDecided(Conflict):
    code = "reversal_decided"


@dataclass(frozen=True)
class ReversalDecision:
    reversal: RemittanceReversal
    changed: bool  # False: it was already decided this way (a repeated approval)


# --- request ---------------------------------------------------------------------------------


def _text(value: str, field: str, *, required: bool) -> str:
    text = (value or "").strip()
    if not text and not required:
        return ""
    if not text_printable(text, min_length=REASON_MIN, max_length=REASON_MAX):
        raise ValidationFailed(
            f"Explain in {REASON_MIN} to {REASON_MAX} characters (no line breaks or control"
            " characters).",
            details={"field": field},
        )
    return text


def _not_reversible(remittance: Remittance) -> NotReversible:
    return NotReversible(
        f"only a COMPLETED remittance can be reversed: this one is {remittance.state}",
        details={"remittance_id": str(remittance.id), "state": remittance.state},
    )


def remittance_reversal_request(
    *,
    remittance_id: uuid.UUID,
    reason_code: str,
    reason: str,
    momo_reference: str,
    actor: str,
    now: datetime,
) -> RemittanceReversal:
    """Ask for the reversal of a COMPLETED remittance (``actor`` = ``staff:<id>``); another
    person decides. ``momo_reference`` (MTN's reference of the recall) is required when
    MTN recalled the payout. Audited."""
    if reason_code not in ReversalReason.values:
        raise ValidationFailed("Choose why it is reversed.", details={"field": "reason_code"})
    text = _text(reason, "reason", required=True)
    reference = (momo_reference or "").strip()
    if reference and not REFERENCE_PATTERN.fullmatch(reference):
        raise ValidationFailed(
            "MTN's reference is 1 to 64 of A-Z a-z 0-9 . _ : / -",
            details={"field": "momo_reference"},
        )
    if reason_code == ReversalReason.MOMO_RECALLED and not reference:
        raise ValidationFailed(
            "Give MTN's reference of the recall.", details={"field": "momo_reference"}
        )
    remittance = remittance_get(remittance_id=remittance_id)
    if remittance is None:
        raise NotFound("no such remittance", details={"remittance_id": str(remittance_id)})
    if remittance.state != RemittanceState.COMPLETED:
        raise _not_reversible(remittance)
    with transaction.atomic():
        try:
            with transaction.atomic():
                row = RemittanceReversal.objects.create(
                    remittance_id=remittance.id,
                    reason_code=reason_code,
                    reason=text,
                    momo_reference=reference,
                    requested_by=actor,
                    requested_at=now,
                )
        except IntegrityError as exc:
            # The database's rules: one pending request per remittance, COMPLETED only.
            if "remittances_reversal_one_pending" in str(exc):
                raise ReversalPending(
                    "a reversal of this remittance is already waiting for a decision",
                    details={"remittance_id": str(remittance.id)},
                ) from None
            fresh = remittance_get(remittance_id=remittance.id)
            raise _not_reversible(fresh or remittance) from None
        audit_record(
            actor=actor,
            action="remittance.reversal_requested",
            object_type="remittance.reversal",
            object_id=str(row.pk),
            data=_audit_data(row, remittance),
            now=now,
        )
    logger.info(
        "remittance reversal requested",
        extra={"remittance_id": str(remittance.id), "reversal": row.pk, "reason": reason_code},
    )
    return row


def _audit_data(row: RemittanceReversal, remittance: Remittance) -> dict[str, object]:
    return {
        "remittance_id": str(remittance.id),
        "partner": remittance.partner_id,
        "transfer_id": str(remittance.transfer_id) if remittance.transfer_id else None,
        "send": [remittance.send_currency, remittance.send_amount, remittance.fee],
        "receive": [remittance.receive_currency, remittance.receive_amount],
        "reason_code": row.reason_code,
        "reason": row.reason,
        "momo_reference": row.momo_reference,
        "requested_by": row.requested_by,
        "state": row.state,
    }


# --- decide ----------------------------------------------------------------------------------


def _locked_request(reversal_id: int) -> RemittanceReversal:
    row = RemittanceReversal.objects.select_for_update().filter(pk=reversal_id).first()
    if row is None:
        raise NotFound("no such reversal request", details={"reversal_id": reversal_id})
    return row


def _not_own(row: RemittanceReversal, actor: str) -> None:
    if row.requested_by == actor:
        raise RequestRefused(
            "self_approval",
            "you asked for this reversal: another person must approve or reject it",
            details={"reversal_id": row.pk},
        )


def _post_reversal(remittance: Remittance, transfer: Transfer, now: datetime) -> tuple[int, int]:
    """Post the mirror of the transfer's entry (and of the FX entry for two currencies):
    (reversal entry id, FX reversal entry id or 0)."""
    assert transfer.entry_id is not None
    if remittance.cross_currency and remittance.fx_entry_id is None:
        raise RequestRefused(
            "reversal_not_posted",
            "this cross-currency remittance has no receive-currency entry to undo: reconcile"
            " it first (lightway ledger verify)",
            details={"remittance_id": str(remittance.id)},
        )
    description = f"reversal of remittance {remittance.id}"
    try:
        entry = reversal_post(
            entry_id=transfer.entry_id,
            currency=transfer.currency,
            transfer_id=transfer.id,
            key=f"reversal:{transfer.id}",
            description=description,
            now=now,
        )
        fx_entry = 0
        if remittance.fx_entry_id is not None:
            fx_entry = reversal_post(
                entry_id=remittance.fx_entry_id,
                currency=remittance.receive_currency,
                transfer_id=transfer.id,
                key=f"reversal-fx:{transfer.id}",
                description=f"{description}: {remittance.receive_currency} leg",
                now=now,
            ).pk
    except LedgerError as exc:  # e.g. the partner's prefund account is frozen or closed
        raise RequestRefused(
            "reversal_not_posted",
            f"the ledger refused the reversal ({exc}): nothing was changed",
            details={"remittance_id": str(remittance.id)},
        ) from exc
    return entry.pk, fx_entry


def _approve(reversal_id: int, actor: str, note: str, now: datetime) -> ReversalDecision:
    with transaction.atomic():
        row = _locked_request(reversal_id)
        if row.state == ReversalState.APPROVED:
            return ReversalDecision(row, changed=False)
        if row.state != ReversalState.PENDING:
            raise ReversalDecided(
                f"this reversal request was already {row.state.lower()}",
                details={"reversal_id": row.pk, "state": row.state},
            )
        _not_own(row, actor)
        remittance = Remittance.objects.get(pk=row.remittance_id)
        if remittance.state != RemittanceState.COMPLETED or remittance.transfer_id is None:
            raise _not_reversible(remittance)
        transfer = momo_transfer_lock(transfer_id=remittance.transfer_id)
        if transfer.status != TransferStatus.SUCCEEDED or transfer.entry_id is None:
            raise _not_reversible(remittance)
        entry_id, fx_entry_id = _post_reversal(remittance, transfer, now)
        if not transfer_reverse(transfer_id=transfer.id, reversal_entry_id=entry_id, now=now):
            raise _not_reversible(remittance)
        locked = Remittance.objects.select_for_update(of=("self",)).get(pk=remittance.pk)
        if locked.state != RemittanceState.COMPLETED:
            raise _not_reversible(locked)
        remittance_transition(
            locked,
            state=RemittanceState.REVERSED,
            now=now,
            reason_code=row.reason_code,
            changes={"fx_reversal_entry_id": fx_entry_id} if fx_entry_id else None,
        )
        row.state = ReversalState.APPROVED
        row.decided_by = actor
        row.decided_at = now
        row.decision_note = note
        row.save(update_fields=["state", "decided_by", "decided_at", "decision_note"])
        audit_record(
            actor=actor,
            action="remittance.reversal_approved",
            object_type="remittance.reversal",
            object_id=str(row.pk),
            data={
                **_audit_data(row, locked),
                "reversal_entry": entry_id,
                "fx_reversal_entry": fx_entry_id or None,
                "note": note,
            },
            now=now,
        )
        payment_audit(
            transfer,
            now,
            actor=actor,
            data={"reversal_entry": entry_id, "reversal_request": row.pk},
            status=TransferStatus.REVERSED,
        )
    logger.info(
        "remittance reversed",
        extra={"remittance_id": str(remittance.id), "reversal": row.pk, "entry": entry_id},
    )
    return ReversalDecision(row, changed=True)


def remittance_reversal_approve(
    *, reversal_id: int, actor: str, now: datetime, note: str = ""
) -> ReversalDecision:
    """Approve another person's reversal request: the remittance is reversed at once (the
    module docstring). Refused for its requester; an approved request is returned as it
    is. A request whose remittance can no longer be reversed stays pending (reject it)."""
    text = _text(note, "note", required=False)
    return retry_transient(lambda: _approve(reversal_id, actor, text, now))


def remittance_reversal_reject(
    *, reversal_id: int, actor: str, note: str, now: datetime
) -> ReversalDecision:
    """Reject another person's reversal request, with a note: nothing moves. Audited."""
    text = _text(note, "note", required=True)
    with transaction.atomic():
        row = _locked_request(reversal_id)
        if row.state == ReversalState.REJECTED:
            return ReversalDecision(row, changed=False)
        if row.state != ReversalState.PENDING:
            raise ReversalDecided(
                f"this reversal request was already {row.state.lower()}",
                details={"reversal_id": row.pk, "state": row.state},
            )
        _not_own(row, actor)
        row.state = ReversalState.REJECTED
        row.decided_by = actor
        row.decided_at = now
        row.decision_note = text
        row.save(update_fields=["state", "decided_by", "decided_at", "decision_note"])
        remittance = Remittance.objects.get(pk=row.remittance_id)
        audit_record(
            actor=actor,
            action="remittance.reversal_rejected",
            object_type="remittance.reversal",
            object_id=str(row.pk),
            data={**_audit_data(row, remittance), "note": text},
            now=now,
        )
    return ReversalDecision(row, changed=True)


# --- reads for the staff pages ---------------------------------------------------------------


@dataclass(frozen=True)
class TimelineStep:
    occurred_at: datetime
    previous_state: str | None
    state: str
    version: int
    reason_code: str | None


@dataclass(frozen=True)
class RemittanceStaffView:
    """A remittance as LightWay staff see it: the partner's view (beneficiary masked), the
    state timeline from its partner events, its transfer, its MoMo request and its reversal
    requests (newest first)."""

    view: RemittanceView
    partner_code: str
    timeline: list[TimelineStep]
    transfer: Transfer | None
    momo: MomoRequest | None
    reversals: list[RemittanceReversal]

    @property
    def remittance(self) -> Remittance:
        return self.view.remittance

    @property
    def amounts(self) -> dict[str, str]:
        """The remittance's amounts for people ("USD 25.00", "UGX 91,575")."""
        r = self.remittance
        return {
            "send": money_text(r.send_amount, r.send_currency),
            "fee": money_text(r.fee, r.send_currency),
            "total": money_text(r.send_amount + r.fee, r.send_currency),
            "receive": money_text(r.receive_amount, r.receive_currency),
        }

    @property
    def reversible(self) -> bool:
        """COMPLETED, with no request waiting: a reversal may be asked for."""
        return self.remittance.state == RemittanceState.COMPLETED and not any(
            r.state == ReversalState.PENDING for r in self.reversals
        )


def remittance_staff_detail(*, remittance_id: uuid.UUID) -> RemittanceStaffView:
    remittance = remittance_get(remittance_id=remittance_id)
    if remittance is None:
        raise NotFound("no such remittance", details={"remittance_id": str(remittance_id)})
    events = partner_events_of_object(
        object_type="remittance", object_id=str(remittance.id), limit=TIMELINE_MAX
    )
    transfer = (
        Transfer.objects.filter(pk=remittance.transfer_id).first()
        if remittance.transfer_id
        else None
    )
    return RemittanceStaffView(
        view=remittance_view(remittance),
        partner_code=remittance.partner.code,
        timeline=[
            TimelineStep(
                occurred_at=e.occurred_at,
                previous_state=e.data.get("previous_state"),
                state=str(e.data.get("state", "")),
                version=int(e.data.get("version", 0)),
                reason_code=e.data.get("reason_code"),
            )
            for e in events
        ],
        transfer=transfer,
        momo=momo_request_of_transfer(transfer_id=transfer.id) if transfer else None,
        reversals=remittance_reversals_of(remittance_id=remittance.id),
    )


def remittance_staff_find(*, query: str) -> uuid.UUID:
    """A remittance's id from what staff type: its id, or ``<partner code>/<external id>``
    (the partner's own reference)."""
    text = (query or "").strip()
    try:
        wanted = uuid.UUID(text)
    except ValueError:
        code, _, external_id = text.partition("/")
        found = (
            remittance_by_partner_reference(partner_code=code, external_id=external_id)
            if code and external_id
            else None
        )
        if found is None:
            raise NotFound(
                "No remittance has that id, or that partner code / external id.",
                details={"field": "q"},
            ) from None
        return found.id
    if remittance_get(remittance_id=wanted) is None:
        raise NotFound("No remittance has that id.", details={"field": "q"})
    return wanted


def remittance_reversals_waiting() -> list[RemittanceReversal]:
    """The reversal requests waiting for a decision, oldest first (at most 100)."""
    return remittance_reversals_pending(limit=PENDING_PAGE)
