"""The limits hook: every payment is checked against the configured policy.

The policy is called inside the database transaction that posts the payment, right after
its postings: that transaction then holds the row locks on the wallets it moves money
between, so two concurrent payments from one wallet are checked one after the other (the
second sees the first in its sums), and the recipient's balance already includes the
amount. Raising ``PaymentRefused`` rolls the postings back; the refusal is recorded.

The default is ``lightway.application.kyc.tiers.KycTierLimits``: the KYC tier limits
of the payer (per transaction, daily, monthly) and of the recipient (maximum balance).
``PerTransactionCap`` is the foundation's simple policy: one maximum per transaction, in
minor units of whatever currency is paid (``LIGHTWAY_MAX_AMOUNT_MINOR``; the same number is
a larger amount in a currency with two decimals than in one with none).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import cache
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from lightway.application.errors import PaymentRefused
from lightway.data.money import Money


class LimitsPolicy(Protocol):
    def check(
        self,
        *,
        customer_id: int,
        kind: str,
        amount: Money,
        now: datetime,
        recipient_id: int | None = None,
        transfer_id: uuid.UUID | None = None,
    ) -> None:
        """Raise ``PaymentRefused("limit_exceeded", ...)`` when the payment breaks a limit.

        ``customer_id`` pays ``amount`` (a ``kind`` of transfer); ``recipient_id`` is the
        owner of the wallet credited, if a customer's; ``transfer_id`` is the payment's own
        transfer, which sums of earlier payments must leave out.
        """


class PerTransactionCap:
    """Refuses a single payment above ``LIGHTWAY_MAX_AMOUNT_MINOR`` minor units."""

    def check(
        self,
        *,
        customer_id: int,
        kind: str,
        amount: Money,
        now: datetime,
        recipient_id: int | None = None,
        transfer_id: uuid.UUID | None = None,
    ) -> None:
        cap = int(settings.LIGHTWAY_MAX_AMOUNT_MINOR)
        if amount.amount > cap:
            raise PaymentRefused(
                "limit_exceeded",
                f"amount exceeds the per-transaction limit of {Money(cap, amount.currency)}",
                details={"limit": cap, "currency": amount.currency.code},
            )


@cache
def _policy(path: str) -> LimitsPolicy:
    policy: LimitsPolicy = import_string(path)()
    return policy


def limits_policy() -> LimitsPolicy:
    return _policy(str(settings.LIGHTWAY_LIMITS_POLICY))
