"""Posting months leave the database: boundary snapshots (issue 14, item 5).

A closed month of ``ledger_posting`` may be detached once its **boundary snapshot** exists
and a balance checkpoint covers it, so that nothing reads its rows afterwards
(docs/partitions.md, "How posting months leave"):

- ``ledger_posting_snapshot``: per archived month and account with postings in it, the
  account's last posting id in the month and the sum and count of all its postings up to
  that id (an id cut, like a balance checkpoint, so a posting of the next month that drew
  a lower id just before midnight is inside it, not lost). ``ledger_posting_snapshot_entry``:
  the part of an entry the month holds when the entry's postings straddle the month's end.
  Both are written by ``ledger_posting_snapshot_take(month)`` (the owner's function, called
  by ``lightway archive`` before the detach) from the rows while they are attached, and
  are append-only (UPDATE, DELETE, TRUNCATE refused; the runtime role may not insert).
- ``ledger_posting_snapshot_take`` also appends a balance checkpoint at each account's
  last posting of the month where the account has none at or after it (validated by
  ``ledger_checkpoint_check`` like any other), once the roll-up job has passed the month's
  last posting; derived balances, statements and the checkpoint trigger then never sum a
  posting at or below it.
- ``ledger_posting_detach_check(month)`` (the registry's ``detach_check``, called by
  ``archive_partition_detach`` under its ACCESS EXCLUSIVE lock) refuses unless no older
  month still holds postings, the snapshot exists and equals the rows (recomputed: per
  account sum, count and last id; per straddling entry count and sum), and every account
  of the month has a checkpoint at or after its last posting.
- the view ``ledger_posting_boundary``: per account, the snapshot of the latest month that
  is detached or dropped (archive manifest). A restored month's snapshot is history, not a
  boundary, while the month is attached.

The registry row of ``ledger_posting`` becomes ``detachable`` with that check (the
registry guard is lifted for the update, as the owner, in this transaction).
"""

from django.db import migrations, models

# the month's partition, its rows' expected snapshot: per account the last posting id of
# the month and every posting of the account up to it, from the latest snapshot of an
# older, archived month (or genesis) plus the attached postings after that one.
_WANT = r"""
  SELECT a.account_id, a.last_id AS last_posting_id,
         COALESCE(prev.balance, 0) + t.amount AS balance,
         COALESCE(prev.postings, 0) + t.n AS postings
  FROM (SELECT account_id, max(id) AS last_id FROM %1$I GROUP BY account_id) a
  LEFT JOIN LATERAL (
    SELECT s.last_posting_id, s.balance, s.postings FROM ledger_posting_snapshot s
    JOIN archive_manifest m ON m.table_name = 'ledger_posting' AND m.month = s.month
     AND m.state IN ('detached', 'dropped')
    WHERE s.account_id = a.account_id AND s.month < %2$L
    ORDER BY s.last_posting_id DESC LIMIT 1) prev ON true
  CROSS JOIN LATERAL (
    SELECT COALESCE(sum(p.amount), 0) AS amount, count(*) AS n FROM ledger_posting p
    WHERE p.account_id = a.account_id AND p.id > COALESCE(prev.last_posting_id, 0)
      AND p.id <= a.last_id) t
"""

# entries whose postings in the month are fewer than the entry declares
_WANT_ENTRIES = r"""
  SELECT p.entry_id, count(*) AS postings, sum(p.amount) AS amount
  FROM %1$I p JOIN ledger_journal_entry e ON e.id = p.entry_id
  GROUP BY p.entry_id, e.posting_count HAVING count(*) <> e.posting_count
"""

