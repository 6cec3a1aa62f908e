"""Settlement in the database (docs/settlement.md, "Positions" and "Integrity").

1. **Positions as payments post.** ``settlement_transfer_effect`` runs when a transfer is
   inserted as ``succeeded`` or becomes ``succeeded`` or ``reversed``. It reads the
   postings of the transfer's entry (its reversal entry for ``reversed``) on the
   counterparty-facing accounts (``momo_float`` → MTN, ``commission_payable`` → MTN or the
   partner it belongs to, ``imto_prefund`` → that partner) and appends one
   ``settlement_position_delta`` row per (entry, account) to the OPEN window of the
   posting currency's market, opening one if there is none. Insert-only rows: no row is
   updated by every payment (no hot row), and the unique (entry, account) index makes
   counting a payment twice impossible. A close sums the rows of ONE window (its index),
   never history.

2. **Race-free against a close.** Lock order:

   - a payment: its account rows (postings) → its transfer row → the market's advisory
     lock in SHARED mode (``settlement_window_for``) → reads the open window (no row lock);
   - a close: the market's advisory lock in EXCLUSIVE mode → the window row (FOR UPDATE) →
     state ``closed`` and the next window inserted, committed at once.

   A shared advisory lock lives in the lock manager, not on a tuple, so concurrent
   payments do not pile up shared row locks (MultiXacts) on the window row. While any
   payment that has picked the open window is uncommitted, the close waits; once the close
   holds the lock, payments wait, then (READ COMMITTED: a new snapshot per statement) see
   the new window. So every delta is in exactly the window that was open when its payment
   committed. Under REPEATABLE READ or SERIALIZABLE the snapshot could predate the close,
   so the function refuses to run there (SQLSTATE LW201) rather than mis-assign.
   A statement trigger also refuses any delta aimed at a window that is not OPEN or of
   another market (``settlement_delta_open_window``).

3. **States.** Window and instruction transitions are generated from
   ``models.WINDOW_TRANSITIONS`` and ``models.INSTRUCTION_TRANSITIONS``; identities and
   amounts never change; nothing is deleted or truncated; deltas, positions, top-ups,
   notifications, statements and reconciliation items are append-only; a callback keeps
   its body (only its processing outcome is written later).
"""

from django.db import migrations

from lightway.data.settlement.models import INSTRUCTION_TRANSITIONS, WINDOW_TRANSITIONS

# pg_advisory_xact_lock(int, int) class key for settlement windows: "LWST" in ASCII.
LOCK_CLASS = 0x4C575354


def _pairs(transitions: dict[str, frozenset[str]]) -> str:
    return ", ".join(
        f"('{old}', '{new}')" for old, news in sorted(transitions.items()) for new in sorted(news)
    )


