"""A customer as the back office sees them: wallets and balances, devices, recent history
(keyset pages), and the code resend (a single audited action).

Every read here is bounded: the wallets of one customer (one per currency), the history
from the transfer indexes that lead with the customer or the wallet, counts of one user's
devices."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import QuerySet

from lightway.application.backoffice.actions import ActionView, actions_of
from lightway.application.backoffice.notes import NoteView, support_notes_of
from lightway.application.identity.pii import customer_get
from lightway.application.onboarding.registration import phone_code_resend
from lightway.application.reports.cells import money_text
from lightway.data.audit.services import audit_record
from lightway.data.ledger.models import AccountStatus
from lightway.data.wallets.models import Transfer, Wallet
from lightway.security.apiauth.models import Device
from lightway.security.mfa.models import PasskeyCredential, TotpDevice

HISTORY_PAGE = 25
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"^(\d{1,17})\.([0-9a-f-]{36})$")


@dataclass(frozen=True)
class WalletRow:
    id: uuid.UUID
    currency: str
    account_id: int
    status: str
    balance: str
    held: str
    available: str

    @property
    def frozen(self) -> bool:
        return self.status == AccountStatus.FROZEN


@dataclass(frozen=True)
class DeviceCounts:
    devices: int  # app installs signed in, not revoked
    live_sessions: int  # of those, with a live API session
    totp: bool
    passkeys: int


@dataclass(frozen=True)
class HistoryRow:
    id: uuid.UUID
    kind: str
    kind_label: str
    status: str
    direction: str  # "out" (the customer paid) or "in"
    amount: str
    fee: str
    created_at: datetime


@dataclass(frozen=True)
class HistoryPage:
    rows: list[HistoryRow]
    next_cursor: str  # "" on the last page
    first: bool


def customer_wallets(*, customer_id: int) -> list[WalletRow]:
    """The customer's wallets with their ledger account's balance, hold and status."""
    wallets = (
        Wallet.objects.filter(owner_id=customer_id).select_related("account").order_by("currency")
    )
    return [
        WalletRow(
            id=w.id,
            currency=w.currency,
            account_id=w.account_id,
            status=w.account.status,
            balance=money_text(w.account.balance, w.currency),
            held=money_text(w.account.held, w.currency),
            available=money_text(w.account.balance - w.account.held, w.currency),
        )
        for w in wallets
    ]


def customer_devices(*, customer_id: int) -> DeviceCounts:
    devices = Device.objects.filter(user_id=customer_id, revoked_at__isnull=True)
    return DeviceCounts(
        devices=devices.count(),
        live_sessions=devices.filter(session_family__isnull=False).count(),
        totp=TotpDevice.objects.filter(user_id=customer_id, confirmed=True).exists(),
        passkeys=PasskeyCredential.objects.filter(user_id=customer_id).count(),
    )


def cursor_text(created_at: datetime, transfer_id: uuid.UUID) -> str:
    """The position just after a transfer, for the next (older) page."""
    delta = created_at - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return f"{micros}.{transfer_id}"


def cursor_parse(text: str) -> tuple[datetime, uuid.UUID] | None:
    match = _CURSOR.match((text or "").strip().lower())
    if match is None:
        return None
    try:
        return _EPOCH + timedelta(microseconds=int(match.group(1))), uuid.UUID(match.group(2))
    except (OverflowError, ValueError):
        return None


def older_than(
    rows: QuerySet[Transfer], position: tuple[datetime, uuid.UUID] | None
) -> QuerySet[Transfer]:
    """``rows`` strictly after ``position`` in newest-first order (keyset, no OFFSET): a
    row comparison, which an index on ``(created_at, id)`` serves as a range."""
    if position is None:
        return rows
    at, pk = position
    # The first condition is implied by the second; it is there for the indexes that hold
    # created_at but not id after their leading column (status, customer, wallet): they
    # can start the range at the cursor instead of filtering every newer row.
    return rows.extra(
        where=[
            "wallets_transfer.created_at <= %s",
            "(wallets_transfer.created_at, wallets_transfer.id) < (%s, %s)",
        ],
        params=[at, at, pk],
    )


def customer_history(*, customer_id: int, before: str = "") -> HistoryPage:
    """The customer's transfers newest first, ``HISTORY_PAGE`` a page: those they made and
    those paid into one of their wallets. Each side is read from its own index
    (``transfer_client_recent``; ``transfer_incoming_recent`` per wallet), at most a page
    and one from each, then merged (the pattern of ``transfers_recent_of``)."""
    position = cursor_parse(before) if before else None
    newest = older_than(Transfer.objects.all(), position).order_by("-created_at", "-id")
    wanted = HISTORY_PAGE + 1
    found = set(newest.filter(client_id=customer_id).values_list("created_at", "id")[:wanted])
    wallet_ids = list(Wallet.objects.filter(owner_id=customer_id).values_list("id", flat=True))
    for wallet_id in wallet_ids:
        incoming = newest.filter(destination_wallet_id=wallet_id)
        found.update(incoming.values_list("created_at", "id")[:wanted])
    keys = sorted(found, reverse=True)[:wanted]
    keep = [pk for _, pk in keys[:HISTORY_PAGE]]
    rows = {t.id: t for t in Transfer.objects.filter(id__in=keep)}
    out = []
    for pk in keep:
        t = rows[pk]
        direction = "out" if t.client_id == customer_id else "in"
        out.append(
            HistoryRow(
                id=t.id,
                kind=t.kind,
                kind_label=t.get_kind_display(),
                status=t.status,
                direction=direction,
                amount=money_text(t.amount, t.currency),
                fee=money_text(t.fee, t.currency),
                created_at=t.created_at,
            )
        )
    more = len(keys) > HISTORY_PAGE
    return HistoryPage(
        rows=out,
        next_cursor=cursor_text(*keys[HISTORY_PAGE - 1]) if more else "",
        first=position is None,
    )


def customer_code_resend(*, subject: str, actor_id: int, now: datetime) -> None:
    """Text the customer a new phone verification code (the customer's own resend rules
    and SMS limits apply; the staff member counts as the client). Audited
    ``backoffice.code_resend`` with the staff member."""
    customer = customer_get(subject=subject)
    phone_code_resend(user_id=customer.user_id, client=f"staff:{actor_id}", now=now)
    with transaction.atomic():
        audit_record(
            actor=f"staff:{actor_id}",
            action="backoffice.code_resend",
            object_type="identity.profile",
            object_id=customer.subject,
            data={},
            now=now,
        )


@dataclass(frozen=True)
class CustomerOverview:
    wallets: list[WalletRow]
    devices: DeviceCounts
    history: HistoryPage
    notes: list[NoteView]
    actions: list[ActionView]

    @property
    def frozen(self) -> bool:
        return any(w.frozen for w in self.wallets)


def customer_overview(*, customer_id: int, before: str = "") -> CustomerOverview:
    """Everything the customer page shows beside the profile: wallets and balances, devices,
    a page of history, the support notes and the back-office requests."""
    return CustomerOverview(
        wallets=customer_wallets(customer_id=customer_id),
        devices=customer_devices(customer_id=customer_id),
        history=customer_history(customer_id=customer_id, before=before),
        notes=support_notes_of(customer_id=customer_id),
        actions=actions_of(customer_id=customer_id),
    )
