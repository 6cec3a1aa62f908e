"""Typed ledger errors; the API maps each to one error code."""

from __future__ import annotations


class LedgerError(Exception):
    code = "ledger_error"


class InsufficientFunds(LedgerError):
    code = "insufficient_funds"


class AccountNotActive(LedgerError):
    code = "account_not_active"


class UnbalancedEntry(LedgerError):
    code = "unbalanced_entry"


class HoldNotActive(LedgerError):
    code = "hold_not_active"