SQL = (
    r"""
CREATE TRIGGER ledger_posting_snapshot_append_only BEFORE UPDATE OR DELETE
  ON ledger_posting_snapshot FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_posting_snapshot_no_truncate BEFORE TRUNCATE
  ON ledger_posting_snapshot FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_posting_snapshot_entry_append_only BEFORE UPDATE OR DELETE
  ON ledger_posting_snapshot_entry FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_posting_snapshot_entry_no_truncate BEFORE TRUNCATE
  ON ledger_posting_snapshot_entry FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

CREATE VIEW ledger_posting_boundary AS
SELECT DISTINCT ON (s.account_id) s.account_id, s.month, s.last_posting_id, s.balance,
       s.postings
FROM ledger_posting_snapshot s
JOIN archive_manifest m ON m.table_name = 'ledger_posting' AND m.month = s.month
 AND m.state IN ('detached', 'dropped')
ORDER BY s.account_id, s.last_posting_id DESC;

-- NULL when no older month still holds postings, else the refusal
CREATE FUNCTION ledger_posting_older_months(p_month date) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
  part text := archive_partition_name('ledger_posting', p_month);
  older record;
  has_rows boolean;
BEGIN
  FOR older IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'ledger_posting'::regclass AND c.relname < part
                  AND c.relname <> 'ledger_posting_pdefault' ORDER BY c.relname LOOP
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', older.relname) INTO has_rows;
    IF has_rows THEN
      RETURN format('the older month %s still holds postings: archive it first', older.relname);
    END IF;
  END LOOP;
  RETURN NULL;
END $$;

CREATE FUNCTION ledger_posting_snapshot_take(p_month date) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
  part text := archive_partition_name('ledger_posting', p_month);
  refusal text;
  hi bigint;
  horizon bigint;
  made bigint;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass(part)
                  AND inhparent = 'ledger_posting'::regclass) THEN
    RAISE EXCEPTION 'partition % is not attached', part USING ERRCODE = 'restrict_violation';
  END IF;
  refusal := ledger_posting_older_months(p_month);
  IF refusal IS NOT NULL THEN
    RAISE EXCEPTION '%', refusal USING ERRCODE = 'restrict_violation';
  END IF;
  -- one at a time with the roll-up job (both append checkpoints): its lock key ("ledgrcp",
  -- rollups._ADVANCE_LOCK_KEY)
  PERFORM pg_advisory_xact_lock(x'6C6564677263'::bigint);
  IF EXISTS (SELECT 1 FROM ledger_posting_snapshot WHERE month = p_month) THEN
    -- taken before (the month was restored): kept, the detach check compares it again
    SELECT count(*) INTO made FROM ledger_posting_snapshot WHERE month = p_month;
    RETURN made;
  END IF;
  EXECUTE format('SELECT max(id) FROM %I', part) INTO hi;
  IF hi IS NULL THEN
    RETURN 0;
  END IF;
  SELECT max(posting_id) INTO horizon FROM ledger_balance_checkpoint;
  IF horizon IS NULL OR horizon < hi THEN
    RAISE EXCEPTION 'the balance roll-up has reached posting %, not yet the month''s last '
      'posting % (ledger_checkpoints_advance runs every 10 s)', COALESCE(horizon, 0), hi
      USING ERRCODE = 'restrict_violation';
  END IF;
  EXECUTE format($q$INSERT INTO ledger_posting_snapshot
                   (month, account_id, last_posting_id, balance, postings)
                 SELECT %2$L, w.* FROM ($q$ || $w$"""
    + _WANT
    + r"""$w$ || $q$) w ORDER BY w.account_id$q$, part, p_month);
  GET DIAGNOSTICS made = ROW_COUNT;
  EXECUTE format($q$INSERT INTO ledger_posting_snapshot_entry (month, entry_id, postings, amount)
                 SELECT %2$L, w.* FROM ($q$ || $w$"""
    + _WANT_ENTRIES
    + r"""$w$ || $q$) w ORDER BY w.entry_id$q$, part, p_month);
  -- a checkpoint at each account's boundary where none lies at or after it
  INSERT INTO ledger_balance_checkpoint (posting_id, account_id, balance, postings)
  SELECT s.last_posting_id, s.account_id, s.balance, s.postings FROM ledger_posting_snapshot s
  WHERE s.month = p_month AND NOT EXISTS (
    SELECT 1 FROM ledger_balance_checkpoint c
    WHERE c.account_id = s.account_id AND c.posting_id >= s.last_posting_id)
  ORDER BY s.last_posting_id;
  RETURN made;
END $$;

CREATE FUNCTION ledger_posting_detach_check(p_month date) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
  part text := archive_partition_name('ledger_posting', p_month);
  refusal text;
  n bigint;
  bad bigint;
  first_bad bigint;
BEGIN
  refusal := ledger_posting_older_months(p_month);
  IF refusal IS NOT NULL THEN
    RETURN refusal;
  END IF;
  EXECUTE format('SELECT count(*) FROM %I', part) INTO n;
  IF n = 0 THEN
    RETURN NULL;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM ledger_posting_snapshot WHERE month = p_month) THEN
    RETURN 'no boundary snapshot of its balances yet (ledger_posting_snapshot_take)';
  END IF;
  EXECUTE format($q$SELECT count(*), min(COALESCE(w.account_id, s.account_id)) FROM ($q$
                 || $w$"""
    + _WANT
    + r"""$w$ || $q$) w FULL JOIN (SELECT * FROM ledger_posting_snapshot WHERE month = %2$L) s
      ON s.account_id = w.account_id AND s.last_posting_id = w.last_posting_id
     AND s.balance = w.balance AND s.postings = w.postings
   WHERE w.account_id IS NULL OR s.account_id IS NULL$q$, part, p_month) INTO bad, first_bad;
  IF bad > 0 THEN
    RETURN format('its boundary snapshot differs from its postings for account %s'
                  ' (%s row(s) differ)', first_bad, bad);
  END IF;
  EXECUTE format($q$SELECT count(*), min(COALESCE(w.entry_id, s.entry_id)) FROM ($q$
                 || $w$"""
    + _WANT_ENTRIES
    + r"""$w$ || $q$) w FULL JOIN (SELECT * FROM ledger_posting_snapshot_entry
                               WHERE month = %2$L) s
      ON s.entry_id = w.entry_id AND s.postings = w.postings AND s.amount = w.amount
   WHERE w.entry_id IS NULL OR s.entry_id IS NULL$q$, part, p_month) INTO bad, first_bad;
  IF bad > 0 THEN
    RETURN format('its boundary snapshot of entries that straddle the month differs from its'
                  ' postings for entry %s', first_bad);
  END IF;
  SELECT count(*), min(s.account_id) INTO bad, first_bad FROM ledger_posting_snapshot s
  WHERE s.month = p_month AND NOT EXISTS (
    SELECT 1 FROM ledger_balance_checkpoint c
    WHERE c.account_id = s.account_id AND c.posting_id >= s.last_posting_id);
  IF bad > 0 THEN
    RETURN format('no balance checkpoint at or after the last posting of account %s'
                  ' (%s account(s)): derived balances and statements would still read'
                  ' the month', first_bad, bad);
  END IF;
  RETURN NULL;
END $$;

ALTER TABLE archive_partitioned_table DISABLE TRIGGER archive_registry_guard;
UPDATE archive_partitioned_table
   SET detachable = true, detach_check = 'ledger_posting_detach_check',
       reason = 'a month leaves once its boundary snapshot and a balance checkpoint cover it'
             ' (ledger_posting_detach_check)'
 WHERE table_name = 'ledger_posting';
ALTER TABLE archive_partitioned_table ENABLE TRIGGER archive_registry_guard;
"""
)

