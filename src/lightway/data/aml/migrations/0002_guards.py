"""The AML rules PostgreSQL enforces (``lightway.data.aml.models``), tested in
tests/test_aml_rules.py and tests/test_aml_cases.py:

- ``aml_rule_version_frozen``: a rule version in force or past (by the database's clock)
  is never updated or deleted; a change is a new version;
- ``aml_append_only``: sanctions entries and case events are never updated or deleted;
- ``aml_sanctions_list_guard``: an imported list changes only its ``active`` flag;
- ``aml_case_guard``: a case is born open with no filing; its reference and subject never
  change; a filing is approved only while proposed, by someone other than the proposer;
  an approved filing is never rewritten; a closed case never changes; nothing is deleted.
"""

from django.db import migrations

SQL = """
CREATE FUNCTION aml_rule_version_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    RAISE EXCEPTION 'AML rule versions are never truncated' USING ERRCODE = 'restrict_violation';
  END IF;
  IF OLD.effective_from <= now() THEN
    RAISE EXCEPTION 'AML rule % version % is in force or past: add a new version instead (%)',
      OLD.code, OLD.version, TG_OP
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'aml_rule_version_frozen';
  END IF;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  IF NEW.effective_from <= now() THEN
    RAISE EXCEPTION 'AML rule % version %: a scheduled version cannot be moved into the past',
      OLD.code, OLD.version
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'aml_rule_version_frozen';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER aml_rule_version_frozen BEFORE UPDATE OR DELETE ON aml_rule_version
  FOR EACH ROW EXECUTE FUNCTION aml_rule_version_frozen();
CREATE TRIGGER aml_rule_version_no_truncate BEFORE TRUNCATE ON aml_rule_version
  FOR EACH STATEMENT EXECUTE FUNCTION aml_rule_version_frozen();

CREATE FUNCTION aml_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only (%)', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'restrict_violation', CONSTRAINT = 'aml_append_only';
END $$;
CREATE TRIGGER aml_sanctions_entry_append_only BEFORE UPDATE OR DELETE ON aml_sanctions_entry
  FOR EACH ROW EXECUTE FUNCTION aml_append_only();
CREATE TRIGGER aml_sanctions_entry_no_truncate BEFORE TRUNCATE ON aml_sanctions_entry
  FOR EACH STATEMENT EXECUTE FUNCTION aml_append_only();
CREATE TRIGGER aml_case_event_append_only BEFORE UPDATE OR DELETE ON aml_case_event
  FOR EACH ROW EXECUTE FUNCTION aml_append_only();
CREATE TRIGGER aml_case_event_no_truncate BEFORE TRUNCATE ON aml_case_event
  FOR EACH STATEMENT EXECUTE FUNCTION aml_append_only();

CREATE FUNCTION aml_sanctions_list_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'UPDATE' OR (to_jsonb(NEW) - 'active') <> (to_jsonb(OLD) - 'active') THEN
    RAISE EXCEPTION 'an imported sanctions list only changes its active flag (%)', TG_OP
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'aml_sanctions_list_guard';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER aml_sanctions_list_guard BEFORE UPDATE OR DELETE ON aml_sanctions_list
  FOR EACH ROW EXECUTE FUNCTION aml_sanctions_list_guard();

CREATE FUNCTION aml_case_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' OR TG_OP = 'TRUNCATE' THEN
    RAISE EXCEPTION 'AML cases are never deleted (%)', TG_OP
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'aml_case_guard';
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.state <> 'open' OR NEW.proposed_by_id IS NOT NULL OR NEW.approved_by_id IS NOT NULL
    THEN
      RAISE EXCEPTION 'an AML case is born open, with no filing'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'aml_case_guard';
    END IF;
    RETURN NEW;
  END IF;
  IF OLD.state = 'closed' THEN
    RAISE EXCEPTION 'AML case % is closed: it never changes again', OLD.reference
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'aml_case_guard';
  END IF;
  IF NEW.reference <> OLD.reference OR NEW.subject_ref <> OLD.subject_ref
     OR NEW.subject_user_id IS DISTINCT FROM OLD.subject_user_id THEN
    RAISE EXCEPTION 'AML case %: its reference and subject never change', OLD.reference
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'aml_case_guard';
  END IF;
  IF OLD.approved_by_id IS NOT NULL AND (
       NEW.approved_by_id IS DISTINCT FROM OLD.approved_by_id
       OR NEW.approved_at IS DISTINCT FROM OLD.approved_at
       OR NEW.proposed_by_id IS DISTINCT FROM OLD.proposed_by_id
       OR NEW.filing_reason <> OLD.filing_reason OR NEW.filing_action <> OLD.filing_action
       OR NEW.state NOT IN ('filing_approved', 'closed')) THEN
    RAISE EXCEPTION 'AML case %: an approved filing is never rewritten', OLD.reference
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'aml_case_guard';
  END IF;
  IF NEW.approved_by_id IS NOT NULL AND OLD.approved_by_id IS NULL THEN
    IF OLD.state <> 'filing_proposed' OR NEW.state <> 'filing_approved'
       OR NEW.proposed_by_id IS DISTINCT FROM OLD.proposed_by_id THEN
      RAISE EXCEPTION 'AML case %: only a proposed filing can be approved', OLD.reference
        USING ERRCODE = 'check_violation', CONSTRAINT = 'aml_case_maker_checker';
    END IF;
    IF NEW.approved_by_id = OLD.proposed_by_id THEN
      RAISE EXCEPTION 'AML case %: the officer who proposed the filing cannot approve it',
        OLD.reference USING ERRCODE = 'check_violation', CONSTRAINT = 'aml_case_maker_checker';
    END IF;
  END IF;
  IF NEW.state = 'filing_approved' AND NEW.approved_by_id IS NULL THEN
    RAISE EXCEPTION 'AML case %: approved without an approver', OLD.reference
      USING ERRCODE = 'check_violation', CONSTRAINT = 'aml_case_maker_checker';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER aml_case_guard BEFORE INSERT OR UPDATE OR DELETE ON aml_case
  FOR EACH ROW EXECUTE FUNCTION aml_case_guard();
CREATE TRIGGER aml_case_no_truncate BEFORE TRUNCATE ON aml_case
  FOR EACH STATEMENT EXECUTE FUNCTION aml_case_guard();
"""

REVERSE = """
DROP TRIGGER aml_case_no_truncate ON aml_case;
DROP TRIGGER aml_case_guard ON aml_case;
DROP FUNCTION aml_case_guard();
DROP TRIGGER aml_sanctions_list_guard ON aml_sanctions_list;
DROP FUNCTION aml_sanctions_list_guard();
DROP TRIGGER aml_case_event_no_truncate ON aml_case_event;
DROP TRIGGER aml_case_event_append_only ON aml_case_event;
DROP TRIGGER aml_sanctions_entry_no_truncate ON aml_sanctions_entry;
DROP TRIGGER aml_sanctions_entry_append_only ON aml_sanctions_entry;
DROP FUNCTION aml_append_only();
DROP TRIGGER aml_rule_version_no_truncate ON aml_rule_version;
DROP TRIGGER aml_rule_version_frozen ON aml_rule_version;
DROP FUNCTION aml_rule_version_frozen();
"""


class Migration(migrations.Migration):
    dependencies = [("aml", "0001_initial")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
