"""Tables referenced by foreign keys, and unique keys of several columns, across months
(issue 14, item 5: ``ledger_journal_entry``, ``wallets_transfer``, ``momo_request``).

``archive_partition_table`` (same arguments as in 0003) now accepts:

- **A table referenced by foreign keys on ``id``**, when ``id`` is one of its ``p_unique``
  keys. A partitioned table's ``id`` alone is no key (its primary key must hold the time
  column), so no foreign key may point at it. The key table ``<table>_id_taken`` holds
  every id a row of the table holds, in any month, attached or archived, as its primary
  key; every foreign key that referenced ``<table>(id)`` is dropped before the swap and
  recreated, by its own definition, to reference ``<table>_id_taken(id)`` instead (same
  name, same columns, same ``DEFERRABLE``). What the constraint says is unchanged: the id
  a row names is an id the table holds, and the table cannot lose it while it is named
  (deleting the row releases its key, which the foreign key refuses). An id of an archived
  month stays taken, so a row that names it stays valid.
- **A unique key of several columns**: a ``p_unique`` element ``'col1,col2'`` (in the
  order of the unique index) gets the key table ``<table>_<col1>_<col2>_taken`` with the
  columns as its primary key. As with a unique index, a row with a NULL in any key column
  claims nothing.

The keeper raises ``unique_violation`` naming the **old constraint's name**
(``transfer_idempotency``, ``ledger_journal_entry_idempotency_key_key``...), so callers that
recognise a duplicate by its constraint name keep working.

``archive_partition_detach`` now refuses a month while rows of an attached table still
refer to it through those foreign keys (a month of transfers stays while MoMo requests or
remittances in the database name its transfers): a reader of such a row would find its
target gone. The check runs under the detach's ``ACCESS EXCLUSIVE`` lock; a transaction
that read the target row before the lock holds its share lock until it commits, so its
referencing row is committed and seen by the check.

Not reversible: un-partitioning a table is a migration of its own.
"""

from django.db import migrations, models

