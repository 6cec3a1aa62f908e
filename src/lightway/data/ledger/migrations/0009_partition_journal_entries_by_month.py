"""Journal entries, partitioned by month of ``created_at`` (issue 14, item 5).

``archive_partition_table`` (archive 0004) copies the entries into monthly partitions and
swaps the table in this transaction; the append-only and TRUNCATE guards and the deferred
balance check (``ledger_entry_balanced``) come back from the catalog. The primary key
becomes ``(id, created_at)``; every id is drawn from the sequence by a trigger.

Two keys stay unique across months, archived ones included, through key tables kept by
``ENABLE ALWAYS`` triggers: the id (``ledger_journal_entry_id_taken``) and the idempotency
key (``ledger_journal_entry_idempotency_key_taken``; a retry a month later still finds its
key taken, and the duplicate error still names ``ledger_journal_entry_idempotency_key_key``).
The foreign keys that named an entry (postings, holds, transfers and their reversals,
commission records, remittances' FX entries) now reference the id's key table, under their
own names: an entry a row names exists in some month, attached or archived.

A closed month is exported and verified like the others but stays attached (registry:
``detachable`` false): ``ledger verify`` and the settlement checks find entries by id from
rows that are not partitioned (position deltas, commission records, holds), and must first
learn to start from the archive boundary, as they do for postings.
"""

from django.db import migrations

SQL = """
SELECT archive_partition_table(
  'ledger_journal_entry', 'created_at', 'key', false,
  'ledger verify and the settlement checks name entries by id (position deltas, commission'
  ' records, holds): they must first learn to start from the archive boundary',
  ARRAY['id', 'idempotency_key'])
"""


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0008_partition_postings_by_month"),
        ("archive", "0004_referenced_tables"),
        ("wallets", "0013_limits_lookup_overrides"),
        ("commission", "0008_statement_index_with_id"),
        ("remittances", "0004_reversal_integrity"),
    ]

    operations = [migrations.RunSQL(SQL, migrations.RunSQL.noop)]
