"""Monthly partitions (PostgreSQL declarative partitioning) and archive manifests.

The partition key is the row's time column (``created_at``), RANGE by calendar month in
UTC: the archival unit is a month of business time, and a month's bounds are known before
its first row arrives (an id range is not: nobody knows which id the sequence will have
reached on the 1st). A partitioned table's primary key must include the partition key,
so it becomes ``(id, created_at)``; the id's uniqueness across months is kept by a trigger
(see ``archive_partition_table``). A table that others reference by ``id`` alone, or that
has a unique key without the time column (an idempotency key), cannot be partitioned
without losing that constraint: ``archive_partition_table`` refuses it.

Functions (owned by the schema owner; the runtime role may call them, and they check
what they are asked):

- ``archive_partition_table(table, time_column, id_mode, detachable, reason)`` turns a
  table into a partitioned one in the migration's transaction: copies the rows into
  monthly partitions (plus a default partition for strays), recreates its checks, foreign
  keys, indexes and triggers from the catalog (so every invariant trigger is kept, by its
  own definition), then drops the old table and takes its name;
- ``archive_partitions_ensure(table, first_month, months)`` creates months ahead (the
  periodic ``partitions_ensure`` job), never a month already archived;
- ``archive_partition_detach(table, month)`` detaches a closed month only if its manifest
  is ``verified`` and the partition's rows still have the manifest's count and id range;
- ``archive_partition_drop(table, month, grace)`` drops a detached month after the grace.
"""

from django.db import migrations, models

