"""Database-enforced ledger invariants. Each one has a test in tests/test_ledger_invariants.py."""

from django.db import migrations

SQL = r"""
-- Entries and postings are append-only: a correction is a new reversing entry.
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER ledger_entry_append_only BEFORE UPDATE OR DELETE ON ledger_journal_entry
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_entry_no_truncate BEFORE TRUNCATE ON ledger_journal_entry
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_posting_append_only BEFORE UPDATE OR DELETE ON ledger_posting
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_posting_no_truncate BEFORE TRUNCATE ON ledger_posting
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_account_no_truncate BEFORE TRUNCATE ON ledger_account
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_hold_no_truncate BEFORE TRUNCATE ON ledger_hold
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- Balances move with postings in the same transaction. Postings of one entry are inserted
-- ordered by account id, so the row locks taken here come in a stable order. Accounts with
-- a derived balance (house accounts) are not updated: no lock, no hot spot. This trigger is
-- also the posting's account check (there is no foreign key, whose check would lock the
-- account row): the account must exist, have the posting's currency and be active (a
-- frozen or closed account neither sends nor receives). The check and the balance update
-- are one statement on the locked row, so freezing cannot race a posting.
CREATE FUNCTION ledger_posting_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  acc record;
BEGIN
  UPDATE ledger_account SET balance = balance + NEW.amount
   WHERE id = NEW.account_id AND currency = NEW.currency AND NOT derived_balance
     AND status = 'active';
  IF FOUND THEN
    RETURN NULL;
  END IF;
  SELECT currency, status, derived_balance INTO acc FROM ledger_account WHERE id = NEW.account_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'posting to account % which does not exist', NEW.account_id
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'ledger_posting_account';
  ELSIF acc.currency <> NEW.currency THEN
    RAISE EXCEPTION 'posting in % to account % which holds %', NEW.currency, NEW.account_id,
      acc.currency USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_posting_currency';
  ELSIF acc.status <> 'active' THEN
    RAISE EXCEPTION 'account % is %', NEW.account_id, acc.status
      USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_account_not_active';
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER ledger_posting_apply AFTER INSERT ON ledger_posting
  FOR EACH ROW EXECUTE FUNCTION ledger_posting_apply();

-- Postings of an entry sum to zero per currency and are exactly the entry's posting_count.
-- All postings of an entry arrive in ONE statement: a statement-level check (one per
-- INSERT, not one per row) refuses a statement that leaves any entry it touched unbalanced
-- or with another number of postings than declared, so no posting can be added to an entry
-- later either. A deferred check per entry, at commit, refuses an entry left without
-- postings.
CREATE FUNCTION ledger_check_entry(p_entry bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  expected integer;
  actual integer;
  bad_currency text;
BEGIN
  SELECT posting_count INTO expected FROM ledger_journal_entry WHERE id = p_entry;
  SELECT count(*) INTO actual FROM ledger_posting WHERE entry_id = p_entry;
  IF actual <> expected THEN
    RAISE EXCEPTION 'journal entry % has % postings, declared %', p_entry, actual, expected
      USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_entry_posting_count';
  END IF;
  SELECT currency INTO bad_currency FROM ledger_posting WHERE entry_id = p_entry
   GROUP BY currency HAVING sum(amount) <> 0 LIMIT 1;
  IF bad_currency IS NOT NULL THEN
    RAISE EXCEPTION 'journal entry % does not balance in %', p_entry, bad_currency
      USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_entry_balanced';
  END IF;
END $$;

CREATE FUNCTION ledger_entry_deferred_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ledger_check_entry(NEW.id);
  RETURN NULL;
END $$;

CREATE FUNCTION ledger_postings_statement_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  e bigint;
BEGIN
  FOR e IN SELECT DISTINCT entry_id FROM new_postings LOOP
    PERFORM ledger_check_entry(e);
  END LOOP;
  RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_entry_balanced AFTER INSERT ON ledger_journal_entry
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entry_deferred_check();
CREATE TRIGGER ledger_posting_balanced AFTER INSERT ON ledger_posting
  REFERENCING NEW TABLE AS new_postings
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_postings_statement_check();

-- Holds reserve funds: an active hold adds to account.held; it can only move once, from
-- active to committed, voided or expired, which releases it. Amount and account never change.
CREATE FUNCTION ledger_hold_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'holds are never deleted' USING ERRCODE = 'restrict_violation';
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.status <> 'active' OR NEW.entry_id IS NOT NULL THEN
      RAISE EXCEPTION 'a hold starts active, with no entry' USING ERRCODE = 'check_violation';
    END IF;
    UPDATE ledger_account SET held = held + NEW.amount
     WHERE id = NEW.account_id AND status = 'active';
    IF NOT FOUND THEN
      RAISE EXCEPTION 'account % is missing or not active: no hold on it', NEW.account_id
        USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_account_not_active';
    END IF;
    RETURN NEW;
  END IF;
  IF NEW.account_id <> OLD.account_id OR NEW.amount <> OLD.amount
     OR NEW.created_at <> OLD.created_at OR NEW.reference <> OLD.reference
     OR NEW.idempotency_key IS DISTINCT FROM OLD.idempotency_key
     OR NEW.expires_at <> OLD.expires_at THEN
    RAISE EXCEPTION 'hold % : only status may change', OLD.id USING ERRCODE = 'restrict_violation';
  END IF;
  IF NEW.entry_id IS DISTINCT FROM OLD.entry_id
     AND NOT (OLD.status = 'committed' AND NEW.status = 'committed' AND OLD.entry_id IS NULL) THEN
    RAISE EXCEPTION 'hold % : its entry is set once, after it is committed', OLD.id
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF OLD.status = 'committed' AND NEW.status = 'committed' AND OLD.entry_id IS NULL
     AND NEW.entry_id IS NOT NULL AND NEW.resolved_at = OLD.resolved_at THEN
    RETURN NEW;  -- linking the entry that spent a committed hold
  END IF;
  IF OLD.status <> 'active' THEN
    RAISE EXCEPTION 'hold % is already %', OLD.id, OLD.status USING ERRCODE = 'restrict_violation';
  END IF;
  IF NEW.status <> 'active' THEN
    UPDATE ledger_account SET held = held - OLD.amount WHERE id = OLD.account_id;
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER ledger_hold_apply BEFORE INSERT OR UPDATE OR DELETE ON ledger_hold
  FOR EACH ROW EXECUTE FUNCTION ledger_hold_apply();

-- Stored balances may only be changed by the posting and hold triggers above.
CREATE FUNCTION ledger_account_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'ledger accounts are never deleted (close them)'
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF (NEW.balance <> OLD.balance OR NEW.held <> OLD.held) AND pg_trigger_depth() < 2 THEN
    RAISE EXCEPTION 'account % balance can only change through postings and holds', OLD.id
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF NEW.id <> OLD.id OR NEW.code <> OLD.code OR NEW.kind <> OLD.kind
     OR NEW.currency <> OLD.currency OR NEW.owner_ref <> OLD.owner_ref
     OR NEW.derived_balance <> OLD.derived_balance OR NEW.allow_negative <> OLD.allow_negative
     OR NEW.created_at <> OLD.created_at THEN
    RAISE EXCEPTION 'account %: id, code, kind, currency, owner and balance policy are fixed',
      OLD.id USING ERRCODE = 'restrict_violation';
  END IF;
  IF OLD.status = 'closed' AND NEW.status <> 'closed' THEN
    RAISE EXCEPTION 'account % is closed for good', OLD.id USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER ledger_account_guard BEFORE UPDATE OR DELETE ON ledger_account
  FOR EACH ROW EXECUTE FUNCTION ledger_account_guard();

CREATE FUNCTION ledger_account_insert_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.balance <> 0 OR NEW.held <> 0 THEN
    RAISE EXCEPTION 'a new account starts at zero; fund it with a journal entry'
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER ledger_account_insert_guard BEFORE INSERT ON ledger_account
  FOR EACH ROW EXECUTE FUNCTION ledger_account_insert_guard();
"""

