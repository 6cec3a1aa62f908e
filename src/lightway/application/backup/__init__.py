"""Backup and recovery (docs/operations.md, "Backup and restore").

- ``logical``: ``lightway backup`` / ``restore`` / ``backup drill`` (pg_dump custom format,
  manifest with the data's fingerprint, optional AES-GCM sealing).
- ``pitr``: the point-in-time recovery drill with pgBackRest on a cluster of its own.
"""
