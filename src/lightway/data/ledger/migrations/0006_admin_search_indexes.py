"""Indexes for the admin's exact searches and the entry kind filter (issue 13, performance):
an entry's reference (its transfer id), (kind, id), a hold's reference, an account's owner.

Built without blocking writes (the tables take payments).
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("ledger", "0005_balance_checkpoints"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="account",
            index=models.Index(fields=["owner_ref"], name="ledger_account_owner"),
        ),
        AddIndexConcurrently(
            model_name="hold",
            index=models.Index(fields=["reference"], name="ledger_hold_reference"),
        ),
        AddIndexConcurrently(
            model_name="journalentry",
            index=models.Index(fields=["reference"], name="ledger_entry_reference"),
        ),
        AddIndexConcurrently(
            model_name="journalentry",
            index=models.Index(fields=["kind", "id"], name="ledger_entry_kind"),
        ),
    ]
