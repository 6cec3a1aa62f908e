"""The report runs' rules, enforced by PostgreSQL (``lightway.data.reports.models``), and
the indexes the KYC statistics read by (``application/reports/kinds.py``). Tested in
tests/test_reports.py.

- ``reports_run_guard``: a run is born ``queued``; it moves ``queued -> running -> done |
  failed`` (or ``queued -> failed``) and nothing else; ``done`` and ``failed`` are final;
  its kind, parameters, requester, request time and format never change; its progress never
  goes backwards; it is never deleted or truncated.
- ``reports_run_done_file`` (constraint trigger, checked at commit): a ``done`` run has its
  file row, whose bytes have the run's size and SHA-256.
- ``reports_file_guard``: a file is written once, for a ``running`` run, and never updated
  or deleted.
- ``kyc_applicant`` gets three indexes so that the KYC statistics of a period read the
  applicants started, approved or finally rejected in it (index ranges), never the whole
  table. They belong to the report that reads them, so they are created here.
"""

from django.db import migrations

SQL = """
CREATE FUNCTION reports_run_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' OR TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'report runs are never deleted (%)', TG_OP
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.status <> 'queued' OR NEW.started_at IS NOT NULL OR NEW.sha256 IS NOT NULL THEN
      RAISE EXCEPTION 'a report run is born queued'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'reports_run_state_machine';
    END IF;
    RETURN NEW;
  END IF;
  IF OLD.status IN ('done', 'failed') THEN
    RAISE EXCEPTION 'report run % is %: it never changes again', OLD.id, OLD.status
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'reports_run_state_machine';
  END IF;
  IF NOT ((OLD.status = 'queued' AND NEW.status IN ('running', 'failed'))
          OR (OLD.status = 'running' AND NEW.status IN ('running', 'done', 'failed'))) THEN
    RAISE EXCEPTION 'report run %: % -> % is not allowed', OLD.id, OLD.status, NEW.status
      USING ERRCODE = 'check_violation', CONSTRAINT = 'reports_run_state_machine';
  END IF;
  IF NEW.kind <> OLD.kind OR NEW.params <> OLD.params OR NEW.requested_by <> OLD.requested_by
     OR NEW.requested_at <> OLD.requested_at OR NEW.format <> OLD.format THEN
    RAISE EXCEPTION 'report run %: what was asked never changes', OLD.id
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'reports_run_state_machine';
  END IF;
  IF OLD.status = 'running' AND NEW.progress_done < OLD.progress_done THEN
    RAISE EXCEPTION 'report run %: progress never goes backwards', OLD.id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'reports_run_state_machine';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER reports_run_guard BEFORE INSERT OR UPDATE OR DELETE ON reports_run
  FOR EACH ROW EXECUTE FUNCTION reports_run_guard();
CREATE TRIGGER reports_run_no_truncate BEFORE TRUNCATE ON reports_run
  FOR EACH STATEMENT EXECUTE FUNCTION reports_run_guard();

CREATE FUNCTION reports_run_done_file() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bytes bytea;
BEGIN
  SELECT content INTO bytes FROM reports_file WHERE run_id = NEW.id;
  IF NOT FOUND OR length(bytes) <> NEW.size OR encode(sha256(bytes), 'hex') <> NEW.sha256 THEN
    RAISE EXCEPTION 'report run % is done without its file of % bytes and SHA-256 %',
      NEW.id, NEW.size, NEW.sha256
      USING ERRCODE = 'check_violation', CONSTRAINT = 'reports_run_done_file';
  END IF;
  RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER reports_run_done_file AFTER UPDATE ON reports_run
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.status = 'done')
  EXECUTE FUNCTION reports_run_done_file();

CREATE FUNCTION reports_file_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NOT EXISTS (SELECT 1 FROM reports_run WHERE id = NEW.run_id AND status = 'running') THEN
      RAISE EXCEPTION 'report file of run %: the run is not running', NEW.run_id
        USING ERRCODE = 'check_violation', CONSTRAINT = 'reports_file_written_once';
    END IF;
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'report files are written once, never changed or deleted (%)', TG_OP
    USING ERRCODE = 'restrict_violation', CONSTRAINT = 'reports_file_written_once';
END $$;

CREATE TRIGGER reports_file_guard BEFORE INSERT OR UPDATE OR DELETE ON reports_file
  FOR EACH ROW EXECUTE FUNCTION reports_file_guard();
CREATE TRIGGER reports_file_no_truncate BEFORE TRUNCATE ON reports_file
  FOR EACH STATEMENT EXECUTE FUNCTION reports_file_guard();

CREATE INDEX reports_kyc_applicant_created ON kyc_applicant (created_at);
CREATE INDEX reports_kyc_applicant_approved ON kyc_applicant (approved_at)
  WHERE approved_at IS NOT NULL;
CREATE INDEX reports_kyc_applicant_rejected ON kyc_applicant (final_rejected_at)
  WHERE final_rejected_at IS NOT NULL;
"""

REVERSE = """
DROP INDEX reports_kyc_applicant_rejected;
DROP INDEX reports_kyc_applicant_approved;
DROP INDEX reports_kyc_applicant_created;
DROP TRIGGER reports_file_no_truncate ON reports_file;
DROP TRIGGER reports_file_guard ON reports_file;
DROP FUNCTION reports_file_guard();
DROP TRIGGER reports_run_done_file ON reports_run;
DROP FUNCTION reports_run_done_file();
DROP TRIGGER reports_run_no_truncate ON reports_run;
DROP TRIGGER reports_run_guard ON reports_run;
DROP FUNCTION reports_run_guard();
"""


class Migration(migrations.Migration):
    dependencies = [("reports", "0001_initial"), ("kyc", "0003_webhook_body_sealed")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