SQL = r"""
CREATE FUNCTION archive_partition_name(p_table text, p_month date) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT p_table || '_p' || to_char(p_month, 'YYYY_MM') $$;

-- The month bounds of a partition, as timestamptz (UTC calendar months).
CREATE FUNCTION archive_month_start(p_month date) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$ SELECT date_trunc('month', p_month)::timestamp AT TIME ZONE 'UTC' $$;

-- Copy the root's TRUNCATE guards onto a partition (statement triggers are not inherited)
-- and make sure nobody but the owner reaches the partition directly.
CREATE FUNCTION archive_partition_guard(p_table text, p_part text) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  trg record;
BEGIN
  FOR trg IN
    SELECT t.tgname, p.proname FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
     WHERE t.tgrelid = p_table::regclass AND NOT t.tgisinternal AND (t.tgtype & 32) <> 0
  LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_trigger
                    WHERE tgrelid = p_part::regclass AND tgname = trg.tgname) THEN
      EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT'
                     ' EXECUTE FUNCTION %I()', trg.tgname, p_part, trg.proname);
    END IF;
  END LOOP;
  EXECUTE format('REVOKE ALL ON TABLE %I FROM PUBLIC', p_part);
END $$;

CREATE FUNCTION archive_partitions_ensure(p_table text, p_first date, p_months integer)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
  m date;
  part text;
  made integer := 0;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM archive_partitioned_table WHERE table_name = p_table) THEN
    RAISE EXCEPTION 'table % is not partitioned by month', p_table
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_months IS NULL OR p_months < 1 OR p_months > 120 THEN
    RAISE EXCEPTION 'months ahead must be 1 to 120, not %', p_months
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOR i IN 0 .. p_months - 1 LOOP
    m := (date_trunc('month', p_first) + make_interval(months => i))::date;
    part := archive_partition_name(p_table, m);
    CONTINUE WHEN to_regclass(part) IS NOT NULL;
    -- an archived month stays archived: `lightway archive restore` brings it back
    CONTINUE WHEN EXISTS (SELECT 1 FROM archive_manifest WHERE table_name = p_table
                           AND month = m AND state IN ('detached', 'dropped'));
    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                   part, p_table, archive_month_start(m),
                   archive_month_start((m + interval '1 month')::date));
    PERFORM archive_partition_guard(p_table, part);
    made := made + 1;
  END LOOP;
  RETURN made;
END $$;

-- Turn an ordinary table into one partitioned by month on p_time (run by a migration, as
-- the owner, in its transaction). p_id_mode: 'assign' = every new row's id is drawn from
-- the table's sequence by a trigger (no client-chosen id, so ids are unique in every
-- month); 'probe' = a client may choose the id (reserved with nextval beforehand) and a
-- trigger refuses one that any month already has.
CREATE FUNCTION archive_partition_table(
  p_table text, p_time text, p_id_mode text, p_detachable boolean, p_reason text
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
  IF EXISTS (SELECT 1 FROM pg_index WHERE indrelid = p_table::regclass AND indisunique
              AND NOT indisprimary) THEN
    RAISE EXCEPTION '% has a unique key without %: it cannot hold across partitions',
      p_table, p_time;
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
    defs := defs || rec.d;
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

  INSERT INTO archive_partitioned_table (table_name, time_column, detachable, reason)
  VALUES (p_table, p_time, p_detachable, COALESCE(p_reason, ''));
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
  -- the default partition and existing months got their guards before the root had them
  FOR rec IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
              WHERE i.inhparent = p_table::regclass LOOP
    PERFORM archive_partition_guard(p_table, rec.relname);
  END LOOP;
  EXECUTE format('ANALYZE %I', p_table);
  SELECT count(*) INTO made FROM pg_inherits WHERE inhparent = p_table::regclass;
  RETURN made;
END $$;

-- 'assign' mode: the id always comes from the table's sequence (the runtime role may not
-- setval it), so no two months can hold the same id.
CREATE FUNCTION archive_id_assign() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.id := nextval(TG_ARGV[0]::regclass);
  RETURN NEW;
END $$;

-- 'probe' mode: refuse an id some month already holds (one index probe per partition).
CREATE FUNCTION archive_id_unique() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  taken boolean;
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
    RETURN NEW;
  END IF;
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I WHERE id = $1)',
                 TG_TABLE_SCHEMA, (SELECT c.relname FROM pg_inherits i
                   JOIN pg_class c ON c.oid = i.inhparent WHERE i.inhrelid = TG_RELID))
    INTO taken USING NEW.id;
  IF taken THEN
    RAISE EXCEPTION 'duplicate id % in %', NEW.id, TG_TABLE_NAME
      USING ERRCODE = 'unique_violation';
  END IF;
  RETURN NEW;
END $$;

CREATE FUNCTION archive_partition_detach(p_table text, p_month date) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
  reg archive_partitioned_table%ROWTYPE;
  man archive_manifest%ROWTYPE;
  part text := archive_partition_name(p_table, p_month);
  n bigint;
  lo bigint;
  hi bigint;
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
  EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', p_table, part);
  UPDATE archive_manifest SET state = 'detached', detached_at = now() WHERE id = man.id;
  RETURN n;
END $$;

CREATE FUNCTION archive_partition_drop(p_table text, p_month date, p_grace interval)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
  man archive_manifest%ROWTYPE;
  part text := archive_partition_name(p_table, p_month);
  n bigint;
BEGIN
  SELECT * INTO man FROM archive_manifest WHERE table_name = p_table AND month = p_month
     FOR UPDATE;
  IF NOT FOUND OR man.state <> 'detached' THEN
    RAISE EXCEPTION '% of % is not detached (state %)', to_char(p_month, 'YYYY-MM'), p_table,
      COALESCE(man.state, 'none') USING ERRCODE = 'restrict_violation';
  END IF;
  IF p_grace IS NULL OR p_grace < interval '0' OR man.detached_at > now() - p_grace THEN
    RAISE EXCEPTION '% of % was detached at %: inside the grace period',
      to_char(p_month, 'YYYY-MM'), p_table, man.detached_at
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF to_regclass(part) IS NOT NULL THEN
    IF EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass(part)) THEN
      RAISE EXCEPTION 'partition % is attached again', part USING ERRCODE = 'restrict_violation';
    END IF;
    EXECUTE format('SELECT count(*) FROM %I', part) INTO n;
    IF n <> man.row_count THEN
      RAISE EXCEPTION 'detached % has % rows, its archive %', part, n, man.row_count
        USING ERRCODE = 'restrict_violation';
    END IF;
    EXECUTE format('DROP TABLE %I', part);
  END IF;
  UPDATE archive_manifest SET state = 'dropped', dropped_at = now() WHERE id = man.id;
  RETURN man.row_count;
END $$;

-- Rows in a table's default partition (strays: a time no month partition covers).
CREATE FUNCTION archive_default_rows(p_table text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
  n bigint;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM archive_partitioned_table WHERE table_name = p_table) THEN
    RAISE EXCEPTION 'table % is not partitioned by month', p_table
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  EXECUTE format('SELECT count(*) FROM %I', p_table || '_pdefault') INTO n;
  RETURN n;
END $$;

-- Restoring a dropped month: an empty table shaped like the partitioned one, which the
-- caller (this session's login role) may fill with COPY; archive_partition_attach checks
-- it against the manifest and attaches it.
CREATE FUNCTION archive_partition_restore_begin(p_table text, p_month date) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
  man archive_manifest%ROWTYPE;
  part text := archive_partition_name(p_table, p_month);
BEGIN
  SELECT * INTO man FROM archive_manifest WHERE table_name = p_table AND month = p_month
     FOR UPDATE;
  IF NOT FOUND OR man.state <> 'dropped' THEN
    RAISE EXCEPTION '% of % is not an archived, dropped month (state %)',
      to_char(p_month, 'YYYY-MM'), p_table, COALESCE(man.state, 'none')
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF to_regclass(part) IS NOT NULL THEN
    EXECUTE format('DROP TABLE %I', part);  -- a half-finished restore
  END IF;
  EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS'
                 ' INCLUDING STORAGE)', part, p_table);
  EXECUTE format('REVOKE ALL ON TABLE %I FROM PUBLIC', part);
  EXECUTE format('GRANT SELECT, INSERT ON TABLE %I TO %I', part, session_user);
  RETURN part;
END $$;

CREATE FUNCTION archive_partition_attach(p_table text, p_month date) RETURNS bigint
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
  EXECUTE format('SELECT count(*), min(id), max(id) FROM %I', part) INTO n, lo, hi;
  IF n <> man.row_count OR lo IS DISTINCT FROM man.min_id OR hi IS DISTINCT FROM man.max_id THEN
    RAISE EXCEPTION '% has % rows (ids % to %), its archive % (% to %)',
      part, n, lo, hi, man.row_count, man.min_id, man.max_id
      USING ERRCODE = 'restrict_violation';
  END IF;
  EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                 p_table, part, archive_month_start(p_month),
                 archive_month_start((p_month + interval '1 month')::date));
  PERFORM archive_partition_guard(p_table, part);
  UPDATE archive_manifest SET state = 'restored', restored_at = now() WHERE id = man.id;
  RETURN n;
END $$;

-- Manifests: never deleted, their table and month fixed, their state moves only forward
-- along the archive's life, and 'detached' / 'dropped' / 'restored' must be true of the
-- partition itself.
CREATE FUNCTION archive_manifest_guard() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
DECLARE
  part text;
  attached boolean;
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'archive manifests are never deleted' USING ERRCODE = 'restrict_violation';
  END IF;
  IF TG_OP = 'UPDATE' THEN
    IF NEW.table_name <> OLD.table_name OR NEW.month <> OLD.month THEN
      RAISE EXCEPTION 'an archive manifest''s table and month are fixed'
        USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.state <> OLD.state AND NOT (OLD.state, NEW.state) IN (
        ('exported', 'verified'), ('verified', 'exported'), ('verified', 'detached'),
        ('detached', 'dropped'), ('detached', 'restored'), ('dropped', 'restored'),
        ('restored', 'exported'), ('restored', 'verified')) THEN
      RAISE EXCEPTION 'archive manifest % cannot go from % to %', OLD.id, OLD.state, NEW.state
        USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.state IN ('detached', 'dropped') AND NEW.state = OLD.state AND (
        NEW.row_count <> OLD.row_count OR NEW.file_sha256 <> OLD.file_sha256
        OR NEW.content_sha256 <> OLD.content_sha256) THEN
      RAISE EXCEPTION 'an archived month''s manifest is fixed' USING ERRCODE = 'restrict_violation';
    END IF;
  ELSIF NEW.state NOT IN ('exported') THEN
    RAISE EXCEPTION 'an archive manifest starts exported' USING ERRCODE = 'check_violation';
  END IF;
  part := archive_partition_name(NEW.table_name, NEW.month);
  attached := EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass(part));
  IF NEW.state = 'detached' AND (attached OR to_regclass(part) IS NULL)
     OR NEW.state = 'dropped' AND to_regclass(part) IS NOT NULL
     OR NEW.state = 'restored' AND NOT attached
     OR NEW.state IN ('exported', 'verified') AND NOT attached THEN
    RAISE EXCEPTION 'archive manifest says % but partition % is %', NEW.state, part,
      CASE WHEN attached THEN 'attached' WHEN to_regclass(part) IS NULL THEN 'gone'
           ELSE 'detached' END USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER archive_manifest_guard BEFORE INSERT OR UPDATE OR DELETE ON archive_manifest
  FOR EACH ROW EXECUTE FUNCTION archive_manifest_guard();

CREATE FUNCTION archive_registry_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the partitioned tables are registered by migrations'
    USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER archive_registry_guard BEFORE UPDATE OR DELETE ON archive_partitioned_table
  FOR EACH ROW EXECUTE FUNCTION archive_registry_guard();
"""

