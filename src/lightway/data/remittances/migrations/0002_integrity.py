"""The rules of quotes, beneficiary validations and remittances, enforced by PostgreSQL
(models docstring). The remittance transitions are generated from ``models.TRANSITIONS``.
Tested in tests/test_remittance_integrity.py."""

from django.db import migrations

from lightway.data.remittances.models import TRANSITIONS


def _pairs() -> str:
    return ", ".join(
        f"('{old}', '{new}')" for old, news in sorted(TRANSITIONS.items()) for new in sorted(news)
    )


SQL = f"""
CREATE FUNCTION remittances_quote_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    RAISE EXCEPTION 'remittances_quote: TRUNCATE refused' USING ERRCODE = 'restrict_violation';
  END IF;
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'quote %: quotes are never deleted', OLD.id
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF (to_jsonb(NEW) - 'state' - 'updated_at') <> (to_jsonb(OLD) - 'state' - 'updated_at') THEN
    RAISE EXCEPTION 'quote %: its terms never change', OLD.id
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF NEW.state <> OLD.state AND NOT (OLD.state = 'ACTIVE' AND NEW.state IN ('USED', 'EXPIRED')) THEN
    RAISE EXCEPTION 'quote %: % -> % is not an allowed transition', OLD.id, OLD.state, NEW.state
      USING ERRCODE = 'check_violation', CONSTRAINT = 'remittances_quote_transition';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER remittances_quote_guard BEFORE UPDATE OR DELETE ON remittances_quote
  FOR EACH ROW EXECUTE FUNCTION remittances_quote_guard();
CREATE TRIGGER remittances_quote_no_truncate BEFORE TRUNCATE ON remittances_quote
  FOR EACH STATEMENT EXECUTE FUNCTION remittances_quote_guard();

CREATE FUNCTION remittances_bv_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE'
     AND (to_jsonb(NEW) - 'msisdn_ct' - 'expected_name_ct' - 'holder_name_ct')
       = (to_jsonb(OLD) - 'msisdn_ct' - 'expected_name_ct' - 'holder_name_ct')
     AND (NEW.expected_name_ct IS NULL) = (OLD.expected_name_ct IS NULL)
     AND (NEW.holder_name_ct IS NULL) = (OLD.holder_name_ct IS NULL) THEN
    RETURN NEW;  -- key rotation re-seals the sealed columns, nothing else
  END IF;
  RAISE EXCEPTION 'remittances_beneficiary_validation is append-only: % refused', TG_OP
    USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER remittances_bv_guard BEFORE UPDATE OR DELETE
  ON remittances_beneficiary_validation FOR EACH ROW EXECUTE FUNCTION remittances_bv_guard();
CREATE TRIGGER remittances_bv_no_truncate BEFORE TRUNCATE
  ON remittances_beneficiary_validation FOR EACH STATEMENT EXECUTE FUNCTION remittances_bv_guard();

CREATE FUNCTION remittances_remittance_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    RAISE EXCEPTION 'remittances_remittance: TRUNCATE refused'
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'remittance %: remittances are never deleted', OLD.id
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.state <> 'CREATED' OR NEW.version <> 1 OR NEW.transfer_id IS NOT NULL
       OR NEW.fx_entry_id IS NOT NULL OR NEW.fx_reversal_entry_id IS NOT NULL THEN
      RAISE EXCEPTION 'remittance %: created as CREATED, version 1, nothing paid', NEW.id
        USING ERRCODE = 'check_violation', CONSTRAINT = 'remittances_created';
    END IF;
    RETURN NEW;
  END IF;
  IF (to_jsonb(NEW) - 'state' - 'version' - 'reason_code' - 'transfer_id' - 'fx_entry_id'
      - 'fx_reversal_entry_id' - 'updated_at'
      - 'beneficiary_msisdn_ct' - 'beneficiary_name_ct' - 'sender_ct')
     <> (to_jsonb(OLD) - 'state' - 'version' - 'reason_code' - 'transfer_id' - 'fx_entry_id'
      - 'fx_reversal_entry_id' - 'updated_at'
      - 'beneficiary_msisdn_ct' - 'beneficiary_name_ct' - 'sender_ct') THEN
    RAISE EXCEPTION 'remittance %: identity, amounts, parties and quote are fixed', OLD.id
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF (OLD.transfer_id IS NOT NULL AND NEW.transfer_id IS DISTINCT FROM OLD.transfer_id)
     OR (OLD.fx_entry_id IS NOT NULL AND NEW.fx_entry_id IS DISTINCT FROM OLD.fx_entry_id)
     OR (OLD.fx_reversal_entry_id IS NOT NULL
         AND NEW.fx_reversal_entry_id IS DISTINCT FROM OLD.fx_reversal_entry_id) THEN
    RAISE EXCEPTION 'remittance %: its transfer and entries are set once', OLD.id
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF NEW.state <> OLD.state AND (OLD.state, NEW.state) NOT IN ({_pairs()}) THEN
    RAISE EXCEPTION 'remittance %: % -> % is not an allowed transition', OLD.id, OLD.state,
      NEW.state USING ERRCODE = 'check_violation', CONSTRAINT = 'remittances_transition';
  END IF;
  IF NEW.version <> OLD.version + 1 THEN
    RAISE EXCEPTION 'remittance %: version must rise by one on every change (% -> %)', OLD.id,
      OLD.version, NEW.version
      USING ERRCODE = 'check_violation', CONSTRAINT = 'remittances_version_rises';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER remittances_remittance_guard BEFORE INSERT OR UPDATE OR DELETE
  ON remittances_remittance FOR EACH ROW EXECUTE FUNCTION remittances_remittance_guard();
CREATE TRIGGER remittances_remittance_no_truncate BEFORE TRUNCATE ON remittances_remittance
  FOR EACH STATEMENT EXECUTE FUNCTION remittances_remittance_guard();

CREATE FUNCTION remittances_usage_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    RAISE EXCEPTION 'remittances_partner_usage: TRUNCATE refused'
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'partner usage counters are never deleted'
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF NEW.partner_id <> OLD.partner_id OR NEW.currency <> OLD.currency OR NEW.day <> OLD.day THEN
    RAISE EXCEPTION 'a partner usage counter keeps its partner, currency and day'
      USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER remittances_usage_guard BEFORE UPDATE OR DELETE ON remittances_partner_usage
  FOR EACH ROW EXECUTE FUNCTION remittances_usage_guard();
CREATE TRIGGER remittances_usage_no_truncate BEFORE TRUNCATE ON remittances_partner_usage
  FOR EACH STATEMENT EXECUTE FUNCTION remittances_usage_guard();
"""

REVERSE = """
DROP TRIGGER remittances_usage_no_truncate ON remittances_partner_usage;
DROP TRIGGER remittances_usage_guard ON remittances_partner_usage;
DROP FUNCTION remittances_usage_guard();
DROP TRIGGER remittances_remittance_no_truncate ON remittances_remittance;
DROP TRIGGER remittances_remittance_guard ON remittances_remittance;
DROP FUNCTION remittances_remittance_guard();
DROP TRIGGER remittances_bv_no_truncate ON remittances_beneficiary_validation;
DROP TRIGGER remittances_bv_guard ON remittances_beneficiary_validation;
DROP FUNCTION remittances_bv_guard();
DROP TRIGGER remittances_quote_no_truncate ON remittances_quote;
DROP TRIGGER remittances_quote_guard ON remittances_quote;
DROP FUNCTION remittances_quote_guard();
"""


class Migration(migrations.Migration):
    dependencies = [("remittances", "0001_initial")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
