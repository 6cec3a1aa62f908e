"""The limits hook: transaction validation asks the configured policy before money moves.

The foundation ships ``PerTransactionCap``: one maximum per transaction, in minor units of
whatever currency is paid (``LIGHTWAY_MAX_AMOUNT_MINOR``; the same number is a larger amount
in a currency with two decimals than in one with none). The identity issue replaces it with
KYC-tier limits (per transaction, daily, monthly, maximum balance) by pointing
``LIGHTWAY_LIMITS_POLICY`` at its class.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from lightway.application.errors import PaymentRefused
from lightway.data.money import Money


class LimitsPolicy(Protocol):
    def check(self, *, customer_id: int, kind: str, amount: Money, now: datetime) -> None:
        """Raise ``PaymentRefused("limit_exceeded", ...)`` when the payment breaks a limit."""


class PerTransactionCap:
    """Refuses a single payment above ``LIGHTWAY_MAX_AMOUNT_MINOR`` minor units."""

    def check(self, *, customer_id: int, kind: str, amount: Money, now: datetime) -> None:
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
