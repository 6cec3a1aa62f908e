"""The fee of a partner's remittance: the commission fee schedules of kind ``remittance``
in the send currency, split per the schedule (a ``partner`` split goes to that partner's
commission payable). The quote prices it; the confirm checks the schedule still says the
same; the MoMo outcome writes the commission records with the schedule of the confirm."""

from __future__ import annotations

from datetime import datetime

from lightway.application.transactions.commission import FeeQuote, fee_quote
from lightway.data.commission.models import TransactionKind
from lightway.data.money import Money

FEE_KIND = TransactionKind.REMITTANCE


def remittance_fee(*, partner_code: str, send: Money, now: datetime) -> FeeQuote:
    return fee_quote(kind=FEE_KIND, amount=send, partner_ref=partner_code, now=now)
