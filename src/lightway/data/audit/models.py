"""The audit trail: one append-only, hash-chained table.

Life of a record:

1. A business transaction calls ``services.audit_record``: it INSERTs a row with ``seq``,
   ``prev_hash`` and ``hash`` NULL. No shared row is locked, so writers never wait on each
   other or on the sequencer.
2. The sequencer (``services.audit_chain_link``) links committed rows into the chain in the
   order it finds them (by id, among the committed ones, so roughly commit order): it sets
   ``seq`` = head + 1, ``prev_hash`` = head's hash, ``hash`` per ``chain.py``. That is the only
   UPDATE a row ever gets.
3. ``selectors.audit_verify`` recomputes the chain.

What PostgreSQL enforces (migrations/0002_append_only.py; each rule has a test):

- INSERT: the link columns must be NULL (only the sequencer links);
- UPDATE: only the one-time link (OLD.hash IS NULL, every other column unchanged, the three
  link columns all set); any other UPDATE, every DELETE and TRUNCATE are refused;
- a linked row's predecessor exists: seq 1 follows ``GENESIS_HASH``, seq n > 1 has
  ``prev_hash`` = hash of seq n - 1 (so the linked chain is gap-free);
- ``seq`` unique and >= 1; ``seq``, ``prev_hash`` and ``hash`` all set or all NULL; hashes are
  64 lowercase hex characters.

The table is partitioned by month of ``occurred_at`` (migrations/0006, docs/partitions.md):
every guard above holds on every month; ``seq`` is unique across months, archived ones too,
by the key table ``audit_record_seq_taken`` (:class:`AuditSeqTaken`) instead of a unique
index; a closed month is detached only when a signed checkpoint covers it.

Never put personal data in ``actor``, ``object_id`` or ``data``: use opaque references
(``user:12``), so erasure by key destruction elsewhere never touches a hashed byte.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

HEX64 = r"^[0-9a-f]{64}$"


class AuditRecord(models.Model):
    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField()
    # Opaque actor reference: "user:12", "staff:3", "partner:7", "system". Never a name,
    # e-mail or phone number.
    actor = models.CharField(max_length=64)
    action = models.CharField(max_length=100)  # e.g. "transfer.create"
    object_type = models.CharField(max_length=100, blank=True, default="")
    object_id = models.CharField(max_length=100, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)  # references and field names only
    # Unique across every month by the key table audit_record_seq_taken (migrations/0006:
    # a partitioned table has no unique index without occurred_at; the index on seq stays).
    seq = models.BigIntegerField(null=True, blank=True, unique=True)
    prev_hash = models.CharField(max_length=64, null=True, blank=True)
    hash = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        db_table = "audit_record"
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(seq__isnull=True, prev_hash__isnull=True, hash__isnull=True)
                    | Q(seq__isnull=False, prev_hash__isnull=False, hash__isnull=False)
                ),
                name="audit_record_linked_all_or_nothing",
            ),
            models.CheckConstraint(condition=Q(seq__gte=1), name="audit_record_seq_positive"),
            models.CheckConstraint(condition=Q(hash__regex=HEX64), name="audit_record_hash_hex"),
            models.CheckConstraint(
                condition=Q(prev_hash__regex=HEX64), name="audit_record_prev_hash_hex"
            ),
            models.CheckConstraint(condition=~Q(actor=""), name="audit_record_actor_set"),
            models.CheckConstraint(condition=~Q(action=""), name="audit_record_action_set"),
        ]
        indexes = [
            # The sequencer's work queue and the verifier's "unlinked" count stay small.
            models.Index(
                fields=["id"], condition=Q(seq__isnull=True), name="audit_record_unlinked"
            ),
            # The admin's search by object id or by actor (newest first for one actor).
            models.Index(fields=["object_id"], name="audit_record_object_id"),
            models.Index(fields=["actor", "id"], name="audit_record_actor"),
            # The audit viewer (/staff/audit/, newest first by (occurred_at, id)): one index
            # per filter, each ending with the keyset's columns so no page is ever sorted
            # (migrations/0005; the object one also serves lookups by type and id).
            models.Index(fields=["occurred_at", "id"], name="audit_record_time"),
            models.Index(fields=["actor", "occurred_at", "id"], name="audit_record_actor_time"),
            models.Index(fields=["action", "occurred_at", "id"], name="audit_record_action_time"),
            models.Index(
                fields=["object_type", "object_id", "occurred_at", "id"],
                name="audit_record_object_time",
            ),
        ]

    def __str__(self) -> str:
        where = f"#{self.seq}" if self.seq is not None else "unlinked"
        return f"audit {self.id} ({where}) {self.action} by {self.actor}"


B64_SIGNATURE = r"^[A-Za-z0-9+/]{86}==$"


class AuditCheckpoint(models.Model):
    """A signed chain head (``security/audit_signing.py``): the record at ``seq`` had
    ``hash`` when it was linked at ``linked_at``; ``signature`` is the Ed25519 signature of
    the canonical message by the key ``key_id``. Append-only (migrations/0004): a row is
    never updated or deleted. A rewrite of this table by someone with database access
    cannot forge signatures, so ``lightway audit verify --checkpoints`` catches it."""

    seq = models.BigIntegerField(primary_key=True)
    hash = models.CharField(max_length=64)
    # Kept as the exact string that was signed (``YYYY-MM-DDTHH:MM:SS.ffffffZ``).
    linked_at = models.CharField(max_length=27)
    key_id = models.CharField(max_length=16)
    signature = models.CharField(max_length=88)

    class Meta:
        db_table = "audit_checkpoint"
        constraints = [
            models.CheckConstraint(condition=Q(seq__gte=1), name="audit_checkpoint_seq_positive"),
            models.CheckConstraint(
                condition=Q(hash__regex=HEX64), name="audit_checkpoint_hash_hex"
            ),
            models.CheckConstraint(
                condition=Q(linked_at__regex=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"),
                name="audit_checkpoint_linked_at_utc",
            ),
            models.CheckConstraint(
                condition=Q(key_id__regex=r"^[0-9a-f]{16}$"), name="audit_checkpoint_key_id_hex"
            ),
            models.CheckConstraint(
                condition=Q(signature__regex=B64_SIGNATURE), name="audit_checkpoint_signature_b64"
            ),
        ]

    def __str__(self) -> str:
        return f"checkpoint #{self.seq} by key {self.key_id}"


class AuditSeqTaken(models.Model):
    """Every ``seq`` an audit record holds, in any month, attached or archived: the key
    that keeps ``seq`` unique across the monthly partitions (a partitioned table cannot
    have a unique index without its time column). Written only by the triggers
    ``audit_record_seq_claim`` / ``_reclaim`` / ``_release`` (archive 0003, function
    ``audit_record_seq_taken_keep``, ``ENABLE ALWAYS``); the runtime role only reads it. A
    seq of a detached month stays taken."""

    seq = models.BigIntegerField(primary_key=True)

    class Meta:
        db_table = "audit_record_seq_taken"

    def __str__(self) -> str:
        return f"seq {self.seq} taken"


class AuditArchiveBoundary(models.Model):
    """One archived (detached) month of the chain: its records, their seq range and the
    signed checkpoint at or after its last seq that ``lightway audit verify`` starts from
    while the month is archived. Written by ``audit_record_detach_check`` (migrations/0006)
    when ``archive_partition_detach`` detaches the month; a restored month's row stays but
    counts only while its manifest says detached or dropped."""

    month = models.DateField(primary_key=True)
    records = models.BigIntegerField()
    first_seq = models.BigIntegerField(null=True, blank=True)
    last_seq = models.BigIntegerField(null=True, blank=True)
    checkpoint_seq = models.BigIntegerField(null=True, blank=True)
    checkpoint_hash = models.CharField(max_length=64, null=True, blank=True)
    recorded_at = models.DateTimeField()

    class Meta:
        db_table = "audit_archive_boundary"

    def __str__(self) -> str:
        return f"archived audit month {self.month:%Y-%m} (checkpoint {self.checkpoint_seq})"
