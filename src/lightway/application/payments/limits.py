"""The limits hook: every payment is checked against the configured policy.

The payment skeleton calls the policy inside the database transaction that records the
payment, once its ledger movement is made and its transfer row inserted: the wallets'
account rows and the payer's usage counters (kept by the database, wallets migration 0005)
are then locked by that transaction, so concurrent payments of one customer are checked one
after the other, each seeing every earlier one whatever order their clocks were read in, and
the recipient's balance (with a P2P credit already posted) and pending deposits are read
under the wallet's lock. Raising ``PaymentRefused`` rolls the payment back; the refusal is
recorded.

The default is :class:`lightway.application.kyc.tiers.KycTierLimits`, imported here
explicitly: the KYC tier limits of the payer (per transaction, daily, monthly) and of the
recipient (maximum balance). ``LIGHTWAY_LIMITS_POLICY`` (a dotted path) replaces it.
``PerTransactionCap`` is the foundation's simple policy: one maximum per transaction, in
minor units of whatever currency is paid (``LIGHTWAY_MAX_AMOUNT_MINOR``; the same number is
a larger amount in a currency with two decimals than in one with none).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from lightway.application.errors import PaymentRefused
from lightway.application.kyc.tiers import KycTierLimits
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
        transfer, already recorded (the usage counters include it).
        """


class DatabaseLimits(LimitsPolicy, Protocol):
    """A policy the database decides (``in_database``): the payment skeleton's one-statement
    recording (``payments_record``) calls ``payments_limits_check`` with the payment and
    :meth:`arguments`, and turns the error it raises into a refusal with :meth:`refusal`."""

    in_database: bool

    def arguments(self, *, amount: Money, recipient_id: int | None) -> Mapping[str, object]: ...

    def refusal(self, exc: BaseException, *, amount: Money) -> PaymentRefused | None: ...


def database_limits(policy: LimitsPolicy | None) -> DatabaseLimits | None:
    """``policy`` when the database can check it in the payment's own statement."""
    if policy is not None and getattr(policy, "in_database", False):
        return policy  # type: ignore[return-value]
    return None


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


_DEFAULT: LimitsPolicy = KycTierLimits()


@cache
def _policy(path: str) -> LimitsPolicy:
    policy: LimitsPolicy = import_string(path)()
    return policy


def limits_policy() -> LimitsPolicy:
    """``LIGHTWAY_LIMITS_POLICY`` when set, else the KYC tier limits."""
    path = str(getattr(settings, "LIGHTWAY_LIMITS_POLICY", "") or "")
    return _policy(path) if path else _DEFAULT
