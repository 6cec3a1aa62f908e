"""One round trip per payment: the limits check and the recording of a posted payment as
database functions (issue 10, speed).

The payment skeleton (``application/payments/skeleton.py``) used to record a P2P payment
with seven statements in a transaction (BEGIN, the entry and its postings, the transfer
row, the payer's limits, the recipient's limits, the commission records, the audit record,
COMMIT): nine round trips between the web worker and PostgreSQL, each paying the network,
the protocol and a trip through the driver and Django's cursor. ``payments_record`` does the
same work in one call, in the same order, so one statement in autocommit is the whole
transaction:

1. the journal entry and its postings, in account id order (the balance trigger locks the
   account rows in that order and refuses an overdraft or an account that is not active:
   ``ledger_account_no_overdraft`` / ``ledger_account_not_active``, as before);
2. the transfer row (the usage-counter trigger adds it to the payer's day and month and
   locks those rows; a second request with the same key fails on ``transfer_idempotency``);
3. the limits, when asked (``p_limits``): ``payments_limits_check``, below;
4. the commission records of the fee (``commission_record_check`` checks each against its
   schedule);
5. the audit record, unlinked as always (the data the caller normalised, plus the entry id).

A refusal raises, so nothing of the payment stays; the caller records it as a failed
transfer. Errors keep their SQLSTATE, constraint name and message when they leave a
function, so the application reads them exactly as it read them from the separate
statements.

``payments_limits_lookup`` is the one statement that reads a customer's limits and usage
(it was ``_LOOKUP_SQL`` in ``application/kyc/tiers.py``, which now calls it);
``payments_limits_check`` is the one place that decides whether a payment breaks the KYC
tier limits. It raises SQLSTATE ``LW001`` with a DETAIL in JSON: the rule broken
(``no_profile``, ``undefined``, ``unverified``, ``per_transaction``, ``daily``,
``monthly``, ``recipient_undefined``, ``max_balance``, ``recipient_max_balance``) and the
looked-up figures, from which the application writes the customer's message.
"""

from django.db import migrations

