"""A fee schedule is frozen once its period has started, not only once a record cites it.

Why: processes cache schedules (``LIGHTWAY_FEE_SCHEDULE_CACHE_SECONDS``) and there is a
window between ``fee_quote`` and ``commission_records_create`` in any case. A schedule in
effect may therefore be pricing a transaction right now even though no commission record
cites it yet; editing it then would leave that transaction's records citing prices it was
not charged (and deleting it would fail the transaction). Each rule has a test in
tests/test_commission.py.

The rules, replacing those of 0002 for the schedule, its bands and its splits:

- a schedule is *frozen* when a commission record cites it, or when its ``effective_from``
  is at or before the database clock (``clock_timestamp()``: the time of the change itself,
  not the start of a possibly long transaction as ``now()`` would be), unless the current
  transaction created it (nobody else can have seen it yet: seeding and the admin insert a
  back-dated schedule and then its bands and splits);
- a frozen schedule cannot be deleted, and neither its bands and splits (added, changed,
  removed) nor any of its columns but ``effective_to`` can change;
- its ``effective_to`` can only be set or moved earlier (never cleared or moved later), to a
  time not before the database clock, and, if a record cites it, after its last use;
- an unchanged rewrite (a plain save) is allowed, as before.

"Created by the current transaction" is a transaction-local setting,
``lightway.commission_schedules_created``, that a BEFORE INSERT trigger appends the new id
to. It reverts with a rolled-back savepoint and disappears at commit. Application code never
sets it; whoever can run SQL of their choosing could, as they could disable a trigger.
"""

from django.db import migrations

