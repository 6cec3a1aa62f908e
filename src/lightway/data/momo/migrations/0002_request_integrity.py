"""What the database enforces for MoMo requests and callbacks beyond 0001's checks.

- A request's identity (reference, product, operation, party (its keyed hash: key rotation
  re-encrypts party_ct), amount, currency, target, base URL, transfer, hold) never changes; it is never deleted or truncated.
- Status only moves new → accepted → successful|failed (new → failed/successful is allowed
  when MoMo refuses or a 409 read shows the outcome); a terminal request never changes its
  status, financial transaction id or reason again.
- A callback's raw body, method and reference never change; callbacks are never deleted.
Each rule has a test in tests/test_momo_integrity.py.
"""

from django.db import migrations

SQL = """
CREATE FUNCTION momo_request_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'MoMo requests are never deleted' USING ERRCODE = 'restrict_violation';
  END IF;
  IF NEW.reference_id <> OLD.reference_id OR NEW.product <> OLD.product
     OR NEW.operation <> OLD.operation OR NEW.amount <> OLD.amount
     OR NEW.currency <> OLD.currency
     OR NEW.party_token <> OLD.party_token OR NEW.party_id_type <> OLD.party_id_type
     OR NEW.target_environment <> OLD.target_environment OR NEW.base_url <> OLD.base_url
     OR NEW.external_id <> OLD.external_id OR NEW.created_at <> OLD.created_at
     OR NEW.transfer_id IS DISTINCT FROM OLD.transfer_id
     OR (OLD.hold_id IS NOT NULL AND NEW.hold_id IS DISTINCT FROM OLD.hold_id) THEN
    RAISE EXCEPTION 'MoMo request %: identity, party and amount are fixed', OLD.reference_id
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF OLD.status IN ('successful', 'failed') AND (
       NEW.status <> OLD.status
       OR NEW.financial_transaction_id <> OLD.financial_transaction_id
       OR NEW.reason_code <> OLD.reason_code OR NEW.completed_at IS DISTINCT FROM OLD.completed_at) THEN
    RAISE EXCEPTION 'MoMo request % is %: its outcome never changes', OLD.reference_id, OLD.status
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF NEW.status <> OLD.status AND (OLD.status, NEW.status) NOT IN (
       ('new', 'accepted'), ('new', 'successful'), ('new', 'failed'),
       ('accepted', 'successful'), ('accepted', 'failed')) THEN
    RAISE EXCEPTION 'MoMo request %: % -> % is not an allowed transition',
      OLD.reference_id, OLD.status, NEW.status
      USING ERRCODE = 'check_violation', CONSTRAINT = 'momo_request_transition';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER momo_request_guard BEFORE UPDATE OR DELETE ON momo_request
  FOR EACH ROW EXECUTE FUNCTION momo_request_guard();

CREATE FUNCTION momo_callback_guard() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER momo_callback_guard BEFORE UPDATE OR DELETE ON momo_callback
  FOR EACH ROW EXECUTE FUNCTION momo_callback_guard();

CREATE FUNCTION momo_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is never truncated', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER momo_request_no_truncate BEFORE TRUNCATE ON momo_request
  FOR EACH STATEMENT EXECUTE FUNCTION momo_refuse_truncate();
CREATE TRIGGER momo_callback_no_truncate BEFORE TRUNCATE ON momo_callback
  FOR EACH STATEMENT EXECUTE FUNCTION momo_refuse_truncate();
"""

REVERSE = """
DROP TRIGGER momo_callback_no_truncate ON momo_callback;
DROP TRIGGER momo_request_no_truncate ON momo_request;
DROP FUNCTION momo_refuse_truncate();
DROP TRIGGER momo_callback_guard ON momo_callback;
DROP FUNCTION momo_callback_guard();
DROP TRIGGER momo_request_guard ON momo_request;
DROP FUNCTION momo_request_guard();
"""


class Migration(migrations.Migration):
    dependencies = [("momo", "0001_initial")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
