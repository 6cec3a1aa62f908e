"""Two fewer index entries per transfer insert (issue 10, speed).

``client_id`` had its own foreign-key index although ``transfer_client_recent`` and
``transfer_idempotency`` both lead with it; ``reversal_entry_id`` indexed every transfer,
NULL for all but the reversed ones, which a partial index now holds alone.
"""

import django.db.models.deletion
from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # Indexes on tables that take payments are built without blocking writes.
    atomic = False

    dependencies = [
        ("ledger", "0005_balance_checkpoints"),
        ("wallets", "0008_payments_record"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="transfer",
            index=models.Index(
                condition=models.Q(("reversal_entry__isnull", False)),
                fields=["reversal_entry"],
                name="transfer_reversal_entry",
            ),
        ),
        migrations.AlterField(
            model_name="transfer",
            name="client",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="transfer",
            name="reversal_entry",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="ledger.journalentry",
            ),
        ),
    ]