SQL = r"""
-- PL/pgSQL, not SQL: PostgreSQL keeps the plans of a PL/pgSQL function's statements for the
-- session, while a SQL function that cannot be inlined is planned again on every call (1.2 ms
-- a call here, against 0.1 ms).
CREATE FUNCTION payments_limits_lookup(
  p_user integer, p_currency text, p_home text, p_now timestamptz, p_spending boolean,
  OUT tier integer, OUT country text, OUT limit_id bigint, OUT limit_country text,
  OUT per_transaction bigint, OUT daily bigint, OUT monthly bigint, OUT max_balance bigint,
  OUT effective_from timestamptz, OUT source text, OUT spent_today bigint,
  OUT spent_month bigint, OUT balance bigint, OUT pending_in bigint)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
  v_tier integer;
  v_country text;
  v_day date;
BEGIN
  SELECT p.kyc_tier, p.country INTO v_tier, v_country
  FROM identity_profile p WHERE p.user_id = p_user AND p.realm = 'customer';
  IF NOT FOUND THEN
    RETURN;  -- not a customer: every column NULL
  END IF;
  tier := v_tier;
  country := v_country;
  -- the limit row that applies: own country first, else the currency's home market
  SELECT l.id, l.country, l.per_transaction, l.daily, l.monthly, l.max_balance,
         l.effective_from, l.source
    INTO limit_id, limit_country, per_transaction, daily, monthly, max_balance,
         effective_from, source
  FROM identity_kyc_tier_limit l
  WHERE l.tier = v_tier AND l.currency = p_currency AND l.country IN (v_country, p_home)
    AND l.effective_from <= p_now
  ORDER BY (l.country = v_country) DESC, l.effective_from DESC
  LIMIT 1;
  spent_today := 0;
  spent_month := 0;
  IF p_spending THEN
    v_day := (p_now AT TIME ZONE wallets_market_tz(v_country))::date;
    SELECT coalesce(sum(u.amount) FILTER (WHERE u.period = 'day'), 0),
           coalesce(sum(u.amount) FILTER (WHERE u.period = 'month'), 0)
      INTO spent_today, spent_month
    FROM wallets_usage_counter u
    WHERE u.customer_id = p_user AND u.currency = p_currency
      AND ((u.period = 'day' AND u.period_start = v_day)
        OR (u.period = 'month' AND u.period_start = date_trunc('month', v_day)::date));
  END IF;
  SELECT a.balance INTO balance
  FROM wallets_wallet w JOIN ledger_account a ON a.id = w.account_id
  WHERE w.owner_id = p_user AND w.currency = p_currency;
  balance := coalesce(balance, 0);
  SELECT i.amount INTO pending_in
  FROM wallets_inbound_pending i WHERE i.customer_id = p_user AND i.currency = p_currency;
  pending_in := coalesce(pending_in, 0);
END
$$;

-- The same for the usage day of a transfer (wallets migration 0005), which the transfer
-- trigger calls on every insert: same result, plans kept.
CREATE OR REPLACE FUNCTION wallets_usage_day(p_client bigint, p_kind text, p_at timestamptz)
RETURNS date LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_country text;
BEGIN
  IF p_kind NOT IN ('p2p', 'withdrawal', 'payout') THEN
    RETURN NULL;
  END IF;
  SELECT p.country INTO v_country
  FROM identity_profile p WHERE p.user_id = p_client AND p.realm = 'customer';
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  RETURN (p_at AT TIME ZONE wallets_market_tz(v_country))::date;
END
$$;

CREATE FUNCTION payments_limits_refuse(p_rule text, p_who text, p_found jsonb)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'payment refused by the limits: %', p_rule
    USING ERRCODE = 'LW001',
          DETAIL = jsonb_build_object('rule', p_rule, 'who', p_who,
                                      'found', p_found)::text;
END
$$;

-- Called once the payment's movement and transfer row are recorded: the account rows and
-- the payer's usage counters are locked by this transaction, and the counters include the
-- payment. p_recipient: the customer credited (a P2P payee), if any; a deposit credits
-- the payer.
CREATE FUNCTION payments_limits_check(
  p_customer integer, p_kind text, p_currency text, p_amount bigint, p_now timestamptz,
  p_home text, p_recipient integer)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  f record;
  r integer;
BEGIN
  SELECT * INTO f FROM payments_limits_lookup(p_customer, p_currency, p_home, p_now, true);
  IF f.tier IS NULL THEN
    PERFORM payments_limits_refuse('no_profile', 'payer', to_jsonb(f));
  END IF;
  IF f.limit_id IS NULL THEN
    PERFORM payments_limits_refuse('undefined', 'payer', to_jsonb(f));
  END IF;
  IF f.per_transaction = 0 AND f.daily = 0 THEN
    PERFORM payments_limits_refuse('unverified', 'payer', to_jsonb(f));
  END IF;
  IF p_amount > f.per_transaction THEN
    PERFORM payments_limits_refuse('per_transaction', 'payer', to_jsonb(f));
  END IF;
  IF p_kind IN ('p2p', 'withdrawal', 'payout') THEN
    IF f.spent_today > f.daily THEN
      PERFORM payments_limits_refuse('daily', 'payer', to_jsonb(f));
    END IF;
    IF f.spent_month > f.monthly THEN
      PERFORM payments_limits_refuse('monthly', 'payer', to_jsonb(f));
    END IF;
  END IF;
  r := CASE WHEN p_kind = 'deposit' THEN p_customer ELSE p_recipient END;
  IF r IS NULL THEN
    RETURN;
  END IF;
  SELECT * INTO f FROM payments_limits_lookup(r, p_currency, p_home, p_now, false);
  IF f.tier IS NULL THEN
    RETURN;  -- not a customer (a house or partner account): no balance limit
  END IF;
  IF f.limit_id IS NULL THEN
    PERFORM payments_limits_refuse(
      CASE WHEN r = p_customer THEN 'undefined' ELSE 'recipient_undefined' END, 'recipient', to_jsonb(f));
  END IF;
  -- What the wallet will hold: its balance (a P2P credit already posted) and the credit of
  -- every deposit still on its way in (this deposit's included).
  IF f.balance + f.pending_in > f.max_balance THEN
    PERFORM payments_limits_refuse(
      CASE WHEN r = p_customer THEN 'max_balance' ELSE 'recipient_max_balance' END,
      'recipient', to_jsonb(f));
  END IF;
END
$$;

CREATE FUNCTION payments_record(
  p_transfer_id uuid, p_kind text, p_status text, p_client integer, p_key text,
  p_digest text, p_source uuid, p_destination uuid, p_currency text, p_amount bigint,
  p_fee bigint, p_description text, p_now timestamptz, p_legs jsonb, p_limits jsonb,
  p_commission jsonb, p_audit jsonb)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  v_entry bigint;
BEGIN
  -- 1. the entry and its postings, in the order given (account id order)
  INSERT INTO ledger_journal_entry
    (kind, idempotency_key, reference, description, posting_count, created_at)
  VALUES (p_kind, NULL, p_transfer_id::text, p_description, jsonb_array_length(p_legs), p_now)
  RETURNING id INTO v_entry;
  INSERT INTO ledger_posting (entry_id, account_id, currency, amount, leg, created_at)
  SELECT v_entry, (l.v->>0)::bigint, p_currency, (l.v->>1)::bigint, l.v->>2, p_now
  FROM jsonb_array_elements(p_legs) WITH ORDINALITY AS l(v, n) ORDER BY l.n;
  -- 2. the transfer row (usage counters by trigger)
  INSERT INTO wallets_transfer
    (id, kind, status, client_id, idempotency_key, request_hash, source_wallet_id,
     destination_wallet_id, currency, amount, fee, description, entry_id, failure_code,
     failure_message, created_at, updated_at)
  VALUES (p_transfer_id, p_kind, p_status, p_client, p_key, p_digest, p_source,
          p_destination, p_currency, p_amount, p_fee, left(p_description, 140), v_entry, '',
          '', p_now, p_now);
  -- 3. the limits
  IF p_limits IS NOT NULL THEN
    PERFORM payments_limits_check(p_client, p_kind, p_currency, p_amount, p_now,
                                  p_limits->>'home', (p_limits->>'recipient')::integer);
  END IF;
  -- 4. the commission records of the fee
  IF p_commission IS NOT NULL THEN
    INSERT INTO commission_record
      (entry_id, schedule_id, reference, transaction_kind, party, party_ref, currency, amount,
       created_at)
    SELECT v_entry, (p_commission->>'schedule')::bigint, p_transfer_id::text,
           p_commission->>'kind', c.v->>0, c.v->>1, p_currency, (c.v->>2)::bigint, p_now
    FROM jsonb_array_elements(p_commission->'parties') AS c(v);
  END IF;
  -- 5. the audit record
  IF p_audit IS NOT NULL THEN
    INSERT INTO audit_record (occurred_at, actor, action, object_type, object_id, data)
    VALUES (p_now, 'user:' || p_client, 'transfer.' || p_status, 'transfer',
            p_transfer_id::text, p_audit || jsonb_build_object('entry', v_entry));
  END IF;
  RETURN v_entry;
END
$$;
"""

