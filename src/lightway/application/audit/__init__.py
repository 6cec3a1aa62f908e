"""Audit trail use cases on top of ``lightway.data.audit``.

- ``checkpoints``: sign and store each chain head; verify the signed checkpoints.
- ``access``: ``audit_data_access(...)``, the one helper that records reads and exports of
  personal data (staff pages, CSV exports, report downloads).
- ``viewer``: the compliance officers' audit-log viewer: filters, keyset pages, the chain
  status and the bounded, masked CSV export.
"""
