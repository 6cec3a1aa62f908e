"""The commission list newest first and its date filter: (created_at, id), instead of a sort
of every record (issue 13, performance).

Built without blocking writes (the tables take payments).
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("commission", "0006_freeze_without_settings_or_locks"),
        ("ledger", "0006_admin_search_indexes"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="commissionrecord",
            index=models.Index(fields=["created_at", "id"], name="commission_rec_created"),
        ),
    ]
