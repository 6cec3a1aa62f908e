"""KYC tier limits in effect are frozen: a change is a new row with a later start.

Why: a payment was allowed or refused by the row in effect at that moment; editing or
deleting that row afterwards would make the history say otherwise. The rules (each has a
test in tests/test_kyc_limits.py):

- a row whose ``effective_from`` is at or before the database clock (``clock_timestamp()``,
  the time of the change itself) cannot be updated (except by an unchanged rewrite) or
  deleted;
- a row not yet in effect can be changed or deleted, but not moved to a start in the past;
- a new row may start in the past (be back-dated) only while no other row of its country,
  tier and currency that an earlier transaction inserted is in effect: a first seeding of
  the regulator's figures at the regulator's dates is allowed, a later rewrite of history
  is not. "Inserted by this transaction" is a transaction-local setting
  (``lightway.kyc_limits_created``) that the insert trigger appends the new id to; it
  reverts with a rolled-back savepoint and disappears at commit.
"""

from django.db import migrations

SQL = r"""
CREATE FUNCTION identity_kyc_limit_created_here(p_id bigint) RETURNS boolean
LANGUAGE sql VOLATILE AS $$
  SELECT p_id::text = ANY (string_to_array(
    coalesce(current_setting('lightway.kyc_limits_created', true), ''), ','))
$$;

CREATE FUNCTION identity_kyc_limit_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  db_now timestamptz := clock_timestamp();
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.effective_from <= db_now AND EXISTS (
        SELECT 1 FROM identity_kyc_tier_limit l
        WHERE l.country = NEW.country AND l.tier = NEW.tier AND l.currency = NEW.currency
          AND l.effective_from <= db_now AND NOT identity_kyc_limit_created_here(l.id)) THEN
      RAISE EXCEPTION 'KYC tier limits for % tier % in % are already in effect: a new row must '
        'start in the future, not at %', NEW.country, NEW.tier, NEW.currency, NEW.effective_from
        USING ERRCODE = 'restrict_violation', CONSTRAINT = 'kyc_limit_frozen';
    END IF;
    PERFORM set_config('lightway.kyc_limits_created',
      concat_ws(',', nullif(current_setting('lightway.kyc_limits_created', true), ''),
                NEW.id::text),
      true);
    RETURN NEW;
  END IF;
  IF TG_OP = 'UPDATE' AND to_jsonb(NEW) = to_jsonb(OLD) THEN
    RETURN NEW;
  END IF;
  IF OLD.effective_from <= db_now THEN
    RAISE EXCEPTION 'KYC tier limit % (% tier % in %) has been in effect since %: it cannot be '
      '%; add a row with a later start instead', OLD.id, OLD.country, OLD.tier, OLD.currency,
      OLD.effective_from, CASE TG_OP WHEN 'DELETE' THEN 'deleted' ELSE 'changed' END
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'kyc_limit_frozen';
  END IF;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  IF NEW.effective_from <= db_now THEN
    RAISE EXCEPTION 'KYC tier limit % cannot be moved to start in the past (% is not after the '
      'database time %)', OLD.id, NEW.effective_from, db_now
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'kyc_limit_frozen';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER identity_kyc_limit_guard
  BEFORE INSERT OR UPDATE OR DELETE ON identity_kyc_tier_limit
  FOR EACH ROW EXECUTE FUNCTION identity_kyc_limit_guard();
"""

REVERSE_SQL = r"""
DROP TRIGGER IF EXISTS identity_kyc_limit_guard ON identity_kyc_tier_limit;
DROP FUNCTION IF EXISTS identity_kyc_limit_guard();
DROP FUNCTION IF EXISTS identity_kyc_limit_created_here(bigint);
"""


class Migration(migrations.Migration):
    dependencies = [("identity", "0001_initial")]

    operations = [migrations.RunSQL(SQL, REVERSE_SQL)]
