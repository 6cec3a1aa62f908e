"""The ledger legs of a cross-currency movement: one balanced entry per currency, through
the FX position account of each currency, the spread booked as FX spread revenue.

A journal entry is in one currency (its postings sum to zero in it), so moving ``send``
out of one account and ``receive`` into another in a second currency is two entries:

    send currency:     payer            -send
                       fx_position(S)   +send
    receive currency:  fx_position(R)   -(receive + spread)
                       payee            +receive
                       fx_revenue(R)    +spread

The FX position accounts (house accounts, one per currency) carry the platform's open
currency position: what it bought in S and sold in R. Treasury closes that position
outside the payment path. Every kind of cross-currency payment (a customer's exchange
between their own wallets, an IMTO's remittance paid in another currency) posts these legs
through the payment skeleton or the MoMo outcome; ``ledger verify`` checks the shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lightway.data.ledger.models import AccountKind
from lightway.data.ledger.services import Leg, house_account_id
from lightway.data.money import Money


@dataclass(frozen=True, slots=True)
class FxLegs:
    send_currency: str
    send_legs: tuple[Leg, ...]
    receive_currency: str
    receive_legs: tuple[Leg, ...]


def fx_legs(
    *,
    send: Money,
    receive: Money,
    spread: Money,
    payer_account_id: int,
    payee_account_id: int,
    now: datetime,
    leg: str = "principal",
) -> FxLegs:
    """The two balanced sets of legs above (``send`` and ``receive`` positive, ``spread``
    >= 0, in the receive currency)."""
    if send.currency == receive.currency:
        raise ValueError("fx_legs is for two currencies; a same-currency payment posts one entry")
    if spread.currency != receive.currency or spread.amount < 0:
        raise ValueError("the spread is a non-negative amount in the receive currency")
    if send.amount <= 0 or receive.amount <= 0:
        raise ValueError("send and receive must be positive")
    s, r = send.currency.code, receive.currency.code
    position_s = house_account_id(kind=AccountKind.FX_POSITION, currency=s, now=now)
    position_r = house_account_id(kind=AccountKind.FX_POSITION, currency=r, now=now)
    send_legs = (Leg(payer_account_id, -send.amount, leg), Leg(position_s, send.amount, "fx"))
    receive_legs = [
        Leg(position_r, -(receive.amount + spread.amount), "fx"),
        Leg(payee_account_id, receive.amount, leg),
    ]
    if spread.amount:
        revenue = house_account_id(kind=AccountKind.FX_REVENUE, currency=r, now=now)
        receive_legs.append(Leg(revenue, spread.amount, "fx:spread"))
    return FxLegs(s, send_legs, r, tuple(receive_legs))
