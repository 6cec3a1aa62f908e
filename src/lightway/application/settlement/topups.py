"""Partner top-ups and the bank's camt.054 notifications (docs/settlement.md, "Top-ups").

A partner prefunds by transferring money to LightWay's settlement account, quoting
``TOPUP <partner code>`` as the remittance information. LightWay Finance's bank reports the
booking as a camt.054 credit notification; :func:`notifications_fetch` reads new ones for
each of LightWay's accounts (cursor: the last stored notification), keeps each document as
received (validated against its XSD), and credits every booked credit that names a partner
with :func:`partner_topup_record`: the partner's prefund is credited from the settlement
bank account exactly once (the bank's AcctSvcrRef is unique, and so is the entry's key).
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime

from django.db import IntegrityError, transaction

from lightway.application.errors import Conflict, NotFound, ValidationFailed
from lightway.application.settlement.config import (
    markets,
    settlement_configured,
    settlement_gateway,
)
from lightway.data.audit.services import audit_record
from lightway.data.identity.models import Partner
from lightway.data.ledger.models import Account, AccountKind
from lightway.data.ledger.services import Leg, account_open, entry_post, house_account_id
from lightway.data.money import MoneyError, currency
from lightway.data.settlement.models import LIGHTWAY, BankNotification, SettlementParty, Topup
from lightway.integration.settlement import iso20022 as iso
from lightway.integration.settlement.port import SettlementError

logger = logging.getLogger("lightway.settlement")

TOPUP_KIND = "topup"  # the journal entry kind (data/ledger/kinds.py)
_TOPUP_REF = re.compile(r"\bTOPUP[\s:/-]+([A-Za-z0-9_-]{1,40})\b", re.IGNORECASE)
_BANK_REF = re.compile(r"^[A-Za-z0-9/\-?:().,'+ ]{1,35}$")


def _prefund_account(partner_code: str, code: str, now: datetime) -> Account:
    """The partner's prefund account (the same one the MoMo flows hold and debit)."""
    found = Account.objects.filter(
        kind=AccountKind.IMTO_PREFUND, owner_ref=partner_code, currency=code
    ).first()
    if found is not None:
        return found
    return account_open(
        code=f"prefund:{partner_code}:{code}",
        kind=AccountKind.IMTO_PREFUND,
        currency=code,
        owner_ref=partner_code,
        now=now,
    )


def partner_topup_record(
    *,
    partner_code: str,
    currency_code: str,
    amount_minor: int,
    bank_reference: str,
    booked_on: date,
    actor: str,
    now: datetime,
    end_to_end_id: str = "",
    notification_id: int | None = None,
) -> tuple[Topup, bool]:
    """Credit a partner's prefund with a confirmed incoming transfer, once per bank
    reference. Returns (top-up, created); the same reference again returns the first
    top-up, with another amount, partner or currency it is a Conflict."""
    try:
        code = currency(currency_code).code
    except MoneyError:
        raise ValidationFailed("unknown currency", details={"field": "currency"}) from None
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise ValidationFailed("amount must be a positive whole number of minor units")
    if not _BANK_REF.match(bank_reference or ""):
        raise ValidationFailed("bank_reference: 1 to 35 characters", details={"field": "ref"})
    existing = Topup.objects.filter(bank_reference=bank_reference).first()
    if existing is not None:
        return _same(existing, partner_code, code, amount_minor), False
    if not Partner.objects.filter(code=partner_code).exists():
        raise NotFound(f"no partner {partner_code!r}", details={"partner": partner_code})
    try:
        with transaction.atomic():
            prefund = _prefund_account(partner_code, code, now)
            bank = house_account_id(kind=AccountKind.SETTLEMENT_BANK, currency=code, now=now)
            entry = entry_post(
                kind=TOPUP_KIND,
                currency=code,
                legs=[Leg(bank, -amount_minor, "bank"), Leg(prefund.pk, amount_minor, "topup")],
                now=now,
                idempotency_key=f"topup:{bank_reference}",
                reference=bank_reference,
                description=f"top-up {partner_code}",
            )
            topup = Topup.objects.create(
                partner_code=partner_code,
                currency=code,
                amount=amount_minor,
                bank_reference=bank_reference,
                end_to_end_id=end_to_end_id[:35],
                booked_on=booked_on,
                notification_id=notification_id,
                entry_id=entry.pk,
                recorded_by=actor[:64],
                created_at=now,
            )
            audit_record(
                actor=actor,
                action="settlement.topup",
                object_type="settlement_topup",
                object_id=bank_reference,
                data={"partner": partner_code, "currency": code, "amount": amount_minor},
                now=now,
            )
    except IntegrityError:
        # the same reference recorded concurrently: the unique index let one commit
        existing = Topup.objects.filter(bank_reference=bank_reference).first()
        if existing is None:
            raise
        return _same(existing, partner_code, code, amount_minor), False
    logger.info(
        "partner top-up credited",
        extra={"partner": partner_code, "currency": code, "topup": topup.pk},
    )
    return topup, True


