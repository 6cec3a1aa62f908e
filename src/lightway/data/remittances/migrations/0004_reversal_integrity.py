"""The rules of remittance reversal requests, enforced by PostgreSQL (the model's docstring,
``RemittanceReversal``). Tested in tests/test_remittance_reversal.py.

- ``remittances_reversal_guard``: a request is inserted PENDING for a COMPLETED
  remittance; it is decided once (APPROVED or REJECTED, by someone other than its
  requester: also a check constraint) and only its decision is written; it is never
  deleted or truncated;
- ``remittances_reversal_approved`` (deferred to commit): an APPROVED request's remittance
  is REVERSED by the end of the transaction that approved it;
- ``remittances_reversed_approved`` (deferred to commit): a remittance that becomes
  REVERSED has an APPROVED request. With the guard, no code path (and no runtime-role
  session) can reverse a remittance without a second person.
"""

from django.db import migrations

SQL = """
CREATE FUNCTION remittances_reversal_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE remittance_state text;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    RAISE EXCEPTION 'remittances_reversal: TRUNCATE refused' USING ERRCODE = 'restrict_violation';
  END IF;
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'reversal request %: requests are never deleted', OLD.id
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.state <> 'PENDING' THEN
      RAISE EXCEPTION 'a reversal request is born PENDING: another person decides it'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'remittances_reversal_maker_checker';
    END IF;
    SELECT state INTO remittance_state FROM remittances_remittance WHERE id = NEW.remittance_id;
    IF remittance_state IS DISTINCT FROM 'COMPLETED' THEN
      RAISE EXCEPTION 'remittance % is %: only a COMPLETED remittance can be reversed',
        NEW.remittance_id, COALESCE(remittance_state, 'missing')
        USING ERRCODE = 'check_violation', CONSTRAINT = 'remittances_reversal_completed';
    END IF;
    RETURN NEW;
  END IF;
  IF OLD.state <> 'PENDING' THEN
    RAISE EXCEPTION 'reversal request % is %: it never changes again', OLD.id, OLD.state
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'remittances_reversal_decided_final';
  END IF;
  IF (to_jsonb(NEW) - 'state' - 'decided_by' - 'decided_at' - 'decision_note')
     <> (to_jsonb(OLD) - 'state' - 'decided_by' - 'decided_at' - 'decision_note') THEN
    RAISE EXCEPTION 'reversal request %: only its decision may be written', OLD.id
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'remittances_reversal_decided_final';
  END IF;
  IF NEW.state NOT IN ('APPROVED', 'REJECTED') OR NEW.decided_by = ''
     OR NEW.decided_by = OLD.requested_by THEN
    RAISE EXCEPTION 'reversal request %: decided by its requester (or by no one): another person must decide',
      OLD.id USING ERRCODE = 'check_violation', CONSTRAINT = 'remittances_reversal_maker_checker';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER remittances_reversal_guard BEFORE INSERT OR UPDATE OR DELETE
  ON remittances_reversal FOR EACH ROW EXECUTE FUNCTION remittances_reversal_guard();
CREATE TRIGGER remittances_reversal_no_truncate BEFORE TRUNCATE ON remittances_reversal
  FOR EACH STATEMENT EXECUTE FUNCTION remittances_reversal_guard();

CREATE FUNCTION remittances_reversal_approved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM remittances_remittance
                 WHERE id = NEW.remittance_id AND state = 'REVERSED') THEN
    RAISE EXCEPTION 'reversal request % is APPROVED but remittance % is not REVERSED', NEW.id,
      NEW.remittance_id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'remittances_reversal_approved';
  END IF;
  RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER remittances_reversal_approved AFTER UPDATE OF state
  ON remittances_reversal DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN (NEW.state = 'APPROVED')
  EXECUTE FUNCTION remittances_reversal_approved();

CREATE FUNCTION remittances_reversed_approved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM remittances_reversal
                 WHERE remittance_id = NEW.id AND state = 'APPROVED') THEN
    RAISE EXCEPTION 'remittance % is REVERSED without an approved reversal request', NEW.id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'remittances_reversed_approved';
  END IF;
  RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER remittances_reversed_approved AFTER UPDATE OF state
  ON remittances_remittance DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN (NEW.state = 'REVERSED' AND OLD.state IS DISTINCT FROM NEW.state)
  EXECUTE FUNCTION remittances_reversed_approved();
"""

REVERSE = """
DROP TRIGGER remittances_reversed_approved ON remittances_remittance;
DROP FUNCTION remittances_reversed_approved();
DROP TRIGGER remittances_reversal_approved ON remittances_reversal;
DROP FUNCTION remittances_reversal_approved();
DROP TRIGGER remittances_reversal_no_truncate ON remittances_reversal;
DROP TRIGGER remittances_reversal_guard ON remittances_reversal;
DROP FUNCTION remittances_reversal_guard();
"""


class Migration(migrations.Migration):
    dependencies = [("remittances", "0003_reversal")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
