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


class PostingsArchived(LedgerError):
    """A balance or statement before an account's archive boundary: the postings it needs
    are in a detached month (``lightway archive restore --month YYYY-MM`` brings them back)."""

    code = "postings_archived"

    def __init__(self, message: str, *, month: str) -> None:
        super().__init__(message)
        self.month = month