REVERSE = r"""
DROP TRIGGER ledger_account_insert_guard ON ledger_account;
DROP FUNCTION ledger_account_insert_guard();
DROP TRIGGER ledger_account_guard ON ledger_account;
DROP FUNCTION ledger_account_guard();
DROP TRIGGER ledger_hold_apply ON ledger_hold;
DROP FUNCTION ledger_hold_apply();
DROP TRIGGER ledger_posting_balanced ON ledger_posting;
DROP TRIGGER ledger_entry_balanced ON ledger_journal_entry;
DROP FUNCTION ledger_postings_statement_check();
DROP FUNCTION ledger_entry_deferred_check();
DROP FUNCTION ledger_check_entry(bigint);
DROP TRIGGER ledger_posting_apply ON ledger_posting;
DROP FUNCTION ledger_posting_apply();
DROP TRIGGER ledger_hold_no_truncate ON ledger_hold;
DROP TRIGGER ledger_account_no_truncate ON ledger_account;
DROP TRIGGER ledger_posting_no_truncate ON ledger_posting;
DROP TRIGGER ledger_posting_append_only ON ledger_posting;
DROP TRIGGER ledger_entry_no_truncate ON ledger_journal_entry;
DROP TRIGGER ledger_entry_append_only ON ledger_journal_entry;
DROP FUNCTION ledger_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
