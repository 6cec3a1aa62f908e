"""Partner remittances: quotes, beneficiary validations, remittances and per-partner limits
(docs/partner-api.md)."""
