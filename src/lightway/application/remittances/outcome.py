"""What the MoMo layer calls about a partner remittance's payout, in its own transaction.

- ``remittance_payout_plan``: the ledger legs of a successful payout (``momo/apply.py``):
  in the send currency, the prefund's hold spent: send amount to the MoMo float (one
  currency) or to the FX position account (two currencies), the fee split per its
  schedule; for two currencies also the receive-currency legs (``application.fx.postings``:
  FX position -> MoMo float, the spread to FX revenue), posted as a second entry.
- ``remittance_on_submit``: the payout is about to be sent to MoMo for the first time
  (``momo/status.py``, the submit job's claim, with the MoMo request locked). CONFIRMED ->
  SUBMITTED, unless the partner has been suspended or closed meanwhile: then it is not sent
  (the request fails ``PARTNER_SUSPENDED``, the hold is voided, the remittance CANCELLED).
- ``remittance_on_success`` / ``remittance_on_failure``: MoMo's outcome (the request and
  transfer rows locked, the money moved or released): COMPLETED, or FAILED (CANCELLED for a
  cancel) with the daily usage given back. Each change records its partner event.

Lock order (all paths): MoMo request, transfer, prefund account, remittance, usage counter.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from lightway.application.fx.postings import fx_legs
from lightway.application.payments.skeleton import fee_legs
from lightway.application.remittances.limits import usage_day, usage_give_back
from lightway.application.remittances.pricing import FEE_KIND, remittance_fee
from lightway.application.remittances.states import remittance_transition
from lightway.application.transactions.commission import FeeQuote
from lightway.data.identity.models import Partner
from lightway.data.ledger.models import AccountKind
from lightway.data.ledger.services import Leg, house_account_id
from lightway.data.money import Money, currency
from lightway.data.remittances.models import Remittance, RemittanceState
from lightway.data.wallets.models import Transfer

logger = logging.getLogger("lightway.remittances")

# MoMo request failure codes that are ours, not MoMo's.
CANCELLED = "CANCELLED"
PARTNER_SUSPENDED = "PARTNER_SUSPENDED"


@dataclass(frozen=True)
class PayoutPlan:
    legs: list[Leg]  # in the transfer's (send) currency, the hold's entry
    fee_kind: str
    fee: FeeQuote
    fx_currency: str = ""
    fx_legs: tuple[Leg, ...] = ()  # the receive-currency entry, when two currencies


def _locked(transfer_id: uuid.UUID) -> Remittance | None:
    return (
        Remittance.objects.select_for_update(of=("self",))
        .select_related("partner")
        .filter(transfer_id=transfer_id)
        .first()
    )


def partner_may_transact(partner: Partner) -> bool:
    """Active: not suspended or closed (``Partner.status``, one field, one answer)."""
    return partner.is_active


def remittance_payout_plan(
    *, transfer: Transfer, product: str, held_account: int, now: datetime
) -> PayoutPlan | None:
    """The legs of a partner remittance's successful payout; None for a transfer no
    remittance owns (a payout started by ``remittance_payout_start``)."""
    remittance = (
        Remittance.objects.select_related("partner").filter(transfer_id=transfer.id).first()
    )
    if remittance is None:
        return None
    send = Money(remittance.send_amount, currency(remittance.send_currency))
    # Priced as at the confirm (the transfer's creation), which checked it is the quote's.
    quote = remittance_fee(partner_code=remittance.partner.code, send=send, now=transfer.created_at)
    code = send.currency.code
    fees = fee_legs(held_account, quote, code, now)
    if not remittance.cross_currency:
        float_id = house_account_id(
            kind=AccountKind.MOMO_FLOAT, currency=code, now=now, owner_ref=product
        )
        legs = [
            Leg(held_account, -send.amount, "principal"),
            Leg(float_id, send.amount, "principal"),
        ]
        return PayoutPlan(legs=[*legs, *fees], fee_kind=FEE_KIND, fee=quote)
    receive = Money(remittance.receive_amount, currency(remittance.receive_currency))
    float_id = house_account_id(
        kind=AccountKind.MOMO_FLOAT, currency=receive.currency.code, now=now, owner_ref=product
    )
    fx = fx_legs(
        send=send,
        receive=receive,
        spread=Money(remittance.spread, receive.currency),
        payer_account_id=held_account,
        payee_account_id=float_id,
        now=now,
    )
    return PayoutPlan(
        legs=[*fx.send_legs, *fees],
        fee_kind=FEE_KIND,
        fee=quote,
        fx_currency=fx.receive_currency,
        fx_legs=fx.receive_legs,
    )


def remittance_on_submit(*, transfer_id: uuid.UUID, now: datetime) -> bool:
    """The payout's first send to MoMo is about to happen: False to stop it (partner no
    longer allowed to transact); else CONFIRMED -> SUBMITTED (already SUBMITTED: nothing)."""
    remittance = _locked(transfer_id)
    if remittance is None or remittance.state != RemittanceState.CONFIRMED:
        return True
    if not partner_may_transact(remittance.partner):
        logger.info(
            "remittance not sent: partner suspended",
            extra={"remittance_id": str(remittance.id), "partner": remittance.partner_id},
        )
        return False
    remittance_transition(remittance, state=RemittanceState.SUBMITTED, now=now)
    return True


def remittance_on_success(
    *, transfer_id: uuid.UUID, fx_entry_id: int | None, now: datetime
) -> None:
    remittance = _locked(transfer_id)
    if remittance is None:
        return
    if remittance.state == RemittanceState.CONFIRMED:
        # Paid although the submit job never recorded the send (a callback first).
        remittance_transition(remittance, state=RemittanceState.SUBMITTED, now=now)
    changes = {"fx_entry_id": fx_entry_id} if fx_entry_id is not None else None
    remittance_transition(remittance, state=RemittanceState.COMPLETED, now=now, changes=changes)


def remittance_on_failure(*, transfer: Transfer, code: str, now: datetime) -> None:
    remittance = _locked(transfer.id)
    if remittance is None:
        return
    if remittance.state == RemittanceState.CONFIRMED and code in (CANCELLED, PARTNER_SUSPENDED):
        reason = "cancelled" if code == CANCELLED else "partner_suspended"
        remittance_transition(
            remittance, state=RemittanceState.CANCELLED, now=now, reason_code=reason
        )
    else:
        if remittance.state == RemittanceState.CONFIRMED:
            remittance_transition(remittance, state=RemittanceState.SUBMITTED, now=now)
        remittance_transition(
            remittance,
            state=RemittanceState.FAILED,
            now=now,
            reason_code=(code or "unspecified").lower(),
        )
    usage_give_back(
        partner_id=remittance.partner_id,
        send=Money(remittance.send_amount, currency(remittance.send_currency)),
        day=usage_day(transfer.created_at),
    )
