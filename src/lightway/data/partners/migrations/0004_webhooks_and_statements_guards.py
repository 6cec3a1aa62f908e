"""The rules of the webhook and statement tables, in the database (tests in
tests/test_partner_webhooks.py and tests/test_partner_statements.py):

- ``partners_webhook_key``: never deleted; only ``expires_at`` may change (set once, or
  moved earlier: a rotation never extends an old key) and ``secret_ct`` (re-sealed by
  data-key rotation, same secret);
- ``partners_webhook_attempt``: the delivery log is append-only;
- ``partners_webhook_delivery``: never deleted;
- ``partners_statement_cut``: append-only; each day follows the previous cut's day with no
  gap, and its last posting is not below the previous one's.
"""

from django.db import migrations

SQL = r"""
CREATE FUNCTION partners_webhook_key_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF (to_jsonb(NEW) - 'expires_at' - 'secret_ct') <> (to_jsonb(OLD) - 'expires_at' - 'secret_ct')
    THEN
      RAISE EXCEPTION 'partners_webhook_key: only expires_at and the sealed secret change'
        USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.expires_at IS NOT NULL AND (NEW.expires_at IS NULL OR NEW.expires_at > OLD.expires_at)
    THEN
      RAISE EXCEPTION 'partners_webhook_key: an expiry is never lifted or extended'
        USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'partners_webhook_key: keys expire, they are never deleted (% refused)', TG_OP
    USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER partners_webhook_key_guard BEFORE UPDATE OR DELETE ON partners_webhook_key
  FOR EACH ROW EXECUTE FUNCTION partners_webhook_key_guard();
CREATE TRIGGER partners_webhook_key_no_truncate BEFORE TRUNCATE ON partners_webhook_key
  FOR EACH STATEMENT EXECUTE FUNCTION partners_webhook_key_guard();

CREATE FUNCTION partners_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER partners_webhook_attempt_append_only
  BEFORE UPDATE OR DELETE ON partners_webhook_attempt
  FOR EACH ROW EXECUTE FUNCTION partners_append_only();
CREATE TRIGGER partners_webhook_attempt_no_truncate BEFORE TRUNCATE ON partners_webhook_attempt
  FOR EACH STATEMENT EXECUTE FUNCTION partners_append_only();
CREATE TRIGGER partners_webhook_delivery_no_delete BEFORE DELETE ON partners_webhook_delivery
  FOR EACH ROW EXECUTE FUNCTION partners_append_only();
CREATE TRIGGER partners_webhook_delivery_no_truncate BEFORE TRUNCATE ON partners_webhook_delivery
  FOR EACH STATEMENT EXECUTE FUNCTION partners_append_only();
CREATE TRIGGER partners_statement_cut_append_only
  BEFORE UPDATE OR DELETE ON partners_statement_cut
  FOR EACH ROW EXECUTE FUNCTION partners_append_only();
CREATE TRIGGER partners_statement_cut_no_truncate BEFORE TRUNCATE ON partners_statement_cut
  FOR EACH STATEMENT EXECUTE FUNCTION partners_append_only();

CREATE FUNCTION partners_statement_cut_next() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  prev partners_statement_cut%ROWTYPE;
BEGIN
  -- One cut at a time, so two concurrent inserts cannot both pass the check.
  PERFORM pg_advisory_xact_lock(hashtext('partners_statement_cut'));
  SELECT * INTO prev FROM partners_statement_cut ORDER BY day DESC LIMIT 1;
  IF FOUND AND (NEW.day <> prev.day + 1 OR NEW.last_posting_id < prev.last_posting_id) THEN
    RAISE EXCEPTION 'partners_statement_cut: % must follow % (day after, posting id >= %)',
      NEW.day, prev.day, prev.last_posting_id USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER partners_statement_cut_next BEFORE INSERT ON partners_statement_cut
  FOR EACH ROW EXECUTE FUNCTION partners_statement_cut_next();
"""

REVERSE = r"""
DROP TRIGGER partners_statement_cut_next ON partners_statement_cut;
DROP FUNCTION partners_statement_cut_next();
DROP TRIGGER partners_statement_cut_no_truncate ON partners_statement_cut;
DROP TRIGGER partners_statement_cut_append_only ON partners_statement_cut;
DROP TRIGGER partners_webhook_delivery_no_truncate ON partners_webhook_delivery;
DROP TRIGGER partners_webhook_delivery_no_delete ON partners_webhook_delivery;
DROP TRIGGER partners_webhook_attempt_no_truncate ON partners_webhook_attempt;
DROP TRIGGER partners_webhook_attempt_append_only ON partners_webhook_attempt;
DROP FUNCTION partners_append_only();
DROP TRIGGER partners_webhook_key_no_truncate ON partners_webhook_key;
DROP TRIGGER partners_webhook_key_guard ON partners_webhook_key;
DROP FUNCTION partners_webhook_key_guard();
"""


class Migration(migrations.Migration):
    dependencies = [("partners", "0003_webhooks_and_statements")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
