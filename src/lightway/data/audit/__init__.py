"""Append-only, hash-chained audit trail.

- ``services.audit_record(...)``: append a record in the caller's transaction (unlinked).
- ``services.audit_chain_link(...)``: the sequencer; links committed records into the chain.
- ``selectors.audit_verify(...)``: recompute the chain and report the first bad record.
- ``selectors.audit_checkpoints_check(...)``: compare the chain with heads recorded outside
  the database (the worker's checkpoint file, ``infrastructure/audit_checkpoints.py``), which
  catches a chain that was rewritten, re-hashed and cut short.

The exact canonical form and hash are defined in ``chain.py``; the database rules in
``models.py`` and ``migrations/0002_append_only.py``.
"""
