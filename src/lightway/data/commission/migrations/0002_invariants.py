"""Database-enforced commission rules. Each one has a test in tests/test_commission.py.

Why triggers rather than an exclusion constraint for overlapping periods: the embedded
PostgreSQL used by ``make run``/``make test`` ships without the btree_gist extension, which an
exclusion constraint mixing ``=`` on text with ``&&`` on ranges needs. The trigger takes a
transaction-level advisory lock per scope, so two concurrent writers of one scope are
serialised and the second one sees the first one's row (READ COMMITTED, Django's default).

0005_freeze_schedules_in_effect replaces rule 2 (a schedule is also frozen once its period
has started) and the record check of rule 3 (clearer messages).
"""

from django.db import migrations

SQL = r"""
-- 1. No two schedules of one scope (kind, currency, corridor, KYC tier) overlap in time.
CREATE FUNCTION commission_schedule_no_overlap() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  clash bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended(
    'commission_fee_schedule|' || NEW.transaction_kind || '|' || NEW.currency || '|'
      || NEW.corridor || '|' || coalesce(NEW.kyc_tier::text, '*'), 0));
  SELECT s.id INTO clash FROM commission_fee_schedule s
   WHERE s.id <> NEW.id
     AND s.transaction_kind = NEW.transaction_kind
     AND s.currency = NEW.currency
     AND s.corridor = NEW.corridor
     AND s.kyc_tier IS NOT DISTINCT FROM NEW.kyc_tier
     AND tstzrange(s.effective_from, s.effective_to, '[)')
         && tstzrange(NEW.effective_from, NEW.effective_to, '[)')
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'fee schedule period [%, %) overlaps fee schedule % of the same scope',
      NEW.effective_from, coalesce(NEW.effective_to::text, 'open'), clash
      USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'commission_schedule_no_overlap';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER commission_schedule_no_overlap
  BEFORE INSERT OR UPDATE OF transaction_kind, currency, corridor, kyc_tier, effective_from,
    effective_to ON commission_fee_schedule
  FOR EACH ROW EXECUTE FUNCTION commission_schedule_no_overlap();

-- 2. A schedule used by a commission record is frozen. The one change left is ending its
--    period (open, or later than now set) after its last recorded use, so that a new
--    version can take over. Unchanged rewrites (a plain save) are allowed.
CREATE FUNCTION commission_schedule_guard() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER commission_schedule_guard BEFORE UPDATE OR DELETE ON commission_fee_schedule
  FOR EACH ROW EXECUTE FUNCTION commission_schedule_guard();

-- Bands and splits of a used schedule can be neither added, changed nor removed. The SHARE
-- lock on commission_record waits for transactions writing records and holds new ones off
-- until this one ends, so "unused" cannot change under it (see 3.: writing a record takes no
-- lock on the schedule row, which every priced transaction would otherwise contend on).
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

CREATE FUNCTION commission_schedule_part_guard() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER commission_band_guard BEFORE INSERT OR UPDATE OR DELETE ON commission_fee_band
  FOR EACH ROW EXECUTE FUNCTION commission_schedule_part_guard();
CREATE TRIGGER commission_split_guard BEFORE INSERT OR UPDATE OR DELETE ON commission_fee_split
  FOR EACH ROW EXECUTE FUNCTION commission_schedule_part_guard();

-- 3. A commission record is for a schedule in effect at its created_at, of the same kind and
--    currency, and for a party the schedule splits to. No row lock: a change to a used
--    schedule first takes a SHARE lock on commission_record (2. above), which waits for this
--    transaction, so a period cannot be ended under a record being written.
CREATE FUNCTION commission_record_check() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER commission_record_check BEFORE INSERT ON commission_record
  FOR EACH ROW EXECUTE FUNCTION commission_record_check();

-- Commission records are append-only, like the ledger they mirror.
CREATE FUNCTION commission_record_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'commission records are append-only: % refused', TG_OP
    USING ERRCODE = 'restrict_violation', CONSTRAINT = 'commission_rec_append_only';
END $$;

CREATE TRIGGER commission_record_append_only BEFORE UPDATE OR DELETE ON commission_record
  FOR EACH ROW EXECUTE FUNCTION commission_record_refuse_change();
CREATE TRIGGER commission_record_no_truncate BEFORE TRUNCATE ON commission_record
  FOR EACH STATEMENT EXECUTE FUNCTION commission_record_refuse_change();

-- 4. At commit: a schedule has at least one split; a tiered schedule's bands cover
--    [0, infinity) exactly (contiguous, no overlap, last one open); other methods have no bands.
CREATE FUNCTION commission_check_schedule(p_schedule bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  s_method text;
  expected bigint := 0;
  open_seen boolean := false;
  b record;
BEGIN
  SELECT method INTO s_method FROM commission_fee_schedule WHERE id = p_schedule;
  IF NOT FOUND THEN
    RETURN;  -- deleted in this transaction
  END IF;
  IF NOT EXISTS (SELECT 1 FROM commission_fee_split WHERE schedule_id = p_schedule) THEN
    RAISE EXCEPTION 'fee schedule % has no fee splits', p_schedule
      USING ERRCODE = 'check_violation', CONSTRAINT = 'commission_schedule_complete';
  END IF;
  IF s_method <> 'tiered' THEN
    IF EXISTS (SELECT 1 FROM commission_fee_band WHERE schedule_id = p_schedule) THEN
      RAISE EXCEPTION 'fee schedule % is %, only tiered schedules have bands',
        p_schedule, s_method
        USING ERRCODE = 'check_violation', CONSTRAINT = 'commission_schedule_complete';
    END IF;
    RETURN;
  END IF;
  FOR b IN SELECT lower_bound, upper_bound FROM commission_fee_band
            WHERE schedule_id = p_schedule ORDER BY lower_bound LOOP
    IF open_seen OR b.lower_bound <> expected THEN
      RAISE EXCEPTION 'bands of fee schedule % must cover 0 to infinity without gap or '
        'overlap: a band starting at % was expected, found one starting at %',
        p_schedule, expected, b.lower_bound
        USING ERRCODE = 'check_violation', CONSTRAINT = 'commission_schedule_complete';
    END IF;
    IF b.upper_bound IS NULL THEN
      open_seen := true;
    ELSE
      expected := b.upper_bound;
    END IF;
  END LOOP;
  IF NOT open_seen THEN
    RAISE EXCEPTION 'bands of fee schedule % must end with an open band starting at %',
      p_schedule, expected
      USING ERRCODE = 'check_violation', CONSTRAINT = 'commission_schedule_complete';
  END IF;
END $$;

CREATE FUNCTION commission_schedule_deferred_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM commission_check_schedule(NEW.id);
  RETURN NULL;
END $$;

CREATE FUNCTION commission_schedule_part_deferred_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM commission_check_schedule(OLD.schedule_id);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    PERFORM commission_check_schedule(NEW.schedule_id);
  END IF;
  RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER commission_schedule_complete
  AFTER INSERT OR UPDATE ON commission_fee_schedule
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION commission_schedule_deferred_check();
CREATE CONSTRAINT TRIGGER commission_schedule_complete
  AFTER INSERT OR UPDATE OR DELETE ON commission_fee_band
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION commission_schedule_part_deferred_check();
CREATE CONSTRAINT TRIGGER commission_schedule_complete
  AFTER INSERT OR UPDATE OR DELETE ON commission_fee_split
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION commission_schedule_part_deferred_check();
"""

