"""Use cases for people: registration, onboarding, profiles, roles, KYC, notifications."""
