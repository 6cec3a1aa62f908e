"""People and organisations: profiles (personal data encrypted), partners, KYC tier limits."""