SQL = f"""
-- The last journal entry before settlement existed: ledger verify reconciles the position
-- deltas of every later payment (data/settlement/selectors.py). Read-only for the runtime.
CREATE TABLE settlement_epoch (entry_id bigint NOT NULL);
INSERT INTO settlement_epoch SELECT COALESCE(max(id), 0) FROM ledger_journal_entry;

CREATE FUNCTION settlement_window_for(p_market text, p_at timestamptz) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE w bigint;
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'settlement windows are assigned under READ COMMITTED only (%)',
      current_setting('transaction_isolation') USING ERRCODE = 'LW201';
  END IF;
  PERFORM pg_advisory_xact_lock_shared({LOCK_CLASS}, hashtext(p_market));
  SELECT id INTO w FROM settlement_window WHERE market = p_market AND state = 'open';
  IF w IS NULL THEN
    INSERT INTO settlement_window (market, state, opened_at, closed_by, aborted_by,
                                   abort_reason, deltas)
    VALUES (p_market, 'open', p_at, '', '', '', 0)
    ON CONFLICT (market) WHERE state = 'open' DO NOTHING
    RETURNING id INTO w;
    IF w IS NULL THEN
      SELECT id INTO w FROM settlement_window WHERE market = p_market AND state = 'open';
    END IF;
  END IF;
  RETURN w;
END $$;

CREATE FUNCTION settlement_entry_effect(p_entry bigint, p_transfer uuid, p_at timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE c text; w bigint;
BEGIN
  FOR c IN SELECT DISTINCT p.currency FROM ledger_posting p
           JOIN ledger_account a ON a.id = p.account_id
           WHERE p.entry_id = p_entry
             AND a.kind IN ('momo_float', 'commission_payable', 'imto_prefund')
  LOOP
    w := settlement_window_for(c, p_at);
    INSERT INTO settlement_position_delta
      (window_id, counterparty, account_id, currency, amount, entry_id, transfer_id,
       carried_from, created_at)
    SELECT w,
           CASE WHEN a.kind = 'momo_float' OR a.owner_ref = 'mtn' THEN 'mtn'
                ELSE 'partner:' || a.owner_ref END,
           a.id, c, sum(p.amount), p_entry, p_transfer, NULL, p_at
    FROM ledger_posting p JOIN ledger_account a ON a.id = p.account_id
    WHERE p.entry_id = p_entry AND p.currency = c
      AND a.kind IN ('momo_float', 'commission_payable', 'imto_prefund')
    GROUP BY a.id, a.kind, a.owner_ref
    HAVING sum(p.amount) <> 0;
  END LOOP;
END $$;

CREATE FUNCTION settlement_transfer_effect() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status = 'succeeded' AND NEW.entry_id IS NOT NULL THEN
    PERFORM settlement_entry_effect(NEW.entry_id, NEW.id, NEW.updated_at);
  ELSIF NEW.status = 'reversed' AND NEW.reversal_entry_id IS NOT NULL THEN
    PERFORM settlement_entry_effect(NEW.reversal_entry_id, NEW.id, NEW.updated_at);
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER settlement_transfer_posted AFTER INSERT ON wallets_transfer
  FOR EACH ROW WHEN (NEW.status = 'succeeded')
  EXECUTE FUNCTION settlement_transfer_effect();
CREATE TRIGGER settlement_transfer_moved AFTER UPDATE OF status ON wallets_transfer
  FOR EACH ROW WHEN (NEW.status IN ('succeeded', 'reversed')
                     AND OLD.status IS DISTINCT FROM NEW.status)
  EXECUTE FUNCTION settlement_transfer_effect();

CREATE FUNCTION settlement_delta_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE bad record;
BEGIN
  SELECT n.window_id, w.state, w.market, n.currency INTO bad
  FROM new_rows n LEFT JOIN settlement_window w ON w.id = n.window_id
  WHERE w.id IS NULL OR w.state <> 'open' OR w.market <> n.currency
  LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'a position delta for window % (%, %) that is not the open window of its market',
      bad.window_id, COALESCE(bad.state, 'missing'), bad.currency
      USING ERRCODE = 'check_violation', CONSTRAINT = 'settlement_delta_open_window';
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER settlement_delta_open_window AFTER INSERT ON settlement_position_delta
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION settlement_delta_check();

CREATE FUNCTION settlement_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'restrict_violation';
END $$;

CREATE FUNCTION settlement_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% cannot be truncated', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$;

CREATE FUNCTION settlement_window_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'settlement windows are never deleted' USING ERRCODE = 'restrict_violation';
  END IF;
  IF NEW.id <> OLD.id OR NEW.market <> OLD.market OR NEW.opened_at <> OLD.opened_at THEN
    RAISE EXCEPTION 'window %: market and opening are fixed', OLD.id
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF NEW.state <> OLD.state AND (OLD.state, NEW.state) NOT IN ({_pairs(WINDOW_TRANSITIONS)}) THEN
    RAISE EXCEPTION 'window %: % -> % is not an allowed transition', OLD.id, OLD.state, NEW.state
      USING ERRCODE = 'check_violation', CONSTRAINT = 'settlement_window_transition';
  END IF;
  IF OLD.state <> 'open' AND (NEW.closed_at IS DISTINCT FROM OLD.closed_at
                              OR NEW.cutoff_at IS DISTINCT FROM OLD.cutoff_at) THEN
    RAISE EXCEPTION 'window %: its close is recorded once', OLD.id
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF OLD.positions_at IS NOT NULL AND (NEW.positions_at IS DISTINCT FROM OLD.positions_at
                                       OR NEW.deltas <> OLD.deltas) THEN
    RAISE EXCEPTION 'window %: its positions are computed once', OLD.id
      USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER settlement_window_guard BEFORE UPDATE OR DELETE ON settlement_window
  FOR EACH ROW EXECUTE FUNCTION settlement_window_guard();

CREATE FUNCTION settlement_instruction_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'settlement instructions are never deleted'
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF NEW.id <> OLD.id OR NEW.window_id <> OLD.window_id OR NEW.counterparty <> OLD.counterparty
     OR NEW.currency <> OLD.currency OR NEW.amount <> OLD.amount
     OR NEW.direction <> OLD.direction OR NEW.instr_id <> OLD.instr_id
     OR NEW.end_to_end_id <> OLD.end_to_end_id OR NEW.uetr <> OLD.uetr
     OR NEW.requested_date <> OLD.requested_date
     OR NEW.debtor_name <> OLD.debtor_name OR NEW.debtor_account <> OLD.debtor_account
     OR NEW.debtor_agent <> OLD.debtor_agent OR NEW.creditor_name <> OLD.creditor_name
     OR NEW.creditor_account <> OLD.creditor_account
     OR NEW.creditor_agent <> OLD.creditor_agent OR NEW.remittance_info <> OLD.remittance_info
     OR NEW.pain001 <> OLD.pain001 OR NEW.created_at <> OLD.created_at THEN
    RAISE EXCEPTION 'instruction %: what was instructed is fixed', OLD.instr_id
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF OLD.entry_id IS NOT NULL AND NEW.entry_id IS DISTINCT FROM OLD.entry_id THEN
    RAISE EXCEPTION 'instruction %: its settlement entry is set once', OLD.instr_id
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF NEW.status <> OLD.status
     AND (OLD.status, NEW.status) NOT IN ({_pairs(INSTRUCTION_TRANSITIONS)}) THEN
    RAISE EXCEPTION 'instruction %: % -> % is not an allowed transition', OLD.instr_id,
      OLD.status, NEW.status
      USING ERRCODE = 'check_violation', CONSTRAINT = 'settlement_instruction_transition';
  END IF;
  IF OLD.status IN ('settled', 'rejected') AND (
       NEW.reject_code <> OLD.reject_code OR NEW.reject_reason <> OLD.reject_reason
       OR NEW.bank_reference <> OLD.bank_reference
       OR NEW.settlement_date IS DISTINCT FROM OLD.settlement_date
       OR NEW.settled_at IS DISTINCT FROM OLD.settled_at) THEN
    RAISE EXCEPTION 'instruction %: its outcome is final', OLD.instr_id
      USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER settlement_instruction_guard BEFORE UPDATE OR DELETE ON settlement_instruction
  FOR EACH ROW EXECUTE FUNCTION settlement_instruction_guard();

CREATE FUNCTION settlement_callback_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'settlement callbacks are kept' USING ERRCODE = 'restrict_violation';
  END IF;
  IF NEW.id <> OLD.id OR NEW.instr_id <> OLD.instr_id OR NEW.key_id <> OLD.key_id
     OR NEW.body <> OLD.body OR NEW.received_at <> OLD.received_at THEN
    RAISE EXCEPTION 'settlement callback %: kept as received', OLD.id
      USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER settlement_callback_guard BEFORE UPDATE OR DELETE ON settlement_callback
  FOR EACH ROW EXECUTE FUNCTION settlement_callback_guard();
"""

