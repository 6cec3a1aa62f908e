"""Signed checkpoints of the audit chain head (issue 14): the ``audit_checkpoint`` table,
append-only by trigger (no UPDATE, DELETE or TRUNCATE; each rule has a test in
tests/test_audit_signing.py). A superuser can still bypass triggers: the Ed25519
signatures are what make a rewrite of this table detectable.
"""

from django.db import migrations, models

SQL = r"""
CREATE FUNCTION audit_checkpoint_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_checkpoint is append-only: % refused', TG_OP
    USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER audit_checkpoint_guard BEFORE UPDATE OR DELETE ON audit_checkpoint
  FOR EACH ROW EXECUTE FUNCTION audit_checkpoint_guard();
CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_checkpoint
  FOR EACH STATEMENT EXECUTE FUNCTION audit_checkpoint_guard();
"""

REVERSE_SQL = r"""
DROP TRIGGER IF EXISTS audit_checkpoint_no_truncate ON audit_checkpoint;
DROP TRIGGER IF EXISTS audit_checkpoint_guard ON audit_checkpoint;
DROP FUNCTION IF EXISTS audit_checkpoint_guard();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_admin_search_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditCheckpoint",
            fields=[
                ("seq", models.BigIntegerField(primary_key=True, serialize=False)),
                ("hash", models.CharField(max_length=64)),
                ("linked_at", models.CharField(max_length=27)),
                ("key_id", models.CharField(max_length=16)),
                ("signature", models.CharField(max_length=88)),
            ],
            options={
                "db_table": "audit_checkpoint",
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("seq__gte", 1)), name="audit_checkpoint_seq_positive"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("hash__regex", "^[0-9a-f]{64}$")),
                        name="audit_checkpoint_hash_hex",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            (
                                "linked_at__regex",
                                "^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z$",
                            )
                        ),
                        name="audit_checkpoint_linked_at_utc",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("key_id__regex", "^[0-9a-f]{16}$")),
                        name="audit_checkpoint_key_id_hex",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("signature__regex", "^[A-Za-z0-9+/]{86}==$")),
                        name="audit_checkpoint_signature_b64",
                    ),
                ],
            },
        ),
        migrations.RunSQL(SQL, REVERSE_SQL),
    ]
