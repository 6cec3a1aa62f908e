"""The audit table is append-only; the only UPDATE allowed is the sequencer's one-time link.

Rules (each has a test in tests/test_audit.py):

- INSERT: seq, prev_hash and hash must be NULL (records are linked by the sequencer only).
- UPDATE: allowed only when OLD.hash IS NULL (and OLD.seq, OLD.prev_hash NULL), NEW.seq,
  NEW.prev_hash and NEW.hash are all non-NULL, and every other column is unchanged (compared
  as whole rows minus the link columns, so a column added later is covered too). Anything
  else is refused: content edits, re-linking a linked record, un-linking.
- DELETE and TRUNCATE: always refused.
- Linking keeps the chain gap-free: seq 1 must follow the genesis hash (64 zeros); seq n > 1
  must name the hash of the record with seq n - 1 as its prev_hash. Checked AFTER the UPDATE
  statement, so the sequencer can link a whole batch in one statement.

A database superuser can still bypass triggers (session_replication_role = replica, or
ALTER TABLE ... DISABLE TRIGGER). That is what audit_verify() and external checkpoints of the
chain head are for.
"""

from django.db import migrations

SQL = r"""
CREATE FUNCTION audit_record_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.seq IS NOT NULL OR NEW.prev_hash IS NOT NULL OR NEW.hash IS NOT NULL THEN
      RAISE EXCEPTION 'audit_record: a record is inserted unlinked (seq, prev_hash, hash NULL); only the sequencer links it'
        USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
  END IF;

  IF TG_OP = 'UPDATE'
     AND OLD.hash IS NULL AND OLD.seq IS NULL AND OLD.prev_hash IS NULL
     AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
     AND (to_jsonb(NEW) - 'seq' - 'prev_hash' - 'hash')
         = (to_jsonb(OLD) - 'seq' - 'prev_hash' - 'hash')
  THEN
    RETURN NEW;  -- the one-time link
  END IF;

  IF TG_OP = 'TRUNCATE' THEN
    RAISE EXCEPTION 'audit_record is append-only: TRUNCATE refused'
      USING ERRCODE = 'restrict_violation';
  END IF;
  RAISE EXCEPTION 'audit_record is append-only: % of record % refused', TG_OP, OLD.id
    USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER audit_record_guard BEFORE INSERT OR UPDATE OR DELETE ON audit_record
  FOR EACH ROW EXECUTE FUNCTION audit_record_guard();
CREATE TRIGGER audit_record_no_truncate BEFORE TRUNCATE ON audit_record
  FOR EACH STATEMENT EXECUTE FUNCTION audit_record_guard();

-- Fired at the end of the linking statement, when the whole batch is visible.
CREATE FUNCTION audit_record_check_link() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.seq = 1 THEN
    IF NEW.prev_hash <> repeat('0', 64) THEN
      RAISE EXCEPTION 'audit_record %: seq 1 must follow the genesis hash', NEW.id
        USING ERRCODE = 'check_violation', CONSTRAINT = 'audit_record_chain_continuity';
    END IF;
  ELSIF NOT EXISTS (
    SELECT 1 FROM audit_record p WHERE p.seq = NEW.seq - 1 AND p.hash = NEW.prev_hash
  ) THEN
    RAISE EXCEPTION 'audit_record %: seq % does not follow the hash of seq %',
      NEW.id, NEW.seq, NEW.seq - 1
      USING ERRCODE = 'check_violation', CONSTRAINT = 'audit_record_chain_continuity';
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER audit_record_check_link AFTER UPDATE ON audit_record
  FOR EACH ROW WHEN (OLD.seq IS NULL AND NEW.seq IS NOT NULL)
  EXECUTE FUNCTION audit_record_check_link();
"""

REVERSE_SQL = r"""
DROP TRIGGER IF EXISTS audit_record_check_link ON audit_record;
DROP TRIGGER IF EXISTS audit_record_no_truncate ON audit_record;
DROP TRIGGER IF EXISTS audit_record_guard ON audit_record;
DROP FUNCTION IF EXISTS audit_record_check_link();
DROP FUNCTION IF EXISTS audit_record_guard();
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunSQL(SQL, REVERSE_SQL)]
