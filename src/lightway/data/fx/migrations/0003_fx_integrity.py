"""What the database enforces on FX rates and quotes (docs/fx.md, "What the database
enforces"; each rule has a test in tests/test_fx_rates.py or tests/test_fx_exchange.py).

Rates (``fx_rate``):
- a rate is inserted ``proposed`` (no decision yet), or already ``approved`` only by a feed:
  ``proposed_by`` = ``decided_by`` = ``feed:<name>`` and a source other than ``treasury``
  (a figure typed by staff always waits for a second person);
- a proposed rate is decided once: approved or rejected by someone other than its
  proposer (and not by a feed), and nothing but the decision changes;
- a decided rate never changes again; no rate is deleted or truncated.

Quotes (``fx_quote``):
- only ``state``, ``used_at`` and ``transfer_id`` ever change, from ``active`` to ``used``
  (once, with its transfer) or to ``expired``; a used or expired quote never changes again;
  no quote is deleted or truncated.
"""

from django.db import migrations

SQL = r"""
CREATE FUNCTION fx_rate_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'fx rates are never deleted' USING ERRCODE = 'restrict_violation';
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.status = 'proposed' THEN
      IF NEW.decided_by <> '' THEN
        RAISE EXCEPTION 'a proposed rate has no decision yet'
          USING ERRCODE = 'check_violation', CONSTRAINT = 'fx_rate_maker_checker';
      END IF;
    ELSIF NOT (NEW.status = 'approved' AND NEW.proposed_by LIKE 'feed:%'
               AND NEW.decided_by = NEW.proposed_by AND NEW.source <> 'treasury') THEN
      RAISE EXCEPTION 'only a feed inserts a rate already approved; staff propose, another approves'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'fx_rate_maker_checker';
    END IF;
    RETURN NEW;
  END IF;
  IF OLD.status <> 'proposed' THEN
    RAISE EXCEPTION 'fx rate % is %: it never changes again', OLD.id, OLD.status
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'fx_rate_decided_final';
  END IF;
  IF NEW.id <> OLD.id OR NEW.base <> OLD.base OR NEW.quote <> OLD.quote
     OR NEW.mid <> OLD.mid OR NEW.bid <> OLD.bid OR NEW.ask <> OLD.ask
     OR NEW.source <> OLD.source OR NEW.as_of <> OLD.as_of
     OR NEW.proposed_by <> OLD.proposed_by OR NEW.created_at <> OLD.created_at THEN
    RAISE EXCEPTION 'fx rate %: only its decision may be written', OLD.id
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'fx_rate_decided_final';
  END IF;
  IF NEW.status NOT IN ('approved', 'rejected') THEN
    RAISE EXCEPTION 'fx rate %: a decision approves or rejects', OLD.id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'fx_rate_maker_checker';
  END IF;
  IF NEW.decided_by = '' OR NEW.decided_by = OLD.proposed_by OR NEW.decided_by LIKE 'feed:%' THEN
    RAISE EXCEPTION 'fx rate %: decided by its proposer (or by no one): another person must decide', OLD.id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'fx_rate_maker_checker';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER fx_rate_guard BEFORE INSERT OR UPDATE OR DELETE ON fx_rate
  FOR EACH ROW EXECUTE FUNCTION fx_rate_guard();

CREATE FUNCTION fx_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is never truncated', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER fx_rate_no_truncate BEFORE TRUNCATE ON fx_rate
  FOR EACH STATEMENT EXECUTE FUNCTION fx_refuse_truncate();

CREATE FUNCTION fx_quote_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'fx quotes are never deleted' USING ERRCODE = 'restrict_violation';
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.state <> 'active' THEN
      RAISE EXCEPTION 'a quote starts active' USING ERRCODE = 'check_violation',
        CONSTRAINT = 'fx_quote_transition';
    END IF;
    RETURN NEW;
  END IF;
  IF OLD.state <> 'active' THEN
    RAISE EXCEPTION 'fx quote % is %: it never changes again', OLD.id, OLD.state
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'fx_quote_transition';
  END IF;
  IF NEW.id <> OLD.id OR NEW.customer_id <> OLD.customer_id
     OR NEW.send_currency <> OLD.send_currency OR NEW.receive_currency <> OLD.receive_currency
     OR NEW.send_amount <> OLD.send_amount OR NEW.receive_amount <> OLD.receive_amount
     OR NEW.spread_amount <> OLD.spread_amount OR NEW.rate <> OLD.rate
     OR NEW.mid_rate <> OLD.mid_rate OR NEW.fixed <> OLD.fixed
     OR NEW.rate_source <> OLD.rate_source OR NEW.rate_as_of <> OLD.rate_as_of
     OR NEW.fx_rate_id IS DISTINCT FROM OLD.fx_rate_id
     OR NEW.cross_rate_id IS DISTINCT FROM OLD.cross_rate_id
     OR NEW.rounding <> OLD.rounding OR NEW.created_at <> OLD.created_at
     OR NEW.expires_at <> OLD.expires_at THEN
    RAISE EXCEPTION 'fx quote %: its price is fixed', OLD.id
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'fx_quote_transition';
  END IF;
  IF NEW.state = 'used' AND NEW.used_at > OLD.expires_at THEN
    RAISE EXCEPTION 'fx quote %: used after it expired', OLD.id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'fx_quote_transition';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER fx_quote_guard BEFORE INSERT OR UPDATE OR DELETE ON fx_quote
  FOR EACH ROW EXECUTE FUNCTION fx_quote_guard();
CREATE TRIGGER fx_quote_no_truncate BEFORE TRUNCATE ON fx_quote
  FOR EACH STATEMENT EXECUTE FUNCTION fx_refuse_truncate();
"""

REVERSE = """
DROP TRIGGER fx_quote_no_truncate ON fx_quote;
DROP TRIGGER fx_quote_guard ON fx_quote;
DROP FUNCTION fx_quote_guard();
DROP TRIGGER fx_rate_no_truncate ON fx_rate;
DROP FUNCTION fx_refuse_truncate();
DROP TRIGGER fx_rate_guard ON fx_rate;
DROP FUNCTION fx_rate_guard();
"""


class Migration(migrations.Migration):
    dependencies = [("fx", "0002_rates_quotes_watch")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
