"""The back office's rules, enforced by PostgreSQL (``lightway.data.backoffice.models``).
Tested in tests/test_backoffice.py.

- ``backoffice_support_note_append_only``: a support note is never updated, deleted or
  truncated;
- ``backoffice_action_guard``: an action request is born pending; it is decided once
  (approved or rejected) by someone other than its requester; only its decision (state,
  decided_by, decided_at, decision_note, result) is written; it is never deleted or
  truncated.
"""

from django.db import migrations

SQL = """
CREATE FUNCTION backoffice_support_note_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'support notes are append-only (%)', TG_OP
    USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER backoffice_support_note_append_only BEFORE UPDATE OR DELETE
  ON backoffice_support_note FOR EACH ROW
  EXECUTE FUNCTION backoffice_support_note_append_only();
CREATE TRIGGER backoffice_support_note_no_truncate BEFORE TRUNCATE
  ON backoffice_support_note FOR EACH STATEMENT
  EXECUTE FUNCTION backoffice_support_note_append_only();

CREATE FUNCTION backoffice_action_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' OR TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'back-office action requests are never deleted (%)', TG_OP
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.state <> 'pending' OR NEW.decided_by_id IS NOT NULL THEN
      RAISE EXCEPTION 'an action request is born pending: another person decides it'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'backoffice_action_maker_checker';
    END IF;
    RETURN NEW;
  END IF;
  IF OLD.state <> 'pending' THEN
    RAISE EXCEPTION 'action request % is %: it never changes again', OLD.id, OLD.state
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'backoffice_action_decided_final';
  END IF;
  IF (to_jsonb(NEW) - 'state' - 'decided_by_id' - 'decided_at' - 'decision_note' - 'result')
     <> (to_jsonb(OLD) - 'state' - 'decided_by_id' - 'decided_at' - 'decision_note' - 'result')
  THEN
    RAISE EXCEPTION 'action request %: only its decision may be written', OLD.id
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'backoffice_action_decided_final';
  END IF;
  IF NEW.state NOT IN ('approved', 'rejected') OR NEW.decided_by_id IS NULL
     OR NEW.decided_by_id = OLD.requested_by_id THEN
    RAISE EXCEPTION 'action request %: decided by its requester (or by no one): another person must decide',
      OLD.id USING ERRCODE = 'check_violation', CONSTRAINT = 'backoffice_action_maker_checker';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER backoffice_action_guard BEFORE INSERT OR UPDATE OR DELETE
  ON backoffice_action_request FOR EACH ROW EXECUTE FUNCTION backoffice_action_guard();
CREATE TRIGGER backoffice_action_no_truncate BEFORE TRUNCATE ON backoffice_action_request
  FOR EACH STATEMENT EXECUTE FUNCTION backoffice_action_guard();
"""

REVERSE = """
DROP TRIGGER backoffice_action_no_truncate ON backoffice_action_request;
DROP TRIGGER backoffice_action_guard ON backoffice_action_request;
DROP FUNCTION backoffice_action_guard();
DROP TRIGGER backoffice_support_note_no_truncate ON backoffice_support_note;
DROP TRIGGER backoffice_support_note_append_only ON backoffice_support_note;
DROP FUNCTION backoffice_support_note_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("backoffice", "0001_initial")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
