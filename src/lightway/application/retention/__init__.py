"""Retention: policies per data class and country, legal holds, erasure of personal data by
destroying per-person keys, and the purge of expired rows (docs/retention.md)."""
