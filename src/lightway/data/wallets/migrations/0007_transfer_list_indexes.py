"""Indexes for the request-path lists (docs/performance.md)."""

import django.db.models.deletion
from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # Indexes on tables that take payments are built without blocking writes.
    atomic = False

    dependencies = [
        ("wallets", "0006_wallet_account_currency"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="transfer",
            index=models.Index(
                fields=["destination_wallet", "-created_at"], name="transfer_incoming_recent"
            ),
        ),
        AddIndexConcurrently(
            model_name="transfer",
            index=models.Index(
                condition=models.Q(("kind__in", ["deposit", "payout", "remittance", "withdrawal"])),
                fields=["-created_at"],
                name="transfer_momo_recent",
            ),
        ),
        # The new index leads with destination_wallet: the FK's own index goes after it.
        migrations.AlterField(
            model_name="transfer",
            name="destination_wallet",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="incoming",
                to="wallets.wallet",
            ),
        ),
    ]