APPEND_ONLY = (
    ("settlement_position_delta", "settlement_delta"),
    ("settlement_position", "settlement_position"),
    ("settlement_topup", "settlement_topup"),
    ("settlement_bank_notification", "settlement_notification"),
    ("settlement_bank_statement", "settlement_statement"),
    ("settlement_recon_item", "settlement_recon_item"),
)
NO_TRUNCATE = (
    "settlement_window",
    "settlement_instruction",
    "settlement_callback",
    *(table for table, _ in APPEND_ONLY),
)

SQL += "".join(
    f"CREATE TRIGGER {name}_append_only BEFORE UPDATE OR DELETE ON {table}"
    " FOR EACH ROW EXECUTE FUNCTION settlement_append_only();\n"
    for table, name in APPEND_ONLY
)
SQL += "".join(
    f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}"
    " FOR EACH STATEMENT EXECUTE FUNCTION settlement_refuse_truncate();\n"
    for table in NO_TRUNCATE
)

REVERSE = (
    "".join(f"DROP TRIGGER {table}_no_truncate ON {table};\n" for table in NO_TRUNCATE)
    + "".join(f"DROP TRIGGER {name}_append_only ON {table};\n" for table, name in APPEND_ONLY)
    + """
DROP TRIGGER settlement_callback_guard ON settlement_callback;
DROP FUNCTION settlement_callback_guard();
DROP TRIGGER settlement_instruction_guard ON settlement_instruction;
DROP FUNCTION settlement_instruction_guard();
DROP TRIGGER settlement_window_guard ON settlement_window;
DROP FUNCTION settlement_window_guard();
DROP FUNCTION settlement_refuse_truncate();
DROP FUNCTION settlement_append_only();
DROP TRIGGER settlement_delta_open_window ON settlement_position_delta;
DROP FUNCTION settlement_delta_check();
DROP TRIGGER settlement_transfer_moved ON wallets_transfer;
DROP TRIGGER settlement_transfer_posted ON wallets_transfer;
DROP FUNCTION settlement_transfer_effect();
DROP FUNCTION settlement_entry_effect(bigint, uuid, timestamptz);
DROP FUNCTION settlement_window_for(text, timestamptz);
DROP TABLE settlement_epoch;
"""
)


class Migration(migrations.Migration):
    dependencies = [
        ("settlement", "0001_initial"),
        ("wallets", "0009_transfer_insert_indexes"),
        ("ledger", "0005_balance_checkpoints"),
    ]

    operations = [migrations.RunSQL(SQL, REVERSE)]