REVERSE = r"""
DROP TRIGGER commission_schedule_complete ON commission_fee_split;
DROP TRIGGER commission_schedule_complete ON commission_fee_band;
DROP TRIGGER commission_schedule_complete ON commission_fee_schedule;
DROP FUNCTION commission_schedule_part_deferred_check();
DROP FUNCTION commission_schedule_deferred_check();
DROP FUNCTION commission_check_schedule(bigint);
DROP TRIGGER commission_record_no_truncate ON commission_record;
DROP TRIGGER commission_record_append_only ON commission_record;
DROP FUNCTION commission_record_refuse_change();
DROP TRIGGER commission_record_check ON commission_record;
DROP FUNCTION commission_record_check();
DROP TRIGGER commission_split_guard ON commission_fee_split;
DROP TRIGGER commission_band_guard ON commission_fee_band;
DROP FUNCTION commission_schedule_part_guard();
DROP FUNCTION commission_schedule_assert_unused(bigint, text);
DROP TRIGGER commission_schedule_guard ON commission_fee_schedule;
DROP FUNCTION commission_schedule_guard();
DROP TRIGGER commission_schedule_no_overlap ON commission_fee_schedule;
DROP FUNCTION commission_schedule_no_overlap();
"""


class Migration(migrations.Migration):
    dependencies = [("commission", "0001_initial")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
