"""The customer's history and MoMo list in keyset order (issue 13, customer history and
item 6, ``/app/momo/``).

``transfer_client_recent`` (client, created_at) and ``transfer_incoming_recent``
(destination wallet, created_at) ordered a customer's payments by time only: ``ORDER BY
created_at DESC, id DESC LIMIT n`` then had to read and sort every row sharing the
boundary timestamp (all of them, for payments written in one bulk with one clock
reading), and a keyset condition ``(created_at, id) < (...)`` could not be an index bound.
The same indexes with ``id`` as their last column serve both exactly; they replace the old
ones, so an insert still writes the same number of index entries. Built and dropped
without blocking writes.
"""

from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("wallets", "0010_transfer_kind_exchange"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="transfer",
            index=models.Index(
                fields=["client", "-created_at", "-id"], name="transfer_client_keyset"
            ),
        ),
        AddIndexConcurrently(
            model_name="transfer",
            index=models.Index(
                fields=["destination_wallet", "-created_at", "-id"],
                name="transfer_incoming_keyset",
            ),
        ),
        RemoveIndexConcurrently(model_name="transfer", name="transfer_client_recent"),
        RemoveIndexConcurrently(model_name="transfer", name="transfer_incoming_recent"),
    ]
