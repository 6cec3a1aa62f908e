"""Ledger account status changes by staff: freeze and unfreeze, audited.

A frozen account neither sends nor receives: the posting trigger checks the status on the
row it locks for the balance update, so a freeze cannot race a payment. A closed account
stays closed (the database refuses to reopen it; these use cases refuse first, with a clear
message). Every interface that changes an account's status (today the admin's Freeze and
Unfreeze actions) goes through :func:`account_freeze` / :func:`account_unfreeze`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from lightway.application.errors import NotFound, ValidationFailed
from lightway.application.reasons import reason_clean
from lightway.data.audit.services import audit_record
from lightway.data.ledger.models import Account, AccountStatus
from lightway.data.ledger.services import account_set_status

log = logging.getLogger(__name__)

MAX_ACCOUNTS = 500  # one admin page's selection is far below this


@dataclass(frozen=True, slots=True)
class StatusChange:
    status: str  # the status asked for
    changed: tuple[int, ...]  # ids of the accounts moved to it (one audit record each)
    unchanged: tuple[int, ...]  # ids of the accounts that were in it already


def account_freeze(
    *, account_ids: Iterable[int], reason: str, actor: str, now: datetime
) -> StatusChange:
    """Freeze the accounts (active → frozen), audited as ``ledger.account.freeze``."""
    return _status_set(account_ids, AccountStatus.FROZEN, reason=reason, actor=actor, now=now)


def account_unfreeze(
    *, account_ids: Iterable[int], reason: str, actor: str, now: datetime
) -> StatusChange:
    """Unfreeze the accounts (frozen → active), audited as ``ledger.account.unfreeze``."""
    return _status_set(account_ids, AccountStatus.ACTIVE, reason=reason, actor=actor, now=now)


def _status_set(
    account_ids: Iterable[int], status: AccountStatus, *, reason: str, actor: str, now: datetime
) -> StatusChange:
    """Move every account to ``status`` in one transaction, or none of them.

    The accounts are locked in ascending id order, the order in which payments lock them
    (``entry_post`` inserts postings by account id), so a freeze and a payment cannot
    deadlock. A closed account, or an id that names no account, refuses the whole batch.
    Each account actually changed gets one audit record with the actor, the old and new
    status and the reason; an account already in ``status`` is left alone.
    """
    verb = "freeze" if status == AccountStatus.FROZEN else "unfreeze"
    reason = reason_clean(reason, purpose=f"why you {verb} these accounts")
    ids = sorted(set(account_ids))
    if not ids:
        raise ValidationFailed("choose at least one account", details={"field": "account_ids"})
    if len(ids) > MAX_ACCOUNTS:
        raise ValidationFailed(
            f"choose at most {MAX_ACCOUNTS} accounts at a time", details={"field": "account_ids"}
        )
    changed: list[int] = []
    unchanged: list[int] = []
    with transaction.atomic():
        accounts = list(Account.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
        missing = sorted(set(ids) - {a.pk for a in accounts})
        if missing:
            raise NotFound("no such account", details={"account_ids": missing})
        closed = [a.pk for a in accounts if a.status == AccountStatus.CLOSED]
        if closed:
            raise ValidationFailed(
                f"a closed account stays closed: account(s) {', '.join(map(str, closed))}; "
                "nothing was changed",
                details={"field": "account_ids", "closed": closed},
            )
        for account in accounts:
            if account.status == status:
                unchanged.append(account.pk)
                continue
            account_set_status(account_id=account.pk, status=status)
            audit_record(
                actor=actor,
                action=f"ledger.account.{verb}",
                object_type="ledger.account",
                object_id=str(account.pk),
                data={"from": account.status, "to": str(status), "reason": reason},
                now=now,
            )
            changed.append(account.pk)
    log.info(
        "ledger account status changed",
        extra={"status": str(status), "actor": actor, "changed": changed, "unchanged": unchanged},
    )
    return StatusChange(status=str(status), changed=tuple(changed), unchanged=tuple(unchanged))
