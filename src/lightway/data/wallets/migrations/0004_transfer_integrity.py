"""Transfers and wallets: what the database enforces beyond 0002's transitions.

- A transfer's identity, parties, money and description never change; its entry is set
  once, and must be the journal entry whose reference is the transfer id; failure fields
  change only when it fails; ``reversed`` needs the reversing entry; a failed or reversed
  transfer never changes again.
- Transfers and wallets are never deleted or truncated; a wallet's owner, currency and
  account never change.
Each rule has a test in tests/test_transfer_integrity.py.
"""

from django.db import migrations

from lightway.data.wallets.models import TRANSITIONS


def _sql() -> str:
    pairs = ", ".join(
        f"('{old}', '{new}')" for old, news in sorted(TRANSITIONS.items()) for new in sorted(news)
    )
    return f"""
CREATE OR REPLACE FUNCTION wallets_transfer_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'transfers are never deleted' USING ERRCODE = 'restrict_violation';
  END IF;
  IF NEW.id <> OLD.id OR NEW.kind <> OLD.kind OR NEW.amount <> OLD.amount
     OR NEW.fee <> OLD.fee OR NEW.currency <> OLD.currency OR NEW.client_id <> OLD.client_id
     OR NEW.idempotency_key <> OLD.idempotency_key OR NEW.request_hash <> OLD.request_hash
     OR NEW.description <> OLD.description OR NEW.created_at <> OLD.created_at
     OR NEW.source_wallet_id IS DISTINCT FROM OLD.source_wallet_id
     OR NEW.destination_wallet_id IS DISTINCT FROM OLD.destination_wallet_id THEN
    RAISE EXCEPTION 'transfer %: identity, parties, amounts and description are fixed', OLD.id
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF OLD.status IN ('failed', 'reversed') THEN
    RAISE EXCEPTION 'transfer % is %: it never changes again', OLD.id, OLD.status
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF NEW.status <> OLD.status AND (OLD.status, NEW.status) NOT IN ({pairs}) THEN
    RAISE EXCEPTION 'transfer %: % -> % is not an allowed transition', OLD.id, OLD.status, NEW.status
      USING ERRCODE = 'check_violation', CONSTRAINT = 'transfer_transition';
  END IF;
  IF NEW.entry_id IS DISTINCT FROM OLD.entry_id AND OLD.entry_id IS NOT NULL THEN
    RAISE EXCEPTION 'transfer %: its entry is set once', OLD.id USING ERRCODE = 'restrict_violation';
  END IF;
  IF NEW.reversal_entry_id IS DISTINCT FROM OLD.reversal_entry_id AND NEW.status <> 'reversed' THEN
    RAISE EXCEPTION 'transfer %: a reversal entry comes with the reversal', OLD.id
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF (NEW.failure_code <> OLD.failure_code OR NEW.failure_message <> OLD.failure_message)
     AND NEW.status <> 'failed' THEN
    RAISE EXCEPTION 'transfer %: failure details come with the failure', OLD.id
      USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END $$;

-- The entry of a transfer is the one posted for it (its reference is the transfer id).
CREATE FUNCTION wallets_transfer_entry_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.entry_id IS NOT NULL AND (TG_OP = 'INSERT' OR NEW.entry_id IS DISTINCT FROM OLD.entry_id)
     AND NOT EXISTS (SELECT 1 FROM ledger_journal_entry
                      WHERE id = NEW.entry_id AND reference = NEW.id::text) THEN
    RAISE EXCEPTION 'transfer %: entry % was not posted for it', NEW.id, NEW.entry_id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'transfer_entry_reference';
  END IF;
  IF NEW.reversal_entry_id IS NOT NULL
     AND (TG_OP = 'INSERT' OR NEW.reversal_entry_id IS DISTINCT FROM OLD.reversal_entry_id)
     AND NOT EXISTS (SELECT 1 FROM ledger_journal_entry
                      WHERE id = NEW.reversal_entry_id AND reference = NEW.id::text) THEN
    RAISE EXCEPTION 'transfer %: reversal entry % was not posted for it', NEW.id,
      NEW.reversal_entry_id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'transfer_entry_reference';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER wallets_transfer_entry_check BEFORE INSERT OR UPDATE ON wallets_transfer
  FOR EACH ROW EXECUTE FUNCTION wallets_transfer_entry_check();

CREATE FUNCTION wallets_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is never truncated', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER wallets_transfer_no_truncate BEFORE TRUNCATE ON wallets_transfer
  FOR EACH STATEMENT EXECUTE FUNCTION wallets_refuse_truncate();
CREATE TRIGGER wallets_wallet_no_truncate BEFORE TRUNCATE ON wallets_wallet
  FOR EACH STATEMENT EXECUTE FUNCTION wallets_refuse_truncate();

CREATE FUNCTION wallets_wallet_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'wallets are never deleted' USING ERRCODE = 'restrict_violation';
  END IF;
  IF NEW.id <> OLD.id OR NEW.owner_id <> OLD.owner_id OR NEW.currency <> OLD.currency
     OR NEW.account_id <> OLD.account_id OR NEW.created_at <> OLD.created_at THEN
    RAISE EXCEPTION 'wallet %: owner, currency and account are fixed', OLD.id
      USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER wallets_wallet_guard BEFORE UPDATE OR DELETE ON wallets_wallet
  FOR EACH ROW EXECUTE FUNCTION wallets_wallet_guard();
"""


REVERSE = """
DROP TRIGGER wallets_wallet_guard ON wallets_wallet;
DROP FUNCTION wallets_wallet_guard();
DROP TRIGGER wallets_wallet_no_truncate ON wallets_wallet;
DROP TRIGGER wallets_transfer_no_truncate ON wallets_transfer;
DROP FUNCTION wallets_refuse_truncate();
DROP TRIGGER wallets_transfer_entry_check ON wallets_transfer;
DROP FUNCTION wallets_transfer_entry_check();
"""


class Migration(migrations.Migration):
    dependencies = [("wallets", "0003_transfer_reversal_entry"), ("ledger", "0002_invariants")]
    operations = [migrations.RunSQL(_sql(), REVERSE)]