SQL = r"""
-- The range of ids a month's rows hold, as SQL: min/max for integer ids, none for others
-- (a UUID has no order worth recording; the count and the fingerprint check those rows).
CREATE FUNCTION archive_id_range(p_table text) RETURNS text
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
  SELECT CASE WHEN format_type(a.atttypid, NULL) IN ('bigint', 'integer', 'smallint')
              THEN 'min(id), max(id)' ELSE 'NULL::bigint, NULL::bigint' END
    FROM pg_attribute a WHERE a.attrelid = p_table::regclass AND a.attname = 'id'
$$;

-- An order-independent fingerprint of a month's rows (the sum of a 64-bit hash of each row's
-- text, with the output settings pinned), read in the caller's snapshot: the export records
-- it, and the detach and the re-attach refuse rows that changed since (an update the count
-- and the id range would not show: a transfer reversed after its month was verified).
CREATE FUNCTION archive_month_fingerprint(p_table text, p_month date) RETURNS numeric
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT
SET TimeZone TO 'UTC' SET DateStyle TO 'ISO, YMD' SET IntervalStyle TO 'postgres'
SET bytea_output TO 'hex' SET extra_float_digits TO 1 AS $$
DECLARE
  part text := archive_partition_name(p_table, p_month);
  f numeric;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM archive_partitioned_table WHERE table_name = p_table) THEN
    RAISE EXCEPTION 'table % is not partitioned by month', p_table
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF to_regclass(part) IS NULL THEN
    RAISE EXCEPTION 'no table % holds that month', part USING ERRCODE = 'invalid_parameter_value';
  END IF;
  EXECUTE format('SELECT COALESCE(sum(hashtextextended(t::text, 0)::numeric), 0) FROM %I t',
                 part) INTO f;
  RETURN f;
END $$;

-- Every key table (the runtime role reads them; tests' flush empties them too).
CREATE TABLE archive_key_table (
  key_table text PRIMARY KEY,
  table_name text NOT NULL,
  columns text[] NOT NULL,
  constraint_name text NOT NULL
);
INSERT INTO archive_key_table
SELECT 'audit_record_seq_taken', 'audit_record', '{seq}', 'audit_record_seq_taken_pkey'
 WHERE to_regclass('audit_record_seq_taken') IS NOT NULL;

-- The key table of one unique key (one or more columns) of p_table, with its keeper
-- function and three ENABLE ALWAYS row triggers (see 0003), filled from the table's rows.
-- p_constraint: the name the duplicate error carries (the unique key it replaces).
CREATE FUNCTION archive_key_table_make(p_table text, p_cols text[], p_constraint text)
RETURNS text LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  key_table text := p_table || '_' || array_to_string(p_cols, '_') || '_taken';
  base text := p_table || '_' || array_to_string(p_cols, '_');
  col text;
  col_type text;
  coldefs text[] := '{}';
  collist text;
  new_vals text;
  new_set text;
  old_set text;
  old_match text;
  changed text;
  shown text;
BEGIN
  IF length(base || '_reclaim') > 63 OR length(key_table || '_keep') > 63 THEN
    RAISE EXCEPTION 'key table name % is too long for PostgreSQL (63)', key_table
      USING ERRCODE = 'name_too_long';
  END IF;
  FOREACH col IN ARRAY p_cols LOOP
    SELECT format_type(atttypid, atttypmod) INTO col_type FROM pg_attribute
     WHERE attrelid = p_table::regclass AND attname = col AND attnum > 0 AND NOT attisdropped;
    IF col_type IS NULL THEN
      RAISE EXCEPTION '% has no column %', p_table, col USING ERRCODE = 'undefined_column';
    END IF;
    coldefs := coldefs || format('%I %s NOT NULL', col, col_type);
  END LOOP;
  SELECT string_agg(format('%I', c), ', '),
         string_agg(format('NEW.%I', c), ', '),
         string_agg(format('NEW.%I IS NOT NULL', c), ' AND '),
         string_agg(format('OLD.%I IS NOT NULL', c), ' AND '),
         string_agg(format('%1$I = OLD.%1$I', c), ' AND '),
         string_agg(format('NEW.%1$I IS DISTINCT FROM OLD.%1$I', c), ' OR '),
         string_agg(format('%s = %%', c), ', ')
    INTO collist, new_vals, new_set, old_set, old_match, changed, shown
    FROM unnest(p_cols) AS c;
  EXECUTE format('CREATE TABLE %I (%s, PRIMARY KEY (%s))', key_table,
                 array_to_string(coldefs, ', '), collist);
  EXECUTE format('REVOKE ALL ON TABLE %I FROM PUBLIC', key_table);
  EXECUTE format('INSERT INTO %I (%s) SELECT %s FROM %I WHERE %s', key_table, collist,
                 collist, p_table, replace(new_set, 'NEW.', ''));
  EXECUTE format($f$
    CREATE FUNCTION %1$I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path FROM CURRENT AS $body$
    BEGIN
      IF TG_OP <> 'INSERT' AND %3$s THEN
        DELETE FROM %2$I WHERE %4$s;
      END IF;
      IF TG_OP = 'DELETE' THEN
        RETURN OLD;
      END IF;
      IF %5$s THEN
        INSERT INTO %2$I (%6$s) VALUES (%7$s) ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
          RAISE EXCEPTION 'duplicate key value: %8$s (%9$s) is held by another row (unique across every month, archived ones included)',
            %7$s USING ERRCODE = 'unique_violation', CONSTRAINT = %10$L, TABLE = %8$L;
        END IF;
      END IF;
      RETURN NEW;
    END $body$ $f$, key_table || '_keep', key_table, old_set, old_match, new_set, collist,
    new_vals, p_table, shown, p_constraint);
  EXECUTE format('CREATE TRIGGER %I BEFORE INSERT ON %I FOR EACH ROW WHEN (%s)'
                 ' EXECUTE FUNCTION %I()', base || '_claim', p_table, new_set,
                 key_table || '_keep');
  EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OF %s ON %I FOR EACH ROW WHEN (%s)'
                 ' EXECUTE FUNCTION %I()', base || '_reclaim', collist, p_table, changed,
                 key_table || '_keep');
  EXECUTE format('CREATE TRIGGER %I BEFORE DELETE ON %I FOR EACH ROW WHEN (%s)'
                 ' EXECUTE FUNCTION %I()', base || '_release', p_table, old_set,
                 key_table || '_keep');
  EXECUTE format('ALTER TABLE %I ENABLE ALWAYS TRIGGER %I', p_table, base || '_claim');
  EXECUTE format('ALTER TABLE %I ENABLE ALWAYS TRIGGER %I', p_table, base || '_reclaim');
  EXECUTE format('ALTER TABLE %I ENABLE ALWAYS TRIGGER %I', p_table, base || '_release');
  INSERT INTO archive_key_table VALUES (key_table, p_table, p_cols, p_constraint);
  RETURN key_table;
END $$;

CREATE OR REPLACE FUNCTION archive_partition_table(
  p_table text, p_time text, p_id_mode text, p_detachable boolean, p_reason text,
  p_unique text[] DEFAULT '{}', p_detach_check text DEFAULT ''
) RETURNS integer LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  old_name text := p_table || '_unpartitioned';
  seq text;
  pk_name text;
  defs text[] := '{}';
  refs text[] := '{}';
  def text;
  rec record;
  first_month date;
  last_month date;
  made integer;
  last_id bigint;
  keys text[] := '{}';
  key text;
  key_name text;
  key_names text[] := '{}';
BEGIN
  IF p_id_mode NOT IN ('assign', 'probe', 'key') THEN
    RAISE EXCEPTION 'id mode must be assign, probe or key' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = p_table::regclass) THEN
    RAISE EXCEPTION '% is already partitioned', p_table;
  END IF;
  -- the keys to keep across months, each as its column list 'a,b' (spaces ignored)
  FOREACH key IN ARRAY COALESCE(p_unique, '{}') LOOP
    keys := keys || regexp_replace(key, '\s', '', 'g');
  END LOOP;
  -- 'key': the client chooses the id (a UUID, say) and the id's key table keeps it unique
  IF p_id_mode = 'key' AND NOT 'id' = ANY (keys) THEN
    RAISE EXCEPTION 'id mode key needs id among the unique keys' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_constraint WHERE confrelid = p_table::regclass AND contype = 'f')
     AND NOT 'id' = ANY (keys) THEN
    RAISE EXCEPTION '% is referenced by a foreign key: its id alone would no longer be a key'
      ' (name id in the unique keys to keep: the references move to its key table)', p_table;
  END IF;
  -- A unique key without the time column cannot be a partitioned table's key. Only a key
  -- named in p_unique (its columns in index order, no expression, no predicate) is allowed:
  -- a key table keeps it (see archive_key_table_make).
  IF EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = p_table::regclass AND i.indisunique
              AND NOT i.indisprimary AND NOT (
                i.indexprs IS NULL AND i.indpred IS NULL
                AND (SELECT string_agg(a.attname, ',' ORDER BY k.n)
                       FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
                       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum)
                    = ANY (keys))) THEN
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
  IF pk_name IS NULL OR seq IS NULL AND p_id_mode <> 'key' THEN
    RAISE EXCEPTION '% needs an id primary key drawn from a sequence', p_table;
  END IF;

  -- The name each key's duplicates are reported under: its unique index (constraint).
  FOREACH key IN ARRAY keys LOOP
    IF key = 'id' THEN
      key_name := pk_name;
    ELSE
      SELECT c.relname INTO key_name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
       WHERE i.indrelid = p_table::regclass AND i.indisunique AND i.indexprs IS NULL
         AND i.indpred IS NULL AND (SELECT string_agg(a.attname, ',' ORDER BY k.n)
                FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
                JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) = key
       ORDER BY c.relname LIMIT 1;
      key_name := COALESCE(key_name, p_table || '_' || replace(key, ',', '_') || '_key');
    END IF;
    key_names := key_names || key_name;
  END LOOP;
  -- Everything that guards the table, by its own definition, to recreate on the new one.
  FOR rec IN SELECT conname, pg_get_constraintdef(oid) AS d FROM pg_constraint
              WHERE conrelid = p_table::regclass AND contype = 'f' ORDER BY conname LOOP
    defs := defs || format('ALTER TABLE %I ADD CONSTRAINT %I %s', p_table, rec.conname, rec.d);
  END LOOP;
  FOR rec IN SELECT pg_get_indexdef(indexrelid) AS d FROM pg_index
              WHERE indrelid = p_table::regclass AND NOT indisprimary ORDER BY indexrelid LOOP
    -- (a unique index here is a p_unique key: its key table keeps it unique)
    defs := defs || regexp_replace(rec.d, '^CREATE UNIQUE INDEX', 'CREATE INDEX');
  END LOOP;
  FOR rec IN SELECT pg_get_triggerdef(oid) AS d FROM pg_trigger
              WHERE tgrelid = p_table::regclass AND NOT tgisinternal ORDER BY tgname LOOP
    defs := defs || rec.d;
  END LOOP;
  -- The foreign keys that reference the table (on its partitioned referrers, the root's
  -- constraint; the partitions' clones go and come back with it): dropped now, recreated
  -- on the key table of the id once it exists.
  FOR rec IN SELECT conrelid::regclass::text AS rel, conname, pg_get_constraintdef(oid) AS d
               FROM pg_constraint WHERE confrelid = p_table::regclass AND contype = 'f'
                AND conparentid = 0 ORDER BY conrelid::regclass::text, conname LOOP
    IF rec.d !~ ('REFERENCES ' || p_table || '\(id\)') THEN
      RAISE EXCEPTION 'foreign key % of % references % by other columns than id: %',
        rec.conname, rec.rel, p_table, rec.d;
    END IF;
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', rec.rel, rec.conname);
    refs := refs || format('ALTER TABLE %s ADD CONSTRAINT %I %s', rec.rel, rec.conname,
                           regexp_replace(rec.d, 'REFERENCES ' || p_table || '\(id\)',
                                          'REFERENCES ' || p_table || '_id_taken(id)'));
  END LOOP;

  -- An identity column's sequence belongs to its table: replace it by a plain sequence
  -- (same name, same position) that outlives the old table.
  IF seq IS NOT NULL THEN
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
  END IF;
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
  IF seq IS NOT NULL THEN
    EXECUTE format('ALTER SEQUENCE %s OWNED BY %I.id', seq, p_table);
  END IF;
  EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I PRIMARY KEY (id, %I)', p_table, pk_name, p_time);
  FOREACH def IN ARRAY defs LOOP
    EXECUTE def;
  END LOOP;

  IF p_id_mode = 'assign' THEN
    -- (the column keeps its default: a row inserted with triggers off still gets an id)
    EXECUTE format('CREATE TRIGGER %I BEFORE INSERT ON %I FOR EACH ROW'
                   ' EXECUTE FUNCTION archive_id_assign(%L)', p_table || '_id_assign',
                   p_table, seq);
  ELSIF p_id_mode = 'probe' AND NOT 'id' = ANY (keys) THEN
    EXECUTE format('CREATE TRIGGER %I BEFORE INSERT OR UPDATE OF id ON %I FOR EACH ROW'
                   ' EXECUTE FUNCTION archive_id_unique()', p_table || '_id_unique', p_table);
  END IF;
  -- Keys unique across months: one key table each (the id's, if named, keeps the id unique
  -- and is what the referencing foreign keys point at). Trigger names sort so that
  -- <table>_id_assign runs before <table>_id_claim.
  FOR i IN 1 .. coalesce(array_length(keys, 1), 0) LOOP
    PERFORM archive_key_table_make(p_table, string_to_array(keys[i], ','), key_names[i]);
  END LOOP;
  FOREACH def IN ARRAY refs LOOP
    EXECUTE def;
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

-- Rows of attached tables that still name a row of the month (through the foreign keys
-- moved to the table's id key table): NULL when none does, else the first such table.
CREATE FUNCTION archive_month_referrers(p_table text, p_part text) RETURNS text
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  fk record;
  named boolean;
BEGIN
  IF to_regclass(p_table || '_id_taken') IS NULL THEN
    RETURN NULL;
  END IF;
  FOR fk IN SELECT c.conrelid::regclass::text AS rel, a.attname AS col, c.conname
              FROM pg_constraint c
              JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
             WHERE c.confrelid = (p_table || '_id_taken')::regclass AND c.contype = 'f'
               AND c.conparentid = 0
               -- a detached month of a referencing table keeps its own copy of the key
               -- (no longer a partition's clone): its rows are archived, not attached
               AND NOT EXISTS (SELECT 1 FROM archive_partitioned_table t
                                WHERE c.conrelid::regclass::text
                                      ~ ('^' || t.table_name || '_p([0-9]{4}_[0-9]{2}|default)$'))
             ORDER BY 1, 2 LOOP
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s r WHERE r.%I IN (SELECT id FROM %I))',
                   fk.rel, fk.col, p_part) INTO named;
    IF named THEN
      RETURN format('rows of %s (%s) still refer to its rows: they leave first', fk.rel, fk.col);
    END IF;
  END LOOP;
  RETURN NULL;
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
  EXECUTE format('SELECT count(*), %s FROM %I', archive_id_range(p_table), part)
    INTO n, lo, hi;
  IF n <> man.row_count OR lo IS DISTINCT FROM man.min_id OR hi IS DISTINCT FROM man.max_id THEN
    RAISE EXCEPTION 'partition % has % rows (ids % to %), its archive % (% to %): verify again',
      part, n, lo, hi, man.row_count, man.min_id, man.max_id
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF man.rows_fingerprint IS NOT NULL
     AND archive_month_fingerprint(p_table, p_month) <> man.rows_fingerprint THEN
    RAISE EXCEPTION 'rows of partition % changed since the archive was exported: export and'
      ' verify again', part USING ERRCODE = 'restrict_violation';
  END IF;
  -- nothing still attached names a row of the month (its readers would find it gone)
  refusal := archive_month_referrers(p_table, part);
  IF refusal IS NOT NULL THEN
    RAISE EXCEPTION '% of % stays attached: %', to_char(p_month, 'YYYY-MM'), p_table, refusal
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

CREATE OR REPLACE FUNCTION archive_partition_attach(p_table text, p_month date) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
  man archive_manifest%ROWTYPE;
  part text := archive_partition_name(p_table, p_month);
  n bigint;
  lo bigint;
  hi bigint;
BEGIN
  SELECT * INTO man FROM archive_manifest WHERE table_name = p_table AND month = p_month
     FOR UPDATE;
  IF NOT FOUND OR man.state NOT IN ('detached', 'dropped') THEN
    RAISE EXCEPTION '% of % is not archived (state %)', to_char(p_month, 'YYYY-MM'), p_table,
      COALESCE(man.state, 'none') USING ERRCODE = 'restrict_violation';
  END IF;
  IF to_regclass(part) IS NULL OR EXISTS (SELECT 1 FROM pg_inherits
                                           WHERE inhrelid = to_regclass(part)) THEN
    RAISE EXCEPTION 'no detached table % to attach', part USING ERRCODE = 'restrict_violation';
  END IF;
  EXECUTE format('REVOKE ALL ON TABLE %I FROM %I', part, session_user);
  EXECUTE format('SELECT count(*), %s FROM %I', archive_id_range(p_table), part)
    INTO n, lo, hi;
  IF n <> man.row_count OR lo IS DISTINCT FROM man.min_id OR hi IS DISTINCT FROM man.max_id THEN
    RAISE EXCEPTION '% has % rows (ids % to %), its archive % (% to %)',
      part, n, lo, hi, man.row_count, man.min_id, man.max_id
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF man.rows_fingerprint IS NOT NULL
     AND archive_month_fingerprint(p_table, p_month) <> man.rows_fingerprint THEN
    RAISE EXCEPTION 'the rows of % differ from its archive (fingerprint)', part
      USING ERRCODE = 'restrict_violation';
  END IF;
  EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                 p_table, part, archive_month_start(p_month),
                 archive_month_start((p_month + interval '1 month')::date));
  PERFORM archive_partition_guard(p_table, part);
  UPDATE archive_manifest SET state = 'restored', restored_at = now() WHERE id = man.id;
  RETURN n;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("archive", "0003_unique_across_months"),
        # the audit trail's key table (made by 0003's function) is registered here
        ("audit", "0006_partition_by_month"),
    ]

    operations = [
        migrations.AddField(
            model_name="archivemanifest",
            name="rows_fingerprint",
            field=models.DecimalField(blank=True, decimal_places=0, max_digits=40, null=True),
        ),
        migrations.RunSQL(SQL),
    ]