REVERSE_SQL = """
CREATE OR REPLACE FUNCTION wallets_usage_day(p_client bigint, p_kind text, p_at timestamptz)
RETURNS date LANGUAGE sql STABLE AS $$
  SELECT (p_at AT TIME ZONE wallets_market_tz(p.country))::date
  FROM identity_profile p
  WHERE p.user_id = p_client AND p.realm = 'customer'
    AND p_kind IN ('p2p', 'withdrawal', 'payout')
$$;
DROP FUNCTION payments_record(uuid, text, text, integer, text, text, uuid, uuid, text, bigint,
  bigint, text, timestamptz, jsonb, jsonb, jsonb, jsonb);
DROP FUNCTION payments_limits_check(integer, text, text, bigint, timestamptz, text, integer);
DROP FUNCTION payments_limits_refuse(text, text, jsonb);
DROP FUNCTION payments_limits_lookup(integer, text, text, timestamptz, boolean);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0007_transfer_list_indexes"),
        ("ledger", "0005_balance_checkpoints"),
        ("commission", "0006_freeze_without_settings_or_locks"),
        ("audit", "0002_append_only"),
        ("identity", "0003_kyc_limits_freeze_without_settings"),
    ]

    operations = [migrations.RunSQL(SQL, REVERSE_SQL)]
