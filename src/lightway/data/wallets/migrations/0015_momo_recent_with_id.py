"""The MoMo-routed transfers' index carries the id too: the MTN list's exact order
(``created_at DESC, id DESC``), so on monthly partitions (0014) each month's walk needs no
sort and the Merge Append of the months stops after a page (without it the planner walked
``transfer_created`` and filtered out the wallet-to-wallet transfers)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0009_partition_journal_entries_by_month"),
        ("wallets", "0014_partition_transfers_by_month"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="transfer",
            name="transfer_momo_recent",
        ),
        migrations.AddIndex(
            model_name="transfer",
            index=models.Index(
                condition=models.Q(("kind__in", ["deposit", "payout", "remittance", "withdrawal"])),
                fields=["-created_at", "-id"],
                name="transfer_momo_recent",
            ),
        ),
    ]