def _same(topup: Topup, partner_code: str, code: str, amount: int) -> Topup:
    if (topup.partner_code, topup.currency, topup.amount) != (partner_code, code, amount):
        raise Conflict(
            f"bank reference {topup.bank_reference} was already recorded for another top-up",
            details={"topup": topup.pk},
        )
    return topup


def topup_partner_of(entry: iso.BankEntry) -> str | None:
    """The partner a booked credit names (``TOPUP <code>``), if it is one."""
    if not entry.credit or entry.status != "BOOK":
        return None
    match = _TOPUP_REF.search(entry.remittance_info)
    return match.group(1).lower() if match else None


def notification_import(
    *, account: str, notification_id: str, xml: str, now: datetime
) -> tuple[BankNotification, list[Topup]]:
    """Keep one camt.054 as received and credit the top-ups it reports (idempotent)."""
    try:
        report = iso.report_read(xml, expect=frozenset({iso.CAMT_054}))
    except iso.IsoInvalid as exc:
        raise ValidationFailed(f"camt.054 refused: {exc}") from None
    with transaction.atomic():
        stored, _created = BankNotification.objects.get_or_create(
            account=account,
            notification_id=notification_id,
            defaults={
                "msg_id": report.msg_id[:35],
                "xml": xml,
                "entries": len(report.entries),
                "received_at": now,
            },
        )
    topups: list[Topup] = []
    for entry in report.entries:
        partner = topup_partner_of(entry)
        if partner is None or not entry.acct_svcr_ref:
            continue
        if not Partner.objects.filter(code=partner).exists():
            logger.warning("top-up for an unknown partner", extra={"ref": entry.acct_svcr_ref})
            continue
        topup, _ = partner_topup_record(
            partner_code=partner,
            currency_code=entry.currency,
            amount_minor=entry.amount_minor,
            bank_reference=entry.acct_svcr_ref,
            booked_on=entry.booking_date or now.date(),
            end_to_end_id=entry.end_to_end_id,
            notification_id=stored.pk,
            actor="system:camt054",
            now=now,
        )
        topups.append(topup)
    return stored, topups


def notifications_fetch(*, now: datetime) -> int:
    """Read new camt.054 notifications of LightWay's settlement accounts; returns how many."""
    if not settlement_configured():
        return 0
    count = 0
    for party in SettlementParty.objects.filter(counterparty=LIGHTWAY, currency__in=markets()):
        last = (
            BankNotification.objects.filter(account=party.account)
            .order_by("-id")
            .values_list("notification_id", flat=True)
            .first()
        )
        try:
            items, _next = settlement_gateway().notifications(
                account=party.account, after=last or ""
            )
        except SettlementError as exc:
            logger.warning("settlement notifications unavailable", extra={"error": str(exc)})
            continue
        for item in items:
            notification_import(
                account=party.account, notification_id=item.id, xml=item.xml, now=now
            )
            count += 1
    return count
