"""Customer limit overrides in ``payments_limits_lookup`` (issue 13).

The one statement that reads a customer's limits (wallets migration 0008, called by the
payment's one-statement recording through ``payments_limits_check`` and by the Python
policy ``KycTierLimits``) now lays the customer's limit override over the KYC tier row:

- the override is a back-office action request of kind ``limit_override``
  (``backoffice_action_request``, backoffice migration 0003) that a second member of staff
  approved (the database refuses a decision by the requester); its ``params`` carry the
  currency, the four amounts (null: the tier's) and an optional expiry;
- the newest approved override of the customer in the currency, decided at or before the
  payment's time, applies; a newer one replaces it (an override with every amount null is a
  return to the defaults); once its expiry has passed (``expires_at <= p_now``) none
  applies and the tier's limits do again;
- it applies only on top of a tier row that exists and lets the customer pay: no override
  makes payments possible where no limits are defined or the phone is not verified;
- one row read through the partial index ``backoffice_limit_override_effective``, however
  many requests exist.

Two new columns tell callers what happened: ``override_id`` (the request, or NULL) and
``override_expires_at``. The function's result type changes, so it is dropped and created
again; ``payments_limits_check`` reads it with ``SELECT *`` and needs no change.
"""

from django.db import migrations

LOOKUP_0008 = r"""
CREATE FUNCTION payments_limits_lookup(
  p_user integer, p_currency text, p_home text, p_now timestamptz, p_spending boolean,
  OUT tier integer, OUT country text, OUT limit_id bigint, OUT limit_country text,
  OUT per_transaction bigint, OUT daily bigint, OUT monthly bigint, OUT max_balance bigint,
  OUT effective_from timestamptz, OUT source text, OUT spent_today bigint,
  OUT spent_month bigint, OUT balance bigint, OUT pending_in bigint{extra_out})
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
  v_tier integer;
  v_country text;
  v_day date;{extra_declare}
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
  LIMIT 1;{override}
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
"""

OVERRIDE = r"""
  -- the customer's limit override (approved by a second person), over a usable tier row
  IF limit_id IS NOT NULL AND NOT (per_transaction = 0 AND daily = 0) THEN
    SELECT r.id, r.params INTO override_id, v_params
    FROM backoffice_action_request r
    WHERE r.customer_id = p_user AND (r.params->>'currency') = p_currency
      AND r.kind = 'limit_override' AND r.state = 'approved' AND r.decided_at <= p_now
    ORDER BY r.decided_at DESC, r.id DESC
    LIMIT 1;
    IF override_id IS NOT NULL THEN
      override_expires_at := (v_params->>'expires_at')::timestamptz;
      IF override_expires_at IS NOT NULL AND override_expires_at <= p_now THEN
        override_id := NULL;  -- expired: the tier's limits apply again
        override_expires_at := NULL;
      ELSE
        per_transaction := coalesce((v_params->>'per_transaction')::bigint, per_transaction);
        daily := coalesce((v_params->>'daily')::bigint, daily);
        monthly := coalesce((v_params->>'monthly')::bigint, monthly);
        max_balance := coalesce((v_params->>'max_balance')::bigint, max_balance);
      END IF;
    END IF;
  END IF;"""

SIGNATURE = "payments_limits_lookup(integer, text, text, timestamptz, boolean)"

SQL = f"DROP FUNCTION {SIGNATURE};\n" + LOOKUP_0008.format(
    extra_out=",\n  OUT override_id bigint, OUT override_expires_at timestamptz",
    extra_declare="\n  v_params jsonb;",
    override=OVERRIDE,
)

REVERSE = f"DROP FUNCTION {SIGNATURE};\n" + LOOKUP_0008.format(
    extra_out="", extra_declare="", override=""
)


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0012_transfer_created_index"),
        ("backoffice", "0003_limit_override"),
    ]

    operations = [migrations.RunSQL(SQL, REVERSE)]
