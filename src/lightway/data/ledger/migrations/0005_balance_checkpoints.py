"""Balance checkpoints: an account's balance rolled up to one of its postings, so balances
and statements read a checkpoint and the few postings after it instead of all of them.

The database keeps them honest (each rule with a test in tests/test_ledger_rollups.py):

- a checkpoint follows from the account's previous one: its posting exists, belongs to
  the account and comes after the previous checkpoint, and its balance and posting count
  are the previous ones plus the account's postings in between;
- checkpoints refuse UPDATE, DELETE and TRUNCATE (``ledger_refuse_change``).

What the database cannot see is a posting still uncommitted below a new checkpoint; the
job that appends them only rolls up to a horizon every such transaction has left
(``data/ledger/rollups.py``).
"""

from django.db import migrations, models

SQL = r"""
CREATE FUNCTION ledger_checkpoint_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  prev_posting bigint;
  prev_balance bigint;
  prev_count bigint;
  owner bigint;
  tail_sum bigint;
  tail_count bigint;
BEGIN
  SELECT account_id INTO owner FROM ledger_posting WHERE id = NEW.posting_id;
  IF owner IS NULL OR owner <> NEW.account_id THEN
    RAISE EXCEPTION 'checkpoint at posting % is not a posting of account %',
      NEW.posting_id, NEW.account_id USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  SELECT posting_id, balance, postings INTO prev_posting, prev_balance, prev_count
    FROM ledger_balance_checkpoint WHERE account_id = NEW.account_id
    ORDER BY posting_id DESC LIMIT 1;
  IF prev_posting IS NULL THEN
    prev_posting := 0; prev_balance := 0; prev_count := 0;
  ELSIF prev_posting >= NEW.posting_id THEN
    RAISE EXCEPTION 'checkpoint at posting % of account % is not after its last one (%)',
      NEW.posting_id, NEW.account_id, prev_posting
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  SELECT COALESCE(sum(amount), 0), count(*) INTO tail_sum, tail_count FROM ledger_posting
    WHERE account_id = NEW.account_id AND id > prev_posting AND id <= NEW.posting_id;
  IF NEW.balance <> prev_balance + tail_sum OR NEW.postings <> prev_count + tail_count THEN
    RAISE EXCEPTION 'checkpoint at posting % of account % says % over % postings, the ledger % over %',
      NEW.posting_id, NEW.account_id, NEW.balance, NEW.postings,
      prev_balance + tail_sum, prev_count + tail_count
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER ledger_checkpoint_check BEFORE INSERT ON ledger_balance_checkpoint
  FOR EACH ROW EXECUTE FUNCTION ledger_checkpoint_check();
CREATE TRIGGER ledger_checkpoint_append_only BEFORE UPDATE OR DELETE ON ledger_balance_checkpoint
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_checkpoint_no_truncate BEFORE TRUNCATE ON ledger_balance_checkpoint
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
"""

REVERSE_SQL = r"""
DROP TRIGGER ledger_checkpoint_no_truncate ON ledger_balance_checkpoint;
DROP TRIGGER ledger_checkpoint_append_only ON ledger_balance_checkpoint;
DROP TRIGGER ledger_checkpoint_check ON ledger_balance_checkpoint;
DROP FUNCTION ledger_checkpoint_check();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0004_customer_account_policy"),
    ]

    operations = [
        migrations.CreateModel(
            name="BalanceCheckpoint",
            fields=[
                ("posting_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("account_id", models.BigIntegerField()),
                ("balance", models.BigIntegerField()),
                ("postings", models.BigIntegerField()),
            ],
            options={
                "db_table": "ledger_balance_checkpoint",
                "indexes": [
                    models.Index(
                        fields=["account_id", "-posting_id"],
                        include=("balance", "postings"),
                        name="ledger_checkpoint_account",
                    )
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("postings__gte", 1)),
                        name="ledger_checkpoint_postings_positive",
                    )
                ],
            },
        ),
        migrations.RunSQL(SQL, REVERSE_SQL),
    ]
