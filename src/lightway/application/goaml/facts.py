"""The platform facts a goAML report is built from: transfers, their wallets, the holders'
KYC data (decrypted through the identity services) and the partners.

Reads only. Loading is done per batch with one query per table (transfers, wallets,
profiles, partners), never per transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from lightway.application.goaml.build import Person, Side, Txn
from lightway.application.identity.profiles import profile_pii
from lightway.data.identity.models import Partner, Profile
from lightway.data.wallets.models import Transfer, TransferKind, TransferStatus, Wallet

# What a regulator sees as a movement of funds: not the internal exchange between one
# customer's own wallets, nor a reversal (the reversed transfer itself is reported).
REPORTABLE_KINDS = (
    TransferKind.P2P,
    TransferKind.DEPOSIT,
    TransferKind.WITHDRAWAL,
    TransferKind.PAYOUT,
    TransferKind.REMITTANCE,
)
# Money that moved: succeeded, or succeeded and later reversed.
MOVED = (TransferStatus.SUCCEEDED, TransferStatus.REVERSED)
MOMO_OPERATOR = "MTN Mobile Money"


def period_bounds(*, start: date, end: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start 00:00, day after end 00:00) in the FIU's local time, as aware datetimes."""
    return (
        datetime.combine(start, time.min, tzinfo=tz),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz),
    )


def ctr_transfers(
    *, currency: str, threshold: int, start: datetime, end: datetime
) -> Iterator[Transfer]:
    """Moved transfers in ``currency`` at or above ``threshold`` minor units created in
    [start, end), oldest first (a range of the ``transfer_created`` index)."""
    return (
        Transfer.objects.filter(
            created_at__gte=start,
            created_at__lt=end,
            currency=currency,
            amount__gte=threshold,
            status__in=MOVED,
            kind__in=REPORTABLE_KINDS,
        )
        .order_by("created_at", "id")
        .iterator(chunk_size=1000)
    )


def transfers_by_id(ids: Sequence[uuid.UUID]) -> list[Transfer]:
    rows = {t.id: t for t in Transfer.objects.filter(id__in=list(ids))}
    missing = [str(i) for i in ids if i not in rows]
    if missing:
        from lightway.application.errors import NotFound

        raise NotFound(f"unknown transfer(s): {', '.join(missing[:10])}")
    return [rows[i] for i in ids]


def _person(profile: Profile | None) -> Person | None:
    if profile is None:
        return None
    pii = profile_pii(profile)
    birth: date | None = None
    if pii.birth_date:
        try:
            birth = date.fromisoformat(pii.birth_date[:10])
        except ValueError:
            birth = None
    return Person(
        full_name=pii.name or "",
        birth_date=birth,
        id_number=pii.id_number or "",
        phone=pii.phone or "",
        residence=(profile.country or "").upper(),
    )


def transactions_resolve(transfers: Iterable[Transfer]) -> list[Txn]:
    """The transfers as report transactions, both sides resolved (four queries a batch)."""
    transfers = list(transfers)
    wallet_ids = {w for t in transfers for w in (t.source_wallet_id, t.destination_wallet_id) if w}
    wallets = {w.id: w for w in Wallet.objects.filter(id__in=wallet_ids)}
    user_ids = {w.owner_id for w in wallets.values()} | {t.client_id for t in transfers}
    profiles = {p.user_id: p for p in Profile.objects.filter(user_id__in=user_ids)}
    partner_ids = {p.partner_id for p in profiles.values() if p.partner_id}
    partners = dict(Partner.objects.filter(id__in=partner_ids).values_list("id", "name"))
    people: dict[int, Person | None] = {}

    def person(user_id: int) -> Person | None:
        if user_id not in people:
            people[user_id] = _person(profiles.get(user_id))
        return people[user_id]

    def wallet_side(wallet_id: uuid.UUID) -> Side:
        wallet = wallets[wallet_id]
        holder = person(wallet.owner_id)
        return Side(
            kind="wallet",
            account=holder.phone if holder else str(wallet.id),
            currency=wallet.currency,
            holder=holder,
        )

    def outside(t: Transfer, own: Side) -> Side:
        if t.kind in (TransferKind.DEPOSIT, TransferKind.WITHDRAWAL):
            # The customer's own MoMo account: the same person and MSISDN at the operator.
            return Side(kind="momo", account=own.account, currency=t.currency, holder=own.holder)
        if t.kind == TransferKind.REMITTANCE:
            client = profiles.get(t.client_id)
            name = partners.get(client.partner_id) if client and client.partner_id else None
            return Side(kind="entity", entity_name=name or "Remittance partner")
        return Side(kind="entity", entity_name=MOMO_OPERATOR)

    out: list[Txn] = []
    for t in transfers:
        source = wallet_side(t.source_wallet_id) if t.source_wallet_id else None
        destination = wallet_side(t.destination_wallet_id) if t.destination_wallet_id else None
        if source is None and destination is not None:
            source = outside(t, destination)
        elif destination is None and source is not None:
            destination = outside(t, source)
        if source is None or destination is None:
            continue  # a transfer without any wallet is not a customer's movement
        out.append(
            Txn(
                number=str(t.id),
                kind=str(t.kind),
                description=t.description,
                at=t.created_at,
                amount=t.amount,
                currency=t.currency,
                source=source,
                destination=destination,
            )
        )
    return out
