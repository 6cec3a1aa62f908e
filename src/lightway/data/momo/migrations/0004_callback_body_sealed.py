"""MoMo callback bodies are stored sealed with the data keys (issue 11 finding 1).

They carry the payer's or payee's phone number. From here on the column holds only sealed
values (``LW1`` blobs, a CHECK); the rows stored before are sealed by
`lightway keys rotate` (run it once after upgrading; the CHECK is NOT VALID so those rows
may wait for it, every new or changed row must pass). The guard of 0002
still keeps what was received: the body may change only by a re-seal under another data-key
version (``lightway keys rotate``), never to anything else.
"""

from django.db import migrations

GUARD = """
CREATE OR REPLACE FUNCTION momo_callback_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'MoMo callbacks are never deleted' USING ERRCODE = 'restrict_violation';
  END IF;
  IF NEW.body <> OLD.body AND NOT lw_sealed_reseal(OLD.body, NEW.body) THEN
    RAISE EXCEPTION 'MoMo callback %: the body changes only by a re-seal under another key',
      OLD.id USING ERRCODE = 'restrict_violation';
  END IF;
  IF NEW.method <> OLD.method OR NEW.reference_id <> OLD.reference_id
     OR NEW.received_at <> OLD.received_at OR NEW.content_type <> OLD.content_type THEN
    RAISE EXCEPTION 'MoMo callback %: what was received is kept as received', OLD.id
      USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END $$;
"""

# Shared by the sealed raw-payload columns (kyc migration 0003 uses it too): whether ``new``
# is a sealed value under another key version than ``old`` (or ``old`` was never sealed:
# the one-off sealing of rows stored before sealing existed).
SEALED_FUNCTIONS = """
CREATE OR REPLACE FUNCTION lw_is_sealed(b bytea) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT length(b) > 4 AND substring(b from 1 for 3) = '\\x4c5731'::bytea
$$;
CREATE OR REPLACE FUNCTION lw_sealed_version(b bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT substring(b from 5 for get_byte(b, 3))
$$;
CREATE OR REPLACE FUNCTION lw_sealed_reseal(old bytea, new bytea) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT lw_is_sealed(new)
     AND (NOT lw_is_sealed(old) OR lw_sealed_version(old) <> lw_sealed_version(new))
$$;
"""

OLD_GUARD = """
CREATE OR REPLACE FUNCTION momo_callback_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'MoMo callbacks are never deleted' USING ERRCODE = 'restrict_violation';
  END IF;
  IF NEW.body <> OLD.body OR NEW.method <> OLD.method OR NEW.reference_id <> OLD.reference_id
     OR NEW.received_at <> OLD.received_at OR NEW.content_type <> OLD.content_type THEN
    RAISE EXCEPTION 'MoMo callback %: what was received is kept as received', OLD.id
      USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END $$;
"""

CHECK = """
ALTER TABLE momo_callback
  ADD CONSTRAINT momo_callback_body_sealed CHECK (lw_is_sealed(body)) NOT VALID;
"""


class Migration(migrations.Migration):
    dependencies = [("momo", "0003_request_list_indexes")]

    operations = [
        migrations.RunSQL(SEALED_FUNCTIONS + GUARD, OLD_GUARD),
        migrations.RunSQL(
            CHECK, "ALTER TABLE momo_callback DROP CONSTRAINT momo_callback_body_sealed;"
        ),
    ]
