"""The fee-schedule freeze trusts no setting and takes no table lock (issue 10, findings 3, 4).

Replaces two mechanisms of ``0005_freeze_schedules_in_effect``:

1. **"Created by the current transaction" is a column, not a setting.** 0005 kept the ids of
   the schedules a transaction had created in the transaction-local setting
   ``lightway.commission_schedules_created``, which any role can write with ``set_config``:
   naming a frozen schedule there lifted its freeze. Now a BEFORE INSERT trigger stamps
   ``created_txid`` with ``txid_current()`` (the top-level transaction's id, also inside a
   savepoint; 64 bits with the epoch, so never reused), overriding whatever the insert gave,
   and the guard refuses any change of it. "Created here" is ``created_txid =
   txid_current()``; no setting the application can write takes part in any rule.

2. **No lock on ``commission_record``.** 0005 took ``LOCK TABLE commission_record IN SHARE
   MODE`` on every change to a schedule, so that "unused" and "last use" could not change
   under its checks. That waited for every priced payment in flight, and held every new one
   until the admin's transaction ended. The race it closed is now impossible by two clock
   rules, with named constants (SQL functions, each a single literal):

   - ``commission_record_clock_skew()`` (5 s): a commission record's ``created_at`` may lie
     at most this far ahead of the database clock. The bound is read before the record
     trigger reads the schedule, so under READ COMMITTED the schedule is read with a snapshot
     taken after it; under REPEATABLE READ or SERIALIZABLE the snapshot is the transaction's,
     so the bound is the transaction's start instead.
   - ``commission_schedule_lead()`` (30 s): a schedule others can see is frozen once its
     start is within this lead of the database clock (or past), and the end given to a frozen
     schedule must lie at least this far ahead of it. Both are checked when the row changes
     and again at commit, by the deferred constraint triggers
     ``commission_schedule_frozen_at_commit``, so a transaction held open cannot use up the
     margin.

   Why that suffices: a record citing schedule S with ``created_at`` t needs t >=
   S.effective_from and was written when the database clock was at least t - skew. An edit
   of S (pricing, bands, splits, deletion) commits at a clock c with S.effective_from > c +
   lead, so any record of S is written after c + lead - skew: 25 s after that commit
   started, by when it is visible, and the record sees the edited S. Likewise a new end E >=
   c + lead: a record dated at or after E is written after c + lead - skew and sees E, and
   is refused. A record already written (committed or not) is dated before c + skew < E. So
   "frozen once used" and "end after the last use" follow without looking at the records,
   and no lock is needed. A schedule created by the current transaction is invisible to
   others; it is frozen only once this transaction has written a record for it.

   The admin keeps a larger lead of its own (twice this one, or twice the cache lifetime),
   so what it offers is accepted at commit.

What is still possible, and where it is caught: ``SET CONSTRAINTS ... IMMEDIATE`` runs the
commit-time checks early, so a session that does that and then keeps its transaction open
for longer than the lead escapes the second check. Records dated outside their schedule's
period are reported by ``lightway.data.commission.selectors.commission_records_check``.

Each rule has a test in tests/test_commission.py or tests/test_commission_freeze.py.
"""

from importlib import import_module

from django.db import migrations

