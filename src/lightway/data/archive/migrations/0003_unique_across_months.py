"""Columns unique across months, and a table's own condition for detaching a month
(issue 14, item 5: ``audit_record``, whose chain position ``seq`` is unique).

``archive_partition_table`` gains two options (the old five-argument calls mean the same):

- ``p_unique``: one-column unique keys to keep across months. A partitioned table cannot
  have a unique index without its time column, so each such column gets a key table
  ``<table>_<column>_taken`` (the column as its primary key) holding every value a row of
  the table holds, whatever its month, attached or archived. Three row triggers (insert,
  update of the column, delete) call ``<key table>_keep``, a ``SECURITY DEFINER``
  function made for the column with static SQL (its plans cached); they keep it,
  ``ENABLE ALWAYS`` so they fire even with ``session_replication_role = replica``, as the
  unique index did. Two sessions claiming one value: the second waits on the key's index
  and is refused when the first commits, in every isolation level. The old unique index
  comes back as a plain partitioned index of the same name (the lookups by the column).
- ``p_detach_check``: a function ``(month date) RETURNS text`` that
  ``archive_partition_detach`` calls under its lock; a non-NULL text refuses the detach
  with that reason. Recorded in the registry (column ``detach_check``).

Not reversible: un-partitioning a table is a migration of its own.
"""

from django.db import migrations

