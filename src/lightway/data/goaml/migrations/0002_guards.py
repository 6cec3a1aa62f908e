"""Database guards of the goAML export (tests in tests/test_goaml_storage.py).

1. An FIU configuration version never changes and is never deleted: a change is a new
   version with a later ``effective_from``, so every released file can be explained by the
   row it was built from.
2. A released file is never deleted, and only its sealed content may change (a re-seal
   under another data-key version by ``lightway keys rotate``): reference, kind, period,
   counts, SHA-256, author and time are fixed once written.
3. The content is always sealed: it starts with the envelope's magic ``LW1``
   (``lightway.security.crypto``), so clear bytes cannot be stored by mistake.
"""

from django.db import migrations

SQL = r"""
CREATE FUNCTION goaml_fiu_config_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'goAML FIU configuration % is a released version: add a new version instead',
    OLD.id USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE TRIGGER goaml_fiu_config_frozen BEFORE UPDATE OR DELETE ON goaml_fiu_config
  FOR EACH ROW EXECUTE FUNCTION goaml_fiu_config_frozen();

CREATE FUNCTION goaml_file_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'goAML file % is a released file and is never deleted', OLD.reference
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  IF (NEW.id, NEW.reference, NEW.fiu, NEW.config_id, NEW.kind, NEW.content_type, NEW.filename,
      NEW.period_start, NEW.period_end, NEW.case_reference, NEW.transactions, NEW.currency,
      NEW.amount_total, NEW.size, NEW.sha256, NEW.created_at, NEW.created_by)
     IS DISTINCT FROM
     (OLD.id, OLD.reference, OLD.fiu, OLD.config_id, OLD.kind, OLD.content_type, OLD.filename,
      OLD.period_start, OLD.period_end, OLD.case_reference, OLD.transactions, OLD.currency,
      OLD.amount_total, OLD.size, OLD.sha256, OLD.created_at, OLD.created_by) THEN
    RAISE EXCEPTION 'goAML file %: only its sealed content may be re-sealed', OLD.reference
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER goaml_file_guard BEFORE UPDATE OR DELETE ON goaml_file
  FOR EACH ROW EXECUTE FUNCTION goaml_file_guard();

ALTER TABLE goaml_file ADD CONSTRAINT goaml_file_content_sealed
  CHECK (substring(content_ct from 1 for 3) = '\x4c5731'::bytea);
"""

REVERSE = r"""
ALTER TABLE goaml_file DROP CONSTRAINT goaml_file_content_sealed;
DROP TRIGGER goaml_file_guard ON goaml_file;
DROP FUNCTION goaml_file_guard();
DROP TRIGGER goaml_fiu_config_frozen ON goaml_fiu_config;
DROP FUNCTION goaml_fiu_config_frozen();
"""


class Migration(migrations.Migration):
    dependencies = [("goaml", "0001_initial")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
