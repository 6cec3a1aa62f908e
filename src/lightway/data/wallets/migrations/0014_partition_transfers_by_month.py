"""Transfers, partitioned by month of ``created_at`` (issue 14, item 5).

``archive_partition_table`` (archive 0004) copies the transfers into monthly partitions and
swaps the table in this transaction; the state machine, the entry check, the usage
counters, the analytics outbox, the settlement triggers, the TRUNCATE guard and every
index (the list and keyset indexes, now partitioned indexes) come back from the catalog.
The primary key becomes ``(id, created_at)``. A transfer's id is a UUID the application
chooses (id mode ``key``): its key table keeps it unique across months.

Kept unique across months, archived ones included, by key tables: the id
(``wallets_transfer_id_taken``, which the foreign keys of MoMo requests, remittances and
back-office requests now reference) and the client's idempotency key
(``wallets_transfer_client_id_idempotency_key_taken``; a duplicate is still reported as
``transfer_idempotency``, which the payment skeleton recognises as a replay).

A closed month is detached only when none of its transfers is still in flight, its month
of postings has left (``wallets_transfer_detach_check``), and no attached row names one of
its transfers.
"""

from django.db import migrations

SQL = r"""
CREATE FUNCTION wallets_transfer_detach_check(p_month date) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
  open_count bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM %I WHERE status IN'
                 ' (''created'', ''validated'', ''held'', ''submitted'', ''pending'')',
                 archive_partition_name('wallets_transfer', p_month)) INTO open_count;
  IF open_count > 0 THEN
    RETURN format('%s transfer(s) of the month are still in flight', open_count);
  END IF;
  -- ledger verify checks a transfer against its entry's postings: those of an archived
  -- month of postings are skipped, so the postings leave first
  IF NOT EXISTS (SELECT 1 FROM archive_manifest WHERE table_name = 'ledger_posting'
                  AND month = p_month AND state IN ('detached', 'dropped')) THEN
    RETURN 'its month of postings is still attached: postings leave first';
  END IF;
  RETURN NULL;
END $$;

SELECT archive_partition_table(
  'wallets_transfer', 'created_at', 'key', true,
  'a month leaves once its transfers are final and no attached row names them',
  ARRAY['id', 'client_id,idempotency_key'], 'wallets_transfer_detach_check');
"""


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0013_limits_lookup_overrides"),
        ("ledger", "0009_partition_journal_entries_by_month"),
        ("backoffice", "0003_limit_override"),
        ("remittances", "0004_reversal_integrity"),
        ("momo", "0004_callback_body_sealed"),
    ]

    operations = [migrations.RunSQL(SQL, migrations.RunSQL.noop)]
