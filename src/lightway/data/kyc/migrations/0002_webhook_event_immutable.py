"""A stored webhook delivery keeps its raw body, headers, digest verdict and dedupe key."""

from django.db import migrations

FORWARD = """
CREATE FUNCTION kyc_webhook_event_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.raw_body IS DISTINCT FROM OLD.raw_body
       OR NEW.headers IS DISTINCT FROM OLD.headers
       OR NEW.received_at IS DISTINCT FROM OLD.received_at
       OR NEW.digest_ok IS DISTINCT FROM OLD.digest_ok
       OR NEW.dedupe_key IS DISTINCT FROM OLD.dedupe_key THEN
        RAISE EXCEPTION 'a stored Sumsub webhook delivery cannot be altered (event %)', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER kyc_webhook_event_immutable
    BEFORE UPDATE ON kyc_sumsub_webhook_event
    FOR EACH ROW EXECUTE FUNCTION kyc_webhook_event_immutable();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS kyc_webhook_event_immutable ON kyc_sumsub_webhook_event;
DROP FUNCTION IF EXISTS kyc_webhook_event_immutable();
"""


class Migration(migrations.Migration):
    dependencies = [("kyc", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
