"""Integration keys: scoped, expiring machine credentials for MTN's and LightWay's
reporting systems (issue 11, finding 9).

Besides the checks on the table, a trigger keeps a key what it was issued as: only
``last_used_at``, the revocation and the sealed secret (re-sealed under a new data key by
``lightway keys rotate``, the same secret) may change, and a revocation is final (neither undone
nor moved). The runtime role may not delete keys (``db_roles.TABLE_RULES``).
"""

import django.contrib.postgres.fields
from django.db import migrations, models

FORWARD = """
CREATE FUNCTION apiauth_integration_key_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.key_id, NEW.realm, NEW.name, NEW.scopes, NEW.reason,
        NEW.created_at, NEW.created_by, NEW.expires_at)
       IS DISTINCT FROM
       (OLD.key_id, OLD.realm, OLD.name, OLD.scopes, OLD.reason,
        OLD.created_at, OLD.created_by, OLD.expires_at) THEN
        RAISE EXCEPTION 'an integration key is not edited: create a new one and revoke this one'
            USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.revoked_at IS NOT NULL
       AND (NEW.revoked_at IS DISTINCT FROM OLD.revoked_at
            OR NEW.revoked_by IS DISTINCT FROM OLD.revoked_by) THEN
        RAISE EXCEPTION 'an integration key revocation is final'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER apiauth_integration_key_guard
    BEFORE UPDATE ON apiauth_integration_key
    FOR EACH ROW EXECUTE FUNCTION apiauth_integration_key_guard();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS apiauth_integration_key_guard ON apiauth_integration_key;
DROP FUNCTION IF EXISTS apiauth_integration_key_guard();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("apiauth", "0002_password_change_ends_sessions"),
    ]

    operations = [
        migrations.CreateModel(
            name="IntegrationKey",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("key_id", models.CharField(max_length=40, unique=True)),
                ("realm", models.CharField(max_length=16)),
                ("name", models.CharField(max_length=80)),
                (
                    "scopes",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.CharField(max_length=40), size=2
                    ),
                ),
                ("secret_ct", models.BinaryField()),
                ("reason", models.CharField(max_length=500)),
                ("created_at", models.DateTimeField()),
                ("created_by", models.CharField(max_length=40)),
                ("expires_at", models.DateTimeField()),
                ("last_used_at", models.DateTimeField(blank=True, null=True)),
                ("revoked_at", models.DateTimeField(blank=True, null=True)),
                ("revoked_by", models.CharField(blank=True, default="", max_length=40)),
            ],
            options={
                "db_table": "apiauth_integration_key",
                "ordering": ["-created_at"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("key_id__startswith", "ik_live_")),
                        name="integration_key_id_prefix",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("realm__in", ("lightway", "mtn"))),
                        name="integration_key_realm",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("scopes__len__gte", 1),
                            ("scopes__contained_by", ["reports.view", "transactions.view_momo"]),
                        ),
                        name="integration_key_scopes_known",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("expires_at__gt", models.F("created_at"))),
                        name="integration_key_expires",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("revoked_at__isnull", True), ("revoked_by", "")),
                            models.Q(
                                ("revoked_at__isnull", False),
                                models.Q(("revoked_by", ""), _negated=True),
                            ),
                            _connector="OR",
                        ),
                        name="integration_key_revoked_by_whom",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("reason", ""), _negated=True),
                        name="integration_key_has_a_reason",
                    ),
                ],
            },
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