SQL = r"""
CREATE FUNCTION commission_schedule_mark_created() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('lightway.commission_schedules_created',
    concat_ws(',', nullif(current_setting('lightway.commission_schedules_created', true), ''),
              NEW.id::text),
    true);
  RETURN NEW;
END $$;

-- BEFORE, so that the mark is there for bands and splits inserted by the same statement.
CREATE TRIGGER commission_schedule_mark_created BEFORE INSERT ON commission_fee_schedule
  FOR EACH ROW EXECUTE FUNCTION commission_schedule_mark_created();

CREATE FUNCTION commission_schedule_created_here(p_schedule bigint) RETURNS boolean
LANGUAGE sql VOLATILE AS $$
  SELECT p_schedule::text = ANY (string_to_array(
    coalesce(current_setting('lightway.commission_schedules_created', true), ''), ','))
$$;

-- The schedule row. The SHARE lock on commission_record waits for transactions writing
-- records and holds new ones off until this one ends, so "unused" and "last use" cannot
-- change under the checks (writing a record takes no lock on the schedule row).
CREATE OR REPLACE FUNCTION commission_schedule_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  last_use timestamptz;
  db_now timestamptz;
  why text;
BEGIN
  IF TG_OP = 'UPDATE' AND to_jsonb(NEW) = to_jsonb(OLD) THEN
    RETURN NEW;
  END IF;
  LOCK TABLE commission_record IN SHARE MODE;
  db_now := clock_timestamp();  -- after waiting for the lock
  SELECT max(created_at) INTO last_use FROM commission_record WHERE schedule_id = OLD.id;
  IF last_use IS NOT NULL THEN
    why := format('is used by commission records (last at %s)', last_use);
  ELSIF OLD.effective_from <= db_now AND NOT commission_schedule_created_here(OLD.id) THEN
    why := format('has been in effect since %s', OLD.effective_from);
  ELSIF TG_OP = 'DELETE' THEN
    RETURN OLD;
  ELSE
    RETURN NEW;
  END IF;
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'fee schedule % % and cannot be deleted', OLD.id, why
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'commission_schedule_frozen';
  END IF;
  IF (to_jsonb(NEW) - 'effective_to') <> (to_jsonb(OLD) - 'effective_to') THEN
    RAISE EXCEPTION 'fee schedule % %: add a new version instead of changing it', OLD.id, why
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'commission_schedule_frozen';
  END IF;
  IF NEW.effective_to IS NULL
     OR (OLD.effective_to IS NOT NULL AND NEW.effective_to > OLD.effective_to) THEN
    RAISE EXCEPTION 'fee schedule % %: its period can only be ended (set or moved earlier), '
      'not reopened or extended', OLD.id, why
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'commission_schedule_frozen';
  END IF;
  IF NEW.effective_to < db_now THEN
    RAISE EXCEPTION 'fee schedule % %: its period cannot end in the past (% is before the '
      'database time %)', OLD.id, why, NEW.effective_to, db_now
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'commission_schedule_frozen';
  END IF;
  IF last_use IS NOT NULL AND NEW.effective_to <= last_use THEN
    RAISE EXCEPTION 'fee schedule % is used by commission records until %: its period can only '
      'be ended, after that time', OLD.id, last_use
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'commission_schedule_frozen';
  END IF;
  RETURN NEW;
END $$;

-- Bands and splits: none can be added, changed or removed once the schedule is frozen.
CREATE FUNCTION commission_schedule_assert_editable(p_schedule bigint, p_what text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  started timestamptz;
BEGIN
  LOCK TABLE commission_record IN SHARE MODE;
  IF EXISTS (SELECT 1 FROM commission_record WHERE schedule_id = p_schedule) THEN
    RAISE EXCEPTION 'fee schedule % is used by commission records: its % are frozen; add a '
      'new version instead', p_schedule, p_what
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'commission_schedule_frozen';
  END IF;
  IF commission_schedule_created_here(p_schedule) THEN
    RETURN;
  END IF;
  SELECT effective_from INTO started FROM commission_fee_schedule WHERE id = p_schedule;
  IF FOUND AND started <= clock_timestamp() THEN
    RAISE EXCEPTION 'fee schedule % has been in effect since %: its % are frozen; add a new '
      'version instead', p_schedule, started, p_what
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'commission_schedule_frozen';
  END IF;
  -- not found: the band's or split's foreign key refuses it at commit
END $$;

CREATE OR REPLACE FUNCTION commission_schedule_part_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  what text := CASE TG_TABLE_NAME WHEN 'commission_fee_band' THEN 'bands' ELSE 'splits' END;
BEGIN
  IF TG_OP = 'UPDATE' AND to_jsonb(NEW) = to_jsonb(OLD) THEN
    RETURN NEW;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM commission_schedule_assert_editable(OLD.schedule_id, what);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    IF TG_OP = 'INSERT' OR NEW.schedule_id <> OLD.schedule_id THEN
      PERFORM commission_schedule_assert_editable(NEW.schedule_id, what);
    END IF;
    RETURN NEW;
  END IF;
  RETURN OLD;
END $$;

DROP FUNCTION commission_schedule_assert_unused(bigint, text);

-- Records: say which end of the period a refused record fell outside of.
CREATE OR REPLACE FUNCTION commission_record_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  s commission_fee_schedule%ROWTYPE;
BEGIN
  SELECT * INTO s FROM commission_fee_schedule WHERE id = NEW.schedule_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'fee schedule % does not exist', NEW.schedule_id
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'commission_rec_schedule';
  END IF;
  IF NEW.created_at < s.effective_from THEN
    RAISE EXCEPTION 'fee schedule % is not in effect at %: it starts at %',
      s.id, NEW.created_at, s.effective_from
      USING ERRCODE = 'check_violation', CONSTRAINT = 'commission_rec_schedule_in_effect';
  END IF;
  IF s.effective_to IS NOT NULL AND NEW.created_at >= s.effective_to THEN
    RAISE EXCEPTION 'fee schedule % is not in effect at %: its period ended at %',
      s.id, NEW.created_at, s.effective_to
      USING ERRCODE = 'check_violation', CONSTRAINT = 'commission_rec_schedule_in_effect';
  END IF;
  IF NEW.transaction_kind <> s.transaction_kind OR NEW.currency <> s.currency THEN
    RAISE EXCEPTION 'commission record (% %) does not match fee schedule % (% %)',
      NEW.transaction_kind, NEW.currency, s.id, s.transaction_kind, s.currency
      USING ERRCODE = 'check_violation', CONSTRAINT = 'commission_rec_matches_schedule';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM commission_fee_split
                  WHERE schedule_id = s.id AND party = NEW.party) THEN
    RAISE EXCEPTION 'fee schedule % has no split for party %', s.id, NEW.party
      USING ERRCODE = 'check_violation', CONSTRAINT = 'commission_rec_party_in_splits';
  END IF;
  RETURN NEW;
END $$;
"""

