"""Partner events are append-only: inserted without a ``seq``, then given one ``seq`` once
(the sequencer); every other UPDATE, DELETE and TRUNCATE is refused. Tested in
tests/test_partner_events.py."""

from django.db import migrations

SQL = r"""
CREATE FUNCTION partners_event_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.seq IS NOT NULL THEN
      RAISE EXCEPTION 'partners_event: an event is inserted without seq; the sequencer numbers it'
        USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.seq IS NULL AND NEW.seq IS NOT NULL
     AND (to_jsonb(NEW) - 'seq') = (to_jsonb(OLD) - 'seq') THEN
    RETURN NEW;  -- the one-time numbering
  END IF;
  IF TG_OP = 'TRUNCATE' THEN
    RAISE EXCEPTION 'partners_event is append-only: TRUNCATE refused'
      USING ERRCODE = 'restrict_violation';
  END IF;
  RAISE EXCEPTION 'partners_event is append-only: % of event % refused', TG_OP, OLD.id
    USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER partners_event_guard BEFORE INSERT OR UPDATE OR DELETE ON partners_event
  FOR EACH ROW EXECUTE FUNCTION partners_event_guard();
CREATE TRIGGER partners_event_no_truncate BEFORE TRUNCATE ON partners_event
  FOR EACH STATEMENT EXECUTE FUNCTION partners_event_guard();
"""

REVERSE = r"""
DROP TRIGGER partners_event_no_truncate ON partners_event;
DROP TRIGGER partners_event_guard ON partners_event;
DROP FUNCTION partners_event_guard();
"""


class Migration(migrations.Migration):
    dependencies = [("partners", "0001_initial")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
