"""Limit overrides with maker-checker (issue 13): a new kind of action request,
``limit_override``, whose parameters (``params``: the currency, the per-transaction,
daily, monthly and maximum-balance amounts in minor units, each null for "the default",
and an optional expiry) are checked here by the database. The existing guard
(``backoffice_action_guard``, migration 0002) already keeps ``params`` unchanged after the
request is made and refuses a decision by the requester; the override applies in
``payments_limits_lookup`` (wallets migration 0013) once approved, through the partial
index ``backoffice_limit_override_effective`` (one indexed row per lookup).
"""

from django.conf import settings
from django.db import migrations, models

SQL = r"""
ALTER TABLE backoffice_action_request ALTER COLUMN params SET DEFAULT '{}'::jsonb;

-- A limit amount in a request's parameters: absent or null (the default applies) or a whole
-- number of minor units from 0 to 10^15.
CREATE FUNCTION backoffice_limit_amount_ok(p_value jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN p_value IS NULL OR jsonb_typeof(p_value) = 'null' THEN true
    WHEN jsonb_typeof(p_value) <> 'number' THEN false
    ELSE p_value::text::numeric = trunc(p_value::text::numeric)
         AND p_value::text::numeric BETWEEN 0 AND 1000000000000000
  END
$$;

ALTER TABLE backoffice_action_request ADD CONSTRAINT backoffice_action_limit_override_params
  CHECK (kind <> 'limit_override' OR (
    jsonb_typeof(params) = 'object'
    AND coalesce(params->>'currency', '') ~ '^[A-Z]{3}$'
    AND backoffice_limit_amount_ok(params->'per_transaction')
    AND backoffice_limit_amount_ok(params->'daily')
    AND backoffice_limit_amount_ok(params->'monthly')
    AND backoffice_limit_amount_ok(params->'max_balance')
    AND (params->'expires_at' IS NULL OR jsonb_typeof(params->'expires_at') = 'null'
         OR coalesce(params->>'expires_at', '')
            ~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?\+00:00$')));

-- The override that applies: a customer's newest approved override in a currency.
CREATE INDEX backoffice_limit_override_effective ON backoffice_action_request
  (customer_id, (params->>'currency'), decided_at DESC, id DESC)
  WHERE kind = 'limit_override' AND state = 'approved';
"""

REVERSE = """
DROP INDEX backoffice_limit_override_effective;
ALTER TABLE backoffice_action_request DROP CONSTRAINT backoffice_action_limit_override_params;
DROP FUNCTION backoffice_limit_amount_ok(jsonb);
ALTER TABLE backoffice_action_request ALTER COLUMN params DROP DEFAULT;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0002_guards"),
        ("wallets", "0012_transfer_created_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="actionrequest",
            name="backoffice_action_kind",
        ),
        migrations.RemoveConstraint(
            model_name="actionrequest",
            name="backoffice_action_target",
        ),
        migrations.AddField(
            model_name="actionrequest",
            name="params",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AlterField(
            model_name="actionrequest",
            name="kind",
            field=models.CharField(
                choices=[
                    ("wallets_freeze", "Freeze the customer's wallets"),
                    ("wallets_unfreeze", "Unfreeze the customer's wallets"),
                    ("mfa_reset", "Reset the customer's second factor"),
                    ("transfer_retry", "Read the payment's outcome at MoMo again"),
                    ("transfer_reverse", "Reverse the payment"),
                    ("limit_override", "Override the customer's limits"),
                ],
                max_length=24,
            ),
        ),
        migrations.AddConstraint(
            model_name="actionrequest",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "kind__in",
                        [
                            "wallets_freeze",
                            "wallets_unfreeze",
                            "mfa_reset",
                            "transfer_retry",
                            "transfer_reverse",
                            "limit_override",
                        ],
                    )
                ),
                name="backoffice_action_kind",
            ),
        ),
        migrations.AddConstraint(
            model_name="actionrequest",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("customer__isnull", False),
                        (
                            "kind__in",
                            ("wallets_freeze", "wallets_unfreeze", "mfa_reset", "limit_override"),
                        ),
                        ("transfer__isnull", True),
                    ),
                    models.Q(
                        ("customer__isnull", True),
                        ("kind__in", ("transfer_retry", "transfer_reverse")),
                        ("transfer__isnull", False),
                    ),
                    _connector="OR",
                ),
                name="backoffice_action_target",
            ),
        ),
        migrations.RunSQL(SQL, REVERSE),
    ]