REVERSE_SQL = r"""
ALTER TABLE archive_partitioned_table DISABLE TRIGGER archive_registry_guard;
UPDATE archive_partitioned_table
   SET detachable = false, detach_check = '',
       reason = 'balances, statements and ledger verify read postings; they need boundary'
             ' snapshots first'
 WHERE table_name = 'ledger_posting';
ALTER TABLE archive_partitioned_table ENABLE TRIGGER archive_registry_guard;
DROP FUNCTION ledger_posting_detach_check(date);
DROP FUNCTION ledger_posting_snapshot_take(date);
DROP FUNCTION ledger_posting_older_months(date);
DROP VIEW ledger_posting_boundary;
DROP TRIGGER ledger_posting_snapshot_entry_no_truncate ON ledger_posting_snapshot_entry;
DROP TRIGGER ledger_posting_snapshot_entry_append_only ON ledger_posting_snapshot_entry;
DROP TRIGGER ledger_posting_snapshot_no_truncate ON ledger_posting_snapshot;
DROP TRIGGER ledger_posting_snapshot_append_only ON ledger_posting_snapshot;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0009_partition_journal_entries_by_month"),
        ("archive", "0004_referenced_tables"),
    ]

    operations = [
        migrations.CreateModel(
            name="PostingSnapshot",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("month", models.DateField()),
                ("account_id", models.BigIntegerField()),
                ("last_posting_id", models.BigIntegerField()),
                ("balance", models.BigIntegerField()),
                ("postings", models.BigIntegerField()),
            ],
            options={
                "db_table": "ledger_posting_snapshot",
                "indexes": [
                    models.Index(
                        fields=["account_id", "-last_posting_id"], name="ledger_snapshot_account"
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("month", "account_id"), name="ledger_posting_snapshot_once"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("postings__gte", 1)),
                        name="ledger_posting_snapshot_postings_positive",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="PostingSnapshotEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("month", models.DateField()),
                ("entry_id", models.BigIntegerField()),
                ("postings", models.BigIntegerField()),
                ("amount", models.BigIntegerField()),
            ],
            options={
                "db_table": "ledger_posting_snapshot_entry",
                "indexes": [models.Index(fields=["entry_id"], name="ledger_snapshot_entry_id")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("month", "entry_id"), name="ledger_posting_snapshot_entry_once"
                    )
                ],
            },
        ),
        migrations.RunSQL(SQL, REVERSE_SQL),
    ]