# The 0002 versions of the replaced functions.
REVERSE = r"""
CREATE OR REPLACE FUNCTION commission_record_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  s commission_fee_schedule%ROWTYPE;
BEGIN
  SELECT * INTO s FROM commission_fee_schedule WHERE id = NEW.schedule_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'fee schedule % does not exist', NEW.schedule_id
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'commission_rec_schedule';
  END IF;
  IF NEW.created_at < s.effective_from
     OR (s.effective_to IS NOT NULL AND NEW.created_at >= s.effective_to) THEN
    RAISE EXCEPTION 'fee schedule % is not in effect at %', s.id, NEW.created_at
      USING ERRCODE = 'check_violation', CONSTRAINT = 'commission_rec_schedule_in_effect';
  END IF;
  IF NEW.transaction_kind <> s.transaction_kind OR NEW.currency <> s.currency THEN
    RAISE EXCEPTION 'commission record (% %) does not match fee schedule % (% %)',
      NEW.transaction_kind, NEW.currency, s.id, s.transaction_kind, s.currency
      USING ERRCODE = 'check_violation', CONSTRAINT = 'commission_rec_matches_schedule';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM commission_fee_split
                  WHERE schedule_id = s.id AND party = NEW.party) THEN
    RAISE EXCEPTION 'fee schedule % has no split for party %', s.id, NEW.party
      USING ERRCODE = 'check_violation', CONSTRAINT = 'commission_rec_party_in_splits';
  END IF;
  RETURN NEW;
END $$;

CREATE FUNCTION commission_schedule_assert_unused(p_schedule bigint, p_what text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  LOCK TABLE commission_record IN SHARE MODE;
  IF EXISTS (SELECT 1 FROM commission_record WHERE schedule_id = p_schedule) THEN
    RAISE EXCEPTION 'fee schedule % is used by commission records: its % are frozen; add a '
      'new version instead', p_schedule, p_what
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'commission_schedule_frozen';
  END IF;
END $$;

CREATE OR REPLACE FUNCTION commission_schedule_part_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  what text := CASE TG_TABLE_NAME WHEN 'commission_fee_band' THEN 'bands' ELSE 'splits' END;
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM commission_schedule_assert_unused(OLD.schedule_id, what);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    IF TG_OP = 'INSERT' OR NEW.schedule_id <> OLD.schedule_id THEN
      PERFORM commission_schedule_assert_unused(NEW.schedule_id, what);
    END IF;
    RETURN NEW;
  END IF;
  RETURN OLD;
END $$;

DROP FUNCTION commission_schedule_assert_editable(bigint, text);

CREATE OR REPLACE FUNCTION commission_schedule_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  last_use timestamptz;
BEGIN
  IF TG_OP = 'UPDATE' AND to_jsonb(NEW) = to_jsonb(OLD) THEN
    RETURN NEW;
  END IF;
  LOCK TABLE commission_record IN SHARE MODE;  -- see commission_schedule_assert_unused
  SELECT max(created_at) INTO last_use FROM commission_record WHERE schedule_id = OLD.id;
  IF last_use IS NULL THEN
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
  END IF;
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'fee schedule % is used by commission records and cannot be deleted', OLD.id
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'commission_schedule_frozen';
  END IF;
  IF (to_jsonb(NEW) - 'effective_to') <> (to_jsonb(OLD) - 'effective_to') THEN
    RAISE EXCEPTION 'fee schedule % is used by commission records: add a new version instead '
      'of changing it', OLD.id
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'commission_schedule_frozen';
  END IF;
  IF NEW.effective_to IS NULL
     OR (OLD.effective_to IS NOT NULL AND NEW.effective_to > OLD.effective_to)
     OR NEW.effective_to <= last_use THEN
    RAISE EXCEPTION 'fee schedule % is used by commission records until %: its period can only '
      'be ended, after that time', OLD.id, last_use
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'commission_schedule_frozen';
  END IF;
  RETURN NEW;
END $$;

DROP FUNCTION commission_schedule_created_here(bigint);
DROP TRIGGER commission_schedule_mark_created ON commission_fee_schedule;
DROP FUNCTION commission_schedule_mark_created();
"""


class Migration(migrations.Migration):
    dependencies = [("commission", "0004_kyc_tier_label")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