SQL = r"""
ALTER TABLE archive_partitioned_table ADD COLUMN detach_check text NOT NULL DEFAULT '';

DROP FUNCTION archive_partition_table(text, text, text, boolean, text);
CREATE FUNCTION archive_partition_table(
  p_table text, p_time text, p_id_mode text, p_detachable boolean, p_reason text,
  p_unique text[] DEFAULT '{}', p_detach_check text DEFAULT ''
) RETURNS integer LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  old_name text := p_table || '_unpartitioned';
  seq text;
  pk_name text;
  defs text[] := '{}';
  def text;
  rec record;
  first_month date;
  last_month date;
  made integer;
  last_id bigint;
  col text;
  col_type text;
  key_table text;
BEGIN
  IF p_id_mode NOT IN ('assign', 'probe') THEN
    RAISE EXCEPTION 'id mode must be assign or probe' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = p_table::regclass) THEN
    RAISE EXCEPTION '% is already partitioned', p_table;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_constraint WHERE confrelid = p_table::regclass AND contype = 'f') THEN
    RAISE EXCEPTION '% is referenced by a foreign key: its id alone would no longer be a key',
      p_table;
  END IF;
  -- A unique key without the time column cannot be a partitioned table's key. Only a
  -- one-column key named in p_unique is allowed: a key table keeps it (see below).
  IF EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = p_table::regclass AND i.indisunique
              AND NOT i.indisprimary AND NOT (
                i.indnatts = 1 AND i.indexprs IS NULL AND i.indpred IS NULL
                AND (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = i.indrelid
                      AND a.attnum = i.indkey[0]) = ANY (COALESCE(p_unique, '{}')))) THEN
    RAISE EXCEPTION '% has a unique key without %: it cannot hold across partitions',
      p_table, p_time;
  END IF;
  IF p_detach_check IS NULL OR p_detach_check <> '' AND to_regproc(p_detach_check) IS NULL THEN
    RAISE EXCEPTION 'detach check % is no function', p_detach_check
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT conname INTO pk_name FROM pg_constraint
   WHERE conrelid = p_table::regclass AND contype = 'p';
  seq := pg_get_serial_sequence(p_table, 'id');
  IF seq IS NULL OR pk_name IS NULL THEN
    RAISE EXCEPTION '% needs an id primary key drawn from a sequence', p_table;
  END IF;

  -- Everything that guards the table, by its own definition, to recreate on the new one.
  FOR rec IN SELECT conname, pg_get_constraintdef(oid) AS d FROM pg_constraint
              WHERE conrelid = p_table::regclass AND contype = 'f' ORDER BY conname LOOP
    defs := defs || format('ALTER TABLE %I ADD CONSTRAINT %I %s', p_table, rec.conname, rec.d);
  END LOOP;
  FOR rec IN SELECT pg_get_indexdef(indexrelid) AS d FROM pg_index
              WHERE indrelid = p_table::regclass AND NOT indisprimary ORDER BY indexrelid LOOP
    -- (a unique index here is on a p_unique column: its key table keeps it unique)
    defs := defs || regexp_replace(rec.d, '^CREATE UNIQUE INDEX', 'CREATE INDEX');
  END LOOP;
  FOR rec IN SELECT pg_get_triggerdef(oid) AS d FROM pg_trigger
              WHERE tgrelid = p_table::regclass AND NOT tgisinternal ORDER BY tgname LOOP
    defs := defs || rec.d;
  END LOOP;

  -- An identity column's sequence belongs to its table: replace it by a plain sequence
  -- (same name, same position) that outlives the old table.
  EXECUTE format('SELECT GREATEST((SELECT last_value FROM %s), (SELECT max(id) FROM %I), 1)',
                 seq, p_table) INTO last_id;
  IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = p_table::regclass
              AND attname = 'id' AND attidentity <> '') THEN
    EXECUTE format('ALTER TABLE %I ALTER COLUMN id DROP IDENTITY', p_table);
    EXECUTE format('CREATE SEQUENCE %s AS bigint', seq);
    PERFORM setval(seq, last_id);
    EXECUTE format('ALTER TABLE %I ALTER COLUMN id SET DEFAULT nextval(%L)', p_table, seq);
  END IF;
  EXECUTE format('ALTER SEQUENCE %s OWNED BY NONE', seq);
  EXECUTE format('ALTER TABLE %I RENAME TO %I', p_table, old_name);
  EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS'
                 ' INCLUDING STORAGE INCLUDING COMMENTS) PARTITION BY RANGE (%I)',
                 p_table, old_name, p_time);
  EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', p_table || '_pdefault', p_table);

  INSERT INTO archive_partitioned_table (table_name, time_column, detachable, reason,
                                         detach_check)
  VALUES (p_table, p_time, p_detachable, COALESCE(p_reason, ''), p_detach_check);
  EXECUTE format('SELECT date_trunc(''month'', min(%1$I) AT TIME ZONE ''UTC'')::date,'
                 ' date_trunc(''month'', max(%1$I) AT TIME ZONE ''UTC'')::date FROM %2$I',
                 p_time, old_name) INTO first_month, last_month;
  first_month := LEAST(COALESCE(first_month, current_date),
                       date_trunc('month', now() AT TIME ZONE 'UTC')::date);
  last_month := GREATEST(COALESCE(last_month, current_date), current_date);
  PERFORM archive_partitions_ensure(
    p_table, first_month,
    ((extract(year FROM last_month) - extract(year FROM first_month)) * 12
     + extract(month FROM last_month) - extract(month FROM first_month))::integer + 3);

  -- The rows, before any trigger exists on the new table (a posting is not applied twice).
  EXECUTE format('INSERT INTO %I SELECT * FROM %I', p_table, old_name);
  EXECUTE format('DROP TABLE %I', old_name);
  EXECUTE format('ALTER SEQUENCE %s OWNED BY %I.id', seq, p_table);
  EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I PRIMARY KEY (id, %I)', p_table, pk_name, p_time);
  FOREACH def IN ARRAY defs LOOP
    EXECUTE def;
  END LOOP;

  IF p_id_mode = 'assign' THEN
    -- (the column keeps its default: a row inserted with triggers off still gets an id)
    EXECUTE format('CREATE TRIGGER %I BEFORE INSERT ON %I FOR EACH ROW'
                   ' EXECUTE FUNCTION archive_id_assign(%L)', p_table || '_id_assign',
                   p_table, seq);
  ELSE
    EXECUTE format('CREATE TRIGGER %I BEFORE INSERT OR UPDATE OF id ON %I FOR EACH ROW'
                   ' EXECUTE FUNCTION archive_id_unique()', p_table || '_id_unique', p_table);
  END IF;
  -- Columns unique across months: a key table <table>_<column>_taken holds every value any
  -- row holds (attached, detached or dropped months alike), with a real primary key; three
  -- row triggers keep it, ENABLE ALWAYS so they fire even with session_replication_role =
  -- replica (as a unique index would still hold). A value a detached month holds stays
  -- taken. Concurrent claims of one value wait on the key's index like any unique insert.
  FOREACH col IN ARRAY COALESCE(p_unique, '{}') LOOP
    SELECT format_type(atttypid, atttypmod) INTO col_type FROM pg_attribute
     WHERE attrelid = p_table::regclass AND attname = col AND attnum > 0 AND NOT attisdropped;
    IF col_type IS NULL THEN
      RAISE EXCEPTION '% has no column %', p_table, col USING ERRCODE = 'undefined_column';
    END IF;
    key_table := p_table || '_' || col || '_taken';
    EXECUTE format('CREATE TABLE %I (%I %s PRIMARY KEY)', key_table, col, col_type);
    EXECUTE format('REVOKE ALL ON TABLE %I FROM PUBLIC', key_table);
    EXECUTE format('INSERT INTO %I SELECT %I FROM %I WHERE %I IS NOT NULL',
                   key_table, col, p_table, col);
    -- the keeper: a function of its own per column, with static SQL (plans cached)
    EXECUTE format($f$
      CREATE FUNCTION %1$I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
      SET search_path FROM CURRENT AS $body$
      BEGIN
        IF TG_OP <> 'INSERT' AND OLD.%3$I IS NOT NULL THEN
          DELETE FROM %2$I WHERE %3$I = OLD.%3$I;
        END IF;
        IF TG_OP = 'DELETE' THEN
          RETURN OLD;
        END IF;
        IF NEW.%3$I IS NOT NULL THEN
          INSERT INTO %2$I (%3$I) VALUES (NEW.%3$I) ON CONFLICT DO NOTHING;
          IF NOT FOUND THEN
            RAISE EXCEPTION 'duplicate key value: %4$s.%3$s = %% is held by another row (unique across every month, archived ones included)',
              NEW.%3$I USING ERRCODE = 'unique_violation', CONSTRAINT = %5$L, TABLE = %4$L,
              COLUMN = %3$L;
          END IF;
        END IF;
        RETURN NEW;
      END $body$ $f$, key_table || '_keep', key_table, col, p_table, key_table || '_pkey');
    EXECUTE format('CREATE TRIGGER %I BEFORE INSERT ON %I FOR EACH ROW WHEN (NEW.%I IS NOT NULL)'
                   ' EXECUTE FUNCTION %I()',
                   p_table || '_' || col || '_claim', p_table, col, key_table || '_keep');
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OF %I ON %I FOR EACH ROW'
                   ' WHEN (NEW.%I IS DISTINCT FROM OLD.%I) EXECUTE FUNCTION %I()',
                   p_table || '_' || col || '_reclaim', col, p_table, col, col,
                   key_table || '_keep');
    EXECUTE format('CREATE TRIGGER %I BEFORE DELETE ON %I FOR EACH ROW WHEN (OLD.%I IS NOT NULL)'
                   ' EXECUTE FUNCTION %I()',
                   p_table || '_' || col || '_release', p_table, col, key_table || '_keep');
    EXECUTE format('ALTER TABLE %I ENABLE ALWAYS TRIGGER %I', p_table,
                   p_table || '_' || col || '_claim');
    EXECUTE format('ALTER TABLE %I ENABLE ALWAYS TRIGGER %I', p_table,
                   p_table || '_' || col || '_reclaim');
    EXECUTE format('ALTER TABLE %I ENABLE ALWAYS TRIGGER %I', p_table,
                   p_table || '_' || col || '_release');
  END LOOP;
  -- the default partition and existing months got their guards before the root had them
  FOR rec IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
              WHERE i.inhparent = p_table::regclass LOOP
    PERFORM archive_partition_guard(p_table, rec.relname);
  END LOOP;
  EXECUTE format('ANALYZE %I', p_table);
  SELECT count(*) INTO made FROM pg_inherits WHERE inhparent = p_table::regclass;
  RETURN made;
END $$;


CREATE OR REPLACE FUNCTION archive_partition_detach(p_table text, p_month date) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
  reg archive_partitioned_table%ROWTYPE;
  man archive_manifest%ROWTYPE;
  part text := archive_partition_name(p_table, p_month);
  n bigint;
  lo bigint;
  hi bigint;
  refusal text;
BEGIN
  SELECT * INTO reg FROM archive_partitioned_table WHERE table_name = p_table;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'table % is not partitioned by month', p_table
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT reg.detachable THEN
    RAISE EXCEPTION '% keeps its months attached: %', p_table, reg.reason
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF archive_month_start((p_month + interval '1 month')::date) > now() THEN
    RAISE EXCEPTION 'month % of % is not closed yet', to_char(p_month, 'YYYY-MM'), p_table
      USING ERRCODE = 'restrict_violation';
  END IF;
  SELECT * INTO man FROM archive_manifest WHERE table_name = p_table AND month = p_month
     FOR UPDATE;
  IF NOT FOUND OR man.state <> 'verified' THEN
    RAISE EXCEPTION '% of %: no verified archive (state %)', to_char(p_month, 'YYYY-MM'),
      p_table, COALESCE(man.state, 'none') USING ERRCODE = 'restrict_violation';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass(part)
                  AND inhparent = p_table::regclass) THEN
    RAISE EXCEPTION 'partition % is not attached', part USING ERRCODE = 'restrict_violation';
  END IF;
  -- no row can arrive or change between the count and the detach
  EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', p_table);
  EXECUTE format('SELECT count(*), min(id), max(id) FROM %I', part) INTO n, lo, hi;
  IF n <> man.row_count OR lo IS DISTINCT FROM man.min_id OR hi IS DISTINCT FROM man.max_id THEN
    RAISE EXCEPTION 'partition % has % rows (ids % to %), its archive % (% to %): verify again',
      part, n, lo, hi, man.row_count, man.min_id, man.max_id
      USING ERRCODE = 'restrict_violation';
  END IF;
  -- the table's own condition (audit_record: a signed checkpoint covers the month)
  IF reg.detach_check <> '' THEN
    EXECUTE format('SELECT %s($1)', reg.detach_check::regproc) INTO refusal USING p_month;
    IF refusal IS NOT NULL THEN
      RAISE EXCEPTION '% of % stays attached: %', to_char(p_month, 'YYYY-MM'), p_table, refusal
        USING ERRCODE = 'restrict_violation';
    END IF;
  END IF;
  EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', p_table, part);
  UPDATE archive_manifest SET state = 'detached', detached_at = now() WHERE id = man.id;
  RETURN n;
END $$;

"""


class Migration(migrations.Migration):
    dependencies = [("archive", "0002_registry_unmanaged")]

    operations = [migrations.RunSQL(SQL)]
