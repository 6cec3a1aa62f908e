"""What a backup and its restore must agree on: ``fingerprint.fingerprint_read`` (ledger
balances, every transfer, the audit chain head) and ``fingerprint_compare``."""
