"""MoMo requests, partitioned by month of ``created_at`` (issue 14, item 5).

``archive_partition_table`` (archive 0004) copies the requests into monthly partitions and
swaps the table in this transaction; the request guard (one-way status, fixed identity),
the TRUNCATE guard, the analytics outbox and every index come back from the catalog. The
primary key becomes ``(id, created_at)``; every id is drawn from the sequence.

Kept unique across months, archived ones included, by key tables: the id
(``momo_request_id_taken``, which callbacks and reconciliation items now reference), the
``X-Reference-Id`` (``momo_request_reference_id_taken``: a reference is never reused, even
after its month is archived), the hold and the transfer (one request each).

A closed month is detached only when every request of it is final, its month of postings
has left (``momo_request_detach_check``), and no attached callback or reconciliation item
names one.
"""

from django.db import migrations

SQL = r"""
CREATE FUNCTION momo_request_detach_check(p_month date) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
  open_count bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM %I WHERE status IN (''new'', ''accepted'')',
                 archive_partition_name('momo_request', p_month)) INTO open_count;
  IF open_count > 0 THEN
    RETURN format('%s request(s) of the month have no final status yet', open_count);
  END IF;
  -- ledger verify checks a request's transfer and hold against their entries' postings:
  -- those of an archived month of postings are skipped, so the postings leave first
  IF NOT EXISTS (SELECT 1 FROM archive_manifest WHERE table_name = 'ledger_posting'
                  AND month = p_month AND state IN ('detached', 'dropped')) THEN
    RETURN 'its month of postings is still attached: postings leave first';
  END IF;
  RETURN NULL;
END $$;

SELECT archive_partition_table(
  'momo_request', 'created_at', 'key', true,
  'a month leaves once its requests are final and no attached callback or item names them',
  ARRAY['id', 'reference_id', 'hold_id', 'transfer_id'], 'momo_request_detach_check');
"""


class Migration(migrations.Migration):
    dependencies = [
        ("momo", "0004_callback_body_sealed"),
        ("wallets", "0014_partition_transfers_by_month"),
        ("reconciliation", "0002_resolved_cases_index"),
    ]

    operations = [migrations.RunSQL(SQL, migrations.RunSQL.noop)]
