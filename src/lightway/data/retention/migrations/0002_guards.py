"""Retention's rules, enforced by PostgreSQL (``lightway.data.retention.models``). Tested in
tests/test_retention.py.

- ``retention_policy_guard``: a policy version is never updated, deleted or truncated, and a
  new one never starts before the day it is recorded (history is not rewritten);
- ``retention_hold_guard``: a legal hold is born active; it is released once, with a reason,
  by someone other than the person who placed it; nothing else of it changes; never deleted;
- ``identity_person_key_hold``: a person key is not destroyed while its person has an
  active legal hold.
"""

from django.db import migrations

SQL = """
CREATE FUNCTION retention_policy_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.effective_from < (NEW.created_at AT TIME ZONE 'UTC')::date THEN
      RAISE EXCEPTION 'a retention policy version cannot start before the day it is recorded (% < %)',
        NEW.effective_from, (NEW.created_at AT TIME ZONE 'UTC')::date
        USING ERRCODE = 'check_violation', CONSTRAINT = 'retention_policy_not_backdated';
    END IF;
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'retention policy versions are never changed or deleted (%): add a new version', TG_OP
    USING ERRCODE = 'restrict_violation', CONSTRAINT = 'retention_policy_immutable';
END $$;

CREATE TRIGGER retention_policy_guard BEFORE INSERT OR UPDATE OR DELETE ON retention_policy
  FOR EACH ROW EXECUTE FUNCTION retention_policy_guard();
CREATE TRIGGER retention_policy_no_truncate BEFORE TRUNCATE ON retention_policy
  FOR EACH STATEMENT EXECUTE FUNCTION retention_policy_guard();

CREATE FUNCTION retention_hold_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'TRUNCATE') THEN
    RAISE EXCEPTION 'legal holds are released, never deleted (%)', TG_OP
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'retention_hold_kept';
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.released_at IS NOT NULL THEN
      RAISE EXCEPTION 'a legal hold is born active'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'retention_hold_kept';
    END IF;
    RETURN NEW;
  END IF;
  IF OLD.released_at IS NOT NULL THEN
    RAISE EXCEPTION 'legal hold % was released: it never changes again', OLD.id
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'retention_hold_kept';
  END IF;
  IF (to_jsonb(NEW) - 'released_at' - 'released_by_id' - 'release_reason')
     <> (to_jsonb(OLD) - 'released_at' - 'released_by_id' - 'release_reason') THEN
    RAISE EXCEPTION 'legal hold %: only its release may be written', OLD.id
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'retention_hold_kept';
  END IF;
  IF NEW.released_by_id IS NULL OR NEW.released_by_id = OLD.placed_by_id THEN
    RAISE EXCEPTION 'legal hold %: released by the person who placed it (or by no one): another person must release it', OLD.id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'retention_hold_maker_checker';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER retention_hold_guard BEFORE INSERT OR UPDATE OR DELETE ON retention_legal_hold
  FOR EACH ROW EXECUTE FUNCTION retention_hold_guard();
CREATE TRIGGER retention_hold_no_truncate BEFORE TRUNCATE ON retention_legal_hold
  FOR EACH STATEMENT EXECUTE FUNCTION retention_hold_guard();

CREATE FUNCTION identity_person_key_hold() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.destroyed_at IS NOT NULL AND OLD.destroyed_at IS NULL AND EXISTS (
    SELECT 1 FROM retention_legal_hold h
     WHERE h.user_id = NEW.user_id AND h.released_at IS NULL
  ) THEN
    RAISE EXCEPTION 'user % is under legal hold: their personal data cannot be erased', NEW.user_id
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'person_key_legal_hold';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER identity_person_key_hold BEFORE UPDATE ON identity_person_key
  FOR EACH ROW EXECUTE FUNCTION identity_person_key_hold();
"""

REVERSE = """
DROP TRIGGER identity_person_key_hold ON identity_person_key;
DROP FUNCTION identity_person_key_hold();
DROP TRIGGER retention_hold_no_truncate ON retention_legal_hold;
DROP TRIGGER retention_hold_guard ON retention_legal_hold;
DROP FUNCTION retention_hold_guard();
DROP TRIGGER retention_policy_no_truncate ON retention_policy;
DROP TRIGGER retention_policy_guard ON retention_policy;
DROP FUNCTION retention_policy_guard();
"""


class Migration(migrations.Migration):
    dependencies = [("retention", "0001_initial"), ("identity", "0006_person_keys")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
