"""An index on (created_at, id) of every transfer: the admin list newest first and its date
filter read a range of it, not the whole table (issue 13, performance).

Built without blocking writes (the tables take payments).
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("wallets", "0011_transfer_keyset_indexes"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="transfer",
            index=models.Index(fields=["created_at", "id"], name="transfer_created"),
        ),
    ]
