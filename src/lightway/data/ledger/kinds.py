"""The kinds of journal entry the code posts, in one place (``lightway ledger verify``).

Every journal entry must belong to something, or verify reports it:

- a transfer's entry: its kind is the transfer's kind (``p2p``, ``deposit``,
  ``withdrawal``, ``payout``, ``remittance``: ``wallets.models.TransferKind``), its
  reference the transfer id; a reversed transfer's reversal entry (kind ``reversal``), the
  exact mirror of the original entry;
- an exchange (``exchange``, two currencies) has two entries, both with the transfer id as
  reference: the transfer's own entry in the send currency and the receive entry, keyed
  ``fx:<transfer id>`` (``payments.skeleton.RECEIVE_ENTRY_KEY``), in the receive currency;
- a committed hold's entry (the MoMo outbound flows commit their hold with the transfer's
  entry, so these are transfer entries too);
- a standalone kind below: money that moves without a transfer (opening balances, and
  settlement's bank-confirmed entries). Only opening balances may touch an equity account.
"""

from __future__ import annotations

# The entry of a reversal: the mirror image (same accounts and legs, opposite amounts) of
# the reversed transfer's entry, linked as ``wallets_transfer.reversal_entry_id``.
REVERSAL = "reversal"

# Opening balances: equity → one customer account (wallet or partner prefund), exactly two
# postings. Posted by the demo seed (``application.demo``) and the test builders.
OPENING_BALANCE = "opening_balance"

# Settlement (docs/settlement.md): a settled instruction's entry (each cash position of the
# counterparty in the window cleared, the net through the settlement bank account), keyed
# ``settlement:<InstrId>``; and a partner's top-up confirmed by the bank (settlement bank
# -> the partner's prefund), keyed ``topup:<AcctSvcrRef>``. Verify reconciles each with its
# record (``data/settlement/selectors.py``).
SETTLEMENT = "settlement"
TOPUP = "topup"

# Kinds that stand on their own (no transfer), with the shape verify requires of them.
STANDALONE_KINDS: dict[str, str] = {
    OPENING_BALANCE: "two postings: an equity account debited, one customer account credited",
    SETTLEMENT: "its settled instruction's positions cleared and the net through the bank",
    TOPUP: "two postings: the settlement bank debited, the partner's prefund credited",
}

# The only kinds that may touch an equity account (money entering the ledger from nowhere).
EQUITY_KINDS: tuple[str, ...] = (OPENING_BALANCE,)