SQL = r"""
-- The two constants, named once.
CREATE FUNCTION commission_record_clock_skew() RETURNS interval LANGUAGE sql IMMUTABLE
  AS $$ SELECT interval '5 seconds' $$;
CREATE FUNCTION commission_schedule_lead() RETURNS interval LANGUAGE sql IMMUTABLE
  AS $$ SELECT interval '30 seconds' $$;

-- 1. The creating transaction, stamped by the database. Existing rows get 0, which is no
--    transaction's id (adding a column with a default fires no row trigger).
ALTER TABLE commission_fee_schedule ADD COLUMN created_txid bigint NOT NULL DEFAULT 0;
ALTER TABLE commission_fee_schedule ALTER COLUMN created_txid DROP DEFAULT;

DROP TRIGGER commission_schedule_mark_created ON commission_fee_schedule;
DROP FUNCTION commission_schedule_mark_created();
DROP FUNCTION commission_schedule_created_here(bigint);

CREATE FUNCTION commission_schedule_stamp_created() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.created_txid := txid_current();
  RETURN NEW;
END $$;

CREATE TRIGGER commission_schedule_stamp_created BEFORE INSERT ON commission_fee_schedule
  FOR EACH ROW EXECUTE FUNCTION commission_schedule_stamp_created();

-- Why schedule s can no longer change (beyond ending its period) at database time db_now,
-- or NULL when it still can.
CREATE FUNCTION commission_schedule_frozen_why(s commission_fee_schedule, db_now timestamptz)
RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  last_use timestamptz;
BEGIN
  IF s.created_txid = txid_current() THEN
    -- Nobody else can see it yet, so only this transaction can have used it.
    SELECT max(created_at) INTO last_use FROM commission_record WHERE schedule_id = s.id;
    IF last_use IS NULL THEN
      RETURN NULL;
    END IF;
    RETURN format('is used by commission records (last at %s)', last_use);
  END IF;
  IF s.effective_from <= db_now THEN
    RETURN format('has been in effect since %s', s.effective_from);
  END IF;
  IF s.effective_from <= db_now + commission_schedule_lead() THEN
    RETURN format('takes effect at %s, less than %s after the database time %s',
      s.effective_from, commission_schedule_lead(), db_now);
  END IF;
  RETURN NULL;
END $$;

-- The one change left to a frozen schedule: ending its period, at least the lead ahead.
CREATE FUNCTION commission_schedule_assert_ending(
  old_s commission_fee_schedule, new_s commission_fee_schedule, why text, db_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF (to_jsonb(new_s) - 'effective_to') <> (to_jsonb(old_s) - 'effective_to') THEN
    RAISE EXCEPTION 'fee schedule % %: add a new version instead of changing it', old_s.id, why
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'commission_schedule_frozen';
  END IF;
  IF new_s.effective_to IS NULL
     OR (old_s.effective_to IS NOT NULL AND new_s.effective_to > old_s.effective_to) THEN
    RAISE EXCEPTION 'fee schedule % %: its period can only be ended (set or moved earlier), '
      'not reopened or extended', old_s.id, why
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'commission_schedule_frozen';
  END IF;
  IF new_s.effective_to < db_now + commission_schedule_lead() THEN
    RAISE EXCEPTION 'fee schedule % %: its period cannot end in the past or less than % '
      'ahead of the database time (% is before %)', old_s.id, why, commission_schedule_lead(),
      new_s.effective_to, db_now + commission_schedule_lead()
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'commission_schedule_frozen';
  END IF;
END $$;

-- The schedule row, when the change is made.
CREATE OR REPLACE FUNCTION commission_schedule_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  db_now timestamptz := clock_timestamp();  -- the time of the change, not of BEGIN
  why text;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF NEW.created_txid IS DISTINCT FROM OLD.created_txid THEN
      RAISE EXCEPTION 'fee schedule %: created_txid is set by the database and never changes',
        OLD.id
        USING ERRCODE = 'restrict_violation', CONSTRAINT = 'commission_schedule_frozen';
    END IF;
    IF to_jsonb(NEW) = to_jsonb(OLD) THEN
      RETURN NEW;  -- a plain save
    END IF;
  END IF;
  why := commission_schedule_frozen_why(OLD, db_now);
  IF why IS NULL THEN
    IF TG_OP = 'DELETE' THEN
      RETURN OLD;
    END IF;
    -- Others can see it: it must stay not frozen (a start at least the lead ahead).
    IF OLD.created_txid <> txid_current()
       AND NEW.effective_from <= db_now + commission_schedule_lead() THEN
      RAISE EXCEPTION 'fee schedule % cannot be moved to start at %: a schedule starts at '
        'least % after the database time (%), unless this transaction created it',
        OLD.id, NEW.effective_from, commission_schedule_lead(), db_now
        USING ERRCODE = 'restrict_violation', CONSTRAINT = 'commission_schedule_frozen';
    END IF;
    RETURN NEW;
  END IF;
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'fee schedule % % and cannot be deleted', OLD.id, why
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'commission_schedule_frozen';
  END IF;
  PERFORM commission_schedule_assert_ending(OLD, NEW, why, db_now);
  RETURN NEW;
END $$;

-- Bands and splits, when the change is made (commission_schedule_part_guard calls this).
CREATE OR REPLACE FUNCTION commission_schedule_assert_editable(p_schedule bigint, p_what text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  s commission_fee_schedule%ROWTYPE;
  why text;
BEGIN
  SELECT * INTO s FROM commission_fee_schedule WHERE id = p_schedule;
  IF NOT FOUND THEN
    RETURN;  -- the band's or split's foreign key refuses it
  END IF;
  why := commission_schedule_frozen_why(s, clock_timestamp());
  IF why IS NOT NULL THEN
    RAISE EXCEPTION 'fee schedule % %: its % are frozen; add a new version instead',
      p_schedule, why, p_what
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'commission_schedule_frozen';
  END IF;
END $$;

-- The same rules again at commit, for schedules others can see.
CREATE FUNCTION commission_schedule_recheck_part(p_schedule bigint, p_what text,
  db_now timestamptz) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  s commission_fee_schedule%ROWTYPE;
  why text;
BEGIN
  SELECT * INTO s FROM commission_fee_schedule WHERE id = p_schedule;
  IF NOT FOUND OR s.created_txid = txid_current() THEN
    RETURN;  -- deleted (its own event is checked) or not yet visible to anyone else
  END IF;
  why := commission_schedule_frozen_why(s, db_now);
  IF why IS NOT NULL THEN
    RAISE EXCEPTION 'fee schedule % % by the time this transaction committed: its % are '
      'frozen; commit changes to a schedule well before it starts', p_schedule, why, p_what
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'commission_schedule_frozen';
  END IF;
END $$;

CREATE FUNCTION commission_schedule_frozen_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  db_now timestamptz := clock_timestamp();
  what text := CASE TG_TABLE_NAME WHEN 'commission_fee_band' THEN 'bands' ELSE 'splits' END;
  why text;
BEGIN
  IF TG_TABLE_NAME <> 'commission_fee_schedule' THEN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
      PERFORM commission_schedule_recheck_part(OLD.schedule_id, what, db_now);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
      PERFORM commission_schedule_recheck_part(NEW.schedule_id, what, db_now);
    END IF;
    RETURN NULL;
  END IF;
  IF OLD.created_txid = txid_current() THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'UPDATE' AND to_jsonb(NEW) = to_jsonb(OLD) THEN
    RETURN NULL;
  END IF;
  why := commission_schedule_frozen_why(OLD, db_now);
  IF TG_OP = 'DELETE' THEN
    IF why IS NOT NULL THEN
      RAISE EXCEPTION 'fee schedule % % by the time this transaction committed and cannot be '
        'deleted', OLD.id, why
        USING ERRCODE = 'restrict_violation', CONSTRAINT = 'commission_schedule_frozen';
    END IF;
    RETURN NULL;
  END IF;
  IF why IS NULL THEN
    IF NEW.effective_from > db_now + commission_schedule_lead() THEN
      RETURN NULL;  -- still free to change
    END IF;
    why := format('takes effect at %s', NEW.effective_from);
  END IF;
  PERFORM commission_schedule_assert_ending(OLD, NEW,
    why || ' by the time this transaction committed', db_now);
  RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER commission_schedule_frozen_at_commit
  AFTER UPDATE OR DELETE ON commission_fee_schedule
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION commission_schedule_frozen_at_commit();
CREATE CONSTRAINT TRIGGER commission_schedule_frozen_at_commit
  AFTER INSERT OR UPDATE OR DELETE ON commission_fee_band
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION commission_schedule_frozen_at_commit();
CREATE CONSTRAINT TRIGGER commission_schedule_frozen_at_commit
  AFTER INSERT OR UPDATE OR DELETE ON commission_fee_split
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION commission_schedule_frozen_at_commit();

-- 2. Records: not dated ahead of the database clock by more than the skew; otherwise as in
--    0005 (a schedule in effect at created_at, same kind and currency, a party in its splits).
CREATE OR REPLACE FUNCTION commission_record_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  -- Read before the schedule is (see the migration's docstring).
  latest timestamptz := CASE current_setting('transaction_isolation')
    WHEN 'read committed' THEN clock_timestamp() ELSE transaction_timestamp() END
    + commission_record_clock_skew();
  s commission_fee_schedule%ROWTYPE;
BEGIN
  IF NEW.created_at > latest THEN
    RAISE EXCEPTION 'commission record dated % is more than % ahead of the database time %',
      NEW.created_at, commission_record_clock_skew(), latest - commission_record_clock_skew()
      USING ERRCODE = 'check_violation', CONSTRAINT = 'commission_rec_not_ahead_of_clock';
  END IF;
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

_0005 = import_module("lightway.data.commission.migrations.0005_freeze_schedules_in_effect")
_DROPPED_BY_0005 = "DROP FUNCTION commission_schedule_assert_unused(bigint, text);"
assert _DROPPED_BY_0005 in _0005.SQL

# Back to 0005: drop what this migration added, then 0005's functions and triggers again
# (the function it replaced from 0002 is gone already).
REVERSE = (
    r"""
DROP TRIGGER commission_schedule_frozen_at_commit ON commission_fee_split;
DROP TRIGGER commission_schedule_frozen_at_commit ON commission_fee_band;
DROP TRIGGER commission_schedule_frozen_at_commit ON commission_fee_schedule;
DROP FUNCTION commission_schedule_frozen_at_commit();
DROP FUNCTION commission_schedule_recheck_part(bigint, text, timestamptz);
DROP FUNCTION commission_schedule_assert_editable(bigint, text);
DROP FUNCTION commission_schedule_assert_ending(
  commission_fee_schedule, commission_fee_schedule, text, timestamptz);
DROP FUNCTION commission_schedule_frozen_why(commission_fee_schedule, timestamptz);
DROP TRIGGER commission_schedule_stamp_created ON commission_fee_schedule;
DROP FUNCTION commission_schedule_stamp_created();
"""
    + _0005.SQL.replace(_DROPPED_BY_0005, "")
    + r"""
ALTER TABLE commission_fee_schedule DROP COLUMN created_txid;
DROP FUNCTION commission_schedule_lead();
DROP FUNCTION commission_record_clock_skew();
"""
)


class Migration(migrations.Migration):
    dependencies = [("commission", "0005_freeze_schedules_in_effect")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
