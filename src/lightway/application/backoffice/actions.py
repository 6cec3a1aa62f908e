"""Maker-checker actions of the back office: one member of staff proposes with a reason, a
different one approves (the action is carried out in the approving transaction) or rejects.

Kinds (``lightway.data.backoffice.models.ActionKind``):

- ``wallets_freeze`` / ``wallets_unfreeze``: every wallet of the customer, through the
  ledger account status (``application/transactions/accounts.py``): a frozen wallet
  neither pays nor is paid (refused where payments are validated, and by the posting
  trigger);
- ``mfa_reset``: the customer's authenticator app, backup codes and passkeys removed
  (``second_factor_remove_all``, as for staff resets);
- ``transfer_retry``: for a MoMo-routed payment whose outcome is still unknown (its MoMo
  request not final, or flagged for review): its status is read at MoMo again
  (``momo_poll``; a request never accepted is submitted again with its *same*
  X-Reference-Id, which MoMo deduplicates). Never a new payment. The read happens after the
  approval commits (no transaction is held across the HTTP call) and its outcome is
  audited as ``backoffice.transfer_retry.done``;
- ``transfer_reverse``: a succeeded wallet-to-wallet payment or MoMo deposit, through the
  payment skeleton's ``payment_reverse`` (the mirror entry, ``succeeded -> reversed``).
  A remittance has its own maker-checker reversal (``/staff/remittances/``);
- ``limit_override``: new limits for one of the customer's currencies
  (``application/backoffice/limits.py`` validates the proposal, kept in ``params``). The
  approved request is the override: ``payments_limits_lookup`` applies it from its decision
  until its expiry. An override whose expiry passed before anyone approved it is refused.

The database refuses a decision by the requester (``backoffice_action_guard``); the
services refuse it first with a clear message. Each step is audited:
``backoffice.action.requested`` / ``.approved`` / ``.rejected``.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from lightway.application.authentication.mfa_reset import second_factor_remove_all
from lightway.application.errors import Conflict, NotFound, RequestRefused, ValidationFailed
from lightway.application.identity.pii import customer_get
from lightway.application.momo.status import momo_poll
from lightway.application.payments.skeleton import payment_reverse
from lightway.application.reasons import reason_clean
from lightway.application.transactions.accounts import account_freeze, account_unfreeze
from lightway.data.audit.services import audit_record
from lightway.data.backoffice.models import (
    CUSTOMER_KINDS,
    ActionKind,
    ActionRequest,
    ActionState,
)
from lightway.data.ledger.errors import LedgerError
from lightway.data.momo.models import MomoRequest
from lightway.data.wallets.models import Transfer, TransferKind, TransferStatus, Wallet
from lightway.infrastructure.db import retry_transient

log = logging.getLogger(__name__)

PENDING_SHOWN = 100
REVERSIBLE_KINDS = frozenset({TransferKind.P2P, TransferKind.DEPOSIT})
RETRYABLE_KINDS = frozenset(
    {TransferKind.DEPOSIT, TransferKind.WITHDRAWAL, TransferKind.PAYOUT, TransferKind.REMITTANCE}
)


class ActionPending(Conflict):
    code = "action_pending"


class ActionDecided(Conflict):
    code = "action_decided"


@dataclass(frozen=True)
class ActionView:
    id: int
    kind: str
    kind_label: str
    state: str
    state_label: str
    subject: str  # the customer's subject, or ""
    transfer_id: uuid.UUID | None
    reason: str
    requested_by_id: int
    requested_by: str
    requested_at: datetime
    decided_by: str
    decided_at: datetime | None
    decision_note: str
    result: dict[str, object]
    summary: str = ""  # what a limit override asks for, in one line


def _actor(user_id: int) -> str:
    return f"staff:{user_id}"


def _object(row: ActionRequest, subject: str = "") -> tuple[str, str]:
    if row.transfer_id is not None:
        return "transfer", str(row.transfer_id)
    return "identity.profile", subject


# --- what may be asked -----------------------------------------------------------------------


def _transfer_refusal(kind: str, transfer: Transfer) -> str:
    """Why ``kind`` cannot be asked for this transfer ("" when it can)."""
    if kind == ActionKind.TRANSFER_REVERSE:
        if transfer.kind == TransferKind.REMITTANCE:
            return "a remittance is reversed from its own page under Remittances"
        if transfer.kind not in REVERSIBLE_KINDS:
            return (
                f"a {transfer.get_kind_display().lower()} cannot be reversed here: only a"
                " wallet-to-wallet payment or a MoMo deposit"
            )
        if transfer.status != TransferStatus.SUCCEEDED or transfer.entry_id is None:
            return f"only a succeeded payment can be reversed: this one is {transfer.status}"
        return ""
    if transfer.kind not in RETRYABLE_KINDS:
        return "only a MoMo payment has an outcome to read again"
    momo = MomoRequest.objects.filter(transfer_id=transfer.id).first()
    if momo is None:
        return "this payment has no MoMo request"
    if momo.terminal and not momo.needs_review:
        return (
            f"MoMo's outcome is known ({momo.status}): nothing to retry; a new payment is the"
            " customer's to make"
        )
    return ""


def action_request(
    *,
    kind: str,
    reason: str,
    actor_id: int,
    now: datetime,
    subject: str = "",
    transfer_id: uuid.UUID | None = None,
    params: dict[str, object] | None = None,
) -> ActionRequest:
    """Propose ``kind`` for the customer ``subject`` or the transfer ``transfer_id``, with
    a reason (10 to 300 characters). Another person decides. Audited. ``params``: what a
    limit override asks for (``limits.limit_override_request`` builds and checks it)."""
    if kind not in ActionKind.values:
        raise ValidationFailed("Choose an action.", details={"field": "kind"})
    if (kind == ActionKind.LIMIT_OVERRIDE) != (params is not None):
        raise ValidationFailed(
            "a limit override is asked for with its limits (and only it)",
            details={"field": "kind"},
        )
    text = reason_clean(reason, purpose="why")
    fields: dict[str, object] = {}
    if kind in CUSTOMER_KINDS:
        customer = customer_get(subject=subject)
        if (
            kind in (ActionKind.WALLETS_FREEZE, ActionKind.WALLETS_UNFREEZE)
            and not Wallet.objects.filter(owner_id=customer.user_id).exists()
        ):
            raise RequestRefused("no_wallets", "this customer has no wallet yet")
        fields["customer_id"] = customer.user_id
        object_type, object_id = "identity.profile", customer.subject
    else:
        transfer = Transfer.objects.filter(pk=transfer_id).first() if transfer_id else None
        if transfer is None:
            raise NotFound("no such payment", details={"transfer_id": str(transfer_id)})
        refusal = _transfer_refusal(kind, transfer)
        if refusal:
            raise RequestRefused("not_allowed", refusal, details={"transfer_id": str(transfer.id)})
        fields["transfer_id"] = transfer.id
        object_type, object_id = "transfer", str(transfer.id)
    try:
        with transaction.atomic():
            row = ActionRequest.objects.create(
                kind=kind,
                reason=text,
                requested_by_id=actor_id,
                requested_at=now,
                params=params or {},
                **fields,
            )
            audit_record(
                actor=_actor(actor_id),
                action="backoffice.action.requested",
                object_type=object_type,
                object_id=object_id,
                data={
                    "request": row.pk,
                    "kind": kind,
                    "reason": text,
                    **({"params": params} if params else {}),
                },
                now=now,
            )
    except IntegrityError:
        raise ActionPending(
            "the same action is already waiting for a decision", details={"kind": kind}
        ) from None
    log.info("back-office action requested", extra={"request": row.pk, "kind": kind})
    return row


# --- decisions -------------------------------------------------------------------------------


def _locked(request_id: int, actor_id: int) -> ActionRequest:
    row = ActionRequest.objects.select_for_update().filter(pk=request_id).first()
    if row is None:
        raise NotFound("no such action request", details={"request_id": request_id})
    if row.state != ActionState.PENDING:
        raise ActionDecided(
            f"this request was already {row.state}", details={"request_id": request_id}
        )
    if row.requested_by_id == actor_id:
        raise RequestRefused(
            "self_approval",
            "you asked for this: another person must approve or reject it",
            details={"request_id": request_id},
        )
    return row


def _subject_of(row: ActionRequest) -> str:
    if row.customer_id is None:
        return ""
    from lightway.data.identity.models import Profile

    return str(
        Profile.objects.filter(user_id=row.customer_id).values_list("subject", flat=True).first()
        or ""
    )


def _carry_out(row: ActionRequest, actor: str, now: datetime) -> dict[str, object]:
    """Do the approved action, in the approving transaction; what was done."""
    kind = row.kind
    if kind in (ActionKind.WALLETS_FREEZE, ActionKind.WALLETS_UNFREEZE):
        ids = list(
            Wallet.objects.filter(owner_id=row.customer_id).values_list("account_id", flat=True)
        )
        change = account_freeze if kind == ActionKind.WALLETS_FREEZE else account_unfreeze
        done = change(
            account_ids=ids, reason=f"request {row.pk}: {row.reason}", actor=actor, now=now
        )
        return {"changed": list(done.changed), "unchanged": list(done.unchanged)}
    if kind == ActionKind.MFA_RESET:
        return {"removed": second_factor_remove_all(user_id=int(row.customer_id or 0))}
    if kind == ActionKind.LIMIT_OVERRIDE:
        expires = (row.params or {}).get("expires_at")
        if expires and datetime.fromisoformat(str(expires)) <= now:
            raise RequestRefused(
                "expired",
                "this limit override expired before it was approved: reject it and ask again",
                details={"request_id": row.pk},
            )
        return {"effective_from": now.isoformat(), "currency": row.params.get("currency")}
    transfer = Transfer.objects.select_for_update().get(pk=str(row.transfer_id))
    refusal = _transfer_refusal(kind, transfer)
    if refusal:
        raise RequestRefused("not_allowed", refusal, details={"request_id": row.pk})
    if kind == ActionKind.TRANSFER_REVERSE:
        try:
            entry_id = payment_reverse(
                transfer, now, actor=actor, data={"backoffice_request": row.pk}
            )
        except LedgerError as exc:
            raise RequestRefused(
                "reversal_not_posted",
                f"the ledger refused the reversal ({exc}): nothing was changed",
                details={"request_id": row.pk},
            ) from exc
        return {"reversal_entry": entry_id}
    return {"status_read": "after approval"}


def _approve(request_id: int, actor_id: int, note: str, now: datetime) -> ActionRequest:
    actor = _actor(actor_id)
    with transaction.atomic():
        row = _locked(request_id, actor_id)
        result = _carry_out(row, actor, now)
        row.state = ActionState.APPROVED
        row.decided_by_id = actor_id
        row.decided_at = now
        row.decision_note = note
        row.result = result
        row.save(update_fields=["state", "decided_by", "decided_at", "decision_note", "result"])
        object_type, object_id = _object(row, _subject_of(row))
        audit_record(
            actor=actor,
            action="backoffice.action.approved",
            object_type=object_type,
            object_id=object_id,
            data={
                "request": row.pk,
                "kind": row.kind,
                "requested_by": _actor(row.requested_by_id),
                "note": note,
                "result": result,
            },
            now=now,
        )
    return row


def _note(note: str, *, required: bool) -> str:
    text = " ".join((note or "").split())
    if not text and not required:
        return ""
    return reason_clean(text, purpose="your decision")


def action_approve(*, request_id: int, actor_id: int, now: datetime, note: str = "") -> str:
    """Approve another person's request: it is carried out at once. Returns a sentence for
    the staff member. Refused for the requester (and by the database)."""
    text = _note(note, required=False)
    row = retry_transient(lambda: _approve(request_id, actor_id, text, now))
    if row.kind != ActionKind.TRANSFER_RETRY:
        return f"Approved: {row.get_kind_display().lower()} done."
    momo = MomoRequest.objects.filter(transfer_id=str(row.transfer_id)).first()
    outcome = momo_poll(request_id=momo.pk, now=now) if momo is not None else "skipped"
    with transaction.atomic():
        audit_record(
            actor=_actor(actor_id),
            action="backoffice.transfer_retry.done",
            object_type="transfer",
            object_id=str(row.transfer_id),
            data={"request": row.pk, "outcome": outcome},
            now=now,
        )
    return f"Approved: MoMo's status read again ({outcome})."


def action_reject(*, request_id: int, actor_id: int, note: str, now: datetime) -> ActionRequest:
    """Reject another person's request with a note (10 characters at least): nothing else
    changes. Audited."""
    text = _note(note, required=True)
    with transaction.atomic():
        row = _locked(request_id, actor_id)
        row.state = ActionState.REJECTED
        row.decided_by_id = actor_id
        row.decided_at = now
        row.decision_note = text
        row.save(update_fields=["state", "decided_by", "decided_at", "decision_note"])
        object_type, object_id = _object(row, _subject_of(row))
        audit_record(
            actor=_actor(actor_id),
            action="backoffice.action.rejected",
            object_type=object_type,
            object_id=object_id,
            data={"request": row.pk, "kind": row.kind, "note": text},
            now=now,
        )
    return row


# --- reads -----------------------------------------------------------------------------------


def _views(rows: list[ActionRequest]) -> list[ActionView]:
    from lightway.application.backoffice.limits import limit_override_summary
    from lightway.data.identity.models import Profile

    users = {r.requested_by_id for r in rows} | {r.decided_by_id for r in rows if r.decided_by_id}
    names = dict(get_user_model().objects.filter(pk__in=users).values_list("pk", "username"))
    customers = {r.customer_id for r in rows if r.customer_id}
    subjects = dict(Profile.objects.filter(user_id__in=customers).values_list("user_id", "subject"))
    states = dict(ActionState.choices)
    return [
        ActionView(
            id=r.pk,
            kind=r.kind,
            kind_label=r.get_kind_display(),
            state=r.state,
            state_label=str(states.get(r.state, r.state)),
            subject=str(subjects.get(r.customer_id, "")) if r.customer_id else "",
            transfer_id=r.transfer_id,
            reason=r.reason,
            requested_by_id=int(r.requested_by_id),
            requested_by=str(names.get(r.requested_by_id, r.requested_by_id)),
            requested_at=r.requested_at,
            decided_by=str(names.get(r.decided_by_id, "")) if r.decided_by_id else "",
            decided_at=r.decided_at,
            decision_note=r.decision_note,
            result=dict(r.result or {}),
            summary=(
                limit_override_summary(dict(r.params or {}))
                if r.kind == ActionKind.LIMIT_OVERRIDE
                else ""
            ),
        )
        for r in rows
    ]


def actions_pending() -> list[ActionView]:
    """Requests waiting for a decision, oldest first (at most ``PENDING_SHOWN``)."""
    rows = ActionRequest.objects.filter(state=ActionState.PENDING).order_by("requested_at", "id")
    return _views(list(rows[:PENDING_SHOWN]))


def actions_of(
    *, customer_id: int | None = None, transfer_id: uuid.UUID | None = None, limit: int = 20
) -> list[ActionView]:
    """The newest requests about one customer or one transfer, newest first."""
    rows = ActionRequest.objects.all()
    if customer_id is not None:
        rows = rows.filter(customer_id=customer_id)
    elif transfer_id is not None:
        rows = rows.filter(transfer_id=transfer_id)
    else:
        return []
    return _views(list(rows.order_by("-requested_at", "-id")[:limit]))
