"""Drop the single-column index Django made for ``ledger_posting.account_id`` (the foreign
key's own index): ``ledger_posting_account_id`` on ``(account_id, id)`` serves every lookup
by account. With both, the planner sometimes read an account's postings through the
single-column one and filtered the id range afterwards, so a statement or balance read
the account's whole history instead of a range (seen in the full test suite: the partner
statement cost test, issue 12/13). One index fewer is also one write fewer per posting.

Dropped without blocking writes (the table takes every payment).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("ledger", "0006_admin_search_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="posting",
                    name="account",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=models.deletion.PROTECT,
                        related_name="postings",
                        to="ledger.account",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX CONCURRENTLY IF EXISTS ledger_posting_account_id_964f801d",
                    "CREATE INDEX CONCURRENTLY IF NOT EXISTS ledger_posting_account_id_964f801d"
                    " ON ledger_posting (account_id)",
                ),
            ],
        ),
    ]
