"""What arrives unauthenticated (webhooks): per-client rate windows and the aggregated record
of what was refused (docs/security.md, issue 11 finding 6)."""
