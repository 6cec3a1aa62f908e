"""The audit trail, partitioned by month of ``occurred_at`` (issue 14, item 5).

``archive_partition_table`` (archive 0001, 0003) copies the records into monthly
partitions and swaps the table in this transaction; the append-only guards, the link
check and every index (the viewer's keyset indexes of 0005 too, now partitioned indexes)
come back from the catalog. The primary key becomes ``(id, occurred_at)``; every id is
drawn from the sequence by a trigger (``assign``). The chain position ``seq`` stays unique
across months, archived ones included: the key table ``audit_record_seq_taken`` holds every
seq a record holds, kept by ``ENABLE ALWAYS`` triggers (the old unique index
``audit_record_seq_key`` comes back as a plain index for the lookups by seq).

A closed month may be archived and detached only when ``audit_record_detach_check`` finds
every record of it linked, the chain head in a later month, and a signed checkpoint at or
after its last seq whose hash the chain still has; it records that checkpoint in
``audit_archive_boundary``, where ``lightway audit verify`` starts from while the month is
archived (docs/partitions.md, "audit_record").
"""

from django.db import migrations, models

CHECK_SQL = r"""
CREATE FUNCTION audit_record_detach_check(p_month date) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
  part text := archive_partition_name('audit_record', p_month);
  older record;
  has_rows boolean;
  n bigint;
  unlinked bigint;
  lo bigint;
  hi bigint;
  head bigint;
  cp_seq bigint;
  cp_hash text;
  at_cp text;
BEGIN
  -- oldest first: a month before it that still holds records is archived first
  FOR older IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'audit_record'::regclass AND c.relname < part
                  AND c.relname <> 'audit_record_pdefault' ORDER BY c.relname LOOP
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', older.relname) INTO has_rows;
    IF has_rows THEN
      RETURN format('the older month %s still holds records: archive it first', older.relname);
    END IF;
  END LOOP;
  EXECUTE format('SELECT count(*), count(*) FILTER (WHERE seq IS NULL), min(seq), max(seq)'
                 ' FROM %I', part) INTO n, unlinked, lo, hi;
  IF unlinked > 0 THEN
    RETURN format('%s record(s) are not linked into the chain yet', unlinked);
  END IF;
  IF n > 0 THEN
    SELECT max(seq) INTO head FROM audit_record;
    IF head = hi THEN
      RETURN format('it holds the chain head (seq %s): detach it once a later record is linked',
                    hi);
    END IF;
    SELECT c.seq, c.hash INTO cp_seq, cp_hash FROM audit_checkpoint c
     WHERE c.seq >= hi ORDER BY c.seq LIMIT 1;
    IF cp_seq IS NULL THEN
      RETURN format('no signed checkpoint at or after its last seq %s yet (the linker signs'
                    ' one per batch)', hi);
    END IF;
    SELECT r.hash INTO at_cp FROM audit_record r WHERE r.seq = cp_seq;
    IF at_cp IS DISTINCT FROM cp_hash THEN
      RETURN format('the signed checkpoint at seq %s does not match the chain (hash %s):'
                    ' run lightway audit verify --checkpoints', cp_seq, at_cp);
    END IF;
  END IF;
  INSERT INTO audit_archive_boundary AS b
         (month, records, first_seq, last_seq, checkpoint_seq, checkpoint_hash, recorded_at)
  VALUES (p_month, n, lo, hi, cp_seq, cp_hash, now())
  ON CONFLICT (month) DO UPDATE SET records = EXCLUDED.records, first_seq = EXCLUDED.first_seq,
    last_seq = EXCLUDED.last_seq, checkpoint_seq = EXCLUDED.checkpoint_seq,
    checkpoint_hash = EXCLUDED.checkpoint_hash, recorded_at = EXCLUDED.recorded_at;
  RETURN NULL;
END $$;
REVOKE ALL ON TABLE audit_archive_boundary FROM PUBLIC;
"""

PARTITION_SQL = r"""
SELECT archive_partition_table(
  'audit_record', 'occurred_at', 'assign', true,
  'a month leaves only when a signed chain checkpoint covers it (audit_record_detach_check)',
  ARRAY['seq'], 'audit_record_detach_check');
"""


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0005_viewer_indexes"),
        ("archive", "0003_unique_across_months"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditArchiveBoundary",
            fields=[
                ("month", models.DateField(primary_key=True, serialize=False)),
                ("records", models.BigIntegerField()),
                ("first_seq", models.BigIntegerField(blank=True, null=True)),
                ("last_seq", models.BigIntegerField(blank=True, null=True)),
                ("checkpoint_seq", models.BigIntegerField(blank=True, null=True)),
                ("checkpoint_hash", models.CharField(blank=True, max_length=64, null=True)),
                ("recorded_at", models.DateTimeField()),
            ],
            options={"db_table": "audit_archive_boundary"},
        ),
        migrations.RunSQL(CHECK_SQL),
        migrations.SeparateDatabaseAndState(
            # the key table is made by archive_partition_table (its name is its convention)
            database_operations=[migrations.RunSQL(PARTITION_SQL)],
            state_operations=[
                migrations.CreateModel(
                    name="AuditSeqTaken",
                    fields=[("seq", models.BigIntegerField(primary_key=True, serialize=False))],
                    options={"db_table": "audit_record_seq_taken"},
                ),
            ],
        ),
    ]
