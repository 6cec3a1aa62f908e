"""KYC with Sumsub: one applicant per user and every webhook delivery, raw (docs/kyc.md)."""
