"""Sumsub webhook bodies are stored sealed with the data keys (issue 11 finding 1).

From here on ``raw_body`` holds only sealed values (``LW1`` blobs, a CHECK); the rows
stored before are sealed by `lightway keys rotate` (run it once after upgrading; the
CHECK is NOT VALID so those rows may wait for it, every new or changed row must pass).
The guard of 0002 still keeps what was received: the body may change only by a re-seal under another data-key version (``lightway keys rotate``).
The helper functions ``lw_is_sealed`` / ``lw_sealed_reseal`` come from momo 0004.
"""

from django.db import migrations

GUARD = """
CREATE OR REPLACE FUNCTION kyc_webhook_event_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.raw_body IS DISTINCT FROM OLD.raw_body
        AND NOT coalesce(lw_sealed_reseal(OLD.raw_body, NEW.raw_body), false))
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
"""

OLD_GUARD = """
CREATE OR REPLACE FUNCTION kyc_webhook_event_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
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
"""

CHECK = """
ALTER TABLE kyc_sumsub_webhook_event
  ADD CONSTRAINT kyc_webhook_body_sealed CHECK (lw_is_sealed(raw_body)) NOT VALID;
"""


class Migration(migrations.Migration):
    dependencies = [("kyc", "0002_webhook_event_immutable"), ("momo", "0004_callback_body_sealed")]

    operations = [
        migrations.RunSQL(GUARD, OLD_GUARD),
        migrations.RunSQL(
            CHECK, "ALTER TABLE kyc_sumsub_webhook_event DROP CONSTRAINT kyc_webhook_body_sealed;"
        ),
    ]