REVERSE = r"""
DROP TRIGGER archive_registry_guard ON archive_partitioned_table;
DROP FUNCTION archive_registry_guard();
DROP TRIGGER archive_manifest_guard ON archive_manifest;
DROP FUNCTION archive_manifest_guard();
DROP FUNCTION archive_partition_attach(text, date);
DROP FUNCTION archive_partition_restore_begin(text, date);
DROP FUNCTION archive_default_rows(text);
DROP FUNCTION archive_partition_drop(text, date, interval);
DROP FUNCTION archive_partition_detach(text, date);
DROP FUNCTION archive_id_unique();
DROP FUNCTION archive_id_assign();
DROP FUNCTION archive_partition_table(text, text, text, boolean, text);
DROP FUNCTION archive_partitions_ensure(text, date, integer);
DROP FUNCTION archive_partition_guard(text, text);
DROP FUNCTION archive_month_start(date);
DROP FUNCTION archive_partition_name(text, date);
"""


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.CreateModel(
            name="PartitionedTable",
            fields=[
                (
                    "table_name",
                    models.CharField(max_length=63, primary_key=True, serialize=False),
                ),
                ("time_column", models.CharField(max_length=63)),
                ("detachable", models.BooleanField()),
                ("reason", models.CharField(blank=True, default="", max_length=300)),
            ],
            options={"db_table": "archive_partitioned_table"},
        ),
        migrations.CreateModel(
            name="ArchiveManifest",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("table_name", models.CharField(max_length=63)),
                ("month", models.DateField()),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("exported", "Exported"),
                            ("verified", "Verified"),
                            ("detached", "Detached"),
                            ("dropped", "Dropped"),
                            ("restored", "Restored"),
                        ],
                        max_length=10,
                    ),
                ),
                ("row_count", models.BigIntegerField()),
                ("min_id", models.BigIntegerField(blank=True, null=True)),
                ("max_id", models.BigIntegerField(blank=True, null=True)),
                ("columns", models.JSONField()),
                ("file_name", models.CharField(max_length=200)),
                ("file_sha256", models.CharField(max_length=64)),
                ("content_sha256", models.CharField(max_length=64)),
                ("exported_at", models.DateTimeField()),
                ("verified_at", models.DateTimeField(blank=True, null=True)),
                ("detached_at", models.DateTimeField(blank=True, null=True)),
                ("dropped_at", models.DateTimeField(blank=True, null=True)),
                ("restored_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "db_table": "archive_manifest",
                "ordering": ["month", "table_name"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("table_name", "month"), name="archive_manifest_once"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            (
                                "state__in",
                                ["exported", "verified", "detached", "dropped", "restored"],
                            )
                        ),
                        name="archive_manifest_state_valid",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("row_count__gte", 0)), name="archive_manifest_rows"
                    ),
                ],
            },
        ),
        migrations.RunSQL(SQL, REVERSE),
    ]
