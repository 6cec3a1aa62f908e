"""A payment's second entry counts in the settlement positions too.

A cross-currency payment posts two entries, one per currency: its own (``entry_id``) and
its receive-currency entry, keyed ``fx:<transfer id>`` (``RECEIVE_ENTRY_KEY`` in
application/payments/skeleton.py). A cross-currency remittance pays the beneficiary from
the MoMo float in that second entry, so the MTN position of the payout was missing from
the window and MTN was never paid for it. The trigger now adds the receive entry's
postings as well (found through the unique index on the key, one probe), and
``ledger verify`` expects them (data/settlement/selectors.py). A reversal's receive-currency
mirror (``reversal-fx:<transfer id>``, application/remittances/reversals.py) likewise."""

from django.db import migrations

SQL = r"""
CREATE OR REPLACE FUNCTION settlement_transfer_effect() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE receive bigint;
BEGIN
  IF NEW.status = 'succeeded' AND NEW.entry_id IS NOT NULL THEN
    PERFORM settlement_entry_effect(NEW.entry_id, NEW.id, NEW.updated_at);
    SELECT id INTO receive FROM ledger_journal_entry
     WHERE idempotency_key = 'fx:' || NEW.id::text;
    IF receive IS NOT NULL THEN
      PERFORM settlement_entry_effect(receive, NEW.id, NEW.updated_at);
    END IF;
  ELSIF NEW.status = 'reversed' AND NEW.reversal_entry_id IS NOT NULL THEN
    PERFORM settlement_entry_effect(NEW.reversal_entry_id, NEW.id, NEW.updated_at);
    SELECT id INTO receive FROM ledger_journal_entry
     WHERE idempotency_key = 'reversal-fx:' || NEW.id::text;
    IF receive IS NOT NULL THEN
      PERFORM settlement_entry_effect(receive, NEW.id, NEW.updated_at);
    END IF;
  END IF;
  RETURN NULL;
END $$;
"""

REVERSE = r"""
CREATE OR REPLACE FUNCTION settlement_transfer_effect() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status = 'succeeded' AND NEW.entry_id IS NOT NULL THEN
    PERFORM settlement_entry_effect(NEW.entry_id, NEW.id, NEW.updated_at);
  ELSIF NEW.status = 'reversed' AND NEW.reversal_entry_id IS NOT NULL THEN
    PERFORM settlement_entry_effect(NEW.reversal_entry_id, NEW.id, NEW.updated_at);
  END IF;
  RETURN NULL;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("settlement", "0002_positions_and_guards")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
