"""Partner onboarding (docs/partner-webhooks.md, "Partners"): company details, markets and
currencies, contacts (personal data sealed), the webhook URL, and a status replacing
``is_active`` (an inactive partner becomes suspended, with that as its reason).

The database keeps two rules (tests in tests/test_partner_onboarding.py):

- closed is final: a closed partner's row never changes again;
- partners are never deleted (transfers, keys and events refer to them), nor truncated.
"""

import django.contrib.postgres.fields
import django.db.models.deletion
from django.db import migrations, models

FROM_IS_ACTIVE = """
UPDATE identity_partner SET status = 'suspended',
  status_reason = 'inactive before partner statuses existed'
WHERE NOT is_active
"""

GUARD = r"""
CREATE FUNCTION identity_partner_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF OLD.status = 'closed' THEN
      RAISE EXCEPTION 'identity_partner: partner % is closed; a closed partner never changes',
        OLD.code USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.code <> OLD.code THEN
      RAISE EXCEPTION 'identity_partner: a partner code never changes (prefund accounts and '
        'ledger owners use it)' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'identity_partner: partners are closed, never deleted (% refused)', TG_OP
    USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER identity_partner_guard BEFORE UPDATE OR DELETE ON identity_partner
  FOR EACH ROW EXECUTE FUNCTION identity_partner_guard();
CREATE TRIGGER identity_partner_no_truncate BEFORE TRUNCATE ON identity_partner
  FOR EACH STATEMENT EXECUTE FUNCTION identity_partner_guard();
"""

GUARD_REVERSE = r"""
DROP TRIGGER identity_partner_no_truncate ON identity_partner;
DROP TRIGGER identity_partner_guard ON identity_partner;
DROP FUNCTION identity_partner_guard();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("identity", "0004_identifiers_reserved_once_verified"),
    ]

    operations = [
        migrations.CreateModel(
            name="PartnerContact",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("ref", models.CharField(max_length=40, unique=True)),
                (
                    "role",
                    models.CharField(
                        choices=[
                            ("business", "Business"),
                            ("technical", "Technical"),
                            ("operations", "Operations"),
                            ("finance", "Finance"),
                            ("compliance", "Compliance"),
                        ],
                        max_length=16,
                    ),
                ),
                ("name_ct", models.BinaryField()),
                ("email_ct", models.BinaryField()),
                ("phone_ct", models.BinaryField(blank=True, null=True)),
                ("created_at", models.DateTimeField()),
            ],
            options={
                "db_table": "identity_partner_contact",
                "ordering": ["partner_id", "id"],
            },
        ),
        migrations.AddField(
            model_name="partner",
            name="address",
            field=models.CharField(blank=True, default="", max_length=300),
        ),
        migrations.AddField(
            model_name="partner",
            name="country",
            field=models.CharField(blank=True, default="", help_text="ISO 3166", max_length=2),
        ),
        migrations.AddField(
            model_name="partner",
            name="currencies",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(max_length=3), blank=True, default=list, size=None
            ),
        ),
        migrations.AddField(
            model_name="partner",
            name="legal_name",
            field=models.CharField(blank=True, default="", max_length=200),
        ),
        migrations.AddField(
            model_name="partner",
            name="markets",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(max_length=2), blank=True, default=list, size=None
            ),
        ),
        migrations.AddField(
            model_name="partner",
            name="registration_number",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="partner",
            name="status",
            field=models.CharField(
                choices=[("active", "Active"), ("suspended", "Suspended"), ("closed", "Closed")],
                default="active",
                max_length=12,
            ),
        ),
        migrations.AddField(
            model_name="partner",
            name="status_changed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="partner",
            name="status_reason",
            field=models.CharField(blank=True, default="", max_length=300),
        ),
        migrations.AddField(
            model_name="partner",
            name="updated_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="partner",
            name="webhook_url",
            field=models.CharField(blank=True, default="", max_length=500),
        ),
        migrations.RunSQL(FROM_IS_ACTIVE, migrations.RunSQL.noop),
        migrations.RemoveField(
            model_name="partner",
            name="is_active",
        ),
        migrations.AddConstraint(
            model_name="partner",
            constraint=models.CheckConstraint(
                condition=models.Q(("status__in", ["active", "suspended", "closed"])),
                name="partner_status_known",
            ),
        ),
        migrations.AddConstraint(
            model_name="partner",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("status", "active"),
                    models.Q(("status_reason", ""), _negated=True),
                    _connector="OR",
                ),
                name="partner_status_reason",
            ),
        ),
        migrations.AddField(
            model_name="partnercontact",
            name="partner",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="contacts",
                to="identity.partner",
            ),
        ),
        migrations.AddConstraint(
            model_name="partnercontact",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("role__in", ["business", "technical", "operations", "finance", "compliance"])
                ),
                name="partner_contact_role_known",
            ),
        ),
        migrations.RunSQL(GUARD, GUARD_REVERSE),
    ]
