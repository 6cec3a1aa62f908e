"""Postings, partitioned by month of ``created_at`` (issue 14, item 5).

``archive_partition_table`` (archive 0001) copies the postings into monthly partitions and
swaps the table in this transaction, then recreates from the catalog, by their own
definitions: the append-only and TRUNCATE guards, ``ledger_posting_apply`` (balances and
the account check), the statement-level balance check with its transition table, the
entry foreign key, ``ledger_posting_nonzero`` and the ``(account_id, id)`` keyset index
(one per month; the planner merges them in id order). The rows are copied before the
triggers exist, so no balance moves twice.

The primary key becomes ``(id, created_at)``. A posting's id is always drawn from the
sequence by a trigger (``archive_id_assign``; nobody inserts one with its own id), so no
two months hold the same id and the checkpoint trigger's lookup by id stays exact.

Months of postings are exported and verified by ``lightway archive`` but never detached
(registry: ``detachable`` false): stored balances survive a detach, but the derived
balances of house accounts, the statements' opening balances and ``lightway ledger
verify`` still sum postings, and must first learn to start from a verified balance
snapshot at the archive boundary.
"""

from django.db import migrations

SQL = """
SELECT archive_partition_table(
  'ledger_posting', 'created_at', 'assign', false,
  'balances, statements and ledger verify read postings; they need boundary snapshots first'
)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0007_posting_account_single_index"),
        ("archive", "0001_initial"),
    ]

    operations = [migrations.RunSQL(SQL, migrations.RunSQL.noop)]
