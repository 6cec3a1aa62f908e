"""The back office's customers and transactions (docs/panels.md, "Back office: customers
and transactions"): a customer's wallets, history and support notes; transaction search,
list, timeline and CSV export; maker-checker actions (freeze, unfreeze, second-factor
reset, retry, reverse)."""
